// SPDX-License-Identifier: BSD-3-Clause
/* softverbs: a context's async event queue, and the ack rule that keeps an event's object alive. */
#include <errno.h>
#include <stdbool.h>
#include <unistd.h>

#include "softverbs.h"
#include "sv_extra.h"
#include "sv_priv.h"

/* Where an event's object counts its events: handed out (under the
 * context's ev_lock) and acked (under the object's ibv mutex). */
struct ev_counts {
	unsigned int *reported;
	uint32_t *completed;
	pthread_mutex_t *mutex;
	pthread_cond_t *cond;
};

static bool ev_counts(const struct ibv_async_event *ev, struct ev_counts *c)
{
	switch (ev->event_type) {
	case IBV_EVENT_CQ_ERR: {
		struct sv_cq *cq = SV_container_of(ev->element.cq, struct sv_cq,
						   ibv);

		*c = (struct ev_counts){ &cq->async_reported,
					 &cq->ibv.async_events_completed,
					 &cq->ibv.mutex, &cq->ibv.cond };
		return true;
	}
	case IBV_EVENT_SRQ_ERR:
	case IBV_EVENT_SRQ_LIMIT_REACHED: {
		struct sv_srq *srq = SV_container_of(ev->element.srq,
						     struct sv_srq, ibv);

		*c = (struct ev_counts){ &srq->async_reported,
					 &srq->ibv.events_completed,
					 &srq->ibv.mutex, &srq->ibv.cond };
		return true;
	}
	case IBV_EVENT_QP_FATAL:
	case IBV_EVENT_QP_REQ_ERR:
	case IBV_EVENT_QP_ACCESS_ERR:
	case IBV_EVENT_COMM_EST:
	case IBV_EVENT_SQ_DRAINED:
	case IBV_EVENT_PATH_MIG:
	case IBV_EVENT_PATH_MIG_ERR:
	case IBV_EVENT_QP_LAST_WQE_REACHED: {
		struct sv_qp *qp = SV_container_of(ev->element.qp, struct sv_qp,
						   ibv);

		*c = (struct ev_counts){ &qp->async_reported,
					 &qp->ibv.events_completed,
					 &qp->ibv.mutex, &qp->ibv.cond };
		return true;
	}
	default:
		return false;
	}
}

void sv_async_event(struct sv_context *ctx, const struct ibv_async_event *ev)
{
	char one = 1;
	bool ok = false;

	pthread_mutex_lock(&ctx->ev_lock);
	if (ctx->ev_count < SV_ASYNC_QUEUE) {
		unsigned int i = (ctx->ev_head + ctx->ev_count) % SV_ASYNC_QUEUE;

		ctx->ev[i] = *ev;
		ctx->ev_dropped[i] = false;
		ctx->ev_count++;
		ok = true;
	}
	pthread_mutex_unlock(&ctx->ev_lock);
	if (ok && write(ctx->async_wfd, &one, 1) != 1)
		sv_log(SV_LOG_WARN, "async event pipe full");
}

int ibv_get_async_event(struct ibv_context *context,
			struct ibv_async_event *event)
{
	struct sv_context *c = sv_ctx(context);
	struct ev_counts n;
	bool dropped;
	char b;

	do {
		ssize_t r = read(context->async_fd, &b, 1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r != 1)
			return -1;
		pthread_mutex_lock(&c->ev_lock);
		*event = c->ev[c->ev_head];
		dropped = c->ev_dropped[c->ev_head];
		c->ev_head = (c->ev_head + 1) % SV_ASYNC_QUEUE;
		c->ev_count--;
		/* counted before ev_lock is released: a destroy that purges
		 * after this point waits for this event's ack */
		if (!dropped && ev_counts(event, &n))
			(*n.reported)++;
		pthread_mutex_unlock(&c->ev_lock);
	} while (dropped);
	return 0;
}

void ibv_ack_async_event(struct ibv_async_event *event)
{
	struct ev_counts n;

	if (!ev_counts(event, &n))
		return;
	pthread_mutex_lock(n.mutex);
	(*n.completed)++;
	pthread_cond_broadcast(n.cond);
	pthread_mutex_unlock(n.mutex);
}

/* As rdma-core: destroying a QP, CQ or SRQ drops its events nobody has
 * fetched yet and waits until every fetched one is acked, so another thread
 * may read ev->element until its ibv_ack_async_event. */
void sv_async_quiesce(struct sv_context *ctx, const struct ibv_async_event *ev)
{
	struct ev_counts mine, n;
	unsigned int i, want;

	if (!ev_counts(ev, &mine))
		return;
	pthread_mutex_lock(&ctx->ev_lock);
	for (i = 0; i < ctx->ev_count; i++) {
		unsigned int k = (ctx->ev_head + i) % SV_ASYNC_QUEUE;

		if (ev_counts(&ctx->ev[k], &n) && n.reported == mine.reported)
			ctx->ev_dropped[k] = true;
	}
	want = *mine.reported;
	pthread_mutex_unlock(&ctx->ev_lock);
	pthread_mutex_lock(mine.mutex);
	while (*mine.completed != want)
		pthread_cond_wait(mine.cond, mine.mutex);
	pthread_mutex_unlock(mine.mutex);
}

int softverbs_raise_async_event(struct ibv_context *ctx,
				const struct ibv_async_event *ev)
{
	if (!sv_is_context(ctx) || !ev)
		return -EINVAL;
	sv_async_event(sv_ctx(ctx), ev);
	return 0;
}
