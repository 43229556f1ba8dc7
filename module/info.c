/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring module: the INFO section "rdmaring". */
#include <stdio.h>

#include "module.h"

/*
 * Fields appear as rdmaring_<field> (the server prefixes the module name);
 * per IO thread one line rdmaring_io_thread_<n>:ring_depth=..,... .
 */

static void add_io_thread(RedisModuleInfoCtx *ctx, unsigned int i,
			  const struct rdm_io_stats *io)
{
	char name[32];

	snprintf(name, sizeof(name), "io_thread_%u", i);
	RedisModule_InfoBeginDictField(ctx, name);
	RedisModule_InfoAddFieldULongLong(ctx, "clients", io->clients);
	RedisModule_InfoAddFieldULongLong(ctx, "ring_depth", io->ring_depth);
	RedisModule_InfoAddFieldULongLong(ctx, "ring_overflow",
					  io->ring_overflow);
	RedisModule_InfoAddFieldULongLong(ctx, "completions", io->completions);
	RedisModule_InfoAddFieldULongLong(ctx, "bytes_in", io->bytes_in);
	RedisModule_InfoAddFieldULongLong(ctx, "bytes_out", io->bytes_out);
	RedisModule_InfoAddFieldULongLong(ctx, "wakeups", io->wakeups);
	RedisModule_InfoAddFieldULongLong(ctx, "replies_sent", io->replies);
	RedisModule_InfoAddFieldULongLong(ctx, "writes_posted",
					  io->writes_posted);
	RedisModule_InfoAddFieldULongLong(ctx, "writes_signaled",
					  io->writes_signaled);
	RedisModule_InfoAddFieldULongLong(ctx, "sends_coalesced",
					  io->sends_coalesced);
	RedisModule_InfoEndDictField(ctx);
}

/* Where the threads run, read back from them (CPU lists may hold commas,
 * so each is a field of its own rather than a dict entry). */
static void add_placement(RedisModuleInfoCtx *ctx, const struct rdm_stats *s)
{
	char name[32];
	unsigned int i;

	RedisModule_InfoAddFieldCString(ctx, "poller_cpus", s->poller_cpus);
	RedisModule_InfoAddFieldLongLong(ctx, "poller_node", s->poller_node);
	RedisModule_InfoAddFieldCString(ctx, "rcu_thread_cpus", s->rcu_cpus);
	RedisModule_InfoAddFieldLongLong(ctx, "memory_node", s->mem_node);
	for (i = 0; i < s->nr_io; i++) {
		snprintf(name, sizeof(name), "io_cpus_%u", i);
		RedisModule_InfoAddFieldCString(ctx, name, s->io[i].cpus);
		snprintf(name, sizeof(name), "io_node_%u", i);
		RedisModule_InfoAddFieldLongLong(ctx, name, s->io[i].node);
	}
}

static void info_cb(RedisModuleInfoCtx *ctx, int for_crash_report)
{
	/* Main thread only, so one static snapshot is enough (and keeps
	 * 6 KiB off the server's stack). */
	static struct rdm_stats s;
	const struct rdm_engine_ops *ops = &rdm_mod.ops;
	struct rdm_io_stats sum = {0};
	bool running;
	unsigned int i;

	/* A crash report must not call into possibly broken engine code. */
	rdm_stats_snapshot(for_crash_report ? NULL : ops,
			   (unsigned int)rdm_mod.knobs.num[RDM_KNOB_IO_THREADS],
			   &s);
	running = !for_crash_report && ops->running && ops->running(ops->priv);
	for (i = 0; i < s.nr_io; i++) {
		sum.bytes_in += s.io[i].bytes_in;
		sum.bytes_out += s.io[i].bytes_out;
		sum.replies += s.io[i].replies;
		sum.writes_posted += s.io[i].writes_posted;
		sum.writes_signaled += s.io[i].writes_signaled;
		sum.sends_coalesced += s.io[i].sends_coalesced;
	}
	RedisModule_InfoAddSection(ctx, "");
	RedisModule_InfoAddFieldCString(ctx, "engine",
					running ? "running" : "stopped");
	RedisModule_InfoAddFieldLongLong(ctx, "port",
					 rdm_mod.knobs.num[RDM_KNOB_PORT]);
	RedisModule_InfoAddFieldULongLong(ctx, "connected_clients",
					  s.connected_clients);
	RedisModule_InfoAddFieldULongLong(ctx, "transfers_in_progress",
					  s.transfers_in_progress);
	RedisModule_InfoAddFieldDouble(ctx, "poller_busy_pct",
				       s.poller_busy_pct);
	RedisModule_InfoAddFieldULongLong(ctx, "poller_sleeps",
					  s.poller_sleeps);
	RedisModule_InfoAddFieldULongLong(ctx, "inplace_replies",
					  s.inplace_replies);
	RedisModule_InfoAddFieldULongLong(ctx, "total_bytes_in", sum.bytes_in);
	RedisModule_InfoAddFieldULongLong(ctx, "total_bytes_out",
					  sum.bytes_out);
	RedisModule_InfoAddFieldULongLong(ctx, "replies_sent", sum.replies);
	RedisModule_InfoAddFieldULongLong(ctx, "writes_posted",
					  sum.writes_posted);
	RedisModule_InfoAddFieldULongLong(ctx, "writes_signaled",
					  sum.writes_signaled);
	RedisModule_InfoAddFieldULongLong(ctx, "sends_coalesced",
					  sum.sends_coalesced);
	RedisModule_InfoAddFieldULongLong(ctx, "io_threads", s.nr_io);
	for (i = 0; i < s.nr_io; i++)
		add_io_thread(ctx, i, &s.io[i]);
	add_placement(ctx, &s);
	if (!for_crash_report)
		rdm_exec_info(ctx);
}

int rdm_info_register(RedisModuleCtx *ctx)
{
	return RedisModule_RegisterInfoFunc(ctx, info_cb);
}
