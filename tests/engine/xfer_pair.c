// SPDX-License-Identifier: BSD-3-Clause
/* rdmaring tests: two engines over the wire layer moving checked messages. */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "rdmaring.h"
#include "test_support.h"
#include "xfer_pair.h"

struct xp_shared {
	const struct xp_opts *o;
	atomic_ullong messages, verified, corrupt, bytes;
	atomic_ullong send_done, send_failed;
	atomic_int connected, accepted, errors;
	char first_error[200];
	atomic_int err_once;
	atomic_ullong t_first, t_last; /* first RECV, last message end */
	atomic_int finished;	       /* senders done or closed */
	atomic_ullong *recv_msgs;      /* per sender: complete and correct */
};

struct xp_sender {
	struct xp_shared *sh;
	unsigned int idx;
	struct rring_conn *conn;
	uint64_t total, next, done;
	unsigned int inflight;
	int closed, failed_seen;
	unsigned char *buf[XP_BUFS];
};

struct xp_receiver {
	struct xp_shared *sh;
	uint64_t m;	/* message being received */
	uint32_t off;	/* bytes of it seen */
	int64_t sender; /* -1 until the first header */
	uint64_t hdr;	/* header bytes so far */
	int bad;	/* this message has a wrong byte */
	unsigned int rnd;
};

static void xp_fail(struct xp_shared *sh, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void xp_fail(struct xp_shared *sh, const char *fmt, ...)
{
	va_list ap;

	atomic_fetch_add(&sh->errors, 1);
	if (atomic_exchange(&sh->err_once, 1))
		return;
	va_start(ap, fmt);
	vsnprintf(sh->first_error, sizeof(sh->first_error), fmt, ap);
	va_end(ap);
}

#define XP_STEP 0x9E3779B97F4A7C15ull /* odd: 2^64 distinct words */

/* Word k of buffer b of a sender: seed + k * XP_STEP, so that the checker
 * walks it with one addition per word (check_words). */
static uint64_t pattern(uint64_t sender, unsigned int b, uint64_t k)
{
	uint64_t seed = (sender + 1) * 0xBF58476D1CE4E5B9ull ^
			(uint64_t)(b + 1) * 0x94D049BB133111EBull;

	return seed + k * XP_STEP;
}

typedef uint64_t xp_v2 __attribute__((vector_size(16)));

/* OR of (word ^ expected) over nw words from p, expected = first, first +
 * XP_STEP, ...: 0 iff all match. Two 2-lane vectors (SSE2 registers on
 * x86-64, unaligned loads) per 32 bytes: the check runs at memory speed. */
static uint64_t check_words(const unsigned char *p, size_t nw, uint64_t first)
{
	const xp_v2 step = {4 * XP_STEP, 4 * XP_STEP};
	xp_v2 e0 = {first, first + XP_STEP};
	xp_v2 e1 = {first + 2 * XP_STEP, first + 3 * XP_STEP};
	xp_v2 a0 = {0, 0}, a1 = {0, 0}, w0, w1;
	uint64_t diff, e, x;
	size_t i;

	for (i = 0; i + 4 <= nw; i += 4) {
		memcpy(&w0, p + 8 * i, sizeof(w0));
		memcpy(&w1, p + 8 * i + 16, sizeof(w1));
		a0 |= w0 ^ e0;
		a1 |= w1 ^ e1;
		e0 += step;
		e1 += step;
	}
	a0 |= a1;
	diff = a0[0] | a0[1];
	for (e = first + i * XP_STEP; i < nw; i++, e += XP_STEP) {
		memcpy(&x, p + 8 * i, 8);
		diff |= x ^ e;
	}
	return diff;
}

/* ---- Sender (client engine) --------------------------------------------- */

static void send_more(struct xp_sender *s)
{
	const struct xp_opts *o = s->sh->o;
	struct iovec iov;
	uint64_t hdr;
	unsigned char *b;
	int ret;

	while (s->next < s->total && s->inflight < XP_BUFS) {
		b = s->buf[s->next % XP_BUFS];
		hdr = (uint64_t)s->idx << 40 | s->next;
		memcpy(b, &hdr, sizeof(hdr));
		iov.iov_base = b;
		iov.iov_len = o->size;
		ret = rring_conn_sendv(s->conn, &iov, 1, s->next);
		if (ret == -EAGAIN)
			return; /* retried on the next SEND_DONE */
		if (ret) {
			xp_fail(s->sh, "sender %u: sendv: %s", s->idx,
				strerror(-ret));
			return;
		}
		s->next++;
		s->inflight++;
	}
}

static void client_event(struct rring_io *io, const struct rring_event *ev,
			 void *arg)
{
	struct xp_sender *s = ev->conn_ctx;

	(void)io;
	(void)arg;
	if (s->closed)
		xp_fail(s->sh, "sender %u: event %d after CLOSED", s->idx,
			ev->type);
	switch (ev->type) {
	case RRING_EVENT_CONNECTED:
		s->conn = ev->conn;
		atomic_fetch_add(&s->sh->connected, 1);
		send_more(s);
		break;
	case RRING_EVENT_SEND_DONE:
		s->inflight--;
		if (ev->status) {
			atomic_fetch_add(&s->sh->send_failed, 1);
			s->failed_seen = 1;
			break;
		}
		if (s->failed_seen)
			xp_fail(s->sh, "sender %u: success after a failure",
				s->idx);
		if (ev->tag != s->done || ev->len != s->sh->o->size)
			xp_fail(s->sh, "sender %u: SEND_DONE tag %llu len %u",
				s->idx, (unsigned long long)ev->tag, ev->len);
		s->done++;
		atomic_fetch_add(&s->sh->send_done, 1);
		if (s->done == s->total)
			atomic_fetch_add(&s->sh->finished, 1);
		send_more(s);
		break;
	case RRING_EVENT_RECV:
		xp_fail(s->sh, "sender %u: unexpected RECV", s->idx);
		break;
	case RRING_EVENT_CLOSED:
		if (s->inflight)
			xp_fail(s->sh, "sender %u: CLOSED with %u unreported",
				s->idx, s->inflight);
		if (s->done < s->total && !s->sh->o->faults)
			xp_fail(s->sh, "sender %u: closed (%d) after %llu",
				s->idx, ev->status,
				(unsigned long long)s->done);
		if (s->done < s->total)
			atomic_fetch_add(&s->sh->finished, 1);
		s->conn = NULL;
		s->closed = 1;
		break;
	default:
		break;
	}
}

/* ---- Receiver (server engine) ------------------------------------------- */

static void check_header(struct xp_receiver *r)
{
	uint64_t m = r->hdr & ((1ull << 40) - 1);

	if (r->sender < 0)
		r->sender = (int64_t)(r->hdr >> 40);
	if (m != r->m || (int64_t)(r->hdr >> 40) != r->sender)
		r->bad = 1;
}

static void check_bytes(struct xp_receiver *r, const unsigned char *p,
			uint32_t n)
{
	unsigned int b = (unsigned int)(r->m % XP_BUFS);
	uint64_t w, k;

	while (n && r->off % 8) {
		k = r->off / 8;
		w = pattern((uint64_t)r->sender, b, k);
		if (*p != (unsigned char)(w >> (8 * (r->off % 8))))
			r->bad = 1;
		p++, n--, r->off++;
	}
	if (n >= 8) {
		k = n / 8;
		if (check_words(p, k,
				pattern((uint64_t)r->sender, b, r->off / 8)))
			r->bad = 1;
		p += 8 * k, n -= 8 * (uint32_t)k, r->off += 8 * (uint32_t)k;
	}
	while (n) {
		w = pattern((uint64_t)r->sender, b, r->off / 8);
		if (*p != (unsigned char)(w >> (8 * (r->off % 8))))
			r->bad = 1;
		p++, n--, r->off++;
	}
}

static void end_message(struct xp_receiver *r)
{
	struct xp_shared *sh = r->sh;

	atomic_store(&sh->t_last, ts_now_ns());
	atomic_fetch_add(&sh->messages, 1);
	if (r->bad) {
		atomic_fetch_add(&sh->corrupt, 1);
		xp_fail(sh, "sender %lld message %llu corrupt",
			(long long)r->sender, (unsigned long long)r->m);
	} else {
		if (sh->o->verify)
			atomic_fetch_add(&sh->verified, 1);
		if (r->sender >= 0 && r->sender < (int64_t)sh->o->conns)
			atomic_fetch_add(&sh->recv_msgs[r->sender], 1);
	}
	r->m++;
	r->off = 0;
	r->hdr = 0;
	r->bad = 0;
}

/* Walk [p, p + n) of the stream: headers, payload, message ends. */
static void on_stream(struct xp_receiver *r, const unsigned char *p, uint32_t n)
{
	uint32_t size = r->sh->o->size, take;

	while (n) {
		if (r->off < 8) {
			r->hdr |= (uint64_t)*p << (8 * r->off);
			p++, n--, r->off++;
			if (r->off == 8)
				check_header(r);
		} else {
			take = size - r->off < n ? size - r->off : n;
			if (r->sh->o->verify)
				check_bytes(r, p, take);
			else
				r->off += take;
			p += take, n -= take;
		}
		if (r->off == size)
			end_message(r);
	}
}

static void server_recv(struct xp_receiver *r, const struct rring_event *ev)
{
	const struct xp_opts *o = r->sh->o;
	int ret;

	if (o->slow_pct && (unsigned int)rand_r(&r->rnd) % 100 < o->slow_pct)
		usleep(200 + (unsigned int)rand_r(&r->rnd) % 1000);
	if (!atomic_load_explicit(&r->sh->t_first, memory_order_relaxed)) {
		unsigned long long zero = 0;

		atomic_compare_exchange_strong(&r->sh->t_first, &zero,
					       ts_now_ns());
	}
	on_stream(r, ev->data, ev->len);
	atomic_fetch_add(&r->sh->bytes, ev->len);
	ret = rring_conn_consume(ev->conn, ev->len);
	if (ret)
		xp_fail(r->sh, "consume: %s", strerror(-ret));
}

static void server_event(struct rring_io *io, const struct rring_event *ev,
			 void *arg)
{
	struct xp_shared *sh = arg;
	struct xp_receiver *r = ev->conn_ctx;

	(void)io;
	switch (ev->type) {
	case RRING_EVENT_ACCEPTED:
		r = calloc(1, sizeof(*r));
		if (!r) {
			xp_fail(sh, "out of memory");
			rring_conn_close(ev->conn);
			return;
		}
		r->sh = sh;
		r->sender = -1;
		r->rnd = (unsigned int)rring_conn_id(ev->conn);
		rring_conn_set_ctx(ev->conn, r);
		atomic_fetch_add(&sh->accepted, 1);
		break;
	case RRING_EVENT_RECV:
		server_recv(r, ev);
		break;
	case RRING_EVENT_CLOSED:
		free(r);
		break;
	default:
		break;
	}
}

/* ---- Setup -------------------------------------------------------------- */

static struct rring_engine *make_engine(const struct xp_opts *o,
					struct rring_handlers *h)
{
	struct rring_params p;
	uint32_t cqe = o->conns * 2048u;
	struct rring_engine *e;

	rring_params_init(&p);
	p.io_threads = o->io_threads;
	p.wire = 1;
	p.rx_size = o->rx_size;
	/* Within what devices allow (softverbs 65536): more connections
	 * share a pool of CQs. */
	p.cq_entries = cqe < 8192 ? 8192 : cqe > 65536 ? 65536 : cqe;
	if (o->ring_entries)
		p.ring_entries = o->ring_entries;
	if (o->poll_idle_us >= 0)
		p.poll_idle_us = (uint32_t)o->poll_idle_us;
	p.poller_cpu = RRING_CPU_NONE;
	p.io_cpus_mode = RRING_IO_CPUS_NONE;
	e = rring_engine_create(&p, h);
	if (e && rring_engine_start(e)) {
		rring_engine_destroy(e);
		return NULL;
	}
	return e;
}

static int alloc_senders(const struct xp_opts *o, struct xp_shared *sh,
			 struct xp_sender *snd)
{
	unsigned int i, b;
	uint64_t k;

	for (i = 0; i < o->conns; i++) {
		snd[i].sh = sh;
		snd[i].idx = i;
		snd[i].total = o->count / o->conns + (i < o->count % o->conns);
		for (b = 0; b < XP_BUFS; b++) {
			if (posix_memalign((void **)&snd[i].buf[b], 4096,
					   o->size))
				return -ENOMEM;
			for (k = 1; k < o->size / 8; k++) {
				uint64_t w = pattern(i, b, k);

				memcpy(snd[i].buf[b] + 8 * k, &w, 8);
			}
			for (k = o->size / 8 * 8; k < o->size; k++)
				snd[i].buf[b][k] =
				    (unsigned char)(pattern(i, b, k / 8) >>
						    (8 * (k % 8)));
		}
	}
	return 0;
}

static void wait_done(const struct xp_opts *o, struct xp_shared *sh,
		      struct xp_result *r, uint64_t t0)
{
	uint64_t deadline = t0 + (uint64_t)o->timeout_ms * 1000000ull;
	uint64_t last = t0, now;
	struct timespec ts = {0, 1000000};

	for (;;) {
		now = ts_now_ns();
		if (atomic_load(&sh->messages) >= o->count &&
		    atomic_load(&sh->send_done) >= o->count)
			break;
		if (o->faults && atomic_load(&sh->finished) >= (int)o->conns)
			break;
		if (now > deadline) {
			r->err = -ETIMEDOUT;
			break;
		}
		if (o->progress && now - last > 1000000000ull) {
			last = now;
			fprintf(stderr, "  %llu/%llu messages, %.1f MB/s\n",
				(unsigned long long)atomic_load(&sh->messages),
				(unsigned long long)o->count,
				(double)atomic_load(&sh->bytes) /
				    ((double)(now - t0) / 1e9) / 1e6);
		}
		nanosleep(&ts, NULL);
	}
	r->secs = (double)(ts_now_ns() - t0) / 1e9;
	if (!r->err && atomic_load(&sh->t_last) > atomic_load(&sh->t_first))
		r->secs = (double)(atomic_load(&sh->t_last) -
				   atomic_load(&sh->t_first)) /
			  1e9;
}

static uint64_t overflow_count(struct rring_engine *e)
{
	struct rring_stats *st = calloc(1, sizeof(*st));
	uint64_t n = 0;
	unsigned int i;

	if (st && !rring_engine_stats(e, st))
		for (i = 0; i < st->n_io; i++)
			n += st->io[i].overflow;
	free(st);
	return n;
}

/* CPU share of the whole process over ms (after a short settle). */
static double idle_cpu(unsigned int ms)
{
	struct timespec settle = {0, 100000000};
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
	double c0, t0;

	nanosleep(&settle, NULL);
	c0 = xp_cpu_seconds();
	t0 = (double)ts_now_ns() / 1e9;
	nanosleep(&ts, NULL);
	return (xp_cpu_seconds() - c0) / ((double)ts_now_ns() / 1e9 - t0);
}

int xp_run(const struct xp_opts *o, struct xp_result *r)
{
	struct rring_handlers hs = {0}, hc = {0};
	struct rring_engine *srv = NULL, *cli = NULL;
	struct xp_shared *sh = calloc(1, sizeof(*sh));
	struct xp_sender *snd = calloc(o->conns, sizeof(*snd));
	unsigned int i, b;
	uint64_t t0;
	int port, ret = -ENOMEM;

	memset(r, 0, sizeof(*r));
	if (!sh || !snd || o->size < 8 || !o->conns)
		goto out;
	sh->recv_msgs = calloc(o->conns, sizeof(*sh->recv_msgs));
	if (!sh->recv_msgs)
		goto out;
	sh->o = o;
	ret = alloc_senders(o, sh, snd);
	if (ret)
		goto out;
	hs.event = server_event;
	hs.arg = sh;
	hc.event = client_event;
	ret = -EIO;
	srv = make_engine(o, &hs);
	cli = make_engine(o, &hc);
	if (!srv || !cli)
		goto out;
	port = rring_listen(srv, "127.0.0.1", 0, NULL);
	if (port < 0) {
		ret = port;
		goto out;
	}
	t0 = ts_now_ns();
	for (i = 0; i < o->conns; i++) {
		ret = rring_connect(cli, "127.0.0.1", (uint16_t)port, &snd[i],
				    NULL);
		if (ret)
			goto out;
	}
	wait_done(o, sh, r, t0);
	ret = r->err;
	if (!ret && o->idle_ms)
		r->idle_cpu = idle_cpu(o->idle_ms);
	r->overflow = overflow_count(srv) + overflow_count(cli);
out:
	if (cli)
		rring_engine_destroy(cli);
	if (srv)
		rring_engine_destroy(srv);
	/* Delivered means received: once both engines are gone, the
	 * receiver has checked every message its sender was told about. */
	for (i = 0; sh && sh->recv_msgs && i < o->conns; i++)
		if (snd[i].done > atomic_load(&sh->recv_msgs[i]))
			xp_fail(
			    sh, "sender %u: %llu delivered, %llu received", i,
			    (unsigned long long)snd[i].done,
			    (unsigned long long)atomic_load(&sh->recv_msgs[i]));
	if (sh) {
		r->messages = atomic_load(&sh->messages);
		r->verified = atomic_load(&sh->verified);
		r->corrupt = atomic_load(&sh->corrupt);
		r->bytes = atomic_load(&sh->bytes);
		r->send_done = atomic_load(&sh->send_done);
		r->send_failed = atomic_load(&sh->send_failed);
		if (atomic_load(&sh->errors) && !ret)
			ret = -EPROTO;
		memcpy(r->first_error, sh->first_error, sizeof(r->first_error));
	}
	for (i = 0; snd && i < o->conns; i++)
		for (b = 0; b < XP_BUFS; b++)
			free(snd[i].buf[b]);
	free(snd);
	if (sh)
		free(sh->recv_msgs);
	free(sh);
	r->err = ret;
	return ret;
}

double xp_cpu_seconds(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		return 0;
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}
