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
	memset(s, 0, sizeof(*s));
	s->nr_io = nr_io > RDM_IO_THREADS_MAX ? RDM_IO_THREADS_MAX : nr_io;
	if (ops && ops->stats)
		ops->stats(ops->priv, s);
	if (s->nr_io > RDM_IO_THREADS_MAX)
		s->nr_io = RDM_IO_THREADS_MAX;
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
