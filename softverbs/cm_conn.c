// SPDX-License-Identifier: BSD-3-Clause
/* softverbs rdma_cm: connect, accept, reject, disconnect, establish and rdma_get_request. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cm_internal.h"

/* librdmacm's ucma_valid_param() plus the IB CM private data limits. */
static int valid_param(struct cm_id *c, const struct rdma_conn_param *p,
		       unsigned int pdata_max)
{
	uint8_t max_resp, max_init;

	if (!c->id.qp && !p)
		return -EINVAL;
	if (!p)
		return 0;
	cm_dev_limits(&max_resp, &max_init);
	if (p->responder_resources != RDMA_MAX_RESP_RES &&
	    p->responder_resources > max_resp)
		return -EINVAL;
	if (p->initiator_depth != RDMA_MAX_INIT_DEPTH &&
	    p->initiator_depth > max_init)
		return -EINVAL;
	if (p->private_data_len > pdata_max)
		return -EINVAL;
	return 0;
}

/* Entry of rdma_connect() (@msg REQ) and rdma_accept() (REP) on @c: the
 * caller's thread recorded (strict mode), then under cm_lock @p must fit
 * @msg (its private data room) and @c be in @state. 0 with cm_lock held,
 * or -EINVAL with it released. */
static int lock_for(struct cm_id *c, const struct rdma_conn_param *p,
		    enum cm_msg_type msg, enum cm_state state)
{
	int ret;

	sv_strict_touch(&c->owner, "cm_id", c);
	pthread_mutex_lock(&cm_lock);
	if (msg == CM_MSG_REQ)
		ret = valid_param(c, p, CM_REQ_PDATA - c->ep_connect_len);
	else
		ret = valid_param(c, p, CM_REP_PDATA);
	if (!ret && c->state != state)
		ret = -EINVAL;
	if (ret)
		pthread_mutex_unlock(&cm_lock);
	return ret;
}

static uint32_t new_psn(void)
{
	return (uint32_t)random() & 0xffffff;
}

/* cm_lock held: the REQ for @p. */
static void build_req(struct cm_id *c, const struct rdma_conn_param *p,
		      struct cm_msg *m)
{
	cm_msg_init(m, CM_MSG_REQ, c->ep_connect,
		    (unsigned int)c->ep_connect_len);
	if (p && p->private_data && p->private_data_len) {
		memcpy(m->pdata + m->pdata_len, p->private_data,
		       p->private_data_len);
		m->pdata_len += p->private_data_len;
	}
	m->qpn = c->id.qp ? c->id.qp->qp_num : (p ? p->qp_num : 0);
	m->srq = c->id.qp ? !!c->id.qp->srq : (p ? p->srq : 0);
	m->psn = c->psn;
	m->resp_res = c->resp_res;
	m->init_depth = c->init_depth;
	m->retry_count = c->retry_count;
	m->rnr_retry_count = p ? p->rnr_retry_count : 7;
	m->flow_control = p ? p->flow_control : 0;
	m->mtu = cm_port_mtu();
	cm_local_gid(&m->gid);
	memcpy(&m->src, &c->id.route.addr.src_storage, sizeof(m->src));
	memcpy(&m->dst, &c->id.route.addr.dst_storage, sizeof(m->dst));
}

/* Connect @fd to the listener of @dst: exact address, then wildcards. */
static int connect_listener(int fd, const struct sockaddr *dst)
{
	struct sockaddr_storage any;
	struct sockaddr_un sun;
	socklen_t len;
	int i, ret = -ECONNREFUSED;

	for (i = 0; i < 3; i++) {
		memset(&any, 0, sizeof(any));
		if (i == 0) {
			memcpy(&any, dst, cm_addr_len(dst));
		} else {
			any.ss_family =
			    i == 1 ? dst->sa_family
				   : (dst->sa_family == AF_INET ? AF_INET6
								: AF_INET);
			cm_addr_set_port((struct sockaddr *)&any,
					 cm_addr_port(dst));
		}
		len = cm_addr_sun((struct sockaddr *)&any, &sun);
		if (!connect(fd, (struct sockaddr *)&sun, len))
			return 0;
		ret = -errno;
		if (ret != -ECONNREFUSED && ret != -ENOENT)
			break;
	}
	return ret;
}

/* connect_listener(), trying again for the listen grace while refused. */
static int connect_listener_grace(int fd, const struct sockaddr *dst)
{
	const struct timespec step = { .tv_nsec = 1000000 };
	int ret = connect_listener(fd, dst);
	unsigned int ms;

	for (ms = 0; ms < sv_config()->cm_listen_grace_ms &&
		     (ret == -ECONNREFUSED || ret == -ENOENT);
	     ms++) {
		nanosleep(&step, NULL);
		ret = connect_listener(fd, dst);
	}
	return ret;
}

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK))
		return -errno;
	return 0;
}

/* cm_lock held: record this side's parameters for the REQ. */
static void take_connect_param(struct cm_id *c, const struct rdma_conn_param *p)
{
	uint8_t max_resp, max_init;

	cm_dev_limits(&max_resp, &max_init);
	c->init_depth = (p && p->initiator_depth != RDMA_MAX_INIT_DEPTH) ?
				p->initiator_depth : max_init;
	c->resp_res = (p && p->responder_resources != RDMA_MAX_RESP_RES) ?
			      p->responder_resources : max_resp;
	c->retry_count = p ? p->retry_count : 7;
	c->rnr_retry_count = p ? p->rnr_retry_count : 7;
	c->psn = new_psn();
}

int rdma_connect(struct rdma_cm_id *id, struct rdma_conn_param *conn_param)
{
	struct cm_id *c = cm_id_of(id);
	struct cm_msg m;
	int ret;

	if (!id)
		return cm_err(EINVAL);
	ret = lock_for(c, conn_param, CM_MSG_REQ, CM_ROUTE_RESOLVED);
	if (ret)
		return cm_err(-ret);
	take_connect_param(c, conn_param);
	build_req(c, conn_param, &m);
	c->state = CM_CONNECT_SENT;
	pthread_mutex_unlock(&cm_lock);

	/* Nobody else uses the socket until it is watched. */
	ret = connect_listener_grace(c->fd, &id->route.addr.dst_addr);
	if (!ret)
		ret = set_nonblock(c->fd);
	pthread_mutex_lock(&cm_lock);
	free(c->ep_connect);
	c->ep_connect = NULL;
	c->ep_connect_len = 0;
	if (!ret)
		ret = cm_send(c, &m);
	if (ret) {
		/* Nobody listens on that port. */
		c->state = CM_FAILED;
		ret = cm_queue_event(c, c, RDMA_CM_EVENT_UNREACHABLE, ret,
				     NULL, 0);
		pthread_mutex_unlock(&cm_lock);
		return ret ? cm_err(-ret) : cm_sync_complete(c);
	}
	pthread_mutex_unlock(&cm_lock);
	ret = cm_watch(c->fd, cm_conn_ready, c);
	if (ret)
		return cm_err(-ret);
	return cm_sync_complete(c);
}

/* cm_lock held: negotiate this side's depth and resources (librdmacm). */
static void take_accept_param(struct cm_id *c, const struct rdma_conn_param *p)
{
	uint8_t max_resp, max_init;

	cm_dev_limits(&max_resp, &max_init);
	if (!p || p->initiator_depth == RDMA_MAX_INIT_DEPTH)
		c->init_depth = c->init_depth < max_init ? c->init_depth :
							   max_init;
	else
		c->init_depth = p->initiator_depth;
	if (!p || p->responder_resources == RDMA_MAX_RESP_RES)
		c->resp_res = c->resp_res < max_resp ? c->resp_res : max_resp;
	else
		c->resp_res = p->responder_resources;
	c->psn = new_psn();
}

static void build_rep(struct cm_id *c, const struct rdma_conn_param *p,
		      struct cm_msg *m)
{
	cm_msg_init(m, CM_MSG_REP, p ? p->private_data : NULL,
		    p ? p->private_data_len : 0);
	m->qpn = c->id.qp ? c->id.qp->qp_num : p->qp_num;
	m->srq = c->id.qp ? !!c->id.qp->srq : p->srq;
	m->psn = c->psn;
	m->resp_res = c->resp_res;
	m->init_depth = c->init_depth;
	m->rnr_retry_count = p ? p->rnr_retry_count : 7;
	m->flow_control = p ? p->flow_control : 0;
	m->mtu = cm_port_mtu();
	cm_local_gid(&m->gid);
}

int rdma_accept(struct rdma_cm_id *id, struct rdma_conn_param *conn_param)
{
	struct cm_id *c = cm_id_of(id);
	struct cm_msg m;
	int ret;

	if (!id)
		return cm_err(EINVAL);
	ret = lock_for(c, conn_param, CM_MSG_REP, CM_REQ_RCVD);
	if (ret)
		return cm_err(-ret);
	take_accept_param(c, conn_param);
	if (id->qp) {
		ret = cm_qp_to_rtr(c, id->qp);
		if (!ret)
			ret = cm_qp_to_rts(c, id->qp);
		if (ret)
			goto out_unlock;
	}
	if (c->peer_gone) {
		/* The requester is gone: IB CM's REP timeout. */
		c->state = CM_FAILED;
		ret = cm_queue_event(c, c, RDMA_CM_EVENT_UNREACHABLE,
				     -ETIMEDOUT, NULL, 0);
		goto out_unlock;
	}
	build_rep(c, conn_param, &m);
	ret = cm_send(c, &m);
	if (ret) {
		cm_qp_to_err(c);
		goto out_unlock;
	}
	c->state = CM_REP_SENT;
out_unlock:
	pthread_mutex_unlock(&cm_lock);
	return ret ? cm_err(-ret) : cm_sync_complete(c);
}

int rdma_reject(struct rdma_cm_id *id, const void *private_data,
		uint8_t private_data_len)
{
	struct cm_id *c = cm_id_of(id);
	struct cm_msg m;
	int ret = 0;

	if (!id || private_data_len > CM_REJ_PDATA)
		return cm_err(EINVAL);
	sv_strict_touch(&c->owner, "cm_id", c);
	pthread_mutex_lock(&cm_lock);
	if (c->state != CM_REQ_RCVD) {
		ret = -EINVAL;
	} else {
		cm_msg_init(&m, CM_MSG_REJ, private_data, private_data_len);
		m.status = CM_REJ_CONSUMER_DEFINED;
		if (!c->peer_gone)
			ret = cm_send(c, &m);
		c->state = CM_REJECTED;
	}
	pthread_mutex_unlock(&cm_lock);
	return ret ? cm_err(-ret) : 0;
}

int rdma_disconnect(struct rdma_cm_id *id)
{
	struct cm_id *c = cm_id_of(id);
	struct cm_msg m;
	int ret = 0;

	if (!id)
		return cm_err(EINVAL);
	sv_strict_touch(&c->owner, "cm_id", c);
	pthread_mutex_lock(&cm_lock);
	switch (c->state) {
	case CM_CONNECTED:
	case CM_REP_SENT:
	case CM_REP_RCVD:
		cm_qp_to_err(c);
		cm_msg_init(&m, CM_MSG_DREQ, NULL, 0);
		if (!c->peer_gone && c->pid == getpid())
			cm_send(c, &m);
		c->state = CM_DISCONNECTED;
		ret = cm_queue_event(c, c, RDMA_CM_EVENT_DISCONNECTED, 0, NULL,
				     0);
		break;
	case CM_DISCONNECTED:
		/* The peer disconnected first: its DREQ gave our event. */
		cm_qp_to_err(c);
		break;
	default:
		ret = -EINVAL;
		break;
	}
	pthread_mutex_unlock(&cm_lock);
	return ret ? cm_err(-ret) : cm_sync_complete(c);
}

int rdma_establish(struct rdma_cm_id *id)
{
	struct cm_id *c = cm_id_of(id);
	struct cm_msg m;
	int ret;

	if (!id || id->qp)
		return cm_err(EINVAL);
	sv_strict_touch(&c->owner, "cm_id", c);
	pthread_mutex_lock(&cm_lock);
	if (c->state != CM_REP_RCVD) {
		ret = -EINVAL;
	} else {
		cm_msg_init(&m, CM_MSG_RTU, NULL, 0);
		ret = cm_send(c, &m);
		if (!ret)
			c->state = CM_CONNECTED;
	}
	pthread_mutex_unlock(&cm_lock);
	return ret ? cm_err(-ret) : 0;
}

int rdma_get_request(struct rdma_cm_id *listen, struct rdma_cm_id **id)
{
	struct cm_id *l = cm_id_of(listen);
	struct rdma_cm_event *event;
	struct ibv_qp_init_attr attr;
	int ret;

	if (!listen || !id || !l->sync)
		return cm_err(EINVAL);
	sv_strict_touch(&l->owner, "cm_id", l);
	if (listen->event) {
		rdma_ack_cm_event(listen->event);
		listen->event = NULL;
	}
	ret = rdma_get_cm_event(listen->channel, &event);
	if (ret)
		return ret;
	if (event->status) {
		ret =
		    cm_err(event->status < 0 ? -event->status : event->status);
		goto err;
	}
	if (event->event != RDMA_CM_EVENT_CONNECT_REQUEST) {
		ret = cm_err(EINVAL);
		goto err;
	}
	if (l->ep_qp_attr) {
		attr = *l->ep_qp_attr;
		ret = rdma_create_qp(event->id, listen->pd, &attr);
		if (ret)
			goto err;
	}
	*id = event->id;
	(*id)->event = event;
	return 0;
err:
	listen->event = event;
	return ret;
}

int rdma_notify(struct rdma_cm_id *id, enum ibv_event_type event)
{
	(void)event;
	if (!id)
		return cm_err(EINVAL);
	sv_strict_touch(&cm_id_of(id)->owner, "cm_id", id);
	return 0; /* IBV_EVENT_COMM_EST: the handshake already completed */
}
