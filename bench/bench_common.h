/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring: what every benchmark program shares (arguments, warnings, JSON). */
#ifndef RRING_BENCH_COMMON_H
#define RRING_BENCH_COMMON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* A sample shorter than this, or with fewer operations than its caller's
 * minimum, is mostly timer resolution, scheduling and warm-up. */
#define BC_MIN_SAMPLE_SECS 0.1

/* The project version (CMake's PROJECT_VERSION). */
const char *bc_version(void);

/* Strict base-10 integer in [lo, hi]; otherwise "PROG: NAME: 'S' is not an
 * integer from LO to HI" on stderr and -EINVAL. s may be NULL (missing
 * value). */
int bc_parse_ll(const char *prog, const char *name, const char *s, long long lo,
		long long hi, long long *out);

/* "PROG: unknown option 'ARG' (see PROG --help)" on stderr; -EINVAL. */
int bc_unknown_option(const char *prog, const char *arg);

/* Warn on stderr when a measurement of ops operations over secs seconds is
 * too short to mean anything (under BC_MIN_SAMPLE_SECS or under min_ops).
 * Returns true when it warned. */
bool bc_short_sample(const char *prog, const char *what, double secs,
		     uint64_t ops, uint64_t min_ops);

/* s as a JSON string (quoted, escaped). */
void bc_json_str(FILE *f, const char *s);

/* "meta":{program, version, time (ISO 8601 UTC), host, argv} followed by a
 * comma: the first member of every benchmark's JSON object. */
void bc_json_meta(FILE *f, const char *prog, int argc, char **argv);

#endif /* RRING_BENCH_COMMON_H */
