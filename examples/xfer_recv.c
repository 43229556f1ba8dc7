// SPDX-License-Identifier: BSD-3-Clause
/* rdmaring example: large-transfer receiver, checks every byte of the stream. */
/*
 * Usage: xfer_recv BYTES [PORT]   (PORT 0 or absent: any free port)
 *
 * Listens on 127.0.0.1 with the Valkey RDMA wire layer ("wire" 1: each
 * connection is a byte stream written by the peer straight into our
 * registered receive buffer), prints "xfer_recv: listening on port N",
 * checks every received byte against ex_stream_byte(offset), and exits
 * when the sender closes. Exits 0 only if exactly BYTES arrived, all
 * correct.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "example.h"

#define PROG "xfer_recv"

/* Owner IO thread only, then main after the engine stopped. */
static struct {
	struct rring_conn *conn;
	uint64_t received;
	uint64_t bad_at; /* offset of the first wrong byte + 1, or 0 */
} rx;

static struct ex_done done;

static void on_recv(const struct rring_event *ev)
{
	const unsigned char *p = ev->data;
	uint32_t i;
	int ret;

	/* The bytes sit in our receive buffer, where the peer's RDMA WRITE
	 * put them; no copy was made. */
	for (i = 0; i < ev->len && !rx.bad_at; i++)
		if (p[i] != ex_stream_byte(rx.received + i))
			rx.bad_at = rx.received + i + 1;
	rx.received += ev->len;
	/* Hand the bytes back: once the whole buffer has been consumed, the
	 * engine advertises it to the peer again and the sender continues.
	 * (An application may also keep them and consume later, in order.) */
	ret = rring_conn_consume(ev->conn, ev->len);
	if (ret) {
		fprintf(stderr, PROG ": consume: %s\n", strerror(-ret));
		rring_conn_close(ev->conn);
	}
}

static void on_event(struct rring_io *io, const struct rring_event *ev,
		     void *arg)
{
	(void)io;
	(void)arg;
	switch (ev->type) {
	case RRING_EVENT_ACCEPTED:
		if (rx.conn) /* one sender per run */
			rring_conn_close(ev->conn);
		else
			rx.conn = ev->conn;
		break;
	case RRING_EVENT_RECV:
		on_recv(ev);
		break;
	case RRING_EVENT_CLOSED:
		if (ev->conn == rx.conn)
			ex_done_set(&done, ev->status);
		break;
	default:
		break;
	}
}

int main(int argc, char **argv)
{
	const struct ex_param params[] = {{"wire", "1"}};
	struct rring_engine *e;
	uint64_t want, port = 0;
	int ret;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: " PROG " BYTES [PORT]\n");
		return 2;
	}
	if (ex_arg(PROG, "BYTES", argv[1], 1, UINT64_MAX, &want) ||
	    (argc > 2 && ex_arg(PROG, "PORT", argv[2], 0, 65535, &port)))
		return 2;
	ex_done_init(&done);
	e = ex_engine_start(PROG, params, 1, on_event);
	if (!e)
		return 1;
	ret = ex_listen(PROG, e, (uint16_t)port);
	if (ret > 0)
		ret = ex_done_wait(&done, 600);
	rring_engine_destroy(e);
	if (rx.bad_at) {
		fprintf(stderr, PROG ": byte %" PRIu64 " is wrong\n",
			rx.bad_at - 1);
		return 1;
	}
	if (ret || rx.received != want) {
		fprintf(stderr, PROG ": %" PRIu64 " of %" PRIu64 " bytes (%s)\n",
			rx.received, want,
			ret ? strerror(-ret) : "closed early");
		return 1;
	}
	printf(PROG ": %" PRIu64 " bytes received, all verified\n",
	       rx.received);
	return 0;
}
