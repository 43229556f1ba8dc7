// SPDX-License-Identifier: BSD-3-Clause
/* rdmaring tests: what a peer sent before it disconnected is all delivered. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "echo_util.h"
#include "rdmaring.h"
#include "test_support.h"

/*
 * Two engines (one IO thread each) in this process over softverbs. The
 * client sends COUNT small messages as fast as the engine takes them and
 * closes its connection as soon as the last one's SEND_DONE arrives: the
 * peer has acknowledged every byte, so the server must hand out every
 * message, in order, before its CLOSED. The poller routes at most a few
 * batches of completions per CQ per loop before it reads rdma_cm events,
 * so the peer's DISCONNECTED can be read while completions for the same
 * connection still wait in the CQ; they must not be lost. Message i is
 * 32 bytes: i (little endian) then a pattern of (i, byte), so the server
 * checks the order and every byte, and compares FNV-1a checksums with the
 * client's. Both the message layer and the Valkey wire layer ("wire" 1).
 */

#define MSG_LEN 32u
#ifdef TS_SANITIZED
#define COUNT 3000u
#define ROUNDS 3
#else
#define COUNT 10000u
#define ROUNDS 10
#endif
#define WAIT_MS 120000

struct dc {
	struct echo_counters cnt; /* closed: server CLOSED, client_closed */
	int wire;
	/* Client IO thread. */
	uint32_t next_send, acked;
	uint64_t tx_fnv;
	int cli_status;
	/* Server IO thread. */
	uint64_t rx_off; /* stream bytes checked */
	uint64_t rx_fnv;
	uint32_t rx_events;
	int srv_status;
};

static struct dc D;

static unsigned char stream_byte(uint64_t k)
{
	uint64_t i = k / MSG_LEN;
	uint32_t j = (uint32_t)(k % MSG_LEN);

	if (j < 8)
		return (unsigned char)(i >> (8 * j));
	return (unsigned char)((i * 2654435761u) >> (j % 24) ^ j * 17u);
}

static void client_pump(struct rring_conn *c)
{
	unsigned char m[MSG_LEN];
	uint32_t j;
	int r;

	while (D.next_send < COUNT) {
		for (j = 0; j < MSG_LEN; j++)
			m[j] = stream_byte((uint64_t)D.next_send * MSG_LEN + j);
		r = rring_conn_send(c, m, MSG_LEN, D.next_send);
		if (r == -EAGAIN)
			return; /* again on the next SEND_DONE */
		if (r) {
			echo_fail(&D.cnt, "send %u: %d", D.next_send, r);
			return;
		}
		D.tx_fnv = ts_fnv(D.tx_fnv, m, MSG_LEN);
		D.next_send++;
	}
}

static void client_event(struct rring_io *io, const struct rring_event *ev,
			 void *arg)
{
	(void)io;
	(void)arg;
	switch (ev->type) {
	case RRING_EVENT_CONNECTED:
		client_pump(ev->conn);
		break;
	case RRING_EVENT_SEND_DONE:
		if (ev->status || ev->len != MSG_LEN ||
		    ev->tag != D.acked) {
			echo_fail(&D.cnt,
				  "SEND_DONE %u: status %d len %u tag %llu",
				  D.acked, ev->status, ev->len,
				  (unsigned long long)ev->tag);
			break;
		}
		if (++D.acked == COUNT) /* all acknowledged: leave at once */
			rring_conn_close(ev->conn);
		else
			client_pump(ev->conn);
		break;
	case RRING_EVENT_CLOSED:
		D.cli_status = ev->status;
		echo_bump(&D.cnt, &D.cnt.client_closed);
		break;
	default:
		break;
	}
}

static void server_recv(const struct rring_event *ev)
{
	const unsigned char *d = ev->data;
	uint32_t i;

	if (!D.wire && ev->len != MSG_LEN) {
		echo_fail(&D.cnt, "message of %u bytes at byte %llu", ev->len,
			  (unsigned long long)D.rx_off);
		return;
	}
	for (i = 0; i < ev->len; i++)
		if (d[i] != stream_byte(D.rx_off + i)) {
			echo_fail(&D.cnt, "byte %llu (message %llu) differs",
				  (unsigned long long)(D.rx_off + i),
				  (unsigned long long)((D.rx_off + i) /
						       MSG_LEN));
			return;
		}
	D.rx_fnv = ts_fnv(D.rx_fnv, d, ev->len);
	D.rx_off += ev->len;
	D.rx_events++;
	if (D.wire && rring_conn_consume(ev->conn, ev->len))
		echo_fail(&D.cnt, "consume %u refused", ev->len);
}

static void server_event(struct rring_io *io, const struct rring_event *ev,
			 void *arg)
{
	(void)io;
	(void)arg;
	if (ev->type == RRING_EVENT_RECV) {
		server_recv(ev);
	} else if (ev->type == RRING_EVENT_CLOSED) {
		D.srv_status = ev->status;
		echo_bump(&D.cnt, &D.cnt.closed);
	}
}

static struct rring_engine *engine(int wire,
				   void (*fn)(struct rring_io *,
					      const struct rring_event *, void *))
{
	struct rring_params p;

	echo_params(&p, 1);
	p.wire = (uint32_t)wire;
	/* Many receives in flight: more completions per connection than
	 * the poller routes per CQ in one loop. */
	p.msg_depth = 256;
	return echo_engine(&p, fn);
}

static void run(int wire)
{
	struct rring_engine *srv, *cli;
	int port, round;

	memset(&D, 0, sizeof(D));
	echo_counters_init(&D.cnt);
	D.wire = wire;
	srv = engine(wire, server_event);
	cli = engine(wire, client_event);
	cr_assert(srv && cli);
	port = rring_listen(srv, "127.0.0.1", 0, NULL);
	cr_assert_gt(port, 0);
	for (round = 0; round < ROUNDS; round++) {
		/* Both sides are idle between rounds (the last connection
		 * is closed on both), so the test thread may reset them. */
		D.next_send = D.acked = 0;
		D.rx_off = 0;
		D.rx_events = 0;
		D.tx_fnv = D.rx_fnv = TS_FNV_INIT;
		cr_assert_eq(rring_connect(cli, "127.0.0.1", (uint16_t)port,
					   NULL, NULL),
			     0);
		echo_wait(&D.cnt, &D.cnt.client_closed, round + 1, WAIT_MS);
		echo_wait(&D.cnt, &D.cnt.closed, round + 1, WAIT_MS);
		cr_assert_eq(atomic_load(&D.cnt.errors), 0, "round %d: %s",
			     round, D.cnt.first_error);
		cr_assert_eq(atomic_load(&D.cnt.client_closed), round + 1,
			     "round %d: client not closed", round);
		cr_assert_eq(atomic_load(&D.cnt.closed), round + 1,
			     "round %d: server not closed", round);
		cr_assert_eq(D.acked, COUNT, "round %d: %u of %u acknowledged",
			     round, D.acked, COUNT);
		cr_assert_eq(D.rx_off, (uint64_t)COUNT * MSG_LEN,
			     "round %d: server got %llu of %u messages "
			     "before CLOSED (status %d)",
			     round, (unsigned long long)(D.rx_off / MSG_LEN),
			     COUNT, D.srv_status);
		cr_assert_eq(D.rx_fnv, D.tx_fnv, "round %d: checksum", round);
		cr_assert_eq(D.cli_status, 0, "round %d", round);
		cr_assert_eq(D.srv_status, 0, "round %d", round);
	}
	rring_engine_destroy(cli);
	rring_engine_destroy(srv);
}

Test(drain_close, msg_layer_delivers_all_before_closed, .timeout = 300)
{
	run(0);
}

Test(drain_close, wire_layer_delivers_all_before_closed, .timeout = 300)
{
	run(1);
}
