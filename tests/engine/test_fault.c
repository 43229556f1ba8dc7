// SPDX-License-Identifier: BSD-3-Clause
/* rdmaring tests: QPs forced to error by softverbs fault injection. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "echo_util.h"

/*
 * SOFTVERBS_QP_ERROR_AFTER=N (set by ctest, and here before softverbs
 * starts) moves every QP to the error state after N messages. Each
 * connection must then close exactly once on each side with no event
 * after CLOSED, every echo delivered before the error must be intact and
 * in order, and stop must still close and free everything.
 */

#define NCONN 20
#define MSGS 1000 /* far beyond the error point */

Test(fault, qp_error_closes_each_connection_once, .timeout = 120)
{
	static struct echo_counters cnt;
	static struct echo_server srv;
	static struct echo_client cl[NCONN];
	struct rring_handlers sh = {.event = echo_server_event, .arg = &srv};
	struct rring_handlers ch = {.event = echo_client_event};
	struct rring_engine *se, *ce;
	struct rring_params p;
	int port, i, closed, errored = 0;

	setenv("SOFTVERBS_QP_ERROR_AFTER", "25",
	       0); /* before softverbs starts */
	echo_server_init(&srv, &cnt, -1);
	echo_params(&p, 2);
	se = rring_engine_create(&p, &sh);
	ce = rring_engine_create(&p, &ch);
	cr_assert(se && ce);
	cr_assert_eq(rring_engine_start(se), 0);
	cr_assert_eq(rring_engine_start(ce), 0);
	port = rring_listen(se, "127.0.0.1", 0, &srv);
	cr_assert_gt(port, 0);
	for (i = 0; i < NCONN; i++) {
		echo_client_init(&cl[i], &cnt, i, MSGS, -1);
		cr_assert_eq(rring_connect(ce, "127.0.0.1", (uint16_t)port,
					   &cl[i], NULL),
			     0);
	}
	/* Every connection fails on both sides, without any help. */
	closed = echo_wait(&cnt, &cnt.closed, 2 * NCONN, 60000);
	cr_assert_eq(atomic_load(&cnt.errors), 0, "%s", cnt.first_error);
	cr_assert_eq(closed, 2 * NCONN, "%d of %d closed", closed, 2 * NCONN);
	for (i = 0; i < NCONN; i++) {
		cr_assert(cl[i].established, "conn %d never established", i);
		cr_assert_lt(cl[i].next_recv, MSGS);
		errored += cl[i].close_status != 0;
	}
	cr_assert_gt(errored, 0, "no connection saw the QP error");
	rring_engine_destroy(ce);
	rring_engine_destroy(se);
	cr_assert_eq(atomic_load(&cnt.errors), 0, "%s", cnt.first_error);
	cr_assert_eq(atomic_load(&cnt.closed), 2 * NCONN, "event after close");
	echo_server_free(&srv);
}
