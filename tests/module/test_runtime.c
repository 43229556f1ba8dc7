/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring tests: engine hooks, stats snapshot, unload check
 * (module/runtime.c). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
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

Test(runtime, placement_line_names_every_thread)
{
	struct rdm_stats s;
	char line[400];

	rdm_stats_snapshot(NULL, 2, &s);
	rdm_placement_line(&s, line, sizeof(line));
	cr_assert_str_eq(line, "poller on CPU ?, rring-io-0 on CPU ?, "
			       "rring-io-1 on CPU ?, call_rcu worker on CPU ?, "
			       "memory on any node");
	snprintf(s.poller_cpus, sizeof(s.poller_cpus), "1");
	s.poller_node = 0;
	snprintf(s.io[0].cpus, sizeof(s.io[0].cpus), "0,2-3");
	s.io[0].node = -1;
	snprintf(s.io[1].cpus, sizeof(s.io[1].cpus), "0");
	s.io[1].node = 1;
	snprintf(s.rcu_cpus, sizeof(s.rcu_cpus), "0-3");
	s.mem_node = 1;
	rdm_placement_line(&s, line, sizeof(line));
	cr_assert_str_eq(line, "poller on CPU 1 (node 0), rring-io-0 on CPUs "
			       "0,2-3, rring-io-1 on CPU 0 (node 1), call_rcu "
			       "worker on CPUs 0-3, memory on node 1");
	/* a short buffer is cut, never overrun */
	rdm_placement_line(&s, line, 10);
	cr_assert_eq(strlen(line), 9);
}

static int fake_listen(void *priv, const char *bind, long long port,
		       char *err, size_t errlen)
{
	struct fake *f = priv;

	f->last_val = port;
	snprintf(err, errlen, "%s", bind);
	return port == 1 ? -EADDRINUSE : 0;
}

Test(runtime, listen_moves_or_says_why_not)
{
	struct fake f = {0};
	struct rdm_engine_ops ops = {.listen = fake_listen, .priv = &f};
	struct rdm_engine_ops lb = {.running = fake_running, .priv = &f};
	char err[300];

	cr_assert_eq(rdm_listen_runtime(&ops, "*", 7000, err, sizeof(err)), 0);
	cr_assert_eq(f.last_val, 7000);
	cr_assert_eq(rdm_listen_runtime(&ops, "*", 1, err, sizeof(err)),
		     -EADDRINUSE);
	cr_assert_eq(rdm_listen_runtime(NULL, "*", 7000, err, sizeof(err)),
		     -EPERM);
	cr_assert_not_null(strstr(err, "port was 0 at load"), "%s", err);
	cr_assert_not_null(strstr(err, "restart"), "%s", err);
	f.running = true;
	cr_assert_eq(rdm_listen_runtime(&lb, "*", 7000, err, sizeof(err)),
		     -EPERM);
	cr_assert_not_null(strstr(err, "loopback-port"), "%s", err);
}
