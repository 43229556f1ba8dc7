/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring tests: rring-cli's line splitting and reply rendering
 * (bench/cli_split.c, bench/cli_format.c; module_cli.sh compares the
 * rendering with redis-cli's end to end). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int split(const char *line, char ***argv, size_t **lens)
{
	return cli_split_line(line, strlen(line), argv, lens);
}

Test(cli, split_quotes_and_escapes)
{
	char **argv;
	size_t *lens;
	int n = split("  set \"a b\" 'it''s' \"x\\x41\\n\\\"\" a\"b c\"d ''\n",
		      &argv, &lens);

	/* 'it''s' is one argument only in redis-cli if the quote closes at
	 * a blank: here the closing quote is followed by a quote */
	cr_assert_eq(n, -EINVAL);
	n = split("  set \"a b\" 'it\\'s' \"x\\x41\\n\\\"\" a\"b c\" ''\r\n",
		  &argv, &lens);
	cr_assert_eq(n, 6);
	cr_assert_str_eq(argv[0], "set");
	cr_assert_str_eq(argv[1], "a b");
	cr_assert_str_eq(argv[2], "it's");
	cr_assert_eq(lens[3], 4);
	cr_assert_eq(memcmp(argv[3], "xA\n\"", 4), 0);
	cr_assert_str_eq(argv[4], "ab c");
	cr_assert_eq(lens[5], 0);
	cr_assert_str_eq(argv[5], "", "arguments are NUL-terminated");
	free(argv);
}

Test(cli, split_blank_and_unbalanced)
{
	char **argv;
	size_t *lens;

	cr_assert_eq(split(" \t\r\n", &argv, &lens), 0);
	cr_assert_eq(split("", &argv, &lens), 0);
	cr_assert_eq(split("get \"open", &argv, &lens), -EINVAL);
	cr_assert_eq(split("get 'open", &argv, &lens), -EINVAL);
	cr_assert_eq(split("get \"a\"b", &argv, &lens), -EINVAL);
}

/* The rendering of reply in mode, as a string. */
static char *render(const char *reply, enum cli_mode mode)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	cr_assert_not_null(f);
	cr_assert_eq(cli_print_reply(f, reply, strlen(reply), mode), 0);
	fclose(f);
	return out;
}

static void expect(const char *reply, enum cli_mode mode, const char *want)
{
	char *got = render(reply, mode);

	cr_assert_str_eq(got, want, "reply %s", reply);
	free(got);
}

Test(cli, raw_rendering)
{
	expect("+OK\r\n", CLI_RAW, "OK\n");
	expect("$-1\r\n", CLI_RAW, "\n");
	expect(":-3\r\n", CLI_RAW, "-3\n");
	expect("-ERR x\r\n", CLI_RAW, "ERR x\n\n");
	expect("*3\r\n$1\r\na\r\n*0\r\n-E\r\n", CLI_RAW, "a\n\nE\n\n");
}

Test(cli, tty_rendering)
{
	expect("$3\r\na\"\x01\r\n", CLI_TTY, "\"a\\\"\\x01\"\n");
	expect("*-1\r\n", CLI_TTY, "(nil)\n");
	expect("*0\r\n", CLI_TTY, "(empty array)\n");
	expect("-ERR x\r\n", CLI_TTY, "(error) ERR x\n");
	expect("*2\r\n:1\r\n*2\r\n+a\r\n*1\r\n$0\r\n\r\n", CLI_TTY,
	       "1) (integer) 1\n2) 1) a\n   2) 1) \"\"\n");
	expect("*10\r\n:1\r\n:2\r\n:3\r\n:4\r\n:5\r\n:6\r\n:7\r\n:8\r\n:9\r\n"
	       "*1\r\n:0\r\n",
	       CLI_TTY,
	       " 1) (integer) 1\n 2) (integer) 2\n 3) (integer) 3\n"
	       " 4) (integer) 4\n 5) (integer) 5\n 6) (integer) 6\n"
	       " 7) (integer) 7\n 8) (integer) 8\n 9) (integer) 9\n"
	       "10) 1) (integer) 0\n");
}
