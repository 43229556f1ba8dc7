/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring module: client sessions, command jobs and their main-thread run. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "acl.h"
#include "clients.h"
#include "exec.h"
#include "hello.h"
#include "conf_limits.h"
#include "pause.h"
#include "watch.h"
#include "policy.h"
#include "target.h"

/*
 * Does a new client start authenticated (default user on, nopass)? Redis
 * decides when it creates the client; so does rdm_session_init, from this
 * hint. The main thread keeps it exact: it sets it after every ACL or
 * CONFIG command, and marks it unknown (rdm_exec_auth_unknown) while
 * one from a TCP client is about to run, until a timer re-reads it. A
 * session created while it is unknown is parsed with the unauthenticated
 * limits and decided at its first command.
 */
static RedisModuleCtx *exec_ctx; /* makes the calls, owns the timer */

enum { AUTH_HINT_UNKNOWN, AUTH_HINT_CLOSED, AUTH_HINT_OPEN };
static atomic_int auth_hint;

void rdm_session_init(struct rdm_session *s, uint64_t id)
{
	int hint = atomic_load(&auth_hint);

	memset(s, 0, sizeof(*s));
	s->id = id;
	s->created_ms = rdm_now_ms();
	atomic_init(&s->last_ms, s->created_ms);
	atomic_init(&s->authenticated, hint == AUTH_HINT_OPEN);
	/* read by the main thread after the session's first job, which the
	 * job queue publishes (release/acquire in rdm_mpsc) */
	s->auth_known = hint != AUTH_HINT_UNKNOWN;
}

uint64_t rdm_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Back to the default user. */
static void session_drop_user(struct rdm_session *s)
{
	free(s->user);
	s->user = NULL;
}

void rdm_session_destroy(struct rdm_session *s)
{
	rdm_clients_remove(s);
	session_drop_user(s);
}

bool rdm_session_query_over(struct rdm_session *s, size_t pending)
{
	unsigned long long max = rdm_limits_query_max();

	atomic_store_explicit(&s->query_bytes, pending, memory_order_relaxed);
	/* input is an interaction for timeout, as on TCP */
	atomic_store_explicit(&s->last_ms, rdm_now_ms(), memory_order_relaxed);
	if (!max || pending <= max)
		return false;
	RedisModule_Log(NULL, RDM_LOG_WARNING,
			"Closing client that reached max query buffer length: "
			"id=%llu (RDMA, %zu bytes of an unfinished command)",
			(unsigned long long)s->id, pending);
	atomic_store(&s->close_reason, RDM_CLOSE_LIMIT);
	return true;
}

int rdm_session_close_reason(struct rdm_session *s)
{
	return atomic_load(&s->close_reason);
}

const char *rdm_session_user(const struct rdm_session *s)
{
	return s->user ? s->user : "default";
}

/* The strings j's arguments are made of so far (small ones may not be). */
static void free_args(struct rdm_job *j)
{
	int i;

	for (i = 0; i < j->argc; i++)
		if (j->argv[i])
			RedisModule_FreeString(NULL, j->argv[i]);
	j->argv = NULL; /* j->args, freed with j */
	j->argc = 0;
	j->small = NULL;
}

/*
 * Arguments up to this size are copied into the job by the IO thread and
 * made strings by the main thread. Redis 7.0 counts every zmalloc and
 * zfree in one atomic (used_memory): strings made on an IO thread and
 * freed on the main thread moved that cache line between the CPUs twice
 * per argument (at 16 B SET, pipeline 16: zmalloc's locked add was 5% of
 * the server's samples, on the IO threads). Larger ones are made where
 * they are parsed, so a big value is copied once and off the main thread.
 */
#define RDM_JOB_SMALL_ARG 256

struct rdm_job *rdm_job_new(struct rdm_session *s, struct rdm_mpsc *reply_q,
			    void *owner, const struct rdm_resp_arg *argv,
			    int argc, const struct rdm_cmd_rule *rule)
{
	size_t head = sizeof(struct rdm_job) +
		      (size_t)argc * sizeof(RedisModuleString *);
	size_t small = 0, off;
	struct rdm_job *j;
	char *bytes;
	int i;

	for (i = 0; i < argc; i++)
		if (argv[i].len <= RDM_JOB_SMALL_ARG)
			small += argv[i].len;
	small += (size_t)argc * sizeof(struct rdm_job_arg);
	/* one allocation per command: the job, its argument vector and its
	 * small arguments */
	j = calloc(1, head + small);
	if (!j)
		return NULL;
	j->argv = j->args;
	j->argc = argc;
	j->small = argc ? (struct rdm_job_arg *)((char *)j + head) : NULL;
	bytes = (char *)(j->small + argc);
	off = 0;
	for (i = 0; i < argc; i++) {
		if (argv[i].len <= RDM_JOB_SMALL_ARG) {
			memcpy(bytes + off, argv[i].ptr, argv[i].len);
			j->small[i].off = (uint32_t)off;
			j->small[i].len = (uint32_t)argv[i].len;
			off += argv[i].len;
			continue;
		}
		/* A NULL context makes plain strings, safe to create off the
		 * main thread; they are freed on the main thread. */
		j->argv[i] =
		    RedisModule_CreateString(NULL, argv[i].ptr, argv[i].len);
		if (!j->argv[i])
			goto err_free_args;
	}
	j->rule = rule;
	j->kind = RDM_JOB_COMMAND;
	j->s = s;
	j->reply_q = reply_q;
	j->owner = owner;
	return j;

err_free_args:
	free_args(j);
	free(j);
	return NULL;
}

/* Main thread: the small arguments of j become strings too. */
static void make_small_args(struct rdm_job *j)
{
	const char *bytes;
	int i;

	if (!j->small)
		return;
	bytes = (const char *)(j->small + j->argc);
	for (i = 0; i < j->argc; i++)
		if (!j->argv[i])
			j->argv[i] = RedisModule_CreateString(
			    NULL, bytes + j->small[i].off, j->small[i].len);
	j->small = NULL;
}

struct rdm_job *rdm_job_new_static(struct rdm_session *s, void *owner,
				   const char *out, size_t len,
				   bool close_after)
{
	struct rdm_job *j = calloc(1, sizeof(*j));

	if (!j)
		return NULL;
	j->out = j->msg;
	if (len > sizeof(j->msg)) {
		j->heap = malloc(len);
		if (!j->heap) {
			free(j);
			return NULL;
		}
		j->out = j->heap;
	}
	memcpy(j->heap ? j->heap : j->msg, out, len);
	j->out_len = len;
	j->kind = RDM_JOB_REPLY;
	j->s = s;
	j->owner = owner;
	j->close_after = close_after;
	return j;
}

void rdm_job_free(struct rdm_job *j)
{
	if (!j)
		return;
	if (j->reply)
		RedisModule_FreeCallReply(j->reply);
	free(j->heap);
	free_args(j);
	free(j);
}

/* ---------------------------- reply helpers ---------------------------- */

static void reply_msg(struct rdm_job *j, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A module-made reply (already RESP, e.g. "-ERR ...\r\n"). */
static void reply_msg(struct rdm_job *j, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(j->msg, sizeof(j->msg) - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n > sizeof(j->msg) - 3)
		n = (int)sizeof(j->msg) - 3;
	memcpy(j->msg + n, "\r\n", 2);
	j->out = j->msg;
	j->out_len = (size_t)n + 2;
}

static void reply_call(struct rdm_job *j, RedisModuleCallReply *r)
{
	j->reply = r;
	j->out = RedisModule_CallReplyProto(r, &j->out_len);
}

static bool call_failed(RedisModuleCallReply *r)
{
	return !r || RedisModule_CallReplyType(r) == REDISMODULE_REPLY_ERROR;
}

/* RM_Call returned NULL (a server without the 'E' flag): errno says why. */
static void reply_errno(struct rdm_job *j, const char *name, int err)
{
	switch (err) {
	case ENOENT:
		reply_msg(j, "-ERR unknown command '%.128s'", name);
		break;
	case EINVAL:
		reply_msg(j,
			  "-ERR wrong number of arguments for '%.128s' "
			  "command",
			  name);
		break;
	case EACCES:
		reply_msg(j,
			  "-NOPERM this user has no permissions to run the "
			  "'%.128s' command",
			  name);
		break;
	case ENOSPC:
		reply_msg(j, "-OOM command not allowed when used memory > "
			     "'maxmemory'.");
		break;
	default:
		reply_msg(j,
			  "-ERR %.128s failed through the module API "
			  "(errno %d)",
			  name, err);
		break;
	}
}

/* -------------------------- authentication ---------------------------- */

/* Is the default user enabled with nopass (clients start authenticated)? */
static bool default_user_open(RedisModuleCtx *ctx)
{
	RedisModuleCallReply *r, *flags, *e;
	bool on = false, nopass = false;
	size_t i, n, len;
	const char *s;

	r = RedisModule_Call(ctx, "ACL", "cc", "GETUSER", "default");
	if (!r || RedisModule_CallReplyType(r) != REDISMODULE_REPLY_ARRAY)
		goto out;
	n = RedisModule_CallReplyLength(r);
	for (i = 0; i + 1 < n; i += 2) {
		e = RedisModule_CallReplyArrayElement(r, i);
		s = RedisModule_CallReplyStringPtr(e, &len);
		if (s && len == 5 && !memcmp(s, "flags", 5))
			break;
	}
	if (i + 1 >= n)
		goto out;
	flags = RedisModule_CallReplyArrayElement(r, i + 1);
	for (i = 0; i < RedisModule_CallReplyLength(flags); i++) {
		e = RedisModule_CallReplyArrayElement(flags, i);
		s = RedisModule_CallReplyStringPtr(e, &len);
		if (!s)
			continue;
		on |= len == 2 && !memcmp(s, "on", 2);
		nopass |= len == 6 && !memcmp(s, "nopass", 6);
	}
out:
	if (r)
		RedisModule_FreeCallReply(r);
	return on && nopass;
}

/* The default user may have changed (ACL or CONFIG SET requirepass):
 * clients created from now on start as it says. */
static bool auth_changed(RedisModuleCtx *ctx)
{
	bool open = default_user_open(ctx);

	atomic_store(&auth_hint, open ? AUTH_HINT_OPEN : AUTH_HINT_CLOSED);
	return open;
}

bool rdm_exec_default_open(void)
{
	/* unknown counts as open: protected mode fails closed */
	return atomic_load(&auth_hint) != AUTH_HINT_CLOSED;
}

void rdm_exec_auth_unknown(void)
{
	atomic_store(&auth_hint, AUTH_HINT_UNKNOWN);
}

void rdm_exec_auth_refresh(void)
{
	if (exec_ctx)
		auth_changed(exec_ctx);
}

static void session_reset_auth(RedisModuleCtx *ctx, struct rdm_session *s)
{
	bool open = auth_changed(ctx);

	atomic_store(&s->authenticated, open);
	s->auth_known = true;
	session_drop_user(s);
}

/* Check a password with the server's own AUTH (ACL log included); on
 * success the session becomes that user. Returns the reply. */
static RedisModuleCallReply *do_auth(RedisModuleCtx *ctx, struct rdm_session *s,
				     RedisModuleString **args, size_t nargs)
{
	RedisModuleCallReply *r;
	const char *u;
	char *copy = NULL;
	size_t ulen;

	if (nargs == 2) { /* any length the server allows */
		u = RedisModule_StringPtrLen(args[0], &ulen);
		copy = strndup(u, ulen);
		if (!copy) {
			errno = ENOMEM;
			return NULL;
		}
	}
	r = RedisModule_Call(ctx, "AUTH", "Ev", args, nargs);
	if (call_failed(r)) {
		free(copy);
		return r;
	}
	session_drop_user(s);
	s->user = copy; /* NULL: the default user */
	atomic_store(&s->authenticated, true);
	return r;
}

/* ------------------------ connection-state commands ----------------------- */

static void cmd_auth(RedisModuleCtx *ctx, struct rdm_job *j)
{
	RedisModuleCallReply *r;

	r = do_auth(ctx, j->s, j->argv + 1, (size_t)j->argc - 1);
	if (r)
		reply_call(j, r);
	else
		reply_errno(j, "auth", errno);
}

static void cmd_select(RedisModuleCtx *ctx, struct rdm_job *j)
{
	long long id;
	int old;

	if (j->argc != 2) {
		reply_msg(j, "-ERR wrong number of arguments for 'select' "
			     "command");
		return;
	}
	if (RedisModule_StringToLongLong(j->argv[1], &id) != REDISMODULE_OK ||
	    id < INT32_MIN || id > INT32_MAX) {
		reply_msg(j, "-ERR value is not an integer or out of range");
		return;
	}
	old = RedisModule_GetSelectedDb(ctx);
	if (RedisModule_SelectDb(ctx, (int)id) != REDISMODULE_OK) {
		reply_msg(j, "-ERR DB index is out of range");
		return;
	}
	RedisModule_SelectDb(ctx, old);
	j->s->db = (int)id;
	reply_msg(j, "+OK");
}

/* HELLO [protover [AUTH user pass] [SETNAME name]], in Redis 7.0's order:
 * version, options (AUTH as it comes), NOAUTH, name. RESP2 only. */
static void cmd_hello(RedisModuleCtx *ctx, struct rdm_job *j)
{
	RedisModuleString *name = NULL;
	RedisModuleCallReply *r;
	const char *p;
	long long ver;
	size_t len;
	int i;

	if (j->argc >= 2) {
		if (RedisModule_StringToLongLong(j->argv[1], &ver) !=
		    REDISMODULE_OK) {
			reply_msg(j, "-ERR Protocol version is not an integer "
				     "or out of range");
			return;
		}
		if (ver < 2 || ver > 3) {
			reply_msg(j, "-NOPROTO unsupported protocol version");
			return;
		}
		if (ver == 3) {
			reply_msg(j, "-NOPROTO RESP3 is not supported on the "
				     "RDMA port yet (use HELLO 2, or TCP)");
			return;
		}
	}
	for (i = 2; i < j->argc; i++) {
		if (rdm_arg_is(j->argv[i], "auth") && i + 2 < j->argc) {
			/* 7.0 authenticates here, before later options */
			r = do_auth(ctx, j->s, j->argv + i + 1, 2);
			if (call_failed(r)) {
				if (r)
					reply_call(j, r);
				else
					reply_errno(j, "auth", errno);
				return;
			}
			RedisModule_FreeCallReply(r);
			i += 2;
		} else if (rdm_arg_is(j->argv[i], "setname") && i + 1 < j->argc) {
			name = j->argv[++i];
		} else {
			reply_msg(j,
				  "-ERR Syntax error in HELLO option '%.64s'",
				  RedisModule_StringPtrLen(j->argv[i], NULL));
			return;
		}
	}
	if (!atomic_load(&j->s->authenticated)) {
		reply_msg(j, "-NOAUTH HELLO must be called with the client "
			     "already authenticated, otherwise the HELLO AUTH "
			     "<user> <pass> option can be used to "
			     "authenticate the client and select the RESP "
			     "protocol version at the same time");
		return;
	}
	if (name) { /* checked like the server; not kept (no CLIENT LIST) */
		p = RedisModule_StringPtrLen(name, &len);
		if (!rdm_hello_name_ok(p, len)) {
			reply_msg(j, "-ERR Client names cannot contain spaces, "
				     "newlines or special characters.");
			return;
		}
	}
	j->heap = rdm_hello_reply(ctx, j->s->id, &j->out_len);
	if (!j->heap) {
		reply_msg(j, "-ERR out of memory");
		return;
	}
	j->out = j->heap;
}

static void run_local(RedisModuleCtx *ctx, struct rdm_job *j)
{
	if (rdm_arg_is(j->argv[0], "auth")) {
		cmd_auth(ctx, j);
	} else if (rdm_arg_is(j->argv[0], "select")) {
		cmd_select(ctx, j);
	} else if (rdm_arg_is(j->argv[0], "hello")) {
		cmd_hello(ctx, j);
	} else if (rdm_arg_is(j->argv[0], "quit")) {
		reply_msg(j, "+OK");
		j->close_after = true;
		j->s->quit = true;
	} else { /* reset */
		j->s->db = 0;
		session_reset_auth(ctx, j->s);
		reply_msg(j, "+RESET");
	}
}

/* -------------------------------- commands -------------------------------- */

/* Commands an unauthenticated client may send (Redis's no-auth flag). */
static bool no_auth_cmd(RedisModuleString *name)
{
	return rdm_arg_is(name, "auth") || rdm_arg_is(name, "hello") ||
	       rdm_arg_is(name, "quit") || rdm_arg_is(name, "reset");
}

/*
 * ACLs, as processCommand applies them to a TCP client: every command, the
 * connection commands included (the no-auth ones, AUTH HELLO QUIT RESET,
 * always pass, as on TCP). Returns the user when the command may run;
 * otherwise NULL and j holds the reply.
 */
static struct rdm_acl_user *acl_allows(RedisModuleCtx *ctx, struct rdm_job *j)
{
	struct rdm_acl_user *u = rdm_acl_user(rdm_session_user(j->s));
	const char *err;

	if (!u) {
		/* the user was deleted: TCP closes its clients, no reply */
		atomic_store(&j->s->close_reason, RDM_CLOSE_AUTH);
		j->out = "";
		j->out_len = 0;
		j->close_after = true;
		j->s->quit = true;
		return NULL;
	}
	err = rdm_acl_check(ctx, u, j->argv, j->argc);
	if (err) {
		reply_msg(j, "-%s", err);
		return NULL;
	}
	return u;
}
/*
 * RedisModule_Call with the job's arguments after flags ("!EM" or
 * "!EMC"). RM_Call sizes its argument array by the format's length and
 * grows it again for a 'v' vector: a second allocation on the main
 * thread per command. Up to CALL_EACH_MAX arguments go as one 's' each
 * instead; RM_Call reads only the variadic arguments its format names,
 * so the unused ones (NULL) are ignored.
 */
#define CALL_EACH_MAX 8
static RedisModuleCallReply *call_args(RedisModuleCtx *ctx, const char *name,
				       const char *flags,
				       RedisModuleString **a, int n)
{
	RedisModuleString *v[CALL_EACH_MAX] = {0};
	char fmt[8 + CALL_EACH_MAX];
	size_t fl = strlen(flags);

	if (n > CALL_EACH_MAX) {
		snprintf(fmt, sizeof(fmt), "%sv", flags);
		return RedisModule_Call(ctx, name, fmt, a, (size_t)n);
	}
	memcpy(fmt, flags, fl);
	memset(fmt + fl, 's', (size_t)n);
	fmt[fl + (size_t)n] = '\0';
	memcpy(v, a, (size_t)n * sizeof(*a));
	return RedisModule_Call(ctx, name, fmt, v[0], v[1], v[2], v[3], v[4],
				v[5], v[6], v[7]);
}

/* RM_Call in the session's database, propagated ('!'), refused over
 * maxmemory like a TCP client ('M'), errors as replies ('E'). */
static void run_call(RedisModuleCtx *ctx, struct rdm_job *j,
		     struct rdm_acl_user *u)
{
	RedisModuleCallReply *r;
	const char *name = RedisModule_StringPtrLen(j->argv[0], NULL);
	const char *err;
	bool as_user;

	err = rdm_acl_caller_check(ctx, u, j->argv, j->argc, &as_user);
	if (err) {
		reply_msg(j, "-%s", err);
		return;
	}
	RedisModule_SelectDb(ctx, j->s->db);
	errno = 0;
	r = call_args(ctx, name, as_user ? "!EMC" : "!EM", j->argv + 1,
		      j->argc - 1);
	if (as_user)
		rdm_acl_call_done(ctx);
	if (r)
		reply_call(j, r);
	else
		reply_errno(j, name, errno);
	if (rdm_arg_is(j->argv[0], "acl") || rdm_arg_is(j->argv[0], "config"))
		auth_changed(ctx); /* users or requirepass may have changed */
}

void rdm_exec_job(RedisModuleCtx *ctx, struct rdm_job *j)
{
	const struct rdm_cmd_rule *rule;
	struct rdm_acl_user *u;

	j->kind = RDM_JOB_REPLY;
	if (j->s->quit) {
		/* pipelined after QUIT: not run, nothing sent (TCP closes) */
		j->out = "";
		j->out_len = 0;
		goto out;
	}
	if (!j->s->auth_known)
		session_reset_auth(ctx, j->s);
	if (!atomic_load(&j->s->authenticated) && !no_auth_cmd(j->argv[0])) {
		reply_msg(j, "-NOAUTH Authentication required.");
		goto out;
	}
	rule = j->rule;
	/* MOVE here: its transport cannot move the client */
	if (rule && (rule->action == RDM_CMD_DENY ||
		     rule->action == RDM_CMD_MOVE))
		reply_msg(j, "-%s", rule->error);
	else if (!(u = acl_allows(ctx, j)))
		; /* j holds the denial */
	else if (rule && rule->action == RDM_CMD_LOCAL)
		run_local(ctx, j);
	else
		run_call(ctx, j, u);
out:
	/* the arguments are no longer needed (a stored value keeps its own
	 * reference); free them here, on the main thread */
	free_args(j);
}

/* -------------------------------- dispatch -------------------------------- */

/*
 * The eventfd handler only collects a batch and arms a 0 ms timer; the
 * batch runs in the timer callback, later in the same event-loop pass.
 * Writes of RM_Call('!') wait in the server's propagation list until the
 * outermost module context ends: the timer's, so they reach AOF and
 * replicas at the end of the batch (Redis 7.0 asserts in beforeSleep when
 * they are left pending, as from a bare event handler). The calls
 * themselves use the long-lived detached context: a CallReply remembers
 * the context it was made with and RM_FreeCallReply touches it, and the
 * replies are freed after the IO thread sent them, long after the timer's
 * context is gone.
 */
static struct rdm_mpsc main_q = {.efd = -1};
/*
 * Jobs given back with small replies wait on release_q without waking the
 * main thread (one eventfd write and one main-thread wakeup fewer per
 * request): it frees them whenever main_q wakes it. A big reply, and every
 * RELEASE_WAKE_EVERY-th job, go through main_q, which bounds what waits.
 */
#define RELEASE_QUIET_MAX (64u << 10) /* reply bytes */
#define RELEASE_WAKE_EVERY 64u
static struct rdm_mpsc release_q = {.efd = -1};
static _Atomic unsigned int quiet_releases;
static struct rdm_mpsc_node *batch_head, *batch_tail;
static bool batch_armed;

/*
 * Commands held by a client pause (pause.h), in arrival order: the first
 * held command of a client holds every later one of that client
 * (session->held counts them). The list's head is always a command the
 * pause itself holds, so release runs from the head until one still must
 * wait. A timer re-checks every PAUSE_RECHECK_MS while any is held.
 */
#define PAUSE_RECHECK_MS 10
static struct rdm_mpsc_node *held_head, *held_tail;
static RedisModuleTimerID held_timer;
static bool held_armed;
static unsigned long long n_held; /* in the list */
/* INFO: event-loop batches that ran commands, and the commands run */
static unsigned long long n_batches, n_commands;
static bool pause_logged;	  /* "holding" logged, "over" not yet */


/* Over client-output-buffer-limit normal with `pending` reply bytes? */
static bool obuf_over(struct rdm_session *s, unsigned long long pending)
{
	const struct rdm_obuf_limit *l = rdm_limits_obuf();

	if (l->hard && pending >= l->hard)
		return true;
	if (!l->soft || pending < l->soft) {
		s->soft_since_ms = 0;
		return false;
	}
	if (!s->soft_since_ms)
		s->soft_since_ms = rdm_now_ms();
	return rdm_now_ms() - s->soft_since_ms >= (uint64_t)l->soft_seconds * 1000u;
}

/* Count j's reply as waiting for its client; close the client over the
 * output limit, as Redis does (at once, its pending replies dropped). */
static void account_reply(struct rdm_job *j)
{
	struct rdm_session *s = j->s;
	unsigned long long pending;

	j->counted = j->out_len;
	/* relaxed: a counter; the IO thread subtracts in
	 * rdm_dispatch_release */
	pending = atomic_fetch_add_explicit(&s->reply_bytes, j->counted,
					    memory_order_relaxed) +
		  j->counted;
	if (s->quit || !obuf_over(s, pending))
		return;
	RedisModule_Log(exec_ctx, RDM_LOG_WARNING,
			"Client id=%llu user=%s (RDMA) scheduled to be closed "
			"ASAP for overcoming of output buffer limits.",
			(unsigned long long)s->id, rdm_session_user(s));
	j->out_len = 0;
	j->close_now = true;
	atomic_store(&s->close_reason, RDM_CLOSE_LIMIT);
	s->quit = true; /* later commands are not run */
}

/*
 * Reply queues a batch made non-empty: their IO threads are woken once at
 * the end of the batch (one eventfd write per IO thread, not per reply), as
 * the server writes TCP replies in beforeSleep after its event pass. Until
 * then the IO thread may still take them when something else wakes it.
 */
#define WAKE_MAX 64
static struct rdm_mpsc *to_wake[WAKE_MAX];
static unsigned int n_wake;

static void wake_reply_queues(void)
{
	unsigned int i;

	for (i = 0; i < n_wake; i++)
		rdm_mpsc_wake(to_wake[i]);
	n_wake = 0;
}

static void push_reply(struct rdm_job *j)
{
	struct rdm_mpsc *q = j->reply_q;
	unsigned int i;

	if (!rdm_mpsc_push_quiet(q, &j->node))
		return; /* not empty: a wakeup is pending already */
	for (i = 0; i < n_wake; i++)
		if (to_wake[i] == q)
			return;
	if (n_wake == WAKE_MAX)
		wake_reply_queues();
	to_wake[n_wake++] = q;
}

/* When the running batch started: one clock read per batch, not per
 * command (last_ms is only compared with the timeout, in seconds). */
static uint64_t batch_ms;

static void run_job(struct rdm_job *j)
{
	atomic_store_explicit(&j->s->last_ms, batch_ms, memory_order_relaxed);
	rdm_exec_job(exec_ctx, j);
	n_commands++;
	account_reply(j);
	push_reply(j);
}

/* Must j wait: a client pause, or (without a hard output limit) too many
 * reply bytes waiting for its client? */
static bool must_hold(struct rdm_job *j)
{
	if (!rdm_limits_obuf()->hard && !j->s->quit &&
	    atomic_load_explicit(&j->s->reply_bytes, memory_order_relaxed) >=
		RDM_REPLY_HOLD_BYTES)
		return true;
	return rdm_pause_holds(exec_ctx, j->argv, j->argc);
}

static void hold_or_run(struct rdm_job *j)
{
	make_small_args(j);
	if (!j->s->held && !must_hold(j)) {
		run_job(j);
		return;
	}
	if (!pause_logged && rdm_pause_active(exec_ctx)) {
		RedisModule_Log(exec_ctx, RDM_LOG_NOTICE,
				"client pause: holding commands of RDMA "
				"clients until it ends");
		pause_logged = true;
	}
	j->node.next = NULL;
	if (held_tail)
		held_tail->next = &j->node;
	else
		held_head = &j->node;
	held_tail = &j->node;
	j->s->held++;
	n_held++;
}

static void recheck_held(RedisModuleCtx *timer_ctx, void *data);

void rdm_exec_info(RedisModuleInfoCtx *ctx)
{
	RedisModule_InfoAddFieldULongLong(ctx, "paused_commands", n_held);
	RedisModule_InfoAddFieldULongLong(ctx, "main_batches", n_batches);
	RedisModule_InfoAddFieldULongLong(ctx, "main_commands", n_commands);
	rdm_clients_info(ctx);
}

/* Run the held jobs that may run now, in order; a job that must wait
 * keeps every later job of its client (marked with this pass). */
static void release_held(void)
{
	static unsigned int pass;
	struct rdm_mpsc_node **link = &held_head, *n;
	struct rdm_job *j;

	held_tail = NULL;
	pass++;
	while ((n = *link)) {
		j = (struct rdm_job *)n;
		if (j->s->hold_pass == pass || must_hold(j)) {
			j->s->hold_pass = pass;
			held_tail = n;
			link = &n->next;
			continue;
		}
		*link = n->next;
		j->s->held--;
		run_job(j);
		n_held--;
	}
	if (!held_head && pause_logged) {
		RedisModule_Log(exec_ctx, RDM_LOG_NOTICE,
				"client pause over: every held command of "
				"RDMA clients ran");
		pause_logged = false;
	}
	if (held_head && !held_armed) {
		held_timer = RedisModule_CreateTimer(exec_ctx, PAUSE_RECHECK_MS,
						     recheck_held, NULL);
		held_armed = true;
	}
}

static void recheck_held(RedisModuleCtx *timer_ctx, void *data)
{
	(void)timer_ctx;
	(void)data;
	held_armed = false;
	batch_ms = rdm_now_ms();
	release_held();
	wake_reply_queues();
	rdm_acl_batch_end();
}

/* Once a second, from the server's cron (a module timer pending would
 * block MODULE UNLOAD): idle clients (timeout), as clientsCron. */
#define SWEEP_MS 1000

static void on_cron(RedisModuleCtx *ctx, RedisModuleEvent eid,
		    uint64_t subevent, void *data)
{
	static uint64_t last;
	uint64_t now = rdm_now_ms();

	(void)ctx;
	(void)eid;
	(void)subevent;
	(void)data;
	if (!exec_ctx || now - last < SWEEP_MS)
		return;
	last = now;
	rdm_clients_sweep(exec_ctx, true);
}

static void run_batch(RedisModuleCtx *timer_ctx, void *data)
{
	struct rdm_mpsc_node *n = batch_head, *next;

	(void)timer_ctx;
	(void)data;
	batch_head = batch_tail = NULL;
	batch_armed = false;
	n_batches += n != NULL;
	batch_ms = rdm_now_ms();
	/* a command of this batch may have ended a pause (CLIENT UNPAUSE) */
	release_held();
	for (; n; n = next) {
		next = n->next;
		hold_or_run((struct rdm_job *)n);
	}
	release_held();
	wake_reply_queues();
	rdm_acl_batch_end(); /* the next batch sees ACL changes made meanwhile */
}

static void free_jobs(struct rdm_mpsc_node *n)
{
	struct rdm_mpsc_node *next;

	for (; n; n = next) {
		next = n->next;
		rdm_job_free((struct rdm_job *)n);
	}
}

static void on_main_queue(int fd, void *user_data, int mask)
{
	struct rdm_mpsc_node *n, *next;

	(void)fd;
	(void)user_data;
	(void)mask;
	free_jobs(rdm_mpsc_take(&release_q));
	for (n = rdm_mpsc_drain(&main_q); n; n = next) {
		next = n->next;
		if (((struct rdm_job *)n)->kind == RDM_JOB_RELEASE) {
			rdm_job_free((struct rdm_job *)n);
			continue;
		}
		n->next = NULL;
		if (batch_tail)
			batch_tail->next = n;
		else
			batch_head = n;
		batch_tail = n;
	}
	/* held jobs too: a big reply given back may end a reply backlog (the
	 * calls must run in a timer callback, see above) */
	if ((batch_head || held_head) && !batch_armed) {
		RedisModule_CreateTimer(exec_ctx, 0, run_batch, NULL);
		batch_armed = true;
	}
}

int rdm_dispatch_start(RedisModuleCtx *ctx)
{
	int ret = rdm_mpsc_init(&main_q);

	if (!ret)
		ret = rdm_mpsc_init(&release_q);
	if (ret) {
		rdm_mpsc_destroy(&main_q);
		return ret;
	}
	auth_changed(ctx);
	if (rdm_limits_start(ctx))
		goto err_destroy_queue;
	rdm_target_refresh(ctx);
	rdm_acl_init(ctx);
	rdm_hello_init(ctx);
	/* Used on the main thread only (which holds the server lock while it
	 * runs callbacks): no ThreadSafeContextLock. */
	exec_ctx = RedisModule_GetDetachedThreadSafeContext(ctx);
	if (!exec_ctx)
		goto err_destroy_queue;
	if (rdm_watch_start(exec_ctx))
		goto err_free_ctx;
	if (RedisModule_SubscribeToServerEvent(
		ctx, (RedisModuleEvent){REDISMODULE_EVENT_CRON_LOOP, 1},
		on_cron) != REDISMODULE_OK)
		goto err_stop_watch;
	if (RedisModule_EventLoopAdd(rdm_mpsc_fd(&main_q),
				     REDISMODULE_EVENTLOOP_READABLE,
				     on_main_queue, NULL) != REDISMODULE_OK)
		goto err_stop_watch;
	return 0;

err_stop_watch:
	rdm_watch_stop();
err_free_ctx:
	RedisModule_FreeThreadSafeContext(exec_ctx);
	exec_ctx = NULL;
err_destroy_queue:
	rdm_mpsc_destroy(&main_q);
	return -EIO;
}

void rdm_dispatch_stop(void)
{
	if (!exec_ctx)
		return;
	RedisModule_EventLoopDel(rdm_mpsc_fd(&main_q),
				 REDISMODULE_EVENTLOOP_READABLE);
	free_jobs(rdm_mpsc_drain(&main_q));
	free_jobs(rdm_mpsc_take(&release_q));
	free_jobs(batch_head);
	batch_head = batch_tail = NULL;
	if (held_armed)
		RedisModule_StopTimer(exec_ctx, held_timer, NULL);
	held_armed = false;
	free_jobs(held_head);
	held_head = held_tail = NULL;
	n_held = 0;
	pause_logged = false;
	rdm_pause_forget();
	rdm_watch_stop();
	RedisModule_FreeThreadSafeContext(exec_ctx);
	exec_ctx = NULL;
	rdm_mpsc_destroy(&main_q);
	rdm_mpsc_destroy(&release_q);
}

void rdm_dispatch_submit(struct rdm_job *j)
{
	j->kind = RDM_JOB_COMMAND;
	rdm_mpsc_push(&main_q, &j->node);
}

void rdm_dispatch_release(struct rdm_job *j)
{
	/* the reply left (or never will): its bytes no longer wait; the
	 * session is alive while its owner releases its jobs */
	if (j->counted)
		atomic_fetch_sub_explicit(&j->s->reply_bytes, j->counted,
					  memory_order_relaxed);
	j->kind = RDM_JOB_RELEASE;
	if (j->out_len <= RELEASE_QUIET_MAX &&
	    atomic_fetch_add_explicit(&quiet_releases, 1,
				      memory_order_relaxed) +
		    1 <
		RELEASE_WAKE_EVERY) {
		rdm_mpsc_push_quiet(&release_q, &j->node);
		return;
	}
	atomic_store_explicit(&quiet_releases, 0, memory_order_relaxed);
	rdm_mpsc_push(&main_q, &j->node);
}
