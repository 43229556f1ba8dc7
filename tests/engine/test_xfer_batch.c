// SPDX-License-Identifier: BSD-3-Clause
/* rdmaring tests: the sends of one IO-thread batch leave as one RDMA write. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "echo_util.h"
#include "rdmaring.h"
#include "test_support.h"

/*
 * Two engines ("wire" 1) in this process over softverbs; the client's one
 * IO thread is driven by a thread of this test (io-threads-external), so
 * that it can also send outside rring_io_process. The client sends bursts
 * of BURST small messages (copied into staging, back to back):
 *
 *   A  in the CONNECTED handler (inside rring_io_process)
 *   B  in the SEND_DONE handler of A's last message (inside it too)
 *   C  after B completed, between rring_io_batch_begin and _end
 *   D  after C completed, NODD sends outside any batch
 *
 * A, B and C must each cost one RDMA write (BURST - 1 sends coalesced); D
 * one write per send. The first write is signaled (the connection has no
 * recent signal); a later one only if the previous signal is older than
 * the engine's signal period, else a fence (a zero-byte signaled write)
 * retires it when the connection stays quiet: at most one fence per data
 * write. The engine's stats count the writes; the server checks every byte
 * of the stream in order.
 */

#define BURST 16
#define NODD 4
#define MSG 40
#define TOTAL (3 * BURST + NODD)
#define DEADLINE_NS (20ull * 1000000000ull)

static struct {
	struct rring_engine *cli;
	_Atomic(struct rring_conn *) conn;
	atomic_int sent, done, errors, quit;
	_Atomic uint64_t rx; /* server: stream bytes checked */
	atomic_int bad;
} T;

static unsigned char pat(uint64_t off)
{
	return (unsigned char)(off * 7 + (off / MSG) * 13);
}

/* Send messages sent..sent+n (the content is its stream offset). */
static void burst(struct rring_conn *c, int n)
{
	unsigned char m[MSG];
	int i, k;

	for (i = 0; i < n; i++) {
		k = atomic_load(&T.sent);
		for (uint64_t j = 0; j < MSG; j++)
			m[j] = pat((uint64_t)k * MSG + j);
		if (rring_conn_send(c, m, MSG, (uint64_t)k))
			atomic_fetch_add(&T.errors, 1);
		atomic_fetch_add(&T.sent, 1);
	}
}

static void client_event(struct rring_io *io, const struct rring_event *ev,
			 void *arg)
{
	(void)io;
	(void)arg;
	switch (ev->type) {
	case RRING_EVENT_CONNECTED:
		atomic_store(&T.conn, ev->conn);
		burst(ev->conn, BURST); /* A */
		break;
	case RRING_EVENT_SEND_DONE:
		if (ev->status)
			atomic_fetch_add(&T.errors, 1);
		atomic_fetch_add(&T.done, 1);
		if (ev->tag == BURST - 1)
			burst(ev->conn, BURST); /* B */
		break;
	default:
		break;
	}
}

/* The client's IO thread: process, and send C and D between passes. */
static void *client_io(void *arg)
{
	struct rring_io *io = rring_engine_io(T.cli, 0);
	struct timespec us = {0, 50000};
	int c_sent = 0, d_sent = 0;

	(void)arg;
	while (rring_io_process(io, 64) != -ESHUTDOWN) {
		struct rring_conn *c = atomic_load(&T.conn);

		if (!c_sent && atomic_load(&T.done) == 2 * BURST) {
			rring_io_batch_begin(io);
			rring_io_batch_begin(io); /* nests */
			burst(c, BURST / 2);
			rring_io_batch_end(io);
			burst(c, BURST / 2);
			rring_io_batch_end(io); /* C */
			c_sent = 1;
		}
		if (!d_sent && atomic_load(&T.done) == 3 * BURST) {
			burst(c, NODD); /* D */
			d_sent = 1;
		}
		nanosleep(&us, NULL); /* pacing the driver loop, not a sync */
	}
	return NULL;
}

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
		if (off >= (uint64_t)TOTAL * MSG || d[i] != pat(off))
			atomic_store(&T.bad, 1);
	atomic_store(&T.rx, off);
	if (rring_conn_consume(ev->conn, ev->len))
		atomic_store(&T.bad, 1);
}

Test(xfer_batch, one_write_per_batch, .timeout = 60)
{
	struct timespec ms = {0, 1000000};
	struct rring_engine *srv;
	struct rring_stats st;
	pthread_t th;
	uint64_t t0;

	srv = echo_wire_engine(server_event, 0);
	T.cli = echo_wire_engine(client_event, 1);
	cr_assert(srv && T.cli);
	cr_assert_eq(pthread_create(&th, NULL, client_io, NULL), 0);
	cr_assert_eq(echo_listen_connect(srv, T.cli, 1, NULL), 0);
	t0 = ts_now_ns();
	while (ts_now_ns() - t0 < DEADLINE_NS &&
	       (atomic_load(&T.done) < TOTAL ||
		atomic_load(&T.rx) < (uint64_t)TOTAL * MSG) &&
	       !atomic_load(&T.errors))
		nanosleep(&ms, NULL); /* polling a condition, bounded */
	cr_assert_eq(rring_engine_stats(T.cli, &st), 0);
	rring_engine_stop(T.cli);
	pthread_join(th, NULL);
	rring_engine_destroy(T.cli);
	rring_engine_destroy(srv);
	cr_assert_eq(atomic_load(&T.errors), 0);
	cr_assert_eq(atomic_load(&T.done), TOTAL);
	cr_assert_eq(atomic_load(&T.rx), (uint64_t)TOTAL * MSG);
	cr_assert_eq(atomic_load(&T.bad), 0, "received data is not what was sent");
	cr_assert_eq(st.io[0].writes_posted - st.io[0].writes_fenced, 3 + NODD);
	cr_assert_geq(st.io[0].writes_signaled - st.io[0].writes_fenced, 1);
	cr_assert_leq(st.io[0].writes_signaled, 3 + NODD + st.io[0].writes_fenced);
	cr_assert_leq(st.io[0].writes_fenced, 3 + NODD);
	cr_assert_eq(st.io[0].sends_coalesced, 3 * (BURST - 1));
}
