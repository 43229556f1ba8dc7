// SPDX-License-Identifier: BSD-3-Clause
/* softverbs rdma_cm: handshake messages and their handling on the cm progress thread. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* accept4, pthread_setname_np */
#endif
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cm_internal.h"

void cm_msg_init(struct cm_msg *m, enum cm_msg_type type, const void *pdata,
		 unsigned int pdata_len)
{
	memset(m, 0, sizeof(*m));
	m->magic = CM_MSG_MAGIC;
	m->type = (uint16_t)type;
	if (pdata && pdata_len) {
		memcpy(m->pdata, pdata, pdata_len);
		m->pdata_len = (uint16_t)pdata_len;
	}
}

/* cm_lock held. One packet; waits (bounded) only if the socket is full. */
int cm_send(struct cm_id *c, struct cm_msg *m)
{
	struct pollfd p = { .fd = c->fd, .events = POLLOUT };
	int tries;

	if (c->fd < 0)
		return -ENOTCONN;
	for (tries = 0; tries < 100; tries++) {
		if (send(c->fd, m, sizeof(*m), MSG_NOSIGNAL | MSG_DONTWAIT) ==
		    (ssize_t)sizeof(*m))
			return 0;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		poll(&p, 1, 10);
	}
	return -ETIMEDOUT;
}

static void take_peer(struct cm_id *c, const struct cm_msg *m)
{
	c->peer_qpn = m->qpn;
	c->peer_psn = m->psn;
	c->peer_gid = m->gid;
	c->peer_mtu = m->mtu;
	cm_id_fill_route(c);
}

/* Passive child: the REQ becomes a CONNECT_REQUEST on the listener. */
static void on_req(struct cm_id *c, const struct cm_msg *m)
{
	struct cm_id *l = c->listen;

	take_peer(c, m);
	/* This side's view: the peer's depth is our resources. */
	c->resp_res = m->init_depth;
	c->init_depth = m->resp_res;
	c->retry_count = m->retry_count;
	c->rnr_retry_count = m->rnr_retry_count;
	memcpy(&c->id.route.addr.src_storage, &m->dst, sizeof(m->dst));
	memcpy(&c->id.route.addr.dst_storage, &m->src, sizeof(m->src));
	c->chan = l->chan;
	c->id.channel = &l->chan->ch;
	c->state = CM_REQ_RCVD;
	cm_queue_event(l, c, RDMA_CM_EVENT_CONNECT_REQUEST, 0, m, CM_REQ_PDATA);
}

static void on_rep(struct cm_id *c, const struct cm_msg *m)
{
	take_peer(c, m);
	c->init_depth = m->resp_res;
	c->resp_res = m->init_depth;
	c->rnr_retry_count = m->rnr_retry_count;
	c->state = CM_REP_RCVD;
	cm_queue_event(c, c, RDMA_CM_EVENT_CONNECT_RESPONSE, 0, m,
		       CM_REP_PDATA);
}

static void on_rej(struct cm_id *c, const struct cm_msg *m)
{
	c->state = CM_REJECTED;
	cm_queue_event(c, c, RDMA_CM_EVENT_REJECTED, m->status, m,
		       CM_REJ_PDATA);
}

static void on_rtu(struct cm_id *c)
{
	c->state = CM_CONNECTED;
	cm_queue_event(c, c, RDMA_CM_EVENT_ESTABLISHED, 0, NULL, 0);
}

static void on_dreq(struct cm_id *c)
{
	c->state = CM_DISCONNECTED;
	cm_queue_event(c, c, RDMA_CM_EVENT_DISCONNECTED, 0, NULL, 0);
}

static void on_msg(struct cm_id *c, const struct cm_msg *m)
{
	enum cm_state s = c->state;

	if (m->type == CM_MSG_REQ && s == CM_REQ_WAIT)
		on_req(c, m);
	else if (m->type == CM_MSG_REP && s == CM_CONNECT_SENT)
		on_rep(c, m);
	else if (m->type == CM_MSG_REJ && s == CM_CONNECT_SENT)
		on_rej(c, m);
	else if (m->type == CM_MSG_RTU && s == CM_REP_SENT)
		on_rtu(c);
	else if (m->type == CM_MSG_DREQ &&
		 (s == CM_CONNECTED || s == CM_REP_SENT || s == CM_REP_RCVD))
		on_dreq(c);
	else
		sv_log(SV_LOG_DEBUG, "cm: id %p ignores message %u in state %d",
		       (void *)c, m->type, s);
}

/* The peer's end is closed by every process that held it. */
static void on_eof(struct cm_id *c)
{
	cm_unwatch(c->fd);
	c->peer_gone = true;
	switch (c->state) {
	case CM_REQ_WAIT:
		cm_id_unlink_free(c); /* nobody has seen this id */
		break;
	case CM_CONNECT_SENT:
	case CM_REP_SENT:
		/* No reply: IB CM's REQ/REP timeout. */
		c->state = CM_FAILED;
		cm_queue_event(c, c, RDMA_CM_EVENT_UNREACHABLE, -ETIMEDOUT,
			       NULL, 0);
		break;
	case CM_CONNECTED:
	case CM_REP_RCVD:
		on_dreq(c);
		break;
	default:
		break;
	}
}

void cm_conn_ready(void *arg, uint32_t events)
{
	struct cm_id *c = arg;
	struct cm_msg m;
	ssize_t n;

	(void)events;
	pthread_mutex_lock(&cm_lock);
	if (c->destroying)
		goto out;
	n = recv(c->fd, &m, sizeof(m), MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		goto out;
	if (n <= 0)
		on_eof(c);
	else if (n != (ssize_t)sizeof(m) || m.magic != CM_MSG_MAGIC)
		sv_log(SV_LOG_WARN, "cm: id %p: bad message (%zd bytes)",
		       (void *)c, n);
	else
		on_msg(c, &m);
out:
	pthread_mutex_unlock(&cm_lock);
}

void cm_listen_ready(void *arg, uint32_t events)
{
	struct cm_id *l = arg, *k = NULL;
	int fd;

	(void)events;
	fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	pthread_mutex_lock(&cm_lock);
	if (!l->destroying && l->state == CM_LISTEN)
		k = cm_id_alloc(l->chan, NULL, l->id.ps);
	if (k) {
		k->fd = fd;
		k->state = CM_REQ_WAIT;
		k->listen = l;
	}
	pthread_mutex_unlock(&cm_lock);
	if (!k) {
		close(fd);
		return;
	}
	/*
	 * A concurrent rdma_destroy_id(l) may already own k; it unwatches k
	 * only after this callback returns (dispatch lock), so this is safe.
	 */
	if (cm_watch(fd, cm_conn_ready, k)) {
		pthread_mutex_lock(&cm_lock);
		if (!k->destroying)
			cm_id_unlink_free(k);
		pthread_mutex_unlock(&cm_lock);
	}
}
