/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring module: incremental RESP request parser and RESP2 reply writer. */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resp.h"

/*
 * The parser is a small state machine over a "source": the caller's window
 * in direct mode, or the carry buffer once bytes were absorbed. Its state
 * (p->state, p->pos, the spans of the arguments found so far) is kept as
 * offsets into the source, so parsing resumes where it stopped when the
 * same source comes back longer, and survives the carry buffer moving.
 */

enum {
	ST_START,     /* at the first byte of a command */
	ST_MBULK_HDR, /* at "*<count>\r\n" */
	ST_BULK_HDR,  /* at "$<len>\r\n" of the next argument */
	ST_BULK_DATA, /* at the payload of a bulk of p->bulk_len bytes */
	ST_INLINE,    /* at an inline command line */
	ST_ERROR,     /* a protocol error happened; final */
};

#define ST_CONTINUE 2 /* internal: state changed, run the next handler */

/* Redis's string2ll: strict base-10, no spaces or '+', no leading zeros. */
static bool resp_string2ll(const char *s, size_t slen, long long *value)
{
	unsigned long long v;
	size_t i = 0;
	bool neg = false;

	if (slen == 0 || slen >= 21)
		return false;
	if (slen == 1 && s[0] == '0') {
		*value = 0;
		return true;
	}
	if (s[0] == '-') {
		neg = true;
		if (++i == slen)
			return false;
	}
	if (s[i] < '1' || s[i] > '9')
		return false;
	v = (unsigned long long)(s[i++] - '0');
	for (; i < slen && s[i] >= '0' && s[i] <= '9'; i++) {
		if (v > ULLONG_MAX / 10)
			return false;
		v *= 10;
		if (v > ULLONG_MAX - (unsigned long long)(s[i] - '0'))
			return false;
		v += (unsigned long long)(s[i] - '0');
	}
	if (i < slen)
		return false;
	if (neg) {
		if (v > (unsigned long long)LLONG_MAX + 1)
			return false;
		*value = (long long)(0 - v);
	} else {
		if (v > LLONG_MAX)
			return false;
		*value = (long long)v;
	}
	return true;
}

static int proto_error(struct rdm_resp_parser *p, const char *msg,
		       const char *reason)
{
	snprintf(p->err, sizeof(p->err), "%s", msg);
	p->reason = reason;
	p->state = ST_ERROR;
	return RDM_RESP_ERROR;
}

static int oom_error(struct rdm_resp_parser *p)
{
	return proto_error(p, "Protocol error: out of memory", "out of memory");
}

static int grow(void **ptr, size_t elem, size_t need, size_t *cap)
{
	size_t ncap = *cap * 2;
	void *n;

	if (need <= *cap)
		return 0;
	/* doubling for small steps, exact for a known large size */
	if (ncap < need)
		ncap = need;
	if (ncap < 8)
		ncap = 8;
	n = realloc(*ptr, ncap * elem);
	if (!n)
		return -ENOMEM;
	*ptr = n;
	*cap = ncap;
	return 0;
}

static int add_span(struct rdm_resp_parser *p, size_t off, size_t len)
{
	size_t cap = (size_t)p->spans_cap;

	if (grow((void **)&p->spans, sizeof(*p->spans), (size_t)p->nspans + 1,
		 &cap))
		return -ENOMEM;
	p->spans_cap = (int)(cap > INT_MAX ? INT_MAX : cap);
	p->spans[p->nspans].off = off;
	p->spans[p->nspans].len = len;
	p->nspans++;
	return 0;
}

void rdm_resp_parser_init(struct rdm_resp_parser *p,
			  long long proto_max_bulk_len)
{
	memset(p, 0, sizeof(*p));
	p->proto_max_bulk_len = proto_max_bulk_len > 0
				    ? proto_max_bulk_len
				    : RDM_PROTO_MAX_BULK_LEN_DEFAULT;
	p->state = ST_START;
}

void rdm_resp_parser_destroy(struct rdm_resp_parser *p)
{
	free(p->argv);
	free(p->spans);
	free(p->carry);
	free(p->scratch);
	p->argv = NULL;
	p->spans = NULL;
	p->carry = NULL;
	p->scratch = NULL;
	p->argc = p->nspans = p->spans_cap = p->argv_cap = 0;
	p->carry_off = p->carry_len = p->carry_cap = p->scratch_cap = 0;
}

size_t rdm_resp_pending(const struct rdm_resp_parser *p)
{
	return p->carry_len - p->carry_off;
}

/* ---- state handlers: return ST_CONTINUE, RDM_RESP_AGAIN/CMD/ERROR ---- */

static int st_start(struct rdm_resp_parser *p, const char *src, size_t len)
{
	if (p->pos >= len)
		return RDM_RESP_AGAIN;
	p->nspans = 0;
	p->in_scratch = false;
	p->state = src[p->pos] == '*' ? ST_MBULK_HDR : ST_INLINE;
	return ST_CONTINUE;
}

/*
 * Find the header line at p->pos: sets *d to the offset of '\r' from pos.
 * Like Redis, a line is complete once one byte follows the '\r' (that byte
 * is skipped unchecked). Returns ST_CONTINUE, AGAIN or ERROR (too long).
 */
static int header_line(struct rdm_resp_parser *p, const char *src, size_t len,
		       size_t *d, const char *toobig, const char *reason)
{
	size_t avail = len - p->pos;
	const char *cr = memchr(src + p->pos, '\r', avail);

	if (!cr) {
		if (avail > RDM_PROTO_INLINE_MAX_SIZE)
			return proto_error(p, toobig, reason);
		return RDM_RESP_AGAIN;
	}
	*d = (size_t)(cr - (src + p->pos));
	if (*d + 2 > avail)
		return RDM_RESP_AGAIN;
	return ST_CONTINUE;
}

static int st_mbulk_hdr(struct rdm_resp_parser *p, const char *src, size_t len)
{
	long long ll;
	size_t d;
	int ret;

	ret = header_line(p, src, len, &d,
			  "Protocol error: too big mbulk count string",
			  "too big mbulk count string");
	if (ret != ST_CONTINUE)
		return ret;
	if (!resp_string2ll(src + p->pos + 1, d - 1, &ll) || ll > INT_MAX)
		return proto_error(p,
				   "Protocol error: invalid multibulk length",
				   "invalid mbulk count");
	if (ll > RDM_RESP_UNAUTH_MBULK_MAX && p->auth_required)
		return proto_error(p,
				   "Protocol error: unauthenticated multibulk "
				   "length",
				   "unauth mbulk count");
	p->pos += d + 2;
	if (ll <= 0) {
		p->state = ST_START; /* empty command: skipped */
		return ST_CONTINUE;
	}
	p->mbulk_left = ll;
	p->state = ST_BULK_HDR;
	return ST_CONTINUE;
}

static int st_bulk_hdr(struct rdm_resp_parser *p, const char *src, size_t len)
{
	char msg[64];
	long long ll;
	size_t d;
	int ret;

	if (p->pos >= len)
		return RDM_RESP_AGAIN;
	ret = header_line(p, src, len, &d,
			  "Protocol error: too big bulk count string",
			  "too big bulk count string");
	if (ret != ST_CONTINUE)
		return ret;
	if (src[p->pos] != '$') {
		char c = src[p->pos];

		/* addReplyErrorFormat turns CR and LF into spaces */
		snprintf(msg, sizeof(msg),
			 "Protocol error: expected '$', got '%c'",
			 (c == '\r' || c == '\n') ? ' ' : c);
		return proto_error(p, msg, "expected $ but got something else");
	}
	if (!resp_string2ll(src + p->pos + 1, d - 1, &ll) || ll < 0 ||
	    ll > p->proto_max_bulk_len)
		return proto_error(p, "Protocol error: invalid bulk length",
				   "invalid bulk length");
	if (ll > RDM_RESP_UNAUTH_BULK_MAX && p->auth_required)
		return proto_error(
		    p, "Protocol error: unauthenticated bulk length",
		    "unauth bulk length");
	p->pos += d + 2;
	p->bulk_len = ll;
	p->state = ST_BULK_DATA;
	return ST_CONTINUE;
}

static int st_bulk_data(struct rdm_resp_parser *p, const char *src, size_t len)
{
	size_t want = (size_t)p->bulk_len + 2;

	(void)src;
	if (len - p->pos < want) {
		p->need = p->pos + want;
		return RDM_RESP_AGAIN;
	}
	/* Like Redis, the two bytes after the payload are skipped unchecked. */
	if (add_span(p, p->pos, (size_t)p->bulk_len))
		return oom_error(p);
	p->pos += want;
	if (--p->mbulk_left == 0)
		return RDM_RESP_CMD;
	p->state = ST_BULK_HDR;
	return ST_CONTINUE;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' ||
	       c == '\r';
}

static int hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static char unescape(char c)
{
	switch (c) {
	case 'n':
		return '\n';
	case 'r':
		return '\r';
	case 't':
		return '\t';
	case 'b':
		return '\b';
	case 'a':
		return '\a';
	default:
		return c;
	}
}

/* Cursor over a line that reads as NUL past its end (sdssplitargs). */
struct cursor {
	const char *s, *end;
};

static char at(const struct cursor *c, size_t k)
{
	return c->s + k < c->end ? c->s[k] : '\0';
}

/* One token in double quotes; *done set at the closing quote. */
static int token_dq(struct cursor *c, char *out, size_t *o, bool *done)
{
	char ch = at(c, 0);

	if (ch == '\\' && at(c, 1) == 'x' && hex_val(at(c, 2)) >= 0 &&
	    hex_val(at(c, 3)) >= 0) {
		out[(*o)++] =
		    (char)(hex_val(at(c, 2)) * 16 + hex_val(at(c, 3)));
		c->s += 3;
	} else if (ch == '\\' && at(c, 1)) {
		c->s++;
		out[(*o)++] = unescape(at(c, 0));
	} else if (ch == '"') {
		if (at(c, 1) && !is_space(at(c, 1)))
			return -1;
		*done = true;
	} else if (!ch) {
		return -1;
	} else {
		out[(*o)++] = ch;
	}
	return 0;
}

/* One token in single quotes. */
static int token_sq(struct cursor *c, char *out, size_t *o, bool *done)
{
	char ch = at(c, 0);

	if (ch == '\\' && at(c, 1) == '\'') {
		c->s++;
		out[(*o)++] = '\'';
	} else if (ch == '\'') {
		if (at(c, 1) && !is_space(at(c, 1)))
			return -1;
		*done = true;
	} else if (!ch) {
		return -1;
	} else {
		out[(*o)++] = ch;
	}
	return 0;
}

/* Split an inline line as sdssplitargs does; output into p->scratch. */
static int split_inline(struct rdm_resp_parser *p, const char *line, size_t len)
{
	const char *nul = memchr(line, '\0', len);
	struct cursor c = {line, nul ? nul : line + len};
	size_t o = 0, start;
	int quote;
	bool done;

	if (grow((void **)&p->scratch, 1, len + 1, &p->scratch_cap))
		return -ENOMEM;
	for (;;) {
		while (c.s < c.end && is_space(*c.s))
			c.s++;
		if (c.s >= c.end)
			return 0;
		start = o;
		quote = 0;
		done = false;
		while (!done) {
			char ch = at(&c, 0);

			if (quote == '"') {
				if (token_dq(&c, p->scratch, &o, &done))
					return -EINVAL;
			} else if (quote == '\'') {
				if (token_sq(&c, p->scratch, &o, &done))
					return -EINVAL;
			} else if (ch == ' ' || ch == '\n' || ch == '\r' ||
				   ch == '\t' || ch == '\0') {
				done = true;
			} else if (ch == '"' || ch == '\'') {
				quote = ch;
			} else {
				p->scratch[o++] = ch;
			}
			if (c.s < c.end)
				c.s++;
		}
		if (add_span(p, start, o - start))
			return -ENOMEM;
	}
}

static int st_inline(struct rdm_resp_parser *p, const char *src, size_t len)
{
	size_t avail = len - p->pos;
	const char *line = src + p->pos;
	const char *nl = memchr(line, '\n', avail);
	const char *end;
	int ret;

	if (!nl) {
		if (avail > RDM_PROTO_INLINE_MAX_SIZE)
			return proto_error(p,
					   "Protocol error: too big inline "
					   "request",
					   "too big inline request");
		return RDM_RESP_AGAIN;
	}
	end = (nl != line && nl[-1] == '\r') ? nl - 1 : nl;
	p->in_scratch = true;
	ret = split_inline(p, line, (size_t)(end - line));
	if (ret == -ENOMEM)
		return oom_error(p);
	if (ret)
		return proto_error(p,
				   "Protocol error: unbalanced quotes in "
				   "request",
				   "unbalanced quotes in inline request");
	p->pos += (size_t)(nl - line) + 1;
	if (p->nspans == 0) {
		p->state = ST_START; /* blank line: skipped */
		return ST_CONTINUE;
	}
	return RDM_RESP_CMD;
}

static int sm_step(struct rdm_resp_parser *p, const char *src, size_t len)
{
	switch (p->state) {
	case ST_START:
		return st_start(p, src, len);
	case ST_MBULK_HDR:
		return st_mbulk_hdr(p, src, len);
	case ST_BULK_HDR:
		return st_bulk_hdr(p, src, len);
	case ST_BULK_DATA:
		return st_bulk_data(p, src, len);
	case ST_INLINE:
		return st_inline(p, src, len);
	default:
		return RDM_RESP_ERROR;
	}
}

static int sm_run(struct rdm_resp_parser *p, const char *src, size_t len)
{
	int ret;

	p->need = 0;
	do {
		ret = sm_step(p, src, len);
	} while (ret == ST_CONTINUE);
	if (ret == RDM_RESP_AGAIN && !p->need && p->state != ST_START)
		p->need = len + 1;
	return ret;
}

/* Publish the spans of a complete command as argv pointers. */
static int emit_cmd(struct rdm_resp_parser *p, const char *src)
{
	const char *base = p->in_scratch ? p->scratch : src;
	size_t cap = (size_t)p->argv_cap;
	int i;

	if (grow((void **)&p->argv, sizeof(*p->argv), (size_t)p->nspans, &cap))
		return oom_error(p);
	p->argv_cap = (int)(cap > INT_MAX ? INT_MAX : cap);
	for (i = 0; i < p->nspans; i++) {
		p->argv[i].ptr = base + p->spans[i].off;
		p->argv[i].len = p->spans[i].len;
	}
	p->argc = p->nspans;
	p->state = ST_START;
	return RDM_RESP_CMD;
}

static int parse_direct(struct rdm_resp_parser *p, const char *buf, size_t len,
			size_t *consumed)
{
	int ret = sm_run(p, buf, len);

	*consumed = 0;
	if (ret == RDM_RESP_CMD) {
		*consumed = p->pos;
		p->pos = 0;
		return emit_cmd(p, buf);
	}
	if (ret == RDM_RESP_AGAIN && p->state == ST_START) {
		/* nothing pending: skipped empty commands can go */
		*consumed = p->pos;
		p->pos = 0;
	}
	return ret;
}

/* Make room for extra more live bytes in the carry (may move them). */
static int carry_reserve(struct rdm_resp_parser *p, size_t extra)
{
	size_t live = p->carry_len - p->carry_off;

	if (p->carry_off && p->carry_len + extra > p->carry_cap) {
		memmove(p->carry, p->carry + p->carry_off, live);
		p->carry_off = 0;
		p->carry_len = live;
	}
	return grow((void **)&p->carry, 1, p->carry_len + extra, &p->carry_cap);
}

static int carry_append(struct rdm_resp_parser *p, const char *buf, size_t n)
{
	size_t extra = n;

	/* A bulk whose size is known gets its whole room at once. */
	if (p->state == ST_BULK_DATA && p->need > p->carry_len - p->carry_off)
		extra = p->need - (p->carry_len - p->carry_off);
	if (extra < n)
		extra = n;
	if (carry_reserve(p, extra))
		return -ENOMEM;
	memcpy(p->carry + p->carry_len, buf, n);
	p->carry_len += n;
	return 0;
}

int rdm_resp_absorb(struct rdm_resp_parser *p, const char *buf, size_t len)
{
	if (!len)
		return 0;
	return carry_append(p, buf, len);
}

/* How much of the input the carried command can use next. */
static size_t carry_chunk(const struct rdm_resp_parser *p, const char *buf,
			  size_t len)
{
	const char *nl;
	size_t live = p->carry_len - p->carry_off;

	if (p->state == ST_BULK_DATA && p->need > live)
		return p->need - live < len ? p->need - live : len;
	nl = memchr(buf, '\n', len);
	return nl ? (size_t)(nl - buf) + 1 : len;
}

static int parse_carry(struct rdm_resp_parser *p, const char *buf, size_t len,
		       size_t *consumed)
{
	size_t n;
	int ret;

	*consumed = 0;
	for (;;) {
		ret = sm_run(p, p->carry + p->carry_off,
			     p->carry_len - p->carry_off);
		if (ret == RDM_RESP_CMD) {
			const char *src = p->carry + p->carry_off;

			p->carry_off += p->pos;
			if (p->carry_off == p->carry_len)
				p->carry_off = p->carry_len = 0;
			p->pos = 0;
			return emit_cmd(p, src);
		}
		if (ret != RDM_RESP_AGAIN)
			return ret;
		if (p->state == ST_START) {
			/* only skipped bytes were carried: go on directly */
			p->carry_off = p->carry_len = 0;
			p->pos = 0;
			ret = parse_direct(p, buf + *consumed, len - *consumed,
					   &n);
			*consumed += n;
			return ret;
		}
		if (*consumed == len)
			return RDM_RESP_AGAIN;
		n = carry_chunk(p, buf + *consumed, len - *consumed);
		if (carry_append(p, buf + *consumed, n))
			return oom_error(p);
		*consumed += n;
	}
}

int rdm_resp_parse(struct rdm_resp_parser *p, const char *buf, size_t len,
		   size_t *consumed)
{
	*consumed = 0;
	p->argc = 0;
	if (p->state == ST_ERROR)
		return RDM_RESP_ERROR;
	if (p->carry_len > p->carry_off)
		return parse_carry(p, buf, len, consumed);
	return parse_direct(p, buf, len, consumed);
}

size_t rdm_resp_error_reply(const struct rdm_resp_parser *p, char *out,
			    size_t outlen)
{
	int n = snprintf(out, outlen, "-ERR %s\r\n", p->err);

	if (n < 0)
		return 0;
	return (size_t)n < outlen ? (size_t)n : outlen - 1;
}

/* ------------------------------ reply writer ------------------------------ */

void rdm_resp_writer_init(struct rdm_resp_writer *w, size_t ref_min)
{
	memset(w, 0, sizeof(*w));
	w->ref_min = ref_min ? ref_min : RDM_RESP_REF_MIN_DEFAULT;
}

void rdm_resp_writer_destroy(struct rdm_resp_writer *w)
{
	free(w->buf);
	free(w->segs);
	free(w->iov);
	w->buf = NULL;
	w->segs = NULL;
	w->iov = NULL;
	w->buf_cap = 0;
	w->segs_cap = w->iov_cap = 0;
	rdm_resp_writer_reset(w);
}

void rdm_resp_writer_reset(struct rdm_resp_writer *w)
{
	w->total = 0;
	w->err = 0;
	w->buf_len = 0;
	w->nsegs = 0;
}

static int new_seg(struct rdm_resp_writer *w, const char *ext, size_t off,
		   size_t len)
{
	size_t cap = (size_t)w->segs_cap;

	if (grow((void **)&w->segs, sizeof(*w->segs), (size_t)w->nsegs + 1,
		 &cap))
		return -ENOMEM;
	w->segs_cap = (int)(cap > INT_MAX ? INT_MAX : cap);
	w->segs[w->nsegs].ext = ext;
	w->segs[w->nsegs].off = off;
	w->segs[w->nsegs].len = len;
	w->nsegs++;
	return 0;
}

/* Copy bytes into the own buffer, extending the last own segment. */
static int put(struct rdm_resp_writer *w, const void *data, size_t len)
{
	struct rdm_resp_seg *last;

	if (w->err)
		return w->err;
	if (!len)
		return 0;
	if (grow((void **)&w->buf, 1, w->buf_len + len, &w->buf_cap))
		goto oom;
	last = w->nsegs ? &w->segs[w->nsegs - 1] : NULL;
	if (last && !last->ext && last->off + last->len == w->buf_len)
		last->len += len;
	else if (new_seg(w, NULL, w->buf_len, len))
		goto oom;
	memcpy(w->buf + w->buf_len, data, len);
	w->buf_len += len;
	w->total += len;
	return 0;
oom:
	w->err = -ENOMEM;
	return w->err;
}

/* Reference (or, when small, copy) caller memory. */
static int put_ref(struct rdm_resp_writer *w, const void *data, size_t len)
{
	if (w->err)
		return w->err;
	if (len < w->ref_min)
		return put(w, data, len);
	if (new_seg(w, data, 0, len)) {
		w->err = -ENOMEM;
		return w->err;
	}
	w->total += len;
	return 0;
}

static int put_line(struct rdm_resp_writer *w, char type, long long v)
{
	char hdr[32];
	int n = snprintf(hdr, sizeof(hdr), "%c%lld\r\n", type, v);

	return put(w, hdr, (size_t)n);
}

int rdm_resp_add_simple(struct rdm_resp_writer *w, const char *s, size_t len)
{
	put(w, "+", 1);
	put(w, s, len);
	return put(w, "\r\n", 2);
}

int rdm_resp_add_error(struct rdm_resp_writer *w, const char *s, size_t len)
{
	size_t i, start = 0;

	put(w, "-", 1);
	for (i = 0; i <= len; i++) {
		if (i < len && s[i] != '\r' && s[i] != '\n')
			continue;
		put(w, s + start, i - start);
		if (i < len)
			put(w, " ", 1);
		start = i + 1;
	}
	return put(w, "\r\n", 2);
}

int rdm_resp_add_integer(struct rdm_resp_writer *w, long long v)
{
	return put_line(w, ':', v);
}

int rdm_resp_add_bulk(struct rdm_resp_writer *w, const void *data, size_t len)
{
	put_line(w, '$', (long long)len);
	put_ref(w, data, len);
	return put(w, "\r\n", 2);
}

int rdm_resp_add_null(struct rdm_resp_writer *w)
{
	return put(w, "$-1\r\n", 5);
}

int rdm_resp_add_null_array(struct rdm_resp_writer *w)
{
	return put(w, "*-1\r\n", 5);
}

int rdm_resp_add_array(struct rdm_resp_writer *w, long long n)
{
	return put_line(w, '*', n);
}

int rdm_resp_add_raw(struct rdm_resp_writer *w, const void *data, size_t len)
{
	return put_ref(w, data, len);
}

const struct iovec *rdm_resp_writer_iov(struct rdm_resp_writer *w, int *cnt)
{
	size_t cap = (size_t)w->iov_cap;
	int i;

	*cnt = 0;
	if (w->err || !w->nsegs)
		return NULL;
	if (grow((void **)&w->iov, sizeof(*w->iov), (size_t)w->nsegs, &cap)) {
		w->err = -ENOMEM;
		return NULL;
	}
	w->iov_cap = (int)(cap > INT_MAX ? INT_MAX : cap);
	for (i = 0; i < w->nsegs; i++) {
		const struct rdm_resp_seg *s = &w->segs[i];

		w->iov[i].iov_base =
		    (void *)(uintptr_t)(s->ext ? s->ext : w->buf + s->off);
		w->iov[i].iov_len = s->len;
	}
	*cnt = w->nsegs;
	return w->iov;
}
