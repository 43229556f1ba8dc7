/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring tests: pipeline N SETs over RDMA and close once they are sent. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rdmaring.h>

#include "rclient.h"

/*
 * rdma_burst HOST PORT N [AUTH PASSWORD] [BAD M] [MOVE NAME]: sends
 * "SET burst:i v" for i in [0, N) as one pipeline (after "AUTH PASSWORD";
 * with a protocol error after the first M SETs; after "CLIENT SETNAME
 * NAME", which moves the client to a server client), never reads a
 * reply, and closes as soon as the
 * last send completed (the bytes are in the server's buffer): the client
 * the module must not lose commands from. Exits 0 once closed, 1 on an
 * error or after a bounded wait.
 */

#define PROG "rdma_burst"
#define CHUNK 16384u
#define WAIT_MS 60000

static struct {
	struct rring_io *io;
	struct rring_conn *conn;
	int state; /* 0 connecting, 1 up, 2 closed */
	int status;
	unsigned int sends;
} C;

static void on_event(struct rring_io *io, const struct rring_event *ev,
		     void *arg)
{
	(void)io;
	(void)arg;
	switch (ev->type) {
	case RRING_EVENT_CONNECTED:
		C.conn = ev->conn;
		C.state = 1;
		break;
	case RRING_EVENT_RECV: /* replies are never read */
		rring_conn_consume(ev->conn, ev->len);
		break;
	case RRING_EVENT_SEND_DONE:
		C.sends--;
		break;
	case RRING_EVENT_CLOSED:
		C.state = 2;
		C.status = ev->status;
		C.conn = NULL;
		break;
	default:
		break;
	}
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Handle completions; wait on the IO thread's fd when there are none. */
static int pump(long long deadline)
{
	struct pollfd pfd = {.fd = rring_io_fd(C.io), .events = POLLIN};

	if (now_ms() > deadline)
		return -ETIMEDOUT;
	if (rring_io_process(C.io, 256) <= 0)
		poll(&pfd, 1, 100);
	return 0;
}

struct out {
	char *buf;
	size_t len, cap;
};

static int put(struct out *o, const char *data, size_t len)
{
	if (o->len + len > o->cap) {
		char *nb = realloc(o->buf, o->cap = (o->len + len) * 2);

		if (!nb)
			return -ENOMEM;
		o->buf = nb;
	}
	memcpy(o->buf + o->len, data, len);
	o->len += len;
	return 0;
}

static int put_cmd(struct out *o, int argc, const char *const *argv)
{
	size_t lens[3], len, i;
	char cmd[160];

	for (i = 0; i < (size_t)argc; i++)
		lens[i] = strlen(argv[i]);
	len = rdm_cmd_encode(NULL, argc, argv, lens);
	if (len > sizeof(cmd))
		return -EMSGSIZE;
	rdm_cmd_encode(cmd, argc, argv, lens);
	return put(o, cmd, len);
}

/* The pipeline, RESP encoded back to back; bad < 0: no protocol error. */
static int pipeline(struct out *o, long n, const char *pass, long bad,
		    const char *name)
{
	/* Redis: "Protocol error: expected '$', got '+'" */
	static const char garbage[] = "*1\r\n+x\r\n";
	const char *auth[2] = {"AUTH", pass};
	char key[32];
	const char *set[3] = {"SET", key, "v"};
	const char *setname[3] = {"CLIENT", "SETNAME", name};
	int ret = pass ? put_cmd(o, 2, auth) : 0;
	long i;

	if (!ret && name)
		ret = put_cmd(o, 3, setname);
	for (i = 0; !ret && i < n; i++) {
		if (i == bad)
			ret = put(o, garbage, sizeof(garbage) - 1);
		snprintf(key, sizeof(key), "burst:%ld", i);
		if (!ret)
			ret = put_cmd(o, 3, set);
	}
	return ret;
}

static int send_all(const char *buf, size_t len, long long deadline)
{
	size_t off = 0, n;
	int ret;

	while (off < len) {
		if (C.state != 1)
			return -ECONNRESET;
		n = len - off < CHUNK ? len - off : CHUNK;
		ret = rring_conn_send(C.conn, buf + off, (uint32_t)n, 0);
		if (ret == -EAGAIN)
			ret = pump(deadline);
		else if (!ret) {
			off += n;
			C.sends++;
		}
		if (ret && ret != -EAGAIN)
			return ret;
	}
	while (C.sends && C.state == 1)
		if (pump(deadline))
			return -ETIMEDOUT;
	return C.state == 1 ? 0 : -ECONNRESET;
}

int main(int argc, char **argv)
{
	struct rcl_engine_opts eo = {.prog = PROG,
				     .threads = 1,
				     .rx_size = RRING_DEFAULT_RX_SIZE,
				     .external = true};
	long long deadline = now_ms() + WAIT_MS;
	struct rring_engine *e = NULL;
	struct out o = {0};
	const char *pass = NULL, *name = NULL;
	long n = argc >= 4 ? strtol(argv[3], NULL, 10) : 0, bad = -1;
	int i, ret;

	for (i = 4; i + 1 < argc; i += 2)
		if (!strcmp(argv[i], "AUTH"))
			pass = argv[i + 1];
		else if (!strcmp(argv[i], "BAD"))
			bad = strtol(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "MOVE"))
			name = argv[i + 1];
		else
			break;
	if (n < 1 || i != argc) {
		fprintf(stderr,
			"usage: %s HOST PORT N [AUTH PASSWORD] [BAD M] "
			"[MOVE NAME] (N >= 1)\n",
			PROG);
		return 1;
	}
	ret = pipeline(&o, n, pass, bad, name);
	if (ret)
		fprintf(stderr, "%s: %s\n", PROG, strerror(-ret));
	else
		e = rcl_engine_start(&eo, on_event);
	if (!e) {
		free(o.buf);
		return 1;
	}
	C.io = rring_engine_io(e, 0);
	ret = rring_connect(e, argv[1], (uint16_t)atoi(argv[2]), NULL, NULL);
	while (!ret && !C.state)
		ret = pump(deadline);
	if (!ret)
		ret = send_all(o.buf, o.len, deadline);
	if (ret)
		fprintf(stderr, "%s: %s\n", PROG, strerror(-ret));
	/* at once: the replies the server still has are never read */
	if (C.conn)
		rring_conn_close(C.conn);
	while (C.state == 1 && !pump(deadline))
		;
	if (C.state == 2) /* else the engine still needs this thread */
		rring_engine_destroy(e);
	free(o.buf);
	printf("%s: %zu bytes of %ld SETs sent, closed\n", PROG, o.len, n);
	return ret || C.state != 2;
}
