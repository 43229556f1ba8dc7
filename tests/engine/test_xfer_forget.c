// SPDX-License-Identifier: BSD-3-Clause
/* rdmaring tests: rring_conn_forget drops cached send registrations. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>

#include <infiniband/verbs.h>

#include "echo_util.h"
#include "rdmaring.h"
#include "test_support.h"

/*
 * Two engines ("wire" 1, one IO thread each) in this process over
 * softverbs. The client sends LEN bytes (zero copy: above
 * RRING_XFER_COPY_MAX) from buf twice; the server checks every byte of
 * both against the generation the client wrote. ibv_dereg_mr is wrapped
 * here (the engine is linked statically, so its call binds to this
 * definition) to count deregistrations of memory overlapping buf: that is
 * what a forget must cause on a real NIC, where a cached registration
 * would keep sending the pages it pinned.
 */

#define LEN (256u << 10)
#define DEADLINE_NS (20ull * 1000000000ull)

struct ft {
	int forget;	      /* forget buf between the two sends */
	unsigned char *buf;   /* client, page aligned */
	unsigned char *other; /* never sent from */
	atomic_int busy_ret, other_ret, forget_ret, again_ret, off_owner_ret;
	atomic_int done, errors, connected;
	atomic_int deregs_after_first; /* deregs of buf seen at SEND_DONE 2 */
	_Atomic(struct rring_conn *) conn;
	_Atomic uint64_t rx; /* server: stream bytes checked */
	atomic_int bad;
};

static struct ft T;
static atomic_int deregs; /* MRs overlapping T.buf deregistered */

/* softverbs' ibv_dereg_mr, looked up before any thread exists. */
static int (*real_dereg_mr)(struct ibv_mr *);

__attribute__((constructor)) static void find_real_dereg_mr(void)
{
	*(void **)&real_dereg_mr = dlsym(RTLD_NEXT, "ibv_dereg_mr");
}

int ibv_dereg_mr(struct ibv_mr *mr)
{
	uintptr_t a = (uintptr_t)mr->addr, b = (uintptr_t)T.buf;

	if (b && a < b + LEN && b < a + mr->length)
		atomic_fetch_add(&deregs, 1);
	return real_dereg_mr ? real_dereg_mr(mr) : EINVAL;
}

static unsigned char pat(unsigned int gen, uint64_t i)
{
	return (unsigned char)(i * 131 + (i >> 9) * 7 + gen * 29);
}

static void fill(unsigned int gen)
{
	uint64_t i;

	for (i = 0; i < LEN; i++)
		T.buf[i] = pat(gen, i);
}

static int send_buf(struct rring_conn *c, uint64_t tag)
{
	struct iovec iov = {.iov_base = T.buf, .iov_len = LEN};

	return rring_conn_sendv(c, &iov, 1, tag);
}

/* Client IO thread: send gen 1, forget (or not), rewrite, send gen 2. */
static void on_send_done(const struct rring_event *ev)
{
	if (ev->status || ev->len != LEN) {
		atomic_fetch_add(&T.errors, 1);
		return;
	}
	if (ev->tag == 2) {
		atomic_store(&T.deregs_after_first, atomic_load(&deregs));
		atomic_store(&T.done, 1);
		return;
	}
	if (T.forget) {
		atomic_store(&T.forget_ret, rring_conn_forget(ev->conn, T.buf,
							      LEN));
		/* nothing left to drop: still fine */
		atomic_store(&T.again_ret, rring_conn_forget(ev->conn, T.buf,
							     LEN));
	}
	fill(2);
	if (send_buf(ev->conn, 2))
		atomic_fetch_add(&T.errors, 1);
}

static void client_event(struct rring_io *io, const struct rring_event *ev,
			 void *arg)
{
	(void)io;
	(void)arg;
	switch (ev->type) {
	case RRING_EVENT_CONNECTED:
		atomic_store(&T.conn, ev->conn);
		fill(1);
		if (send_buf(ev->conn, 1))
			atomic_fetch_add(&T.errors, 1);
		/* one byte in the middle of memory still being sent */
		atomic_store(&T.busy_ret,
			     rring_conn_forget(ev->conn, T.buf + LEN / 2, 1));
		atomic_store(&T.other_ret,
			     rring_conn_forget(ev->conn, T.other, LEN));
		atomic_store(&T.connected, 1);
		break;
	case RRING_EVENT_SEND_DONE:
		on_send_done(ev);
		break;
	default:
		break;
	}
}

/* Server IO thread: the stream is gen 1 then gen 2, LEN bytes each. */
static void server_event(struct rring_io *io, const struct rring_event *ev,
			 void *arg)
{
	uint64_t off = atomic_load(&T.rx), i;
	const unsigned char *d = ev->data;

	(void)io;
	(void)arg;
	if (ev->type != RRING_EVENT_RECV)
		return;
	for (i = 0; i < ev->len; i++, off++)
		if (off >= 2ull * LEN ||
		    d[i] != pat(off < LEN ? 1 : 2, off % LEN))
			atomic_store(&T.bad, 1);
	atomic_store(&T.rx, off);
	if (rring_conn_consume(ev->conn, ev->len))
		atomic_store(&T.bad, 1);
}

/* Runs both sends; returns with the engines destroyed. */
static void run(int forget)
{
	struct rring_engine *srv, *cli;
	struct timespec ms = {0, 1000000};
	uint64_t t0;
	int port;

	memset(&T, 0, sizeof(T));
	atomic_store(&deregs, 0);
	T.forget = forget;
	cr_assert_eq(posix_memalign((void **)&T.buf, 4096, LEN), 0);
	cr_assert_eq(posix_memalign((void **)&T.other, 4096, LEN), 0);
	srv = echo_wire_engine(server_event, 0);
	cli = echo_wire_engine(client_event, 0);
	cr_assert(srv && cli);
	port = rring_listen(srv, "127.0.0.1", 0, NULL);
	cr_assert_gt(port, 0);
	cr_assert_eq(rring_connect(cli, "127.0.0.1", (uint16_t)port, NULL,
				   NULL),
		     0);
	t0 = ts_now_ns();
	while (ts_now_ns() - t0 < DEADLINE_NS &&
	       (!atomic_load(&T.done) || atomic_load(&T.rx) < 2ull * LEN) &&
	       !atomic_load(&T.errors))
		nanosleep(&ms, NULL); /* polling a condition, bounded */
	cr_assert(atomic_load(&T.connected));
	/* Not the owner thread: refused, nothing dropped. */
	atomic_store(&T.off_owner_ret,
		     rring_conn_forget(atomic_load(&T.conn), T.buf, LEN));
	rring_engine_destroy(cli);
	rring_engine_destroy(srv);
	cr_assert_eq(atomic_load(&T.errors), 0);
	cr_assert_eq(atomic_load(&T.done), 1, "second SEND_DONE missing");
	cr_assert_eq(atomic_load(&T.rx), 2ull * LEN);
	cr_assert_eq(atomic_load(&T.bad), 0, "received data is not what was sent");
	cr_assert_eq(atomic_load(&T.busy_ret), -EBUSY);
	cr_assert_eq(atomic_load(&T.other_ret), 0);
	cr_assert_eq(atomic_load(&T.off_owner_ret), -EPERM);
}

static void teardown(void)
{
	free(T.buf);
	free(T.other);
	T.buf = T.other = NULL;
}

Test(xfer_forget, drops_the_registration_and_the_next_send_registers_anew,
     .timeout = 60, .fini = teardown)
{
	run(1);
	cr_assert_eq(atomic_load(&T.forget_ret), 0);
	cr_assert_eq(atomic_load(&T.again_ret), 0);
	/* The forget's dereg is ordered before the second registration in
	 * the submission ring, so it has happened by the second SEND_DONE. */
	cr_assert_eq(atomic_load(&T.deregs_after_first), 1);
	/* The second send's own registration, given back at close. */
	cr_assert_eq(atomic_load(&deregs), 2);
}

Test(xfer_forget, without_forget_the_cached_registration_is_reused,
     .timeout = 60, .fini = teardown)
{
	run(0);
	cr_assert_eq(atomic_load(&T.deregs_after_first), 0);
	cr_assert_eq(atomic_load(&deregs), 1, "cache hit expected");
}
