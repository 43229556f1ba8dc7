/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring: client-side RESP2: reply scanner and command encoder (rring-bench,
 * rring-cli, tests). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resp_client.h"

/* Whole-line decimal via strtoll: optional '-', no spaces or '+'. */
static bool parse_ll(const char *s, size_t len, long long *out)
{
	char tmp[24];
	char *end;

	if (!len || len >= sizeof(tmp) ||
	    !(s[0] == '-' || (s[0] >= '0' && s[0] <= '9')))
		return false;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	errno = 0;
	*out = strtoll(tmp, &end, 10);
	return errno == 0 && end == tmp + len && (len < 2 || tmp[1] != ' ');
}

struct elem {
	char type;
	const char *line; /* after the type byte */
	size_t line_len;
	long long n;
	const char *data; /* bulk payload */
	size_t end;	  /* offset after the element (header or bulk) */
};

/* One element header (and bulk payload) at pos: 1, 0 (need more), -EPROTO */
static int scan_elem(const char *buf, size_t len, size_t pos, struct elem *e,
		     size_t *need)
{
	const char *cr;
	size_t hdr_end;

	if (pos >= len) {
		*need = len + 1;
		return 0;
	}
	cr = memchr(buf + pos, '\r', len - pos);
	if (!cr || (size_t)(cr - buf) + 1 >= len) {
		*need = len + 1;
		return 0;
	}
	if (cr[1] != '\n')
		return -EPROTO;
	e->type = buf[pos];
	e->line = buf + pos + 1;
	e->line_len = (size_t)(cr - e->line);
	hdr_end = (size_t)(cr - buf) + 2;
	e->end = hdr_end;
	e->data = NULL;
	switch (e->type) {
	case '+':
	case '-':
		return 1;
	case ':':
		return parse_ll(e->line, e->line_len, &e->n) ? 1 : -EPROTO;
	case '*':
		if (!parse_ll(e->line, e->line_len, &e->n) || e->n < -1)
			return -EPROTO;
		return 1;
	case '$':
		break;
	default:
		return -EPROTO;
	}
	if (!parse_ll(e->line, e->line_len, &e->n) || e->n < -1)
		return -EPROTO;
	if (e->n == -1)
		return 1;
	if (len - hdr_end < (size_t)e->n + 2) {
		*need = hdr_end + (size_t)e->n + 2;
		return 0;
	}
	e->data = buf + hdr_end;
	if (e->data[e->n] != '\r' || e->data[e->n + 1] != '\n')
		return -EPROTO;
	e->end = hdr_end + (size_t)e->n + 2;
	return 1;
}

static void fill_top(const struct elem *e, struct rdm_reply_info *ri)
{
	ri->str = NULL;
	ri->len = 0;
	ri->integer = e->n;
	switch (e->type) {
	case '+':
	case '-':
		ri->type = e->type == '+' ? RDM_REPLY_STATUS : RDM_REPLY_ERROR;
		ri->str = e->line;
		ri->len = e->line_len;
		ri->integer = 0;
		break;
	case ':':
		ri->type = RDM_REPLY_INTEGER;
		break;
	case '$':
		ri->type = e->n < 0 ? RDM_REPLY_NIL : RDM_REPLY_BULK;
		ri->str = e->data;
		ri->len = e->n < 0 ? 0 : (size_t)e->n;
		break;
	default:
		ri->type = e->n < 0 ? RDM_REPLY_NIL : RDM_REPLY_ARRAY;
		break;
	}
}

int rdm_reply_scan(const char *buf, size_t len, struct rdm_reply_info *ri)
{
	unsigned long long pending = 1;
	size_t pos = 0;
	bool first = true;
	struct elem e;
	int ret;

	memset(ri, 0, sizeof(*ri));
	while (pending) {
		ret = scan_elem(buf, len, pos, &e, &ri->need);
		if (ret <= 0)
			return ret;
		if (first)
			fill_top(&e, ri);
		first = false;
		pending--;
		if (e.type == '*' && e.n > 0)
			pending += (unsigned long long)e.n;
		pos = e.end;
	}
	ri->frame_len = pos;
	return 1;
}

int rdm_reply_head(const char *buf, size_t len, struct rdm_reply_info *ri)
{
	struct elem e;
	int ret;

	memset(ri, 0, sizeof(*ri));
	ret = scan_elem(buf, len, 0, &e, &ri->need);
	if (ret <= 0)
		return ret;
	fill_top(&e, ri);
	ri->frame_len = e.end;
	return 1;
}

/* "<type><n>\r\n" into out (if out); its length */
static size_t put_header(char *out, char type, size_t n)
{
	char tmp[32];
	int w = snprintf(tmp, sizeof(tmp), "%c%zu\r\n", type, n);

	if (out)
		memcpy(out, tmp, (size_t)w);
	return (size_t)w;
}

size_t rdm_cmd_encode(char *out, int argc, const char *const *argv,
		      const size_t *lens)
{
	size_t pos = put_header(out, '*', (size_t)argc);
	int i;

	for (i = 0; i < argc; i++) {
		pos += put_header(out ? out + pos : NULL, '$', lens[i]);
		if (out) {
			memcpy(out + pos, argv[i], lens[i]);
			memcpy(out + pos + lens[i], "\r\n", 2);
		}
		pos += lens[i] + 2;
	}
	return pos;
}
