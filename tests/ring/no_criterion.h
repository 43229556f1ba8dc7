/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring: minimal stand-in for the Criterion API, for TSan builds. */
#ifndef RRING_NO_CRITERION_H
#define RRING_NO_CRITERION_H

/*
 * Criterion cannot start under ThreadSanitizer: its sandbox maps a shared
 * arena with MAP_FIXED at a random address in a range that TSan reserves,
 * and aborts with "Could not initialize inheritable arena" (Criterion issue
 * #274). TSan builds compile the same test source against this header
 * instead: Test() registers a function, the cr_assert family prints the
 * failing expression and exits non-zero, main() runs every test in turn in
 * this process. Only what the ring tests use is provided.
 */

#include <stdio.h>
#include <stdlib.h>

struct nocr_test {
	const char *suite;
	const char *name;
	void (*fn)(void);
	struct nocr_test *next;
};

static struct nocr_test *nocr_tests;

/* Test(suite, name, .timeout = ...) : options are ignored (ctest's TIMEOUT
 * still bounds the whole run). */
#define Test(suite, name, ...)                                                 \
	static void suite##_##name(void);                                      \
	static struct nocr_test nocr_t_##suite##_##name = {                    \
	    #suite, #name, suite##_##name, NULL};                              \
	__attribute__((constructor)) static void nocr_reg_##suite##_##name(    \
	    void)                                                              \
	{                                                                      \
		nocr_t_##suite##_##name.next = nocr_tests;                     \
		nocr_tests = &nocr_t_##suite##_##name;                         \
	}                                                                      \
	static void suite##_##name(void)

static inline void nocr_check(int ok, const char *expr, const char *file,
			      int line)
{
	if (ok)
		return;
	fprintf(stderr, "%s:%d: assertion failed: %s\n", file, line, expr);
	exit(1);
}

#define NOCR_CHECK(ok, expr) nocr_check(!!(ok), expr, __FILE__, __LINE__)

#define cr_assert(c, ...) NOCR_CHECK(c, #c)
#define cr_assert_not(c, ...) NOCR_CHECK(!(c), "!(" #c ")")
#define cr_assert_not_null(p, ...) NOCR_CHECK((p) != NULL, #p " != NULL")
#define cr_assert_eq(a, b, ...) NOCR_CHECK((a) == (b), #a " == " #b)
#define cr_assert_neq(a, b, ...) NOCR_CHECK((a) != (b), #a " != " #b)
#define cr_assert_lt(a, b, ...) NOCR_CHECK((a) < (b), #a " < " #b)
#define cr_assert_leq(a, b, ...) NOCR_CHECK((a) <= (b), #a " <= " #b)
#define cr_assert_gt(a, b, ...) NOCR_CHECK((a) > (b), #a " > " #b)
#define cr_assert_geq(a, b, ...) NOCR_CHECK((a) >= (b), #a " >= " #b)
#define cr_log_info(...)                                                       \
	do {                                                                   \
		fprintf(stderr, "[----] " __VA_ARGS__);                        \
		fprintf(stderr, "\n");                                         \
	} while (0)

/* Arguments (ctest passes Criterion's -j1 --ascii) are ignored. */
int main(int argc, char **argv)
{
	struct nocr_test *t;
	int n = 0;

	(void)argc;
	(void)argv;
	for (t = nocr_tests; t; t = t->next) {
		fprintf(stderr, "[RUN ] %s::%s\n", t->suite, t->name);
		t->fn();
		fprintf(stderr, "[PASS] %s::%s\n", t->suite, t->name);
		n++;
	}
	fprintf(stderr, "[====] Synthesis: Tested: %d | Passing: %d\n", n, n);
	return 0;
}

#endif /* RRING_NO_CRITERION_H */
