// SPDX-License-Identifier: BSD-3-Clause
/* rdmaring tests: which IO thread owns a new connection (conn_table.c). */
#define _GNU_SOURCE /* sched_setaffinity */
#include <criterion/criterion.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "engine.h"

/*
 * White box: an engine without threads, connections made and dropped by
 * hand. io-threads-fit-cpus counts the CPUs of the main thread (tid =
 * pid), which is this test's thread: pinning it changes the count.
 */

#define NIO 4
#define NCONN 24

static void ev_nop(struct rring_io *io, const struct rring_event *ev, void *arg)
{
	(void)io;
	(void)ev;
	(void)arg;
}

static struct rring_engine *engine_new(int fit)
{
	struct rring_handlers h = {.event = ev_nop};
	struct rring_params p;
	struct rring_engine *e;

	rring_params_init(&p);
	p.io_threads = NIO;
	p.io_fit_cpus = (uint32_t)fit;
	e = rr_engine_new(&p, &h);
	cr_assert_not_null(e);
	return e;
}

/* Make @n connections; @per_io gets how many each IO thread owns. */
static void connect_n(struct rring_engine *e, struct rring_conn **c, int n,
		      int *per_io)
{
	int i;

	memset(per_io, 0, NIO * sizeof(*per_io));
	for (i = 0; i < n; i++) {
		c[i] = rr_conn_new(e, (uint64_t)i + 1, rr_pick_owner(e));
		cr_assert_not_null(c[i]);
		rr_table_add(e, c[i]);
		per_io[c[i]->owner->idx]++;
	}
}

static void drop_all(struct rring_engine *e, struct rring_conn **c, int n)
{
	int i;

	for (i = 0; i < n; i++)
		rr_table_del(e, c[i]);
}

/* The CPUs this test may use, as it started; restored at the end. */
static cpu_set_t all;

static void pin_to(int ncpus)
{
	cpu_set_t set;
	int cpu, k = 0;

	CPU_ZERO(&set);
	for (cpu = 0; cpu < CPU_SETSIZE && k < ncpus; cpu++)
		if (CPU_ISSET(cpu, &all)) {
			CPU_SET(cpu, &set);
			k++;
		}
	cr_assert_eq(k, ncpus, "this machine lacks %d CPUs", ncpus);
	cr_assert_eq(sched_setaffinity(0, sizeof(set), &set), 0);
}

static void save_cpus(void)
{
	cr_assert_eq(sched_getaffinity(0, sizeof(all), &all), 0);
}

static void restore_cpus(void)
{
	sched_setaffinity(0, sizeof(all), &all);
}

Test(owner_pick, owners_for_cpus)
{
	/* one per CPU besides the poller's, at least one, at most n_io */
	cr_assert_eq(rr_owners_for_cpus(8, 0), 1);
	cr_assert_eq(rr_owners_for_cpus(8, 1), 1);
	cr_assert_eq(rr_owners_for_cpus(8, 2), 1);
	cr_assert_eq(rr_owners_for_cpus(8, 3), 2);
	cr_assert_eq(rr_owners_for_cpus(8, 9), 8);
	cr_assert_eq(rr_owners_for_cpus(8, 64), 8);
	cr_assert_eq(rr_owners_for_cpus(1, 64), 1);
}

/* Without the parameter, every IO thread gets its share. */
Test(owner_pick, spread_over_all_io_threads, .init = save_cpus,
     .fini = restore_cpus)
{
	struct rring_conn *c[NCONN];
	struct rring_engine *e;
	int per_io[NIO], i;

	rcu_register_thread();
	e = engine_new(0);
	pin_to(1);
	connect_n(e, c, NCONN, per_io);
	for (i = 0; i < NIO; i++)
		cr_assert_eq(per_io[i], NCONN / NIO, "io %d owns %d", i,
			     per_io[i]);
	drop_all(e, c, NCONN);
	rring_engine_destroy(e);
	rcu_unregister_thread();
}

/* With it, the count follows the CPUs at each connection, and the new
 * owners are the least loaded among those in use. */
Test(owner_pick, fit_follows_the_cpus_of_the_main_thread, .init = save_cpus,
     .fini = restore_cpus)
{
	struct rring_conn *c[2 * NCONN];
	struct rring_engine *e;
	int per_io[NIO], more[NIO], i;
	int ncpu = CPU_COUNT(&all), wide_cpus = ncpu < NIO + 1 ? ncpu : NIO + 1;
	unsigned int wide;

	cr_assert_eq(syscall(SYS_gettid), getpid(), "not the main thread");
	rcu_register_thread();
	e = engine_new(1);
	pin_to(1);
	cr_assert_eq(rr_owners_in_use(e), 1);
	connect_n(e, c, NCONN, per_io);
	cr_assert_eq(per_io[0], NCONN, "one CPU: io 0 owns all");
	/* More CPUs: the new connections fill the IO threads now in use,
	 * the least loaded first (io 0 already holds NCONN). */
	pin_to(wide_cpus);
	wide = rr_owners_in_use(e);
	cr_assert_eq(wide, rr_owners_for_cpus(NIO, wide_cpus));
	connect_n(e, c + NCONN, NCONN, more);
	for (i = 1; i < NIO; i++)
		cr_assert_eq(more[i], (unsigned int)i < wide ?
					      NCONN / (int)(wide - 1) : 0,
			     "io %d got %d of %d (%u in use)", i, more[i],
			     NCONN, wide);
	cr_assert_eq(more[0], wide == 1 ? NCONN : 0);
	drop_all(e, c, 2 * NCONN);
	rring_engine_destroy(e);
	rcu_unregister_thread();
}
