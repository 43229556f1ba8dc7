// SPDX-License-Identifier: BSD-3-Clause
/* softverbs rdma_cm: rdma_get_cm_event, rdma_ack_cm_event and rdma_event_str. */
#include <errno.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cm_internal.h"

/*
 * As librdmacm does in rdma_get_cm_event(), the retrieving thread finishes
 * each event: a CONNECT_REQUEST child gets its device (and its own channel
 * under a synchronous listener), a CONNECT_RESPONSE on an id with a QP moves
 * the QP to RTS, sends RTU and becomes ESTABLISHED, a REJECTED moves the QP
 * to ERR.
 */

static void finish_conn_req(struct cm_event *e)
{
	struct cm_id *l = e->owner, *k = e->target;
	struct cm_channel *priv = NULL;

	e->ev.listen_id = &l->id;
	k->id.context = l->id.context;
	k->id.ps = l->id.ps;
	k->id.qp_type = l->id.qp_type;
	if (l->sync) {
		priv = cm_channel_new();
		if (priv) {
			cm_channel_move(k, priv);
			k->sync = true;
		} else {
			sv_log(SV_LOG_ERR, "cm: no channel for id %p",
			       (void *)k);
		}
	}
}

/* cm_lock held. */
static void finish_conn_resp(struct cm_event *e)
{
	struct cm_id *c = e->target;
	struct ibv_qp *qp = c->id.qp;
	struct cm_msg m;
	int ret;

	if (!qp)
		return; /* CONNECT_RESPONSE: the user calls rdma_establish() */
	ret = cm_qp_to_rtr(c, qp);
	if (!ret)
		ret = cm_qp_to_rts(c, qp);
	if (!ret) {
		cm_msg_init(&m, CM_MSG_RTU, NULL, 0);
		ret = cm_send(c, &m);
	}
	if (ret) {
		cm_qp_to_err(c);
		e->ev.event = RDMA_CM_EVENT_CONNECT_ERROR;
		e->ev.status = ret;
		if (c->state == CM_REP_RCVD)
			c->state = CM_FAILED;
		return;
	}
	e->ev.event = RDMA_CM_EVENT_ESTABLISHED;
	if (c->state == CM_REP_RCVD)
		c->state = CM_CONNECTED;
}

static void finish_event(struct cm_event *e)
{
	switch (e->ev.event) {
	case RDMA_CM_EVENT_CONNECT_REQUEST:
		finish_conn_req(e);
		break;
	case RDMA_CM_EVENT_CONNECT_RESPONSE:
		finish_conn_resp(e);
		break;
	case RDMA_CM_EVENT_REJECTED:
		cm_qp_to_err(e->target);
		break;
	default:
		break;
	}
}

/* Wait until the channel's @fd has an event; -1/EAGAIN if it is O_NONBLOCK. */
static int wait_channel(int fd)
{
	struct epoll_event e;
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		return -1;
	if (fl & O_NONBLOCK)
		return cm_err(EAGAIN);
	if (epoll_wait(fd, &e, 1, -1) < 0)
		return -1;
	return 0;
}

int rdma_get_cm_event(struct rdma_event_channel *channel,
		      struct rdma_cm_event **event)
{
	struct cm_channel *c = cm_channel_of(channel);
	struct cm_event *e = NULL;
	bool dead, release;
	int ret, fd;

	if (!channel || !event)
		return cm_err(EINVAL);
	sv_strict_touch(&c->owner, "rdma_event_channel", c);
	for (;;) {
		pthread_mutex_lock(&cm_lock);
		e = cm_channel_pop(c);
		if (e) {
			e->owner->reported++;
			/* The child is the caller's from now on. */
			if (e->ev.event == RDMA_CM_EVENT_CONNECT_REQUEST) {
				e->target->user_owned = true;
				e->target->listen = NULL;
			}
			pthread_mutex_unlock(&cm_lock);
			break;
		}
		/*
		 * The fd is read under cm_lock; the channel and its fds stay
		 * while we wait, even if another thread destroys it meanwhile
		 * (rping does, then cancels this thread).
		 */
		fd = c->ch.fd;
		cm_channel_wait_begin(c);
		pthread_mutex_unlock(&cm_lock);
		ret = wait_channel(fd); /* cancelled here: c stays allocated */
		pthread_mutex_lock(&cm_lock);
		dead = c->dead;
		release = cm_channel_wait_end(c);
		pthread_mutex_unlock(&cm_lock);
		if (release)
			cm_channel_release(c);
		if (dead)
			return cm_err(EBADF); /* destroyed meanwhile */
		if (ret)
			return -1;
	}
	/* A new child needs its device: verbs calls, no cm_lock. */
	if (e->ev.event == RDMA_CM_EVENT_CONNECT_REQUEST) {
		ret = cm_id_set_device(e->target);
		if (ret)
			sv_log(SV_LOG_ERR, "cm: no device for id %p: %d",
			       (void *)e->target, ret);
	}
	pthread_mutex_lock(&cm_lock);
	finish_event(e);
	pthread_mutex_unlock(&cm_lock);
	*event = &e->ev;
	return 0;
}

int rdma_ack_cm_event(struct rdma_cm_event *event)
{
	struct cm_event *e = (struct cm_event *)event;

	if (!event)
		return cm_err(EINVAL);
	pthread_mutex_lock(&cm_lock);
	e->owner->acked++;
	pthread_cond_broadcast(&cm_cond);
	pthread_mutex_unlock(&cm_lock);
	free(e);
	return 0;
}

static const char *const event_names[] = {
	[RDMA_CM_EVENT_ADDR_RESOLVED] = "RDMA_CM_EVENT_ADDR_RESOLVED",
	[RDMA_CM_EVENT_ADDR_ERROR] = "RDMA_CM_EVENT_ADDR_ERROR",
	[RDMA_CM_EVENT_ROUTE_RESOLVED] = "RDMA_CM_EVENT_ROUTE_RESOLVED",
	[RDMA_CM_EVENT_ROUTE_ERROR] = "RDMA_CM_EVENT_ROUTE_ERROR",
	[RDMA_CM_EVENT_CONNECT_REQUEST] = "RDMA_CM_EVENT_CONNECT_REQUEST",
	[RDMA_CM_EVENT_CONNECT_RESPONSE] = "RDMA_CM_EVENT_CONNECT_RESPONSE",
	[RDMA_CM_EVENT_CONNECT_ERROR] = "RDMA_CM_EVENT_CONNECT_ERROR",
	[RDMA_CM_EVENT_UNREACHABLE] = "RDMA_CM_EVENT_UNREACHABLE",
	[RDMA_CM_EVENT_REJECTED] = "RDMA_CM_EVENT_REJECTED",
	[RDMA_CM_EVENT_ESTABLISHED] = "RDMA_CM_EVENT_ESTABLISHED",
	[RDMA_CM_EVENT_DISCONNECTED] = "RDMA_CM_EVENT_DISCONNECTED",
	[RDMA_CM_EVENT_DEVICE_REMOVAL] = "RDMA_CM_EVENT_DEVICE_REMOVAL",
	[RDMA_CM_EVENT_MULTICAST_JOIN] = "RDMA_CM_EVENT_MULTICAST_JOIN",
	[RDMA_CM_EVENT_MULTICAST_ERROR] = "RDMA_CM_EVENT_MULTICAST_ERROR",
	[RDMA_CM_EVENT_ADDR_CHANGE] = "RDMA_CM_EVENT_ADDR_CHANGE",
	[RDMA_CM_EVENT_TIMEWAIT_EXIT] = "RDMA_CM_EVENT_TIMEWAIT_EXIT",
};

const char *rdma_event_str(enum rdma_cm_event_type event)
{
	if ((unsigned int)event <
		sizeof(event_names) / sizeof(event_names[0]) &&
	    event_names[event])
		return event_names[event];
	return "UNKNOWN EVENT";
}
