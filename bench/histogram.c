/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring: a fixed-size log-linear latency histogram (benchmarks). */
#include <string.h>

#include "histogram.h"

static unsigned int bucket_of(uint64_t v)
{
	unsigned int shift;

	if (v < HIST_SUB)
		return (unsigned int)v;
	/* v >> shift keeps the top HIST_SUB_BITS + 1 bits: in [SUB, 2 SUB) */
	shift = (unsigned int)(63 - __builtin_clzll(v)) - HIST_SUB_BITS;
	return (shift + 1) * HIST_SUB + (unsigned int)(v >> shift) - HIST_SUB;
}

/* The highest value that lands in bucket b. */
static uint64_t bucket_top(unsigned int b)
{
	unsigned int shift;

	if (b < HIST_SUB)
		return b;
	shift = b / HIST_SUB - 1;
	return (((uint64_t)(b % HIST_SUB + HIST_SUB) + 1) << shift) - 1;
}

void hist_reset(struct hist *h)
{
	unsigned int i;

	for (i = 0; i < HIST_BUCKETS; i++)
		atomic_store_explicit(&h->count[i], 0, memory_order_relaxed);
	atomic_store(&h->n, 0);
	atomic_store(&h->sum, 0);
	atomic_store(&h->min, UINT64_MAX);
	atomic_store(&h->max, 0);
}

void hist_add(struct hist *h, uint64_t ns)
{
	uint64_t m;

	atomic_fetch_add_explicit(&h->count[bucket_of(ns)], 1,
				  memory_order_relaxed);
	atomic_fetch_add_explicit(&h->n, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum, ns, memory_order_relaxed);
	m = atomic_load_explicit(&h->min, memory_order_relaxed);
	while (ns < m &&
	       !atomic_compare_exchange_weak_explicit(
		   &h->min, &m, ns, memory_order_relaxed, memory_order_relaxed))
		;
	m = atomic_load_explicit(&h->max, memory_order_relaxed);
	while (ns > m &&
	       !atomic_compare_exchange_weak_explicit(
		   &h->max, &m, ns, memory_order_relaxed, memory_order_relaxed))
		;
}

/* The smallest bucket top with at least q of the samples at or below. */
static double percentile(struct hist *h, uint64_t n, double q, uint64_t max)
{
	uint64_t want = (uint64_t)(q * (double)n + 0.5), seen = 0, top;
	unsigned int b;

	if (want < 1)
		want = 1;
	for (b = 0; b < HIST_BUCKETS; b++) {
		seen +=
		    atomic_load_explicit(&h->count[b], memory_order_relaxed);
		if (seen >= want)
			break;
	}
	top = b < HIST_BUCKETS ? bucket_top(b) : max;
	return (double)(top < max ? top : max);
}

void hist_read(struct hist *h, struct hist_summary *s)
{
	uint64_t max = atomic_load_explicit(&h->max, memory_order_relaxed);

	memset(s, 0, sizeof(*s));
	s->n = atomic_load_explicit(&h->n, memory_order_relaxed);
	if (!s->n)
		return;
	s->avg = (double)atomic_load_explicit(&h->sum, memory_order_relaxed) /
		 (double)s->n;
	s->min = (double)atomic_load_explicit(&h->min, memory_order_relaxed);
	s->max = (double)max;
	s->p50 = percentile(h, s->n, 0.50, max);
	s->p95 = percentile(h, s->n, 0.95, max);
	s->p99 = percentile(h, s->n, 0.99, max);
	s->p999 = percentile(h, s->n, 0.999, max);
}
