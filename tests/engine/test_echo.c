// SPDX-License-Identifier: BSD-3-Clause
/* rdmaring tests: echo over softverbs, in one process and across a fork. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "echo_util.h"
#include "test_support.h"

#ifdef TS_SANITIZED
#define MSGS 10
#else
#define MSGS 60
#endif
#ifndef NCONN
#define NCONN 100
#endif
#define DEADLINE_MS 60000

struct pair {
	struct echo_counters cnt;
	struct echo_server srv;
	struct rring_engine *se, *ce;
	struct echo_client cl[NCONN];
	int port;
};

static struct rring_engine *
engine(unsigned int io,
       void (*fn)(struct rring_io *, const struct rring_event *, void *),
       void *arg)
{
	struct rring_params p;
	struct rring_handlers h = {.event = fn, .arg = arg};
	struct rring_engine *e;

	echo_params(&p, io);
	e = rring_engine_create(&p, &h);
	cr_assert(e, "create: %s", strerror(errno));
	cr_assert_eq(rring_engine_start(e), 0);
	return e;
}

static void server_up(struct pair *t, unsigned int io, int close_after)
{
	echo_server_init(&t->srv, &t->cnt, close_after);
	t->se = engine(io, echo_server_event, &t->srv);
	t->port = rring_listen(t->se, "127.0.0.1", 0, &t->srv);
	cr_assert_gt(t->port, 0, "listen: %s", strerror(-t->port));
}

/* Clients from..from+n-1 connect to port on the client engine. */
static void connect_more(struct pair *t, int from, int n, int port,
			 int close_after)
{
	int i;

	for (i = from; i < from + n; i++) {
		echo_client_init(&t->cl[i], &t->cnt, i, MSGS, close_after);
		cr_assert_eq(rring_connect(t->ce, "127.0.0.1", (uint16_t)port,
					   &t->cl[i], NULL),
			     0);
	}
}

static void clients_connect(struct pair *t, unsigned int io, int n,
			    int close_after)
{
	t->ce = engine(io, echo_client_event, NULL);
	connect_more(t, 0, n, t->port, close_after);
}

static void check_errors(struct pair *t)
{
	cr_assert_eq(atomic_load(&t->cnt.errors), 0, "%s", t->cnt.first_error);
}

static void teardown(struct pair *t)
{
	rring_engine_destroy(t->ce);
	rring_engine_destroy(t->se);
	echo_server_free(&t->srv);
}

static void echo_run(unsigned int io)
{
	static struct pair t;
	struct rring_stats st;
	uint64_t completions = 0;
	unsigned int i;
	int done;

	server_up(&t, io, -1);
	clients_connect(&t, io, NCONN, -1);
	done = echo_wait(&t.cnt, &t.cnt.done, NCONN, DEADLINE_MS);
	check_errors(&t);
	cr_assert_eq(done, NCONN, "only %d of %d connections finished", done,
		     NCONN);
	cr_assert_eq(atomic_load(&t.cnt.accepted), NCONN);
	/* Ownership: spread over every IO thread, least-loaded first. */
	cr_assert_eq(rring_engine_stats(t.ce, &st), 0);
	cr_assert_eq(st.n_io, io);
	for (i = 0; i < io; i++) {
		cr_assert_geq(st.io[i].connections, NCONN / io,
			      "io %u owns %llu", i,
			      (unsigned long long)st.io[i].connections);
		completions += st.io[i].completions;
	}
	cr_assert_geq(completions, 2ull * NCONN * MSGS);
	cr_assert_eq(st.poller.connections, NCONN);
	teardown(&t);
	/* Stop closed every connection on both sides, each exactly once. */
	check_errors(&t);
	cr_assert_eq(atomic_load(&t.cnt.closed), 2 * NCONN);
}

Test(echo, one_io_thread_100_connections, .timeout = 120)
{
	echo_run(1);
}

Test(echo, eight_io_threads_100_connections, .timeout = 120)
{
	echo_run(8);
}

/* After load, the engines go back to sleep: near-zero CPU. */
Test(echo, idle_cpu_after_load, .timeout = 120)
{
	static struct pair t;
	struct timespec ts = {.tv_sec = 1, .tv_nsec = 0};
	struct rring_stats st;
	double c0, c1;

	server_up(&t, 4, -1);
	clients_connect(&t, 4, 32, -1);
	cr_assert_eq(echo_wait(&t.cnt, &t.cnt.done, 32, DEADLINE_MS), 32);
	check_errors(&t);
	/* Measurement window (not synchronisation): 1 s of idle engines,
	 * 64 connections open, all engine threads counted. */
	c0 = echo_engine_cpu_seconds();
	nanosleep(&ts, NULL);
	c1 = echo_engine_cpu_seconds();
	cr_assert_geq(c0, 0);
	cr_assert_lt(c1 - c0, 0.10, "engines used %.0f%% CPU while idle",
		     (c1 - c0) * 100);
	cr_assert_eq(rring_engine_stats(t.se, &st), 0);
	cr_assert_gt(st.poller.sleeps, 0);
	cr_assert_lt(st.poller.busy_fraction, 0.9);
	teardown(&t);
	check_errors(&t);
}

/* Closing from either side during traffic: one CLOSED per connection on
 * each side, no event after it, the other connections unaffected. */
static void disconnect_run(int client_close, int server_close)
{
	static struct pair t;
	int n = 40, closed;

	server_up(&t, 4, server_close);
	clients_connect(&t, 4, n, client_close);
	closed = echo_wait(&t.cnt, &t.cnt.closed, 2 * n, DEADLINE_MS);
	check_errors(&t);
	cr_assert_eq(closed, 2 * n, "%d of %d closes", closed, 2 * n);
	rring_engine_stop(t.ce);
	rring_engine_stop(t.se);
	check_errors(&t);
	cr_assert_eq(atomic_load(&t.cnt.closed), 2 * n);
	teardown(&t);
}

Test(echo, client_closes_during_traffic, .timeout = 120)
{
	disconnect_run(MSGS / 2, -1);
}

Test(echo, server_closes_during_traffic, .timeout = 120)
{
	disconnect_run(-1, MSGS / 3);
}

static void ev_noop(struct rring_io *io, const struct rring_event *ev,
		    void *arg)
{
	(void)io;
	(void)ev;
	(void)arg;
}

static void *wrong_thread(void *arg)
{
	return (void *)(intptr_t)rring_conn_send(arg, "x", 1, 0);
}

static struct rring_conn *first_conn;

static void capture(struct rring_io *io, const struct rring_event *ev,
		    void *arg)
{
	struct echo_counters *c = arg;

	(void)io;
	if (ev->type == RRING_EVENT_CONNECTED) {
		first_conn = ev->conn;
		pthread_mutex_lock(&c->lock);
		atomic_fetch_add(&c->connected, 1);
		pthread_cond_broadcast(&c->cond);
		pthread_mutex_unlock(&c->lock);
	}
}

Test(echo, send_from_another_thread_is_eperm, .timeout = 60)
{
	static struct pair t;
	struct rring_engine *ce;
	pthread_t th;
	void *ret;

	server_up(&t, 1, -1);
	ce = engine(1, capture, &t.cnt);
	cr_assert_eq(
	    rring_connect(ce, "127.0.0.1", (uint16_t)t.port, NULL, NULL), 0);
	cr_assert_eq(echo_wait(&t.cnt, &t.cnt.connected, 1, DEADLINE_MS), 1);
	cr_assert_eq(rring_conn_send(first_conn, "x", 1, 0), -EPERM);
	cr_assert_eq(pthread_create(&th, NULL, wrong_thread, first_conn), 0);
	pthread_join(th, &ret);
	cr_assert_eq((intptr_t)ret, -EPERM);
	cr_assert_eq(rring_conn_close(first_conn), -EPERM);
	rring_engine_destroy(ce);
	rring_engine_destroy(t.se);
	echo_server_free(&t.srv);
	(void)ev_noop;
}

Test(echo, connect_refused_reports_closed, .timeout = 60)
{
	static struct pair t;
	int closed;

	echo_counters_init(&t.cnt);
	t.port = 1; /* nobody listens there */
	clients_connect(&t, 2, 3, -1);
	closed = echo_wait(&t.cnt, &t.cnt.closed, 3, DEADLINE_MS);
	cr_assert_eq(closed, 3);
	cr_assert_eq(atomic_load(&t.cnt.connected), 0);
	cr_assert_lt(t.cl[0].close_status, 0);
	rring_engine_destroy(t.ce);
}

/* Moving the listener as an application re-listens: a new one under a new
 * ctx, then rring_unlisten of the old ctx. Connections accepted before
 * stay open, new clients reach the new port, the old port refuses. */
Test(echo, unlisten_keeps_accepted_connections, .timeout = 120)
{
	static struct pair t;
	static char new_ctx;
	struct rring_stats st;
	int new_port;

	server_up(&t, 2, -1);
	t.ce = engine(2, echo_client_event, NULL);
	connect_more(&t, 0, 4, t.port, -1);
	cr_assert_eq(echo_wait(&t.cnt, &t.cnt.accepted, 4, DEADLINE_MS), 4);
	new_port = rring_listen(t.se, "127.0.0.1", 0, &new_ctx);
	cr_assert_gt(new_port, 0, "listen: %s", strerror(-new_port));
	cr_assert_eq(rring_unlisten(t.se, &t.srv), 1);
	cr_assert_eq(rring_unlisten(t.se, &t.srv), 0, "already gone");
	cr_assert_eq(rring_engine_stats(t.se, &st), 0);
	cr_assert_eq(st.poller.connections, 4, "accepted connections closed");
	connect_more(&t, 4, 4, new_port, -1);
	cr_assert_eq(echo_wait(&t.cnt, &t.cnt.done, 8, DEADLINE_MS), 8);
	check_errors(&t);
	connect_more(&t, 8, 1, t.port, -1);
	cr_assert_eq(echo_wait(&t.cnt, &t.cnt.closed, 1, DEADLINE_MS), 1);
	cr_assert(t.cl[8].closed && !t.cl[8].established);
	cr_assert_lt(t.cl[8].close_status, 0);
	cr_assert_eq(atomic_load(&t.cnt.accepted), 8);
	teardown(&t);
	check_errors(&t);
}

/* Over max-connections, the server rejects; those clients see CLOSED
 * with an error and never CONNECTED; the others work normally. */
Test(echo, max_connections_rejects_the_rest, .timeout = 60)
{
	static struct pair t;
	struct rring_handlers h = {.event = echo_server_event, .arg = &t.srv};
	struct rring_params p;
	int i, refused = 0;

	echo_server_init(&t.srv, &t.cnt, -1);
	echo_params(&p, 2);
	p.max_connections = 5;
	t.se = rring_engine_create(&p, &h);
	cr_assert(t.se);
	cr_assert_eq(rring_engine_start(t.se), 0);
	t.port = rring_listen(t.se, "127.0.0.1", 0, &t.srv);
	cr_assert_gt(t.port, 0);
	clients_connect(&t, 2, 8, -1);
	cr_assert_eq(echo_wait(&t.cnt, &t.cnt.done, 5, DEADLINE_MS), 5);
	cr_assert_eq(echo_wait(&t.cnt, &t.cnt.closed, 3, DEADLINE_MS), 3);
	check_errors(&t);
	cr_assert_eq(atomic_load(&t.cnt.accepted), 5);
	for (i = 0; i < 8; i++)
		refused += t.cl[i].closed && !t.cl[i].established &&
			   t.cl[i].close_status < 0;
	cr_assert_eq(refused, 3);
	teardown(&t);
	check_errors(&t);
}

/* The application's thread looks connections up by id (RCU lookup). */
Test(echo, conn_info_from_the_main_thread, .timeout = 60)
{
	static struct pair t;
	struct rring_conn_info ci;
	uint64_t ids[4];
	int i;

	server_up(&t, 2, -1);
	t.ce = engine(2, echo_client_event, NULL);
	for (i = 0; i < 4; i++) {
		echo_client_init(&t.cl[i], &t.cnt, i, MSGS, -1);
		cr_assert_eq(rring_connect(t.ce, "127.0.0.1", (uint16_t)t.port,
					   &t.cl[i], &ids[i]),
			     0);
	}
	cr_assert_eq(echo_wait(&t.cnt, &t.cnt.done, 4, DEADLINE_MS), 4);
	check_errors(&t);
	for (i = 0; i < 4; i++) {
		cr_assert_eq(rring_engine_conn_info(t.ce, ids[i], &ci), 0);
		cr_assert_eq(ci.id, ids[i]);
		cr_assert_eq(ci.outbound, 1);
		cr_assert_lt(ci.io_index, 2);
		cr_assert_eq(ci.io_index,
			     rring_io_index(rring_conn_io(t.cl[i].conn)));
		cr_assert_neq(ci.qp_num, 0);
	}
	cr_assert_eq(rring_engine_conn_info(t.ce, 999999, &ci), -ENOENT);
	cr_assert_eq(rring_engine_stop(t.ce), 0);
	for (i = 0; i < 4; i++) /* gone after close */
		cr_assert_eq(rring_engine_conn_info(t.ce, ids[i], &ci),
			     -ENOENT);
	teardown(&t);
	check_errors(&t);
}

/* The server in a child process: softverbs' socket transport, with
 * ECHO_WINDOW messages in flight per connection (chained posts). */
Test(echo, across_processes, .timeout = 120)
{
	static struct pair t;
	int port_pipe[2], done_pipe[2], status, done;
	pid_t pid;
	char c;

	cr_assert_eq(pipe(port_pipe), 0);
	cr_assert_eq(pipe(done_pipe), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		close(port_pipe[0]);
		close(done_pipe[1]);
		server_up(&t, 2, -1);
		if (write(port_pipe[1], &t.port, sizeof(t.port)) < 0)
			_exit(3);
		/* Serve until the parent closes its end (or dies). */
		while (read(done_pipe[0], &c, 1) > 0)
			;
		rring_engine_destroy(t.se);
		_exit(atomic_load(&t.cnt.errors) ? 2 : 0);
	}
	close(port_pipe[1]);
	close(done_pipe[0]);
	cr_assert_eq(read(port_pipe[0], &t.port, sizeof(t.port)),
		     sizeof(t.port));
	echo_counters_init(&t.cnt);
	clients_connect(&t, 2, NCONN, -1);
	done = echo_wait(&t.cnt, &t.cnt.done, NCONN, DEADLINE_MS);
	check_errors(&t);
	if (done != NCONN) {
		struct rring_stats st;

		rring_engine_stats(t.ce, &st);
		cr_assert_eq(done, NCONN,
			     "%d of %d done, %d connected, %lld bytes, "
			     "completions %llu, posts %llu wrs %llu cqes %llu",
			     done, NCONN, atomic_load(&t.cnt.connected),
			     (long long)atomic_load(&t.cnt.bytes),
			     (unsigned long long)st.io[0].completions,
			     (unsigned long long)st.poller.post_calls,
			     (unsigned long long)st.poller.wrs_posted,
			     (unsigned long long)st.poller.cqes);
	}
	cr_assert_eq(atomic_load(&t.cnt.bytes) > 0, 1);
	rring_engine_destroy(t.ce);
	close(done_pipe[1]);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "server child status %#x", status);
}
