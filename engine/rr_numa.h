/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring: NUMA topology from sysfs, thread placement, node-local memory. */
#ifndef RRING_NUMA_H
#define RRING_NUMA_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "rdmaring.h"

#define RR_MAX_CPUS 1024
#define RR_MAX_NODES 64
#define RR_CPU_WORDS (RR_MAX_CPUS / 64)

/* What sysfs says about the machine and the device (parsed, no policy). */
struct rr_topo {
	int dev_node;		       /* device's node, -1 unknown */
	int n_nodes;		       /* node indices seen + 1 (0: no NUMA) */
	uint64_t online[RR_CPU_WORDS]; /* online CPUs */
	uint64_t node_cpus[RR_MAX_NODES][RR_CPU_WORDS];
};

/* Where the engine's threads and memory go. -1 CPU: do not pin. */
struct rr_placement {
	int poller_cpu;
	int mem_node; /* -1: no preference */
	unsigned int n_io;
	int io_cpu[RRING_DEFAULT_IO_THREADS_MAX];
};

/* Parse a sysfs CPU list ("0-3,8,10-11\n") into mask. 0 or -EINVAL. */
int rr_parse_cpulist(const char *s, uint64_t *mask, int max_cpus);

/* Read online CPUs, node CPU lists and dev's node (dev may be NULL) under
 * sysfs_root. Missing node files mean a single node 0 holding every CPU. */
int rr_topo_read(const char *sysfs_root, const char *dev, struct rr_topo *t);

/* Pure placement policy: explicit params win, else the device's node, else
 * every online CPU. The poller gets the first candidate CPU, IO threads the
 * others round-robin. 0 or -EINVAL (explicit CPU offline, unknown node),
 * with err naming the knob, the value and the valid CPUs or nodes. */
int rr_place(const struct rr_topo *t, const struct rring_params *p,
	     struct rr_placement *out, char *err, size_t errlen);

/* Format mask as a sysfs CPU list ("0-3,8"; "" when empty). */
void rr_format_cpulist(const uint64_t *mask, char *buf, size_t len);

/* The node holding every CPU of mask; -1 when they span nodes or mask is
 * empty; 0 without NUMA information. */
int rr_mask_node(const struct rr_topo *t, const uint64_t *mask);

/* Read thread th's CPU affinity back (the CPUs it may run on now) and
 * their node into out. 0 or -errno. */
int rr_thread_placement(pthread_t th, const struct rr_topo *t,
			struct rring_thread_placement *out);

/* Pin the calling thread to cpu (no-op for cpu < 0). 0 or -errno. */
int rr_pin_self(int cpu);

/* Page-aligned zeroed memory on node (any node if node < 0 or no libnuma);
 * free with rr_mem_free(p, size). NULL on failure. */
void *rr_mem_alloc(size_t size, int node);
void rr_mem_free(void *p, size_t size);

static inline int rr_cpu_isset(const uint64_t *m, int cpu)
{
	return cpu >= 0 && cpu < RR_MAX_CPUS && (m[cpu / 64] >> (cpu % 64)) & 1;
}

#endif /* RRING_NUMA_H */
