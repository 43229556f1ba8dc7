// SPDX-License-Identifier: BSD-3-Clause
/* rdmaring tests: the raw-verbs Valkey peer against itself, in both roles. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef RRING_TEST_NO_CRITERION
#include "no_criterion.h"
#define cr_assert_null(p, ...) NOCR_CHECK((p) == NULL, #p " == NULL")
#define cr_assert_str_eq(a, b, ...)                                            \
	NOCR_CHECK((a) && !strcmp((a), (b)), #a " == " #b)
#define cr_assert_arr_eq(a, b, n, ...)                                         \
	NOCR_CHECK(!memcmp((a), (b), (n)), #a " == " #b)
#else
#include <criterion/criterion.h>
#endif

#include "raw_peer.h"
#include "wire_msg.h"

/*
 * Each test runs a raw server in a thread of its own (it creates, uses and
 * leaves its peer; softverbs' strict mode checks that) and a raw client in
 * the test's thread, or the server in a forked child for the cross-process
 * path. The server thread records results; the test asserts after joining.
 * Every blocking step has a deadline, so a hang fails instead of sticking.
 */

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifdef SANITIZED
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

static uint64_t fnv(uint64_t h, const uint8_t *b, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

#define FNV_INIT 0xcbf29ce484222325ull

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
	uint64_t h = FNV_INIT;
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
		h = fnv(h, buf, (size_t)n);
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
	cr_assert_eq(sum, fnv(FNV_INIT, buf, x->size), "checksum differs");
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
	pthread_t th;

	cr_assert_neq(size % rx, 0, "pick a size that is not a multiple");
	xfer_init(&x, size, rx);
	c = start(&x, &th);
	client_send_all(c, &x);
	pthread_join(th, NULL);
	assert_sink_ok(&x);
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
	pthread_t th;

	/* the largest allowed window on the server, the smallest on the
	 * client (which receives the digest) */
	xfer_init(&x, (16u << 20) + 12345, 16u << 20);
	x.co.rx_size = 64 * KIB;
	c = start(&x, &th);
	client_send_all(c, &x);
	pthread_join(th, NULL);
	assert_sink_ok(&x);
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
		cr_assert_eq(ret, 0, "message %u: %s", i, strerror(-ret));
		off += small_len(i);
	}
	cr_assert_eq(raw_peer_flush(*cp, x->deadline), 0);
}

/* Wait for the server's one-byte answer, then close; the server sees the
 * disconnect. */
static void small_done(struct raw_peer *c, struct xfer *x)
{
	char ack = 0;
	ssize_t n = raw_peer_recv(c, &ack, 1, x->deadline);

	cr_assert_eq(n, 1, "no answer: %s", strerror((int)-n));
	cr_assert_eq(ack, '!');
	cr_assert_eq(raw_peer_disconnect(c), 0);
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
	small_done(c, &x);
	pthread_join(th, NULL);
	cr_assert_eq(x.srv_ret, 0, "server: %s", strerror(-x.srv_ret));
	cr_assert_eq(x.srv_got, x.size);
	cr_assert_eq(x.srv_bad, 0);
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
	small_done(c, &x);
	pthread_join(th, NULL);
	cr_assert_eq(x.srv_ret, 0, "server: %s", strerror(-x.srv_ret));
	cr_assert_eq(x.srv_got, x.size);
	cr_assert_eq(x.srv_bad, 0);
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

/* RegisterXferMemory as DESIGN.md lays it out, written out long-hand. */
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
	int ret;

	xfer_init(&x, 0, 64 * KIB);
	x.co.misbehave = mb;
	x.co.misbehave_value = value;
	x.script = script_until_closed;
	c = start(&x, &th);
	if (mb != RAW_PEER_ADV_BAD_LENGTH && mb != RAW_PEER_ADV_ZERO_RKEY &&
	    mb != RAW_PEER_WRITE_BEFORE_ADV) {
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
	/* the client was disconnected, its own operations all succeeded */
	cr_assert_eq(raw_peer_error(c), -ECONNRESET);
	cr_assert_eq(raw_peer_wc_error(c), 0, "client wc error %d",
		     raw_peer_wc_error(c));
	cr_assert_eq(raw_peer_error(x.srv), -EPROTO);
	raw_peer_close(c);
	raw_peer_close(x.srv);
}

Test(raw_peer_violation, control_byte_len_16, .timeout = 60)
{
	client_violates(RAW_PEER_BAD_BYTE_LEN, 0,
			"control message byte_len != 32", NULL);
}

Test(raw_peer_violation, unknown_opcode_7, .timeout = 60)
{
	client_violates(RAW_PEER_UNKNOWN_OPCODE, 7, "unknown control opcode",
			NULL);
}

Test(raw_peer_violation, unknown_opcode_free_slot_marker, .timeout = 60)
{
	client_violates(RAW_PEER_UNKNOWN_OPCODE, RRING_WIRE_INVALID_OPCODE,
			"unknown control opcode", NULL);
}

Test(raw_peer_violation, advertisement_32k, .timeout = 60)
{
	client_violates(RAW_PEER_ADV_BAD_LENGTH, 32u << 10,
			"advertised length outside 64 KiB..16 MiB", NULL);
}

Test(raw_peer_violation, advertisement_32m, .timeout = 60)
{
	client_violates(RAW_PEER_ADV_BAD_LENGTH, 32u << 20,
			"advertised length outside 64 KiB..16 MiB", NULL);
}

Test(raw_peer_violation, advertisement_rkey_0, .timeout = 60)
{
	client_violates(RAW_PEER_ADV_ZERO_RKEY, 0, "advertised rkey 0", NULL);
}

Test(raw_peer_violation, write_overruns_window, .timeout = 60)
{
	client_violates(RAW_PEER_WRITE_OVERRUN, 0, "write overruns our window",
			NULL);
}

Test(raw_peer_violation, immediate_larger_than_buffer, .timeout = 60)
{
	client_violates(RAW_PEER_IMM_TOO_LARGE, 0,
			"immediate larger than our buffer", NULL);
}

Test(raw_peer_violation, write_before_advertisement, .timeout = 60)
{
	/* which one depends on whether the server had advertised already */
	client_violates(RAW_PEER_WRITE_BEFORE_ADV, 0,
			"write-with-imm before our advertisement",
			"immediate differs from byte_len");
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

Test(raw_peer_violation, server_advertises_rkey_0, .timeout = 60)
{
	server_violates(RAW_PEER_ADV_ZERO_RKEY, "advertised rkey 0");
}

Test(raw_peer_violation, server_advertises_32k, .timeout = 60)
{
	server_violates(RAW_PEER_ADV_BAD_LENGTH,
			"advertised length outside 64 KiB..16 MiB");
}

/* ---- slow consumer, disconnects ---- */

Test(raw_peer, slow_consumer_backpressure, .timeout = 120)
{
	const struct raw_peer_stats *cs, *ss;
	struct raw_peer *c;
	struct xfer x;
	pthread_t th;

	xfer_init(&x, 1000000, 64 * KIB);
	x.so.misbehave = RAW_PEER_SLOW_CONSUMER;
	x.so.consume_chunk = 8192;
	x.so.consume_delay_us = 200;
	c = start(&x, &th);
	client_send_all(c, &x);
	pthread_join(th, NULL);
	assert_sink_ok(&x);
	cs = raw_peer_stats(c);
	ss = raw_peer_stats(x.srv);
	cr_assert_eq(ss->readv_sent, 1000000 / (64 * KIB));
	cr_assert_eq(cs->window_waits, 1000000 / (64 * KIB));
	raw_peer_close(c);
	raw_peer_close(x.srv);
}

Test(raw_peer, sender_disconnects_mid_transfer, .timeout = 60)
{
	uint8_t *buf = malloc(1000000);
	struct raw_peer *c;
	struct xfer x;
	pthread_t th;
	int ret;

	cr_assert_not_null(buf);
	xfer_init(&x, 1000000, 64 * KIB);
	x.co.misbehave = RAW_PEER_DISCONNECT_MID;
	x.co.disconnect_after = 300000;
	c = start(&x, &th);
	fill(buf, 1000000, 0, x.seed);
	ret = raw_peer_send(c, buf, 1000000, x.deadline);
	cr_assert_eq(ret, -ECONNABORTED, "send: %s", strerror(-ret));
	pthread_join(th, NULL);
	cr_assert_eq(x.srv_ret, -ECONNRESET, "server: %s",
		     strerror(-x.srv_ret));
	/* everything the sender had completed arrived, and nothing else */
	cr_assert_eq(raw_peer_stats(c)->bytes_sent, 300000);
	cr_assert_eq(x.srv_got, 300000, "server got %llu (received %llu)",
		     (unsigned long long)x.srv_got,
		     (unsigned long long)raw_peer_stats(x.srv)->bytes_received);
	cr_assert_eq(x.srv_bad, 0);
	cr_assert_null(raw_peer_violation(x.srv));
	free(buf);
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
	uint8_t *buf = malloc(1000000);
	struct raw_peer *c;
	struct xfer x;
	pthread_t th;
	int ret;

	cr_assert_not_null(buf);
	xfer_init(&x, 1000000, 64 * KIB);
	x.script = script_read_then_disconnect;
	c = start(&x, &th);
	fill(buf, 1000000, 0, x.seed);
	ret = raw_peer_send(c, buf, 1000000, x.deadline);
	cr_assert_eq(ret, -ECONNRESET, "send: %s", strerror(-ret));
	pthread_join(th, NULL);
	cr_assert_eq(x.srv_ret, 0);
	cr_assert_eq(x.srv_bad, 0);
	/* the sender stopped within the windows it was given */
	cr_assert_leq(raw_peer_stats(c)->bytes_sent,
		      raw_peer_stats(c)->adv_received * 64 * KIB);
	free(buf);
	raw_peer_close(c);
	raw_peer_close(x.srv);
}

/* ---- cross-process: the server in a forked child ---- */

/* Needs a process where softverbs is not initialised yet: Criterion's
 * per-test process, not the TSan runner's single process. */
#ifndef RRING_TEST_NO_CRITERION

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
#endif /* RRING_TEST_NO_CRITERION */
