/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring: sender state machine: windows, signaling, budget, delivery. */
#include <criterion/criterion.h>
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "wire_send.h"

#define WIN_ADDR 0x100000000ULL
#define WIN_KEY 0x77u
#define KB64 (64u << 10)

static struct rring_wire_send s;

static void setup_default(void)
{
	struct rring_wire_send_params p;

	rring_wire_send_params_init(&p);
	cr_assert_eq(rring_wire_send_init(&s, &p), 0);
}

static void teardown(void)
{
	rring_wire_send_destroy(&s);
	rring_wire_send_destroy(&s); /* idempotent */
}

static void queue1(uint64_t addr, uint32_t len, uint64_t cookie)
{
	struct rring_wire_iov iov = {addr, len, 5};

	cr_assert_eq(rring_wire_send_queue(&s, &iov, 1, cookie), 0);
}

/* Replace the suite's sender by one made with @p. */
static void reinit(const struct rring_wire_send_params *p)
{
	rring_wire_send_destroy(&s);
	cr_assert_eq(rring_wire_send_init(&s, p), 0);
}

TestSuite(wire_send, .init = setup_default, .fini = teardown);

Test(wire_send, params_validated)
{
	struct rring_wire_send_params p;
	struct rring_wire_send t;

	rring_wire_send_params_init(&p);
	p.max_requests = 1000;
	cr_assert_eq(rring_wire_send_init(&t, &p), -EINVAL);
	cr_assert_eq(t.state, RRING_WIRE_SEND_CLOSED, "failed init is dead");
	cr_assert_eq(
	    rring_wire_send_queue(&t, &(struct rring_wire_iov){1, 1, 1}, 1, 0),
	    -EPIPE);
	rring_wire_send_destroy(&t);
	rring_wire_send_params_init(&p);
	p.max_sge = RRING_WIRE_MAX_SGE + 1;
	cr_assert_eq(rring_wire_send_init(&t, &p), -EINVAL);
	rring_wire_send_params_init(&p);
	p.max_inflight = 0;
	cr_assert_eq(rring_wire_send_init(&t, &p), -EINVAL);
	p.max_inflight = RRING_WIRE_SEND_QUEUE + 1;
	cr_assert_eq(rring_wire_send_init(&t, &p), -EINVAL);
}

Test(wire_send, waits_for_peer_buffer)
{
	struct rring_wire_write w;

	cr_assert_eq(s.state, RRING_WIRE_SEND_WAIT_PEER_BUFFER);
	queue1(0x1000, 100, 1);
	cr_assert_eq(rring_wire_send_next(&s, &w), -EAGAIN);
	cr_assert_eq(
	    rring_wire_send_on_peer_buffer(&s, WIN_ADDR, KB64, WIN_KEY), 0);
	cr_assert_eq(s.state, RRING_WIRE_SEND_READY);
	cr_assert_eq(rring_wire_send_next(&s, &w), 0);
	cr_assert_eq(w.remote_addr, WIN_ADDR);
	cr_assert_eq(w.rkey, WIN_KEY);
	cr_assert_eq(w.length, 100);
	cr_assert_eq(be32toh(w.imm_data), 100);
	cr_assert_eq(w.num_sge, 1);
	cr_assert_eq(w.sge[0].addr, 0x1000);
	cr_assert_eq(w.sge[0].lkey, 5);
	cr_assert(w.signaled, "last write of a request is signaled");
	cr_assert_eq(rring_wire_send_next(&s, &w), -EAGAIN);
}

Test(wire_send, small_messages_pack_back_to_back)
{
	struct rring_wire_write w;
	uint64_t expect = WIN_ADDR;

	rring_wire_send_on_peer_buffer(&s, WIN_ADDR, KB64, WIN_KEY);
	for (int i = 0; i < 10; i++)
		queue1(0x1000 * (i + 1), 10 + i, i);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(rring_wire_send_next(&s, &w), 0);
		cr_assert_eq(w.remote_addr, expect);
		expect += w.length;
	}
	cr_assert_eq(expect - WIN_ADDR, 10 * 10 + 45);
	cr_assert_eq(rring_wire_send_next(&s, &w), -EAGAIN);
	cr_assert_eq(s.win_off, 145);
}

Test(wire_send, large_message_fills_window_exactly_then_waits)
{
	struct rring_wire_write w;
	struct rring_wire_send_result res[2];
	uint32_t total = 3 * KB64 + 123;
	uint32_t sent = 0;
	int windows = 1;

	rring_wire_send_on_peer_buffer(&s, WIN_ADDR, KB64, WIN_KEY);
	queue1(0x10000000, total, 42);
	while (sent < total) {
		int ret = rring_wire_send_next(&s, &w);

		if (ret == -EAGAIN) {
			cr_assert_eq(s.state, RRING_WIRE_SEND_WINDOW_FULL);
			cr_assert_eq(s.win_off, KB64);
			cr_assert_eq(rring_wire_send_on_peer_buffer(
					 &s, WIN_ADDR, KB64, WIN_KEY),
				     0);
			windows++;
			continue;
		}
		cr_assert_eq(ret, 0);
		cr_assert_eq(w.sge[0].addr, 0x10000000 + sent);
		cr_assert_leq(w.remote_addr - WIN_ADDR + w.length, KB64);
		sent += w.length;
		/* the sender waits at each window end: signaled there */
		cr_assert_eq(w.signaled, sent == total || s.win_off == KB64);
	}
	cr_assert_eq(windows, 4);
	cr_assert_eq(rring_wire_send_reap(&s, res, 2), 0, "not acked yet");
	cr_assert_eq(rring_wire_send_on_write_done(&s, s.infl_tail - 1), 0);
	cr_assert_eq(rring_wire_send_reap(&s, res, 2), 1);
	cr_assert_eq(res[0].cookie, 42);
	cr_assert_eq(res[0].status, 0);
}

Test(wire_send, one_in_signal_every_is_signaled)
{
	struct rring_wire_send_params p;
	struct rring_wire_write w;
	unsigned int nsig = 0, n = 0;

	rring_wire_send_params_init(&p);
	p.signal_every = 8;
	p.max_sge = 1;
	reinit(&p);
	rring_wire_send_on_peer_buffer(&s, WIN_ADDR, KB64, WIN_KEY);
	/* one request of 32 iovecs apart in memory: 32 writes, only the last
	 * ends it */
	struct rring_wire_iov iov[32];
	for (int i = 0; i < 32; i++)
		iov[i] = (struct rring_wire_iov){0x1000 + 200 * i, 100, 1};
	cr_assert_eq(rring_wire_send_queue(&s, iov, 32, 7), 0);
	while (rring_wire_send_next(&s, &w) == 0) {
		n++;
		nsig += w.signaled;
		if (n % 8 == 0)
			cr_assert(w.signaled, "write %u", n);
		else
			cr_assert(!w.signaled, "write %u", n);
	}
	cr_assert_eq(n, 32);
	cr_assert_eq(nsig, 4);
}

Test(wire_send, inflight_budget_limits_writes)
{
	struct rring_wire_send_params p;
	struct rring_wire_write w;
	struct rring_wire_iov iov[16];
	uint64_t last = 0;

	rring_wire_send_params_init(&p);
	p.max_inflight = 4;
	p.max_sge = 1;
	reinit(&p);
	rring_wire_send_on_peer_buffer(&s, WIN_ADDR, KB64, WIN_KEY);
	for (int i = 0; i < 16; i++) /* apart: one write each */
		iov[i] = (struct rring_wire_iov){0x1000 + 20 * i, 10, 1};
	cr_assert_eq(rring_wire_send_queue(&s, iov, 16, 1), 0);
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(rring_wire_send_next(&s, &w), 0);
		cr_assert_eq(w.signaled, i == 3, "budget's last is signaled");
		last = w.wr_id;
	}
	cr_assert_eq(rring_wire_send_next(&s, &w), -EAGAIN);
	cr_assert_eq(rring_wire_send_on_write_done(&s, last - 1), -EINVAL,
		     "unsignaled wr_id refused");
	cr_assert_eq(rring_wire_send_on_write_done(&s, last), 0);
	cr_assert_eq(s.acked, 40);
	cr_assert_eq(rring_wire_send_next(&s, &w), 0);
	cr_assert_eq(rring_wire_send_on_write_done(&s, last), -EINVAL,
		     "already completed");
}

Test(wire_send, sge_gathering_respects_window_end)
{
	struct rring_wire_write w;
	struct rring_wire_iov iov[3] = {
	    {0x1000, KB64 - 10, 1}, {0x900000, 4, 2}, {0xa00000, 50, 3}};

	rring_wire_send_on_peer_buffer(&s, WIN_ADDR, KB64, WIN_KEY);
	cr_assert_eq(rring_wire_send_queue(&s, iov, 3, 1), 0);
	cr_assert_eq(rring_wire_send_next(&s, &w), 0);
	cr_assert_eq(w.num_sge, 3);
	cr_assert_eq(w.length, KB64);
	cr_assert_eq(w.sge[1].lkey, 2);
	cr_assert_eq(w.sge[2].len, 6, "cut at the window end");
	cr_assert_eq(s.state, RRING_WIRE_SEND_WINDOW_FULL);
	rring_wire_send_on_peer_buffer(&s, WIN_ADDR + 0x1000000, KB64, 9);
	cr_assert_eq(rring_wire_send_next(&s, &w), 0);
	cr_assert_eq(w.remote_addr, WIN_ADDR + 0x1000000, "offset reset");
	cr_assert_eq(w.rkey, 9);
	cr_assert_eq(w.sge[0].addr, 0xa00000 + 6);
	cr_assert_eq(w.length, 44);
	cr_assert(w.signaled);
}

Test(wire_send, readvertise_of_partly_written_window_is_violation)
{
	struct rring_wire_write w;
	struct rring_wire_send_result res;

	rring_wire_send_on_peer_buffer(&s, WIN_ADDR, KB64, WIN_KEY);
	cr_assert_eq(
	    rring_wire_send_on_peer_buffer(&s, WIN_ADDR, KB64, WIN_KEY), 0,
	    "duplicate advertisement of an untouched window is fine");
	queue1(0x1000, 10, 1);
	cr_assert_eq(rring_wire_send_next(&s, &w), 0);
	cr_assert_eq(
	    rring_wire_send_on_peer_buffer(&s, WIN_ADDR, KB64, WIN_KEY),
	    -EPROTO);
	cr_assert_eq(s.state, RRING_WIRE_SEND_ERROR);
	cr_assert_not_null(strstr(s.reason, "re-advertised"));
	cr_assert_eq(rring_wire_send_reap(&s, &res, 1), 1);
	cr_assert_eq(res.status, -EPROTO);
}

Test(wire_send, invalid_peer_buffer_is_violation)
{
	cr_assert_eq(rring_wire_send_on_peer_buffer(&s, WIN_ADDR, 100, 1),
		     -EPROTO);
	cr_assert_eq(s.state, RRING_WIRE_SEND_ERROR);
	cr_assert_eq(rring_wire_send_on_peer_buffer(&s, WIN_ADDR, KB64, 1),
		     -EPIPE);
}

Test(wire_send, close_reports_exactly_unacked_requests)
{
	struct rring_wire_write w;
	struct rring_wire_send_result res[8];
	uint64_t ids[8];
	int n = 0;

	rring_wire_send_on_peer_buffer(&s, WIN_ADDR, KB64, WIN_KEY);
	for (int i = 0; i < 4; i++) {
		queue1(0x1000 * (i + 1), 1000, 100 + i);
		cr_assert_eq(rring_wire_send_next(&s, &w), 0);
		ids[n++] = w.wr_id;
	}
	queue1(0x9000, 1000, 104); /* queued, never written */
	cr_assert_eq(rring_wire_send_on_write_done(&s, ids[1]), 0);
	rring_wire_send_close(&s, 0, NULL);
	cr_assert_eq(s.state, RRING_WIRE_SEND_CLOSED);
	cr_assert_eq(rring_wire_send_on_write_done(&s, ids[3]), -EPIPE,
		     "completion after close does not count");
	cr_assert_eq(rring_wire_send_reap(&s, res, 8), 5);
	for (unsigned int i = 0; i < 5; i++) {
		cr_assert_eq(res[i].cookie, 100 + i);
		cr_assert_eq(res[i].status, i < 2 ? 0 : -ECONNRESET);
	}
	cr_assert_eq(s.stats.requests_done, 2);
	cr_assert_eq(s.stats.requests_failed, 3);
	cr_assert(!rring_wire_send_busy(&s));
	cr_assert_eq(
	    rring_wire_send_queue(&s, &(struct rring_wire_iov){1, 1, 1}, 1, 9),
	    -EPIPE);
	cr_assert_eq(rring_wire_send_next(&s, &w), -EPIPE);
}

Test(wire_send, queue_limits_and_empty_request)
{
	struct rring_wire_send_params p;
	struct rring_wire_iov iov[3] = {{1, 0, 1}, {2, 0, 1}, {3, 0, 1}};

	cr_assert_eq(rring_wire_send_queue(&s, iov, 3, 1), -EINVAL);
	rring_wire_send_params_init(&p);
	p.max_requests = 2;
	p.max_iovs = 4;
	reinit(&p);
	iov[0].len = iov[1].len = iov[2].len = 1;
	cr_assert_eq(rring_wire_send_queue(&s, iov, 3, 1), 0);
	cr_assert_eq(rring_wire_send_queue(&s, iov, 2, 2), -EAGAIN, "iovs");
	cr_assert_eq(rring_wire_send_queue(&s, iov, 1, 2), 0);
	cr_assert_eq(rring_wire_send_queue(&s, iov, 1, 3), -EAGAIN, "reqs");
}

Test(wire_send, state_names)
{
	cr_assert_str_eq(rring_wire_send_state_str(RRING_WIRE_SEND_READY),
			 "READY");
	cr_assert_str_eq(rring_wire_send_state_str(RRING_WIRE_SEND_NR_STATES),
			 "INVALID");
}

Test(wire_send, writes_capped_at_max_write)
{
	struct rring_wire_send_params p;
	struct rring_wire_write w;
	uint32_t n = 0, total = 0;

	rring_wire_send_params_init(&p);
	cr_assert_eq(p.max_write, 1u << 20);
	p.max_write = 10000;
	reinit(&p);
	rring_wire_send_on_peer_buffer(&s, WIN_ADDR, KB64, WIN_KEY);
	queue1(0x1000, KB64, 1);
	while (rring_wire_send_next(&s, &w) == 0) {
		cr_assert_eq(w.remote_addr, WIN_ADDR + total);
		cr_assert_leq(w.length, 10000);
		total += w.length;
		n++;
	}
	cr_assert_eq(total, KB64);
	cr_assert_eq(n, 7);
	cr_assert_eq(s.state, RRING_WIRE_SEND_WINDOW_FULL);
	p.max_write = 0;
	cr_assert_eq(rring_wire_send_init(&(struct rring_wire_send){0}, &p),
		     -EINVAL);
}

Test(wire_send, request_with_more_iovecs_than_capacity_is_refused)
{
	struct rring_wire_send_params p;
	struct rring_wire_iov iov[5];

	rring_wire_send_params_init(&p);
	p.max_iovs = 4;
	reinit(&p);
	for (int i = 0; i < 5; i++)
		iov[i] = (struct rring_wire_iov){0x1000 * (i + 1), 10, 1};
	cr_assert_eq(rring_wire_send_queue(&s, iov, 5, 1), -E2BIG);
	cr_assert_eq(rring_wire_send_queue(&s, iov, 4, 1), 0);
}

/* Requests back to back in memory (the owner's staging ring) leave as one
 * write with one scatter entry, signaled once; a gap or another key opens
 * a new entry. */
Test(wire_send, adjacent_requests_share_one_signaled_write)
{
	struct rring_wire_write w;
	struct rring_wire_send_result res[16];

	rring_wire_send_on_peer_buffer(&s, WIN_ADDR, KB64, WIN_KEY);
	for (int i = 0; i < 10; i++)
		queue1(0x1000 + 30 * i, 30, i);
	queue1(0x2000, 7, 10);				 /* gap */
	cr_assert_eq(rring_wire_send_queue(&s,		 /* other key */
			 &(struct rring_wire_iov){0x2007, 5, 6}, 1, 11),
		     0);
	cr_assert_eq(rring_wire_send_next(&s, &w), 0);
	cr_assert_eq(w.num_sge, 3);
	cr_assert_eq(w.sge[0].addr, 0x1000);
	cr_assert_eq(w.sge[0].len, 300);
	cr_assert_eq(w.sge[1].addr, 0x2000);
	cr_assert_eq(w.sge[1].len, 7);
	cr_assert_eq(w.sge[2].lkey, 6);
	cr_assert_eq(w.length, 312);
	cr_assert_eq(w.requests, 12);
	cr_assert(w.signaled);
	cr_assert_eq(rring_wire_send_next(&s, &w), -EAGAIN);
	cr_assert_eq(s.stats.writes, 1);
	cr_assert_eq(s.stats.signaled, 1);
	cr_assert_eq(s.stats.coalesced, 11);
	cr_assert_eq(rring_wire_send_on_write_done(&s, w.wr_id), 0);
	cr_assert_eq(rring_wire_send_reap(&s, res, 16), 12);
	for (unsigned int i = 0; i < 12; i++)
		cr_assert_eq(res[i].cookie, i);
}

/* Only the write after which nothing is queued is signaled: the earlier
 * requests are acknowledged by it (RC completes in order). */
Test(wire_send, burst_over_several_writes_signals_the_last)
{
	struct rring_wire_send_params p;
	struct rring_wire_write w;
	struct rring_wire_send_result res[8];
	unsigned int n = 0;
	uint64_t last = 0;

	rring_wire_send_params_init(&p);
	p.max_sge = 1;
	reinit(&p);
	rring_wire_send_on_peer_buffer(&s, WIN_ADDR, KB64, WIN_KEY);
	for (int i = 0; i < 5; i++)
		queue1(0x10000 * (i + 1), 100, i); /* apart: 5 writes */
	while (rring_wire_send_next(&s, &w) == 0) {
		cr_assert_eq(w.requests, 1);
		cr_assert_eq(w.signaled, ++n == 5, "write %u", n);
		last = w.wr_id;
	}
	cr_assert_eq(n, 5);
	cr_assert_eq(rring_wire_send_reap(&s, res, 8), 0);
	cr_assert_eq(rring_wire_send_on_write_done(&s, last), 0);
	cr_assert_eq(rring_wire_send_reap(&s, res, 8), 5);
}
