/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring: receiver state machine: offsets, handshake, violations. */
#include <criterion/criterion.h>
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "wire_recv.h"

#define BUF_ADDR 0x7f0000000000ULL
#define BUF_KEY 0x1234u
#define KB64 (64u << 10)

static struct rring_wire_recv r;

static void init_role(enum rring_wire_role role, bool ask)
{
	struct rring_wire_recv_params p;

	rring_wire_recv_params_init(&p);
	p.role = role;
	p.buf_addr = BUF_ADDR;
	p.buf_len = KB64;
	p.rkey = BUF_KEY;
	p.ask_features = ask;
	cr_assert_eq(rring_wire_recv_init(&r, &p), 0);
}

static void setup_server(void)
{
	init_role(RRING_WIRE_ROLE_SERVER, false);
}

TestSuite(wire_recv, .init = setup_server);

/* A compliant write-with-imm completion of @n bytes. */
static int imm(uint32_t n)
{
	return rring_wire_recv_on_write_imm(&r, htobe32(n), n);
}

static void expect_ctrl(const struct rring_wire_msg *want)
{
	uint8_t buf[32], exp[32];

	cr_assert_eq(rring_wire_recv_next_ctrl(&r, buf), 0);
	cr_assert_eq(rring_wire_msg_encode(want, exp, NULL), 0);
	cr_assert_arr_eq(buf, exp, 32);
}

static void expect_advert(void)
{
	struct rring_wire_msg m;

	rring_wire_msg_register(&m, BUF_ADDR, KB64, BUF_KEY);
	expect_ctrl(&m);
}

static int feed(const struct rring_wire_msg *m)
{
	uint8_t buf[32];
	struct rring_wire_msg out;

	cr_assert_eq(rring_wire_msg_encode(m, buf, NULL), 0);
	return rring_wire_recv_on_ctrl(&r, buf, 32, &out);
}

static void expect_violation(int ret, int err, const char *needle)
{
	cr_assert_eq(ret, err, "ret %d", ret);
	cr_assert_eq(r.state, RRING_WIRE_RECV_ERROR);
	cr_assert_not_null(r.reason);
	cr_assert_not_null(strstr(r.reason, needle), "reason '%s'", r.reason);
}

Test(wire_recv, params_validated)
{
	struct rring_wire_recv_params p;

	rring_wire_recv_params_init(&p);
	p.rkey = 1;
	p.buf_len = KB64 - 1;
	cr_assert_eq(rring_wire_recv_init(&r, &p), -EINVAL);
	p.buf_len = KB64;
	p.rkey = 0;
	cr_assert_eq(rring_wire_recv_init(&r, &p), -EINVAL);
	cr_assert_eq(r.state, RRING_WIRE_RECV_CLOSED);
	cr_assert_eq(rring_wire_recv_on_established(&r, 0), -EPIPE);
}

Test(wire_recv, established_advertises_buffer)
{
	uint8_t buf[32];

	cr_assert_eq(rring_wire_recv_next_ctrl(&r, buf), -EAGAIN);
	cr_assert_eq(rring_wire_recv_on_established(&r, 0), 0);
	cr_assert_eq(r.state, RRING_WIRE_RECV_OPEN);
	expect_advert();
	cr_assert_eq(rring_wire_recv_next_ctrl(&r, buf), -EAGAIN);
	cr_assert_eq(rring_wire_recv_on_established(&r, 0), -EALREADY);
}

Test(wire_recv, offsets_and_readvertise_when_full_and_consumed)
{
	uint32_t off, len;

	rring_wire_recv_on_established(&r, 0);
	expect_advert();
	cr_assert_eq(rring_wire_recv_peek(&r, &off, &len), -EAGAIN);
	cr_assert_eq(imm(1000), 0);
	cr_assert_eq(rring_wire_recv_peek(&r, &off, &len), 0);
	cr_assert_eq(off, 0);
	cr_assert_eq(len, 1000);
	cr_assert_eq(rring_wire_recv_consume(&r, 1001), -EINVAL);
	cr_assert_eq(rring_wire_recv_consume(&r, 600), 0);
	cr_assert_eq(imm(KB64 - 1000), 0);
	cr_assert_eq(r.state, RRING_WIRE_RECV_FULL);
	rring_wire_recv_peek(&r, &off, &len);
	cr_assert_eq(off, 600);
	cr_assert_eq(len, KB64 - 600);
	cr_assert_eq(rring_wire_recv_consume(&r, len - 1), 0);
	cr_assert_eq(r.stats.readvertisements, 0, "not fully consumed");
	cr_assert_eq(rring_wire_recv_consume(&r, 1), 0);
	cr_assert_eq(r.state, RRING_WIRE_RECV_OPEN);
	cr_assert_eq(r.wr_off, 0);
	cr_assert_eq(r.rd_off, 0);
	cr_assert_eq(r.stats.readvertisements, 1);
	expect_advert();
}

Test(wire_recv, write_before_advertise_is_violation)
{
	expect_violation(imm(10), -EPROTO, "before we advertised");
	cr_assert_eq(imm(10), -EPIPE);
}

Test(wire_recv, count_larger_than_buffer_is_violation)
{
	rring_wire_recv_on_established(&r, 0);
	expect_violation(imm(KB64 + 1), -EPROTO, "larger than the buffer");
}

Test(wire_recv, overrun_is_violation)
{
	rring_wire_recv_on_established(&r, 0);
	cr_assert_eq(imm(KB64 - 10), 0);
	expect_violation(imm(11), -EPROTO, "overruns");
}

Test(wire_recv, count_is_the_big_endian_immediate)
{
	rring_wire_recv_on_established(&r, 0);
	cr_assert_eq(rring_wire_recv_on_write_imm(&r, htobe32(300), 300), 0);
	cr_assert_eq(r.wr_off, 300);
	expect_violation(rring_wire_recv_on_write_imm(&r, htobe32(300), 299),
			 -EPROTO, "differs");
}

Test(wire_recv, write_into_full_buffer_is_violation)
{
	rring_wire_recv_on_established(&r, 0);
	cr_assert_eq(imm(KB64), 0);
	expect_violation(imm(1), -EPROTO, "not advertised again");
}

Test(wire_recv, wrong_byte_len_is_violation)
{
	uint8_t buf[64] = {0, 2};
	struct rring_wire_msg m;

	expect_violation(rring_wire_recv_on_ctrl(&r, buf, 33, &m), -EBADMSG,
			 "byte_len");
}

Test(wire_recv, unknown_opcode_is_violation)
{
	uint8_t buf[32] = {0, 4};
	struct rring_wire_msg m;

	expect_violation(rring_wire_recv_on_ctrl(&r, buf, 32, &m), -EPROTO,
			 "opcode");
}

Test(wire_recv, bad_advertisement_is_violation)
{
	/* length 0x01001000 (16 MiB + 4 KiB), rkey 1 */
	uint8_t too_big[32] = {0, 3, [24] = 0x01, [26] = 0x10, [31] = 1};
	/* length 1 MiB, rkey 0 */
	uint8_t no_key[32] = {0, 3, [25] = 0x10};
	struct rring_wire_msg out;

	expect_violation(rring_wire_recv_on_ctrl(&r, too_big, 32, &out),
			 -ERANGE, "length");
	init_role(RRING_WIRE_ROLE_CLIENT, false);
	expect_violation(rring_wire_recv_on_ctrl(&r, no_key, 32, &out), -EINVAL,
			 "rkey");
}

Test(wire_recv, peer_advertisement_is_routed)
{
	uint8_t buf[32];
	struct rring_wire_msg m, out;

	rring_wire_msg_register(&m, 0xabc000, 1u << 20, 99);
	rring_wire_msg_encode(&m, buf, NULL);
	cr_assert_eq(rring_wire_recv_on_ctrl(&r, buf, 32, &out), 0,
		     "accepted before our ESTABLISHED event too");
	cr_assert_eq(out.opcode, RRING_WIRE_OP_REGISTER_XFER_MEMORY);
	cr_assert_eq(out.addr, 0xabc000);
	cr_assert_eq(out.rkey, 99);
}

Test(wire_recv, server_answers_get_server_feature)
{
	struct rring_wire_msg m, reply;

	rring_wire_recv_on_established(&r, 0);
	expect_advert();
	rring_wire_msg_get_feature(&m, 5);
	m.features = 0xff;
	cr_assert_eq(feed(&m), 0);
	rring_wire_msg_get_feature(&reply, 5);
	expect_ctrl(&reply);
	rring_wire_msg_set_feature(&m, 5, 0);
	cr_assert_eq(feed(&m), 0, "SetClientFeature 0 accepted");
}

Test(wire_recv, set_client_feature_nonzero_refused)
{
	uint8_t buf[32] = {0, 1, [31] = 1};
	struct rring_wire_msg out;

	expect_violation(rring_wire_recv_on_ctrl(&r, buf, 32, &out),
			 -EOPNOTSUPP, "SetClientFeature");
}

Test(wire_recv, client_handshake_with_feature_request)
{
	struct rring_wire_msg m;

	init_role(RRING_WIRE_ROLE_CLIENT, true);
	cr_assert_eq(rring_wire_recv_on_established(&r, 0), 0);
	expect_advert();
	rring_wire_msg_get_feature(&m, 0);
	expect_ctrl(&m);
	cr_assert(r.feature_pending);
	cr_assert_eq(feed(&m), 0, "server's reply");
	cr_assert(!r.feature_pending);
	expect_violation(feed(&m), -EPROTO, "unsolicited");
}

Test(wire_recv, client_checks_reply_select)
{
	struct rring_wire_msg m;

	init_role(RRING_WIRE_ROLE_CLIENT, true);
	rring_wire_recv_on_established(&r, 0);
	rring_wire_msg_get_feature(&m, 3);
	expect_violation(feed(&m), -EPROTO, "select");
}

Test(wire_recv, client_refuses_set_client_feature)
{
	struct rring_wire_msg m;

	init_role(RRING_WIRE_ROLE_CLIENT, false);
	rring_wire_msg_set_feature(&m, 0, 0);
	expect_violation(feed(&m), -EPROTO, "client");
}

Test(wire_recv, keepalive_accepted_any_time_and_sent_by_server)
{
	struct rring_wire_msg ka;
	uint8_t buf[32];

	rring_wire_msg_keepalive(&ka);
	cr_assert_eq(feed(&ka), 0, "before established");
	rring_wire_recv_on_established(&r, 1000);
	expect_advert();
	cr_assert_eq(feed(&ka), 0);
	cr_assert_eq(r.stats.keepalives_received, 2);
	cr_assert_eq(rring_wire_recv_tick(&r, 3999), 0);
	cr_assert_eq(rring_wire_recv_next_ctrl(&r, buf), -EAGAIN);
	cr_assert_eq(rring_wire_recv_tick(&r, 4000), 0);
	expect_ctrl(&ka);
	cr_assert_eq(rring_wire_recv_tick(&r, 6999), 0);
	cr_assert_eq(rring_wire_recv_next_ctrl(&r, buf), -EAGAIN);
	cr_assert_eq(rring_wire_recv_tick(&r, 7000), 0);
	expect_ctrl(&ka);
}

Test(wire_recv, client_sends_no_keepalive)
{
	uint8_t buf[32];

	init_role(RRING_WIRE_ROLE_CLIENT, false);
	rring_wire_recv_on_established(&r, 0);
	expect_advert();
	cr_assert_eq(rring_wire_recv_tick(&r, 100000), 0);
	cr_assert_eq(rring_wire_recv_next_ctrl(&r, buf), -EAGAIN);
}

Test(wire_recv, feature_flood_closes_instead_of_growing)
{
	struct rring_wire_msg m;
	int ret = 0, i;

	rring_wire_msg_get_feature(&m, 1);
	for (i = 0; i < 100 && ret == 0; i++)
		ret = feed(&m);
	cr_assert_eq(i, RRING_WIRE_OUTBOX + 1);
	expect_violation(ret, -ENOBUFS, "floods");
}

Test(wire_recv, close_is_idempotent_and_first_reason_wins)
{
	uint8_t buf[32];
	uint32_t off, len;

	rring_wire_recv_on_established(&r, 0);
	rring_wire_recv_close(&r, -EIO, "first");
	rring_wire_recv_close(&r, 0, "second");
	cr_assert_eq(r.state, RRING_WIRE_RECV_ERROR);
	cr_assert_str_eq(r.reason, "first");
	cr_assert_eq(rring_wire_recv_next_ctrl(&r, buf), -EPIPE);
	cr_assert_eq(rring_wire_recv_consume(&r, 0), -EPIPE);
	cr_assert_eq(rring_wire_recv_peek(&r, &off, &len), -EAGAIN);
	cr_assert_str_eq(rring_wire_recv_state_str(r.state), "ERROR");
}
