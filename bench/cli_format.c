/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring: rring-cli's reply rendering, byte for byte as redis-cli's. */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/*
 * Raw mode (redis-cli's output when stdout is not a terminal, or --raw):
 * strings, status and verbatim text as they are, integers, doubles and big
 * numbers in their text, booleans "(true)"/"(false)", nil as nothing, an
 * error followed by a newline, array, set and push elements separated by
 * newlines, a map's pairs as "key value" lines; the whole reply ends with a
 * newline. Terminal mode: "(integer) n", "(double) d", "(big number) n",
 * strings quoted with escapes, verbatim text as it is, "(nil)", "(error)
 * text", "(empty array)" (hash, set, push), and numbered elements whose
 * nested elements are indented under the number ("2) 1) ..."), the numbers
 * right-aligned to the widest: "1)" in arrays and pushes, "1~" in sets,
 * "1# key => value" in maps.
 */

/* A double-quoted string with C-like escapes (redis' sdscatrepr). */
static void put_quoted(FILE *f, const char *s, size_t len)
{
	unsigned char c;
	size_t i;

	fputc('"', f);
	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		switch (c) {
		case '\\':
		case '"':
			fputc('\\', f);
			fputc(c, f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		case '\r':
			fputs("\\r", f);
			break;
		case '\t':
			fputs("\\t", f);
			break;
		case '\a':
			fputs("\\a", f);
			break;
		case '\b':
			fputs("\\b", f);
			break;
		default:
			if (isprint(c))
				fputc(c, f);
			else
				fprintf(f, "\\x%02x", c);
		}
	}
	fputc('"', f);
}

struct walk {
	FILE *f;
	const char *buf;
	size_t len, pos;
	enum cli_mode mode;
	unsigned int depth;
};

/* The next element's header, past any attribute (with its pairs), which
 * is not printed. */
static int next_head(struct walk *w, struct cli_elem *e)
{
	unsigned long long skip = 0; /* elements left in attributes */

	for (;;) {
		if (cli_elem_head(w->buf + w->pos, w->len - w->pos, e) != 1)
			return -EPROTO; /* cannot happen in a whole frame */
		w->pos += e->size;
		if (!skip && e->type != '|')
			return 0;
		if (skip && e->type != '|')
			skip--;
		if (cli_elem_aggregate(e))
			skip += (unsigned long long)e->n;
	}
}

static int print_elem(struct walk *w, const char *prefix, const char *end);

static int print_raw_aggregate(struct walk *w, const struct cli_elem *e)
{
	long long i;
	int ret;

	for (i = 0; i < e->n; i++) {
		if (i)
			fputc(e->type == '%' && i % 2 ? ' ' : '\n', w->f);
		ret = print_elem(w, "", "");
		if (ret)
			return ret;
	}
	return 0;
}

static const char *empty_name(char type)
{
	switch (type) {
	case '%':
		return "hash";
	case '~':
		return "set";
	case '>':
		return "push";
	default:
		return "array";
	}
}

/* Terminal mode: end follows the last line (" => " after a map's key). */
static int print_tty_aggregate(struct walk *w, const struct cli_elem *e,
			       const char *prefix, const char *end)
{
	bool map = e->type == '%';
	long long n = map ? e->n / 2 : e->n, i;
	char sep = map ? '#' : e->type == '~' ? '~' : ')';
	size_t plen = strlen(prefix);
	unsigned int width = 0;
	char *sub;
	int ret = 0;

	if (n <= 0) {
		fprintf(w->f, "(empty %s)%s", empty_name(e->type), end);
		return 0;
	}
	for (i = n; i; i /= 10)
		width++;
	/* nested elements line up under the first one: the parent's prefix
	 * plus room for this level's number, its mark and a blank */
	sub = malloc(plen + width + 3);
	if (!sub)
		return -ENOMEM;
	memcpy(sub, prefix, plen);
	memset(sub + plen, ' ', width + 2);
	sub[plen + width + 2] = '\0';
	for (i = 0; i < n && !ret; i++) {
		/* the caller already printed the prefix of the first line */
		fprintf(w->f, "%s%*lld%c ", i ? prefix : "", (int)width, i + 1,
			sep);
		if (map)
			ret = print_elem(w, sub, " => ");
		if (!ret)
			ret = print_elem(w, sub, i == n - 1 ? end : "\n");
	}
	free(sub);
	return ret;
}

static void print_tty_scalar(struct walk *w, const struct cli_elem *e,
			     const char *end)
{
	FILE *f = w->f;

	switch (e->type) {
	case '-':
	case '!':
		fprintf(f, "(error) %.*s", (int)e->len, e->str);
		break;
	case ':':
		fprintf(f, "(integer) %lld", e->n);
		break;
	case ',':
		fprintf(f, "(double) %.*s", (int)e->len, e->str);
		break;
	case '(':
		fprintf(f, "(big number) %.*s", (int)e->len, e->str);
		break;
	case '#':
		fputs(e->n ? "(true)" : "(false)", f);
		break;
	case '$':
		if (e->n >= 0)
			put_quoted(f, e->str, e->len);
		else
			fputs("(nil)", f);
		break;
	case '_':
	case '*':
		fputs("(nil)", f);
		break;
	case '=': /* without its format ("txt:") */
		fwrite(e->str + 4, 1, e->len - 4, f);
		break;
	default: /* + */
		fwrite(e->str, 1, e->len, f);
	}
	fputs(end, f);
}

static void print_raw_scalar(struct walk *w, const struct cli_elem *e)
{
	FILE *f = w->f;

	switch (e->type) {
	case '-':
	case '!':
		fprintf(f, "%.*s\n", (int)e->len, e->str);
		break;
	case ':':
		fprintf(f, "%lld", e->n);
		break;
	case '#':
		fputs(e->n ? "(true)" : "(false)", f);
		break;
	case '=':
		fwrite(e->str + 4, 1, e->len - 4, f);
		break;
	case '_':
	case '*':
		break;
	default: /* + $ , ( as they are; $-1 has no bytes */
		if (e->len)
			fwrite(e->str, 1, e->len, f);
	}
}

static int print_elem(struct walk *w, const char *prefix, const char *end)
{
	struct cli_elem e;
	int ret;

	if (next_head(w, &e))
		return -EPROTO;
	if (!strchr("*~>%", e.type) || e.n < 0) {
		if (w->mode == CLI_TTY)
			print_tty_scalar(w, &e, end);
		else
			print_raw_scalar(w, &e);
		return 0;
	}
	if (++w->depth > CLI_MAX_DEPTH)
		return -EPROTO;
	if (w->mode == CLI_TTY)
		ret = print_tty_aggregate(w, &e, prefix, end);
	else
		ret = print_raw_aggregate(w, &e);
	w->depth--;
	return ret;
}

int cli_print_reply(FILE *f, const char *buf, size_t len, enum cli_mode mode)
{
	struct walk w = {.f = f, .buf = buf, .len = len, .mode = mode};
	int ret = print_elem(&w, "", mode == CLI_TTY ? "\n" : "");

	if (mode == CLI_RAW)
		fputc('\n', f);
	return ret;
}

bool cli_frame_is_push(const char *buf, size_t len)
{
	struct walk w = {.buf = buf, .len = len};
	struct cli_elem e;

	return !next_head(&w, &e) && e.type == '>';
}

/* A push of "invalidate" and an array of key names (redis-cli's test). */
static bool invalidation(struct walk *w, long long *keys)
{
	struct cli_elem e;

	if (next_head(w, &e) || e.type != '>' || e.n != 2 ||
	    next_head(w, &e) || e.type != '$' || e.len < 10 ||
	    memcmp(e.str, "invalidate", 10) || next_head(w, &e) ||
	    e.type != '*' || e.n < 0)
		return false;
	*keys = e.n;
	return true;
}

int cli_print_push(FILE *f, const char *buf, size_t len, enum cli_mode mode)
{
	struct walk w = {.buf = buf, .len = len};
	struct cli_elem e;
	long long keys, i;

	if (mode != CLI_TTY || !invalidation(&w, &keys))
		return cli_print_reply(f, buf, len, mode);
	/* the keys must all be strings before anything is printed */
	for (i = 0; i < keys; i++)
		if (next_head(&w, &e) || e.type != '$' || e.n < 0)
			return cli_print_reply(f, buf, len, mode);
	w.pos = 0;
	invalidation(&w, &keys);
	fputs("-> invalidate: ", f);
	for (i = 0; i < keys; i++) {
		next_head(&w, &e);
		fprintf(f, "'%.*s'%s", (int)e.len, e.str,
			i < keys - 1 ? ", " : "");
	}
	fputc('\n', f);
	return 0;
}
