/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring module: the RDMA transport (engine, IO threads, clients). */
#define _GNU_SOURCE /* dl_iterate_phdr */
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <rdmaring.h>

#include "module.h"
#include "clients.h"
#include "conf_limits.h"
#include "rdma.h"
#include "move.h"

/*
 * The engine runs its poller; the module drives the engine's IO threads
 * (io-threads-external): one pthread per IO thread waits in epoll on the
 * engine's rring_io_fd and on its own reply queue, so replies from the main
 * thread and completions from the poller wake the same thread.
 *
 * Per client (owned by one IO thread):
 *   RECV      parsed in place: the window is the engine's receive buffer
 *             from the first unconsumed byte to the end of the last RECV
 *             (RECV data stays valid until rring_conn_consume). What the
 *             parser used is consumed after each parse (arguments are
 *             copied into the job first); an unfinished command at the
 *             end of a buffer the peer wrote to its end (or one larger
 *             than the buffer) is absorbed into the parser's carry and
 *             consumed, so the buffer is advertised again.
 *   command   rdm_job_new + rdm_dispatch_submit (main thread runs it).
 *   reply     job->out sent in order with rring_conn_send, at most rx-size
 *             bytes per send; a job is given back with
 *             rdm_dispatch_release once every send of it completed (the
 *             engine sends more than 16 KiB from the reply's memory).
 *   MOVE      a command that needs a real server client (policy.h): the
 *             parser stops at it; once every earlier command came back
 *             (inflight 0) the client's traffic moves to a socket to the
 *             server (relay.h, in this thread's epoll), for the rest of
 *             its life: its replies are sent after the earlier ones,
 *             tagged 0 (RELAY_TAG), and the window goes to the socket as
 *             it arrives, consumed as the socket takes it.
 *   CLOSED    jobs still at the main thread come back later; the client is
 *             freed when none is left. Unless the module closed it (or
 *             the server stops), the unparsed rest of the window is
 *             copied (at most rx-size bytes) and parsed as jobs come
 *             back, under the live client's rules, replies dropped: a TCP
 *             server runs what it read before EOF.
 */

struct rc_conn {
	struct rring_conn *conn; /* NULL after CLOSED */
	struct rio *io;
	struct rdm_session s;
	struct rdm_resp_parser parser;
	const char *win; /* unconsumed received bytes, in the engine's buffer */
	size_t win_len;
	size_t rx_fill; /* bytes the peer wrote into the buffer this round */
	struct rdm_job *head, *tail; /* jobs in command order */
	struct rdm_job *post;	     /* first job not fully posted */
	unsigned int inflight;	     /* jobs at the main thread */
	bool no_input;		     /* protocol error or QUIT: drop input */
	bool closing;		     /* close once the list is empty */
	bool close_sent;
	bool rx_big; /* a command larger than the window is arriving */
	bool dead;   /* CLOSED seen */
	bool paused; /* unauthenticated with a command in flight */
	const char *why;     /* why the module closes it, NULL: it does not */
	char *rest;	     /* after CLOSED: the window's unparsed bytes */
	unsigned long long rest_cmds; /* commands run from rest */
	char peer[64];	     /* "ip:port", for the log */
	/* moved to a server client: the relay, once the move started */
	struct rdm_relay *relay;
	bool moving;		   /* stopped parsing at a MOVE command */
	bool relay_eof;		   /* the server closed its side */
	bool draining;		   /* CLOSED: the relay finishes first */
	unsigned int relay_sends;  /* relayed sends not completed */
	struct rc_conn *prev, *next;
};

/* SEND_DONE tag of relayed bytes (jobs are never at address 0). */
#define RELAY_TAG 0

/*
 * One IO thread. Three cache lines, each written by one thread: its own
 * state, the reply queue (the main thread pushes), and its counters (INFO
 * reads them). Sharing a line, the main thread's pushes made every counter
 * update of the IO thread a miss (conn_flush's add to bytes_out was 72% of
 * its samples); rios are allocated 64-aligned, so neighbours share none.
 */
struct rio {
	struct rring_io *io;
	pthread_t thread;
	bool started;
	int epfd, stop_efd;
	struct rc_conn *conns;
	_Alignas(64) struct rdm_mpsc reply_q;
	_Alignas(64) _Atomic uint64_t bytes_in, bytes_out, wakeups;
	_Atomic uint64_t replies; /* replies fully posted */
};

/* Add n to one of the IO thread's own counters: it is their only writer,
 * so a relaxed load and store (no locked add); readers see some recent
 * total. */
static inline void count(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

struct rdma {
	struct rring_engine *e;
	struct rio *ios;
	unsigned int n_io;
	size_t rx_size;
	bool running;
	_Atomic bool stopping;
	_Atomic uint64_t next_id, clients, max_clients, transfers;
	_Atomic uint64_t inplace; /* replies sent in place, then forgotten */
	/* Where it listens now (main thread): listeners of generation gen
	 * carry listen_ctx(gen), so a new set can replace them. */
	char bind[RDM_BIND_MAX];
	long long port;
	unsigned int listen_gen;
};

/* Entries of each CQ of the engine's pool. Each connection needs 2048
 * (Valkey's 1024 receives and 1024 sends), so one CQ serves 32 clients and
 * the engine adds CQs as clients arrive; 65536 is the most softverbs (and
 * many NICs' defaults) allow. max-clients is the only limit. */
#define RDM_RDMA_CQ_ENTRIES 65536LL

static struct rdma rd;
static char mark_io, mark_reply, mark_stop; /* epoll tags */

static void conn_flush(struct rc_conn *rc);
static void conn_parse(struct rc_conn *rc);
static void drop_input(struct rc_conn *rc);

static void conn_free(struct rc_conn *rc)
{
	struct rio *io = rc->io;

	if (rc->prev)
		rc->prev->next = rc->next;
	else
		io->conns = rc->next;
	if (rc->next)
		rc->next->prev = rc->prev;
	if (rc->rest)
		rdm_log(RDM_LOG_VERBOSE,
			"RDMA client id=%llu: ran %llu commands it sent before "
			"closing",
			(unsigned long long)rc->s.id, rc->rest_cmds);
	if (rc->relay) {
		rdm_relay_close(rc->relay);
		free(rc->relay);
	}
	rdm_resp_parser_destroy(&rc->parser);
	rdm_session_destroy(&rc->s);
	free(rc->rest);
	free(rc);
}

static void enqueue(struct rc_conn *rc, struct rdm_job *j)
{
	j->order_next = NULL;
	j->sent = 0;
	j->sends = 0;
	if (rc->tail)
		rc->tail->order_next = j;
	else
		rc->head = j;
	rc->tail = j;
	if (!rc->post)
		rc->post = j;
}

static void job_done(struct rdm_job *j)
{
	if (j->out_len > rd.rx_size && j->sent)
		atomic_fetch_sub(&rd.transfers, 1);
	rdm_dispatch_release(j);
}

static void close_conn(struct rc_conn *rc)
{
	if (rc->close_sent || !rc->conn)
		return;
	rc->close_sent = true;
	rring_conn_close(rc->conn);
}

/*
 * A reply above RRING_XFER_COPY_MAX was sent from its own memory, which the
 * engine registered and cached by address. Before that memory goes back to
 * be freed (and another reply may land at the same address) the cached
 * registration is dropped: on a NIC it pins the old pages. false while a
 * send from overlapping memory is in flight (retried at its SEND_DONE).
 */
static bool forget_reply(struct rc_conn *rc, struct rdm_job *j)
{
	int ret;

	if (!rc->conn || !j->sent || j->out_len <= RRING_XFER_COPY_MAX)
		return true;
	ret = rring_conn_forget(rc->conn, j->out, j->out_len);
	if (ret == -EBUSY)
		return false;
	if (!ret)
		atomic_fetch_add_explicit(&rd.inplace, 1, memory_order_relaxed);
	if (ret) {
		/* the cache may still hold the pages: no more sends */
		rdm_log(RDM_LOG_WARNING,
			"client %llu: cannot drop the registration of "
			"a sent reply (%s); closing",
			(unsigned long long)rc->s.id, strerror(-ret));
		rc->closing = true;
	}
	return true;
}

/* Give back jobs whose sends all completed (or, once closing, that will
 * never be sent); close when the list is empty and a close was asked. */
static void reap_sent(struct rc_conn *rc)
{
	struct rdm_job *j;

	while ((j = rc->head) && j->ready && !j->sends &&
	       (j != rc->post || rc->closing)) {
		if (!forget_reply(rc, j))
			break;
		rc->head = j->order_next;
		if (!rc->head)
			rc->tail = NULL;
		if (rc->post == j)
			rc->post = rc->head;
		job_done(j);
	}
	if (rc->closing && !rc->head)
		close_conn(rc);
}

/* Post one ready job's remaining bytes; false when the engine is full. */
static bool post_job(struct rc_conn *rc, struct rdm_job *j)
{
	size_t n;
	int ret;

	while (j->sent < j->out_len) {
		n = j->out_len - j->sent;
		if (n > rd.rx_size)
			n = rd.rx_size;
		ret = rring_conn_send(rc->conn, j->out + j->sent, (uint32_t)n,
				      (uint64_t)(uintptr_t)j);
		if (ret == -EAGAIN)
			return false;
		if (ret) {
			atomic_store(&rc->s.close_reason, RDM_CLOSE_FAULT);
			rc->closing = true;
			return false;
		}
		if (!j->sent && j->out_len > rd.rx_size)
			atomic_fetch_add(&rd.transfers, 1);
		j->sent += n;
		j->sends++;
		count(&rc->io->bytes_out, n);
	}
	return true;
}

static void conn_flush(struct rc_conn *rc)
{
	struct rdm_job *j;

	while (!rc->closing && (j = rc->post) && j->ready) {
		if (!post_job(rc, j))
			break;
		count(&rc->io->replies, 1);
		rc->post = j->order_next;
		if (j->close_after) {
			if (!rc->why)
				rc->why = rc->s.quit ? "QUIT" : "killed";
			rc->no_input = true;
			rc->closing = true;
			drop_input(rc);
		}
	}
	reap_sent(rc);
}

/* Stop reading, send msg (copied) after the replies already queued, then
 * close: what Redis does after a protocol error or over max-clients. */
static void reply_and_close(struct rc_conn *rc, const char *msg, size_t len)
{
	struct rdm_job *j;

	rc->no_input = true;
	j = rdm_job_new_static(&rc->s, rc, msg, len, true);
	if (!j) {
		rc->closing = true;
		reap_sent(rc);
		return;
	}
	j->ready = true;
	enqueue(rc, j);
	conn_flush(rc);
}

static void protocol_error(struct rc_conn *rc)
{
	char buf[160];
	size_t n = rdm_resp_error_reply(&rc->parser, buf, sizeof(buf));

	rc->why = "protocol error";
	reply_and_close(rc, buf, n);
}

/* Count a command that outgrew the window as a transfer in progress. */
static void note_rx_big(struct rc_conn *rc, bool big)
{
	if (big == rc->rx_big)
		return;
	rc->rx_big = big;
	if (big)
		atomic_fetch_add(&rd.transfers, 1);
	else
		atomic_fetch_sub(&rd.transfers, 1);
}

/* Give n bytes at the start of the window back to the engine. */
static void consume(struct rc_conn *rc, size_t n)
{
	if (!n)
		return;
	rc->win += n;
	rc->win_len -= n;
	if (rc->conn && rring_conn_consume(rc->conn, (uint32_t)n))
		rc->no_input = rc->closing = true;
	/* all of a full buffer consumed: the engine advertised it again */
	if (rc->rx_fill == rd.rx_size && !rc->win_len)
		rc->rx_fill = 0;
}

/* After a protocol error or QUIT: what is left will never be parsed. */
static void drop_input(struct rc_conn *rc)
{
	consume(rc, rc->win_len);
}

/* An unfinished command that cannot grow in place (the peer wrote the
 * buffer to its end, or the command needs more than the buffer): the
 * parser takes the bytes, so they can be consumed. */
static int carry_rest(struct rc_conn *rc)
{
	if (!rc->win_len ||
	    (rc->rx_fill < rd.rx_size && rc->parser.need <= rd.rx_size))
		return 0;
	if (rdm_resp_absorb(&rc->parser, rc->win, rc->win_len))
		return -ENOMEM;
	consume(rc, rc->win_len);
	return 0;
}

/* ---------------------------- moved clients ----------------------------- */

/* The server's bytes for a moved client, after every reply of the fast
 * path was posted (order), in copied sends (the relay reuses its buffer). */
static size_t relay_to_client(void *arg, const char *data, size_t len)
{
	struct rc_conn *rc = arg;
	size_t done = 0, n;
	int ret;

	if (rc->dead) /* draining: nobody to send it to */
		return len;
	if (!rc->conn || rc->closing || rc->post)
		return 0;
	while (done < len) {
		n = len - done;
		if (n > rd.rx_size)
			n = rd.rx_size;
		if (n > RRING_XFER_COPY_MAX)
			n = RRING_XFER_COPY_MAX;
		ret = rring_conn_send(rc->conn, data + done, (uint32_t)n,
				      RELAY_TAG);
		if (ret == -EAGAIN)
			break; /* the send window is full: back-pressure */
		if (ret) {
			atomic_store(&rc->s.close_reason, RDM_CLOSE_FAULT);
			rc->closing = true;
			break;
		}
		rc->relay_sends++;
		done += n;
		count(&rc->io->bytes_out, n);
	}
	return done;
}

/* The window goes to the server as the socket takes it (what it does not
 * take stays unconsumed: the peer stalls). */
static void relay_input(struct rc_conn *rc)
{
	size_t len = rc->no_input ? 0 : rc->win_len;
	ssize_t n = rdm_relay_write(rc->relay, rc->win, len);

	if (n > 0)
		consume(rc, (size_t)n);
	/* an error shows in the socket's next event */
}

static void relay_want_input(void *arg)
{
	relay_input(arg);
}

static const struct rdm_relay_ops relay_ops = {
    .to_client = relay_to_client,
    .want_input = relay_want_input,
};

/* The server closed the client's connection: close once every relayed
 * byte was sent, as the server closes a TCP client after its output. */
static void relay_maybe_close(struct rc_conn *rc)
{
	if (!rc->relay_eof || rc->relay_sends || rc->closing)
		return;
	if (!rc->why)
		rc->why = "closed by its server client";
	rc->closing = true;
	reap_sent(rc);
}

static void relay_result(struct rc_conn *rc, int ret)
{
	struct rdm_relay *r = rc->relay;

	if (!ret)
		return;
	rdm_relay_close(r);
	if (ret == RDM_RELAY_FAILED) {
		rdm_log(RDM_LOG_WARNING,
			"RDMA client id=%llu: its server client refused the "
			"move: %.*s",
			(unsigned long long)rc->s.id,
			(int)strcspn(r->err, "\r"), r->err);
		rc->why = "move refused";
		reply_and_close(rc, r->err, strlen(r->err));
		drop_input(rc);
		return;
	}
	if (ret < 0)
		rdm_log(RDM_LOG_VERBOSE,
			"RDMA client id=%llu: its server connection failed: %s",
			(unsigned long long)rc->s.id, strerror(-ret));
	rc->relay_eof = true;
	rc->no_input = true;
	drop_input(rc);
	relay_maybe_close(rc);
}

/* The client has room again (a send completed, the fast path's last reply
 * was posted): the relay delivers what it holds and reads on. */
static void relay_resume(struct rc_conn *rc)
{
	if (rc->relay && rdm_relay_is_open(rc->relay))
		relay_result(rc, rdm_relay_resume(rc->relay));
	relay_maybe_close(rc);
}

static void relay_event(struct rdm_relay *r, uint32_t events)
{
	struct rc_conn *rc = r->arg;

	if (!rc->dead) {
		relay_result(rc, rdm_relay_event(r, events));
		return;
	}
	/* draining: the server ran what the client left and closed */
	if (rc->draining && rdm_relay_event(r, events)) {
		rdm_log(RDM_LOG_VERBOSE,
			"RDMA client id=%llu: its server client ran what it "
			"sent before closing",
			(unsigned long long)rc->s.id);
		conn_free(rc);
	}
}

/* Once every command before the move came back: connect and attach. */
static void maybe_attach(struct rc_conn *rc)
{
	char msg[320];
	size_t n;

	if (!rc->moving || rc->inflight || rc->dead || rc->no_input ||
	    rc->relay->state != RDM_RELAY_IDLE)
		return;
	if (!rdm_move_start(rc->relay, &rc->s, rc->io->epfd, rc->relay, msg,
			    sizeof(msg), &n))
		return;
	rc->why = "move failed";
	reply_and_close(rc, msg, n);
	drop_input(rc);
}

/* The client moves to a server client, argv (argc 0: none, a move at
 * connect) its first command, copied before its `consumed` bytes go. */
static void move(struct rc_conn *rc, const struct rdm_resp_arg *argv,
		 int argc, size_t consumed)
{
	rc->relay = rdm_move_relay(&relay_ops, rc, argv, argc);
	rc->moving = rc->relay != NULL;
	consume(rc, consumed);
	if (!rc->moving) {
		rc->no_input = rc->closing = true;
		reap_sent(rc);
		return;
	}
	maybe_attach(rc);
}

/* A command that needs a real server client (copied before its bytes are
 * consumed): the client moves there, or, when the server has no port or
 * unixsocket to reach it, gets an error for it and stays. */
static void move_or_refuse(struct rc_conn *rc, size_t consumed)
{
	struct rdm_job *j;
	char msg[400];
	size_t n = rdm_move_refusal(&rc->parser.argv[0], msg, sizeof(msg));

	if (n) {
		consume(rc, consumed);
		j = rdm_job_new_static(&rc->s, rc, msg, n, false);
		if (!j) {
			rc->no_input = rc->closing = true;
			reap_sent(rc);
			return;
		}
		j->ready = true;
		enqueue(rc, j);
		conn_flush(rc);
		return;
	}
	move(rc, rc->parser.argv, rc->parser.argc, consumed);
}

static void conn_parse(struct rc_conn *rc)
{
	const struct rdm_cmd_rule *rule;
	struct rdm_job *j = NULL;
	size_t consumed;
	int ret = RDM_RESP_AGAIN;

	if (rc->moving) /* the rest goes to its server client */
		return;
	while (!rc->no_input && rc->win_len) {
		rc->parser.auth_required = !atomic_load(&rc->s.authenticated);
		rc->parser.proto_max_bulk_len = rdm_limits_bulk_len();
		/* unauthenticated: one command at a time (its AUTH may lift
		 * the limits for the next); and at most
		 * RDM_CLIENT_INFLIGHT_MAX at the main thread; the rest waits
		 * in the buffer (RDMA flow control stalls the sender) */
		rc->paused = (rc->parser.auth_required && rc->inflight) ||
			     rc->inflight >= RDM_CLIENT_INFLIGHT_MAX;
		if (rc->paused)
			return;
		ret = rdm_resp_parse(&rc->parser, rc->win, rc->win_len,
				     &consumed);
		if (ret == RDM_RESP_ERROR) {
			if (rc->dead) /* nobody to tell: stop, as on TCP */
				rc->no_input = true;
			else
				protocol_error(rc);
			break;
		}
		if (ret == RDM_RESP_CMD) {
			rule = rdm_cmd_policy_args(rc->parser.argv,
						   rc->parser.argc);
			if (rule && rule->action == RDM_CMD_MOVE && !rc->dead) {
				move_or_refuse(rc, consumed);
				if (rc->moving || rc->no_input)
					break;
				continue;
			}
			/* the arguments are copied: their bytes can go */
			j = rdm_job_new(&rc->s, &rc->io->reply_q, rc,
					rc->parser.argv, rc->parser.argc, rule);
		}
		consume(rc, consumed);
		if (ret != RDM_RESP_CMD)
			break;
		if (!j) {
			rc->no_input = rc->closing = true;
			reap_sent(rc);
			break;
		}
		if (rc->dead) /* its reply is dropped when it returns */
			rc->rest_cmds++;
		else
			enqueue(rc, j);
		rc->inflight++;
		rdm_dispatch_submit(j);
	}
	if (rc->no_input) {
		drop_input(rc);
		return;
	}
	if (rc->dead) /* what is left is an unfinished command: dropped */
		return;
	if (ret == RDM_RESP_AGAIN && carry_rest(rc)) {
		rc->no_input = rc->closing = true;
		drop_input(rc);
		reap_sent(rc);
		return;
	}
	note_rx_big(rc, rdm_resp_pending(&rc->parser) > 0);
	if (rdm_session_query_over(&rc->s, rdm_resp_pending(&rc->parser))) {
		/* as Redis: the commands before it were read and run, so
		 * their replies go out first (nothing is sent for it) */
		rc->why = "limit: client-query-buffer-limit";
		rc->no_input = true;
		drop_input(rc);
		reply_and_close(rc, "", 0);
	}
}

static void on_recv(struct rc_conn *rc, const char *data, size_t len)
{
	count(&rc->io->bytes_in, len);
	/* RECVs of one round of the buffer follow each other in memory */
	if (!rc->win_len)
		rc->win = data;
	rc->win_len += len;
	rc->rx_fill += len;
	if (rc->no_input)
		drop_input(rc);
	else if (rc->relay && rdm_relay_is_open(rc->relay))
		relay_input(rc);
	else
		conn_parse(rc);
}

/* Redis's words to a non-local client in protected mode. */
static const char denied_msg[] =
    "-DENIED Redis is running in protected mode because protected mode is "
    "enabled and no password is set for the default user. In this mode "
    "connections are only accepted from the loopback interface. If you "
    "want to connect from external computers to Redis you may adopt one "
    "of the following solutions: 1) Just disable protected mode sending "
    "the command 'CONFIG SET protected-mode no' from the loopback "
    "interface by connecting to Redis from the same host the server is "
    "running, however MAKE SURE Redis is not publicly accessible from "
    "internet if you do so. Use CONFIG REWRITE to make this change "
    "permanent. 2) Alternatively you can just disable the protected mode "
    "by editing the Redis configuration file, and setting the protected "
    "mode option to 'no', and then restarting the server. 3) If you "
    "started the server manually just for testing, restart it with the "
    "'--protected-mode no' option. 4) Setup a an authentication password "
    "for the default user. NOTE: You only need to do one of the above "
    "things in order for the server to start accepting connections from "
    "the outside.\r\n";

/* Over max-clients: the reply and close a TCP client gets from Redis. */
static void refuse(struct rc_conn *rc)
{
	static const char msg[] = "-ERR max number of clients reached\r\n";

	rc->why = "limit: max number of clients reached";
	reply_and_close(rc, msg, sizeof(msg) - 1);
}

/* Redis 7.0's protected-mode test of a peer: exactly 127.0.0.1 or ::1
 * (name as rring_conn_peer_name writes it: "ip:port", "[ipv6]:port"). */
static bool peer_is_local(const char *name)
{
	return !strncmp(name, "127.0.0.1:", 10) || !strncmp(name, "[::1]:", 6);
}

static void on_accepted(struct rio *io, struct rring_conn *conn)
{
	struct rc_conn *rc = calloc(1, sizeof(*rc));
	uint64_t n;

	if (!rc) {
		rring_conn_set_ctx(conn, NULL); /* was the listener's */
		rring_conn_close(conn);
		return;
	}
	rc->conn = conn;
	rc->io = io;
	rdm_session_init(&rc->s, atomic_fetch_add(&rd.next_id, 1) + 1);
	rring_conn_peer_name(conn, rc->peer, sizeof(rc->peer));
	rdm_log(RDM_LOG_VERBOSE, "Accepted RDMA client id=%llu addr=%s",
		(unsigned long long)rc->s.id, rc->peer);
	rdm_clients_add(&rc->s, &io->reply_q, (unsigned int)(io - rd.ios),
			rc->peer);
	rdm_resp_parser_init(&rc->parser, 0);
	rring_conn_set_ctx(conn, rc);
	rc->next = io->conns;
	if (io->conns)
		io->conns->prev = rc;
	io->conns = rc;
	n = atomic_fetch_add(&rd.clients, 1);
	if (n >= atomic_load(&rd.max_clients) || rdm_limits_server_full(n))
		refuse(rc);
	/* protected mode: only a peer at 127.0.0.1 or ::1 is local, the
	 * test Redis 7.0 applies to a TCP client */
	else if (!peer_is_local(rc->peer) && rdm_limits_protected())
		reply_and_close(rc, denied_msg, sizeof(denied_msg) - 1);
	else if (rdm_move_always()) /* rdmaring.move-clients always */
		move(rc, NULL, 0, 0);
}

/* Why a connection ended: the module's reason, else the engine's status. */
static void log_closed(const struct rc_conn *rc, int status)
{
	const char *why = rc->why;

	if (!why && rc->close_sent)
		why = "closed by the server";
	if (!why)
		why = !status		    ? "closed by the peer"
		      : status == -ESHUTDOWN ? "server stopping"
					     : "fault";
	rdm_log(RDM_LOG_VERBOSE,
		"RDMA client closed connection id=%llu addr=%s: %s%s%s",
		(unsigned long long)rc->s.id, rc->peer, why,
		status && status != -ESHUTDOWN ? ", " : "",
		status && status != -ESHUTDOWN ? strerror(-status) : "");
}

/*
 * The engine's buffer goes with the connection. The commands still in it
 * arrived in completed RECVs (the peer saw its sends complete), and a TCP
 * server runs what it read before EOF: keep a copy and let conn_parse go
 * on from it as jobs return (a paused client has jobs in flight). That
 * holds when the connection was lost rather than closed: a peer that
 * leaves while replies are on their way makes those writes fail (status
 * -EIO), which says nothing about the bytes it had sent. Dropped when the
 * module chose to close (a limit, a kill, a protocol error, QUIT) or the
 * server stops.
 */
static void keep_rest(struct rc_conn *rc, int status)
{
	int reason = rdm_session_close_reason(&rc->s);
	/* every close the module chooses stops input first (no_input) */
	bool keep = status != -ESHUTDOWN && !rc->no_input &&
		    (reason == RDM_CLOSE_PEER || reason == RDM_CLOSE_FAULT) &&
		    rc->win_len;

	rc->rest = keep ? malloc(rc->win_len) : NULL;
	if (!rc->rest) {
		if (keep)
			rdm_log(RDM_LOG_WARNING,
				"RDMA client id=%llu: out of memory keeping "
				"the %zu bytes it sent before closing; "
				"dropped",
				(unsigned long long)rc->s.id, rc->win_len);
		rc->win_len = 0;
		return;
	}
	memcpy(rc->rest, rc->win, rc->win_len);
	rc->win = rc->rest;
	rdm_log(RDM_LOG_VERBOSE,
		"RDMA client id=%llu closed with %zu bytes of commands not "
		"yet parsed; running them",
		(unsigned long long)rc->s.id, rc->win_len);
}

static void on_closed(struct rc_conn *rc, int status)
{
	struct rdm_job *j, *next;

	log_closed(rc, status);
	if (rc->relay) {
		/* what the peer sent and the socket did not take yet goes to
		 * the server before EOF, and the server's replies are read
		 * until it closes (a close with them unread would reset the
		 * connection and lose its input), as keep_rest does for the
		 * fast path; unless the module chose to close it */
		rc->draining = status != -ESHUTDOWN && !rc->no_input &&
			       !rdm_relay_finish(rc->relay, rc->win,
						 rc->win_len);
		if (!rc->draining) /* its server client sees EOF now */
			rdm_relay_close(rc->relay);
		rc->no_input = true;
		rc->win_len = 0;
	}
	keep_rest(rc, status);
	rc->conn = NULL;
	rc->dead = true;
	note_rx_big(rc, false);
	atomic_fetch_sub(&rd.clients, 1);
	for (j = rc->head; j; j = next) {
		next = j->order_next;
		if (j->ready)
			job_done(j);
	}
	rc->head = rc->tail = rc->post = NULL;
	if (rc->win_len)
		conn_parse(rc);
	if (!rc->inflight && !rc->draining)
		conn_free(rc);
}

static void on_event(struct rring_io *rio, const struct rring_event *ev,
		     void *arg)
{
	struct rio *io = &rd.ios[rring_io_index(rio)];
	struct rc_conn *rc = ev->conn_ctx;
	struct rdm_job *j;

	(void)arg;
	switch (ev->type) {
	case RRING_EVENT_ACCEPTED:
		on_accepted(io, ev->conn);
		break;
	case RRING_EVENT_RECV:
		if (rc && !rc->dead)
			on_recv(rc, ev->data, ev->len);
		else
			rring_conn_consume(ev->conn, ev->len);
		break;
	case RRING_EVENT_SEND_DONE:
		if (!rc || rc->dead)
			break;
		if (ev->tag == RELAY_TAG) {
			rc->relay_sends--;
			if (ev->status)
				rc->closing = true;
			reap_sent(rc);
			relay_resume(rc);
			break;
		}
		j = (struct rdm_job *)(uintptr_t)ev->tag;
		j->sends--;
		if (ev->status)
			rc->closing = true;
		conn_flush(rc);
		if (rc->relay)
			relay_resume(rc);
		break;
	case RRING_EVENT_CLOSED:
		if (rc)
			on_closed(rc, ev->status);
		break;
	default:
		break;
	}
}

/* Close the connections the main thread asked to close (their unsent
 * replies dropped, as Redis frees a killed client). */
static void kill_marked(struct rio *io)
{
	struct rc_conn *rc;

	for (rc = io->conns; rc; rc = rc->next) {
		if (rc->closing || !rdm_session_close_reason(&rc->s))
			continue;
		/* a dead one is freed when its last job returns; a fault
		 * (its own send failing) does not stop what it sent */
		if (rc->dead) {
			if (rdm_session_close_reason(&rc->s) !=
			    RDM_CLOSE_FAULT) {
				rc->no_input = true;
				drop_input(rc);
			}
			continue;
		}
		rc->no_input = rc->closing = true;
		drop_input(rc);
		reap_sent(rc);
	}
}

static void handle_replies(struct rio *io)
{
	struct rdm_mpsc_node *n, *next;
	struct rdm_job *j;
	struct rc_conn *rc;

	count(&io->wakeups, 1);
	/* the replies of this wakeup leave together: a write per connection */
	rring_io_batch_begin(io->io);
	for (n = rdm_mpsc_drain(&io->reply_q); n; n = next) {
		next = n->next;
		j = (struct rdm_job *)n;
		if (j->kind == RDM_JOB_KILL) { /* the main thread closes some */
			rdm_job_free(j);
			kill_marked(io);
			continue;
		}
		rc = j->owner;
		rc->inflight--;
		if (rc->dead) {
			/* QUIT or a kill in the rest ends it, as on TCP */
			if (j->close_after || j->close_now)
				rc->no_input = true;
			rdm_dispatch_release(j);
			if (rc->win_len)
				conn_parse(rc);
			if (!rc->inflight)
				conn_free(rc);
			continue;
		}
		j->ready = true;
		if (j->close_now) {
			/* over the output limit: close at once, unsent
			 * replies dropped (Redis frees such a client) */
			rc->no_input = rc->closing = true;
			drop_input(rc);
		}
		conn_flush(rc);
		if (rc->relay) {
			maybe_attach(rc);
			relay_resume(rc);
		} else if (rc->paused && !rc->no_input) {
			conn_parse(rc); /* resume buffered input */
		}
	}
	rring_io_batch_end(io->io);
}

/* Process the engine's completions; -ESHUTDOWN once the engine stopped. */
static int process_io(struct rio *io)
{
	int ret;

	do
		ret = rring_io_process(io->io, 256);
	while (ret > 0);
	return ret;
}

static void *io_main(void *arg)
{
	struct rio *io = arg;
	struct epoll_event evs[8];
	int i, n, timeout;

	for (;;) {
		/* process before waiting: the first call makes this thread
		 * the IO thread and arms rring_io_fd */
		if (process_io(io) == -ESHUTDOWN)
			break;
		timeout =
		    atomic_load(&rd.stopping) ? 1 : 1000; /* keepalive tick */
		n = epoll_wait(io->epfd, evs, 8, timeout);
		if (n < 0 && errno != EINTR)
			break;
		for (i = 0; i < n; i++)
			if (evs[i].data.ptr == &mark_reply)
				handle_replies(io);
			else if (evs[i].data.ptr != &mark_io &&
				 evs[i].data.ptr != &mark_stop)
				/* a moved client's socket: its client is
				 * freed in process_io (CLOSED), or here by
				 * this event once it drained; one event per
				 * fd and wait, and unregistered first */
				relay_event(evs[i].data.ptr, evs[i].events);
	}
	return NULL;
}

static int watch(int epfd, int fd, void *tag)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = tag};

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

static int rio_init(struct rio *io, struct rring_io *eio)
{
	int ret;

	io->io = eio;
	io->epfd = io->stop_efd = -1;
	ret = rdm_mpsc_init(&io->reply_q);
	if (ret)
		return ret;
	io->epfd = epoll_create1(EPOLL_CLOEXEC);
	io->stop_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (io->epfd < 0 || io->stop_efd < 0)
		return -errno;
	ret = watch(io->epfd, rring_io_fd(eio), &mark_io);
	if (!ret)
		ret = watch(io->epfd, rdm_mpsc_fd(&io->reply_q), &mark_reply);
	if (!ret)
		ret = watch(io->epfd, io->stop_efd, &mark_stop);
	return ret;
}

/* After the thread ended: jobs and clients it still holds. */
static void rio_destroy(struct rio *io)
{
	struct rdm_mpsc_node *n, *next;
	struct rdm_job *j, *jn;

	for (n = rdm_mpsc_drain(&io->reply_q); n; n = next) {
		next = n->next;
		rdm_job_free((struct rdm_job *)n);
	}
	while (io->conns) {
		struct rc_conn *rc = io->conns;

		for (j = rc->head; j; j = jn) {
			jn = j->order_next;
			if (j->ready)
				rdm_job_free(j);
		}
		conn_free(rc);
	}
	if (io->epfd >= 0)
		close(io->epfd);
	if (io->stop_efd >= 0)
		close(io->stop_efd);
	rdm_mpsc_destroy(&io->reply_q);
}

static void engine_log(int level, const char *msg, void *arg)
{
	static const char *const lv[] = {RDM_LOG_WARNING, RDM_LOG_WARNING,
					 RDM_LOG_NOTICE, RDM_LOG_VERBOSE};

	(void)arg;
	rdm_log(lv[level < 0 || level > 3 ? 3 : level], "engine: %s", msg);
}

static int set_param(struct rring_params *p, const char *key, long long v,
		     char *err, size_t errlen)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%lld", v);
	return rring_params_set(p, key, buf, err, errlen);
}

static int fill_params(const struct rdm_knobs *k, struct rring_params *p,
		       char *err, size_t errlen)
{
	static const struct {
		const char *key;
		enum rdm_knob_id id;
	} map[] = {
	    {"io-threads", RDM_KNOB_IO_THREADS},
	    {"ring-entries", RDM_KNOB_RING_ENTRIES},
	    {"poll-idle-us", RDM_KNOB_POLL_IDLE_US},
	    {"poller-cpu", RDM_KNOB_POLLER_CPU},
	    {"numa-node", RDM_KNOB_NUMA_NODE},
	    {"comp-vector", RDM_KNOB_COMP_VECTOR},
	    {"rx-size", RDM_KNOB_RX_SIZE},
	};
	size_t i;
	int ret;

	rring_params_init(p);
	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		ret = set_param(p, map[i].key, k->num[map[i].id], err, errlen);
		if (ret)
			return ret;
	}
	/* a pool of CQs, each holding 32 clients' 2048 work requests */
	ret = set_param(p, "cq-entries", RDM_RDMA_CQ_ENTRIES, err, errlen);
	/* max-clients (runtime) is the limit: the engine accepts one more so
	 * that the module can send it Redis's error */
	if (!ret)
		ret = set_param(p, "max-connections", RDM_MAX_CLIENTS_MAX, err,
				errlen);
	if (!ret)
		ret = rring_params_set(p, "io-threads-external", "1", err,
				       errlen);
	/* more IO threads than CPUs only add a sleep and a wake-up per
	 * request (module/README.md, "How many IO threads") */
	if (!ret)
		ret = rring_params_set(p, "io-threads-fit-cpus", "1", err,
				       errlen);
	if (!ret)
		ret = rring_params_set(p, "io-thread-cpus", k->io_thread_cpus,
				       err, errlen);
	/* Valkey's RDMA protocol */
	if (!ret)
		ret = rring_params_set(p, "wire", "1", err, errlen);
	return ret;
}

/* The listener ctx of a generation: never NULL, never a client. */
static void *listen_ctx(unsigned int gen)
{
	return (void *)(uintptr_t)(gen + 1);
}

/* Listen on every address of the bind list ("-addr": optional) with ctx;
 * on error the addresses already bound stay (rring_unlisten ctx). */
static int listen_all(const char *bind, uint16_t port, void *ctx, char *err,
		      size_t errlen)
{
	char list[RDM_BIND_MAX], *save, *tok;
	const char *addr;
	bool optional;
	int ret;

	snprintf(list, sizeof(list), "%s", bind);
	for (tok = strtok_r(list, " ", &save); tok;
	     tok = strtok_r(NULL, " ", &save)) {
		optional = tok[0] == '-';
		addr = optional ? tok + 1 : tok;
		if (!strcmp(addr, "*"))
			addr = NULL;
		else if (!strcmp(addr, "::*"))
			addr = "::";
		ret = rring_listen(rd.e, addr, port, ctx);
		if (ret < 0 && !optional) {
			snprintf(err, errlen, "cannot listen on %s port %u: %s",
				 tok, port, strerror(-ret));
			return ret;
		}
	}
	return 0;
}

static int start_threads(char *err, size_t errlen)
{
	unsigned int i;
	int ret;

	for (i = 0; i < rd.n_io; i++) {
		ret = rio_init(&rd.ios[i], rring_engine_io(rd.e, i));
		if (!ret)
			ret = -pthread_create(&rd.ios[i].thread, NULL, io_main,
					      &rd.ios[i]);
		if (ret) {
			snprintf(err, errlen, "cannot start IO thread %u: %s",
				 i, strerror(-ret));
			return ret;
		}
		rd.ios[i].started = true;
		/* rring-io-N, pinned per io-thread-cpus / numa-node (logged
		 * by the engine when it cannot be) */
		rring_io_place_thread(rd.ios[i].io, rd.ios[i].thread);
	}
	return 0;
}

/*
 * liburcu starts threads of its own (the call_rcu worker, created by the
 * first call_rcu, and cds' resize workers) that outlive rring_engine_destroy
 * and run liburcu's code. MODULE UNLOAD dlcloses this module and with it
 * liburcu*.so, and those threads would crash in unmapped code when they
 * next wake. Keep the liburcu libraries mapped (RTLD_NODELETE) for the life
 * of the process.
 */
#define PIN_MAX 4

struct pin_list {
	char name[PIN_MAX][256];
	int n;
};

static int find_urcu(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct pin_list *l = arg;

	(void)size;
	if (l->n < PIN_MAX && info->dlpi_name &&
	    strstr(info->dlpi_name, "/liburcu"))
		snprintf(l->name[l->n++], sizeof(l->name[0]), "%s",
			 info->dlpi_name);
	return 0;
}

static void pin_urcu(void)
{
	static bool pinned;
	struct pin_list l = {.n = 0};
	int i;

	if (pinned)
		return;
	pinned = true;
	dl_iterate_phdr(find_urcu, &l);
	/* dlopen outside the iteration (it holds the loader's lock); the
	 * handles are never closed on purpose */
	for (i = 0; i < l.n; i++)
		if (!dlopen(l.name[i], RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE))
			rdm_log(RDM_LOG_WARNING, "cannot keep %s loaded: %s",
				l.name[i], dlerror());
}

static int rdma_stop(void *priv);

int rdm_rdma_start(const struct rdm_knobs *k, char *err, size_t errlen)
{
	struct rring_handlers h = {.event = on_event, .log = engine_log};
	struct rring_params p;
	int ret;

	pin_urcu();
	memset(&rd, 0, sizeof(rd));
	rd.rx_size = (size_t)k->num[RDM_KNOB_RX_SIZE];
	atomic_store(&rd.max_clients, (uint64_t)k->num[RDM_KNOB_MAX_CLIENTS]);
	ret = fill_params(k, &p, err, errlen);
	if (ret)
		return ret;
	rd.e = rring_engine_create(&p, &h);
	if (!rd.e) {
		ret = -errno;
		snprintf(err, errlen, "cannot create the engine: %s",
			 strerror(errno));
		return ret;
	}
	rd.n_io = rring_engine_io_count(rd.e);
	/* sizeof is a multiple of the alignment (see struct rio) */
	rd.ios = aligned_alloc(_Alignof(struct rio), rd.n_io * sizeof(*rd.ios));
	if (!rd.ios) {
		ret = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto err_destroy;
	}
	memset(rd.ios, 0, rd.n_io * sizeof(*rd.ios));
	ret = rring_engine_start(rd.e);
	if (ret) {
		snprintf(err, errlen, "cannot start the engine: %s",
			 strerror(-ret));
		goto err_destroy;
	}
	rd.running = true;
	ret = start_threads(err, errlen);
	if (!ret)
		ret = listen_all(k->bind, (uint16_t)k->num[RDM_KNOB_PORT],
				 listen_ctx(0), err, errlen);
	if (ret)
		goto err_stop;
	snprintf(rd.bind, sizeof(rd.bind), "%s", k->bind);
	rd.port = k->num[RDM_KNOB_PORT];
	return 0;

err_stop:
	rdma_stop(NULL);
	return ret;
err_destroy:
	rring_engine_destroy(rd.e);
	free(rd.ios);
	rd.e = NULL;
	rd.ios = NULL;
	return ret;
}

static int rdma_stop(void *priv)
{
	uint64_t one = 1;
	unsigned int i;
	int ret;

	(void)priv;
	if (!rd.e)
		return 0;
	atomic_store(&rd.stopping, true);
	for (i = 0; i < rd.n_io; i++)
		if (rd.ios[i].started &&
		    write(rd.ios[i].stop_efd, &one, sizeof(one)) < 0)
			return -EIO;
	/* the IO threads keep processing until they see -ESHUTDOWN */
	ret = rring_engine_stop(rd.e);
	for (i = 0; i < rd.n_io; i++) {
		if (rd.ios[i].started)
			pthread_join(rd.ios[i].thread, NULL);
		rd.ios[i].started = false;
		rio_destroy(&rd.ios[i]);
	}
	rring_engine_destroy(rd.e);
	free(rd.ios);
	rd.e = NULL;
	rd.ios = NULL;
	rd.running = false;
	atomic_store(&rd.clients, 0);
	return ret < 0 ? -EBUSY : 0;
}

/* Listen on the new set under a new ctx, then drop the old one: clients
 * stay connected, and on error the old listeners stay. When the new set
 * needs the port the old one holds (same port, overlapping address), the
 * old set goes first and comes back if the new one fails. */
static int rdma_listen(void *priv, const char *bind, long long port, char *err,
		       size_t errlen)
{
	void *old = listen_ctx(rd.listen_gen), *new = listen_ctx(rd.listen_gen + 1);
	char ignored[200];
	int ret = 0;

	(void)priv;
	if (port == rd.port && !strcmp(bind, rd.bind))
		return 0;
	if (port)
		ret = listen_all(bind, (uint16_t)port, new, err, errlen);
	if (ret == -EADDRINUSE && port == rd.port) {
		rring_unlisten(rd.e, new);
		rring_unlisten(rd.e, old);
		ret = listen_all(bind, (uint16_t)port, new, err, errlen);
		if (ret && rd.port)
			listen_all(rd.bind, (uint16_t)rd.port, old, ignored,
				   sizeof(ignored));
	}
	if (ret) {
		rring_unlisten(rd.e, new);
		snprintf(err + strlen(err), errlen - strlen(err),
			 "; still listening on port %lld (bind '%s')", rd.port,
			 rd.bind);
		return ret;
	}
	rring_unlisten(rd.e, old);
	rd.listen_gen++;
	snprintf(rd.bind, sizeof(rd.bind), "%s", bind);
	rd.port = port;
	rdm_log(RDM_LOG_NOTICE,
		"RDMA listeners moved to port %lld (bind '%s'); connected "
		"clients stay",
		port, bind);
	return 0;
}

static bool rdma_running(void *priv)
{
	(void)priv;
	return rd.running;
}

static int rdma_apply(void *priv, enum rdm_knob_id id, long long value)
{
	(void)priv;
	if (id == RDM_KNOB_MAX_CLIENTS)
		atomic_store(&rd.max_clients, (uint64_t)value);
	else if (id == RDM_KNOB_POLL_IDLE_US && rd.e)
		/* also ends (or extends) the idle period in progress */
		return rring_engine_set_poll_idle_us(rd.e, (uint32_t)value);
	return 0;
}

/* Where the engine's threads run, read back from them. */
static void rdma_placement(struct rdm_stats *s)
{
	static struct rring_placement pl; /* main thread only */
	unsigned int i;

	if (!rd.e || rring_engine_placement(rd.e, &pl))
		return;
	snprintf(s->poller_cpus, sizeof(s->poller_cpus), "%s", pl.poller.cpus);
	s->poller_node = pl.poller.node;
	snprintf(s->rcu_cpus, sizeof(s->rcu_cpus), "%s", pl.rcu.cpus);
	s->mem_node = pl.mem_node;
	for (i = 0; i < s->nr_io && i < pl.n_io; i++) {
		snprintf(s->io[i].cpus, sizeof(s->io[i].cpus), "%s",
			 pl.io[i].cpus);
		s->io[i].node = pl.io[i].node;
	}
}

static void rdma_stats(void *priv, struct rdm_stats *s)
{
	struct rring_stats es;
	unsigned int i;

	(void)priv;
	rdma_placement(s);
	s->connected_clients = atomic_load(&rd.clients);
	s->transfers_in_progress = atomic_load(&rd.transfers);
	s->inplace_replies = atomic_load(&rd.inplace);
	if (!rd.e || rring_engine_stats(rd.e, &es))
		return;
	s->poller_busy_pct = es.poller.busy_fraction * 100.0;
	s->poller_sleeps = es.poller.sleeps;
	for (i = 0; i < s->nr_io && i < es.n_io && i < rd.n_io; i++) {
		s->io[i].ring_depth = es.io[i].ring_depth;
		s->io[i].ring_overflow = es.io[i].overflow;
		s->io[i].completions = es.io[i].completions;
		s->io[i].bytes_in = atomic_load(&rd.ios[i].bytes_in);
		s->io[i].bytes_out = atomic_load(&rd.ios[i].bytes_out);
		s->io[i].wakeups =
		    es.io[i].wakeups + atomic_load(&rd.ios[i].wakeups);
		s->io[i].replies = atomic_load(&rd.ios[i].replies);
		s->io[i].writes_posted = es.io[i].writes_posted;
		s->io[i].writes_signaled = es.io[i].writes_signaled;
		s->io[i].sends_coalesced = es.io[i].sends_coalesced;
		s->io[i].clients = es.io[i].connections;
	}
}

const struct rdm_engine_ops *rdm_rdma_engine_ops(void)
{
	static const struct rdm_engine_ops ops = {
	    .apply = rdma_apply,
	    .running = rdma_running,
	    .stop = rdma_stop,
	    .stats = rdma_stats,
	    .listen = rdma_listen,
	};

	return &ops;
}
