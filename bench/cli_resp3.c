/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring: rring-cli's reply scanner, RESP2 and RESP3 (HELLO 3). */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/*
 * The module's scanner (resp_client.c) reads RESP2 only, which is all the
 * module and rring-bench need; rring-cli also speaks RESP3 after -3, so it
 * reads every RESP3 type here: lines (+ - : , # _ ( ), blobs ($ = !) and
 * aggregates (* ~ > and % | whose count is of pairs).
 */

/* Whole-line decimal: optional '-', digits only. */
static bool line_ll(const char *s, size_t len, long long *out)
{
	char tmp[24], *end;

	if (!len || len >= sizeof(tmp) ||
	    !(s[0] == '-' || (s[0] >= '0' && s[0] <= '9')))
		return false;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	errno = 0;
	*out = strtoll(tmp, &end, 10);
	return !errno && end == tmp + len;
}

int cli_elem_head(const char *buf, size_t len, struct cli_elem *e)
{
	const char *cr;
	size_t hdr;

	memset(e, 0, sizeof(*e));
	cr = len ? memchr(buf, '\r', len) : NULL;
	if (!cr || (size_t)(cr - buf) + 1 >= len)
		return 0;
	if (cr[1] != '\n')
		return -EPROTO;
	e->type = buf[0];
	e->str = buf + 1;
	e->len = (size_t)(cr - buf) - 1;
	hdr = (size_t)(cr - buf) + 2;
	e->size = hdr;
	switch (e->type) {
	case '+':
	case '-':
	case ',':
	case '(':
		return 1;
	case '_':
		return e->len ? -EPROTO : 1;
	case '#':
		if (e->len != 1 || (e->str[0] != 't' && e->str[0] != 'f'))
			return -EPROTO;
		e->n = e->str[0] == 't';
		return 1;
	case ':':
		return line_ll(e->str, e->len, &e->n) ? 1 : -EPROTO;
	case '*':
	case '~':
	case '>':
	case '%':
	case '|':
		/* only RESP2's array has a null form (*-1) */
		if (!line_ll(e->str, e->len, &e->n) || e->n > (1LL << 40) ||
		    e->n < (e->type == '*' ? -1 : 0))
			return -EPROTO;
		if ((e->type == '%' || e->type == '|') && e->n > 0)
			e->n *= 2;
		return 1;
	case '$':
	case '=':
	case '!':
		break;
	default:
		return -EPROTO;
	}
	if (!line_ll(e->str, e->len, &e->n) || e->n < -1)
		return -EPROTO;
	e->str = NULL;
	e->len = 0;
	if (e->n == -1)
		return e->type == '$' ? 1 : -EPROTO;
	if (len - hdr < (size_t)e->n + 2)
		return 0;
	if (buf[hdr + (size_t)e->n] != '\r' ||
	    buf[hdr + (size_t)e->n + 1] != '\n')
		return -EPROTO;
	e->str = buf + hdr;
	e->len = (size_t)e->n;
	e->size = hdr + (size_t)e->n + 2;
	/* a verbatim string starts with its 3-letter format and ':' */
	if (e->type == '=' && (e->len < 4 || e->str[3] != ':'))
		return -EPROTO;
	return 1;
}

bool cli_elem_aggregate(const struct cli_elem *e)
{
	return strchr("*~>%|", e->type) && e->n > 0;
}

int cli_frame_scan(const char *buf, size_t len, size_t *frame_len)
{
	unsigned long long pending = 1;
	struct cli_elem e;
	size_t pos = 0;
	int ret;

	while (pending) {
		ret = cli_elem_head(buf + pos, len - pos, &e);
		if (ret <= 0)
			return ret;
		pos += e.size;
		/* an attribute comes before the element it describes and is
		 * not one itself: its pairs are extra */
		if (e.type != '|')
			pending--;
		if (cli_elem_aggregate(&e))
			pending += (unsigned long long)e.n;
	}
	*frame_len = pos;
	return 1;
}
