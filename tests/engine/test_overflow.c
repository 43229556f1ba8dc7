// SPDX-License-Identifier: BSD-3-Clause
/* rdmaring tests: completion routing and the overflow path (no verbs). */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "test_support.h"

/*
 * White box: an engine without threads, synthetic connections in the
 * table, synthetic work completions through rr_poller_route_wcs, and the
 * IO threads' completion rings read raw. wr_id carries a per-connection
 * sequence number; every consumer checks it increases by one.
 */

#define NCONN 6
#define NIO 2

static struct rring_engine *e;
static struct rring_conn *conns[NCONN];

static void ev_nop(struct rring_io *io, const struct rring_event *ev, void *arg)
{
	(void)io;
	(void)ev;
	(void)arg;
}

static void make_engine(uint32_t ring_entries)
{
	struct rring_params p;
	struct rring_handlers h = {.event = ev_nop};
	int i;

	rcu_register_thread();
	rring_params_init(&p);
	p.io_threads = NIO;
	p.ring_entries = ring_entries;
	e = rr_engine_new(&p, &h);
	cr_assert(e);
	cr_assert_eq(rr_engine_alloc_rings(e, -1), 0);
	for (i = 0; i < NCONN; i++) {
		conns[i] = rr_conn_new(e, (uint64_t)i + 1, rr_pick_owner(e));
		cr_assert(conns[i]);
		conns[i]->qp_num =
		    0x100 + (uint32_t)i * 4096; /* sparse, as a provider's */
		conns[i]->state = RR_CONN_ESTABLISHED;
		rr_table_add(e, conns[i]);
		rr_table_add_qp(e, conns[i]);
	}
}

static void free_engine(void)
{
	int i;

	for (i = 0; i < NCONN; i++)
		rr_table_del(e, conns[i]);
	rring_engine_destroy(e);
	rcu_unregister_thread();
}

static void wc_for(struct ibv_wc *wc, int conn, uint64_t seq)
{
	memset(wc, 0, sizeof(*wc));
	wc->qp_num = conns[conn]->qp_num;
	wc->wr_id = seq;
	wc->status = IBV_WC_SUCCESS;
	wc->opcode = IBV_WC_RECV;
	wc->byte_len = (uint32_t)seq;
}

/* Pop up to max raw entries of io, checking per-connection order. */
static int consume(struct rring_io *io, uint64_t *next, int max)
{
	uint32_t idx, i, n;
	int got = 0;

	while (got < max && (n = rring_spsc_peek(io->cq, 1, &idx)) > 0) {
		for (i = 0; i < n; i++) {
			struct rr_cqe *q = rr_cq_slot(io, idx + i);
			int k = (int)(q->conn->id - 1);

			cr_assert_eq(q->type, RR_CQE_WC);
			cr_assert_eq(q->conn->owner, io, "routed to non-owner");
			cr_assert_eq(q->wr_id, next[k],
				     "conn %d: got %llu want %llu", k,
				     (unsigned long long)q->wr_id,
				     (unsigned long long)next[k]);
			cr_assert_eq(q->byte_len, (uint32_t)q->wr_id);
			next[k]++;
		}
		rring_spsc_release(io->cq, n);
		got += (int)n;
	}
	return got;
}

Test(overflow, tiny_ring_loses_and_reorders_nothing)
{
	uint64_t sent[NCONN] = {0}, next[NCONN] = {0}, total = 0, seen = 0;
	struct ibv_wc wc[64];
	struct rring_stats st;
	unsigned int seed = 1;
	int round, i;

	make_engine(4);
	for (round = 0; round < 2000; round++) {
		int n = 1 + rand_r(&seed) % 64;

		for (i = 0; i < n; i++) {
			int k = rand_r(&seed) % NCONN;

			wc_for(&wc[i], k, sent[k]++);
		}
		rr_poller_route_wcs(e, wc, n);
		rr_poller_flush(e);
		total += (uint64_t)n;
		/* Consumers lag: take a random, often small, share. */
		for (i = 0; i < NIO; i++)
			seen += (uint64_t)consume(e->io[i], next,
						  rand_r(&seed) % 8);
	}
	/* Drain: each poller loop moves overflow into the freed slots. */
	while (seen < total) {
		int got = 0;

		rr_poller_flush_overflows(e);
		rr_poller_flush(e);
		for (i = 0; i < NIO; i++)
			got += consume(e->io[i], next, 1 << 30);
		seen += (uint64_t)got;
		cr_assert(got || e->n_ovf, "entries lost: %llu of %llu",
			  (unsigned long long)seen, (unsigned long long)total);
	}
	cr_assert_eq(e->n_ovf, 0);
	for (i = 0; i < NCONN; i++)
		cr_assert_eq(next[i], sent[i], "conn %d: %llu of %llu", i,
			     (unsigned long long)next[i],
			     (unsigned long long)sent[i]);
	cr_assert_eq(rring_engine_stats(e, &st), 0);
	cr_assert_gt(st.io[0].overflow + st.io[1].overflow, 0,
		     "the tiny ring never overflowed");
	free_engine();
}

/* A consumer thread that sleeps with the NEED_WAKEUP protocol at random
 * points while the routing side produces: nothing lost, no lost wakeup. */
struct sleeper {
	struct rring_io *io;
	uint64_t *next;
	uint64_t want;
	uint64_t got;
	unsigned int seed;
};

static void *sleeper_main(void *arg)
{
	struct sleeper *s = arg;
	struct pollfd pfd = {.fd = s->io->efd, .events = POLLIN};
	uint64_t v;

	while (s->got < s->want) {
		int n = consume(s->io, s->next, 1 + rand_r(&s->seed) % 16);

		s->got += (uint64_t)n;
		if (s->got >= s->want)
			break;
		if (n && rand_r(&s->seed) % 4)
			continue;
		if (rring_spsc_prepare_sleep(s->io->cq)) {
			/* Bounded: a lost wakeup fails instead of hanging. */
			cr_assert_gt(poll(&pfd, 1, 5000), 0,
				     "lost wakeup at %llu of %llu",
				     (unsigned long long)s->got,
				     (unsigned long long)s->want);
			if (read(s->io->efd, &v, sizeof(v)) < 0)
				v = 0;
		}
		rring_spsc_cancel_sleep(s->io->cq);
	}
	return NULL;
}

Test(overflow, sleeping_consumers_get_every_entry, .timeout = 60)
{
#ifdef TS_SANITIZED
	const int rounds = 3000;
#else
	const int rounds = 30000;
#endif
	uint64_t sent[NCONN] = {0}, next[NCONN] = {0}, per_io[NIO] = {0};
	struct sleeper sl[NIO];
	pthread_t th[NIO];
	struct ibv_wc wc[16];
	unsigned int seed = 7;
	int round, i;

	make_engine(16);
	/* Plan the stream first so each consumer knows how much to expect. */
	for (round = 0; round < rounds; round++)
		for (i = 0; i < 4; i++)
			per_io[conns[(round * 4 + i) % NCONN]->owner->idx]++;
	for (i = 0; i < NIO; i++) {
		sl[i] = (struct sleeper){.io = e->io[i],
					 .next = next,
					 .want = per_io[i],
					 .seed = (unsigned int)i + 1};
		cr_assert_eq(pthread_create(&th[i], NULL, sleeper_main, &sl[i]),
			     0);
	}
	for (round = 0; round < rounds; round++) {
		for (i = 0; i < 4; i++) {
			int k = (round * 4 + i) % NCONN;

			wc_for(&wc[i], k, sent[k]++);
		}
		rr_poller_route_wcs(e, wc, 4);
		rr_poller_flush_overflows(e);
		rr_poller_flush(e);
		if (rand_r(&seed) % 64 == 0)
			sched_yield();
	}
	while (e->n_ovf) { /* the poller keeps flushing while owners lag */
		rr_poller_flush_overflows(e);
		rr_poller_flush(e);
		sched_yield();
	}
	for (i = 0; i < NIO; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < NCONN; i++)
		cr_assert_eq(next[i], sent[i]);
	free_engine();
}
