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
    [RDM_KNOB_BIND] = {RDM_KNOB_BIND, "bind", RDM_KNOB_STR, 0, 0, 0, 0,
		       RDM_DEFAULT_BIND,
		       "space-separated IPv4/IPv6 addresses, '*' for all "
		       "IPv4, '::*' for all IPv6, '-' prefix = optional"},
    [RDM_KNOB_PORT] = {RDM_KNOB_PORT, "port", RDM_KNOB_NUM, 0, RDM_DEFAULT_PORT,
		       RDM_PORT_MIN, RDM_PORT_MAX, NULL,
		       "0 = no RDMA listener"},
    [RDM_KNOB_IO_THREADS] = {RDM_KNOB_IO_THREADS, "io-threads", RDM_KNOB_NUM, 0,
			     RDM_DEFAULT_IO_THREADS, RDM_IO_THREADS_MIN,
			     RDM_IO_THREADS_MAX, NULL, NULL},
    [RDM_KNOB_RX_SIZE] = {RDM_KNOB_RX_SIZE, "rx-size", RDM_KNOB_NUM, 0,
			  RDM_DEFAULT_RX_SIZE, RDM_RX_SIZE_MIN, RDM_RX_SIZE_MAX,
			  NULL, "bytes"},
    [RDM_KNOB_COMP_VECTOR] = {RDM_KNOB_COMP_VECTOR, "comp-vector", RDM_KNOB_NUM,
			      0, RDM_DEFAULT_COMP_VECTOR, RDM_COMP_VECTOR_MIN,
			      RDM_COMP_VECTOR_MAX, NULL, "-1 = random"},
    [RDM_KNOB_POLL_IDLE_US] = {RDM_KNOB_POLL_IDLE_US, "poll-idle-us",
			       RDM_KNOB_NUM, RDM_KNOB_F_RUNTIME,
			       RDM_DEFAULT_POLL_IDLE_US, RDM_POLL_IDLE_US_MIN,
			       RDM_POLL_IDLE_US_MAX, NULL, "microseconds"},
    [RDM_KNOB_RING_ENTRIES] = {RDM_KNOB_RING_ENTRIES, "ring-entries",
			       RDM_KNOB_NUM, RDM_KNOB_F_POW2,
			       RDM_DEFAULT_RING_ENTRIES, RDM_RING_ENTRIES_MIN,
			       RDM_RING_ENTRIES_MAX, NULL, NULL},
    [RDM_KNOB_POLLER_CPU] =
	{RDM_KNOB_POLLER_CPU, "poller-cpu", RDM_KNOB_NUM, 0,
	 RDM_DEFAULT_POLLER_CPU, RDM_POLLER_CPU_MIN, RDM_POLLER_CPU_MAX, NULL,
	 "-1 = a CPU on the NIC's NUMA node, -2 = not pinned"},
    [RDM_KNOB_NUMA_NODE] = {RDM_KNOB_NUMA_NODE, "numa-node", RDM_KNOB_NUM, 0,
			    RDM_DEFAULT_NUMA_NODE, RDM_NUMA_NODE_MIN,
			    RDM_NUMA_NODE_MAX, NULL, "-1 = the NIC's node"},
    [RDM_KNOB_MAX_CLIENTS] = {RDM_KNOB_MAX_CLIENTS, "max-clients", RDM_KNOB_NUM,
			      RDM_KNOB_F_RUNTIME, RDM_DEFAULT_MAX_CLIENTS,
			      RDM_MAX_CLIENTS_MIN, RDM_MAX_CLIENTS_MAX, NULL,
			      NULL},
    [RDM_KNOB_LOOPBACK_PORT] = {RDM_KNOB_LOOPBACK_PORT, "loopback-port",
				RDM_KNOB_NUM, RDM_KNOB_F_HIDDEN,
				RDM_DEFAULT_LOOPBACK_PORT, 0, 65535, NULL,
				"0 = off; TCP on 127.0.0.1, for tests"},
};

void rdm_knobs_init(struct rdm_knobs *k)
{
	int i;

	memset(k, 0, sizeof(*k));
	for (i = 0; i < RDM_KNOB_NR; i++)
		k->num[i] = knob_table[i].def;
	snprintf(k->bind, sizeof(k->bind), "%s", RDM_DEFAULT_BIND);
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

		if (strlen(n) == len && !strncasecmp(n, name, len))
			return &knob_table[i];
	}
	return NULL;
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
		ret = rdm_knob_check_bind(v, len, err, errlen);
		if (ret)
			return ret;
		memcpy(k->bind, v, len);
		k->bind[len] = '\0';
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
			snprintf(err, errlen,
				 "unknown argument '%.*s' (known: bind, port, "
				 "io-threads, rx-size, comp-vector, "
				 "poll-idle-us, ring-entries, poller-cpu, "
				 "numa-node, max-clients)",
				 (int)(eq - argv[i] > 64 ? 64 : eq - argv[i]),
				 argv[i]);
			return -EINVAL;
		}
		ret = rdm_knob_parse(&tmp, d, eq + 1,
				     lens[i] - (size_t)(eq + 1 - argv[i]), err,
				     errlen);
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

int rdm_knob_update_bind(struct rdm_knobs *k, const char *v, size_t len,
			 bool loading, bool *changed, char *err, size_t errlen)
{
	const struct rdm_knob_desc *d = &knob_table[RDM_KNOB_BIND];
	int ret;

	*changed = false;
	ret = rdm_knob_check_bind(v, len, err, errlen);
	if (ret)
		return ret;
	if (strlen(k->bind) == len && !memcmp(k->bind, v, len))
		return 0;
	if (!loading && !(d->flags & RDM_KNOB_F_RUNTIME))
		return restart_error(d, err, errlen);
	memcpy(k->bind, v, len);
	k->bind[len] = '\0';
	*changed = true;
	return 0;
}
