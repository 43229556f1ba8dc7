// SPDX-License-Identifier: BSD-3-Clause
/* rdmaring tests: the poller's routes by QP number (conn_table.c). */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "engine.h"

/*
 * White box: an engine without threads and synthetic connections with
 * sparse QP numbers. The table grows from its minimum through many
 * doublings, entries are removed in a scrambled order (each removal shifts
 * later entries of its probe run back), and after every phase each QP
 * number must route to its own connection, owner and state, or to nothing.
 */

#define NCONN 20000
#define NIO 3

static struct rring_engine *e;
static struct rring_conn *conns[NCONN];
static int live[NCONN];

static void ev_nop(struct rring_io *io, const struct rring_event *ev, void *arg)
{
	(void)io;
	(void)ev;
	(void)arg;
}

static uint32_t qpn_of(int i)
{
	/* 24-bit and spread like a provider's; distinct for i < 2^24. */
	return ((uint32_t)i * 2654435761u) & 0xffffff;
}

static void check_all(void)
{
	int i;

	for (i = 0; i < NCONN; i++) {
		const struct rr_route *r = rr_table_route(e, qpn_of(i));

		if (!live[i]) {
			cr_assert_null(r, "conn %d removed", i);
			continue;
		}
		cr_assert_not_null(r, "conn %d", i);
		cr_assert_eq(r->conn, conns[i]);
		cr_assert_eq(r->qp_num, qpn_of(i));
		cr_assert_eq(e->io[r->owner], conns[i]->owner);
		cr_assert_eq(r->state, conns[i]->state);
	}
	cr_assert_null(rr_table_route(e, 0x1000000), "never added");
}

Test(conn_table, routes_survive_growth_and_scrambled_removal, .timeout = 60)
{
	struct rring_params p;
	struct rring_handlers h = {.event = ev_nop};
	unsigned int removed = 0;
	int i, k;

	rcu_register_thread();
	rring_params_init(&p);
	p.io_threads = NIO;
	e = rr_engine_new(&p, &h);
	cr_assert(e);
	cr_assert_eq(rr_engine_alloc_rings(e, -1), 0);
	for (i = 0; i < NCONN; i++) {
		conns[i] = rr_conn_new(e, (uint64_t)i + 1, rr_pick_owner(e));
		cr_assert(conns[i]);
		conns[i]->qp_num = qpn_of(i);
		rr_conn_set_state(e, conns[i], RR_CONN_CONNECTING);
		rr_table_add(e, conns[i]);
		cr_assert_eq(rr_table_add_qp(e, conns[i]), 0);
		live[i] = 1;
	}
	cr_assert_eq(e->n_routes, NCONN);
	cr_assert_leq(2 * e->n_routes, e->routes_mask + 1, "half full");
	check_all();
	for (i = 0; i < NCONN; i += 7)
		rr_conn_set_state(e, conns[i], RR_CONN_ESTABLISHED);
	for (i = 3; i < NCONN; i += 11)
		rr_conn_set_state(e, conns[i], RR_CONN_CLOSING);
	check_all();
	/* Remove two thirds, visiting indexes in a scrambled order. */
	for (k = 0; k < NCONN; k++) {
		i = (int)(((uint64_t)k * 7919) % NCONN);
		if (i % 3 == 0)
			continue;
		rr_table_del(e, conns[i]);
		live[i] = 0;
		removed++;
	}
	cr_assert_eq(e->n_routes, NCONN - removed);
	check_all();
	for (i = 0; i < NCONN; i++)
		if (live[i])
			rr_table_del(e, conns[i]);
	cr_assert_eq(e->n_routes, 0);
	rring_engine_destroy(e);
	rcu_unregister_thread();
}
