/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring fuzzing: Valkey RDMA control messages and the receiver and
 * sender state machines (engine/wire_msg.c, wire_recv.c, wire_send.c). */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "wire_recv.h"
#include "wire_send.h"

/*
 * Input: byte 0 picks the role, the receive buffer size and whether the
 * client asks for features; then a list of operations, one byte of opcode
 * each followed by its operand bytes: a control message (32 bytes and a
 * byte_len), a write-with-imm (imm, byte_len), consume, tick, take the
 * next control message, a peer advertisement for the sender, a send
 * request, the next write, a write completion, close. The first control
 * message bytes also go through the decoder alone.
 *
 * Properties (after every operation): the receiver's offsets stay within
 * its buffer (rd <= wr <= len), its state matches them, its outbox never
 * overflows, and what it sends decodes; what the decoder accepts encodes
 * and decodes back to the same message; the sender writes only inside the
 * advertised window, with the right rkey and an immediate equal to the
 * length, and its stream offsets stay ordered (acked <= posted <= queued).
 */

struct in {
	const uint8_t *p;
	size_t n;
};

static uint64_t take(struct in *in, unsigned int bytes)
{
	uint64_t v = 0;

	while (bytes--) {
		v = v << 8 | (in->n ? *in->p : 0);
		if (in->n) {
			in->p++;
			in->n--;
		}
	}
	return v;
}

static void codec(const uint8_t *buf, uint32_t len)
{
	struct rring_wire_msg m, m2;
	uint8_t enc[RRING_WIRE_MSG_SIZE];
	const char *why;

	if (rring_wire_msg_decode(buf, len, &m, &why))
		return;
	FUZZ_CHECK(len == RRING_WIRE_MSG_SIZE, "accepted %u bytes", len);
	FUZZ_CHECK(!rring_wire_msg_encode(&m, enc, &why), "encode: %s", why);
	FUZZ_CHECK(!rring_wire_msg_decode(enc, sizeof(enc), &m2, &why),
		   "re-decode: %s", why);
	FUZZ_CHECK(!memcmp(&m, &m2, sizeof(m)), "round trip changed it");
}

static void recv_check(const struct rring_wire_recv *r)
{
	FUZZ_CHECK((unsigned int)r->state < RRING_WIRE_RECV_NR_STATES, "%d",
		   r->state);
	FUZZ_CHECK(r->rd_off <= r->wr_off && r->wr_off <= r->p.buf_len,
		   "rd %u wr %u len %u", r->rd_off, r->wr_off, r->p.buf_len);
	FUZZ_CHECK(r->out_tail - r->out_head <= RRING_WIRE_OUTBOX, "outbox");
	if (r->state == RRING_WIRE_RECV_FULL)
		FUZZ_CHECK(r->wr_off == r->p.buf_len, "FULL at %u", r->wr_off);
	if (r->state == RRING_WIRE_RECV_OPEN)
		FUZZ_CHECK(r->wr_off < r->p.buf_len, "OPEN at %u", r->wr_off);
}

static void recv_op(struct rring_wire_recv *r, unsigned int op, struct in *in,
		    uint64_t *now)
{
	uint8_t msg[RRING_WIRE_MSG_SIZE], out[RRING_WIRE_MSG_SIZE];
	struct rring_wire_msg m;
	uint32_t a, b, off, len;

	switch (op) {
	case 0:
		rring_wire_recv_on_established(r, *now);
		break;
	case 1:
		for (a = 0; a < sizeof(msg); a++)
			msg[a] = (uint8_t)take(in, 1);
		b = (uint32_t)take(in, 1);
		codec(msg, b & 0x80 ? b & 0x3f : RRING_WIRE_MSG_SIZE);
		rring_wire_recv_on_ctrl(r, msg,
					b & 0x80 ? b & 0x3f
						 : RRING_WIRE_MSG_SIZE,
					&m);
		break;
	case 2:
		a = (uint32_t)take(in, 4);
		b = (uint32_t)take(in, 1);
		rring_wire_recv_on_write_imm(r, htobe32(a),
					     b ? a + b - 1 : a);
		break;
	case 3:
		a = (uint32_t)take(in, 4);
		if (!rring_wire_recv_peek(r, &off, &len)) {
			FUZZ_CHECK(off + len <= r->p.buf_len, "peek past end");
			a = a & 1 ? len : a;
		}
		rring_wire_recv_consume(r, a);
		break;
	case 4:
		*now += take(in, 2);
		rring_wire_recv_tick(r, *now);
		break;
	default:
		if (!rring_wire_recv_next_ctrl(r, out))
			FUZZ_CHECK(!rring_wire_msg_decode(out, sizeof(out), &m,
							  NULL),
				   "we sent what we refuse");
		break;
	}
}

struct window {
	uint64_t addr;
	uint32_t len, rkey;
	int valid;
};

static void send_check(const struct rring_wire_send *s)
{
	FUZZ_CHECK((unsigned int)s->state < RRING_WIRE_SEND_NR_STATES, "%d",
		   s->state);
	FUZZ_CHECK(s->acked <= s->posted && s->posted <= s->queued,
		   "acked %llu posted %llu queued %llu",
		   (unsigned long long)s->acked, (unsigned long long)s->posted,
		   (unsigned long long)s->queued);
}

static void send_next(struct rring_wire_send *s, const struct window *w)
{
	struct rring_wire_write wr;
	uint64_t sum = 0;
	uint32_t i;

	if (rring_wire_send_next(s, &wr))
		return;
	FUZZ_CHECK(w->valid, "a write without a window");
	FUZZ_CHECK(wr.rkey == w->rkey, "rkey %u, window %u", wr.rkey, w->rkey);
	FUZZ_CHECK(wr.remote_addr >= w->addr &&
		       wr.remote_addr - w->addr + wr.length <= w->len,
		   "write outside the window");
	FUZZ_CHECK(wr.num_sge >= 1 && wr.num_sge <= RRING_WIRE_MAX_SGE, "%u",
		   wr.num_sge);
	for (i = 0; i < wr.num_sge; i++)
		sum += wr.sge[i].len;
	FUZZ_CHECK(sum == wr.length && wr.length > 0, "length %u", wr.length);
	FUZZ_CHECK(be32toh(wr.imm_data) == wr.length, "imm");
}

static void send_op(struct rring_wire_send *s, unsigned int op, struct in *in,
		    struct window *w)
{
	struct rring_wire_send_result res[16];
	struct rring_wire_iov iov[3];
	uint32_t n, i;

	switch (op) {
	case 0: {
		struct window nw = {take(in, 8), (uint32_t)take(in, 4),
				    (uint32_t)take(in, 4), 1};

		/* a refused advertisement leaves the window as it was */
		if (!rring_wire_send_on_peer_buffer(s, nw.addr, nw.len,
						    nw.rkey))
			*w = nw;
		break;
	}
	case 1:
		n = (uint32_t)take(in, 1) % 4;
		for (i = 0; i < n; i++)
			iov[i] = (struct rring_wire_iov){
			    take(in, 8), (uint32_t)take(in, 3), 7};
		rring_wire_send_queue(s, iov, n, take(in, 1));
		break;
	case 2:
		send_next(s, w);
		break;
	case 3:
		rring_wire_send_on_write_done(s, take(in, 2));
		break;
	default:
		while (rring_wire_send_reap(s, res, 16))
			;
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = {data, size};
	struct rring_wire_recv_params rp;
	struct rring_wire_send_params sp;
	struct rring_wire_recv r;
	struct rring_wire_send s;
	struct window w = {0};
	unsigned int cfg = (unsigned int)take(&in, 1), op;
	uint64_t now = 0;

	rring_wire_recv_params_init(&rp);
	rp.role = cfg & 1 ? RRING_WIRE_ROLE_CLIENT : RRING_WIRE_ROLE_SERVER;
	rp.ask_features = cfg & 2;
	rp.buf_addr = 0x10000;
	rp.buf_len = RRING_WIRE_RX_SIZE_MIN << (cfg >> 2 & 7); /* ..8 MiB */
	rp.rkey = 5;
	FUZZ_CHECK(!rring_wire_recv_init(&r, &rp), "recv init");
	rring_wire_send_params_init(&sp);
	sp.max_write = cfg & 0x80 ? 4096 : sp.max_write;
	FUZZ_CHECK(!rring_wire_send_init(&s, &sp), "send init");
	while (in.n) {
		op = (unsigned int)take(&in, 1);
		if (op == 0xff) {
			rring_wire_recv_close(&r, -EIO, NULL);
			rring_wire_send_close(&s, -EIO, NULL);
		} else if (op & 0x80) {
			send_op(&s, op & 7, &in, &w);
		} else {
			recv_op(&r, op % 6, &in, &now);
		}
		recv_check(&r);
		send_check(&s);
	}
	rring_wire_recv_close(&r, 0, NULL);
	rring_wire_send_close(&s, 0, NULL);
	recv_check(&r);
	rring_wire_send_destroy(&s);
	return 0;
}
