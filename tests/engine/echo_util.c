// SPDX-License-Identifier: BSD-3-Clause
/* rdmaring tests: echo server and checking client over two engines. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "echo_util.h"

/* Message: u32 idx, u32 seq, u32 len, u32 pad, then pattern bytes. */
struct echo_hdr {
	uint32_t idx, seq, len, pad;
};

static uint32_t msg_len(int idx, uint32_t seq)
{
	return sizeof(struct echo_hdr) +
	       ((uint32_t)idx * 7u + seq * 13u) %
		   (ECHO_MAX_MSG - sizeof(struct echo_hdr) + 1);
}

static unsigned char pattern(int idx, uint32_t seq, uint32_t i)
{
	return (unsigned char)((uint32_t)idx * 131u + seq * 31u + i * 7u);
}

void echo_counters_init(struct echo_counters *c)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
}

void echo_bump(struct echo_counters *c, atomic_int *v)
{
	pthread_mutex_lock(&c->lock);
	atomic_fetch_add(v, 1);
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

void echo_fail(struct echo_counters *c, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&c->lock);
	if (!atomic_load(&c->errors)) {
		va_start(ap, fmt);
		vsnprintf(c->first_error, sizeof(c->first_error), fmt, ap);
		va_end(ap);
	}
	atomic_fetch_add(&c->errors, 1);
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

int echo_wait(struct echo_counters *c, atomic_int *v, int want, int ms)
{
	struct timespec dl;
	int now;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += ms / 1000;
	dl.tv_nsec += (long)(ms % 1000) * 1000000;
	if (dl.tv_nsec >= 1000000000) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&c->lock);
	while ((now = atomic_load(v)) < want && !atomic_load(&c->errors))
		if (pthread_cond_timedwait(&c->cond, &c->lock, &dl) ==
		    ETIMEDOUT)
			break;
	now = atomic_load(v);
	pthread_mutex_unlock(&c->lock);
	return now;
}

/* ---- Client ------------------------------------------------------------- */

static int client_send_next(struct echo_client *cl)
{
	unsigned char buf[ECHO_MAX_MSG];
	struct echo_hdr *h = (struct echo_hdr *)buf;
	uint32_t i, len = msg_len(cl->idx, cl->next_send);
	int ret;

	h->idx = (uint32_t)cl->idx;
	h->seq = cl->next_send;
	h->len = len;
	h->pad = 0;
	for (i = sizeof(*h); i < len; i++)
		buf[i] = pattern(cl->idx, cl->next_send, i);
	ret = rring_conn_send(cl->conn, buf, len, cl->next_send);
	if (ret == -EAGAIN) {
		cl->blocked = 1;
		return 0;
	}
	if (ret) {
		echo_fail(cl->cnt, "client %d: send: %s", cl->idx,
			  strerror(-ret));
		return ret;
	}
	cl->next_send++;
	return 0;
}

static void client_fill(struct echo_client *cl)
{
	if (cl->closing)
		return;
	cl->blocked = 0;
	while (!cl->blocked && cl->next_send < cl->total &&
	       cl->next_send - cl->next_recv <
		   ECHO_WINDOW)
		if (client_send_next(cl))
			return;
}

static void client_check(struct echo_client *cl, const struct rring_event *ev)
{
	const unsigned char *p = ev->data;
	struct echo_hdr h;
	uint32_t i;

	if (ev->len < sizeof(h)) {
		echo_fail(cl->cnt, "client %d: short message %u", cl->idx,
			  ev->len);
		return;
	}
	memcpy(&h, p, sizeof(h));
	if (h.idx != (uint32_t)cl->idx || h.seq != cl->next_recv ||
	    h.len != ev->len || h.len != msg_len(cl->idx, h.seq)) {
		echo_fail(cl->cnt,
			  "client %d: got idx %u seq %u len %u (event len %u), "
			  "want seq %u",
			  cl->idx, h.idx, h.seq, h.len, ev->len, cl->next_recv);
		return;
	}
	for (i = sizeof(h); i < h.len; i++)
		if (p[i] != pattern(cl->idx, h.seq, i)) {
			echo_fail(cl->cnt, "client %d seq %u: byte %u corrupt",
				  cl->idx, h.seq, i);
			return;
		}
	cl->next_recv++;
	atomic_fetch_add(&cl->cnt->bytes, h.len);
}

void echo_client_event(struct rring_io *io, const struct rring_event *ev,
		       void *arg)
{
	struct echo_client *cl = ev->conn_ctx;

	(void)io;
	(void)arg;
	if (cl->closed) {
		echo_fail(cl->cnt, "client %d: event %d after CLOSED", cl->idx,
			  ev->type);
		return;
	}
	switch (ev->type) {
	case RRING_EVENT_CONNECTED:
		cl->conn = ev->conn;
		cl->established = 1;
		echo_bump(cl->cnt, &cl->cnt->connected);
		client_fill(cl);
		break;
	case RRING_EVENT_RECV:
		client_check(cl, ev);
		if (cl->close_after >= 0 &&
		    cl->next_recv == (uint32_t)cl->close_after) {
			cl->closing = 1;
			if (rring_conn_close(ev->conn))
				echo_fail(cl->cnt, "client %d: close failed",
					  cl->idx);
			/* Closed locally: sending now is refused. */
			if (rring_conn_send(ev->conn, "x", 1, 0) != -ENOTCONN)
				echo_fail(cl->cnt,
					  "client %d: send after "
					  "close not refused",
					  cl->idx);
			break;
		}
		if (cl->next_recv == cl->total)
			echo_bump(cl->cnt, &cl->cnt->done);
		client_fill(cl);
		break;
	case RRING_EVENT_SEND_DONE:
		if (ev->status == 0 && cl->blocked)
			client_fill(cl);
		break;
	case RRING_EVENT_CLOSED:
		cl->closed = 1;
		cl->close_status = ev->status;
		atomic_fetch_add(&cl->cnt->client_closed, 1);
		echo_bump(cl->cnt, &cl->cnt->closed);
		break;
	default:
		echo_fail(cl->cnt, "client %d: unexpected event %d", cl->idx,
			  ev->type);
	}
}

/* ---- Server ------------------------------------------------------------- */

static void server_flush(struct echo_server_conn *sc, struct rring_conn *c)
{
	uint32_t i = 0;
	int ret;

	while (i < sc->npend) {
		ret = rring_conn_send(c, sc->pend[i], sc->pend_len[i], 0);
		if (ret == -EAGAIN)
			break;
		if (ret && ret != -ENOTCONN)
			echo_fail(sc->cnt, "server: send: %s", strerror(-ret));
		i++;
	}
	memmove(sc->pend_len, sc->pend_len + i,
		(sc->npend - i) * sizeof(sc->pend_len[0]));
	memmove(sc->pend, sc->pend + i, (sc->npend - i) * ECHO_MAX_MSG);
	sc->npend -= i;
}

static void server_recv(struct echo_server_conn *sc,
			const struct rring_event *ev)
{
	if (ev->len > ECHO_MAX_MSG || sc->npend == ECHO_PENDING) {
		echo_fail(sc->cnt, "server: message %u / backlog %u", ev->len,
			  sc->npend);
		return;
	}
	memcpy(sc->pend[sc->npend], ev->data, ev->len);
	sc->pend_len[sc->npend++] = ev->len;
	sc->received++;
	server_flush(sc, ev->conn);
	if (sc->close_after >= 0 && sc->received == (uint32_t)sc->close_after)
		rring_conn_close(ev->conn);
}

void echo_server_event(struct rring_io *io, const struct rring_event *ev,
		       void *arg)
{
	struct echo_server *s = arg;
	struct echo_server_conn *sc = ev->conn_ctx;

	(void)io;
	if (ev->type == RRING_EVENT_ACCEPTED) {
		sc = calloc(1, sizeof(*sc));
		sc->cnt = s->cnt;
		sc->close_after = s->close_after;
		pthread_mutex_lock(&s->lock);
		sc->next_all = s->all;
		s->all = sc;
		pthread_mutex_unlock(&s->lock);
		rring_conn_set_ctx(ev->conn, sc);
		echo_bump(s->cnt, &s->cnt->accepted);
		return;
	}
	if (!sc || sc == (void *)s) {
		/* CLOSED of a connection never accepted (listener ctx). */
		if (ev->type != RRING_EVENT_CLOSED)
			echo_fail(s->cnt, "server: event %d without state",
				  ev->type);
		return;
	}
	if (sc->closed) {
		echo_fail(s->cnt, "server: event %d after CLOSED", ev->type);
		return;
	}
	switch (ev->type) {
	case RRING_EVENT_RECV:
		server_recv(sc, ev);
		break;
	case RRING_EVENT_SEND_DONE:
		if (ev->status == 0)
			server_flush(sc, ev->conn);
		break;
	case RRING_EVENT_CLOSED:
		sc->closed = 1;
		echo_bump(s->cnt, &s->cnt->closed);
		break;
	default:
		echo_fail(s->cnt, "server: unexpected event %d", ev->type);
	}
}

void echo_server_free(struct echo_server *s)
{
	struct echo_server_conn *sc, *next;

	for (sc = s->all; sc; sc = next) {
		next = sc->next_all;
		free(sc);
	}
	s->all = NULL;
}

void echo_server_init(struct echo_server *s, struct echo_counters *cnt,
		      int close_after)
{
	echo_counters_init(cnt);
	memset(s, 0, sizeof(*s));
	s->cnt = cnt;
	s->close_after = close_after;
	pthread_mutex_init(&s->lock, NULL);
}

void echo_client_init(struct echo_client *cl, struct echo_counters *cnt,
		      int idx, uint32_t total, int close_after)
{
	memset(cl, 0, sizeof(*cl));
	cl->cnt = cnt;
	cl->idx = idx;
	cl->total = total;
	cl->close_after = close_after;
}

struct rring_engine *echo_wire_engine(void (*fn)(struct rring_io *,
						 const struct rring_event *,
						 void *),
				      int external)
{
	struct rring_params p;

	echo_params(&p, 1);
	p.wire = 1;
	p.io_external = (uint32_t)external;
	return echo_engine(&p, fn);
}

int echo_listen_connect(struct rring_engine *srv, struct rring_engine *cli,
			int n, void *const *ctx)
{
	int port = rring_listen(srv, "127.0.0.1", 0, NULL), i, ret;

	if (port <= 0)
		return port ? port : -EINVAL;
	for (i = 0; i < n; i++) {
		ret = rring_connect(cli, "127.0.0.1", (uint16_t)port,
				    ctx ? ctx[i] : NULL, NULL);
		if (ret)
			return ret;
	}
	return 0;
}

struct rring_engine *echo_engine(const struct rring_params *p,
				 void (*fn)(struct rring_io *,
					    const struct rring_event *, void *))
{
	struct rring_handlers h = {.event = fn};
	struct rring_engine *e = rring_engine_create(p, &h);

	if (e && rring_engine_start(e)) {
		rring_engine_destroy(e);
		return NULL;
	}
	return e;
}

void echo_params(struct rring_params *p, unsigned int io_threads)
{
	char err[128];

	rring_params_init(p);
	p->io_threads = io_threads;
	p->rx_size = RRING_DEFAULT_RX_SIZE_MIN;
	p->msg_depth = 4;
	p->poll_idle_us = 20;
	p->ring_entries = 1024;
	p->cq_entries = 4096;
	rring_params_set(p, "poller-cpu", "none", err, sizeof(err));
	rring_params_set(p, "io-thread-cpus", "none", err, sizeof(err));
}

double echo_engine_cpu_seconds(void)
{
	unsigned long long ticks = 0;
	struct dirent *d;
	DIR *dir = opendir("/proc/self/task");
	char path[300], buf[1024], comm[64];

	if (!dir)
		return -1;
	while ((d = readdir(dir))) {
		unsigned long ut, st;
		char *rp;
		FILE *f;

		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm",
			 d->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (!fgets(comm, sizeof(comm), f))
			comm[0] = '\0';
		fclose(f);
		if (strncmp(comm, "rring-", 6) != 0)
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/stat",
			 d->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(buf, sizeof(buf), f) && (rp = strrchr(buf, ')')) &&
		    sscanf(
			rp + 2,
			"%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
			&ut, &st) == 2)
			ticks += ut + st;
		fclose(f);
	}
	closedir(dir);
	return (double)ticks / (double)sysconf(_SC_CLK_TCK);
}
