/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring module: statistics snapshots, runtime knob hand-off, unload check.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "runtime.h"

void rdm_stats_snapshot(const struct rdm_engine_ops *ops, unsigned int nr_io,
			struct rdm_stats *s)
{
	unsigned int i;

	memset(s, 0, sizeof(*s));
	s->poller_node = s->mem_node = -1;
	for (i = 0; i < RDM_IO_THREADS_MAX; i++)
		s->io[i].node = -1;
	s->nr_io = nr_io > RDM_IO_THREADS_MAX ? RDM_IO_THREADS_MAX : nr_io;
	if (ops && ops->stats)
		ops->stats(ops->priv, s);
	if (s->nr_io > RDM_IO_THREADS_MAX)
		s->nr_io = RDM_IO_THREADS_MAX;
}

/* " on CPUs 0-1 (node 0)" for one thread into buf at *n. */
static void add_thread(char *buf, size_t len, size_t *n, const char *who,
		       const char *cpus, int node)
{
	if (*n >= len)
		return;
	*n += (size_t)snprintf(buf + *n, len - *n, "%s%s on CPU%s %s", *n ? ", " : "",
			       who, strpbrk(cpus, ",-") ? "s" : "",
			       *cpus ? cpus : "?");
	if (*n < len && node >= 0)
		*n += (size_t)snprintf(buf + *n, len - *n, " (node %d)", node);
}

void rdm_placement_line(const struct rdm_stats *s, char *buf, size_t len)
{
	char who[32];
	unsigned int i;
	size_t n = 0;

	if (!len)
		return;
	buf[0] = '\0';
	add_thread(buf, len, &n, "poller", s->poller_cpus, s->poller_node);
	for (i = 0; i < s->nr_io; i++) {
		snprintf(who, sizeof(who), "rring-io-%u", i);
		add_thread(buf, len, &n, who, s->io[i].cpus, s->io[i].node);
	}
	add_thread(buf, len, &n, "call_rcu worker", s->rcu_cpus, -1);
	if (n < len && s->mem_node >= 0)
		snprintf(buf + n, len - n, ", memory on node %d", s->mem_node);
	else if (n < len)
		snprintf(buf + n, len - n, ", memory on any node");
}

int rdm_unload_check(const struct rdm_engine_ops *ops, char *msg, size_t msglen)
{
	int ret;

	if (!ops || !ops->running || !ops->running(ops->priv))
		return 0;
	if (ops->stop) {
		ret = ops->stop(ops->priv);
		if (!ret)
			return 0;
	}
	snprintf(msg, msglen,
		 "rdmaring cannot be unloaded: its poller and IO threads are "
		 "running and could not be stopped cleanly; set "
		 "rdmaring.port to 0 in the config and restart the server to "
		 "run without it");
	return -EBUSY;
}

int rdm_apply_runtime(const struct rdm_engine_ops *ops, enum rdm_knob_id id,
		      long long value)
{
	if (!ops || !ops->apply)
		return 0;
	return ops->apply(ops->priv, id, value);
}

int rdm_listen_runtime(const struct rdm_engine_ops *ops, const char *bind,
		       long long port, char *err, size_t errlen)
{
	if (ops && ops->listen)
		return ops->listen(ops->priv, bind, port, err, errlen);
	snprintf(err, errlen,
		 "rdmaring.port and rdmaring.bind move a running RDMA "
		 "listener, and none runs (%s); set them in the config file "
		 "or as load arguments and restart",
		 ops && ops->running && ops->running(ops->priv)
		     ? "the data path is served by loopback-port"
		     : "port was 0 at load");
	return -EPERM;
}
