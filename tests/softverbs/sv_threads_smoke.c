// SPDX-License-Identifier: BSD-3-Clause
/* softverbs: multi-threaded smoke test without Criterion (Criterion cannot run under TSan: Snaipe/Criterion#274). */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <infiniband/verbs.h>

/*
 * One context, two connected QPs in this process; three application threads
 * as rping uses them: the main thread posts sends, a reaper thread polls the
 * send CQ, a receiver thread sleeps on the completion channel (with a bounded
 * poll()), polls, checks the sequence in every message and reposts. Exit 0 on
 * success; under TSan any report makes the process exit 66.
 */

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define ITERS 2000
#else
#define ITERS 20000
#endif
#define WINDOW 64
#define SLOT 64

struct end {
	struct ibv_pd *pd;
	struct ibv_cq *scq, *rcq;
	struct ibv_qp *qp;
	struct ibv_mr *mr;
	uint8_t *buf;
};

static struct ibv_context *ctx;
static struct ibv_comp_channel *ch;
static struct end a, b;
static _Atomic int sent, received, errors;

#define CHECK(c)                                                           \
	do {                                                               \
		if (!(c)) {                                                \
			fprintf(stderr, "%s:%d: %s failed (%s)\n", __FILE__, \
				__LINE__, #c, strerror(errno));            \
			exit(1);                                           \
		}                                                          \
	} while (0)

static void open_end(struct end *e, struct ibv_comp_channel *rch)
{
	struct ibv_qp_init_attr init = { 0 };
	struct ibv_qp_attr qa = { 0 };

	e->pd = ibv_alloc_pd(ctx);
	e->scq = ibv_create_cq(ctx, 4 * WINDOW, NULL, NULL, 0);
	e->rcq = ibv_create_cq(ctx, 4 * WINDOW, NULL, rch, 0);
	e->buf = calloc(2 * WINDOW, SLOT);
	CHECK(e->pd && e->scq && e->rcq && e->buf);
	e->mr = ibv_reg_mr(e->pd, e->buf, 2 * WINDOW * SLOT,
			   IBV_ACCESS_LOCAL_WRITE);
	CHECK(e->mr);
	init.send_cq = e->scq;
	init.recv_cq = e->rcq;
	init.qp_type = IBV_QPT_RC;
	init.cap.max_send_wr = 4 * WINDOW;
	init.cap.max_recv_wr = 4 * WINDOW;
	init.cap.max_send_sge = 1;
	init.cap.max_recv_sge = 1;
	e->qp = ibv_create_qp(e->pd, &init);
	CHECK(e->qp);
	qa.qp_state = IBV_QPS_INIT;
	qa.port_num = 1;
	CHECK(!ibv_modify_qp(e->qp, &qa, IBV_QP_STATE | IBV_QP_PKEY_INDEX |
			     IBV_QP_PORT | IBV_QP_ACCESS_FLAGS));
}

static void connect_end(struct end *e, uint32_t qpn)
{
	struct ibv_qp_attr qa = { 0 };

	qa.qp_state = IBV_QPS_RTR;
	qa.path_mtu = IBV_MTU_1024;
	qa.dest_qp_num = qpn;
	qa.max_dest_rd_atomic = 1;
	qa.min_rnr_timer = 12;
	qa.ah_attr.is_global = 1;
	qa.ah_attr.port_num = 1;
	CHECK(!ibv_modify_qp(e->qp, &qa, IBV_QP_STATE | IBV_QP_AV |
			     IBV_QP_PATH_MTU | IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
			     IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER));
	memset(&qa, 0, sizeof(qa));
	qa.qp_state = IBV_QPS_RTS;
	qa.timeout = 14;
	qa.retry_cnt = 7;
	qa.rnr_retry = 7;
	qa.max_rd_atomic = 1;
	CHECK(!ibv_modify_qp(e->qp, &qa, IBV_QP_STATE | IBV_QP_TIMEOUT |
			     IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY |
			     IBV_QP_SQ_PSN | IBV_QP_MAX_QP_RD_ATOMIC));
}

static int post_recv(uint64_t id)
{
	struct ibv_sge sge = { (uintptr_t)b.buf + (id % (2 * WINDOW)) * SLOT,
			       SLOT, b.mr->lkey };
	struct ibv_recv_wr wr = { .wr_id = id, .sg_list = &sge, .num_sge = 1 };
	struct ibv_recv_wr *bad;

	return ibv_post_recv(b.qp, &wr, &bad);
}

static void *receiver(void *arg)
{
	uint32_t expect = 0;

	(void)arg;
	while (atomic_load(&received) < ITERS) {
		struct pollfd p = { .fd = ch->fd, .events = POLLIN };
		struct ibv_wc wc[16];
		struct ibv_cq *cq;
		void *cq_ctx;
		int n, k;

		if (poll(&p, 1, 10000) != 1 || ibv_get_cq_event(ch, &cq, &cq_ctx)) {
			atomic_fetch_add(&errors, 1);
			return NULL;
		}
		ibv_ack_cq_events(cq, 1);
		ibv_req_notify_cq(cq, 0);
		while ((n = ibv_poll_cq(cq, 16, wc)) > 0) {
			for (k = 0; k < n; k++) {
				uint32_t v;

				memcpy(&v, b.buf + (wc[k].wr_id % (2 * WINDOW)) * SLOT,
				       sizeof(v));
				if (wc[k].status || v != expect++ ||
				    post_recv(wc[k].wr_id + WINDOW))
					atomic_fetch_add(&errors, 1);
				atomic_fetch_add(&received, 1);
			}
		}
	}
	return NULL;
}

static void *reaper(void *arg)
{
	(void)arg;
	while (atomic_load(&sent) < ITERS && !atomic_load(&errors)) {
		struct ibv_wc wc[16];
		int n = ibv_poll_cq(a.scq, 16, wc), k;

		for (k = 0; k < n; k++)
			if (wc[k].status)
				atomic_fetch_add(&errors, 1);
		atomic_fetch_add(&sent, n);
	}
	return NULL;
}

int main(void)
{
	struct ibv_device **list = ibv_get_device_list(NULL);
	pthread_t r, p;
	uint32_t i;

	CHECK(list && list[0]);
	ctx = ibv_open_device(list[0]);
	ibv_free_device_list(list);
	CHECK(ctx);
	ch = ibv_create_comp_channel(ctx);
	CHECK(ch);
	open_end(&a, NULL);
	open_end(&b, ch);
	connect_end(&a, b.qp->qp_num);
	connect_end(&b, a.qp->qp_num);
	for (i = 0; i < WINDOW; i++)
		CHECK(!post_recv(i));
	CHECK(!ibv_req_notify_cq(b.rcq, 0));
	CHECK(!pthread_create(&r, NULL, receiver, NULL));
	CHECK(!pthread_create(&p, NULL, reaper, NULL));
	for (i = 0; i < ITERS && !atomic_load(&errors); i++) {
		struct ibv_sge sge = { (uintptr_t)a.buf + (i % (2 * WINDOW)) * SLOT,
				       SLOT, a.mr->lkey };
		struct ibv_send_wr wr = { .wr_id = i, .sg_list = &sge,
					  .num_sge = 1, .opcode = IBV_WR_SEND,
					  .send_flags = IBV_SEND_SIGNALED };
		struct ibv_send_wr *bad;

		while ((int)i - atomic_load(&received) >= WINDOW ||
		       (int)i - atomic_load(&sent) >= 2 * WINDOW)
			if (atomic_load(&errors))
				break;
		memcpy(a.buf + (i % (2 * WINDOW)) * SLOT, &i, sizeof(i));
		CHECK(!ibv_post_send(a.qp, &wr, &bad));
	}
	pthread_join(p, NULL);
	pthread_join(r, NULL);
	if (atomic_load(&errors) || atomic_load(&received) != ITERS) {
		fprintf(stderr, "errors %d, received %d of %d\n",
			atomic_load(&errors), atomic_load(&received), ITERS);
		return 1;
	}
	CHECK(!ibv_destroy_qp(a.qp) && !ibv_destroy_qp(b.qp));
	printf("PASS: %d messages through 3 application threads\n", ITERS);
	return 0;
}
