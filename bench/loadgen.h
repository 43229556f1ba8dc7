/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring: rring-bench options (load generator). */
#ifndef RRING_LOADGEN_H
#define RRING_LOADGEN_H

#include <stdbool.h>
#include <stddef.h>

enum lg_test { LG_PING, LG_SET, LG_GET, LG_NR_TESTS };

struct lg_opts {
	const char *host;
	unsigned int port;
	const char *password; /* -a, NULL: no AUTH */
	const char *user;     /* --user, AUTH user password */
	unsigned int clients;
	unsigned long long requests;
	size_t data_size;
	bool tests[LG_NR_TESTS];
	enum lg_test order[LG_NR_TESTS]; /* as given with -t */
	unsigned int n_order;
	unsigned int pipeline;
	unsigned int threads;
	size_t rx_size;
	bool verify;
	bool quiet;
	const char *json;
	unsigned int timeout_s; /* per test, 0 = none */
};

/* lg_parse_args - fill o from argv; 0, 1 after --help, or -EINVAL with the
 * message printed on stderr. */
int lg_parse_args(struct lg_opts *o, int argc, char **argv);

#endif /* RRING_LOADGEN_H */
