// SPDX-License-Identifier: BSD-3-Clause
/* rdmaring example: an application's own event loop drives an IO thread. */
/*
 * Usage: embed_loop [COUNT]   (COUNT ping-pongs, default 200)
 *
 * With "io-threads-external" 1 the engine starts no IO threads: the
 * application's own thread becomes the IO thread by calling
 * rring_io_process before each wait, and waiting on rring_io_fd next to
 * its other file descriptors (here a 1 ms timerfd) in one epoll loop. Because that
 * thread is the owner of the IO thread's connections, it may call the data
 * path (rring_conn_send) from its own code too, not only from the event
 * callback: each timer tick sends the next ping.
 *
 * One engine talks to itself: it listens on a free port and connects to
 * it. The client side sends "ping N", the server side answers "pong N",
 * the client checks each answer. Prints "embed_loop: N ping-pongs
 * verified" and exits 0 only if all came back.
 */
#define _GNU_SOURCE /* timerfd, epoll */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "example.h"

#define PROG "embed_loop"

/* All of this belongs to the application thread (the IO thread): no
 * locks. main reads it only after joining that thread. */
struct side {
	struct rring_conn *conn;
	int closed;
};
static struct side server, client;
static unsigned int count, sent, answered;
static int failed;
static struct ex_done done;

static void on_event(struct rring_io *io, const struct rring_event *ev,
		     void *arg)
{
	struct side *s = ev->conn_ctx; /* the ctx of rring_listen/_connect */
	char want[32], reply[32];
	int n;

	(void)io;
	(void)arg;
	switch (ev->type) {
	case RRING_EVENT_ACCEPTED:
	case RRING_EVENT_CONNECTED:
		s->conn = ev->conn;
		break;
	case RRING_EVENT_RECV:
		if (s == &server) { /* answer "ping N" with "pong N" */
			n = snprintf(reply, sizeof(reply), "pong%.*s",
				     (int)(ev->len > 4 ? ev->len - 4 : 0),
				     (const char *)ev->data + 4);
			if (rring_conn_send(ev->conn, reply, (uint32_t)n, 0))
				failed = 1;
			break;
		}
		n = snprintf(want, sizeof(want), "pong %u", answered);
		if (ev->len != (uint32_t)n || memcmp(ev->data, want, ev->len))
			failed = 1;
		if (++answered == count || failed)
			rring_conn_close(ev->conn);
		break;
	case RRING_EVENT_CLOSED:
		s->closed = 1;
		/* Both ends of our own connection are gone: tell main. */
		if (server.closed && client.closed)
			ex_done_set(&done, failed ? -EIO : 0);
		break;
	default:
		break;
	}
}

/* The application's own work on its timer: one ping in flight at a time. */
static void on_tick(void)
{
	char ping[32];
	int n;

	if (!client.conn || client.closed || sent == count ||
	    sent != answered)
		return;
	n = snprintf(ping, sizeof(ping), "ping %u", sent);
	if (rring_conn_send(client.conn, ping, (uint32_t)n, sent) == 0)
		sent++;
}

/* The application thread: one epoll loop over its own timer and the IO
 * thread's fd, until the engine shuts the IO thread down. */
static void *app_loop(void *arg)
{
	struct rring_io *io = arg;
	struct itimerspec every_ms = {.it_interval.tv_nsec = 1000000,
				      .it_value.tv_nsec = 1000000};
	struct epoll_event ev = {.events = EPOLLIN}, got[2];
	int ep, tfd, n, i, ret;
	uint64_t ticks;

	ep = epoll_create1(EPOLL_CLOEXEC);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (ep < 0 || tfd < 0 || timerfd_settime(tfd, 0, &every_ms, NULL)) {
		perror(PROG ": epoll/timerfd");
		exit(1);
	}
	ev.data.fd = tfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev);
	ev.data.fd = rring_io_fd(io);
	epoll_ctl(ep, EPOLL_CTL_ADD, ev.data.fd, &ev);

	for (;;) {
		/* Runs on_event for up to 64 completions, and arms
		 * rring_io_fd: the poller signals the fd only for an IO
		 * thread that has said, in this call, that it will wait.
		 * So call it before every wait, whichever fd woke us; with
		 * work left over it leaves the fd readable and epoll
		 * returns at once. */
		ret = rring_io_process(io, 64);
		if (ret == -ESHUTDOWN)
			break;
		n = epoll_wait(ep, got, 2, -1);
		for (i = 0; i < n; i++)
			if (got[i].data.fd == tfd &&
			    read(tfd, &ticks, sizeof(ticks)) > 0)
				on_tick();
	}
	close(tfd);
	close(ep);
	return NULL;
}

int main(int argc, char **argv)
{
	const struct ex_param params[] = {{"io-threads", "1"},
					  {"io-threads-external", "1"},
					  {"rx-size", "65536"}};
	struct rring_engine *e;
	uint64_t n = 200;
	pthread_t app;
	int port, ret;

	if (argc > 2 ||
	    (argc > 1 && ex_arg(PROG, "COUNT", argv[1], 1, 1000000, &n))) {
		fprintf(stderr, "usage: " PROG " [COUNT]\n");
		return 2;
	}
	count = (unsigned int)n;
	ex_done_init(&done);
	e = ex_engine_start(PROG, params, 3, on_event);
	if (!e)
		return 1;
	if (pthread_create(&app, NULL, app_loop, rring_engine_io(e, 0))) {
		rring_engine_destroy(e);
		return 1;
	}
	port = rring_listen(e, "127.0.0.1", 0, &server);
	ret = port < 0 ? port
		       : rring_connect(e, "127.0.0.1", (uint16_t)port,
				       &client, NULL);
	if (ret == 0)
		ret = ex_done_wait(&done, 600);
	/* The closes of a stop need the owner's acknowledgement, so the
	 * application thread keeps processing until rring_io_process says
	 * -ESHUTDOWN; only then is it joined. */
	rring_engine_stop(e);
	pthread_join(app, NULL);
	rring_engine_destroy(e);
	if (ret || answered != count) {
		fprintf(stderr, PROG ": %u of %u ping-pongs verified (%s)\n",
			answered, count, ret ? strerror(-ret) : "closed early");
		return 1;
	}
	printf(PROG ": %u ping-pongs verified\n", answered);
	return 0;
}
