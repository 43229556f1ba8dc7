/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring: two-party simulation of the wire protocol without verbs: sender and receiver machines joined by a fake wire. */

/*
 * Party A (client) sends, party B (server) receives. The fake wire executes
 * A's write actions with memcpy into B's receive buffer, feeds the write
 * count to B's receiver machine, and returns completions of signaled
 * writes to A after random delays. Control messages travel as encoded
 * 32-byte buffers through both receiver machines (the control plane), so
 * B's RegisterXferMemory reaches A's sender exactly as it would over verbs.
 * B's consumer runs at random speeds and checks a checksum per message.
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

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SIM_SCALE 4
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SIM_SCALE 4
#endif
#endif
#ifndef SIM_SCALE
#define SIM_SCALE 1
#endif

#define KB64 (64u << 10)
#define MB1 (1u << 20)
#define MB10 (10u << 20)
#define ARENA_SIZE (16u << 20)
#define B_RKEY 0xb0b0u
#define A_RKEY 0xa0a0u

struct rng {
	uint64_t s;
};

static uint64_t rnd(struct rng *r)
{
	r->s ^= r->s << 13;
	r->s ^= r->s >> 7;
	r->s ^= r->s << 17;
	return r->s;
}

static uint64_t rnd_range(struct rng *r, uint64_t lo, uint64_t hi)
{
	return lo + rnd(r) % (hi - lo + 1);
}

static uint64_t fnv(uint64_t h, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return h;
}

#define FNV_INIT 0xcbf29ce484222325ULL

static uint8_t *arena;

static void make_arena(void)
{
	struct rng r = { 0x9e3779b97f4a7c15ULL };

	arena = malloc(ARENA_SIZE);
	cr_assert_not_null(arena);
	for (size_t i = 0; i < ARENA_SIZE; i += 8) {
		uint64_t v = rnd(&r);

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
	uint32_t window;
	uint32_t nmsg;
	uint32_t min_len, max_len;
	bool log_sizes; /* log-uniform sizes */
	uint32_t max_sge;
	uint32_t max_inflight;
	uint64_t cut_at; /* cut after this many posted bytes; 0 never */
};

struct sim {
	struct cfg c;
	struct rng r;
	struct msg *msgs;
	uint32_t nqueued, nreaped;
	uint64_t total;

	struct rring_wire_send snd; /* A */
	struct rring_wire_recv arcv; /* A's control plane */
	struct rring_wire_recv brcv; /* B */
	uint8_t *bbuf, *abuf;

	/* the wire's books */
	uint64_t *cq;  /* signaled writes: wr_id, stream end pairs */
	uint32_t cq_head, cq_tail, cq_cap;
	uint64_t wire_posted, wire_acked;
	uint32_t wire_off; /* next offset in B's window */
	bool have_window;
	uint64_t windows_seen;
	bool cut;

	/* B's verifier */
	uint32_t vmsg;
	uint64_t vgot, vsum;
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

static void gen_msgs(struct sim *s)
{
	s->msgs = calloc(s->c.nmsg, sizeof(*s->msgs));
	cr_assert_not_null(s->msgs);
	for (uint32_t i = 0; i < s->c.nmsg; i++) {
		struct msg *m = &s->msgs[i];

		m->len = pick_len(s);
		if (i == 0 && s->c.log_sizes)
			m->len = s->c.max_len; /* always one of the largest */
		m->off = (uint32_t)rnd_range(&s->r, 0, ARENA_SIZE - m->len);
		m->sum = fnv(FNV_INIT, arena + m->off, m->len);
		s->total += m->len;
		m->end = s->total;
		m->status = 1;
	}
}

static void sim_init(struct sim *s, const struct cfg *c, uint64_t seed)
{
	struct rring_wire_send_params sp;
	struct rring_wire_recv_params rp;

	memset(s, 0, sizeof(*s));
	s->c = *c;
	s->r.s = seed * 0x2545f4914f6cdd1dULL + 1;
	gen_msgs(s);
	s->bbuf = aligned_alloc(4096, c->window);
	s->abuf = aligned_alloc(4096, KB64);
	cr_assert(s->bbuf && s->abuf);
	rring_wire_send_params_init(&sp);
	sp.max_sge = c->max_sge ? c->max_sge : sp.max_sge;
	sp.max_inflight = c->max_inflight ? c->max_inflight : sp.max_inflight;
	sp.max_requests = 256;
	cr_assert_eq(rring_wire_send_init(&s->snd, &sp), 0);
	s->cq_cap = 2048;
	s->cq = calloc(2 * s->cq_cap, sizeof(*s->cq));
	rring_wire_recv_params_init(&rp);
	rp.role = RRING_WIRE_ROLE_CLIENT;
	rp.ask_features = true;
	rp.buf_addr = (uintptr_t)s->abuf;
	rp.buf_len = KB64;
	rp.rkey = A_RKEY;
	cr_assert_eq(rring_wire_recv_init(&s->arcv, &rp), 0);
	rp.role = RRING_WIRE_ROLE_SERVER;
	rp.buf_addr = (uintptr_t)s->bbuf;
	rp.buf_len = c->window;
	rp.rkey = B_RKEY;
	cr_assert_eq(rring_wire_recv_init(&s->brcv, &rp), 0);
}

static void sim_fini(struct sim *s)
{
	rring_wire_send_destroy(&s->snd);
	free(s->cq);
	free(s->abuf);
	free(s->bbuf);
	free(s->msgs);
}

/* ---- control plane ---- */

static void on_window(struct sim *s, const struct rring_wire_msg *m)
{
	cr_assert_eq(m->addr, (uintptr_t)s->bbuf);
	cr_assert_eq(m->length, s->c.window);
	cr_assert_eq(m->rkey, B_RKEY);
	if (s->have_window)
		cr_assert_eq(s->wire_off, s->c.window,
			     "re-advertised before the window was full");
	cr_assert_eq(rring_wire_send_on_peer_buffer(&s->snd, m->addr,
						    m->length, m->rkey), 0);
	s->have_window = true;
	s->wire_off = 0;
	s->windows_seen++;
}

/* Move every queued control message from @from to @to. */
static void pump(struct sim *s, struct rring_wire_recv *from,
		 struct rring_wire_recv *to)
{
	uint8_t buf[RRING_WIRE_MSG_SIZE];
	struct rring_wire_msg m;

	while (rring_wire_recv_next_ctrl(from, buf) == 0) {
		cr_assert_eq(rring_wire_recv_on_ctrl(to, buf, sizeof(buf), &m),
			     0, "%s", to->reason);
		if (to == &s->arcv &&
		    m.opcode == RRING_WIRE_OP_REGISTER_XFER_MEMORY)
			on_window(s, &m);
	}
}

/* ---- data path ---- */

static void queue_msgs(struct sim *s)
{
	while (s->nqueued < s->c.nmsg) {
		const struct msg *m = &s->msgs[s->nqueued];
		struct rring_wire_iov iov[3];
		uint32_t a = m->len / 3, b = m->len / 3;

		/* split into up to three iovecs (zero-length ones skipped) */
		iov[0] = (struct rring_wire_iov){ (uintptr_t)arena + m->off, a, 11 };
		iov[1] = (struct rring_wire_iov){ iov[0].addr + a, b, 12 };
		iov[2] = (struct rring_wire_iov){ iov[1].addr + b, m->len - a - b, 13 };
		if (rring_wire_send_queue(&s->snd, iov, 3, s->nqueued) == -EAGAIN)
			return;
		s->nqueued++;
	}
}

static void check_write(struct sim *s, const struct rring_wire_write *w)
{
	uint32_t sum = 0;

	cr_assert(s->have_window, "write before any advertisement");
	cr_assert_eq(w->rkey, B_RKEY);
	cr_assert_eq(w->remote_addr, (uintptr_t)s->bbuf + s->wire_off,
		     "write not at the window offset");
	cr_assert_gt(w->length, 0);
	cr_assert_leq(w->length, s->c.window - s->wire_off,
		      "write crosses the window end");
	cr_assert_eq(__builtin_bswap32(w->imm_data), w->length);
	cr_assert_leq(w->num_sge, RRING_WIRE_MAX_SGE);
	for (uint32_t i = 0; i < w->num_sge; i++) {
		cr_assert(w->sge[i].lkey >= 11 && w->sge[i].lkey <= 13);
		sum += w->sge[i].len;
	}
	cr_assert_eq(sum, w->length);
}

static void execute(struct sim *s, const struct rring_wire_write *w)
{
	uint8_t *dst = s->bbuf + s->wire_off;

	for (uint32_t i = 0; i < w->num_sge; i++) {
		memcpy(dst, (const void *)(uintptr_t)w->sge[i].addr,
		       w->sge[i].len);
		dst += w->sge[i].len;
	}
	s->wire_off += w->length;
	s->wire_posted += w->length;
	cr_assert_eq(rring_wire_recv_on_write_imm(&s->brcv, w->imm_data,
						  w->length), 0,
		     "%s", s->brcv.reason);
	if (!w->signaled)
		return;
	cr_assert_lt(s->cq_tail - s->cq_head, s->cq_cap);
	s->cq[2 * (s->cq_tail % s->cq_cap)] = w->wr_id;
	s->cq[2 * (s->cq_tail % s->cq_cap) + 1] = s->wire_posted;
	s->cq_tail++;
}

/* When the sender refuses to write, it must have a reason. */
static void check_blocked(struct sim *s)
{
	const struct rring_wire_send *q = &s->snd;

	if (q->posted == q->queued ||
	    q->infl_tail - q->infl_head >= q->p.max_inflight)
		return;
	if (q->state == RRING_WIRE_SEND_WAIT_PEER_BUFFER)
		return;
	cr_assert_eq(q->state, RRING_WIRE_SEND_WINDOW_FULL);
	cr_assert_eq(s->wire_off, s->c.window, "waiting on a partial window");
}

static void post_writes(struct sim *s)
{
	struct rring_wire_write w;
	unsigned int n = (unsigned int)rnd_range(&s->r, 1, 48);

	while (n--) {
		int ret = rring_wire_send_next(&s->snd, &w);

		if (ret == -EAGAIN) {
			check_blocked(s);
			return;
		}
		cr_assert_eq(ret, 0);
		check_write(s, &w);
		execute(s, &w);
		if (s->c.cut_at && s->wire_posted >= s->c.cut_at) {
			s->cut = true;
			return;
		}
	}
}

static void complete_some(struct sim *s)
{
	uint32_t n = (uint32_t)rnd_range(&s->r, 0, s->cq_tail - s->cq_head);

	while (n--) {
		uint64_t id = s->cq[2 * (s->cq_head % s->cq_cap)];

		s->wire_acked = s->cq[2 * (s->cq_head % s->cq_cap) + 1];
		s->cq_head++;
		cr_assert_eq(rring_wire_send_on_write_done(&s->snd, id), 0);
	}
}

static void reap(struct sim *s)
{
	struct rring_wire_send_result res[64];
	unsigned int n, i;

	while ((n = rring_wire_send_reap(&s->snd, res, 64))) {
		for (i = 0; i < n; i++) {
			struct msg *m = &s->msgs[s->nreaped];

			cr_assert_eq(res[i].cookie, s->nreaped, "out of order");
			cr_assert_eq(res[i].status == 0, m->end <= s->wire_acked,
				     "msg %u end %lu acked %lu status %d",
				     s->nreaped, (unsigned long)m->end,
				     (unsigned long)s->wire_acked,
				     res[i].status);
			m->status = res[i].status;
			s->nreaped++;
		}
	}
}

/* ---- B's consumer ---- */

static void verify(struct sim *s, const uint8_t *p, uint32_t n)
{
	while (n) {
		struct msg *m;
		uint64_t take;

		cr_assert_lt(s->vmsg, s->c.nmsg, "more bytes than sent");
		m = &s->msgs[s->vmsg];
		take = m->len - s->vgot;
		if (take > n)
			take = n;
		s->vsum = fnv(s->vgot ? s->vsum : FNV_INIT, p, take);
		s->vgot += take;
		p += take;
		n -= (uint32_t)take;
		if (s->vgot == m->len) {
			cr_assert_eq(s->vsum, m->sum, "message %u corrupt",
				     s->vmsg);
			s->vmsg++;
			s->vgot = 0;
		}
	}
}

static void consume(struct sim *s)
{
	uint32_t off, len, n;

	if (rring_wire_recv_peek(&s->brcv, &off, &len))
		return;
	if (rnd(&s->r) % 4 == 0)
		n = (uint32_t)rnd_range(&s->r, 0, 256); /* slow consumer */
	else
		n = (uint32_t)rnd_range(&s->r, 0, len);
	if (n > len)
		n = len;
	verify(s, s->bbuf + off, n);
	cr_assert_eq(rring_wire_recv_consume(&s->brcv, n), 0);
}

/* ---- the run ---- */

static void step(struct sim *s, uint64_t now_ms)
{
	queue_msgs(s);
	post_writes(s);
	complete_some(s);
	reap(s);
	consume(s);
	rring_wire_recv_tick(&s->brcv, now_ms);
	pump(s, &s->brcv, &s->arcv);
	pump(s, &s->arcv, &s->brcv);
}

static bool finished(const struct sim *s)
{
	return s->nreaped == s->c.nmsg && s->vmsg == s->c.nmsg;
}

static void start(struct sim *s)
{
	cr_assert_eq(rring_wire_recv_on_established(&s->arcv, 0), 0);
	cr_assert_eq(rring_wire_recv_on_established(&s->brcv, 0), 0);
	pump(s, &s->arcv, &s->brcv);
	pump(s, &s->brcv, &s->arcv);
	cr_assert(!s->arcv.feature_pending, "feature reply received");
}

static void run_full(const struct cfg *c, uint64_t seed)
{
	struct sim s;
	uint64_t steps = 0, last_progress = 0, progress = 0;

	sim_init(&s, c, seed);
	start(&s);
	while (!finished(&s)) {
		step(&s, steps * 10);
		steps++;
		if (s.wire_posted + s.brcv.stats.bytes_consumed != progress) {
			progress = s.wire_posted + s.brcv.stats.bytes_consumed;
			last_progress = steps;
		}
		cr_assert_lt(steps - last_progress, 10000,
			     "no progress: deadlock (seed %lu)",
			     (unsigned long)seed);
	}
	for (uint32_t i = 0; i < c->nmsg; i++)
		cr_assert_eq(s.msgs[i].status, 0);
	cr_assert_eq(s.brcv.stats.bytes_received, s.total);
	cr_assert_eq(s.brcv.stats.readvertisements, s.total / c->window,
		     "readvertisements %lu total %lu window %u",
		     (unsigned long)s.brcv.stats.readvertisements,
		     (unsigned long)s.total, c->window);
	cr_assert_eq(s.snd.stats.windows, s.windows_seen);
	cr_assert_eq(s.windows_seen, 1 + s.total / c->window);
	cr_assert_eq(s.snd.stats.requests_done, c->nmsg);
	cr_assert_eq(s.snd.state, RRING_WIRE_SEND_READY);
	if (steps * 10 > RRING_WIRE_KEEPALIVE_MS)
		cr_assert_gt(s.brcv.stats.keepalives_sent, 0);
	cr_assert_eq(s.arcv.stats.keepalives_received,
		     s.brcv.stats.keepalives_sent);
	sim_fini(&s);
}

static void run_cut(const struct cfg *c, uint64_t seed)
{
	struct sim s;
	uint32_t ok = 0, failed = 0;

	sim_init(&s, c, seed);
	start(&s);
	for (uint64_t steps = 0; !s.cut && !finished(&s); steps++) {
		step(&s, steps * 10);
		cr_assert_lt(steps, 10000000);
	}
	/* The connection drops: B stops, A learns what did not complete. */
	rring_wire_recv_close(&s.brcv, -ECONNRESET, "cut");
	rring_wire_send_close(&s.snd, -ECONNRESET, "cut");
	reap(&s);
	cr_assert_eq(s.nreaped, s.nqueued, "every queued request reported");
	for (uint32_t i = 0; i < s.nreaped; i++) {
		ok += s.msgs[i].status == 0;
		failed += s.msgs[i].status == -ECONNRESET;
		cr_assert_eq(s.msgs[i].status == 0,
			     s.msgs[i].end <= s.wire_acked);
	}
	cr_assert_eq(ok + failed, s.nqueued);
	cr_assert_eq(s.snd.stats.requests_done, ok);
	cr_assert_eq(s.snd.stats.requests_failed, failed);
	cr_assert_eq(s.snd.state, RRING_WIRE_SEND_ERROR);
	/* Every delivered byte really is in B's memory: the verifier saw
	 * the complete messages the consumer got to, none corrupt. */
	cr_assert_leq(s.wire_acked, s.wire_posted);
	sim_fini(&s);
}

TestSuite(wire_sim, .init = make_arena, .fini = free_arena, .timeout = 240);

Test(wire_sim, small_messages_pack_into_64k_window)
{
	struct cfg c = { .window = KB64, .nmsg = 20000 / SIM_SCALE,
			 .min_len = 1, .max_len = 300 };

	for (uint64_t seed = 1; seed <= 4; seed++)
		run_full(&c, seed);
}

Test(wire_sim, small_messages_pack_into_1m_window)
{
	struct cfg c = { .window = MB1, .nmsg = 20000 / SIM_SCALE,
			 .min_len = 1, .max_len = 2000 };

	for (uint64_t seed = 10; seed <= 12; seed++)
		run_full(&c, seed);
}

Test(wire_sim, ten_mb_messages_cross_64k_windows)
{
	struct cfg c = { .window = KB64, .nmsg = 4 / (SIM_SCALE > 1 ? 2 : 1),
			 .min_len = MB10, .max_len = MB10 };

	run_full(&c, 20);
}

Test(wire_sim, ten_mb_messages_cross_1m_windows)
{
	struct cfg c = { .window = MB1, .nmsg = 4 / (SIM_SCALE > 1 ? 2 : 1),
			 .min_len = MB10, .max_len = MB10 };

	run_full(&c, 21);
}

Test(wire_sim, sizes_1_byte_to_10_mb_both_windows)
{
	struct cfg c = { .nmsg = 100 / SIM_SCALE, .min_len = 1,
			 .max_len = MB10, .log_sizes = true };
	uint32_t windows[] = { KB64, MB1 };

	for (int w = 0; w < 2; w++) {
		c.window = windows[w];
		for (uint64_t seed = 30; seed <= 32; seed++)
			run_full(&c, seed + w);
	}
}

Test(wire_sim, exact_multiple_of_window_readvertises_last_window)
{
	struct cfg c = { .window = KB64, .nmsg = 64, .min_len = 4096,
			 .max_len = 4096 }; /* 4 windows exactly */

	run_full(&c, 40);
}

Test(wire_sim, one_sge_and_tiny_send_budget)
{
	struct cfg c = { .window = KB64, .nmsg = 2000 / SIM_SCALE,
			 .min_len = 1, .max_len = 100000, .max_sge = 1,
			 .max_inflight = 3 };

	for (uint64_t seed = 50; seed <= 52; seed++)
		run_full(&c, seed);
}

Test(wire_sim, cut_at_random_point_reports_exactly)
{
	struct rng r = { 77 };
	uint32_t windows[] = { KB64, MB1 };

	for (int i = 0; i < 40 / SIM_SCALE; i++) {
		struct cfg c = { .window = windows[i % 2], .nmsg = 100,
				 .min_len = 1, .max_len = 3u << 20,
				 .log_sizes = true };

		c.cut_at = rnd_range(&r, 1, 16u << 20);
		c.max_inflight = i % 3 ? 0 : 5;
		run_cut(&c, 100 + (uint64_t)i);
	}
}
