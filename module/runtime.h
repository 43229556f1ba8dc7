/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring module: hooks and statistics shared with the engine integration. */
#ifndef RDM_RUNTIME_H
#define RDM_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "knobs.h"

/* Per IO thread counters shown in INFO rdmaring. */
struct rdm_io_stats {
	uint64_t ring_depth;	/* completion-ring entries waiting now */
	uint64_t ring_overflow; /* completions parked on the overflow list */
	uint64_t completions;	/* completions consumed */
	uint64_t bytes_in;
	uint64_t bytes_out;
	uint64_t wakeups; /* eventfd wakeups of this thread */
	uint64_t replies; /* replies whose last byte was handed to a send */
	uint64_t writes_posted;	  /* RDMA writes of data */
	uint64_t writes_signaled; /* of them asking for a completion */
	uint64_t sends_coalesced; /* sends that shared a write with another */
	uint64_t clients; /* clients it owns now */
	char cpus[64];	  /* CPUs it may run on, read back; "" unknown */
	int node;	  /* their NUMA node, -1 unknown or several */
};

/* One snapshot of the engine, filled by rdm_engine_ops.stats. */
struct rdm_stats {
	uint64_t connected_clients;
	uint64_t transfers_in_progress;
	double poller_busy_pct; /* 0..100 since the engine started */
	uint64_t poller_sleeps; /* times the poller went to sleep */
	/* replies sent from their own memory, registration dropped after */
	uint64_t inplace_replies;
	/* Placement read back from the threads ("" / -1 unknown). */
	char poller_cpus[64];
	int poller_node;
	char rcu_cpus[64]; /* liburcu's call_rcu worker */
	int mem_node;	   /* node of rings and buffers */
	unsigned int nr_io;	/* valid entries in io[] */
	struct rdm_io_stats io[RDM_IO_THREADS_MAX];
};

/*
 * What the engine integration plugs in (all main thread). Every member may
 * be NULL: the module then runs without an engine (no listener, zero
 * statistics), which is the state before the data path is connected.
 */
struct rdm_engine_ops {
	/* A runtime knob changed (CONFIG SET): apply it now. 0 or -errno. */
	int (*apply)(void *priv, enum rdm_knob_id id, long long value);
	/* Fill a statistics snapshot; *s arrives zeroed with nr_io set. */
	void (*stats)(void *priv, struct rdm_stats *s);
	/* Do threads run (poller, IO threads)? */
	bool (*running)(void *priv);
	/* Stop every thread and close every client; 0 or -EBUSY. */
	int (*stop)(void *priv);
	/* Listen on bind:port (port 0: nowhere) instead of the addresses
	 * listened on now, keeping connected clients; on error the old
	 * listeners stay and err says why. 0 or -errno. */
	int (*listen)(void *priv, const char *bind, long long port, char *err,
		      size_t errlen);
	void *priv;
};

/* rdm_stats_snapshot - zero *s, set nr_io and let ops fill it. */
void rdm_stats_snapshot(const struct rdm_engine_ops *ops, unsigned int nr_io,
			struct rdm_stats *s);

/*
 * rdm_unload_check - may the module be unloaded now? 0 when nothing runs or
 * the engine stopped cleanly; -EBUSY with a message for the log otherwise.
 */
int rdm_unload_check(const struct rdm_engine_ops *ops, char *msg,
		     size_t msglen);

/* rdm_placement_line - "poller on CPU 1 (node 0), rring-io-0 on CPU 0
 * (node 0), ..., call_rcu worker on CPU 0, memory on node 0" into buf:
 * where the threads of snapshot s run. */
void rdm_placement_line(const struct rdm_stats *s, char *buf, size_t len);

/* rdm_apply_runtime - forward a changed runtime knob to the engine. */
int rdm_apply_runtime(const struct rdm_engine_ops *ops, enum rdm_knob_id id,
		      long long value);

/*
 * rdm_listen_runtime - CONFIG SET of port or bind: move the listeners of
 * the running transport to bind:port. Without a transport that can (none
 * runs, or the TCP stand-in), -EPERM with err saying what to do instead.
 */
int rdm_listen_runtime(const struct rdm_engine_ops *ops, const char *bind,
		       long long port, char *err, size_t errlen);

#endif /* RDM_RUNTIME_H */
