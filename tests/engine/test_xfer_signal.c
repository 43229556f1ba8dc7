// SPDX-License-Identifier: BSD-3-Clause
/* rdmaring tests: RDMA writes are signaled only when the sender needs it. */
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
#include "xfer.h"

/*
 * Two "wire" 1 engines in this process over softverbs.
 *
 * request_response: CONNS clients each run ROUNDS round trips of MSG bytes
 * (request, the server echoes it, the client checks every byte, then the
 * next request). Every write carries one request or one reply and the
 * connection goes quiet after it, which used to cost one signaled write
 * each. Now a data write is signaled only one in signal-every, at a full
 * window, or as the tail of a connection whose last signal is
 * RR_XFER_SIGNAL_MS old; the rest is retired by fences (zero-byte signaled
 * writes), at most one per data write. The bound on signaled data writes
 * counts one per connection per RR_XFER_SIGNAL_MS of the run's measured
 * duration (a slow run, as under a sanitizer, only raises it); every
 * SEND_DONE must arrive with status 0.
 *
 * teardown_unsignaled: once the server's hello came (so its window is
 * known), the client posts K writes outside any batch (each leaves at once;
 * the first is signaled, as the connection has no recent signal, the others
 * follow within RR_XFER_SIGNAL_MS and are not) and closes in the same step,
 * before a fence can be due. Every send must be reported exactly once, in
 * order, before CLOSED, the delivered ones (status 0) before the failed
 * ones, and the K - 1 sends of unsignaled writes failed; the server sees a
 * correct prefix of the stream. ASan checks that the close freed
 * everything. Should the sending thread stall for RR_XFER_SIGNAL_MS in the
 * middle (a second signaled write), the run is repeated on new engines.
 */

#define CONNS 4
#define MSG 48
#define K 32
#define KMSG 1000
#define DEADLINE_NS (60ull * 1000000000ull)

#ifdef TS_SANITIZED
#define ROUNDS 400
#else
#define ROUNDS 2000
#endif

static unsigned char pat(uint64_t a, uint64_t b)
{
	return (unsigned char)(a * 131 + b * 7 + (b >> 8));
}

static void wait_for(atomic_int *v, int want, atomic_int *errors)
{
	struct timespec ms = {0, 1000000};
	uint64_t t0 = ts_now_ns();

	while (atomic_load(v) < want && !atomic_load(errors) &&
	       ts_now_ns() - t0 < DEADLINE_NS)
		nanosleep(&ms, NULL); /* polling a condition, bounded */
}

/* ---- request_response --------------------------------------------------- */

struct rr_client {
	int idx;
	uint32_t round, got;
};

static struct {
	struct rr_client cl[CONNS];
	atomic_int finished, errors, cli_done, srv_sent, srv_done;
} R;

static void rr_request(struct rring_conn *c, struct rr_client *cl)
{
	unsigned char m[MSG];
	uint32_t i;

	for (i = 0; i < MSG; i++)
		m[i] = pat((uint64_t)cl->idx << 32 | cl->round, i);
	if (rring_conn_send(c, m, MSG, cl->round))
		atomic_fetch_add(&R.errors, 1);
}

static void rr_reply(struct rring_conn *c, struct rr_client *cl,
		     const unsigned char *d, uint32_t len)
{
	uint32_t i;

	for (i = 0; i < len; i++, cl->got++)
		if (cl->got >= MSG ||
		    d[i] != pat((uint64_t)cl->idx << 32 | cl->round, cl->got))
			atomic_fetch_add(&R.errors, 1);
	if (cl->got < MSG)
		return;
	cl->got = 0;
	if (++cl->round == ROUNDS)
		atomic_fetch_add(&R.finished, 1);
	else
		rr_request(c, cl);
}

static void rr_client_event(struct rring_io *io, const struct rring_event *ev,
			    void *arg)
{
	struct rr_client *cl = ev->conn_ctx;

	(void)io;
	(void)arg;
	switch (ev->type) {
	case RRING_EVENT_CONNECTED:
		rr_request(ev->conn, cl);
		break;
	case RRING_EVENT_RECV:
		rr_reply(ev->conn, cl, ev->data, ev->len);
		if (rring_conn_consume(ev->conn, ev->len))
			atomic_fetch_add(&R.errors, 1);
		break;
	case RRING_EVENT_SEND_DONE:
		if (ev->status)
			atomic_fetch_add(&R.errors, 1);
		atomic_fetch_add(&R.cli_done, 1);
		break;
	default:
		break;
	}
}

static void rr_server_event(struct rring_io *io, const struct rring_event *ev,
			    void *arg)
{
	(void)io;
	(void)arg;
	switch (ev->type) {
	case RRING_EVENT_RECV:
		if (rring_conn_send(ev->conn, ev->data, ev->len, 0) ||
		    rring_conn_consume(ev->conn, ev->len))
			atomic_fetch_add(&R.errors, 1);
		atomic_fetch_add(&R.srv_sent, 1);
		break;
	case RRING_EVENT_SEND_DONE:
		if (ev->status)
			atomic_fetch_add(&R.errors, 1);
		atomic_fetch_add(&R.srv_done, 1);
		break;
	default:
		break;
	}
}

/* Data writes of one IO thread (fences are counted in both totals) over a
 * run of @ms milliseconds. */
static void check_data_writes(const struct rring_io_stats *st,
			      uint64_t min_writes, uint64_t ms, const char *who)
{
	uint64_t data = st->writes_posted - st->writes_fenced;
	uint64_t sig = st->writes_signaled - st->writes_fenced;
	/* one in signal-every, each window fill (64 KiB windows), one tail
	 * per connection and signal period */
	uint64_t allowed = data / RRING_DEFAULT_SIGNAL_EVERY +
			   CONNS * ((uint64_t)ROUNDS * MSG / 65536 + 2) +
			   CONNS * (ms / RR_XFER_SIGNAL_MS + 1);

	cr_log_info("%s: %llu data writes, %llu signaled (at most %llu in "
		    "%llu ms), %llu fences",
		    who, (unsigned long long)data, (unsigned long long)sig,
		    (unsigned long long)allowed, (unsigned long long)ms,
		    (unsigned long long)st->writes_fenced);
	cr_assert_geq(data, min_writes, "%s", who);
	cr_assert_leq(sig, allowed, "%s: %llu of %llu data writes signaled",
		      who, (unsigned long long)sig, (unsigned long long)data);
	cr_assert_leq(st->writes_fenced, data, "%s: a fence per write at most",
		      who);
}

Test(xfer_signal, request_response, .timeout = 300)
{
	struct rring_engine *srv, *cli;
	struct rring_stats ss, cs;
	void *ctx[CONNS];
	uint64_t t0, ms;
	int i;

	memset(&R, 0, sizeof(R));
	srv = echo_wire_engine(rr_server_event, 0);
	cli = echo_wire_engine(rr_client_event, 0);
	cr_assert(srv && cli);
	for (i = 0; i < CONNS; i++) {
		R.cl[i].idx = i;
		ctx[i] = &R.cl[i];
	}
	t0 = ts_now_ns();
	cr_assert_eq(echo_listen_connect(srv, cli, CONNS, ctx), 0);
	wait_for(&R.finished, CONNS, &R.errors);
	/* The last replies and requests leave quiet: fences report them. */
	wait_for(&R.cli_done, CONNS * ROUNDS, &R.errors);
	wait_for(&R.srv_done, atomic_load(&R.srv_sent), &R.errors);
	cr_assert_eq(rring_engine_stats(cli, &cs), 0);
	cr_assert_eq(rring_engine_stats(srv, &ss), 0);
	ms = (ts_now_ns() - t0) / 1000000;
	rring_engine_destroy(cli);
	rring_engine_destroy(srv);
	cr_assert_eq(atomic_load(&R.errors), 0);
	cr_assert_eq(atomic_load(&R.finished), CONNS);
	for (i = 0; i < CONNS; i++)
		cr_assert_eq(R.cl[i].round, ROUNDS, "client %d", i);
	cr_assert_eq(atomic_load(&R.cli_done), CONNS * ROUNDS);
	cr_assert_eq(atomic_load(&R.srv_done), atomic_load(&R.srv_sent));
	check_data_writes(&cs.io[0], CONNS * ROUNDS, ms, "client");
	check_data_writes(&ss.io[0], CONNS * ROUNDS, ms, "server");
}

/* ---- teardown_unsignaled ------------------------------------------------ */

static struct {
	struct rring_engine *cli;
	_Atomic(struct rring_conn *) conn;
	atomic_int reported, failed, errors, closed, srv_closed;
	int next_tag;
	_Atomic uint64_t rx; /* server: stream bytes checked */
	struct rring_io_stats at_close;
} D;

static void td_client_event(struct rring_io *io, const struct rring_event *ev,
			    void *arg)
{
	struct rring_stats st;

	(void)io;
	(void)arg;
	switch (ev->type) {
	case RRING_EVENT_RECV:
		/* The server's hello follows its window advertisement on the
		 * same QP: from now on our writes leave at once. */
		if (rring_conn_consume(ev->conn, ev->len))
			atomic_fetch_add(&D.errors, 1);
		atomic_store(&D.conn, ev->conn);
		break;
	case RRING_EVENT_SEND_DONE:
		/* once each, in order, delivered ones first */
		if (ev->tag != (uint64_t)D.next_tag++ || ev->len != KMSG ||
		    atomic_load(&D.closed) ||
		    (!ev->status && atomic_load(&D.failed)))
			atomic_fetch_add(&D.errors, 1);
		if (ev->status < 0)
			atomic_fetch_add(&D.failed, 1);
		atomic_fetch_add(&D.reported, 1);
		break;
	case RRING_EVENT_CLOSED:
		if (rring_engine_stats(D.cli, &st))
			atomic_fetch_add(&D.errors, 1);
		D.at_close = st.io[0];
		atomic_fetch_add(&D.closed, 1);
		break;
	default:
		break;
	}
}

static void td_server_event(struct rring_io *io, const struct rring_event *ev,
			    void *arg)
{
	uint64_t off = atomic_load(&D.rx), i;
	const unsigned char *d = ev->data;

	(void)io;
	(void)arg;
	if (ev->type == RRING_EVENT_ACCEPTED &&
	    rring_conn_send(ev->conn, "hello", 5, 0))
		atomic_fetch_add(&D.errors, 1);
	if (ev->type == RRING_EVENT_CLOSED)
		atomic_fetch_add(&D.srv_closed, 1);
	if (ev->type != RRING_EVENT_RECV)
		return;
	for (i = 0; i < ev->len; i++, off++)
		if (off >= (uint64_t)K * KMSG || d[i] != pat(off / KMSG, off))
			atomic_fetch_add(&D.errors, 1);
	atomic_store(&D.rx, off);
	if (rring_conn_consume(ev->conn, ev->len))
		atomic_fetch_add(&D.errors, 1);
}

/* K sends outside a batch (a write each), then the close, in one step. */
static void td_send_and_close(struct rring_conn *c)
{
	unsigned char m[KMSG];
	uint64_t j;
	int k;

	for (k = 0; k < K; k++) {
		for (j = 0; j < KMSG; j++)
			m[j] = pat((uint64_t)k, (uint64_t)k * KMSG + j);
		if (rring_conn_send(c, m, KMSG, (uint64_t)k))
			atomic_fetch_add(&D.errors, 1);
	}
	if (rring_conn_close(c))
		atomic_fetch_add(&D.errors, 1);
}

static void *td_client_io(void *arg)
{
	struct rring_io *io = rring_engine_io(D.cli, 0);
	struct timespec us = {0, 50000};
	int done = 0;

	(void)arg;
	while (rring_io_process(io, 64) != -ESHUTDOWN) {
		struct rring_conn *c = atomic_load(&D.conn);

		if (c && !done) {
			td_send_and_close(c);
			done = 1;
		}
		nanosleep(&us, NULL); /* pacing the driver loop, not a sync */
	}
	return NULL;
}

/* One run on new engines; true when the writes were signaled as planned
 * (the first only), so that the K - 1 others must have failed. */
static bool td_run(void)
{
	struct rring_engine *srv;
	pthread_t th;

	memset(&D, 0, sizeof(D));
	srv = echo_wire_engine(td_server_event, 0);
	D.cli = echo_wire_engine(td_client_event, 1);
	cr_assert(srv && D.cli);
	cr_assert_eq(pthread_create(&th, NULL, td_client_io, NULL), 0);
	cr_assert_eq(echo_listen_connect(srv, D.cli, 1, NULL), 0);
	wait_for(&D.closed, 1, &D.errors);
	wait_for(&D.srv_closed, 1, &D.errors);
	rring_engine_stop(D.cli);
	pthread_join(th, NULL);
	rring_engine_destroy(D.cli);
	rring_engine_destroy(srv);
	cr_assert_eq(atomic_load(&D.errors), 0);
	cr_assert_eq(atomic_load(&D.closed), 1);
	cr_assert_eq(atomic_load(&D.srv_closed), 1);
	cr_assert_eq(atomic_load(&D.reported), K);
	cr_assert_eq(D.at_close.writes_posted, K);
	cr_assert_eq(D.at_close.writes_fenced, 0);
	cr_assert_geq(D.at_close.writes_signaled, 1);
	cr_assert_leq(atomic_load(&D.rx), (uint64_t)K * KMSG);
	if (D.at_close.writes_signaled != 1)
		return false;
	cr_assert_geq(atomic_load(&D.failed), K - 1,
		      "a send reported delivered without a completion");
	return true;
}

Test(xfer_signal, teardown_unsignaled, .timeout = 300)
{
	int i;

	for (i = 0; i < 5; i++)
		if (td_run())
			return;
	cr_assert_fail("5 runs, in each a second write was signaled");
}

Test(xfer_signal, signal_every_range)
{
	struct rring_params p;
	char err[160];

	rring_params_init(&p);
	cr_assert_eq(p.signal_every, RRING_DEFAULT_SIGNAL_EVERY);
	cr_assert_eq(rring_params_set(&p, "signal-every", "0", err,
				      sizeof(err)),
		     -EINVAL);
	cr_assert(strstr(err, "signal-every") && strstr(err, "1..960"), "%s",
		  err);
	cr_assert_eq(rring_params_set(&p, "signal-every", "961", err,
				      sizeof(err)),
		     -EINVAL);
	cr_assert_eq(rring_params_set(&p, "signal-every", "960", err,
				      sizeof(err)),
		     0);
	cr_assert_eq(p.signal_every, 960);
	p.signal_every = 0;
	cr_assert_eq(rring_params_validate(&p, err, sizeof(err)), -EINVAL);
}
