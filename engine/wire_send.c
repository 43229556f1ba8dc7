/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring: sender state machine: iovecs to RDMA writes in the peer window. */

/* clang-format off */
/*
 * The sender turns queued requests (iovecs of caller-owned registered
 * memory) into RDMA_WRITE_WITH_IMM actions that land in the window the peer
 * advertised with RegisterXferMemory. It never calls verbs: the owner IO
 * thread asks rring_wire_send_next() for a write, hands it to the poller,
 * and feeds the completion back. One instance per connection, touched only
 * by the owner thread.
 *
 * The byte stream of all requests has three offsets:
 *
 *   acked <= posted <= queued
 *   acked : bytes whose write completed (delivered to the peer's memory)
 *   posted: bytes handed out as write actions
 *   queued: bytes of all queued requests
 *
 * A request ending at stream offset E is delivered when acked >= E, and
 * only then. Writes complete in order on an RC QP, so a signaled completion
 * acknowledges every earlier unsignaled write. A write is signaled only
 * when the sender needs to hear back:
 *   - signal_every writes went unsignaled (as Valkey: the send queue's
 *     slots are reclaimed long before it fills);
 *   - it takes the last slot of the in-flight budget (the budget is always
 *     freed by some completion, so the sender never waits for nothing);
 *   - it fills the window (the sender waits for the peer anyway);
 *   - it ends a request queued with RRING_WIRE_SEND_F_SIGNAL (the owner
 *     needs that memory back soon: sent in place, or staging half used);
 *   - it ends requests and half of max_requests are written and not yet
 *     reported (the request queue is freed by a completion before it is
 *     full, so a caller refused with -EAGAIN always has a report coming);
 *   - without lazy_tail: it ends requests and nothing queued is left to
 *     write after it (the last write before the sender waits).
 * Otherwise the requests a write ends are reported with a later signaled
 * write; with lazy_tail an owner that goes quiet asks for a fence
 * (rring_wire_send_fence, a zero-byte signaled write) to retire them. On an error the QP flushes
 * every outstanding write, signaled or not, with an error completion; the
 * close reports every request not acknowledged as failed.
 *
 * Consecutive iovecs that are adjacent in memory with the same key (the
 * owner's staging ring holds small requests back to back) go into one
 * scatter entry: everything queued leaves in as few writes as the window,
 * max_write and max_sge allow.
 *
 * States (a handler per state for each event):
 *
 *   state             queue    peer_buffer        next            write_done
 *   WAIT_PEER_BUFFER  enqueue  -> READY           -EAGAIN         ack
 *   READY             enqueue  off 0: replace;    write; end of   ack
 *                              else -> ERROR      window ->
 *                                                 WINDOW_FULL
 *   WINDOW_FULL       enqueue  -> READY, off 0    -EAGAIN         ack
 *   CLOSED, ERROR     -EPIPE   -EPIPE             -EPIPE          -EPIPE
 *
 * close: any open state -> CLOSED (orderly) or ERROR; no-op once closed.
 *
 * Rules: a write never crosses the window end; a window is filled exactly
 * to its end before the sender waits (a write is cut at the window end and
 * the rest goes into the next window); a re-advertisement resets the write
 * offset to 0; at most max_inflight writes are outstanding, each at most
 * max_write bytes (so the peer can consume a big value while the rest of
 * it is still on the way). Re-advertising
 * a window that is partly written is a protocol violation (the receiver
 * only re-advertises a buffer that is completely written and consumed).
 */
/* clang-format on */
#include <assert.h>
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "wire_send.h"

/* clang-format off */
static const char *const state_names[RRING_WIRE_SEND_NR_STATES] = {
	[RRING_WIRE_SEND_WAIT_PEER_BUFFER] = "WAIT_PEER_BUFFER",
	[RRING_WIRE_SEND_READY] = "READY",
	[RRING_WIRE_SEND_WINDOW_FULL] = "WINDOW_FULL",
	[RRING_WIRE_SEND_CLOSED] = "CLOSED",
	[RRING_WIRE_SEND_ERROR] = "ERROR",
};
/* clang-format on */

const char *rring_wire_send_state_str(enum rring_wire_send_state st)
{
	if ((unsigned int)st < RRING_WIRE_SEND_NR_STATES)
		return state_names[st];
	return "INVALID";
}

static bool is_pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

static uint32_t roundup_pow2(uint32_t v)
{
	uint32_t r = 1;

	while (r < v)
		r <<= 1;
	return r;
}

void rring_wire_send_params_init(struct rring_wire_send_params *p)
{
	p->max_requests = 1024;
	p->max_iovs = 4096;
	p->max_inflight = RRING_WIRE_SEND_QUEUE - RRING_WIRE_CTRL_RESERVE;
	p->signal_every = RRING_WIRE_SIGNAL_EVERY;
	p->max_sge = RRING_WIRE_MAX_SGE;
	p->max_write = RRING_WIRE_DEFAULT_MAX_WRITE;
	p->lazy_tail = false;
}

static int check_params(const struct rring_wire_send_params *p)
{
	if (!is_pow2(p->max_requests) || !is_pow2(p->max_iovs))
		return -EINVAL;
	if (!p->max_inflight || p->max_inflight > RRING_WIRE_SEND_QUEUE)
		return -EINVAL;
	if (!p->signal_every || !p->max_sge || p->max_sge > RRING_WIRE_MAX_SGE)
		return -EINVAL;
	if (!p->max_write || p->max_write > RRING_WIRE_RX_SIZE_MAX)
		return -EINVAL;
	return 0;
}

int rring_wire_send_init(struct rring_wire_send *s,
			 const struct rring_wire_send_params *p)
{
	uint32_t ninfl;

	memset(s, 0, sizeof(*s));
	if (check_params(p)) {
		rring_wire_send_destroy(s);
		return -EINVAL;
	}
	s->p = *p;
	ninfl = roundup_pow2(p->max_inflight);
	s->infl_mask = ninfl - 1;
	s->reqs = calloc(p->max_requests, sizeof(*s->reqs));
	if (!s->reqs)
		goto err;
	s->segs = calloc(p->max_iovs, sizeof(*s->segs));
	if (!s->segs)
		goto err_free_reqs;
	s->infl = calloc(ninfl, sizeof(*s->infl));
	if (!s->infl)
		goto err_free_segs;
	s->state = RRING_WIRE_SEND_WAIT_PEER_BUFFER;
	return 0;

err_free_segs:
	free(s->segs);
	s->segs = NULL;
err_free_reqs:
	free(s->reqs);
	s->reqs = NULL;
err:
	rring_wire_send_destroy(s);
	return -ENOMEM;
}

/* Also the state after a failed init: every event answers -EPIPE and
 * nothing touches the (absent) arrays. */
void rring_wire_send_destroy(struct rring_wire_send *s)
{
	free(s->infl);
	free(s->segs);
	free(s->reqs);
	memset(s, 0, sizeof(*s));
	s->state = RRING_WIRE_SEND_CLOSED;
	s->err = -EPIPE;
	s->reason = "destroyed";
}

static bool is_open(const struct rring_wire_send *s)
{
	return s->state == RRING_WIRE_SEND_WAIT_PEER_BUFFER ||
	       s->state == RRING_WIRE_SEND_READY ||
	       s->state == RRING_WIRE_SEND_WINDOW_FULL;
}

/* ---- event: queue ---- */

static int count_iovs(const struct rring_wire_iov *iov, unsigned int iovcnt,
		      uint32_t *n, uint64_t *total)
{
	unsigned int i;

	*n = 0;
	*total = 0;
	for (i = 0; i < iovcnt; i++) {
		if (!iov[i].len)
			continue;
		(*n)++;
		*total += iov[i].len;
	}
	return *n ? 0 : -EINVAL;
}

int rring_wire_send_queue(struct rring_wire_send *s,
			  const struct rring_wire_iov *iov, unsigned int iovcnt,
			  uint64_t cookie)
{
	return rring_wire_send_queue_flags(s, iov, iovcnt, cookie, 0);
}

int rring_wire_send_queue_flags(struct rring_wire_send *s,
				const struct rring_wire_iov *iov,
				unsigned int iovcnt, uint64_t cookie,
				unsigned int flags)
{
	struct rring_wire_sreq *r;
	uint64_t total;
	unsigned int i;
	uint32_t n;

	if (!is_open(s))
		return -EPIPE;
	if (count_iovs(iov, iovcnt, &n, &total))
		return -EINVAL;
	if (n > s->p.max_iovs)
		return -E2BIG;
	if (s->req_tail - s->req_head == s->p.max_requests ||
	    s->p.max_iovs - (s->seg_tail - s->seg_head) < n)
		return -EAGAIN;
	for (i = 0; i < iovcnt; i++)
		if (iov[i].len)
			s->segs[s->seg_tail++ & (s->p.max_iovs - 1)] = iov[i];
	s->queued += total;
	r = &s->reqs[s->req_tail++ & (s->p.max_requests - 1)];
	r->cookie = cookie;
	r->end = s->queued;
	r->signal = flags & RRING_WIRE_SEND_F_SIGNAL;
	return 0;
}

/* ---- event: the peer advertised its buffer ---- */

static int violation(struct rring_wire_send *s, const char *reason)
{
	rring_wire_send_close(s, -EPROTO, reason);
	return -EPROTO;
}

static int take_window(struct rring_wire_send *s, uint64_t addr, uint32_t len,
		       uint32_t rkey)
{
	s->win_addr = addr;
	s->win_len = len;
	s->win_rkey = rkey;
	s->win_off = 0;
	s->stats.windows++;
	s->state = RRING_WIRE_SEND_READY;
	return 0;
}

static int peer_buffer_ready(struct rring_wire_send *s, uint64_t addr,
			     uint32_t len, uint32_t rkey)
{
	if (s->win_off)
		return violation(s,
				 "peer re-advertised a partly written window");
	return take_window(s, addr, len, rkey);
}

static int peer_buffer_closed(struct rring_wire_send *s, uint64_t addr,
			      uint32_t len, uint32_t rkey)
{
	(void)s;
	(void)addr;
	(void)len;
	(void)rkey;
	return -EPIPE;
}

typedef int (*peer_buffer_fn)(struct rring_wire_send *, uint64_t, uint32_t,
			      uint32_t);

/* clang-format off */
static const peer_buffer_fn peer_buffer_handlers[RRING_WIRE_SEND_NR_STATES] = {
	[RRING_WIRE_SEND_WAIT_PEER_BUFFER] = take_window,
	[RRING_WIRE_SEND_READY] = peer_buffer_ready,
	[RRING_WIRE_SEND_WINDOW_FULL] = take_window,
	[RRING_WIRE_SEND_CLOSED] = peer_buffer_closed,
	[RRING_WIRE_SEND_ERROR] = peer_buffer_closed,
};
/* clang-format on */

int rring_wire_send_on_peer_buffer(struct rring_wire_send *s, uint64_t addr,
				   uint32_t len, uint32_t rkey)
{
	if (!is_open(s))
		return -EPIPE;
	if (len < RRING_WIRE_RX_SIZE_MIN || len > RRING_WIRE_RX_SIZE_MAX ||
	    !rkey || addr > UINT64_MAX - len)
		return violation(s, "peer advertised an invalid buffer");
	return peer_buffer_handlers[s->state](s, addr, len, rkey);
}

/* ---- action: next write ---- */

/* The scatter entry of @w that [addr, +len) with lkey goes into: the last
 * one when it ends at addr with the same key, else a new one (NULL when
 * max_sge are used). */
static struct rring_wire_iov *gather_sge(struct rring_wire_send *s,
					 struct rring_wire_write *w,
					 uint64_t addr, uint32_t lkey)
{
	struct rring_wire_iov *last;

	if (w->num_sge) {
		last = &w->sge[w->num_sge - 1];
		if (last->lkey == lkey && last->addr + last->len == addr)
			return last;
	}
	if (w->num_sge == s->p.max_sge)
		return NULL;
	last = &w->sge[w->num_sge++];
	last->addr = addr;
	last->len = 0;
	last->lkey = lkey;
	return last;
}

/* Gather queued iovecs into @w, at most @space bytes. */
static void gather(struct rring_wire_send *s, struct rring_wire_write *w,
		   uint32_t space)
{
	const uint32_t mask = s->p.max_iovs - 1;

	while (space && s->seg_head != s->seg_tail) {
		struct rring_wire_iov *seg = &s->segs[s->seg_head & mask];
		struct rring_wire_iov *sge;
		uint32_t n;

		/* Debug check: the SGE stays inside the queued iovec (seg_off
		 * is reset to 0 whenever a segment is finished). */
		assert(s->seg_off < seg->len);
		sge = gather_sge(s, w, seg->addr + s->seg_off, seg->lkey);
		if (!sge)
			break;
		n = seg->len - s->seg_off;
		if (n > space)
			n = space;
		sge->len += n;
		w->length += n;
		space -= n;
		s->seg_off += n;
		if (s->seg_off == seg->len) {
			s->seg_off = 0;
			s->seg_head++;
		}
	}
}

/* How many requests the write ending at s->posted carries the last byte
 * of; advances req_post past them. *@signal: one of them asked for it. */
static uint32_t ends_requests(struct rring_wire_send *s, bool *signal)
{
	const uint32_t mask = s->p.max_requests - 1;
	uint32_t n = 0;

	*signal = false;
	while (s->req_post != s->req_tail &&
	       s->reqs[s->req_post & mask].end <= s->posted) {
		*signal |= s->reqs[s->req_post & mask].signal;
		s->req_post++;
		n++;
	}
	return n;
}

/* The rules of the file comment, for the write just gathered. */
static bool want_signal(struct rring_wire_send *s, uint32_t ends,
			bool asked)
{
	uint64_t inflight = s->infl_tail - s->infl_head;

	if (s->since_signal + 1 >= s->p.signal_every ||
	    inflight + 1 >= s->p.max_inflight || s->win_off == s->win_len)
		return true;
	if (!ends)
		return false;
	return asked || (!s->p.lazy_tail && s->posted == s->queued) ||
	       (s->req_post - s->req_head) * 2 >= s->p.max_requests;
}

/* Append a write (or fence) to the in-flight ring. */
static void track_write(struct rring_wire_send *s, struct rring_wire_write *w)
{
	struct rring_wire_inflight *f;

	w->wr_id = s->infl_tail;
	f = &s->infl[s->infl_tail++ & s->infl_mask];
	f->end = s->posted;
	f->signaled = w->signaled;
	s->since_signal = w->signaled ? 0 : s->since_signal + 1;
}

static void record_write(struct rring_wire_send *s, struct rring_wire_write *w)
{
	bool asked;

	w->requests = ends_requests(s, &asked);
	w->signaled = want_signal(s, w->requests, asked);
	track_write(s, w);
	s->stats.writes++;
	s->stats.signaled += w->signaled;
	s->stats.bytes_posted += w->length;
	s->stats.coalesced += w->requests > 1 ? w->requests - 1 : 0;
}

static int next_ready(struct rring_wire_send *s, struct rring_wire_write *w)
{
	uint32_t space;

	if (s->posted == s->queued ||
	    s->infl_tail - s->infl_head >= s->p.max_inflight)
		return -EAGAIN;
	memset(w, 0, sizeof(*w));
	w->remote_addr = s->win_addr + s->win_off;
	w->rkey = s->win_rkey;
	space = s->win_len - s->win_off;
	gather(s, w, space < s->p.max_write ? space : s->p.max_write);
	w->imm_data = htobe32(w->length);
	s->win_off += w->length;
	s->posted += w->length;
	record_write(s, w);
	if (s->win_off == s->win_len)
		s->state = RRING_WIRE_SEND_WINDOW_FULL;
	return 0;
}

static int next_wait(struct rring_wire_send *s, struct rring_wire_write *w)
{
	(void)s;
	(void)w;
	return -EAGAIN;
}

static int next_closed(struct rring_wire_send *s, struct rring_wire_write *w)
{
	(void)s;
	(void)w;
	return -EPIPE;
}

typedef int (*next_fn)(struct rring_wire_send *, struct rring_wire_write *);

/* clang-format off */
static const next_fn next_handlers[RRING_WIRE_SEND_NR_STATES] = {
	[RRING_WIRE_SEND_WAIT_PEER_BUFFER] = next_wait,
	[RRING_WIRE_SEND_READY] = next_ready,
	[RRING_WIRE_SEND_WINDOW_FULL] = next_wait,
	[RRING_WIRE_SEND_CLOSED] = next_closed,
	[RRING_WIRE_SEND_ERROR] = next_closed,
};
/* clang-format on */

int rring_wire_send_next(struct rring_wire_send *s, struct rring_wire_write *w)
{
	return next_handlers[s->state](s, w);
}

bool rring_wire_send_unsignaled(const struct rring_wire_send *s)
{
	return s->infl_tail != s->infl_head &&
	       !s->infl[(s->infl_tail - 1) & s->infl_mask].signaled;
}

int rring_wire_send_fence(struct rring_wire_send *s, struct rring_wire_write *w)
{
	if (!is_open(s))
		return -EPIPE;
	/* An unsignaled last write means the budget rule left a slot free. */
	if (!rring_wire_send_unsignaled(s))
		return -EAGAIN;
	memset(w, 0, sizeof(*w));
	/* Zero bytes at the start of the window the writes went to: the peer
	 * sees nothing (no immediate, no receive consumed). */
	w->remote_addr = s->win_addr;
	w->rkey = s->win_rkey;
	w->signaled = true;
	w->fence = true;
	track_write(s, w);
	s->stats.fences++;
	return 0;
}

/* ---- event: a signaled write completed ---- */

int rring_wire_send_on_write_done(struct rring_wire_send *s, uint64_t wr_id)
{
	const struct rring_wire_inflight *f;

	if (!is_open(s))
		return -EPIPE;
	if (wr_id < s->infl_head || wr_id >= s->infl_tail)
		return -EINVAL;
	f = &s->infl[wr_id & s->infl_mask];
	if (!f->signaled)
		return -EINVAL;
	s->stats.bytes_acked += f->end - s->acked;
	s->acked = f->end;
	s->infl_head = wr_id + 1;
	return 0;
}

/* ---- event: close / error ---- */

void rring_wire_send_close(struct rring_wire_send *s, int err,
			   const char *reason)
{
	if (!is_open(s))
		return;
	s->state = err ? RRING_WIRE_SEND_ERROR : RRING_WIRE_SEND_CLOSED;
	s->err = err ? err : -ECONNRESET;
	s->reason = reason ? reason : "connection closed";
	/* Writes still in flight never count as delivered. */
	s->infl_head = s->infl_tail;
	s->seg_head = s->seg_tail;
	s->seg_off = 0;
}

/* ---- reporting ---- */

unsigned int rring_wire_send_reap(struct rring_wire_send *s,
				  struct rring_wire_send_result *res,
				  unsigned int max)
{
	const uint32_t mask = s->p.max_requests - 1;
	bool open = is_open(s);
	unsigned int n = 0;

	while (n < max && s->req_head != s->req_tail) {
		const struct rring_wire_sreq *r = &s->reqs[s->req_head & mask];
		bool done = r->end <= s->acked;

		if (!done && open)
			break;
		res[n].cookie = r->cookie;
		res[n].status = done ? 0 : s->err;
		s->stats.requests_done += done;
		s->stats.requests_failed += !done;
		s->req_head++;
		n++;
	}
	if (s->req_post - s->req_head > s->req_tail - s->req_head)
		s->req_post = s->req_head;
	return n;
}

bool rring_wire_send_busy(const struct rring_wire_send *s)
{
	return s->req_head != s->req_tail;
}
