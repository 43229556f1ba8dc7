// SPDX-License-Identifier: BSD-3-Clause
/* rdmaring: engines of one process share a device context: who an async event is for. */
#include <pthread.h>
#include <stdatomic.h>

#include "engine.h"

/*
 * rdma_cm opens one verbs context per device for the whole process, so the
 * engines of a process share its async event queue and a poller may read an
 * event about another engine's QP or CQ, or a port or device event that
 * every engine on the device must see. The reader acks the event at once
 * and puts a copy (struct rr_async_note) in the inbox of each engine it is
 * for, waking that engine's poller; each engine handles its own notes on its
 * own poller thread (rr_share_drain), so no poller touches another engine's
 * connections. QP ownership is the QP's qp_context (the engine sets its own
 * address there); CQs and devices are found in the lists below.
 */

static pthread_mutex_t share_lock = PTHREAD_MUTEX_INITIALIZER;
static struct rr_dev *shared_devs; /* under share_lock */
static struct rr_cq *shared_cqs;   /* under share_lock */

void rr_share_add_dev(struct rring_engine *e, struct rr_dev *d)
{
	pthread_mutex_lock(&share_lock);
	d->e = e;
	d->shared_next = shared_devs;
	shared_devs = d;
	pthread_mutex_unlock(&share_lock);
}

void rr_share_del_dev(struct rr_dev *d)
{
	struct rr_dev **p;

	pthread_mutex_lock(&share_lock);
	for (p = &shared_devs; *p; p = &(*p)->shared_next)
		if (*p == d) {
			*p = d->shared_next;
			break;
		}
	pthread_mutex_unlock(&share_lock);
}

void rr_share_add_cq(struct rr_dev *d, struct rr_cq *q)
{
	pthread_mutex_lock(&share_lock);
	q->dev = d;
	q->shared_next = shared_cqs;
	shared_cqs = q;
	pthread_mutex_unlock(&share_lock);
}

void rr_share_del_cq(struct rr_cq *q)
{
	struct rr_cq **p;

	pthread_mutex_lock(&share_lock);
	for (p = &shared_cqs; *p; p = &(*p)->shared_next)
		if (*p == q) {
			*p = q->shared_next;
			break;
		}
	pthread_mutex_unlock(&share_lock);
}

/* Under share_lock: the note goes to n->dev's engine. */
static void deliver(struct rring_engine *reader, struct rr_async_note *n)
{
	struct rring_engine *e = n->dev->e;

	pthread_mutex_lock(&e->inbox_lock);
	if (e->n_inbox < RR_ASYNC_INBOX)
		e->inbox[e->n_inbox++] = *n;
	else
		e->inbox_lost++;
	pthread_mutex_unlock(&e->inbox_lock);
	atomic_store_explicit(&e->inbox_ready, 1, memory_order_relaxed);
	if (e != reader)
		rr_wake_fd(e->poller_efd);
}

/* Under share_lock: the engine device on @verbs whose engine is the
 * qp_context @tag, or NULL. */
static struct rr_dev *qp_owner(const struct ibv_context *verbs,
			       const void *tag)
{
	struct rr_dev *d;

	for (d = shared_devs; d; d = d->shared_next)
		if (d->verbs == verbs && (const void *)d->e == tag)
			return d;
	return NULL;
}

void rr_share_dispatch(struct rring_engine *e, struct rr_dev *d,
		       const struct ibv_async_event *ev)
{
	struct rr_async_note n = {.type = ev->event_type, .dev = d};
	struct rr_dev *o;
	struct rr_cq *q;

	pthread_mutex_lock(&share_lock);
	switch (ev->event_type) {
	case IBV_EVENT_CQ_ERR:
		for (q = shared_cqs; q && q->cq != ev->element.cq;
		     q = q->shared_next)
			;
		n.cq = q;
		if (q)
			n.dev = q->dev;
		deliver(e, &n);
		break;
	case IBV_EVENT_QP_FATAL:
	case IBV_EVENT_QP_REQ_ERR:
	case IBV_EVENT_QP_ACCESS_ERR:
	case IBV_EVENT_COMM_EST:
	case IBV_EVENT_SQ_DRAINED:
	case IBV_EVENT_PATH_MIG:
	case IBV_EVENT_PATH_MIG_ERR:
	case IBV_EVENT_QP_LAST_WQE_REACHED:
		/* qp_context is compared, never followed: a QP of the
		 * application's own carries whatever it chose */
		n.qpn = ev->element.qp->qp_num;
		o = qp_owner(d->verbs, ev->element.qp->qp_context);
		if (o)
			n.dev = o;
		deliver(e, &n);
		break;
	case IBV_EVENT_SRQ_ERR:
	case IBV_EVENT_SRQ_LIMIT_REACHED:
		deliver(e, &n); /* the engine has no SRQ: logged */
		break;
	default: /* port and device events: every engine on the device */
		n.port = (uint8_t)ev->element.port_num;
		for (o = shared_devs; o; o = o->shared_next)
			if (o->verbs == d->verbs) {
				n.dev = o;
				deliver(e, &n);
			}
		break;
	}
	pthread_mutex_unlock(&share_lock);
}

int rr_share_drain(struct rring_engine *e)
{
	struct rr_async_note notes[RR_ASYNC_INBOX];
	unsigned int i, n, lost;

	/* Cleared before the inbox is read: a note delivered after this
	 * sets it again, so none waits for the next event. */
	if (!atomic_exchange_explicit(&e->inbox_ready, 0,
				      memory_order_relaxed))
		return 0;
	pthread_mutex_lock(&e->inbox_lock);
	n = e->n_inbox;
	for (i = 0; i < n; i++)
		notes[i] = e->inbox[i];
	e->n_inbox = 0;
	lost = e->inbox_lost;
	e->inbox_lost = 0;
	pthread_mutex_unlock(&e->inbox_lock);
	if (lost)
		rr_log(&e->h, RR_LOG_ERR,
		       "%u async events lost: more than %d arrived between two "
		       "passes of the poller",
		       lost, RR_ASYNC_INBOX);
	for (i = 0; i < n; i++)
		rr_async_handle(e, &notes[i]);
	return (int)n;
}
