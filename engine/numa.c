// SPDX-License-Identifier: BSD-3-Clause
/* rdmaring: NUMA topology from sysfs, thread placement, node-local memory. */
#include <errno.h>
#include <limits.h>
#include <numa.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "rr_numa.h"

static void cpu_set_bit(uint64_t *m, int cpu)
{
	m[cpu / 64] |= 1ull << (cpu % 64);
}

static int parse_uint(const char **s, long *out)
{
	char *end;

	if (**s < '0' || **s > '9')
		return -EINVAL;
	errno = 0;
	*out = strtol(*s, &end, 10);
	if (errno)
		return -EINVAL;
	*s = end;
	return 0;
}

int rr_parse_cpulist(const char *s, uint64_t *mask, int max_cpus)
{
	long a, b;

	memset(mask, 0, RR_CPU_WORDS * sizeof(uint64_t));
	while (*s && *s != '\n') {
		if (parse_uint(&s, &a))
			return -EINVAL;
		b = a;
		if (*s == '-') {
			s++;
			if (parse_uint(&s, &b) || b < a)
				return -EINVAL;
		}
		if (b >= max_cpus || b >= RR_MAX_CPUS)
			return -EINVAL;
		for (; a <= b; a++)
			cpu_set_bit(mask, (int)a);
		if (*s == ',')
			s++;
		else if (*s && *s != '\n')
			return -EINVAL;
	}
	return 0;
}

/* First line of root/rel (formatted) into buf; 0, -ENOENT or -EIO. */
static int read_line(char *buf, size_t len, const char *root, const char *fmt,
		     ...) __attribute__((format(printf, 4, 5)));

static int read_line(char *buf, size_t len, const char *root, const char *fmt,
		     ...)
{
	char rel[PATH_MAX], path[PATH_MAX + RRING_SYSFS_ROOT_MAX];
	va_list ap;
	FILE *f;
	int ret = 0;

	va_start(ap, fmt);
	vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	f = fopen(path, "re");
	if (!f)
		return -ENOENT;
	if (!fgets(buf, (int)len, f))
		ret = -EIO;
	fclose(f);
	return ret;
}

static int read_dev_node(const char *root, const char *dev)
{
	char buf[64];
	char *end;
	long v;

	if (!dev || read_line(buf, sizeof(buf), root,
			      "class/infiniband/%s/device/numa_node", dev))
		return -1;
	errno = 0;
	v = strtol(buf, &end, 10);
	if (errno || end == buf || v < -1 || v >= RR_MAX_NODES)
		return -1;
	return (int)v;
}

int rr_topo_read(const char *root, const char *dev, struct rr_topo *t)
{
	char buf[4096];
	int node, i;

	memset(t, 0, sizeof(*t));
	if (read_line(buf, sizeof(buf), root, "devices/system/cpu/online") ||
	    rr_parse_cpulist(buf, t->online, RR_MAX_CPUS)) {
		/* No sysfs: every CPU the scheduler knows is online. */
		long n = sysconf(_SC_NPROCESSORS_CONF);

		for (i = 0; i < n && i < RR_MAX_CPUS; i++)
			cpu_set_bit(t->online, i);
	}
	for (node = 0; node < RR_MAX_NODES; node++) {
		if (read_line(buf, sizeof(buf), root,
			      "devices/system/node/node%d/cpulist", node))
			continue;
		if (rr_parse_cpulist(buf, t->node_cpus[node], RR_MAX_CPUS))
			return -EINVAL;
		t->n_nodes = node + 1;
	}
	t->dev_node = read_dev_node(root, dev);
	if (t->dev_node >= t->n_nodes)
		t->dev_node = -1;
	return 0;
}

static int first_cpu(const uint64_t *m, int after)
{
	int cpu;

	for (cpu = after + 1; cpu < RR_MAX_CPUS; cpu++)
		if (rr_cpu_isset(m, cpu))
			return cpu;
	return -1;
}

static int mask_empty(const uint64_t *m)
{
	return first_cpu(m, -1) < 0;
}

/* Candidate CPUs: the node's online CPUs, or every online CPU. */
static void candidates(const struct rr_topo *t, int node, uint64_t *m)
{
	int w;

	for (w = 0; w < RR_CPU_WORDS; w++)
		m[w] = t->online[w];
	if (node < 0)
		return;
	for (w = 0; w < RR_CPU_WORDS; w++)
		m[w] &= t->node_cpus[node][w];
	if (mask_empty(m)) /* node's CPUs all offline: anywhere online */
		for (w = 0; w < RR_CPU_WORDS; w++)
			m[w] = t->online[w];
}

static int place_io(const struct rr_topo *t, const struct rring_params *p,
		    const uint64_t *cand, struct rr_placement *out)
{
	uint64_t pool[RR_CPU_WORDS];
	unsigned int i;
	int cpu = -1, w;

	for (i = 0; i < out->n_io; i++)
		out->io_cpu[i] = -1;
	if (p->io_cpus_mode == RRING_IO_CPUS_NONE)
		return 0;
	if (p->io_cpus_mode > 0) {
		for (i = 0; i < (unsigned int)p->io_cpus_mode; i++)
			if (!rr_cpu_isset(t->online, p->io_cpus[i]))
				return -EINVAL;
		for (i = 0; i < out->n_io; i++)
			out->io_cpu[i] = p->io_cpus[i % p->io_cpus_mode];
		return 0;
	}
	/* Auto: the candidates minus the poller's CPU, round-robin; all
	 * candidates when the poller's is the only one. */
	for (w = 0; w < RR_CPU_WORDS; w++)
		pool[w] = cand[w];
	if (out->poller_cpu >= 0)
		pool[out->poller_cpu / 64] &= ~(1ull << (out->poller_cpu % 64));
	if (mask_empty(pool))
		for (w = 0; w < RR_CPU_WORDS; w++)
			pool[w] = cand[w];
	for (i = 0; i < out->n_io; i++) {
		cpu = first_cpu(pool, cpu);
		if (cpu < 0)
			cpu = first_cpu(pool, -1);
		out->io_cpu[i] = cpu;
	}
	return 0;
}

int rr_place(const struct rr_topo *t, const struct rring_params *p,
	     struct rr_placement *out)
{
	uint64_t cand[RR_CPU_WORDS];
	int node;

	memset(out, 0, sizeof(*out));
	if (p->io_threads < 1 || p->io_threads > RRING_DEFAULT_IO_THREADS_MAX)
		return -EINVAL;
	out->n_io = p->io_threads;
	node = p->numa_node >= 0 ? p->numa_node : t->dev_node;
	if (p->numa_node >= 0 &&
	    (node >= t->n_nodes || mask_empty(t->node_cpus[node])))
		return -EINVAL; /* explicit node that does not exist */
	out->mem_node = node;
	candidates(t, node, cand);
	if (p->poller_cpu >= 0) {
		if (!rr_cpu_isset(t->online, p->poller_cpu))
			return -EINVAL;
		out->poller_cpu = p->poller_cpu;
	} else if (p->poller_cpu == RRING_CPU_NONE) {
		out->poller_cpu = -1;
	} else {
		out->poller_cpu = first_cpu(cand, -1);
	}
	return place_io(t, p, cand, out);
}

int rr_pin_self(int cpu)
{
	cpu_set_t set;
	int ret;

	if (cpu < 0)
		return 0;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	ret = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	return -ret; /* pthread functions return a positive errno */
}

void *rr_mem_alloc(size_t size, int node)
{
	void *p;

	if (size == 0)
		return NULL;
	if (node >= 0 && numa_available() >= 0 && node <= numa_max_node()) {
		/* mmap + mbind: page-aligned and zeroed. */
		p = numa_alloc_onnode(size, node);
		if (p)
			return p;
	}
	p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

void rr_mem_free(void *p, size_t size)
{
	/* numa_free() is munmap(), so one call frees both kinds. */
	if (p)
		munmap(p, size);
}
