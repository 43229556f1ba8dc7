// SPDX-License-Identifier: BSD-3-Clause
/* softverbs tests: helpers to build connected QPs in-process and across a fork. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "svt.h"

void svt_opts_init(struct svt_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->buflen = 1 << 20;
	o->cqe = 256;
	o->access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
		    IBV_ACCESS_REMOTE_READ;
	o->qp_access = IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ;
	o->max_wr = 128;
	o->rnr_retry = 7;
}

void svt_open(struct svt_side *s, const struct svt_opts *o)
{
	struct ibv_device **list;
	struct ibv_qp_init_attr init;
	struct ibv_qp_attr a;
	int n;

	memset(s, 0, sizeof(*s));
	list = ibv_get_device_list(&n);
	cr_assert(list && n == 1, "device list");
	s->ctx = ibv_open_device(list[0]);
	ibv_free_device_list(list);
	cr_assert(s->ctx);
	s->pd = ibv_alloc_pd(s->ctx);
	cr_assert(s->pd);
	if (o->channel) {
		s->ch = ibv_create_comp_channel(s->ctx);
		cr_assert(s->ch);
	}
	s->scq = ibv_create_cq(s->ctx, o->cqe, s, s->ch, 0);
	s->rcq = ibv_create_cq(s->ctx, o->cqe, s, s->ch, 0);
	cr_assert(s->scq && s->rcq);
	s->len = o->buflen;
	s->buf = aligned_alloc(4096, s->len);
	cr_assert(s->buf);
	memset(s->buf, 0, s->len);
	s->mr = ibv_reg_mr(s->pd, s->buf, s->len, (int)o->access);
	cr_assert(s->mr, "reg_mr: %s", strerror(errno));
	memset(&init, 0, sizeof(init));
	init.send_cq = s->scq;
	init.recv_cq = s->rcq;
	init.qp_type = IBV_QPT_RC;
	init.sq_sig_all = o->sq_sig_all;
	init.cap.max_send_wr = o->max_wr;
	init.cap.max_recv_wr = o->max_wr;
	init.cap.max_send_sge = 4;
	init.cap.max_recv_sge = 4;
	init.cap.max_inline_data = 64;
	s->qp = ibv_create_qp(s->pd, &init);
	cr_assert(s->qp, "create_qp: %s", strerror(errno));
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_INIT;
	a.port_num = 1;
	a.qp_access_flags = (int)o->qp_access;
	cr_assert_eq(ibv_modify_qp(s->qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX |
				   IBV_QP_PORT | IBV_QP_ACCESS_FLAGS), 0);
}

void svt_connect(struct svt_side *s, uint32_t remote_qpn, uint8_t rnr_retry)
{
	struct ibv_qp_attr a;

	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	a.path_mtu = IBV_MTU_1024;
	a.dest_qp_num = remote_qpn;
	a.rq_psn = 0;
	a.max_dest_rd_atomic = 1;
	a.min_rnr_timer = 12;
	a.ah_attr.is_global = 1;
	a.ah_attr.port_num = 1;
	cr_assert_eq(ibv_query_gid(s->ctx, 1, 0, &a.ah_attr.grh.dgid), 0);
	cr_assert_eq(ibv_modify_qp(s->qp, &a, IBV_QP_STATE | IBV_QP_AV |
				   IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
				   IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC |
				   IBV_QP_MIN_RNR_TIMER), 0);
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	a.timeout = 14;
	a.retry_cnt = 7;
	a.rnr_retry = rnr_retry;
	a.sq_psn = 0;
	a.max_rd_atomic = 1;
	cr_assert_eq(ibv_modify_qp(s->qp, &a, IBV_QP_STATE | IBV_QP_TIMEOUT |
				   IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY |
				   IBV_QP_SQ_PSN | IBV_QP_MAX_QP_RD_ATOMIC), 0);
}

void svt_pair(struct svt_side *a, struct svt_side *b, const struct svt_opts *o)
{
	svt_open(a, o);
	svt_open(b, o);
	svt_connect(a, b->qp->qp_num, o->rnr_retry);
	svt_connect(b, a->qp->qp_num, o->rnr_retry);
}

void svt_close(struct svt_side *s)
{
	if (s->qp)
		cr_assert_eq(ibv_destroy_qp(s->qp), 0);
	cr_assert_eq(ibv_dereg_mr(s->mr), 0);
	cr_assert_eq(ibv_destroy_cq(s->scq), 0);
	cr_assert_eq(ibv_destroy_cq(s->rcq), 0);
	if (s->ch)
		cr_assert_eq(ibv_destroy_comp_channel(s->ch), 0);
	cr_assert_eq(ibv_dealloc_pd(s->pd), 0);
	cr_assert_eq(ibv_close_device(s->ctx), 0);
	free(s->buf);
	memset(s, 0, sizeof(*s));
}

void svt_close_pair(struct svt_side *a, struct svt_side *b)
{
	if (a->ctx)
		svt_close(a);
	if (b->ctx)
		svt_close(b);
}

void svt_info(const struct svt_side *s, struct svt_info *info)
{
	info->qpn = s->qp->qp_num;
	info->rkey = s->mr->rkey;
	info->addr = (uintptr_t)s->buf;
}

int svt_post(struct svt_side *s, enum ibv_wr_opcode op, size_t off, uint32_t len,
	     uint64_t raddr, uint32_t rkey, uint32_t imm_be, unsigned int flags,
	     uint64_t wr_id)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)s->buf + off,
		.length = len,
		.lkey = s->mr->lkey,
	};
	struct ibv_send_wr wr, *bad = NULL;

	memset(&wr, 0, sizeof(wr));
	wr.wr_id = wr_id;
	wr.opcode = op;
	wr.sg_list = len ? &sge : NULL;
	wr.num_sge = len ? 1 : 0;
	wr.send_flags = flags;
	wr.imm_data = imm_be;
	wr.wr.rdma.remote_addr = raddr;
	wr.wr.rdma.rkey = rkey;
	return ibv_post_send(s->qp, &wr, &bad);
}

int svt_post_recv(struct svt_side *s, size_t off, uint32_t len, uint64_t wr_id)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)s->buf + off,
		.length = len,
		.lkey = s->mr->lkey,
	};
	struct ibv_recv_wr wr = {
		.wr_id = wr_id,
		.sg_list = len ? &sge : NULL,
		.num_sge = len ? 1 : 0,
	};
	struct ibv_recv_wr *bad = NULL;

	return ibv_post_recv(s->qp, &wr, &bad);
}

int svt_poll(struct ibv_cq *cq, struct ibv_wc *wc, int n, int timeout_ms)
{
	uint64_t end = ts_now_ns() / 1000000 + (uint64_t)timeout_ms;
	int got = 0;

	while (got < n) {
		int r = ibv_poll_cq(cq, n - got, wc + got);

		cr_assert_geq(r, 0);
		got += r;
		if (got < n && ts_now_ns() / 1000000 > end)
			break;
	}
	return got;
}

void svt_expect_wc(struct ibv_cq *cq, enum ibv_wc_opcode op, struct ibv_wc *wc)
{
	cr_assert_eq(svt_poll(cq, wc, 1, 5000), 1, "no completion");
	cr_assert_eq(wc->status, IBV_WC_SUCCESS, "status %s",
		     ibv_wc_status_str(wc->status));
	cr_assert_eq(wc->opcode, op, "opcode %d, want %d", wc->opcode, op);
}

enum ibv_qp_state svt_state(struct ibv_qp *qp)
{
	struct ibv_qp_attr a;
	struct ibv_qp_init_attr i;

	cr_assert_eq(ibv_query_qp(qp, &a, IBV_QP_STATE, &i), 0);
	return a.qp_state;
}

void svt_write_all(int fd, const void *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		cr_assert_gt(w, 0, "pipe write");
		p = (const char *)p + w;
		n -= (size_t)w;
	}
}

void svt_read_all(int fd, void *p, size_t n)
{
	while (n) {
		ssize_t r = read(fd, p, n);

		if (r < 0 && errno == EINTR)
			continue;
		cr_assert_gt(r, 0, "pipe read (peer died?)");
		p = (char *)p + r;
		n -= (size_t)r;
	}
}

int svt_fork_peer(void (*peer)(int in, int out), int *to, int *from)
{
	int p2c[2], c2p[2], pid;

	cr_assert_eq(pipe(p2c), 0);
	cr_assert_eq(pipe(c2p), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (!pid) {
		/* a test that fails early leaves no peer blocked on its pipe */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(p2c[1]);
		close(c2p[0]);
		peer(p2c[0], c2p[1]);
		_exit(1);
	}
	close(p2c[0]);
	close(c2p[1]);
	*to = p2c[1];
	*from = c2p[0];
	return pid;
}

int svt_wait_child(int pid)
{
	int st;

	cr_assert_eq(waitpid(pid, &st, 0), pid);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return WEXITSTATUS(st);
}

/*
 * Checksums memory that a peer's RDMA WRITE filled. As with a real NIC's DMA,
 * the writer (our NIC thread) and this reader are ordered only through the
 * peer: its completion and a message back over a pipe from another process,
 * an order TSan cannot see. Not instrumented, so the reads are not reported.
 */
__attribute__((no_sanitize("thread")))
uint32_t svt_sum(const uint8_t *p, size_t n)
{
	uint32_t a = 1, b = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		a = (a + p[i]) % 65521;
		b = (b + a) % 65521;
	}
	return b << 16 | a;
}

bool svt_readable(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN);
}

long svt_proc_field(const char *path, const char *field, int base)
{
	size_t n = strlen(field);
	FILE *f = fopen(path, "r");
	char line[128];
	long v = -1;

	cr_assert(f, "cannot open %s", path);
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, n) && line[n] == ':')
			v = strtol(line + n + 1, NULL, base);
	fclose(f);
	cr_assert_geq(v, 0, "no %s in %s", field, path);
	return v;
}

int svt_thread_tid(const char *name)
{
	DIR *d = opendir("/proc/self/task");
	size_t n = strlen(name);
	char path[300], comm[32];
	struct dirent *e;
	int tid = -1;
	FILE *f;

	cr_assert(d);
	while (tid < 0 && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm",
			 e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue; /* the thread ended */
		if (fgets(comm, sizeof(comm), f) && !strncmp(comm, name, n) &&
		    comm[n] == '\n')
			tid = atoi(e->d_name);
		fclose(f);
	}
	closedir(d);
	return tid;
}
