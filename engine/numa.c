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

void rr_format_cpulist(const uint64_t *m, char *buf, size_t len)
{
	size_t n = 0;
	int a = first_cpu(m, -1), b;

	if (len)
		buf[0] = '\0';
	while (a >= 0 && n < len) {
		for (b = a; rr_cpu_isset(m, b + 1); b++)
			;
		n += (size_t)snprintf(buf + n, len - n, n ? ",%d" : "%d", a);
		if (b > a && n < len)
			n += (size_t)snprintf(buf + n, len - n, "-%d", b);
		a = first_cpu(m, b);
	}
}

/* "KNOB...: CPU c is not online; online CPUs: L" into err. */
static int offline_error(const struct rr_topo *t, const char *knob, int cpu,
			 char *err, size_t errlen)
{
	char online[256];

	rr_format_cpulist(t->online, online, sizeof(online));
	snprintf(err, errlen, "%s: CPU %d is not online; online CPUs: %s",
		 knob, cpu, online);
	return -EINVAL;
}

static int node_error(const struct rr_topo *t, int node, char *err,
		      size_t errlen)
{
	char nodes[256];
	size_t n = 0;
	int i;

	nodes[0] = '\0';
	for (i = 0; i < t->n_nodes && n < sizeof(nodes); i++)
		if (!mask_empty(t->node_cpus[i]))
			n += (size_t)snprintf(nodes + n, sizeof(nodes) - n,
					      n ? ",%d" : "%d", i);
	snprintf(err, errlen,
		 "numa-node=%d: node %d does not exist or has no CPUs; nodes "
		 "with CPUs: %s",
		 node, node, n ? nodes : "none (no NUMA information)");
	return -EINVAL;
}

static int place_io(const struct rr_topo *t, const struct rring_params *p,
		    const uint64_t *cand, struct rr_placement *out, char *err,
		    size_t errlen)
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
				return offline_error(t, "io-thread-cpus",
						     p->io_cpus[i], err,
						     errlen);
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
	     struct rr_placement *out, char *err, size_t errlen)
{
	uint64_t cand[RR_CPU_WORDS];
	int node;

	memset(out, 0, sizeof(*out));
	if (p->io_threads < 1 || p->io_threads > RRING_DEFAULT_IO_THREADS_MAX) {
		snprintf(err, errlen, "io-threads=%u: allowed 1 to %d",
			 p->io_threads, RRING_DEFAULT_IO_THREADS_MAX);
		return -EINVAL;
	}
	out->n_io = p->io_threads;
	node = p->numa_node >= 0 ? p->numa_node : t->dev_node;
	if (p->numa_node >= 0 &&
	    (node >= t->n_nodes || mask_empty(t->node_cpus[node])))
		return node_error(t, node, err, errlen);
	out->mem_node = node;
	candidates(t, node, cand);
	if (p->poller_cpu >= 0) {
		char what[32];

		snprintf(what, sizeof(what), "poller-cpu=%d", p->poller_cpu);
		if (!rr_cpu_isset(t->online, p->poller_cpu))
			return offline_error(t, what, p->poller_cpu, err,
					     errlen);
		out->poller_cpu = p->poller_cpu;
	} else if (p->poller_cpu == RRING_CPU_NONE) {
		out->poller_cpu = -1;
	} else {
		out->poller_cpu = first_cpu(cand, -1);
	}
	return place_io(t, p, cand, out, err, errlen);
}

int rring_params_check_placement(const struct rring_params *p, char *err,
				 size_t errlen)
{
	struct rr_placement pl;
	struct rr_topo *t;
	char msg[512];
	int ret;

	if (!p)
		return -EINVAL;
	t = malloc(sizeof(*t));
	if (!t)
		return -ENOMEM;
	/* The device is not open yet: only explicit choices can be wrong. */
	ret = rr_topo_read(p->sysfs_root, NULL, t);
	if (!ret)
		ret = rr_place(t, p, &pl, msg, sizeof(msg));
	else
		snprintf(msg, sizeof(msg), "cannot read the CPU topology under "
					   "%s", p->sysfs_root);
	free(t);
	if (ret && err)
		snprintf(err, errlen, "%s", msg);
	return ret;
}

int rr_mask_node(const struct rr_topo *t, const uint64_t *m)
{
	int node, w, found = -1;

	if (mask_empty(m))
		return -1;
	if (!t->n_nodes)
		return 0; /* no NUMA information: one node */
	for (node = 0; node < t->n_nodes; node++) {
		for (w = 0; w < RR_CPU_WORDS; w++)
			if (m[w] & t->node_cpus[node][w])
				break;
		if (w == RR_CPU_WORDS)
			continue;
		if (found >= 0)
			return -1; /* CPUs of two nodes */
		found = node;
	}
	return found;
}

int rr_thread_placement(pthread_t th, const struct rr_topo *t,
			struct rring_thread_placement *out)
{
	uint64_t m[RR_CPU_WORDS];
	cpu_set_t set;
	int cpu, ret;

	ret = -pthread_getaffinity_np(th, sizeof(set), &set);
	if (ret)
		return ret;
	memset(m, 0, sizeof(m));
	for (cpu = 0; cpu < RR_MAX_CPUS && cpu < CPU_SETSIZE; cpu++)
		if (CPU_ISSET(cpu, &set))
			cpu_set_bit(m, cpu);
	rr_format_cpulist(m, out->cpus, sizeof(out->cpus));
	out->node = rr_mask_node(t, m);
	return 0;
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
