// SPDX-License-Identifier: BSD-3-Clause
/* rdma_cm tests: the synchronous API, several threads, peers in other processes, fork and strict mode. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <criterion/criterion.h>

#include "cm_util.h"
#include "test_support.h"

#ifdef TS_SANITIZED
#define NCONN_PER_THREAD 4
#else
#define NCONN_PER_THREAD 16
#endif

#define MSG_LEN 64

static void fill(uint32_t *buf, uint32_t seed)
{
	int i;

	for (i = 0; i < MSG_LEN / 4; i++)
		buf[i] = seed * 2654435761u + (uint32_t)i;
}

/* ---- synchronous API (rdma_server / rdma_client style), two threads ---- */

struct sync_ctx {
	int port_pipe[2];
	int server_ok;
	int client_ok;
};

static int sync_server_body(struct sync_ctx *x)
{
	static const char rep[] = "sync accept";
	struct rdma_addrinfo hints = { 0 }, *res;
	struct ibv_qp_init_attr attr = { 0 };
	struct rdma_conn_param p = { 0 };
	struct rdma_cm_id *listen, *id;
	uint32_t in[MSG_LEN / 4], out[MSG_LEN / 4], want[MSG_LEN / 4];
	struct ibv_mr *imr, *omr;
	struct ibv_wc wc;
	uint16_t port;

	hints.ai_flags = RAI_PASSIVE;
	hints.ai_port_space = RDMA_PS_TCP;
	if (rdma_getaddrinfo("127.0.0.1", "0", &hints, &res))
		return 1;
	attr.cap.max_send_wr = attr.cap.max_recv_wr = 4;
	attr.cap.max_send_sge = attr.cap.max_recv_sge = 1;
	attr.sq_sig_all = 1;
	if (rdma_create_ep(&listen, res, NULL, &attr))
		return 2;
	rdma_freeaddrinfo(res);
	if (rdma_listen(listen, 4))
		return 3;
	port = ntohs(rdma_get_src_port(listen));
	if (write(x->port_pipe[1], &port, sizeof(port)) != sizeof(port))
		return 4;
	if (rdma_get_request(listen, &id))
		return 5;
	/* The request's private data, on the child's event. */
	if (!id->event || id->event->event != RDMA_CM_EVENT_CONNECT_REQUEST ||
	    memcmp(id->event->param.conn.private_data, "sync req", 9))
		return 6;
	if (!id->qp || !id->recv_cq || !id->pd)
		return 7;
	imr = rdma_reg_msgs(id, in, sizeof(in));
	omr = rdma_reg_msgs(id, out, sizeof(out));
	if (!imr || !omr || rdma_post_recv(id, NULL, in, sizeof(in), imr))
		return 8;
	p.private_data = rep;
	p.private_data_len = sizeof(rep);
	p.responder_resources = 1;
	p.initiator_depth = 1;
	if (rdma_accept(id, &p))
		return 9;
	if (rdma_get_recv_comp(id, &wc) != 1 || wc.status != IBV_WC_SUCCESS)
		return 10;
	fill(want, 11);
	if (memcmp(in, want, sizeof(in)))
		return 11;
	fill(out, 22);
	if (rdma_post_send(id, NULL, out, sizeof(out), omr, 0) ||
	    rdma_get_send_comp(id, &wc) != 1 || wc.status != IBV_WC_SUCCESS)
		return 12;
	/* rdma_disconnect waits for DISCONNECTED (ours or the peer's). */
	if (rdma_disconnect(id))
		return 13;
	rdma_dereg_mr(imr);
	rdma_dereg_mr(omr);
	rdma_destroy_ep(id);
	rdma_destroy_ep(listen);
	return 0;
}

static void *sync_server(void *arg)
{
	struct sync_ctx *x = arg;

	x->server_ok = sync_server_body(x);
	return NULL;
}

static int sync_client_body(struct sync_ctx *x)
{
	struct rdma_addrinfo hints = { 0 }, *res;
	struct ibv_qp_init_attr attr = { 0 };
	struct rdma_conn_param p = { 0 };
	uint32_t in[MSG_LEN / 4], out[MSG_LEN / 4], want[MSG_LEN / 4];
	struct ibv_mr *imr, *omr;
	struct rdma_cm_id *id;
	struct ibv_wc wc;
	char service[16];
	uint16_t port;

	if (read(x->port_pipe[0], &port, sizeof(port)) != sizeof(port))
		return 1;
	snprintf(service, sizeof(service), "%u", port);
	hints.ai_port_space = RDMA_PS_TCP;
	if (rdma_getaddrinfo("127.0.0.1", service, &hints, &res))
		return 2;
	attr.cap.max_send_wr = attr.cap.max_recv_wr = 4;
	attr.cap.max_send_sge = attr.cap.max_recv_sge = 1;
	attr.sq_sig_all = 1;
	if (rdma_create_ep(&id, res, NULL, &attr))
		return 3;
	rdma_freeaddrinfo(res);
	imr = rdma_reg_msgs(id, in, sizeof(in));
	omr = rdma_reg_msgs(id, out, sizeof(out));
	if (!imr || !omr || rdma_post_recv(id, NULL, in, sizeof(in), imr))
		return 4;
	p.private_data = "sync req";
	p.private_data_len = 9;
	p.responder_resources = 1;
	p.initiator_depth = 1;
	p.retry_count = 7;
	p.rnr_retry_count = 7;
	if (rdma_connect(id, &p))
		return 5;
	/* ESTABLISHED carries the accept's private data. */
	if (!id->event || id->event->event != RDMA_CM_EVENT_ESTABLISHED ||
	    memcmp(id->event->param.conn.private_data, "sync accept", 12))
		return 6;
	fill(out, 11);
	if (rdma_post_send(id, NULL, out, sizeof(out), omr, 0) ||
	    rdma_get_send_comp(id, &wc) != 1 || wc.status != IBV_WC_SUCCESS)
		return 7;
	if (rdma_get_recv_comp(id, &wc) != 1 || wc.status != IBV_WC_SUCCESS)
		return 8;
	fill(want, 22);
	if (memcmp(in, want, sizeof(in)))
		return 9;
	if (rdma_disconnect(id))
		return 10;
	rdma_dereg_mr(imr);
	rdma_dereg_mr(omr);
	rdma_destroy_ep(id);
	return 0;
}

static void *sync_client(void *arg)
{
	struct sync_ctx *x = arg;

	x->client_ok = sync_client_body(x);
	return NULL;
}

Test(cm_sync, create_ep_get_request_accept_connect, .timeout = 30)
{
	struct sync_ctx x = { .server_ok = -1, .client_ok = -1 };
	pthread_t s, c;

	cr_assert_eq(pipe(x.port_pipe), 0);
	cr_assert_eq(pthread_create(&s, NULL, sync_server, &x), 0);
	cr_assert_eq(pthread_create(&c, NULL, sync_client, &x), 0);
	pthread_join(c, NULL);
	pthread_join(s, NULL);
	cr_assert_eq(x.client_ok, 0, "client step %d failed", x.client_ok);
	cr_assert_eq(x.server_ok, 0, "server step %d failed", x.server_ok);
	close(x.port_pipe[0]);
	close(x.port_pipe[1]);
}

/* ---- many connections from several threads, server on epoll ---- */

struct many_ctx {
	uint16_t port;
	int established; /* per client thread */
	int disconnected;
	int failed;
};

static void *many_client(void *arg)
{
	struct many_ctx *x = arg;
	struct rdma_event_channel *ch = rdma_create_event_channel();
	struct rdma_conn_param p = { .qp_num = 1 };
	struct rdma_cm_id *ids[NCONN_PER_THREAD];
	struct rdma_cm_event *ev;
	int i, done = 0;

	/* Resolve all first: the channel then only sees connection events. */
	for (i = 0; i < NCONN_PER_THREAD; i++)
		ids[i] = cmt_client(ch, x->port);
	for (i = 0; i < NCONN_PER_THREAD; i++) {
		p.qp_num = (uint32_t)i + 1;
		cr_assert_eq(rdma_connect(ids[i], &p), 0);
	}
	while (done < NCONN_PER_THREAD) {
		cr_assert(cmt_readable(ch, CM_TEST_TIMEOUT_MS));
		cr_assert_eq(rdma_get_cm_event(ch, &ev), 0);
		if (ev->event == RDMA_CM_EVENT_CONNECT_RESPONSE) {
			cr_assert_eq(rdma_establish(ev->id), 0);
			x->established++;
			cr_assert_eq(rdma_disconnect(ev->id), 0);
		} else if (ev->event == RDMA_CM_EVENT_DISCONNECTED) {
			x->disconnected++;
			done++;
		} else {
			x->failed++;
			done++;
		}
		rdma_ack_cm_event(ev);
	}
	for (i = 0; i < NCONN_PER_THREAD; i++)
		rdma_destroy_id(ids[i]);
	rdma_destroy_event_channel(ch);
	return NULL;
}

Test(cm_threads, many_connections_from_four_threads, .timeout = 60)
{
	struct rdma_event_channel *ch = rdma_create_event_channel();
	struct rdma_conn_param p = { .qp_num = 77 };
	int total = 4 * NCONN_PER_THREAD, req = 0, est = 0, disc = 0, i, ep;
	struct rdma_cm_id *listen, *kids[4 * NCONN_PER_THREAD];
	struct epoll_event e = { .events = EPOLLIN };
	struct many_ctx x[4];
	struct rdma_cm_event *ev;
	pthread_t t[4];

	cr_assert_eq(
	    fcntl(ch->fd, F_SETFL, fcntl(ch->fd, F_GETFL) | O_NONBLOCK), 0);
	ep = epoll_create1(0);
	cr_assert_eq(epoll_ctl(ep, EPOLL_CTL_ADD, ch->fd, &e), 0);
	memset(x, 0, sizeof(x));
	x[0].port = cmt_listen(ch, &listen);
	for (i = 0; i < 4; i++) {
		x[i].port = x[0].port;
		cr_assert_eq(pthread_create(&t[i], NULL, many_client, &x[i]),
			     0);
	}
	/* A poller: epoll, then drain the non-blocking channel. */
	while (disc < total) {
		cr_assert_eq(epoll_wait(ep, &e, 1, CM_TEST_TIMEOUT_MS), 1,
			     "stuck at %d requests %d established %d disc",
			     req, est, disc);
		while (rdma_get_cm_event(ch, &ev) == 0) {
			if (ev->event == RDMA_CM_EVENT_CONNECT_REQUEST) {
				kids[req++] = ev->id;
				cr_assert_eq(rdma_accept(ev->id, &p), 0);
			} else if (ev->event == RDMA_CM_EVENT_ESTABLISHED) {
				est++;
			} else {
				cr_assert_eq(ev->event,
					     RDMA_CM_EVENT_DISCONNECTED);
				disc++;
			}
			rdma_ack_cm_event(ev);
		}
		cr_assert_eq(errno, EAGAIN);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		cr_assert_eq(x[i].established, NCONN_PER_THREAD);
		cr_assert_eq(x[i].disconnected, NCONN_PER_THREAD);
		cr_assert_eq(x[i].failed, 0);
	}
	cr_assert_eq(req, total);
	cr_assert_eq(est, total);
	for (i = 0; i < req; i++)
		cr_assert_eq(rdma_destroy_id(kids[i]), 0);
	cr_assert_eq(rdma_destroy_id(listen), 0);
	rdma_destroy_event_channel(ch);
	close(ep);
}

/* ---- peers in another process ---- */

/* Client in a child process: connect, send @seed, receive, then @how. */
enum child_end { CHILD_DISCONNECT, CHILD_HANG };

static int child_client(int rd, int wr, uint32_t seed, enum child_end how)
{
	struct rdma_event_channel *ch;
	struct rdma_conn_param p = { .responder_resources = 1,
				     .initiator_depth = 1,
				     .retry_count = 7,
				     .rnr_retry_count = 7 };
	uint32_t buf[MSG_LEN / 4], want[MSG_LEN / 4];
	struct rdma_cm_event *ev;
	struct rdma_cm_id *id;
	struct ibv_cq *cq;
	struct ibv_mr *mr;
	struct ibv_wc wc;
	uint16_t port;
	char ok = 1;

	if (read(rd, &port, sizeof(port)) != sizeof(port))
		return 1;
	ch = rdma_create_event_channel();
	id = cmt_client(ch, port);
	cq = cmt_qp(id, 8);
	mr = rdma_reg_msgs(id, buf, sizeof(buf));
	if (!mr || rdma_post_recv(id, NULL, buf, sizeof(buf), mr))
		return 2;
	p.private_data = &seed;
	p.private_data_len = sizeof(seed);
	if (rdma_connect(id, &p))
		return 3;
	ev = cmt_expect(ch, RDMA_CM_EVENT_ESTABLISHED);
	if (memcmp(ev->param.conn.private_data, "ok", 3))
		return 4;
	rdma_ack_cm_event(ev);
	if (cmt_poll_one(cq, &wc) != IBV_WC_SUCCESS || wc.opcode != IBV_WC_RECV)
		return 5;
	fill(want, seed);
	if (memcmp(buf, want, sizeof(buf)))
		return 6;
	if (write(wr, &ok, 1) != 1)
		return 7;
	if (how == CHILD_HANG)
		for (;;)
			pause(); /* the parent kills us */
	if (rdma_disconnect(id))
		return 8;
	cmt_expect_ack(ch, RDMA_CM_EVENT_DISCONNECTED);
	rdma_dereg_mr(mr);
	cmt_qp_free(id, cq);
	rdma_destroy_id(id);
	rdma_destroy_event_channel(ch);
	return 0;
}

struct parent {
	int to_child[2], from_child[2];
	pid_t pid;
	struct rdma_event_channel *ch;
	struct rdma_cm_id *listen, *id;
	struct ibv_cq *cq;
	struct ibv_mr *mr;
	uint32_t buf[MSG_LEN / 4];
};

/* Fork before any softverbs call: both processes start clean. */
static void parent_start(struct parent *x, enum child_end how)
{
	struct rdma_conn_param p = { .private_data = "ok",
				     .private_data_len = 3,
				     .responder_resources = 1,
				     .initiator_depth = 1 };
	struct rdma_cm_event *ev;
	uint32_t seed;
	uint16_t port;

	cr_assert_eq(pipe(x->to_child), 0);
	cr_assert_eq(pipe(x->from_child), 0);
	x->pid = fork();
	cr_assert_geq(x->pid, 0);
	if (x->pid == 0)
		_exit(child_client(x->to_child[0], x->from_child[1], 0x5eed,
				   how));
	x->ch = rdma_create_event_channel();
	port = cmt_listen(x->ch, &x->listen);
	cr_assert_eq(write(x->to_child[1], &port, sizeof(port)), sizeof(port));
	ev = cmt_expect(x->ch, RDMA_CM_EVENT_CONNECT_REQUEST);
	memcpy(&seed, ev->param.conn.private_data, sizeof(seed));
	cr_assert_eq(seed, 0x5eed);
	x->id = ev->id;
	rdma_ack_cm_event(ev);
	x->cq = cmt_qp(x->id, 8);
	cr_assert_eq(rdma_accept(x->id, &p), 0);
	cr_assert_eq(cmt_expect_ack(x->ch, RDMA_CM_EVENT_ESTABLISHED), 0);
	fill(x->buf, seed);
	x->mr = rdma_reg_msgs(x->id, x->buf, sizeof(x->buf));
	cr_assert_not_null(x->mr);
}

static void parent_send(struct parent *x)
{
	struct ibv_wc wc;
	char ok = 0;

	cr_assert_eq(rdma_post_send(x->id, NULL, x->buf, sizeof(x->buf),
				    x->mr, IBV_SEND_SIGNALED),
		     0);
	cr_assert_eq(cmt_poll_one(x->cq, &wc), IBV_WC_SUCCESS);
	cr_assert_eq(read(x->from_child[0], &ok, 1), 1, "child failed");
	cr_assert_eq(ok, 1);
}

static void parent_end(struct parent *x, int want_status)
{
	int status;

	cr_assert_eq(waitpid(x->pid, &status, 0), x->pid);
	if (want_status >= 0) {
		cr_assert(WIFEXITED(status));
		cr_assert_eq(WEXITSTATUS(status), want_status,
			     "child step %d failed", WEXITSTATUS(status));
	}
	rdma_dereg_mr(x->mr);
	cmt_qp_free(x->id, x->cq);
	rdma_destroy_id(x->id);
	rdma_destroy_id(x->listen);
	rdma_destroy_event_channel(x->ch);
}

/*
 * perftest -R tells its client to connect (out of band) just before its
 * server calls rdma_listen(): a REQ that arrives a few milliseconds early
 * must still find the listener, as it does over a real network. The test
 * stretches the grace (SOFTVERBS_CM_LISTEN_GRACE_MS) far beyond the 20 ms
 * of the scenario: with the default 100 ms a loaded machine could leave
 * the listener thread unscheduled for longer and the connect was refused.
 */
struct late_listener {
	uint16_t port;
	atomic_bool go;
	int result; /* 0: CONNECT_REQUEST seen and rejected */
};

static void *late_listener_run(void *arg)
{
	const struct timespec late = { .tv_nsec = 20 * 1000000 };
	struct late_listener *ll = arg;
	struct rdma_event_channel *ch = rdma_create_event_channel();
	struct rdma_cm_event *ev;
	struct rdma_cm_id *l;
	struct sockaddr_in sin;
	int i;

	ll->result = -1;
	if (!ch || rdma_create_id(ch, &l, NULL, RDMA_PS_TCP))
		return NULL;
	cmt_addr(&sin, "127.0.0.1", ll->port);
	if (rdma_bind_addr(l, (struct sockaddr *)&sin))
		goto out;
	for (i = 0; i < CM_TEST_TIMEOUT_MS && !atomic_load(&ll->go); i++)
		usleep(1000); /* the client is about to call rdma_connect */
	nanosleep(&late, NULL); /* the scenario: listen after the REQ left */
	if (rdma_listen(l, 1))
		goto out;
	if (!cmt_readable(ch, CM_TEST_TIMEOUT_MS) ||
	    rdma_get_cm_event(ch, &ev))
		goto out;
	if (ev->event == RDMA_CM_EVENT_CONNECT_REQUEST &&
	    !rdma_reject(ev->id, NULL, 0))
		ll->result = 0;
	rdma_ack_cm_event(ev);
out:
	rdma_destroy_id(l);
	rdma_destroy_event_channel(ch);
	return NULL;
}

Test(cm_threads, listener_that_listens_just_after_the_connect_is_found,
     .timeout = 60)
{
	struct rdma_conn_param p = { .retry_count = 7 };
	struct late_listener ll = { 0 };
	struct rdma_event_channel *ch;
	struct rdma_cm_id *l, *id;
	pthread_t t;

	/* read at softverbs' first call in this test's process */
	cr_assert_eq(setenv("SOFTVERBS_CM_LISTEN_GRACE_MS", "30000", 1), 0);
	ch = rdma_create_event_channel();
	cr_assert(ch);
	ll.port = cmt_listen(ch, &l);
	cr_assert_eq(rdma_destroy_id(l), 0);
	id = cmt_client(ch, ll.port);
	cr_assert_eq(pthread_create(&t, NULL, late_listener_run, &ll), 0);
	atomic_store(&ll.go, true);
	cr_assert_eq(rdma_connect(id, &p), 0);
	cmt_expect_ack(ch, RDMA_CM_EVENT_REJECTED);
	cr_assert_eq(pthread_join(t, NULL), 0);
	cr_assert_eq(ll.result, 0, "the listener saw no CONNECT_REQUEST");
	cr_assert_eq(rdma_destroy_id(id), 0);
	rdma_destroy_event_channel(ch);
}

/*
 * rping destroys its event channel while its cm thread is blocked in
 * rdma_get_cm_event() on it, then cancels that thread. The waiter must not
 * race with the destruction (TSan) nor leak the channel (ASan).
 */
struct chan_waiter {
	struct rdma_event_channel *ch;
	atomic_int tid;
};

static void *chan_waiter_run(void *arg)
{
	struct chan_waiter *w = arg;
	struct rdma_cm_event *ev;

	atomic_store(&w->tid, (int)syscall(SYS_gettid));
	if (!rdma_get_cm_event(w->ch, &ev))
		rdma_ack_cm_event(ev);
	return NULL;
}

/* True once thread @tid sleeps in epoll_wait (bounded wait). */
static bool blocked_in_epoll(int tid)
{
	char path[64], buf[64];
	long nr;
	int i, fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", tid);
	for (i = 0; i < CM_TEST_TIMEOUT_MS; i++) {
		fd = open(path, O_RDONLY);
		if (fd < 0)
			return false;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n > 0) {
			buf[n] = 0;
			nr = strtol(buf, NULL, 10);
#ifdef SYS_epoll_wait
			if (nr == SYS_epoll_wait)
				return true;
#endif
			if (nr == SYS_epoll_pwait)
				return true;
		}
		usleep(1000);
	}
	return false;
}

Test(cm_threads, channel_destroyed_while_a_thread_waits_on_it, .timeout = 30)
{
	struct chan_waiter w = { 0 };
	void *res = NULL;
	pthread_t t;

	w.ch = rdma_create_event_channel();
	cr_assert_not_null(w.ch);
	cr_assert_eq(pthread_create(&t, NULL, chan_waiter_run, &w), 0);
	while (!atomic_load(&w.tid))
		sched_yield();
	cr_assert(blocked_in_epoll(atomic_load(&w.tid)),
		  "the waiter never blocked in epoll_wait");
	rdma_destroy_event_channel(w.ch);
	cr_assert_eq(pthread_cancel(t), 0);
	cr_assert_eq(pthread_join(t, &res), 0);
	cr_assert_eq(res, PTHREAD_CANCELED);
}

Test(cm_process, peer_in_child_connects_sends_and_disconnects, .timeout = 30)
{
	struct parent x;

	parent_start(&x, CHILD_DISCONNECT);
	parent_send(&x);
	cr_assert_eq(cmt_expect_ack(x.ch, RDMA_CM_EVENT_DISCONNECTED), 0);
	parent_end(&x, 0);
}

Test(cm_process, peer_death_gives_disconnected, .timeout = 30)
{
	struct parent x;

	parent_start(&x, CHILD_HANG);
	parent_send(&x);
	cr_assert_eq(kill(x.pid, SIGKILL), 0);
	cr_assert_eq(cmt_expect_ack(x.ch, RDMA_CM_EVENT_DISCONNECTED), 0);
	parent_end(&x, -1);
}

Test(cm_process, forked_child_with_inherited_ids_disconnects_nobody,
     .timeout = 30)
{
	struct rdma_event_channel *ch = rdma_create_event_channel();
	struct rdma_conn_param p = { .qp_num = 5 };
	struct rdma_cm_id *listen, *server, *client;
	struct rdma_cm_event *ev;
	int status;
	pid_t pid;

	client = cmt_client(ch, cmt_listen(ch, &listen));
	cr_assert_eq(rdma_connect(client, &p), 0);
	ev = cmt_expect(ch, RDMA_CM_EVENT_CONNECT_REQUEST);
	server = ev->id;
	rdma_ack_cm_event(ev);
	cr_assert_eq(rdma_accept(server, &p), 0);
	cmt_expect_ack(ch, RDMA_CM_EVENT_CONNECT_RESPONSE);
	cr_assert_eq(rdma_establish(client), 0);
	cmt_expect_ack(ch, RDMA_CM_EVENT_ESTABLISHED);

	/* As a BGSAVE child: holds the sockets, tears down, exits. */
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		rdma_destroy_id(server);
		exit(0);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	cr_assert_not(cmt_readable(ch, 200), "the child disconnected us");

	cr_assert_eq(rdma_disconnect(server), 0);
	cr_assert_eq(cmt_expect_ack(ch, RDMA_CM_EVENT_DISCONNECTED), 0);
	cr_assert_eq(cmt_expect_ack(ch, RDMA_CM_EVENT_DISCONNECTED), 0);
	rdma_destroy_id(server);
	rdma_destroy_id(client);
	rdma_destroy_id(listen);
	rdma_destroy_event_channel(ch);
}

/* ---- strict mode ---- */

static void *touch_from_other_thread(void *arg)
{
	struct sockaddr_in sin;

	cmt_addr(&sin, "127.0.0.1", 7471);
	rdma_resolve_addr(arg, NULL, (struct sockaddr *)&sin, 100);
	return NULL;
}

Test(cm_strict, cm_id_used_by_a_second_thread_aborts, .signal = SIGABRT,
     .timeout = 30)
{
	struct rdma_event_channel *ch;
	struct rdma_cm_id *id;
	pthread_t t;

	setenv("SOFTVERBS_STRICT", "1", 1);
	setenv("SOFTVERBS_LOG", "0", 1);
	ch = rdma_create_event_channel();
	cr_assert_eq(rdma_create_id(ch, &id, NULL, RDMA_PS_TCP), 0);
	cr_assert_eq(pthread_create(&t, NULL, touch_from_other_thread, id), 0);
	pthread_join(t, NULL);
	cr_assert_fail("strict mode did not abort");
}

Test(cm_strict, one_thread_is_fine_in_strict_mode, .timeout = 30)
{
	struct rdma_event_channel *ch;
	struct rdma_cm_id *id;

	setenv("SOFTVERBS_STRICT", "1", 1);
	ch = rdma_create_event_channel();
	cr_assert_eq(rdma_create_id(ch, &id, NULL, RDMA_PS_TCP), 0);
	touch_from_other_thread(id);
	cmt_expect_ack(ch, RDMA_CM_EVENT_ADDR_RESOLVED);
	cr_assert_eq(rdma_destroy_id(id), 0);
	rdma_destroy_event_channel(ch);
}
