// SPDX-License-Identifier: BSD-3-Clause
/* rdmaring: engine parameters, their defaults and key=value parsing. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rdmaring.h"

void rring_params_init(struct rring_params *p)
{
	memset(p, 0, sizeof(*p));
	p->size = sizeof(*p);
	p->io_threads = RRING_DEFAULT_IO_THREADS;
	p->ring_entries = RRING_DEFAULT_RING_ENTRIES;
	p->poll_idle_us = RRING_DEFAULT_POLL_IDLE_US;
	p->poller_cpu = RRING_DEFAULT_POLLER_CPU;
	p->numa_node = RRING_DEFAULT_NUMA_NODE;
	p->io_cpus_mode = RRING_IO_CPUS_AUTO;
	p->cq_entries = RRING_DEFAULT_CQ_ENTRIES;
	p->comp_vector = RRING_DEFAULT_COMP_VECTOR;
	p->rx_size = RRING_DEFAULT_RX_SIZE;
	p->max_connections = RRING_DEFAULT_MAX_CONNECTIONS;
	p->msg_depth = RRING_DEFAULT_MSG_DEPTH;
	p->io_external = RRING_DEFAULT_IO_EXTERNAL;
	p->signal_every = RRING_DEFAULT_SIGNAL_EVERY;
	p->io_fit_cpus = RRING_DEFAULT_IO_FIT_CPUS;
	snprintf(p->sysfs_root, sizeof(p->sysfs_root), "%s",
		 RRING_DEFAULT_SYSFS_ROOT);
}

static int fail(char *err, size_t errlen, int ret, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, int ret, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return ret;
}

/* Whole-string base-10 integer in [min, max]. */
static int parse_ll(const char *s, long long min, long long max, long long *out)
{
	char *end;
	long long v;

	if (!s || !*s)
		return -EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end != '\0' || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

struct int_key {
	const char *key;
	size_t off; /* offset of a 32-bit field */
	int is_signed;
	long long min, max;
	int pow2;
};

#define UKEY(k, f, lo, hi, p2)                                                 \
	{                                                                      \
		k, offsetof(struct rring_params, f), 0, lo, hi, p2             \
	}
#define SKEY(k, f, lo, hi)                                                     \
	{                                                                      \
		k, offsetof(struct rring_params, f), 1, lo, hi, 0              \
	}

static const struct int_key int_keys[] = {
    UKEY("io-threads", io_threads, RRING_DEFAULT_IO_THREADS_MIN,
	 RRING_DEFAULT_IO_THREADS_MAX, 0),
    UKEY("ring-entries", ring_entries, RRING_DEFAULT_RING_ENTRIES_MIN,
	 RRING_DEFAULT_RING_ENTRIES_MAX, 1),
    UKEY("poll-idle-us", poll_idle_us, RRING_DEFAULT_POLL_IDLE_US_MIN,
	 RRING_DEFAULT_POLL_IDLE_US_MAX, 0),
    SKEY("poller-cpu", poller_cpu, RRING_DEFAULT_POLLER_CPU_MIN,
	 RRING_DEFAULT_POLLER_CPU_MAX),
    SKEY("numa-node", numa_node, RRING_DEFAULT_NUMA_NODE_MIN,
	 RRING_DEFAULT_NUMA_NODE_MAX),
    UKEY("cq-entries", cq_entries, RRING_DEFAULT_CQ_ENTRIES_MIN,
	 RRING_DEFAULT_CQ_ENTRIES_MAX, 0),
    SKEY("comp-vector", comp_vector, RRING_DEFAULT_COMP_VECTOR_MIN,
	 RRING_DEFAULT_COMP_VECTOR_MAX),
    UKEY("rx-size", rx_size, RRING_DEFAULT_RX_SIZE_MIN,
	 RRING_DEFAULT_RX_SIZE_MAX, 0),
    UKEY("max-connections", max_connections, RRING_DEFAULT_MAX_CONNECTIONS_MIN,
	 RRING_DEFAULT_MAX_CONNECTIONS_MAX, 0),
    UKEY("msg-depth", msg_depth, RRING_DEFAULT_MSG_DEPTH_MIN,
	 RRING_DEFAULT_MSG_DEPTH_MAX, 0),
    UKEY("io-threads-external", io_external, 0, 1, 0),
    UKEY("wire", wire, 0, 1, 0),
    UKEY("signal-every", signal_every, RRING_DEFAULT_SIGNAL_EVERY_MIN,
	 RRING_DEFAULT_SIGNAL_EVERY_MAX, 0),
    UKEY("io-threads-fit-cpus", io_fit_cpus, 0, 1, 0),
};

static int set_int(struct rring_params *p, const struct int_key *k,
		   const char *value, char *err, size_t errlen)
{
	long long v;
	char *field = (char *)p + k->off;

	/* "auto"/"none" spell the negative sentinels of the signed keys. */
	if (k->is_signed && value && strcmp(value, "auto") == 0)
		value = "-1";
	else if (k->off == offsetof(struct rring_params, poller_cpu) && value &&
		 strcmp(value, "none") == 0)
		value = "-2";
	if (parse_ll(value, k->min, k->max, &v))
		return fail(
		    err, errlen, -EINVAL,
		    "%s: invalid value '%s' (allowed: integer %lld..%lld%s)",
		    k->key, value ? value : "", k->min, k->max,
		    k->pow2 ? ", power of two" : "");
	if (k->pow2 && (v & (v - 1)) != 0)
		return fail(
		    err, errlen, -EINVAL,
		    "%s: invalid value '%s' (allowed: power of two %lld..%lld)",
		    k->key, value, k->min, k->max);
	if (k->is_signed) {
		int32_t s = (int32_t)v;

		memcpy(field, &s, sizeof(s));
	} else {
		uint32_t u = (uint32_t)v;

		memcpy(field, &u, sizeof(u));
	}
	return 0;
}

/* One list element: "N" or "A-B", appended to cpus. */
static int add_cpu_range(int32_t *cpus, const char *tok, int *n)
{
	char buf[32], *dash;
	long long a, b;

	if (strlen(tok) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, tok);
	dash = strchr(buf, '-');
	if (dash)
		*dash = '\0';
	if (parse_ll(buf, 0, RRING_DEFAULT_POLLER_CPU_MAX, &a))
		return -EINVAL;
	b = a;
	if (dash && parse_ll(dash + 1, a, RRING_DEFAULT_POLLER_CPU_MAX, &b))
		return -EINVAL;
	for (; a <= b; a++) {
		if (*n >= RRING_MAX_IO_CPUS)
			return -E2BIG;
		cpus[(*n)++] = (int32_t)a;
	}
	return 0;
}

static int set_cpu_list(struct rring_params *p, const char *value, char *err,
			size_t errlen)
{
	int32_t cpus[RRING_MAX_IO_CPUS];
	char *copy, *tok, *save = NULL;
	int n = 0, ret = 0;

	if (value && strcmp(value, "auto") == 0) {
		p->io_cpus_mode = RRING_IO_CPUS_AUTO;
		return 0;
	}
	if (value && strcmp(value, "none") == 0) {
		p->io_cpus_mode = RRING_IO_CPUS_NONE;
		return 0;
	}
	copy = value && *value ? strdup(value) : NULL;
	if (!copy)
		goto err_bad;
	for (tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		ret = add_cpu_range(cpus, tok, &n);
		if (ret)
			break;
	}
	free(copy);
	if (ret == 0 && n > 0) {
		memcpy(p->io_cpus, cpus, (size_t)n * sizeof(cpus[0]));
		p->io_cpus_mode = n;
		return 0;
	}
err_bad:
	return fail(
	    err, errlen, -EINVAL,
	    "io-thread-cpus: invalid value '%s' (allowed: 'auto', 'none' "
	    "or a list like 0,2,4-7 of CPUs 0..%d, at most %d entries)",
	    value ? value : "", RRING_DEFAULT_POLLER_CPU_MAX,
	    RRING_MAX_IO_CPUS);
}

int rring_params_set(struct rring_params *p, const char *key, const char *value,
		     char *err, size_t errlen)
{
	size_t i;

	if (!p || !key)
		return fail(err, errlen, -EINVAL, "missing parameter key");
	for (i = 0; i < sizeof(int_keys) / sizeof(int_keys[0]); i++)
		if (strcmp(key, int_keys[i].key) == 0)
			return set_int(p, &int_keys[i], value, err, errlen);
	if (strcmp(key, "io-thread-cpus") == 0)
		return set_cpu_list(p, value, err, errlen);
	if (strcmp(key, "sysfs-root") == 0) {
		if (!value || !*value || strlen(value) >= sizeof(p->sysfs_root))
			return fail(err, errlen, -EINVAL,
				    "sysfs-root: invalid value '%s' (allowed: "
				    "a non-empty path shorter than %zu bytes)",
				    value ? value : "", sizeof(p->sysfs_root));
		snprintf(p->sysfs_root, sizeof(p->sysfs_root), "%s", value);
		return 0;
	}
	return fail(err, errlen, -ENOENT, "unknown parameter '%s'", key);
}

int rring_params_validate(const struct rring_params *p, char *err,
			  size_t errlen)
{
	char buf[32];
	size_t i;
	int ret;
	struct rring_params tmp;

	if (!p || p->size < offsetof(struct rring_params, sysfs_root))
		return fail(
		    err, errlen, -EINVAL,
		    "params: size %u too small (call rring_params_init)",
		    p ? p->size : 0);
	/* Re-run each integer through the same checks as the parser. */
	tmp = *p;
	for (i = 0; i < sizeof(int_keys) / sizeof(int_keys[0]); i++) {
		const struct int_key *k = &int_keys[i];
		const char *field = (const char *)p + k->off;
		int32_t s;
		uint32_t u;

		if (k->off + sizeof(u) > p->size)
			continue; /* a field the caller does not know */
		if (k->is_signed) {
			memcpy(&s, field, sizeof(s));
			snprintf(buf, sizeof(buf), "%d", s);
		} else {
			memcpy(&u, field, sizeof(u));
			snprintf(buf, sizeof(buf), "%u", u);
		}
		ret = set_int(&tmp, k, buf, err, errlen);
		if (ret)
			return ret;
	}
	if (p->io_cpus_mode > RRING_MAX_IO_CPUS ||
	    p->io_cpus_mode < RRING_IO_CPUS_NONE)
		return fail(err, errlen, -EINVAL,
			    "io-thread-cpus: invalid count %d (allowed: 1..%d)",
			    p->io_cpus_mode, RRING_MAX_IO_CPUS);
	if (memchr(p->sysfs_root, '\0', sizeof(p->sysfs_root)) == NULL ||
	    p->sysfs_root[0] == '\0')
		return fail(err, errlen, -EINVAL,
			    "sysfs-root: invalid value (allowed: a non-empty "
			    "path shorter than %zu bytes)",
			    sizeof(p->sysfs_root));
	return 0;
}
