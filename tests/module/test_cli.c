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

typedef int print_fn(FILE *f, const char *buf, size_t len,
		     enum cli_mode mode);

/* What print makes of reply in mode, as a string. */
static char *render(print_fn *print, const char *reply, enum cli_mode mode)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	cr_assert_not_null(f);
	cr_assert_eq(print(f, reply, strlen(reply), mode), 0);
	fclose(f);
	return out;
}

static void expect_print(print_fn *print, const char *reply,
			 enum cli_mode mode, const char *want)
{
	char *got = render(print, reply, mode);

	cr_assert_str_eq(got, want, "reply %s", reply);
	free(got);
}

static void expect(const char *reply, enum cli_mode mode, const char *want)
{
	expect_print(cli_print_reply, reply, mode, want);
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

/* RESP3 (rring-cli -3), as redis-cli 7.0 -3 prints DEBUG PROTOCOL's
 * replies; a big number as later redis-cli versions do. */
Test(cli, resp3_rendering)
{
	const char *map = "%3\r\n:0\r\n#f\r\n:1\r\n#t\r\n:2\r\n#f\r\n";
	const char *set = "~3\r\n:0\r\n:1\r\n:2\r\n";
	const char *verb = "=29\r\ntxt:This is a verbatim\nstring\r\n";
	const char *push = ">2\r\n$16\r\nserver-cpu-usage\r\n:42\r\n";

	expect(map, CLI_TTY,
	       "1# (integer) 0 => (false)\n2# (integer) 1 => (true)\n"
	       "3# (integer) 2 => (false)\n");
	expect(map, CLI_RAW, "0 (false)\n1 (true)\n2 (false)\n");
	expect(set, CLI_TTY, "1~ (integer) 0\n2~ (integer) 1\n3~ (integer) 2\n");
	expect(set, CLI_RAW, "0\n1\n2\n");
	expect(",3.141\r\n", CLI_TTY, "(double) 3.141\n");
	expect(",3.141\r\n", CLI_RAW, "3.141\n");
	expect("_\r\n", CLI_TTY, "(nil)\n");
	expect("_\r\n", CLI_RAW, "\n");
	expect("#t\r\n", CLI_RAW, "(true)\n");
	expect(verb, CLI_TTY, "This is a verbatim\nstring\n");
	expect(verb, CLI_RAW, "This is a verbatim\nstring\n");
	expect(push, CLI_TTY, "1) \"server-cpu-usage\"\n2) (integer) 42\n");
	expect(push, CLI_RAW, "server-cpu-usage\n42\n");
	expect("(1234567999\r\n", CLI_TTY, "(big number) 1234567999\n");
	expect("(1234567999\r\n", CLI_RAW, "1234567999\n");
	expect("!5\r\nERR x\r\n", CLI_TTY, "(error) ERR x\n");
	expect("%0\r\n", CLI_TTY, "(empty hash)\n");
	expect(">0\r\n", CLI_TTY, "(empty push)\n");
	expect("*2\r\n%1\r\n+a\r\n:1\r\n~0\r\n", CLI_TTY,
	       "1) 1# a => (integer) 1\n2) (empty set)\n");
	/* an aggregate key loses its last newline to " => " */
	expect("%1\r\n*1\r\n:1\r\n:2\r\n", CLI_TTY,
	       "1# 1) (integer) 1 => (integer) 2\n");
}

Test(cli, attributes_are_skipped)
{
	const char *attr = "|1\r\n$14\r\nkey-popularity\r\n*2\r\n$7\r\nkey:123"
			   "\r\n:90\r\n$6\r\nreply!\r\n";

	expect(attr, CLI_TTY, "\"reply!\"\n");
	expect(attr, CLI_RAW, "reply!\n");
	/* inside an aggregate too, and nested in another attribute */
	expect("*2\r\n|1\r\n+k\r\n|1\r\n+a\r\n+b\r\n+v\r\n:7\r\n:8\r\n",
	       CLI_TTY,
	       "1) (integer) 7\n2) (integer) 8\n");
}

static void print_push(const char *push, enum cli_mode mode, const char *want)
{
	cr_assert(cli_frame_is_push(push, strlen(push)));
	expect_print(cli_print_push, push, mode, want);
}

/* Client tracking's invalidations as redis-cli --show-pushes yes prints
 * them; a flush's (no key list) as any push. */
Test(cli, invalidation_pushes)
{
	const char *inv = ">2\r\n$10\r\ninvalidate\r\n*2\r\n$1\r\nk\r\n$2\r\n"
			  "k2\r\n";
	const char *flush = ">2\r\n$10\r\ninvalidate\r\n_\r\n";

	print_push(inv, CLI_TTY, "-> invalidate: 'k', 'k2'\n");
	print_push(inv, CLI_RAW, "invalidate\nk\nk2\n");
	print_push(flush, CLI_TTY, "1) \"invalidate\"\n2) (nil)\n");
	print_push(">2\r\n$3\r\nmsg\r\n:1\r\n", CLI_TTY,
		   "1) \"msg\"\n2) (integer) 1\n");
	cr_assert_not(cli_frame_is_push("*1\r\n:1\r\n", 8));
}

/* A frame is whole only with every element (attributes included); every
 * shorter prefix asks for more, bad bytes are refused. */
Test(cli, frames_whole_or_incomplete)
{
	const char *f = "|1\r\n+a\r\n+b\r\n*2\r\n>1\r\n:1\r\n%1\r\n=5\r\n"
			"txt:x\r\n(12\r\n+next\r\n";
	size_t whole = strlen(f) - strlen("+next\r\n"), len, i;

	cr_assert_eq(cli_frame_scan(f, strlen(f), &len), 1);
	cr_assert_eq(len, whole);
	for (i = 0; i < whole; i++)
		cr_assert_eq(cli_frame_scan(f, i, &len), 0, "prefix %zu", i);
	cr_assert_eq(cli_frame_scan("#x\r\n", 4, &len), -EPROTO);
	cr_assert_eq(cli_frame_scan("=3\r\nabc\r\n", 9, &len), -EPROTO,
		     "a verbatim string needs its format");
	cr_assert_eq(cli_frame_scan("_1\r\n", 4, &len), -EPROTO);
	cr_assert_eq(cli_frame_scan("?\r\n", 3, &len), -EPROTO);
	cr_assert_eq(cli_frame_scan("~-1\r\n", 5, &len), -EPROTO);
	cr_assert_eq(cli_frame_scan("*-1\r\n", 5, &len), 1);
	cr_assert_eq(cli_frame_scan("$3\r\nabcd\r\n", 9, &len), -EPROTO);
}
