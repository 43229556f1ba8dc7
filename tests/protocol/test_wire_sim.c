/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring: two-party simulation of the wire protocol over a fake wire. */

/*
 * Party A (client) and party B (server) each have a sender, a receiver and
 * a receive buffer, and both send at once. The fake wire executes a
 * party's write actions with memcpy into the peer's receive buffer, feeds
 * the immediate and byte count to the peer's receiver machine, and returns
 * completions of signaled writes after random delays. Control messages
 * travel as encoded 32-byte buffers between the receiver machines (the
 * control plane), so a RegisterXferMemory reaches the peer's sender exactly
 * as it would over verbs. Consumers run at random speeds and check a
 * checksum per message.
 *
 * The test keeps its own books, independent of the machines: the expected
 * window offset of every write, the stream offset at which each message
 * ends, and the stream offset the wire has acknowledged to A.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "wire_recv.h"
#include "wire_send.h"
#include "test_support.h"

#ifdef TS_SANITIZED
#define SIM_SCALE 4
#else
#define SIM_SCALE 1
#endif

#define KB64 (64u << 10)
#define MB1 (1u << 20)
#define MB10 (10u << 20)
#define ARENA_SIZE (16u << 20)
#define B_RKEY 0xb0b0u
#define A_RKEY 0xa0a0u

static uint64_t rnd_range(struct ts_rng *r, uint64_t lo, uint64_t hi)
{
	return lo + ts_rnd(r) % (hi - lo + 1);
}

static uint8_t *arena;

static void make_arena(void)
{
	struct ts_rng r = {0x9e3779b97f4a7c15ULL};

	arena = malloc(ARENA_SIZE);
	cr_assert_not_null(arena);
	for (size_t i = 0; i < ARENA_SIZE; i += 8) {
		uint64_t v = ts_rnd(&r);

		memcpy(arena + i, &v, 8);
	}
}

static void free_arena(void)
{
	free(arena);
}

struct msg {
	uint32_t off, len;
	uint64_t sum;
	uint64_t end; /* stream offset past its last byte */
	int status;   /* 1 not reaped, 0 delivered, < 0 failed */
};

struct cfg {
	uint32_t window[2]; /* receive buffer of A (client) and B (server) */
	uint32_t nmsg[2];   /* messages sent by A and by B */
	uint32_t min_len, max_len;
	bool log_sizes; /* log-uniform sizes */
	uint32_t max_sge;
	uint32_t max_inflight;
	uint32_t max_write;
	uint64_t cut_at; /* cut after this many bytes posted by A; 0 never */
};

/* One end of the connection: a sender, a receiver, and the test's books. */
struct party {
	const char *name;
	struct rring_wire_send snd;
	struct rring_wire_recv rcv;
	uint8_t *buf; /* our receive buffer */
	uint32_t buf_len, rkey;
	struct party *peer;

	/* what we send */
	struct msg *msgs;
	uint32_t nmsg, nqueued, nreaped;
	uint64_t total;

	/* the wire's books for our writes into the peer's window */
	uint64_t *cq; /* signaled writes: wr_id, stream end pairs */
	uint32_t cq_head, cq_tail, cq_cap;
	uint64_t wire_posted, wire_acked;
	uint32_t wire_off; /* next offset in the peer's window */
	bool have_window;
	uint64_t windows_seen;

	/* verifier of what the peer sends us */
	uint32_t vmsg;
	uint64_t vgot, vsum;
};

struct sim {
	struct cfg c;
	struct ts_rng r;
	struct party p[2]; /* A client, B server */
	bool cut;
};

static uint32_t pick_len(struct sim *s)
{
	if (!s->c.log_sizes)
		return (uint32_t)rnd_range(&s->r, s->c.min_len, s->c.max_len);
	/* log-uniform between min and max */
	uint32_t bits = (uint32_t)rnd_range(&s->r, 0, 23);
	uint64_t len = rnd_range(&s->r, 1, 1ULL << bits);

	if (len < s->c.min_len)
		len = s->c.min_len;
	return len > s->c.max_len ? s->c.max_len : (uint32_t)len;
}

static void gen_msgs(struct sim *s, struct party *x)
{
	x->msgs = calloc(x->nmsg + 1, sizeof(*x->msgs));
	cr_assert_not_null(x->msgs);
	for (uint32_t i = 0; i < x->nmsg; i++) {
		struct msg *m = &x->msgs[i];

		m->len = pick_len(s);
		if (i == 0 && s->c.log_sizes)
			m->len = s->c.max_len; /* always one of the largest */
		m->off = (uint32_t)rnd_range(&s->r, 0, ARENA_SIZE - m->len);
		m->sum = ts_fnv(TS_FNV_INIT, arena + m->off, m->len);
		x->total += m->len;
		m->end = x->total;
		m->status = 1;
	}
}

static void party_init(struct sim *s, int i)
{
	struct party *x = &s->p[i];
	struct rring_wire_send_params sp;
	struct rring_wire_recv_params rp;

	x->name = i ? "B" : "A";
	x->peer = &s->p[!i];
	x->nmsg = s->c.nmsg[i];
	x->buf_len = s->c.window[i];
	x->rkey = i ? 0xb0b0u : 0xa0a0u;
	gen_msgs(s, x);
	x->buf = aligned_alloc(4096, x->buf_len);
	cr_assert_not_null(x->buf);
	rring_wire_send_params_init(&sp);
	sp.max_sge = s->c.max_sge ? s->c.max_sge : sp.max_sge;
	sp.max_inflight =
	    s->c.max_inflight ? s->c.max_inflight : sp.max_inflight;
	sp.max_write = s->c.max_write ? s->c.max_write : sp.max_write;
	sp.max_requests = 256;
	cr_assert_eq(rring_wire_send_init(&x->snd, &sp), 0);
	x->cq_cap = 2048;
	x->cq = calloc(2 * x->cq_cap, sizeof(*x->cq));
	cr_assert_not_null(x->cq);
	rring_wire_recv_params_init(&rp);
	rp.role = i ? RRING_WIRE_ROLE_SERVER : RRING_WIRE_ROLE_CLIENT;
	rp.ask_features = !i;
	rp.buf_addr = (uintptr_t)x->buf;
	rp.buf_len = x->buf_len;
	rp.rkey = x->rkey;
	cr_assert_eq(rring_wire_recv_init(&x->rcv, &rp), 0);
}

static void sim_init(struct sim *s, const struct cfg *c, uint64_t seed)
{
	memset(s, 0, sizeof(*s));
	s->c = *c;
	s->r.s = seed * 0x2545f4914f6cdd1dULL + 1;
	party_init(s, 0);
	party_init(s, 1);
}

static void sim_fini(struct sim *s)
{
	for (int i = 0; i < 2; i++) {
		rring_wire_send_destroy(&s->p[i].snd);
		free(s->p[i].cq);
		free(s->p[i].buf);
		free(s->p[i].msgs);
	}
}

/* ---- control plane ---- */

/* @x learned its peer's window. */
static void on_window(struct party *x, const struct rring_wire_msg *m)
{
	cr_assert_eq(m->addr, (uintptr_t)x->peer->buf);
	cr_assert_eq(m->length, x->peer->buf_len);
	cr_assert_eq(m->rkey, x->peer->rkey);
	if (x->have_window)
		cr_assert_eq(x->wire_off, m->length,
			     "%s: re-advertised before the window was full",
			     x->name);
	cr_assert_eq(rring_wire_send_on_peer_buffer(&x->snd, m->addr, m->length,
						    m->rkey),
		     0);
	x->have_window = true;
	x->wire_off = 0;
	x->windows_seen++;
}

/* Deliver every control message @x has queued to its peer. */
static void pump(struct party *x)
{
	struct party *y = x->peer;
	uint8_t buf[RRING_WIRE_MSG_SIZE];
	struct rring_wire_msg m;

	while (rring_wire_recv_next_ctrl(&x->rcv, buf) == 0) {
		cr_assert_eq(
		    rring_wire_recv_on_ctrl(&y->rcv, buf, sizeof(buf), &m), 0,
		    "%s: %s", y->name, y->rcv.reason);
		if (m.opcode == RRING_WIRE_OP_REGISTER_XFER_MEMORY)
			on_window(y, &m);
	}
}

/* ---- data path ---- */

static void queue_msgs(struct party *x)
{
	while (x->nqueued < x->nmsg) {
		const struct msg *m = &x->msgs[x->nqueued];
		struct rring_wire_iov iov[3];
		uint32_t a = m->len / 3, b = m->len / 3;

		/* split into up to three iovecs (zero-length ones skipped) */
		iov[0] =
		    (struct rring_wire_iov){(uintptr_t)arena + m->off, a, 11};
		iov[1] = (struct rring_wire_iov){iov[0].addr + a, b, 12};
		iov[2] = (struct rring_wire_iov){iov[1].addr + b,
						 m->len - a - b, 13};
		if (rring_wire_send_queue(&x->snd, iov, 3, x->nqueued) ==
		    -EAGAIN)
			return;
		x->nqueued++;
	}
}

static void check_write(struct party *x, const struct rring_wire_write *w)
{
	const struct party *y = x->peer;
	uint32_t sum = 0;

	cr_assert(x->have_window, "write before any advertisement");
	cr_assert_eq(w->rkey, y->rkey);
	cr_assert_eq(w->remote_addr, (uintptr_t)y->buf + x->wire_off,
		     "write not at the window offset");
	cr_assert_gt(w->length, 0);
	cr_assert_leq(w->length, y->buf_len - x->wire_off,
		      "write crosses the window end");
	cr_assert_eq(__builtin_bswap32(w->imm_data), w->length);
	cr_assert_leq(w->num_sge, RRING_WIRE_MAX_SGE);
	for (uint32_t i = 0; i < w->num_sge; i++) {
		cr_assert(w->sge[i].lkey >= 11 && w->sge[i].lkey <= 13);
		sum += w->sge[i].len;
	}
	cr_assert_eq(sum, w->length);
}

static void execute(struct party *x, const struct rring_wire_write *w)
{
	struct party *y = x->peer;
	uint8_t *dst = y->buf + x->wire_off;

	for (uint32_t i = 0; i < w->num_sge; i++) {
		memcpy(dst, (const void *)(uintptr_t)w->sge[i].addr,
		       w->sge[i].len);
		dst += w->sge[i].len;
	}
	x->wire_off += w->length;
	x->wire_posted += w->length;
	cr_assert_eq(
	    rring_wire_recv_on_write_imm(&y->rcv, w->imm_data, w->length), 0,
	    "%s: %s", y->name, y->rcv.reason);
	if (!w->signaled)
		return;
	cr_assert_lt(x->cq_tail - x->cq_head, x->cq_cap);
	x->cq[2 * (x->cq_tail % x->cq_cap)] = w->wr_id;
	x->cq[2 * (x->cq_tail % x->cq_cap) + 1] = x->wire_posted;
	x->cq_tail++;
}

/* When the sender refuses to write, it must have a reason. */
static void check_blocked(struct party *x)
{
	const struct rring_wire_send *q = &x->snd;

	if (q->posted == q->queued ||
	    q->infl_tail - q->infl_head >= q->p.max_inflight)
		return;
	if (q->state == RRING_WIRE_SEND_WAIT_PEER_BUFFER)
		return;
	cr_assert_eq(q->state, RRING_WIRE_SEND_WINDOW_FULL);
	cr_assert_eq(x->wire_off, x->peer->buf_len,
		     "waiting on a partial window");
}

static void post_writes(struct sim *s, struct party *x)
{
	struct rring_wire_write w;
	unsigned int n = (unsigned int)rnd_range(&s->r, 1, 48);

	while (n--) {
		int ret = rring_wire_send_next(&x->snd, &w);

		if (ret == -EAGAIN) {
			check_blocked(x);
			return;
		}
		cr_assert_eq(ret, 0);
		check_write(x, &w);
		execute(x, &w);
		if (x == &s->p[0] && s->c.cut_at &&
		    x->wire_posted >= s->c.cut_at) {
			s->cut = true;
			return;
		}
	}
}

static void complete_some(struct sim *s, struct party *x)
{
	uint32_t n = (uint32_t)rnd_range(&s->r, 0, x->cq_tail - x->cq_head);

	while (n--) {
		uint64_t id = x->cq[2 * (x->cq_head % x->cq_cap)];

		x->wire_acked = x->cq[2 * (x->cq_head % x->cq_cap) + 1];
		x->cq_head++;
		cr_assert_eq(rring_wire_send_on_write_done(&x->snd, id), 0);
	}
}

static void reap(struct party *x)
{
	struct rring_wire_send_result res[64];
	unsigned int n, i;

	while ((n = rring_wire_send_reap(&x->snd, res, 64))) {
		for (i = 0; i < n; i++) {
			struct msg *m = &x->msgs[x->nreaped];

			cr_assert_eq(res[i].cookie, x->nreaped, "out of order");
			cr_assert_eq(
			    res[i].status == 0, m->end <= x->wire_acked,
			    "%s msg %u end %lu acked %lu status %d", x->name,
			    x->nreaped, (unsigned long)m->end,
			    (unsigned long)x->wire_acked, res[i].status);
			m->status = res[i].status;
			x->nreaped++;
		}
	}
}

/* ---- consumer: @x checks what its peer sent ---- */

static void verify(struct party *x, const uint8_t *p, uint32_t n)
{
	const struct party *y = x->peer;

	while (n) {
		const struct msg *m;
		uint64_t take;

		cr_assert_lt(x->vmsg, y->nmsg, "more bytes than sent");
		m = &y->msgs[x->vmsg];
		take = m->len - x->vgot;
		if (take > n)
			take = n;
		x->vsum = ts_fnv(x->vgot ? x->vsum : TS_FNV_INIT, p, take);
		x->vgot += take;
		p += take;
		n -= (uint32_t)take;
		if (x->vgot == m->len) {
			cr_assert_eq(x->vsum, m->sum, "%s: message %u corrupt",
				     x->name, x->vmsg);
			x->vmsg++;
			x->vgot = 0;
		}
	}
}

static void consume(struct sim *s, struct party *x)
{
	uint32_t off, len, n;

	if (rring_wire_recv_peek(&x->rcv, &off, &len))
		return;
	if (ts_rnd(&s->r) % 4 == 0)
		n = (uint32_t)rnd_range(&s->r, 0, 256); /* slow consumer */
	else
		n = (uint32_t)rnd_range(&s->r, 0, len);
	if (n > len)
		n = len;
	verify(x, x->buf + off, n);
	cr_assert_eq(rring_wire_recv_consume(&x->rcv, n), 0);
}

/* ---- the run ---- */

static void step(struct sim *s, uint64_t now_ms)
{
	for (int i = 0; i < 2 && !s->cut; i++) {
		struct party *x = &s->p[ts_rnd(&s->r) & 1 ? i : !i];

		queue_msgs(x);
		post_writes(s, x);
		complete_some(s, x);
		reap(x);
		consume(s, x);
		rring_wire_recv_tick(&x->rcv, now_ms);
		pump(x);
	}
}

static bool finished(const struct sim *s)
{
	for (int i = 0; i < 2; i++) {
		const struct party *x = &s->p[i];

		if (x->nreaped != x->nmsg || x->peer->vmsg != x->nmsg)
			return false;
	}
	return true;
}

static void start(struct sim *s)
{
	cr_assert_eq(rring_wire_recv_on_established(&s->p[0].rcv, 0), 0);
	cr_assert_eq(rring_wire_recv_on_established(&s->p[1].rcv, 0), 0);
	pump(&s->p[0]);
	pump(&s->p[1]);
	pump(&s->p[0]);
	cr_assert(!s->p[0].rcv.feature_pending, "feature reply received");
}

static uint64_t progress(const struct sim *s)
{
	return s->p[0].wire_posted + s->p[1].wire_posted +
	       s->p[0].rcv.stats.bytes_consumed +
	       s->p[1].rcv.stats.bytes_consumed;
}

/* Books of the direction x -> x->peer after a complete run. */
static void check_direction(const struct party *x)
{
	const struct party *y = x->peer;

	for (uint32_t i = 0; i < x->nmsg; i++)
		cr_assert_eq(x->msgs[i].status, 0);
	cr_assert_eq(y->rcv.stats.bytes_received, x->total);
	cr_assert_eq(y->rcv.stats.readvertisements, x->total / y->buf_len,
		     "%s: readvertisements %lu total %lu window %u", y->name,
		     (unsigned long)y->rcv.stats.readvertisements,
		     (unsigned long)x->total, y->buf_len);
	cr_assert_eq(x->snd.stats.windows, x->windows_seen);
	cr_assert_eq(x->windows_seen, 1 + x->total / y->buf_len);
	cr_assert_eq(x->snd.stats.requests_done, x->nmsg);
	cr_assert_eq(x->snd.state, RRING_WIRE_SEND_READY);
}

static void run_full(const struct cfg *c, uint64_t seed)
{
	struct sim s;
	uint64_t steps = 0, last_progress = 0, seen = 0;

	sim_init(&s, c, seed);
	start(&s);
	while (!finished(&s)) {
		step(&s, steps * 10);
		steps++;
		if (progress(&s) != seen) {
			seen = progress(&s);
			last_progress = steps;
		}
		cr_assert_lt(steps - last_progress, 10000,
			     "no progress: deadlock (seed %lu)",
			     (unsigned long)seed);
	}
	check_direction(&s.p[0]);
	check_direction(&s.p[1]);
	if (steps * 10 > RRING_WIRE_KEEPALIVE_MS)
		cr_assert_gt(s.p[1].rcv.stats.keepalives_sent, 0);
	cr_assert_eq(s.p[0].rcv.stats.keepalives_received,
		     s.p[1].rcv.stats.keepalives_sent);
	cr_assert_eq(s.p[0].rcv.stats.keepalives_sent, 0, "client sends none");
	sim_fini(&s);
}

/* The connection drops: both ends close, each sender reports exactly. */
static void check_cut(struct party *x)
{
	uint32_t ok = 0, failed = 0;

	rring_wire_send_close(&x->snd, -ECONNRESET, "cut");
	rring_wire_recv_close(&x->rcv, -ECONNRESET, "cut");
	reap(x);
	cr_assert_eq(x->nreaped, x->nqueued, "every queued request reported");
	for (uint32_t i = 0; i < x->nreaped; i++) {
		ok += x->msgs[i].status == 0;
		failed += x->msgs[i].status == -ECONNRESET;
		cr_assert_eq(x->msgs[i].status == 0,
			     x->msgs[i].end <= x->wire_acked);
		/* a delivered message really is in the peer's memory */
		if (x->msgs[i].status == 0)
			cr_assert_leq(x->msgs[i].end, x->wire_posted);
	}
	cr_assert_eq(ok + failed, x->nqueued);
	cr_assert_eq(x->snd.stats.requests_done, ok);
	cr_assert_eq(x->snd.stats.requests_failed, failed);
	cr_assert_eq(x->snd.state, RRING_WIRE_SEND_ERROR);
	cr_assert(!rring_wire_send_busy(&x->snd));
}

static void run_cut(const struct cfg *c, uint64_t seed)
{
	struct sim s;

	sim_init(&s, c, seed);
	start(&s);
	for (uint64_t steps = 0; !s.cut && !finished(&s); steps++) {
		step(&s, steps * 10);
		cr_assert_lt(steps, 10000000);
	}
	check_cut(&s.p[0]);
	check_cut(&s.p[1]);
	sim_fini(&s);
}

TestSuite(wire_sim, .init = make_arena, .fini = free_arena, .timeout = 240);

#define BOTH(x)                                                                \
	{                                                                      \
		x, x                                                           \
	}

Test(wire_sim, small_messages_pack_into_64k_window)
{
	struct cfg c = {.window = BOTH(KB64),
			.nmsg = BOTH(10000 / SIM_SCALE),
			.min_len = 1,
			.max_len = 300};

	for (uint64_t seed = 1; seed <= 4; seed++)
		run_full(&c, seed);
}

Test(wire_sim, small_messages_pack_into_1m_window)
{
	struct cfg c = {.window = BOTH(MB1),
			.nmsg = BOTH(10000 / SIM_SCALE),
			.min_len = 1,
			.max_len = 2000};

	for (uint64_t seed = 10; seed <= 12; seed++)
		run_full(&c, seed);
}

Test(wire_sim, ten_mb_messages_cross_64k_windows)
{
	struct cfg c = {.window = BOTH(KB64),
			.nmsg = {4 / SIM_SCALE + 1, 2},
			.min_len = MB10,
			.max_len = MB10};

	run_full(&c, 20);
}

Test(wire_sim, ten_mb_messages_cross_1m_windows)
{
	struct cfg c = {.window = BOTH(MB1),
			.nmsg = {4 / SIM_SCALE + 1, 2},
			.min_len = MB10,
			.max_len = MB10};

	run_full(&c, 21);
}

Test(wire_sim, sizes_1_byte_to_10_mb_both_windows)
{
	struct cfg c = {.nmsg = BOTH(60 / SIM_SCALE),
			.min_len = 1,
			.max_len = MB10,
			.log_sizes = true};
	uint32_t windows[][2] = {
	    {KB64, KB64}, {MB1, MB1}, {KB64, MB1}, {16u << 20, KB64}};

	for (int w = 0; w < 4; w++) {
		c.window[0] = windows[w][0];
		c.window[1] = windows[w][1];
		for (uint64_t seed = 30; seed <= 31; seed++)
			run_full(&c, seed + 10 * (uint64_t)w);
	}
}

Test(wire_sim, exact_multiple_of_window_readvertises_last_window)
{
	struct cfg c = {.window = BOTH(KB64),
			.nmsg = BOTH(64),
			.min_len = 4096,
			.max_len = 4096}; /* 4 windows */

	run_full(&c, 40);
}

Test(wire_sim, one_sge_tiny_send_budget_small_writes)
{
	struct cfg c = {.window = BOTH(KB64),
			.nmsg = BOTH(1000 / SIM_SCALE),
			.min_len = 1,
			.max_len = 100000,
			.max_sge = 1,
			.max_inflight = 3,
			.max_write = 5000};

	for (uint64_t seed = 50; seed <= 52; seed++)
		run_full(&c, seed);
}

Test(wire_sim, one_direction_only)
{
	struct cfg c = {.window = BOTH(KB64),
			.nmsg = {3000, 0},
			.min_len = 1,
			.max_len = 5000};

	run_full(&c, 60);
}

Test(wire_sim, cut_at_random_point_reports_exactly)
{
	struct ts_rng r = {77};
	uint32_t windows[] = {KB64, MB1};

	for (int i = 0; i < 40 / SIM_SCALE; i++) {
		struct cfg c = {.window = {windows[i % 2], windows[i / 2 % 2]},
				.nmsg = BOTH(60),
				.min_len = 1,
				.max_len = 3u << 20,
				.log_sizes = true};

		c.cut_at = rnd_range(&r, 1, 16u << 20);
		c.max_inflight = i % 3 ? 0 : 5;
		c.max_write = i % 4 ? 0 : 3000 + 1000 * (uint32_t)i;
		run_cut(&c, 100 + (uint64_t)i);
	}
}
