// SPDX-License-Identifier: BSD-3-Clause
/* rdmaring tests: the benchmarks' log-linear latency histogram. */
#include <criterion/criterion.h>

#include "histogram.h"

static struct hist h;

Test(histogram, small_values_exact)
{
	struct hist_summary s;
	uint64_t v;

	hist_reset(&h);
	for (v = 1; v <= 100; v++)
		hist_add(&h, v);
	hist_read(&h, &s);
	cr_assert_eq(s.n, 100);
	cr_assert_float_eq(s.min, 1, 0);
	cr_assert_float_eq(s.max, 100, 0);
	cr_assert_float_eq(s.p50, 50, 0);
	cr_assert_float_eq(s.p95, 95, 0);
	cr_assert_float_eq(s.p99, 99, 0);
	cr_assert_float_eq(s.avg, 50.5, 1e-9);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* Every percentile of a spread from 1 us to 10 s is at most 1/128 above
 * the exact one and never below it. */
Test(histogram, relative_precision)
{
	static const double qs[] = {0.5, 0.95, 0.99, 0.999};
	static uint64_t vals[100000];
	struct hist_summary s;
	double got[4], want;
	unsigned int i, k;
	uint64_t x = 88172645463325252ull;

	hist_reset(&h);
	for (i = 0; i < 100000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		/* 1 us .. 30 s, every power of two as likely */
		vals[i] = (1000ull << ((x >> 40) % 25)) +
			  x % (1000ull << ((x >> 40) % 25));
		hist_add(&h, vals[i]);
	}
	qsort(vals, 100000, sizeof(vals[0]), cmp_u64); /* exact ones */
	hist_read(&h, &s);
	got[0] = s.p50;
	got[1] = s.p95;
	got[2] = s.p99;
	got[3] = s.p999;
	for (k = 0; k < 4; k++) {
		want = (double)vals[(size_t)(qs[k] * 100000 + 0.5) - 1];
		cr_assert(got[k] >= want && got[k] <= want * (1 + 1.0 / 128),
			  "p%g: %f for %f", qs[k] * 100, got[k], want);
	}
	cr_assert_float_eq(s.min, (double)vals[0], 0);
	cr_assert_float_eq(s.max, (double)vals[99999], 0);
}

Test(histogram, huge_values_and_reset)
{
	struct hist_summary s;

	hist_reset(&h);
	hist_add(&h, UINT64_MAX);
	hist_add(&h, 0);
	hist_read(&h, &s);
	cr_assert_eq(s.n, 2);
	cr_assert_float_eq(s.max, (double)UINT64_MAX, 1);
	cr_assert_float_eq(s.p999, (double)UINT64_MAX, 1);
	cr_assert_float_eq(s.min, 0, 0);
	hist_reset(&h);
	hist_read(&h, &s);
	cr_assert_eq(s.n, 0);
	cr_assert_float_eq(s.max, 0, 0);
}
