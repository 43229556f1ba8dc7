// SPDX-License-Identifier: BSD-3-Clause
/* rdmaring tests: shared helpers (sanitizer scaling, PRNG, checksum, clock). */
#ifndef RRING_TEST_SUPPORT_H
#define RRING_TEST_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

/*
 * TS_SANITIZED is defined in ASan and TSan builds (gcc defines
 * __SANITIZE_*__, clang answers __has_feature). Sanitizers slow threads
 * down 5-20x: tests scale their counts down with it so CI stays fast while
 * keeping every configuration.
 */
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define TS_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define TS_SANITIZED 1
#endif
#endif

/* xorshift64 (13, 7, 17): reproducible from the seed, which must not be 0. */
struct ts_rng {
	uint64_t s;
};

/* The next value of @r; any thread, one generator per thread. */
uint64_t ts_rnd(struct ts_rng *r);

/* FNV-1a 64 over @len bytes, continuing from @h (start with TS_FNV_INIT). */
uint64_t ts_fnv(uint64_t h, const void *buf, size_t len);

#define TS_FNV_INIT 0xcbf29ce484222325ull

/* CLOCK_MONOTONIC in nanoseconds, for deadlines and elapsed times. */
uint64_t ts_now_ns(void);

#endif
