/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring: rring-cli's line splitting, with redis-cli's quoting rules. */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

struct split {
	const char *p, *end;
	char *out; /* argument bytes, each argument after the previous */
};

static int hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* One escape after a backslash inside "...": advances s->p past it. */
static char dq_escape(struct split *s)
{
	static const char from[] = "nrtba", to[] = "\n\r\t\b\a";
	const char *k;
	int hi, lo;

	if (s->end - s->p >= 4 && s->p[1] == 'x' &&
	    (hi = hex_val(s->p[2])) >= 0 && (lo = hex_val(s->p[3])) >= 0) {
		s->p += 4;
		return (char)(hi * 16 + lo);
	}
	k = strchr(from, s->p[1]);
	s->p += 2;
	return k && s->p[-1] ? to[k - from] : s->p[-1];
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\v' ||
	       c == '\f' || c == '\0';
}

/* One argument at s->p (not blank) into s->out; its length or -EINVAL. */
static long split_arg(struct split *s)
{
	char *start = s->out, quote = 0;

	while (s->p < s->end) {
		char c = *s->p;

		if (!quote && is_blank(c))
			break;
		if (!quote && (c == '"' || c == '\'')) {
			quote = c;
			s->p++;
		} else if (quote == c) {
			s->p++;
			/* redis-cli: a closing quote ends the argument */
			if (s->p < s->end && !is_blank(*s->p))
				return -EINVAL;
			return s->out - start;
		} else if (c == '\\' && s->end - s->p >= 2 &&
			   (quote == '"' ||
			    (quote == '\'' && s->p[1] == '\''))) {
			*s->out++ =
			    quote == '"' ? dq_escape(s) : (s->p += 2, '\'');
		} else {
			*s->out++ = c;
			s->p++;
		}
	}
	return quote ? -EINVAL : s->out - start;
}

int cli_split_line(const char *line, size_t len, char ***argv, size_t **lens)
{
	/* every argument is at most as long as the line: one block holds
	 * the pointers, the lengths and the bytes */
	size_t max = len / 2 + 1, n = 0;
	char **av = malloc(max * (sizeof(char *) + sizeof(size_t)) + len + 1);
	struct split s = {.p = line, .end = line + len};
	size_t *ln;
	long l;

	if (!av)
		return -ENOMEM;
	ln = (size_t *)(av + max);
	s.out = (char *)(ln + max);
	for (;;) {
		while (s.p < s.end && is_blank(*s.p))
			s.p++;
		if (s.p == s.end)
			break;
		av[n] = s.out;
		l = split_arg(&s);
		if (l < 0) {
			free(av);
			return -EINVAL;
		}
		ln[n++] = (size_t)l;
	}
	*argv = av;
	*lens = ln;
	return (int)n;
}
