/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring: rring-cli's reply rendering, byte for byte as redis-cli's. */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "resp_client.h"

/*
 * Raw mode (redis-cli's output when stdout is not a terminal, or --raw):
 * strings and status as they are, integers in decimal, nil as nothing, an
 * error followed by a newline, array elements separated by newlines; the
 * whole reply ends with a newline. Terminal mode: "(integer) n", strings
 * quoted with escapes, "(nil)", "(error) text", "(empty array)", and
 * numbered array elements whose nested elements are indented under the
 * number ("2) 1) ..."), the numbers right-aligned to the widest.
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

static int print_elem(struct walk *w, const char *prefix);

static int print_raw_array(struct walk *w, long long n)
{
	long long i;
	int ret;

	for (i = 0; i < n; i++) {
		if (i)
			fputc('\n', w->f);
		ret = print_elem(w, "");
		if (ret)
			return ret;
	}
	return 0;
}

static int print_tty_array(struct walk *w, long long n, const char *prefix)
{
	size_t plen = strlen(prefix);
	unsigned int width = 0;
	long long i;
	char *sub;
	int ret = 0;

	if (!n) {
		fputs("(empty array)\n", w->f);
		return 0;
	}
	for (i = n; i; i /= 10)
		width++;
	/* nested elements line up under the first one: the parent's prefix
	 * plus room for this level's number, ") " */
	sub = malloc(plen + width + 3);
	if (!sub)
		return -ENOMEM;
	memcpy(sub, prefix, plen);
	memset(sub + plen, ' ', width + 2);
	sub[plen + width + 2] = '\0';
	for (i = 0; i < n && !ret; i++) {
		/* the caller already printed the prefix of the first line */
		fprintf(w->f, "%s%*lld) ", i ? prefix : "", (int)width, i + 1);
		ret = print_elem(w, sub);
	}
	free(sub);
	return ret;
}

static void print_scalar(struct walk *w, const struct rdm_reply_info *ri)
{
	bool tty = w->mode == CLI_TTY;

	switch (ri->type) {
	case RDM_REPLY_ERROR:
		fprintf(w->f, "%s%.*s\n", tty ? "(error) " : "", (int)ri->len,
			ri->str);
		return;
	case RDM_REPLY_STATUS:
		fwrite(ri->str, 1, ri->len, w->f);
		break;
	case RDM_REPLY_INTEGER:
		fprintf(w->f, "%s%lld", tty ? "(integer) " : "", ri->integer);
		break;
	case RDM_REPLY_BULK:
		if (tty)
			put_quoted(w->f, ri->str, ri->len);
		else
			fwrite(ri->str, 1, ri->len, w->f);
		break;
	default: /* nil */
		if (tty)
			fputs("(nil)", w->f);
		break;
	}
	if (tty)
		fputc('\n', w->f);
}

static int print_elem(struct walk *w, const char *prefix)
{
	struct rdm_reply_info ri;
	int ret;

	if (rdm_reply_head(w->buf + w->pos, w->len - w->pos, &ri) != 1)
		return -EPROTO; /* cannot happen in a complete frame */
	w->pos += ri.frame_len;
	if (ri.type != RDM_REPLY_ARRAY) {
		print_scalar(w, &ri);
		return 0;
	}
	if (++w->depth > CLI_MAX_DEPTH)
		return -EPROTO;
	if (w->mode == CLI_TTY)
		ret = print_tty_array(w, ri.integer, prefix);
	else
		ret = print_raw_array(w, ri.integer);
	w->depth--;
	return ret;
}

int cli_print_reply(FILE *f, const char *buf, size_t len, enum cli_mode mode)
{
	struct walk w = {.f = f, .buf = buf, .len = len, .mode = mode};
	int ret = print_elem(&w, "");

	if (mode == CLI_RAW)
		fputc('\n', f);
	return ret;
}
