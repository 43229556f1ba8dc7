/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring module: client sessions, command jobs and their main-thread run. */
#define _GNU_SOURCE /* memmem */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "exec.h"
#include "policy.h"

#define POLICY_ARGS_MAX 64 /* XREAD options precede STREAMS */

/* Does a new client start authenticated (default user on, nopass)? The
 * main thread refreshes it whenever it decides for a session, so a new
 * connection's first command is parsed with the right limits. */
static atomic_bool auth_open_hint;

void rdm_session_init(struct rdm_session *s, uint64_t id)
{
	memset(s, 0, sizeof(*s));
	s->id = id;
	atomic_init(&s->authenticated, atomic_load(&auth_open_hint));
	snprintf(s->user, sizeof(s->user), "default");
}

struct rdm_job *rdm_job_new(struct rdm_session *s, struct rdm_mpsc *reply_q,
			    void *owner, const struct rdm_resp_arg *argv,
			    int argc)
{
	struct rdm_job *j = calloc(1, sizeof(*j));
	int i;

	if (!j)
		return NULL;
	j->argv = calloc((size_t)argc, sizeof(*j->argv));
	if (!j->argv)
		goto err_free_job;
	/* A NULL context makes plain strings, safe to create off the main
	 * thread; they are freed on the main thread. */
	for (i = 0; i < argc; i++) {
		j->argv[i] =
		    RedisModule_CreateString(NULL, argv[i].ptr, argv[i].len);
		if (!j->argv[i])
			goto err_free_args;
		j->argc = i + 1;
	}
	j->kind = RDM_JOB_COMMAND;
	j->s = s;
	j->reply_q = reply_q;
	j->owner = owner;
	return j;

err_free_args:
	for (i = 0; i < j->argc; i++)
		RedisModule_FreeString(NULL, j->argv[i]);
	free(j->argv);
err_free_job:
	free(j);
	return NULL;
}

struct rdm_job *rdm_job_new_static(struct rdm_session *s, void *owner,
				   const char *out, size_t len,
				   bool close_after)
{
	struct rdm_job *j = calloc(1, sizeof(*j));

	if (!j)
		return NULL;
	if (len > sizeof(j->msg))
		len = sizeof(j->msg);
	memcpy(j->msg, out, len);
	j->out = j->msg;
	j->out_len = len;
	j->kind = RDM_JOB_REPLY;
	j->s = s;
	j->owner = owner;
	j->close_after = close_after;
	return j;
}

static void free_args(struct rdm_job *j)
{
	int i;

	for (i = 0; i < j->argc; i++)
		RedisModule_FreeString(NULL, j->argv[i]);
	free(j->argv);
	j->argv = NULL;
	j->argc = 0;
}

void rdm_job_free(struct rdm_job *j)
{
	if (!j)
		return;
	if (j->reply)
		RedisModule_FreeCallReply(j->reply);
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

static void session_reset_auth(RedisModuleCtx *ctx, struct rdm_session *s)
{
	bool open = default_user_open(ctx);

	atomic_store(&auth_open_hint, open);
	atomic_store(&s->authenticated, open);
	s->auth_known = true;
	snprintf(s->user, sizeof(s->user), "default");
}

/* Check a password with the server's own AUTH (ACL log included); on
 * success the session becomes that user. Returns the reply. */
static RedisModuleCallReply *do_auth(RedisModuleCtx *ctx, struct rdm_session *s,
				     RedisModuleString **args, size_t nargs)
{
	RedisModuleCallReply *r;
	const char *u = "default";
	size_t ulen = 7;

	r = RedisModule_Call(ctx, "AUTH", "Ev", args, nargs);
	if (call_failed(r))
		return r;
	if (nargs == 2)
		u = RedisModule_StringPtrLen(args[0], &ulen);
	if (ulen >= sizeof(s->user))
		ulen = sizeof(s->user) - 1;
	memcpy(s->user, u, ulen);
	s->user[ulen] = '\0';
	atomic_store(&s->authenticated, true);
	return r;
}

/* ------------------------ connection-state commands ----------------------- */

static bool name_is(RedisModuleString *a, const char *lit)
{
	size_t len;
	const char *p = RedisModule_StringPtrLen(a, &len);

	return len == strlen(lit) && !strncasecmp(p, lit, len);
}

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

/* HELLO [2 [AUTH user pass] [SETNAME name]]: RESP2 only. */
static void cmd_hello(RedisModuleCtx *ctx, struct rdm_job *j)
{
	RedisModuleCallReply *r;
	long long ver;
	int i;

	if (j->argc >= 2) {
		if (RedisModule_StringToLongLong(j->argv[1], &ver) !=
		    REDISMODULE_OK) {
			reply_msg(j, "-ERR Protocol version is not an integer "
				     "or out of range");
			return;
		}
		if (ver != 2) {
			reply_msg(j, "-NOPROTO unsupported protocol version");
			return;
		}
	}
	for (i = 2; i < j->argc; i++) {
		if (name_is(j->argv[i], "auth") && i + 2 < j->argc) {
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
		} else if (name_is(j->argv[i], "setname") && i + 1 < j->argc) {
			i++; /* names are not kept for module clients */
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
	r = RedisModule_Call(ctx, "HELLO", "Ec", "2");
	if (r)
		reply_call(j, r);
	else
		reply_errno(j, "hello", errno);
}

static void run_local(RedisModuleCtx *ctx, struct rdm_job *j)
{
	if (name_is(j->argv[0], "auth")) {
		cmd_auth(ctx, j);
	} else if (name_is(j->argv[0], "select")) {
		cmd_select(ctx, j);
	} else if (name_is(j->argv[0], "hello")) {
		cmd_hello(ctx, j);
	} else if (name_is(j->argv[0], "quit")) {
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
	return name_is(name, "auth") || name_is(name, "hello") ||
	       name_is(name, "quit") || name_is(name, "reset");
}

/*
 * Users allowed everything (+@all ~* &*, no selectors) skip the per-command
 * ACL check. Looked up once per user and batch (ACLs may change between
 * batches, not during one).
 */
#define FREE_USERS_CACHE 8
static struct {
	char name[128];
	bool unrestricted;
} free_users[FREE_USERS_CACHE];
static int n_free_users;

static bool field_is(RedisModuleCallReply *r, size_t i, const char *want)
{
	RedisModuleCallReply *e = RedisModule_CallReplyArrayElement(r, i);
	size_t len;
	const char *p = e ? RedisModule_CallReplyStringPtr(e, &len) : NULL;

	return p && len == strlen(want) && !memcmp(p, want, len);
}

static bool user_unrestricted(RedisModuleCtx *ctx, const char *user)
{
	RedisModuleCallReply *r, *v;
	int hits = 0, i;
	size_t k, n;

	for (i = 0; i < n_free_users; i++)
		if (!strcmp(free_users[i].name, user))
			return free_users[i].unrestricted;
	r = RedisModule_Call(ctx, "ACL", "cc", "GETUSER", user);
	if (r && RedisModule_CallReplyType(r) == REDISMODULE_REPLY_ARRAY) {
		n = RedisModule_CallReplyLength(r);
		for (k = 0; k + 1 < n; k += 2) {
			v = RedisModule_CallReplyArrayElement(r, k + 1);
			hits += field_is(r, k, "commands") &&
				field_is(r, k + 1, "+@all");
			hits +=
			    field_is(r, k, "keys") && field_is(r, k + 1, "~*");
			hits += field_is(r, k, "channels") &&
				field_is(r, k + 1, "&*");
			hits += field_is(r, k, "selectors") &&
				RedisModule_CallReplyLength(v) == 0;
		}
	}
	if (r)
		RedisModule_FreeCallReply(r);
	if (n_free_users < FREE_USERS_CACHE) {
		snprintf(free_users[n_free_users].name,
			 sizeof(free_users[0].name), "%s", user);
		free_users[n_free_users++].unrestricted = hits == 4;
	}
	return hits == 4;
}

/* The command name as Redis prints it (its table name: lower case). */
static const char *lower_name(RedisModuleString *a, char *buf, size_t size)
{
	size_t i, len;
	const char *p = RedisModule_StringPtrLen(a, &len);

	for (i = 0; i < len && i < size - 1; i++)
		buf[i] = (char)tolower((unsigned char)p[i]);
	buf[i] = '\0';
	return buf;
}

/*
 * ACLs: Redis 7.0.15 crashes when RM_Call's 'C' flag (run as the context
 * user) refuses a command (it logs the denial through the temporary
 * client's NULL user). So the module asks the server itself, with
 * ACL DRYRUN <user> <command...> (the check a TCP client's command gets:
 * command, keys, channels), and only runs allowed commands.
 * Returns true when allowed; otherwise j holds the NOPERM reply.
 */
static bool acl_allows(RedisModuleCtx *ctx, struct rdm_job *j)
{
	RedisModuleString **dv;
	RedisModuleCallReply *r;
	RedisModuleUser *user;
	const char *txt = NULL;
	char name[129];
	bool ok = true;
	size_t len = 0;

	if (user_unrestricted(ctx, j->s->user))
		return true;
	dv = malloc(((size_t)j->argc + 2) * sizeof(*dv));
	if (!dv) {
		reply_msg(j, "-ERR out of memory");
		return false;
	}
	dv[0] = RedisModule_CreateString(NULL, "DRYRUN", 6);
	dv[1] = RedisModule_CreateString(NULL, j->s->user, strlen(j->s->user));
	/* a deleted user's clients are disconnected, as on TCP */
	user = RedisModule_GetModuleUserFromUserName(dv[1]);
	if (!user) {
		reply_msg(j, "-ERR user '%.64s' no longer exists", j->s->user);
		j->close_after = true;
		ok = false;
		goto out;
	}
	RedisModule_FreeModuleUser(user);
	memcpy(dv + 2, j->argv, (size_t)j->argc * sizeof(*dv));
	r = RedisModule_Call(ctx, "ACL", "Ev", dv, (size_t)j->argc + 2);
	/* +OK: allowed; an error (unknown command, arity): the real call
	 * reports it; a bulk string: the reason of a denial */
	if (r && RedisModule_CallReplyType(r) == REDISMODULE_REPLY_STRING)
		txt = RedisModule_CallReplyStringPtr(r, &len);
	if (txt && !(len == 2 && !memcmp(txt, "OK", 2))) {
		/* the reason names "the '<x>' command", key or channel */
		ok = false;
		if (memmem(txt, len, "' command", 9))
			reply_msg(j,
				  "-NOPERM this user has no permissions to run "
				  "the '%s' command",
				  lower_name(j->argv[0], name, sizeof(name)));
		else if (memmem(txt, len, "' channel", 9))
			reply_msg(j, "-NOPERM this user has no permissions to "
				     "access one of the channels used as "
				     "arguments");
		else
			reply_msg(j,
				  "-NOPERM this user has no permissions to "
				  "access one of the keys used as arguments");
	}
	if (r)
		RedisModule_FreeCallReply(r);
out:
	RedisModule_FreeString(NULL, dv[0]);
	RedisModule_FreeString(NULL, dv[1]);
	free(dv);
	return ok;
}

/* RM_Call in the session's database, propagated ('!'), refused over
 * maxmemory like a TCP client ('M'), errors as replies ('E'). */
static void run_call(RedisModuleCtx *ctx, struct rdm_job *j)
{
	RedisModuleCallReply *r;
	const char *name = RedisModule_StringPtrLen(j->argv[0], NULL);

	if (!acl_allows(ctx, j))
		return;
	RedisModule_SelectDb(ctx, j->s->db);
	errno = 0;
	r = RedisModule_Call(ctx, name, "!EMv", j->argv + 1,
			     (size_t)j->argc - 1);
	if (r)
		reply_call(j, r);
	else
		reply_errno(j, name, errno);
	if (name_is(j->argv[0], "acl"))
		n_free_users = 0; /* rules may have changed */
}

static const struct rdm_cmd_rule *job_policy(struct rdm_job *j)
{
	struct rdm_resp_arg v[POLICY_ARGS_MAX];
	int i, n = j->argc < POLICY_ARGS_MAX ? j->argc : POLICY_ARGS_MAX;

	for (i = 0; i < n; i++)
		v[i].ptr = RedisModule_StringPtrLen(j->argv[i], &v[i].len);
	return rdm_cmd_policy_args(v, n);
}

void rdm_exec_job(RedisModuleCtx *ctx, struct rdm_job *j)
{
	const struct rdm_cmd_rule *rule;

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
	rule = job_policy(j);
	if (rule && rule->action == RDM_CMD_DENY)
		reply_msg(j, "-%s", rule->error);
	else if (rule && rule->action == RDM_CMD_LOCAL)
		run_local(ctx, j);
	else
		run_call(ctx, j);
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
static RedisModuleCtx *exec_ctx; /* makes the calls, owns the timer */
static struct rdm_mpsc_node *batch_head, *batch_tail;
static bool batch_armed;

static void run_batch(RedisModuleCtx *timer_ctx, void *data)
{
	struct rdm_mpsc_node *n = batch_head, *next;
	struct rdm_job *j;

	(void)timer_ctx;
	(void)data;
	batch_head = batch_tail = NULL;
	batch_armed = false;
	n_free_users = 0; /* ACLs may have changed since the last batch */
	for (; n; n = next) {
		next = n->next;
		j = (struct rdm_job *)n;
		rdm_exec_job(exec_ctx, j);
		rdm_mpsc_push(j->reply_q, &j->node);
	}
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
	if (batch_head && !batch_armed) {
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
	atomic_store(&auth_open_hint, default_user_open(ctx));
	/* Used on the main thread only (which holds the server lock while it
	 * runs callbacks): no ThreadSafeContextLock. */
	exec_ctx = RedisModule_GetDetachedThreadSafeContext(ctx);
	if (!exec_ctx)
		goto err_destroy_queue;
	if (RedisModule_EventLoopAdd(rdm_mpsc_fd(&main_q),
				     REDISMODULE_EVENTLOOP_READABLE,
				     on_main_queue, NULL) != REDISMODULE_OK)
		goto err_free_ctx;
	return 0;

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
