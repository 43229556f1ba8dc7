/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring tests: knob table, load arguments, runtime updates (module/knobs.c).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "knobs.h"

/* Parse one "key=value" load argument into a fresh knob set. */
static int parse1(struct rdm_knobs *k, const char *arg, char *err,
		  size_t errlen)
{
	size_t len = strlen(arg);
	const char *argv[1] = {arg};

	rdm_knobs_init(k);
	return rdm_knobs_parse_args(k, 1, argv, &len, err, errlen);
}

static void expect_bad(const char *key, const char *val)
{
	char arg[128], err[400] = "", want_val[80];
	struct rdm_knobs k;

	snprintf(arg, sizeof(arg), "%s=%s", key, val);
	cr_assert_lt(parse1(&k, arg, err, sizeof(err)), 0, "%s accepted", arg);
	snprintf(want_val, sizeof(want_val), "'%s'", val);
	cr_assert_not_null(strstr(err, want_val), "%s: %s", arg, err);
	cr_assert_not_null(strstr(err, key), "%s: %s", arg, err);
	/* the range is named, unless it is the bind list */
	if (strcmp(key, "bind"))
		cr_assert_not_null(strstr(err, " from "), "%s: %s", arg, err);
}

static void expect_good(const char *key, const char *val, long long want)
{
	const struct rdm_knob_desc *d = rdm_knob_find(key, strlen(key));
	char arg[128], err[400] = "";
	struct rdm_knobs k;

	snprintf(arg, sizeof(arg), "%s=%s", key, val);
	cr_assert_eq(parse1(&k, arg, err, sizeof(err)), 0, "%s: %s", arg, err);
	cr_assert_eq(k.num[d->id], want, "%s", arg);
}

/* Each numeric knob: both ends, one past each end, junk. */
static void check_range(const char *key, long long lo, long long hi)
{
	char v[32];

	snprintf(v, sizeof(v), "%lld", lo);
	expect_good(key, v, lo);
	snprintf(v, sizeof(v), "%lld", hi);
	expect_good(key, v, hi);
	snprintf(v, sizeof(v), "%lld", lo - 1);
	expect_bad(key, v);
	snprintf(v, sizeof(v), "%lld", hi + 1);
	expect_bad(key, v);
	expect_bad(key, "");
	expect_bad(key, "12abc");
	expect_bad(key, " 5");
	expect_bad(key, "0x10");
	expect_bad(key, "99999999999999999999999");
}

Test(knobs, defaults_match_valkey_where_shared)
{
	struct rdm_knobs k;

	rdm_knobs_init(&k);
	cr_assert_str_eq(k.bind, "*");
	cr_assert_eq(k.num[RDM_KNOB_PORT], 0);
	cr_assert_eq(k.num[RDM_KNOB_RX_SIZE], 1024 * 1024);
	cr_assert_eq(k.num[RDM_KNOB_COMP_VECTOR], -1);
	cr_assert_eq(k.num[RDM_KNOB_IO_THREADS], RDM_DEFAULT_IO_THREADS);
	cr_assert_eq(k.num[RDM_KNOB_POLL_IDLE_US], RDM_DEFAULT_POLL_IDLE_US);
	cr_assert_eq(k.num[RDM_KNOB_RING_ENTRIES], RDM_DEFAULT_RING_ENTRIES);
	cr_assert_eq(k.num[RDM_KNOB_POLLER_CPU], -1);
	cr_assert_eq(k.num[RDM_KNOB_RING_ENTRIES], 4096);
	cr_assert_eq(k.num[RDM_KNOB_POLL_IDLE_US], 50);
	cr_assert_eq(k.num[RDM_KNOB_NUMA_NODE], -1);
	cr_assert_eq(k.num[RDM_KNOB_MAX_CLIENTS], RDM_DEFAULT_MAX_CLIENTS);
}

Test(knobs, every_numeric_knob_range)
{
	check_range("port", 0, 65535);
	check_range("io-threads", 1, 64);
	check_range("rx-size", 64 * 1024, 16 * 1024 * 1024);
	check_range("comp-vector", -1, 1024);
	check_range("poll-idle-us", 0, 10000000);
	check_range("ring-entries", 64, 1 << 24);
	check_range("poller-cpu", -2, 4095);
	check_range("numa-node", -1, 1023);
	check_range("max-clients", 1, 1000000);
}

Test(knobs, ring_entries_power_of_two)
{
	char err[400];
	struct rdm_knobs k;

	expect_good("ring-entries", "4096", 4096);
	expect_bad("ring-entries", "100");
	parse1(&k, "ring-entries=1000", err, sizeof(err));
	cr_assert_not_null(strstr(err, "power of two"), "%s", err);
}

Test(knobs, special_values_explained)
{
	char err[400];
	struct rdm_knobs k;

	cr_assert_lt(parse1(&k, "comp-vector=-2", err, sizeof(err)), 0);
	cr_assert_str_eq(err, "bad value '-2' for comp-vector: expected an "
			      "integer from -1 to 1024 (-1 = random)");
	cr_assert_lt(parse1(&k, "port=70000", err, sizeof(err)), 0);
	cr_assert_str_eq(err, "bad value '70000' for port: expected an "
			      "integer from 0 to 65535 (0 = no RDMA listener)");
}

Test(knobs, bind_lists)
{
	struct rdm_knobs k;
	char err[400];

	cr_assert_eq(parse1(&k, "bind=127.0.0.1", err, sizeof(err)), 0);
	cr_assert_str_eq(k.bind, "127.0.0.1");
	cr_assert_eq(
	    parse1(&k, "bind=192.168.1.2 -::1 * ::*", err, sizeof(err)), 0);
	cr_assert_str_eq(k.bind, "192.168.1.2 -::1 * ::*");
	expect_bad("bind", "");
	expect_bad("bind", "   ");
	expect_bad("bind", "example.com");
	expect_bad("bind", "1.2.3.4.5");
	expect_bad("bind", "-");
	expect_bad("bind", "1 2 3 4 5 6 7 8 9 1 2 3 4 5 6 7 8"); /* 17 */
}

Test(knobs, load_args_valkey_compatible_and_ordered)
{
	const char *argv[] = {"bind=127.0.0.1", "port=6380",	"rx-size=65536",
			      "comp-vector=3",	"IO-THREADS=8", "port=6381"};
	size_t lens[6];
	struct rdm_knobs k;
	char err[400];
	int i;

	for (i = 0; i < 6; i++)
		lens[i] = strlen(argv[i]);
	rdm_knobs_init(&k);
	cr_assert_eq(rdm_knobs_parse_args(&k, 6, argv, lens, err, sizeof(err)),
		     0, "%s", err);
	cr_assert_str_eq(k.bind, "127.0.0.1");
	cr_assert_eq(k.num[RDM_KNOB_PORT], 6381); /* later wins */
	cr_assert_eq(k.num[RDM_KNOB_RX_SIZE], 65536);
	cr_assert_eq(k.num[RDM_KNOB_COMP_VECTOR], 3);
	cr_assert_eq(k.num[RDM_KNOB_IO_THREADS], 8);
}

Test(knobs, bad_argument_shapes_leave_knobs_unchanged)
{
	const char *argv[] = {"port=7000", "nonsense"};
	size_t lens[] = {9, 8};
	struct rdm_knobs k;
	char err[400];

	rdm_knobs_init(&k);
	cr_assert_eq(rdm_knobs_parse_args(&k, 2, argv, lens, err, sizeof(err)),
		     -EINVAL);
	cr_assert_not_null(strstr(err, "'nonsense'"), "%s", err);
	cr_assert_not_null(strstr(err, "key=value"), "%s", err);
	cr_assert_eq(k.num[RDM_KNOB_PORT], 0);
	argv[1] = "colour=blue";
	lens[1] = 11;
	cr_assert_eq(rdm_knobs_parse_args(&k, 2, argv, lens, err, sizeof(err)),
		     -EINVAL);
	cr_assert_not_null(strstr(err, "unknown argument 'colour'"), "%s", err);
	cr_assert_eq(k.num[RDM_KNOB_PORT], 0);
}

Test(knobs, runtime_update_rules)
{
	const struct rdm_knob_desc *port = rdm_knob_desc_get(RDM_KNOB_RX_SIZE);
	const struct rdm_knob_desc *bind = rdm_knob_desc_get(RDM_KNOB_BIND);
	const struct rdm_knob_desc *cpus =
	    rdm_knob_desc_get(RDM_KNOB_IO_THREAD_CPUS);
	const struct rdm_knob_desc *idle =
	    rdm_knob_desc_get(RDM_KNOB_POLL_IDLE_US);
	const struct rdm_knob_desc *maxc =
	    rdm_knob_desc_get(RDM_KNOB_MAX_CLIENTS);
	struct rdm_knobs k;
	bool changed;
	char err[400];

	rdm_knobs_init(&k);
	/* startup: restart-only knobs accept values */
	cr_assert_eq(
	    rdm_knob_update(&k, port, 65536, true, &changed, err, sizeof(err)),
	    0);
	cr_assert(changed);
	/* runtime: refused with the restart message, value kept */
	cr_assert_eq(
	    rdm_knob_update(&k, port, 131072, false, &changed, err, sizeof(err)),
	    -EPERM);
	cr_assert_not_null(strstr(err, "rdmaring.rx-size"), "%s", err);
	cr_assert_not_null(strstr(err, "restart"), "%s", err);
	cr_assert_eq(k.num[RDM_KNOB_RX_SIZE], 65536);
	/* same value at runtime is not a change */
	cr_assert_eq(
	    rdm_knob_update(&k, port, 65536, false, &changed, err, sizeof(err)),
	    0);
	cr_assert(!changed);
	/* runtime knobs apply at once; ranges still hold */
	cr_assert_eq(
	    rdm_knob_update(&k, idle, 5, false, &changed, err, sizeof(err)), 0);
	cr_assert(changed);
	cr_assert_eq(k.num[RDM_KNOB_POLL_IDLE_US], 5);
	cr_assert_eq(
	    rdm_knob_update(&k, maxc, 0, false, &changed, err, sizeof(err)),
	    -ERANGE);
	cr_assert_eq(
	    rdm_knob_update(&k, maxc, 50, false, &changed, err, sizeof(err)),
	    0);
	/* port and bind change at runtime (the listeners move) */
	cr_assert_eq(rdm_knob_update(&k, rdm_knob_desc_get(RDM_KNOB_PORT), 7000,
				     false, &changed, err, sizeof(err)),
		     0);
	cr_assert(changed);
	cr_assert_eq(rdm_knob_update_str(&k, bind, "::1", 3, false, &changed,
					 err, sizeof(err)),
		     0);
	cr_assert(changed);
	cr_assert_str_eq(k.bind, "::1");
	cr_assert_eq(rdm_knob_update_str(&k, bind, "nowhere", 7, false,
					 &changed, err, sizeof(err)),
		     -EINVAL);
	cr_assert_str_eq(k.bind, "::1");
	/* io-thread-cpus is restart-only */
	cr_assert_eq(rdm_knob_update_str(&k, cpus, "0-1", 3, true, &changed,
					 err, sizeof(err)),
		     0);
	cr_assert_eq(rdm_knob_update_str(&k, cpus, "1", 1, false, &changed,
					 err, sizeof(err)),
		     -EPERM);
	cr_assert_str_eq(k.io_thread_cpus, "0-1");
	cr_assert_eq(rdm_knob_update_str(&k, port, "1", 1, true, &changed, err,
					 sizeof(err)),
		     -EINVAL, "a number is not a string knob");
}

Test(knobs, valkey9_names_are_aliases)
{
	const char *argv[] = {"rdma-port=7393", "rdma-bind=127.0.0.1",
			      "rdma-rx-size=65536",
			      "RDMA-COMPLETION-VECTOR=2"};
	size_t lens[4];
	struct rdm_knobs k;
	char err[400];
	int i;

	for (i = 0; i < 4; i++)
		lens[i] = strlen(argv[i]);
	rdm_knobs_init(&k);
	cr_assert_eq(rdm_knobs_parse_args(&k, 4, argv, lens, err, sizeof(err)),
		     0, "%s", err);
	cr_assert_eq(k.num[RDM_KNOB_PORT], 7393);
	cr_assert_str_eq(k.bind, "127.0.0.1");
	cr_assert_eq(k.num[RDM_KNOB_RX_SIZE], 65536);
	cr_assert_eq(k.num[RDM_KNOB_COMP_VECTOR], 2);
	/* same ranges, and the error names the knob */
	expect_bad("rdma-port", "65536");
	expect_bad("rdma-rx-size", "1024");
	expect_bad("rdma-completion-vector", "-2");
	cr_assert_eq(rdm_knob_find("rdma-port", 9),
		     rdm_knob_desc_get(RDM_KNOB_PORT));
}

Test(knobs, unknown_argument_lists_accepted_keys)
{
	const char *argv[] = {"rdma-prot=7393"};
	size_t len = strlen(argv[0]);
	static const char *const keys[] = {
	    "bind",	"port",		"io-threads",	   "rx-size",
	    "comp-vector", "poll-idle-us", "ring-entries",   "poller-cpu",
	    "numa-node",	"max-clients",	"io-thread-cpus", "move-clients",
	    "rdma-port",
	    "rdma-bind",	"rdma-rx-size", "rdma-completion-vector"};
	struct rdm_knobs k;
	char err[600];
	size_t i;

	rdm_knobs_init(&k);
	cr_assert_eq(rdm_knobs_parse_args(&k, 1, argv, &len, err, sizeof(err)),
		     -EINVAL);
	cr_assert_not_null(strstr(err, "unknown argument 'rdma-prot'"), "%s",
			   err);
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		cr_assert_not_null(strstr(err, keys[i]), "%s missing: %s",
				   keys[i], err);
	cr_assert_null(strstr(err, "loopback-port"), "hidden: %s", err);
	cr_assert_eq(err[strlen(err) - 1], ')', "%s", err);
}

Test(knobs, io_thread_cpus_shape)
{
	struct rdm_knobs k;
	char err[400];
	static const char *const good[] = {"auto", "none", "0",
					   "0-3,6", "1,0", "4095"};
	static const char *const bad[] = {"",    "-1",  "3-1", "0,",
					  ",0",  "0-",  "a",   "0 1",
					  "4096", "0--2", "auto,1"};
	char arg[64];
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(arg, sizeof(arg), "io-thread-cpus=%s", good[i]);
		cr_assert_eq(parse1(&k, arg, err, sizeof(err)), 0, "%s: %s",
			     arg, err);
		cr_assert_str_eq(k.io_thread_cpus, good[i]);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(arg, sizeof(arg), "io-thread-cpus=%s", bad[i]);
		cr_assert_eq(parse1(&k, arg, err, sizeof(err)), -EINVAL, "%s",
			     arg);
		cr_assert_not_null(strstr(err, "io-thread-cpus"), "%s", err);
		cr_assert_not_null(strstr(err, "0-3,6"), "%s", err);
	}
	rdm_knobs_init(&k);
	cr_assert_str_eq(k.io_thread_cpus, "auto");
}

Test(knobs, move_clients_values)
{
	static const char *const bad[] = {"", "Always", "on_demand", "never",
					  "always "};
	struct rdm_knobs k;
	char err[400], arg[64];
	size_t i;

	rdm_knobs_init(&k);
	cr_assert_str_eq(k.move_clients, "on-demand");
	cr_assert_eq(parse1(&k, "move-clients=always", err, sizeof(err)), 0,
		     "%s", err);
	cr_assert_str_eq(k.move_clients, "always");
	cr_assert_eq(parse1(&k, "move-clients=on-demand", err, sizeof(err)),
		     0, "%s", err);
	cr_assert_str_eq(k.move_clients, "on-demand");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(arg, sizeof(arg), "move-clients=%s", bad[i]);
		cr_assert_eq(parse1(&k, arg, err, sizeof(err)), -EINVAL, "%s",
			     arg);
		snprintf(arg, sizeof(arg), "bad value '%s' for move-clients",
			 bad[i]);
		cr_assert_not_null(strstr(err, arg), "%s", err);
		cr_assert_not_null(strstr(err, "expected on-demand"), "%s",
				   err);
		cr_assert_not_null(strstr(err, "or always"), "%s", err);
		cr_assert_str_eq(k.move_clients, "on-demand");
	}
}

Test(knobs, lookup)
{
	cr_assert_not_null(rdm_knob_find("Poll-Idle-Us", 12));
	cr_assert_null(rdm_knob_find("poll", 4));
	cr_assert_null(rdm_knob_desc_get(RDM_KNOB_NR));
	cr_assert_eq(rdm_knob_desc_get(RDM_KNOB_BIND)->type, RDM_KNOB_STR);
	cr_assert(rdm_knob_desc_get(RDM_KNOB_MAX_CLIENTS)->flags &
		  RDM_KNOB_F_RUNTIME);
	cr_assert(!(rdm_knob_desc_get(RDM_KNOB_IO_THREADS)->flags &
		    RDM_KNOB_F_RUNTIME));
}
