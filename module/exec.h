/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring module: client sessions, command jobs and their main-thread run. */
#ifndef RDM_EXEC_H
#define RDM_EXEC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "mpsc.h"
#include "policy.h"
#include "redismodule_api.h"
#include "resp.h"

/*
 * Data path between a transport's IO thread and the main thread:
 *   IO thread: parse a command (rdm_resp_parse), rdm_job_new (arguments
 *     become RedisModuleStrings, one copy), rdm_dispatch_submit.
 *   main thread (event loop, through the dispatch eventfd): a batch of jobs;
 *     a job waits while a client pause or its client's unsent replies hold
 *     it (keeping the client's order), then rdm_exec_job runs it: NOAUTH,
 *     the command policy, the ACL check (acl.h), connection-state commands
 *     (AUTH, SELECT, HELLO, QUIT, RESET) or RedisModule_Call as the
 *     session's user in the session's database, propagated like a TCP
 *     client's command. Its reply bytes are counted against the output
 *     limit. The job goes to the owner's reply queue.
 *   IO thread: sends job->out (the reply's RESP2 bytes, in the CallReply's
 *     own memory), then rdm_dispatch_release hands the job back to the main
 *     thread, which frees it.
 * A session's jobs are run in submission order (one FIFO queue). While a
 * session is not authenticated its transport submits one command at a time
 * and waits for the reply (as Redis runs each command before parsing the
 * next): AUTH decides the parser's limits for what follows.
 */

/* Why a client was closed (INFO counts them). */
enum rdm_close_reason {
	RDM_CLOSE_PEER,	   /* the client left, or broke the protocol */
	RDM_CLOSE_LIMIT,   /* output or query buffer limit */
	RDM_CLOSE_TIMEOUT, /* idle longer than the server's timeout */
	RDM_CLOSE_AUTH,	   /* its user was deleted */
	RDM_CLOSE_FAULT,   /* transport or NIC error */
	RDM_CLOSE_KILLED,  /* RDMARING CLIENT KILL */
	RDM_CLOSE_REASONS
};

/* One client connection's server-side state. */
struct rdm_session {
	uint64_t id;
	/* the client table (clients.c), under its mutex */
	struct rdm_session *tprev, *tnext;
	struct rdm_mpsc *reply_q; /* its IO thread's, for RDM_JOB_KILL */
	unsigned int io;
#define RDM_ADDR_MAX 48
	char addr[RDM_ADDR_MAX];
	uint64_t created_ms;		      /* CLOCK_MONOTONIC */
	_Atomic uint64_t last_ms; /* last input parsed (IO) or command run */
	_Atomic unsigned long long query_bytes; /* unfinished command (IO) */
	_Atomic int close_reason;	      /* set once; 0: peer */
	/* the real server client it moved to (RDMARING.ATTACH), 0: on the
	 * fast path; under the client table's mutex */
	uint64_t server_id;
	/* that server client is connected (under the same mutex) */
	bool server_live;
	/* written by the main thread, read by the IO thread (parser limits) */
	atomic_bool authenticated;
	/* main thread only */
	/* authenticated decided (by rdm_session_init from the hint, or at
	 * the first command); set before the first job is submitted */
	bool auth_known;
	bool quit;	 /* QUIT ran: later commands are dropped */
	/* reply bytes made by the main thread, not yet sent (the IO thread
	 * subtracts them); relaxed counter */
	_Atomic unsigned long long reply_bytes;
	/* main thread only */
	uint64_t soft_since_ms; /* over the soft output limit since */
	int db;
	unsigned int held;	/* jobs held (pause, replies waiting) */
	unsigned int hold_pass; /* release pass that kept one held */
	char *user; /* ACL user of the connection; NULL: "default" */
};

enum rdm_job_kind {
	RDM_JOB_COMMAND, /* run on the main thread */
	RDM_JOB_REPLY,	 /* result ready for the owner IO thread */
	RDM_JOB_RELEASE, /* sent; the main thread frees it */
	RDM_JOB_KILL,	 /* to an IO thread: close its clients with a reason */
};

/* A small argument's bytes at off in the job's own allocation. */
struct rdm_job_arg {
	uint32_t off, len;
};

struct rdm_job {
	struct rdm_mpsc_node node; /* first member */
	enum rdm_job_kind kind;
	struct rdm_session *s;
	struct rdm_mpsc *reply_q;   /* the owner IO thread's queue */
	void *owner;		    /* transport's per-connection pointer */
	struct rdm_job *order_next; /* transport's reply order list */
	bool ready;		    /* owner IO thread: result arrived */
	unsigned int sends;	    /* transport: sends not completed */
	size_t sent;		    /* transport: bytes of out posted */
	int argc;
	RedisModuleString **argv; /* args below, or NULL once freed */
	/* argc spans of the small arguments' bytes, kept in the job and made
	 * strings on the main thread (their argv entries NULL until then);
	 * NULL when there are none or once made */
	struct rdm_job_arg *small;
	/* the command's policy (NULL: run it), decided by the IO thread that
	 * parsed it: the main thread does no name lookup */
	const struct rdm_cmd_rule *rule;
	/* result */
	RedisModuleCallReply *reply;
	char *heap;	 /* module-made reply too big for msg (malloc) */
	const char *out; /* bytes to send */
	size_t out_len;
	bool close_after; /* QUIT: close once sent */
	bool close_now;	  /* output limit: close at once, drop replies */
	size_t counted;	  /* bytes added to s->reply_bytes */
	char msg[320];	  /* module-made reply */
	/* argc, in the job's own allocation (then argc rdm_job_arg and the
	 * small arguments' bytes when there are any) */
	RedisModuleString *args[];
};

/* rdm_session_init - fresh session; authenticated or not as the default
 * user says now (as Redis decides when it creates a client), or decided
 * at the first command while that is unknown. Owner IO thread. */
void rdm_session_init(struct rdm_session *s, uint64_t id);

/* rdm_session_destroy - free what the session holds. Its owner, once no
 * job of the session is at the main thread. */
void rdm_session_destroy(struct rdm_session *s);

/* rdm_session_close_reason - why the main thread wants s closed (0: it
 * does not). Owner IO thread. */
int rdm_session_close_reason(struct rdm_session *s);

/* rdm_session_query_over - after input was parsed: note it (timeout) and
 * the bytes of s's unfinished command; true
 * (logged, reason set) when they pass client-query-buffer-limit: close
 * the client, as Redis does. Owner IO thread. */
bool rdm_session_query_over(struct rdm_session *s, size_t pending);

/* rdm_now_ms - CLOCK_MONOTONIC in ms. Any thread. */
uint64_t rdm_now_ms(void);

/* rdm_session_user - the session's ACL user name. Main thread. */
const char *rdm_session_user(const struct rdm_session *s);

/* rdm_job_new - command job from parsed arguments; copies them into
 * RedisModuleStrings. rule: rdm_cmd_policy_args(argv, argc), decided by
 * the IO thread (the main thread does no name lookup). NULL on
 * allocation failure. Owner IO thread. */
struct rdm_job *rdm_job_new(struct rdm_session *s, struct rdm_mpsc *reply_q,
			    void *owner, const struct rdm_resp_arg *argv,
			    int argc, const struct rdm_cmd_rule *rule);

/* rdm_job_new_static - ready-made reply (e.g. a protocol error) that does
 * not visit the main thread; free with rdm_job_free. Owner IO thread. */
struct rdm_job *rdm_job_new_static(struct rdm_session *s, void *owner,
				   const char *out, size_t len,
				   bool close_after);

/* rdm_job_free - main thread (or any thread for a job without a reply and
 * arguments, e.g. from rdm_job_new_static). */
void rdm_job_free(struct rdm_job *j);

/* rdm_exec_job - run a command job and fill its result. Main thread. */
void rdm_exec_job(RedisModuleCtx *ctx, struct rdm_job *j);

/* rdm_exec_auth_unknown - an ACL or CONFIG command is about to run: new
 * sessions decide authentication at their first command until
 * rdm_exec_auth_refresh. Main thread. */
void rdm_exec_auth_unknown(void);
/* rdm_exec_default_open - may new clients start authenticated (default
 * user without password; also while unknown)? Any thread. */
bool rdm_exec_default_open(void);
/* rdm_exec_auth_refresh - re-read the default user for new sessions. */
void rdm_exec_auth_refresh(void);

/* rdm_exec_info - the data path's INFO fields (commands held by a client
 * pause). Main thread. */
void rdm_exec_info(RedisModuleInfoCtx *ctx);

/* Dispatch: the main thread's job queue, registered with the event loop. */
int rdm_dispatch_start(RedisModuleCtx *ctx);
/* rdm_dispatch_stop - unregister; frees queued jobs. Main thread, after
 * every producer stopped. */
void rdm_dispatch_stop(void);
/* rdm_dispatch_submit / rdm_dispatch_release - any thread. */
void rdm_dispatch_submit(struct rdm_job *j);
void rdm_dispatch_release(struct rdm_job *j);

#endif /* RDM_EXEC_H */
