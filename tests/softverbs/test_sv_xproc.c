// SPDX-License-Identifier: BSD-3-Clause
/* softverbs conformance: cross-process peers (shared-memory rings, or the socket with SOFTVERBS_TRANSPORT=socket), peer loss and fork. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "svt.h"

/*
 * The peer runs in a forked child (forked before softverbs is initialised in
 * the parent) and obeys commands from a pipe; every command is answered, so
 * the two processes synchronise through the pipes only.
 */
struct cmd {
	char op; /* R recv, P poll recv, S sum, F fill, D destroy QP, K block,
		  * M count MR memfd mappings, Q quit */
	uint32_t off, len;
	uint64_t wr_id;
};

struct reply {
	int status, opcode;
	uint32_t byte_len, imm, flags, sum;
	uint64_t wr_id;
};

static struct svt_side a;
static int to_child = -1, from_child = -1, child = -1;
static struct svt_info peer;
static uint8_t my_rnr_retry = 7;
static const char *my_delay_us; /* SOFTVERBS_DELAY_US of this process only */
static bool my_armed; /* CQs on a channel, send CQ armed before connecting */
static bool peer_nobody; /* the child runs as nobody (we are root) */

/* Mappings of this process's memfds called @name (/proc/self/maps). */
static uint32_t memfd_mappings(const char *name)
{
	char line[512];
	uint32_t n = 0;
	FILE *f = fopen("/proc/self/maps", "r");

	if (!f)
		return ~0u;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, name) != NULL;
	fclose(f);
	return n;
}

/* Mappings of softverbs MR memfds in this process (its own and its peer's). */
static uint32_t mr_mappings(void)
{
	return memfd_mappings("/memfd:softverbs-mr");
}

/* Mappings of the rings of this process's shared-memory connections. */
static uint32_t ring_mappings(void)
{
	return memfd_mappings("/memfd:softverbs-ring");
}

static void child_loop(int in, int out)
{
	struct svt_side b;
	struct svt_opts o;
	struct svt_info me, them;
	struct cmd c;
	struct reply r;
	struct ibv_wc wc;
	size_t i;

	/* setuid() clears the parent-death signal: set it again */
	if (peer_nobody && (setgroups(0, NULL) || setgid(65534) ||
			    setuid(65534) ||
			    prctl(PR_SET_PDEATHSIG, SIGKILL)))
		_exit(4);
	svt_opts_init(&o);
	o.buflen = 2 << 20;
	svt_open(&b, &o);
	svt_info(&b, &me);
	svt_write_all(out, &me, sizeof(me));
	svt_read_all(in, &them, sizeof(them));
	svt_connect(&b, them.qpn, 7);
	for (;;) {
		svt_read_all(in, &c, sizeof(c));
		memset(&r, 0, sizeof(r));
		switch (c.op) {
		case 'R':
			r.status = svt_post_recv(&b, c.off, c.len, c.wr_id);
			break;
		case 'P':
			if (svt_poll(b.rcq, &wc, 1, 10000) != 1) {
				r.status = -1;
				break;
			}
			r.status = wc.status;
			r.opcode = wc.opcode;
			r.byte_len = wc.byte_len;
			r.imm = wc.imm_data;
			r.flags = wc.wc_flags;
			r.wr_id = wc.wr_id;
			r.sum = svt_sum(b.buf + c.off, c.len);
			break;
		case 'S':
			r.sum = svt_sum(b.buf + c.off, c.len);
			break;
		case 'F':
			for (i = 0; i < c.len; i++)
				b.buf[c.off + i] = (uint8_t)(i * 7 + c.wr_id);
			r.sum = svt_sum(b.buf + c.off, c.len);
			break;
		case 'M':
			r.sum = mr_mappings();
			break;
		case 'D':
			r.status = ibv_destroy_qp(b.qp);
			b.qp = NULL;
			break;
		case 'K':
			svt_write_all(out, &r, sizeof(r));
			for (;;)
				pause();
		case 'Q':
			svt_close(&b);
			svt_write_all(out, &r, sizeof(r));
			_exit(0);
		}
		svt_write_all(out, &r, sizeof(r));
	}
}

static void setup(void)
{
	struct svt_opts o;
	struct svt_info me;

	child = svt_fork_peer(child_loop, &to_child, &from_child);
	if (my_delay_us)
		cr_assert_eq(setenv("SOFTVERBS_DELAY_US", my_delay_us, 1), 0);
	svt_opts_init(&o);
	o.buflen = 2 << 20;
	o.channel = my_armed;
	svt_open(&a, &o);
	if (my_armed)
		cr_assert_eq(ibv_req_notify_cq(a.scq, 0), 0);
	svt_read_all(from_child, &peer, sizeof(peer));
	svt_connect(&a, peer.qpn, my_rnr_retry);
	svt_info(&a, &me);
	svt_write_all(to_child, &me, sizeof(me));
}

static struct reply ask(char op, uint32_t off, uint32_t len, uint64_t wr_id)
{
	struct cmd c = { .op = op, .off = off, .len = len, .wr_id = wr_id };
	struct reply r;

	svt_write_all(to_child, &c, sizeof(c));
	svt_read_all(from_child, &r, sizeof(r));
	return r;
}

static void teardown(void)
{
	if (child > 0) {
		kill(child, SIGKILL);
		svt_wait_child(child);
	}
	if (a.ctx)
		svt_close(&a);
}

static void fill(uint8_t *p, size_t n, unsigned int seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 13 + seed);
}

static void expect_send(enum ibv_wc_status st, enum ibv_wc_opcode op)
{
	struct ibv_wc wc;

	cr_assert_eq(svt_poll(a.scq, &wc, 1, 10000), 1, "no send completion");
	cr_assert_eq(wc.status, st, "status %s", ibv_wc_status_str(wc.status));
	if (st == IBV_WC_SUCCESS)
		cr_assert_eq(wc.opcode, op);
}

/* The peer's receive completion @r: successful, @op, @len bytes whose sum
 * is that of our first @len bytes, for receive @wr_id. */
static void expect_recv(const struct reply *r, enum ibv_wc_opcode op,
			uint32_t len, uint64_t wr_id)
{
	cr_assert_eq(r->status, IBV_WC_SUCCESS);
	cr_assert_eq(r->opcode, (int)op);
	cr_assert_eq(r->byte_len, len);
	cr_assert_eq(r->wr_id, wr_id);
	cr_assert_eq(r->sum, svt_sum(a.buf, len));
}

TestSuite(sv_xproc, .init = setup, .fini = teardown, .timeout = 60);

Test(sv_xproc, send_arrives_even_before_the_receive_is_posted)
{
	struct reply r;

	fill(a.buf, 65536, 1);
	cr_assert_eq(svt_post(&a, IBV_WR_SEND, 0, 65536, 0, 0, 0,
			      IBV_SEND_SIGNALED, 1), 0);
	r = ask('R', 4096, 65536, 7);
	cr_assert_eq(r.status, 0);
	r = ask('P', 4096, 65536, 0);
	expect_recv(&r, IBV_WC_RECV, 65536, 7);
	expect_send(IBV_WC_SUCCESS, IBV_WC_SEND);
}

Test(sv_xproc, rdma_write_of_one_megabyte)
{
	struct reply r;

	fill(a.buf, 1 << 20, 2);
	cr_assert_eq(svt_post(&a, IBV_WR_RDMA_WRITE, 0, 1 << 20,
			      peer.addr + 4096, peer.rkey, 0,
			      IBV_SEND_SIGNALED, 1), 0);
	expect_send(IBV_WC_SUCCESS, IBV_WC_RDMA_WRITE);
	r = ask('S', 4096, 1 << 20, 0);
	cr_assert_eq(r.sum, svt_sum(a.buf, 1 << 20));
}

Test(sv_xproc, write_with_imm_completes_on_the_peer)
{
	struct reply r;
	uint32_t imm = htonl(0xa1b2c3d4);

	cr_assert_eq(ask('R', 0, 0, 3).status, 0);
	fill(a.buf, 300000, 3);
	cr_assert_eq(svt_post(&a, IBV_WR_RDMA_WRITE_WITH_IMM, 0, 300000,
			      peer.addr, peer.rkey, imm, IBV_SEND_SIGNALED, 1),
		     0);
	r = ask('P', 0, 300000, 0);
	expect_recv(&r, IBV_WC_RECV_RDMA_WITH_IMM, 300000, 3);
	cr_assert(r.flags & IBV_WC_WITH_IMM);
	cr_assert_eq(r.imm, imm);
	expect_send(IBV_WC_SUCCESS, IBV_WC_RDMA_WRITE);
}

Test(sv_xproc, rdma_read_is_served_by_the_peer_nic_thread)
{
	struct reply r = ask('F', 1000, 500000, 9);

	cr_assert_eq(svt_post(&a, IBV_WR_RDMA_READ, 0, 500000,
			      peer.addr + 1000, peer.rkey, 0,
			      IBV_SEND_SIGNALED, 1), 0);
	expect_send(IBV_WC_SUCCESS, IBV_WC_RDMA_READ);
	cr_assert_eq(svt_sum(a.buf, 500000), r.sum);
}

Test(sv_xproc, mixed_stream_stays_in_order)
{
	int i, n = 120 / SVT_SCALE;
	struct reply r;

	for (i = 0; i < n; i++)
		cr_assert_eq(ask('R', (uint32_t)i * 16, 16, (uint64_t)i).status, 0);
	for (i = 0; i < n; i++) {
		memcpy(a.buf + (size_t)i * 16, &i, sizeof(i));
		cr_assert_eq(svt_post(&a, i % 2 ? IBV_WR_SEND :
						  IBV_WR_RDMA_WRITE_WITH_IMM,
				      (size_t)i * 16, 16,
				      peer.addr + 1000000 + (size_t)i * 16,
				      peer.rkey, htonl((uint32_t)i),
				      i % 16 == 15 ? IBV_SEND_SIGNALED : 0,
				      (uint64_t)i), 0);
		if (i % 16 == 15)
			expect_send(IBV_WC_SUCCESS,
				    i % 2 ? IBV_WC_SEND : IBV_WC_RDMA_WRITE);
	}
	for (i = 0; i < n; i++) {
		r = ask('P', 0, 0, 0);
		cr_assert_eq(r.status, IBV_WC_SUCCESS);
		cr_assert_eq(r.wr_id, (uint64_t)i, "out of order");
		cr_assert_eq(r.opcode, i % 2 ? IBV_WC_RECV :
					       IBV_WC_RECV_RDMA_WITH_IMM);
	}
}

Test(sv_xproc, bad_rkey_is_remote_access_error)
{
	cr_assert_eq(svt_post(&a, IBV_WR_RDMA_WRITE, 0, 100000, peer.addr,
			      peer.rkey + 1, 0, IBV_SEND_SIGNALED, 1), 0);
	expect_send(IBV_WC_REM_ACCESS_ERR, 0);
	cr_assert_eq(svt_state(a.qp), IBV_QPS_ERR);
	/* the stream stays usable for the peer: payload was consumed */
	cr_assert_eq(ask('S', 0, 16, 0).status, 0);
}

/*
 * The peer executes the write after the bad one (its QP is not in error)
 * and acknowledges it; the requester still sees the NAK first: success,
 * the error, then a flush, in send-queue order (on the rings the ack is a
 * counter that must not overtake the NAK in the ring).
 */
Test(sv_xproc, nak_in_a_stream_keeps_the_completion_order)
{
	static const enum ibv_wc_status want[3] = { IBV_WC_SUCCESS,
						    IBV_WC_REM_ACCESS_ERR,
						    IBV_WC_WR_FLUSH_ERR };
	struct ibv_wc wc[3];
	uint64_t i;

	for (i = 0; i < 3; i++)
		cr_assert_eq(svt_post(&a, IBV_WR_RDMA_WRITE, 64 * i, 64,
				      peer.addr + 64 * i,
				      i == 1 ? peer.rkey + 1 : peer.rkey, 0,
				      IBV_SEND_SIGNALED, i), 0);
	cr_assert_eq(svt_poll(a.scq, wc, 3, 10000), 3);
	for (i = 0; i < 3; i++) {
		cr_assert_eq(wc[i].wr_id, i);
		cr_assert_eq(wc[i].status, want[i], "wr %d: %s", (int)i,
			     ibv_wc_status_str(wc[i].status));
	}
	cr_assert_eq(svt_state(a.qp), IBV_QPS_ERR);
}

Test(sv_xproc, peer_destroy_fails_the_next_send_and_flushes)
{
	struct ibv_wc wc;

	cr_assert_eq(svt_post_recv(&a, 0, 64, 5), 0);
	cr_assert_eq(ask('D', 0, 0, 0).status, 0);
	cr_assert_eq(svt_post(&a, IBV_WR_SEND, 0, 8, 0, 0, 0, 0, 1), 0);
	expect_send(IBV_WC_RETRY_EXC_ERR, 0);
	cr_assert_eq(svt_poll(a.rcq, &wc, 1, 5000), 1);
	cr_assert_eq(wc.status, IBV_WC_WR_FLUSH_ERR);
	cr_assert_eq(wc.wr_id, 5);
}

Test(sv_xproc, peer_death_fails_the_next_send)
{
	cr_assert_eq(ask('K', 0, 0, 0).status, 0);
	kill(child, SIGKILL);
	cr_assert_eq(svt_wait_child(child), 128 + SIGKILL);
	child = -1;
	cr_assert_eq(svt_post(&a, IBV_WR_RDMA_WRITE, 0, 8, peer.addr,
			      peer.rkey, 0, IBV_SEND_SIGNALED, 1), 0);
	expect_send(IBV_WC_RETRY_EXC_ERR, 0);
}

Test(sv_xproc, forked_child_holding_sockets_disturbs_nobody)
{
	int gate[2], i, pid;
	struct reply r;
	char go;

	/* traffic first, so both connections exist */
	fill(a.buf, 4096, 4);
	cr_assert_eq(svt_post(&a, IBV_WR_RDMA_WRITE, 0, 4096, peer.addr,
			      peer.rkey, 0, IBV_SEND_SIGNALED, 1), 0);
	expect_send(IBV_WC_SUCCESS, IBV_WC_RDMA_WRITE);
	/* a BGSAVE-like child: inherits every fd, lives a while, exits */
	cr_assert_eq(pipe(gate), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (!pid) {
		close(gate[1]);
		if (read(gate[0], &go, 1) < 0)
			_exit(2);
		_exit(0);
	}
	close(gate[0]);
	for (i = 0; i < 10; i++) {
		cr_assert_eq(ask('R', 0, 4096, (uint64_t)i).status, 0);
		cr_assert_eq(svt_post(&a, IBV_WR_SEND, 0, 4096, 0, 0, 0,
				      IBV_SEND_SIGNALED, (uint64_t)i), 0);
		expect_send(IBV_WC_SUCCESS, IBV_WC_SEND);
		r = ask('P', 0, 4096, 0);
		cr_assert_eq(r.status, IBV_WC_SUCCESS);
		if (i == 4) {
			close(gate[1]); /* let the child exit mid-stream */
			cr_assert_eq(svt_wait_child(pid), 0);
		}
	}
	cr_assert_eq(svt_state(a.qp), IBV_QPS_RTS);
	cr_assert_eq(svt_post(&a, IBV_WR_RDMA_READ, 0, 4096, peer.addr,
			      peer.rkey, 0, IBV_SEND_SIGNALED, 1), 0);
	expect_send(IBV_WC_SUCCESS, IBV_WC_RDMA_READ);
	r = ask('Q', 0, 0, 0);
	cr_assert_eq(svt_wait_child(child), 0);
	child = -1;
}

/* The connection runs on the transport SOFTVERBS_TRANSPORT names. */
Test(sv_xproc, transport_is_the_one_asked_for)
{
	const char *t = getenv("SOFTVERBS_TRANSPORT");
	bool want_shm = !t || strcmp(t, "socket");
	bool rings;

	fill(a.buf, 4096, 5);
	cr_assert_eq(svt_post(&a, IBV_WR_RDMA_WRITE, 0, 4096, peer.addr,
			      peer.rkey, 0, IBV_SEND_SIGNALED, 1), 0);
	expect_send(IBV_WC_SUCCESS, IBV_WC_RDMA_WRITE);
	rings = ring_mappings() > 0;
	cr_assert_eq(rings, want_shm, "rings mapped: %d, transport %s", rings,
		     t ? t : "(default)");
}

/*
 * A peer killed while our sends wait for its receives (none posted, RNR
 * retry 7 waits forever): the QP goes to ERR by itself, the oldest send
 * with RETRY_EXC_ERR, every other send and receive flushed.
 */
Test(sv_xproc, sigkilled_peer_errors_the_qp_and_flushes_everything)
{
	struct ibv_wc wc;
	int i;

	for (i = 0; i < 2; i++)
		cr_assert_eq(svt_post_recv(&a, (size_t)i * 64, 64,
					   100 + (uint64_t)i), 0);
	for (i = 0; i < 3; i++)
		cr_assert_eq(svt_post(&a, IBV_WR_SEND, 0, 4096, 0, 0, 0,
				      IBV_SEND_SIGNALED, (uint64_t)i), 0);
	cr_assert_eq(ask('S', 0, 16, 0).status, 0); /* the child is alive */
	kill(child, SIGKILL);
	cr_assert_eq(svt_wait_child(child), 128 + SIGKILL);
	child = -1;
	for (i = 0; i < 3; i++) {
		cr_assert_eq(svt_poll(a.scq, &wc, 1, 10000), 1, "send %d", i);
		cr_assert_eq(wc.wr_id, (uint64_t)i);
		cr_assert_eq(wc.status, i ? IBV_WC_WR_FLUSH_ERR :
					    IBV_WC_RETRY_EXC_ERR,
			     "send %d: %s", i, ibv_wc_status_str(wc.status));
	}
	for (i = 0; i < 2; i++) {
		cr_assert_eq(svt_poll(a.rcq, &wc, 1, 10000), 1, "recv %d", i);
		cr_assert_eq(wc.wr_id, 100 + (uint64_t)i);
		cr_assert_eq(wc.status, IBV_WC_WR_FLUSH_ERR);
	}
	cr_assert_eq(svt_state(a.qp), IBV_QPS_ERR);
}

Test(sv_xproc, ibv_fork_init_succeeds)
{
	cr_assert_eq(ibv_fork_init(), 0);
}

static void setup_rnr1(void)
{
	my_rnr_retry = 1;
	setup();
}

TestSuite(sv_xproc_rnr, .init = setup_rnr1, .fini = teardown, .timeout = 60);

Test(sv_xproc_rnr, finite_rnr_retry_fails_without_a_receive)
{
	cr_assert_eq(svt_post(&a, IBV_WR_SEND, 0, 100000, 0, 0, 0,
			      IBV_SEND_SIGNALED, 1), 0);
	expect_send(IBV_WC_RNR_RETRY_EXC_ERR, 0);
	cr_assert_eq(svt_state(a.qp), IBV_QPS_ERR);
	/* the peer discarded the payload and is still in business */
	cr_assert_eq(ask('S', 0, 16, 0).status, 0);
}

Test(sv_xproc_rnr, receive_posted_in_time_succeeds)
{
	struct reply r;

	cr_assert_eq(ask('R', 0, 4096, 1).status, 0);
	cr_assert_eq(svt_post(&a, IBV_WR_SEND_WITH_IMM, 0, 4096, 0, 0, 5,
			      IBV_SEND_SIGNALED | IBV_SEND_SOLICITED, 1), 0);
	expect_send(IBV_WC_SUCCESS, IBV_WC_SEND);
	r = ask('P', 0, 4096, 0);
	cr_assert_eq(r.status, IBV_WC_SUCCESS);
	cr_assert_eq(r.imm, 5);
}

/*
 * A peer of another user: neither side offers the other its rings (the
 * accepting side would refuse them, and the QP would lose its peer), so
 * both connections use the socket and every operation works.
 */
static void setup_nobody(void)
{
	peer_nobody = geteuid() == 0;
	setup();
}

TestSuite(sv_xproc_nobody, .init = setup_nobody, .fini = teardown,
	  .timeout = 60);

Test(sv_xproc_nobody, peers_of_two_users_talk_over_the_socket)
{
	struct reply r;

	if (!peer_nobody)
		cr_skip_test("only root can run the peer as another user");
	fill(a.buf, 65536, 4);
	cr_assert_eq(ask('R', 0, 65536, 3).status, 0);
	cr_assert_eq(svt_post(&a, IBV_WR_SEND, 0, 65536, 0, 0, 0,
			      IBV_SEND_SIGNALED, 1), 0);
	expect_send(IBV_WC_SUCCESS, IBV_WC_SEND);
	r = ask('P', 0, 65536, 0);
	expect_recv(&r, IBV_WC_RECV, 65536, 3);
	cr_assert_eq(ask('F', 8192, 4096, 9).status, 0);
	cr_assert_eq(svt_post(&a, IBV_WR_RDMA_READ, 4096, 4096,
			      peer.addr + 8192, peer.rkey, 0,
			      IBV_SEND_SIGNALED, 2), 0);
	expect_send(IBV_WC_SUCCESS, IBV_WC_RDMA_READ);
	cr_assert_eq(svt_sum(a.buf + 4096, 4096), ask('S', 8192, 4096, 0).sum);
	cr_assert_eq(ring_mappings(), 0, "rings shared with another user");
}

/*
 * An application that sleeps on its completion channel is woken by the
 * acknowledgement of its send alone (on the rings an ack is a counter the
 * requester reads when it polls; armed, it asks the peer for the
 * doorbell), also when it armed the CQ before the connection existed and
 * when an unsignaled send's ack came first.
 */
static void setup_armed(void)
{
	my_armed = true;
	setup();
}

TestSuite(sv_xproc_armed, .init = setup_armed, .fini = teardown,
	  .timeout = 60);

Test(sv_xproc_armed, armed_send_cq_gets_its_event_from_the_ack_alone)
{
	struct ibv_wc wc[2];
	struct ibv_cq *cq;
	void *cq_ctx;
	uint64_t round;

	fill(a.buf, 4096, 3);
	for (round = 0; round < 3; round++) {
		if (round)
			cr_assert_eq(ibv_req_notify_cq(a.scq, 0), 0);
		cr_assert_eq(svt_post(&a, IBV_WR_RDMA_WRITE, 0, 2048,
				      peer.addr, peer.rkey, 0, 0, 10 + round),
			     0);
		cr_assert_eq(svt_post(&a, IBV_WR_RDMA_WRITE, 2048, 2048,
				      peer.addr + 2048, peer.rkey, 0,
				      IBV_SEND_SIGNALED, 20 + round),
			     0);
		cr_assert(svt_readable(a.ch->fd, 10000),
			  "round %d: no completion event", (int)round);
		cr_assert_eq(ibv_get_cq_event(a.ch, &cq, &cq_ctx), 0);
		cr_assert_eq(cq, a.scq);
		ibv_ack_cq_events(cq, 1);
		cr_assert_eq(ibv_poll_cq(a.scq, 2, wc), 1);
		cr_assert_eq(wc[0].status, IBV_WC_SUCCESS);
		cr_assert_eq(wc[0].wr_id, 20 + round);
	}
	cr_assert_eq(ask('S', 0, 4096, 0).sum, svt_sum(a.buf, 4096));
}

/* Times this process's NIC thread went to sleep (and was woken), from
 * /proc: the voluntary context switches of the thread named sv-nic. */
static long nic_sleeps(void)
{
	int tid = svt_thread_tid("sv-nic");
	char path[64];

	cr_assert_geq(tid, 0, "no sv-nic thread");
	snprintf(path, sizeof(path), "/proc/self/task/%d/status", tid);
	return svt_proc_field(path, "voluntary_ctxt_switches", 10);
}

/*
 * The ack of an unsignaled send makes no completion, so it does not wake
 * a requester that sleeps on its send CQ: 100 unsignaled writes, each
 * executed by the peer before the next, cost our NIC thread no wakeup per
 * ack (rings only); the signaled one after them still brings the event.
 */
Test(sv_xproc_armed, unsignaled_acks_ring_no_doorbell)
{
	const char *t = getenv("SOFTVERBS_TRANSPORT");
	struct ibv_wc wc;
	struct ibv_cq *cq;
	void *cq_ctx;
	long before, woken;
	unsigned int i;

	fill(a.buf, 4096, 9);
	/* the connection's own start-up wakeups are over */
	cr_assert_eq(svt_post(&a, IBV_WR_RDMA_WRITE, 0, 64, peer.addr,
			      peer.rkey, 0, IBV_SEND_SIGNALED, 1), 0);
	cr_assert(svt_readable(a.ch->fd, 10000));
	cr_assert_eq(ibv_get_cq_event(a.ch, &cq, &cq_ctx), 0);
	ibv_ack_cq_events(cq, 1);
	cr_assert_eq(svt_poll(a.scq, &wc, 1, 10000), 1);
	cr_assert_eq(ibv_req_notify_cq(a.scq, 0), 0);
	before = nic_sleeps();
	for (i = 0; i < 100; i++) {
		a.buf[64 + i] ^= 0x5a;
		cr_assert_eq(svt_post(&a, IBV_WR_RDMA_WRITE, 64 + i, 1,
				      peer.addr + 64 + i, peer.rkey, 0, 0,
				      100 + i), 0);
		/* executed (and acknowledged) by the peer before the next */
		while (ask('S', 64 + i, 1, 0).sum != svt_sum(a.buf + 64 + i, 1))
			;
	}
	woken = nic_sleeps() - before;
	/* on the socket an ack is a message our NIC thread must read */
	if (!t || strcmp(t, "socket"))
		cr_assert_lt(woken, 25, "%ld wakeups of our NIC thread for "
			     "100 acks nobody waits for", woken);
	cr_assert_eq(svt_post(&a, IBV_WR_RDMA_WRITE, 0, 64, peer.addr,
			      peer.rkey, 0, IBV_SEND_SIGNALED, 2), 0);
	cr_assert(svt_readable(a.ch->fd, 10000), "no event for the signaled "
		  "write");
	cr_assert_eq(ibv_get_cq_event(a.ch, &cq, &cq_ctx), 0);
	ibv_ack_cq_events(cq, 1);
	cr_assert_eq(svt_poll(a.scq, &wc, 1, 10000), 1);
	cr_assert_eq(wc.wr_id, 2);
	cr_assert_eq(ask('S', 0, 164, 0).sum, svt_sum(a.buf, 164));
}

/*
 * Our NIC thread sleeps (SOFTVERBS_DELAY_US) before transmitting the second
 * send; meanwhile the peer receives the first, acknowledges it, and destroys
 * its QP. The acknowledgement is already in our socket when we find the
 * peer gone: as on RC hardware, the acknowledged send succeeds and only the
 * second one fails.
 */
static void setup_delayed(void)
{
	my_delay_us = "300000";
	setup();
}

TestSuite(sv_xproc_delayed, .init = setup_delayed, .fini = teardown,
	  .timeout = 60);

Test(sv_xproc_delayed, acked_send_succeeds_although_the_peer_destroyed_its_qp)
{
	struct ibv_wc wc;
	struct reply r;

	cr_assert_eq(ask('R', 0, 64, 1).status, 0);
	cr_assert_eq(svt_post(&a, IBV_WR_SEND, 0, 64, 0, 0, 0,
			      IBV_SEND_SIGNALED, 1), 0);
	cr_assert_eq(svt_post(&a, IBV_WR_SEND, 64, 64, 0, 0, 0,
			      IBV_SEND_SIGNALED, 2), 0);
	r = ask('P', 0, 64, 0);
	cr_assert_eq(r.status, IBV_WC_SUCCESS);
	cr_assert_eq(r.wr_id, 1);
	cr_assert_eq(ask('D', 0, 0, 0).status, 0);
	cr_assert_eq(svt_poll(a.scq, &wc, 1, 10000), 1);
	cr_assert_eq(wc.wr_id, 1);
	cr_assert_eq(wc.status, IBV_WC_SUCCESS, "acknowledged send: %s",
		     ibv_wc_status_str(wc.status));
	cr_assert_eq(svt_poll(a.scq, &wc, 1, 10000), 1);
	cr_assert_eq(wc.wr_id, 2);
	cr_assert_eq(wc.status, IBV_WC_RETRY_EXC_ERR, "second send: %s",
		     ibv_wc_status_str(wc.status));
	cr_assert_eq(svt_state(a.qp), IBV_QPS_ERR);
}

/*
 * Two messages back to back in the stream, each smaller than its receive:
 * reading the first payload must stop at its end, not swallow the second
 * header (the engine saw only the first of two chained sends arrive).
 */
Test(sv_xproc, chained_sends_all_arrive)
{
	struct ibv_sge sge[2] = {
		{ .addr = (uintptr_t)a.buf, .length = 32, .lkey = a.mr->lkey },
		{ .addr = (uintptr_t)a.buf + 64, .length = 32, .lkey = a.mr->lkey },
	};
	struct ibv_send_wr wr[2], *bad;
	struct reply r;
	int i;

	cr_assert_eq(ask('R', 0, 64, 1).status, 0);
	cr_assert_eq(ask('R', 64, 64, 2).status, 0);
	memset(wr, 0, sizeof(wr));
	for (i = 0; i < 2; i++) {
		wr[i].wr_id = 10 + i;
		wr[i].sg_list = &sge[i];
		wr[i].num_sge = 1;
		wr[i].opcode = IBV_WR_SEND;
		wr[i].send_flags = IBV_SEND_SIGNALED;
		wr[i].next = i ? NULL : &wr[1];
	}
	cr_assert_eq(ibv_post_send(a.qp, wr, &bad), 0);
	expect_send(IBV_WC_SUCCESS, IBV_WC_SEND);
	expect_send(IBV_WC_SUCCESS, IBV_WC_SEND);
	r = ask('P', 0, 32, 0);
	cr_assert_eq(r.status, IBV_WC_SUCCESS);
	r = ask('P', 64, 32, 0);
	cr_assert_eq(r.status, IBV_WC_SUCCESS);
	cr_assert_eq(r.wr_id, 2);
}

static bool on_shm(void)
{
	const char *t = getenv("SOFTVERBS_TRANSPORT");

	return !t || strcmp(t, "socket");
}

/* Post one WR of @n SGEs, each {offset in a.buf, length}. */
static void post_sges(enum ibv_wr_opcode op, const uint32_t (*seg)[2], int n,
		      uint64_t raddr, uint64_t wr_id)
{
	struct ibv_sge sge[4];
	struct ibv_send_wr wr, *bad;
	int i;

	for (i = 0; i < n; i++)
		sge[i] = (struct ibv_sge){ .addr = (uintptr_t)a.buf + seg[i][0],
					   .length = seg[i][1],
					   .lkey = a.mr->lkey };
	memset(&wr, 0, sizeof(wr));
	wr.wr_id = wr_id;
	wr.opcode = op;
	wr.sg_list = sge;
	wr.num_sge = n;
	wr.send_flags = IBV_SEND_SIGNALED;
	wr.wr.rdma.remote_addr = raddr;
	wr.wr.rdma.rkey = peer.rkey;
	cr_assert_eq(ibv_post_send(a.qp, &wr, &bad), 0);
}

/* Checksum of the @n segments of a.buf laid end to end. */
static uint32_t gathered_sum(const uint32_t (*seg)[2], int n)
{
	uint8_t *tmp = malloc(1 << 20);
	size_t len = 0;
	uint32_t sum;
	int i;

	cr_assert(tmp);
	for (i = 0; i < n; i++) {
		memcpy(tmp + len, a.buf + seg[i][0], seg[i][1]);
		len += seg[i][1];
	}
	sum = svt_sum(tmp, len);
	free(tmp);
	return sum;
}

/*
 * Large scattered WRITE, SEND and READ between shared MRs: the bytes land
 * where they belong, and over the rings the peer maps our MR (one copy per
 * byte) instead of reading the bytes out of a ring.
 */
Test(sv_xproc, large_scattered_ops_copy_once_between_shared_mrs)
{
	static const uint32_t seg[3][2] = {
		{ 0, 20000 }, { 100000, 50000 }, { 300000, 4103 },
	};
	static const uint32_t rseg[2][2] = { { 500000, 7000 }, { 600000, 30001 } };
	const uint32_t total = 20000 + 50000 + 4103;
	struct reply r;

	cr_assert_eq(ask('M', 0, 0, 0).sum, 1, "the peer maps its own MR only");
	fill(a.buf, 400000, 11);
	post_sges(IBV_WR_RDMA_WRITE, seg, 3, peer.addr + 8, 1);
	expect_send(IBV_WC_SUCCESS, IBV_WC_RDMA_WRITE);
	cr_assert_eq(ask('S', 8, total, 0).sum, gathered_sum(seg, 3));

	cr_assert_eq(ask('R', 4096, total, 2).status, 0);
	fill(a.buf, 400000, 12);
	post_sges(IBV_WR_SEND, seg, 3, 0, 2);
	expect_send(IBV_WC_SUCCESS, IBV_WC_SEND);
	r = ask('P', 4096, total, 0);
	cr_assert_eq(r.status, IBV_WC_SUCCESS);
	cr_assert_eq(r.byte_len, total);
	cr_assert_eq(r.sum, gathered_sum(seg, 3));

	r = ask('F', 65536, 37001, 13); /* the peer's bytes to read */
	post_sges(IBV_WR_RDMA_READ, rseg, 2, peer.addr + 65536, 3);
	expect_send(IBV_WC_SUCCESS, IBV_WC_RDMA_READ);
	cr_assert_eq(gathered_sum(rseg, 2), r.sum);

	cr_assert_eq(ask('M', 0, 0, 0).sum, on_shm() ? 2 : 1,
		     "the peer mapped our MR: %d", on_shm());
	cr_assert_eq(svt_state(a.qp), IBV_QPS_RTS);
}

/* Deregistering an MR the peer mapped makes the peer unmap it. */
Test(sv_xproc, deregistered_mr_is_unmapped_by_the_peer)
{
	const size_t len = 256 << 10;
	uint8_t *p = aligned_alloc(4096, len);
	struct ibv_sge sge;
	struct ibv_send_wr wr, *bad;
	struct ibv_mr *mr;
	uint64_t end;
	uint32_t n;

	cr_assert(p);
	memset(p, 0x3c, len);
	mr = ibv_reg_mr(a.pd, p, len, IBV_ACCESS_LOCAL_WRITE);
	cr_assert(mr);
	sge = (struct ibv_sge){ .addr = (uintptr_t)p, .length = (uint32_t)len,
				.lkey = mr->lkey };
	memset(&wr, 0, sizeof(wr));
	wr.opcode = IBV_WR_RDMA_WRITE;
	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.send_flags = IBV_SEND_SIGNALED;
	wr.wr.rdma.remote_addr = peer.addr;
	wr.wr.rdma.rkey = peer.rkey;
	cr_assert_eq(ibv_post_send(a.qp, &wr, &bad), 0);
	expect_send(IBV_WC_SUCCESS, IBV_WC_RDMA_WRITE);
	cr_assert_eq(ask('S', 0, (uint32_t)len, 0).sum, svt_sum(p, len));
	cr_assert_eq(ask('M', 0, 0, 0).sum, on_shm() ? 2 : 1);
	cr_assert_eq(ibv_dereg_mr(mr), 0);
	end = ts_now_ns() + 10000000000ull;
	do
		n = ask('M', 0, 0, 0).sum;
	while (n != 1 && ts_now_ns() < end);
	cr_assert_eq(n, 1, "the peer still maps %u MR memfds", n);
	cr_assert_eq(p[len - 1], 0x3c);
	free(p);
}
