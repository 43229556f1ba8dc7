/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring: rring-bench request templates (__rand_int__, values, --verify). */
#ifndef RRING_LOADGEN_REQUEST_H
#define RRING_LOADGEN_REQUEST_H

#include "loadgen.h"

#define LG_MAX_WORDS 64

/* A test's request encoded once; every request copies it and rewrites the
 * __rand_int__ digits and (with --verify) the values in place. */
struct lg_request {
	char *buf;
	size_t len;
	size_t rand_off[LG_MAX_WORDS]; /* where each __rand_int__ starts */
	unsigned int n_rand;
	size_t value_off[LG_MAX_WORDS]; /* where each "@" value starts */
	unsigned int n_values;
};

/* Encode t (or, when t->cmd is NULL, the command after the options).
 * With --verify, keys "key:..." become "rring:<run>:..." so that every run
 * has its own keys. 0 or -ENOMEM/-E2BIG. */
int lg_request_build(struct lg_request *rq, const struct lg_opts *o,
		     const struct lg_test *t, uint64_t run_id);
void lg_request_free(struct lg_request *rq);

/* Write request idx (rq->len bytes) at out: __rand_int__ is idx with
 * --verify, a random number below -r with -r (from *rng), else left as is;
 * values are lg_value(run, idx) with --verify. */
void lg_request_put(const struct lg_request *rq, const struct lg_opts *o,
		    char *out, uint64_t idx, uint64_t run_id, uint64_t *rng);

/* Values repeat their first LG_VALUE_PERIOD bytes: generating only those
 * keeps --verify of 10 MB values cheap, and a prime period still tells
 * apart pieces moved by any power-of-two distance (windows, chunks). */
#define LG_VALUE_PERIOD 65521u

/* The value of request idx: printable, different for every request. */
void lg_value(char *out, size_t len, uint64_t run_id, uint64_t idx);

/* Whether got[0..len) is the value of request idx; scratch holds at
 * least min(len, LG_VALUE_PERIOD) bytes. */
bool lg_value_equal(const char *got, size_t len, uint64_t run_id,
		    uint64_t idx, char *scratch);

uint64_t lg_splitmix(uint64_t x);

#endif /* RRING_LOADGEN_REQUEST_H */
