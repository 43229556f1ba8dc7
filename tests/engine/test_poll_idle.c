// SPDX-License-Identifier: BSD-3-Clause
/* rdmaring tests: poll-idle-us changed on a running engine. */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include <criterion/criterion.h>
#include <errno.h>
#include <sched.h>
#include <time.h>

#include "echo_util.h"
#include "test_support.h"

#define DEADLINE_NS (5ull * 1000000000ull)

static void no_event(struct rring_io *io, const struct rring_event *ev,
		     void *arg)
{
	(void)io;
	(void)ev;
	(void)arg;
}

static uint64_t poller_sleeps(struct rring_engine *e)
{
	struct rring_stats st;

	cr_assert_eq(rring_engine_stats(e, &st), 0);
	return st.poller.sleeps;
}

/* Started with the longest busy-poll (10 s), the idle poller spins; set to 0
 * it must go to sleep well before those 10 s are over. */
Test(poll_idle, set_at_runtime_applies_to_the_idle_period_in_progress,
     .timeout = 60)
{
	struct rring_handlers h = {.event = no_event};
	struct rring_params p;
	struct rring_engine *e;
	uint64_t start, sleeps = 0;

	cpu_set_t cpus;

	/* the poller spins only with a CPU per engine thread (here 2) */
	cr_assert_eq(sched_getaffinity(0, sizeof(cpus), &cpus), 0);
	if (CPU_COUNT(&cpus) < 2) {
		cr_log_warn("one CPU: the poller never busy-polls");
		return;
	}
	echo_params(&p, 1);
	p.poll_idle_us = RRING_DEFAULT_POLL_IDLE_US_MAX;
	e = rring_engine_create(&p, &h);
	cr_assert_not_null(e);
	cr_assert_eq(rring_engine_start(e), 0);
	start = ts_now_ns();
	cr_assert_eq(poller_sleeps(e), 0, "slept with a 10 s busy-poll");

	cr_assert_eq(rring_engine_set_poll_idle_us(
			     e, RRING_DEFAULT_POLL_IDLE_US_MAX + 1),
		     -EINVAL);
	cr_assert_eq(poller_sleeps(e), 0, "a refused value was applied");
	cr_assert_eq(rring_engine_set_poll_idle_us(e, 0), 0);
	while (ts_now_ns() - start < DEADLINE_NS && !sleeps)
		sleeps = poller_sleeps(e);
	cr_assert_gt(sleeps, 0, "poller still spinning after set to 0");

	cr_assert_eq(rring_engine_stop(e), 0);
	rring_engine_destroy(e);
}
