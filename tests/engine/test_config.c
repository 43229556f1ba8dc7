// SPDX-License-Identifier: BSD-3-Clause
/* rdmaring tests: engine parameters, defaults, key=value errors, refusals. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "rdmaring.h"

Test(config, defaults_are_documented_values)
{
	struct rring_params p;
	char err[256];

	rring_params_init(&p);
	cr_assert_eq(p.size, sizeof(p));
	cr_assert_eq(p.io_threads, RRING_DEFAULT_IO_THREADS);
	cr_assert_eq(p.ring_entries, RRING_DEFAULT_RING_ENTRIES);
	cr_assert_eq(p.rx_size, 1u << 20);
	cr_assert_eq(p.poller_cpu, RRING_CPU_AUTO);
	cr_assert_eq(p.numa_node, -1);
	cr_assert_eq(p.io_cpus_mode, RRING_IO_CPUS_AUTO);
	cr_assert_str_eq(p.sysfs_root, "/sys");
	cr_assert_eq(rring_params_validate(&p, err, sizeof(err)), 0, "%s", err);
}

Test(config, sets_every_integer_key)
{
	static const struct {
		const char *key, *val;
		size_t off;
		long long want;
	} cases[] = {
	    {"io-threads", "8", offsetof(struct rring_params, io_threads), 8},
	    {"ring-entries", "1024",
	     offsetof(struct rring_params, ring_entries), 1024},
	    {"poll-idle-us", "0", offsetof(struct rring_params, poll_idle_us),
	     0},
	    {"poller-cpu", "3", offsetof(struct rring_params, poller_cpu), 3},
	    {"poller-cpu", "none", offsetof(struct rring_params, poller_cpu),
	     -2},
	    {"poller-cpu", "auto", offsetof(struct rring_params, poller_cpu),
	     -1},
	    {"numa-node", "1", offsetof(struct rring_params, numa_node), 1},
	    {"cq-entries", "4096", offsetof(struct rring_params, cq_entries),
	     4096},
	    {"comp-vector", "2", offsetof(struct rring_params, comp_vector), 2},
	    {"rx-size", "65536", offsetof(struct rring_params, rx_size), 65536},
	    {"rx-size", "16777216", offsetof(struct rring_params, rx_size),
	     16777216},
	    {"max-connections", "100",
	     offsetof(struct rring_params, max_connections), 100},
	    {"msg-depth", "4", offsetof(struct rring_params, msg_depth), 4},
	};
	struct rring_params p;
	char err[256];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int32_t v;

		rring_params_init(&p);
		cr_assert_eq(rring_params_set(&p, cases[i].key, cases[i].val,
					      err, sizeof(err)),
			     0, "%s=%s: %s", cases[i].key, cases[i].val, err);
		memcpy(&v, (char *)&p + cases[i].off, sizeof(v));
		cr_assert_eq(v, cases[i].want, "%s=%s gave %d", cases[i].key,
			     cases[i].val, v);
		cr_assert_eq(rring_params_validate(&p, err, sizeof(err)), 0,
			     "%s", err);
	}
}

Test(config, errors_name_key_value_and_range)
{
	static const struct {
		const char *key, *val, *range;
	} bad[] = {
	    {"io-threads", "0", "1..64"},
	    {"io-threads", "65", "1..64"},
	    {"io-threads", "4x", "1..64"},
	    {"io-threads", "", "1..64"},
	    {"ring-entries", "1000", "power of two"},
	    {"ring-entries", "1", "2..16777216"},
	    {"rx-size", "65535", "65536..16777216"},
	    {"rx-size", "16777217", "65536..16777216"},
	    {"rx-size", "99999999999999999999999", "65536..16777216"},
	    {"poller-cpu", "-3", "-2..4095"},
	    {"numa-node", "-2", "-1..1023"},
	    {"comp-vector", "x", "-1..1023"},
	    {"max-connections", "0", "1..1000000"},
	    {"poll-idle-us", "-1", "0..10000000"},
	};
	struct rring_params p;
	char err[256];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		rring_params_init(&p);
		cr_assert_eq(rring_params_set(&p, bad[i].key, bad[i].val, err,
					      sizeof(err)),
			     -EINVAL, "%s=%s accepted", bad[i].key, bad[i].val);
		cr_assert(strstr(err, bad[i].key), "%s", err);
		cr_assert(strstr(err, bad[i].range), "%s", err);
		cr_assert(strstr(err, bad[i].val), "%s", err);
		/* A rejected value leaves the field untouched. */
		cr_assert_eq(rring_params_validate(&p, err, sizeof(err)), 0);
	}
}

Test(config, unknown_key)
{
	struct rring_params p;
	char err[256];

	rring_params_init(&p);
	cr_assert_eq(rring_params_set(&p, "rx_size", "65536", err, sizeof(err)),
		     -ENOENT);
	cr_assert(strstr(err, "rx_size"), "%s", err);
	cr_assert_eq(rring_params_set(&p, NULL, "1", NULL, 0), -EINVAL);
}

Test(config, cpu_list)
{
	struct rring_params p;
	char err[256];

	rring_params_init(&p);
	cr_assert_eq(
	    rring_params_set(&p, "io-thread-cpus", "0,2,4-6", err, sizeof(err)),
	    0, "%s", err);
	cr_assert_eq(p.io_cpus_mode, 5);
	cr_assert_eq(p.io_cpus[0], 0);
	cr_assert_eq(p.io_cpus[1], 2);
	cr_assert_eq(p.io_cpus[4], 6);
	cr_assert_eq(
	    rring_params_set(&p, "io-thread-cpus", "none", err, sizeof(err)),
	    0);
	cr_assert_eq(p.io_cpus_mode, RRING_IO_CPUS_NONE);
	cr_assert_eq(
	    rring_params_set(&p, "io-thread-cpus", "auto", err, sizeof(err)),
	    0);
	cr_assert_eq(p.io_cpus_mode, RRING_IO_CPUS_AUTO);
	cr_assert_eq(
	    rring_params_set(&p, "io-thread-cpus", "3-1", err, sizeof(err)),
	    -EINVAL);
	cr_assert(strstr(err, "io-thread-cpus") && strstr(err, "3-1"), "%s",
		  err);
	cr_assert_eq(
	    rring_params_set(&p, "io-thread-cpus", "1,,2", err, sizeof(err)),
	    0); /* empty elements are skipped like strtok */
	cr_assert_eq(
	    rring_params_set(&p, "io-thread-cpus", "0-9999", err, sizeof(err)),
	    -EINVAL);
	cr_assert_eq(p.io_cpus_mode, 2, "failed set kept the old list");
}

Test(config, sysfs_root_and_validate)
{
	struct rring_params p;
	char err[256], big[400];

	rring_params_init(&p);
	cr_assert_eq(
	    rring_params_set(&p, "sysfs-root", "/tmp/x", err, sizeof(err)), 0);
	cr_assert_str_eq(p.sysfs_root, "/tmp/x");
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	cr_assert_eq(rring_params_set(&p, "sysfs-root", big, err, sizeof(err)),
		     -EINVAL);
	cr_assert(strstr(err, "sysfs-root"), "%s", err);
	p.ring_entries = 100;
	cr_assert_eq(rring_params_validate(&p, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "ring-entries") && strstr(err, "100"), "%s", err);
	rring_params_init(&p);
	p.size = 4;
	cr_assert_eq(rring_params_validate(&p, err, sizeof(err)), -EINVAL);
}

static char create_log[256];

static void capture_log(int level, const char *msg, void *arg)
{
	(void)arg;
	if (level == 0)
		snprintf(create_log, sizeof(create_log), "%s", msg);
}

Test(config, create_without_event_handler_logs_why)
{
	struct rring_handlers h = {.log = capture_log};
	struct rring_params p;

	rring_params_init(&p);
	errno = 0;
	cr_assert_null(rring_engine_create(&p, &h));
	cr_assert_eq(errno, EINVAL);
	cr_assert(strstr(create_log, "handlers->event"), "log: '%s'",
		  create_log);
	create_log[0] = '\0';
	errno = 0;
	cr_assert_null(rring_engine_create(NULL, &h));
	cr_assert_eq(errno, EINVAL);
	cr_assert(strstr(create_log, "params"), "log: '%s'", create_log);
}
