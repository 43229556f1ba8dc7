// SPDX-License-Identifier: BSD-3-Clause
/* rdmaring: SPSC ring benchmark against ck_ring, rte_ring and a plain queue. */
#define _GNU_SOURCE /* pthread_setaffinity_np, CPU_SET */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_common.h"
#include "ring.h"

#ifdef RRING_HAVE_CK
#include <ck_ring.h>
#endif
#ifdef RRING_HAVE_DPDK
#include <rte_ring.h>
#endif

/*
 * Two threads pinned to two CPUs move `count` 8-byte values through one
 * ring per implementation, in one run, so that the numbers are ratios
 * measured side by side. The consumer checks that value i arrives i-th.
 *
 * Modes: single (one entry per enqueue/dequeue call), batch32 (up to 32
 * per call, for implementations with a batch API; ck_ring has none for
 * SPSC, so it runs 32 single calls), pingpong (one entry there and back
 * through two rings: round-trip time).
 *
 * Every implementation exposes the same two inline operations, and the
 * thread loops are stamped out per implementation by DEFINE_IMPL so that
 * they inline (no indirect call in the measured loop).
 */

#define BATCH 32

enum mode { MODE_SINGLE, MODE_BATCH32, MODE_PINGPONG, NMODES };
static const char *const mode_names[NMODES] = {"single", "batch32", "pingpong"};

struct opts {
	int cpu[2];
	unsigned int reps;
	uint64_t count;
	uint64_t pp_count;
	uint32_t size;
	unsigned int modes; /* bit per enum mode */
	int verbose;	    /* print every repetition to stderr */
	const char *json;
	int argc; /* for the JSON */
	char **argv;
};

/* ---------------------------------------------------------------- rdmaring */

struct q_rdmaring {
	struct rring_spsc r;
	uint64_t *mem;
};

static int q_rdmaring_init(struct q_rdmaring *q, uint32_t size)
{
	q->mem = aligned_alloc(RRING_CACHELINE,
			       rring_spsc_mem_size(size, sizeof(uint64_t)));
	if (!q->mem)
		return -ENOMEM;
	return rring_spsc_init(&q->r, q->mem, size, sizeof(uint64_t));
}

static void q_rdmaring_fini(struct q_rdmaring *q)
{
	free(q->mem);
}

static inline int q_rdmaring_enq1(struct q_rdmaring *q, uint64_t v)
{
	return rring_spsc_push_sized(&q->r, &v, sizeof(v)) == 0;
}

static inline int q_rdmaring_deq1(struct q_rdmaring *q, uint64_t *v)
{
	return rring_spsc_pop_sized(&q->r, v, sizeof(*v)) == 0;
}

/* Batches in place: reserve, two straight copies (before and after the
 * end of the array), one publish. */
static inline uint32_t q_rdmaring_enq(struct q_rdmaring *q, const uint64_t *v,
				      uint32_t n)
{
	uint32_t idx, c, i;
	uint64_t *p;

	n = rring_spsc_reserve(&q->r, n, &idx);
	if (!n)
		return 0;
	c = rring_spsc_contig(&q->r, idx, n);
	p = rring_spsc_slot_sized(&q->r, idx, sizeof(*p));
	for (i = 0; i < c; i++)
		p[i] = v[i];
	p = rring_spsc_slot_sized(&q->r, idx + c, sizeof(*p));
	for (; i < n; i++)
		p[i - c] = v[i];
	rring_spsc_publish(&q->r, n);
	return n;
}

static inline uint32_t q_rdmaring_deq(struct q_rdmaring *q, uint64_t *v,
				      uint32_t n)
{
	uint32_t idx, c, i;
	const uint64_t *p;

	n = rring_spsc_peek(&q->r, n, &idx);
	if (!n)
		return 0;
	c = rring_spsc_contig(&q->r, idx, n);
	p = rring_spsc_slot_sized(&q->r, idx, sizeof(*p));
	for (i = 0; i < c; i++)
		v[i] = p[i];
	p = rring_spsc_slot_sized(&q->r, idx + c, sizeof(*p));
	for (; i < n; i++)
		v[i] = p[i - c];
	rring_spsc_release(&q->r, n);
	return n;
}

/* ------------------------------------------------------------------- plain */

/* The textbook SPSC queue: acquire/release, indices on separate lines, but
 * no cached copy of the other side's index, so every call reads it. */
struct q_plain {
	_Alignas(64) _Atomic uint32_t head;
	_Alignas(64) _Atomic uint32_t tail;
	_Alignas(64) uint64_t *buf;
	uint32_t mask;
};

static int q_plain_init(struct q_plain *q, uint32_t size)
{
	q->buf = aligned_alloc(64, (size_t)size * sizeof(uint64_t));
	if (!q->buf)
		return -ENOMEM;
	q->mask = size - 1;
	atomic_init(&q->head, 0);
	atomic_init(&q->tail, 0);
	return 0;
}

static void q_plain_fini(struct q_plain *q)
{
	free(q->buf);
}

static inline int q_plain_enq1(struct q_plain *q, uint64_t v)
{
	uint32_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
	/* Pairs with the release of head in q_plain_deq1(). */
	uint32_t head = atomic_load_explicit(&q->head, memory_order_acquire);

	if (tail - head > q->mask)
		return 0;
	q->buf[tail & q->mask] = v;
	/* Pairs with the acquire of tail in q_plain_deq1(). */
	atomic_store_explicit(&q->tail, tail + 1, memory_order_release);
	return 1;
}

static inline int q_plain_deq1(struct q_plain *q, uint64_t *v)
{
	uint32_t head = atomic_load_explicit(&q->head, memory_order_relaxed);
	/* Pairs with the release of tail in q_plain_enq1(). */
	uint32_t tail = atomic_load_explicit(&q->tail, memory_order_acquire);

	if (tail == head)
		return 0;
	*v = q->buf[head & q->mask];
	/* Pairs with the acquire of head in q_plain_enq1(). */
	atomic_store_explicit(&q->head, head + 1, memory_order_release);
	return 1;
}

static inline uint32_t q_plain_enq(struct q_plain *q, const uint64_t *v,
				   uint32_t n)
{
	uint32_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
	/* Pairs with the release of head in q_plain_deq(). */
	uint32_t head = atomic_load_explicit(&q->head, memory_order_acquire);
	uint32_t free = q->mask + 1 - (tail - head), i;

	if (n > free)
		n = free;
	for (i = 0; i < n; i++)
		q->buf[(tail + i) & q->mask] = v[i];
	/* Pairs with the acquire of tail in q_plain_deq(). */
	if (n)
		atomic_store_explicit(&q->tail, tail + n, memory_order_release);
	return n;
}

static inline uint32_t q_plain_deq(struct q_plain *q, uint64_t *v, uint32_t n)
{
	uint32_t head = atomic_load_explicit(&q->head, memory_order_relaxed);
	/* Pairs with the release of tail in q_plain_enq(). */
	uint32_t tail = atomic_load_explicit(&q->tail, memory_order_acquire);
	uint32_t avail = tail - head, i;

	if (n > avail)
		n = avail;
	for (i = 0; i < n; i++)
		v[i] = q->buf[(head + i) & q->mask];
	/* Pairs with the acquire of head in q_plain_enq(). */
	if (n)
		atomic_store_explicit(&q->head, head + n, memory_order_release);
	return n;
}

/* ----------------------------------------------------------------- ck_ring */

#ifdef RRING_HAVE_CK
struct q_ck {
	_Alignas(64) struct ck_ring ring;
	struct ck_ring_buffer *buf;
};

static int q_ck_init(struct q_ck *q, uint32_t size)
{
	q->buf = aligned_alloc(64, (size_t)size * sizeof(*q->buf));
	if (!q->buf)
		return -ENOMEM;
	ck_ring_init(&q->ring, size);
	return 0;
}

static void q_ck_fini(struct q_ck *q)
{
	free(q->buf);
}

static inline int q_ck_enq1(struct q_ck *q, uint64_t v)
{
	return ck_ring_enqueue_spsc(&q->ring, q->buf, (void *)(uintptr_t)v);
}

static inline int q_ck_deq1(struct q_ck *q, uint64_t *v)
{
	void *p;

	if (!ck_ring_dequeue_spsc(&q->ring, q->buf, &p))
		return 0;
	*v = (uintptr_t)p;
	return 1;
}

/* ck_ring has no SPSC batch call: a batch is n single calls. */
static inline uint32_t q_ck_enq(struct q_ck *q, const uint64_t *v, uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n; i++)
		if (!ck_ring_enqueue_spsc(&q->ring, q->buf,
					  (void *)(uintptr_t)v[i]))
			break;
	return i;
}

static inline uint32_t q_ck_deq(struct q_ck *q, uint64_t *v, uint32_t n)
{
	uint32_t i;
	void *p;

	for (i = 0; i < n; i++) {
		if (!ck_ring_dequeue_spsc(&q->ring, q->buf, &p))
			break;
		v[i] = (uintptr_t)p;
	}
	return i;
}
#endif

/* ---------------------------------------------------------------- rte_ring */

#ifdef RRING_HAVE_DPDK
/* rte_ring_init() only fills the header (it needs no EAL, no memzone), so
 * the ring lives in our own aligned memory, sized by rte_ring_get_memsize.
 * SP/SC flags select the single-producer/single-consumer paths; the
 * explicit sp/sc calls below use them regardless. */
struct q_rte {
	struct rte_ring *r;
};

static int q_rte_init(struct q_rte *q, uint32_t size)
{
	ssize_t sz = rte_ring_get_memsize(size);
	int ret;

	if (sz < 0)
		return (int)sz;
	q->r = aligned_alloc(RTE_CACHE_LINE_SIZE,
			     ((size_t)sz + RTE_CACHE_LINE_SIZE - 1) &
				 ~(size_t)(RTE_CACHE_LINE_SIZE - 1));
	if (!q->r)
		return -ENOMEM;
	ret = rte_ring_init(q->r, "bench", size, RING_F_SP_ENQ | RING_F_SC_DEQ);
	if (ret < 0) {
		free(q->r);
		return ret;
	}
	return 0;
}

static void q_rte_fini(struct q_rte *q)
{
	free(q->r);
}

static inline int q_rte_enq1(struct q_rte *q, uint64_t v)
{
	return rte_ring_sp_enqueue(q->r, (void *)(uintptr_t)v) == 0;
}

static inline int q_rte_deq1(struct q_rte *q, uint64_t *v)
{
	void *p;

	if (rte_ring_sc_dequeue(q->r, &p) != 0)
		return 0;
	*v = (uintptr_t)p;
	return 1;
}

static inline uint32_t q_rte_enq(struct q_rte *q, const uint64_t *v, uint32_t n)
{
	return rte_ring_sp_enqueue_burst(q->r, (void *const *)v, n, NULL);
}

static inline uint32_t q_rte_deq(struct q_rte *q, uint64_t *v, uint32_t n)
{
	return rte_ring_sc_dequeue_burst(q->r, (void **)v, n, NULL);
}
#endif

/* ------------------------------------------------------------ the harness */

struct run {
	void *q[2]; /* q[1] is the return ring of pingpong */
	uint64_t count;
	uint32_t batch;
	int cpu;
	_Atomic int *go;
	uint64_t errors;
};

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void pin_self(int cpu)
{
	cpu_set_t set;
	int ret;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	ret = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	if (ret) {
		fprintf(stderr, "rring-bench-ring: cannot pin to CPU %d: %s\n",
			cpu, strerror(ret));
		exit(1);
	}
}

static void wait_go(struct run *rn)
{
	pin_self(rn->cpu);
	/* Pairs with the release store in run_pair(). */
	while (!atomic_load_explicit(rn->go, memory_order_acquire))
		rring_cpu_relax();
}

/* The producer sends 1..count; the consumer checks them in order. Single
 * mode uses each implementation's one-entry calls, batch mode its batch
 * calls with up to BATCH entries. */
#define DEFINE_IMPL(X)                                                         \
	static void X##_produce1(struct q_##X *q, uint64_t count)              \
	{                                                                      \
		uint64_t next = 1;                                             \
		while (next <= count)                                          \
			next += q_##X##_enq1(q, next);                         \
	}                                                                      \
	static uint64_t X##_consume1(struct q_##X *q, uint64_t count)          \
	{                                                                      \
		uint64_t v = 0, next = 1, errors = 0;                          \
		while (next <= count)                                          \
			if (q_##X##_deq1(q, &v))                               \
				errors += v != next++;                         \
		return errors;                                                 \
	}                                                                      \
	static void X##_produce(struct q_##X *q, uint64_t count)               \
	{                                                                      \
		uint64_t v[BATCH] = {0}, next = 1;                             \
		uint32_t i, want;                                              \
		while (next <= count) {                                        \
			want = count - next + 1 < BATCH ? count - next + 1     \
							: BATCH;               \
			for (i = 0; i < want; i++)                             \
				v[i] = next + i;                               \
			next += q_##X##_enq(q, v, want);                       \
		}                                                              \
	}                                                                      \
	static uint64_t X##_consume(struct q_##X *q, uint64_t count)           \
	{                                                                      \
		uint64_t v[BATCH] = {0}, next = 1, errors = 0;                 \
		uint32_t i, n;                                                 \
		while (next <= count) {                                        \
			n = q_##X##_deq(q, v, BATCH);                          \
			for (i = 0; i < n; i++)                                \
				errors += v[i] != next + i;                    \
			next += n;                                             \
		}                                                              \
		return errors;                                                 \
	}                                                                      \
	static void *X##_producer(void *arg)                                   \
	{                                                                      \
		struct run *rn = arg;                                          \
		wait_go(rn);                                                   \
		if (rn->batch == 1)                                            \
			X##_produce1(rn->q[0], rn->count);                     \
		else                                                           \
			X##_produce(rn->q[0], rn->count);                      \
		return NULL;                                                   \
	}                                                                      \
	static void *X##_consumer(void *arg)                                   \
	{                                                                      \
		struct run *rn = arg;                                          \
		wait_go(rn);                                                   \
		if (rn->batch == 1)                                            \
			rn->errors = X##_consume1(rn->q[0], rn->count);        \
		else                                                           \
			rn->errors = X##_consume(rn->q[0], rn->count);         \
		return NULL;                                                   \
	}                                                                      \
	/* Ping: send i on q[0], wait for it back on q[1]. */                  \
	static void *X##_ping(void *arg)                                       \
	{                                                                      \
		struct run *rn = arg;                                          \
		uint64_t i, v;                                                 \
		wait_go(rn);                                                   \
		for (i = 1; i <= rn->count; i++) {                             \
			while (!q_##X##_enq1(rn->q[0], i))                     \
				;                                              \
			while (!q_##X##_deq1(rn->q[1], &v))                    \
				;                                              \
			rn->errors += v != i;                                  \
		}                                                              \
		return NULL;                                                   \
	}                                                                      \
	/* Pong: echo each value from q[0] back on q[1]. */                    \
	static void *X##_pong(void *arg)                                       \
	{                                                                      \
		struct run *rn = arg;                                          \
		uint64_t i, v;                                                 \
		wait_go(rn);                                                   \
		for (i = 1; i <= rn->count; i++) {                             \
			while (!q_##X##_deq1(rn->q[0], &v))                    \
				;                                              \
			while (!q_##X##_enq1(rn->q[1], v))                     \
				;                                              \
		}                                                              \
		return NULL;                                                   \
	}                                                                      \
	static int X##_new(void **q, uint32_t size)                            \
	{                                                                      \
		struct q_##X *p = aligned_alloc(64, sizeof(*p));               \
		int ret;                                                       \
		if (!p)                                                        \
			return -ENOMEM;                                        \
		memset(p, 0, sizeof(*p));                                      \
		ret = q_##X##_init(p, size);                                   \
		if (ret) {                                                     \
			free(p);                                               \
			return ret;                                            \
		}                                                              \
		*q = p;                                                        \
		return 0;                                                      \
	}                                                                      \
	static void X##_free(void *q)                                          \
	{                                                                      \
		q_##X##_fini(q);                                               \
		free(q);                                                       \
	}

DEFINE_IMPL(rdmaring)
DEFINE_IMPL(plain)
#ifdef RRING_HAVE_CK
DEFINE_IMPL(ck)
#endif
#ifdef RRING_HAVE_DPDK
DEFINE_IMPL(rte)
#endif

struct impl {
	const char *name; /* as in the JSON */
	int (*create)(void **q, uint32_t size);
	void (*destroy)(void *q);
	void *(*producer)(void *);
	void *(*consumer)(void *);
	void *(*ping)(void *);
	void *(*pong)(void *);
};

#define IMPL(X, NAME)                                                          \
	{                                                                      \
		NAME, X##_new, X##_free, X##_producer, X##_consumer, X##_ping, \
		    X##_pong                                                   \
	}

static const struct impl impls[] = {
    IMPL(rdmaring, "rdmaring"),
#ifdef RRING_HAVE_CK
    IMPL(ck, "ck_ring"),
#endif
#ifdef RRING_HAVE_DPDK
    IMPL(rte, "rte_ring"),
#endif
    IMPL(plain, "plain"),
};
#define NIMPLS (sizeof(impls) / sizeof(impls[0]))

static const char *const skipped[] = {
#ifndef RRING_HAVE_CK
    "ck_ring",
#endif
#ifndef RRING_HAVE_DPDK
    "rte_ring",
#endif
    NULL,
};

/* Start both threads, release them together, return elapsed ns or < 0. */
static double run_pair(void *(*a)(void *), void *(*b)(void *), struct run *ra,
		       struct run *rb)
{
	_Atomic int go = 0;
	pthread_t ta, tb;
	double t0, t1;

	ra->go = &go;
	rb->go = &go;
	if (pthread_create(&ta, NULL, a, ra))
		return -1;
	if (pthread_create(&tb, NULL, b, rb)) {
		/* Let a finish: it would spin forever otherwise. */
		atomic_store_explicit(&go, 1, memory_order_release);
		pthread_join(ta, NULL);
		return -1;
	}
	t0 = now_ns();
	/* Pairs with the acquire loads in wait_go(). */
	atomic_store_explicit(&go, 1, memory_order_release);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	t1 = now_ns();
	return t1 - t0;
}

/* One repetition of one mode; returns Mops/s or RTT ns, < 0 on failure. */
static double run_once(const struct impl *im, enum mode m, const struct opts *o)
{
	struct run ra = {0}, rb = {0};
	void *q[2] = {NULL, NULL};
	double ns, res = -1;

	if (im->create(&q[0], o->size))
		goto out;
	if (m == MODE_PINGPONG && im->create(&q[1], o->size))
		goto out;
	ra.q[0] = rb.q[0] = q[0];
	ra.q[1] = rb.q[1] = q[1];
	ra.cpu = o->cpu[0];
	rb.cpu = o->cpu[1];
	ra.batch = rb.batch = m == MODE_BATCH32 ? BATCH : 1;
	ra.count = rb.count = m == MODE_PINGPONG ? o->pp_count : o->count;
	if (m == MODE_PINGPONG)
		ns = run_pair(im->ping, im->pong, &ra, &rb);
	else
		ns = run_pair(im->producer, im->consumer, &ra, &rb);
	if (ns <= 0)
		goto out;
	if (ra.errors || rb.errors) {
		fprintf(stderr,
			"rring-bench-ring: %s %s: %llu entries out of "
			"sequence\n",
			im->name, mode_names[m],
			(unsigned long long)(ra.errors + rb.errors));
		goto out;
	}
	res = m == MODE_PINGPONG ? ns / (double)o->pp_count
				 : (double)o->count / ns * 1e3;
out:
	if (q[1])
		im->destroy(q[1]);
	if (q[0])
		im->destroy(q[0]);
	return res;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, unsigned int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ------------------------------------------------------------- arguments */

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: rring-bench-ring [--cpus A,B] [--reps N] [--count N]\n"
	    "                        [--pingpong-count N] [--size N] "
	    "[--modes LIST]\n"
	    "                        [--json FILE] [--verbose]\n"
	    "  --cpus A,B          producer and consumer CPUs (default "
	    "0,1)\n"
	    "  --reps N            repetitions, median reported (1..1000, "
	    "default 5)\n"
	    "  --count N           entries per throughput run (1000..1e11, "
	    "default 10000000)\n"
	    "  --pingpong-count N  round trips per ping-pong run (100..1e10, "
	    "default 1000000)\n"
	    "  --size N            ring entries, power of two (64..1048576, "
	    "default 1024)\n"
	    "  --modes LIST        comma-separated subset of "
	    "single,batch32,pingpong\n"
	    "  --json FILE         also write the results as JSON\n"
	    "  --verbose           print every repetition to stderr\n");
}

#define PROG "rring-bench-ring"

static int parse_ll(const char *key, const char *s, long long min,
		    long long max, long long *out)
{
	return bc_parse_ll(PROG, key, s, min, max, out);
}

static int parse_cpus(const char *s, int cpu[2])
{
	char buf[64], *comma;
	long long v;

	if (!s)
		s = ""; /* missing value */
	if (strlen(s) >= sizeof(buf) ||
	    !(comma = strchr(strcpy(buf, s), ','))) {
		fprintf(stderr, "rring-bench-ring: --cpus: '%s' is not A,B\n",
			s);
		return -EINVAL;
	}
	*comma = '\0';
	if (parse_ll("--cpus", buf, 0, CPU_SETSIZE - 1, &v))
		return -EINVAL;
	cpu[0] = (int)v;
	if (parse_ll("--cpus", comma + 1, 0, CPU_SETSIZE - 1, &v))
		return -EINVAL;
	cpu[1] = (int)v;
	return 0;
}

/* Both CPUs distinct and in this process's affinity mask. */
static int check_cpus(const int cpu[2])
{
	cpu_set_t allowed;
	int i;

	if (cpu[0] == cpu[1]) {
		fprintf(stderr, "rring-bench-ring: --cpus: need two different "
				"CPUs\n");
		return -EINVAL;
	}
	if (sched_getaffinity(0, sizeof(allowed), &allowed) == 0)
		for (i = 0; i < 2; i++)
			if (!CPU_ISSET(cpu[i], &allowed)) {
				fprintf(stderr,
					"rring-bench-ring: --cpus: CPU %d is "
					"not available to this process\n",
					cpu[i]);
				return -EINVAL;
			}
	return 0;
}

static int parse_modes(const char *s, unsigned int *modes)
{
	char buf[64], *tok, *save;
	unsigned int m;

	if (!s)
		s = ""; /* missing value */
	if (strlen(s) >= sizeof(buf))
		goto bad;
	strcpy(buf, s);
	*modes = 0;
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		for (m = 0; m < NMODES; m++)
			if (!strcmp(tok, mode_names[m]))
				break;
		if (m == NMODES)
			goto bad;
		*modes |= 1u << m;
	}
	if (*modes)
		return 0;
bad:
	fprintf(stderr,
		"rring-bench-ring: --modes: '%s' is not a list of "
		"single, batch32, pingpong\n",
		s);
	return -EINVAL;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	const char *k, *val;
	long long v;
	int i;

	for (i = 1; i < argc; i++) {
		k = argv[i];

		if (!strcmp(k, "--help") || !strcmp(k, "-h")) {
			usage(stdout);
			exit(0);
		}
		if (!strcmp(k, "--verbose") || !strcmp(k, "-v")) {
			o->verbose = 1;
			continue;
		}
		val = i + 1 < argc ? argv[++i] : NULL;

		if (!strcmp(k, "--cpus")) {
			if (parse_cpus(val, o->cpu))
				return -EINVAL;
		} else if (!strcmp(k, "--reps")) {
			if (parse_ll(k, val, 1, 1000, &v))
				return -EINVAL;
			o->reps = (unsigned int)v;
		} else if (!strcmp(k, "--count")) {
			if (parse_ll(k, val, 1000, 100000000000LL, &v))
				return -EINVAL;
			o->count = (uint64_t)v;
		} else if (!strcmp(k, "--pingpong-count")) {
			if (parse_ll(k, val, 100, 10000000000LL, &v))
				return -EINVAL;
			o->pp_count = (uint64_t)v;
		} else if (!strcmp(k, "--size")) {
			if (parse_ll(k, val, 64, 1 << 20, &v))
				return -EINVAL;
			if (v & (v - 1)) {
				fprintf(stderr,
					"rring-bench-ring: --size: "
					"%lld is not a power of two\n",
					v);
				return -EINVAL;
			}
			o->size = (uint32_t)v;
		} else if (!strcmp(k, "--modes")) {
			if (parse_modes(val, &o->modes))
				return -EINVAL;
		} else if (!strcmp(k, "--json") && val) {
			o->json = val;
		} else if (!strcmp(k, "--json")) {
			fprintf(stderr, PROG ": --json needs a file name\n");
			return -EINVAL;
		} else {
			return bc_unknown_option(PROG, k);
		}
	}
	return 0;
}

/* ---------------------------------------------------------------- output */

static int write_json(const struct opts *o, double res[][NMODES])
{
	FILE *f = fopen(o->json, "w");
	const char *sep = "";
	unsigned int i, m;

	if (!f) {
		fprintf(stderr, "rring-bench-ring: %s: %s\n", o->json,
			strerror(errno));
		return -errno;
	}
	fprintf(f, "{");
	bc_json_meta(f, PROG, o->argc, o->argv);
	fprintf(f, "\n\"results\":[");
	for (i = 0; i < NIMPLS; i++)
		for (m = 0; m < NMODES; m++) {
			if (!(o->modes & (1u << m)))
				continue;
			fprintf(f,
				"%s\n "
				"{\"impl\":\"%s\",\"mode\":\"%s\",\"%s\":%.2f}",
				sep, impls[i].name, mode_names[m],
				m == MODE_PINGPONG ? "rtt_ns" : "mops",
				res[i][m]);
			sep = ",";
		}
	fprintf(f, "\n],\"skipped\":[");
	for (i = 0; skipped[i]; i++)
		fprintf(f, "%s\"%s\"", i ? "," : "", skipped[i]);
	fprintf(f,
		"],\n\"config\":{\"cpus\":[%d,%d],\"reps\":%u,"
		"\"count\":%llu,\"pingpong_count\":%llu,\"size\":%u,"
		"\"entry_bytes\":8}}\n",
		o->cpu[0], o->cpu[1], o->reps, (unsigned long long)o->count,
		(unsigned long long)o->pp_count, o->size);
	if (fclose(f)) {
		fprintf(stderr, "rring-bench-ring: %s: %s\n", o->json,
			strerror(errno));
		return -errno;
	}
	return 0;
}

static void print_table(const struct opts *o, double res[][NMODES])
{
	unsigned int i, m;

	printf("rring-bench-ring: 8-byte entries, ring of %u, CPUs %d,%d, "
	       "median of %u\n",
	       o->size, o->cpu[0], o->cpu[1], o->reps);
	printf("%-10s %14s %14s %14s\n", "impl", "single Mops/s",
	       "batch32 Mops/s", "pingpong ns");
	for (i = 0; i < NIMPLS; i++) {
		printf("%-10s", impls[i].name);
		for (m = 0; m < NMODES; m++)
			if (res[i][m] < 0)
				printf(" %14s", "-");
			else
				printf(" %14.1f", res[i][m]);
		printf("\n");
	}
	for (i = 0; skipped[i]; i++)
		printf("%-10s skipped (library not found at build time)\n",
		       skipped[i]);
}

/* A median repetition shorter than 100 ms is mostly thread start-up. */
static void warn_short(const struct impl *im, enum mode m, const struct opts *o,
		       double res)
{
	char what[64];
	double secs = m == MODE_PINGPONG ? res * (double)o->pp_count / 1e9
					 : (double)o->count / (res * 1e6);

	snprintf(what, sizeof(what), "%s %s", im->name, mode_names[m]);
	bc_short_sample(PROG, what, secs,
			m == MODE_PINGPONG ? o->pp_count : o->count, 0);
}

int main(int argc, char **argv)
{
	struct opts o = {
	    .cpu = {0, 1},
	    .reps = 5,
	    .count = 10000000,
	    .pp_count = 1000000,
	    .size = 1024,
	    .modes = (1u << NMODES) - 1,
	};
	static double all[NIMPLS][1000];
	double res[NIMPLS][NMODES];
	unsigned int i, m, r;

	o.argc = argc;
	o.argv = argv;
	if (parse_args(argc, argv, &o) || check_cpus(o.cpu))
		return 2;
	/* Repetitions interleave the implementations so that a noisy period
	 * on a shared machine hits all of them, not one. */
	for (m = 0; m < NMODES; m++) {
		for (i = 0; i < NIMPLS; i++)
			res[i][m] = -1; /* not run */
		if (!(o.modes & (1u << m)))
			continue;
		for (r = 0; r < o.reps; r++)
			for (i = 0; i < NIMPLS; i++) {
				all[i][r] = run_once(&impls[i], m, &o);
				if (all[i][r] < 0)
					return 1;
				if (o.verbose)
					fprintf(stderr, "%s %s rep %u: %.1f\n",
						impls[i].name, mode_names[m], r,
						all[i][r]);
			}
		for (i = 0; i < NIMPLS; i++) {
			res[i][m] = median(all[i], o.reps);
			warn_short(&impls[i], m, &o, res[i][m]);
		}
	}
	print_table(&o, res);
	if (o.json && write_json(&o, res))
		return 1;
	return 0;
}
