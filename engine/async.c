// SPDX-License-Identifier: BSD-3-Clause
/* rdmaring: verbs async events: a NIC fault closes the connections it hits.
 */
#include <errno.h>
#include <stdio.h>

#include "engine.h"

/*
 * The poller reads each device's async event fd (non-blocking, in its
 * epoll set, and every RR_CM_CHECK_EVERY busy loops like the rdma_cm fd).
 * A fault closes the connections it affects through the normal two-phase
 * teardown, with a log line naming the event and each connection, so that
 * nothing waits for completions that will never come:
 *
 *   event                                 closes                 status
 *   CQ error (overflow or CQ failure)     every conn on that CQ  -EIO
 *   QP fatal, QP request/access error     that QP's conn         -EIO
 *                                         (named even if closing)
 *   port error                            the port's conns       -ENETDOWN
 *   device fatal                          the device's conns     -ENODEV
 *
 * A failed CQ takes no new connection (cm.c get_cq). Other events (port
 * active, LID change, communication established, ...) are logged only.
 * Every event is acknowledged at once, by whichever engine's poller read
 * it (the engines of a process share the device context), and handled as
 * a copy by the engine it is for (async_share.c): no poller holds an
 * event, so destroying a QP or CQ never waits for an acknowledgement.
 */

static int on_cq(const struct rring_conn *c, const void *arg)
{
	return c->cq == arg;
}

static int on_dev(const struct rring_conn *c, const void *arg)
{
	return c->dev == arg;
}

struct port_match {
	const struct rr_dev *dev;
	uint8_t port;
};

static int on_port(const struct rring_conn *c, const void *arg)
{
	const struct port_match *m = arg;

	return c->dev == m->dev && c->cm_id && c->cm_id->port_num == m->port;
}

/* The QP's connection: named in the log even when its flushed work
 * requests already started the close. */
static void qp_event(struct rring_engine *e, uint32_t qpn, const char *name,
		     const char *dev)
{
	const struct rr_route *r = rr_table_route(e, qpn);
	struct rring_conn *c = r ? r->conn : NULL;

	if (c) {
		rr_log(&e->h, RR_LOG_ERR,
		       "conn %llu: async event '%s' on qp %u (%s): %s",
		       (unsigned long long)c->id, name, qpn, dev,
		       c->state == RR_CONN_CLOSING ? "already closing"
						   : "closing");
		rr_conn_begin_close(e, c, -EIO);
	} else {
		rr_log(&e->h, RR_LOG_INFO,
		       "%s: async event '%s' on qp %u: no connection", dev,
		       name, qpn);
	}
}

void rr_async_handle(struct rring_engine *e, const struct rr_async_note *ev)
{
	const char *name = ibv_event_type_str(ev->type);
	const char *dev = ibv_get_device_name(ev->dev->verbs->device);
	struct port_match pm = {.dev = ev->dev};
	char why[160];
	unsigned int n;

	switch (ev->type) {
	case IBV_EVENT_CQ_ERR:
		if (!ev->cq) {
			rr_log(&e->h, RR_LOG_INFO,
			       "%s: async event '%s' on a CQ of no engine", dev,
			       name);
			return;
		}
		ev->cq->failed = 1;
		snprintf(why, sizeof(why),
			 "async event '%s' (CQ overflow or "
			 "failure) on %s",
			 name, dev);
		n = rr_conn_close_where(e, on_cq, ev->cq, -EIO, why);
		break;
	case IBV_EVENT_QP_FATAL:
	case IBV_EVENT_QP_REQ_ERR:
	case IBV_EVENT_QP_ACCESS_ERR:
		qp_event(e, ev->qpn, name, dev);
		return;
	case IBV_EVENT_PORT_ERR:
		pm.port = ev->port;
		snprintf(why, sizeof(why), "async event '%s' on %s port %d",
			 name, dev, ev->port);
		n = rr_conn_close_where(e, on_port, &pm, -ENETDOWN, why);
		break;
	case IBV_EVENT_DEVICE_FATAL:
		snprintf(why, sizeof(why), "async event '%s' on %s", name, dev);
		n = rr_conn_close_where(e, on_dev, ev->dev, -ENODEV, why);
		break;
	default:
		rr_log(&e->h, RR_LOG_INFO, "%s: async event '%s'", dev, name);
		return;
	}
	if (n)
		rr_log(&e->h, RR_LOG_ERR, "%s: %u connection%s closed", why, n,
		       n == 1 ? "" : "s");
	else
		rr_log(&e->h, RR_LOG_INFO, "%s: no connection left to close",
		       why);
}

int rr_async_events(struct rring_engine *e)
{
	struct ibv_async_event ev;
	int i, n = 0;

	for (i = 0; i < e->n_devs; i++)
		while (ibv_get_async_event(e->devs[i].verbs, &ev) == 0) {
			rr_share_dispatch(e, &e->devs[i], &ev);
			ibv_ack_async_event(&ev);
			n++;
		}
	n += rr_share_drain(e);
	return n;
}
