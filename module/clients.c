/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring module: the table of RDMA clients (RDMARING CLIENT, timeout). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"
#include "clients.h"
#include "conf_limits.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct rdm_session *table;
static _Atomic unsigned long long closed[RDM_CLOSE_REASONS];
static unsigned long long moved, moved_now; /* under the lock */
/* sessions in the table whose server client is connected: written under
 * the lock, read by the admission checks of any thread (a count, no
 * ordering with anything else) */
static _Atomic long long both_live;

static const char *const reason_names[RDM_CLOSE_REASONS] = {
    [RDM_CLOSE_PEER] = "peer",	     [RDM_CLOSE_LIMIT] = "limit",
    [RDM_CLOSE_TIMEOUT] = "timeout", [RDM_CLOSE_AUTH] = "auth",
    [RDM_CLOSE_FAULT] = "fault",     [RDM_CLOSE_KILLED] = "killed",
};

void rdm_clients_add(struct rdm_session *s, struct rdm_mpsc *reply_q,
		     unsigned int io, const char *addr)
{
	s->reply_q = reply_q;
	s->io = io;
	snprintf(s->addr, sizeof(s->addr), "%s", addr);
	pthread_mutex_lock(&lock);
	s->tprev = NULL;
	s->tnext = table;
	if (table)
		table->tprev = s;
	table = s;
	pthread_mutex_unlock(&lock);
}

void rdm_clients_remove(struct rdm_session *s)
{
	int why;

	if (!s->reply_q)
		return; /* never added (or removed already) */
	pthread_mutex_lock(&lock);
	moved_now -= s->server_id != 0;
	if (s->server_live)
		atomic_fetch_sub_explicit(&both_live, 1, memory_order_relaxed);
	s->server_live = false;
	if (s->tprev)
		s->tprev->tnext = s->tnext;
	else
		table = s->tnext;
	if (s->tnext)
		s->tnext->tprev = s->tprev;
	pthread_mutex_unlock(&lock);
	s->reply_q = NULL;
	why = atomic_load(&s->close_reason);
	if (why < 0 || why >= RDM_CLOSE_REASONS)
		why = RDM_CLOSE_PEER;
	atomic_fetch_add_explicit(&closed[why], 1, memory_order_relaxed);
}

void rdm_clients_attached(uint64_t id, uint64_t server_id)
{
	struct rdm_session *s;

	pthread_mutex_lock(&lock);
	for (s = table; s; s = s->tnext)
		if (s->id == id && !s->server_id) {
			s->server_id = server_id;
			s->server_live = true;
			atomic_fetch_add_explicit(&both_live, 1,
						  memory_order_relaxed);
			moved++;
			moved_now++;
			break;
		}
	pthread_mutex_unlock(&lock);
}

void rdm_clients_detached(uint64_t server_id)
{
	struct rdm_session *s;

	pthread_mutex_lock(&lock);
	for (s = moved_now ? table : NULL; s; s = s->tnext)
		if (s->server_live && s->server_id == server_id) {
			s->server_live = false;
			atomic_fetch_sub_explicit(&both_live, 1,
						  memory_order_relaxed);
			break;
		}
	pthread_mutex_unlock(&lock);
}

long long rdm_clients_counted_twice(void)
{
	return atomic_load_explicit(&both_live, memory_order_relaxed);
}

/* Under the lock (s cannot be freed meanwhile). */
static void kill_locked(struct rdm_session *s, enum rdm_close_reason reason)
{
	struct rdm_job *j;
	int none = RDM_CLOSE_PEER;

	/* the first reason stays */
	if (!atomic_compare_exchange_strong(&s->close_reason, &none,
					    (int)reason))
		return;
	j = rdm_job_new_static(s, NULL, "", 0, true);
	if (!j)
		return; /* closed at its next command (s->quit) */
	j->kind = RDM_JOB_KILL;
	rdm_mpsc_push(s->reply_q, &j->node);
}

void rdm_clients_kill(struct rdm_session *s, enum rdm_close_reason reason)
{
	pthread_mutex_lock(&lock);
	kill_locked(s, reason);
	pthread_mutex_unlock(&lock);
}

void rdm_clients_sweep(RedisModuleCtx *ctx, bool idle)
{
	long long timeout = idle ? rdm_limits_timeout() : 0;
	uint64_t now = rdm_now_ms();
	struct rdm_session *s;

	(void)ctx;
	pthread_mutex_lock(&lock);
	for (s = table; s; s = s->tnext) {
		/* a moved client's server client has its own timeout and
		 * user; the server closes it, and the relay follows */
		if (s->server_id)
			continue;
		/* as clientsCron: not while its commands wait (paused) */
		if (timeout > 0 && !s->held &&
		    now - atomic_load(&s->last_ms) > (uint64_t)timeout * 1000u)
			kill_locked(s, RDM_CLOSE_TIMEOUT);
		else if (!idle && !rdm_acl_user(rdm_session_user(s)))
			kill_locked(s, RDM_CLOSE_AUTH);
	}
	pthread_mutex_unlock(&lock);
	rdm_acl_batch_end();
}

/* ------------------------------ RDMARING ------------------------------- */

static void reply_list(RedisModuleCtx *ctx)
{
	uint64_t now = rdm_now_ms();
	struct rdm_session *s;
	char *buf = NULL, *grown;
	size_t len = 0, cap = 0;
	int n;

	pthread_mutex_lock(&lock);
	for (s = table; s; s = s->tnext) {
		if (cap - len < 512) {
			cap = cap ? cap * 2 : 4096;
			grown = realloc(buf, cap);
			if (!grown)
				break;
			buf = grown;
		}
		n = snprintf(buf + len, cap - len,
			     "id=%llu addr=%s user=%.200s db=%d age=%llu "
			     "idle=%llu io-thread=%u reply-bytes=%llu "
			     "qbuf=%llu server-id=%llu\n",
			     (unsigned long long)s->id, s->addr,
			     rdm_session_user(s), s->db,
			     (unsigned long long)(now - s->created_ms) / 1000u,
			     (unsigned long long)(now - atomic_load(&s->last_ms)) /
				 1000u,
			     s->io, atomic_load(&s->reply_bytes),
			     atomic_load(&s->query_bytes),
			     (unsigned long long)s->server_id);
		if (n > 0 && (size_t)n < cap - len)
			len += (size_t)n;
	}
	pthread_mutex_unlock(&lock);
	RedisModule_ReplyWithStringBuffer(ctx, buf ? buf : "", len);
	free(buf);
}

/* KILL ID id | USER name | ADDR addr: how many were closed. */
static void reply_kill(RedisModuleCtx *ctx, RedisModuleString **argv, int argc)
{
	const char *want;
	struct rdm_session *s;
	long long id = -1, n = 0;
	size_t len;
	int by;

	if (argc != 5) {
		RedisModule_ReplyWithError(
		    ctx, "ERR syntax error: RDMARING CLIENT KILL ID <id> | "
			 "USER <name> | ADDR <ip:port>");
		return;
	}
	want = RedisModule_StringPtrLen(argv[4], &len);
	by = rdm_arg_is(argv[3], "id") ? 0 : rdm_arg_is(argv[3], "user") ? 1
					 : rdm_arg_is(argv[3], "addr")	  ? 2
									  : -1;
	if (by < 0 || (by == 0 && (RedisModule_StringToLongLong(argv[4], &id) !=
					   REDISMODULE_OK ||
				   id <= 0))) {
		RedisModule_ReplyWithError(
		    ctx, by < 0 ? "ERR syntax error: KILL takes ID, USER or ADDR"
				: "ERR client-id should be greater than 0");
		return;
	}
	pthread_mutex_lock(&lock);
	for (s = table; s; s = s->tnext) {
		if ((by == 0 && s->id == (uint64_t)id) ||
		    (by == 1 && strlen(rdm_session_user(s)) == len &&
		     !memcmp(rdm_session_user(s), want, len)) ||
		    (by == 2 && strlen(s->addr) == len &&
		     !memcmp(s->addr, want, len))) {
			kill_locked(s, RDM_CLOSE_KILLED);
			n++;
		}
	}
	pthread_mutex_unlock(&lock);
	RedisModule_ReplyWithLongLong(ctx, n);
}

static int rdmaring_cmd(RedisModuleCtx *ctx, RedisModuleString **argv,
			int argc)
{
	if (argc >= 3 && rdm_arg_is(argv[1], "client") &&
	    rdm_arg_is(argv[2], "list") && argc == 3)
		reply_list(ctx);
	else if (argc >= 3 && rdm_arg_is(argv[1], "client") &&
		 rdm_arg_is(argv[2], "kill"))
		reply_kill(ctx, argv, argc);
	else
		RedisModule_ReplyWithError(
		    ctx, "ERR unknown subcommand: RDMARING CLIENT LIST | "
			 "CLIENT KILL ID <id> | USER <name> | ADDR <ip:port>");
	return REDISMODULE_OK;
}

int rdm_clients_register(RedisModuleCtx *ctx)
{
	/* admin, as CLIENT LIST and CLIENT KILL: @admin @dangerous for ACLs */
	return RedisModule_CreateCommand(ctx, "rdmaring", rdmaring_cmd,
					 "admin deny-script", 0, 0, 0);
}

void rdm_clients_info(RedisModuleInfoCtx *ctx)
{
	char field[32];
	int i;

	for (i = 0; i < RDM_CLOSE_REASONS; i++) {
		snprintf(field, sizeof(field), "clients_closed_%s",
			 reason_names[i]);
		RedisModule_InfoAddFieldULongLong(
		    ctx, field,
		    atomic_load_explicit(&closed[i], memory_order_relaxed));
	}
	pthread_mutex_lock(&lock);
	RedisModule_InfoAddFieldULongLong(ctx, "clients_moved", moved);
	RedisModule_InfoAddFieldULongLong(ctx, "clients_moved_now", moved_now);
	pthread_mutex_unlock(&lock);
}
