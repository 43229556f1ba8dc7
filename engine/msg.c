// SPDX-License-Identifier: BSD-3-Clause
/* rdmaring: the simple message layer (two-sided SEND/RECV, copied). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "xfer.h"

/*
 * Per connection, one registered area holds msg-depth receive buffers of
 * rx-size bytes followed by msg-depth send slots of rx-size bytes. The
 * poller allocates and registers it (on the engine's NUMA node) and posts
 * the first receives before connect/accept; from then on the owner IO
 * thread owns the buffers: it delivers each receive to the application,
 * reposts the buffer through its submission ring, and copies each send
 * into a free slot. wr_id = kind << 32 | slot.
 *
 * The Valkey wire protocol (issue 6) replaces this layer: the boundary is
 * struct rr_layer_ops (engine.h) plus the RR_SQE_* descriptors.
 */

#define RR_WR_RECV 1ull
#define RR_WR_SEND 2ull

void rr_msg_qp_caps(const struct rring_engine *e, struct ibv_qp_cap *cap)
{
	memset(cap, 0, sizeof(*cap));
	cap->max_send_wr = e->p.msg_depth + 1;
	cap->max_recv_wr = e->p.msg_depth;
	cap->max_send_sge = 1;
	cap->max_recv_sge = 1;
}

static unsigned char *recv_buf(struct rring_conn *c, uint32_t slot)
{
	return c->mb.area + (size_t)slot * c->mb.rx_size;
}

static unsigned char *send_buf(struct rring_conn *c, uint32_t slot)
{
	return c->mb.area + (size_t)(c->mb.depth + slot) * c->mb.rx_size;
}

/* Poller: buffers, registration, owner arrays, first receives. */
int rr_msg_setup(struct rring_engine *e, struct rring_conn *c)
{
	uint32_t i, depth = e->p.msg_depth;

	c->mb.depth = depth;
	c->mb.rx_size = e->p.rx_size;
	c->mb.area_size = 2 * (size_t)depth * e->p.rx_size;
	c->mb.area = rr_mem_alloc(c->mb.area_size, e->place.mem_node);
	c->send_stack = calloc(depth, sizeof(*c->send_stack));
	c->send_tag = calloc(depth, sizeof(*c->send_tag));
	c->send_len = calloc(depth, sizeof(*c->send_len));
	if (!c->mb.area || !c->send_stack || !c->send_tag || !c->send_len)
		return -ENOMEM;
	/* Two-sided only: no remote access to these buffers. */
	c->mb.mr = ibv_reg_mr(c->dev->pd, c->mb.area, c->mb.area_size,
			      IBV_ACCESS_LOCAL_WRITE);
	if (!c->mb.mr)
		return errno ? -errno : -EIO;
	c->mb.lkey = c->mb.mr->lkey;
	for (i = 0; i < depth; i++)
		c->send_stack[i] = (uint16_t)(depth - 1 - i);
	c->send_free = depth;
	return rr_post_recv_slots(c->cm_id->qp, recv_buf(c, 0), depth,
				  c->mb.rx_size, c->mb.lkey,
				  RR_WR_RECV << 32);
}

/* Poller, after the QP is destroyed. */
void rr_msg_teardown(struct rring_engine *e, struct rring_conn *c)
{
	(void)e;
	if (c->mb.mr)
		ibv_dereg_mr(c->mb.mr);
	c->mb.mr = NULL;
	rr_mem_free(c->mb.area, c->mb.area_size);
	c->mb.area = NULL;
}

static void repost_recv(struct rring_io *io, struct rring_conn *c,
			uint32_t slot)
{
	struct rr_sqe q;

	memset(&q, 0, sizeof(q));
	q.op = RR_SQE_POST_RECV;
	q.conn = c;
	q.wr_id = RR_WR_RECV << 32 | slot;
	q.addr = (uintptr_t)recv_buf(c, slot);
	q.len = c->mb.rx_size;
	q.lkey = c->mb.lkey;
	rr_io_submit(io, &q);
}

static void send_done(struct rring_io *io, struct rring_conn *c, uint32_t slot,
		      int status)
{
	struct rring_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.type = RRING_EVENT_SEND_DONE;
	ev.status = status;
	ev.conn = c;
	ev.conn_ctx = c->ctx;
	ev.len = c->send_len[slot] - 1;
	ev.tag = c->send_tag[slot];
	c->send_len[slot] = 0;
	c->send_stack[c->send_free++] = (uint16_t)slot;
	if (!status)
		atomic_fetch_add_explicit(&io->st_tx_bytes, ev.len,
					  memory_order_relaxed);
	rr_io_event(io, &ev);
}

void rr_msg_on_wc(struct rring_io *io, struct rring_conn *c,
		  const struct rr_cqe *q)
{
	uint32_t slot = (uint32_t)q->wr_id;
	struct rring_event ev;

	if (q->wr_id >> 32 == RR_WR_SEND && slot < c->mb.depth &&
	    c->send_len[slot]) {
		send_done(io, c, slot, 0);
		return;
	}
	if (q->wr_id >> 32 != RR_WR_RECV || slot >= c->mb.depth) {
		rr_log(&io->e->h, RR_LOG_ERR,
		       "conn %llu: unexpected completion wr_id %#llx",
		       (unsigned long long)c->id, (unsigned long long)q->wr_id);
		return;
	}
	memset(&ev, 0, sizeof(ev));
	ev.type = RRING_EVENT_RECV;
	ev.conn = c;
	ev.conn_ctx = c->ctx;
	ev.data = recv_buf(c, slot);
	ev.len = q->byte_len;
	atomic_fetch_add_explicit(&io->st_rx_bytes, q->byte_len,
				  memory_order_relaxed);
	rr_io_event(io, &ev);
	repost_recv(io, c, slot);
}

/* Owner, on close: every send still in flight did not complete. */
void rr_msg_on_close(struct rring_io *io, struct rring_conn *c)
{
	uint32_t slot;

	for (slot = 0; c->send_len && slot < c->mb.depth; slot++)
		if (c->send_len[slot])
			send_done(io, c, slot, -ECANCELED);
}

int rring_conn_send(struct rring_conn *c, const void *data, uint32_t len,
		    uint64_t tag)
{
	struct rr_sqe q;
	uint32_t slot;
	int ret;

	if (!c || (!data && len))
		return -EINVAL;
	if (c->e->layer != &rr_msg_layer)
		return rr_xfer_send(c, data, len, tag);
	ret = rr_io_check_owner(c, __func__);
	if (ret)
		return ret;
	if (c->ostate != RR_OWN_OPEN)
		return -ENOTCONN;
	if (len > c->mb.rx_size)
		return -EMSGSIZE;
	if (!c->send_free)
		return -EAGAIN;
	slot = c->send_stack[--c->send_free];
	memcpy(send_buf(c, slot), data, len);
	c->send_len[slot] = len + 1; /* 0 marks a free slot */
	c->send_tag[slot] = tag;
	memset(&q, 0, sizeof(q));
	q.op = RR_SQE_POST_SEND;
	q.flags = RR_SQE_F_SIGNALED;
	q.conn = c;
	q.wr_id = RR_WR_SEND << 32 | slot;
	q.addr = (uintptr_t)send_buf(c, slot);
	q.len = len;
	q.lkey = c->mb.lkey;
	return rr_io_submit(c->owner, &q);
}

const struct rr_layer_ops rr_msg_layer = {
    .qp_caps = rr_msg_qp_caps,
    .setup = rr_msg_setup,
    .teardown = rr_msg_teardown,
    .on_established = NULL,
    .on_wc = rr_msg_on_wc,
    .on_close = rr_msg_on_close,
    .on_mr = NULL,
};
