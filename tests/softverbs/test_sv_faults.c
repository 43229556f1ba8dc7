// SPDX-License-Identifier: BSD-3-Clause
/* softverbs: fault injection by environment (delay, dropped connection, QP error, small CQ). */
#include <criterion/criterion.h>
#include <poll.h>
#include <stdlib.h>
#include <time.h>

#include "svt.h"

/* Each Criterion test is its own process: the environment is read at the first verbs call. */
static struct svt_side a, b;

static void pair(void)
{
	struct svt_opts o;

	svt_opts_init(&o);
	svt_pair(&a, &b, &o);
}

static void teardown(void)
{
	svt_close_pair(&a, &b);
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static int write_status(struct svt_side *s, struct svt_side *t, uint64_t id)
{
	struct ibv_wc wc;

	cr_assert_eq(svt_post(s, IBV_WR_RDMA_WRITE, 0, 64, (uintptr_t)t->buf,
			      t->mr->rkey, 0, IBV_SEND_SIGNALED, id), 0);
	cr_assert_eq(svt_poll(s->scq, &wc, 1, 5000), 1);
	cr_assert_eq(wc.wr_id, id);
	return wc.status;
}

static bool readable(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, timeout_ms) == 1;
}

TestSuite(sv_faults, .fini = teardown, .timeout = 30);

Test(sv_faults, delay_adds_latency_per_message)
{
	uint64_t t0;

	setenv("SOFTVERBS_DELAY_US", "20000", 1);
	pair();
	t0 = now_us();
	cr_assert_eq(write_status(&a, &b, 1), IBV_WC_SUCCESS);
	cr_assert_geq(now_us() - t0, 20000);
}

Test(sv_faults, drop_after_n_messages_breaks_the_connection)
{
	int i;

	setenv("SOFTVERBS_DROP_AFTER", "3", 1);
	pair();
	for (i = 0; i < 3; i++)
		cr_assert_eq(write_status(&a, &b, (uint64_t)i), IBV_WC_SUCCESS);
	cr_assert_eq(write_status(&a, &b, 3), IBV_WC_RETRY_EXC_ERR);
	cr_assert_eq(svt_state(a.qp), IBV_QPS_ERR);
	cr_assert_eq(write_status(&b, &a, 4), IBV_WC_RETRY_EXC_ERR);
}

Test(sv_faults, qp_error_after_n_messages)
{
	struct ibv_async_event ev;

	setenv("SOFTVERBS_QP_ERROR_AFTER", "2", 1);
	pair();
	cr_assert_eq(write_status(&a, &b, 1), IBV_WC_SUCCESS);
	cr_assert_eq(write_status(&a, &b, 2), IBV_WC_SUCCESS);
	cr_assert(readable(a.ctx->async_fd, 5000));
	cr_assert_eq(ibv_get_async_event(a.ctx, &ev), 0);
	cr_assert_eq(ev.event_type, IBV_EVENT_QP_FATAL);
	cr_assert_eq(ev.element.qp, a.qp);
	ibv_ack_async_event(&ev);
	cr_assert_eq(svt_state(a.qp), IBV_QPS_ERR);
	cr_assert_eq(write_status(&a, &b, 3), IBV_WC_WR_FLUSH_ERR);
}

Test(sv_faults, cq_max_forces_overflow)
{
	struct ibv_async_event ev;
	int i;

	setenv("SOFTVERBS_CQ_MAX", "4", 1);
	pair(); /* asks for 256 entries */
	for (i = 0; i < 8; i++)
		cr_assert_eq(svt_post(&a, IBV_WR_RDMA_WRITE, 0, 8,
				      (uintptr_t)b.buf, b.mr->rkey, 0,
				      IBV_SEND_SIGNALED, (uint64_t)i), 0);
	cr_assert(readable(a.ctx->async_fd, 5000));
	cr_assert_eq(ibv_get_async_event(a.ctx, &ev), 0);
	cr_assert_eq(ev.event_type, IBV_EVENT_CQ_ERR);
	cr_assert_eq(ev.element.cq, a.scq);
	ibv_ack_async_event(&ev);
}
