// SPDX-License-Identifier: BSD-3-Clause
/* rdmaring example: echo server, sends every message back on its connection. */
/*
 * Usage: echo_server [PORT]   (PORT 0 or absent: any free port)
 *
 * Listens on 127.0.0.1, prints "echo_server: listening on port N", echoes
 * every message of the first client and exits when that client closes,
 * printing how many messages it echoed. Messages use the engine's simple
 * message layer (the default, "wire" 0): each RECV is one whole message,
 * each rring_conn_send one message, copied by the engine.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "example.h"

#define PROG "echo_server"
#define MAX_MSG 4096 /* the client's largest message */
#define BACKLOG 16   /* echoes waiting for a free send slot */

/*
 * Per-connection state, touched only by the connection's owner IO thread
 * (every event of a connection is delivered on that one thread), so it
 * needs no lock.
 */
struct echo_conn {
	unsigned int npend; /* echoes not yet accepted by rring_conn_send */
	uint32_t pend_len[BACKLOG];
	unsigned char pend[BACKLOG][MAX_MSG];
	uint64_t messages, bytes;
};

static struct ex_done done;
static struct echo_conn *client; /* the one client this example serves */

/* Send what is waiting, oldest first. rring_conn_send copies the message,
 * so the buffer is free on return; -EAGAIN means all msg-depth send slots
 * are in flight and one frees at this connection's next SEND_DONE. */
static int flush(struct echo_conn *ec, struct rring_conn *conn)
{
	unsigned int sent = 0;
	int ret = 0;

	while (sent < ec->npend) {
		ret = rring_conn_send(conn, ec->pend[sent], ec->pend_len[sent],
				      0);
		if (ret == -EAGAIN) {
			ret = 0;
			break;
		}
		if (ret)
			break;
		sent++;
	}
	memmove(ec->pend_len, ec->pend_len + sent,
		(ec->npend - sent) * sizeof(ec->pend_len[0]));
	memmove(ec->pend, ec->pend + sent, (ec->npend - sent) * MAX_MSG);
	ec->npend -= sent;
	return ret;
}

static void on_recv(struct echo_conn *ec, const struct rring_event *ev)
{
	int ret;

	if (ev->len > MAX_MSG || ec->npend == BACKLOG) {
		fprintf(stderr, PROG ": message of %u bytes with %u waiting: "
			"the client sends more than it may; closing\n",
			ev->len, ec->npend);
		rring_conn_close(ev->conn);
		return;
	}
	/* ev->data is valid only during this call: keep a copy. */
	memcpy(ec->pend[ec->npend], ev->data, ev->len);
	ec->pend_len[ec->npend++] = ev->len;
	ec->messages++;
	ec->bytes += ev->len;
	ret = flush(ec, ev->conn);
	if (ret && ret != -ENOTCONN) {
		fprintf(stderr, PROG ": send: %s\n", strerror(-ret));
		rring_conn_close(ev->conn);
	}
}

/* Every event of every connection, on the connection's owner IO thread. */
static void on_event(struct rring_io *io, const struct rring_event *ev,
		     void *arg)
{
	struct echo_conn *ec = ev->conn_ctx;

	(void)io;
	(void)arg;
	switch (ev->type) {
	case RRING_EVENT_ACCEPTED:
		if (client) { /* this example serves one client */
			rring_conn_close(ev->conn);
			return;
		}
		ec = calloc(1, sizeof(*ec));
		if (!ec) {
			rring_conn_close(ev->conn);
			return;
		}
		client = ec;
		/* From now on ev->conn_ctx of this connection is ec. */
		rring_conn_set_ctx(ev->conn, ec);
		break;
	case RRING_EVENT_RECV:
		on_recv(ec, ev);
		break;
	case RRING_EVENT_SEND_DONE:
		if (ev->status == 0 && ec->npend)
			flush(ec, ev->conn);
		break;
	case RRING_EVENT_CLOSED:
		/* The last event of a connection: its state may go now. A
		 * connection refused above has the listener's ctx (NULL). */
		if (ec && ec == client)
			ex_done_set(&done, ev->status);
		break;
	default:
		break;
	}
}

int main(int argc, char **argv)
{
	/* 64 KiB receive buffers: the smallest allowed, plenty for echoes. */
	const struct ex_param params[] = {{"rx-size", "65536"}};
	struct rring_engine *e;
	uint64_t port = 0;
	int ret;

	if (argc > 1 && ex_arg(PROG, "PORT", argv[1], 0, 65535, &port))
		return 2;
	ex_done_init(&done);
	e = ex_engine_start(PROG, params, 1, on_event);
	if (!e)
		return 1;
	ret = ex_listen(PROG, e, (uint16_t)port);
	if (ret > 0)
		ret = ex_done_wait(&done, 600);
	/* Stop closes every connection and joins the engine's threads; after
	 * it no event handler runs any more. */
	rring_engine_destroy(e);
	if (ret || !client) {
		fprintf(stderr, PROG ": no client, or it closed with %s\n",
			strerror(ret < 0 ? -ret : EIO));
		return 1;
	}
	printf(PROG ": echoed %llu messages, %llu bytes\n",
	       (unsigned long long)client->messages,
	       (unsigned long long)client->bytes);
	free(client);
	return 0;
}
