// SPDX-License-Identifier: BSD-3-Clause
/* rdmaring: tests of the SPSC ring (engine/ring.h), one and two threads. */
#define _GNU_SOURCE /* pthread, eventfd, poll */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "ring.h"
#include "test_support.h"

/* Sanitizers slow threads down 5-20x: scale the threaded counts so CI stays
 * fast while keeping every configuration. */
#ifdef TS_SANITIZED
#define SCALE 64
#else
#define SCALE 1
#endif

/* ------------------------------------------------------------- helpers */

static uint64_t rnd(uint64_t *s)
{
	/* xorshift64*: cheap, per-thread, reproducible from the seed. */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

/* Fill an entry of esize bytes for sequence number seq: every 8-byte word
 * depends on seq and its position, so a torn or stale read is detected. */
static void fill(void *e, uint32_t esize, uint64_t seq)
{
	uint64_t *w = e;
	uint32_t i;

	for (i = 0; i < esize / 8; i++)
		w[i] = seq * 0x9e3779b97f4a7c15ull + i;
}

static int check(const void *e, uint32_t esize, uint64_t seq)
{
	const uint64_t *w = e;
	uint32_t i;

	for (i = 0; i < esize / 8; i++)
		if (w[i] != seq * 0x9e3779b97f4a7c15ull + i)
			return 0;
	return 1;
}

struct ring {
	struct rring_spsc r;
	void *mem;
};

static void ring_new(struct ring *rg, uint32_t n, uint32_t esize,
		     uint32_t start)
{
	size_t sz = rring_spsc_mem_size(n, esize);

	cr_assert_neq(sz, 0);
	rg->mem =
	    aligned_alloc(RRING_CACHELINE, (sz + RRING_CACHELINE - 1) &
					       ~(size_t)(RRING_CACHELINE - 1));
	cr_assert_not_null(rg->mem);
	memset(rg->mem, 0xa5, sz);
	cr_assert_eq(rring_spsc_init_at(&rg->r, rg->mem, n, esize, start), 0);
}

static void ring_free(struct ring *rg)
{
	free(rg->mem);
}

/*
 * The file builds twice (tests/ring/CMakeLists.txt): RRING_TEST_THREADED=0
 * gives the single-threaded tests (label unit), =1 the two-thread tests
 * (label threaded, also run under TSan).
 */
#if !RRING_TEST_THREADED

/* ------------------------------------------------- init and geometry */

Test(ring, init_rejects_bad_sizes)
{
	static uint64_t mem[64];
	struct rring_spsc r;

	cr_assert_eq(rring_spsc_init(&r, mem, 0, 8), -EINVAL);
	cr_assert_eq(rring_spsc_init(&r, mem, 3, 8), -EINVAL);
	cr_assert_eq(rring_spsc_init(&r, mem, 12, 8), -EINVAL);
	cr_assert_eq(rring_spsc_init(&r, mem, (1u << 31) + 1, 8), -EINVAL);
	cr_assert_eq(rring_spsc_init(&r, mem, UINT32_MAX, 8), -EINVAL);
	cr_assert_eq(rring_spsc_init(&r, mem, 8, 0), -EINVAL);
	cr_assert_eq(rring_spsc_init(&r, mem, 8, 4), -EINVAL);
	cr_assert_eq(rring_spsc_init(&r, mem, 8, 12), -EINVAL);
	cr_assert_eq(rring_spsc_init(&r, mem, 8, RRING_SPSC_MAX_ENTRY_SIZE + 8),
		     -EINVAL);
	cr_assert_eq(rring_spsc_init(&r, NULL, 8, 8), -EINVAL);
	cr_assert_eq(rring_spsc_init(NULL, mem, 8, 8), -EINVAL);
	cr_assert_eq(rring_spsc_init(&r, (char *)mem + 4, 8, 8), -EINVAL);

	cr_assert_eq(rring_spsc_init(&r, mem, 1, 8), 0);
	cr_assert_eq(rring_spsc_capacity(&r), 1);
	cr_assert_eq(rring_spsc_init(&r, mem, 64, 8), 0);
	cr_assert_eq(rring_spsc_capacity(&r), 64);
	cr_assert_eq(rring_spsc_init(&r, mem, 8, 64), 0);
	cr_assert_eq(rring_spsc_init(&r, mem, 16, 24), 0);
	cr_assert_eq(rring_spsc_count(&r), 0);
}

Test(ring, mem_size)
{
	cr_assert_eq(rring_spsc_mem_size(8, 8), 64);
	cr_assert_eq(rring_spsc_mem_size(1024, 64), 65536);
	cr_assert_eq(rring_spsc_mem_size(16, 24), 384);
	cr_assert_eq(rring_spsc_mem_size(1u << 31, 8), (size_t)1 << 34);
	cr_assert_eq(rring_spsc_mem_size(0, 8), 0);
	cr_assert_eq(rring_spsc_mem_size(6, 8), 0);
	cr_assert_eq(rring_spsc_mem_size(8, 7), 0);
	cr_assert_eq(rring_spsc_mem_size(8, 0), 0);
}

Test(ring, layout_separates_the_sides)
{
	/* The _Static_asserts in ring.h are the real check; this documents
	 * them where a reader of the tests looks. */
	cr_assert_eq(sizeof(struct rring_spsc) % RRING_CACHELINE, 0);
	cr_assert_eq(_Alignof(struct rring_spsc), RRING_CACHELINE);
}

/* ------------------------------------------------- single-threaded */

/* Fill to capacity, check full, drain in order, check empty; for several
 * entry sizes, including the engine's 64-byte entries and a non-power-of-
 * two size. */
static void empty_full(uint32_t n, uint32_t esize, uint32_t start)
{
	unsigned char e[256];
	struct ring rg;
	uint64_t seq;
	uint32_t idx;

	ring_new(&rg, n, esize, start);
	cr_assert_eq(rring_spsc_pop(&rg.r, e), -EAGAIN);
	cr_assert(rring_spsc_empty(&rg.r));
	cr_assert_eq(rring_spsc_peek(&rg.r, 1, &idx), 0);
	for (seq = 0; seq < n; seq++) {
		fill(e, esize, seq);
		cr_assert_eq(rring_spsc_push(&rg.r, e), 0, "push %llu of %u",
			     (unsigned long long)seq, n);
		cr_assert_eq(rring_spsc_count(&rg.r), seq + 1);
	}
	fill(e, esize, 999);
	cr_assert_eq(rring_spsc_push(&rg.r, e), -EAGAIN, "push to a full ring");
	cr_assert_eq(rring_spsc_reserve(&rg.r, 1, &idx), 0);
	cr_assert_eq(rring_spsc_count(&rg.r), n);
	for (seq = 0; seq < n; seq++) {
		memset(e, 0, sizeof(e));
		cr_assert_eq(rring_spsc_pop(&rg.r, e), 0);
		cr_assert(check(e, esize, seq), "entry %llu corrupted",
			  (unsigned long long)seq);
	}
	cr_assert_eq(rring_spsc_pop(&rg.r, e), -EAGAIN);
	cr_assert_eq(rring_spsc_count(&rg.r), 0);
	cr_assert_eq(rring_spsc_reserve(&rg.r, n + 5, &idx), n);
	ring_free(&rg);
}

Test(ring, empty_and_full)
{
	empty_full(1, 8, 0);
	empty_full(2, 8, 0);
	empty_full(8, 8, 0);
	empty_full(1024, 8, 0);
	empty_full(16, 64, 0);
	empty_full(16, 24, 0);
	empty_full(4, 256, 0);
}

Test(ring, partial_batches)
{
	struct ring rg;
	uint32_t idx, n, i;
	uint64_t seq = 0, got = 0;

	ring_new(&rg, 16, 64, 0);
	cr_assert_eq(rring_spsc_reserve(&rg.r, 10, &idx), 10);
	cr_assert_eq(idx, 0);
	for (i = 0; i < 10; i++)
		fill(rring_spsc_slot(&rg.r, idx + i), 64, seq++);
	rring_spsc_publish(&rg.r, 10);

	/* Only 6 free: reserve returns fewer than asked. */
	cr_assert_eq(rring_spsc_reserve(&rg.r, 10, &idx), 6);
	cr_assert_eq(idx, 10);
	for (i = 0; i < 3; i++)
		fill(rring_spsc_slot(&rg.r, idx + i), 64, seq++);
	rring_spsc_publish(&rg.r, 3); /* publish less than reserved */
	cr_assert_eq(rring_spsc_count(&rg.r), 13);

	/* Only 13 published: peek returns fewer than asked. */
	cr_assert_eq(rring_spsc_peek(&rg.r, 20, &idx), 13);
	cr_assert_eq(idx, 0);
	for (i = 0; i < 5; i++)
		cr_assert(check(rring_spsc_slot(&rg.r, idx + i), 64, got++));
	rring_spsc_release(&rg.r, 5); /* release less than peeked */
	cr_assert_eq(rring_spsc_count(&rg.r), 8);

	/* 8 free now, and the batch wraps around the end of the array. */
	n = rring_spsc_reserve(&rg.r, 100, &idx);
	cr_assert_eq(n, 8);
	cr_assert_eq(idx, 13);
	for (i = 0; i < n; i++)
		fill(rring_spsc_slot(&rg.r, idx + i), 64, seq++);
	rring_spsc_publish(&rg.r, n);
	cr_assert_eq(rring_spsc_reserve(&rg.r, 1, &idx), 0);
	cr_assert_eq(rring_spsc_count(&rg.r), 16);

	/* Peek resumes where release stopped. */
	n = rring_spsc_peek(&rg.r, UINT32_MAX, &idx);
	cr_assert_eq(n, 16);
	cr_assert_eq(idx, 5);
	for (i = 0; i < n; i++)
		cr_assert(check(rring_spsc_slot(&rg.r, idx + i), 64, got++),
			  "entry %llu", (unsigned long long)got - 1);
	rring_spsc_release(&rg.r, n);
	cr_assert_eq(got, seq);
	cr_assert(rring_spsc_empty(&rg.r));
	ring_free(&rg);
}

/* Slots are addressed by the masked index: consecutive indices are
 * consecutive slots, and index n maps back to slot 0. */
Test(ring, slot_addresses)
{
	struct ring rg;

	ring_new(&rg, 8, 24, 0);
	cr_assert_eq(rring_spsc_slot(&rg.r, 0), rg.mem);
	cr_assert_eq(rring_spsc_slot(&rg.r, 3), (char *)rg.mem + 72);
	cr_assert_eq(rring_spsc_slot(&rg.r, 8), rg.mem);
	cr_assert_eq(rring_spsc_slot(&rg.r, UINT32_MAX), (char *)rg.mem + 168);
	ring_free(&rg);
}

/* contig() splits a batch at the end of the array. */
Test(ring, contig_splits_at_the_array_end)
{
	struct ring rg;

	ring_new(&rg, 8, 64, 0);
	cr_assert_eq(rring_spsc_contig(&rg.r, 0, 8), 8);
	cr_assert_eq(rring_spsc_contig(&rg.r, 5, 8), 3);
	cr_assert_eq(rring_spsc_contig(&rg.r, 5, 2), 2);
	cr_assert_eq(rring_spsc_contig(&rg.r, 7, 4), 1);
	cr_assert_eq(rring_spsc_contig(&rg.r, UINT32_MAX, 4), 1);
	cr_assert_eq(rring_spsc_contig(&rg.r, 16, 0), 0);
	ring_free(&rg);
}

/* Cross the 2^32 wrap of the free-running indices many times over, with
 * random batch sizes on both sides, checking every entry and the count. */
static void wrap_run(uint32_t n, uint32_t esize, uint32_t start)
{
	uint64_t s = 0x1234567 + n + start, seq = 0, got = 0;
	struct ring rg;
	uint32_t idx, k, i, want;

	ring_new(&rg, n, esize, start);
	while (got < 20 * (uint64_t)n + 1000) {
		want = (uint32_t)(rnd(&s) % (2 * n)) + 1;
		k = rring_spsc_reserve(&rg.r, want, &idx);
		cr_assert_eq(idx, (uint32_t)(start + seq));
		cr_assert_leq(k, want);
		cr_assert_eq(k,
			     want < n - (seq - got) ? want : n - (seq - got));
		for (i = 0; i < k; i++)
			fill(rring_spsc_slot(&rg.r, idx + i), esize, seq + i);
		rring_spsc_publish(&rg.r, k);
		seq += k;
		cr_assert_eq(rring_spsc_count(&rg.r), seq - got);

		want = (uint32_t)(rnd(&s) % (2 * n)) + 1;
		k = rring_spsc_peek(&rg.r, want, &idx);
		cr_assert_eq(idx, (uint32_t)(start + got));
		cr_assert_eq(k, want < seq - got ? want : seq - got);
		for (i = 0; i < k; i++)
			cr_assert(check(rring_spsc_slot(&rg.r, idx + i), esize,
					got + i),
				  "entry %llu", (unsigned long long)(got + i));
		rring_spsc_release(&rg.r, k);
		got += k;
	}
	cr_assert_gt((uint64_t)start + seq, (uint64_t)UINT32_MAX,
		     "the run crossed the wrap");
	ring_free(&rg);
}

Test(ring, wraparound_near_uint32_max)
{
	wrap_run(8, 8, UINT32_MAX - 5);
	wrap_run(16, 64, UINT32_MAX - 15);
	wrap_run(16, 64, UINT32_MAX);
	wrap_run(1, 8, UINT32_MAX);
	wrap_run(1024, 8, UINT32_MAX - 1000);
}

/* A full ring whose tail has wrapped while its head has not. */
Test(ring, full_across_the_wrap)
{
	unsigned char e[64];
	struct ring rg;
	uint64_t seq;

	ring_new(&rg, 16, 64, UINT32_MAX - 7);
	for (seq = 0; seq < 16; seq++) {
		fill(e, 64, seq);
		cr_assert_eq(rring_spsc_push(&rg.r, e), 0);
	}
	cr_assert_eq(rring_spsc_push(&rg.r, e), -EAGAIN);
	cr_assert_eq(rring_spsc_count(&rg.r), 16);
	for (seq = 0; seq < 16; seq++) {
		cr_assert_eq(rring_spsc_pop(&rg.r, e), 0);
		cr_assert(check(e, 64, seq));
	}
	cr_assert_eq(rring_spsc_pop(&rg.r, e), -EAGAIN);
	ring_free(&rg);
}

/* The sleep protocol, step by step on one thread. */
Test(ring, need_wakeup_single_thread)
{
	uint64_t v = 7;
	struct ring rg;

	ring_new(&rg, 8, 8, 0);
	/* Empty: the consumer may sleep, the flag is up. */
	cr_assert(rring_spsc_prepare_sleep(&rg.r));
	cr_assert(rring_load_relaxed(&rg.r.flags) & RRING_SPSC_NEED_WAKEUP);
	/* A publish sees it, claims it once. */
	cr_assert_eq(rring_spsc_push(&rg.r, &v), 0);
	cr_assert(rring_spsc_needs_wakeup(&rg.r));
	cr_assert_eq(rring_spsc_push(&rg.r, &v), 0);
	cr_assert_not(rring_spsc_needs_wakeup(&rg.r), "claimed only once");
	rring_spsc_cancel_sleep(&rg.r);
	cr_assert_eq(rring_load_relaxed(&rg.r.flags), 0);

	/* Not empty: prepare_sleep says do not sleep; cancel clears. */
	cr_assert_not(rring_spsc_prepare_sleep(&rg.r));
	rring_spsc_cancel_sleep(&rg.r);
	cr_assert_not(rring_spsc_needs_wakeup(&rg.r));
	cr_assert_eq(rring_spsc_pop(&rg.r, &v), 0);
	cr_assert_eq(rring_spsc_pop(&rg.r, &v), 0);

	/* No sleeper: publishes never ask for a wakeup. */
	cr_assert_eq(rring_spsc_push(&rg.r, &v), 0);
	cr_assert_not(rring_spsc_needs_wakeup(&rg.r));
	ring_free(&rg);
}

#else /* RRING_TEST_THREADED */

/* ------------------------------------------------------- two threads */

/* Spin-wait step: relax, and give the CPU away now and then so that a
 * preempted peer on this shared 2-core machine gets to run. */
static void backoff(unsigned int *spins)
{
	if (++*spins % 256 == 0)
		sched_yield();
	else
		rring_cpu_relax();
}

struct stress {
	struct ring rg;
	uint64_t total;
	uint32_t batch;
	uint32_t esize;
	uint64_t seed;
	uint64_t bad; /* consumer: entries out of sequence or torn */
	uint64_t got;
};

static void *stress_producer(void *arg)
{
	struct stress *st = arg;
	uint64_t s = st->seed, seq = 0, e[1];
	unsigned int spins = 0;
	uint32_t idx, k, i, want;

	while (st->batch == 0 && seq < st->total) { /* push, one entry */
		fill(e, 8, seq);
		if (rring_spsc_push_sized(&st->rg.r, e, 8))
			backoff(&spins);
		else
			seq++;
	}
	while (seq < st->total) {
		want = st->batch == 1 ? 1 : (uint32_t)(rnd(&s) % st->batch) + 1;
		if (want > st->total - seq)
			want = (uint32_t)(st->total - seq);
		k = rring_spsc_reserve(&st->rg.r, want, &idx);
		if (!k) {
			backoff(&spins);
			continue;
		}
		for (i = 0; i < k; i++)
			fill(rring_spsc_slot(&st->rg.r, idx + i), st->esize,
			     seq + i);
		rring_spsc_publish(&st->rg.r, k);
		seq += k;
	}
	return NULL;
}

static void *stress_consumer(void *arg)
{
	struct stress *st = arg;
	uint64_t s = st->seed * 3 + 1, seq = 0, e[1];
	unsigned int spins = 0;
	uint32_t idx, k, i, want;

	while (st->batch == 0 && seq < st->total) { /* pop, one entry */
		if (rring_spsc_pop_sized(&st->rg.r, e, 8)) {
			backoff(&spins);
			continue;
		}
		if (!check(e, 8, seq))
			st->bad++;
		seq++;
	}
	while (seq < st->total) {
		want = st->batch == 1 ? 1 : (uint32_t)(rnd(&s) % st->batch) + 1;
		k = rring_spsc_peek(&st->rg.r, want, &idx);
		if (!k) {
			backoff(&spins);
			continue;
		}
		/* Release only part of what was peeked, sometimes: the rest
		 * must be peeked again, at the same index. */
		if (k > 1 && rnd(&s) % 4 == 0)
			k = (uint32_t)(rnd(&s) % k) + 1;
		for (i = 0; i < k; i++)
			if (!check(rring_spsc_slot(&st->rg.r, idx + i),
				   st->esize, seq + i))
				st->bad++;
		rring_spsc_release(&st->rg.r, k);
		seq += k;
	}
	st->got = seq;
	return NULL;
}

static void stress_run(uint32_t n, uint32_t esize, uint32_t batch,
		       uint64_t total, uint32_t start)
{
	struct stress st = {
	    .total = total,
	    .batch = batch,
	    .esize = esize,
	    .seed = 0x9e3779b9u ^ (n * 31 + batch),
	};
	pthread_t p, c;

	ring_new(&st.rg, n, esize, start);
	cr_assert_eq(pthread_create(&c, NULL, stress_consumer, &st), 0);
	cr_assert_eq(pthread_create(&p, NULL, stress_producer, &st), 0);
	pthread_join(p, NULL);
	pthread_join(c, NULL);
	cr_assert_eq(st.got, total, "size %u batch %u: consumed %llu of %llu",
		     n, batch, (unsigned long long)st.got,
		     (unsigned long long)total);
	cr_assert_eq(st.bad, 0,
		     "size %u esize %u batch %u: %llu entries out of sequence "
		     "or torn",
		     n, esize, batch, (unsigned long long)st.bad);
	cr_assert_eq(rring_spsc_count(&st.rg.r), 0);
	ring_free(&st.rg);
}

/* 8-byte entries: 8 configurations x 6.25M = 50M entries in total. Batch
 * 0: push_sized/pop_sized with a constant size (the one-entry calls);
 * 1 and 32: reserve/publish and peek/release. */
Test(ring_threaded, stress_50m_entries_8b, .timeout = 300)
{
	static const uint32_t sizes[] = {2, 64, 1024, 65536};
	static const uint32_t batches[] = {0, 32};
	const uint64_t per = 50000000 / 8 / SCALE;
	unsigned int i, j;

	for (i = 0; i < 4; i++)
		for (j = 0; j < 2; j++)
			stress_run(sizes[i], 8, batches[j], per,
				   UINT32_MAX - (uint32_t)(per / 2));
}

/* The engine's 64-byte entries (every word checked: no torn entry), and a
 * 24-byte size, with odd batch sizes. */
Test(ring_threaded, stress_wide_entries, .timeout = 300)
{
	static const uint32_t sizes[] = {4, 256, 4096};
	static const uint32_t batches[] = {1, 7, 64};
	const uint64_t per = 2000000 / SCALE;
	unsigned int i, j;

	for (i = 0; i < 3; i++)
		for (j = 0; j < 3; j++)
			stress_run(sizes[i], 64, batches[j], per, 0);
	stress_run(128, 24, 5, per, UINT32_MAX - 100);
}

/* ------------------------------------------- NEED_WAKEUP, really asleep */

/*
 * The consumer drains the ring and, when it is empty, goes to sleep for
 * real: prepare_sleep, then poll() on an eventfd. The producer writes the
 * eventfd only when rring_spsc_needs_wakeup() says so.
 *
 * After each burst the producer publishes nothing more until the consumer
 * has consumed the whole burst (it waits on that condition with a
 * deadline). So a lost wakeup cannot be healed by a later publish: it
 * shows as a consumer asleep with entries in the ring and a producer that
 * times out. Bursts are aimed at three moments, chosen at random: while
 * the consumer is asleep (the plain path), while it is inside
 * prepare_sleep (the Dekker race, swept with random delays on both sides),
 * and at once (whatever the consumer is doing).
 */
struct wake {
	struct ring rg;
	int efd;
	uint64_t total;
	_Atomic uint64_t consumed; /* consumer: entries consumed so far */
	_Atomic int asleep;	   /* consumer: in poll() */
	_Atomic int arming;	   /* consumer: about to prepare_sleep */
	_Atomic int done;	   /* consumer: finished or gave up */
	_Atomic int stop;	   /* test: producer gave up, stop consuming */
	_Atomic uint64_t sleeps;   /* consumer: times it went into poll() */
	uint64_t prepares;	   /* consumer: prepare_sleep calls */
	uint64_t lost;		   /* consumer: slept past the deadline */
	uint64_t bad;		   /* consumer: entries out of sequence */
	uint64_t wakeups;	   /* producer: eventfd writes */
	uint64_t stuck;		   /* producer: burst not consumed in time */
	uint64_t raced;		   /* producer: bursts aimed at arming */
};

#define WAKE_CONSUMER_DEADLINE_MS 10000
#define WAKE_PRODUCER_DEADLINE_S 3.0

static void spin_random(uint64_t *s, unsigned int max)
{
	unsigned int i;

	for (i = (unsigned int)(rnd(s) % (max + 1)); i; i--)
		rring_cpu_relax();
}

/* Consumer: sleep once, if the ring is still empty. Returns -1 when the
 * deadline passed with entries in the ring (a lost wakeup). */
static int wake_sleep(struct wake *w, uint64_t *s)
{
	struct pollfd pfd = {.fd = w->efd, .events = POLLIN};
	uint64_t cnt;
	int ret;

	atomic_store(&w->arming, 1);
	spin_random(s, 128);
	w->prepares++;
	ret = rring_spsc_prepare_sleep(&w->rg.r);
	atomic_store(&w->arming, 0);
	if (!ret) {
		rring_spsc_cancel_sleep(&w->rg.r);
		return 0;
	}
	atomic_fetch_add(&w->sleeps, 1);
	atomic_store(&w->asleep, 1);
	ret = poll(&pfd, 1, WAKE_CONSUMER_DEADLINE_MS);
	atomic_store(&w->asleep, 0);
	if (ret == 0 && !rring_spsc_empty(&w->rg.r))
		return -1;
	/* A stale wakeup (claimed while we cancelled) is absorbed here. */
	if (ret > 0 && read(w->efd, &cnt, sizeof(cnt)) != sizeof(cnt))
		return -1;
	rring_spsc_cancel_sleep(&w->rg.r);
	return 0;
}

static void *wake_consumer(void *arg)
{
	struct wake *w = arg;
	uint64_t s = 77, seq = 0;
	uint32_t idx, k, i;

	while (seq < w->total && !atomic_load(&w->stop)) {
		k = rring_spsc_peek(&w->rg.r, 64, &idx);
		if (k) {
			for (i = 0; i < k; i++)
				w->bad += *(uint64_t *)rring_spsc_slot(
					      &w->rg.r, idx + i) != seq + i;
			rring_spsc_release(&w->rg.r, k);
			seq += k;
			atomic_store(&w->consumed, seq);
			continue;
		}
		if (wake_sleep(w, &s)) {
			w->lost++;
			break;
		}
	}
	atomic_store(&w->done, 1);
	return NULL;
}

/* Producer: wait (bounded) until the consumer is arming (if arming) or
 * asleep, or done. */
static void wait_consumer(struct wake *w, int arming)
{
	double deadline = (double)ts_now_ns() * 1e-9 + WAKE_PRODUCER_DEADLINE_S;
	unsigned int spins = 0;

	while (!(arming && atomic_load(&w->arming)) &&
	       !atomic_load(&w->asleep) && !atomic_load(&w->done) &&
	       (double)ts_now_ns() * 1e-9 < deadline)
		backoff(&spins);
}

static void *wake_producer(void *arg)
{
	struct wake *w = arg;
	uint64_t s = 99, seq = 0, one = 1;
	uint32_t idx, k, i, want;
	unsigned int spins;
	double deadline;

	while (seq < w->total && !atomic_load(&w->done)) {
		switch (rnd(&s) % 3) {
		case 0:
			wait_consumer(w, 0);
			break;
		case 1:
			wait_consumer(w, 1);
			spin_random(&s, rnd(&s) % 2 ? 16 : 256);
			w->raced++;
			break;
		default:
			break;
		}
		want = (uint32_t)(rnd(&s) % 16) + 1;
		if (want > w->total - seq)
			want = (uint32_t)(w->total - seq);
		k = rring_spsc_reserve(&w->rg.r, want, &idx);
		cr_assert_eq(k, want, "ring not drained between bursts");
		for (i = 0; i < k; i++)
			*(uint64_t *)rring_spsc_slot(&w->rg.r, idx + i) =
			    seq + i;
		rring_spsc_publish(&w->rg.r, k);
		seq += k;
		if (rring_spsc_needs_wakeup(&w->rg.r)) {
			w->wakeups++;
			if (write(w->efd, &one, sizeof(one)) != sizeof(one))
				break;
		}
		/* Nothing more until the burst is consumed: a lost wakeup
		 * must not be rescued by the next publish. */
		deadline = (double)ts_now_ns() * 1e-9 + WAKE_PRODUCER_DEADLINE_S;
		spins = 0;
		while (atomic_load(&w->consumed) != seq && (double)ts_now_ns() * 1e-9 < deadline)
			backoff(&spins);
		if (atomic_load(&w->consumed) != seq) {
			w->stuck++;
			break;
		}
	}
	return NULL;
}

Test(ring_threaded, need_wakeup_no_lost_wakeup, .timeout = 120)
{
	struct wake w = {.total = 400000 / SCALE};
	pthread_t p, c;
	uint64_t one = 1;

	ring_new(&w.rg, 64, 8, UINT32_MAX - 1000);
	w.efd = eventfd(0, EFD_CLOEXEC);
	cr_assert_geq(w.efd, 0);
	cr_assert_eq(pthread_create(&c, NULL, wake_consumer, &w), 0);
	cr_assert_eq(pthread_create(&p, NULL, wake_producer, &w), 0);
	pthread_join(p, NULL);
	/* Release a consumer that missed its wakeup (or is just done). */
	atomic_store(&w.stop, 1);
	cr_assert_eq(write(w.efd, &one, sizeof(one)), sizeof(one));
	pthread_join(c, NULL);
	close(w.efd);
	cr_log_info("%llu entries, %llu sleep attempts, %llu sleeps, "
		    "%llu wakeups, %llu bursts aimed at prepare_sleep",
		    (unsigned long long)w.total, (unsigned long long)w.prepares,
		    (unsigned long long)atomic_load(&w.sleeps),
		    (unsigned long long)w.wakeups, (unsigned long long)w.raced);
	cr_assert_eq(w.stuck + w.lost, 0,
		     "lost wakeup: a burst stayed in the ring for %.0f s "
		     "while the consumer slept",
		     WAKE_PRODUCER_DEADLINE_S);
	cr_assert_eq(atomic_load(&w.consumed), w.total, "consumed %llu of %llu",
		     (unsigned long long)atomic_load(&w.consumed),
		     (unsigned long long)w.total);
	cr_assert_eq(w.bad, 0, "%llu entries out of sequence",
		     (unsigned long long)w.bad);
	/* The protocol really ran: many real sleeps, woken by the
	 * producer, and at most one wakeup claimed per sleep attempt. */
	cr_assert_gt(atomic_load(&w.sleeps), w.total / 16 / 8,
		     "only %llu sleeps",
		     (unsigned long long)atomic_load(&w.sleeps));
	cr_assert_leq(w.wakeups, w.prepares,
		      "more wakeups than sleep attempts");
	cr_assert_geq(w.wakeups, atomic_load(&w.sleeps) / 2);
	ring_free(&w.rg);
}

#endif /* RRING_TEST_THREADED */
