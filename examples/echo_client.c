// SPDX-License-Identifier: BSD-3-Clause
/* rdmaring example: echo client, checks that every echo matches what it sent. */
/*
 * Usage: echo_client PORT [COUNT]   (COUNT messages, default 1000)
 *
 * Connects to 127.0.0.1:PORT, keeps WINDOW messages in flight, compares
 * each echo byte for byte with the message it sent, then closes. Prints
 * "echo_client: N messages echoed and verified" and exits 0 only if every
 * echo came back, in order and intact.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "example.h"

#define PROG "echo_client"
#define MAX_MSG 4096
#define WINDOW 4 /* messages sent and not yet echoed */

/* Touched only by the connection's owner IO thread after CONNECTED, and by
 * main only once the engine has stopped. */
struct client {
	uint64_t count;		/* messages to send */
	uint64_t sent, echoed;	/* next to send, next echo expected */
	uint64_t bytes;		/* verified echo bytes */
	int failed;
};

static struct ex_done done;

/* Message seq: its length and every byte follow from seq, so the echo can
 * be checked without keeping a copy. */
static uint32_t msg_len(uint64_t seq)
{
	return 1 + (uint32_t)(seq * 611) % MAX_MSG;
}

static unsigned char msg_byte(uint64_t seq, uint32_t i)
{
	return (unsigned char)(seq * 31 + i * 7 + (i >> 8));
}

static void fail(struct client *cl, struct rring_conn *conn, const char *why)
{
	fprintf(stderr, PROG ": message %llu: %s\n",
		(unsigned long long)cl->echoed, why);
	cl->failed = 1;
	rring_conn_close(conn); /* CLOSED follows and ends the run */
}

/* Send until WINDOW messages are in flight or all have been sent. */
static void send_more(struct client *cl, struct rring_conn *conn)
{
	unsigned char buf[MAX_MSG];
	uint32_t i, len;
	int ret;

	while (cl->sent < cl->count && cl->sent - cl->echoed < WINDOW) {
		len = msg_len(cl->sent);
		for (i = 0; i < len; i++)
			buf[i] = msg_byte(cl->sent, i);
		/* Copied by the engine: buf may be reused on return. */
		ret = rring_conn_send(conn, buf, len, cl->sent);
		if (ret == -EAGAIN)
			return; /* retried on this connection's next SEND_DONE */
		if (ret) {
			fail(cl, conn, strerror(-ret));
			return;
		}
		cl->sent++;
	}
}

static void check_echo(struct client *cl, const struct rring_event *ev)
{
	const unsigned char *p = ev->data;
	uint32_t i;

	if (ev->len != msg_len(cl->echoed)) {
		fail(cl, ev->conn, "echo has the wrong length");
		return;
	}
	for (i = 0; i < ev->len; i++)
		if (p[i] != msg_byte(cl->echoed, i)) {
			fail(cl, ev->conn, "echo differs from the message");
			return;
		}
	cl->bytes += ev->len;
	if (++cl->echoed == cl->count)
		rring_conn_close(ev->conn); /* all verified: done */
	else
		send_more(cl, ev->conn);
}

static void on_event(struct rring_io *io, const struct rring_event *ev,
		     void *arg)
{
	struct client *cl = ev->conn_ctx; /* the ctx given to rring_connect */

	(void)io;
	(void)arg;
	switch (ev->type) {
	case RRING_EVENT_CONNECTED:
		send_more(cl, ev->conn);
		break;
	case RRING_EVENT_RECV:
		if (!cl->failed)
			check_echo(cl, ev);
		break;
	case RRING_EVENT_SEND_DONE:
		if (ev->status == 0)
			send_more(cl, ev->conn);
		break;
	case RRING_EVENT_CLOSED:
		/* Also the outcome of a connect that failed (status). */
		ex_done_set(&done, ev->status ? ev->status
				   : cl->failed ? -EIO : 0);
		break;
	default:
		break;
	}
}

int main(int argc, char **argv)
{
	const struct ex_param params[] = {{"rx-size", "65536"}};
	struct client cl = {.count = 1000};
	struct rring_engine *e;
	uint64_t port;
	int ret;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: " PROG " PORT [COUNT]\n");
		return 2;
	}
	if (ex_arg(PROG, "PORT", argv[1], 1, 65535, &port) ||
	    (argc > 2 &&
	     ex_arg(PROG, "COUNT", argv[2], 1, UINT32_MAX, &cl.count)))
		return 2;
	ex_done_init(&done);
	e = ex_engine_start(PROG, params, 1, on_event);
	if (!e)
		return 1;
	/* The owner IO thread gets CONNECTED (or CLOSED with the error). */
	ret = rring_connect(e, "127.0.0.1", (uint16_t)port, &cl, NULL);
	if (ret == 0)
		ret = ex_done_wait(&done, 600);
	rring_engine_destroy(e);
	if (ret || cl.echoed != cl.count) {
		fprintf(stderr, PROG ": %llu of %llu messages verified (%s)\n",
			(unsigned long long)cl.echoed,
			(unsigned long long)cl.count,
			ret ? strerror(-ret) : "closed early");
		return 1;
	}
	printf(PROG ": %llu messages echoed and verified, %llu bytes\n",
	       (unsigned long long)cl.echoed, (unsigned long long)cl.bytes);
	return 0;
}
