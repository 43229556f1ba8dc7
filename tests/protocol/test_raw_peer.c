// SPDX-License-Identifier: BSD-3-Clause
/* rdmaring tests: the raw Valkey RDMA peer vs itself and the wire machines. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <criterion/criterion.h>

#include <rdma/rdma_cma.h>

#include "raw_peer.h"
#include "wire_msg.h"
#include "wire_recv.h"
#include "wire_send.h"
#include "test_support.h"

/*
 * Each test runs a raw server in a thread of its own (it creates, uses and
 * leaves its peer; softverbs' strict mode checks that) and a raw client in
 * the test's thread, or the server in a forked child for the cross-process
 * path. The server thread records results; the test asserts after joining.
 * Every blocking step has a deadline, so a hang fails instead of sticking.
 */

#ifdef TS_SANITIZED
#define BIG_SIZE 2500000u /* still crosses many 64 KiB windows */
#else
#define BIG_SIZE 10000000u /* "10 MB" */
#endif

#define STEP_MS 30000 /* deadline of one whole scenario */
#define KIB 1024u

/* ---- data: a pattern the receiver can check byte by byte ---- */

static uint8_t pat(uint64_t i, uint32_t seed)
{
	uint64_t x = (i >> 3) + (uint64_t)seed * 0x9e3779b97f4a7c15ull;

	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return (uint8_t)(x >> ((i & 7) * 8));
}

static void fill(uint8_t *b, size_t len, uint64_t start, uint32_t seed)
{
	for (size_t i = 0; i < len; i++)
		b[i] = pat(start + i, seed);
}

/* ---- the scenario shared by server thread and client ---- */

struct xfer;
typedef void (*server_script)(struct raw_peer *p, struct xfer *x);

struct xfer {
	struct raw_peer_opts so, co; /* server, client options */
	size_t size;		     /* bytes client -> server */
	size_t recv_piece;	     /* server's raw_peer_recv size */
	uint32_t seed;
	uint64_t deadline;
	server_script script;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint16_t port; /* 0 until the server listens */
	int listen_ret;

	/* server results */
	struct raw_peer *srv; /* left open for the test to inspect */
	int accept_ret, srv_ret;
	uint64_t srv_got, srv_bad, srv_sum;
	uint64_t srv_first_bad;
};

static void xfer_init(struct xfer *x, size_t size, uint32_t srv_rx)
{
	memset(x, 0, sizeof(*x));
	raw_peer_opts_init(&x->so);
	raw_peer_opts_init(&x->co);
	x->so.rx_size = srv_rx;
	x->size = size;
	x->recv_piece = 100003; /* odd, so pieces straddle windows */
	x->seed = 42;
	x->deadline = raw_peer_deadline(STEP_MS);
	pthread_mutex_init(&x->lock, NULL);
	pthread_cond_init(&x->cond, NULL);
}

/* Receive x->size bytes, checking each one; then send the 16-byte digest
 * (count, FNV-1a) back, and wait for the client to close. */
static void script_sink(struct raw_peer *p, struct xfer *x)
{
	size_t cap = x->recv_piece;
	uint8_t *buf = malloc(cap), digest[16];
	uint64_t h = TS_FNV_INIT;
	ssize_t n;

	x->srv_first_bad = UINT64_MAX;
	while (buf && x->srv_got < x->size) {
		size_t want =
		    x->size - x->srv_got < cap ? x->size - x->srv_got : cap;

		n = raw_peer_recv(p, buf, want, x->deadline);
		if (n < 0) {
			x->srv_ret = (int)n;
			break;
		}
		for (size_t i = 0; i < (size_t)n; i++)
			if (buf[i] != pat(x->srv_got + i, x->seed)) {
				if (x->srv_first_bad == UINT64_MAX)
					x->srv_first_bad = x->srv_got + i;
				x->srv_bad++;
			}
		h = ts_fnv(h, buf, (size_t)n);
		x->srv_got += (uint64_t)n;
	}
	free(buf);
	x->srv_sum = h;
	if (x->srv_ret)
		return;
	memcpy(digest, &x->srv_got, 8);
	memcpy(digest + 8, &h, 8);
	x->srv_ret = raw_peer_send(p, digest, sizeof(digest), x->deadline);
	if (!x->srv_ret)
		x->srv_ret = raw_peer_wait_closed(p, x->deadline);
}

static void *server_main(void *arg)
{
	struct xfer *x = arg;
	struct raw_peer *p = NULL;
	int ret = raw_peer_listen(&p, "127.0.0.1", 0, &x->so);

	pthread_mutex_lock(&x->lock);
	x->listen_ret = ret;
	x->port = ret ? 1 : raw_peer_port(p);
	pthread_cond_signal(&x->cond);
	pthread_mutex_unlock(&x->lock);
	if (ret)
		return NULL;
	x->srv = p;
	x->accept_ret = raw_peer_accept(p, x->deadline);
	if (!x->accept_ret)
		x->script(p, x);
	return NULL;
}

static uint16_t wait_port(struct xfer *x)
{
	struct timespec ts;
	uint16_t port;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 10;
	pthread_mutex_lock(&x->lock);
	while (!x->port)
		if (pthread_cond_timedwait(&x->cond, &x->lock, &ts) ==
		    ETIMEDOUT)
			break;
	port = x->port;
	pthread_mutex_unlock(&x->lock);
	cr_assert_neq(port, 0, "server did not listen in time");
	cr_assert_eq(x->listen_ret, 0, "raw_peer_listen: %s",
		     strerror(-x->listen_ret));
	return port;
}

static struct raw_peer *start(struct xfer *x, pthread_t *th)
{
	struct raw_peer *c = NULL;
	int ret;

	if (!x->script)
		x->script = script_sink;
	cr_assert_eq(pthread_create(th, NULL, server_main, x), 0);
	ret = raw_peer_connect(&c, "127.0.0.1", wait_port(x), &x->co,
			       x->deadline);
	cr_assert_eq(ret, 0, "raw_peer_connect: %s", strerror(-ret));
	return c;
}

/* Client side of script_sink: send the pattern, read the digest, close. */
static void client_send_all(struct raw_peer *c, struct xfer *x)
{
	uint8_t *buf = malloc(x->size), digest[16];
	uint64_t got, sum;
	ssize_t n;
	int ret;

	cr_assert_not_null(buf);
	fill(buf, x->size, 0, x->seed);
	ret = raw_peer_send(c, buf, x->size, x->deadline);
	cr_assert_eq(ret, 0, "send: %s", strerror(-ret));
	n = raw_peer_recv(c, digest, sizeof(digest), x->deadline);
	cr_assert_eq(n, (ssize_t)sizeof(digest), "digest: %s",
		     strerror((int)-n));
	memcpy(&got, digest, 8);
	memcpy(&sum, digest + 8, 8);
	cr_assert_eq(got, x->size);
	cr_assert_eq(sum, ts_fnv(TS_FNV_INIT, buf, x->size),
		     "checksum differs");
	free(buf);
	cr_assert_eq(raw_peer_disconnect(c), 0);
}

static void assert_sink_ok(const struct xfer *x)
{
	cr_assert_eq(x->accept_ret, 0, "accept: %s", strerror(-x->accept_ret));
	cr_assert_eq(
	    x->srv_ret, 0, "server: %s (violation: %s)", strerror(-x->srv_ret),
	    raw_peer_violation(x->srv) ? raw_peer_violation(x->srv) : "none");
	cr_assert_eq(x->srv_got, x->size);
	cr_assert_eq(x->srv_bad, 0, "%llu bad bytes, first at %llu",
		     (unsigned long long)x->srv_bad,
		     (unsigned long long)x->srv_first_bad);
}

/* The client sends x->size bytes to script_sink and checks its digest; the
 * server is joined and its results checked. Returns the client, open. */
static struct raw_peer *sink_run(struct xfer *x)
{
	struct raw_peer *c;
	pthread_t th;

	c = start(x, &th);
	client_send_all(c, x);
	pthread_join(th, NULL);
	assert_sink_ok(x);
	return c;
}

/*
 * A message of @size through a window of @rx: the receiver re-advertises
 * after each full window (size / rx times), the sender waits for each of
 * those and sees 1 + size / rx advertisements; every window but the last is
 * one write (the sender cuts exactly at the window end).
 */
static void big_transfer(size_t size, uint32_t rx)
{
	uint64_t windows = size / rx, writes = windows + (size % rx != 0);
	const struct raw_peer_stats *cs, *ss;
	struct raw_peer *c;
	struct xfer x;

	cr_assert_neq(size % rx, 0, "pick a size that is not a multiple");
	xfer_init(&x, size, rx);
	c = sink_run(&x);
	cs = raw_peer_stats(c);
	ss = raw_peer_stats(x.srv);
	cr_assert_eq(ss->readv_sent, windows, "readv %llu, want %llu",
		     (unsigned long long)ss->readv_sent,
		     (unsigned long long)windows);
	cr_assert_eq(ss->adv_sent, windows + 1);
	cr_assert_eq(cs->adv_received, windows + 1);
	cr_assert_eq(cs->window_waits, windows);
	cr_assert_eq(cs->writes_posted, writes);
	cr_assert_eq(ss->writes_received, writes);
	cr_assert_eq(cs->bytes_sent, size);
	cr_assert_eq(ss->bytes_received, size);
	cr_assert_eq(ss->bytes_consumed, size);
	/* the digest went the other way, as one write into 1 MiB */
	cr_assert_eq(ss->writes_posted, 1);
	cr_assert_eq(cs->bytes_received, 16);
	cr_assert_null(raw_peer_violation(c));
	cr_assert_null(raw_peer_violation(x.srv));
	raw_peer_close(c);
	raw_peer_close(x.srv);
}

Test(raw_peer, ten_mb_through_64k_window, .timeout = 120)
{
	big_transfer(BIG_SIZE, 64 * KIB);
}

Test(raw_peer, ten_mb_through_1m_window, .timeout = 120)
{
	big_transfer(BIG_SIZE, 1024 * KIB);
}

Test(raw_peer, window_bounds_16m_and_64k_both_ways, .timeout = 120)
{
	struct raw_peer *c;
	struct xfer x;

	/* the largest allowed window on the server, the smallest on the
	 * client (which receives the digest) */
	xfer_init(&x, (16u << 20) + 12345, 16u << 20);
	x.co.rx_size = 64 * KIB;
	c = sink_run(&x);
	cr_assert_eq(raw_peer_stats(x.srv)->readv_sent, 1);
	raw_peer_close(c);
	raw_peer_close(x.srv);
}

/* ---- many small messages ---- */

static size_t small_len(unsigned int i)
{
	return 1 + (i * 37u) % 97u;
}

static void script_small(struct raw_peer *p, struct xfer *x)
{
	uint8_t buf[128];
	unsigned int i = 0;
	ssize_t n;

	x->srv_first_bad = UINT64_MAX;
	while (x->srv_got < x->size) {
		size_t len = small_len(i++);

		n = raw_peer_recv(p, buf, len, x->deadline);
		if (n < 0) {
			x->srv_ret = (int)n;
			return;
		}
		for (size_t k = 0; k < len; k++)
			if (buf[k] != pat(x->srv_got + k, x->seed))
				x->srv_bad++;
		x->srv_got += len;
	}
	/* one byte back: "got everything" */
	x->srv_ret = raw_peer_send(p, "!", 1, x->deadline);
	if (!x->srv_ret)
		x->srv_ret = raw_peer_wait_closed(p, x->deadline);
}

static void small_messages(unsigned int count, struct xfer *x,
			   struct raw_peer **cp, pthread_t *th)
{
	uint8_t buf[128];
	uint64_t off = 0;
	int ret;

	x->size = 0;
	for (unsigned int i = 0; i < count; i++)
		x->size += small_len(i);
	x->script = script_small;
	*cp = start(x, th);
	for (unsigned int i = 0; i < count; i++) {
		fill(buf, small_len(i), off, x->seed);
		ret = raw_peer_send(*cp, buf, small_len(i), x->deadline);
		cr_assert_eq(ret, 0, "message %u: %s (wc status %d)", i,
			     strerror(-ret), raw_peer_wc_error(*cp));
		off += small_len(i);
	}
	cr_assert_eq(raw_peer_flush(*cp, x->deadline), 0);
}

/* Wait for the server's one-byte answer, then close; the server sees the
 * disconnect, is joined, and got every byte intact. */
static void small_done(struct raw_peer *c, struct xfer *x, pthread_t th)
{
	char ack = 0;
	ssize_t n = raw_peer_recv(c, &ack, 1, x->deadline);

	cr_assert_eq(n, 1, "no answer: %s", strerror((int)-n));
	cr_assert_eq(ack, '!');
	cr_assert_eq(raw_peer_disconnect(c), 0);
	pthread_join(th, NULL);
	cr_assert_eq(x->srv_ret, 0, "server: %s", strerror(-x->srv_ret));
	cr_assert_eq(x->srv_got, x->size);
	cr_assert_eq(x->srv_bad, 0);
}

Test(raw_peer, small_messages_pack_into_one_window, .timeout = 60)
{
	const struct raw_peer_stats *cs, *ss;
	struct raw_peer *c;
	struct xfer x;
	pthread_t th;

	xfer_init(&x, 0, 64 * KIB);
	small_messages(1000, &x, &c, &th);
	cr_assert_lt(x.size, 64 * KIB);
	small_done(c, &x, th);
	cs = raw_peer_stats(c);
	ss = raw_peer_stats(x.srv);
	cr_assert_eq(cs->writes_posted, 1000, "one write per message");
	cr_assert_eq(ss->writes_received, 1000);
	cr_assert_eq(ss->readv_sent, 0, "all in the first window");
	cr_assert_eq(cs->adv_received, 1);
	cr_assert_eq(cs->window_waits, 0);
	raw_peer_close(c);
	raw_peer_close(x.srv);
}

Test(raw_peer, small_messages_cut_at_window_ends, .timeout = 60)
{
	const struct raw_peer_stats *cs, *ss;
	struct raw_peer *c;
	struct xfer x;
	pthread_t th;
	uint64_t windows;

	xfer_init(&x, 0, 64 * KIB);
	small_messages(5000, &x, &c, &th);
	small_done(c, &x, th);
	windows = x.size / (64 * KIB);
	cs = raw_peer_stats(c);
	ss = raw_peer_stats(x.srv);
	cr_assert_eq(ss->readv_sent, windows);
	cr_assert_eq(cs->window_waits, windows);
	/* a message that straddles a window end goes as two writes */
	cr_assert_geq(cs->writes_posted, 5000);
	cr_assert_leq(cs->writes_posted, 5000 + windows);
	cr_assert_eq(ss->writes_received, cs->writes_posted);
	raw_peer_close(c);
	raw_peer_close(x.srv);
}

/* ---- control messages, byte by byte ---- */

static void script_idle(struct raw_peer *p, struct xfer *x)
{
	x->srv_ret = raw_peer_wait_closed(p, x->deadline);
}

static const struct raw_peer_capture *find_cap(const struct raw_peer *p,
					       uint16_t opcode)
{
	for (unsigned int i = 0; i < raw_peer_capture_count(p); i++) {
		const struct raw_peer_capture *c = raw_peer_capture(p, i);

		if (c->byte_len >= 2 &&
		    (c->bytes[0] << 8 | c->bytes[1]) == opcode)
			return c;
	}
	return NULL;
}

static void expect_bytes(const struct raw_peer_capture *c,
			 const uint8_t want[RRING_WIRE_MSG_SIZE],
			 const char *what)
{
	(void)what; /* only in messages, which the TSan runner drops */
	cr_assert_not_null(c, "no %s captured", what);
	cr_assert_eq(c->byte_len, RRING_WIRE_MSG_SIZE, "%s byte_len %u", what,
		     c->byte_len);
	for (unsigned int i = 0; i < RRING_WIRE_MSG_SIZE; i++)
		cr_assert_eq(c->bytes[i], want[i],
			     "%s byte %u: 0x%02x, want 0x%02x", what, i,
			     c->bytes[i], want[i]);
}

/* RegisterXferMemory as docs/design.md lays it out, written out long-hand. */
static void expected_adv(const struct raw_peer *owner, uint8_t m[32])
{
	uint64_t a;
	uint32_t len, key;

	raw_peer_rx_buffer(owner, &a, &len, &key);
	memset(m, 0, 32);
	m[1] = 3;
	m[16] = (uint8_t)(a >> 56), m[17] = (uint8_t)(a >> 48);
	m[18] = (uint8_t)(a >> 40), m[19] = (uint8_t)(a >> 32);
	m[20] = (uint8_t)(a >> 24), m[21] = (uint8_t)(a >> 16);
	m[22] = (uint8_t)(a >> 8), m[23] = (uint8_t)a;
	m[24] = (uint8_t)(len >> 24), m[25] = (uint8_t)(len >> 16);
	m[26] = (uint8_t)(len >> 8), m[27] = (uint8_t)len;
	m[28] = (uint8_t)(key >> 24), m[29] = (uint8_t)(key >> 16);
	m[30] = (uint8_t)(key >> 8), m[31] = (uint8_t)key;
}

/* The engine's codec must read the raw peer's bytes the same way, and
 * write the same bytes for the same message. */
static void codec_agrees(const struct raw_peer_capture *c)
{
	struct rring_wire_msg m;
	uint8_t again[RRING_WIRE_MSG_SIZE];
	const char *why = NULL;

	cr_assert_eq(rring_wire_msg_decode(c->bytes, c->byte_len, &m, &why), 0,
		     "decode: %s", why ? why : "?");
	cr_assert_eq(rring_wire_msg_encode(&m, again, &why), 0);
	cr_assert_arr_eq(again, c->bytes, RRING_WIRE_MSG_SIZE);
}

static bool feature_and_keepalive(struct raw_peer *p, void *arg)
{
	(void)arg;
	return raw_peer_stats(p)->get_feature_received >= 1 &&
	       raw_peer_stats(p)->keepalive_received >= 1;
}

Test(raw_peer, control_messages_byte_by_byte, .timeout = 60)
{
	static const uint8_t get_feature[32] = {0x00, 0x00, 0x12, 0x34};
	static const uint8_t keepalive[32] = {0x00, 0x02};
	uint8_t adv[32];
	struct raw_peer *c;
	struct xfer x;
	pthread_t th;
	int ret;

	xfer_init(&x, 0, 256 * KIB);
	x.co.rx_size = 128 * KIB;
	x.co.get_feature = true;
	x.co.feature_select = 0x1234;
	x.so.keepalive_ms = 20;
	x.script = script_idle;
	c = start(&x, &th);
	ret = raw_peer_wait(c, feature_and_keepalive, NULL, x.deadline);
	cr_assert_eq(ret, 0, "client: %s", strerror(-ret));
	raw_peer_disconnect(c);
	pthread_join(th, NULL);
	cr_assert_eq(x.srv_ret, 0);

	/* what the server received from the client */
	expected_adv(c, adv);
	expect_bytes(raw_peer_capture(x.srv, 0), adv, "client advertisement");
	expect_bytes(raw_peer_capture(x.srv, 1), get_feature,
		     "GetServerFeature request");
	cr_assert_eq(raw_peer_capture_count(x.srv), 2);
	/* what the client received from the server */
	expected_adv(x.srv, adv);
	expect_bytes(raw_peer_capture(c, 0), adv, "server advertisement");
	expect_bytes(find_cap(c, RRING_WIRE_OP_GET_SERVER_FEATURE), get_feature,
		     "GetServerFeature answer");
	expect_bytes(find_cap(c, RRING_WIRE_OP_KEEPALIVE), keepalive,
		     "keepalive");
	for (unsigned int i = 0; i < raw_peer_capture_count(c); i++)
		codec_agrees(raw_peer_capture(c, i));
	for (unsigned int i = 0; i < raw_peer_capture_count(x.srv); i++)
		codec_agrees(raw_peer_capture(x.srv, i));
	cr_assert_null(raw_peer_violation(c));
	cr_assert_null(raw_peer_violation(x.srv));
	raw_peer_close(c);
	raw_peer_close(x.srv);
}

/* The other direction: bytes from the engine's encoder, sent raw. */
Test(raw_peer, codec_output_accepted_by_raw_peer, .timeout = 60)
{
	struct rring_wire_msg m;
	uint8_t b[RRING_WIRE_MSG_SIZE];
	const char *why;
	struct raw_peer *c;
	struct xfer x;
	pthread_t th;

	xfer_init(&x, 0, 64 * KIB);
	x.script = script_idle;
	c = start(&x, &th);
	rring_wire_msg_keepalive(&m);
	cr_assert_eq(rring_wire_msg_encode(&m, b, &why), 0);
	cr_assert_eq(raw_peer_send_ctrl(c, b, sizeof(b)), 0);
	rring_wire_msg_set_feature(&m, 7, 0);
	cr_assert_eq(rring_wire_msg_encode(&m, b, &why), 0);
	cr_assert_eq(raw_peer_send_ctrl(c, b, sizeof(b)), 0);
	cr_assert_eq(raw_peer_flush(c, x.deadline), 0);
	/* a zero-byte payload write cannot be observed; end with a close */
	raw_peer_disconnect(c);
	pthread_join(th, NULL);
	cr_assert_null(raw_peer_violation(x.srv));
	cr_assert_eq(raw_peer_stats(x.srv)->keepalive_received, 1);
	cr_assert_eq(raw_peer_stats(x.srv)->set_feature_received, 1);
	raw_peer_close(c);
	raw_peer_close(x.srv);
}

Test(raw_peer, set_client_feature_zero_accepted_nonzero_refused, .timeout = 60)
{
	uint8_t m[32] = {0x00, 0x01, 0x00, 0x05};
	struct raw_peer *c;
	struct xfer x;
	pthread_t th;
	int ret;

	xfer_init(&x, 0, 64 * KIB);
	x.script = script_idle;
	c = start(&x, &th);
	cr_assert_eq(raw_peer_send_ctrl(c, m, 32), 0);
	m[31] = 1; /* features = 1 */
	cr_assert_eq(raw_peer_send_ctrl(c, m, 32), 0);
	ret = raw_peer_wait_closed(c, x.deadline);
	cr_assert_eq(ret, 0, "the server closes: %s", strerror(-ret));
	pthread_join(th, NULL);
	cr_assert_eq(raw_peer_stats(x.srv)->set_feature_received, 2);
	cr_assert_str_eq(raw_peer_violation(x.srv),
			 "SetClientFeature with non-zero features");
	raw_peer_close(c);
	raw_peer_close(x.srv);
}

/* ---- misbehaving peers: the other side names the violation ---- */

/* Handle events without consuming (a misbehaving writer may overwrite the
 * buffer, which a reader would race with); report the error it closed with. */
static void script_until_closed(struct raw_peer *p, struct xfer *x)
{
	int ret = raw_peer_wait_closed(p, x->deadline);

	if (ret) {
		x->srv_ret = ret;
		return;
	}
	do
		ret = raw_peer_poll(p, raw_peer_deadline(0));
	while (ret > 0);
	x->srv_ret = ret;
}

/* The client misbehaves; the server must close with @why (or @why2). */
static void client_violates(enum raw_peer_misbehave mb, uint32_t value,
			    const char *why, const char *why2)
{
	struct raw_peer *c;
	const char *v;
	struct xfer x;
	pthread_t th;
	int ret, wc;

	xfer_init(&x, 0, 64 * KIB);
	x.co.misbehave = mb;
	x.co.misbehave_value = value;
	x.script = script_until_closed;
	c = start(&x, &th);
	if (!raw_peer_misbehaves_at_establishment(mb)) {
		ret = raw_peer_misbehave(c, x.deadline);
		cr_assert_eq(ret, 0, "misbehave: %s", strerror(-ret));
	}
	ret = raw_peer_wait_closed(c, x.deadline);
	cr_assert_eq(ret, 0, "server did not close: %s", strerror(-ret));
	pthread_join(th, NULL);
	cr_assert_eq(x.srv_ret, -EPROTO, "server: %s", strerror(-x.srv_ret));
	v = raw_peer_violation(x.srv);
	cr_assert_not_null(v);
	cr_assert(!strcmp(v, why) || (why2 && !strcmp(v, why2)),
		  "violation \"%s\", want \"%s\"", v, why);
	cr_assert_null(raw_peer_violation(c), "client saw: %s",
		       raw_peer_violation(c));
	/* the client was disconnected, its own operations all succeeded;
	 * except that a misbehaviour at establishment is followed at once by
	 * the client's advertisement, which the server may have closed
	 * before taking it (RC: the requester's retries run out) */
	cr_assert_eq(raw_peer_error(c), -ECONNRESET);
	wc = raw_peer_wc_error(c);
	if (raw_peer_misbehaves_at_establishment(mb) &&
	    (wc == IBV_WC_RETRY_EXC_ERR || wc == IBV_WC_WR_FLUSH_ERR))
		wc = 0;
	cr_assert_eq(wc, 0, "client wc error %d", raw_peer_wc_error(c));
	cr_assert_eq(raw_peer_error(x.srv), -EPROTO);
	raw_peer_close(c);
	raw_peer_close(x.srv);
}

Test(raw_peer_violation, unknown_opcode_free_slot_marker, .timeout = 60)
{
	client_violates(RAW_PEER_UNKNOWN_OPCODE, RRING_WIRE_INVALID_OPCODE,
			"unknown control opcode", NULL);
}

/* The server misbehaves; the client names it. */
static void server_violates(enum raw_peer_misbehave mb, const char *why)
{
	struct raw_peer *c;
	struct xfer x;
	pthread_t th;
	int ret;

	xfer_init(&x, 0, 64 * KIB);
	x.so.misbehave = mb;
	x.script = script_idle;
	c = start(&x, &th);
	ret = raw_peer_wait_closed(c, x.deadline);
	cr_assert_eq(ret, 0, "client did not close: %s", strerror(-ret));
	pthread_join(th, NULL);
	cr_assert_str_eq(raw_peer_violation(c), why);
	cr_assert_eq(raw_peer_error(c), -EPROTO);
	cr_assert_eq(x.srv_ret, 0, "server sees the close");
	cr_assert_eq(raw_peer_error(x.srv), -ECONNRESET);
	cr_assert_eq(raw_peer_wc_error(x.srv), 0);
	raw_peer_close(c);
	raw_peer_close(x.srv);
}

/* ---- slow consumer, disconnects ---- */

Test(raw_peer, slow_consumer_backpressure, .timeout = 120)
{
	const struct raw_peer_stats *cs, *ss;
	struct raw_peer *c;
	struct xfer x;

	xfer_init(&x, 1000000, 64 * KIB);
	x.so.misbehave = RAW_PEER_SLOW_CONSUMER;
	x.so.consume_chunk = 8192;
	x.so.consume_delay_us = 200;
	c = sink_run(&x);
	cs = raw_peer_stats(c);
	ss = raw_peer_stats(x.srv);
	cr_assert_eq(ss->readv_sent, 1000000 / (64 * KIB));
	cr_assert_eq(cs->window_waits, 1000000 / (64 * KIB));
	raw_peer_close(c);
	raw_peer_close(x.srv);
}

/* The client sends x->size bytes of the pattern, which one side cuts short:
 * the send fails with @want; the server is joined. Returns the client. */
static struct raw_peer *send_cut_short(struct xfer *x, int want)
{
	uint8_t *buf = malloc(x->size);
	struct raw_peer *c;
	pthread_t th;
	int ret;

	cr_assert_not_null(buf);
	c = start(x, &th);
	fill(buf, x->size, 0, x->seed);
	ret = raw_peer_send(c, buf, x->size, x->deadline);
	cr_assert_eq(ret, want, "send: %s", strerror(-ret));
	pthread_join(th, NULL);
	free(buf);
	return c;
}

Test(raw_peer, sender_disconnects_mid_transfer, .timeout = 60)
{
	struct raw_peer *c;
	struct xfer x;

	xfer_init(&x, 1000000, 64 * KIB);
	x.co.misbehave = RAW_PEER_DISCONNECT_MID;
	x.co.disconnect_after = 300000;
	c = send_cut_short(&x, -ECONNABORTED);
	cr_assert_eq(x.srv_ret, -ECONNRESET, "server: %s",
		     strerror(-x.srv_ret));
	/* everything the sender had completed arrived, and nothing else */
	cr_assert_eq(raw_peer_stats(c)->bytes_sent, 300000);
	cr_assert_eq(x.srv_got, 300000, "server got %llu (received %llu)",
		     (unsigned long long)x.srv_got,
		     (unsigned long long)raw_peer_stats(x.srv)->bytes_received);
	cr_assert_eq(x.srv_bad, 0);
	cr_assert_null(raw_peer_violation(x.srv));
	raw_peer_close(c);
	raw_peer_close(x.srv);
}

static void script_read_then_disconnect(struct raw_peer *p, struct xfer *x)
{
	uint8_t buf[4096];
	ssize_t n;

	while (x->srv_got < 100000) {
		n = raw_peer_recv(p, buf, sizeof(buf), x->deadline);
		if (n < 0) {
			x->srv_ret = (int)n;
			return;
		}
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] != pat(x->srv_got + (uint64_t)i, x->seed))
				x->srv_bad++;
		x->srv_got += (uint64_t)n;
	}
	x->srv_ret = raw_peer_disconnect(p);
}

Test(raw_peer, receiver_disconnects_mid_transfer, .timeout = 60)
{
	struct raw_peer *c;
	struct xfer x;

	xfer_init(&x, 1000000, 64 * KIB);
	x.script = script_read_then_disconnect;
	c = send_cut_short(&x, -ECONNRESET);
	cr_assert_eq(x.srv_ret, 0);
	cr_assert_eq(x.srv_bad, 0);
	/* the sender stopped within the windows it was given */
	cr_assert_leq(raw_peer_stats(c)->bytes_sent,
		      raw_peer_stats(c)->adv_received * 64 * KIB);
	raw_peer_close(c);
	raw_peer_close(x.srv);
}

/* ---- cross-process: the server in a forked child ---- */

/* Needs a process where softverbs is not initialised yet: each test runs
 * in its own forked process. */

struct child_report {
	int ret;
	uint64_t got, bad, readv;
};

static int read_full(int fd, void *buf, size_t len, uint64_t deadline)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	uint8_t *b = buf;
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		uint64_t now = raw_peer_deadline(0);
		int ms =
		    now >= deadline ? 0 : (int)((deadline - now) / 1000000 + 1);

		if (poll(&pfd, 1, ms) <= 0)
			return -ETIMEDOUT;
		n = read(fd, b + got, len - got);
		if (n <= 0)
			return -EPIPE;
		got += (size_t)n;
	}
	return 0;
}

static void child_server(int wfd, size_t size, uint32_t rx)
{
	struct child_report r = {0};
	struct xfer x;
	struct raw_peer *p;
	uint16_t port;

	xfer_init(&x, size, rx);
	r.ret = raw_peer_listen(&p, "127.0.0.1", 0, &x.so);
	port = r.ret ? 0 : raw_peer_port(p);
	if (write(wfd, &port, sizeof(port)) != sizeof(port) || r.ret)
		_exit(2);
	r.ret = raw_peer_accept(p, x.deadline);
	if (!r.ret) {
		script_sink(p, &x);
		r.ret = x.srv_ret;
	}
	r.got = x.srv_got;
	r.bad = x.srv_bad;
	r.readv = raw_peer_stats(p)->readv_sent;
	raw_peer_close(p);
	if (write(wfd, &r, sizeof(r)) != sizeof(r))
		_exit(3);
	_exit(0);
}

Test(raw_peer, cross_process_ten_mb_through_1m_window, .timeout = 120)
{
	struct child_report r;
	struct raw_peer *c;
	struct xfer x;
	uint16_t port;
	int fds[2], status = -1;
	pid_t pid;

	/* fork before softverbs is initialised in this process */
	cr_assert_eq(pipe(fds), 0);
	xfer_init(&x, BIG_SIZE, 1024 * KIB);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		close(fds[0]);
		child_server(fds[1], x.size, 1024 * KIB);
	}
	close(fds[1]);
	cr_assert_eq(read_full(fds[0], &port, sizeof(port), x.deadline), 0);
	cr_assert_eq(raw_peer_connect(&c, "127.0.0.1", port, &x.co, x.deadline),
		     0);
	client_send_all(c, &x);
	cr_assert_eq(read_full(fds[0], &r, sizeof(r), x.deadline), 0,
		     "no report from the child");
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	cr_assert_eq(r.ret, 0, "child: %s", strerror(-r.ret));
	cr_assert_eq(r.got, x.size);
	cr_assert_eq(r.bad, 0);
	cr_assert_eq(r.readv, x.size / (1024 * KIB));
	cr_assert_eq(raw_peer_stats(c)->window_waits, x.size / (1024 * KIB));
	raw_peer_close(c);
	close(fds[0]);
}

/* ---- the engine's wire state machines, over verbs, against the raw peer ----
 *
 * Until the engine integrates engine/wire_send.c and wire_recv.c into its IO
 * threads, this minimal single-threaded driver does what docs/wire.md asks of
 * the engine (post receives, feed completions, drain the outbox, post the
 * write actions), so that the state machines meet the independent raw peer
 * over real verbs, in both roles.
 */

#define WD_RECV (1ull << 63)
#define WD_CTRL (1ull << 62)
#define WD_CTRL_SLOTS 64u

struct wdrv {
	struct rdma_event_channel *ch;
	struct rdma_cm_id *listen_id, *id;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	uint8_t *area; /* NRECV + CTRL_SLOTS control slots, then rx buffer */
	struct ibv_mr *area_mr, *src_mr;
	uint32_t rx_len;
	unsigned int ctrl_next, ctrl_inflight;
	struct rring_wire_send s;
	struct rring_wire_recv r;
	bool closed;
	uint64_t deadline;
};

static uint8_t *wd_rx(struct wdrv *w)
{
	return w->area + (RRING_WIRE_RECV_WRS + WD_CTRL_SLOTS) * 32;
}

static uint64_t wd_now_ms(void)
{
	return raw_peer_deadline(0) / 1000000;
}

static struct rdma_cm_event *wd_event(struct wdrv *w)
{
	struct pollfd pfd = {.fd = w->ch->fd, .events = POLLIN};
	struct rdma_cm_event *ev = NULL;

	while (rdma_get_cm_event(w->ch, &ev)) {
		cr_assert_eq(errno, EAGAIN);
		cr_assert_lt(raw_peer_deadline(0), w->deadline, "cm timeout");
		poll(&pfd, 1, 100);
	}
	return ev;
}

static void wd_expect(struct wdrv *w, enum rdma_cm_event_type type,
		      struct rdma_cm_id **id)
{
	struct rdma_cm_event *ev = wd_event(w);

	cr_assert_eq(ev->event, type, "got %s", rdma_event_str(ev->event));
	if (id)
		*id = ev->id;
	rdma_ack_cm_event(ev);
}

static void wd_post_recv(struct wdrv *w, unsigned int i)
{
	struct ibv_sge sge = {(uintptr_t)(w->area + i * 32), 32,
			      w->area_mr->lkey};
	struct ibv_recv_wr wr = {.wr_id = WD_RECV | i,
				 .sg_list = &sge,
				 .num_sge = 1},
			   *bad;

	cr_assert_eq(ibv_post_recv(w->id->qp, &wr, &bad), 0);
}

static void wd_resources(struct wdrv *w, struct rdma_cm_id *id, bool server)
{
	int rw = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
		 IBV_ACCESS_REMOTE_READ;
	struct ibv_qp_init_attr qa = {.qp_type = IBV_QPT_RC};
	struct rring_wire_recv_params rp;
	struct rring_wire_send_params sp;
	size_t len = (RRING_WIRE_RECV_WRS + WD_CTRL_SLOTS) * 32 + w->rx_len;

	w->id = id;
	w->pd = ibv_alloc_pd(id->verbs);
	w->cq = ibv_create_cq(id->verbs, RRING_WIRE_CQ_DEPTH, NULL, NULL, 0);
	cr_assert(w->pd && w->cq);
	qa.cap.max_send_wr = RRING_WIRE_SEND_QUEUE;
	qa.cap.max_recv_wr = RRING_WIRE_RECV_WRS;
	qa.cap.max_send_sge = RRING_WIRE_MAX_SGE;
	qa.cap.max_recv_sge = 1;
	qa.send_cq = w->cq;
	qa.recv_cq = w->cq;
	cr_assert_eq(rdma_create_qp(id, w->pd, &qa), 0);
	cr_assert_eq(posix_memalign((void **)&w->area, 4096, len), 0);
	memset(w->area, 0, len);
	w->area_mr = ibv_reg_mr(w->pd, w->area, len, rw);
	cr_assert_not_null(w->area_mr);
	for (unsigned int i = 0; i < RRING_WIRE_RECV_WRS; i++)
		wd_post_recv(w, i);
	rring_wire_send_params_init(&sp);
	cr_assert_eq(rring_wire_send_init(&w->s, &sp), 0);
	rring_wire_recv_params_init(&rp);
	rp.role = server ? RRING_WIRE_ROLE_SERVER : RRING_WIRE_ROLE_CLIENT;
	rp.buf_addr = (uintptr_t)wd_rx(w);
	rp.buf_len = w->rx_len;
	rp.rkey = w->area_mr->rkey;
	rp.keepalive_ms = 0;
	cr_assert_eq(rring_wire_recv_init(&w->r, &rp), 0);
}

static void wd_close(struct wdrv *w, int err, const char *why)
{
	rring_wire_send_close(&w->s, err, why);
	rring_wire_recv_close(&w->r, err, why);
	w->closed = true;
}

static void wd_post_ctrl(struct wdrv *w, const uint8_t msg[32])
{
	uint8_t *slot = w->area + (RRING_WIRE_RECV_WRS + w->ctrl_next) * 32;
	struct ibv_sge sge = {(uintptr_t)slot, 32, w->area_mr->lkey};
	struct ibv_send_wr wr = {.wr_id = WD_CTRL,
				 .sg_list = &sge,
				 .num_sge = 1,
				 .opcode = IBV_WR_SEND,
				 .send_flags = IBV_SEND_SIGNALED},
			   *bad;

	cr_assert_lt(w->ctrl_inflight, WD_CTRL_SLOTS);
	memcpy(slot, msg, 32);
	w->ctrl_next = (w->ctrl_next + 1) % WD_CTRL_SLOTS;
	w->ctrl_inflight++;
	cr_assert_eq(ibv_post_send(w->id->qp, &wr, &bad), 0);
}

static void wd_post_write(struct wdrv *w, const struct rring_wire_write *a)
{
	struct ibv_sge sge[RRING_WIRE_MAX_SGE];
	struct ibv_send_wr wr = {0}, *bad;

	for (unsigned int i = 0; i < a->num_sge; i++)
		sge[i] = (struct ibv_sge){a->sge[i].addr, a->sge[i].len,
					  a->sge[i].lkey};
	wr.wr_id = a->wr_id;
	wr.sg_list = sge;
	wr.num_sge = (int)a->num_sge;
	wr.opcode = IBV_WR_RDMA_WRITE_WITH_IMM;
	wr.send_flags = a->signaled ? IBV_SEND_SIGNALED : 0;
	wr.imm_data = a->imm_data; /* already big-endian */
	wr.wr.rdma.remote_addr = a->remote_addr;
	wr.wr.rdma.rkey = a->rkey;
	cr_assert_eq(ibv_post_send(w->id->qp, &wr, &bad), 0);
}

static void wd_wc(struct wdrv *w, const struct ibv_wc *wc)
{
	struct rring_wire_msg m;
	unsigned int i = (unsigned int)(wc->wr_id & 0xffffffffu);

	if (wc->status != IBV_WC_SUCCESS) {
		wd_close(w, -ECONNRESET, "completion error");
		return;
	}
	if (wc->wr_id & WD_RECV) {
		if (wc->opcode == IBV_WC_RECV &&
		    rring_wire_recv_on_ctrl(&w->r, w->area + i * 32,
					    wc->byte_len, &m) == 0 &&
		    m.opcode == RRING_WIRE_OP_REGISTER_XFER_MEMORY &&
		    rring_wire_send_on_peer_buffer(&w->s, m.addr, m.length,
						   m.rkey))
			wd_close(w, -EPROTO, w->s.reason);
		if (wc->opcode == IBV_WC_RECV_RDMA_WITH_IMM)
			rring_wire_recv_on_write_imm(&w->r, wc->imm_data,
						     wc->byte_len);
		if (w->r.state == RRING_WIRE_RECV_ERROR)
			wd_close(w, -EPROTO, w->r.reason);
		else
			wd_post_recv(w, i);
	} else if (wc->wr_id & WD_CTRL) {
		w->ctrl_inflight--;
	} else {
		rring_wire_send_on_write_done(&w->s, wc->wr_id);
	}
}

/* One turn of the owner loop of docs/wire.md. Returns work done. */
static int wd_step(struct wdrv *w)
{
	struct ibv_wc wc[32];
	struct rring_wire_write a;
	struct rdma_cm_event *ev;
	uint8_t msg[32];
	int n, work = 0;

	while ((n = ibv_poll_cq(w->cq, 32, wc)) > 0) {
		for (int i = 0; i < n; i++)
			wd_wc(w, &wc[i]);
		work += n;
	}
	if (!rdma_get_cm_event(w->ch, &ev)) {
		/* Feed what the CQ holds before closing the machines: a
		 * completion polled after the close no longer counts. */
		while ((n = ibv_poll_cq(w->cq, 32, wc)) > 0)
			for (int i = 0; i < n; i++)
				wd_wc(w, &wc[i]);
		if (ev->event == RDMA_CM_EVENT_DISCONNECTED)
			wd_close(w, -ECONNRESET, "disconnected");
		rdma_ack_cm_event(ev);
		work++;
	}
	if (w->closed)
		return work;
	while (w->ctrl_inflight < WD_CTRL_SLOTS &&
	       rring_wire_recv_next_ctrl(&w->r, msg) == 0) {
		wd_post_ctrl(w, msg);
		work++;
	}
	while (rring_wire_send_next(&w->s, &a) == 0) {
		wd_post_write(w, &a);
		work++;
	}
	return work;
}

static void wd_init(struct wdrv *w, uint32_t rx_len)
{
	memset(w, 0, sizeof(*w));
	w->rx_len = rx_len;
	w->deadline = raw_peer_deadline(STEP_MS);
	w->ch = rdma_create_event_channel();
	cr_assert_not_null(w->ch);
	cr_assert_eq(
	    fcntl(w->ch->fd, F_SETFL, fcntl(w->ch->fd, F_GETFL) | O_NONBLOCK),
	    0);
}

static void wd_established(struct wdrv *w)
{
	cr_assert_eq(rring_wire_recv_on_established(&w->r, wd_now_ms()), 0);
	wd_step(w);
}

static uint16_t wd_listen(struct wdrv *w)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(rdma_create_id(w->ch, &w->listen_id, NULL, RDMA_PS_TCP),
		     0);
	cr_assert_eq(rdma_bind_addr(w->listen_id, (struct sockaddr *)&sin), 0);
	cr_assert_eq(rdma_listen(w->listen_id, 1), 0);
	return ntohs(rdma_get_src_port(w->listen_id));
}

static void wd_accept(struct wdrv *w)
{
	struct rdma_conn_param cp = {.responder_resources = 1,
				     .initiator_depth = 1,
				     .retry_count = 7,
				     .rnr_retry_count = 7};
	struct rdma_cm_id *id;

	wd_expect(w, RDMA_CM_EVENT_CONNECT_REQUEST, &id);
	wd_resources(w, id, true);
	cr_assert_eq(rdma_accept(id, &cp), 0);
	wd_expect(w, RDMA_CM_EVENT_ESTABLISHED, NULL);
	wd_established(w);
}

static void wd_connect(struct wdrv *w, uint16_t port)
{
	struct rdma_conn_param cp = {.responder_resources = 1,
				     .initiator_depth = 1,
				     .retry_count = 7,
				     .rnr_retry_count = 7};
	struct sockaddr_in sin = {.sin_family = AF_INET};
	struct rdma_cm_id *id;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(port);
	cr_assert_eq(rdma_create_id(w->ch, &id, NULL, RDMA_PS_TCP), 0);
	cr_assert_eq(rdma_resolve_addr(id, NULL, (struct sockaddr *)&sin, 2000),
		     0);
	wd_expect(w, RDMA_CM_EVENT_ADDR_RESOLVED, NULL);
	cr_assert_eq(rdma_resolve_route(id, 2000), 0);
	wd_expect(w, RDMA_CM_EVENT_ROUTE_RESOLVED, NULL);
	wd_resources(w, id, false);
	cr_assert_eq(rdma_connect(id, &cp), 0);
	wd_expect(w, RDMA_CM_EVENT_ESTABLISHED, NULL);
	wd_established(w);
}

/* Busy-poll (bounded) until @done. */
static void wd_run(struct wdrv *w, bool (*done)(struct wdrv *, void *),
		   void *arg)
{
	while (!done(w, arg)) {
		cr_assert_lt(raw_peer_deadline(0), w->deadline,
			     "wire driver timed out (send %s, recv %s)",
			     rring_wire_send_state_str(w->s.state),
			     rring_wire_recv_state_str(w->r.state));
		if (!wd_step(w))
			sched_yield();
	}
}

static void wd_free(struct wdrv *w)
{
	if (w->id && !w->closed)
		rdma_disconnect(w->id);
	if (w->id && w->id->qp)
		rdma_destroy_qp(w->id);
	if (w->src_mr)
		ibv_dereg_mr(w->src_mr);
	if (w->area_mr)
		ibv_dereg_mr(w->area_mr);
	free(w->area);
	if (w->cq)
		ibv_destroy_cq(w->cq);
	if (w->pd)
		ibv_dealloc_pd(w->pd);
	rring_wire_send_destroy(&w->s);
	if (w->id)
		rdma_destroy_id(w->id);
	if (w->listen_id)
		rdma_destroy_id(w->listen_id);
	rdma_destroy_event_channel(w->ch);
}

/* Wire machines as the sender (client role), raw peer as the receiver. */
struct wd_send_arg {
	struct rring_wire_send_result res;
	unsigned int reaped;
};

static bool wd_sent(struct wdrv *w, void *arg)
{
	struct wd_send_arg *a = arg;

	a->reaped += rring_wire_send_reap(&w->s, &a->res, 1);
	return a->reaped == 1 || w->closed;
}

static bool wd_has(struct wdrv *w, void *arg)
{
	uint32_t off, len;

	return w->closed || (rring_wire_recv_peek(&w->r, &off, &len) == 0 &&
			     len >= *(uint32_t *)arg);
}

/* The wire machines (64 KiB window) as client of a raw server thread that
 * runs x->script. */
static void wd_client_of_raw(struct wdrv *w, struct xfer *x, pthread_t *th)
{
	cr_assert_eq(pthread_create(th, NULL, server_main, x), 0);
	wd_init(w, 64 * KIB);
	wd_connect(w, wait_port(x));
}

/* Connect to a raw server as wd_client_of_raw() and send x->size bytes of
 * the pattern as one request (cookie 7); run until it is reaped or the
 * connection closes. Returns the source buffer, for the caller to free. */
static uint8_t *wd_send_pattern(struct wdrv *w, struct xfer *x, pthread_t *th,
				struct wd_send_arg *a)
{
	struct rring_wire_iov iov;
	uint8_t *buf = malloc(x->size);

	cr_assert_not_null(buf);
	fill(buf, x->size, 0, x->seed);
	wd_client_of_raw(w, x, th);
	w->src_mr = ibv_reg_mr(w->pd, buf, x->size, IBV_ACCESS_LOCAL_WRITE);
	cr_assert_not_null(w->src_mr);
	iov = (struct rring_wire_iov){(uintptr_t)buf, (uint32_t)x->size,
				      w->src_mr->lkey};
	cr_assert_eq(rring_wire_send_queue(&w->s, &iov, 1, 7), 0);
	wd_run(w, wd_sent, a);
	return buf;
}

static void wire_sends_to_raw(size_t size, uint32_t rx)
{
	struct wd_send_arg a = {0};
	uint64_t got, sum, windows = size / rx;
	uint32_t want = 16, off, len;
	struct wdrv w;
	struct xfer x;
	uint8_t *buf;
	pthread_t th;

	xfer_init(&x, size, rx);
	x.script = script_sink;
	buf = wd_send_pattern(&w, &x, &th, &a);
	cr_assert_eq(a.reaped, 1);
	cr_assert_eq(a.res.status, 0, "request: %d (%s)", a.res.status,
		     w.s.reason ? w.s.reason : "");
	/* the raw server's digest comes back into the wire receiver */
	wd_run(&w, wd_has, &want);
	cr_assert_eq(rring_wire_recv_peek(&w.r, &off, &len), 0);
	cr_assert_eq(len, 16);
	memcpy(&got, wd_rx(&w) + off, 8);
	memcpy(&sum, wd_rx(&w) + off + 8, 8);
	cr_assert_eq(got, size);
	cr_assert_eq(sum, ts_fnv(TS_FNV_INIT, buf, size));
	cr_assert_eq(rring_wire_recv_consume(&w.r, 16), 0);
	rdma_disconnect(w.id);
	w.closed = true;
	pthread_join(th, NULL);
	assert_sink_ok(&x);
	cr_assert_eq(raw_peer_stats(x.srv)->readv_sent, windows);
	cr_assert_eq(raw_peer_stats(x.srv)->writes_received, w.s.stats.writes);
	cr_assert_eq(w.s.stats.windows, windows + 1);
	cr_assert_null(raw_peer_violation(x.srv));
	wd_free(&w);
	raw_peer_close(x.srv);
	free(buf);
}

Test(raw_peer_wire, wire_sender_to_raw_receiver_64k, .timeout = 120)
{
	wire_sends_to_raw(BIG_SIZE, 64 * KIB);
}

Test(raw_peer_wire, wire_sender_to_raw_receiver_1m, .timeout = 120)
{
	wire_sends_to_raw(BIG_SIZE, 1024 * KIB);
}

/* Wire machines as the receiver (server role), raw peer as the sender. */
static void *client_main(void *arg)
{
	struct xfer *x = arg;
	struct raw_peer *p = NULL;
	uint8_t *buf;
	int ret;

	ret = raw_peer_connect(&p, "127.0.0.1", x->port, &x->co, x->deadline);
	x->accept_ret = ret;
	if (ret)
		return NULL;
	x->srv = p;
	if (x->co.misbehave != RAW_PEER_BEHAVE &&
	    x->co.misbehave != RAW_PEER_DISCONNECT_MID &&
	    x->co.misbehave != RAW_PEER_SLOW_CONSUMER) {
		if (!raw_peer_misbehaves_at_establishment(x->co.misbehave))
			ret = raw_peer_misbehave(p, x->deadline);
	} else {
		buf = malloc(x->size);
		if (!buf) {
			x->srv_ret = -ENOMEM;
			return NULL;
		}
		fill(buf, x->size, 0, x->seed);
		ret = raw_peer_send(p, buf, x->size, x->deadline);
		if (!ret)
			ret = raw_peer_flush(p, x->deadline);
		free(buf);
	}
	if (!ret)
		ret = raw_peer_wait_closed(p, x->deadline);
	x->srv_ret = ret;
	return NULL;
}

/* The wire machines (window @rx) as server of a raw client thread. */
static void wd_server_of_raw(struct wdrv *w, uint32_t rx, struct xfer *x,
			     pthread_t *th)
{
	wd_init(w, rx);
	x->port = wd_listen(w);
	cr_assert_eq(pthread_create(th, NULL, client_main, x), 0);
	wd_accept(w);
}

struct wd_sink {
	uint64_t got, bad, size;
	uint32_t seed;
};

/* Consume whatever is readable, checking every byte. */
static bool wd_consume(struct wdrv *w, void *arg)
{
	struct wd_sink *k = arg;
	uint32_t off, len;

	while (!w->closed && rring_wire_recv_peek(&w->r, &off, &len) == 0) {
		for (uint32_t i = 0; i < len; i++)
			if (wd_rx(w)[off + i] != pat(k->got + i, k->seed))
				k->bad++;
		k->got += len;
		cr_assert_eq(rring_wire_recv_consume(&w->r, len), 0);
		wd_step(w); /* send a re-advertisement at once */
	}
	return w->closed || k->got >= k->size;
}

static void raw_sends_to_wire(size_t size, uint32_t rx)
{
	struct wd_sink k = {.size = size, .seed = 42};
	uint64_t windows = size / rx;
	struct wdrv w;
	struct xfer x;
	pthread_t th;

	xfer_init(&x, size, 64 * KIB);
	wd_server_of_raw(&w, rx, &x, &th);
	wd_run(&w, wd_consume, &k);
	cr_assert_not(w.closed, "closed: %s", w.r.reason ? w.r.reason : "?");
	cr_assert_eq(k.got, size);
	cr_assert_eq(k.bad, 0);
	rdma_disconnect(w.id);
	w.closed = true;
	pthread_join(th, NULL);
	cr_assert_eq(x.accept_ret, 0);
	cr_assert_eq(x.srv_ret, 0, "raw client: %s", strerror(-x.srv_ret));
	cr_assert_eq(w.r.stats.readvertisements, windows);
	cr_assert_eq(raw_peer_stats(x.srv)->adv_received, windows + 1);
	cr_assert_eq(raw_peer_stats(x.srv)->window_waits, windows);
	cr_assert_eq(w.r.stats.writes, raw_peer_stats(x.srv)->writes_posted);
	cr_assert_null(raw_peer_violation(x.srv));
	wd_free(&w);
	raw_peer_close(x.srv);
}

Test(raw_peer_wire, raw_sender_to_wire_receiver_64k, .timeout = 120)
{
	raw_sends_to_wire(BIG_SIZE, 64 * KIB);
}

Test(raw_peer_wire, raw_sender_to_wire_receiver_1m, .timeout = 120)
{
	raw_sends_to_wire(BIG_SIZE, 1024 * KIB);
}

/* Each misbehaviour of the raw peer closes the wire receiver with a reason
 * (the engine prefixes it with the peer's address in its log line). */
static bool wd_closed(struct wdrv *w, void *arg)
{
	(void)arg;
	return w->closed;
}

static void raw_violates_wire(enum raw_peer_misbehave mb, uint32_t value,
			      const char *why, const char *why2)
{
	const char *reason;

	struct wdrv w;
	struct xfer x;
	pthread_t th;

	xfer_init(&x, 0, 64 * KIB);
	x.co.misbehave = mb;
	x.co.misbehave_value = value;
	wd_server_of_raw(&w, 64 * KIB, &x, &th);
	/* no consuming: a misbehaving writer may overwrite the buffer */
	wd_run(&w, wd_closed, NULL);
	cr_assert(w.r.state == RRING_WIRE_RECV_ERROR ||
		      w.s.state == RRING_WIRE_SEND_ERROR,
		  "recv %s, send %s", rring_wire_recv_state_str(w.r.state),
		  rring_wire_send_state_str(w.s.state));
	reason = w.r.reason ? w.r.reason : w.s.reason;
	cr_assert_not_null(reason);
	cr_assert(!strcmp(reason, why) || (why2 && !strcmp(reason, why2)),
		  "reason \"%s\", want \"%s\"", reason, why);
	rdma_disconnect(w.id); /* what the engine does on a violation */
	pthread_join(th, NULL);
	cr_assert_eq(x.srv_ret, 0, "raw client not disconnected: %s",
		     strerror(-x.srv_ret));
	wd_free(&w);
	raw_peer_close(x.srv);
}

/* The raw server advertises a bad buffer: the wire client refuses it. */
static void raw_server_violates_wire(enum raw_peer_misbehave mb,
				     const char *why)
{
	struct wdrv w;
	struct xfer x;
	pthread_t th;

	xfer_init(&x, 0, 64 * KIB);
	x.so.misbehave = mb;
	x.script = script_idle;
	wd_client_of_raw(&w, &x, &th);
	wd_run(&w, wd_closed, NULL);
	cr_assert_str_eq(w.r.reason, why);
	rdma_disconnect(w.id);
	pthread_join(th, NULL);
	cr_assert_eq(x.srv_ret, 0, "raw server not disconnected");
	wd_free(&w);
	raw_peer_close(x.srv);
}

/*
 * Each misbehaviour meets two receivers written independently of each other:
 * the raw peer (client_violates, server_violates: the violation in its own
 * words) and the engine's wire machines (raw_violates_wire,
 * raw_server_violates_wire: the reason the engine logs). @raw2, @wire2: the
 * other reason the timing may produce, or NULL.
 */
#define REFUSED_BY_BOTH(raw_test, raw_call, wire_test, wire_call)              \
	Test(raw_peer_violation, raw_test, .timeout = 60)                      \
	{                                                                      \
		raw_call;                                                      \
	}                                                                      \
	Test(raw_peer_wire, wire_test, .timeout = 60)                          \
	{                                                                      \
		wire_call;                                                     \
	}
#define CLIENT_REFUSED(name, mb, value, raw, raw2, wire, wire2)                \
	REFUSED_BY_BOTH(name, client_violates(mb, value, raw, raw2),           \
			wire_refuses_##name,                                   \
			raw_violates_wire(mb, value, wire, wire2))
#define SERVER_REFUSED(name, mb, raw, wire)                                    \
	REFUSED_BY_BOTH(server_advertises_##name, server_violates(mb, raw),    \
			wire_client_refuses_##name,                            \
			raw_server_violates_wire(mb, wire))

#define ADV_LENGTH_RAW "advertised length outside 64 KiB..16 MiB"
#define ADV_LENGTH_WIRE "RegisterXferMemory length outside 64 KiB..16 MiB"
#define ZERO_RKEY_RAW "advertised rkey 0"
#define ZERO_RKEY_WIRE "RegisterXferMemory with zero rkey"

CLIENT_REFUSED(control_byte_len_16, RAW_PEER_BAD_BYTE_LEN, 0,
	       "control message byte_len != 32", NULL,
	       "control message byte_len is not 32", NULL)
CLIENT_REFUSED(unknown_opcode_7, RAW_PEER_UNKNOWN_OPCODE, 7,
	       "unknown control opcode", NULL, "unknown control opcode", NULL)
CLIENT_REFUSED(advertisement_32k, RAW_PEER_ADV_BAD_LENGTH, 32u << 10,
	       ADV_LENGTH_RAW, NULL, ADV_LENGTH_WIRE, NULL)
CLIENT_REFUSED(advertisement_32m, RAW_PEER_ADV_BAD_LENGTH, 32u << 20,
	       ADV_LENGTH_RAW, NULL, ADV_LENGTH_WIRE, NULL)
CLIENT_REFUSED(advertisement_rkey_0, RAW_PEER_ADV_ZERO_RKEY, 0, ZERO_RKEY_RAW,
	       NULL, ZERO_RKEY_WIRE, NULL)
CLIENT_REFUSED(write_overruns_window, RAW_PEER_WRITE_OVERRUN, 0,
	       "write overruns our window", NULL,
	       "write-with-imm overruns the advertised buffer", NULL)
CLIENT_REFUSED(immediate_larger_than_buffer, RAW_PEER_IMM_TOO_LARGE, 0,
	       "immediate larger than our buffer", NULL,
	       "write-with-imm count larger than the buffer", NULL)
/* which reason depends on whether the receiver had advertised already */
CLIENT_REFUSED(write_before_advertisement, RAW_PEER_WRITE_BEFORE_ADV, 0,
	       "write-with-imm before our advertisement",
	       "immediate differs from byte_len",
	       "write-with-imm before we advertised a buffer",
	       "write-with-imm count differs from the bytes written")

SERVER_REFUSED(rkey_0, RAW_PEER_ADV_ZERO_RKEY, ZERO_RKEY_RAW, ZERO_RKEY_WIRE)
SERVER_REFUSED(32k, RAW_PEER_ADV_BAD_LENGTH, ADV_LENGTH_RAW, ADV_LENGTH_WIRE)

/* The raw receiver disconnects mid-transfer: the wire sender reports the
 * request failed, and never more acknowledged than was written. */
Test(raw_peer_wire, raw_receiver_disconnects_wire_sender_fails, .timeout = 60)
{
	struct wd_send_arg a = {0};
	size_t size = 1000000;
	struct wdrv w;
	struct xfer x;
	uint8_t *buf;
	pthread_t th;

	xfer_init(&x, size, 64 * KIB);
	x.script = script_read_then_disconnect;
	buf = wd_send_pattern(&w, &x, &th, &a);
	pthread_join(th, NULL);
	cr_assert_eq(x.srv_ret, 0);
	cr_assert_eq(x.srv_bad, 0);
	cr_assert_eq(a.reaped, 1);
	cr_assert_eq(a.res.cookie, 7);
	cr_assert_lt(a.res.status, 0, "not delivered, so not reported so");
	cr_assert_lt(w.s.stats.bytes_acked, size);
	/* acknowledged only what the receiver really has (it may have more:
	 * unsignaled writes are acknowledged by a later signaled one) */
	cr_assert_leq(w.s.stats.bytes_acked,
		      raw_peer_stats(x.srv)->bytes_received);
	wd_free(&w);
	raw_peer_close(x.srv);
	free(buf);
}

/* The raw sender disconnects after 300000 bytes: the wire receiver has
 * exactly those, intact, and closes as disconnected. */
Test(raw_peer_wire, raw_sender_disconnects_wire_receiver_has_prefix,
     .timeout = 60)
{
	struct wd_sink k = {.size = UINT64_MAX, .seed = 42};
	struct wdrv w;
	struct xfer x;
	pthread_t th;

	xfer_init(&x, 1000000, 64 * KIB);
	x.co.misbehave = RAW_PEER_DISCONNECT_MID;
	x.co.disconnect_after = 300000;
	wd_server_of_raw(&w, 64 * KIB, &x, &th);
	wd_run(&w, wd_consume, &k);
	pthread_join(th, NULL);
	cr_assert_eq(x.srv_ret, -ECONNABORTED);
	/* completions already polled are consumed after the close too */
	cr_assert_eq(k.got + w.r.wr_off - w.r.rd_off, 300000,
		     "got %llu + unread %u", (unsigned long long)k.got,
		     w.r.wr_off - w.r.rd_off);
	cr_assert_eq(k.bad, 0);
	cr_assert_str_eq(w.r.reason, "disconnected");
	wd_free(&w);
	raw_peer_close(x.srv);
}

Test(raw_peer, rx_size_outside_64k_16m_refused)
{
	struct raw_peer_opts o;
	struct raw_peer *p = NULL;

	raw_peer_opts_init(&o);
	o.rx_size = (64u << 10) - 1;
	cr_assert_eq(raw_peer_listen(&p, "127.0.0.1", 0, &o), -EINVAL);
	o.rx_size = (16u << 20) + 1;
	cr_assert_eq(raw_peer_listen(&p, "127.0.0.1", 0, &o), -EINVAL);
	cr_assert_null(p);
}
