// SPDX-License-Identifier: BSD-3-Clause
/* rdmaring: IO threads: consume completions, submit work, sleep and wake. */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"

/*
 * An IO thread consumes its completion ring (poller -> io) and produces on
 * its submission ring (io -> poller). Submissions are batched: entries are
 * written into reserved slots and published with one release store when a
 * batch ends (rring_io_process is one; the application may open one with
 * rring_io_batch_begin) or at once outside a batch, followed by one
 * NEED_WAKEUP check that wakes a sleeping poller. The data layer holds the
 * sends of a batch too and posts them when it ends (layer flush), so what
 * the application sent on a connection in one pass leaves together.
 *
 * Sleeping mirrors the poller: rring_spsc_prepare_sleep on the completion
 * ring (flag, full fence, re-check), then block on the eventfd that the
 * poller writes when it publishes with the flag set.
 */

#define RR_IO_BATCH 64

static void io_publish(struct rring_io *io)
{
	if (!io->sq_used)
		return;
	rring_spsc_publish(io->sq, io->sq_used);
	io->sq_idx += io->sq_used;
	io->sq_avail -= io->sq_used;
	io->sq_used = 0;
	/* Full fence inside pairs with prepare_sleep in poller_sleep. */
	if (rring_spsc_needs_wakeup(io->sq))
		rr_wake_fd(io->e->poller_efd);
}

void rr_io_flush(struct rring_io *io)
{
	io_publish(io);
}

int rr_io_submit(struct rring_io *io, const struct rr_sqe *sqe)
{
	if (rring_unlikely(io->sq_used == io->sq_avail)) {
		io_publish(io);
		/* The poller drains every ring each loop and never blocks,
		 * so a full submission ring empties soon. */
		while ((io->sq_avail = rring_spsc_reserve(
			    io->sq, rring_spsc_capacity(io->sq),
			    &io->sq_idx)) == 0) {
			if (atomic_load_explicit(&io->e->shutdown,
						 memory_order_acquire))
				return -ESHUTDOWN;
			sched_yield();
		}
	}
	memcpy(rr_sq_slot(io, io->sq_idx + io->sq_used), sqe,
	       sizeof(*sqe));
	io->sq_used++;
	if (!io->batch)
		io_publish(io);
	return 0;
}

void rring_io_batch_begin(struct rring_io *io)
{
	io->batch++;
}

/* The layer posts the sends it held; the batch stays open meanwhile, so
 * they are published together. */
static void layer_flush(struct rring_io *io)
{
	io->flushing = 1;
	if (io->e->layer->flush)
		io->e->layer->flush(io);
	io->flushing = 0;
}

void rring_io_batch_end(struct rring_io *io)
{
	if (io->batch > 1) {
		io->batch--;
		return;
	}
	layer_flush(io);
	io->batch = 0;
	io_publish(io);
}

int rr_io_check_owner(struct rring_conn *c, const char *fn)
{
	struct rring_io *io = c->owner;

	/* Acquire pairs with the release in set_owner. */
	if (rring_likely(
		atomic_load_explicit(&io->owner_set, memory_order_acquire) &&
		pthread_equal(io->owner_tid, pthread_self())))
		return 0;
	rr_log(&io->e->h, RR_LOG_ERR,
	       "%s: conn %llu belongs to IO thread %u; called from another "
	       "thread",
	       fn, (unsigned long long)c->id, io->idx);
	return -EPERM;
}

static void set_owner(struct rring_io *io)
{
	if (rring_likely(
		atomic_load_explicit(&io->owner_set, memory_order_relaxed)))
		return;
	io->owner_tid = pthread_self();
	/* Release pairs with the acquire in rr_io_check_owner. */
	atomic_store_explicit(&io->owner_set, 1, memory_order_release);
}

void rr_io_event(struct rring_io *io, const struct rring_event *ev)
{
	io->e->h.event(io, ev, io->e->h.arg);
}

static void conn_event(struct rring_io *io, struct rring_conn *c,
		       enum rring_event_type type, int status)
{
	struct rring_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.type = type;
	ev.status = status;
	ev.conn = c;
	ev.conn_ctx = c->ctx;
	rr_io_event(io, &ev);
}

static void on_established(struct rring_io *io, struct rring_conn *c)
{
	c->ostate = RR_OWN_OPEN;
	atomic_fetch_add_explicit(&io->st_conns, 1, memory_order_relaxed);
	if (io->e->layer->on_established)
		io->e->layer->on_established(io, c);
	conn_event(io, c,
		   c->outbound ? RRING_EVENT_CONNECTED : RRING_EVENT_ACCEPTED,
		   0);
}

/* The last entry for c: report, drop state, acknowledge. After the ack
 * the poller may free c, so c is not touched again. */
static void on_close(struct rring_io *io, struct rring_conn *c, int status)
{
	struct rr_sqe ack;

	if (c->ostate == RR_OWN_OPEN || c->ostate == RR_OWN_CLOSE_SENT)
		atomic_fetch_sub_explicit(&io->st_conns, 1,
					  memory_order_relaxed);
	io->e->layer->on_close(io, c);
	if (!status)
		status = c->close_err; /* the layer closed it for a reason */
	c->ostate = RR_OWN_CLOSED;
	conn_event(io, c, RRING_EVENT_CLOSED, status);
	memset(&ack, 0, sizeof(ack));
	ack.op = RR_SQE_CLOSE_ACK;
	ack.conn = c;
	rr_io_submit(io, &ack);
}

static void dispatch(struct rring_io *io, const struct rr_cqe *q)
{
	switch (q->type) {
	case RR_CQE_WC:
		io->e->layer->on_wc(io, q->conn, q);
		return;
	case RR_CQE_ESTABLISHED:
		on_established(io, q->conn);
		return;
	case RR_CQE_CLOSE:
		on_close(io, q->conn, q->status);
		return;
	case RR_CQE_MR:
		if (io->e->layer->on_mr)
			io->e->layer->on_mr(io, q);
		return;
	case RR_CQE_WAKE:
		return; /* the layer tick below does the work */
	}
	rr_log(&io->e->h, RR_LOG_ERR, "io %u: unknown completion type %u",
	       io->idx, q->type);
}

/* The data layer's timer (keepalives), on the owner, when due. */
static void layer_tick(struct rring_io *io)
{
	uint64_t now_ms;
	uint32_t next;

	if (!io->layer_tick_ms || !io->e->layer->tick)
		return;
	now_ms = rr_now_ns() / 1000000;
	if (now_ms < io->layer_tick_ms)
		return;
	next = io->e->layer->tick(io, now_ms);
	io->layer_tick_ms = next == UINT32_MAX ? 0 : now_ms + next;
}

/* poll() timeout until the next layer tick: -1 when none. */
static int tick_timeout(struct rring_io *io)
{
	uint64_t now_ms;

	if (!io->layer_tick_ms)
		return -1;
	now_ms = rr_now_ns() / 1000000;
	return now_ms >= io->layer_tick_ms ? 0
					   : (int)(io->layer_tick_ms - now_ms);
}

static int drain_efd(struct rring_io *io)
{
	uint64_t v;

	return read(io->efd, &v, sizeof(v)) == sizeof(v);
}

int rring_io_process(struct rring_io *io, unsigned int max)
{
	unsigned int done = 0;
	uint32_t idx, i, n;

	if (rring_unlikely(!io->cq))
		return -EINVAL;
	set_owner(io);
	rring_io_batch_begin(io);
	while (done < max) {
		uint32_t want =
		    max - done < RR_IO_BATCH ? max - done : RR_IO_BATCH;

		n = rring_spsc_peek(io->cq, want, &idx);
		if (!n)
			break;
		/* Counted before the handlers run, so a handler that reports
		 * progress never races ahead of the statistics. */
		atomic_fetch_add_explicit(&io->st_completions, n,
					  memory_order_relaxed);
		for (i = 0; i < n; i++)
			dispatch(io, rr_cq_slot(io, idx + i));
		rring_spsc_release(io->cq, n);
		done += n;
	}
	layer_tick(io);
	rring_io_batch_end(io);
	if (io->e->p.io_external) {
		/* Leave rring_io_fd readable exactly when work is left. */
		if (done == max) {
			io->efd_armed = 0;
			rr_wake_fd(io->efd);
		} else if (!io->efd_armed || !rring_spsc_sleep_armed(io->cq)) {
			drain_efd(io);
			io->efd_armed = rring_spsc_prepare_sleep(io->cq);
			if (!io->efd_armed) {
				rring_spsc_cancel_sleep(io->cq);
				rr_wake_fd(io->efd);
			}
		}
		/* Else nothing claimed the flag we set after draining, and
		 * only a claim writes the eventfd (the poller publishes its
		 * entries before it claims: one that came after our last
		 * peek claims and wakes us): the fd is not readable, so
		 * there is no read to spend (an application calling us for
		 * its own fds would pay one that fails with EAGAIN). */
	}
	if (!done &&
	    atomic_load_explicit(&io->e->shutdown, memory_order_acquire))
		return -ESHUTDOWN;
	return (int)done;
}

int rring_io_run(struct rring_io *io)
{
	struct rring_engine *e = io->e;
	uint64_t idle_since = 0;
	struct pollfd pfd = {.fd = io->efd, .events = POLLIN};
	int n;

	while (!atomic_load_explicit(&e->stop_io, memory_order_acquire)) {
		n = rring_io_process(io, 256);
		if (n > 0) {
			idle_since = 0;
			continue;
		}
		if (e->spin && rr_keep_polling(e, &idle_since)) {
			rring_cpu_relax();
			continue;
		}
		if (rring_spsc_prepare_sleep(io->cq)) {
			poll(&pfd, 1, tick_timeout(io));
			drain_efd(io);
		}
		rring_spsc_cancel_sleep(io->cq);
		idle_since = 0;
	}
	return 0;
}

int rring_io_fd(const struct rring_io *io)
{
	return io->efd;
}

unsigned int rring_io_index(const struct rring_io *io)
{
	return io->idx;
}

/* ---- Connection calls (owner thread) ------------------------------------ */

int rring_conn_close(struct rring_conn *c)
{
	struct rr_sqe q;
	int ret;

	if (!c)
		return -EINVAL;
	ret = rr_io_check_owner(c, __func__);
	if (ret)
		return ret;
	if (c->ostate != RR_OWN_OPEN)
		return 0;
	if (c->owner->batch)
		layer_flush(c->owner); /* held sends go before the close */
	c->ostate = RR_OWN_CLOSE_SENT;
	memset(&q, 0, sizeof(q));
	q.op = RR_SQE_CLOSE;
	q.conn = c;
	return rr_io_submit(c->owner, &q);
}

void rring_conn_set_ctx(struct rring_conn *c, void *ctx)
{
	c->ctx = ctx;
}

void *rring_conn_ctx(const struct rring_conn *c)
{
	return c->ctx;
}

uint64_t rring_conn_id(const struct rring_conn *c)
{
	return c->id;
}

struct rring_io *rring_conn_io(const struct rring_conn *c)
{
	return c->owner;
}

int rring_conn_peer_name(const struct rring_conn *c, char *buf, size_t len)
{
	const struct sockaddr_in *in4 = (const struct sockaddr_in *)&c->peer;
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&c->peer;
	char ip[INET6_ADDRSTRLEN];
	int n;

	if (!c || !buf || !len)
		return -EINVAL;
	if (c->peer.ss_family == AF_INET &&
	    inet_ntop(AF_INET, &in4->sin_addr, ip, sizeof(ip)))
		n = snprintf(buf, len, "%s:%u", ip, ntohs(in4->sin_port));
	else if (c->peer.ss_family == AF_INET6 &&
		 inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip)))
		n = snprintf(buf, len, "[%s]:%u", ip, ntohs(in6->sin6_port));
	else
		n = snprintf(buf, len, "?");
	return n < (int)len ? 0 : -ENOSPC;
}
