// SPDX-License-Identifier: BSD-3-Clause
/* rdmaring example: large-transfer sender, streams BYTES from its own memory. */
/*
 * Usage: xfer_send PORT BYTES [CHUNK]   (CHUNK bytes per send, default 4 MiB)
 *
 * Connects to 127.0.0.1:PORT with the Valkey RDMA wire layer ("wire" 1)
 * and sends the test stream (ex_stream_byte) in CHUNK-sized sends from
 * two buffers, refilling a buffer only after its SEND_DONE. Sends above
 * RRING_XFER_COPY_MAX go from the application's memory without a copy:
 * the engine registers the buffer on first use and caches the
 * registration, so the buffer must not change until SEND_DONE, and
 * rring_conn_forget must drop the registration before the memory is
 * freed. Then closes; exits 0 when every byte was acknowledged.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "example.h"

#define PROG "xfer_send"
#define NBUF 2 /* one buffer in flight while the other is refilled */

/* Owner IO thread only, then main after the engine stopped. */
static struct {
	uint64_t total, chunk;
	uint64_t queued, acked; /* stream offsets */
	unsigned int inflight;	/* sends without SEND_DONE */
	unsigned char *buf[NBUF];
	int failed;
} tx;

static struct ex_done done;

static void fill(unsigned char *b, uint64_t off, uint64_t len)
{
	uint64_t i;

	for (i = 0; i < len; i++)
		b[i] = ex_stream_byte(off + i);
}

/* Queue chunks while a buffer is free; each send's tag is its buffer. */
static void send_more(struct rring_conn *conn)
{
	struct iovec iov;
	uint64_t len;
	unsigned int b;
	int ret;

	while (tx.queued < tx.total && tx.inflight < NBUF) {
		b = (unsigned int)(tx.queued / tx.chunk % NBUF);
		len = tx.total - tx.queued < tx.chunk ? tx.total - tx.queued
						      : tx.chunk;
		fill(tx.buf[b], tx.queued, len);
		iov.iov_base = tx.buf[b];
		iov.iov_len = len;
		ret = rring_conn_sendv(conn, &iov, 1, b);
		if (ret == -EAGAIN)
			return; /* retried on the next SEND_DONE */
		if (ret) {
			fprintf(stderr, PROG ": sendv: %s\n", strerror(-ret));
			tx.failed = 1;
			rring_conn_close(conn);
			return;
		}
		tx.queued += len;
		tx.inflight++;
	}
}

static void finish(struct rring_conn *conn)
{
	unsigned int b;
	int ret;

	/* Every send has had its SEND_DONE: drop the cached registrations
	 * before main frees the buffers (rring_conn_forget is the owner IO
	 * thread's call, so it happens here and not in main). */
	for (b = 0; b < NBUF; b++) {
		ret = rring_conn_forget(conn, tx.buf[b], tx.chunk);
		if (ret) {
			fprintf(stderr, PROG ": forget: %s\n", strerror(-ret));
			tx.failed = 1;
		}
	}
	rring_conn_close(conn); /* CLOSED follows */
}

static void on_event(struct rring_io *io, const struct rring_event *ev,
		     void *arg)
{
	(void)io;
	(void)arg;
	switch (ev->type) {
	case RRING_EVENT_CONNECTED:
		send_more(ev->conn);
		break;
	case RRING_EVENT_SEND_DONE:
		tx.inflight--;
		if (ev->status) { /* the connection is going away */
			tx.failed = 1;
			break;
		}
		/* len is the whole send: its last byte reached the peer. */
		tx.acked += ev->len;
		if (tx.acked == tx.total)
			finish(ev->conn);
		else
			send_more(ev->conn);
		break;
	case RRING_EVENT_CLOSED:
		ex_done_set(&done, ev->status ? ev->status
				   : tx.failed ? -EIO : 0);
		break;
	default:
		break;
	}
}

int main(int argc, char **argv)
{
	const struct ex_param params[] = {{"wire", "1"}};
	struct rring_engine *e;
	uint64_t port;
	unsigned int b;
	int ret;

	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: " PROG " PORT BYTES [CHUNK]\n");
		return 2;
	}
	tx.chunk = 4u << 20;
	if (ex_arg(PROG, "PORT", argv[1], 1, 65535, &port) ||
	    ex_arg(PROG, "BYTES", argv[2], 1, UINT64_MAX, &tx.total) ||
	    (argc > 3 &&
	     ex_arg(PROG, "CHUNK", argv[3], 1, UINT32_MAX, &tx.chunk)))
		return 2;
	for (b = 0; b < NBUF; b++) {
		tx.buf[b] = malloc(tx.chunk);
		if (!tx.buf[b]) {
			fprintf(stderr, PROG ": no memory for %" PRIu64
				" bytes\n", tx.chunk);
			return 1;
		}
	}
	ex_done_init(&done);
	e = ex_engine_start(PROG, params, 1, on_event);
	if (!e)
		return 1;
	ret = rring_connect(e, "127.0.0.1", (uint16_t)port, NULL, NULL);
	if (ret == 0)
		ret = ex_done_wait(&done, 600);
	rring_engine_destroy(e);
	for (b = 0; b < NBUF; b++)
		free(tx.buf[b]);
	if (ret || tx.acked != tx.total) {
		fprintf(stderr, PROG ": %" PRIu64 " of %" PRIu64
			" bytes acknowledged (%s)\n", tx.acked, tx.total,
			ret ? strerror(-ret) : "closed early");
		return 1;
	}
	printf(PROG ": %" PRIu64 " bytes sent and acknowledged\n", tx.acked);
	return 0;
}
