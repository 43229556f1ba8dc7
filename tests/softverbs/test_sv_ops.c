// SPDX-License-Identifier: BSD-3-Clause
/* softverbs conformance: each RC opcode, SGE lists, inline, signaling and ordering, in-process. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "svt.h"

static struct svt_side a, b;

static void setup(void)
{
	struct svt_opts o;

	svt_opts_init(&o);
	svt_pair(&a, &b, &o);
}

static void teardown(void)
{
	svt_close(&a);
	svt_close(&b);
}

static void fill(uint8_t *p, size_t n, unsigned int seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 31 + seed);
}

TestSuite(sv_ops, .init = setup, .fini = teardown, .timeout = 30);

Test(sv_ops, send_delivers_data_and_completions)
{
	struct ibv_wc wc;

	fill(a.buf, 4096, 1);
	cr_assert_eq(svt_post_recv(&b, 0, 8192, 77), 0);
	cr_assert_eq(svt_post(&a, IBV_WR_SEND, 0, 4096, 0, 0, 0,
			      IBV_SEND_SIGNALED, 11), 0);
	svt_expect_wc(a.scq, IBV_WC_SEND, &wc);
	cr_assert_eq(wc.wr_id, 11);
	cr_assert_eq(wc.qp_num, a.qp->qp_num);
	svt_expect_wc(b.rcq, IBV_WC_RECV, &wc);
	cr_assert_eq(wc.wr_id, 77);
	cr_assert_eq(wc.byte_len, 4096);
	cr_assert_eq(wc.wc_flags & IBV_WC_WITH_IMM, 0);
	cr_assert_eq(wc.qp_num, b.qp->qp_num);
	cr_assert_eq(memcmp(a.buf, b.buf, 4096), 0);
}

Test(sv_ops, send_with_imm_passes_imm_unchanged)
{
	struct ibv_wc wc;
	uint32_t imm = htonl(0x12345678);

	fill(a.buf, 100, 2);
	cr_assert_eq(svt_post_recv(&b, 0, 100, 1), 0);
	cr_assert_eq(svt_post(&a, IBV_WR_SEND_WITH_IMM, 0, 100, 0, 0, imm,
			      IBV_SEND_SIGNALED, 2), 0);
	svt_expect_wc(b.rcq, IBV_WC_RECV, &wc);
	cr_assert(wc.wc_flags & IBV_WC_WITH_IMM);
	cr_assert_eq(wc.imm_data, imm);
	cr_assert_eq(wc.byte_len, 100);
	cr_assert_eq(memcmp(a.buf, b.buf, 100), 0);
	svt_expect_wc(a.scq, IBV_WC_SEND, &wc);
}

Test(sv_ops, rdma_write_lands_without_consuming_a_receive)
{
	struct ibv_wc wc;

	fill(a.buf, 65536, 3);
	cr_assert_eq(svt_post_recv(&b, 0, 16, 5), 0);
	cr_assert_eq(svt_post(&a, IBV_WR_RDMA_WRITE, 0, 65536,
			      (uintptr_t)b.buf + 4096, b.mr->rkey, 0,
			      IBV_SEND_SIGNALED, 3), 0);
	svt_expect_wc(a.scq, IBV_WC_RDMA_WRITE, &wc);
	cr_assert_eq(memcmp(a.buf, b.buf + 4096, 65536), 0);
	cr_assert_eq(ibv_poll_cq(b.rcq, 1, &wc), 0, "write consumed a receive");
}

Test(sv_ops, write_with_imm_consumes_zero_sge_receive)
{
	struct ibv_wc wc;
	uint32_t imm = htonl(65536);

	fill(a.buf, 65536, 4);
	cr_assert_eq(svt_post_recv(&b, 0, 0, 9), 0); /* zero SGEs */
	cr_assert_eq(svt_post(&a, IBV_WR_RDMA_WRITE_WITH_IMM, 0, 65536,
			      (uintptr_t)b.buf + 8192, b.mr->rkey, imm,
			      IBV_SEND_SIGNALED, 4), 0);
	svt_expect_wc(b.rcq, IBV_WC_RECV_RDMA_WITH_IMM, &wc);
	cr_assert(wc.wc_flags & IBV_WC_WITH_IMM);
	cr_assert_eq(wc.imm_data, imm, "imm must not be swapped");
	cr_assert_eq(wc.byte_len, 65536);
	cr_assert_eq(wc.wr_id, 9);
	cr_assert_eq(memcmp(a.buf, b.buf + 8192, 65536), 0);
	svt_expect_wc(a.scq, IBV_WC_RDMA_WRITE, &wc);
}

Test(sv_ops, rdma_read_fetches_remote_memory)
{
	struct ibv_wc wc;

	fill(b.buf + 100000, 300000, 5);
	cr_assert_eq(svt_post(&a, IBV_WR_RDMA_READ, 0, 300000,
			      (uintptr_t)b.buf + 100000, b.mr->rkey, 0,
			      IBV_SEND_SIGNALED, 6), 0);
	svt_expect_wc(a.scq, IBV_WC_RDMA_READ, &wc);
	cr_assert_eq(wc.byte_len, 300000);
	cr_assert_eq(memcmp(a.buf, b.buf + 100000, 300000), 0);
}

Test(sv_ops, sge_lists_gather_and_scatter)
{
	struct ibv_sge s[3], r[2];
	struct ibv_send_wr wr = { 0 }, *bad;
	struct ibv_recv_wr rw = { 0 }, *rbad;
	struct ibv_wc wc;
	uint8_t expect[3000];

	fill(a.buf, 10000, 6);
	s[0] = (struct ibv_sge){ (uintptr_t)a.buf + 0, 1000, a.mr->lkey };
	s[1] = (struct ibv_sge){ (uintptr_t)a.buf + 5000, 1500, a.mr->lkey };
	s[2] = (struct ibv_sge){ (uintptr_t)a.buf + 9000, 500, a.mr->lkey };
	memcpy(expect, a.buf, 1000);
	memcpy(expect + 1000, a.buf + 5000, 1500);
	memcpy(expect + 2500, a.buf + 9000, 500);
	r[0] = (struct ibv_sge){ (uintptr_t)b.buf + 0, 1200, b.mr->lkey };
	r[1] = (struct ibv_sge){ (uintptr_t)b.buf + 20000, 4000, b.mr->lkey };
	rw.wr_id = 1;
	rw.sg_list = r;
	rw.num_sge = 2;
	cr_assert_eq(ibv_post_recv(b.qp, &rw, &rbad), 0);
	wr.opcode = IBV_WR_SEND;
	wr.sg_list = s;
	wr.num_sge = 3;
	wr.send_flags = IBV_SEND_SIGNALED;
	cr_assert_eq(ibv_post_send(a.qp, &wr, &bad), 0);
	cr_assert_eq(svt_poll(b.rcq, &wc, 1, 5000), 1);
	cr_assert_eq(wc.status, IBV_WC_SUCCESS);
	cr_assert_eq(wc.byte_len, 3000);
	cr_assert_eq(memcmp(b.buf, expect, 1200), 0);
	cr_assert_eq(memcmp(b.buf + 20000, expect + 1200, 1800), 0);
}

Test(sv_ops, inline_data_is_copied_at_post_time)
{
	struct ibv_sge s;
	struct ibv_send_wr wr = { 0 }, *bad;
	struct ibv_wc wc;
	struct ibv_qp_attr qa;
	struct ibv_qp_init_attr qi;
	char msg[64] = "inline payload";

	cr_assert_eq(ibv_query_qp(a.qp, &qa, IBV_QP_CAP, &qi), 0);
	cr_assert_geq(qa.cap.max_inline_data, 64);
	cr_assert_eq(svt_post_recv(&b, 0, 64, 1), 0);
	s = (struct ibv_sge){ (uintptr_t)msg, sizeof(msg), 0xdeadbeef };
	wr.opcode = IBV_WR_SEND;
	wr.sg_list = &s;
	wr.num_sge = 1;
	wr.send_flags = IBV_SEND_SIGNALED | IBV_SEND_INLINE;
	cr_assert_eq(ibv_post_send(a.qp, &wr, &bad), 0);
	memset(msg, 'x', sizeof(msg)); /* must not matter any more */
	cr_assert_eq(svt_poll(b.rcq, &wc, 1, 5000), 1);
	cr_assert_eq(wc.status, IBV_WC_SUCCESS);
	cr_assert_str_eq((char *)b.buf, "inline payload");
	cr_assert_eq(svt_poll(a.scq, &wc, 1, 5000), 1);
	cr_assert_eq(wc.status, IBV_WC_SUCCESS);
}

Test(sv_ops, unsignaled_sends_complete_silently)
{
	struct ibv_wc wc[16];
	int i;

	for (i = 0; i < 10; i++)
		cr_assert_eq(svt_post_recv(&b, (size_t)i * 64, 64, (uint64_t)i), 0);
	for (i = 0; i < 9; i++)
		cr_assert_eq(svt_post(&a, IBV_WR_SEND, 0, 64, 0, 0, 0, 0,
				      (uint64_t)i), 0);
	cr_assert_eq(svt_post(&a, IBV_WR_SEND, 0, 64, 0, 0, 0,
			      IBV_SEND_SIGNALED, 9), 0);
	cr_assert_eq(svt_poll(b.rcq, wc, 10, 5000), 10);
	cr_assert_eq(svt_poll(a.scq, wc, 1, 5000), 1);
	cr_assert_eq(wc[0].wr_id, 9);
	cr_assert_eq(ibv_poll_cq(a.scq, 16, wc), 0);
}

Test(sv_ops, sq_sig_all_signals_everything)
{
	struct svt_side c, d;
	struct svt_opts o;
	struct ibv_wc wc[8];
	int i;

	svt_opts_init(&o);
	o.sq_sig_all = 1;
	svt_pair(&c, &d, &o);
	for (i = 0; i < 5; i++)
		cr_assert_eq(svt_post(&c, IBV_WR_RDMA_WRITE, 0, 8,
				      (uintptr_t)d.buf, d.mr->rkey, 0, 0,
				      (uint64_t)i), 0);
	cr_assert_eq(svt_poll(c.scq, wc, 5, 5000), 5);
	for (i = 0; i < 5; i++)
		cr_assert_eq(wc[i].wr_id, (uint64_t)i);
	svt_close(&c);
	svt_close(&d);
}

Test(sv_ops, delivery_is_in_order)
{
	int n = 2000 / SVT_SCALE, i, got = 0;
	struct ibv_wc wc[32];
	uint32_t next = 0;

	for (i = 0; i < n; i++) {
		struct ibv_wc w;

		while (svt_post_recv(&b, (size_t)(i % 256) * 8, 8,
				     (uint64_t)i) == ENOMEM)
			cr_assert_eq(svt_poll(b.rcq, &w, 0, 0), 0);
		memcpy(a.buf + (size_t)(i % 256) * 8, &i, 4);
		cr_assert_eq(svt_post(&a, IBV_WR_SEND, (size_t)(i % 256) * 8, 4,
				      0, 0, 0, IBV_SEND_SIGNALED, (uint64_t)i),
			     0);
		while (i - got >= 100) {
			int r = ibv_poll_cq(b.rcq, 32, wc), k;

			for (k = 0; k < r; k++, got++) {
				uint32_t v;

				cr_assert_eq(wc[k].status, IBV_WC_SUCCESS);
				cr_assert_eq(wc[k].wr_id, next);
				memcpy(&v, b.buf + (wc[k].wr_id % 256) * 8, 4);
				cr_assert_eq(v, next);
				next++;
			}
			while (ibv_poll_cq(a.scq, 32, wc) > 0)
				;
		}
	}
	while (got < n) {
		int r = svt_poll(b.rcq, wc, 1, 5000);

		cr_assert_eq(r, 1);
		cr_assert_eq(wc[0].wr_id, next);
		next++;
		got++;
	}
}

Test(sv_ops, forked_child_gets_a_working_nic_of_its_own)
{
	struct ibv_wc wc;
	int pid, st;

#if defined(__SANITIZE_THREAD__)
	/*
	 * TSan cannot start threads in a child forked from a multi-threaded
	 * process (die_after_fork) and this child starts its NIC thread:
	 * this test runs in the other builds only.
	 */
	cr_log_warn("not run under ThreadSanitizer (threads after fork)");
	return;
#endif
	pid = fork();
	cr_assert_geq(pid, 0);
	if (!pid) {
		struct svt_side c, d;
		struct svt_opts o;
		struct ibv_wc w;

		svt_opts_init(&o);
		svt_pair(&c, &d, &o);
		c.buf[0] = 0x42;
		if (svt_post(&c, IBV_WR_RDMA_WRITE, 0, 4096, (uintptr_t)d.buf,
			     d.mr->rkey, 0, IBV_SEND_SIGNALED, 1))
			_exit(2);
		if (svt_poll(c.scq, &w, 1, 5000) != 1 || w.status)
			_exit(3);
		_exit(d.buf[0] == 0x42 ? 0 : 4);
	}
	/* the parent's pair keeps working meanwhile and afterwards */
	fill(a.buf, 4096, 9);
	cr_assert_eq(svt_post(&a, IBV_WR_RDMA_WRITE, 0, 4096, (uintptr_t)b.buf,
			      b.mr->rkey, 0, IBV_SEND_SIGNALED, 1), 0);
	cr_assert_eq(svt_poll(a.scq, &wc, 1, 5000), 1);
	cr_assert_eq(wc.status, IBV_WC_SUCCESS);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d", st);
	cr_assert_eq(memcmp(a.buf, b.buf, 4096), 0);
}
