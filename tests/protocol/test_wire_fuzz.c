/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring: property test: random events into the wire state machines. */
#include <criterion/criterion.h>
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "wire_recv.h"
#include "wire_send.h"
#include "test_support.h"

#ifdef TS_SANITIZED
#define FUZZ_RUNS 300
#else
#define FUZZ_RUNS 3000
#endif
#define FUZZ_EVENTS 300

static uint32_t pick(struct ts_rng *r, uint32_t n)
{
	return (uint32_t)(ts_rnd(r) % n);
}

/* Lengths near the edges matter most. */
static uint32_t fuzz_len(struct ts_rng *r)
{
	static const uint32_t edges[] = {
	    0,		 1,
	    31,		 32,
	    33,		 65535,
	    65536,	 65537,
	    1u << 20,	 (16u << 20) - 1,
	    16u << 20,	 (16u << 20) + 1,
	    0xffffffffu,
	};

	if (pick(r, 2))
		return edges[pick(r, sizeof(edges) / sizeof(edges[0]))];
	return (uint32_t)ts_rnd(r) >> pick(r, 32);
}

/* ---- sender ---- */

/* Coverage of the runs, so the property test cannot pass vacuously. */
static struct {
	uint64_t writes, window_full, acks, delivered, failed;
	uint64_t end_state[RRING_WIRE_SEND_NR_STATES];
} cov;

struct sfuzz {
	struct ts_rng r;
	struct rring_wire_send s;
	bool have_win;
	uint64_t win_addr;
	uint32_t win_len, win_rkey;
	uint64_t signaled[64];
	unsigned int nsig;
	uint64_t next_cookie, reaped;
};

static void s_queue(struct sfuzz *f)
{
	struct rring_wire_iov iov[3];
	unsigned int n = pick(&f->r, 4);

	for (unsigned int i = 0; i < n; i++)
		iov[i] = (struct rring_wire_iov){
		    ts_rnd(&f->r),
		    pick(&f->r, 3) ? pick(&f->r, 200000) : fuzz_len(&f->r),
		    pick(&f->r, 9)};
	if (rring_wire_send_queue(&f->s, iov, n, f->next_cookie) == 0)
		f->next_cookie++;
}

static void s_peer_buffer(struct sfuzz *f, bool valid)
{
	uint64_t addr = ts_rnd(&f->r) & ~0xfffULL;
	uint32_t len = valid || pick(&f->r, 2) ? (64u << 10) : fuzz_len(&f->r);
	uint32_t rkey =
	    valid || pick(&f->r, 8) ? (uint32_t)ts_rnd(&f->r) | 1 : 0;

	if (rring_wire_send_on_peer_buffer(&f->s, addr, len, rkey) == 0) {
		cr_assert(len >= RRING_WIRE_RX_SIZE_MIN &&
			  len <= RRING_WIRE_RX_SIZE_MAX && rkey);
		f->have_win = true;
		f->win_addr = addr;
		f->win_len = len;
		f->win_rkey = rkey;
	}
}

static void s_next(struct sfuzz *f)
{
	struct rring_wire_write w;
	uint64_t sum = 0;

	if (rring_wire_send_next(&f->s, &w))
		return;
	cr_assert(f->have_win, "write without a window");
	cr_assert_eq(w.rkey, f->win_rkey);
	cr_assert_geq(w.remote_addr, f->win_addr);
	cr_assert_leq(w.remote_addr - f->win_addr + w.length, f->win_len,
		      "write out of the window");
	cr_assert(w.num_sge >= 1 && w.num_sge <= RRING_WIRE_MAX_SGE);
	for (uint32_t i = 0; i < w.num_sge; i++)
		sum += w.sge[i].len;
	cr_assert_eq(sum, w.length);
	cr_assert_gt(w.length, 0);
	if (w.signaled)
		f->signaled[f->nsig++ % 64] = w.wr_id;
	cov.writes++;
	cov.window_full += f->s.state == RRING_WIRE_SEND_WINDOW_FULL;
}

static void s_done(struct sfuzz *f)
{
	uint64_t id =
	    f->nsig && pick(&f->r, 4)
		? f->signaled[pick(&f->r, f->nsig < 64 ? f->nsig : 64)]
		: ts_rnd(&f->r) % 64;

	cov.acks += rring_wire_send_on_write_done(&f->s, id) == 0;
}

static void s_reap(struct sfuzz *f)
{
	struct rring_wire_send_result res[8];
	unsigned int n = rring_wire_send_reap(&f->s, res, 8);

	for (unsigned int i = 0; i < n; i++) {
		cr_assert_eq(res[i].cookie, f->reaped++, "reap order");
		cr_assert(res[i].status <= 0);
		cov.delivered += res[i].status == 0;
		cov.failed += res[i].status != 0;
	}
}

static void s_check(const struct rring_wire_send *s)
{
	cr_assert_lt((unsigned int)s->state, RRING_WIRE_SEND_NR_STATES);
	cr_assert_str_neq(rring_wire_send_state_str(s->state), "INVALID");
	cr_assert_leq(s->acked, s->posted);
	cr_assert_leq(s->posted, s->queued);
	cr_assert_leq(s->infl_tail - s->infl_head, s->p.max_inflight);
	cr_assert_leq(s->win_off, s->win_len);
	cr_assert_leq(s->req_tail - s->req_head, s->p.max_requests);
	cr_assert_leq(s->seg_tail - s->seg_head, s->p.max_iovs);
	if (s->state >= RRING_WIRE_SEND_CLOSED)
		cr_assert_not_null(s->reason);
}

static void sender_run(uint64_t seed)
{
	struct rring_wire_send_params p;
	struct sfuzz f;

	memset(&f, 0, sizeof(f));
	f.r.s = seed * 0x9e3779b97f4a7c15ULL + 7;
	rring_wire_send_params_init(&p);
	p.max_requests = 1u << pick(&f.r, 4);
	p.max_iovs = 1u << pick(&f.r, 5);
	p.max_inflight = 1 + pick(&f.r, 8);
	p.signal_every = 1 + pick(&f.r, 8);
	p.max_sge = 1 + pick(&f.r, RRING_WIRE_MAX_SGE);
	p.max_write = pick(&f.r, 2) ? RRING_WIRE_DEFAULT_MAX_WRITE
				    : 1 + pick(&f.r, 100000);
	cr_assert_eq(rring_wire_send_init(&f.s, &p), 0);
	for (int i = 0; i < FUZZ_EVENTS; i++) {
		switch (pick(&f.r, 16)) {
		case 0:
		case 1:
		case 2:
			s_queue(&f);
			break;
		case 3:
			if (!pick(&f.r, 64))
				s_peer_buffer(&f, false);
			break;
		case 4:
		case 5:
		case 6:
		case 7:
		case 8:
			s_next(&f);
			break;
		case 9:
		case 10:
		case 11:
			s_done(&f);
			break;
		case 12:
		case 13:
			s_reap(&f);
			break;
		case 14:
			if (!pick(&f.r, 128))
				rring_wire_send_close(
				    &f.s, -(int)pick(&f.r, 2) * EIO, NULL);
			break;
		default:
			/* mostly when a compliant peer would re-advertise */
			if (seed % 8 == 0)
				break; /* a peer that never advertises */
			if (f.s.state != RRING_WIRE_SEND_READY ||
			    !f.s.win_off || !pick(&f.r, 256))
				s_peer_buffer(&f, true);
			break;
		}
		s_check(&f.s);
	}
	cov.end_state[f.s.state]++;
	rring_wire_send_close(&f.s, 0, "end of fuzz run");
	s_reap(&f);
	cr_assert_eq(f.reaped, f.next_cookie, "every request reported");
	s_check(&f.s);
	rring_wire_send_destroy(&f.s);
}

Test(wire_fuzz, sender_random_events)
{
	for (uint64_t seed = 1; seed <= FUZZ_RUNS; seed++)
		sender_run(seed);
	cr_log_info("writes %lu window_full %lu acks %lu delivered %lu "
		    "failed %lu end WAIT %lu READY %lu FULL %lu CLOSED %lu "
		    "ERROR %lu",
		    cov.writes, cov.window_full, cov.acks, cov.delivered,
		    cov.failed, cov.end_state[0], cov.end_state[1],
		    cov.end_state[2], cov.end_state[3], cov.end_state[4]);
	cr_assert_gt(cov.writes, FUZZ_RUNS * 10ULL);
	cr_assert_gt(cov.window_full, FUZZ_RUNS / 10);
	cr_assert_gt(cov.acks, FUZZ_RUNS);
	cr_assert_gt(cov.delivered, FUZZ_RUNS);
	cr_assert_gt(cov.failed, FUZZ_RUNS / 10);
	for (int st = 0; st < RRING_WIRE_SEND_NR_STATES; st++)
		cr_assert_gt(cov.end_state[st], 0, "state %d never ended in",
			     st);
}

/* ---- receiver ---- */

static void r_ctrl(struct ts_rng *r, struct rring_wire_recv *w)
{
	uint8_t buf[64];
	struct rring_wire_msg m;
	uint32_t len = pick(r, 8) ? 32 : fuzz_len(r) % 65;

	for (unsigned int i = 0; i < sizeof(buf); i++)
		buf[i] = pick(r, 3) ? 0 : (uint8_t)ts_rnd(r);
	buf[0] = pick(r, 8) ? 0 : (uint8_t)ts_rnd(r);
	buf[1] = (uint8_t)pick(r, 6);
	if (buf[1] == 3 && pick(r, 2)) {
		buf[24] = 0;
		buf[25] = (uint8_t)(1u << pick(r, 8)); /* 64 KiB..8 MiB */
		buf[26] = 0;
		buf[27] = 0;
	}
	if (buf[1] == 1 && pick(r, 2))
		memset(buf + 24, 0, 8);
	rring_wire_recv_on_ctrl(w, buf, len, &m);
}

static void r_check(const struct rring_wire_recv *w)
{
	cr_assert_lt((unsigned int)w->state, RRING_WIRE_RECV_NR_STATES);
	cr_assert_str_neq(rring_wire_recv_state_str(w->state), "INVALID");
	cr_assert_leq(w->rd_off, w->wr_off);
	cr_assert_leq(w->wr_off, w->p.buf_len);
	cr_assert_leq(w->out_tail - w->out_head, RRING_WIRE_OUTBOX);
	if (w->state == RRING_WIRE_RECV_FULL)
		cr_assert_eq(w->wr_off, w->p.buf_len);
	if (w->state == RRING_WIRE_RECV_OPEN)
		cr_assert_lt(w->wr_off, w->p.buf_len);
	if (w->state >= RRING_WIRE_RECV_CLOSED)
		cr_assert_not_null(w->reason);
}

static void r_event(struct ts_rng *r, struct rring_wire_recv *w, uint64_t *now)
{
	uint8_t out[32];
	struct rring_wire_msg m;
	uint32_t small = pick(r, 4) ? pick(r, 70000) : fuzz_len(r);

	switch (pick(r, 10)) {
	case 0:
		rring_wire_recv_on_established(w, *now);
		break;
	case 1:
	case 2:
		r_ctrl(r, w);
		break;
	case 3:
	case 4:
		rring_wire_recv_on_write_imm(w, htobe32(small),
					     pick(r, 8) ? small : fuzz_len(r));
		break;
	case 5:
	case 6:
		rring_wire_recv_consume(w, pick(r, 2) ? w->wr_off - w->rd_off
						      : small);
		break;
	case 7:
		*now += pick(r, 5000);
		rring_wire_recv_tick(w, *now);
		break;
	case 8:
		if (rring_wire_recv_next_ctrl(w, out) == 0)
			cr_assert_eq(rring_wire_msg_decode(out, 32, &m, NULL),
				     0, "we only send what we accept");
		break;
	default:
		if (!pick(r, 16))
			rring_wire_recv_close(w, -(int)pick(r, 2) * EIO, NULL);
		break;
	}
}

static void receiver_run(uint64_t seed)
{
	struct rring_wire_recv_params p;
	struct rring_wire_recv w;
	struct ts_rng r = {seed * 0x2545f4914f6cdd1dULL + 3};
	uint64_t now = 0;

	rring_wire_recv_params_init(&p);
	p.role = pick(&r, 2) ? RRING_WIRE_ROLE_CLIENT : RRING_WIRE_ROLE_SERVER;
	p.ask_features = pick(&r, 2);
	p.buf_addr = 0x10000;
	p.buf_len = (64u << 10) << pick(&r, 9);
	p.rkey = 5;
	cr_assert_eq(rring_wire_recv_init(&w, &p), 0);
	for (int i = 0; i < FUZZ_EVENTS; i++) {
		r_event(&r, &w, &now);
		r_check(&w);
	}
	rring_wire_recv_close(&w, 0, NULL);
	r_check(&w);
	cr_assert(w.state == RRING_WIRE_RECV_CLOSED ||
		  w.state == RRING_WIRE_RECV_ERROR);
}

Test(wire_fuzz, receiver_random_events)
{
	for (uint64_t seed = 1; seed <= FUZZ_RUNS; seed++)
		receiver_run(seed);
}

/* Pure garbage into the codec: decode never reads past byte_len 32 and
 * whatever it accepts encodes back to an accepted message. */
Test(wire_fuzz, codec_garbage)
{
	struct ts_rng r = {12345};

	for (int i = 0; i < 100000; i++) {
		uint8_t buf[32], again[32];
		struct rring_wire_msg m, m2;

		for (int j = 0; j < 32; j++)
			buf[j] = (uint8_t)ts_rnd(&r);
		buf[0] = 0;
		buf[1] &= 7;
		if (rring_wire_msg_decode(buf, 32, &m, NULL))
			continue;
		cr_assert_eq(rring_wire_msg_encode(&m, again, NULL), 0);
		cr_assert_eq(rring_wire_msg_decode(again, 32, &m2, NULL), 0);
		cr_assert_arr_eq(&m, &m2, sizeof(m));
	}
}
