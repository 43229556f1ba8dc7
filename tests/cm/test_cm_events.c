// SPDX-License-Identifier: BSD-3-Clause
/* rdma_cm tests: every event of one process's connections, driven from one thread. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <criterion/criterion.h>

#include "cm_util.h"

struct conn {
	struct rdma_event_channel *sch, *cch;
	struct rdma_cm_id *listen, *server, *client;
	uint16_t port;
};

static void conn_open(struct conn *c)
{
	memset(c, 0, sizeof(*c));
	c->sch = rdma_create_event_channel();
	c->cch = rdma_create_event_channel();
	cr_assert(c->sch && c->cch);
	c->port = cmt_listen(c->sch, &c->listen);
	c->client = cmt_client(c->cch, c->port);
}

/* CONNECT_REQUEST on the server; returns the event (unacked). */
static struct rdma_cm_event *conn_request(struct conn *c)
{
	struct rdma_cm_event *ev = cmt_expect(c->sch,
					      RDMA_CM_EVENT_CONNECT_REQUEST);

	cr_assert_eq(ev->listen_id, c->listen);
	cr_assert_neq(ev->id, c->listen, "a new child id");
	cr_assert_not_null(ev->id->verbs, "child has its device");
	c->server = ev->id;
	return ev;
}

static void conn_close(struct conn *c)
{
	if (c->server)
		cr_assert_eq(rdma_destroy_id(c->server), 0);
	if (c->client)
		cr_assert_eq(rdma_destroy_id(c->client), 0);
	cr_assert_eq(rdma_destroy_id(c->listen), 0);
	rdma_destroy_event_channel(c->sch);
	rdma_destroy_event_channel(c->cch);
}

Test(cm_channel, nonblocking_get_returns_eagain_then_event)
{
	struct rdma_event_channel *ch = rdma_create_event_channel();
	struct rdma_cm_event *ev;
	struct rdma_cm_id *id;
	struct sockaddr_in sin;
	int fl;

	cr_assert_not_null(ch);
	fl = fcntl(ch->fd, F_GETFL);
	cr_assert_eq(fcntl(ch->fd, F_SETFL, fl | O_NONBLOCK), 0);
	cr_assert_eq(rdma_get_cm_event(ch, &ev), -1);
	cr_assert_eq(errno, EAGAIN);
	cr_assert_not(cmt_readable(ch, 0));

	cr_assert_eq(rdma_create_id(ch, &id, (void *)0x1234, RDMA_PS_TCP), 0);
	cr_assert_null(id->verbs);
	cmt_addr(&sin, "127.0.0.1", 7471);
	cr_assert_eq(rdma_resolve_addr(id, NULL, (struct sockaddr *)&sin, 100),
		     0);
	cr_assert(cmt_readable(ch, 0), "the fd is readable once queued");
	cr_assert_eq(rdma_get_cm_event(ch, &ev), 0);
	cr_assert_eq(ev->event, RDMA_CM_EVENT_ADDR_RESOLVED);
	cr_assert_eq(ev->id, id);
	cr_assert_eq(ev->id->context, (void *)0x1234);
	cr_assert_eq(ev->status, 0);
	cr_assert_not_null(id->verbs);
	cr_assert_not_null(id->pd, "librdmacm's default PD");
	cr_assert_eq(rdma_ack_cm_event(ev), 0);
	cr_assert_eq(rdma_get_cm_event(ch, &ev), -1);
	cr_assert_eq(errno, EAGAIN);
	cr_assert_eq(rdma_destroy_id(id), 0);
	rdma_destroy_event_channel(ch);
}

Test(cm_channel, event_str_names_every_event)
{
	cr_assert_str_eq(rdma_event_str(RDMA_CM_EVENT_ESTABLISHED),
			 "RDMA_CM_EVENT_ESTABLISHED");
	cr_assert_str_eq(rdma_event_str(RDMA_CM_EVENT_UNREACHABLE),
			 "RDMA_CM_EVENT_UNREACHABLE");
	cr_assert_str_eq(rdma_event_str((enum rdma_cm_event_type)999),
			 "UNKNOWN EVENT");
}

Test(cm_addr, address_error_for_a_foreign_address)
{
	struct rdma_event_channel *ch = rdma_create_event_channel();
	struct rdma_cm_id *id;
	struct sockaddr_in sin;

	cr_assert_eq(rdma_create_id(ch, &id, NULL, RDMA_PS_TCP), 0);
	cmt_addr(&sin, "192.0.2.1", 7471); /* TEST-NET-1: never local */
	cr_assert_eq(rdma_resolve_addr(id, NULL, (struct sockaddr *)&sin, 100),
		     0);
	cr_assert_lt(cmt_expect_ack(ch, RDMA_CM_EVENT_ADDR_ERROR), 0);
	cr_assert_null(id->verbs);
	cr_assert_eq(rdma_resolve_route(id, 100), -1, "no route without addr");
	cr_assert_eq(errno, EINVAL);
	cr_assert_eq(rdma_destroy_id(id), 0);
	rdma_destroy_event_channel(ch);
}

/* A new id on @ch cannot bind to @ip:@port: -1 with errno @err. */
static void expect_bind_fails(struct rdma_event_channel *ch, const char *ip,
			      uint16_t port, int err)
{
	struct rdma_cm_id *id;
	struct sockaddr_in sin;

	cr_assert_eq(rdma_create_id(ch, &id, NULL, RDMA_PS_TCP), 0);
	cmt_addr(&sin, ip, port);
	cr_assert_eq(rdma_bind_addr(id, (struct sockaddr *)&sin), -1);
	cr_assert_eq(errno, err, "errno %d (%s), want %d", errno,
		     strerror(errno), err);
	cr_assert_eq(rdma_destroy_id(id), 0);
}

Test(cm_addr, bind_to_a_foreign_address_fails)
{
	struct rdma_event_channel *ch = rdma_create_event_channel();

	expect_bind_fails(ch, "192.0.2.1", 0, EADDRNOTAVAIL);
	rdma_destroy_event_channel(ch);
}

Test(cm_addr, listen_on_a_specific_address_sets_verbs)
{
	struct rdma_event_channel *ch = rdma_create_event_channel();
	struct rdma_cm_id *specific, *any;
	struct sockaddr_in sin;

	cmt_listen(ch, &specific);
	cr_assert_not_null(specific->verbs);
	cr_assert_eq(rdma_create_id(ch, &any, NULL, RDMA_PS_TCP), 0);
	cmt_addr(&sin, "0.0.0.0", 0);
	cr_assert_eq(rdma_bind_addr(any, (struct sockaddr *)&sin), 0);
	cr_assert_eq(rdma_listen(any, 1), 0);
	cr_assert_null(any->verbs, "a wildcard listener has no device");
	cr_assert_eq(rdma_destroy_id(any), 0);
	cr_assert_eq(rdma_destroy_id(specific), 0);
	rdma_destroy_event_channel(ch);
}

Test(cm_addr, same_port_twice_is_in_use)
{
	struct rdma_event_channel *ch = rdma_create_event_channel();
	struct rdma_cm_id *a;
	uint16_t port = cmt_listen(ch, &a);

	expect_bind_fails(ch, "127.0.0.1", port, EADDRINUSE);
	cr_assert_eq(rdma_destroy_id(a), 0);
	rdma_destroy_event_channel(ch);
}

Test(cm_addr, tcp_and_rdma_share_a_port_number)
{
	struct rdma_event_channel *ch = rdma_create_event_channel();
	struct sockaddr_in sin;
	struct rdma_cm_id *id;
	socklen_t len = sizeof(sin);
	int one = 1, tcp = socket(AF_INET, SOCK_STREAM, 0);
	uint16_t port;

	cr_assert_geq(tcp, 0);
	setsockopt(tcp, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	cmt_addr(&sin, "127.0.0.1", 0);
	cr_assert_eq(bind(tcp, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cr_assert_eq(listen(tcp, 1), 0);
	cr_assert_eq(getsockname(tcp, (struct sockaddr *)&sin, &len), 0);
	port = ntohs(sin.sin_port);

	/* rdma_cm listens on the TCP port's number, on both addresses. */
	cr_assert_eq(rdma_create_id(ch, &id, NULL, RDMA_PS_TCP), 0);
	cmt_addr(&sin, "0.0.0.0", port);
	cr_assert_eq(rdma_bind_addr(id, (struct sockaddr *)&sin), 0,
		     "rdma_bind_addr: %s", strerror(errno));
	cr_assert_eq(rdma_listen(id, 1), 0);
	cr_assert_eq(ntohs(rdma_get_src_port(id)), port);

	/* and the TCP port still refuses a second TCP bind. */
	close(tcp);
	cr_assert_eq(rdma_destroy_id(id), 0);
	rdma_destroy_event_channel(ch);
}

Test(cm_connect, unreachable_when_nobody_listens)
{
	struct rdma_event_channel *ch = rdma_create_event_channel();
	struct rdma_conn_param p = { .retry_count = 7 };
	struct rdma_cm_id *l, *id;
	uint16_t port;

	/* A port that was free a moment ago. */
	port = cmt_listen(ch, &l);
	cr_assert_eq(rdma_destroy_id(l), 0);
	id = cmt_client(ch, port);
	cr_assert_eq(rdma_connect(id, &p), 0);
	cr_assert_lt(cmt_expect_ack(ch, RDMA_CM_EVENT_UNREACHABLE), 0);
	cr_assert_eq(rdma_destroy_id(id), 0);
	rdma_destroy_event_channel(ch);
}

Test(cm_connect, private_data_both_ways_without_qp)
{
	static const char req[] = "hello from the client";
	static const char rep[] = "welcome, client";
	struct rdma_conn_param p = { 0 };
	struct rdma_cm_event *ev;
	struct conn c;

	conn_open(&c);
	p.private_data = req;
	p.private_data_len = sizeof(req);
	p.qp_num = 0x123456;
	p.responder_resources = 2;
	p.initiator_depth = 3;
	p.retry_count = 5;
	p.rnr_retry_count = 6;
	cr_assert_eq(rdma_connect(c.client, &p), 0);

	ev = conn_request(&c);
	cr_assert_geq(ev->param.conn.private_data_len, sizeof(req));
	cr_assert_eq(memcmp(ev->param.conn.private_data, req, sizeof(req)), 0);
	cr_assert_eq(ev->param.conn.qp_num, 0x123456);
	/* The receiver's view: the peer's depth is its resources. */
	cr_assert_eq(ev->param.conn.responder_resources, 3);
	cr_assert_eq(ev->param.conn.initiator_depth, 2);
	cr_assert_eq(ev->param.conn.retry_count, 5);
	cr_assert_eq(ev->param.conn.rnr_retry_count, 6);
	rdma_ack_cm_event(ev);

	memset(&p, 0, sizeof(p));
	p.private_data = rep;
	p.private_data_len = sizeof(rep);
	p.qp_num = 0xabcdef;
	p.responder_resources = 1;
	p.initiator_depth = 1;
	cr_assert_eq(rdma_accept(c.server, &p), 0, "accept: %s",
		     strerror(errno));

	/* No QP on the client id: CONNECT_RESPONSE, then rdma_establish. */
	ev = cmt_expect(c.cch, RDMA_CM_EVENT_CONNECT_RESPONSE);
	cr_assert_geq(ev->param.conn.private_data_len, sizeof(rep));
	cr_assert_eq(memcmp(ev->param.conn.private_data, rep, sizeof(rep)), 0);
	cr_assert_eq(ev->param.conn.qp_num, 0xabcdef);
	rdma_ack_cm_event(ev);
	cr_assert_not(cmt_readable(c.sch, 50), "no ESTABLISHED before RTU");
	cr_assert_eq(rdma_establish(c.client), 0);
	cr_assert_eq(cmt_expect_ack(c.sch, RDMA_CM_EVENT_ESTABLISHED), 0);
	conn_close(&c);
}

Test(cm_connect, addresses_and_ports_on_both_sides)
{
	struct rdma_conn_param p = { .qp_num = 1 };
	struct sockaddr_in *cl, *cp, *sl, *sp;
	struct conn c;

	conn_open(&c);
	cr_assert_eq(rdma_connect(c.client, &p), 0);
	rdma_ack_cm_event(conn_request(&c));
	cl = (struct sockaddr_in *)rdma_get_local_addr(c.client);
	cp = (struct sockaddr_in *)rdma_get_peer_addr(c.client);
	sl = (struct sockaddr_in *)rdma_get_local_addr(c.server);
	sp = (struct sockaddr_in *)rdma_get_peer_addr(c.server);
	cr_assert_eq(cl->sin_family, AF_INET);
	cr_assert_eq(ntohs(cp->sin_port), c.port);
	cr_assert_eq(ntohs(sl->sin_port), c.port);
	cr_assert_neq(cl->sin_port, 0, "the client got an ephemeral port");
	cr_assert_eq(sp->sin_port, cl->sin_port);
	cr_assert_eq(sp->sin_addr.s_addr, cl->sin_addr.s_addr);
	cr_assert_eq(rdma_get_src_port(c.client), rdma_get_dst_port(c.server));
	cr_assert_eq(rdma_reject(c.server, NULL, 0), 0);
	cmt_expect_ack(c.cch, RDMA_CM_EVENT_REJECTED);
	conn_close(&c);
}

Test(cm_connect, reject_with_private_data)
{
	static const char why[] = "go away";
	struct rdma_conn_param p = { .qp_num = 7 };
	struct rdma_cm_event *ev;
	struct conn c;

	conn_open(&c);
	cr_assert_eq(rdma_connect(c.client, &p), 0);
	rdma_ack_cm_event(conn_request(&c));
	cr_assert_eq(rdma_reject(c.server, why, sizeof(why)), 0);
	ev = cmt_expect(c.cch, RDMA_CM_EVENT_REJECTED);
	cr_assert_eq(ev->status, 28, "IB_CM_REJ_CONSUMER_DEFINED");
	cr_assert_geq(ev->param.conn.private_data_len, sizeof(why));
	cr_assert_eq(memcmp(ev->param.conn.private_data, why, sizeof(why)), 0);
	rdma_ack_cm_event(ev);
	cr_assert_eq(rdma_accept(c.server, &p), -1, "no accept after reject");
	conn_close(&c);
}

Test(cm_connect, private_data_over_the_limit_is_refused)
{
	char big[200] = { 0 };
	struct rdma_conn_param p = { .private_data = big, .qp_num = 1 };
	struct conn c;

	conn_open(&c);
	p.private_data_len = 57;
	cr_assert_eq(rdma_connect(c.client, &p), -1);
	cr_assert_eq(errno, EINVAL);
	p.private_data_len = 56;
	cr_assert_eq(rdma_connect(c.client, &p), 0);
	rdma_ack_cm_event(conn_request(&c));
	p.private_data_len = 197;
	cr_assert_eq(rdma_accept(c.server, &p), -1);
	cr_assert_eq(errno, EINVAL);
	cr_assert_eq(rdma_reject(c.server, big, 149), -1);
	cr_assert_eq(rdma_reject(c.server, big, 148), 0);
	cmt_expect_ack(c.cch, RDMA_CM_EVENT_REJECTED);
	conn_close(&c);
}

Test(cm_connect, destroying_the_listener_rejects_pending_requests)
{
	struct rdma_conn_param p = { .qp_num = 9 };
	struct conn c;

	conn_open(&c);
	cr_assert_eq(rdma_connect(c.client, &p), 0);
	cr_assert(cmt_readable(c.sch, CM_TEST_TIMEOUT_MS));
	cr_assert_eq(rdma_destroy_id(c.listen), 0);
	cr_assert_eq(cmt_expect_ack(c.cch, RDMA_CM_EVENT_REJECTED), 28);
	cr_assert_eq(rdma_destroy_id(c.client), 0);
	rdma_destroy_event_channel(c.sch);
	rdma_destroy_event_channel(c.cch);
}

/* Connected pair with QPs; data moves both ways. */
struct qconn {
	struct conn c;
	struct ibv_cq *scq, *ccq;
};

static void qconn_open(struct qconn *q)
{
	struct rdma_conn_param p = { .responder_resources = 1,
				     .initiator_depth = 1,
				     .retry_count = 7,
				     .rnr_retry_count = 7 };
	struct rdma_cm_event *ev;

	conn_open(&q->c);
	q->ccq = cmt_qp(q->c.client, 16);
	cr_assert_eq(rdma_connect(q->c.client, &p), 0);
	ev = conn_request(&q->c);
	cr_assert_eq(ev->param.conn.qp_num, q->c.client->qp->qp_num);
	rdma_ack_cm_event(ev);
	q->scq = cmt_qp(q->c.server, 16);
	cr_assert_eq(rdma_accept(q->c.server, &p), 0, "accept: %s",
		     strerror(errno));
	/* With a QP, CONNECT_RESPONSE becomes ESTABLISHED (QP in RTS). */
	cr_assert_eq(cmt_expect_ack(q->c.cch, RDMA_CM_EVENT_ESTABLISHED), 0);
	cr_assert_eq(cmt_expect_ack(q->c.sch, RDMA_CM_EVENT_ESTABLISHED), 0);
}

static void qconn_close(struct qconn *q)
{
	cmt_qp_free(q->c.client, q->ccq);
	cmt_qp_free(q->c.server, q->scq);
	conn_close(&q->c);
}

static void send_recv(struct rdma_cm_id *from, struct ibv_cq *fcq,
		      struct rdma_cm_id *to, struct ibv_cq *tcq, uint32_t seed)
{
	uint32_t out[64], in[64] = { 0 };
	struct ibv_mr *omr, *imr;
	struct ibv_wc wc;
	int i;

	for (i = 0; i < 64; i++)
		out[i] = seed * 2654435761u + (uint32_t)i;
	omr = rdma_reg_msgs(from, out, sizeof(out));
	imr = rdma_reg_msgs(to, in, sizeof(in));
	cr_assert(omr && imr);
	cr_assert_eq(rdma_post_recv(to, NULL, in, sizeof(in), imr), 0);
	cr_assert_eq(rdma_post_send(from, NULL, out, sizeof(out), omr,
				    IBV_SEND_SIGNALED),
		     0);
	cr_assert_eq(cmt_poll_one(fcq, &wc), IBV_WC_SUCCESS);
	cr_assert_eq(wc.opcode, IBV_WC_SEND);
	cr_assert_eq(cmt_poll_one(tcq, &wc), IBV_WC_SUCCESS);
	cr_assert_eq(wc.opcode, IBV_WC_RECV);
	cr_assert_eq(wc.byte_len, sizeof(in));
	cr_assert_eq(memcmp(in, out, sizeof(in)), 0);
	rdma_dereg_mr(omr);
	rdma_dereg_mr(imr);
}

Test(cm_connect, established_qps_move_data_both_ways)
{
	struct ibv_qp_attr a;
	struct ibv_qp_init_attr ia;
	struct qconn q;

	qconn_open(&q);
	cr_assert_eq(ibv_query_qp(q.c.client->qp, &a, IBV_QP_STATE, &ia), 0);
	cr_assert_eq(a.qp_state, IBV_QPS_RTS);
	cr_assert_eq(ibv_query_qp(q.c.server->qp, &a, IBV_QP_STATE, &ia), 0);
	cr_assert_eq(a.qp_state, IBV_QPS_RTS);
	send_recv(q.c.client, q.ccq, q.c.server, q.scq, 1);
	send_recv(q.c.server, q.scq, q.c.client, q.ccq, 2);
	qconn_close(&q);
}

Test(cm_disconnect, client_disconnects_both_get_disconnected)
{
	struct ibv_qp_attr a;
	struct ibv_qp_init_attr ia;
	struct qconn q;

	qconn_open(&q);
	cr_assert_eq(rdma_disconnect(q.c.client), 0);
	cr_assert_eq(cmt_expect_ack(q.c.cch, RDMA_CM_EVENT_DISCONNECTED), 0);
	cr_assert_eq(cmt_expect_ack(q.c.sch, RDMA_CM_EVENT_DISCONNECTED), 0);
	cr_assert_eq(ibv_query_qp(q.c.client->qp, &a, IBV_QP_STATE, &ia), 0);
	cr_assert_eq(a.qp_state, IBV_QPS_ERR, "rdma_disconnect moves to ERR");
	/* The other side's disconnect gives no second event. */
	cr_assert_eq(rdma_disconnect(q.c.server), 0);
	cr_assert_not(cmt_readable(q.c.sch, 50));
	cr_assert_not(cmt_readable(q.c.cch, 0));
	qconn_close(&q);
}

Test(cm_disconnect, server_disconnects_both_get_disconnected)
{
	struct qconn q;

	qconn_open(&q);
	cr_assert_eq(rdma_disconnect(q.c.server), 0);
	cr_assert_eq(cmt_expect_ack(q.c.sch, RDMA_CM_EVENT_DISCONNECTED), 0);
	cr_assert_eq(cmt_expect_ack(q.c.cch, RDMA_CM_EVENT_DISCONNECTED), 0);
	qconn_close(&q);
}

Test(cm_disconnect, peer_destroy_gives_disconnected)
{
	struct qconn q;

	qconn_open(&q);
	cmt_qp_free(q.c.server, q.scq);
	cr_assert_eq(rdma_destroy_id(q.c.server), 0);
	q.c.server = NULL;
	cr_assert_eq(cmt_expect_ack(q.c.cch, RDMA_CM_EVENT_DISCONNECTED), 0);
	cmt_qp_free(q.c.client, q.ccq);
	conn_close(&q.c);
}

Test(cm_disconnect, disconnect_before_connect_is_einval)
{
	struct rdma_event_channel *ch = rdma_create_event_channel();
	struct rdma_cm_id *id;

	cr_assert_eq(rdma_create_id(ch, &id, NULL, RDMA_PS_TCP), 0);
	cr_assert_eq(rdma_disconnect(id), -1);
	cr_assert_eq(errno, EINVAL);
	cr_assert_eq(rdma_destroy_id(id), 0);
	rdma_destroy_event_channel(ch);
}

Test(cm_qp, init_qp_attr_follows_the_connection)
{
	struct rdma_conn_param p = { .qp_num = 0x42,
				     .responder_resources = 1,
				     .initiator_depth = 1,
				     .retry_count = 6,
				     .rnr_retry_count = 5 };
	struct ibv_qp_attr a;
	int mask;
	struct conn c;

	conn_open(&c);
	a.qp_state = IBV_QPS_RTR;
	cr_assert_eq(rdma_init_qp_attr(c.client, &a, &mask), -1,
		     "no RTR before the peer is known");
	a.qp_state = IBV_QPS_INIT;
	cr_assert_eq(rdma_init_qp_attr(c.client, &a, &mask), 0);
	cr_assert(mask & IBV_QP_ACCESS_FLAGS);
	cr_assert_eq(a.port_num, 1);
	cr_assert_eq(rdma_connect(c.client, &p), 0);
	rdma_ack_cm_event(conn_request(&c));
	a.qp_state = IBV_QPS_RTR;
	cr_assert_eq(rdma_init_qp_attr(c.server, &a, &mask), 0);
	cr_assert_eq(a.dest_qp_num, 0x42);
	cr_assert(a.ah_attr.is_global);
	cr_assert(mask & IBV_QP_DEST_QPN);
	a.qp_state = IBV_QPS_RTS;
	cr_assert_eq(rdma_init_qp_attr(c.server, &a, &mask), 0);
	cr_assert_eq(a.retry_cnt, 6);
	cr_assert_eq(a.rnr_retry, 5);
	cr_assert_eq(rdma_reject(c.server, NULL, 0), 0);
	cmt_expect_ack(c.cch, RDMA_CM_EVENT_REJECTED);
	conn_close(&c);
}

Test(cm_misc, getaddrinfo_passive_and_active)
{
	struct rdma_addrinfo hints = { 0 }, *res;
	struct sockaddr_in *sin;

	hints.ai_flags = RAI_PASSIVE;
	hints.ai_port_space = RDMA_PS_TCP;
	cr_assert_eq(rdma_getaddrinfo("127.0.0.1", "7471", &hints, &res), 0);
	cr_assert_not_null(res->ai_src_addr);
	cr_assert_null(res->ai_dst_addr);
	sin = (struct sockaddr_in *)res->ai_src_addr;
	cr_assert_eq(ntohs(sin->sin_port), 7471);
	cr_assert_eq(res->ai_qp_type, IBV_QPT_RC);
	rdma_freeaddrinfo(res);

	hints.ai_flags = 0;
	cr_assert_eq(rdma_getaddrinfo("localhost", "7472", &hints, &res), 0);
	cr_assert_not_null(res->ai_dst_addr);
	cr_assert_eq(res->ai_port_space, RDMA_PS_TCP);
	rdma_freeaddrinfo(res);
}

Test(cm_misc, devices_and_options)
{
	struct ibv_context **list;
	struct rdma_event_channel *ch = rdma_create_event_channel();
	struct rdma_cm_id *id;
	int n = 0, one = 1;
	uint8_t tos = 0;

	list = rdma_get_devices(&n);
	cr_assert_not_null(list);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(ibv_get_device_name(list[0]->device), "softverbs0");
	cr_assert_null(list[1]);
	rdma_free_devices(list);
	cr_assert_eq(rdma_create_id(ch, &id, NULL, RDMA_PS_TCP), 0);
	cr_assert_eq(rdma_set_option(id, RDMA_OPTION_ID, RDMA_OPTION_ID_TOS,
				     &tos, sizeof(tos)),
		     0);
	cr_assert_eq(rdma_set_option(id, RDMA_OPTION_ID,
				     RDMA_OPTION_ID_REUSEADDR, &one,
				     sizeof(one)),
		     0);
	cr_assert_eq(rdma_join_multicast(id, NULL, NULL), -1);
	cr_assert_eq(errno, ENOSYS);
	cr_assert_eq(rdma_destroy_id(id), 0);
	rdma_destroy_event_channel(ch);
}

Test(cm_misc, migrate_id_moves_events)
{
	struct rdma_event_channel *a = rdma_create_event_channel();
	struct rdma_event_channel *b = rdma_create_event_channel();
	struct rdma_cm_id *id;
	struct sockaddr_in sin;

	cr_assert_eq(rdma_create_id(a, &id, NULL, RDMA_PS_TCP), 0);
	cmt_addr(&sin, "127.0.0.1", 7471);
	cr_assert_eq(rdma_resolve_addr(id, NULL, (struct sockaddr *)&sin, 100),
		     0);
	cr_assert_eq(rdma_migrate_id(id, b), 0);
	cr_assert_eq(id->channel, b);
	cr_assert_eq(cmt_expect_ack(b, RDMA_CM_EVENT_ADDR_RESOLVED), 0);
	cr_assert_not(cmt_readable(a, 0), "no event left behind");
	cr_assert_eq(rdma_destroy_id(id), 0);
	rdma_destroy_event_channel(a);
	rdma_destroy_event_channel(b);
}

Test(cm_sync, create_ep_to_a_foreign_host_fails_with_the_event_status)
{
	struct rdma_addrinfo hints = { .ai_port_space = RDMA_PS_TCP }, *res;
	struct rdma_cm_id *id = NULL;

	cr_assert_eq(rdma_getaddrinfo("192.0.2.1", "7471", &hints, &res), 0);
	cr_assert_eq(rdma_create_ep(&id, res, NULL, NULL), -1);
	cr_assert_eq(errno, EHOSTUNREACH, "ADDR_ERROR's status: %s",
		     strerror(errno));
	cr_assert_null(id);
	rdma_freeaddrinfo(res);
}

Test(cm_sync, connect_without_listener_is_econnrefused)
{
	struct rdma_addrinfo hints = { .ai_port_space = RDMA_PS_TCP }, *res;
	struct rdma_conn_param p = { .qp_num = 3 };
	struct rdma_event_channel *ch = rdma_create_event_channel();
	struct rdma_cm_id *id, *l;
	char service[8];

	/* A port that was free a moment ago. */
	snprintf(service, sizeof(service), "%u", cmt_listen(ch, &l));
	cr_assert_eq(rdma_destroy_id(l), 0);
	cr_assert_eq(rdma_getaddrinfo("127.0.0.1", service, &hints, &res), 0);
	cr_assert_eq(rdma_create_ep(&id, res, NULL, NULL), 0);
	cr_assert_not_null(id->verbs);
	cr_assert_eq(id->event->event, RDMA_CM_EVENT_ROUTE_RESOLVED);
	cr_assert_eq(rdma_connect(id, &p), -1);
	cr_assert_eq(errno, ECONNREFUSED);
	cr_assert_eq(id->event->event, RDMA_CM_EVENT_UNREACHABLE);
	rdma_destroy_ep(id);
	rdma_freeaddrinfo(res);
	rdma_destroy_event_channel(ch);
}

Test(cm_sync, get_request_needs_a_synchronous_listener)
{
	struct rdma_event_channel *ch = rdma_create_event_channel();
	struct rdma_cm_id *l, *id;

	cmt_listen(ch, &l);
	cr_assert_eq(rdma_get_request(l, &id), -1);
	cr_assert_eq(errno, EINVAL);
	cr_assert_eq(rdma_destroy_id(l), 0);
	rdma_destroy_event_channel(ch);
}
