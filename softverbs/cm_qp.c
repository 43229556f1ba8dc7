// SPDX-License-Identifier: BSD-3-Clause
/* softverbs rdma_cm: QPs and SRQs on cm_ids, rdma_init_qp_attr and the QP transitions. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cm_internal.h"

/* Once the CM exchange started, the kernel's IB CM grants remote access. */
static bool has_peer(const struct cm_id *c)
{
	switch (c->state) {
	case CM_REQ_RCVD:
	case CM_REP_RCVD:
	case CM_REP_SENT:
	case CM_CONNECTED:
	case CM_DISCONNECTED:
		return true;
	default:
		return false;
	}
}

static void init_attr_init(const struct cm_id *c, struct ibv_qp_attr *a,
			   int *mask)
{
	a->pkey_index = 0;
	a->port_num = SV_PORT_NUM;
	a->qp_access_flags = 0;
	if (has_peer(c)) {
		a->qp_access_flags = IBV_ACCESS_REMOTE_WRITE;
		if (c->resp_res)
			a->qp_access_flags |= IBV_ACCESS_REMOTE_READ |
					      IBV_ACCESS_REMOTE_ATOMIC;
	}
	*mask = IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
		IBV_QP_ACCESS_FLAGS;
}

static void init_attr_rtr(const struct cm_id *c, struct ibv_qp_attr *a,
			  int *mask)
{
	uint8_t mtu = cm_port_mtu();

	a->path_mtu = (enum ibv_mtu)(c->peer_mtu && c->peer_mtu < mtu ?
					     c->peer_mtu : mtu);
	a->dest_qp_num = c->peer_qpn;
	a->rq_psn = c->peer_psn;
	a->max_dest_rd_atomic = c->resp_res;
	a->min_rnr_timer = CM_MIN_RNR_TIMER;
	memset(&a->ah_attr, 0, sizeof(a->ah_attr));
	a->ah_attr.is_global = 1;
	a->ah_attr.grh.dgid = c->peer_gid;
	a->ah_attr.grh.sgid_index = 0;
	a->ah_attr.grh.hop_limit = CM_HOP_LIMIT;
	a->ah_attr.port_num = SV_PORT_NUM;
	*mask = IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
		IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC |
		IBV_QP_MIN_RNR_TIMER;
}

static void init_attr_rts(const struct cm_id *c, struct ibv_qp_attr *a,
			  int *mask)
{
	a->sq_psn = c->psn;
	a->timeout = CM_QP_TIMEOUT;
	a->retry_cnt = c->retry_count;
	a->rnr_retry = c->rnr_retry_count;
	a->max_rd_atomic = c->init_depth;
	*mask = IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
		IBV_QP_RNR_RETRY | IBV_QP_SQ_PSN | IBV_QP_MAX_QP_RD_ATOMIC;
}

/* cm_lock held: the attributes for a->qp_state. */
static int init_attr(const struct cm_id *c, struct ibv_qp_attr *a, int *mask)
{
	switch (a->qp_state) {
	case IBV_QPS_INIT:
		init_attr_init(c, a, mask);
		return 0;
	case IBV_QPS_RTR:
		if (!has_peer(c))
			return -EINVAL;
		init_attr_rtr(c, a, mask);
		return 0;
	case IBV_QPS_RTS:
		if (!has_peer(c))
			return -EINVAL;
		init_attr_rts(c, a, mask);
		return 0;
	default:
		return -EINVAL;
	}
}

static int modify(struct cm_id *c, struct ibv_qp *qp, enum ibv_qp_state s)
{
	struct ibv_qp_attr a = { .qp_state = s };
	int mask, ret;

	ret = init_attr(c, &a, &mask);
	if (ret)
		return ret;
	ret = ibv_modify_qp(qp, &a, mask);
	return ret > 0 ? -ret : ret;
}

/* cm_lock held: INIT -> INIT with the negotiated access, then RTR. */
int cm_qp_to_rtr(struct cm_id *c, struct ibv_qp *qp)
{
	int ret = modify(c, qp, IBV_QPS_INIT);

	return ret ? ret : modify(c, qp, IBV_QPS_RTR);
}

int cm_qp_to_rts(struct cm_id *c, struct ibv_qp *qp)
{
	return modify(c, qp, IBV_QPS_RTS);
}

void cm_qp_to_err(struct cm_id *c)
{
	struct ibv_qp_attr a = { .qp_state = IBV_QPS_ERR };

	if (c->id.qp)
		ibv_modify_qp(c->id.qp, &a, IBV_QP_STATE);
}

int rdma_init_qp_attr(struct rdma_cm_id *id, struct ibv_qp_attr *qp_attr,
		      int *qp_attr_mask)
{
	struct cm_id *c = cm_id_of(id);
	int ret;

	if (!id || !qp_attr || !qp_attr_mask)
		return cm_err(EINVAL);
	sv_strict_touch(&c->owner, "cm_id", c);
	pthread_mutex_lock(&cm_lock);
	ret = init_attr(c, qp_attr, qp_attr_mask);
	pthread_mutex_unlock(&cm_lock);
	return ret ? cm_err(-ret) : 0;
}

static void destroy_cqs(struct rdma_cm_id *id)
{
	if (id->recv_cq) {
		ibv_destroy_cq(id->recv_cq);
		if (id->send_cq && id->send_cq != id->recv_cq)
			ibv_destroy_cq(id->send_cq);
	} else if (id->send_cq) {
		ibv_destroy_cq(id->send_cq);
	}
	id->recv_cq = NULL;
	id->send_cq = NULL;
	if (id->recv_cq_channel)
		ibv_destroy_comp_channel(id->recv_cq_channel);
	if (id->send_cq_channel && id->send_cq_channel != id->recv_cq_channel)
		ibv_destroy_comp_channel(id->send_cq_channel);
	id->recv_cq_channel = NULL;
	id->send_cq_channel = NULL;
}

static int create_cq(struct rdma_cm_id *id, uint32_t size,
		     struct ibv_comp_channel **ch, struct ibv_cq **cq)
{
	*ch = ibv_create_comp_channel(id->verbs);
	if (!*ch)
		return -1;
	*cq = ibv_create_cq(id->verbs, (int)size, id, *ch, 0);
	return *cq ? 0 : -1;
}

/* librdmacm creates a CQ and channel per direction the caller left empty. */
static int create_cqs(struct rdma_cm_id *id, uint32_t send_size,
		      uint32_t recv_size)
{
	if (recv_size &&
	    create_cq(id, recv_size, &id->recv_cq_channel, &id->recv_cq))
		goto err;
	if (send_size &&
	    create_cq(id, send_size, &id->send_cq_channel, &id->send_cq))
		goto err;
	return 0;
err:
	destroy_cqs(id);
	return -1;
}

int rdma_create_qp_ex(struct rdma_cm_id *id, struct ibv_qp_init_attr_ex *attr)
{
	struct cm_id *c = cm_id_of(id);
	uint32_t send_size, recv_size;
	struct ibv_qp *qp;
	int ret;

	if (!id || !attr || id->qp)
		return cm_err(EINVAL);
	sv_strict_touch(&c->owner, "cm_id", c);
	if (!(attr->comp_mask & IBV_QP_INIT_ATTR_PD) || !attr->pd) {
		attr->comp_mask |= IBV_QP_INIT_ATTR_PD;
		attr->pd = id->pd;
	}
	if (!attr->pd || attr->pd->context != id->verbs)
		return cm_err(EINVAL);
	send_size = attr->send_cq || id->send_cq ? 0 : attr->cap.max_send_wr;
	recv_size = attr->recv_cq || id->recv_cq ? 0 : attr->cap.max_recv_wr;
	if (create_cqs(id, send_size, recv_size))
		return -1;
	if (!attr->send_cq)
		attr->send_cq = id->send_cq;
	if (!attr->recv_cq)
		attr->recv_cq = id->recv_cq;
	if (id->srq && !attr->srq)
		attr->srq = id->srq;
	if (attr->comp_mask == IBV_QP_INIT_ATTR_PD)
		qp = ibv_create_qp(attr->pd, (struct ibv_qp_init_attr *)attr);
	else
		qp = ibv_create_qp_ex(id->verbs, attr);
	if (!qp)
		goto err_cqs;
	pthread_mutex_lock(&cm_lock);
	ret = modify(c, qp, IBV_QPS_INIT);
	pthread_mutex_unlock(&cm_lock);
	if (ret) {
		ibv_destroy_qp(qp);
		errno = -ret;
		goto err_cqs;
	}
	id->pd = qp->pd;
	id->qp = qp;
	return 0;
err_cqs:
	ret = errno ? errno : ENOMEM;
	destroy_cqs(id);
	return cm_err(ret);
}

int rdma_create_qp(struct rdma_cm_id *id, struct ibv_pd *pd,
		   struct ibv_qp_init_attr *qp_init_attr)
{
	struct ibv_qp_init_attr_ex ex;
	int ret;

	if (!id || !qp_init_attr)
		return cm_err(EINVAL);
	memset(&ex, 0, sizeof(ex));
	memcpy(&ex, qp_init_attr, sizeof(*qp_init_attr));
	ex.comp_mask = IBV_QP_INIT_ATTR_PD;
	ex.pd = pd ? pd : id->pd;
	ret = rdma_create_qp_ex(id, &ex);
	memcpy(qp_init_attr, &ex, sizeof(*qp_init_attr));
	return ret;
}

void rdma_destroy_qp(struct rdma_cm_id *id)
{
	struct cm_id *c = cm_id_of(id);

	if (!id)
		return;
	sv_strict_touch(&c->owner, "cm_id", c);
	if (id->qp)
		ibv_destroy_qp(id->qp);
	id->qp = NULL;
	destroy_cqs(id);
}

int rdma_create_srq_ex(struct rdma_cm_id *id,
		       struct ibv_srq_init_attr_ex *attr)
{
	struct ibv_srq *srq;
	struct ibv_pd *pd;

	if (!id || !attr)
		return cm_err(EINVAL);
	sv_strict_touch(&cm_id_of(id)->owner, "cm_id", id);
	if ((attr->comp_mask & IBV_SRQ_INIT_ATTR_TYPE) &&
	    attr->srq_type != IBV_SRQT_BASIC)
		return cm_err(ENOSYS); /* XRC and tag matching: not here */
	pd = (attr->comp_mask & IBV_SRQ_INIT_ATTR_PD) && attr->pd ? attr->pd :
								     id->pd;
	if (!pd)
		return cm_err(EINVAL);
	srq = ibv_create_srq(pd, (struct ibv_srq_init_attr *)attr);
	if (!srq)
		return -1;
	attr->pd = pd;
	id->srq = srq;
	if (!id->pd)
		id->pd = pd;
	return 0;
}

int rdma_create_srq(struct rdma_cm_id *id, struct ibv_pd *pd,
		    struct ibv_srq_init_attr *attr)
{
	struct ibv_srq_init_attr_ex ex;
	int ret;

	if (!id || !attr)
		return cm_err(EINVAL);
	memset(&ex, 0, sizeof(ex));
	memcpy(&ex, attr, sizeof(*attr));
	ex.comp_mask = IBV_SRQ_INIT_ATTR_TYPE | IBV_SRQ_INIT_ATTR_PD;
	ex.srq_type = IBV_SRQT_BASIC;
	ex.pd = pd;
	ret = rdma_create_srq_ex(id, &ex);
	memcpy(attr, &ex, sizeof(*attr));
	return ret;
}

void rdma_destroy_srq(struct rdma_cm_id *id)
{
	if (!id)
		return;
	sv_strict_touch(&cm_id_of(id)->owner, "cm_id", id);
	if (id->srq)
		ibv_destroy_srq(id->srq);
	id->srq = NULL;
	destroy_cqs(id);
}
