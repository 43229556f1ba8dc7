// SPDX-License-Identifier: BSD-3-Clause
/* softverbs-bench: 1 MB RDMA WRITE throughput in-process and cross-process (both transports) next to memcpy. */
#include <errno.h>
#include <stdbool.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <infiniband/verbs.h>

/*
 * usage: softverbs-bench [--size BYTES] [--iters N] [--window N]
 *                        [--rounds N] [--idle-ms MS] [--json FILE]
 *
 * Rows: memcpy of SIZE bytes between two buffers; RDMA WRITE of SIZE bytes to a
 * QP in the same process (direct memory path); RDMA WRITE to a QP in another
 * process over each transport (SOFTVERBS_TRANSPORT=socket, then shm), with
 * the CPU time and context switches of both processes per write, and the CPU
 * both use while connected and idle for MS. Each row is the median (min,
 * max) of ROUNDS interleaved rounds; GB/s over ITERS operations with WINDOW
 * writes in flight. Numbers are for comparison within one run only. Every
 * verbs user is a child process, so that each picks its own transport.
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
static long idle_ms = 2000;

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

/* CPU time (user + system, all threads) and context switches so far. */
struct usage {
	double cpu_s;
	double csw;
};

static struct usage usage_now(void)
{
	struct rusage ru;
	struct usage u;

	getrusage(RUSAGE_SELF, &ru);
	u.cpu_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
		  ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) * 1e-6;
	u.csw = (double)ru.ru_nvcsw + (double)ru.ru_nivcsw;
	return u;
}

static struct usage usage_since(struct usage a)
{
	struct usage b = usage_now();

	b.cpu_s -= a.cpu_s;
	b.csw -= a.csw;
	return b;
}

/* One cross-process run: both processes' costs. */
struct xres {
	double gbs;
	double cpu_us_per_op; /* both processes, all threads */
	double csw_per_op;
	double idle_cpu_pct; /* both processes while connected and idle */
};

/*
 * The target process: a QP and an MR, served by its NIC thread. It reports
 * its usage over the write phase and over the idle phase.
 */
static void target(int in, int out)
{
	struct usage u0, u;
	struct end e;
	struct peer me, them;
	char cmd;

	end_open(&e);
	me.qpn = e.qp->qp_num;
	me.rkey = e.mr->rkey;
	me.addr = (uintptr_t)e.buf;
	xfer(out, &me, sizeof(me), 1);
	xfer(in, &them, sizeof(them), 0);
	end_connect(&e, them.qpn);
	u0 = usage_now();
	xfer(out, &me, 1, 1); /* ready */
	xfer(in, &cmd, 1, 0); /* writes done */
	u = usage_since(u0);
	xfer(out, &u, sizeof(u), 1);
	u0 = usage_now();
	xfer(in, &cmd, 1, 0); /* idle phase over */
	u = usage_since(u0);
	xfer(out, &u, sizeof(u), 1);
	end_close(&e);
	_exit(0);
}

/* The writer process (a child, so that each run picks its transport). */
static void writer(int out)
{
	int p2c[2], c2p[2], pid, st;
	const struct timespec idle = { .tv_sec = idle_ms / 1000,
				       .tv_nsec = (idle_ms % 1000) * 1000000L };
	struct usage u0, mine, theirs;
	struct xres r = { 0 };
	struct end e;
	struct peer p, me;
	char c = 0;

	if (pipe(p2c) || pipe(c2p))
		die("pipe");
	pid = fork(); /* before this process opens a device */
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
	u0 = usage_now();
	r.gbs = run_writes(&e, &p);
	mine = usage_since(u0);
	xfer(p2c[1], &c, 1, 1);
	xfer(c2p[0], &theirs, sizeof(theirs), 0);
	r.cpu_us_per_op = (mine.cpu_s + theirs.cpu_s) * 1e6 / (double)iters;
	r.csw_per_op = (mine.csw + theirs.csw) / (double)iters;
	/* connected, nothing posted: the measurement window, no synchronisation */
	u0 = usage_now();
	nanosleep(&idle, NULL);
	mine = usage_since(u0);
	xfer(p2c[1], &c, 1, 1);
	xfer(c2p[0], &theirs, sizeof(theirs), 0);
	r.idle_cpu_pct = (mine.cpu_s + theirs.cpu_s) * 100.0 / ((double)idle_ms / 1000.0);
	waitpid(pid, &st, 0);
	end_close(&e);
	xfer(out, &r, sizeof(r), 1);
	_exit(0);
}

/* Run @fn(out) in a child with SOFTVERBS_TRANSPORT=@transport; read its result. */
static void in_child(const char *transport, void (*fn)(int), void *res,
		     size_t len)
{
	int p[2], pid, st;

	if (pipe(p))
		die("pipe");
	pid = fork();
	if (pid < 0)
		die("fork");
	if (!pid) {
		close(p[0]);
		if (transport && setenv("SOFTVERBS_TRANSPORT", transport, 1))
			die("setenv");
		fn(p[1]);
	}
	close(p[1]);
	xfer(p[0], res, len, 0);
	close(p[0]);
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
		die("child failed");
}

static void inproc_child(int out)
{
	double gbs = run_inproc();

	xfer(out, &gbs, sizeof(gbs), 1);
	_exit(0);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Median, min and max of @n values (sorted in place). */
struct stat3 {
	double med, min, max;
};

static struct stat3 stats(double *v, int n)
{
	struct stat3 s;

	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	s.min = v[0];
	s.max = v[n - 1];
	s.med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	return s;
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

#define MAX_ROUNDS 15

static void print_row(FILE *f, const char *name, double *v, int n,
		      const char *unit)
{
	struct stat3 s = stats(v, n);

	fprintf(f, "%-34s %10.2f %10.2f %10.2f  %s\n", name, s.med, s.min,
		s.max, unit);
}

static void json_row(FILE *f, const char *name, double *v, int n, bool last)
{
	struct stat3 s = stats(v, n);

	fprintf(f, "\"%s\":{\"median\":%.3f,\"min\":%.3f,\"max\":%.3f}%s", name,
		s.med, s.min, s.max, last ? "" : ",");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "size", required_argument, NULL, 's' },
		{ "iters", required_argument, NULL, 'n' },
		{ "window", required_argument, NULL, 'w' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "idle-ms", required_argument, NULL, 'i' },
		{ "json", required_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const tname[2] = { "socket", "shm" };
	double mc[MAX_ROUNDS], ip[MAX_ROUNDS], gbs[2][MAX_ROUNDS],
		cpu[2][MAX_ROUNDS], csw[2][MAX_ROUNDS], idle[2][MAX_ROUNDS],
		kops[2][MAX_ROUNDS];
	const char *json = NULL;
	int c, i, t, rounds = 3;
	char name[64];

	while ((c = getopt_long(argc, argv, "s:n:w:r:i:j:", opts, NULL)) != -1) {
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
		case 'r':
			rounds = (int)parse("rounds", optarg, 1, MAX_ROUNDS);
			break;
		case 'i':
			idle_ms = parse("idle-ms", optarg, 0, 600000);
			break;
		case 'j':
			json = optarg;
			break;
		default:
			fprintf(stderr, "usage: %s [--size B] [--iters N] [--window N] [--rounds N] [--idle-ms MS] [--json FILE]\n",
				argv[0]);
			return 2;
		}
	}
	/* interleaved rounds: every row sees the same machine load */
	for (i = 0; i < rounds; i++) {
		mc[i] = run_memcpy();
		in_child(NULL, inproc_child, &ip[i], sizeof(ip[i]));
		for (t = 0; t < 2; t++) {
			struct xres r;

			in_child(tname[t], writer, &r, sizeof(r));
			gbs[t][i] = r.gbs;
			kops[t][i] = r.gbs * 1e6 / (double)size;
			cpu[t][i] = r.cpu_us_per_op;
			csw[t][i] = r.csw_per_op;
			idle[t][i] = r.idle_cpu_pct;
		}
	}
	printf("%zu bytes, %ld writes, %d in flight, %d rounds\n", size, iters,
	       window, rounds);
	printf("%-34s %10s %10s %10s\n", "row", "median", "min", "max");
	print_row(stdout, "memcpy", mc, rounds, "GB/s");
	print_row(stdout, "rdma_write in-process", ip, rounds, "GB/s");
	for (t = 0; t < 2; t++) {
		snprintf(name, sizeof(name), "rdma_write cross-process %s", tname[t]);
		print_row(stdout, name, gbs[t], rounds, "GB/s");
		snprintf(name, sizeof(name), "  writes per second, %s", tname[t]);
		print_row(stdout, name, kops[t], rounds, "k");
		snprintf(name, sizeof(name), "  cpu per write, both, %s", tname[t]);
		print_row(stdout, name, cpu[t], rounds, "us");
		snprintf(name, sizeof(name), "  ctx switches per write, %s", tname[t]);
		print_row(stdout, name, csw[t], rounds, "");
		snprintf(name, sizeof(name), "  idle cpu, both, %s", tname[t]);
		print_row(stdout, name, idle[t], rounds, "%");
	}
	if (json) {
		FILE *f = fopen(json, "w");

		if (!f)
			die(json);
		fprintf(f, "{\"bench\":\"softverbs\",\"size\":%zu,\"iters\":%ld,"
			   "\"window\":%d,\"rounds\":%d,\"idle_ms\":%ld,",
			size, iters, window, rounds, idle_ms);
		json_row(f, "memcpy_gbps", mc, rounds, false);
		json_row(f, "rdma_write_inproc_gbps", ip, rounds, false);
		for (t = 0; t < 2; t++) {
			snprintf(name, sizeof(name), "rdma_write_xproc_%s_gbps", tname[t]);
			json_row(f, name, gbs[t], rounds, false);
			snprintf(name, sizeof(name), "rdma_write_xproc_%s_kops", tname[t]);
			json_row(f, name, kops[t], rounds, false);
			snprintf(name, sizeof(name), "cpu_us_per_write_%s", tname[t]);
			json_row(f, name, cpu[t], rounds, false);
			snprintf(name, sizeof(name), "ctx_switches_per_write_%s", tname[t]);
			json_row(f, name, csw[t], rounds, false);
			snprintf(name, sizeof(name), "idle_cpu_pct_%s", tname[t]);
			json_row(f, name, idle[t], rounds, t == 1);
		}
		fprintf(f, "}\n");
		fclose(f);
	}
	return 0;
}
