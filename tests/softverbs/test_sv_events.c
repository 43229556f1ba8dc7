// SPDX-License-Identifier: BSD-3-Clause
/* softverbs conformance: completion channels, arming, solicited events, async events, CQ overflow. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "softverbs.h"
#include "svt.h"

static struct svt_side a, b;

static void setup(void)
{
	struct svt_opts o;

	svt_opts_init(&o);
	o.channel = true;
	svt_pair(&a, &b, &o);
}

static void teardown(void)
{
	svt_close_pair(&a, &b);
}

TestSuite(sv_events, .fini = teardown, .timeout = 30);

/* Arm b's receive CQ (@solicited_only as ibv_req_notify_cq()), post two
 * receives and send one unsolicited message from a. */
static void arm_then_send(int solicited_only)
{
	cr_assert_eq(ibv_req_notify_cq(b.rcq, solicited_only), 0);
	cr_assert_eq(svt_post_recv(&b, 0, 64, 1), 0);
	cr_assert_eq(svt_post_recv(&b, 64, 64, 2), 0);
	cr_assert_eq(svt_post(&a, IBV_WR_SEND, 0, 8, 0, 0, 0, 0, 1), 0);
}

/* The next event on @s's channel is for @cq, @s its context; ack it. */
static void expect_cq_event(struct svt_side *s, struct ibv_cq *cq)
{
	struct ibv_cq *got;
	void *cq_ctx;

	cr_assert_eq(ibv_get_cq_event(s->ch, &got, &cq_ctx), 0);
	cr_assert_eq(got, cq);
	cr_assert_eq(cq_ctx, s);
	ibv_ack_cq_events(got, 1);
}

Test(sv_events, channel_delivers_one_event_per_arming, .init = setup)
{
	struct ibv_wc wc;

	arm_then_send(0);
	cr_assert(svt_readable(b.ch->fd, 5000), "channel fd not readable");
	expect_cq_event(&b, b.rcq);
	cr_assert_eq(svt_poll(b.rcq, &wc, 1, 5000), 1);
	/* not re-armed: the second completion raises no event */
	cr_assert_eq(svt_post(&a, IBV_WR_SEND, 0, 8, 0, 0, 0, 0, 2), 0);
	cr_assert_eq(svt_poll(b.rcq, &wc, 1, 5000), 1);
	cr_assert(!svt_readable(b.ch->fd, 0), "event without arming");
}

Test(sv_events, solicited_only_ignores_unsolicited, .init = setup)
{
	struct ibv_wc wc;

	arm_then_send(1);
	cr_assert_eq(svt_poll(b.rcq, &wc, 1, 5000), 1);
	cr_assert(!svt_readable(b.ch->fd, 0), "event for an unsolicited send");
	cr_assert_eq(svt_post(&a, IBV_WR_SEND, 0, 8, 0, 0, 0,
			      IBV_SEND_SOLICITED, 2), 0);
	cr_assert(svt_readable(b.ch->fd, 5000));
	expect_cq_event(&b, b.rcq);
}

Test(sv_events, nonblocking_channel_returns_eagain, .init = setup)
{
	struct ibv_cq *cq;
	void *cq_ctx;
	int fl = fcntl(b.ch->fd, F_GETFL);

	cr_assert_eq(fcntl(b.ch->fd, F_SETFL, fl | O_NONBLOCK), 0);
	errno = 0;
	cr_assert_eq(ibv_get_cq_event(b.ch, &cq, &cq_ctx), -1);
	cr_assert_eq(errno, EAGAIN);
}

Test(sv_events, send_cq_event_on_completion, .init = setup)
{
	cr_assert_eq(ibv_req_notify_cq(a.scq, 0), 0);
	cr_assert_eq(svt_post(&a, IBV_WR_RDMA_WRITE, 0, 8, (uintptr_t)b.buf,
			      b.mr->rkey, 0, IBV_SEND_SIGNALED, 1), 0);
	expect_cq_event(&a, a.scq); /* blocking */
}

Test(sv_events, cq_overflow_raises_cq_err_async_event)
{
	struct svt_opts o;
	struct ibv_async_event ev;
	int i;

	svt_opts_init(&o);
	o.cqe = 4;
	svt_pair(&a, &b, &o);
	for (i = 0; i < 8; i++)
		cr_assert_eq(svt_post(&a, IBV_WR_RDMA_WRITE, 0, 8,
				      (uintptr_t)b.buf, b.mr->rkey, 0,
				      IBV_SEND_SIGNALED, (uint64_t)i), 0);
	cr_assert(svt_readable(a.ctx->async_fd, 5000), "no async event");
	cr_assert_eq(ibv_get_async_event(a.ctx, &ev), 0);
	cr_assert_eq(ev.event_type, IBV_EVENT_CQ_ERR);
	cr_assert_eq(ev.element.cq, a.scq);
	ibv_ack_async_event(&ev);
}

Test(sv_events, cq_can_be_destroyed_before_its_qp, .init = setup)
{
	cr_assert_eq(ibv_destroy_cq(b.rcq), 0);
	cr_assert_eq(ibv_destroy_cq(b.scq), 0);
	cr_assert_eq(ibv_destroy_qp(b.qp), 0);
	cr_assert_eq(ibv_dereg_mr(b.mr), 0);
	cr_assert_eq(ibv_destroy_comp_channel(b.ch), 0);
	cr_assert_eq(ibv_dealloc_pd(b.pd), 0);
	cr_assert_eq(ibv_close_device(b.ctx), 0);
	free(b.buf);
	memset(&b, 0, sizeof(b));
}

Test(sv_events, srq_receives_and_limit_event)
{
	struct svt_opts o;
	struct ibv_srq_init_attr si = { 0 };
	struct ibv_qp_init_attr init = { 0 };
	struct ibv_srq_attr sa = { 0 };
	struct ibv_async_event ev;
	struct ibv_recv_wr rw = { 0 }, *bad;
	struct ibv_sge sge;
	struct ibv_wc wc;
	struct ibv_srq *srq;
	struct ibv_qp *qp;
	struct ibv_qp_attr qa = { 0 };
	int i;

	svt_opts_init(&o);
	svt_open(&a, &o);
	svt_open(&b, &o);
	si.attr.max_wr = 16;
	si.attr.max_sge = 1;
	srq = ibv_create_srq(b.pd, &si);
	cr_assert(srq);
	init.send_cq = b.scq;
	init.recv_cq = b.rcq;
	init.srq = srq;
	init.qp_type = IBV_QPT_RC;
	init.cap.max_send_wr = 4;
	init.cap.max_send_sge = 1;
	qp = ibv_create_qp(b.pd, &init);
	cr_assert(qp);
	qa.qp_state = IBV_QPS_INIT;
	qa.port_num = 1;
	cr_assert_eq(ibv_modify_qp(qp, &qa, IBV_QP_STATE | IBV_QP_PKEY_INDEX |
				   IBV_QP_PORT | IBV_QP_ACCESS_FLAGS), 0);
	cr_assert_eq(ibv_destroy_qp(b.qp), 0);
	b.qp = qp;
	svt_connect(&a, qp->qp_num, 7);
	svt_connect(&b, a.qp->qp_num, 7);
	for (i = 0; i < 4; i++) {
		sge = (struct ibv_sge){ (uintptr_t)b.buf + (size_t)i * 64, 64,
					b.mr->lkey };
		rw.wr_id = (uint64_t)i;
		rw.sg_list = &sge;
		rw.num_sge = 1;
		cr_assert_eq(ibv_post_srq_recv(srq, &rw, &bad), 0);
	}
	sa.srq_limit = 3;
	cr_assert_eq(ibv_modify_srq(srq, &sa, IBV_SRQ_LIMIT), 0);
	a.buf[0] = 9;
	cr_assert_eq(svt_post(&a, IBV_WR_SEND, 0, 64, 0, 0, 0, 0, 1), 0);
	cr_assert_eq(svt_poll(b.rcq, &wc, 1, 5000), 1);
	cr_assert_eq(wc.status, IBV_WC_SUCCESS);
	cr_assert_eq(wc.wr_id, 0);
	cr_assert_eq(wc.qp_num, qp->qp_num);
	cr_assert_eq(b.buf[0], 9);
	cr_assert_eq(svt_post(&a, IBV_WR_SEND, 0, 64, 0, 0, 0, 0, 2), 0);
	cr_assert(svt_readable(b.ctx->async_fd, 5000));
	cr_assert_eq(ibv_get_async_event(b.ctx, &ev), 0);
	cr_assert_eq(ev.event_type, IBV_EVENT_SRQ_LIMIT_REACHED);
	cr_assert_eq(ev.element.srq, srq);
	ibv_ack_async_event(&ev);
	cr_assert_eq(svt_poll(b.rcq, &wc, 1, 5000), 1);
	cr_assert_eq(ibv_destroy_qp(qp), 0);
	b.qp = NULL;
	cr_assert_eq(ibv_destroy_srq(srq), 0);
}

/* rdma-core's rule for async events naming an object: destroying it drops
 * those nobody fetched, and waits for the ack of those fetched. */
Test(sv_events, destroying_a_qp_drops_its_unfetched_events, .init = setup)
{
	struct ibv_async_event ev = { .event_type = IBV_EVENT_QP_FATAL };

	ev.element.qp = a.qp;
	cr_assert_eq(softverbs_raise_async_event(a.ctx, &ev), 0);
	ev = (struct ibv_async_event){ .event_type = IBV_EVENT_PORT_ACTIVE };
	ev.element.port_num = 1;
	cr_assert_eq(softverbs_raise_async_event(a.ctx, &ev), 0);
	cr_assert_eq(ibv_destroy_qp(a.qp), 0);
	a.qp = NULL;
	cr_assert_eq(ibv_get_async_event(a.ctx, &ev), 0);
	cr_assert_eq(ev.event_type, IBV_EVENT_PORT_ACTIVE);
	ibv_ack_async_event(&ev);
	cr_assert_eq(fcntl(a.ctx->async_fd, F_SETFL, O_NONBLOCK), 0);
	cr_assert_eq(ibv_get_async_event(a.ctx, &ev), -1, "a dropped event "
		     "of the destroyed QP was handed out");
}

struct destroyer {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct ibv_qp *qp;
	bool acked, returned, acked_before_return;
	int ret;
};

static void *destroy_qp(void *arg)
{
	struct destroyer *d = arg;
	int ret = ibv_destroy_qp(d->qp);

	pthread_mutex_lock(&d->lock);
	d->ret = ret;
	d->acked_before_return = d->acked;
	d->returned = true;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

Test(sv_events, destroying_a_qp_waits_for_its_fetched_event_ack,
     .init = setup)
{
	struct ibv_async_event ev = { .event_type = IBV_EVENT_QP_FATAL };
	struct destroyer d = { .lock = PTHREAD_MUTEX_INITIALIZER,
			       .cond = PTHREAD_COND_INITIALIZER };
	struct timespec until;
	pthread_t t;

	ev.element.qp = a.qp;
	cr_assert_eq(softverbs_raise_async_event(a.ctx, &ev), 0);
	cr_assert_eq(ibv_get_async_event(a.ctx, &ev), 0);
	cr_assert_eq(ev.element.qp, a.qp);
	d.qp = a.qp;
	a.qp = NULL;
	cr_assert_eq(pthread_create(&t, NULL, destroy_qp, &d), 0);
	/* The destroy cannot return before the ack; give it 200 ms to show
	 * that it does not (a broken build returns at once). */
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += 200000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&d.lock);
	while (!d.returned &&
	       pthread_cond_timedwait(&d.cond, &d.lock, &until) == 0)
		;
	cr_assert_not(d.returned, "ibv_destroy_qp returned before the ack");
	cr_assert_eq(ev.element.qp->qp_num, d.qp->qp_num);
	d.acked = true;
	pthread_mutex_unlock(&d.lock);
	ibv_ack_async_event(&ev);
	cr_assert_eq(pthread_join(t, NULL), 0);
	cr_assert_eq(d.ret, 0);
	cr_assert(d.acked_before_return);
}
