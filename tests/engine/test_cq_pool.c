// SPDX-License-Identifier: BSD-3-Clause
/* rdmaring tests: more connections than one CQ can serve (the CQ pool). */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include <infiniband/verbs.h>

#include "echo_util.h"

/*
 * cq-entries 64 and msg-depth 4: a connection has 5 + 4 = 9 work requests
 * outstanding at most, so one CQ serves 7 connections and 40 connections
 * need 6 CQs per engine. Every echo is checked byte for byte by the
 * client; a CQ shared beyond its depth would overflow (softverbs moves the
 * QPs to the error state) and the echoes would not complete.
 * ibv_create_cq is wrapped here (the engine is linked statically, so its
 * call binds to this definition) to count the CQs the pools create.
 */

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define MSGS 8
#else
#define MSGS 40
#endif
#define NCONN 40
#define CQ_ENTRIES 64
#define PER_CQ 7 /* 64 / (msg-depth + 1 sends + msg-depth receives) */
#define DEADLINE_MS 60000

static atomic_int cqs_created;

struct ibv_cq *ibv_create_cq(struct ibv_context *ctx, int cqe, void *cq_ctx,
			     struct ibv_comp_channel *ch, int vec)
{
	static struct ibv_cq *(*real)(struct ibv_context *, int, void *,
				      struct ibv_comp_channel *, int);

	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "ibv_create_cq");
	if (!real) {
		errno = ENOSYS;
		return NULL;
	}
	atomic_fetch_add(&cqs_created, 1);
	return real(ctx, cqe, cq_ctx, ch, vec);
}

/* Two engines in this process: clients connect from ce to se. */
struct pool {
	int port;
	struct rring_engine *se, *ce;
	struct echo_server srv;
	struct echo_counters cnt;
};

static struct echo_client clients[2 * NCONN];

static void up(struct pool *t)
{
	struct rring_handlers hs = {.event = echo_server_event, .arg = &t->srv};
	struct rring_handlers hc = {.event = echo_client_event};
	struct rring_params p;

	memset(t, 0, sizeof(*t));
	memset(clients, 0, sizeof(clients));
	atomic_store(&cqs_created, 0);
	echo_counters_init(&t->cnt);
	t->srv.cnt = &t->cnt;
	t->srv.close_after = -1;
	pthread_mutex_init(&t->srv.lock, NULL);
	echo_params(&p, 2);
	p.cq_entries = CQ_ENTRIES;
	t->se = rring_engine_create(&p, &hs);
	t->ce = rring_engine_create(&p, &hc);
	cr_assert(t->se && t->ce, "create: %s", strerror(errno));
	cr_assert_eq(rring_engine_start(t->se), 0);
	cr_assert_eq(rring_engine_start(t->ce), 0);
	t->port = rring_listen(t->se, "127.0.0.1", 0, &t->srv);
	cr_assert_gt(t->port, 0, "listen: %s", strerror(-t->port));
}

/* Connect clients [from, to); each closes after close_after echoes. */
static void connect_range(struct pool *t, int from, int to, int close_after)
{
	int i;

	for (i = from; i < to; i++) {
		struct echo_client *cl = &clients[i];

		cl->cnt = &t->cnt;
		cl->idx = i;
		cl->total = MSGS;
		cl->close_after = close_after;
		cr_assert_eq(rring_connect(t->ce, "127.0.0.1",
					   (uint16_t)t->port, cl, NULL),
			     0);
	}
}

static void check_errors(struct pool *t)
{
	cr_assert_eq(atomic_load(&t->cnt.errors), 0, "%s", t->cnt.first_error);
}

/* Wait (bounded) for a counter to reach want, with no failed check. */
static void reach(struct pool *t, atomic_int *v, int want, const char *what)
{
	int n = echo_wait(&t->cnt, v, want, DEADLINE_MS);

	check_errors(t);
	cr_assert_eq(n, want, "%s: %d of %d", what, n, want);
}

/* Wait (bounded) until the poller destroyed every connection of e: only
 * then is their CQ room given back. */
static void wait_no_conns(struct rring_engine *e)
{
	struct rring_stats st;
	struct timespec ts;
	uint64_t deadline;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	deadline = (uint64_t)ts.tv_sec + DEADLINE_MS / 1000;
	for (;;) {
		cr_assert_eq(rring_engine_stats(e, &st), 0);
		if (!st.poller.connections)
			return;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		cr_assert_lt((uint64_t)ts.tv_sec, deadline,
			     "%llu connections never destroyed",
			     (unsigned long long)st.poller.connections);
		sched_yield();
	}
}

static void down(struct pool *t)
{
	rring_engine_destroy(t->ce);
	rring_engine_destroy(t->se);
	echo_server_free(&t->srv);
}

Test(cq_pool, forty_connections_over_six_cqs_per_engine, .timeout = 120)
{
	static struct pool t;
	struct rring_stats st;

	up(&t);
	connect_range(&t, 0, NCONN, -1);
	reach(&t, &t.cnt.done, NCONN, "connections with every echo");
	cr_assert_eq(atomic_load(&t.cnt.accepted), NCONN);
	cr_assert_geq(atomic_load(&t.cnt.bytes), (long long)NCONN * MSGS);
	cr_assert_eq(rring_engine_stats(t.se, &st), 0);
	cr_assert_eq(st.poller.connections, NCONN);
	/* both engines: ceil(40 / 7) CQs each, not one per connection */
	cr_assert_eq(atomic_load(&cqs_created),
		     2 * ((NCONN + PER_CQ - 1) / PER_CQ));
	down(&t);
	check_errors(&t);
	cr_assert_eq(atomic_load(&t.cnt.closed), 2 * NCONN);
}

/* Closed connections give their room back: a second wave of as many
 * connections reuses the CQs of the first. */
Test(cq_pool, closed_connections_free_their_room, .timeout = 120)
{
	static struct pool t;
	const int wave = 2 * PER_CQ;
	int created;

	up(&t);
	connect_range(&t, 0, wave, MSGS);
	reach(&t, &t.cnt.closed, 2 * wave, "first wave: closes");
	wait_no_conns(t.se);
	wait_no_conns(t.ce);
	created = atomic_load(&cqs_created);
	cr_assert_eq(created, 2 * 2, "first wave created %d CQs", created);

	connect_range(&t, wave, 2 * wave, -1);
	reach(&t, &t.cnt.done, wave,
	      "second wave: connections with every echo");
	cr_assert_eq(atomic_load(&cqs_created), created,
		     "the second wave created CQs instead of reusing");
	down(&t);
	check_errors(&t);
}
