// SPDX-License-Identifier: BSD-3-Clause
/* rdmaring: rdma_cm events, devices, connection setup and teardown (poller). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

/*
 * Every function here runs on the poller thread. A connection's lifecycle
 * (enum rr_conn_state) advances on rdma_cm events, on its first work
 * completion (established) and on its owner's submissions (close, ack):
 *
 *   RESOLVING   --addr+route resolved, QP created, rdma_connect--> CONNECTING
 *   (accept)    --QP created, rdma_accept---------------------->  CONNECTING
 *   CONNECTING  --ESTABLISHED event or first completion--------> ESTABLISHED
 *   any         --error, DISCONNECTED, owner's close-----------> CLOSING
 *   CLOSING     --owner's CLOSE_ACK (or never told the owner)--> destroyed
 */

#define RR_RESOLVE_MS 2000
#define RR_BACKLOG 1024

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

int rr_cm_init(struct rring_engine *e)
{
	struct ibv_device **list;
	int n = 0;

	list = ibv_get_device_list(&n);
	if (list && n > 0)
		snprintf(e->dev_name, sizeof(e->dev_name), "%s",
			 ibv_get_device_name(list[0]));
	if (list)
		ibv_free_device_list(list);
	e->cm_ch = rdma_create_event_channel();
	if (!e->cm_ch) {
		rr_log(&e->h, RR_LOG_ERR, "rdma_create_event_channel: %s",
		       strerror(errno));
		return errno ? -errno : -ENODEV;
	}
	return set_nonblock(e->cm_ch->fd);
}

static void cq_free(struct rr_cq *q)
{
	rr_share_del_cq(q);
	if (q->unacked)
		ibv_ack_cq_events(q->cq, q->unacked);
	ibv_destroy_cq(q->cq);
	free(q);
}

static void dev_fini(struct rr_dev *d)
{
	unsigned int i;

	rr_share_del_dev(d);
	for (i = 0; i < d->n_cqs; i++)
		cq_free(d->cqs[i]);
	free(d->cqs);
	if (d->ch)
		ibv_destroy_comp_channel(d->ch);
	if (d->pd)
		ibv_dealloc_pd(d->pd);
	memset(d, 0, sizeof(*d));
}

void rr_cm_fini(struct rring_engine *e)
{
	struct rr_listener *l, *next;
	int i;

	for (l = e->listeners; l; l = next) {
		next = l->next;
		rdma_destroy_id(l->id);
		free(l);
	}
	e->listeners = NULL;
	for (i = 0; i < e->n_devs; i++)
		dev_fini(&e->devs[i]);
	e->n_devs = 0;
	/* notes for devices and CQs that are gone (none arrive any more) */
	pthread_mutex_lock(&e->inbox_lock);
	e->n_inbox = e->inbox_lost = 0;
	pthread_mutex_unlock(&e->inbox_lock);
	atomic_store_explicit(&e->inbox_ready, 0, memory_order_relaxed);
	if (e->cm_ch)
		rdma_destroy_event_channel(e->cm_ch);
	e->cm_ch = NULL;
}

static int comp_vector(struct rring_engine *e, struct ibv_context *verbs)
{
	int nv = verbs->num_comp_vectors > 0 ? verbs->num_comp_vectors : 1;
	int v = e->p.comp_vector >= 0	   ? e->p.comp_vector
		: e->place.poller_cpu >= 0 ? e->place.poller_cpu
					   : 0;

	return v % nv;
}

/* Work requests one connection can have outstanding (its CQ entries). */
static uint64_t conn_wrs(struct rring_engine *e)
{
	struct ibv_qp_cap cap;

	e->layer->qp_caps(e, &cap);
	return (uint64_t)cap.max_send_wr + cap.max_recv_wr;
}

/* The shared PD and channel of a device, created on first use. */
static struct rr_dev *get_dev(struct rring_engine *e, struct ibv_context *v)
{
	struct rr_dev *d;
	int i;

	for (i = 0; i < e->n_devs; i++)
		if (e->devs[i].verbs == v)
			return &e->devs[i];
	if (e->n_devs == RR_MAX_DEVS) {
		errno = ENOSPC;
		return NULL;
	}
	d = &e->devs[e->n_devs];
	d->verbs = v;
	d->pd = ibv_alloc_pd(v);
	if (!d->pd)
		goto err;
	d->ch = ibv_create_comp_channel(v);
	if (!d->ch || set_nonblock(d->ch->fd) || set_nonblock(v->async_fd))
		goto err;
	d->per_cq = (unsigned int)(e->p.cq_entries / conn_wrs(e));
	if (rr_poller_add_dev(e, e->n_devs))
		goto err;
	rr_share_add_dev(e, d);
	e->n_devs++;
	return d;
err:
	rr_log(&e->h, RR_LOG_ERR, "cannot set up device %s: %s",
	       ibv_get_device_name(v->device), strerror(errno));
	dev_fini(d);
	return NULL;
}

/* A CQ of the device's pool with room for one more connection: the first
 * that has one (connections leave, so earlier CQs free up), else a new one
 * on the device's channel. NULL with errno set. */
static struct rr_cq *get_cq(struct rring_engine *e, struct rr_dev *d)
{
	struct rr_cq *q, **cqs;
	unsigned int i, cap;

	for (i = 0; i < d->n_cqs; i++)
		if (d->cqs[i]->users < d->per_cq && !d->cqs[i]->failed)
			return d->cqs[i];
	if (d->n_cqs == d->cqs_cap) {
		cap = d->cqs_cap ? 2 * d->cqs_cap : 4;
		cqs = realloc(d->cqs, cap * sizeof(*cqs));
		if (!cqs)
			return NULL;
		d->cqs = cqs;
		d->cqs_cap = cap;
	}
	q = calloc(1, sizeof(*q));
	if (!q)
		return NULL;
	q->cq = ibv_create_cq(d->verbs, (int)e->p.cq_entries, q, d->ch,
			      comp_vector(e, d->verbs));
	if (!q->cq) {
		rr_log(&e->h, RR_LOG_ERR, "ibv_create_cq (CQ %u of %s): %s",
		       d->n_cqs + 1, ibv_get_device_name(d->verbs->device),
		       strerror(errno));
		free(q);
		return NULL;
	}
	rr_share_add_cq(d, q);
	d->cqs[d->n_cqs++] = q;
	return q;
}

/* QP, buffers, initial receives, table entry. 0 or -errno. */
static int setup_qp(struct rring_engine *e, struct rring_conn *c)
{
	struct ibv_qp_init_attr attr;
	struct rr_cq *q;
	int ret;

	c->dev = get_dev(e, c->cm_id->verbs);
	if (!c->dev)
		return -errno;
	q = get_cq(e, c->dev);
	if (!q)
		return errno ? -errno : -ENOMEM;
	memset(&attr, 0, sizeof(attr));
	attr.send_cq = q->cq;
	attr.recv_cq = q->cq;
	attr.qp_type = IBV_QPT_RC;
	attr.sq_sig_all = 0;
	attr.qp_context = e; /* the owner of its async events (async_share.c) */
	e->layer->qp_caps(e, &attr.cap);
	if (rdma_create_qp(c->cm_id, c->dev->pd, &attr))
		return -errno;
	c->cq = q;
	q->users++;
	c->qp_num = c->cm_id->qp->qp_num;
	ret = e->layer->setup(e, c);
	if (ret)
		return ret;
	return rr_table_add_qp(e, c);
}

/* A CQ must hold every work request of the connections that share it, or
 * it overflows (fatal for the CQ): get_cq puts at most per_cq on one, which
 * needs room for at least one. */
static int cq_has_room(struct rring_engine *e)
{
	uint64_t n = conn_wrs(e);

	if (n <= e->p.cq_entries)
		return 1;
	rr_log(&e->h, RR_LOG_WARN,
	       "connection refused: cq-entries %u too small for "
	       "%llu work requests per connection",
	       e->p.cq_entries, (unsigned long long)n);
	return 0;
}

static void conn_param(struct rdma_conn_param *p)
{
	memset(p, 0, sizeof(*p));
	p->responder_resources = 1;
	p->initiator_depth = 1;
	p->retry_count = 7;
	p->rnr_retry_count = 7;
}

/* ---- Teardown ----------------------------------------------------------- */

/*
 * Route every completion already in c's CQ before c closes (completions
 * of a closing connection are dropped): the poller reads rdma_cm events
 * after a bounded number of completions per CQ, so a peer's DISCONNECTED
 * can be read while what it sent just before, and saw acknowledged, still
 * waits in the CQ. Its owner then gets that data ahead of RR_CQE_CLOSE.
 * The CQ is shared; the other connections' completions are routed too, in
 * CQ order. At most the CQ's capacity: all that can have been there when
 * the close began, so a busy neighbour cannot keep this loop going. Not
 * from inside routing: the completions polled there and not yet routed
 * are older than anything polled here.
 */
static void drain_cq(struct rring_engine *e, struct rring_conn *c)
{
	int left, n;

	if (e->routing || !c->cq)
		return;
	left = c->cq->cq->cqe;
	while (left > 0 && (n = rr_poller_poll_cq(e, c->cq->cq)) > 0)
		left -= n;
}

/* Mark c closing with status and tell its owner (or reap it); what its CQ
 * still holds is dropped by routing from now on. */
static void mark_closing(struct rring_engine *e, struct rring_conn *c,
			 int status)
{
	enum rr_conn_state prev = c->state;
	struct rr_cqe q;

	rr_conn_set_state(e, c, RR_CONN_CLOSING);
	c->close_status = status;
	if (c->cm_id && prev != RR_CONN_RESOLVING)
		rdma_disconnect(c->cm_id); /* errors: already down */
	if (!c->outbound && prev != RR_CONN_ESTABLISHED) {
		/* The owner never heard of it: no handshake needed. */
		c->reap_next = e->reap;
		e->reap = c;
		return;
	}
	memset(&q, 0, sizeof(q));
	q.type = RR_CQE_CLOSE;
	q.conn = c;
	q.status = status;
	rr_poller_push(e, c->owner, &q);
}

void rr_conn_begin_close(struct rring_engine *e, struct rring_conn *c,
			 int status)
{
	if (c->state == RR_CONN_CLOSING)
		return;
	drain_cq(e, c); /* may close c itself: an error completion */
	if (c->state != RR_CONN_CLOSING)
		mark_closing(e, c, status);
}

void rr_conn_destroy(struct rring_engine *e, struct rring_conn *c)
{
	int i;

	/* Route what is still queued for this QP (dropped: CLOSING) so a
	 * reused qp_num cannot receive a stale completion. */
	for (i = 0; c->cq && i < 16; i++)
		if (rr_poller_poll_cq(e, c->cq->cq) == 0)
			break;
	if (c->cm_id && c->cm_id->qp)
		rdma_destroy_qp(c->cm_id);
	if (c->cq)
		c->cq->users--; /* room for the next connection */
	c->cq = NULL;
	e->layer->teardown(e, c);
	if (c->cm_id)
		rdma_destroy_id(c->cm_id);
	c->cm_id = NULL;
	rr_table_del(e, c);
}

static void reap(struct rring_engine *e)
{
	struct rring_conn *c, *next;

	c = e->reap;
	e->reap = NULL;
	for (; c; c = next) {
		next = c->reap_next;
		rr_conn_destroy(e, c);
	}
}

unsigned int rr_conn_close_where(struct rring_engine *e,
				 int (*match)(const struct rring_conn *c,
					      const void *arg),
				 const void *arg, int status, const char *why)
{
	struct cds_lfht_iter it;
	struct cds_lfht_node *node;
	struct rring_conn *c;
	unsigned int n = 0;

	/* Not cds_lfht_for_each_entry: its container_of on the final NULL
	 * node is undefined behaviour (UBSan reports it). */
	rcu_read_lock();
	/* Two walks: first everything that arrived before reaches the
	 * owners; then all are marked at once, without draining again, so
	 * that the disconnect of one cannot fail its peer's work first (both
	 * ends in one process) and close it with another status. */
	for (cds_lfht_first(e->by_id, &it);
	     (node = cds_lfht_iter_get_node(&it)) != NULL;
	     cds_lfht_next(e->by_id, &it)) {
		c = caa_container_of(node, struct rring_conn, id_node);
		if (c->state != RR_CONN_CLOSING && (!match || match(c, arg)))
			drain_cq(e, c);
	}
	for (cds_lfht_first(e->by_id, &it);
	     (node = cds_lfht_iter_get_node(&it)) != NULL;
	     cds_lfht_next(e->by_id, &it)) {
		c = caa_container_of(node, struct rring_conn, id_node);
		if (c->state == RR_CONN_CLOSING || (match && !match(c, arg)))
			continue;
		if (why)
			rr_log(&e->h, RR_LOG_WARN, "conn %llu: %s: closing",
			       (unsigned long long)c->id, why);
		mark_closing(e, c, status);
		n++;
	}
	rcu_read_unlock();
	/* after the walk: reaping removes table entries */
	reap(e);
	return n;
}

void rr_conn_close_all(struct rring_engine *e)
{
	rr_conn_close_where(e, NULL, NULL, -ESHUTDOWN, NULL);
}

/* ---- Listen and connect (control requests) ------------------------------ */

int rr_cm_listen(struct rring_engine *e, struct rr_ctl *ctl)
{
	struct rr_listener *l = calloc(1, sizeof(*l));
	int ret;

	if (!l)
		return -ENOMEM;
	l->ctx = ctl->ctx;
	if (rdma_create_id(e->cm_ch, &l->id, l, RDMA_PS_TCP)) {
		ret = -errno;
		free(l);
		return ret;
	}
	if (rdma_bind_addr(l->id, (struct sockaddr *)&ctl->addr) ||
	    rdma_listen(l->id, RR_BACKLOG)) {
		ret = -errno;
		rdma_destroy_id(l->id);
		free(l);
		return ret;
	}
	l->next = e->listeners;
	e->listeners = l;
	return ntohs(rdma_get_src_port(l->id));
}

/* Destroy the listeners made with ctl->ctx; the connections they accepted
 * have ids of their own and stay. Requests not yet taken from the event
 * channel go with the listen id (rdma_destroy_id drops them). */
int rr_cm_unlisten(struct rring_engine *e, struct rr_ctl *ctl)
{
	struct rr_listener **pp = &e->listeners, *l;
	int n = 0;

	while ((l = *pp)) {
		if (l->ctx != ctl->ctx) {
			pp = &l->next;
			continue;
		}
		*pp = l->next;
		rdma_destroy_id(l->id);
		free(l);
		n++;
	}
	return n;
}

void rr_cm_connect(struct rring_engine *e, struct rr_ctl *ctl)
{
	struct rring_conn *c = rr_conn_new(e, ctl->conn_id, rr_pick_owner(e));

	if (!c) {
		rr_log(&e->h, RR_LOG_ERR, "connect: out of memory");
		return;
	}
	c->outbound = 1;
	c->peer = ctl->addr;
	c->ctx = ctl->ctx;
	rr_conn_set_state(e, c, RR_CONN_RESOLVING);
	rr_table_add(e, c);
	if (e->stopping) {
		rr_conn_begin_close(e, c, -ESHUTDOWN);
		return;
	}
	if (e->n_conns > e->p.max_connections || !cq_has_room(e)) {
		rr_conn_begin_close(e, c, -EMFILE);
		return;
	}
	if (rdma_create_id(e->cm_ch, &c->cm_id, c, RDMA_PS_TCP) ||
	    rdma_resolve_addr(c->cm_id, NULL, (struct sockaddr *)&ctl->addr,
			      RR_RESOLVE_MS))
		rr_conn_begin_close(e, c, errno ? -errno : -EIO);
}

/* ---- Events ------------------------------------------------------------- */

static void copy_addr(struct sockaddr_storage *to, const struct sockaddr *sa)
{
	memset(to, 0, sizeof(*to));
	if (sa && sa->sa_family == AF_INET)
		memcpy(to, sa, sizeof(struct sockaddr_in));
	else if (sa && sa->sa_family == AF_INET6)
		memcpy(to, sa, sizeof(struct sockaddr_in6));
}

static void on_connect_request(struct rring_engine *e, struct rdma_cm_event *ev)
{
	struct rr_listener *l = ev->listen_id->context;
	struct rdma_conn_param param;
	struct rring_conn *c;
	int ret;

	if (e->stopping || e->n_conns >= e->p.max_connections ||
	    !cq_has_room(e)) {
		rdma_reject(ev->id, NULL, 0);
		e->reject_id = ev->id; /* ours; destroyed after the ack */
		return;
	}
	c = rr_conn_new(
	    e, __atomic_fetch_add(&e->next_conn_id, 1, __ATOMIC_RELAXED),
	    rr_pick_owner(e));
	if (!c) {
		rdma_reject(ev->id, NULL, 0);
		e->reject_id = ev->id;
		return;
	}
	c->cm_id = ev->id;
	c->cm_id->context = c;
	copy_addr(&c->peer, rdma_get_peer_addr(ev->id));
	c->ctx = l->ctx;
	rr_conn_set_state(e, c, RR_CONN_CONNECTING);
	rr_table_add(e, c);
	ret = setup_qp(e, c);
	conn_param(&param);
	if (!ret && rdma_accept(c->cm_id, &param))
		ret = errno ? -errno : -EIO;
	if (ret) {
		rr_log(&e->h, RR_LOG_WARN, "accept failed: %s", strerror(-ret));
		rdma_reject(c->cm_id, NULL, 0);
		rr_conn_begin_close(e, c, ret);
	}
}

static void on_route_resolved(struct rring_engine *e, struct rring_conn *c)
{
	struct rdma_conn_param param;
	int ret = setup_qp(e, c);

	conn_param(&param);
	rr_conn_set_state(e, c, RR_CONN_CONNECTING);
	if (!ret && rdma_connect(c->cm_id, &param))
		ret = errno ? -errno : -EIO;
	if (ret)
		rr_conn_begin_close(e, c, ret);
}

static int event_errno(const struct rdma_cm_event *ev)
{
	switch (ev->event) {
	case RDMA_CM_EVENT_ADDR_ERROR:
	case RDMA_CM_EVENT_ROUTE_ERROR:
		return -EHOSTUNREACH;
	case RDMA_CM_EVENT_UNREACHABLE:
		/* a negative status names the cause (-ECONNREFUSED: nobody
		 * listens on the port, -ETIMEDOUT: no answer) */
		return ev->status < 0 ? ev->status : -ENETUNREACH;
	case RDMA_CM_EVENT_REJECTED:
		return -ECONNREFUSED;
	case RDMA_CM_EVENT_CONNECT_ERROR:
		return -ECONNABORTED;
	case RDMA_CM_EVENT_DEVICE_REMOVAL:
		return -ENODEV;
	default:
		return -EIO;
	}
}

static void on_conn_event(struct rring_engine *e, struct rdma_cm_event *ev)
{
	struct rring_conn *c = ev->id->context;

	if (!c || c->state == RR_CONN_CLOSING)
		return;
	switch (ev->event) {
	case RDMA_CM_EVENT_ADDR_RESOLVED:
		if (c->state == RR_CONN_RESOLVING &&
		    rdma_resolve_route(c->cm_id, RR_RESOLVE_MS))
			rr_conn_begin_close(e, c, -errno);
		break;
	case RDMA_CM_EVENT_ROUTE_RESOLVED:
		if (c->state == RR_CONN_RESOLVING)
			on_route_resolved(e, c);
		break;
	case RDMA_CM_EVENT_ESTABLISHED:
		if (c->state == RR_CONN_CONNECTING) {
			struct rr_cqe q = {.type = RR_CQE_ESTABLISHED,
					   .conn = c};

			rr_conn_set_state(e, c, RR_CONN_ESTABLISHED);
			rr_poller_push(e, c->owner, &q);
		}
		break;
	case RDMA_CM_EVENT_DISCONNECTED:
		/* Drained before the state is read: a peer that sent at once
		 * and left may be established only by those completions. */
		drain_cq(e, c);
		rr_conn_begin_close(
		    e, c, c->state == RR_CONN_ESTABLISHED ? 0 : -ECONNRESET);
		break;
	case RDMA_CM_EVENT_TIMEWAIT_EXIT:
	case RDMA_CM_EVENT_CONNECT_RESPONSE:
		break;
	default:
		rr_conn_begin_close(e, c, event_errno(ev));
		break;
	}
}

static int is_listener(struct rring_engine *e, struct rdma_cm_id *id)
{
	struct rr_listener *l;

	for (l = e->listeners; l; l = l->next)
		if (l->id == id)
			return 1;
	return 0;
}

/* Handle every pending rdma_cm event; returns how many. */
int rr_cm_events(struct rring_engine *e)
{
	struct rdma_cm_event *ev;
	int n = 0;

	while (rdma_get_cm_event(e->cm_ch, &ev) == 0) {
		n++;
		if (ev->event == RDMA_CM_EVENT_CONNECT_REQUEST)
			on_connect_request(e, ev);
		else if (!is_listener(e, ev->id))
			on_conn_event(e, ev);
		else if (ev->event == RDMA_CM_EVENT_DEVICE_REMOVAL)
			rr_log(&e->h, RR_LOG_ERR, "listener's device removed");
		rdma_ack_cm_event(ev);
		if (e->reject_id)
			rdma_destroy_id(e->reject_id);
		e->reject_id = NULL;
		reap(e);
	}
	reap(e);
	return n;
}

/*
 * Poller, at connection setup: post n receives of len bytes, slot i at
 * base + i * len with wr_id wrid_base | i (the data layers' first
 * receives). 0 or -errno.
 */
int rr_post_recv_slots(struct ibv_qp *qp, unsigned char *base, uint32_t n,
		       uint32_t len, uint32_t lkey, uint64_t wrid_base)
{
	struct ibv_recv_wr wr, *bad;
	struct ibv_sge sge;
	uint32_t i;
	int ret;

	for (i = 0; i < n; i++) {
		memset(&wr, 0, sizeof(wr));
		sge.addr = (uintptr_t)(base + (size_t)i * len);
		sge.length = len;
		sge.lkey = lkey;
		wr.wr_id = wrid_base | i;
		wr.sg_list = &sge;
		wr.num_sge = 1;
		ret = ibv_post_recv(qp, &wr, &bad);
		if (ret)
			return -ret; /* verbs return a positive errno */
	}
	return 0;
}
