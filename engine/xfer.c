// SPDX-License-Identifier: BSD-3-Clause
/* rdmaring: the Valkey RDMA wire data layer: large transfers on the owner. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "wire_recv.h"
#include "wire_send.h"
#include "xfer.h"

/*
 * Per connection the poller allocates, at setup, one page-aligned area:
 *
 *   [ receive buffer (rx-size) | 1024 x 32 B control receives |
 *     64 x 32 B control send slots | staging buffer (256 KiB) ]
 *
 * The receive buffer has its own MR (LOCAL_WRITE | REMOTE_READ |
 * REMOTE_WRITE) and is what RegisterXferMemory advertises; the rest is a
 * second MR with LOCAL_WRITE only, so the peer's rkey covers nothing but
 * the buffer it may write. The poller posts the 1024 receives before
 * connect/accept; from then on everything below runs on the owner IO
 * thread, which feeds completions to the wire machines (wire_send.h,
 * wire_recv.h) and submits what they ask for through its submission ring.
 *
 * Sends: a request of total <= RRING_XFER_COPY_MAX bytes is copied into
 * the staging ring (released in order as requests complete); a larger one
 * is written from the caller's memory, registered through the poller on
 * first use (RR_SQE_REG_MR) and cached per connection. A request waits in
 * the "held" part of our request ring until its registrations are back;
 * requests enter the sender machine in order. The machine reports each
 * request when its last byte is acknowledged (or failed after a close);
 * we turn that into SEND_DONE and release staging and cache references.
 *
 * Inside a batch of the IO thread (rring_io_process, rring_io_batch_begin)
 * sends are queued in the machine but not written: the connection goes on
 * the owner's dirty list and the batch end posts everything it queued at
 * once. Small sends sit back to back in staging, so the machine merges
 * them into one scatter entry: a pipeline of replies is one write.
 *
 * Completions: the machine signals a write only when it must hear back
 * (wire_send.c): one in signal-every, the last in-flight slot, a full
 * window, a request sent in place (the caller waits for its memory), a
 * request queued while staging is half used (so a full staging ring always
 * has a completion coming that frees half of it) and half the requests
 * unreported; and the last write before the connection runs out of data
 * if its previous signal is RR_XFER_SIGNAL_MS old or older. So a busy
 * request-response connection signals about once per RR_XFER_SIGNAL_MS,
 * not once per reply. A connection whose last write went unsignaled goes
 * on the owner's quiet list; RR_XFER_QUIET_MS later, if it is still
 * unsignaled, a zero-byte signaled RDMA_WRITE (a fence) retires it: only
 * a connection that goes quiet right after a signal costs one, and its
 * SEND_DONEs come late, but come. On a QP error every outstanding write,
 * signaled or not, completes with an error: the first closes the
 * connection and the close fails every request not retired.
 *
 * wr_id = kind << 56 | value: receive slot, control slot, or the
 * machine's write id.
 */

enum xkind { XK_RECV = 1, XK_CTRL = 2, XK_WRITE = 3 };
#define WRID(k, v) ((uint64_t)(k) << 56 | (v))
#define WRID_VAL_MASK ((1ull << 56) - 1)

#define XREQS 1024u	 /* requests queued or in flight per connection */
#define XREQ_NO_ENT 0xff /* iovec not from the registration cache */
#define PAGE 4096ull
#ifndef XFER_WRITES_PER_WINDOW
#define XFER_WRITES_PER_WINDOW 4u
#endif
/* Smaller writes cost more (completions, wake-ups) than they save. */
#define XFER_MIN_WRITE (64u << 10)

/* A registration in flight; outlives the connection if it closes first. */
struct xreg {
	struct xfer *x; /* NULL once the connection is gone */
	uint32_t slot;
};

struct mrent {
	uint64_t base, len; /* len 0: free */
	struct ibv_mr *mr;  /* NULL while the registration is in flight */
	uint32_t lkey;
	uint32_t refs;
	uint64_t last_use;
	struct xreg *pending;
};

struct xreq {
	uint64_t tag;
	uint32_t len;
	uint32_t niov;
	uint64_t stage_end; /* staging released up to here when done */
	unsigned int flags; /* RRING_WIRE_SEND_F_* for the machine */
	uint8_t ent[RRING_XFER_IOV_MAX];
	struct rring_wire_iov iov[RRING_XFER_IOV_MAX];
};

struct xfer {
	struct rring_conn *c;
	struct rring_wire_send s;
	struct rring_wire_recv r;
	unsigned char *area;
	size_t area_size;
	unsigned char *rx, *ctrl_rx, *ctrl_tx, *stage;
	struct ibv_mr *rx_mr, *local_mr; /* poller-only handles */
	uint32_t rx_size, local_lkey;
	uint16_t ctrl_free[RR_XFER_CTRL_SLOTS];
	uint32_t n_ctrl_free;
	uint64_t stage_head, stage_tail;
	struct xreq *reqs;
	uint64_t req_head, req_queued, req_tail; /* done < machine < held */
	struct mrent mrc[RR_XFER_MR_CACHE];
	uint64_t use_clock;
	struct xfer *next, *prev; /* the owner's connections (keepalive) */
	struct xfer *dirty_next;  /* the owner's connections with held sends */
	struct xfer *quiet_next;  /* the owner's quiet list (unsignaled tail) */
	uint64_t signaled_ms;	  /* when the last signaled write was posted */
	uint64_t quiet_ms;	  /* when it went on the quiet list */
	int listed, dirty, quiet, failed, dead, in_pump, again;
	char peer[72];
};

/* ---- Poller side: capacities, buffers, first receives ------------------ */

static void xfer_qp_caps(const struct rring_engine *e, struct ibv_qp_cap *cap)
{
	(void)e;
	memset(cap, 0, sizeof(*cap));
	cap->max_send_wr = RRING_WIRE_SEND_QUEUE;
	cap->max_recv_wr = RRING_WIRE_RECV_WRS;
	cap->max_send_sge = 1;
	cap->max_recv_sge = 1;
}

static int init_machines(struct rring_engine *e, struct xfer *x)
{
	struct rring_wire_send_params sp;
	struct rring_wire_recv_params rp;
	int ret;

	rring_wire_send_params_init(&sp);
	sp.max_requests = XREQS;
	sp.max_iovs = XREQS * RRING_XFER_IOV_MAX;
	sp.max_sge = 1; /* the submission entry carries one SGE */
	sp.signal_every = e->p.signal_every;
	sp.lazy_tail = false; /* send_writes sets it while a signal is recent */
	/* A write is seen by the receiver only when it completes: cut each
	 * window in XFER_WRITES_PER_WINDOW so that the consumer works on the
	 * first part while the rest is being written. */
	sp.max_write = e->p.rx_size / XFER_WRITES_PER_WINDOW;
	if (sp.max_write < XFER_MIN_WRITE)
		sp.max_write = XFER_MIN_WRITE < e->p.rx_size ? XFER_MIN_WRITE
							     : e->p.rx_size;
	ret = rring_wire_send_init(&x->s, &sp);
	if (ret)
		return ret;
	rring_wire_recv_params_init(&rp);
	rp.role =
	    x->c->outbound ? RRING_WIRE_ROLE_CLIENT : RRING_WIRE_ROLE_SERVER;
	rp.buf_addr = (uintptr_t)x->rx;
	rp.buf_len = e->p.rx_size;
	rp.rkey = x->rx_mr->rkey;
	rp.keepalive_ms = x->c->outbound ? 0 : RRING_WIRE_KEEPALIVE_MS;
	return rring_wire_recv_init(&x->r, &rp);
}

static int map_area(struct rring_engine *e, struct xfer *x)
{
	size_t local = (size_t)(RRING_WIRE_RECV_WRS + RR_XFER_CTRL_SLOTS) *
			   RRING_WIRE_MSG_SIZE +
		       RR_XFER_STAGE_SIZE;
	uint32_t i;

	x->rx_size = e->p.rx_size;
	x->area_size = x->rx_size + local;
	x->area = rr_mem_alloc(x->area_size, e->place.mem_node);
	x->reqs = calloc(XREQS, sizeof(*x->reqs));
	if (!x->area || !x->reqs)
		return -ENOMEM;
	x->rx = x->area;
	x->ctrl_rx = x->rx + x->rx_size;
	x->ctrl_tx = x->ctrl_rx + RRING_WIRE_RECV_WRS * RRING_WIRE_MSG_SIZE;
	x->stage = x->ctrl_tx + RR_XFER_CTRL_SLOTS * RRING_WIRE_MSG_SIZE;
	x->rx_mr = ibv_reg_mr(x->c->dev->pd, x->rx, x->rx_size,
			      IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
				  IBV_ACCESS_REMOTE_READ);
	if (!x->rx_mr)
		return errno ? -errno : -EIO;
	x->local_mr = ibv_reg_mr(x->c->dev->pd, x->ctrl_rx, local,
				 IBV_ACCESS_LOCAL_WRITE);
	if (!x->local_mr)
		return errno ? -errno : -EIO;
	x->local_lkey = x->local_mr->lkey;
	for (i = 0; i < RR_XFER_CTRL_SLOTS; i++)
		x->ctrl_free[i] = (uint16_t)i;
	x->n_ctrl_free = RR_XFER_CTRL_SLOTS;
	return 0;
}

/* Poller: everything the owner will use; teardown frees a partial setup. */
static int xfer_setup(struct rring_engine *e, struct rring_conn *c)
{
	struct xfer *x = calloc(1, sizeof(*x));
	int ret;

	if (!x)
		return -ENOMEM;
	x->c = c;
	c->layer_priv = x;
	x->s.state = RRING_WIRE_SEND_CLOSED; /* destroy is safe from here */
	/* c->peer is set before the layer is: "ip:port", "?" if unknown */
	rring_conn_peer_name(c, x->peer, sizeof(x->peer));
	ret = map_area(e, x);
	if (ret)
		return ret;
	ret = init_machines(e, x);
	if (ret)
		return ret;
	return rr_post_recv_slots(c->cm_id->qp, x->ctrl_rx, RRING_WIRE_RECV_WRS,
				  RRING_WIRE_MSG_SIZE, x->local_lkey,
				  WRID(XK_RECV, 0));
}

/* Poller, after the QP is destroyed (the owner has acknowledged). */
static void xfer_teardown(struct rring_engine *e, struct rring_conn *c)
{
	struct xfer *x = c->layer_priv;

	(void)e;
	if (!x)
		return;
	rring_wire_send_destroy(&x->s);
	if (x->local_mr)
		ibv_dereg_mr(x->local_mr);
	if (x->rx_mr)
		ibv_dereg_mr(x->rx_mr);
	rr_mem_free(x->area, x->area_size);
	free(x->reqs);
	free(x);
	c->layer_priv = NULL;
}

/* ---- Owner side: submissions ------------------------------------------- */

static void submit(struct xfer *x, struct rr_sqe *q)
{
	q->conn = x->c;
	rr_io_submit(x->c->owner, q);
}

static void repost_recv(struct xfer *x, uint32_t slot)
{
	struct rr_sqe q;

	memset(&q, 0, sizeof(q));
	q.op = RR_SQE_POST_RECV;
	q.wr_id = WRID(XK_RECV, slot);
	q.addr = (uintptr_t)(x->ctrl_rx + slot * RRING_WIRE_MSG_SIZE);
	q.len = RRING_WIRE_MSG_SIZE;
	q.lkey = x->local_lkey;
	submit(x, &q);
}

static void dereg(struct xfer *x, struct ibv_mr *mr)
{
	struct rr_sqe q;

	memset(&q, 0, sizeof(q));
	q.op = RR_SQE_DEREG_MR;
	q.wr_id = (uintptr_t)mr;
	submit(x, &q);
}

/* Close both machines and the connection (logged unless level < 0); the
 * first reason wins. */
static void close_conn(struct xfer *x, int err, const char *why, int level)
{
	struct rring_conn *c = x->c;
	struct rr_sqe q;

	if (x->failed)
		return;
	x->failed = 1;
	if (level >= 0)
		rr_log(&c->e->h, level,
		       "peer %s (conn %llu): %s; closing the connection",
		       x->peer, (unsigned long long)c->id, why);
	rring_wire_send_close(&x->s, err, why);
	rring_wire_recv_close(&x->r, err, why);
	if (!c->close_err)
		c->close_err = err;
	if (c->ostate != RR_OWN_OPEN)
		return;
	c->ostate = RR_OWN_CLOSE_SENT;
	memset(&q, 0, sizeof(q));
	q.op = RR_SQE_CLOSE;
	submit(x, &q);
}

static void fail(struct xfer *x, int err, const char *why)
{
	close_conn(x, err, why, RR_LOG_ERR);
}

static void send_ctrl(struct xfer *x)
{
	struct rr_sqe q;
	uint16_t slot;
	unsigned char *buf;

	while (x->n_ctrl_free) {
		slot = x->ctrl_free[x->n_ctrl_free - 1];
		buf = x->ctrl_tx + slot * RRING_WIRE_MSG_SIZE;
		if (rring_wire_recv_next_ctrl(&x->r, buf))
			return;
		x->n_ctrl_free--;
		memset(&q, 0, sizeof(q));
		q.op = RR_SQE_POST_SEND;
		q.flags = RR_SQE_F_SIGNALED;
		q.wr_id = WRID(XK_CTRL, slot);
		q.addr = (uintptr_t)buf;
		q.len = RRING_WIRE_MSG_SIZE;
		q.lkey = x->local_lkey;
		submit(x, &q);
	}
}

static void count_write(struct rring_io *io, const struct rring_wire_write *w)
{
	atomic_fetch_add_explicit(&io->st_writes, 1, memory_order_relaxed);
	if (w->signaled)
		atomic_fetch_add_explicit(&io->st_signaled, 1,
					  memory_order_relaxed);
	if (w->fence)
		atomic_fetch_add_explicit(&io->st_fences, 1,
					  memory_order_relaxed);
	if (w->requests > 1)
		atomic_fetch_add_explicit(&io->st_coalesced, w->requests - 1,
					  memory_order_relaxed);
}

static void post_write(struct xfer *x, const struct rring_wire_write *w)
{
	struct rr_sqe q;

	count_write(x->c->owner, w);
	memset(&q, 0, sizeof(q));
	q.op = w->fence ? RR_SQE_POST_WRITE : RR_SQE_POST_WRITE_IMM;
	q.flags = w->signaled ? RR_SQE_F_SIGNALED : 0;
	q.wr_id = WRID(XK_WRITE, w->wr_id);
	q.addr = w->sge[0].addr;
	q.len = w->sge[0].len; /* 0 for a fence: no SGE */
	q.lkey = w->sge[0].lkey;
	q.remote_addr = w->remote_addr;
	q.rkey = w->rkey;
	q.imm = w->imm_data;
	submit(x, &q);
}

/* x's last write went unsignaled (at @now_ms): fence it RR_XFER_QUIET_MS
 * from now unless a signaled write comes first (rr_xfer_tick). */
static void mark_quiet(struct xfer *x, uint64_t now_ms)
{
	struct rring_io *io = x->c->owner;
	uint64_t due;

	if (x->quiet)
		return;
	x->quiet = 1;
	x->quiet_ms = now_ms;
	x->quiet_next = io->layer_quiet;
	if (!io->layer_quiet) {
		/* The first on the list brings the tick forward; the others
		 * are due by then too, or at most one period later. */
		due = now_ms + RR_XFER_QUIET_MS;
		if (!io->layer_tick_ms || io->layer_tick_ms > due)
			io->layer_tick_ms = due;
		/* Read by the poller after the writes just submitted: it
		 * wakes an application sleeping on the fd then. Relaxed: a
		 * late or early wake only moves the fence. */
		if (io->e->p.io_external)
			atomic_store_explicit(&io->wake_due_ms, due,
					      memory_order_relaxed);
	}
	io->layer_quiet = x;
}

static void send_writes(struct xfer *x)
{
	struct rring_wire_write w;
	uint64_t now_ms;

	if (x->s.posted == x->s.queued)
		return; /* nothing to write: no clock read */
	now_ms = rr_now_ns() / 1000000;
	x->s.p.lazy_tail = now_ms - x->signaled_ms < RR_XFER_SIGNAL_MS;
	while (rring_wire_send_next(&x->s, &w) == 0) {
		post_write(x, &w);
		if (w.signaled)
			x->signaled_ms = now_ms;
	}
	if (rring_wire_send_unsignaled(&x->s))
		mark_quiet(x, now_ms);
}

/* ---- Owner side: requests, staging, registration cache ----------------- */

static void finish_req(struct xfer *x, int status)
{
	struct xreq *rq = &x->reqs[x->req_head % XREQS];
	struct rring_conn *c = x->c;
	struct rring_event ev;
	uint32_t i;

	for (i = 0; i < rq->niov; i++)
		if (rq->ent[i] != XREQ_NO_ENT)
			x->mrc[rq->ent[i]].refs--;
	x->stage_tail = rq->stage_end;
	if (x->req_queued == x->req_head)
		x->req_queued++; /* a held request failed at close */
	x->req_head++;
	memset(&ev, 0, sizeof(ev));
	ev.type = RRING_EVENT_SEND_DONE;
	ev.status = status;
	ev.conn = c;
	ev.conn_ctx = c->ctx;
	ev.len = rq->len;
	ev.tag = rq->tag;
	if (!status)
		atomic_fetch_add_explicit(&c->owner->st_tx_bytes, rq->len,
					  memory_order_relaxed);
	rr_io_event(c->owner, &ev);
}

static void reap(struct xfer *x)
{
	struct rring_wire_send_result res[32];
	unsigned int n, i;

	while ((n = rring_wire_send_reap(&x->s, res, 32)) > 0)
		for (i = 0; i < n; i++)
			finish_req(x, res[i].status);
}

/* Move held requests whose memory is registered into the machine. */
static void push_held(struct xfer *x)
{
	struct xreq *rq;
	uint32_t i;
	int ret;

	while (x->req_queued < x->req_tail) {
		rq = &x->reqs[x->req_queued % XREQS];
		for (i = 0; i < rq->niov; i++) {
			if (rq->ent[i] == XREQ_NO_ENT)
				continue;
			if (!x->mrc[rq->ent[i]].mr)
				return; /* registration in flight */
			rq->iov[i].lkey = x->mrc[rq->ent[i]].lkey;
		}
		ret = rring_wire_send_queue_flags(&x->s, rq->iov, rq->niov,
						  x->req_queued, rq->flags);
		if (ret) {
			if (ret != -EPIPE)
				fail(x, ret, "send queue refused a request");
			return;
		}
		x->req_queued++;
	}
}

/* Writes of x wait for the end of the owner's batch (rr_xfer_flush). */
static void hold_writes(struct xfer *x)
{
	struct rring_io *io = x->c->owner;

	if (x->dirty || x->s.posted == x->s.queued)
		return;
	x->dirty = 1;
	x->dirty_next = io->layer_dirty;
	io->layer_dirty = x;
}

/* Take x off one of the owner's singly linked lists (dirty or quiet),
 * whose link sits at offset @link in struct xfer. */
static void list_unlink(void **head, struct xfer *x, size_t link)
{
	struct xfer **p = (struct xfer **)head;

	while (*p != x)
		p = (struct xfer **)((char *)*p + link);
	*p = *(struct xfer **)((char *)x + link);
}

static void unhold_writes(struct rring_io *io, struct xfer *x)
{
	if (x->dirty)
		list_unlink(&io->layer_dirty, x,
			    offsetof(struct xfer, dirty_next));
	x->dirty = 0;
	if (x->quiet)
		list_unlink(&io->layer_quiet, x,
			    offsetof(struct xfer, quiet_next));
	x->quiet = 0;
}

/* Reports, control messages and writes, until nothing changes. */
static void pump(struct xfer *x)
{
	struct rring_io *io = x->c->owner;

	if (x->in_pump) {
		x->again = 1;
		/* A handler we called closes a connection: its close follows
		 * the sends held so far, ours included (rring_conn_close). */
		if (io->flushing) {
			push_held(x);
			send_writes(x);
		}
		return;
	}
	x->in_pump = 1;
	do {
		x->again = 0;
		push_held(x);
		reap(x);
		if (x->failed || x->dead)
			continue;
		send_ctrl(x);
		if (io->batch && !io->flushing)
			hold_writes(x);
		else
			send_writes(x);
	} while (x->again);
	x->in_pump = 0;
}

static int mr_victim(struct xfer *x)
{
	int i, best = -1;

	for (i = 0; i < (int)RR_XFER_MR_CACHE; i++) {
		struct mrent *m = &x->mrc[i];

		if (!m->len)
			return i;
		if (m->refs || m->pending)
			continue;
		if (best < 0 || m->last_use < x->mrc[best].last_use)
			best = i;
	}
	return best;
}

/* A cache entry covering [addr, addr + len), referenced; or -EAGAIN. */
static int mr_get(struct xfer *x, uint64_t addr, uint64_t len)
{
	struct rr_sqe q;
	struct mrent *m;
	struct xreg *reg;
	int i;

	for (i = 0; i < (int)RR_XFER_MR_CACHE; i++) {
		m = &x->mrc[i];
		if (m->len && addr >= m->base && addr + len <= m->base + m->len)
			goto hit;
	}
	i = mr_victim(x);
	if (i < 0)
		return -EAGAIN;
	m = &x->mrc[i];
	reg = malloc(sizeof(*reg));
	if (!reg)
		return -ENOMEM;
	if (m->len && m->mr)
		dereg(x, m->mr);
	m->base = addr & ~(PAGE - 1);
	m->len = ((addr + len + PAGE - 1) & ~(PAGE - 1)) - m->base;
	m->mr = NULL;
	m->refs = 0;
	reg->x = x;
	reg->slot = (uint32_t)i;
	m->pending = reg;
	memset(&q, 0, sizeof(q));
	q.op = RR_SQE_REG_MR;
	q.wr_id = (uintptr_t)reg;
	q.addr = m->base;
	q.len = (uint32_t)m->len;
	q.access = 0; /* local read only: we only send from it */
	submit(x, &q);
hit:
	m->refs++;
	m->last_use = ++x->use_clock;
	return i;
}

static int stage_alloc(struct xfer *x, uint32_t len, uint64_t *off)
{
	uint64_t head = x->stage_head, pos = head % RR_XFER_STAGE_SIZE;

	if (pos + len > RR_XFER_STAGE_SIZE)
		head += RR_XFER_STAGE_SIZE - pos; /* no split: skip the tail */
	if (head + len - x->stage_tail > RR_XFER_STAGE_SIZE)
		return -EAGAIN;
	*off = head % RR_XFER_STAGE_SIZE;
	x->stage_head = head + len;
	return 0;
}

static int fill_copied(struct xfer *x, struct xreq *rq, const struct iovec *iov,
		       int iovcnt)
{
	uint64_t off;
	size_t done = 0;
	int i;

	if (stage_alloc(x, rq->len, &off))
		return -EAGAIN;
	for (i = 0; i < iovcnt; i++) {
		memcpy(x->stage + off + done, iov[i].iov_base, iov[i].iov_len);
		done += iov[i].iov_len;
	}
	rq->niov = 1;
	rq->ent[0] = XREQ_NO_ENT;
	rq->iov[0].addr = (uintptr_t)(x->stage + off);
	rq->iov[0].len = rq->len;
	rq->iov[0].lkey = x->local_lkey;
	return 0;
}

static int fill_zero_copy(struct xfer *x, struct xreq *rq,
			  const struct iovec *iov, int iovcnt)
{
	int i, ent;

	rq->niov = 0;
	for (i = 0; i < iovcnt; i++) {
		if (!iov[i].iov_len)
			continue;
		ent = mr_get(x, (uintptr_t)iov[i].iov_base, iov[i].iov_len);
		if (ent < 0)
			goto err_unref;
		rq->ent[rq->niov] = (uint8_t)ent;
		rq->iov[rq->niov].addr = (uintptr_t)iov[i].iov_base;
		rq->iov[rq->niov].len = (uint32_t)iov[i].iov_len;
		rq->iov[rq->niov].lkey = 0; /* filled when registered */
		rq->niov++;
	}
	return 0;
err_unref:
	while (rq->niov)
		x->mrc[rq->ent[--rq->niov]].refs--;
	return ent;
}

static struct xfer *owned_xfer(struct rring_conn *c, const char *fn, int *err)
{
	*err = rr_io_check_owner(c, fn);
	if (*err)
		return NULL;
	if (c->e->layer != &rr_xfer_layer) {
		*err = -EOPNOTSUPP;
		return NULL;
	}
	if (c->ostate != RR_OWN_OPEN || !c->layer_priv ||
	    ((struct xfer *)c->layer_priv)->failed ||
	    ((struct xfer *)c->layer_priv)->dead) {
		*err = -ENOTCONN;
		return NULL;
	}
	return c->layer_priv;
}

int rring_conn_sendv(struct rring_conn *c, const struct iovec *iov, int iovcnt,
		     uint64_t tag)
{
	struct xreq *rq;
	struct xfer *x;
	uint64_t total = 0;
	int i, ret;

	if (!c || !iov || iovcnt < 1 || iovcnt > RRING_XFER_IOV_MAX)
		return -EINVAL;
	x = owned_xfer(c, __func__, &ret);
	if (!x)
		return ret;
	for (i = 0; i < iovcnt; i++) {
		if (!iov[i].iov_base && iov[i].iov_len)
			return -EINVAL;
		total += iov[i].iov_len;
	}
	if (!total)
		return -EINVAL;
	if (total > UINT32_MAX)
		return -EMSGSIZE;
	if (x->req_tail - x->req_head >= XREQS)
		return -EAGAIN;
	rq = &x->reqs[x->req_tail % XREQS];
	rq->tag = tag;
	rq->len = (uint32_t)total;
	if (total <= RRING_XFER_COPY_MAX)
		ret = fill_copied(x, rq, iov, iovcnt);
	else
		ret = fill_zero_copy(x, rq, iov, iovcnt);
	if (ret)
		return ret;
	rq->stage_end = x->stage_head;
	/* The caller waits for memory sent in place; half used staging must
	 * have a completion coming before the ring can be full (a copied
	 * send is at most 1/16 of it, so "full" means over half). */
	rq->flags = total > RRING_XFER_COPY_MAX ||
			    (x->stage_head - x->stage_tail) * 2 >=
				RR_XFER_STAGE_SIZE
			? RRING_WIRE_SEND_F_SIGNAL
			: 0;
	x->req_tail++;
	pump(x);
	return 0;
}

int rr_xfer_send(struct rring_conn *c, const void *data, uint32_t len,
		 uint64_t tag)
{
	struct iovec iov = {.iov_base = (void *)(uintptr_t)data,
			    .iov_len = len};

	return rring_conn_sendv(c, &iov, 1, tag);
}

int rring_conn_consume(struct rring_conn *c, uint32_t n)
{
	struct xfer *x;
	int ret;

	if (!c)
		return -EINVAL;
	x = owned_xfer(c, __func__, &ret);
	if (!x)
		return ret;
	ret = rring_wire_recv_consume(&x->r, n);
	if (ret)
		return ret;
	pump(x);
	return 0;
}

static int mr_overlaps(const struct mrent *m, uint64_t addr, uint64_t len)
{
	return m->len && addr < m->base + m->len && m->base < addr + len;
}

/* Drop cache entry m: its registration goes back to the poller now, or,
 * while still in flight, as soon as it arrives (xfer_on_mr). */
static void mr_drop(struct xfer *x, struct mrent *m)
{
	if (m->pending)
		m->pending->x = NULL;
	else if (m->mr)
		dereg(x, m->mr);
	memset(m, 0, sizeof(*m));
}

/*
 * All or nothing: -EBUSY (nothing dropped) while an unfinished request
 * references an overlapping entry. A registration still in flight with no
 * request (its sendv failed later with -EAGAIN) is detached: xfer_on_mr
 * deregisters it on arrival, so the stale pages are never used.
 */
int rring_conn_forget(struct rring_conn *c, const void *addr, size_t len)
{
	uint64_t a = (uintptr_t)addr;
	struct xfer *x;
	uint32_t i;
	int ret;

	if (!c || (!addr && len) || len > UINT64_MAX - a)
		return -EINVAL;
	ret = rr_io_check_owner(c, __func__);
	if (ret)
		return ret;
	if (c->e->layer != &rr_xfer_layer)
		return 0; /* the message layer caches no registration */
	x = c->layer_priv;
	if (!x || !len)
		return 0; /* closed: on_close gave every registration back */
	for (i = 0; i < RR_XFER_MR_CACHE; i++)
		if (mr_overlaps(&x->mrc[i], a, len) && x->mrc[i].refs)
			return -EBUSY;
	for (i = 0; i < RR_XFER_MR_CACHE; i++)
		if (mr_overlaps(&x->mrc[i], a, len))
			mr_drop(x, &x->mrc[i]);
	return 0;
}

/* ---- Owner side: events ------------------------------------------------- */

static void list_add(struct rring_io *io, struct xfer *x)
{
	x->prev = NULL;
	x->next = io->layer_list;
	if (x->next)
		x->next->prev = x;
	io->layer_list = x;
	x->listed = 1;
}

static void list_del(struct rring_io *io, struct xfer *x)
{
	if (!x->listed)
		return;
	if (x->prev)
		x->prev->next = x->next;
	else
		io->layer_list = x->next;
	if (x->next)
		x->next->prev = x->prev;
	x->listed = 0;
}

static void xfer_on_established(struct rring_io *io, struct rring_conn *c)
{
	struct xfer *x = c->layer_priv;
	uint64_t now_ms = rr_now_ns() / 1000000;

	list_add(io, x);
	if (!io->layer_tick_ms)
		io->layer_tick_ms = io->layer_keep_ms = now_ms + RR_XFER_TICK_MS;
	if (rring_wire_recv_on_established(&x->r, now_ms))
		fail(x, -EPROTO, "established twice");
	pump(x);
}

static void on_recv_data(struct rring_io *io, struct xfer *x,
			 const struct rr_cqe *q)
{
	uint32_t off = x->r.wr_off;
	struct rring_event ev;

	if (rring_wire_recv_on_write_imm(&x->r, q->imm, q->byte_len)) {
		fail(x, -EPROTO, x->r.reason);
		return;
	}
	memset(&ev, 0, sizeof(ev));
	ev.type = RRING_EVENT_RECV;
	ev.conn = x->c;
	ev.conn_ctx = x->c->ctx;
	ev.data = x->rx + off;
	ev.len = q->byte_len;
	atomic_fetch_add_explicit(&io->st_rx_bytes, q->byte_len,
				  memory_order_relaxed);
	rr_io_event(io, &ev);
}

static void on_recv_ctrl(struct xfer *x, uint32_t slot, const struct rr_cqe *q)
{
	struct rring_wire_msg m;
	int ret;

	ret = rring_wire_recv_on_ctrl(
	    &x->r, x->ctrl_rx + slot * RRING_WIRE_MSG_SIZE, q->byte_len, &m);
	if (ret) {
		fail(x, ret == -EBADMSG ? -EBADMSG : -EPROTO, x->r.reason);
		return;
	}
	if (m.opcode != RRING_WIRE_OP_REGISTER_XFER_MEMORY)
		return;
	if (rring_wire_send_on_peer_buffer(&x->s, m.addr, m.length, m.rkey))
		fail(x, -EPROTO, x->s.reason);
}

static void wc_error(struct xfer *x, const struct rr_cqe *q)
{
	enum ibv_wc_status st = (enum ibv_wc_status)q->wc_status;

	/* A flush is the echo of a disconnect or an earlier error. */
	if (st == IBV_WC_WR_FLUSH_ERR) {
		close_conn(x, -ECONNRESET, "flushed", -1);
		return;
	}
	rr_log(&x->c->e->h, RR_LOG_WARN, "peer %s (conn %llu): %s", x->peer,
	       (unsigned long long)x->c->id, ibv_wc_status_str(st));
	close_conn(x, -EIO, "work completion error", RR_LOG_WARN);
}

static void xfer_on_wc(struct rring_io *io, struct rring_conn *c,
		       const struct rr_cqe *q)
{
	struct xfer *x = c->layer_priv;
	uint64_t val = q->wr_id & WRID_VAL_MASK;

	if (x->failed)
		return; /* closing: the close reports everything */
	if (q->wc_status != IBV_WC_SUCCESS) {
		wc_error(x, q);
		pump(x);
		return;
	}
	switch (q->wr_id >> 56) {
	case XK_RECV:
		if (q->opcode == IBV_WC_RECV_RDMA_WITH_IMM)
			on_recv_data(io, x, q);
		else
			on_recv_ctrl(x, (uint32_t)val, q);
		if (!x->failed)
			repost_recv(x, (uint32_t)val);
		break;
	case XK_CTRL:
		x->ctrl_free[x->n_ctrl_free++] = (uint16_t)val;
		break;
	case XK_WRITE:
		if (rring_wire_send_on_write_done(&x->s, val))
			fail(x, -EIO, "completion of an unknown write");
		break;
	default:
		fail(x, -EIO, "completion with an unknown wr_id");
	}
	pump(x);
}

static void xfer_on_mr(struct rring_io *io, const struct rr_cqe *q)
{
	struct xreg *reg = (struct xreg *)(uintptr_t)q->wr_id;
	struct ibv_mr *mr = (struct ibv_mr *)(uintptr_t)q->aux;
	struct xfer *x = reg->x;
	uint32_t slot = reg->slot;
	struct mrent *m;
	struct rr_sqe d;

	free(reg);
	if (!x) {
		/* The connection closed first: give the memory back. */
		if (!q->status) {
			memset(&d, 0, sizeof(d));
			d.op = RR_SQE_DEREG_MR;
			d.wr_id = (uintptr_t)mr;
			rr_io_submit(io, &d);
		}
		return;
	}
	m = &x->mrc[slot];
	m->pending = NULL;
	if (q->status) {
		m->len = 0; /* never a hit; freed when its requests fail */
		fail(x, q->status, "registering send memory failed");
		pump(x);
		return;
	}
	m->mr = mr;
	m->lkey = q->lkey;
	pump(x);
}

/* Owner: the last call for c. Every unfinished send fails, then the
 * registrations go back to the poller (before the close acknowledgement). */
static void xfer_on_close(struct rring_io *io, struct rring_conn *c)
{
	struct xfer *x = c->layer_priv;
	uint32_t i;

	if (!x)
		return;
	rring_wire_send_close(&x->s, c->close_err ? c->close_err : -ECONNRESET,
			      "connection closed");
	rring_wire_recv_close(&x->r, 0, "connection closed");
	x->dead = 1;
	reap(x);
	while (x->req_head < x->req_tail)
		finish_req(x, c->close_err ? c->close_err : -ECONNRESET);
	for (i = 0; i < RR_XFER_MR_CACHE; i++)
		mr_drop(x, &x->mrc[i]);
	list_del(io, x);
	unhold_writes(io, x); /* the poller may free x after our ack */
}

/* Owner, at the end of a batch: post what each connection queued in it. */
static void xfer_flush(struct rring_io *io)
{
	struct xfer *x;

	while ((x = io->layer_dirty)) {
		io->layer_dirty = x->dirty_next;
		x->dirty = 0;
		pump(x);
	}
}

/* Owner: a fence for each listed connection that had no signaled write
 * since it was listed (it went quiet); one that did is busy: listed again
 * if its last write is unsignaled, its next tail signal comes first. */
static void fence_quiet(struct rring_io *io, uint64_t now_ms)
{
	struct xfer *x, *next = io->layer_quiet;
	struct rring_wire_write w;

	io->layer_quiet = NULL;
	while ((x = next)) {
		next = x->quiet_next;
		x->quiet = 0;
		if (x->failed || x->dead || !rring_wire_send_unsignaled(&x->s))
			continue;
		if (x->signaled_ms >= x->quiet_ms) {
			mark_quiet(x, now_ms);
		} else if (rring_wire_send_fence(&x->s, &w) == 0) {
			post_write(x, &w);
			x->signaled_ms = now_ms;
		}
	}
}

uint32_t rr_xfer_tick(struct rring_io *io, uint64_t now_ms)
{
	struct xfer *x;

	fence_quiet(io, now_ms);
	if (now_ms >= io->layer_keep_ms) {
		io->layer_keep_ms = now_ms + RR_XFER_TICK_MS;
		for (x = io->layer_list; x; x = x->next) {
			if (x->failed || x->dead)
				continue;
			rring_wire_recv_tick(&x->r, now_ms);
			pump(x);
		}
	}
	if (io->layer_quiet) /* listed again by a pump just now */
		return RR_XFER_QUIET_MS;
	return io->layer_list ? (uint32_t)(io->layer_keep_ms - now_ms)
			      : UINT32_MAX;
}

const struct rr_layer_ops rr_xfer_layer = {
    .qp_caps = xfer_qp_caps,
    .setup = xfer_setup,
    .teardown = xfer_teardown,
    .on_established = xfer_on_established,
    .on_wc = xfer_on_wc,
    .on_close = xfer_on_close,
    .on_mr = xfer_on_mr,
    .tick = rr_xfer_tick,
    .flush = xfer_flush,
};
