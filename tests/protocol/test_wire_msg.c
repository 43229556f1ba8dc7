/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring: Valkey RDMA control messages byte for byte; malformed decodes. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "wire_msg.h"

static void expect_bytes(const uint8_t *got, const uint8_t *want)
{
	for (unsigned int i = 0; i < RRING_WIRE_MSG_SIZE; i++)
		cr_assert_eq(got[i], want[i], "byte %u: got 0x%02x want 0x%02x",
			     i, got[i], want[i]);
}

/* Encode @m, compare with @want, decode @want and compare fields. */
static void roundtrip(const struct rring_wire_msg *m, const uint8_t *want)
{
	uint8_t buf[RRING_WIRE_MSG_SIZE];
	struct rring_wire_msg d;
	const char *why = NULL;

	memset(buf, 0xa5, sizeof(buf));
	cr_assert_eq(rring_wire_msg_encode(m, buf, &why), 0);
	expect_bytes(buf, want);
	cr_assert_eq(rring_wire_msg_decode(want, 32, &d, &why), 0, "%s", why);
	cr_assert_eq(d.opcode, m->opcode);
	cr_assert_eq(d.select, m->select);
	cr_assert_eq(d.features, m->features);
	cr_assert_eq(d.addr, m->addr);
	cr_assert_eq(d.length, m->length);
	cr_assert_eq(d.rkey, m->rkey);
}

Test(wire_msg, sizes_match_valkey)
{
	cr_assert_eq(RRING_WIRE_MSG_SIZE, 32);
	cr_assert_eq(RRING_WIRE_RECV_WRS, 1024);
	cr_assert_eq(RRING_WIRE_CQ_DEPTH, 2048);
	cr_assert_eq(RRING_WIRE_SEND_QUEUE, 1024);
	cr_assert_eq(RRING_WIRE_SIGNAL_EVERY, 512);
	cr_assert_eq(RRING_WIRE_DEFAULT_RX_SIZE, 1048576);
	cr_assert_eq(RRING_WIRE_RX_SIZE_MIN, 65536);
	cr_assert_eq(RRING_WIRE_RX_SIZE_MAX, 16777216);
	cr_assert_eq(RRING_WIRE_KEEPALIVE_MS, 3000);
}

Test(wire_msg, get_server_feature_bytes)
{
	/* clang-format off */
	static const uint8_t want[32] = {
		0x00, 0x00,			   /* opcode 0 */
		0xbe, 0xef,			   /* select */
		[24] = 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
	};
	/* clang-format on */
	struct rring_wire_msg m;

	rring_wire_msg_get_feature(&m, 0xbeef);
	m.features = 0x0123456789abcdefULL;
	roundtrip(&m, want);
}

Test(wire_msg, set_client_feature_bytes)
{
	static const uint8_t want[32] = {0x00, 0x01, 0x12, 0x34};
	struct rring_wire_msg m;

	rring_wire_msg_set_feature(&m, 0x1234, 0);
	roundtrip(&m, want);
}

Test(wire_msg, keepalive_bytes)
{
	static const uint8_t want[32] = {0x00, 0x02};
	struct rring_wire_msg m;

	rring_wire_msg_keepalive(&m);
	roundtrip(&m, want);
}

Test(wire_msg, register_xfer_memory_bytes)
{
	/* clang-format off */
	static const uint8_t want[32] = {
		0x00, 0x03,
		[16] = 0x00, 0x00, 0x7f, 0x12, 0x34, 0x56, 0x70, 0x00, /* addr */
		[24] = 0x00, 0x10, 0x00, 0x00, /* length 1 MiB */
		[28] = 0xde, 0xad, 0xbe, 0xef, /* rkey */
	};
	/* clang-format on */
	struct rring_wire_msg m;

	rring_wire_msg_register(&m, 0x00007f1234567000ULL, 1u << 20,
				0xdeadbeef);
	roundtrip(&m, want);
}

Test(wire_msg, register_bounds_inclusive)
{
	uint8_t buf[32];
	struct rring_wire_msg m, d;

	rring_wire_msg_register(&m, 1, RRING_WIRE_RX_SIZE_MIN, 1);
	cr_assert_eq(rring_wire_msg_encode(&m, buf, NULL), 0);
	cr_assert_eq(rring_wire_msg_decode(buf, 32, &d, NULL), 0);
	rring_wire_msg_register(&m, 1, RRING_WIRE_RX_SIZE_MAX, 1);
	cr_assert_eq(rring_wire_msg_encode(&m, buf, NULL), 0);
	cr_assert_eq(rring_wire_msg_decode(buf, 32, &d, NULL), 0);
	cr_assert_eq(d.length, 16u << 20);
}

Test(wire_msg, feature_reply_echoes_select_with_zero_features)
{
	static const uint8_t want[32] = {0x00, 0x00, 0x00, 0x07};
	struct rring_wire_msg req, reply;
	uint8_t buf[32];

	rring_wire_msg_get_feature(&req, 7);
	req.features = ~0ULL;
	rring_wire_msg_feature_reply(&reply, &req);
	cr_assert_eq(rring_wire_msg_encode(&reply, buf, NULL), 0);
	expect_bytes(buf, want);
}

Test(wire_msg, reserved_bytes_ignored_on_decode)
{
	uint8_t buf[32];
	struct rring_wire_msg d;

	memset(buf, 0xff, sizeof(buf));
	buf[0] = 0;
	buf[1] = 2; /* keepalive, garbage in reserved */
	cr_assert_eq(rring_wire_msg_decode(buf, 32, &d, NULL), 0);
	cr_assert_eq(d.opcode, RRING_WIRE_OP_KEEPALIVE);
	cr_assert_eq(d.features, 0);
}

static void expect_refused(const uint8_t *buf, uint32_t len, int err,
			   const char *needle)
{
	struct rring_wire_msg d;
	const char *why = NULL;

	cr_assert_eq(rring_wire_msg_decode(buf, len, &d, &why), err,
		     "len %u opcode %u", len, (buf[0] << 8) | buf[1]);
	cr_assert_not_null(why);
	cr_assert_not_null(strstr(why, needle), "reason '%s'", why);
}

Test(wire_msg, decode_wrong_byte_len)
{
	uint8_t buf[64] = {0x00, 0x02};
	uint32_t lens[] = {0, 1, 16, 31, 33, 64, 0xffffffffu};

	for (unsigned int i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
		expect_refused(buf, lens[i], -EBADMSG, "byte_len");
}

Test(wire_msg, decode_unknown_opcode)
{
	uint16_t ops[] = {
	    4, 5, 0x0100, 0x0300, 0x7fff, 0xfffe, RRING_WIRE_INVALID_OPCODE};

	for (unsigned int i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		uint8_t buf[32] = {(uint8_t)(ops[i] >> 8), (uint8_t)ops[i]};

		expect_refused(buf, 32, -EPROTO, "opcode");
	}
}

static void make_register(uint8_t *buf, uint32_t len, uint32_t rkey)
{
	memset(buf, 0, 32);
	buf[1] = 3;
	buf[16] = 0x11; /* addr, any */
	buf[24] = (uint8_t)(len >> 24);
	buf[25] = (uint8_t)(len >> 16);
	buf[26] = (uint8_t)(len >> 8);
	buf[27] = (uint8_t)len;
	buf[28] = (uint8_t)(rkey >> 24);
	buf[29] = (uint8_t)(rkey >> 16);
	buf[30] = (uint8_t)(rkey >> 8);
	buf[31] = (uint8_t)rkey;
}

Test(wire_msg, decode_register_length_out_of_range)
{
	uint32_t lens[] = {
	    0, 1, 4096, 65535, (16u << 20) + 1, 0x80000000u, 0xffffffffu};
	uint8_t buf[32];

	for (unsigned int i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		make_register(buf, lens[i], 1);
		expect_refused(buf, 32, -ERANGE, "length");
	}
}

Test(wire_msg, decode_register_zero_rkey)
{
	uint8_t buf[32];

	make_register(buf, 1u << 20, 0);
	expect_refused(buf, 32, -EINVAL, "rkey");
}

/* Found by fuzzing (tests/fuzz/corpus/wire/window_wraps): a window whose
 * end passes 2^64 made the sender's write addresses wrap. */
Test(wire_msg, decode_register_window_wrapping_refused)
{
	uint8_t buf[32];

	make_register(buf, 1u << 20, 1);
	memset(buf + 16, 0xff, 8); /* addr 2^64 - 1 */
	expect_refused(buf, 32, -ERANGE, "wraps");
	buf[21] = 0xef; /* addr 2^64 - 2^20 - 2^16 - 1: fits */
	cr_assert_eq(rring_wire_msg_decode(buf, 32, &(struct rring_wire_msg){0},
					   NULL),
		     0);
}

Test(wire_msg, decode_set_client_feature_nonzero_refused)
{
	for (unsigned int bit = 0; bit < 64; bit += 9) {
		uint8_t buf[32] = {0x00, 0x01};
		uint64_t f = 1ULL << bit;

		for (int i = 0; i < 8; i++)
			buf[24 + i] = (uint8_t)(f >> (56 - 8 * i));
		expect_refused(buf, 32, -EOPNOTSUPP, "SetClientFeature");
	}
}

Test(wire_msg, encode_refuses_what_decode_refuses)
{
	struct rring_wire_msg m;
	uint8_t buf[32];

	memset(&m, 0, sizeof(m));
	m.opcode = 9;
	cr_assert_eq(rring_wire_msg_encode(&m, buf, NULL), -EINVAL);
	rring_wire_msg_register(&m, 1, 100, 1);
	cr_assert_eq(rring_wire_msg_encode(&m, buf, NULL), -EINVAL);
	rring_wire_msg_register(&m, 1, 1u << 20, 0);
	cr_assert_eq(rring_wire_msg_encode(&m, buf, NULL), -EINVAL);
	rring_wire_msg_set_feature(&m, 0, 1);
	cr_assert_eq(rring_wire_msg_encode(&m, buf, NULL), -EINVAL);
	m.opcode = RRING_WIRE_INVALID_OPCODE;
	cr_assert_eq(rring_wire_msg_encode(&m, buf, NULL), -EINVAL);
}

Test(wire_msg, opcode_names)
{
	cr_assert_str_eq(rring_wire_msg_opcode_str(0), "GetServerFeature");
	cr_assert_str_eq(rring_wire_msg_opcode_str(3), "RegisterXferMemory");
	cr_assert_str_eq(rring_wire_msg_opcode_str(4), "unknown");
}
