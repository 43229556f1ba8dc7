/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring module: TCP stand-in transport for the data path (tests, no NIC). */
#define _GNU_SOURCE /* accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clients.h"
#include "conf_limits.h"
#include "loopback.h"
#include "move.h"
#include "policy.h"

/*
 * One thread plays an IO thread: it accepts TCP clients on 127.0.0.1, reads
 * into a fixed window of rx-size bytes handled like the RDMA receive buffer
 * (appended to until full, then reset; a command crossing the reset is
 * absorbed by the parser), submits parsed commands to the main thread and
 * writes the replies back in order. It exercises everything of the data
 * path except the engine: the RDMA transport replaces this file. A client
 * whose command needs a server client moves to one as an RDMA client does
 * (move.h, relay.h): its socket's bytes then go to the relay's socket.
 */

struct lb_conn;

/* epoll data of a client: its socket, or its relay's */
struct lb_tag {
	bool relay;
	struct lb_conn *c;
};

struct lb_conn {
	struct lb_tag tag, relay_tag;
	int fd;
	struct rdm_session s;
	struct rdm_resp_parser parser;
	char *in; /* receive window, rx-size bytes */
	size_t in_off, in_len;
	struct rdm_job *head, *tail; /* replies in command order */
	size_t out_off;
	unsigned int inflight; /* jobs at the main thread */
	bool closing;	       /* send what is queued, then close */
	bool dead;	       /* fd closed; freed once inflight is 0 */
	bool want_out;
	bool paused; /* unauthenticated with a command in flight */
	struct rdm_relay *relay; /* moved: its server connection */
	bool moving;		 /* stopped parsing at a MOVE command */
	struct lb_conn *prev, *next;
};

struct lb {
	pthread_t thread;
	bool running;
	int lfd, epfd, stop_efd;
	struct rdm_mpsc reply_q;
	struct lb_conn *conns;
	size_t rx_size;
	uint64_t next_id;
	_Atomic uint64_t clients, bytes_in, bytes_out, completions, wakeups;
	_Atomic uint64_t max_clients; /* rdmaring.max-clients, runtime */
};

static struct lb lb = {.lfd = -1, .epfd = -1, .stop_efd = -1};
static char mark_listen, mark_stop, mark_reply; /* epoll tags */

static void conn_free(struct lb_conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		lb.conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	rdm_resp_parser_destroy(&c->parser);
	rdm_session_destroy(&c->s);
	if (c->relay) /* unload: the socket may still be open */
		rdm_relay_close(c->relay);
	free(c->relay);
	free(c->in);
	free(c);
}

/* Close the socket; jobs still at the main thread come back later (the
 * connection is freed by reap_dead). */
static void conn_kill(struct lb_conn *c)
{
	struct rdm_job *j, *next;

	if (c->dead)
		return;
	epoll_ctl(lb.epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	if (c->relay) /* its server client sees EOF */
		rdm_relay_close(c->relay);
	c->dead = true;
	atomic_fetch_sub(&lb.clients, 1);
	for (j = c->head; j; j = next) {
		next = j->order_next;
		if (j->ready)
			rdm_dispatch_release(j);
	}
	c->head = c->tail = NULL;
}

/* Free closed connections whose jobs all came back from the main thread.
 * Only after a whole epoll batch: a later event of the batch may still
 * name a connection closed by an earlier one. */
static void reap_dead(void)
{
	struct lb_conn *c, *next;

	for (c = lb.conns; c; c = next) {
		next = c->next;
		if (c->dead && !c->inflight)
			conn_free(c);
	}
}

static void update_events(struct lb_conn *c, bool want_out, bool paused)
{
	struct epoll_event ev = {.data.ptr = &c->tag};

	if (c->want_out == want_out && c->paused == paused)
		return;
	c->want_out = want_out;
	c->paused = paused;
	ev.events = (paused ? 0 : EPOLLIN) | (want_out ? EPOLLOUT : 0);
	epoll_ctl(lb.epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void set_want_out(struct lb_conn *c, bool on)
{
	update_events(c, on, c->paused);
}

/* Write ready replies in order; release each once written. */
static void conn_flush(struct lb_conn *c)
{
	struct rdm_job *j;
	bool close_after;
	ssize_t w;

	while ((j = c->head) && j->ready) {
		w = send(c->fd, j->out + c->out_off, j->out_len - c->out_off,
			 MSG_NOSIGNAL);
		if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
			set_want_out(c, true);
			return;
		}
		if (w < 0) {
			conn_kill(c);
			return;
		}
		atomic_fetch_add(&lb.bytes_out, (uint64_t)w);
		c->out_off += (size_t)w;
		if (c->out_off < j->out_len)
			continue;
		c->out_off = 0;
		c->head = j->order_next;
		if (!c->head)
			c->tail = NULL;
		close_after = j->close_after;
		rdm_dispatch_release(j);
		atomic_fetch_add(&lb.completions, 1);
		if (close_after) {
			conn_kill(c);
			return;
		}
	}
	set_want_out(c, false);
	if (!c->head && c->closing)
		conn_kill(c);
}

static void enqueue(struct lb_conn *c, struct rdm_job *j)
{
	j->order_next = NULL;
	if (c->tail)
		c->tail->order_next = j;
	else
		c->head = j;
	c->tail = j;
}

/* A module-made reply after the queued ones (then close, if close). */
static void reply_static(struct lb_conn *c, const char *msg, size_t n,
			 bool close)
{
	struct rdm_job *j;

	c->closing |= close;
	j = rdm_job_new_static(&c->s, c, msg, n, close);
	if (!j) {
		conn_kill(c);
		return;
	}
	j->ready = true;
	enqueue(c, j);
	conn_flush(c);
}

static void protocol_error(struct lb_conn *c)
{
	char buf[160];
	size_t n = rdm_resp_error_reply(&c->parser, buf, sizeof(buf));

	reply_static(c, buf, n, true);
}

/* ---------------------------- moved clients ----------------------------- */

/* The server's bytes, after the replies of the fast path. */
static size_t relay_to_client(void *arg, const char *data, size_t len)
{
	struct lb_conn *c = arg;
	ssize_t w;

	if (c->dead || c->head)
		return 0;
	w = send(c->fd, data, len, MSG_NOSIGNAL);
	if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
		set_want_out(c, true); /* resumed by EPOLLOUT */
		return 0;
	}
	if (w < 0) {
		conn_kill(c);
		return 0;
	}
	atomic_fetch_add(&lb.bytes_out, (uint64_t)w);
	if ((size_t)w < len)
		set_want_out(c, true);
	return (size_t)w;
}

/* The window goes to the server; reading stops while it does not fit. */
static void relay_input(struct lb_conn *c)
{
	ssize_t n = rdm_relay_write(c->relay, c->in + c->in_off,
				    c->in_len - c->in_off);

	if (n > 0)
		c->in_off += (size_t)n;
	if (c->in_off == c->in_len)
		c->in_off = c->in_len = 0;
	update_events(c, c->want_out, c->in_len == lb.rx_size);
}

static void relay_want_input(void *arg)
{
	relay_input(arg);
}

static const struct rdm_relay_ops relay_ops = {
    .to_client = relay_to_client,
    .want_input = relay_want_input,
};

static void relay_result(struct lb_conn *c, int ret)
{
	if (!ret || c->dead)
		return;
	rdm_relay_close(c->relay);
	if (ret == RDM_RELAY_FAILED) {
		reply_static(c, c->relay->err, strlen(c->relay->err), true);
		return;
	}
	/* the server closed it (or it failed): everything read was sent */
	conn_kill(c);
}

static void relay_resume(struct lb_conn *c)
{
	if (c->relay && !c->dead && rdm_relay_is_open(c->relay))
		relay_result(c, rdm_relay_resume(c->relay));
}

/* Once no job of the client is at the main thread. */
static void maybe_attach(struct lb_conn *c)
{
	char msg[320];
	size_t n;

	if (!c->moving || c->inflight || c->dead || c->closing ||
	    c->relay->state != RDM_RELAY_IDLE)
		return;
	if (rdm_move_start(c->relay, &c->s, lb.epfd, &c->relay_tag, msg,
			   sizeof(msg), &n))
		reply_static(c, msg, n, true);
}

/* The client moves to a server client, argv (argc 0: none, a move at
 * connect) its first command. */
static void move(struct lb_conn *c, const struct rdm_resp_arg *argv,
		 int argc)
{
	c->relay = rdm_move_relay(&relay_ops, c, argv, argc);
	c->moving = c->relay != NULL;
	if (!c->moving) {
		conn_kill(c);
		return;
	}
	/* reading stops until the relay opens and asks for input */
	update_events(c, c->want_out, true);
	maybe_attach(c);
}

/* The command in c->parser needs a server client: move, or refuse it. */
static void move_or_refuse(struct lb_conn *c)
{
	char msg[400];
	size_t n = rdm_move_refusal(&c->parser.argv[0], msg, sizeof(msg));

	if (n) {
		reply_static(c, msg, n, false);
		return;
	}
	move(c, c->parser.argv, c->parser.argc);
}

/* Parse the window; hand the tail to the parser when the window is full. */
static void conn_parse(struct lb_conn *c)
{
	const struct rdm_cmd_rule *rule;
	struct rdm_job *j;
	size_t consumed;
	int ret;

	for (;;) {
		if (c->moving || c->dead)
			return;
		c->parser.auth_required = !atomic_load(&c->s.authenticated);
		c->parser.proto_max_bulk_len = rdm_limits_bulk_len();
		/* unauthenticated: one command at a time (its AUTH may lift
		 * the limits for the next); and at most
		 * RDM_CLIENT_INFLIGHT_MAX at the main thread; stop reading
		 * meanwhile */
		update_events(c, c->want_out,
			      (c->parser.auth_required && c->inflight) ||
				  c->inflight >= RDM_CLIENT_INFLIGHT_MAX);
		if (c->paused)
			return;
		ret = rdm_resp_parse(&c->parser, c->in + c->in_off,
				     c->in_len - c->in_off, &consumed);
		c->in_off += consumed;
		if (ret == RDM_RESP_ERROR) {
			protocol_error(c);
			return;
		}
		if (ret != RDM_RESP_CMD)
			break;
		rule = rdm_cmd_policy_args(c->parser.argv, c->parser.argc);
		if (rule && rule->action == RDM_CMD_MOVE) {
			/* the arguments stay in c->in until the next read */
			move_or_refuse(c);
			continue;
		}
		j = rdm_job_new(&c->s, &lb.reply_q, c, c->parser.argv,
				c->parser.argc, rule);
		if (!j) {
			conn_kill(c);
			return;
		}
		enqueue(c, j);
		c->inflight++;
		rdm_dispatch_submit(j);
	}
	if (c->in_len == lb.rx_size) {
		/* full: like the RDMA buffer, reset once consumed */
		if (rdm_resp_absorb(&c->parser, c->in + c->in_off,
				    c->in_len - c->in_off)) {
			conn_kill(c);
			return;
		}
		c->in_off = c->in_len = 0;
	}
	if (rdm_session_query_over(&c->s, rdm_resp_pending(&c->parser)))
		conn_kill(c);
}

/* "ip:port" of the peer, as CLIENT LIST prints it. */
static const char *peer_name(int fd, char *out)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	char ip[INET_ADDRSTRLEN];

	if (getpeername(fd, (struct sockaddr *)&sa, &len) ||
	    sa.sin_family != AF_INET ||
	    !inet_ntop(AF_INET, &sa.sin_addr, ip, sizeof(ip)))
		return "?:0";
	snprintf(out, RDM_ADDR_MAX, "%s:%u", ip, ntohs(sa.sin_port));
	return out;
}

static void conn_read(struct lb_conn *c)
{
	ssize_t r;

	while (!c->closing && !c->dead && !c->paused &&
	       c->in_len < lb.rx_size) {
		r = read(c->fd, c->in + c->in_len, lb.rx_size - c->in_len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			return;
		if (r <= 0) {
			conn_kill(c);
			return;
		}
		atomic_fetch_add(&lb.bytes_in, (uint64_t)r);
		c->in_len += (size_t)r;
		if (c->relay && rdm_relay_is_open(c->relay))
			relay_input(c);
		else
			conn_parse(c);
	}
}

/* Over max-clients: the reply and close a TCP client gets from Redis. */
static void refuse(int fd)
{
	static const char msg[] = "-ERR max number of clients reached\r\n";
	ssize_t w = send(fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL);

	(void)w;
	close(fd);
}

static void accept_all(void)
{
	struct epoll_event ev = {.events = EPOLLIN};
	struct lb_conn *c;
	char addr[RDM_ADDR_MAX];
	int fd, one = 1;

	while ((fd = accept4(lb.lfd, NULL, NULL,
			     SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		if (atomic_load(&lb.clients) >= atomic_load(&lb.max_clients) ||
		    rdm_limits_server_full(atomic_load(&lb.clients))) {
			refuse(fd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (c)
			c->in = malloc(lb.rx_size);
		if (!c || !c->in) {
			free(c);
			close(fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->fd = fd;
		c->tag = (struct lb_tag){.relay = false, .c = c};
		c->relay_tag = (struct lb_tag){.relay = true, .c = c};
		rdm_session_init(&c->s, ++lb.next_id);
		rdm_clients_add(&c->s, &lb.reply_q, 0, peer_name(fd, addr));
		rdm_resp_parser_init(&c->parser, 0);
		ev.data.ptr = &c->tag;
		if (epoll_ctl(lb.epfd, EPOLL_CTL_ADD, fd, &ev)) {
			conn_free(c);
			close(fd);
			continue;
		}
		c->next = lb.conns;
		if (lb.conns)
			lb.conns->prev = c;
		lb.conns = c;
		atomic_fetch_add(&lb.clients, 1);
		if (rdm_move_always()) /* rdmaring.move-clients always */
			move(c, NULL, 0);
	}
}

static void handle_replies(void)
{
	struct rdm_mpsc_node *n, *next;
	struct rdm_job *j;
	struct lb_conn *c;

	atomic_fetch_add(&lb.wakeups, 1);
	for (n = rdm_mpsc_drain(&lb.reply_q); n; n = next) {
		next = n->next;
		j = (struct rdm_job *)n;
		if (j->kind == RDM_JOB_KILL) { /* the main thread closes some */
			rdm_job_free(j);
			for (c = lb.conns; c; c = c->next)
				if (rdm_session_close_reason(&c->s))
					conn_kill(c);
			continue;
		}
		c = j->owner;
		c->inflight--;
		if (c->dead) {
			rdm_dispatch_release(j);
			continue;
		}
		j->ready = true;
		if (j->close_now) { /* over the output limit */
			conn_kill(c);
			continue;
		}
		conn_flush(c);
		if (c->relay) {
			maybe_attach(c);
			relay_resume(c);
		} else if (!c->dead && c->paused && !c->closing) {
			conn_parse(c); /* resume buffered input */
			if (!c->dead && !c->paused)
				conn_read(c);
		}
	}
}

static void *lb_main(void *arg)
{
	struct epoll_event evs[64];
	bool stop = false;
	int i, n;

	(void)arg;
	while (!stop) {
		n = epoll_wait(lb.epfd, evs, 64, -1);
		for (i = 0; i < n; i++) {
			void *tag = evs[i].data.ptr;
			struct lb_tag *t = tag;
			struct lb_conn *c;

			if (tag == &mark_stop) {
				stop = true;
				continue;
			}
			if (tag == &mark_listen) {
				accept_all();
				continue;
			}
			if (tag == &mark_reply) {
				handle_replies();
				continue;
			}
			c = t->c; /* freed only by reap_dead, below */
			if (c->dead)
				continue;
			if (t->relay) {
				relay_result(c, rdm_relay_event(c->relay,
								 evs[i].events));
				continue;
			}
			if (evs[i].events & EPOLLOUT) {
				conn_flush(c);
				relay_resume(c);
			}
			if (!c->dead && (evs[i].events & ~EPOLLOUT))
				conn_read(c);
		}
		reap_dead();
	}
	return NULL;
}

static int listen_on(uint16_t port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd, one = 1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 128)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static int watch(int fd, void *tag)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = tag};

	return epoll_ctl(lb.epfd, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

void rdm_loopback_set_max_clients(uint64_t n)
{
	atomic_store(&lb.max_clients, n);
}

int rdm_loopback_start(uint16_t port, size_t rx_size, uint64_t max_clients)
{
	int ret;

	lb.rx_size = rx_size;
	atomic_store(&lb.max_clients, max_clients);
	ret = rdm_mpsc_init(&lb.reply_q);
	if (ret)
		return ret;
	lb.lfd = listen_on(port);
	if (lb.lfd < 0) {
		ret = lb.lfd;
		goto err_destroy_queue;
	}
	lb.stop_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	lb.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (lb.stop_efd < 0 || lb.epfd < 0) {
		ret = -errno;
		goto err_close;
	}
	ret = watch(lb.lfd, &mark_listen);
	if (!ret)
		ret = watch(lb.stop_efd, &mark_stop);
	if (!ret)
		ret = watch(rdm_mpsc_fd(&lb.reply_q), &mark_reply);
	if (!ret)
		ret = -pthread_create(&lb.thread, NULL, lb_main, NULL);
	if (ret)
		goto err_close;
	lb.running = true;
	return 0;

err_close:
	if (lb.epfd >= 0)
		close(lb.epfd);
	if (lb.stop_efd >= 0)
		close(lb.stop_efd);
	close(lb.lfd);
	lb.epfd = lb.stop_efd = lb.lfd = -1;
err_destroy_queue:
	rdm_mpsc_destroy(&lb.reply_q);
	return ret;
}

int rdm_loopback_stop(void)
{
	struct rdm_mpsc_node *n, *next;
	uint64_t one = 1;

	if (!lb.running)
		return 0;
	if (write(lb.stop_efd, &one, sizeof(one)) != sizeof(one))
		return -EIO;
	pthread_join(lb.thread, NULL);
	lb.running = false;
	/* replies not picked up yet; the main queue is freed by
	 * rdm_dispatch_stop (jobs never touch their session there) */
	for (n = rdm_mpsc_drain(&lb.reply_q); n; n = next) {
		next = n->next;
		rdm_job_free((struct rdm_job *)n);
	}
	while (lb.conns) {
		struct rdm_job *j, *jn;
		struct lb_conn *c = lb.conns;

		if (!c->dead)
			close(c->fd);
		for (j = c->head; j; j = jn) {
			jn = j->order_next;
			if (j->ready)
				rdm_job_free(j);
		}
		conn_free(c);
	}
	close(lb.epfd);
	close(lb.stop_efd);
	close(lb.lfd);
	lb.epfd = lb.stop_efd = lb.lfd = -1;
	rdm_mpsc_destroy(&lb.reply_q);
	atomic_store(&lb.clients, 0);
	return 0;
}

bool rdm_loopback_running(void)
{
	return lb.running;
}

void rdm_loopback_stats(struct rdm_stats *s)
{
	s->connected_clients = atomic_load(&lb.clients);
	if (!s->nr_io)
		return;
	s->io[0].bytes_in = atomic_load(&lb.bytes_in);
	s->io[0].bytes_out = atomic_load(&lb.bytes_out);
	s->io[0].completions = atomic_load(&lb.completions);
	s->io[0].wakeups = atomic_load(&lb.wakeups);
	s->io[0].clients = s->connected_clients;
}
