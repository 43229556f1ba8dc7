// SPDX-License-Identifier: BSD-3-Clause
/* softverbs: RC queue pairs: creation, the state machine with attribute masks, posting, flushing. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sv_priv.h"

/* ---- attribute masks per transition (RC), as the kernel checks them ---- */

struct sv_trans {
	enum ibv_qp_state from, to;
	unsigned int req, opt;
};

#define SV_ANY_STATE ((enum ibv_qp_state)-1)

static const struct sv_trans trans[] = {
	{ IBV_QPS_RESET, IBV_QPS_INIT,
	  IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS, 0 },
	{ IBV_QPS_INIT, IBV_QPS_INIT, IBV_QP_STATE,
	  IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS },
	{ IBV_QPS_INIT, IBV_QPS_RTR,
	  IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
		  IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC |
		  IBV_QP_MIN_RNR_TIMER,
	  IBV_QP_ALT_PATH | IBV_QP_ACCESS_FLAGS | IBV_QP_PKEY_INDEX |
		  IBV_QP_RATE_LIMIT },
	{ IBV_QPS_RTR, IBV_QPS_RTS,
	  IBV_QP_STATE | IBV_QP_SQ_PSN | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
		  IBV_QP_RNR_RETRY | IBV_QP_MAX_QP_RD_ATOMIC,
	  IBV_QP_CUR_STATE | IBV_QP_ALT_PATH | IBV_QP_ACCESS_FLAGS |
		  IBV_QP_MIN_RNR_TIMER | IBV_QP_PATH_MIG_STATE |
		  IBV_QP_RATE_LIMIT },
	{ IBV_QPS_RTS, IBV_QPS_RTS, IBV_QP_STATE,
	  IBV_QP_CUR_STATE | IBV_QP_ACCESS_FLAGS | IBV_QP_ALT_PATH |
		  IBV_QP_PATH_MIG_STATE | IBV_QP_MIN_RNR_TIMER |
		  IBV_QP_RATE_LIMIT },
	{ SV_ANY_STATE, IBV_QPS_RESET, IBV_QP_STATE, 0 },
	{ SV_ANY_STATE, IBV_QPS_ERR, IBV_QP_STATE, 0 },
};

static int check_mask(enum ibv_qp_state cur, enum ibv_qp_state next,
		      unsigned int mask)
{
	size_t i;

	for (i = 0; i < sizeof(trans) / sizeof(trans[0]); i++) {
		const struct sv_trans *t = &trans[i];

		if ((t->from != cur && t->from != SV_ANY_STATE) || t->to != next)
			continue;
		if ((mask & t->req) != t->req)
			return EINVAL;
		if (mask & ~(t->req | t->opt))
			return EINVAL;
		return 0;
	}
	return EINVAL;
}

/* ---- lookup, completion, flush ---- */

struct sv_qp *sv_qp_lookup(uint32_t qpn)
{
	struct sv_qp *qp;

	for (qp = sv.qps; qp; qp = qp->next)
		if (qp->ibv.qp_num == qpn)
			return qp;
	return NULL;
}

uint32_t sv_sq_head(struct sv_qp *qp)
{
	/* pairs with the release in sv_post_send() */
	return atomic_load_explicit(&qp->sq_head, memory_order_acquire);
}

static enum ibv_wc_opcode wc_opcode(enum ibv_wr_opcode op)
{
	switch (op) {
	case IBV_WR_RDMA_WRITE:
	case IBV_WR_RDMA_WRITE_WITH_IMM:
		return IBV_WC_RDMA_WRITE;
	case IBV_WR_RDMA_READ:
		return IBV_WC_RDMA_READ;
	default:
		return IBV_WC_SEND;
	}
}

/* Complete the oldest send WQE with @status (NIC thread or sv.lock held). */
void sv_sq_complete(struct sv_qp *qp, int status)
{
	struct sv_swqe *w = &qp->sq[qp->sq_done % qp->sq_cap];
	bool signal = status || qp->sq_sig_all ||
		      (w->send_flags & IBV_SEND_SIGNALED);
	struct ibv_wc wc;

	if (signal) {
		memset(&wc, 0, sizeof(wc));
		wc.wr_id = w->wr_id;
		wc.status = (enum ibv_wc_status)status;
		wc.opcode = wc_opcode(w->opcode);
		wc.byte_len = w->len;
		wc.qp_num = qp->ibv.qp_num;
		wc.src_qp = qp->dest_qpn;
	}
	if (w->rnr_deadline) {
		w->rnr_deadline = 0;
		atomic_fetch_sub(&sv.rnr_waiters, 1);
	}
	/* free the slot before the completion is visible, as hardware does */
	pthread_mutex_lock(&qp->lock);
	qp->sq_done++;
	if ((int32_t)(qp->sq_tx - qp->sq_done) < 0)
		qp->sq_tx = qp->sq_done;
	pthread_mutex_unlock(&qp->lock);
	if (signal)
		sv_cq_push(qp->scq, &wc, false);
}

/* Flush every outstanding send and (non-SRQ) receive WQE (sv.lock held). */
void sv_qp_flush(struct sv_qp *qp)
{
	struct sv_rwqe r;
	struct ibv_sge sges[SV_MAX_SGE];
	uint32_t head;

	head = sv_sq_head(qp);
	while (qp->sq_done != head)
		sv_sq_complete(qp, IBV_WC_WR_FLUSH_ERR);
	if (qp->srq)
		return;
	while (sv_rq_take(&qp->rq, &r, sges)) {
		struct ibv_wc wc = {
			.wr_id = r.wr_id,
			.status = IBV_WC_WR_FLUSH_ERR,
			.opcode = IBV_WC_RECV,
			.qp_num = qp->ibv.qp_num,
		};

		sv_cq_push(qp->rcq, &wc, false);
	}
}

static void set_state(struct sv_qp *qp, enum ibv_qp_state s)
{
	pthread_mutex_lock(&qp->lock);
	qp->state = s;
	qp->ibv.state = s;
	pthread_mutex_unlock(&qp->lock);
}

void sv_qp_set_err(struct sv_qp *qp)
{
	if (qp->state != IBV_QPS_ERR)
		set_state(qp, IBV_QPS_ERR);
	sv_qp_flush(qp);
	sv_kick();
}

/*
 * The connection is gone (peer destroyed, died, dropped). As on hardware the
 * QP learns it when it next needs the peer: the oldest outstanding send
 * completes with IBV_WC_RETRY_EXC_ERR and the QP goes to ERR (flushing the
 * rest, receives included). See sv_qp_check_gone().
 */
void sv_qp_fatal(struct sv_qp *qp, bool peer_gone)
{
	if (peer_gone)
		atomic_store(&qp->peer_gone, true);
	sv_qp_check_gone(qp);
	sv_kick();
}

void sv_qp_check_gone(struct sv_qp *qp)
{
	uint32_t head;

	if (!atomic_load(&qp->peer_gone) || qp->state != IBV_QPS_RTS)
		return;
	head = sv_sq_head(qp);
	if (qp->sq_done == head)
		return;
	sv_sq_complete(qp, IBV_WC_RETRY_EXC_ERR);
	sv_qp_set_err(qp);
}

/* Fault injection: drop the connection, both ends go to ERR. */
void sv_qp_drop(struct sv_qp *qp)
{
	struct sv_qp *peer = qp->peer;

	sv_log(SV_LOG_INFO, "dropping connection of QP %u", qp->ibv.qp_num);
	if (peer) {
		if (peer->peer == qp)
			peer->peer = NULL;
		qp->peer = NULL;
		sv_qp_fatal(peer, true);
	}
	sv_wire_close_qp(qp, true);
	sv_qp_fatal(qp, true);
}

bool sv_qp_peer_gone(struct ibv_qp *ibqp)
{
	struct sv_qp *qp = SV_container_of(ibqp, struct sv_qp, ibv);

	return atomic_load(&qp->peer_gone);
}

/* ---- create / destroy ---- */

static int check_caps(struct ibv_qp_init_attr *init)
{
	struct ibv_qp_cap *c = &init->cap;

	if (init->qp_type != IBV_QPT_RC)
		return EOPNOTSUPP;
	if (!init->send_cq || !init->recv_cq)
		return EINVAL;
	if (c->max_send_wr > SV_MAX_QP_WR || c->max_send_sge > SV_MAX_SGE ||
	    c->max_inline_data > SV_MAX_INLINE)
		return EINVAL;
	if (!init->srq && (c->max_recv_wr > SV_MAX_QP_WR ||
			   c->max_recv_sge > SV_MAX_SGE))
		return EINVAL;
	return 0;
}

static int alloc_sq(struct sv_qp *qp)
{
	uint32_t i, nsge = qp->cap.max_send_sge ? qp->cap.max_send_sge : 1;

	qp->sq_cap = qp->cap.max_send_wr ? qp->cap.max_send_wr : 1;
	qp->sq = calloc(qp->sq_cap, sizeof(*qp->sq));
	qp->sq_sges = calloc((size_t)qp->sq_cap * nsge, sizeof(*qp->sq_sges));
	qp->sq_inl = malloc((size_t)qp->sq_cap * SV_MAX_INLINE);
	if (!qp->sq || !qp->sq_sges || !qp->sq_inl)
		return -ENOMEM;
	for (i = 0; i < qp->sq_cap; i++) {
		qp->sq[i].sge = &qp->sq_sges[(size_t)i * nsge];
		qp->sq[i].inl = &qp->sq_inl[(size_t)i * SV_MAX_INLINE];
	}
	return 0;
}

static void free_qp_mem(struct sv_qp *qp)
{
	sv_rq_fini(&qp->rq);
	free(qp->sq);
	free(qp->sq_sges);
	free(qp->sq_inl);
	pthread_mutex_destroy(&qp->lock);
	free(qp);
}

static void init_ibv(struct sv_qp *qp, struct ibv_pd *pd,
		     struct ibv_qp_init_attr *init)
{
	qp->ibv.context = pd->context;
	qp->ibv.qp_context = init->qp_context;
	qp->ibv.pd = pd;
	qp->ibv.send_cq = init->send_cq;
	qp->ibv.recv_cq = init->recv_cq;
	qp->ibv.srq = init->srq;
	qp->ibv.state = IBV_QPS_RESET;
	qp->ibv.qp_type = IBV_QPT_RC;
	pthread_mutex_init(&qp->ibv.mutex, NULL);
	pthread_cond_init(&qp->ibv.cond, NULL);
	qp->ctx = sv_ctx(pd->context);
	qp->scq = SV_container_of(init->send_cq, struct sv_cq, ibv);
	qp->rcq = SV_container_of(init->recv_cq, struct sv_cq, ibv);
	qp->srq = init->srq ? SV_container_of(init->srq, struct sv_srq, ibv) :
			      NULL;
	qp->sq_sig_all = init->sq_sig_all;
	qp->state = IBV_QPS_RESET;
}

struct ibv_qp *ibv_create_qp(struct ibv_pd *pd, struct ibv_qp_init_attr *init)
{
	struct sv_qp *qp;
	int ret = check_caps(init);

	if (ret)
		goto err;
	ret = -sv_nic_ensure();
	if (ret)
		goto err;
	ret = ENOMEM;
	qp = calloc(1, sizeof(*qp));
	if (!qp)
		goto err;
	pthread_mutex_init(&qp->lock, NULL);
	init->cap.max_inline_data = SV_MAX_INLINE;
	if (init->srq)
		init->cap.max_recv_wr = init->cap.max_recv_sge = 0;
	qp->cap = init->cap;
	init_ibv(qp, pd, init);
	if (alloc_sq(qp) || (!init->srq && sv_rq_init(&qp->rq,
			init->cap.max_recv_wr ? init->cap.max_recv_wr : 1,
			init->cap.max_recv_sge ? init->cap.max_recv_sge : 1)))
		goto err_free;
	sv_lock();
	ret = -sv_wire_listen(qp);
	if (ret) {
		pthread_mutex_unlock(&sv.lock);
		goto err_free;
	}
	qp->scq->refs++;
	qp->rcq->refs++;
	qp->next = sv.qps;
	sv.qps = qp;
	qp->scq_next = qp->scq->sq_qps;
	qp->scq->sq_qps = qp;
	pthread_mutex_unlock(&sv.lock);
	sv_strict_touch(&qp->owner, "QP", qp);
	sv_log(SV_LOG_DEBUG, "created QP %u", qp->ibv.qp_num);
	return &qp->ibv;

err_free:
	free_qp_mem(qp);
err:
	errno = ret;
	return NULL;
}

static void unlink_qp(struct sv_qp *qp)
{
	struct sv_qp **p, *o;

	for (p = &sv.qps; *p; p = &(*p)->next) {
		if (*p == qp) {
			*p = qp->next;
			break;
		}
	}
	for (p = &qp->scq->sq_qps; *p; p = &(*p)->scq_next) {
		if (*p == qp) {
			*p = qp->scq_next;
			break;
		}
	}
	for (o = sv.qps; o; o = o->next) {
		if (o->peer == qp) {
			o->peer = NULL;
			sv_qp_fatal(o, true);
		}
	}
}

int ibv_destroy_qp(struct ibv_qp *ibqp)
{
	struct sv_qp *qp = SV_container_of(ibqp, struct sv_qp, ibv);
	struct sv_swqe *w;

	sv_strict_touch(&qp->owner, "QP", qp);
	sv_log(SV_LOG_DEBUG, "destroying QP %u", qp->ibv.qp_num);
	sv_lock();
	unlink_qp(qp);
	sv_nic_unready(qp);
	sv_wire_close_qp(qp, true);
	sv_wire_unlisten(qp);
	for (; qp->sq_done != qp->sq_head; qp->sq_done++) {
		w = &qp->sq[qp->sq_done % qp->sq_cap];
		if (w->rnr_deadline)
			atomic_fetch_sub(&sv.rnr_waiters, 1);
	}
	sv_cq_put(qp->scq);
	sv_cq_put(qp->rcq);
	pthread_mutex_unlock(&sv.lock);
	sv_async_quiesce(qp->ctx, &(struct ibv_async_event){
		.element.qp = ibqp, .event_type = IBV_EVENT_QP_FATAL });
	pthread_mutex_destroy(&ibqp->mutex);
	pthread_cond_destroy(&ibqp->cond);
	free_qp_mem(qp);
	return 0;
}

/* ---- modify / query ---- */

static void to_rtr(struct sv_qp *qp)
{
	qp->dest_qpn = qp->attr.dest_qp_num & SV_QPN_MAX;
	qp->connected = true;
	qp->peer = sv_qp_lookup(qp->dest_qpn);
	if (!qp->peer)
		sv_wire_connect(qp);
}

static void to_reset(struct sv_qp *qp)
{
	struct sv_rwqe r;
	struct ibv_sge sges[SV_MAX_SGE];

	sv_wire_close_qp(qp, true);
	qp->peer = NULL;
	qp->connected = false;
	atomic_store(&qp->peer_gone, false);
	while (qp->sq_done != qp->sq_head) {
		struct sv_swqe *w = &qp->sq[qp->sq_done % qp->sq_cap];

		if (w->rnr_deadline) {
			w->rnr_deadline = 0;
			atomic_fetch_sub(&sv.rnr_waiters, 1);
		}
		qp->sq_done++;
	}
	qp->sq_tx = qp->sq_done;
	if (!qp->srq)
		while (sv_rq_take(&qp->rq, &r, sges))
			;
}

static void store_attr(struct sv_qp *qp, const struct ibv_qp_attr *a,
		       unsigned int mask)
{
	struct ibv_qp_attr *s = &qp->attr;

	if (mask & IBV_QP_PKEY_INDEX)
		s->pkey_index = a->pkey_index;
	if (mask & IBV_QP_PORT)
		s->port_num = a->port_num;
	if (mask & IBV_QP_ACCESS_FLAGS)
		s->qp_access_flags = a->qp_access_flags;
	if (mask & IBV_QP_AV)
		s->ah_attr = a->ah_attr;
	if (mask & IBV_QP_PATH_MTU)
		s->path_mtu = a->path_mtu;
	if (mask & IBV_QP_DEST_QPN)
		s->dest_qp_num = a->dest_qp_num;
	if (mask & IBV_QP_RQ_PSN)
		s->rq_psn = a->rq_psn;
	if (mask & IBV_QP_MAX_DEST_RD_ATOMIC)
		s->max_dest_rd_atomic = a->max_dest_rd_atomic;
	if (mask & IBV_QP_MIN_RNR_TIMER)
		s->min_rnr_timer = a->min_rnr_timer;
	if (mask & IBV_QP_SQ_PSN)
		s->sq_psn = a->sq_psn;
	if (mask & IBV_QP_TIMEOUT)
		s->timeout = a->timeout;
	if (mask & IBV_QP_RETRY_CNT)
		s->retry_cnt = a->retry_cnt;
	if (mask & IBV_QP_RNR_RETRY)
		s->rnr_retry = a->rnr_retry;
	if (mask & IBV_QP_MAX_QP_RD_ATOMIC)
		s->max_rd_atomic = a->max_rd_atomic;
}

static int check_values(const struct ibv_qp_attr *a, unsigned int mask)
{
	if ((mask & IBV_QP_PORT) && a->port_num != SV_PORT_NUM)
		return EINVAL;
	if ((mask & IBV_QP_PKEY_INDEX) && a->pkey_index != 0)
		return EINVAL;
	if ((mask & IBV_QP_MAX_QP_RD_ATOMIC) && a->max_rd_atomic > 16)
		return EINVAL;
	if ((mask & IBV_QP_MAX_DEST_RD_ATOMIC) && a->max_dest_rd_atomic > 16)
		return EINVAL;
	if ((mask & IBV_QP_RETRY_CNT) && a->retry_cnt > 7)
		return EINVAL;
	if ((mask & IBV_QP_RNR_RETRY) && a->rnr_retry > 7)
		return EINVAL;
	if ((mask & IBV_QP_PATH_MTU) &&
	    (a->path_mtu < IBV_MTU_256 || a->path_mtu > IBV_MTU_4096))
		return EINVAL;
	if ((mask & IBV_QP_AV) && a->ah_attr.port_num &&
	    a->ah_attr.port_num != SV_PORT_NUM)
		return EINVAL;
	return 0;
}

int ibv_modify_qp(struct ibv_qp *ibqp, struct ibv_qp_attr *attr,
		  int attr_mask)
{
	struct sv_qp *qp = SV_container_of(ibqp, struct sv_qp, ibv);
	unsigned int mask = (unsigned int)attr_mask;
	enum ibv_qp_state cur, next;
	int ret;

	sv_strict_touch(&qp->owner, "QP", qp);
	sv_lock();
	cur = qp->state;
	if ((mask & IBV_QP_CUR_STATE) && attr->cur_qp_state != cur) {
		ret = EINVAL;
		goto out;
	}
	next = (mask & IBV_QP_STATE) ? attr->qp_state : cur;
	ret = check_mask(cur, next, mask | IBV_QP_STATE);
	if (!ret)
		ret = check_values(attr, mask);
	if (ret)
		goto out;
	sv_log(SV_LOG_DEBUG, "QP %u: modify %d -> %d mask 0x%x", qp->ibv.qp_num,
	       cur, next, mask);
	store_attr(qp, attr, mask);
	if (next == IBV_QPS_RTR && cur == IBV_QPS_INIT)
		to_rtr(qp);
	if (next == IBV_QPS_RESET)
		to_reset(qp);
	if (next == IBV_QPS_ERR) {
		/* sends the peer acknowledged on the rings succeeded (their
		 * completions were only waiting to be reaped) */
		if (cur == IBV_QPS_RTS)
			sv_wire_reap_acks(qp);
		sv_qp_set_err(qp);
	} else
		set_state(qp, next);
	sv_kick(); /* stalled peers' data may now be accepted */
out:
	pthread_mutex_unlock(&sv.lock);
	return ret;
}

int ibv_query_qp(struct ibv_qp *ibqp, struct ibv_qp_attr *attr, int attr_mask,
		 struct ibv_qp_init_attr *init)
{
	struct sv_qp *qp = SV_container_of(ibqp, struct sv_qp, ibv);

	(void)attr_mask;
	sv_strict_touch(&qp->owner, "QP", qp);
	sv_lock();
	*attr = qp->attr;
	attr->qp_state = qp->state;
	attr->cur_qp_state = qp->state;
	attr->cap = qp->cap;
	attr->sq_draining = 0;
	pthread_mutex_unlock(&sv.lock);
	memset(init, 0, sizeof(*init));
	init->qp_context = ibqp->qp_context;
	init->send_cq = ibqp->send_cq;
	init->recv_cq = ibqp->recv_cq;
	init->srq = ibqp->srq;
	init->cap = qp->cap;
	init->qp_type = IBV_QPT_RC;
	init->sq_sig_all = qp->sq_sig_all;
	return 0;
}

/* ---- posting ---- */

static int copy_inline(struct sv_swqe *w, const struct ibv_send_wr *wr)
{
	uint32_t off = 0;
	int i;

	for (i = 0; i < wr->num_sge; i++) {
		uint32_t len = wr->sg_list[i].length;

		if (len > SV_MAX_INLINE - off)
			return EINVAL;
		memcpy(w->inl + off, (void *)(uintptr_t)wr->sg_list[i].addr,
		       len);
		off += len;
	}
	w->len = off;
	w->num_sge = 0;
	return 0;
}

static int fill_swqe(struct sv_qp *qp, struct sv_swqe *w,
		     const struct ibv_send_wr *wr)
{
	uint64_t total = 0;
	int i;

	switch (wr->opcode) {
	case IBV_WR_SEND:
	case IBV_WR_SEND_WITH_IMM:
	case IBV_WR_RDMA_WRITE:
	case IBV_WR_RDMA_WRITE_WITH_IMM:
	case IBV_WR_RDMA_READ:
		break;
	default:
		return EINVAL;
	}
	if (wr->num_sge < 0 || (uint32_t)wr->num_sge > qp->cap.max_send_sge)
		return EINVAL;
	w->wr_id = wr->wr_id;
	w->opcode = wr->opcode;
	w->send_flags = wr->send_flags;
	w->imm = wr->imm_data;
	w->rkey = wr->wr.rdma.rkey;
	w->raddr = wr->wr.rdma.remote_addr;
	w->status = 0;
	w->msn = 0;
	w->rnr_deadline = 0;
	if ((wr->send_flags & IBV_SEND_INLINE) && wr->opcode != IBV_WR_RDMA_READ)
		return copy_inline(w, wr);
	w->send_flags &= ~(unsigned int)IBV_SEND_INLINE;
	for (i = 0; i < wr->num_sge; i++)
		total += wr->sg_list[i].length;
	if (total > SV_MAX_MSG)
		return EINVAL;
	w->num_sge = (uint32_t)wr->num_sge;
	if (wr->num_sge)
		memcpy(w->sge, wr->sg_list, (size_t)wr->num_sge * sizeof(*w->sge));
	w->len = (uint32_t)total;
	w->post_ns = sv.cfg.delay_us ? sv_now_ns() : 0;
	return 0;
}

int sv_post_send(struct ibv_qp *ibqp, struct ibv_send_wr *wr,
		 struct ibv_send_wr **bad)
{
	struct sv_qp *qp = SV_container_of(ibqp, struct sv_qp, ibv);
	bool reaped = false;
	int ret = 0;

	sv_strict_touch(&qp->owner, "QP", qp);
	pthread_mutex_lock(&qp->lock);
	if (qp->state != IBV_QPS_RTS && qp->state != IBV_QPS_ERR)
		ret = EINVAL;
	for (; wr && !ret; wr = wr->next) {
		if (qp->sq_head - qp->sq_done >= qp->sq_cap && !reaped) {
			/* acks on rings wait to be reaped (unsignaled sends
			 * of a send CQ nobody polls, too) */
			pthread_mutex_unlock(&qp->lock);
			sv_cq_reap(qp->scq, true);
			pthread_mutex_lock(&qp->lock);
			reaped = true;
		}
		if (qp->sq_head - qp->sq_done >= qp->sq_cap) {
			ret = ENOMEM;
			break;
		}
		ret = fill_swqe(qp, &qp->sq[qp->sq_head % qp->sq_cap], wr);
		if (ret)
			break;
		/* release: the WQE is written before the NIC thread sees it */
		atomic_store_explicit(&qp->sq_head, qp->sq_head + 1,
				      memory_order_release);
	}
	if (ret)
		sv_log(SV_LOG_INFO, "QP %u: post_send: %s (state %d, %u of %u in use)",
		       qp->ibv.qp_num, strerror(ret), qp->state,
		       qp->sq_head - qp->sq_done, qp->sq_cap);
	pthread_mutex_unlock(&qp->lock);
	if (ret && bad)
		*bad = wr;
	if (ret)
		sv_kick();
	else if (!sv_wire_post(qp))
		sv_kick_qp(qp); /* only this QP has new work */
	return ret;
}

int sv_post_recv(struct ibv_qp *ibqp, struct ibv_recv_wr *wr,
		 struct ibv_recv_wr **bad)
{
	struct sv_qp *qp = SV_container_of(ibqp, struct sv_qp, ibv);
	enum ibv_qp_state state;
	bool was_empty;
	int ret;

	sv_strict_touch(&qp->owner, "QP", qp);
	pthread_mutex_lock(&qp->lock);
	state = qp->state;
	pthread_mutex_unlock(&qp->lock);
	if (qp->srq || state == IBV_QPS_RESET) {
		if (bad)
			*bad = wr;
		return EINVAL;
	}
	ret = sv_rq_post(&qp->rq, wr, bad, &was_empty);
	/* only a queue that was empty can have stalled a message (RNR, the
	 * check and the take are under rq->lock): no wakeup per receive */
	if (was_empty)
		sv_kick();
	return ret;
}
