// SPDX-License-Identifier: BSD-3-Clause
/* rdmaring tests: the engine's wire layer against the raw Valkey peer. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>

#include "raw_peer.h"
#include "rdmaring.h"
#include "test_support.h"

/*
 * One engine ("wire" 1, one IO thread) and the raw peer (raw_peer.h, an
 * independent implementation of Valkey's transport) in the test thread.
 * Conformance: 10 MB each way through 64 KiB and 1 MiB windows, with the
 * engine as server and as client, every byte checked on both sides.
 * Misbehaviour: each violation of issue 6 closes that connection with a
 * log line naming the peer and the violation, CLOSED with an error status,
 * while a second, well-behaved connection keeps working.
 */

#ifdef TS_SANITIZED
#define XFER_BYTES (2u << 20)
#define SMALL_REQS 600u
#else
#define XFER_BYTES (10u << 20)
#define SMALL_REQS 3000u
#endif

static unsigned char pat(uint64_t i)
{
	return (unsigned char)(i * 31 + (i >> 11) * 7 + 3);
}

/* Written by the IO thread, read by the test thread: all atomic. */
struct econn {
	struct rring_conn *conn;
	_Atomic uint64_t rx; /* stream bytes received and checked */
	atomic_int bad;
	atomic_int closed, close_status;
	atomic_int after_close; /* events after CLOSED (must stay 0) */
	atomic_int send_status; /* of the 10 MB send: 1 pending */
	/* MODE_SMALL / MODE_CHUNKS */
	atomic_int done;
	_Atomic uint32_t sent, eagain, ok, failed;
	_Atomic uint64_t off, ok_bytes;
};

enum { MODE_BIG, MODE_SMALL, MODE_CHUNKS };
#define CHUNKS (XFER_BYTES >> 20)      /* MODE_CHUNKS: 1 MiB sends */
#define CUT_MIB (CHUNKS > 3 ? 3u : 1u) /* received before the cut */
_Static_assert((CHUNKS << 20) <= XFER_BYTES, "MODE_CHUNKS sends stay in T.big");

struct tx {
	pthread_mutex_t lock;
	struct econn ec[4];
	atomic_int n_conns;
	atomic_int send_on_connect; /* send T.big on CONNECTED/ACCEPTED */
	atomic_int mode;
	unsigned char *big;
	char log[2048];
	atomic_int log_errors;
};

static struct tx T;

static void log_sink(int level, const char *msg, void *arg)
{
	(void)arg;
	pthread_mutex_lock(&T.lock);
	if (level == 0) {
		atomic_fetch_add(&T.log_errors, 1);
		if (strlen(T.log) + strlen(msg) + 2 < sizeof(T.log)) {
			strcat(T.log, msg);
			strcat(T.log, "\n");
		}
	}
	pthread_mutex_unlock(&T.lock);
}

/* MODE_SMALL: requests of 3 iovecs, 1..6000 bytes (copied), until
 * -EAGAIN; MODE_CHUNKS: CHUNKS sends of 1 MiB (zero copy). */
static void pump_sends(struct econn *e)
{
	struct iovec iov[3];
	uint32_t len, a, b;
	int ret;

	for (;;) {
		if (e->sent == (T.mode == MODE_SMALL ? SMALL_REQS : CHUNKS))
			return;
		len = T.mode == MODE_SMALL ? 1 + (e->sent * 7919u) % 6000u
					   : 1u << 20;
		/* Every iovec lies inside T.big (a scaled-down XFER_BYTES once
		 * made this test send past its own buffer). */
		if (e->off + len > XFER_BYTES) {
			e->bad = 1;
			return;
		}
		if (T.mode == MODE_SMALL) {
			a = len / 3, b = len / 2;
			iov[0] = (struct iovec){T.big + e->off, a};
			iov[1] = (struct iovec){T.big + e->off + a, b - a};
			iov[2] = (struct iovec){T.big + e->off + b, len - b};
			ret = rring_conn_sendv(e->conn, iov, 3, e->sent);
		} else {
			iov[0] = (struct iovec){T.big + e->off, len};
			ret = rring_conn_sendv(e->conn, iov, 1, e->sent);
		}
		if (ret == -EAGAIN) {
			e->eagain++;
			return;
		}
		if (ret) {
			e->bad = 1;
			return;
		}
		e->sent++;
		e->off += len;
	}
}

static void on_send_done(struct econn *e, const struct rring_event *ev)
{
	if (T.mode == MODE_BIG) {
		if (ev->tag != 7 || ev->len != XFER_BYTES)
			e->bad = 1;
		e->send_status = ev->status;
		return;
	}
	if (ev->tag != (uint64_t)e->done++) /* in order, exactly once */
		e->bad = 1;
	if (ev->status) {
		e->failed++;
		return;
	}
	if (e->failed) /* no success after a failure */
		e->bad = 1;
	e->ok++;
	e->ok_bytes += ev->len;
	pump_sends(e);
}

static void on_open(const struct rring_event *ev)
{
	int i = atomic_load(&T.n_conns);
	struct econn *e = &T.ec[i];
	struct iovec iov = {T.big, XFER_BYTES};

	e->conn = ev->conn;
	e->send_status = 1;
	rring_conn_set_ctx(ev->conn, e);
	if (T.mode != MODE_BIG)
		pump_sends(e);
	else if (T.send_on_connect && rring_conn_sendv(ev->conn, &iov, 1, 7))
		e->bad = 1;
	atomic_store(&T.n_conns, i + 1);
}

static void on_event(struct rring_io *io, const struct rring_event *ev,
		     void *arg)
{
	struct econn *e = ev->conn_ctx;
	const unsigned char *p = ev->data;
	uint32_t i;

	(void)io;
	(void)arg;
	if (e && e->closed)
		e->after_close++;
	switch (ev->type) {
	case RRING_EVENT_CONNECTED:
	case RRING_EVENT_ACCEPTED:
		on_open(ev);
		break;
	case RRING_EVENT_RECV:
		for (i = 0; i < ev->len; i++)
			if (p[i] != pat(e->rx + i))
				e->bad = 1;
		e->rx += ev->len;
		if (rring_conn_consume(ev->conn, ev->len))
			e->bad = 1;
		break;
	case RRING_EVENT_SEND_DONE:
		on_send_done(e, ev);
		break;
	case RRING_EVENT_CLOSED:
		if (!e) /* CONNECT failed */
			break;
		e->close_status = ev->status;
		atomic_store(&e->closed, 1);
		break;
	}
}

static struct rring_engine *start_engine(uint32_t rx_size)
{
	struct rring_handlers h = {.event = on_event, .log = log_sink};
	struct rring_engine *e;
	struct rring_params p;

	memset(&T, 0, sizeof(T));
	pthread_mutex_init(&T.lock, NULL);
	T.big = malloc(XFER_BYTES);
	cr_assert_not_null(T.big);
	for (uint64_t i = 0; i < XFER_BYTES; i++)
		T.big[i] = pat(i);
	rring_params_init(&p);
	p.wire = 1;
	p.rx_size = rx_size;
	p.cq_entries = 16384;
	p.poller_cpu = RRING_CPU_NONE;
	p.io_cpus_mode = RRING_IO_CPUS_NONE;
	e = rring_engine_create(&p, &h);
	cr_assert_not_null(e);
	cr_assert_eq(rring_engine_start(e), 0);
	return e;
}

static void stop_engine(struct rring_engine *e)
{
	rring_engine_destroy(e);
	free(T.big);
}

/* Wait (bounded) for an int written by the IO thread. */
static int wait_int(atomic_int *v, int want, unsigned int ms)
{
	uint64_t dl = raw_peer_deadline(ms);
	struct timespec ts = {0, 1000000};

	while (atomic_load(v) != want) {
		if (raw_peer_deadline(0) > dl)
			return -ETIMEDOUT;
		nanosleep(&ts, NULL);
	}
	return 0;
}

static int wait_u64(_Atomic uint64_t *v, uint64_t want, unsigned int ms)
{
	uint64_t dl = raw_peer_deadline(ms);
	struct timespec ts = {0, 1000000};

	while (atomic_load(v) < want) {
		if (raw_peer_deadline(0) > dl)
			return -ETIMEDOUT;
		nanosleep(&ts, NULL);
	}
	return 0;
}

static int wait_conns(int n, unsigned int ms)
{
	return wait_int(&T.n_conns, n, ms);
}

/* ---- Conformance -------------------------------------------------------- */

/* Both directions over one established connection p <-> T.ec[0]. */
static void exchange(struct raw_peer *p)
{
	unsigned char *got = malloc(XFER_BYTES);
	uint64_t dl = raw_peer_deadline(60000), i, bad = 0;
	ssize_t n;

	cr_assert_not_null(got);
	cr_assert_eq(raw_peer_send(p, T.big, XFER_BYTES, dl), 0);
	cr_assert_eq(raw_peer_flush(p, dl), 0);
	cr_assert_eq(wait_u64(&T.ec[0].rx, XFER_BYTES, 60000), 0,
		     "engine received %llu", (unsigned long long)T.ec[0].rx);
	n = raw_peer_recv(p, got, XFER_BYTES, dl);
	cr_assert_eq(n, (ssize_t)XFER_BYTES, "raw peer received %zd", n);
	for (i = 0; i < XFER_BYTES; i++)
		bad += got[i] != pat(i);
	cr_assert_eq(bad, 0, "%llu bad bytes at the raw peer",
		     (unsigned long long)bad);
	cr_assert_eq(wait_int(&T.ec[0].send_status, 0, 20000), 0,
		     "SEND_DONE %d", T.ec[0].send_status);
	cr_assert_eq(T.ec[0].bad, 0);
	cr_assert_eq(T.ec[0].rx, XFER_BYTES);
	cr_assert_null(raw_peer_violation(p));
	cr_assert_eq(atomic_load(&T.log_errors), 0, "%s", T.log);
	free(got);
}

/* The engine listens on an ephemeral port; returns it. */
static int engine_listen(struct rring_engine *e)
{
	int port = rring_listen(e, "127.0.0.1", 0, NULL);

	cr_assert_gt(port, 0);
	return port;
}

/* Connect a raw peer with @o to the engine: as client of the engine's
 * listener on @port, or (@port 0) as a server the engine connects to.
 * Returns raw_peer_connect()'s or raw_peer_accept()'s result. */
static int raw_attach(struct rring_engine *e, int port, struct raw_peer_opts *o,
		      struct raw_peer **pp, uint64_t dl)
{
	if (port)
		return raw_peer_connect(pp, "127.0.0.1", (uint16_t)port, o, dl);
	cr_assert_eq(raw_peer_listen(pp, "127.0.0.1", 0, o), 0);
	cr_assert_eq(
	    rring_connect(e, "127.0.0.1", raw_peer_port(*pp), NULL, NULL), 0);
	return raw_peer_accept(*pp, dl);
}

/* raw_attach() a well-behaved raw peer with an @rx window; must succeed. */
static struct raw_peer *raw_attached(struct rring_engine *e, int port,
				     uint32_t rx)
{
	struct raw_peer_opts o;
	struct raw_peer *p = NULL;

	raw_peer_opts_init(&o);
	o.rx_size = rx;
	cr_assert_eq(raw_attach(e, port, &o, &p, raw_peer_deadline(10000)), 0);
	return p;
}

/* Close the raw peer of T.ec[0]; the engine reports CLOSED, with nothing
 * after it; stop the engine. */
static void close_raw_and_stop(struct rring_engine *e, struct raw_peer *p)
{
	raw_peer_close(p);
	cr_assert_eq(wait_int(&T.ec[0].closed, 1, 10000), 0);
	cr_assert_eq(T.ec[0].after_close, 0);
	stop_engine(e);
}

/* exchange() through @win windows, the engine as server or as client. */
static void engine_exchange(uint32_t win, int server)
{
	struct rring_engine *e = start_engine(win);
	struct raw_peer *p;

	T.send_on_connect = 1;
	p = raw_attached(e, server ? engine_listen(e) : 0, win);
	cr_assert_eq(wait_conns(1, 10000), 0);
	exchange(p);
	close_raw_and_stop(e, p);
}

Test(xfer_raw, engine_server_64k, .timeout = 120)
{
	engine_exchange(64u << 10, 1);
}

Test(xfer_raw, engine_server_1m, .timeout = 120)
{
	engine_exchange(1u << 20, 1);
}

Test(xfer_raw, engine_client_64k, .timeout = 120)
{
	engine_exchange(64u << 10, 0);
}

Test(xfer_raw, engine_client_1m, .timeout = 120)
{
	engine_exchange(1u << 20, 0);
}

/* ---- Misbehaviour ------------------------------------------------------- */

/* A good connection (ec[0]) first, then the bad one (ec[1]); the engine
 * closes only the bad one, names peer and violation, and the good one
 * still moves 1 MiB. Engine as server (@server) or as client. */
static void violation(enum raw_peer_misbehave mb, int server, const char *why)
{
	struct rring_engine *e = start_engine(64u << 10);
	struct raw_peer *good = NULL, *bad = NULL;
	struct raw_peer_opts o;
	uint64_t dl = raw_peer_deadline(30000);
	int port, ret;

#ifdef __SANITIZE_THREAD__
	/* An overrunning peer writes (remote DMA) into buffer space the
	 * application is reading: a race by construction that TSan cannot
	 * tell from a CPU race. The normal and ASan builds run this case. */
	if (mb == RAW_PEER_WRITE_OVERRUN) {
		stop_engine(e);
		return;
	}
#endif
	port = server ? engine_listen(e) : 0;
	for (int i = 0; i < 2; i++) {
		raw_peer_opts_init(&o);
		o.rx_size = 64u << 10;
		o.misbehave = i ? mb : RAW_PEER_BEHAVE;
		o.tolerate = true;
		ret = raw_attach(e, port, &o, i ? &bad : &good, dl);
		cr_assert(ret == 0 ||
			      (i && raw_peer_misbehaves_at_establishment(mb)),
			  "connect %d: %s", i, strerror(-ret));
		cr_assert_eq(wait_conns(i + 1, 10000), 0);
	}
	if (!raw_peer_misbehaves_at_establishment(mb))
		cr_assert_eq(raw_peer_misbehave(bad, dl), 0);
	cr_assert_eq(raw_peer_wait_closed(bad, dl), 0);
	cr_assert_eq(wait_int(&T.ec[1].closed, 1, 10000), 0);
	cr_assert_lt(T.ec[1].close_status, 0);
	pthread_mutex_lock(&T.lock);
	cr_assert(strstr(T.log, "peer ") && strstr(T.log, "127.0.0.1") &&
		      strstr(T.log, why),
		  "log: %s (want %s)", T.log, why);
	pthread_mutex_unlock(&T.lock);
	/* The other connection is unaffected. */
	cr_assert_eq(T.ec[0].closed, 0);
	cr_assert_eq(raw_peer_send(good, T.big, 1u << 20, dl), 0);
	cr_assert_eq(wait_u64(&T.ec[0].rx, 1u << 20, 20000), 0);
	cr_assert_eq(T.ec[0].bad, 0);
	raw_peer_close(bad);
	raw_peer_close(good);
	stop_engine(e);
}

#define VIOLATION_TESTS(name, mb, why)                                         \
	Test(xfer_raw, name##_server, .timeout = 60)                           \
	{                                                                      \
		violation(mb, 1, why);                                         \
	}                                                                      \
	Test(xfer_raw, name##_client, .timeout = 60)                           \
	{                                                                      \
		violation(mb, 0, why);                                         \
	}

VIOLATION_TESTS(bad_byte_len, RAW_PEER_BAD_BYTE_LEN, "byte_len is not 32")
VIOLATION_TESTS(unknown_opcode, RAW_PEER_UNKNOWN_OPCODE,
		"unknown control opcode")
VIOLATION_TESTS(adv_bad_length, RAW_PEER_ADV_BAD_LENGTH,
		"length outside 64 KiB..16 MiB")
VIOLATION_TESTS(adv_zero_rkey, RAW_PEER_ADV_ZERO_RKEY, "zero rkey")
VIOLATION_TESTS(write_overrun, RAW_PEER_WRITE_OVERRUN,
		"overruns the advertised buffer")
VIOLATION_TESTS(imm_too_large, RAW_PEER_IMM_TOO_LARGE,
		"count larger than the buffer")
VIOLATION_TESTS(write_before_adv, RAW_PEER_WRITE_BEFORE_ADV, "write-with-imm")

/* ---- Keepalive, copied small sends, backpressure, disconnects ----------- */

static bool got_keepalive(struct raw_peer *p, void *arg)
{
	(void)arg;
	return raw_peer_stats(p)->keepalive_received > 0;
}

/* The engine as server sends a Keepalive within 3 s (+ tick slack). */
Test(xfer_raw, server_keepalive, .timeout = 60)
{
	struct rring_engine *e = start_engine(64u << 10);
	struct raw_peer *p = raw_attached(e, engine_listen(e), 64u << 10);

	cr_assert_eq(
	    raw_peer_wait(p, got_keepalive, NULL, raw_peer_deadline(6000)), 0);
	cr_assert_null(raw_peer_violation(p));
	close_raw_and_stop(e, p);
}

/* 3000 small sends of 3 iovecs (copied into staging) from the engine as
 * client: -EAGAIN when staging is full, resumed on SEND_DONE; the raw peer
 * checks the stream byte by byte. */
Test(xfer_raw, small_copied_sends_backpressure, .timeout = 120)
{
	struct rring_engine *e = start_engine(64u << 10);
	uint64_t total = 0, i, bad = 0;
	unsigned char *got;
	struct raw_peer *p;

	for (i = 0; i < SMALL_REQS; i++)
		total += 1 + (i * 7919u) % 6000u;
	cr_assert_leq(total, XFER_BYTES);
	T.mode = MODE_SMALL;
	p = raw_attached(e, 0, 64u << 10);
	got = malloc(total);
	cr_assert_not_null(got);
	cr_assert_eq(raw_peer_recv(p, got, total, raw_peer_deadline(60000)),
		     (ssize_t)total);
	for (i = 0; i < total; i++)
		bad += got[i] != pat(i);
	cr_assert_eq(bad, 0);
	cr_assert_eq(wait_int(&T.ec[0].done, (int)SMALL_REQS, 20000), 0);
	cr_assert_eq(T.ec[0].ok, SMALL_REQS);
	cr_assert_gt(T.ec[0].eagain, 0, "staging never filled");
	cr_assert_eq(T.ec[0].bad, 0);
	free(got);
	close_raw_and_stop(e, p);
}

/* The raw peer takes 3 MiB of ten 1 MiB zero-copy sends (1 of 2 under
 * sanitizers) and disconnects:
 * every send is reported once, in order; what is reported delivered was
 * received; the rest fails; CLOSED (status 0: the peer closed in order)
 * comes last with nothing after it. */
Test(xfer_raw, disconnect_mid_transfer, .timeout = 120)
{
	struct rring_engine *e = start_engine(64u << 10);
	unsigned char *got = malloc(CUT_MIB << 20);
	uint64_t received;
	struct raw_peer *p;

	cr_assert_not_null(got);
	T.mode = MODE_CHUNKS;
	p = raw_attached(e, 0, 64u << 10);
	cr_assert_eq(
	    raw_peer_recv(p, got, CUT_MIB << 20, raw_peer_deadline(30000)),
	    (ssize_t)(CUT_MIB << 20));
	received = raw_peer_stats(p)->bytes_received;
	cr_assert_eq(raw_peer_disconnect(p), 0);
	cr_assert_eq(wait_int(&T.ec[0].closed, 1, 20000), 0);
	cr_assert_eq(T.ec[0].done, CHUNKS, "reported %u", T.ec[0].done);
	cr_assert_eq(T.ec[0].ok + T.ec[0].failed, CHUNKS);
	cr_assert_geq(T.ec[0].ok + 1, CUT_MIB);
	cr_assert_gt(T.ec[0].failed, 0);
	cr_assert_leq(T.ec[0].ok_bytes, received);
	cr_assert_eq(T.ec[0].after_close, 0);
	cr_assert_eq(T.ec[0].bad, 0);
	free(got);
	raw_peer_close(p);
	stop_engine(e);
}
