// SPDX-License-Identifier: BSD-3-Clause
/* softverbs: SOFTVERBS_DELAY_US delays each QP's messages without stalling other QPs. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <time.h>

#include "svt.h"

/*
 * A message goes SOFTVERBS_DELAY_US after it was posted or after its QP's
 * previous message was due: per QP a link that takes that long per message.
 * With DELAY ms, N writes on one QP complete after N x DELAY; a write posted
 * on a second QP once the first of them completed completes one DELAY
 * later, long before the first QP's last one (when the NIC thread slept
 * per message, it came after all N).
 */

#define DELAY_MS 50
#define N 6

static struct svt_side a, b, c, d;

static void teardown(void)
{
	svt_close_pair(&a, &b);
	svt_close_pair(&c, &d);
}

static void post_write(struct svt_side *s, struct svt_side *t, uint64_t id)
{
	cr_assert_eq(svt_post(s, IBV_WR_RDMA_WRITE, 0, 64, (uintptr_t)t->buf,
			      t->mr->rkey, 0, IBV_SEND_SIGNALED, id),
		     0);
}

Test(sv_delay, a_delayed_qp_does_not_stall_another, .fini = teardown,
     .timeout = 60)
{
	uint64_t t0, t_other, t_last;
	struct svt_opts o;
	struct ibv_wc wc;
	int i;

	cr_assert_eq(setenv("SOFTVERBS_DELAY_US", "50000", 1), 0);
	svt_opts_init(&o);
	svt_pair(&a, &b, &o);
	svt_pair(&c, &d, &o);
	t0 = ts_now_ns() / 1000000;
	for (i = 0; i < N; i++)
		post_write(&a, &b, (uint64_t)i);
	cr_assert_eq(svt_poll(a.scq, &wc, 1, 10000), 1);
	cr_assert_eq(wc.wr_id, 0);
	post_write(&c, &d, 100);
	cr_assert_eq(svt_poll(c.scq, &wc, 1, 10000), 1);
	t_other = ts_now_ns() / 1000000 - t0;
	cr_assert_eq(wc.status, IBV_WC_SUCCESS);
	for (i = 1; i < N; i++) {
		cr_assert_eq(svt_poll(a.scq, &wc, 1, 10000), 1);
		cr_assert_eq(wc.wr_id, (uint64_t)i, "RC order");
		cr_assert_eq(wc.status, IBV_WC_SUCCESS);
	}
	t_last = ts_now_ns() / 1000000 - t0;
	cr_assert_geq(t_other, 2 * DELAY_MS, "the other write was not delayed");
	cr_assert_geq(t_last, N * DELAY_MS, "per-QP messages not serialized");
	cr_assert_lt(t_other, t_last, "the other QP waited for the first one");
}
