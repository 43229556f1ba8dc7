/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring: rring-bench, a redis-benchmark-like load generator over RDMA. */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rdmaring.h>

#include "loadgen.h"
#include "rclient.h"

/*
 * Each test opens -c connections on the engine's IO threads (--threads);
 * everything after that happens in the owner IO thread's event handler:
 * CONNECTED sends AUTH (with -a) and the first window of -P requests, each
 * RECV is scanned with rcl_rbuf_next (bench/rclient.c), every whole
 * reply is checked and timed, and the window is refilled. Request numbers
 * come from one atomic counter, so the -n requests are shared by whoever
 * is ready. With --verify request i uses key "rring:<run>:<i>" and a value
 * generated from (run, i); GET i regenerates it and compares every byte.
 * A connection closes itself once no request is left; the test ends when
 * every connection has closed.
 */

struct sendbuf {
	struct sendbuf *next;
	char *buf;
	size_t cap, len, off;
	unsigned int sends; /* posted, not completed */
};

struct inflight {
	uint64_t idx; /* request number, UINT64_MAX: AUTH */
	uint64_t t_ns;
};

struct client {
	struct rring_conn *conn;
	struct sendbuf *head, *tail, *post, *free;
	struct inflight *fifo; /* pipeline + 1 entries */
	unsigned int fifo_head, fifo_n;
	struct rcl_rbuf rb;
	char *expect; /* --verify GET: the value regenerated */
	bool closing;
};

struct run {
	struct lg_opts o;
	struct rring_engine *e;
	enum lg_test test;
	uint64_t run_id;
	struct client *clients;
	uint32_t *lat_us; /* per request */
	_Atomic uint64_t next_req, done, errors, verified, failed;
	_Atomic unsigned int live;
	_Atomic unsigned int conn_errors;
	_Atomic int close_failed; /* a failed close was reported */
};

static struct run R;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t splitmix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* The value of request idx: printable, different for every request. */
static void gen_value(char *out, size_t len, uint64_t idx)
{
	uint64_t s = splitmix(R.run_id ^ splitmix(idx)), w;
	size_t i, k;

	for (i = 0; i < len; i += 8) {
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		w = s;
		for (k = 0; k < 8 && i + k < len; k++, w >>= 8)
			out[i + k] = (char)('0' + (w & 63));
	}
}

static size_t key_of(char *key, size_t cap, uint64_t idx)
{
	if (!R.o.verify)
		return (size_t)snprintf(key, cap, "key:__rand_int__");
	return (size_t)snprintf(key, cap, "rring:%" PRIx64 ":%" PRIu64,
				R.run_id, idx);
}

static struct sendbuf *sb_get(struct client *cl, size_t need)
{
	struct sendbuf *sb = cl->free, **pp = &cl->free;

	for (; sb; pp = &sb->next, sb = sb->next)
		if (sb->cap >= need)
			break;
	if (sb) {
		*pp = sb->next;
	} else {
		sb = calloc(1, sizeof(*sb));
		if (!sb)
			return NULL;
		sb->buf = malloc(need);
		if (!sb->buf) {
			free(sb);
			return NULL;
		}
		sb->cap = need;
	}
	sb->next = NULL;
	sb->len = sb->off = 0;
	sb->sends = 0;
	return sb;
}

static size_t cmd_size(void)
{
	size_t d = R.o.data_size;

	switch (R.test) {
	case LG_SET:
		return 96 + d;
	case LG_GET:
		return 64;
	default:
		return 16;
	}
}

/* Append request idx to sb (sized by cmd_size). */
static void add_request(struct sendbuf *sb, uint64_t idx)
{
	char key[64], *p = sb->buf + sb->len;
	size_t kl = key_of(key, sizeof(key), idx), d = R.o.data_size;

	switch (R.test) {
	case LG_SET:
		p += sprintf(p, "*3\r\n$3\r\nSET\r\n$%zu\r\n%s\r\n$%zu\r\n", kl,
			     key, d);
		if (R.o.verify)
			gen_value(p, d, idx);
		else
			memset(p, 'x', d);
		p += d;
		p += sprintf(p, "\r\n");
		break;
	case LG_GET:
		p += sprintf(p, "*2\r\n$3\r\nGET\r\n$%zu\r\n%s\r\n", kl, key);
		break;
	default:
		p += sprintf(p, "*1\r\n$4\r\nPING\r\n");
		break;
	}
	sb->len = (size_t)(p - sb->buf);
}

static void queue_sb(struct client *cl, struct sendbuf *sb)
{
	if (cl->tail)
		cl->tail->next = sb;
	else
		cl->head = sb;
	cl->tail = sb;
	if (!cl->post)
		cl->post = sb;
}

static void fifo_push(struct client *cl, uint64_t idx)
{
	unsigned int cap = R.o.pipeline + 1;

	cl->fifo[(cl->fifo_head + cl->fifo_n) % cap] =
	    (struct inflight){.idx = idx, .t_ns = now_ns()};
	cl->fifo_n++;
}

static void close_client(struct client *cl)
{
	if (cl->closing || !cl->conn)
		return;
	cl->closing = true;
	rring_conn_close(cl->conn);
}

/* Post queued bytes, at most rx-size per send; stop at -EAGAIN. */
static void post_pending(struct client *cl)
{
	struct sendbuf *sb;
	size_t n;
	int ret;

	while ((sb = cl->post) && !cl->closing) {
		while (sb->off < sb->len) {
			n = sb->len - sb->off;
			if (n > R.o.rx_size)
				n = R.o.rx_size;
			ret = rring_conn_send(cl->conn, sb->buf + sb->off,
					      (uint32_t)n,
					      (uint64_t)(uintptr_t)sb);
			if (ret == -EAGAIN)
				return;
			if (ret) {
				atomic_fetch_add(&R.conn_errors, 1);
				close_client(cl);
				return;
			}
			sb->off += n;
			sb->sends++;
		}
		cl->post = sb->next;
	}
}

/* Recycle send buffers whose sends all completed. */
static void reap_sent(struct client *cl)
{
	struct sendbuf *sb;

	while ((sb = cl->head) && sb != cl->post && !sb->sends) {
		cl->head = sb->next;
		if (!cl->head)
			cl->tail = NULL;
		sb->next = cl->free;
		cl->free = sb;
	}
}

/* Issue requests until -P are in flight or none is left. */
static void fill_window(struct client *cl)
{
	unsigned int room = R.o.pipeline - cl->fifo_n, i;
	struct sendbuf *sb;
	uint64_t first;

	if (cl->closing || !room)
		return;
	first = atomic_fetch_add(&R.next_req, room);
	if (first >= R.o.requests) {
		if (!cl->fifo_n)
			close_client(cl);
		return;
	}
	if (first + room > R.o.requests)
		room = (unsigned int)(R.o.requests - first);
	sb = sb_get(cl, cmd_size() * room);
	if (!sb) {
		atomic_fetch_add(&R.conn_errors, 1);
		close_client(cl);
		return;
	}
	for (i = 0; i < room; i++) {
		add_request(sb, first + i);
		fifo_push(cl, first + i);
	}
	queue_sb(cl, sb);
	post_pending(cl);
}

static void send_auth(struct client *cl)
{
	const char *argv[] = {"AUTH", R.o.user, R.o.password};
	size_t lens[3] = {4, R.o.user ? strlen(R.o.user) : 0,
			  strlen(R.o.password)};
	int argc = R.o.user ? 3 : 2;
	struct sendbuf *sb;

	if (!R.o.user) {
		argv[1] = argv[2];
		lens[1] = lens[2];
	}
	sb = sb_get(cl, rdm_cmd_encode(NULL, argc, argv, lens));
	if (!sb)
		return;
	sb->len = rdm_cmd_encode(sb->buf, argc, argv, lens);
	fifo_push(cl, UINT64_MAX);
	queue_sb(cl, sb);
	post_pending(cl);
}

static bool check_reply(struct client *cl, const struct rdm_reply_info *ri,
			uint64_t idx)
{
	switch (R.test) {
	case LG_SET:
		return ri->type == RDM_REPLY_STATUS && ri->len == 2 &&
		       !memcmp(ri->str, "OK", 2);
	case LG_PING:
		return ri->type == RDM_REPLY_STATUS && ri->len == 4 &&
		       !memcmp(ri->str, "PONG", 4);
	default:
		if (ri->type != RDM_REPLY_BULK || ri->len != R.o.data_size)
			return false;
		gen_value(cl->expect, R.o.data_size, idx);
		return !memcmp(ri->str, cl->expect, ri->len);
	}
}

static void on_reply(struct client *cl, const struct rdm_reply_info *ri)
{
	struct inflight f = cl->fifo[cl->fifo_head];
	uint64_t us = (now_ns() - f.t_ns) / 1000;

	cl->fifo_head = (cl->fifo_head + 1) % (R.o.pipeline + 1);
	cl->fifo_n--;
	if (ri->type == RDM_REPLY_ERROR)
		atomic_fetch_add(&R.errors, 1);
	if (f.idx == UINT64_MAX)
		return; /* AUTH */
	R.lat_us[f.idx] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
	if (R.o.verify && ri->type != RDM_REPLY_ERROR) {
		if (check_reply(cl, ri, f.idx))
			atomic_fetch_add(&R.verified, 1);
		else
			atomic_fetch_add(&R.failed, 1);
	}
	/* pairs with the acquire load in wait_test */
	atomic_fetch_add_explicit(&R.done, 1, memory_order_release);
}

static void on_recv(struct client *cl, const void *data, size_t len)
{
	struct rdm_reply_info ri;
	int ret;

	if (rcl_rbuf_add(&cl->rb, data, len))
		goto fail;
	while ((ret = rcl_rbuf_next(&cl->rb, &ri, NULL))) {
		if (ret < 0 || !cl->fifo_n)
			goto fail; /* malformed, or a reply nobody asked for */
		on_reply(cl, &ri);
	}
	fill_window(cl);
	return;
fail:
	atomic_fetch_add(&R.conn_errors, 1);
	close_client(cl);
}

static void on_closed(struct client *cl, int status)
{
	/* what it had in flight is lost: counted as not done; the first
	 * failure is named once (a NIC fault closes them all) */
	if (status || cl->fifo_n) {
		atomic_fetch_add(&R.conn_errors, 1);
		if (!atomic_exchange(&R.close_failed, 1))
			fprintf(stderr,
				"rring-bench: a connection closed with %u "
				"requests unanswered: %s\n",
				cl->fifo_n,
				status ? strerror(-status)
				       : "closed by the server");
	}
	cl->conn = NULL;
	atomic_fetch_sub(&R.live, 1);
}

static void on_event(struct rring_io *io, const struct rring_event *ev,
		     void *arg)
{
	struct client *cl = ev->conn_ctx;
	struct sendbuf *sb;

	(void)io;
	(void)arg;
	switch (ev->type) {
	case RRING_EVENT_CONNECTED:
		cl->conn = ev->conn;
		if (R.o.password)
			send_auth(cl);
		fill_window(cl);
		break;
	case RRING_EVENT_RECV:
		on_recv(cl, ev->data, ev->len);
		rring_conn_consume(ev->conn, ev->len);
		break;
	case RRING_EVENT_SEND_DONE:
		sb = (struct sendbuf *)(uintptr_t)ev->tag;
		sb->sends--;
		if (ev->status)
			close_client(cl);
		reap_sent(cl);
		post_pending(cl);
		break;
	case RRING_EVENT_CLOSED:
		on_closed(cl, ev->status);
		break;
	default:
		break;
	}
}

static void free_client(struct client *cl)
{
	struct sendbuf *lists[] = {cl->head, cl->free}, *sb, *next;
	size_t i;

	for (i = 0; i < 2; i++)
		for (sb = lists[i]; sb; sb = next) {
			next = sb->next;
			free(sb->buf);
			free(sb);
		}
	free(cl->fifo);
	rcl_rbuf_free(&cl->rb);
	free(cl->expect);
	memset(cl, 0, sizeof(*cl));
}

static int make_engine(void)
{
	struct rcl_engine_opts eo = {.prog = "rring-bench",
				     .threads = R.o.threads,
				     .rx_size = R.o.rx_size};

	R.e = rcl_engine_start(&eo, on_event);
	return R.e ? 0 : -1;
}

struct result {
	const char *name;
	uint64_t requests, errors, verified, failed;
	double secs, rps;
	uint32_t p50, p99, max;
	unsigned int conn_errors;
};

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int start_clients(void)
{
	unsigned int i;
	int ret;

	for (i = 0; i < R.o.clients; i++) {
		struct client *cl = &R.clients[i];

		cl->fifo = calloc(R.o.pipeline + 1, sizeof(*cl->fifo));
		if (R.o.verify && R.test == LG_GET)
			cl->expect = malloc(R.o.data_size);
		if (!cl->fifo ||
		    (R.o.verify && R.test == LG_GET && !cl->expect))
			return -ENOMEM;
		atomic_fetch_add(&R.live, 1);
		ret =
		    rring_connect(R.e, R.o.host, (uint16_t)R.o.port, cl, NULL);
		if (ret) {
			atomic_fetch_sub(&R.live, 1);
			rcl_connect_error("rring-bench", R.o.host, R.o.port,
					  ret);
			return ret;
		}
	}
	return 0;
}

/* Wait for every connection to close; progress once a second. */
static int wait_test(const char *name, uint64_t t0)
{
	uint64_t last = t0, deadline = 0, now, d;

	if (R.o.timeout_s)
		deadline = t0 + (uint64_t)R.o.timeout_s * 1000000000ull;
	while (atomic_load(&R.live)) {
		usleep(2000);
		now = now_ns();
		if (deadline && now > deadline) {
			fprintf(stderr,
				"rring-bench: %s: timed out after %u "
				"s\n",
				name, R.o.timeout_s);
			return -ETIMEDOUT;
		}
		if (!R.o.quiet && now - last >= 1000000000ull) {
			/* pairs with the release add in on_reply */
			d = atomic_load_explicit(&R.done, memory_order_acquire);
			fprintf(stderr, "%s: %" PRIu64 "/%llu, %.0f rps\r",
				name, d, R.o.requests,
				(double)d / ((double)(now - t0) / 1e9));
			last = now;
		}
	}
	if (!R.o.quiet && last != t0)
		fprintf(stderr, "\n");
	return 0;
}

/* The previous test's connections are gone from the engine (bounded). */
static void wait_engine_idle(void)
{
	uint64_t deadline = now_ns() + 5000000000ull;
	struct rring_stats st;

	while (!rring_engine_stats(R.e, &st) && st.poller.connections &&
	       now_ns() < deadline)
		usleep(1000);
}

static int run_test(enum lg_test t, struct result *res)
{
	static const char *const names[] = {"PING", "SET", "GET"};
	uint64_t t0, n;
	unsigned int i;
	int ret;

	wait_engine_idle();
	R.test = t;
	atomic_store(&R.next_req, 0);
	atomic_store(&R.done, 0);
	atomic_store(&R.errors, 0);
	atomic_store(&R.verified, 0);
	atomic_store(&R.failed, 0);
	atomic_store(&R.conn_errors, 0);
	atomic_store(&R.close_failed, 0);
	memset(R.lat_us, 0, R.o.requests * sizeof(*R.lat_us));
	t0 = now_ns();
	ret = start_clients();
	if (!ret)
		ret = wait_test(names[t], t0);
	if (ret)
		return ret; /* connections may still run: no cleanup */
	memset(res, 0, sizeof(*res));
	res->name = names[t];
	res->secs = (double)(now_ns() - t0) / 1e9;
	n = atomic_load_explicit(&R.done, memory_order_acquire);
	res->requests = n;
	res->errors = atomic_load(&R.errors);
	res->verified = atomic_load(&R.verified);
	res->failed = atomic_load(&R.failed) + (R.o.requests - n);
	res->conn_errors = atomic_load(&R.conn_errors);
	res->rps = res->secs > 0 ? (double)n / res->secs : 0;
	qsort(R.lat_us, R.o.requests, sizeof(*R.lat_us), cmp_u32);
	if (n) {
		/* requests never answered sort first as 0: skip them */
		uint32_t *l = R.lat_us + (R.o.requests - n);

		res->p50 = l[n / 2];
		res->p99 = l[(n * 99) / 100 >= n ? n - 1 : (n * 99) / 100];
		res->max = l[n - 1];
	}
	for (i = 0; i < R.o.clients; i++)
		free_client(&R.clients[i]);
	return 0;
}

static void print_result(const struct result *r)
{
	printf("====== %s ======\n", r->name);
	printf("  %" PRIu64 " requests completed in %.2f seconds\n",
	       r->requests, r->secs);
	printf("  %u parallel clients, %u IO threads, pipeline %u\n",
	       R.o.clients, R.o.threads, R.o.pipeline);
	printf("  %zu bytes payload\n", R.o.data_size);
	if (R.o.verify)
		printf("  verified %" PRIu64 ", failed %" PRIu64 "\n",
		       r->verified, r->failed);
	printf("  errors %" PRIu64 ", connection errors %u\n", r->errors,
	       r->conn_errors);
	printf("  latency (usec): p50 %u, p99 %u, max %u\n", r->p50, r->p99,
	       r->max);
	printf("  throughput: %.2f requests per second", r->rps);
	if (r->name[0] != 'P')
		printf(" (%.1f MB/s)", r->rps * (double)R.o.data_size / 1e6);
	printf("\n\n");
}

static void print_table(const struct result *res, unsigned int n)
{
	unsigned int i;

	printf("%-6s %12s %14s %8s %10s %10s %10s\n", "test", "requests", "rps",
	       "errors", "verified", "p50_us", "p99_us");
	for (i = 0; i < n; i++)
		printf("%-6s %12" PRIu64 " %14.1f %8" PRIu64 " %10" PRIu64
		       " %10u %10u\n",
		       res[i].name, res[i].requests, res[i].rps, res[i].errors,
		       res[i].verified, res[i].p50, res[i].p99);
}

static int write_json(const char *path, const struct result *res,
		      unsigned int n)
{
	FILE *f = fopen(path, "w");
	unsigned int i;

	if (!f) {
		fprintf(stderr, "rring-bench: cannot write %s: %s\n", path,
			strerror(errno));
		return -errno;
	}
	fprintf(f, "{\"tests\":[");
	for (i = 0; i < n; i++)
		fprintf(f,
			"%s{\"name\":\"%s\",\"requests\":%" PRIu64
			",\"rps\":%.1f,\"errors\":%" PRIu64
			",\"verified\":%" PRIu64 ",\"p50_us\":%u,"
			"\"p99_us\":%u,\"data_size\":%zu,\"clients\":%u,"
			"\"threads\":%u,\"pipeline\":%u}",
			i ? "," : "", res[i].name, res[i].requests, res[i].rps,
			res[i].errors, res[i].verified, res[i].p50, res[i].p99,
			R.o.data_size, R.o.clients, R.o.threads, R.o.pipeline);
	fprintf(f, "]}\n");
	return fclose(f) ? -EIO : 0;
}

int main(int argc, char **argv)
{
	struct result res[LG_NR_TESTS];
	bool bad = false;
	unsigned int i;
	int ret;

	ret = lg_parse_args(&R.o, argc, argv);
	if (ret)
		return ret > 0 ? 0 : 2;
	R.run_id = splitmix(now_ns() ^ (uint64_t)getpid());
	R.clients = calloc(R.o.clients, sizeof(*R.clients));
	R.lat_us = calloc(R.o.requests, sizeof(*R.lat_us));
	if (!R.clients || !R.lat_us) {
		fprintf(stderr, "rring-bench: out of memory\n");
		return 1;
	}
	if (make_engine())
		return 1;
	for (i = 0; i < R.o.n_order; i++) {
		ret = run_test(R.o.order[i], &res[i]);
		if (ret) {
			/* threads still own the clients: leave without
			 * freeing */
			fprintf(stderr, "rring-bench: %s\n", strerror(-ret));
			_exit(1);
		}
		print_result(&res[i]);
		if (res[i].conn_errors || res[i].failed ||
		    (R.o.verify && res[i].errors))
			bad = true;
	}
	print_table(res, R.o.n_order);
	if (R.o.json && write_json(R.o.json, res, R.o.n_order))
		bad = true;
	rring_engine_destroy(R.e);
	free(R.clients);
	free(R.lat_us);
	return bad ? 1 : 0;
}
