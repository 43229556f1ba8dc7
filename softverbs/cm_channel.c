// SPDX-License-Identifier: BSD-3-Clause
/* softverbs rdma_cm: event channels, the event queue, rdma_get_cm_event and rdma_ack_cm_event. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "cm_internal.h"

/*
 * The channel's fd is an epoll instance watching one internal non-blocking
 * EFD_SEMAPHORE eventfd whose count is, under cm_lock, exactly the number
 * of queued events: the fd polls readable iff an event is queued, also
 * after rdma_destroy_id or rdma_migrate_id took events away. A blocking
 * rdma_get_cm_event waits in epoll_wait (a cancellation point, as the
 * kernel's read is); O_NONBLOCK set by the user on the fd gives EAGAIN.
 */

static void count_up(struct cm_channel *c)
{
	uint64_t one = 1;

	if (write(c->efd, &one, sizeof(one)) != sizeof(one))
		sv_log(SV_LOG_ERR, "cm: event channel write: %s",
		       strerror(errno));
}

static void count_down(struct cm_channel *c)
{
	uint64_t one;

	if (read(c->efd, &one, sizeof(one)) != sizeof(one))
		sv_log(SV_LOG_ERR, "cm: event channel read: %s",
		       strerror(errno));
}

struct cm_channel *cm_channel_new(void)
{
	struct epoll_event e = { .events = EPOLLIN };
	struct cm_channel *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->efd = eventfd(0, EFD_SEMAPHORE | EFD_NONBLOCK | EFD_CLOEXEC);
	if (c->efd < 0)
		goto err_free;
	c->ch.fd = epoll_create1(EPOLL_CLOEXEC);
	if (c->ch.fd < 0)
		goto err_close_efd;
	if (epoll_ctl(c->ch.fd, EPOLL_CTL_ADD, c->efd, &e))
		goto err_close_ep;
	c->tailp = &c->head;
	return c;
err_close_ep:
	close(c->ch.fd);
err_close_efd:
	close(c->efd);
err_free:
	free(c);
	return NULL;
}

struct cm_channel *cm_channel_of(struct rdma_event_channel *ch)
{
	return (struct cm_channel *)ch;
}

static void channel_push(struct cm_channel *c, struct cm_event *e)
{
	e->next = NULL;
	*c->tailp = e;
	c->tailp = &e->next;
	count_up(c);
}

struct cm_event *cm_channel_pop(struct cm_channel *c)
{
	struct cm_event *e = c->head;

	if (e) {
		c->head = e->next;
		if (!c->head)
			c->tailp = &c->head;
		e->next = NULL;
		count_down(c);
	}
	return e;
}

int cm_queue_event(struct cm_id *owner, struct cm_id *target,
		   enum rdma_cm_event_type type, int status,
		   const struct cm_msg *msg, unsigned int pad)
{
	struct cm_event *e = calloc(1, sizeof(*e));
	struct rdma_conn_param *p;

	if (!e) {
		sv_log(SV_LOG_ERR, "cm: no memory for %s",
		       rdma_event_str(type));
		return -ENOMEM;
	}
	e->owner = owner;
	e->target = target;
	e->ev.id = &target->id;
	e->ev.event = type;
	e->ev.status = status;
	if (msg) {
		p = &e->ev.param.conn;
		/* The receiver's view: the peer's depth is our resources. */
		p->responder_resources = msg->init_depth;
		p->initiator_depth = msg->resp_res;
		p->flow_control = msg->flow_control;
		p->retry_count = msg->retry_count;
		p->rnr_retry_count = msg->rnr_retry_count;
		p->srq = msg->srq;
		p->qp_num = msg->qpn;
		if (pad) {
			memcpy(e->pdata, msg->pdata, msg->pdata_len);
			p->private_data = e->pdata;
			p->private_data_len = (uint8_t)pad;
		}
	}
	channel_push(owner->chan, e);
	return 0;
}

void cm_channel_drop(struct cm_channel *c, struct cm_id *id)
{
	struct cm_event **pp = &c->head, *e;

	while ((e = *pp)) {
		if (e->owner != id && e->target != id) {
			pp = &e->next;
			continue;
		}
		*pp = e->next;
		count_down(c);
		free(e);
	}
	c->tailp = pp;
}

void cm_channel_move(struct cm_id *id, struct cm_channel *to)
{
	struct cm_channel *from = id->chan;
	struct cm_event **pp = &from->head, *e;

	if (from == to)
		return;
	while ((e = *pp)) {
		if (e->owner != id) {
			pp = &e->next;
			continue;
		}
		*pp = e->next;
		count_down(from);
		channel_push(to, e);
	}
	from->tailp = &from->head;
	for (e = from->head; e; e = e->next)
		from->tailp = &e->next;
	id->chan = to;
	id->id.channel = &to->ch;
}

static void channel_release(struct cm_channel *c)
{
	close(c->ch.fd);
	close(c->efd);
	free(c);
}

static struct cm_channel *dead_channels; /* cm_lock */

/*
 * cm_lock held: drop the queued events; true when the channel can be freed
 * now. Otherwise threads are blocked in rdma_get_cm_event() on it (rping
 * destroys its channel while its cm thread waits, then cancels that thread;
 * with the kernel's rdma_cm that thread stays blocked in read() too): the
 * fds stay open under them and the last one to return frees the channel.
 */
static bool channel_kill_locked(struct cm_channel *c)
{
	struct cm_event *e;

	while ((e = cm_channel_pop(c)))
		free(e);
	c->dead = true;
	if (!c->waiters)
		return true;
	c->next_dead = dead_channels;
	dead_channels = c;
	return false;
}

void cm_channel_free(struct cm_channel *c)
{
	bool now;

	pthread_mutex_lock(&cm_lock);
	now = channel_kill_locked(c);
	pthread_mutex_unlock(&cm_lock);
	if (now)
		channel_release(c);
}

void cm_channel_wait_begin(struct cm_channel *c)
{
	c->waiters++;
}

bool cm_channel_wait_end(struct cm_channel *c)
{
	struct cm_channel **pp;

	if (--c->waiters || !c->dead)
		return false;
	for (pp = &dead_channels; *pp; pp = &(*pp)->next_dead) {
		if (*pp == c) {
			*pp = c->next_dead;
			break;
		}
	}
	return true;
}

void cm_channel_release(struct cm_channel *c)
{
	channel_release(c);
}

struct rdma_event_channel *rdma_create_event_channel(void)
{
	struct cm_channel *c;
	int ret = sv_init();

	if (ret) {
		errno = -ret;
		return NULL;
	}
	c = cm_channel_new();
	if (!c)
		return NULL;
	sv_strict_touch(&c->owner, "rdma_event_channel", c);
	return &c->ch;
}

void rdma_destroy_event_channel(struct rdma_event_channel *channel)
{
	struct cm_channel *c = cm_channel_of(channel);

	if (!channel)
		return;
	sv_strict_touch(&c->owner, "rdma_event_channel", c);
	pthread_mutex_lock(&cm_lock);
	if (c->head)
		sv_log(SV_LOG_WARN,
		       "cm: channel %p destroyed with events queued",
		       (void *)c);
	if (c->waiters)
		sv_log(SV_LOG_DEBUG,
		       "cm: channel %p destroyed while %u thread(s) wait on it",
		       (void *)c, c->waiters);
	pthread_mutex_unlock(&cm_lock);
	cm_channel_free(c);
}
