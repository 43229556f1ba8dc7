// SPDX-License-Identifier: BSD-3-Clause
/* rdmaring: the poller thread: posts submissions, routes completions, sleeps.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "engine.h"

/*
 * Design
 * ------
 * The poller is the only thread that calls ibv_* and rdma_*: it creates,
 * uses and destroys every verbs object. Each loop it
 *
 *   1. takes control requests (listen, connect, stop) from any thread;
 *   2. drains every IO thread's submission ring and posts the work, one
 *      ibv_post_send/recv per run of entries for the same QP (chained WRs);
 *   3. polls each CQ in batches of RR_POLL_BATCH and routes every work
 *      completion by qp_num (the poller's own route table, conn_table.c,
 *      one or two cache lines at any connection count) to its owner: the entry goes into an open batch of
 *      slots on the owner's completion ring (one release store per batch),
 *      or, when that ring is full, onto the owner's overflow FIFO, which is
 *      flushed before anything newer for that owner;
 *   4. handles rdma_cm events and each device's async events (async.c:
 *      a NIC fault closes the connections it hits), checked every
 *      RR_CM_CHECK_EVERY loops and whenever epoll reported a fd, so the
 *      busy loop makes no syscall;
 *   5. publishes every open batch and wakes each IO thread that asked for
 *      it (NEED_WAKEUP on its completion ring): at most one write per IO
 *      thread per loop.
 *
 * With no work for poll-idle-us it sleeps: NEED_WAKEUP on every submission
 * ring plus a full fence (rring_spsc_prepare_sleep), re-check of the rings
 * and of the control queue, ibv_req_notify_cq on each CQ and one more poll
 * (a completion that arrived before the arm is seen by that poll, one after
 * it raises a channel event), then epoll_wait on the completion channels
 * (one per device, shared by the device's pool of CQs: cm.c puts on each
 * CQ only as many connections as its cq-entries can hold), the devices'
 * async event fds, the rdma_cm fd and the poller's eventfd. CQ events are
 * acked in batches.
 *
 * Which operations may run concurrently with the poller:
 *
 *   IO thread:      produce on its sq, consume its cq      yes (SPSC)
 *   any thread:     rring_listen/connect (ctl queue)       yes (mutex)
 *   any thread:     table lookups under rcu_read_lock      yes (RCU)
 *   any thread:     rring_engine_stats                     yes (relaxed)
 *   IO thread:      touch a conn after its CLOSE_ACK       never
 */

#define RR_POLL_BATCH 32
#define RR_POST_BATCH 32
#define RR_SQ_BATCH 64
#define RR_CM_CHECK_EVERY 1024
#define RR_ACK_BATCH 64
/* epoll tags: 0 the eventfd, 1 the rdma_cm fd, then per device */
#define RR_TAG_CHANNEL 2		     /* + device: completion channel */
#define RR_TAG_ASYNC (2 + RR_MAX_DEVS) /* + device: async event fd */

/* ---- Completion side: batches and overflow ------------------------------ */

static struct rr_cqe *ovf_slot(struct rring_engine *e, struct rring_io *io)
{
	struct rr_overflow *o = &io->ovf;

	if (o->head == o->tail) {
		o->head = o->tail = 0;
		e->n_ovf++;
	}
	if (o->tail == o->cap) {
		uint32_t n = o->tail - o->head;

		if (o->head > 0) {
			memmove(o->buf, o->buf + o->head, n * sizeof(*o->buf));
		} else {
			uint32_t cap = o->cap ? 2 * o->cap : 256;
			struct rr_cqe *b = realloc(o->buf, cap * sizeof(*b));

			if (!b) /* cannot drop a completion, cannot wait */
				abort();
			o->buf = b;
			o->cap = cap;
		}
		o->head = 0;
		o->tail = n;
	}
	atomic_store_explicit(
	    &io->st_overflow,
	    atomic_load_explicit(&io->st_overflow, memory_order_relaxed) + 1,
	    memory_order_relaxed);
	return &o->buf[o->tail++];
}

/* A free slot in io's open batch, opening or extending it; NULL if full. */
static struct rr_cqe *batch_slot(struct rring_engine *e, struct rring_io *io)
{
	if (!io->b_open) {
		io->b_open = 1;
		io->b_used = 0;
		io->b_avail = rring_spsc_reserve(
		    io->cq, rring_spsc_capacity(io->cq), &io->b_idx);
		io->b_full = io->b_avail == 0;
		io->next_touched = e->touched;
		e->touched = io;
	}
	if (io->b_used == io->b_avail) {
		/* Found full once in this loop: overflow until the next one
		 * rather than pull the consumer's cache line per entry. */
		if (io->b_full)
			return NULL;
		rring_spsc_publish(io->cq, io->b_used);
		io->b_used = 0;
		io->b_avail = rring_spsc_reserve(
		    io->cq, rring_spsc_capacity(io->cq), &io->b_idx);
		if (io->b_avail == 0) {
			io->b_full = 1;
			return NULL;
		}
	}
	return rr_cq_slot(io, io->b_idx + io->b_used++);
}

/* Move overflowed entries of io into its ring, oldest first. */
static int ovf_flush(struct rring_engine *e, struct rring_io *io)
{
	struct rr_overflow *o = &io->ovf;
	int n = 0;

	while (o->head != o->tail) {
		struct rr_cqe *s = batch_slot(e, io);

		if (!s)
			return n;
		*s = o->buf[o->head++];
		n++;
	}
	e->n_ovf--;
	return n;
}

/* The slot for the next entry of io: never reorders, never drops. */
static struct rr_cqe *cqe_slot(struct rring_engine *e, struct rring_io *io)
{
	struct rr_cqe *s;

	if (rring_unlikely(io->ovf.head != io->ovf.tail)) {
		ovf_flush(e, io);
		if (io->ovf.head != io->ovf.tail)
			return ovf_slot(e, io);
	}
	s = batch_slot(e, io);
	return rring_likely(s != NULL) ? s : ovf_slot(e, io);
}

void rr_poller_push(struct rring_engine *e, struct rring_io *io,
		    const struct rr_cqe *cqe)
{
	*cqe_slot(e, io) = *cqe;
}

int rr_poller_flush_overflows(struct rring_engine *e)
{
	unsigned int i;
	int n = 0;

	for (i = 0; e->n_ovf && i < e->n_io; i++)
		if (e->io[i]->ovf.head != e->io[i]->ovf.tail)
			n += ovf_flush(e, e->io[i]);
	return n;
}

/* Publish every open batch (one release store each) and wake the owners
 * that asked for it: at most one eventfd write per IO thread per call. */
void rr_poller_flush(struct rring_engine *e)
{
	struct rring_io *io = e->touched;

	e->touched = NULL;
	for (; io; io = io->next_touched) {
		io->b_open = 0;
		if (io->b_used)
			rring_spsc_publish(io->cq, io->b_used);
		/* Full fence inside pairs with prepare_sleep in the IO thread.
		 */
		if (rring_spsc_needs_wakeup(io->cq)) {
			rr_wake_fd(io->efd);
			atomic_fetch_add_explicit(&io->st_wakeups, 1,
						  memory_order_relaxed);
		}
	}
}

/* ---- Routing ------------------------------------------------------------ */

static void mark_established(struct rring_engine *e, struct rring_conn *c)
{
	struct rr_cqe *s = cqe_slot(e, c->owner);

	rr_conn_set_state(e, c, RR_CONN_ESTABLISHED);
	memset(s, 0, sizeof(*s));
	s->type = RR_CQE_ESTABLISHED;
	s->conn = c;
}

static void route_error(struct rring_engine *e, struct rring_conn *c,
			const struct ibv_wc *wc)
{
	if (wc->status != IBV_WC_WR_FLUSH_ERR)
		rr_log(&e->h, RR_LOG_WARN,
		       "conn %llu: work completion error '%s' (qp %u)",
		       (unsigned long long)c->id, ibv_wc_status_str(wc->status),
		       wc->qp_num);
	/* Read async events in this loop: the one that explains the error
	 * (a fatal QP, CQ or port) then still finds c in the table. */
	e->cm_ready = 1;
	rr_conn_begin_close(e, c, -EIO);
}

/* Route n work completions to their owners' rings (the bench calls this
 * with synthetic completions). Publishing waits for rr_poller_flush. */
void rr_poller_route_wcs(struct rring_engine *e, const struct ibv_wc *wc, int n)
{
	uint64_t dropped = 0;
	int i;

	e->routing = 1; /* a close from here must not poll: see drain_cq */
	for (i = 0; i < n; i++) {
		const struct rr_route *r = rr_table_route(e, wc[i].qp_num);
		struct rr_cqe *s;

		if (rring_unlikely(!r || r->state == RR_CONN_CLOSING)) {
			dropped++;
			continue;
		}
		if (rring_unlikely(wc[i].status != IBV_WC_SUCCESS)) {
			route_error(e, r->conn, &wc[i]);
			dropped++;
			continue;
		}
		/* A peer may send as soon as it is established, before our
		 * ESTABLISHED event: the owner learns of the conn first. */
		if (rring_unlikely(r->state != RR_CONN_ESTABLISHED))
			mark_established(e, r->conn);
		s = cqe_slot(e, e->io[r->owner]);
		s->type = RR_CQE_WC;
		s->opcode = (uint8_t)wc[i].opcode;
		s->wc_status = (uint8_t)wc[i].status;
		s->wc_flags = (uint8_t)wc[i].wc_flags;
		s->status = 0;
		s->conn = r->conn;
		s->wr_id = wc[i].wr_id;
		s->byte_len = wc[i].byte_len;
		s->imm = wc[i].imm_data;
	}
	e->routing = 0;
	if (dropped)
		atomic_fetch_add_explicit(&e->st_dropped, dropped,
					  memory_order_relaxed);
}

int rr_poller_poll_cq(struct rring_engine *e, struct ibv_cq *cq)
{
	struct ibv_wc wc[RR_POLL_BATCH];
	int n, total = 0;

	do {
		n = ibv_poll_cq(cq, RR_POLL_BATCH, wc);
		if (rring_unlikely(n < 0)) {
			rr_log(&e->h, RR_LOG_ERR, "ibv_poll_cq failed: %d", n);
			return total;
		}
		if (n == 0)
			break;
		rr_poller_route_wcs(e, wc, n);
		total += n;
		atomic_store_explicit(
		    &e->st_batches,
		    atomic_load_explicit(&e->st_batches, memory_order_relaxed) +
			1,
		    memory_order_relaxed);
	} while (n == RR_POLL_BATCH && total < 4 * RR_POLL_BATCH);
	if (total)
		atomic_store_explicit(
		    &e->st_cqes,
		    atomic_load_explicit(&e->st_cqes, memory_order_relaxed) +
			(uint64_t)total,
		    memory_order_relaxed);
	return total;
}

/* ---- Submission side ---------------------------------------------------- */

struct post_batch {
	struct rring_conn *sc, *rc; /* QP owner of the pending chains */
	int ns, nr;
	struct ibv_send_wr swr[RR_POST_BATCH];
	struct ibv_sge ssge[RR_POST_BATCH];
	struct ibv_recv_wr rwr[RR_POST_BATCH];
	struct ibv_sge rsge[RR_POST_BATCH];
};

static void count_post(struct rring_engine *e, int n)
{
	atomic_fetch_add_explicit(&e->st_post_calls, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&e->st_wrs, (uint64_t)n,
				  memory_order_relaxed);
}

static void flush_sends(struct rring_engine *e, struct post_batch *b)
{
	struct ibv_send_wr *bad = NULL;
	int i, ret;

	if (!b->ns)
		return;
	for (i = 0; i < b->ns; i++)
		b->swr[i].next = i + 1 < b->ns ? &b->swr[i + 1] : NULL;
	ret = ibv_post_send(b->sc->cm_id->qp, b->swr, &bad);
	count_post(e, b->ns);
	if (rring_unlikely(ret)) { /* positive errno from verbs */
		rr_log(&e->h, RR_LOG_ERR, "conn %llu: ibv_post_send: %s",
		       (unsigned long long)b->sc->id, strerror(ret));
		rr_conn_begin_close(e, b->sc, -ret);
	}
	b->ns = 0;
}

static void flush_recvs(struct rring_engine *e, struct post_batch *b)
{
	struct ibv_recv_wr *bad = NULL;
	int i, ret;

	if (!b->nr)
		return;
	for (i = 0; i < b->nr; i++)
		b->rwr[i].next = i + 1 < b->nr ? &b->rwr[i + 1] : NULL;
	ret = ibv_post_recv(b->rc->cm_id->qp, b->rwr, &bad);
	count_post(e, b->nr);
	if (rring_unlikely(ret)) {
		rr_log(&e->h, RR_LOG_ERR, "conn %llu: ibv_post_recv: %s",
		       (unsigned long long)b->rc->id, strerror(ret));
		rr_conn_begin_close(e, b->rc, -ret);
	}
	b->nr = 0;
}

/* The one scatter/gather element of an entry's work request; num_sge. */
static int sqe_sge(struct ibv_sge *sge, const struct rr_sqe *q)
{
	sge->addr = q->addr;
	sge->length = q->len;
	sge->lkey = q->lkey;
	return q->len ? 1 : 0;
}

static void add_send(struct rring_engine *e, struct post_batch *b,
		     const struct rr_sqe *q)
{
	struct ibv_send_wr *wr;
	struct ibv_sge *sge;

	if (b->ns && (b->sc != q->conn || b->ns == RR_POST_BATCH))
		flush_sends(e, b);
	b->sc = q->conn;
	wr = &b->swr[b->ns];
	sge = &b->ssge[b->ns++];
	memset(wr, 0, sizeof(*wr));
	wr->wr_id = q->wr_id;
	wr->sg_list = sge;
	wr->num_sge = sqe_sge(sge, q);
	wr->send_flags =
	    (q->flags & RR_SQE_F_SIGNALED ? IBV_SEND_SIGNALED : 0) |
	    (q->flags & RR_SQE_F_INLINE ? IBV_SEND_INLINE : 0);
	if (q->op == RR_SQE_POST_WRITE_IMM || q->op == RR_SQE_POST_WRITE) {
		wr->opcode = q->op == RR_SQE_POST_WRITE
				 ? IBV_WR_RDMA_WRITE
				 : IBV_WR_RDMA_WRITE_WITH_IMM;
		wr->imm_data = q->imm;
		wr->wr.rdma.remote_addr = q->remote_addr;
		wr->wr.rdma.rkey = q->rkey;
	} else {
		wr->opcode = IBV_WR_SEND;
	}
}

static void add_recv(struct rring_engine *e, struct post_batch *b,
		     const struct rr_sqe *q)
{
	struct ibv_recv_wr *wr;
	struct ibv_sge *sge;

	if (b->nr && (b->rc != q->conn || b->nr == RR_POST_BATCH))
		flush_recvs(e, b);
	b->rc = q->conn;
	wr = &b->rwr[b->nr];
	sge = &b->rsge[b->nr++];
	memset(wr, 0, sizeof(*wr));
	wr->wr_id = q->wr_id;
	wr->sg_list = sge;
	wr->num_sge = sqe_sge(sge, q);
}

/* Memory registration for an IO thread (result as RR_CQE_MR). */
static void reg_mr(struct rring_engine *e, struct rring_io *io,
		   const struct rr_sqe *q)
{
	struct rr_cqe r = {
	    .type = RR_CQE_MR, .conn = q->conn, .wr_id = q->wr_id};
	struct rr_dev *dev = q->conn && q->conn->dev ? q->conn->dev
			     : e->n_devs	     ? &e->devs[0]
						     : NULL;
	struct ibv_mr *mr = NULL;

	if (dev)
		mr = ibv_reg_mr(dev->pd, (void *)(uintptr_t)q->addr, q->len,
				(int)q->access);
	if (mr) {
		r.aux = (uint64_t)(uintptr_t)mr;
		r.lkey = mr->lkey;
		r.rkey = mr->rkey;
	} else {
		r.status = dev ? -errno : -ENODEV;
	}
	rr_poller_push(e, io, &r);
}

static void do_sqe(struct rring_engine *e, struct rring_io *io,
		   struct post_batch *b, const struct rr_sqe *q)
{
	struct rring_conn *c = q->conn;

	switch (q->op) {
	case RR_SQE_POST_SEND:
	case RR_SQE_POST_WRITE_IMM:
	case RR_SQE_POST_WRITE:
		if (c->state == RR_CONN_CLOSING || !c->cm_id || !c->cm_id->qp)
			return; /* the owner learns from RR_CQE_CLOSE */
		add_send(e, b, q);
		return;
	case RR_SQE_POST_RECV:
		if (c->state == RR_CONN_CLOSING || !c->cm_id || !c->cm_id->qp)
			return;
		add_recv(e, b, q);
		return;
	case RR_SQE_REG_MR:
		reg_mr(e, io, q);
		return;
	case RR_SQE_DEREG_MR:
		ibv_dereg_mr((struct ibv_mr *)(uintptr_t)q->wr_id);
		return;
	case RR_SQE_CLOSE:
		flush_sends(e, b); /* the owner's sends before its close */
		rr_conn_begin_close(e, c, 0);
		return;
	case RR_SQE_CLOSE_ACK:
		flush_sends(e, b);
		flush_recvs(e, b);
		rr_conn_destroy(e, c);
		return;
	}
	rr_log(&e->h, RR_LOG_ERR, "io %u: unknown submission op %u", io->idx,
	       q->op);
}

int rr_poller_drain_sq(struct rring_engine *e, struct rring_io *io)
{
	struct post_batch b;
	uint32_t idx, i, n;
	int total = 0;

	b.ns = b.nr = 0;
	b.sc = b.rc = NULL;
	while ((n = rring_spsc_peek(io->sq, RR_SQ_BATCH, &idx)) > 0) {
		for (i = 0; i < n; i++)
			do_sqe(e, io, &b, rr_sq_slot(io, idx + i));
		flush_sends(e, &b);
		flush_recvs(e, &b);
		rring_spsc_release(io->sq, n);
		total += (int)n;
	}
	return total;
}

/* ---- Control requests --------------------------------------------------- */

static int drain_ctl(struct rring_engine *e)
{
	struct rr_ctl *c, *next;
	int n = 0;

	/* Acquire pairs with the release in ctl_submit (engine.c). */
	if (!atomic_load_explicit(&e->ctl_pending, memory_order_acquire))
		return 0;
	pthread_mutex_lock(&e->lock);
	c = e->ctl_head;
	e->ctl_head = e->ctl_tail = NULL;
	atomic_store_explicit(&e->ctl_pending, 0, memory_order_relaxed);
	pthread_mutex_unlock(&e->lock);
	for (; c; c = next, n++) {
		next = c->next;
		switch (c->op) {
		case RR_CTL_LISTEN:
			rr_ctl_complete(e, c,
					e->stopping ? -ESHUTDOWN
						    : rr_cm_listen(e, c));
			break;
		case RR_CTL_UNLISTEN:
			rr_ctl_complete(e, c, rr_cm_unlisten(e, c));
			break;
		case RR_CTL_CONNECT:
			rr_cm_connect(e, c);
			rr_ctl_complete(e, c, 0);
			break;
		case RR_CTL_STOP:
			e->stopping = 1;
			rr_conn_close_all(e);
			rr_ctl_complete(e, c, 0);
			break;
		}
	}
	return n;
}

/* ---- Sleep -------------------------------------------------------------- */

static void read_cq_events(struct rring_engine *e, struct rr_dev *d)
{
	struct ibv_cq *cq;
	struct rr_cq *q;
	void *ctx;

	while (ibv_get_cq_event(d->ch, &cq, &ctx) == 0) {
		q = ctx; /* the CQ's cq_context */
		q->armed = 0;
		if (++q->unacked >= RR_ACK_BATCH) {
			ibv_ack_cq_events(q->cq, q->unacked);
			q->unacked = 0;
		}
	}
	(void)e;
}

static void handle_epoll(struct rring_engine *e, struct epoll_event *ev, int n)
{
	uint64_t v;
	int i;

	for (i = 0; i < n; i++) {
		uint32_t tag = ev[i].data.u32;

		if (tag == 0) {
			if (read(e->poller_efd, &v, sizeof(v)) < 0 &&
			    errno != EAGAIN)
				rr_log(&e->h, RR_LOG_ERR, "eventfd read: %s",
				       strerror(errno));
		} else if (tag == 1 || tag >= RR_TAG_ASYNC) {
			e->cm_ready = 1; /* rdma_cm or async events */
		} else if (tag - RR_TAG_CHANNEL < (uint32_t)e->n_devs) {
			read_cq_events(e, &e->devs[tag - RR_TAG_CHANNEL]);
		}
	}
}

/* Arm every CQ, then poll once more: 1 if that found work. */
static int arm_and_repoll(struct rring_engine *e)
{
	unsigned int j;
	int i, n = 0;

	for (i = 0; i < e->n_devs; i++) {
		for (j = 0; j < e->devs[i].n_cqs; j++) {
			struct rr_cq *q = e->devs[i].cqs[j];

			if (!q->armed) {
				if (ibv_req_notify_cq(q->cq, 0))
					return 1; /* cannot sleep safely */
				q->armed = 1;
			}
			n += rr_poller_poll_cq(e, q->cq);
		}
	}
	return n > 0;
}

/* One poll of every CQ of every device; the number of completions. */
static int poll_all_cqs(struct rring_engine *e)
{
	unsigned int j;
	int i, n = 0;

	for (i = 0; i < e->n_devs; i++)
		for (j = 0; j < e->devs[i].n_cqs; j++)
			n += rr_poller_poll_cq(e, e->devs[i].cqs[j]->cq);
	return n;
}

/*
 * Wake the external IO threads whose layer deadline passed (their
 * application may sleep on rring_io_fd with no timeout) with an
 * RR_CQE_WAKE, published and signaled as any entry by rr_poller_flush;
 * returns the ms until the next deadline, 0 if it pushed one, -1 if none.
 * The compare-exchange clears only the deadline we saw: a newer one the
 * owner stored meanwhile stays.
 */
static int wake_due(struct rring_engine *e)
{
	struct rr_cqe q = {.type = RR_CQE_WAKE};
	uint64_t now = 0, due, next = UINT64_MAX;
	unsigned int i;
	int pushed = 0;

	if (!e->p.io_external)
		return -1;
	for (i = 0; i < e->n_io; i++) {
		struct rring_io *io = e->io[i];

		due = atomic_load_explicit(&io->wake_due_ms,
					   memory_order_relaxed);
		if (!due)
			continue;
		if (!now)
			now = rr_now_ns() / 1000000;
		if (due > now) {
			next = due < next ? due : next;
			continue;
		}
		if (atomic_compare_exchange_strong_explicit(
			&io->wake_due_ms, &due, 0, memory_order_relaxed,
			memory_order_relaxed)) {
			rr_poller_push(e, io, &q);
			pushed = 1;
		}
	}
	if (pushed)
		return 0;
	return next == UINT64_MAX ? -1 : (int)(next - now);
}

static void poller_sleep(struct rring_engine *e)
{
	struct epoll_event ev[8];
	unsigned int i;
	int can_sleep = 1, n, timeout;
	uint64_t t0;

	for (i = 0; i < e->n_io; i++) /* flag + full fence + re-check */
		if (!rring_spsc_prepare_sleep(e->io[i]->sq))
			can_sleep = 0;
	/* Acquire pairs with the release in ctl_submit; that side issues a
	 * full fence before its eventfd write, and the flags are set. */
	if (atomic_load_explicit(&e->ctl_pending, memory_order_acquire))
		can_sleep = 0;
	if (can_sleep && arm_and_repoll(e))
		can_sleep = 0;
	timeout = wake_due(e); /* pushes go out with the flush below */
	rr_poller_flush(e);
	if (can_sleep) {
		t0 = rr_now_ns();
		atomic_store_explicit(&e->st_sleep_since, t0,
				      memory_order_relaxed);
		/* Counted on the way in, so a sleeping poller shows in stats. */
		atomic_fetch_add_explicit(&e->st_sleeps, 1,
					  memory_order_relaxed);
		if (e->n_ovf && (timeout < 0 || timeout > 1))
			timeout = 1;
		n = epoll_wait(e->epfd, ev, 8, timeout);
		atomic_store_explicit(&e->st_sleep_since, 0,
				      memory_order_relaxed);
		atomic_fetch_add_explicit(&e->st_sleep_ns, rr_now_ns() - t0,
					  memory_order_relaxed);
		if (n > 0)
			handle_epoll(e, ev, n);
	}
	for (i = 0; i < e->n_io; i++)
		rring_spsc_cancel_sleep(e->io[i]->sq);
}

/* ---- Thread ------------------------------------------------------------- */

static int epoll_add(int epfd, int fd, uint32_t tag)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = tag};

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

static int poller_init(struct rring_engine *e)
{
	int ret;

	ret = rr_cm_init(e);
	if (ret)
		return ret;
	ret = rr_engine_place(e);
	if (ret)
		return ret;
	ret = rr_engine_alloc_rings(e, e->place.mem_node);
	if (ret)
		return ret;
	e->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (e->epfd < 0)
		return -errno;
	ret = epoll_add(e->epfd, e->poller_efd, 0);
	if (!ret)
		ret = epoll_add(e->epfd, e->cm_ch->fd, 1);
	return ret;
}

int rr_poller_add_dev(struct rring_engine *e, int dev_idx)
{
	struct rr_dev *d = &e->devs[dev_idx];
	int ret;

	ret = epoll_add(e->epfd, d->ch->fd, RR_TAG_CHANNEL + (uint32_t)dev_idx);
	if (!ret)
		ret = epoll_add(e->epfd, d->verbs->async_fd,
				RR_TAG_ASYNC + (uint32_t)dev_idx);
	return ret;
}

static void poller_loop(struct rring_engine *e)
{
	uint64_t idle_since = 0;
	unsigned int i, loops = 0;
	int work;

	for (;;) {
		work = drain_ctl(e);
		for (i = 0; i < e->n_io; i++)
			work += rr_poller_drain_sq(e, e->io[i]);
		work += poll_all_cqs(e);
		if (e->cm_ready ||
		    atomic_load_explicit(&e->inbox_ready,
					 memory_order_relaxed) ||
		    ++loops % RR_CM_CHECK_EVERY == 0) {
			e->cm_ready = 0;
			work += rr_cm_events(e);
			work += rr_async_events(e);
			wake_due(e);
		}
		if (e->n_ovf)
			work += rr_poller_flush_overflows(e);
		rr_poller_flush(e);
		if (e->stopping && e->n_conns == 0)
			break;
		if (work) {
			idle_since = 0;
			continue;
		}
		if (e->spin && rr_keep_polling(e, &idle_since)) {
			rring_cpu_relax();
			continue;
		}
		poller_sleep(e);
		e->cm_ready = 1; /* cheap: one nonblocking read after sleep */
		idle_since = 0;
	}
}

static void poller_signal(struct rring_engine *e, int ready, int err)
{
	pthread_mutex_lock(&e->lock);
	if (ready)
		e->poller_ready = 1;
	else
		e->poller_exited = 1;
	if (err)
		e->start_err = err;
	pthread_cond_broadcast(&e->cond);
	pthread_mutex_unlock(&e->lock);
}

/* Fail control requests that raced with the exit. */
static void fail_pending_ctl(struct rring_engine *e)
{
	struct rr_ctl *c, *next;

	pthread_mutex_lock(&e->lock);
	e->poller_exited = 1;
	c = e->ctl_head;
	e->ctl_head = e->ctl_tail = NULL;
	pthread_mutex_unlock(&e->lock);
	for (; c; c = next) {
		next = c->next;
		rr_ctl_complete(e, c, -ESHUTDOWN);
	}
}

void *rr_poller_main(void *arg)
{
	struct rring_engine *e = arg;
	int ret;

	pthread_setname_np(pthread_self(), "rring-poller");
	rcu_register_thread();
	e->start_ns = rr_now_ns();
	ret = poller_init(e);
	if (ret) {
		rr_cm_fini(e);
		poller_signal(e, 0, ret);
		goto out;
	}
	poller_signal(e, 1, 0);
	poller_loop(e);
	fail_pending_ctl(e);
	rr_cm_fini(e);
	atomic_store_explicit(&e->shutdown, 1, memory_order_release);
	poller_signal(e, 0, 0);
out:
	if (e->epfd >= 0)
		close(e->epfd);
	e->epfd = -1;
	rcu_barrier(); /* conns queued by call_rcu are freed */
	rcu_unregister_thread();
	return NULL;
}
