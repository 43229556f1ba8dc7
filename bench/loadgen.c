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

#include "bench_common.h"
#include "device_hint.h"
#include "loadgen.h"
#include "loadgen_request.h"
#include "rclient.h"

/*
 * Each test opens -c connections on the engine's IO threads (--threads);
 * everything after that happens in the owner IO thread's event handler:
 * CONNECTED sends AUTH (with -a) and the first window of -P requests, each
 * RECV is scanned with rcl_rbuf_next (bench/rclient.c), every whole
 * reply is checked and timed (loadgen histogram), and the window is
 * refilled. Requests are copies of the test's template (loadgen_request.c).
 * Request numbers come from one atomic counter, so the -n requests are
 * shared by whoever is ready. With --verify request i uses key
 * "rring:<run>:<i>" and a value generated from (run, i); GET i regenerates
 * it and compares every byte.
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
	char *expect; /* --verify GET: the value's first period regenerated */
	uint64_t rng; /* -r */
	bool closing;
};

struct run {
	struct lg_opts o;
	struct rring_engine *e;
	const struct lg_test *test;
	struct lg_request req; /* the current test's template */
	uint64_t run_id;
	struct client *clients;
	struct hist lat;
	_Atomic uint64_t next_req, done, errors, verified, failed, payload;
	_Atomic unsigned int live;
	_Atomic unsigned int conn_errors;
	_Atomic int first_error; /* -errno of the first failed connection */
	_Atomic int close_failed; /* a failed close was reported */
};

static struct run R;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
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
	sb = sb_get(cl, R.req.len * room);
	if (!sb) {
		atomic_fetch_add(&R.conn_errors, 1);
		close_client(cl);
		return;
	}
	for (i = 0; i < room; i++) {
		lg_request_put(&R.req, &R.o, sb->buf + sb->len, first + i,
			       R.run_id, &cl->rng);
		sb->len += R.req.len;
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

/* SELECT before the first request (--dbnum); the reply is not timed. */
static void send_select(struct client *cl)
{
	struct sendbuf *sb = sb_get(cl, 64);
	char db[16];

	if (!sb)
		return;
	snprintf(db, sizeof(db), "%d", R.o.dbnum);
	sb->len = (size_t)sprintf(
	    sb->buf, "*2\r\n$6\r\nSELECT\r\n$%zu\r\n%s\r\n", strlen(db), db);
	fifo_push(cl, UINT64_MAX);
	queue_sb(cl, sb);
	post_pending(cl);
}

static bool is_status(const struct rdm_reply_info *ri, const char *s)
{
	return ri->type == RDM_REPLY_STATUS && ri->len == strlen(s) &&
	       !memcmp(ri->str, s, ri->len);
}

/* --verify: the reply is what the test's command answers. */
static bool check_reply(struct client *cl, const struct rdm_reply_info *ri,
			uint64_t idx)
{
	switch (R.test->expect) {
	case LG_EXPECT_PONG:
		return is_status(ri, "PONG");
	case LG_EXPECT_OK:
		return is_status(ri, "OK");
	case LG_EXPECT_INT:
		return ri->type == RDM_REPLY_INTEGER;
	case LG_EXPECT_MAYBE:
		return ri->type == RDM_REPLY_BULK || ri->type == RDM_REPLY_NIL;
	case LG_EXPECT_ARRAY:
		return ri->type == RDM_REPLY_ARRAY;
	case LG_EXPECT_ANY:
		return ri->type != RDM_REPLY_ERROR;
	default:
		if (ri->type != RDM_REPLY_BULK || ri->len != R.o.data_size)
			return false;
		return lg_value_equal(ri->str, ri->len, R.run_id, idx,
				      cl->expect);
	}
}

static void on_reply(struct client *cl, const struct rdm_reply_info *ri)
{
	struct inflight f = cl->fifo[cl->fifo_head];

	cl->fifo_head = (cl->fifo_head + 1) % (R.o.pipeline + 1);
	cl->fifo_n--;
	if (ri->type == RDM_REPLY_ERROR)
		atomic_fetch_add(&R.errors, 1);
	if (f.idx == UINT64_MAX)
		return; /* AUTH or SELECT */
	hist_add(&R.lat, now_ns() - f.t_ns);
	if (ri->type == RDM_REPLY_BULK) /* values received (GET, pops) */
		atomic_fetch_add_explicit(&R.payload, ri->len,
					  memory_order_relaxed);
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
	int none = 0;

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
	if (status)
		atomic_compare_exchange_strong(&R.first_error, &none, status);
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
		if (R.o.idle)
			break; /* -I: connected and nothing else */
		if (R.o.password)
			send_auth(cl);
		if (R.o.dbnum >= 0)
			send_select(cl);
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
				     .rx_size = R.o.rx_size,
				     .poll_idle_us = R.o.poll_idle_us};

	R.e = rcl_engine_start(&eo, on_event);
	return R.e ? 0 : -1;
}

static int start_clients(void)
{
	unsigned int i;
	int ret;

	for (i = 0; i < R.o.clients; i++) {
		struct client *cl = &R.clients[i];

		cl->fifo = calloc(R.o.pipeline + 1, sizeof(*cl->fifo));
		cl->rng = lg_splitmix(R.run_id + i);
		if (R.o.verify && R.test->expect == LG_EXPECT_VALUE)
			cl->expect = malloc(R.o.data_size < LG_VALUE_PERIOD ?
					    R.o.data_size : LG_VALUE_PERIOD);
		if (!cl->fifo ||
		    (R.o.verify && R.test->expect == LG_EXPECT_VALUE &&
		     !cl->expect))
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
		if (now - last >= 1000000000ull) {
			/* pairs with the release add in on_reply */
			d = atomic_load_explicit(&R.done, memory_order_acquire);
			lg_progress(&R.o, name, d, (double)(now - t0) / 1e9);
			last = now;
		}
	}
	if (last != t0 && !R.o.csv && isatty(STDERR_FILENO))
		fprintf(stderr, "\n"); /* keep the last progress line */
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

/* A test whose connections all failed before any reply: say why. */
static void explain_failure(const struct lg_result *r)
{
	if (r->first_error)
		fprintf(stderr,
			"rring-bench: %s: no reply from %s:%u: %s (is an "
			"RDMA server listening there? without an RDMA NIC "
			"both sides need LD_PRELOAD=libsoftverbs.so)\n",
			r->name, R.o.host, R.o.port, strerror(-r->first_error));
	else
		fprintf(stderr,
			"rring-bench: %s: %s:%u closed all %u connections "
			"before replying\n",
			r->name, R.o.host, R.o.port, R.o.clients);
}

static void collect(struct lg_result *res, uint64_t t0)
{
	uint64_t n = atomic_load_explicit(&R.done, memory_order_acquire);

	memset(res, 0, sizeof(*res));
	res->name = R.test->name ? R.test->name : R.o.command_name;
	res->secs = (double)(now_ns() - t0) / 1e9;
	res->requests = n;
	res->errors = atomic_load(&R.errors);
	res->verified = atomic_load(&R.verified);
	res->failed = atomic_load(&R.failed) + (R.o.requests - n);
	res->conn_errors = atomic_load(&R.conn_errors);
	res->first_error = atomic_load(&R.first_error);
	res->rps = res->secs > 0 ? (double)n / res->secs : 0;
	/* values sent (SET, pushes) and received (bulk replies) */
	res->payload_bytes = atomic_load(&R.payload) +
			     (uint64_t)R.req.n_values * R.o.data_size * n;
	/* every IO thread is done with the histogram: live reached 0 */
	hist_read(&R.lat, &res->lat);
}

static int run_test(const struct lg_test *t, struct lg_result *res)
{
	unsigned int i;
	uint64_t t0;
	int ret;

	wait_engine_idle();
	R.test = t;
	ret = lg_request_build(&R.req, &R.o, t, R.run_id);
	if (ret) {
		fprintf(stderr,
			"rring-bench: %s: cannot build the request: "
			"%s\n",
			t->name ? t->name : R.o.command_name, strerror(-ret));
		return ret;
	}
	atomic_store(&R.next_req, 0);
	atomic_store(&R.done, 0);
	atomic_store(&R.errors, 0);
	atomic_store(&R.verified, 0);
	atomic_store(&R.failed, 0);
	atomic_store(&R.payload, 0);
	atomic_store(&R.conn_errors, 0);
	atomic_store(&R.first_error, 0);
	atomic_store(&R.close_failed, 0);
	hist_reset(&R.lat);
	t0 = now_ns();
	ret = start_clients();
	if (!ret)
		ret = wait_test(t->name ? t->name : R.o.command_name, t0);
	if (ret)
		return ret; /* connections may still run: no cleanup */
	collect(res, t0);
	lg_request_free(&R.req);
	for (i = 0; i < R.o.clients; i++)
		free_client(&R.clients[i]);
	return 0;
}

/* The tests to run: the command after the options, or -t's, with the
 * LPUSH that fills mylist before the first LRANGE (as redis-benchmark). */
static unsigned int make_plan(const struct lg_test **plan,
			      const struct lg_test *command)
{
	unsigned int i, n = 0;
	bool filled = false;

	if (R.o.command) {
		plan[0] = command;
		return 1;
	}
	for (i = 0; i < R.o.n_order; i++) {
		const struct lg_test *t = R.o.order[i];

		if (!filled && t->group && !strcmp(t->group, "lrange")) {
			plan[n++] = lg_lrange_fill();
			filled = true;
		}
		plan[n++] = t;
	}
	return n;
}

/* -I: open the connections and keep them until killed. */
static int idle_forever(const struct lg_test *t)
{
	R.test = t;
	printf("Creating %u idle connections and waiting forever (Ctrl+C "
	       "when done)\n",
	       R.o.clients);
	fflush(stdout);
	if (start_clients())
		return 1;
	for (;;)
		pause();
}

static bool bad_result(const struct lg_result *r)
{
	return r->conn_errors || r->failed || (R.o.verify && r->errors);
}

int main(int argc, char **argv)
{
	static struct lg_result res[LG_MAX_TESTS + 2];
	const struct lg_test command = {"command", NULL,	  NULL,
					NULL,	   LG_EXPECT_ANY, false};
	const struct lg_test *plan[LG_MAX_TESTS + 2];
	unsigned int n_plan, i, n_done = 0;
	bool bad = false;
	int ret;

	ret = lg_parse_args(&R.o, argc, argv);
	if (ret)
		return ret > 0 ? 0 : 2;
	n_plan = make_plan(plan, &command);
	R.run_id = lg_splitmix(now_ns() ^ (uint64_t)getpid());
	R.clients = calloc(R.o.clients, sizeof(*R.clients));
	if (!R.clients) {
		fprintf(stderr, "rring-bench: out of memory\n");
		return 1;
	}
	if (make_engine())
		return 1;
	if (R.o.idle)
		return idle_forever(&command);
	lg_report_start(&R.o);
	do {
		for (i = 0, n_done = 0; i < n_plan && !bad; i++) {
			ret = run_test(plan[i], &res[i]);
			if (ret) {
				/* threads still own the clients: leave
				 * without freeing */
				fprintf(stderr, "rring-bench: %s\n",
					strerror(-ret));
				_exit(1);
			}
			n_done++;
			if (!res[i].requests && res[i].conn_errors) {
				explain_failure(&res[i]);
				bad = true;
				break;
			}
			lg_report(&R.o, &res[i]);
			bc_short_sample(LG_PROG, res[i].name, res[i].secs,
					res[i].requests, 100);
			bad = bad_result(&res[i]);
		}
	} while (R.o.loop && !bad);
	if (R.o.json && lg_write_json(&R.o, res, n_done))
		bad = true;
	rring_engine_destroy(R.e);
	free(R.clients);
	return bad ? 1 : 0;
}
