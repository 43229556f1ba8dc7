/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring: a fixed-size log-linear latency histogram (benchmarks). */
#ifndef RRING_HISTOGRAM_H
#define RRING_HISTOGRAM_H

#include <stdatomic.h>
#include <stdint.h>

/*
 * Values (nanoseconds) below 2^HIST_SUB_BITS are counted exactly; above,
 * each power of two [2^k, 2^(k+1)) is split into 2^HIST_SUB_BITS equal
 * buckets, as in HdrHistogram. A value is reported as the top of its
 * bucket, so a percentile is at most 1/128 (0.78%) above the true value;
 * min and max are exact. Memory is fixed (about 58 KiB) whatever the
 * number of samples. Any thread may add (relaxed atomics: the counts are
 * read only after the adding threads are done, see hist_read's callers).
 */
#define HIST_SUB_BITS 7
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_BUCKETS ((64 - HIST_SUB_BITS + 1) * HIST_SUB)

struct hist {
	_Atomic uint64_t count[HIST_BUCKETS];
	_Atomic uint64_t n, sum, min, max;
};

struct hist_summary {
	uint64_t n;
	double avg, min, p50, p95, p99, p999, max; /* nanoseconds */
};

void hist_reset(struct hist *h);
void hist_add(struct hist *h, uint64_t ns);
void hist_read(struct hist *h, struct hist_summary *s);

#endif /* RRING_HISTOGRAM_H */
