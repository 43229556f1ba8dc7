/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring tests: RESP request parser and reply writer (module/resp.c). */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resp.h"

#define MAX_CMDS 64

/* Commands seen by a simulated caller, each as "arg|arg|..." with lengths. */
struct seen {
	char *cmd[MAX_CMDS];
	int n;
	int status; /* last status: RDM_RESP_AGAIN or RDM_RESP_ERROR */
	char err[96];
};

static char *render(const struct rdm_resp_parser *p)
{
	size_t len = 1, o = 0;
	char *s;
	int i;

	for (i = 0; i < p->argc; i++)
		len += p->argv[i].len + 24;
	s = malloc(len);
	cr_assert_not_null(s);
	for (i = 0; i < p->argc; i++) {
		o += (size_t)sprintf(s + o, "%s%zu:", i ? "|" : "",
				     p->argv[i].len);
		memcpy(s + o, p->argv[i].ptr, p->argv[i].len);
		o += p->argv[i].len;
	}
	s[o] = '\0';
	return s;
}

static void seen_free(struct seen *s)
{
	int i;

	for (i = 0; i < s->n; i++)
		free(s->cmd[i]);
	memset(s, 0, sizeof(*s));
}

/*
 * Zero-copy caller: the whole stream is its receive buffer, bytes arrive up
 * to each split point; it keeps unconsumed bytes and re-presents them.
 * absorb: instead hand every incomplete tail to the parser and drop it.
 */
static void drive(const char *stream, size_t len, const size_t *cuts, int ncuts,
		  bool absorb, long long maxbulk, bool auth, struct seen *out)
{
	struct rdm_resp_parser p;
	size_t rd = 0, wr, consumed;
	int c, ret = RDM_RESP_AGAIN;

	memset(out, 0, sizeof(*out));
	rdm_resp_parser_init(&p, maxbulk);
	p.auth_required = auth;
	for (c = 0; c <= ncuts && ret != RDM_RESP_ERROR; c++) {
		wr = c < ncuts ? cuts[c] : len;
		for (;;) {
			ret =
			    rdm_resp_parse(&p, stream + rd, wr - rd, &consumed);
			cr_assert_leq(consumed, wr - rd);
			rd += consumed;
			if (ret != RDM_RESP_CMD)
				break;
			cr_assert_lt(out->n, MAX_CMDS);
			out->cmd[out->n++] = render(&p);
		}
		if (ret == RDM_RESP_ERROR)
			break;
		if (absorb && wr > rd) {
			cr_assert_eq(rdm_resp_absorb(&p, stream + rd, wr - rd),
				     0);
			rd = wr;
		}
	}
	out->status = ret;
	snprintf(out->err, sizeof(out->err), "%s", p.err);
	if (ret != RDM_RESP_ERROR)
		cr_assert_eq(rd + rdm_resp_pending(&p), len,
			     "bytes neither consumed nor carried");
	rdm_resp_parser_destroy(&p);
}

static void expect_cmds(const struct seen *s, const char *const *want, int n)
{
	int i;

	cr_assert_eq(s->n, n, "got %d commands, want %d", s->n, n);
	for (i = 0; i < n; i++)
		cr_assert_str_eq(s->cmd[i], want[i], "command %d", i);
}

static const char pipeline[] =
    "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nva\r\nl\r\n"
    "*0\r\n"
    "PING\r\n"
    "*-1\r\n"
    "  set  'a b'  \"c\\x41\\n\\\"\"  \r\n"
    "\r\n"
    "*2\r\n$3\r\nGET\r\n$0\r\n\r\n"
    "echo x\n"
    "*1\r\n$4\r\nQUIT\r\n";

static const char *const pipeline_cmds[] = {
    "3:SET|3:key|5:va\r\nl",
    "4:PING",
    "3:set|3:a b|4:cA\n\"",
    "3:GET|0:",
    "4:echo|1:x",
    "4:QUIT",
};

#define NPIPE ((int)(sizeof(pipeline_cmds) / sizeof(pipeline_cmds[0])))

Test(resp, whole_pipeline)
{
	struct seen s;

	drive(pipeline, sizeof(pipeline) - 1, NULL, 0, false, 0, false, &s);
	cr_assert_eq(s.status, RDM_RESP_AGAIN);
	expect_cmds(&s, pipeline_cmds, NPIPE);
	seen_free(&s);
}

Test(resp, every_split_point_same_commands)
{
	size_t len = sizeof(pipeline) - 1, cut;
	struct seen s;
	int mode;

	for (mode = 0; mode < 2; mode++) {
		for (cut = 0; cut <= len; cut++) {
			drive(pipeline, len, &cut, 1, mode, 0, false, &s);
			cr_assert_eq(s.status, RDM_RESP_AGAIN);
			expect_cmds(&s, pipeline_cmds, NPIPE);
			seen_free(&s);
		}
	}
}

Test(resp, every_pair_of_split_points)
{
	size_t len = sizeof(pipeline) - 1, cuts[2];
	struct seen s;

	for (cuts[0] = 0; cuts[0] <= len; cuts[0] += 3) {
		for (cuts[1] = cuts[0]; cuts[1] <= len; cuts[1]++) {
			drive(pipeline, len, cuts, 2, cuts[1] & 1, 0, false,
			      &s);
			expect_cmds(&s, pipeline_cmds, NPIPE);
			seen_free(&s);
		}
	}
}

Test(resp, byte_by_byte)
{
	size_t len = sizeof(pipeline) - 1, i, cuts[sizeof(pipeline)];
	struct seen s;
	int mode;

	for (i = 0; i < len; i++)
		cuts[i] = i + 1;
	for (mode = 0; mode < 2; mode++) {
		drive(pipeline, len, cuts, (int)len, mode, 0, false, &s);
		expect_cmds(&s, pipeline_cmds, NPIPE);
		seen_free(&s);
	}
}

Test(resp, zero_copy_when_contiguous)
{
	static const char in[] = "*2\r\n$3\r\nGET\r\n$4\r\nkey1\r\n";
	struct rdm_resp_parser p;
	size_t consumed;

	rdm_resp_parser_init(&p, 0);
	cr_assert_eq(rdm_resp_parse(&p, in, sizeof(in) - 1, &consumed),
		     RDM_RESP_CMD);
	cr_assert_eq(consumed, sizeof(in) - 1);
	cr_assert_eq(p.argc, 2);
	cr_assert_eq(p.argv[0].ptr, in + 8);
	cr_assert_eq(p.argv[1].ptr, in + 17);
	/* incomplete: nothing consumed, a longer window resumes */
	cr_assert_eq(rdm_resp_parse(&p, in, 15, &consumed), RDM_RESP_AGAIN);
	cr_assert_eq(consumed, 0);
	cr_assert_gt(p.need, 15);
	cr_assert_eq(rdm_resp_parse(&p, in, sizeof(in) - 1, &consumed),
		     RDM_RESP_CMD);
	cr_assert_eq(p.argv[1].ptr, in + 17);
	rdm_resp_parser_destroy(&p);
}

/* Error text after a (possibly empty) run of good commands. */
static void expect_error(const char *in, size_t len, long long maxbulk,
			 bool auth, int ncmds, const char *err)
{
	size_t cut;
	struct seen s;

	/* same verdict whichever way the bytes arrive */
	for (cut = 0; cut <= len; cut += (len > 200 ? len / 7 : 1)) {
		drive(in, len, &cut, 1, cut & 1, maxbulk, auth, &s);
		cr_assert_eq(s.status, RDM_RESP_ERROR, "input %.20s cut %zu",
			     in, cut);
		cr_assert_str_eq(s.err, err);
		cr_assert_eq(s.n, ncmds);
		seen_free(&s);
	}
}

#define EXPECT_ERROR(lit, n, err)                                              \
	expect_error(lit, sizeof(lit) - 1, 0, false, n, err)

Test(resp, malformed_exact_errors)
{
	EXPECT_ERROR("*abc\r\n", 0, "Protocol error: invalid multibulk length");
	EXPECT_ERROR("*\r\n", 0, "Protocol error: invalid multibulk length");
	EXPECT_ERROR("*01\r\n", 0, "Protocol error: invalid multibulk length");
	EXPECT_ERROR("*2147483648\r\n", 0,
		     "Protocol error: invalid multibulk length");
	EXPECT_ERROR("*1\r\n$-5\r\n", 0, "Protocol error: invalid bulk length");
	EXPECT_ERROR("*1\r\n$abc\r\n", 0,
		     "Protocol error: invalid bulk length");
	EXPECT_ERROR("*1\r\n$+3\r\n", 0, "Protocol error: invalid bulk length");
	EXPECT_ERROR("*1\r\nfoo\r\n", 0,
		     "Protocol error: expected '$', got 'f'");
	EXPECT_ERROR("*1\r\n\r\n", 0, "Protocol error: expected '$', got ' '");
	EXPECT_ERROR("set \"foo\r\n", 0,
		     "Protocol error: unbalanced quotes in request");
	EXPECT_ERROR("set \"foo\"bar\r\n", 0,
		     "Protocol error: unbalanced quotes in request");
	EXPECT_ERROR("set 'foo\r\n", 0,
		     "Protocol error: unbalanced quotes in request");
	EXPECT_ERROR("PING\r\n*1\r\n$3\r\nGET\r\n*x\r\n", 2,
		     "Protocol error: invalid multibulk length");
}

Test(resp, too_big_lines)
{
	size_t n = RDM_PROTO_INLINE_MAX_SIZE + 10;
	char *buf = malloc(n + 8);

	cr_assert_not_null(buf);
	memset(buf, 'a', n);
	expect_error(buf, n, 0, false, 0,
		     "Protocol error: too big inline request");
	buf[0] = '*';
	memset(buf + 1, '1', n - 1);
	expect_error(buf, n, 0, false, 0,
		     "Protocol error: too big mbulk count string");
	memcpy(buf, "*1\r\n$", 5);
	expect_error(buf, n, 0, false, 0,
		     "Protocol error: too big bulk count string");
	free(buf);
}

Test(resp, proto_max_bulk_len)
{
	static const char ok[] = "*1\r\n$100\r\n";
	static const char bad[] = "*1\r\n$101\r\n";
	char big[200];
	struct seen s;

	expect_error(bad, sizeof(bad) - 1, 100, false, 0,
		     "Protocol error: invalid bulk length");
	memcpy(big, ok, sizeof(ok) - 1);
	memset(big + sizeof(ok) - 1, 'v', 100);
	memcpy(big + sizeof(ok) - 1 + 100, "\r\n", 2);
	drive(big, sizeof(ok) - 1 + 102, NULL, 0, false, 100, false, &s);
	cr_assert_eq(s.n, 1);
	seen_free(&s);
	/* default is Redis's 512 MB */
	expect_error("*1\r\n$536870913\r\n", 16, 0, false, 0,
		     "Protocol error: invalid bulk length");
}

Test(resp, unauthenticated_limits)
{
	expect_error("*11\r\n", 5, 0, true, 0,
		     "Protocol error: unauthenticated multibulk length");
	expect_error("*1\r\n$16385\r\n", 12, 0, true, 0,
		     "Protocol error: unauthenticated bulk length");
	/* the limits themselves are fine, and do not apply after AUTH */
	{
		struct rdm_resp_parser p;
		size_t consumed;

		rdm_resp_parser_init(&p, 0);
		p.auth_required = true;
		cr_assert_eq(
		    rdm_resp_parse(&p, "*10\r\n$16384\r\n", 13, &consumed),
		    RDM_RESP_AGAIN);
		rdm_resp_parser_destroy(&p);
		rdm_resp_parser_init(&p, 0);
		cr_assert_eq(
		    rdm_resp_parse(&p, "*11\r\n$16385\r\n", 13, &consumed),
		    RDM_RESP_AGAIN);
		rdm_resp_parser_destroy(&p);
	}
}

Test(resp, error_reply_and_sticky_state)
{
	struct rdm_resp_parser p;
	size_t consumed;
	char out[128];

	rdm_resp_parser_init(&p, 0);
	cr_assert_eq(rdm_resp_parse(&p, "*1\r\n$x\r\n", 8, &consumed),
		     RDM_RESP_ERROR);
	cr_assert_str_eq(p.reason, "invalid bulk length");
	rdm_resp_error_reply(&p, out, sizeof(out));
	cr_assert_str_eq(out, "-ERR Protocol error: invalid bulk length\r\n");
	cr_assert_eq(rdm_resp_parse(&p, "PING\r\n", 6, &consumed),
		     RDM_RESP_ERROR);
	rdm_resp_parser_destroy(&p);
	rdm_resp_parser_destroy(&p); /* idempotent */
}

Test(resp, redis_quirks_kept)
{
	/* Redis skips the 2 bytes after a payload without checking them,
	 * and the byte after a header's '\r'. */
	static const char in[] = "*1\r\n$3\r\nfooXY*1\rX$4\rXPING\r\n";
	static const char *const want[] = {"3:foo", "4:PING"};
	struct seen s;

	drive(in, sizeof(in) - 1, NULL, 0, false, 0, false, &s);
	expect_cmds(&s, want, 2);
	seen_free(&s);
}

Test(resp, inline_details)
{
	static const char in[] = "a\\x41 \"\\x4a\\x4B\" 'it\\'s' \"t\\tb\"\n"
				 "x\0y z\r\n"
				 "\t \v\r\n"
				 "GET k\n";
	static const char *const want[] = {"5:a\\x41|2:JK|4:it's|3:t\tb", "1:x",
					   "3:GET|1:k"};
	struct seen s;

	drive(in, sizeof(in) - 1, NULL, 0, false, 0, false, &s);
	expect_cmds(&s, want, 3);
	seen_free(&s);
}

static uint64_t fnv(const char *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;

	while (n--) {
		h ^= (unsigned char)*p++;
		h *= 1099511628211ull;
	}
	return h;
}

/*
 * A 10 MB SET through a 1 MiB receive window: the caller copies arriving
 * bytes into its window, absorbs the tail when the window is full or the
 * command needs more than the window holds, then resets the window.
 */
Test(resp, ten_megabyte_bulk_across_windows)
{
	const size_t vlen = 10u * 1024 * 1024, win_cap = 1u << 20;
	char hdr[64], *stream, *win;
	size_t hlen, len, fed = 0, rd = 0, wr = 0, consumed, chunk;
	struct rdm_resp_parser p;
	uint64_t want_sum;
	int ret, ncmd = 0;

	hlen = (size_t)snprintf(hdr, sizeof(hdr),
				"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$%zu\r\n", vlen);
	len = hlen + vlen + 2 + 14;
	stream = malloc(len);
	win = malloc(win_cap);
	cr_assert(stream && win);
	memcpy(stream, hdr, hlen);
	for (size_t i = 0; i < vlen; i++)
		stream[hlen + i] = (char)(i * 7 + (i >> 13));
	memcpy(stream + hlen + vlen, "\r\n*1\r\n$4\r\nPING\r\n", 16);
	want_sum = fnv(stream + hlen, vlen);

	rdm_resp_parser_init(&p, 0);
	for (int iter = 0;; iter++) {
		cr_assert_lt(iter, 1000, "no progress");
		/* the peer writes up to the end of the window */
		chunk = win_cap - wr < len - fed ? win_cap - wr : len - fed;
		chunk = chunk > 300000 ? 300000 : chunk;
		memcpy(win + wr, stream + fed, chunk);
		wr += chunk;
		fed += chunk;
		for (;;) {
			ret = rdm_resp_parse(&p, win + rd, wr - rd, &consumed);
			cr_assert_neq(ret, RDM_RESP_ERROR, "%s", p.err);
			rd += consumed;
			if (ret != RDM_RESP_CMD)
				break;
			if (ncmd++ == 0) {
				cr_assert_eq(p.argc, 3);
				cr_assert_eq(p.argv[2].len, vlen);
				cr_assert_eq(fnv(p.argv[2].ptr, vlen),
					     want_sum);
			} else {
				cr_assert_eq(p.argc, 1);
				cr_assert_eq(memcmp(p.argv[0].ptr, "PING", 4),
					     0);
			}
		}
		if (wr == win_cap || (p.need && p.need > win_cap - rd)) {
			cr_assert_eq(rdm_resp_absorb(&p, win + rd, wr - rd), 0);
			rd = wr = 0; /* consumed: the window is re-advertised */
		}
		if (fed == len && rd == wr)
			break;
	}
	cr_assert_eq(ncmd, 2);
	cr_assert_eq(rdm_resp_pending(&p), 0);
	/* one allocation sized from the bulk header, not doubling */
	cr_assert_leq(p.carry_cap, vlen + 64);
	rdm_resp_parser_destroy(&p);
	free(stream);
	free(win);
}

/* ------------------------------ reply writer ------------------------------ */

static char *flatten(struct rdm_resp_writer *w, size_t *len)
{
	const struct iovec *iov;
	char *out;
	size_t o = 0;
	int n, i;

	iov = rdm_resp_writer_iov(w, &n);
	out = malloc(w->total + 1);
	cr_assert_not_null(out);
	for (i = 0; i < n; i++) {
		memcpy(out + o, iov[i].iov_base, iov[i].iov_len);
		o += iov[i].iov_len;
	}
	cr_assert_eq(o, w->total);
	out[o] = '\0';
	*len = o;
	return out;
}

Test(resp_writer, all_types_nested)
{
	static const char want[] = "*5\r\n:-42\r\n$3\r\nfoo\r\n$-1\r\n"
				   "*3\r\n-ERR bad  thing\r\n+OK\r\n*-1\r\n"
				   "$0\r\n\r\n";
	struct rdm_resp_writer w;
	size_t len;
	char *out;

	rdm_resp_writer_init(&w, 0);
	rdm_resp_add_array(&w, 5);
	rdm_resp_add_integer(&w, -42);
	rdm_resp_add_bulk(&w, "foo", 3);
	rdm_resp_add_null(&w);
	rdm_resp_add_array(&w, 3);
	rdm_resp_add_error(&w, "ERR bad\r\nthing", 14);
	rdm_resp_add_simple(&w, "OK", 2);
	rdm_resp_add_null_array(&w);
	cr_assert_eq(rdm_resp_add_bulk(&w, "", 0), 0);
	out = flatten(&w, &len);
	cr_assert_eq(len, sizeof(want) - 1);
	cr_assert_eq(memcmp(out, want, len), 0, "%s", out);
	free(out);
	rdm_resp_writer_destroy(&w);
}

Test(resp_writer, large_payload_referenced_not_copied)
{
	const size_t n = 10u * 1024 * 1024;
	char *val = malloc(n);
	const struct iovec *iov;
	struct rdm_resp_writer w;
	int cnt, i, refs = 0;

	cr_assert_not_null(val);
	memset(val, 'z', n);
	rdm_resp_writer_init(&w, 4096);
	rdm_resp_add_array(&w, 2);
	rdm_resp_add_bulk(&w, val, n);
	rdm_resp_add_bulk(&w, val, 10); /* small: copied */
	iov = rdm_resp_writer_iov(&w, &cnt);
	cr_assert_eq(cnt, 3);
	for (i = 0; i < cnt; i++)
		refs += iov[i].iov_base == val;
	cr_assert_eq(refs, 1);
	cr_assert_eq(iov[1].iov_len, n);
	cr_assert_lt(w.buf_len, 64);
	cr_assert_eq(w.total, strlen("*2\r\n$10485760\r\n") + n +
				  strlen("\r\n$10\r\n") + 10 + 2);
	/* reset keeps memory and starts over; raw protocol is passed on */
	rdm_resp_writer_reset(&w);
	rdm_resp_add_raw(&w, "+PONG\r\n", 7);
	iov = rdm_resp_writer_iov(&w, &cnt);
	cr_assert_eq(cnt, 1);
	cr_assert_eq(memcmp(iov[0].iov_base, "+PONG\r\n", 7), 0);
	rdm_resp_writer_destroy(&w);
	free(val);
}

Test(resp_writer, empty)
{
	struct rdm_resp_writer w;
	int cnt = -1;

	rdm_resp_writer_init(&w, 0);
	cr_assert_null(rdm_resp_writer_iov(&w, &cnt));
	cr_assert_eq(cnt, 0);
	rdm_resp_writer_destroy(&w);
}
