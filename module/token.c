/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring module: single-use tokens naming an RDMA client and its user. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "token.h"

#define TOKEN_BYTES (RDM_TOKEN_HEX / 2)

struct token {
	unsigned char key[TOKEN_BYTES];
	uint64_t id;
	char *user;
	uint64_t expires_ms;
	struct token *next;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct token *tokens;

static void token_free(struct token *t)
{
	free(t->user);
	free(t);
}

/* Drop tokens expired at now (clients that never attached). Locked. */
static void purge_locked(uint64_t now)
{
	struct token **link = &tokens, *t;

	while ((t = *link)) {
		if (t->expires_ms > now) {
			link = &t->next;
			continue;
		}
		*link = t->next;
		token_free(t);
	}
}

static int fill_random(unsigned char *p, size_t n)
{
	size_t got = 0;
	ssize_t r;

	while (got < n) {
		r = getrandom(p + got, n - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		got += (size_t)r;
	}
	return 0;
}

int rdm_token_new(uint64_t id, const char *user, uint64_t now_ms, char *hex)
{
	struct token *t = calloc(1, sizeof(*t));
	int i, ret;

	if (!t)
		return -ENOMEM;
	if (user && !(t->user = strdup(user))) {
		free(t);
		return -ENOMEM;
	}
	ret = fill_random(t->key, sizeof(t->key));
	if (ret) {
		token_free(t);
		return ret;
	}
	for (i = 0; i < TOKEN_BYTES; i++)
		snprintf(hex + 2 * i, 3, "%02x", t->key[i]);
	t->id = id;
	t->expires_ms = now_ms + RDM_TOKEN_TTL_MS;
	pthread_mutex_lock(&lock);
	purge_locked(now_ms);
	t->next = tokens;
	tokens = t;
	pthread_mutex_unlock(&lock);
	return 0;
}

void rdm_token_forget(void)
{
	pthread_mutex_lock(&lock);
	purge_locked(UINT64_MAX);
	pthread_mutex_unlock(&lock);
}

static int hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Equal without an early exit: the time does not tell how much matched. */
static bool same_key(const unsigned char *a, const unsigned char *b)
{
	unsigned char diff = 0;
	size_t i;

	for (i = 0; i < TOKEN_BYTES; i++)
		diff |= (unsigned char)(a[i] ^ b[i]);
	return !diff;
}

int rdm_token_take(const char *hex, size_t len, uint64_t now_ms, uint64_t *id,
		   char **user)
{
	unsigned char key[TOKEN_BYTES];
	struct token **link, *t, *found = NULL, **found_link = NULL;
	int hi, lo, ret;
	size_t i;

	if (len != RDM_TOKEN_HEX)
		return -ENOENT;
	for (i = 0; i < TOKEN_BYTES; i++) {
		hi = hex_val(hex[2 * i]);
		lo = hex_val(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -ENOENT;
		key[i] = (unsigned char)(hi << 4 | lo);
	}
	pthread_mutex_lock(&lock);
	/* every entry is compared, whichever matches */
	for (link = &tokens; (t = *link); link = &t->next)
		if (same_key(t->key, key) && !found) {
			found = t;
			found_link = link;
		}
	if (found)
		*found_link = found->next;
	pthread_mutex_unlock(&lock);
	if (!found)
		return -ENOENT;
	ret = found->expires_ms <= now_ms ? -ETIMEDOUT : 0;
	if (!ret) {
		*id = found->id;
		*user = found->user;
		found->user = NULL;
	}
	token_free(found);
	return ret;
}
