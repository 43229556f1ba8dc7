/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring: rring-cli's reply scanning and rendering and line splitting
 * (as redis-cli). */
#ifndef RRING_CLI_H
#define RRING_CLI_H

#include <stdbool.h>
#include <stdio.h>

/* redis-cli's output modes: OUTPUT_STANDARD (a terminal, --no-raw) and
 * OUTPUT_RAW (not a terminal, --raw). */
enum cli_mode { CLI_TTY, CLI_RAW };

/* One RESP2 or RESP3 element (bench/cli_resp3.c). */
struct cli_elem {
	char type;	 /* its type byte: + - : $ * and RESP3's , # _ ( = ! ~ > % | */
	long long n;	 /* integer; blob length; aggregate elements (a map's or
			  * attribute's: twice its pairs); -1: null; bool 0/1 */
	const char *str; /* line (after the type byte) or blob payload */
	size_t len;	 /* bytes at str */
	size_t size;	 /* bytes of the element; an aggregate's header only */
};

/* The element at the start of buf: 1, 0 (incomplete), -EPROTO. */
int cli_elem_head(const char *buf, size_t len, struct cli_elem *e);

/* An aggregate with elements after its header. */
bool cli_elem_aggregate(const struct cli_elem *e);

/* A whole reply at the start of buf (attributes before it included): 1 with
 * *frame_len, 0 when more bytes are needed, -EPROTO on malformed bytes. */
int cli_frame_scan(const char *buf, size_t len, size_t *frame_len);

/* A frame (cli_frame_scan found it whole) that is a RESP3 push. */
bool cli_frame_is_push(const char *buf, size_t len);

/* Print the whole frame at buf as redis-cli prints a reply in mode; RESP3
 * attributes are skipped (redis-cli 7.0 cannot read them), a big number
 * shows as newer redis-cli versions show it. -EPROTO (after printing what
 * came before) when it nests deeper than CLI_MAX_DEPTH. */
#define CLI_MAX_DEPTH 256
int cli_print_reply(FILE *f, const char *buf, size_t len, enum cli_mode mode);

/* Print a push received outside pub/sub mode as redis-cli's push handler
 * does: a client tracking invalidation on a terminal as "-> invalidate:
 * 'key', ...", anything else as a reply. */
int cli_print_push(FILE *f, const char *buf, size_t len, enum cli_mode mode);

/*
 * Split a line into arguments as redis-cli does (sdssplitargs): blanks
 * separate; "..." takes \n \r \t \b \a \xHH and \<c> escapes, '...' takes
 * \'; a closing quote must be followed by a blank or the end. Returns argc
 * with *argv (NUL-terminated too; pointers into one allocation, free(*argv)
 * frees all) and *lens; 0 for a blank line, -EINVAL for unbalanced quotes,
 * -ENOMEM (nothing to free).
 */
int cli_split_line(const char *line, size_t len, char ***argv, size_t **lens);

#endif /* RRING_CLI_H */
