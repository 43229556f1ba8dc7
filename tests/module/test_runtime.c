/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring tests: engine hooks, stats snapshot, unload check
 * (module/runtime.c). */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "runtime.h"

struct fake {
	bool running;
	int stop_ret;
	int stops;
	enum rdm_knob_id last_id;
	long long last_val;
};

static bool fake_running(void *priv)
{
	return ((struct fake *)priv)->running;
}

static int fake_stop(void *priv)
{
	struct fake *f = priv;

	f->stops++;
	if (!f->stop_ret)
		f->running = false;
	return f->stop_ret;
}

static int fake_apply(void *priv, enum rdm_knob_id id, long long v)
{
	struct fake *f = priv;

	f->last_id = id;
	f->last_val = v;
	return v == 12345 ? -EINVAL : 0;
}

static void fake_stats(void *priv, struct rdm_stats *s)
{
	(void)priv;
	s->connected_clients = 3;
	s->io[s->nr_io - 1].bytes_in = 99;
}

Test(runtime, unload_without_engine_is_allowed)
{
	char msg[256] = "";

	cr_assert_eq(rdm_unload_check(NULL, msg, sizeof(msg)), 0);
	struct rdm_engine_ops none = {0};
	cr_assert_eq(rdm_unload_check(&none, msg, sizeof(msg)), 0);
}

Test(runtime, unload_refused_while_threads_cannot_stop)
{
	struct fake f = {.running = true, .stop_ret = -EBUSY};
	struct rdm_engine_ops ops = {
	    .running = fake_running, .stop = fake_stop, .priv = &f};
	char msg[256] = "";

	cr_assert_eq(rdm_unload_check(&ops, msg, sizeof(msg)), -EBUSY);
	cr_assert_eq(f.stops, 1);
	cr_assert_not_null(strstr(msg, "cannot be unloaded"));
	cr_assert_not_null(strstr(msg, "threads"));
	ops.stop = NULL;
	cr_assert_eq(rdm_unload_check(&ops, msg, sizeof(msg)), -EBUSY);
}

Test(runtime, unload_allowed_after_clean_stop)
{
	struct fake f = {.running = true, .stop_ret = 0};
	struct rdm_engine_ops ops = {
	    .running = fake_running, .stop = fake_stop, .priv = &f};
	char msg[256];

	cr_assert_eq(rdm_unload_check(&ops, msg, sizeof(msg)), 0);
	cr_assert_eq(f.stops, 1);
	cr_assert_eq(f.running, false);
}

Test(runtime, apply_forwards_runtime_knobs)
{
	struct fake f = {0};
	struct rdm_engine_ops ops = {.apply = fake_apply, .priv = &f};

	cr_assert_eq(rdm_apply_runtime(NULL, RDM_KNOB_POLL_IDLE_US, 5), 0);
	cr_assert_eq(rdm_apply_runtime(&ops, RDM_KNOB_MAX_CLIENTS, 77), 0);
	cr_assert_eq(f.last_id, RDM_KNOB_MAX_CLIENTS);
	cr_assert_eq(f.last_val, 77);
	cr_assert_eq(rdm_apply_runtime(&ops, RDM_KNOB_MAX_CLIENTS, 12345),
		     -EINVAL);
}

Test(runtime, stats_snapshot_zeroed_and_clamped)
{
	struct rdm_engine_ops ops = {.stats = fake_stats};
	static struct rdm_stats s;

	memset(&s, 0xff, sizeof(s));
	rdm_stats_snapshot(NULL, 2, &s);
	cr_assert_eq(s.nr_io, 2);
	cr_assert_eq(s.connected_clients, 0);
	cr_assert_eq(s.io[1].wakeups, 0);
	rdm_stats_snapshot(&ops, 100000, &s);
	cr_assert_eq(s.nr_io, RDM_IO_THREADS_MAX);
	cr_assert_eq(s.connected_clients, 3);
	cr_assert_eq(s.io[RDM_IO_THREADS_MAX - 1].bytes_in, 99);
}
