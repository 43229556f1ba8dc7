/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring: the RESP client role shared by rring-bench and rring-cli. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device_hint.h"
#include "rclient.h"

int rcl_rbuf_add(struct rcl_rbuf *rb, const void *data, size_t len)
{
	char *p;
	size_t cap;

	if (rb->off && rb->off == rb->len)
		rb->off = rb->len = 0;
	if (rb->len + len > rb->cap && rb->off) {
		memmove(rb->buf, rb->buf + rb->off, rb->len - rb->off);
		rb->len -= rb->off;
		rb->off = 0;
	}
	if (rb->len + len > rb->cap) {
		cap = rb->cap ? rb->cap : 4096;
		while (cap < rb->len + len)
			cap *= 2;
		p = realloc(rb->buf, cap);
		if (!p)
			return -ENOMEM;
		rb->buf = p;
		rb->cap = cap;
	}
	memcpy(rb->buf + rb->len, data, len);
	rb->len += len;
	return 0;
}

int rcl_rbuf_next(struct rcl_rbuf *rb, struct rdm_reply_info *ri,
		  const char **frame)
{
	int ret;

	if (rb->len == rb->off)
		return 0;
	ret = rdm_reply_scan(rb->buf + rb->off, rb->len - rb->off, ri);
	if (ret != 1)
		return ret;
	if (frame)
		*frame = rb->buf + rb->off;
	rb->off += ri->frame_len;
	return 1;
}

void rcl_rbuf_free(struct rcl_rbuf *rb)
{
	free(rb->buf);
	memset(rb, 0, sizeof(*rb));
}

/* Engine warnings held back (rcl_engine_opts.hold_warnings); the engine
 * logs from its own threads. */
static struct {
	pthread_mutex_t lock;
	bool on;
	char text[2048];
	size_t len;
} held = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void engine_log(int level, const char *msg, void *arg)
{
	char line[512];
	int n;

	if (level > 1)
		return;
	n = snprintf(line, sizeof(line), "%s: engine: %s\n",
		     (const char *)arg, msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = (int)sizeof(line) - 1;
	pthread_mutex_lock(&held.lock);
	/* errors always show; a warning that does not fit is dropped */
	if (!held.on || !level)
		fputs(line, stderr);
	else if (held.len + (size_t)n < sizeof(held.text)) {
		memcpy(held.text + held.len, line, (size_t)n);
		held.len += (size_t)n;
	}
	pthread_mutex_unlock(&held.lock);
}

void rcl_print_held(void)
{
	pthread_mutex_lock(&held.lock);
	fwrite(held.text, 1, held.len, stderr);
	held.len = 0;
	pthread_mutex_unlock(&held.lock);
}

static int set_params(struct rring_params *p, const struct rcl_engine_opts *o)
{
	char err[256], threads[16], rx[24], idle[16];
	/* a CQ per 32 connections of 2048 work requests (Valkey's 1024
	 * receives and 1024 sends); 65536 is softverbs' max_cqe */
	const char *kv[][2] = {
	    {"io-threads", threads},
	    {"rx-size", rx},
	    {"wire", "1"},
	    {"poller-cpu", "-2"},
	    {"poll-idle-us", idle},
	    {"cq-entries", "65536"},
	    {"io-threads-external", o->external ? "1" : "0"},
	};
	size_t i;
	int ret;

	snprintf(threads, sizeof(threads), "%u", o->threads);
	snprintf(rx, sizeof(rx), "%zu", o->rx_size);
	snprintf(idle, sizeof(idle), "%u", (unsigned int)o->poll_idle_us);
	rring_params_init(p);
	for (i = 0; i < sizeof(kv) / sizeof(kv[0]); i++) {
		ret = rring_params_set(p, kv[i][0], kv[i][1], err, sizeof(err));
		if (ret) {
			fprintf(stderr, "%s: %s\n", o->prog, err);
			return ret;
		}
	}
	return 0;
}

struct rring_engine *rcl_engine_start(
    const struct rcl_engine_opts *o,
    void (*event)(struct rring_io *io, const struct rring_event *ev, void *arg))
{
	struct rring_handlers h = {
	    .event = event, .log = engine_log, .arg = (void *)o->prog};
	struct rring_params p;
	struct rring_engine *e;
	int ret;

	if (set_params(&p, o))
		return NULL;
	held.on = o->hold_warnings;
	e = rring_engine_create(&p, &h);
	if (!e) {
		fprintf(stderr, "%s: cannot create the RDMA engine: %s\n",
			o->prog, strerror(errno));
		return NULL;
	}
	ret = rring_engine_start(e);
	if (ret) {
		fprintf(stderr, "%s: cannot start the RDMA engine: %s\n",
			o->prog, strerror(-ret));
		rring_device_hint(o->prog);
		rring_engine_destroy(e);
		return NULL;
	}
	return e;
}

void rcl_connect_error(const char *prog, const char *host, unsigned int port,
		       int err)
{
	rcl_print_held();
	fprintf(stderr, "%s: could not connect over RDMA to %s:%u: %s\n", prog,
		host, port, strerror(-err));
	if (err == -ECONNREFUSED || err == -ENODEV || err == -EHOSTUNREACH ||
	    err == -ENETUNREACH)
		fprintf(stderr,
			"%s: is the server's RDMA port (rdmaring.so's port=) "
			"this one? Without an RDMA NIC both sides need "
			"LD_PRELOAD=libsoftverbs.so\n",
			prog);
}
