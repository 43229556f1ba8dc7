/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring: rring-cli's reply rendering and line splitting (as redis-cli). */
#ifndef RRING_CLI_H
#define RRING_CLI_H

#include <stdio.h>

/* redis-cli's output modes: OUTPUT_STANDARD (a terminal, --no-raw) and
 * OUTPUT_RAW (not a terminal, --raw). */
enum cli_mode { CLI_TTY, CLI_RAW };

/* Print the complete reply frame (rdm_reply_scan said so) at buf as
 * redis-cli prints it in mode. -EPROTO (after printing what came before)
 * when it nests deeper than CLI_MAX_DEPTH. */
#define CLI_MAX_DEPTH 256
int cli_print_reply(FILE *f, const char *buf, size_t len, enum cli_mode mode);

/*
 * Split a line into arguments as redis-cli does (sdssplitargs): blanks
 * separate; "..." takes \n \r \t \b \a \xHH and \<c> escapes, '...' takes
 * \'; a closing quote must be followed by a blank or the end. Returns argc
 * with *argv (pointers into one allocation; free(*argv) frees all) and
 * *lens, 0 for a blank line, -EINVAL for unbalanced quotes, -ENOMEM.
 */
int cli_split_line(const char *line, size_t len, char ***argv, size_t **lens);

#endif /* RRING_CLI_H */
