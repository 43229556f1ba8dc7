// SPDX-License-Identifier: BSD-3-Clause
/* rdmaring bench: poller routing cost, idle CPU and wake-up latency. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_common.h"
#include "echo_util.h" /* echo_engine_cpu_seconds */
#include "engine.h"

/*
 * 1. Routing: the poller's CQ path (ibv_poll_cq on a synthetic CQ whose
 *    context op generates work completions over M connections (for each M
 *    of a list, one engine each), lookup by
 *    qp_num, push into the owner's completion ring, batch publish, wake
 *    check) against pushing the same entries straight into the same rings
 *    (owner known, batched the same way), in the same run. N consumer
 *    threads drain the rings in both phases.
 * 2. Idle CPU: a server and a client engine over softverbs with 64 open
 *    connections and no traffic; engine threads' CPU from /proc for 2 s.
 * 3. Wake latency: a consumer asleep in the NEED_WAKEUP protocol; time from
 *    routing one completion to the consumer running.
 */

#define MAX_CONN_COUNTS 8

struct opts {
	long connections[MAX_CONN_COUNTS]; /* routing runs, one per count */
	int n_counts;
	long io_threads, count, idle_s, wake_samples;
	const char *json;
};

/* One routing run: rates at one connection count. */
struct route_result {
	long connections;
	double route, ring;
	uint64_t overflow;
};

/* ---- Synthetic CQ ------------------------------------------------------- */

static struct rring_conn **conns; /* the synthetic engine's */
static uint32_t *conn_qpn;	   /* per connection */
static unsigned int *conn_owner;   /* per connection: IO index */
static long n_conns;
static uint64_t gen_seq, gen_limit, gen_rng = 88172645463325252ull;

static int next_conn(void)
{
	gen_rng ^= gen_rng << 13;
	gen_rng ^= gen_rng >> 7;
	gen_rng ^= gen_rng << 17;
	return (int)(gen_rng % (uint64_t)n_conns);
}

static void gen_wc(struct ibv_wc *wc, int k)
{
	wc->wr_id = gen_seq++;
	wc->status = IBV_WC_SUCCESS;
	wc->opcode = IBV_WC_RECV;
	wc->byte_len = 64;
	wc->qp_num = conn_qpn[k];
	wc->wc_flags = 0;
}

/* ops.poll_cq of the fake context: up to ne generated completions. */
static int synth_poll_cq(struct ibv_cq *cq, int ne, struct ibv_wc *wc)
{
	int i;

	(void)cq;
	for (i = 0; i < ne && gen_seq < gen_limit; i++)
		gen_wc(&wc[i], next_conn());
	return i;
}

/* ---- Consumers ---------------------------------------------------------- */

struct consumer {
	_Alignas(64) struct rring_io *io;
	pthread_t th;
	int cpu;
	_Atomic uint64_t consumed;
	uint64_t sum;
};

static _Atomic int stop_consumers;

static void *consumer_main(void *arg)
{
	struct consumer *c = arg;
	uint64_t n_total = 0;
	uint32_t idx, i, n;

	rr_pin_self(c->cpu);
	while (!atomic_load_explicit(&stop_consumers, memory_order_relaxed)) {
		n = rring_spsc_peek(c->io->cq, 256, &idx);
		if (!n) {
			rring_cpu_relax();
			continue;
		}
		for (i = 0; i < n; i++) {
			struct rr_cqe *q = rr_cq_slot(c->io, idx + i);

			c->sum += q->wr_id;
		}
		rring_spsc_release(c->io->cq, n);
		n_total += n;
		atomic_store_explicit(&c->consumed, n_total,
				      memory_order_release);
	}
	return NULL;
}

static uint64_t consumed_total(struct consumer *cs, long n)
{
	uint64_t t = 0;
	long i;

	for (i = 0; i < n; i++)
		t +=
		    atomic_load_explicit(&cs[i].consumed, memory_order_acquire);
	return t;
}

static double now_s(void)
{
	return (double)rr_now_ns() / 1e9;
}

/* ---- Phase 1: routing vs ring only -------------------------------------- */

static double run_routing(struct rring_engine *e, struct ibv_cq *cq,
			  struct consumer *cs, long nio, uint64_t count)
{
	uint64_t base = consumed_total(cs, nio);
	double t0 = now_s();

	gen_limit = gen_seq + count;
	while (gen_seq < gen_limit) {
		rr_poller_poll_cq(e, cq);
		rr_poller_flush(e);
		while (e->n_ovf) { /* backpressure: as a poller would */
			rr_poller_flush_overflows(e);
			rr_poller_flush(e);
		}
	}
	while (consumed_total(cs, nio) - base < count)
		rring_cpu_relax();
	return (double)count / (now_s() - t0);
}

/* The same entries, owner known, pushed in the same batches: per batch of
 * 32 completions, slots reserved per ring and one publish per ring. */
struct rbatch {
	uint32_t idx, avail, used;
};

static struct rr_cqe *ring_slot(struct rring_io *io, struct rbatch *b)
{
	while (b->used == b->avail) {
		if (b->used) {
			rring_spsc_publish(io->cq, b->used);
			b->idx += b->used;
			b->used = 0;
		}
		b->avail = rring_spsc_reserve(
		    io->cq, rring_spsc_capacity(io->cq), &b->idx);
		if (!b->avail)
			rring_cpu_relax();
	}
	return rr_cq_slot(io, b->idx + b->used++);
}

static double run_ring_only(struct rring_engine *e, struct consumer *cs,
			    long nio, uint64_t count)
{
	uint64_t base = consumed_total(cs, nio), done = 0;
	struct rbatch *rb = calloc(e->n_io, sizeof(*rb));
	struct ibv_wc wc[32];
	struct rr_cqe *s;
	double t0 = now_s(), rate;
	unsigned int j;
	int i, n, k[32];

	while (done < count) {
		n = (int)(count - done < 32 ? count - done : 32);
		for (i = 0; i < n; i++) {
			k[i] = next_conn();
			gen_wc(&wc[i], k[i]);
		}
		for (i = 0; i < n; i++) {
			s = ring_slot(e->io[conn_owner[k[i]]],
				      &rb[conn_owner[k[i]]]);
			s->type = RR_CQE_WC;
			s->opcode = (uint8_t)wc[i].opcode;
			s->wc_status = (uint8_t)wc[i].status;
			s->wc_flags = (uint8_t)wc[i].wc_flags;
			s->status = 0;
			s->conn = NULL;
			s->wr_id = wc[i].wr_id;
			s->byte_len = wc[i].byte_len;
			s->imm = wc[i].imm_data;
		}
		for (j = 0; j < e->n_io; j++) { /* one publish per ring */
			if (rb[j].used) {
				rring_spsc_publish(e->io[j]->cq, rb[j].used);
				rb[j].idx += rb[j].used;
				rb[j].avail -= rb[j].used;
				rb[j].used = 0;
			}
			(void)rring_spsc_needs_wakeup(e->io[j]->cq);
		}
		done += (uint64_t)n;
	}
	while (consumed_total(cs, nio) - base < count)
		rring_cpu_relax();
	rate = (double)count / (now_s() - t0);
	free(rb);
	return rate;
}

static void ev_nop(struct rring_io *io, const struct rring_event *ev, void *arg)
{
	(void)io;
	(void)ev;
	(void)arg;
}

static struct rring_engine *synth_engine(long nio, long nconn,
					 uint32_t ring_entries)
{
	struct rring_params p;
	struct rring_handlers h = {.event = ev_nop};
	struct rring_engine *e;
	long i;

	rring_params_init(&p);
	p.io_threads = (uint32_t)nio;
	p.ring_entries = ring_entries;
	e = rr_engine_new(&p, &h);
	if (!e || rr_engine_alloc_rings(e, -1))
		return NULL;
	n_conns = nconn;
	conns = calloc((size_t)nconn, sizeof(*conns));
	conn_qpn = calloc((size_t)nconn, sizeof(*conn_qpn));
	conn_owner = calloc((size_t)nconn, sizeof(*conn_owner));
	if (!conns || !conn_qpn || !conn_owner)
		return NULL;
	for (i = 0; i < nconn; i++) {
		struct rring_conn *c =
		    rr_conn_new(e, (uint64_t)i + 1, rr_pick_owner(e));

		/* QP numbers spread like a provider's (24-bit, sparse). */
		c->qp_num = (uint32_t)((i * 2654435761u) & 0xffffff) | 1;
		c->state = RR_CONN_ESTABLISHED;
		conn_qpn[i] = c->qp_num;
		conn_owner[i] = c->owner->idx;
		conns[i] = c;
		rr_table_add(e, c);
		if (rr_table_add_qp(e, c))
			return NULL;
	}
	return e;
}

static void synth_free(struct rring_engine *e)
{
	long i;

	for (i = 0; i < n_conns; i++)
		rr_table_del(e, conns[i]);
	rring_engine_destroy(e);
	free(conns);
	free(conn_qpn);
	free(conn_owner);
}

static void bench_routing(const struct opts *o, struct route_result *res)
{
	struct ibv_context ctx;
	struct ibv_cq cq;
	struct consumer *cs = calloc((size_t)o->io_threads, sizeof(*cs));
	struct rring_engine *e =
	    synth_engine(o->io_threads, res->connections, 4096);
	struct rring_stats st;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN), i;
	double r1, r2, q1, q2;

	if (!e || !cs) {
		fprintf(stderr, "cannot set up the synthetic engine\n");
		exit(1);
	}
	memset(&ctx, 0, sizeof(ctx));
	memset(&cq, 0, sizeof(cq));
	ctx.ops.poll_cq = synth_poll_cq;
	cq.context = &ctx;
	rr_pin_self(0);
	atomic_store(&stop_consumers, 0);
	for (i = 0; i < o->io_threads; i++) {
		cs[i].io = e->io[i];
		cs[i].cpu = ncpu > 1 ? (int)(1 + i % (ncpu - 1)) : 0;
		pthread_create(&cs[i].th, NULL, consumer_main, &cs[i]);
	}
	/* Warm up both paths, then alternate so drift hits both. */
	run_routing(e, &cq, cs, o->io_threads, (uint64_t)o->count / 10);
	run_ring_only(e, cs, o->io_threads, (uint64_t)o->count / 10);
	r1 = run_routing(e, &cq, cs, o->io_threads, (uint64_t)o->count / 2);
	q1 = run_ring_only(e, cs, o->io_threads, (uint64_t)o->count / 2);
	q2 = run_ring_only(e, cs, o->io_threads, (uint64_t)o->count / 2);
	r2 = run_routing(e, &cq, cs, o->io_threads, (uint64_t)o->count / 2);
	res->route = (r1 + r2) / 2;
	res->ring = (q1 + q2) / 2;
	atomic_store(&stop_consumers, 1);
	for (i = 0; i < o->io_threads; i++)
		pthread_join(cs[i].th, NULL);
	rring_engine_stats(e, &st);
	res->overflow = 0;
	for (i = 0; i < o->io_threads; i++)
		res->overflow += st.io[i].overflow;
	rr_pin_self(-1);
	free(cs);
	synth_free(e);
}

/* ---- Phase 3: wake latency (synthetic) ---------------------------------- */

struct waker {
	struct rring_io *io;
	_Atomic uint64_t woke_ns;
	_Atomic int asleep;
	_Atomic int quit;
};

static void *sleeper_main(void *arg)
{
	struct waker *w = arg;
	struct pollfd pfd = {.fd = w->io->efd, .events = POLLIN};
	uint32_t idx, n;
	uint64_t v;

	while (!atomic_load(&w->quit)) {
		n = rring_spsc_peek(w->io->cq, 64, &idx);
		if (n) {
			atomic_store(&w->woke_ns, rr_now_ns());
			rring_spsc_release(w->io->cq, n);
			continue;
		}
		if (rring_spsc_prepare_sleep(w->io->cq)) {
			atomic_store(&w->asleep, 1);
			poll(&pfd, 1, 200);
			if (read(w->io->efd, &v, sizeof(v)) < 0)
				v = 0;
			atomic_store(&w->asleep, 0);
		}
		rring_spsc_cancel_sleep(w->io->cq);
	}
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double bench_wake(const struct opts *o)
{
	struct rring_engine *e = synth_engine(1, 1, 64);
	struct timespec settle = {0, 2000000};
	uint64_t *lat = calloc((size_t)o->wake_samples, sizeof(*lat));
	struct waker w = {.io = e ? e->io[0] : NULL};
	struct ibv_wc wc;
	pthread_t th;
	double med;
	long i;

	if (!e || !lat)
		exit(1);
	pthread_create(&th, NULL, sleeper_main, &w);
	for (i = 0; i < o->wake_samples; i++) {
		uint64_t t0;

		while (!atomic_load(&w.asleep))
			sched_yield();
		nanosleep(&settle, NULL); /* let it block in poll */
		atomic_store(&w.woke_ns, 0);
		gen_limit = gen_seq + 1;
		gen_wc(&wc, 0);
		t0 = rr_now_ns();
		rr_poller_route_wcs(e, &wc, 1);
		rr_poller_flush(e); /* publish + eventfd write */
		while (!atomic_load(&w.woke_ns))
			sched_yield();
		lat[i] = atomic_load(&w.woke_ns) - t0;
	}
	atomic_store(&w.quit, 1);
	pthread_join(th, NULL);
	qsort(lat, (size_t)o->wake_samples, sizeof(*lat), cmp_u64);
	med = (double)lat[o->wake_samples / 2] / 1000.0;
	free(lat);
	return med;
}

/* ---- Phase 2: idle CPU over softverbs ----------------------------------- */

static pthread_mutex_t idle_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t idle_cond = PTHREAD_COND_INITIALIZER;
static int idle_connected, idle_closed;

static void idle_event(struct rring_io *io, const struct rring_event *ev,
		       void *arg)
{
	(void)io;
	(void)arg;
	pthread_mutex_lock(&idle_lock);
	if (ev->type == RRING_EVENT_CONNECTED)
		idle_connected++;
	else if (ev->type == RRING_EVENT_CLOSED)
		idle_closed++;
	pthread_cond_broadcast(&idle_cond);
	pthread_mutex_unlock(&idle_lock);
}

static struct rring_engine *idle_engine(long nio)
{
	struct rring_params p;
	struct rring_handlers h = {.event = idle_event};
	struct rring_engine *e;
	char err[128];

	rring_params_init(&p);
	p.io_threads = (uint32_t)nio;
	p.rx_size = RRING_DEFAULT_RX_SIZE_MIN;
	p.msg_depth = 4;
	rring_params_set(&p, "poller-cpu", "none", err, sizeof(err));
	rring_params_set(&p, "io-thread-cpus", "none", err, sizeof(err));
	e = rring_engine_create(&p, &h);
	if (!e || rring_engine_start(e)) {
		fprintf(stderr, "engine start failed\n");
		exit(1);
	}
	return e;
}

static double bench_idle(const struct opts *o, int nconn)
{
	struct timespec win = {o->idle_s, 0}, settle = {0, 200000000};
	struct rring_engine *se = idle_engine(o->io_threads);
	struct rring_engine *ce = idle_engine(o->io_threads);
	int port = rring_listen(se, "127.0.0.1", 0, NULL), i;
	double c0, c1;

	if (port <= 0) {
		fprintf(stderr, "listen: %s\n", strerror(-port));
		exit(1);
	}
	for (i = 0; i < nconn; i++)
		rring_connect(ce, "127.0.0.1", (uint16_t)port, NULL, NULL);
	pthread_mutex_lock(&idle_lock);
	while (idle_connected < nconn && idle_closed == 0)
		pthread_cond_wait(&idle_cond, &idle_lock);
	pthread_mutex_unlock(&idle_lock);
	if (idle_connected < nconn) {
		fprintf(stderr, "only %d of %d connections\n", idle_connected,
			nconn);
		exit(1);
	}
	nanosleep(&settle, NULL); /* past poll-idle-us: everyone asleep */
	c0 = echo_engine_cpu_seconds();
	nanosleep(&win, NULL);
	c1 = echo_engine_cpu_seconds();
	rring_engine_destroy(ce);
	rring_engine_destroy(se);
	return (c1 - c0) * 100.0 / (double)o->idle_s;
}

/* ---- Main --------------------------------------------------------------- */

#define PROG "rring-bench-poller"

static long arg_long(const char *name, const char *v, long min, long max)
{
	long long x;

	if (bc_parse_ll(PROG, name, v, min, max, &x))
		exit(2);
	return (long)x;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: " PROG " [options]\n"
		"The poller's routing cost (synthetic completions routed "
		"into the IO threads'\nrings) against pushing the same "
		"entries straight into the rings, idle CPU of\nan engine "
		"over softverbs, and wake-up latency.\n\n"
		"  --connections M[,M...]  connection counts, one routing run "
		"each (1..1000000,\n"
		"                      default 1,256,1024,16384,262144)\n"
		"  --io-threads N      IO threads (1..64, default: CPUs - 1)\n"
		"  --count C           completions routed (1000..2000000000, "
		"default 20000000)\n"
		"  --idle-seconds S    idle CPU sample (1..60, default 2)\n"
		"  --wake-samples K    wake-ups timed (10..100000, default "
		"200)\n"
		"  --json FILE         also write the results as JSON\n"
		"  --help\n");
}

/* --connections: a comma-separated list of counts, one routing run each. */
static void parse_counts(const char *v, struct opts *o)
{
	char buf[256], *tok, *save = NULL;

	if (!v || strlen(v) >= sizeof(buf)) {
		fprintf(stderr, "--connections: invalid value '%s' (a list of "
				"counts 1..1000000, e.g. 1,1024)\n",
			v ? v : "");
		exit(2);
	}
	strcpy(buf, v);
	o->n_counts = 0;
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (o->n_counts == MAX_CONN_COUNTS) {
			fprintf(stderr, "--connections: at most %d counts\n",
				MAX_CONN_COUNTS);
			exit(2);
		}
		o->connections[o->n_counts++] =
		    arg_long("--connections", tok, 1, 1000000);
	}
	if (!o->n_counts)
		arg_long("--connections", "", 1, 1000000); /* exits */
}

static void parse(int argc, char **argv, struct opts *o)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int i;

	parse_counts("1,256,1024,16384,262144", o);
	o->io_threads = ncpu > 1 ? ncpu - 1 : 1;
	o->count = 20000000;
	o->idle_s = 2;
	o->wake_samples = 200;
	o->json = NULL;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--connections"))
			parse_counts(v, o), i++;
		else if (!strcmp(a, "--io-threads"))
			o->io_threads = arg_long(a, v, 1, 64), i++;
		else if (!strcmp(a, "--count"))
			o->count = arg_long(a, v, 1000, 2000000000), i++;
		else if (!strcmp(a, "--idle-seconds"))
			o->idle_s = arg_long(a, v, 1, 60), i++;
		else if (!strcmp(a, "--wake-samples"))
			o->wake_samples = arg_long(a, v, 10, 100000), i++;
		else if (!strcmp(a, "--json") && v)
			o->json = v, i++;
		else if (!strcmp(a, "--json"))
			fprintf(stderr, PROG ": --json needs a file name\n"),
			    exit(2);
		else if (!strcmp(a, "--help"))
			usage(stdout), exit(0);
		else
			exit(bc_unknown_option(PROG, a) ? 2 : 0);
	}
}

static void print_json(const struct opts *o, const struct route_result *r,
		       double idle, double wake, int argc, char **argv)
{
	FILE *f = fopen(o->json, "w");
	int k;

	if (!f) {
		perror(o->json);
		exit(1);
	}
	fprintf(f, "{");
	bc_json_meta(f, PROG, argc, argv);
	fprintf(f, "\n\"routing\":[");
	for (k = 0; k < o->n_counts; k++)
		fprintf(f,
			"%s{\"connections\":%ld,\"cqes_per_sec\":%.0f,"
			"\"ring_only_per_sec\":%.0f,"
			"\"route_to_ring_ratio\":%.3f,\"overflowed\":%llu}",
			k ? "," : "", r[k].connections, r[k].route, r[k].ring,
			r[k].route / r[k].ring,
			(unsigned long long)r[k].overflow);
	fprintf(f,
		"],\"idle_cpu_percent\":%.2f,\"wake_latency_us\":%.1f,"
		"\"io_threads\":%ld}\n",
		idle, wake, o->io_threads);
	fclose(f);
}

int main(int argc, char **argv)
{
	struct route_result r[MAX_CONN_COUNTS];
	double idle, wake;
	struct opts o;
	int k;

	parse(argc, argv, &o);
	rcu_register_thread();
	for (k = 0; k < o.n_counts; k++) {
		fprintf(stderr,
			"routing %ld completions over %ld connections, "
			"%ld IO threads...\n",
			o.count, o.connections[k], o.io_threads);
		r[k].connections = o.connections[k];
		bench_routing(&o, &r[k]);
		bc_short_sample(PROG, "routing",
				r[k].route > 0 ? o.count / r[k].route : 0,
				(uint64_t)o.count, 0);
	}
	fprintf(stderr, "wake latency...\n");
	wake = bench_wake(&o);
	fprintf(stderr, "idle CPU, 64 connections, %ld s...\n", o.idle_s);
	idle = bench_idle(&o, 64);
	printf("%12s %16s %16s %10s %12s\n", "connections", "routed CQEs/s",
	       "ring-only/s", "ratio", "overflowed");
	for (k = 0; k < o.n_counts; k++)
		printf("%12ld %16.0f %16.0f %10.2f %12llu\n", r[k].connections,
		       r[k].route, r[k].ring, r[k].route / r[k].ring,
		       (unsigned long long)r[k].overflow);
	printf("%-34s %14.2f\n", "idle CPU % (64 conns, all threads)", idle);
	printf("%-34s %14.1f\n", "wake latency us (median)", wake);
	printf("%-34s %14ld\n", "io threads", o.io_threads);
	if (o.json)
		print_json(&o, r, idle, wake, argc, argv);
	rcu_unregister_thread();
	return 0;
}
