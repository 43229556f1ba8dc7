/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring module: tuning knob table, validation and load-argument parsing. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "knobs.h"

static const struct rdm_knob_desc knob_table[RDM_KNOB_NR] = {
    [RDM_KNOB_BIND] = {RDM_KNOB_BIND, "bind", RDM_KNOB_STR, RDM_KNOB_F_RUNTIME,
		       0, 0, 0, RDM_DEFAULT_BIND,
		       "space-separated IPv4/IPv6 addresses, '*' for all "
		       "IPv4, '::*' for all IPv6, '-' prefix = optional",
		       "rdma-bind"},
    [RDM_KNOB_PORT] = {RDM_KNOB_PORT, "port", RDM_KNOB_NUM, RDM_KNOB_F_RUNTIME,
		       RDM_DEFAULT_PORT, RDM_PORT_MIN, RDM_PORT_MAX, NULL,
		       "0 = no RDMA listener", "rdma-port"},
    [RDM_KNOB_IO_THREADS] = {RDM_KNOB_IO_THREADS, "io-threads", RDM_KNOB_NUM, 0,
			     RDM_DEFAULT_IO_THREADS, RDM_IO_THREADS_MIN,
			     RDM_IO_THREADS_MAX, NULL, NULL, NULL},
    [RDM_KNOB_RX_SIZE] = {RDM_KNOB_RX_SIZE, "rx-size", RDM_KNOB_NUM, 0,
			  RDM_DEFAULT_RX_SIZE, RDM_RX_SIZE_MIN, RDM_RX_SIZE_MAX,
			  NULL, "bytes", "rdma-rx-size"},
    [RDM_KNOB_COMP_VECTOR] = {RDM_KNOB_COMP_VECTOR, "comp-vector", RDM_KNOB_NUM,
			      0, RDM_DEFAULT_COMP_VECTOR, RDM_COMP_VECTOR_MIN,
			      RDM_COMP_VECTOR_MAX, NULL, "-1 = random",
			      "rdma-completion-vector"},
    [RDM_KNOB_POLL_IDLE_US] = {RDM_KNOB_POLL_IDLE_US, "poll-idle-us",
			       RDM_KNOB_NUM, RDM_KNOB_F_RUNTIME,
			       RDM_DEFAULT_POLL_IDLE_US, RDM_POLL_IDLE_US_MIN,
			       RDM_POLL_IDLE_US_MAX, NULL, "microseconds", NULL},
    [RDM_KNOB_RING_ENTRIES] = {RDM_KNOB_RING_ENTRIES, "ring-entries",
			       RDM_KNOB_NUM, RDM_KNOB_F_POW2,
			       RDM_DEFAULT_RING_ENTRIES, RDM_RING_ENTRIES_MIN,
			       RDM_RING_ENTRIES_MAX, NULL, NULL, NULL},
    [RDM_KNOB_POLLER_CPU] =
	{RDM_KNOB_POLLER_CPU, "poller-cpu", RDM_KNOB_NUM, 0,
	 RDM_DEFAULT_POLLER_CPU, RDM_POLLER_CPU_MIN, RDM_POLLER_CPU_MAX, NULL,
	 "-1 = a CPU on the NIC's NUMA node, -2 = not pinned", NULL},
    [RDM_KNOB_NUMA_NODE] = {RDM_KNOB_NUMA_NODE, "numa-node", RDM_KNOB_NUM, 0,
			    RDM_DEFAULT_NUMA_NODE, RDM_NUMA_NODE_MIN,
			    RDM_NUMA_NODE_MAX, NULL, "-1 = the NIC's node",
			    NULL},
    [RDM_KNOB_MAX_CLIENTS] = {RDM_KNOB_MAX_CLIENTS, "max-clients", RDM_KNOB_NUM,
			      RDM_KNOB_F_RUNTIME, RDM_DEFAULT_MAX_CLIENTS,
			      RDM_MAX_CLIENTS_MIN, RDM_MAX_CLIENTS_MAX, NULL,
			      NULL, NULL},
    [RDM_KNOB_LOOPBACK_PORT] = {RDM_KNOB_LOOPBACK_PORT, "loopback-port",
				RDM_KNOB_NUM, RDM_KNOB_F_HIDDEN,
				RDM_DEFAULT_LOOPBACK_PORT, 0, 65535, NULL,
				"0 = off; TCP on 127.0.0.1, for tests", NULL},
    [RDM_KNOB_IO_THREAD_CPUS] = {RDM_KNOB_IO_THREAD_CPUS, "io-thread-cpus",
				 RDM_KNOB_STR, 0, 0, 0, 0,
				 RDM_DEFAULT_IO_THREAD_CPUS,
				 "'auto' = the node's CPUs but the poller's, "
				 "'none' = not pinned, or a list like 0-3,6 "
				 "used in turn", NULL},
    [RDM_KNOB_MOVE_CLIENTS] = {RDM_KNOB_MOVE_CLIENTS, "move-clients",
			       RDM_KNOB_STR, RDM_KNOB_F_RUNTIME, 0, 0, 0,
			       RDM_DEFAULT_MOVE_CLIENTS,
			       "'on-demand' = when a command needs a server "
			       "client, 'always' = every client at connect",
			       NULL},
};

void rdm_knobs_init(struct rdm_knobs *k)
{
	int i;

	memset(k, 0, sizeof(*k));
	for (i = 0; i < RDM_KNOB_NR; i++)
		k->num[i] = knob_table[i].def;
	snprintf(k->bind, sizeof(k->bind), "%s", RDM_DEFAULT_BIND);
	snprintf(k->io_thread_cpus, sizeof(k->io_thread_cpus), "%s",
		 RDM_DEFAULT_IO_THREAD_CPUS);
	snprintf(k->move_clients, sizeof(k->move_clients), "%s",
		 RDM_DEFAULT_MOVE_CLIENTS);
}

char *rdm_knob_str(struct rdm_knobs *k, enum rdm_knob_id id)
{
	if (id == RDM_KNOB_BIND)
		return k->bind;
	if (id == RDM_KNOB_IO_THREAD_CPUS)
		return k->io_thread_cpus;
	if (id == RDM_KNOB_MOVE_CLIENTS)
		return k->move_clients;
	return NULL;
}


const struct rdm_knob_desc *rdm_knob_desc_get(enum rdm_knob_id id)
{
	if ((int)id < 0 || id >= RDM_KNOB_NR)
		return NULL;
	return &knob_table[id];
}

const struct rdm_knob_desc *rdm_knob_find(const char *name, size_t len)
{
	int i;

	for (i = 0; i < RDM_KNOB_NR; i++) {
		const char *n = knob_table[i].name;
		const char *a = knob_table[i].alias;

		if ((strlen(n) == len && !strncasecmp(n, name, len)) ||
		    (a && strlen(a) == len && !strncasecmp(a, name, len)))
			return &knob_table[i];
	}
	return NULL;
}

/* "unknown argument 'x' (accepted: bind, port, ...)": every key that is
 * not a testing aid, then the Valkey 9 names. */
static void unknown_error(const char *key, size_t len, char *err,
			  size_t errlen)
{
	size_t n;
	int i, pass;

	n = (size_t)snprintf(err, errlen, "unknown argument '%.*s' (accepted:",
			     (int)(len > 64 ? 64 : len), key);
	for (pass = 0; pass < 2; pass++)
		for (i = 0; i < RDM_KNOB_NR && n < errlen; i++) {
			const struct rdm_knob_desc *d = &knob_table[i];
			const char *k = pass ? d->alias : d->name;

			if (!k || (d->flags & RDM_KNOB_F_HIDDEN))
				continue;
			n += (size_t)snprintf(err + n, errlen - n, "%s %s",
					      n && err[n - 1] == ':' ? "" : ",",
					      k);
		}
	if (n < errlen)
		snprintf(err + n, errlen - n, ")");
}

/* "expected an integer from A to B (note)" into err, prefixed by what. */
static void range_error(const struct rdm_knob_desc *d, const char *val,
			size_t vlen, char *err, size_t errlen)
{
	snprintf(err, errlen,
		 "bad value '%.*s' for %s: expected %s from %lld to %lld%s%s%s",
		 (int)(vlen > 64 ? 64 : vlen), val, d->name,
		 (d->flags & RDM_KNOB_F_POW2) ? "a power of two" : "an integer",
		 d->min, d->max, d->note ? " (" : "", d->note ? d->note : "",
		 d->note ? ")" : "");
}

int rdm_knob_check_num(const struct rdm_knob_desc *d, long long v, char *err,
		       size_t errlen)
{
	char txt[32];
	int n = snprintf(txt, sizeof(txt), "%lld", v);

	if (v < d->min || v > d->max) {
		range_error(d, txt, (size_t)n, err, errlen);
		return -ERANGE;
	}
	if ((d->flags & RDM_KNOB_F_POW2) && (v & (v - 1))) {
		range_error(d, txt, (size_t)n, err, errlen);
		return -EINVAL;
	}
	return 0;
}

/* One bind token: optional '-', then '*', '::*' or an address literal. */
static int check_bind_token(const char *t, size_t len)
{
	char addr[INET6_ADDRSTRLEN + 1];
	unsigned char bin[sizeof(struct in6_addr)];

	if (len && t[0] == '-') {
		t++;
		len--;
	}
	if (!len || len >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, t, len);
	addr[len] = '\0';
	if (!strcmp(addr, "*") || !strcmp(addr, "::*"))
		return 0;
	if (inet_pton(AF_INET, addr, bin) == 1 ||
	    inet_pton(AF_INET6, addr, bin) == 1)
		return 0;
	return -EINVAL;
}

int rdm_knob_check_bind(const char *v, size_t len, char *err, size_t errlen)
{
	const struct rdm_knob_desc *d = &knob_table[RDM_KNOB_BIND];
	size_t i = 0, start, ntok = 0;

	if (len >= RDM_BIND_MAX || memchr(v, '\0', len))
		goto bad;
	while (i < len) {
		while (i < len && v[i] == ' ')
			i++;
		if (i == len)
			break;
		start = i;
		while (i < len && v[i] != ' ')
			i++;
		if (check_bind_token(v + start, i - start) ||
		    ++ntok > RDM_BIND_ADDRS_MAX)
			goto bad;
	}
	if (ntok)
		return 0;
bad:
	snprintf(err, errlen, "bad value '%.*s' for bind: expected up to %d %s",
		 (int)(len > 64 ? 64 : len), v, RDM_BIND_ADDRS_MAX, d->note);
	return -EINVAL;
}

/* "auto", "none", or N[-M] items joined by commas (N <= M). */
int rdm_knob_check_cpus(const char *v, size_t len, char *err, size_t errlen)
{
	const struct rdm_knob_desc *d = &knob_table[RDM_KNOB_IO_THREAD_CPUS];
	long long a, b;
	size_t i = 0, j;

	if (len >= RDM_IO_THREAD_CPUS_MAX || memchr(v, '\0', len))
		goto bad;
	if ((len == 4 && !strncmp(v, "auto", 4)) ||
	    (len == 4 && !strncmp(v, "none", 4)))
		return 0;
	while (i < len) {
		for (j = i, a = 0; j < len && v[j] >= '0' && v[j] <= '9'; j++)
			a = a * 10 + (v[j] - '0');
		if (j == i || j - i > 4 || a > RDM_POLLER_CPU_MAX)
			goto bad;
		b = a;
		i = j;
		if (i < len && v[i] == '-') {
			for (j = ++i, b = 0; j < len && v[j] >= '0' && v[j] <= '9';
			     j++)
				b = b * 10 + (v[j] - '0');
			if (j == i || j - i > 4 || b < a ||
			    b > RDM_POLLER_CPU_MAX)
				goto bad;
			i = j;
		}
		if (i < len && (v[i] != ',' || i + 1 == len))
			goto bad;
		i += i < len;
	}
	if (len)
		return 0;
bad:
	snprintf(err, errlen,
		 "bad value '%.*s' for io-thread-cpus: expected %s (CPUs 0 "
		 "to %d)",
		 (int)(len > 64 ? 64 : len), v, d->note, RDM_POLLER_CPU_MAX);
	return -EINVAL;
}

int rdm_knob_check_move(const char *v, size_t len, char *err, size_t errlen)
{
	if ((len == 9 && !memcmp(v, "on-demand", 9)) ||
	    (len == 6 && !memcmp(v, "always", 6)))
		return 0;
	snprintf(err, errlen,
		 "bad value '%.*s' for move-clients: expected on-demand (a "
		 "client moves to a server client when a command needs one) "
		 "or always (every client at connect)",
		 (int)(len > 64 ? 64 : len), v);
	return -EINVAL;
}

static int check_str(enum rdm_knob_id id, const char *v, size_t len,
		     char *err, size_t errlen)
{
	if (id == RDM_KNOB_BIND)
		return rdm_knob_check_bind(v, len, err, errlen);
	if (id == RDM_KNOB_MOVE_CLIENTS)
		return rdm_knob_check_move(v, len, err, errlen);
	return rdm_knob_check_cpus(v, len, err, errlen);
}

/* Whole-string base-10 integer with strtoll; no spaces, no suffix. */
static int parse_ll(const char *v, size_t len, long long *out)
{
	char buf[32];
	char *end;
	long long ll;

	if (!len || len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, v, len);
	buf[len] = '\0';
	if (!(buf[0] == '-' || buf[0] == '+' ||
	      (buf[0] >= '0' && buf[0] <= '9')))
		return -EINVAL;
	errno = 0;
	ll = strtoll(buf, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	if (end != buf + len || end == buf)
		return -EINVAL;
	*out = ll;
	return 0;
}

int rdm_knob_parse(struct rdm_knobs *k, const struct rdm_knob_desc *d,
		   const char *v, size_t len, char *err, size_t errlen)
{
	long long ll;
	int ret;

	if (d->type == RDM_KNOB_STR) {
		ret = check_str(d->id, v, len, err, errlen);
		if (ret)
			return ret;
		memcpy(rdm_knob_str(k, d->id), v, len);
		rdm_knob_str(k, d->id)[len] = '\0';
		return 0;
	}
	ret = parse_ll(v, len, &ll);
	if (ret) {
		range_error(d, v, len, err, errlen);
		return ret;
	}
	ret = rdm_knob_check_num(d, ll, err, errlen);
	if (ret) {
		/* Name the value as given, not as reformatted. */
		range_error(d, v, len, err, errlen);
		return ret;
	}
	k->num[d->id] = ll;
	return 0;
}

int rdm_knobs_parse_args(struct rdm_knobs *k, int argc, const char *const *argv,
			 const size_t *lens, char *err, size_t errlen)
{
	struct rdm_knobs tmp = *k;
	const struct rdm_knob_desc *d;
	const char *eq;
	int i, ret;

	for (i = 0; i < argc; i++) {
		eq = memchr(argv[i], '=', lens[i]);
		if (!eq) {
			snprintf(err, errlen,
				 "bad argument '%.*s': expected key=value",
				 (int)(lens[i] > 64 ? 64 : lens[i]), argv[i]);
			return -EINVAL;
		}
		d = rdm_knob_find(argv[i], (size_t)(eq - argv[i]));
		if (!d) {
			unknown_error(argv[i], (size_t)(eq - argv[i]), err,
				      errlen);
			return -EINVAL;
		}
		ret = rdm_knob_parse(&tmp, d, eq + 1,
				     lens[i] - (size_t)(eq + 1 - argv[i]), err,
				     errlen);
		if (ret && strlen(d->name) != (size_t)(eq - argv[i]))
			/* given by its Valkey 9 name: say so */
			snprintf(err + strlen(err), errlen - strlen(err),
				 " (given as %.*s)", (int)(eq - argv[i]),
				 argv[i]);
		if (ret)
			return ret;
	}
	*k = tmp;
	return 0;
}

static int restart_error(const struct rdm_knob_desc *d, char *err,
			 size_t errlen)
{
	snprintf(err, errlen,
		 "rdmaring.%s cannot change while the server runs; set it "
		 "in the config file or as a load argument and restart",
		 d->name);
	return -EPERM;
}

int rdm_knob_update(struct rdm_knobs *k, const struct rdm_knob_desc *d,
		    long long v, bool loading, bool *changed, char *err,
		    size_t errlen)
{
	int ret;

	*changed = false;
	if (d->type != RDM_KNOB_NUM) {
		snprintf(err, errlen, "%s is not a numeric knob", d->name);
		return -EINVAL;
	}
	ret = rdm_knob_check_num(d, v, err, errlen);
	if (ret)
		return ret;
	if (k->num[d->id] == v)
		return 0;
	if (!loading && !(d->flags & RDM_KNOB_F_RUNTIME))
		return restart_error(d, err, errlen);
	k->num[d->id] = v;
	*changed = true;
	return 0;
}

int rdm_knob_update_str(struct rdm_knobs *k, const struct rdm_knob_desc *d,
			const char *v, size_t len, bool loading, bool *changed,
			char *err, size_t errlen)
{
	char *cur = rdm_knob_str(k, d->id);
	int ret;

	*changed = false;
	if (!cur) {
		snprintf(err, errlen, "%s is not a string knob", d->name);
		return -EINVAL;
	}
	ret = check_str(d->id, v, len, err, errlen);
	if (ret)
		return ret;
	if (strlen(cur) == len && !memcmp(cur, v, len))
		return 0;
	if (!loading && !(d->flags & RDM_KNOB_F_RUNTIME))
		return restart_error(d, err, errlen);
	memcpy(cur, v, len);
	cur[len] = '\0';
	*changed = true;
	return 0;
}
