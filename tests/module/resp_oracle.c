/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring tests: prints what the module's parser answers to a byte stream
 * on stdin, so the integration test can compare it with redis-server's reply
 * over TCP. Usage: resp_oracle [--auth] [--max-bulk N] < input */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resp.h"

static char *read_all(size_t *len)
{
	size_t cap = 1 << 16, n = 0, r;
	char *buf = malloc(cap);

	while (buf && (r = fread(buf + n, 1, cap - n, stdin)) > 0) {
		n += r;
		if (n == cap) {
			char *nb = realloc(buf, cap * 2);

			if (!nb) {
				free(buf);
				return NULL;
			}
			buf = nb;
			cap *= 2;
		}
	}
	*len = n;
	return buf;
}

int main(int argc, char **argv)
{
	struct rdm_resp_parser p;
	long long maxbulk = 0;
	size_t len, off = 0, consumed;
	bool auth = false;
	char out[160];
	char *in;
	int i, ret, ncmd = 0;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--auth"))
			auth = true;
		else if (!strcmp(argv[i], "--max-bulk") && i + 1 < argc)
			maxbulk = strtoll(argv[++i], NULL, 10);
	}
	in = read_all(&len);
	if (!in)
		return 2;
	rdm_resp_parser_init(&p, maxbulk);
	p.auth_required = auth;
	do {
		ret = rdm_resp_parse(&p, in + off, len - off, &consumed);
		off += consumed;
		ncmd += ret == RDM_RESP_CMD;
	} while (ret == RDM_RESP_CMD);
	printf("commands %d\n", ncmd);
	if (ret == RDM_RESP_ERROR) {
		rdm_resp_error_reply(&p, out, sizeof(out));
		fputs(out, stdout);
	} else {
		printf("no error\r\n");
	}
	rdm_resp_parser_destroy(&p);
	free(in);
	return 0;
}
