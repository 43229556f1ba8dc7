// SPDX-License-Identifier: BSD-3-Clause
/* softverbs conformance: error statuses, the QP state machine, flushing and RNR, in-process. */
#include <criterion/criterion.h>
#include <string.h>

#include "svt.h"

static struct svt_side a, b;

static void pair_with(unsigned int access, uint8_t rnr_retry)
{
	struct svt_opts o;

	svt_opts_init(&o);
	o.access = access;
	o.rnr_retry = rnr_retry;
	svt_pair(&a, &b, &o);
}

static void teardown(void)
{
	svt_close_pair(&a, &b);
}

TestSuite(sv_errors, .fini = teardown, .timeout = 30);

#define ALL (IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ)

/* The next WR on @s after an error completes with FLUSH_ERR. */
static void expect_flushed_after(struct svt_side *s)
{
	struct ibv_wc wc;

	cr_assert_eq(svt_state(s->qp), IBV_QPS_ERR);
	cr_assert_eq(svt_post(s, IBV_WR_SEND, 0, 8, 0, 0, 0, 0, 99), 0);
	cr_assert_eq(svt_poll(s->scq, &wc, 1, 5000), 1);
	cr_assert_eq(wc.status, IBV_WC_WR_FLUSH_ERR);
	cr_assert_eq(wc.wr_id, 99);
}

static void expect_send_status(struct svt_side *s, enum ibv_wc_status st)
{
	struct ibv_wc wc;

	cr_assert_eq(svt_poll(s->scq, &wc, 1, 5000), 1);
	cr_assert_eq(wc.status, st, "status %s, expected %s",
		     ibv_wc_status_str(wc.status), ibv_wc_status_str(st));
}

Test(sv_errors, bad_rkey_is_remote_access_error)
{
	pair_with(ALL, 7);
	cr_assert_eq(svt_post(&a, IBV_WR_RDMA_WRITE, 0, 64, (uintptr_t)b.buf,
			      b.mr->rkey ^ 0x100, 0, IBV_SEND_SIGNALED, 1), 0);
	expect_send_status(&a, IBV_WC_REM_ACCESS_ERR);
	expect_flushed_after(&a);
	cr_assert_eq(svt_state(b.qp), IBV_QPS_RTS);
}

Test(sv_errors, write_out_of_bounds_is_remote_access_error)
{
	pair_with(ALL, 7);
	cr_assert_eq(svt_post(&a, IBV_WR_RDMA_WRITE, 0, 4096,
			      (uintptr_t)b.buf + b.len - 100, b.mr->rkey, 0,
			      IBV_SEND_SIGNALED, 1), 0);
	expect_send_status(&a, IBV_WC_REM_ACCESS_ERR);
	expect_flushed_after(&a);
}

Test(sv_errors, write_without_remote_write_access)
{
	pair_with(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ, 7);
	cr_assert_eq(svt_post(&a, IBV_WR_RDMA_WRITE, 0, 64, (uintptr_t)b.buf,
			      b.mr->rkey, 0, IBV_SEND_SIGNALED, 1), 0);
	expect_send_status(&a, IBV_WC_REM_ACCESS_ERR);
}

Test(sv_errors, read_without_remote_read_access)
{
	pair_with(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE, 7);
	cr_assert_eq(svt_post(&a, IBV_WR_RDMA_READ, 0, 64, (uintptr_t)b.buf,
			      b.mr->rkey, 0, IBV_SEND_SIGNALED, 1), 0);
	expect_send_status(&a, IBV_WC_REM_ACCESS_ERR);
}

Test(sv_errors, bad_lkey_is_local_protection_error)
{
	struct ibv_sge s;
	struct ibv_send_wr wr = { 0 }, *bad;

	pair_with(ALL, 7);
	s = (struct ibv_sge){ (uintptr_t)a.buf, 64, a.mr->lkey + 1 };
	wr.opcode = IBV_WR_RDMA_WRITE;
	wr.sg_list = &s;
	wr.num_sge = 1;
	wr.send_flags = IBV_SEND_SIGNALED;
	wr.wr.rdma.remote_addr = (uintptr_t)b.buf;
	wr.wr.rdma.rkey = b.mr->rkey;
	cr_assert_eq(ibv_post_send(a.qp, &wr, &bad), 0);
	expect_send_status(&a, IBV_WC_LOC_PROT_ERR);
	expect_flushed_after(&a);
}

Test(sv_errors, receive_too_small_is_length_error_on_both_sides)
{
	struct ibv_wc wc;

	pair_with(ALL, 7);
	cr_assert_eq(svt_post_recv(&b, 0, 100, 5), 0);
	cr_assert_eq(svt_post(&a, IBV_WR_SEND, 0, 200, 0, 0, 0,
			      IBV_SEND_SIGNALED, 1), 0);
	expect_send_status(&a, IBV_WC_REM_INV_REQ_ERR);
	cr_assert_eq(svt_poll(b.rcq, &wc, 1, 5000), 1);
	cr_assert_eq(wc.status, IBV_WC_LOC_LEN_ERR);
	cr_assert_eq(wc.wr_id, 5);
	cr_assert_eq(svt_state(b.qp), IBV_QPS_ERR);
}

Test(sv_errors, error_state_flushes_every_outstanding_wr)
{
	struct ibv_qp_attr qa = { .qp_state = IBV_QPS_ERR };
	struct ibv_wc wc[8];
	int i;

	pair_with(ALL, 7);
	for (i = 0; i < 5; i++)
		cr_assert_eq(svt_post_recv(&b, 0, 64, (uint64_t)i), 0);
	cr_assert_eq(ibv_modify_qp(b.qp, &qa, IBV_QP_STATE), 0);
	cr_assert_eq(svt_poll(b.rcq, wc, 5, 5000), 5);
	for (i = 0; i < 5; i++) {
		cr_assert_eq(wc[i].status, IBV_WC_WR_FLUSH_ERR);
		cr_assert_eq(wc[i].wr_id, (uint64_t)i);
	}
	/* new receives and sends in ERR are flushed too */
	cr_assert_eq(svt_post_recv(&b, 0, 64, 42), 0);
	cr_assert_eq(svt_poll(b.rcq, wc, 1, 5000), 1);
	cr_assert_eq(wc[0].status, IBV_WC_WR_FLUSH_ERR);
	cr_assert_eq(wc[0].wr_id, 42);
	expect_flushed_after(&b);
}

Test(sv_errors, send_to_a_qp_in_error_exhausts_retries)
{
	struct ibv_qp_attr qa = { .qp_state = IBV_QPS_ERR };

	pair_with(ALL, 7);
	cr_assert_eq(ibv_modify_qp(b.qp, &qa, IBV_QP_STATE), 0);
	cr_assert_eq(svt_post(&a, IBV_WR_SEND, 0, 8, 0, 0, 0, 0, 1), 0);
	expect_send_status(&a, IBV_WC_RETRY_EXC_ERR);
	expect_flushed_after(&a);
}

Test(sv_errors, rnr_with_finite_retry_fails)
{
	pair_with(ALL, 1);
	cr_assert_eq(svt_post(&a, IBV_WR_SEND, 0, 8, 0, 0, 0,
			      IBV_SEND_SIGNALED, 1), 0);
	expect_send_status(&a, IBV_WC_RNR_RETRY_EXC_ERR);
	expect_flushed_after(&a);
}

Test(sv_errors, rnr_retry_7_waits_for_a_receive)
{
	struct ibv_wc wc;

	pair_with(ALL, 7);
	a.buf[0] = 0x5a;
	cr_assert_eq(svt_post(&a, IBV_WR_SEND, 0, 8, 0, 0, 0,
			      IBV_SEND_SIGNALED, 1), 0);
	/* nothing completes while no receive is posted */
	cr_assert_eq(svt_poll(a.scq, &wc, 1, 100), 0);
	cr_assert_eq(svt_post_recv(&b, 0, 8, 2), 0);
	expect_send_status(&a, IBV_WC_SUCCESS);
	cr_assert_eq(svt_poll(b.rcq, &wc, 1, 5000), 1);
	cr_assert_eq(b.buf[0], 0x5a);
}

Test(sv_errors, data_before_rtr_is_queued)
{
	struct svt_opts o;
	struct ibv_wc wc;

	svt_opts_init(&o);
	svt_open(&a, &o);
	svt_open(&b, &o); /* b stays in INIT for now */
	svt_connect(&a, b.qp->qp_num, 7);
	a.buf[0] = 0x77;
	cr_assert_eq(svt_post(&a, IBV_WR_SEND, 0, 8, 0, 0, 0,
			      IBV_SEND_SIGNALED, 1), 0);
	cr_assert_eq(svt_post_recv(&b, 0, 8, 2), 0);
	cr_assert_eq(svt_poll(b.rcq, &wc, 1, 100), 0);
	svt_connect(&b, a.qp->qp_num, 7);
	cr_assert_eq(svt_poll(b.rcq, &wc, 1, 5000), 1);
	cr_assert_eq(wc.status, IBV_WC_SUCCESS);
	cr_assert_eq(b.buf[0], 0x77);
	expect_send_status(&a, IBV_WC_SUCCESS);
}

Test(sv_errors, modify_qp_checks_attribute_masks)
{
	struct svt_opts o;
	struct ibv_qp_init_attr init = { 0 };
	struct ibv_qp_attr qa;
	struct ibv_qp *qp;

	svt_opts_init(&o);
	svt_open(&a, &o);
	init.send_cq = a.scq;
	init.recv_cq = a.rcq;
	init.qp_type = IBV_QPT_RC;
	init.cap.max_send_wr = init.cap.max_recv_wr = 4;
	init.cap.max_send_sge = init.cap.max_recv_sge = 1;
	qp = ibv_create_qp(a.pd, &init);
	cr_assert(qp);
	cr_assert_eq(svt_state(qp), IBV_QPS_RESET);
	memset(&qa, 0, sizeof(qa));
	qa.qp_state = IBV_QPS_INIT;
	qa.port_num = 1;
	/* missing PORT */
	cr_assert_eq(ibv_modify_qp(qp, &qa, IBV_QP_STATE | IBV_QP_PKEY_INDEX |
				   IBV_QP_ACCESS_FLAGS), EINVAL);
	/* RESET -> RTR skips INIT */
	qa.qp_state = IBV_QPS_RTR;
	cr_assert_eq(ibv_modify_qp(qp, &qa, IBV_QP_STATE), EINVAL);
	/* an attribute not allowed in RESET -> INIT */
	qa.qp_state = IBV_QPS_INIT;
	cr_assert_eq(ibv_modify_qp(qp, &qa, IBV_QP_STATE | IBV_QP_PKEY_INDEX |
				   IBV_QP_PORT | IBV_QP_ACCESS_FLAGS |
				   IBV_QP_SQ_PSN), EINVAL);
	cr_assert_eq(ibv_modify_qp(qp, &qa, IBV_QP_STATE | IBV_QP_PKEY_INDEX |
				   IBV_QP_PORT | IBV_QP_ACCESS_FLAGS), 0);
	cr_assert_eq(svt_state(qp), IBV_QPS_INIT);
	/* INIT -> RTR without DEST_QPN */
	qa.qp_state = IBV_QPS_RTR;
	qa.path_mtu = IBV_MTU_1024;
	cr_assert_eq(ibv_modify_qp(qp, &qa, IBV_QP_STATE | IBV_QP_AV |
				   IBV_QP_PATH_MTU | IBV_QP_RQ_PSN |
				   IBV_QP_MAX_DEST_RD_ATOMIC |
				   IBV_QP_MIN_RNR_TIMER), EINVAL);
	/* post_send before RTS */
	cr_assert_eq(svt_post(&a, IBV_WR_SEND, 0, 8, 0, 0, 0, 0, 1), EINVAL,
		     "post_send in INIT must fail");
	cr_assert_eq(ibv_destroy_qp(qp), 0);
}
