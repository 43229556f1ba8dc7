/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring: rring-bench request templates (__rand_int__, values, --verify). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loadgen_request.h"

uint64_t lg_splitmix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* The next eight value bytes, byte k in bits 8k..8k+7: '0' + bits
 * 8k..8k+5 of the xorshift state. Masking every byte to 6 bits and adding
 * 0x30 to every byte cannot carry (63 + 48 < 256), so one AND and one ADD
 * make all eight: this runs over every 10 MB value with --verify and was
 * most of the client's CPU when done a byte at a time. */
static uint64_t value_word(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return (*s & 0x3f3f3f3f3f3f3f3full) + 0x3030303030303030ull;
}

/* The first min(len, LG_VALUE_PERIOD) bytes of a value. */
static size_t value_period(char *out, size_t len, uint64_t run_id,
			   uint64_t idx)
{
	uint64_t s = lg_splitmix(run_id ^ lg_splitmix(idx)), w;
	size_t n = len < LG_VALUE_PERIOD ? len : LG_VALUE_PERIOD, i, k;

	for (i = 0; i + 8 <= n; i += 8) {
		w = value_word(&s);
		/* little-endian byte order on any host; one store on x86 */
		for (k = 0; k < 8; k++)
			out[i + k] = (char)(w >> (8 * k));
	}
	for (w = value_word(&s); i < n; i++, w >>= 8)
		out[i] = (char)w;
	return n;
}

void lg_value(char *out, size_t len, uint64_t run_id, uint64_t idx)
{
	size_t n = value_period(out, len, run_id, idx), off;

	for (off = n; off < len; off += n)
		memcpy(out + off, out, len - off < n ? len - off : n);
}

bool lg_value_equal(const char *got, size_t len, uint64_t run_id,
		    uint64_t idx, char *scratch)
{
	size_t n = value_period(scratch, len, run_id, idx), off;

	for (off = 0; off < len; off += n)
		if (memcmp(got + off, scratch, len - off < n ? len - off : n))
			return false;
	return true;
}

/* Split a test's command at spaces into words (pointing into buf). */
static int split_words(char *buf, char **w)
{
	char *save, *tok;
	int n = 0;

	for (tok = strtok_r(buf, " ", &save); tok && n < LG_MAX_WORDS;
	     tok = strtok_r(NULL, " ", &save))
		w[n++] = tok;
	return tok ? -E2BIG : n;
}

/* Append one word as a RESP bulk string, recording where its tokens
 * and value are. */
static void put_word(struct lg_request *rq, const struct lg_opts *o,
		     const char *word, bool is_cmd_word, uint64_t run_id)
{
	char pre[40] = "", *p = rq->buf + rq->len, *body, *r;
	size_t wl = strlen(word);

	if (!is_cmd_word && !strcmp(word, "@")) {
		p += sprintf(p, "$%zu\r\n", o->data_size);
		rq->value_off[rq->n_values++] = (size_t)(p - rq->buf);
		memset(p, 'x', o->data_size);
		rq->len = (size_t)(p - rq->buf) + o->data_size;
		memcpy(rq->buf + rq->len, "\r\n", 2);
		rq->len += 2;
		return;
	}
	if (o->verify && !strncmp(word, "key:", 4)) {
		snprintf(pre, sizeof(pre), "rring:%016" PRIx64 ":", run_id);
		word += 4;
		wl -= 4;
	}
	p += sprintf(p, "$%zu\r\n%s", strlen(pre) + wl, pre);
	body = p;
	memcpy(p, word, wl);
	p += wl;
	for (r = strstr(body, LG_RAND_TOKEN);
	     r && r < p && rq->n_rand < LG_MAX_WORDS;
	     r = strstr(r + 1, LG_RAND_TOKEN))
		rq->rand_off[rq->n_rand++] = (size_t)(r - rq->buf);
	memcpy(p, "\r\n", 2);
	rq->len = (size_t)(p + 2 - rq->buf);
}

int lg_request_build(struct lg_request *rq, const struct lg_opts *o,
		     const struct lg_test *t, uint64_t run_id)
{
	char copy[512], *words[LG_MAX_WORDS], **w = words;
	size_t cap = 64;
	int n, i;

	memset(rq, 0, sizeof(*rq));
	if (t->cmd) {
		snprintf(copy, sizeof(copy), "%s", t->cmd);
		n = split_words(copy, words);
	} else {
		w = o->command;
		n = o->command_argc;
	}
	if (n <= 0 || n > LG_MAX_WORDS)
		return -E2BIG;
	for (i = 0; i < n; i++)
		cap +=
		    64 + strlen(w[i]) + (strcmp(w[i], "@") ? 0 : o->data_size);
	/* +1: strstr in put_word needs a terminated buffer */
	rq->buf = calloc(1, cap + 1);
	if (!rq->buf)
		return -ENOMEM;
	if (t->inline_cmd) {
		rq->len = (size_t)sprintf(rq->buf, "%s\r\n", t->cmd);
		return 0;
	}
	rq->len = (size_t)sprintf(rq->buf, "*%d\r\n", n);
	/* "@" is a value only in the built-in tests: a command after the
	 * options is sent word for word */
	for (i = 0; i < n; i++)
		put_word(rq, o, w[i], i == 0 || !t->cmd, run_id);
	return 0;
}

void lg_request_free(struct lg_request *rq)
{
	free(rq->buf);
	memset(rq, 0, sizeof(*rq));
}

static void put_digits(char *p, uint64_t v)
{
	int i;

	for (i = LG_RAND_DIGITS - 1; i >= 0; i--, v /= 10)
		p[i] = (char)('0' + v % 10);
}

/* The template without its values, which --verify overwrites: a 10 MB
 * value is not worth copying first. */
static void copy_around_values(const struct lg_request *rq,
			       const struct lg_opts *o, char *out)
{
	size_t from = 0;
	unsigned int i;

	for (i = 0; i < rq->n_values; i++) {
		memcpy(out + from, rq->buf + from, rq->value_off[i] - from);
		from = rq->value_off[i] + o->data_size;
	}
	memcpy(out + from, rq->buf + from, rq->len - from);
}

void lg_request_put(const struct lg_request *rq, const struct lg_opts *o,
		    char *out, uint64_t idx, uint64_t run_id, uint64_t *rng)
{
	unsigned int i;

	if (o->verify)
		copy_around_values(rq, o, out);
	else
		memcpy(out, rq->buf, rq->len);
	if (o->verify || o->keyspace)
		for (i = 0; i < rq->n_rand; i++) {
			uint64_t v = idx;

			if (!o->verify) {
				*rng = lg_splitmix(*rng);
				v = *rng % o->keyspace;
			}
			put_digits(out + rq->rand_off[i], v);
		}
	if (o->verify)
		for (i = 0; i < rq->n_values; i++)
			lg_value(out + rq->value_off[i], o->data_size, run_id,
				 idx);
}
