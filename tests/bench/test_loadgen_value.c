// SPDX-License-Identifier: BSD-3-Clause
/* rdmaring tests: rring-bench's --verify values (generated, checked). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "loadgen_request.h"

#define BIG (3 * LG_VALUE_PERIOD + 1000)

static char *scratch;

static void setup(void)
{
	scratch = malloc(LG_VALUE_PERIOD);
	cr_assert_not_null(scratch);
}

static void teardown(void)
{
	free(scratch);
}

TestSuite(loadgen_value, .init = setup, .fini = teardown);

/* The eight-bytes-at-a-time generator makes the bytes the byte-at-a-time
 * definition makes: '0' + 6 bits of the xorshift state per byte. */
Test(loadgen_value, bytes_follow_the_definition)
{
	char out[100];
	uint64_t s = lg_splitmix(7 ^ lg_splitmix(3)), w = 0;
	size_t i;

	lg_value(out, sizeof(out), 7, 3);
	for (i = 0; i < sizeof(out); i++, w >>= 8) {
		if (i % 8 == 0) {
			s ^= s << 13;
			s ^= s >> 7;
			s ^= s << 17;
			w = s;
		}
		cr_assert_eq(out[i], (char)('0' + (w & 63)), "byte %zu", i);
	}
}

Test(loadgen_value, repeats_with_a_prime_period)
{
	char *v = malloc(BIG);
	size_t i;

	cr_assert_not_null(v);
	lg_value(v, BIG, 11, 42);
	for (i = LG_VALUE_PERIOD; i < BIG; i++)
		cr_assert_eq(v[i], v[i - LG_VALUE_PERIOD], "byte %zu", i);
	cr_assert(lg_value_equal(v, BIG, 11, 42, scratch));
	free(v);
}

Test(loadgen_value, differs_per_request_and_run)
{
	char a[256], b[256], c[256];

	lg_value(a, sizeof(a), 1, 100);
	lg_value(b, sizeof(b), 1, 101);
	lg_value(c, sizeof(c), 2, 100);
	cr_assert_neq(memcmp(a, b, sizeof(a)), 0);
	cr_assert_neq(memcmp(a, c, sizeof(a)), 0);
	cr_assert_not(lg_value_equal(b, sizeof(b), 1, 100, scratch));
	cr_assert_not(lg_value_equal(c, sizeof(c), 1, 100, scratch));
}

/* What verification exists to catch: one byte wrong past the generated
 * period, the tail cut, and two 64 KiB pieces (a window's writes) swapped. */
Test(loadgen_value, catches_damage_after_the_first_period)
{
	char *v = malloc(BIG), *t = malloc(65536);
	size_t last = BIG - 1;

	cr_assert_not_null(v);
	cr_assert_not_null(t);
	lg_value(v, BIG, 5, 9);
	v[last] ^= 1;
	cr_assert_not(lg_value_equal(v, BIG, 5, 9, scratch));
	v[last] ^= 1;
	cr_assert(lg_value_equal(v, BIG, 5, 9, scratch));

	memcpy(t, v, 65536);
	memcpy(v, v + 65536, 65536);
	memcpy(v + 65536, t, 65536);
	cr_assert_not(lg_value_equal(v, BIG, 5, 9, scratch));
	free(t);
	free(v);
}

Test(loadgen_value, short_values_are_checked_whole)
{
	char v[10];

	lg_value(v, sizeof(v), 3, 4);
	cr_assert(lg_value_equal(v, sizeof(v), 3, 4, scratch));
	v[9] ^= 1;
	cr_assert_not(lg_value_equal(v, sizeof(v), 3, 4, scratch));
}
