/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring: per-connection receiver state machine and control plane. */
#ifndef RRING_WIRE_RECV_H
#define RRING_WIRE_RECV_H

#include <stdbool.h>
#include <stdint.h>

#include "wire_msg.h"

/*
 * Pure logic, no verbs. One instance per connection, used only by the
 * connection's owner IO thread. It tracks our receive buffer (write offset
 * from immediates, read offset from the consumer), decides when to
 * advertise it again, validates every control message from the peer, and
 * queues the control messages we must send (an outbox the caller drains).
 * See wire_recv.c and docs/wire.md for the state table.
 */

enum rring_wire_role {
	RRING_WIRE_ROLE_SERVER, /* accepted the connection */
	RRING_WIRE_ROLE_CLIENT, /* initiated the connection */
};

enum rring_wire_recv_state {
	/* Not established: our buffer is not advertised yet. */
	RRING_WIRE_RECV_IDLE,
	/* Buffer advertised; write offset below its length. */
	RRING_WIRE_RECV_OPEN,
	/* Buffer written to its end; waiting for the consumer to finish. */
	RRING_WIRE_RECV_FULL,
	/* Closed in order. */
	RRING_WIRE_RECV_CLOSED,
	/* Peer violated the protocol, or transport error. */
	RRING_WIRE_RECV_ERROR,
	RRING_WIRE_RECV_NR_STATES
};

#define RRING_WIRE_OUTBOX 8u /* pending control messages, power of two */

struct rring_wire_recv_params {
	enum rring_wire_role role;
	uint64_t buf_addr; /* our registered receive buffer */
	uint32_t buf_len;  /* RX_SIZE_MIN..RX_SIZE_MAX */
	uint32_t rkey;	   /* non-zero */
	bool ask_features; /* client: send GetServerFeature when established */
	uint32_t keepalive_ms; /* server: keepalive period, 0 disables */
};

struct rring_wire_recv_stats {
	uint64_t advertisements; /* RegisterXferMemory queued, first included */
	uint64_t readvertisements;
	uint64_t writes; /* write-with-imm completions accepted */
	uint64_t bytes_received;
	uint64_t bytes_consumed;
	uint64_t ctrl_received;
	uint64_t keepalives_received;
	uint64_t keepalives_sent;
};

struct rring_wire_recv {
	enum rring_wire_recv_state state;
	int err;
	const char *reason; /* static text for the close log line */
	struct rring_wire_recv_params p;

	uint32_t wr_off; /* bytes written by the peer into the buffer */
	uint32_t rd_off; /* bytes consumed by the application */

	struct rring_wire_msg outbox[RRING_WIRE_OUTBOX];
	uint32_t out_head, out_tail;

	bool feature_pending; /* client: GetServerFeature sent, no reply yet */
	uint16_t feature_select;
	uint64_t peer_features;
	uint64_t last_keepalive_ms;

	struct rring_wire_recv_stats stats;
};

/* Any thread. Defaults: server role, no buffer, keepalive 3 s. */
void rring_wire_recv_params_init(struct rring_wire_recv_params *p);

/* Owner thread. -EINVAL (machine left CLOSED) for a buffer outside
 * RX_SIZE_MIN..MAX or a zero rkey. Starts in IDLE. No allocation: nothing
 * to destroy. */
int rring_wire_recv_init(struct rring_wire_recv *r,
			 const struct rring_wire_recv_params *p);

/* Owner thread. Event: the connection is established at @now_ms. Queues
 * RegisterXferMemory (and, for a client with ask_features,
 * GetServerFeature). -EALREADY if already established, -EPIPE if closed. */
int rring_wire_recv_on_established(struct rring_wire_recv *r, uint64_t now_ms);

/* Owner thread. Event: a control message receive completion (@byte_len
 * from the work completion). On success *msg holds the decoded message;
 * the caller routes RegisterXferMemory to the sender. On a violation the
 * machine moves to ERROR and returns the negative errno; *why (if
 * non-NULL) and r->reason name the violation. -EPIPE if closed. */
int rring_wire_recv_on_ctrl(struct rring_wire_recv *r, const void *buf,
			    uint32_t byte_len, struct rring_wire_msg *msg);

/* Owner thread. Event: IBV_WC_RECV_RDMA_WITH_IMM with wc.imm_data
 * @imm_data (big-endian count, passed unchanged) and wc.byte_len
 * @byte_len. -EPROTO (ERROR) if nothing is advertised, the count overruns
 * the buffer or differs from @byte_len; -EPIPE if closed. */
int rring_wire_recv_on_write_imm(struct rring_wire_recv *r, uint32_t imm_data,
				 uint32_t byte_len);

/* Owner thread. Unread bytes: [*off, *off + *len) of the buffer. 0, or
 * -EAGAIN if nothing is unread. */
int rring_wire_recv_peek(const struct rring_wire_recv *r, uint32_t *off,
			 uint32_t *len);

/* Owner thread. Event: the application consumed @n unread bytes. When the
 * buffer is completely written and consumed, both offsets reset to 0 and
 * RegisterXferMemory is queued again. -EINVAL if @n exceeds the unread
 * bytes, -EPIPE if closed. When the buffer is full the application must
 * consume all of it (copy a partial tail out), or the peer cannot go on. */
int rring_wire_recv_consume(struct rring_wire_recv *r, uint32_t n);

/* Owner thread. Timer event at @now_ms: a server queues a Keepalive every
 * keepalive_ms. 0, or -EPIPE if closed. */
int rring_wire_recv_tick(struct rring_wire_recv *r, uint64_t now_ms);

/* Owner thread. Action: encode the next queued control message into @buf
 * (send it with IBV_WR_SEND). 0, -EAGAIN if none, -EPIPE if closed. */
int rring_wire_recv_next_ctrl(struct rring_wire_recv *r,
			      uint8_t buf[RRING_WIRE_MSG_SIZE]);

/* Owner thread. Event: orderly close (@err 0) or error. Idempotent; the
 * first reason wins. Pending control messages are dropped. */
void rring_wire_recv_close(struct rring_wire_recv *r, int err,
			   const char *reason);

/* Any thread. Name of a state for log lines. */
const char *rring_wire_recv_state_str(enum rring_wire_recv_state st);

#endif /* RRING_WIRE_RECV_H */
