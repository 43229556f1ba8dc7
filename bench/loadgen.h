/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring: rring-bench options and tests (load generator). */
#ifndef RRING_LOADGEN_H
#define RRING_LOADGEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "histogram.h"

#define LG_PROG "rring-bench"
#define LG_RAND_TOKEN "__rand_int__"
#define LG_RAND_DIGITS 12 /* as redis-benchmark: same length as the token */
#define LG_MAX_TESTS 24

/* What a reply must look like for --verify to count it. */
enum lg_expect {
	LG_EXPECT_PONG,	 /* +PONG */
	LG_EXPECT_OK,	 /* +OK */
	LG_EXPECT_VALUE, /* the bulk SET stored for this request */
	LG_EXPECT_INT,	 /* :n */
	LG_EXPECT_MAYBE, /* bulk or nil (pops) */
	LG_EXPECT_ARRAY, /* *n */
	LG_EXPECT_ANY,	 /* a command after the options: not an error */
};

/* One test: redis-benchmark's name and command. In cmd, words are split at
 * spaces and "@" stands for the -d byte value. */
struct lg_test {
	const char *id;	   /* -t name */
	const char *group; /* another -t name selecting it, or NULL */
	const char *name;  /* as redis-benchmark prints it */
	const char *cmd;
	enum lg_expect expect;
	bool inline_cmd; /* sent as an inline command, not RESP */
};

struct lg_opts {
	const char *host;
	unsigned int port;
	const char *password; /* -a, NULL: no AUTH */
	const char *user;     /* --user, AUTH user password */
	unsigned int clients;
	unsigned long long requests;
	size_t data_size;
	const struct lg_test *order[LG_MAX_TESTS]; /* run in this order */
	unsigned int n_order;
	char **command; /* a command after the options (NULL: none) */
	int command_argc;
	char command_name[256]; /* its words joined, as redis-benchmark */
	unsigned int pipeline;
	unsigned long long keyspace; /* -r: 0, __rand_int__ left as is */
	bool loop;		     /* -l */
	bool idle;		     /* -I */
	int dbnum;		     /* --dbnum, -1: no SELECT */
	unsigned int precision;	     /* decimals of milliseconds */
	unsigned int threads;
	size_t rx_size;
	uint32_t poll_idle_us;
	bool verify;
	bool quiet;
	bool csv;
	const char *json;
	unsigned int timeout_s; /* per test, 0 = none */
	int argc;		/* for the JSON */
	char **argv;
};

/* The result of one test. */
struct lg_result {
	const char *name;
	uint64_t requests, errors, verified, failed, payload_bytes;
	double secs, rps;
	unsigned int conn_errors;
	int first_error; /* -errno of the first failed connection, or 0 */
	struct hist_summary lat;
};

/* lg_parse_args - fill o from argv; 0, 1 after --help or --version, or
 * -EINVAL with the message printed on stderr. */
int lg_parse_args(struct lg_opts *o, int argc, char **argv);

/* The tests -t knows, in redis-benchmark's order; n set to their count. */
const struct lg_test *lg_tests(unsigned int *n);
/* The LPUSH that fills mylist before the LRANGE tests. */
const struct lg_test *lg_lrange_fill(void);

/* Output (loadgen_report.c): per test as chosen by -q/--csv, and JSON. */
void lg_report_start(const struct lg_opts *o);
void lg_report(const struct lg_opts *o, const struct lg_result *r);
void lg_progress(const struct lg_opts *o, const char *name, uint64_t done,
		 double secs);
int lg_write_json(const struct lg_opts *o, const struct lg_result *res,
		  unsigned int n);

#endif /* RRING_LOADGEN_H */
