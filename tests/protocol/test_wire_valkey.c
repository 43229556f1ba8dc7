/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring: wire machines against a model of Valkey 8's RDMA transport. */

/*
 * The model below restates, independently of engine/wire_*.c, what
 * Valkey's transport does with the bytes: it builds and parses control
 * messages by hand at the struct offsets of ValkeyRdmaCmd, its sender
 * writes min(window left, data) with imm_data = htonl(count) and signals
 * one write in 512, and its receiver adds ntohl(imm_data) to rx.offset
 * (asserting it stays within the buffer), reads everything available and
 * re-registers the buffer when rx.pos reaches its length. Our receiver is
 * paired with the model's sender and our sender with the model's receiver.
 */
#include <criterion/criterion.h>
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "wire_recv.h"
#include "wire_send.h"
#include "test_support.h"

#define KB64 (64u << 10)
#define MB1 (1u << 20)

/* ---- the Valkey model ---- */

struct valkey {
	/* RX: our buffer as Valkey keeps it */
	uint8_t *rx;
	uint32_t rx_len, rx_key, rx_offset, rx_pos;
	/* TX: the peer's window */
	uint64_t tx_addr;
	uint32_t tx_len, tx_key, tx_offset, tx_ops;
	uint64_t writes, signaled, registrations;
};

/* connRdmaRegisterRx: opcode htons(3), addr htonu64 @16, length htonl @24,
 * key htonl @28, everything else zero. */
static void vk_register_bytes(struct valkey *v, uint8_t cmd[32])
{
	uint64_t addr = htobe64((uintptr_t)v->rx);
	uint32_t len = htobe32(v->rx_len), key = htobe32(v->rx_key);

	memset(cmd, 0, 32);
	cmd[1] = 3;
	memcpy(cmd + 16, &addr, 8);
	memcpy(cmd + 24, &len, 4);
	memcpy(cmd + 28, &key, 4);
	v->rx_offset = 0;
	v->rx_pos = 0;
	v->registrations++;
}

/* connRdmaHandleRecv for the messages our side sends. */
static void vk_handle_cmd(struct valkey *v, const uint8_t cmd[32])
{
	uint16_t op = (uint16_t)(cmd[0] << 8 | cmd[1]);
	uint64_t addr;
	uint32_t len, key;

	cr_assert(op == 2 || op == 3, "opcode %u", op);
	if (op != 3)
		return;
	memcpy(&addr, cmd + 16, 8);
	memcpy(&len, cmd + 24, 4);
	memcpy(&key, cmd + 28, 4);
	v->tx_addr = be64toh(addr);
	v->tx_len = be32toh(len);
	v->tx_key = be32toh(key);
	v->tx_offset = 0;
}

/* connRdmaSend/connRdmaWrite: returns bytes written into @dst. */
static uint32_t vk_write(struct valkey *v, const uint8_t *data, uint32_t n,
			 uint32_t *imm, bool *signaled)
{
	uint32_t towrite = v->tx_len - v->tx_offset;

	if (n < towrite)
		towrite = n;
	if (!towrite)
		return 0;
	memcpy((void *)(uintptr_t)(v->tx_addr + v->tx_offset), data, towrite);
	*imm = htobe32(towrite);
	*signaled = !(++v->tx_ops % 512);
	v->tx_offset += towrite;
	v->writes++;
	v->signaled += *signaled;
	return towrite;
}

/* connRdmaHandleRecvImm: assert(byte_len + rx.offset <= rx.length). */
static void vk_recv_imm(struct valkey *v, uint32_t imm)
{
	uint32_t n = be32toh(imm);

	cr_assert_leq((uint64_t)n + v->rx_offset, v->rx_len,
		      "Valkey would abort: write overruns its buffer");
	v->rx_offset += n;
}

/* ---- shared data ---- */

struct stream {
	uint8_t *data;
	uint64_t len;
	uint64_t sent, checked;
};

static void stream_init(struct stream *s, uint64_t len, uint64_t seed)
{
	struct ts_rng r = {seed};

	s->data = malloc(len);
	cr_assert_not_null(s->data);
	for (uint64_t i = 0; i < len; i++)
		s->data[i] = (uint8_t)(ts_rnd(&r) >> 32);
	s->len = len;
	s->sent = s->checked = 0;
}

static void check_bytes(struct stream *s, const uint8_t *p, uint32_t n)
{
	cr_assert_leq(s->checked + n, s->len);
	cr_assert_eq(memcmp(s->data + s->checked, p, n), 0,
		     "corrupt at stream offset %lu", (unsigned long)s->checked);
	s->checked += n;
}

/* ---- Valkey client sends to our server receiver ---- */

static void run_valkey_sender(uint32_t our_len, uint32_t their_len,
			      uint64_t total, uint64_t seed)
{
	struct rring_wire_recv_params p;
	struct rring_wire_recv r;
	struct rring_wire_msg m;
	struct valkey v = {0};
	struct stream st;
	struct ts_rng rg = {seed};
	uint8_t *ours = aligned_alloc(4096, our_len);
	uint8_t cmd[32];
	uint64_t steps = 0;

	stream_init(&st, total, seed);
	v.rx_len = their_len;
	v.rx_key = 0x5a5a;
	v.rx = aligned_alloc(4096, their_len);
	rring_wire_recv_params_init(&p);
	p.role = RRING_WIRE_ROLE_SERVER;
	p.buf_addr = (uintptr_t)ours;
	p.buf_len = our_len;
	p.rkey = 0x77;
	cr_assert_eq(rring_wire_recv_init(&r, &p), 0);

	/* Both sides register on ESTABLISHED. */
	vk_register_bytes(&v, cmd);
	cr_assert_eq(rring_wire_recv_on_ctrl(&r, cmd, 32, &m), 0);
	cr_assert_eq(m.addr, (uintptr_t)v.rx);
	cr_assert_eq(m.length, their_len);
	cr_assert_eq(m.rkey, 0x5a5a);
	cr_assert_eq(rring_wire_recv_on_established(&r, 0), 0);

	while (st.checked < total) {
		uint32_t imm, off, len, n;
		bool sig;

		while (rring_wire_recv_next_ctrl(&r, cmd) == 0)
			vk_handle_cmd(&v, cmd);
		/* Valkey's write handler: one writev of what is left */
		n = (uint32_t)(ts_rnd(&rg) % (3 * MB1)) + 1;
		if (n > total - st.sent)
			n = (uint32_t)(total - st.sent);
		if (st.sent < total && v.tx_len) {
			uint32_t w =
			    vk_write(&v, st.data + st.sent, n, &imm, &sig);

			if (w) {
				st.sent += w;
				cr_assert_eq(
				    rring_wire_recv_on_write_imm(&r, imm, w), 0,
				    "%s", r.reason);
			}
		}
		if (rring_wire_recv_peek(&r, &off, &len) == 0) {
			n = ts_rnd(&rg) % 2
				? len
				: (uint32_t)(ts_rnd(&rg) % (len + 1));
			check_bytes(&st, ours + off, n);
			cr_assert_eq(rring_wire_recv_consume(&r, n), 0);
		}
		rring_wire_recv_tick(&r, steps * 10);
		cr_assert_lt(++steps, 50000000);
	}
	cr_assert_eq(r.stats.readvertisements, total / our_len);
	cr_assert_eq(r.state, RRING_WIRE_RECV_OPEN);
	free(st.data);
	free(v.rx);
	free(ours);
}

Test(wire_valkey, valkey_sender_into_our_64k_receiver)
{
	run_valkey_sender(KB64, MB1, 20u << 20, 1);
}

Test(wire_valkey, valkey_sender_into_our_1m_receiver)
{
	run_valkey_sender(MB1, KB64, 20u << 20, 2);
}

/* ---- our client sender into a Valkey server receiver ---- */

static void run_valkey_receiver(uint32_t their_len, uint64_t total,
				uint32_t max_msg, uint64_t seed)
{
	struct rring_wire_send_params sp;
	struct rring_wire_send s;
	struct rring_wire_write w;
	struct rring_wire_send_result res[16];
	struct rring_wire_msg m;
	struct valkey v = {0};
	struct stream st;
	struct ts_rng rg = {seed};
	uint8_t cmd[32];
	uint64_t queued = 0, steps = 0, done = 0, nreq = 0;
	uint64_t last_sig = 0;
	bool have_sig;

	stream_init(&st, total, seed);
	v.rx_len = their_len;
	v.rx_key = 0x5a5a;
	v.rx = aligned_alloc(4096, their_len);
	rring_wire_send_params_init(&sp);
	cr_assert_eq(rring_wire_send_init(&s, &sp), 0);

	vk_register_bytes(&v, cmd);
	cr_assert_eq(rring_wire_msg_decode(cmd, 32, &m, NULL), 0);
	cr_assert_eq(
	    rring_wire_send_on_peer_buffer(&s, m.addr, m.length, m.rkey), 0);
	while (done < nreq || queued < total) {
		while (queued < total) {
			uint32_t n = (uint32_t)(ts_rnd(&rg) % max_msg) + 1;
			struct rring_wire_iov iov = {
			    (uintptr_t)st.data + queued, n, 1};

			if (n > total - queued)
				iov.len = n = (uint32_t)(total - queued);
			if (rring_wire_send_queue(&s, &iov, 1, nreq))
				break;
			queued += n;
			nreq++;
		}
		have_sig = false;
		while (rring_wire_send_next(&s, &w) == 0) {
			uint8_t *dst = (uint8_t *)(uintptr_t)w.remote_addr;

			cr_assert_eq(w.rkey, v.rx_key);
			cr_assert_geq(w.remote_addr, (uintptr_t)v.rx);
			for (uint32_t i = 0; i < w.num_sge; i++) {
				memcpy(dst, (void *)(uintptr_t)w.sge[i].addr,
				       w.sge[i].len);
				dst += w.sge[i].len;
			}
			vk_recv_imm(&v, w.imm_data);
			cr_assert_eq(w.remote_addr - (uintptr_t)v.rx + w.length,
				     v.rx_offset,
				     "write where Valkey expects it");
			if (w.signaled) {
				last_sig = w.wr_id;
				have_sig = true;
			}
		}
		/* the latest signaled completion acknowledges all before it */
		if (have_sig)
			cr_assert_eq(
			    rring_wire_send_on_write_done(&s, last_sig), 0);
		for (unsigned int n; (n = rring_wire_send_reap(&s, res, 16));)
			for (unsigned int i = 0; i < n; i++) {
				cr_assert_eq(res[i].cookie, done++);
				cr_assert_eq(res[i].status, 0);
			}
		/* connRdmaEventHandler: read everything, re-register if full */
		if (v.rx_pos < v.rx_offset) {
			check_bytes(&st, v.rx + v.rx_pos,
				    v.rx_offset - v.rx_pos);
			v.rx_pos = v.rx_offset;
		}
		if (v.rx_pos == v.rx_len && ts_rnd(&rg) % 4 == 0) {
			vk_register_bytes(&v, cmd);
			cr_assert_eq(rring_wire_msg_decode(cmd, 32, &m, NULL),
				     0);
			cr_assert_eq(rring_wire_send_on_peer_buffer(
					 &s, m.addr, m.length, m.rkey),
				     0);
		}
		cr_assert_lt(++steps, 10000000);
	}
	cr_assert_eq(st.checked, total);
	if (v.rx_pos == v.rx_len) /* the event handler's last run */
		vk_register_bytes(&v, cmd);
	cr_assert_eq(v.registrations, 1 + total / their_len);
	rring_wire_send_destroy(&s);
	free(st.data);
	free(v.rx);
}

Test(wire_valkey, our_sender_into_valkey_64k_receiver)
{
	run_valkey_receiver(KB64, 12u << 20, 100000, 3);
}

Test(wire_valkey, our_small_messages_into_valkey_1m_receiver)
{
	run_valkey_receiver(MB1, 8u << 20, 700, 4);
}

Test(wire_valkey, our_10mb_messages_into_valkey_1m_receiver)
{
	run_valkey_receiver(MB1, 30u << 20, 10u << 20, 5);
}

/* Our control messages, as Valkey's struct reads them. */
Test(wire_valkey, valkey_parses_our_advertisement)
{
	struct rring_wire_recv_params p;
	struct rring_wire_recv r;
	struct valkey v = {0};
	uint8_t cmd[32];

	rring_wire_recv_params_init(&p);
	p.buf_addr = 0x00007f00deadb000ULL;
	p.buf_len = 2u << 20;
	p.rkey = 0x01020304;
	cr_assert_eq(rring_wire_recv_init(&r, &p), 0);
	rring_wire_recv_on_established(&r, 0);
	cr_assert_eq(rring_wire_recv_next_ctrl(&r, cmd), 0);
	vk_handle_cmd(&v, cmd);
	cr_assert_eq(v.tx_addr, 0x00007f00deadb000ULL);
	cr_assert_eq(v.tx_len, 2u << 20);
	cr_assert_eq(v.tx_key, 0x01020304);
}
