/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring: Valkey RDMA control messages (32 bytes, big-endian), sizes. */
#ifndef RRING_WIRE_MSG_H
#define RRING_WIRE_MSG_H

#include <stdint.h>

/*
 * Sizes of the Valkey RDMA transport (src/rdma.c, Valkey 8.0). Both peers
 * must agree on the message size; the queue depths are what a Valkey peer
 * posts, so that our writes never outrun its receive WRs.
 */
#define RRING_WIRE_MSG_SIZE 32u	     /* every control message */
#define RRING_WIRE_RECV_WRS 1024u    /* receive WRs posted per connection */
#define RRING_WIRE_CQ_DEPTH 2048u    /* completion queue entries */
#define RRING_WIRE_SEND_QUEUE 1024u  /* send queue WRs */
#define RRING_WIRE_SIGNAL_EVERY 512u /* one signaled send in this many */
#define RRING_WIRE_CTRL_RESERVE 64u  /* send WRs kept for control messages */
#define RRING_WIRE_DEFAULT_RX_SIZE (1u << 20) /* receive buffer, bytes */
#define RRING_WIRE_RX_SIZE_MIN (64u << 10)
#define RRING_WIRE_RX_SIZE_MAX (16u << 20)
#define RRING_WIRE_KEEPALIVE_MS 3000u /* server keepalive period */
/* Marks a free send slot in Valkey; never sent, refused on receipt. */
#define RRING_WIRE_INVALID_OPCODE 0xffffu

enum rring_wire_opcode {
	RRING_WIRE_OP_GET_SERVER_FEATURE = 0,
	RRING_WIRE_OP_SET_CLIENT_FEATURE = 1,
	RRING_WIRE_OP_KEEPALIVE = 2,
	RRING_WIRE_OP_REGISTER_XFER_MEMORY = 3,
};

/* Byte offsets inside the 32-byte message (all integers big-endian). */
#define RRING_WIRE_OFF_OPCODE 0
#define RRING_WIRE_OFF_SELECT 2
#define RRING_WIRE_OFF_FEATURES 24
#define RRING_WIRE_OFF_ADDR 16
#define RRING_WIRE_OFF_LENGTH 24
#define RRING_WIRE_OFF_RKEY 28

/* A decoded control message in host byte order. Fields not used by the
 * opcode are zero after decode and ignored by encode. */
struct rring_wire_msg {
	uint16_t opcode;
	uint16_t select;   /* feature messages */
	uint64_t features; /* feature messages */
	uint64_t addr;	   /* RegisterXferMemory */
	uint32_t length;   /* RegisterXferMemory, bytes */
	uint32_t rkey;	   /* RegisterXferMemory */
};

/* Any thread. Encode @msg into @buf; reserved bytes are written as zero.
 * -EINVAL for an unknown opcode or a message decode would refuse. */
int rring_wire_msg_encode(const struct rring_wire_msg *msg,
			  uint8_t buf[RRING_WIRE_MSG_SIZE], const char **why);

/* Any thread. Decode @byte_len bytes at @buf (a receive completion) into
 * @msg. 0, or a negative errno with *why set to a static description:
 * -EBADMSG wrong length, -EPROTO unknown opcode, -ERANGE advertised length
 * outside RX_SIZE_MIN..MAX, -EINVAL zero rkey, -EOPNOTSUPP non-zero
 * SetClientFeature features. */
int rring_wire_msg_decode(const void *buf, uint32_t byte_len,
			  struct rring_wire_msg *msg, const char **why);

/* Any thread. Constructors of well-formed messages. */
void rring_wire_msg_register(struct rring_wire_msg *msg, uint64_t addr,
			     uint32_t length, uint32_t rkey);
void rring_wire_msg_keepalive(struct rring_wire_msg *msg);
void rring_wire_msg_get_feature(struct rring_wire_msg *msg, uint16_t select);
void rring_wire_msg_set_feature(struct rring_wire_msg *msg, uint16_t select,
				uint64_t features);
/* The server's answer to GetServerFeature @req: same opcode and select,
 * features 0 (no feature bits are defined). */
void rring_wire_msg_feature_reply(struct rring_wire_msg *reply,
				  const struct rring_wire_msg *req);

/* Any thread. Name of an opcode for log lines ("unknown" otherwise). */
const char *rring_wire_msg_opcode_str(uint16_t opcode);

#endif /* RRING_WIRE_MSG_H */
