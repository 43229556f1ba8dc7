/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring: encode and validate Valkey RDMA control messages. */

/* clang-format off */
/*
 * Layout (DESIGN.md "Valkey RDMA protocol facts"), 32 bytes, big-endian:
 *
 *   offset  0      2      4 ...  16        24        28      32
 *   feature opcode select reserved(20)     features(u64)
 *   keep    opcode reserved(30)
 *   xfer    opcode reserved(14)  addr(u64) length    rkey
 *
 * Bytes are assembled one at a time, so the code is independent of host
 * endianness and of struct packing. Reserved bytes are written as zero and
 * ignored on receipt (a Valkey sender zeroes them; being strict there would
 * buy nothing).
 */
/* clang-format on */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "wire_msg.h"

static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	put_be16(p, (uint16_t)(v >> 16));
	put_be16(p + 2, (uint16_t)v);
}

static void put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

static uint16_t get_be16(const uint8_t *p)
{
	return (uint16_t)((unsigned int)p[0] << 8 | p[1]);
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)get_be16(p) << 16 | get_be16(p + 2);
}

static uint64_t get_be64(const uint8_t *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

static int fail(const char **why, const char *what, int err)
{
	if (why)
		*why = what;
	return err;
}

/* Rules that hold for a message in either direction. */
static int check(const struct rring_wire_msg *m, const char **why)
{
	switch (m->opcode) {
	case RRING_WIRE_OP_GET_SERVER_FEATURE:
	case RRING_WIRE_OP_KEEPALIVE:
		return 0;
	case RRING_WIRE_OP_SET_CLIENT_FEATURE:
		if (m->features)
			return fail(why,
				    "SetClientFeature with unsupported "
				    "non-zero features",
				    -EOPNOTSUPP);
		return 0;
	case RRING_WIRE_OP_REGISTER_XFER_MEMORY:
		if (m->length < RRING_WIRE_RX_SIZE_MIN ||
		    m->length > RRING_WIRE_RX_SIZE_MAX)
			return fail(
			    why,
			    "RegisterXferMemory length outside 64 KiB..16 MiB",
			    -ERANGE);
		if (!m->rkey)
			return fail(why, "RegisterXferMemory with zero rkey",
				    -EINVAL);
		/* found by fuzzing: the sender's write addresses would wrap */
		if (m->addr > UINT64_MAX - m->length)
			return fail(why,
				    "RegisterXferMemory window wraps past the "
				    "end of the address space",
				    -ERANGE);
		return 0;
	default:
		return fail(why, "unknown control opcode", -EPROTO);
	}
}

int rring_wire_msg_encode(const struct rring_wire_msg *msg,
			  uint8_t buf[RRING_WIRE_MSG_SIZE], const char **why)
{
	int ret = check(msg, why);

	if (ret)
		return -EINVAL;
	memset(buf, 0, RRING_WIRE_MSG_SIZE);
	put_be16(buf + RRING_WIRE_OFF_OPCODE, msg->opcode);
	if (msg->opcode == RRING_WIRE_OP_REGISTER_XFER_MEMORY) {
		put_be64(buf + RRING_WIRE_OFF_ADDR, msg->addr);
		put_be32(buf + RRING_WIRE_OFF_LENGTH, msg->length);
		put_be32(buf + RRING_WIRE_OFF_RKEY, msg->rkey);
	} else if (msg->opcode != RRING_WIRE_OP_KEEPALIVE) {
		put_be16(buf + RRING_WIRE_OFF_SELECT, msg->select);
		put_be64(buf + RRING_WIRE_OFF_FEATURES, msg->features);
	}
	return 0;
}

int rring_wire_msg_decode(const void *buf, uint32_t byte_len,
			  struct rring_wire_msg *msg, const char **why)
{
	const uint8_t *p = buf;

	memset(msg, 0, sizeof(*msg));
	if (byte_len != RRING_WIRE_MSG_SIZE)
		return fail(why, "control message byte_len is not 32",
			    -EBADMSG);
	msg->opcode = get_be16(p + RRING_WIRE_OFF_OPCODE);
	if (msg->opcode == RRING_WIRE_OP_REGISTER_XFER_MEMORY) {
		msg->addr = get_be64(p + RRING_WIRE_OFF_ADDR);
		msg->length = get_be32(p + RRING_WIRE_OFF_LENGTH);
		msg->rkey = get_be32(p + RRING_WIRE_OFF_RKEY);
	} else if (msg->opcode == RRING_WIRE_OP_GET_SERVER_FEATURE ||
		   msg->opcode == RRING_WIRE_OP_SET_CLIENT_FEATURE) {
		msg->select = get_be16(p + RRING_WIRE_OFF_SELECT);
		msg->features = get_be64(p + RRING_WIRE_OFF_FEATURES);
	}
	return check(msg, why);
}

void rring_wire_msg_register(struct rring_wire_msg *msg, uint64_t addr,
			     uint32_t length, uint32_t rkey)
{
	memset(msg, 0, sizeof(*msg));
	msg->opcode = RRING_WIRE_OP_REGISTER_XFER_MEMORY;
	msg->addr = addr;
	msg->length = length;
	msg->rkey = rkey;
}

void rring_wire_msg_keepalive(struct rring_wire_msg *msg)
{
	memset(msg, 0, sizeof(*msg));
	msg->opcode = RRING_WIRE_OP_KEEPALIVE;
}

void rring_wire_msg_get_feature(struct rring_wire_msg *msg, uint16_t select)
{
	memset(msg, 0, sizeof(*msg));
	msg->opcode = RRING_WIRE_OP_GET_SERVER_FEATURE;
	msg->select = select;
}

void rring_wire_msg_set_feature(struct rring_wire_msg *msg, uint16_t select,
				uint64_t features)
{
	memset(msg, 0, sizeof(*msg));
	msg->opcode = RRING_WIRE_OP_SET_CLIENT_FEATURE;
	msg->select = select;
	msg->features = features;
}

void rring_wire_msg_feature_reply(struct rring_wire_msg *reply,
				  const struct rring_wire_msg *req)
{
	rring_wire_msg_get_feature(reply, req->select);
}

const char *rring_wire_msg_opcode_str(uint16_t opcode)
{
	/* clang-format off */
	static const char *const names[] = {
		[RRING_WIRE_OP_GET_SERVER_FEATURE] = "GetServerFeature",
		[RRING_WIRE_OP_SET_CLIENT_FEATURE] = "SetClientFeature",
		[RRING_WIRE_OP_KEEPALIVE] = "Keepalive",
		[RRING_WIRE_OP_REGISTER_XFER_MEMORY] = "RegisterXferMemory",
	};
	/* clang-format on */

	if (opcode < sizeof(names) / sizeof(names[0]))
		return names[opcode];
	return "unknown";
}
