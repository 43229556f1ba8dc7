/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring module: single-use tokens that attach a server client to an
 * RDMA client (RDMARING.ATTACH). */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "attach.h"
#include "clients.h"
#include "exec.h"

#define TOKEN_BYTES (RDM_ATTACH_TOKEN_HEX / 2)

struct token {
	unsigned char key[TOKEN_BYTES];
	uint64_t id;	     /* the RDMA client's */
	char *user;	     /* NULL: not authenticated */
	uint64_t expires_ms; /* rdm_now_ms() */
	struct token *next;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct token *tokens;

static void token_free(struct token *t)
{
	free(t->user);
	free(t);
}

/* Drop expired tokens (a client that never attached). Under the lock. */
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

int rdm_attach_token_new(uint64_t id, const char *user, char *hex)
{
	struct token *t = calloc(1, sizeof(*t));
	size_t got = 0;
	ssize_t n;
	int i;

	if (!t)
		return -ENOMEM;
	if (user && !(t->user = strdup(user))) {
		free(t);
		return -ENOMEM;
	}
	while (got < sizeof(t->key)) {
		n = getrandom(t->key + got, sizeof(t->key) - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			token_free(t);
			return -errno;
		}
		got += (size_t)n;
	}
	for (i = 0; i < TOKEN_BYTES; i++)
		snprintf(hex + 2 * i, 3, "%02x", t->key[i]);
	t->id = id;
	t->expires_ms = rdm_now_ms() + RDM_ATTACH_TTL_MS;
	pthread_mutex_lock(&lock);
	purge_locked(rdm_now_ms());
	t->next = tokens;
	tokens = t;
	pthread_mutex_unlock(&lock);
	return 0;
}

void rdm_attach_forget(void)
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

/* Take the token matching arg out of the table (single use): NULL when
 * none matches or it expired. */
static struct token *take(const RedisModuleString *arg)
{
	unsigned char key[TOKEN_BYTES];
	struct token **link, *t, *found = NULL, **found_link = NULL;
	const char *s;
	size_t len, i;
	int hi, lo;

	s = RedisModule_StringPtrLen(arg, &len);
	if (len != RDM_ATTACH_TOKEN_HEX)
		return NULL;
	for (i = 0; i < TOKEN_BYTES; i++) {
		hi = hex_val(s[2 * i]);
		lo = hex_val(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return NULL;
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
	if (found && found->expires_ms <= rdm_now_ms()) {
		token_free(found);
		found = NULL;
	}
	return found;
}

static int attach_cmd(RedisModuleCtx *ctx, RedisModuleString **argv, int argc)
{
	struct token *t;
	char err[300];

	if (argc != 2)
		return RedisModule_ReplyWithError(
		    ctx, "ERR wrong number of arguments for "
			 "'rdmaring.attach' command");
	if (RedisModule_GetContextFlags(ctx) &
	    (REDISMODULE_CTX_FLAGS_MULTI | REDISMODULE_CTX_FLAGS_LUA))
		return RedisModule_ReplyWithError(
		    ctx, "ERR RDMARING.ATTACH is not allowed in a transaction "
			 "or a script");
	t = take(argv[1]);
	if (!t)
		return RedisModule_ReplyWithError(
		    ctx, "ERR RDMARING.ATTACH: invalid, used or expired token");
	/* refused for a module's own client and for a user that was deleted
	 * or disabled since the token was made */
	if (t->user && RedisModule_AuthenticateClientWithACLUser(
			   ctx, t->user, strlen(t->user), NULL, NULL, NULL) !=
			   REDISMODULE_OK) {
		snprintf(err, sizeof(err),
			 "ERR RDMARING.ATTACH: user '%.200s' of RDMA client "
			 "%llu no longer exists or is disabled",
			 t->user, (unsigned long long)t->id);
		token_free(t);
		return RedisModule_ReplyWithError(ctx, err);
	}
	rdm_clients_attached(t->id, RedisModule_GetClientId(ctx));
	token_free(t);
	return RedisModule_ReplyWithSimpleString(ctx, "OK");
}

int rdm_attach_register(RedisModuleCtx *ctx)
{
	/* no-auth: the connection may start unauthenticated (requirepass);
	 * the token is the proof. Not in scripts; MULTI checked above. */
	return RedisModule_CreateCommand(ctx, "rdmaring.attach", attach_cmd,
					 "no-auth deny-script fast", 0, 0, 0);
}
