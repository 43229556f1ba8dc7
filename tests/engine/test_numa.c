// SPDX-License-Identifier: BSD-3-Clause
/* rdmaring tests: NUMA topology parsing and placement against fake sysfs. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rr_numa.h"

static char root[PATH_MAX];

/* mkdir -p of root/rel's directory, then write text to root/rel. */
static void put(const char *rel, const char *text)
{
	char path[PATH_MAX * 2], *slash;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	for (slash = strchr(path + strlen(root) + 1, '/'); slash;
	     slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		mkdir(path, 0755);
		*slash = '/';
	}
	f = fopen(path, "w");
	cr_assert(f, "cannot create %s", path);
	fputs(text, f);
	fclose(f);
}

static void setup(void)
{
	snprintf(root, sizeof(root), "/tmp/rring-sysfs-XXXXXX");
	cr_assert(mkdtemp(root));
}

static void teardown(void)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	cr_assert_eq(system(cmd), 0);
}

/* Two nodes of 4 CPUs; the device "mlx5_0" on node 1. */
static void two_nodes(const char *dev_node, const char *online)
{
	put("devices/system/cpu/online", online);
	put("devices/system/node/node0/cpulist", "0-3\n");
	put("devices/system/node/node1/cpulist", "4-7\n");
	put("class/infiniband/mlx5_0/device/numa_node", dev_node);
}

static void place(const char *dev, struct rring_params *p,
		  struct rr_placement *pl)
{
	struct rr_topo t;
	char err[256];

	cr_assert_eq(rr_topo_read(root, dev, &t), 0);
	cr_assert_eq(rr_place(&t, p, pl, err, sizeof(err)), 0, "%s", err);
}

/* Default parameters with @io_threads IO threads. */
static void params(struct rring_params *p, unsigned int io_threads)
{
	rring_params_init(p);
	p->io_threads = io_threads;
}

/* two_nodes(@dev_node, @online), then mlx5_0's placement with @io_threads
 * IO threads and otherwise default parameters (left in @p). */
static void place_two_nodes(const char *dev_node, const char *online,
			    unsigned int io_threads, struct rring_params *p,
			    struct rr_placement *pl)
{
	two_nodes(dev_node, online);
	params(p, io_threads);
	place("mlx5_0", p, pl);
}

/* The poller on CPU @poller and IO thread i on @io[i], for i < @n. */
static void expect_cpus(const struct rr_placement *pl, int poller,
			const int *io, size_t n)
{
	cr_assert_eq(pl->poller_cpu, poller, "poller on %d, want %d",
		     pl->poller_cpu, poller);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(pl->io_cpu[i], io[i],
			     "io thread %zu on %d, want %d", i, pl->io_cpu[i],
			     io[i]);
}

#define EXPECT_CPUS(pl, poller, ...)                                           \
	expect_cpus(pl, poller, (const int[]){__VA_ARGS__},                    \
		    sizeof((const int[]){__VA_ARGS__}) / sizeof(int))

TestSuite(numa, .init = setup, .fini = teardown);

Test(numa, parse_cpulist)
{
	uint64_t m[RR_CPU_WORDS];

	cr_assert_eq(rr_parse_cpulist("0-2,5,64-65\n", m, RR_MAX_CPUS), 0);
	cr_assert_eq(m[0], 0x27);
	cr_assert_eq(m[1], 0x3);
	cr_assert_eq(rr_parse_cpulist("\n", m, RR_MAX_CPUS), 0);
	cr_assert_eq(m[0], 0);
	cr_assert_eq(rr_parse_cpulist("3-1", m, RR_MAX_CPUS), -EINVAL);
	cr_assert_eq(rr_parse_cpulist("1;2", m, RR_MAX_CPUS), -EINVAL);
	cr_assert_eq(rr_parse_cpulist("5000", m, RR_MAX_CPUS), -EINVAL);
}

Test(numa, device_on_node1_places_everything_there)
{
	struct rring_params p;
	struct rr_placement pl;
	unsigned int i;

	place_two_nodes("1\n", "0-7\n", 4, &p, &pl);
	cr_assert_eq(pl.mem_node, 1);
	cr_assert_eq(pl.n_io, 4);
	/* IO threads on the other CPUs of node 1, round-robin. */
	EXPECT_CPUS(&pl, 4, 5, 6, 7, 5);
	for (i = 0; i < pl.n_io; i++)
		cr_assert(pl.io_cpu[i] != pl.poller_cpu);
}

Test(numa, unknown_node_uses_all_online_cpus)
{
	struct rring_params p;
	struct rr_placement pl;

	place_two_nodes("-1\n", "0-7\n", 2, &p, &pl);
	cr_assert_eq(pl.mem_node, -1);
	EXPECT_CPUS(&pl, 0, 1, 2);
	/* A device that sysfs does not know is the same as -1. */
	place("softverbs0", &p, &pl);
	cr_assert_eq(pl.mem_node, -1);
	cr_assert_eq(pl.poller_cpu, 0);
	/* A garbage numa_node file too. */
	put("class/infiniband/mlx5_0/device/numa_node", "banana\n");
	place("mlx5_0", &p, &pl);
	cr_assert_eq(pl.mem_node, -1);
}

Test(numa, offline_cpus_are_skipped)
{
	struct rring_params p;
	struct rr_placement pl;
	struct rr_topo t;
	char err[256];

	/* CPUs 4 and 5 offline: node 1 has 6 and 7 left. */
	place_two_nodes("1\n", "0-3,6-7\n", 3, &p, &pl);
	EXPECT_CPUS(&pl, 6, 7, 7, 7);
	/* The whole node offline: memory stays there, threads go anywhere. */
	put("devices/system/cpu/online", "0-3\n");
	place("mlx5_0", &p, &pl);
	cr_assert_eq(pl.mem_node, 1);
	EXPECT_CPUS(&pl, 0, 1);
	/* An explicit offline CPU is an error, not silently moved. */
	p.poller_cpu = 5;
	cr_assert_eq(rr_topo_read(root, "mlx5_0", &t), 0);
	cr_assert_eq(rr_place(&t, &p, &pl, err, sizeof(err)), -EINVAL);
	cr_assert_str_eq(err,
			 "poller-cpu=5: CPU 5 is not online; online CPUs: 0-3");
	p.poller_cpu = RRING_CPU_AUTO;
	p.io_cpus_mode = 1;
	p.io_cpus[0] = 6;
	cr_assert_eq(rr_place(&t, &p, &pl, err, sizeof(err)), -EINVAL);
	cr_assert_str_eq(
	    err, "io-thread-cpus: CPU 6 is not online; online CPUs: 0-3");
}

Test(numa, single_cpu_node_shares_poller_cpu)
{
	struct rring_params p;
	struct rr_placement pl;

	put("devices/system/cpu/online", "0-1\n");
	put("devices/system/node/node0/cpulist", "0\n");
	put("devices/system/node/node1/cpulist", "1\n");
	put("class/infiniband/d/device/numa_node", "1\n");
	params(&p, 2);
	place("d", &p, &pl);
	EXPECT_CPUS(&pl, 1, 1, 1);
}

Test(numa, explicit_overrides)
{
	struct rring_params p;
	struct rr_placement pl;
	struct rr_topo t;
	char err[256];

	two_nodes("1\n", "0-7\n");
	params(&p, 3);
	p.numa_node = 0; /* beats the device's node */
	place("mlx5_0", &p, &pl);
	cr_assert_eq(pl.mem_node, 0);
	EXPECT_CPUS(&pl, 0, 1);
	p.poller_cpu = 7;
	cr_assert_eq(
	    rring_params_set(&p, "io-thread-cpus", "2,3", err, sizeof(err)), 0);
	place("mlx5_0", &p, &pl);
	EXPECT_CPUS(&pl, 7, 2, 3, 2);
	p.poller_cpu = RRING_CPU_NONE;
	p.io_cpus_mode = RRING_IO_CPUS_NONE;
	place("mlx5_0", &p, &pl);
	EXPECT_CPUS(&pl, -1, -1);
	cr_assert_eq(pl.mem_node, 0);
	/* A node that does not exist. */
	p.numa_node = 5;
	cr_assert_eq(rr_topo_read(root, "mlx5_0", &t), 0);
	cr_assert_eq(rr_place(&t, &p, &pl, err, sizeof(err)), -EINVAL);
	cr_assert_str_eq(err, "numa-node=5: node 5 does not exist or has no "
			      "CPUs; nodes with CPUs: 0,1");
}

/* The check a server runs at load, before any engine exists. */
Test(numa, check_placement_names_knob_value_and_valid_cpus)
{
	struct rring_params p;
	char err[256];

	put("devices/system/cpu/online", "0-1\n");
	put("devices/system/node/node0/cpulist", "0-1\n");
	params(&p, 2);
	cr_assert_eq(rring_params_set(&p, "sysfs-root", root, err, sizeof(err)),
		     0, "%s", err);
	cr_assert_eq(rring_params_check_placement(&p, err, sizeof(err)), 0,
		     "%s", err);
	p.poller_cpu = 3;
	cr_assert_eq(rring_params_check_placement(&p, err, sizeof(err)),
		     -EINVAL);
	cr_assert_str_eq(err,
			 "poller-cpu=3: CPU 3 is not online; online CPUs: 0-1");
	p.poller_cpu = 1;
	p.numa_node = 5;
	cr_assert_eq(rring_params_check_placement(&p, err, sizeof(err)),
		     -EINVAL);
	cr_assert_str_eq(err, "numa-node=5: node 5 does not exist or has no "
			      "CPUs; nodes with CPUs: 0");
	p.numa_node = 0;
	cr_assert_eq(
	    rring_params_set(&p, "io-thread-cpus", "0,1,2", err, sizeof(err)),
	    0);
	cr_assert_eq(rring_params_check_placement(&p, err, sizeof(err)),
		     -EINVAL);
	cr_assert_str_eq(
	    err, "io-thread-cpus: CPU 2 is not online; online CPUs: 0-1");
}

Test(numa, cpulist_format_and_node_of_a_mask)
{
	uint64_t m[RR_CPU_WORDS];
	struct rr_topo t;
	char buf[64];

	two_nodes("1\n", "0-7\n");
	cr_assert_eq(rr_topo_read(root, NULL, &t), 0);
	cr_assert_eq(rr_parse_cpulist("0-3,5,7-8,100\n", m, RR_MAX_CPUS), 0);
	rr_format_cpulist(m, buf, sizeof(buf));
	cr_assert_str_eq(buf, "0-3,5,7-8,100");
	cr_assert_eq(rr_mask_node(&t, m), -1, "spans both nodes");
	cr_assert_eq(rr_parse_cpulist("5-6", m, RR_MAX_CPUS), 0);
	cr_assert_eq(rr_mask_node(&t, m), 1);
	cr_assert_eq(rr_parse_cpulist("", m, RR_MAX_CPUS), 0);
	rr_format_cpulist(m, buf, sizeof(buf));
	cr_assert_str_eq(buf, "");
	cr_assert_eq(rr_mask_node(&t, m), -1);
}

Test(numa, no_node_directory_means_one_node)
{
	struct rring_params p;
	struct rr_placement pl;
	struct rr_topo t;
	char err[256];

	put("devices/system/cpu/online", "0-3\n");
	cr_assert_eq(rr_topo_read(root, NULL, &t), 0);
	cr_assert_eq(t.n_nodes, 0);
	cr_assert_eq(t.dev_node, -1);
	params(&p, 2);
	cr_assert_eq(rr_place(&t, &p, &pl, err, sizeof(err)), 0);
	EXPECT_CPUS(&pl, 0, 1, 2);
}

Test(numa, node_memory_and_pinning)
{
	size_t sz = 1 << 20;
	unsigned char *m = rr_mem_alloc(sz, 0);

	cr_assert(m);
	cr_assert_eq((uintptr_t)m % 4096, 0);
	cr_assert_eq(m[0] | m[sz - 1], 0);
	memset(m, 0xab, sz);
	rr_mem_free(m, sz);
	m = rr_mem_alloc(sz, -1);
	cr_assert(m);
	rr_mem_free(m, sz);
	cr_assert_null(rr_mem_alloc(0, 0));
	cr_assert_eq(rr_pin_self(-1), 0);
	cr_assert_eq(rr_pin_self(0), 0);
	cr_assert_eq(sched_getcpu(), 0);
	cr_assert_eq(rr_pin_self(RR_MAX_CPUS - 1), -EINVAL);
}
