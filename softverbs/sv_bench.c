// SPDX-License-Identifier: BSD-3-Clause
/* softverbs-bench: 1 MB RDMA WRITE throughput in-process and cross-process next to memcpy. */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <infiniband/verbs.h>

/*
 * usage: softverbs-bench [--size BYTES] [--iters N] [--window N] [--json FILE]
 *
 * Rows: memcpy of SIZE bytes between two buffers; RDMA WRITE of SIZE bytes to a
 * QP in the same process (direct memory path); RDMA WRITE to a QP in a forked
 * process (unix socket path). Each row is GB/s over ITERS operations with
 * WINDOW writes in flight. Numbers are for comparison within one run only.
 */

struct end {
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	struct ibv_qp *qp;
	struct ibv_mr *mr;
	uint8_t *buf;
};

struct peer {
	uint32_t qpn, rkey;
	uint64_t addr;
};

static size_t size = 1 << 20;
static long iters = 2000;
static int window = 16;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what)
{
	fprintf(stderr, "softverbs-bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void end_open(struct end *e)
{
	struct ibv_device **list = ibv_get_device_list(NULL);
	struct ibv_qp_init_attr init = { 0 };
	struct ibv_qp_attr a = { 0 };

	if (!list || !list[0])
		die("no device");
	e->ctx = ibv_open_device(list[0]);
	ibv_free_device_list(list);
	if (!e->ctx)
		die("open");
	e->pd = ibv_alloc_pd(e->ctx);
	e->cq = ibv_create_cq(e->ctx, 2 * window + 16, NULL, NULL, 0);
	e->buf = aligned_alloc(4096, size);
	if (!e->pd || !e->cq || !e->buf)
		die("alloc");
	memset(e->buf, 0x5a, size);
	e->mr = ibv_reg_mr(e->pd, e->buf, size,
			   IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE);
	if (!e->mr)
		die("reg_mr");
	init.send_cq = e->cq;
	init.recv_cq = e->cq;
	init.qp_type = IBV_QPT_RC;
	init.cap.max_send_wr = (uint32_t)window + 1;
	init.cap.max_recv_wr = 1;
	init.cap.max_send_sge = 1;
	init.cap.max_recv_sge = 1;
	e->qp = ibv_create_qp(e->pd, &init);
	if (!e->qp)
		die("create_qp");
	a.qp_state = IBV_QPS_INIT;
	a.port_num = 1;
	a.qp_access_flags = IBV_ACCESS_REMOTE_WRITE;
	if (ibv_modify_qp(e->qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX |
			  IBV_QP_PORT | IBV_QP_ACCESS_FLAGS))
		die("INIT");
}

static void end_connect(struct end *e, uint32_t qpn)
{
	struct ibv_qp_attr a = { 0 };

	a.qp_state = IBV_QPS_RTR;
	a.path_mtu = IBV_MTU_4096;
	a.dest_qp_num = qpn;
	a.max_dest_rd_atomic = 1;
	a.min_rnr_timer = 12;
	a.ah_attr.is_global = 1;
	a.ah_attr.port_num = 1;
	ibv_query_gid(e->ctx, 1, 0, &a.ah_attr.grh.dgid);
	if (ibv_modify_qp(e->qp, &a, IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU |
			  IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
			  IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER))
		die("RTR");
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	a.timeout = 14;
	a.retry_cnt = 7;
	a.rnr_retry = 7;
	a.max_rd_atomic = 1;
	if (ibv_modify_qp(e->qp, &a, IBV_QP_STATE | IBV_QP_TIMEOUT |
			  IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY | IBV_QP_SQ_PSN |
			  IBV_QP_MAX_QP_RD_ATOMIC))
		die("RTS");
}

static void end_close(struct end *e)
{
	ibv_destroy_qp(e->qp);
	ibv_dereg_mr(e->mr);
	ibv_destroy_cq(e->cq);
	ibv_dealloc_pd(e->pd);
	ibv_close_device(e->ctx);
	free(e->buf);
}

/* Stream ITERS writes of SIZE bytes, WINDOW in flight; returns GB/s. */
static double run_writes(struct end *e, const struct peer *p)
{
	struct ibv_sge sge = { (uintptr_t)e->buf, (uint32_t)size, e->mr->lkey };
	struct ibv_send_wr wr = { 0 }, *bad;
	struct ibv_wc wc[16];
	long posted = 0, done = 0;
	double t0;

	wr.opcode = IBV_WR_RDMA_WRITE;
	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.send_flags = IBV_SEND_SIGNALED;
	wr.wr.rdma.remote_addr = p->addr;
	wr.wr.rdma.rkey = p->rkey;
	t0 = now_s();
	while (done < iters) {
		int n, k;

		while (posted < iters && posted - done < window) {
			if (ibv_post_send(e->qp, &wr, &bad))
				die("post_send");
			posted++;
		}
		n = ibv_poll_cq(e->cq, 16, wc);
		for (k = 0; k < n; k++)
			if (wc[k].status != IBV_WC_SUCCESS) {
				fprintf(stderr, "write failed: %s\n",
					ibv_wc_status_str(wc[k].status));
				exit(1);
			}
		done += n > 0 ? n : 0;
	}
	return (double)size * (double)iters / (now_s() - t0) / 1e9;
}

static double run_memcpy(void)
{
	uint8_t *a = aligned_alloc(4096, size), *b = aligned_alloc(4096, size);
	double t0, gbs;
	long i;

	if (!a || !b)
		die("alloc");
	memset(a, 1, size);
	memset(b, 2, size);
	t0 = now_s();
	for (i = 0; i < iters; i++) {
		memcpy(i & 1 ? a : b, i & 1 ? b : a, size);
		__asm__ volatile("" ::: "memory");
	}
	gbs = (double)size * (double)iters / (now_s() - t0) / 1e9;
	free(a);
	free(b);
	return gbs;
}

static double run_inproc(void)
{
	struct end a, b;
	struct peer p;
	double gbs;

	end_open(&a);
	end_open(&b);
	end_connect(&a, b.qp->qp_num);
	end_connect(&b, a.qp->qp_num);
	p.qpn = b.qp->qp_num;
	p.rkey = b.mr->rkey;
	p.addr = (uintptr_t)b.buf;
	gbs = run_writes(&a, &p);
	end_close(&a);
	end_close(&b);
	return gbs;
}

static void xfer(int fd, void *p, size_t n, int wr)
{
	while (n) {
		ssize_t r = wr ? write(fd, p, n) : read(fd, p, n);

		if (r <= 0)
			die("pipe");
		p = (char *)p + r;
		n -= (size_t)r;
	}
}

/* The target process: a QP and an MR, served by its NIC thread. */
static void target(int in, int out)
{
	struct end e;
	struct peer me, them;
	char done;

	end_open(&e);
	me.qpn = e.qp->qp_num;
	me.rkey = e.mr->rkey;
	me.addr = (uintptr_t)e.buf;
	xfer(out, &me, sizeof(me), 1);
	xfer(in, &them, sizeof(them), 0);
	end_connect(&e, them.qpn);
	xfer(out, &me, 1, 1); /* ready */
	xfer(in, &done, 1, 0);
	end_close(&e);
	_exit(0);
}

/* Must run before anything else uses verbs in this process (fork). */
static double run_xproc(void)
{
	int p2c[2], c2p[2], pid, st;
	struct end e;
	struct peer p, me;
	double gbs;
	char c = 0;

	if (pipe(p2c) || pipe(c2p))
		die("pipe");
	pid = fork();
	if (pid < 0)
		die("fork");
	if (!pid) {
		close(p2c[1]);
		close(c2p[0]);
		target(p2c[0], c2p[1]);
	}
	close(p2c[0]);
	close(c2p[1]);
	end_open(&e);
	xfer(c2p[0], &p, sizeof(p), 0);
	end_connect(&e, p.qpn);
	me.qpn = e.qp->qp_num;
	xfer(p2c[1], &me, sizeof(me), 1);
	xfer(c2p[0], &c, 1, 0);
	gbs = run_writes(&e, &p);
	xfer(p2c[1], &c, 1, 1);
	waitpid(pid, &st, 0);
	end_close(&e);
	return gbs;
}

static long parse(const char *name, const char *s, long min, long max)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v < min || v > max) {
		fprintf(stderr, "softverbs-bench: %s=%s out of range [%ld, %ld]\n",
			name, s, min, max);
		exit(2);
	}
	return (long)v;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "size", required_argument, NULL, 's' },
		{ "iters", required_argument, NULL, 'n' },
		{ "window", required_argument, NULL, 'w' },
		{ "json", required_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const char *json = NULL;
	double xp, ip, mc;
	int c;

	while ((c = getopt_long(argc, argv, "s:n:w:j:", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			size = (size_t)parse("size", optarg, 1, 1 << 30);
			break;
		case 'n':
			iters = parse("iters", optarg, 1, 1L << 30);
			break;
		case 'w':
			window = (int)parse("window", optarg, 1, 1024);
			break;
		case 'j':
			json = optarg;
			break;
		default:
			fprintf(stderr, "usage: %s [--size B] [--iters N] [--window N] [--json FILE]\n",
				argv[0]);
			return 2;
		}
	}
	xp = run_xproc(); /* first: forks before this process opens a device */
	ip = run_inproc();
	mc = run_memcpy();
	printf("%-28s %12s %10s\n", "path", "size", "GB/s");
	printf("%-28s %12zu %10.2f\n", "memcpy", size, mc);
	printf("%-28s %12zu %10.2f\n", "rdma_write in-process", size, ip);
	printf("%-28s %12zu %10.2f\n", "rdma_write cross-process", size, xp);
	if (json) {
		FILE *f = fopen(json, "w");

		if (!f)
			die(json);
		fprintf(f, "{\"bench\":\"softverbs\",\"size\":%zu,\"iters\":%ld,"
			   "\"window\":%d,\"gbps\":{\"memcpy\":%.3f,"
			   "\"rdma_write_inproc\":%.3f,\"rdma_write_xproc\":%.3f}}\n",
			size, iters, window, mc, ip, xp);
		fclose(f);
	}
	return 0;
}
