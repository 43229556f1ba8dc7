/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring: drop-in subset of the Criterion API for ThreadSanitizer builds. */
#ifndef RRING_TSAN_CRITERION_H
#define RRING_TSAN_CRITERION_H

/*
 * Criterion cannot start under ThreadSanitizer: its sandbox maps an
 * inheritable arena at an address in the range TSan reserves and aborts
 * with "Could not initialize inheritable arena" (Criterion issue #274).
 * TSan builds put this directory first on the include path, so the same
 * test sources compile against this header instead of the real one.
 *
 * What it keeps of Criterion's semantics: Test() and TestSuite() with the
 * .init, .fini, .timeout, .signal, .exit_code and .disabled options; each
 * test runs in its own forked child (so a failed assert, an expected
 * signal and a timeout stay per test); the cr_assert family with an
 * optional printf-style message; cr_skip_test() (the test passes).
 * Command-line arguments are ignored.
 */

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct criterion_test_extra_data {
	void (*init)(void);
	void (*fini)(void);
	double timeout; /* seconds; 0: none */
	int signal;	/* expected terminating signal; 0: none */
	int exit_code;	/* expected exit status */
	int disabled;
	const char *description;
};

struct nocr_suite {
	const char *name;
	struct criterion_test_extra_data opt;
	struct nocr_suite *next;
};

struct nocr_test {
	const char *suite_name;
	const char *test_name;
	void (*fn)(void);
	struct criterion_test_extra_data opt;
	struct nocr_test *next;
};

/* Weak: every translation unit that includes this header shares one
 * registry and one main(). */
__attribute__((weak)) struct nocr_test *nocr_tests;
__attribute__((weak)) struct nocr_suite *nocr_suites;
/* The running test's .fini (in its child), for cr_skip_test(). */
__attribute__((weak)) void (*nocr_fini)(void);

#define NOCR_REGISTER(list, obj)                                               \
	__attribute__((constructor)) static void nocr_reg_##obj(void)          \
	{                                                                      \
		obj.next = list;                                               \
		list = &obj;                                                   \
	}

#define Test(suite, name, ...)                                                 \
	static void suite##_##name(void);                                      \
	static struct nocr_test nocr_t_##suite##_##name = {                    \
		#suite, #name, suite##_##name,                                 \
		{__VA_ARGS__}, NULL};                                          \
	NOCR_REGISTER(nocr_tests, nocr_t_##suite##_##name)                     \
	static void suite##_##name(void)

#define TestSuite(suite, ...)                                                  \
	static struct nocr_suite nocr_s_##suite = {#suite, {__VA_ARGS__},      \
						   NULL};                      \
	NOCR_REGISTER(nocr_suites, nocr_s_##suite)

__attribute__((format(printf, 4, 5), noreturn)) static inline void
nocr_fail(const char *file, int line, const char *expr, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s:%d: assertion failed: %s:", file, line, expr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* The rest of the test is skipped: it passes, its .fini runs. */
__attribute__((format(printf, 1, 2), noreturn)) static inline void
nocr_skip(const char *fmt, ...)
{
	va_list ap;

	fputs("[SKIP]", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (nocr_fini)
		nocr_fini();
	exit(0);
}

#define cr_skip_test(...) nocr_skip(" " __VA_ARGS__)

/* " " __VA_ARGS__ turns an optional message into a non-empty format. */
#define NOCR_CHECK(ok, expr, ...)                                              \
	do {                                                                   \
		if (!(ok))                                                     \
			nocr_fail(__FILE__, __LINE__, expr, " " __VA_ARGS__);  \
	} while (0)

#define cr_assert(c, ...) NOCR_CHECK(c, #c, __VA_ARGS__)
#define cr_assert_not(c, ...) NOCR_CHECK(!(c), "!(" #c ")", __VA_ARGS__)
#define cr_assert_fail(...) NOCR_CHECK(0, "cr_assert_fail", __VA_ARGS__)
#define cr_assert_null(p, ...) NOCR_CHECK((p) == NULL, #p " == NULL", __VA_ARGS__)
#define cr_assert_not_null(p, ...)                                             \
	NOCR_CHECK((p) != NULL, #p " != NULL", __VA_ARGS__)
#define cr_assert_eq(a, b, ...) NOCR_CHECK((a) == (b), #a " == " #b, __VA_ARGS__)
#define cr_assert_neq(a, b, ...) NOCR_CHECK((a) != (b), #a " != " #b, __VA_ARGS__)
#define cr_assert_lt(a, b, ...) NOCR_CHECK((a) < (b), #a " < " #b, __VA_ARGS__)
#define cr_assert_leq(a, b, ...) NOCR_CHECK((a) <= (b), #a " <= " #b, __VA_ARGS__)
#define cr_assert_gt(a, b, ...) NOCR_CHECK((a) > (b), #a " > " #b, __VA_ARGS__)
#define cr_assert_geq(a, b, ...) NOCR_CHECK((a) >= (b), #a " >= " #b, __VA_ARGS__)
/* as Criterion: a and b differ by at most eps either way */
#define cr_assert_float_eq(a, b, eps, ...)                                     \
	NOCR_CHECK((b) - (a) <= (eps) && (a) - (b) <= (eps),                   \
		   #a " == " #b " within " #eps, __VA_ARGS__)
#define cr_assert_str_eq(a, b, ...)                                            \
	NOCR_CHECK(strcmp((a), (b)) == 0, #a " eq " #b, __VA_ARGS__)
#define cr_assert_str_neq(a, b, ...)                                           \
	NOCR_CHECK(strcmp((a), (b)) != 0, #a " neq " #b, __VA_ARGS__)
#define cr_assert_arr_eq(a, b, n, ...)                                         \
	NOCR_CHECK(memcmp((a), (b), (n)) == 0, #a " eq " #b, __VA_ARGS__)

#define NOCR_LOG(tag, ...)                                                     \
	do {                                                                   \
		fprintf(stderr, "[" tag "] " __VA_ARGS__);                     \
		fputc('\n', stderr);                                           \
	} while (0)
#define cr_log_info(...) NOCR_LOG("----", __VA_ARGS__)
#define cr_log_warn(...) NOCR_LOG("WARN", __VA_ARGS__)
#define cr_log_error(...) NOCR_LOG("ERR ", __VA_ARGS__)

/* A test's options, with its suite's as defaults. */
static inline struct criterion_test_extra_data
nocr_options(const struct nocr_test *t)
{
	struct criterion_test_extra_data o = t->opt;
	const struct nocr_suite *s;

	for (s = nocr_suites; s; s = s->next) {
		if (strcmp(s->name, t->suite_name) != 0)
			continue;
		if (!o.init)
			o.init = s->opt.init;
		if (!o.fini)
			o.fini = s->opt.fini;
		if (o.timeout == 0)
			o.timeout = s->opt.timeout;
		o.disabled |= s->opt.disabled;
	}
	return o;
}

static inline void nocr_child(const struct nocr_test *t,
			      const struct criterion_test_extra_data *o)
{
	if (o->timeout > 0)
		alarm((unsigned int)o->timeout + 1);
	nocr_fini = o->fini;
	if (o->init)
		o->init();
	t->fn();
	if (o->fini)
		o->fini();
	exit(0);
}

/* 0 if the child ended as the options expect. */
static inline int nocr_verdict(int status,
			       const struct criterion_test_extra_data *o)
{
	if (WIFSIGNALED(status)) {
		if (WTERMSIG(status) == o->signal)
			return 0;
		fprintf(stderr, "  killed by signal %d%s\n", WTERMSIG(status),
			WTERMSIG(status) == SIGALRM ? " (timeout)" : "");
		return -1;
	}
	if (o->signal) {
		fprintf(stderr, "  exited, expected signal %d\n", o->signal);
		return -1;
	}
	if (WEXITSTATUS(status) != o->exit_code) {
		fprintf(stderr, "  exit status %d\n", WEXITSTATUS(status));
		return -1;
	}
	return 0;
}

static inline int nocr_run(const struct nocr_test *t)
{
	struct criterion_test_extra_data o = nocr_options(t);
	int status;
	pid_t pid;

	if (o.disabled)
		return 0;
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0)
		nocr_child(t, &o);
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return nocr_verdict(status, &o);
}

__attribute__((weak)) int main(int argc, char **argv);
__attribute__((weak)) int main(int argc, char **argv)
{
	const struct nocr_test *t;
	int passed = 0, failed = 0;

	(void)argc;
	(void)argv;
	for (t = nocr_tests; t; t = t->next) {
		if (nocr_run(t) == 0) {
			passed++;
			continue;
		}
		fprintf(stderr, "[FAIL] %s::%s\n", t->suite_name, t->test_name);
		failed++;
	}
	fprintf(stderr, "[====] Synthesis: Tested: %d | Passing: %d | Failing: %d\n",
		passed + failed, passed, failed);
	return failed ? 1 : 0;
}

#endif /* RRING_TSAN_CRITERION_H */
