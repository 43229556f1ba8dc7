/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring: receiver state machine: window offsets and control plane. */

/* clang-format off */
/*
 * Our receive buffer has two offsets, 0 <= rd_off <= wr_off <= buf_len:
 * wr_off grows by the count carried in the immediate of each
 * RDMA_WRITE_WITH_IMM the peer completes into it (as Valkey's receiver
 * does; wc.byte_len must agree), rd_off by what the application consumes.
 * When the buffer is completely written and completely consumed
 * (rd_off == buf_len) both reset to 0 and we advertise the buffer again
 * with RegisterXferMemory; the peer then starts writing at offset 0 again.
 * This is Valkey's behaviour, so a Valkey peer and we agree on every offset.
 *
 * The same machine runs the control plane of the connection: it validates
 * every control message (via the codec), answers GetServerFeature as a
 * server, checks the answer as a client, accepts Keepalive at any time and
 * queues our own control messages into a small outbox the owner drains with
 * rring_wire_recv_next_ctrl().
 *
 * States and events (a handler per state for each data-path event):
 *
 *   state   established   ctrl msg   write_imm(n)          consume(n)
 *   IDLE    advertise,    decode,    violation -> ERROR    only n = 0
 *           -> OPEN       route
 *   OPEN    -EALREADY     decode,    fits: wr_off += n,    rd_off += n
 *                         route      at end -> FULL;
 *                                    else violation
 *   FULL    -EALREADY     decode,    violation -> ERROR    rd_off += n; all
 *                         route                            consumed: reset,
 *                                                          advertise -> OPEN
 *   CLOSED, -EPIPE        -EPIPE     -EPIPE                -EPIPE
 *   ERROR
 *
 * Control messages are accepted in IDLE too: the peer's RegisterXferMemory
 * may complete before our ESTABLISHED event is handled. Violations (all
 * close the connection with r->reason): control byte_len != 32, unknown
 * opcode, an advertisement outside 64 KiB..16 MiB or with a zero rkey,
 * SetClientFeature with features, a feature message the role does not
 * expect, write-with-imm before we advertised, a count larger than the
 * buffer, a count that overruns the buffer, a count that differs from
 * wc.byte_len.
 */
/* clang-format on */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "wire_recv.h"

/* clang-format off */
static const char *const state_names[RRING_WIRE_RECV_NR_STATES] = {
	[RRING_WIRE_RECV_IDLE] = "IDLE",
	[RRING_WIRE_RECV_OPEN] = "OPEN",
	[RRING_WIRE_RECV_FULL] = "FULL",
	[RRING_WIRE_RECV_CLOSED] = "CLOSED",
	[RRING_WIRE_RECV_ERROR] = "ERROR",
};
/* clang-format on */

const char *rring_wire_recv_state_str(enum rring_wire_recv_state st)
{
	if ((unsigned int)st < RRING_WIRE_RECV_NR_STATES)
		return state_names[st];
	return "INVALID";
}

void rring_wire_recv_params_init(struct rring_wire_recv_params *p)
{
	memset(p, 0, sizeof(*p));
	p->role = RRING_WIRE_ROLE_SERVER;
	p->buf_len = RRING_WIRE_DEFAULT_RX_SIZE;
	p->keepalive_ms = RRING_WIRE_KEEPALIVE_MS;
}

int rring_wire_recv_init(struct rring_wire_recv *r,
			 const struct rring_wire_recv_params *p)
{
	memset(r, 0, sizeof(*r));
	if (p->buf_len < RRING_WIRE_RX_SIZE_MIN ||
	    p->buf_len > RRING_WIRE_RX_SIZE_MAX || !p->rkey ||
	    (p->role != RRING_WIRE_ROLE_SERVER &&
	     p->role != RRING_WIRE_ROLE_CLIENT)) {
		r->state = RRING_WIRE_RECV_CLOSED;
		r->reason = "invalid parameters";
		return -EINVAL;
	}
	r->p = *p;
	r->state = RRING_WIRE_RECV_IDLE;
	return 0;
}

static bool is_open(const struct rring_wire_recv *r)
{
	return r->state == RRING_WIRE_RECV_IDLE ||
	       r->state == RRING_WIRE_RECV_OPEN ||
	       r->state == RRING_WIRE_RECV_FULL;
}

void rring_wire_recv_close(struct rring_wire_recv *r, int err,
			   const char *reason)
{
	if (!is_open(r))
		return;
	r->state = err ? RRING_WIRE_RECV_ERROR : RRING_WIRE_RECV_CLOSED;
	r->err = err ? err : -ECONNRESET;
	r->reason = reason ? reason : "connection closed";
	r->out_head = r->out_tail;
}

static int violation(struct rring_wire_recv *r, int err, const char *reason)
{
	rring_wire_recv_close(r, err, reason);
	return err;
}

/* ---- outbox ---- */

static bool outbox_push(struct rring_wire_recv *r,
			const struct rring_wire_msg *m)
{
	if (r->out_tail - r->out_head == RRING_WIRE_OUTBOX)
		return false;
	r->outbox[r->out_tail++ & (RRING_WIRE_OUTBOX - 1)] = *m;
	return true;
}

/* Queue our buffer with both offsets at 0. At most one advertisement is
 * ever pending (the peer must fill the buffer before the next), so this
 * only fails if the outbox is never drained. */
static int advertise(struct rring_wire_recv *r)
{
	struct rring_wire_msg m;

	rring_wire_msg_register(&m, r->p.buf_addr, r->p.buf_len, r->p.rkey);
	r->wr_off = 0;
	r->rd_off = 0;
	r->state = RRING_WIRE_RECV_OPEN;
	if (!outbox_push(r, &m))
		return violation(
		    r, -ENOBUFS,
		    "control outbox full: cannot advertise buffer");
	r->stats.advertisements++;
	return 0;
}

int rring_wire_recv_next_ctrl(struct rring_wire_recv *r,
			      uint8_t buf[RRING_WIRE_MSG_SIZE])
{
	const struct rring_wire_msg *m;

	if (!is_open(r))
		return -EPIPE;
	if (r->out_head == r->out_tail)
		return -EAGAIN;
	m = &r->outbox[r->out_head++ & (RRING_WIRE_OUTBOX - 1)];
	return rring_wire_msg_encode(m, buf, NULL);
}

/* ---- event: established ---- */

static int ask_features(struct rring_wire_recv *r)
{
	struct rring_wire_msg m;

	rring_wire_msg_get_feature(&m, r->feature_select);
	if (!outbox_push(r, &m))
		return violation(r, -ENOBUFS, "control outbox full");
	r->feature_pending = true;
	return 0;
}

int rring_wire_recv_on_established(struct rring_wire_recv *r, uint64_t now_ms)
{
	int ret;

	if (!is_open(r))
		return -EPIPE;
	if (r->state != RRING_WIRE_RECV_IDLE)
		return -EALREADY;
	r->last_keepalive_ms = now_ms;
	ret = advertise(r);
	if (ret)
		return ret;
	if (r->p.role == RRING_WIRE_ROLE_CLIENT && r->p.ask_features)
		return ask_features(r);
	return 0;
}

/* ---- event: control message ---- */

static int on_get_feature(struct rring_wire_recv *r,
			  const struct rring_wire_msg *m)
{
	struct rring_wire_msg reply;

	if (r->p.role == RRING_WIRE_ROLE_SERVER) {
		rring_wire_msg_feature_reply(&reply, m);
		if (!outbox_push(r, &reply))
			return violation(r, -ENOBUFS,
					 "peer floods GetServerFeature");
		return 0;
	}
	if (!r->feature_pending)
		return violation(r, -EPROTO,
				 "unsolicited GetServerFeature reply");
	if (m->select != r->feature_select)
		return violation(r, -EPROTO,
				 "GetServerFeature reply with wrong select");
	r->feature_pending = false;
	r->peer_features = m->features; /* none defined: used for nothing */
	return 0;
}

static int on_set_feature(struct rring_wire_recv *r,
			  const struct rring_wire_msg *m)
{
	(void)m; /* the codec refused non-zero features already */
	if (r->p.role != RRING_WIRE_ROLE_SERVER)
		return violation(r, -EPROTO,
				 "SetClientFeature sent to a client");
	return 0;
}

static int route(struct rring_wire_recv *r, const struct rring_wire_msg *m)
{
	switch (m->opcode) {
	case RRING_WIRE_OP_GET_SERVER_FEATURE:
		return on_get_feature(r, m);
	case RRING_WIRE_OP_SET_CLIENT_FEATURE:
		return on_set_feature(r, m);
	case RRING_WIRE_OP_KEEPALIVE:
		r->stats.keepalives_received++;
		return 0;
	default: /* RegisterXferMemory: the caller hands it to the sender */
		return 0;
	}
}

int rring_wire_recv_on_ctrl(struct rring_wire_recv *r, const void *buf,
			    uint32_t byte_len, struct rring_wire_msg *msg)
{
	const char *why = NULL;
	int ret;

	if (!is_open(r))
		return -EPIPE;
	ret = rring_wire_msg_decode(buf, byte_len, msg, &why);
	if (ret)
		return violation(r, ret, why);
	r->stats.ctrl_received++;
	return route(r, msg);
}

/* ---- event: RDMA_WRITE_WITH_IMM landed ---- */

/* @n is the count from the immediate (host order), @byte_len what the
 * provider reports as written; a compliant peer makes them equal. */
static int write_idle(struct rring_wire_recv *r, uint32_t n, uint32_t byte_len)
{
	(void)n;
	(void)byte_len;
	return violation(r, -EPROTO,
			 "write-with-imm before we advertised a buffer");
}

static int write_open(struct rring_wire_recv *r, uint32_t n, uint32_t byte_len)
{
	if (n > r->p.buf_len)
		return violation(r, -EPROTO,
				 "write-with-imm count larger than the buffer");
	if (n > r->p.buf_len - r->wr_off)
		return violation(
		    r, -EPROTO,
		    "write-with-imm overruns the advertised buffer");
	if (n != byte_len)
		return violation(
		    r, -EPROTO,
		    "write-with-imm count differs from the bytes written");
	r->wr_off += n;
	r->stats.writes++;
	r->stats.bytes_received += n;
	if (r->wr_off == r->p.buf_len)
		r->state = RRING_WIRE_RECV_FULL;
	return 0;
}

static int write_full(struct rring_wire_recv *r, uint32_t n, uint32_t byte_len)
{
	if (n > r->p.buf_len)
		return write_open(r, n, byte_len);
	return violation(r, -EPROTO,
			 "write-with-imm into a buffer not advertised again");
}

static int write_closed(struct rring_wire_recv *r, uint32_t n,
			uint32_t byte_len)
{
	(void)r;
	(void)n;
	(void)byte_len;
	return -EPIPE;
}

typedef int (*write_fn)(struct rring_wire_recv *, uint32_t, uint32_t);

/* clang-format off */
static const write_fn write_handlers[RRING_WIRE_RECV_NR_STATES] = {
	[RRING_WIRE_RECV_IDLE] = write_idle,
	[RRING_WIRE_RECV_OPEN] = write_open,
	[RRING_WIRE_RECV_FULL] = write_full,
	[RRING_WIRE_RECV_CLOSED] = write_closed,
	[RRING_WIRE_RECV_ERROR] = write_closed,
};
/* clang-format on */

int rring_wire_recv_on_write_imm(struct rring_wire_recv *r, uint32_t imm_data,
				 uint32_t byte_len)
{
	return write_handlers[r->state](r, be32toh(imm_data), byte_len);
}

/* ---- consumer ---- */

int rring_wire_recv_peek(const struct rring_wire_recv *r, uint32_t *off,
			 uint32_t *len)
{
	*off = r->rd_off;
	*len = r->wr_off - r->rd_off;
	if (!is_open(r) || !*len)
		return -EAGAIN;
	return 0;
}

int rring_wire_recv_consume(struct rring_wire_recv *r, uint32_t n)
{
	if (!is_open(r))
		return -EPIPE;
	if (n > r->wr_off - r->rd_off)
		return -EINVAL;
	r->rd_off += n;
	r->stats.bytes_consumed += n;
	if (r->rd_off < r->p.buf_len)
		return 0;
	r->stats.readvertisements++;
	return advertise(r);
}

/* ---- timer ---- */

int rring_wire_recv_tick(struct rring_wire_recv *r, uint64_t now_ms)
{
	struct rring_wire_msg m;

	if (!is_open(r))
		return -EPIPE;
	if (r->state == RRING_WIRE_RECV_IDLE ||
	    r->p.role != RRING_WIRE_ROLE_SERVER || !r->p.keepalive_ms)
		return 0;
	if (now_ms - r->last_keepalive_ms < r->p.keepalive_ms)
		return 0;
	r->last_keepalive_ms = now_ms;
	rring_wire_msg_keepalive(&m);
	/* A full outbox already carries traffic: skipping is harmless. */
	if (outbox_push(r, &m))
		r->stats.keepalives_sent++;
	return 0;
}
