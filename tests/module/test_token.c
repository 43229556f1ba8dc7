/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring tests: RDMARING.ATTACH tokens (module/token.c). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "token.h"

static void fini(void)
{
	rdm_token_forget();
}

TestSuite(token, .fini = fini);

Test(token, taken_once_with_its_client_and_user)
{
	char hex[RDM_TOKEN_HEX + 1], *user = NULL;
	uint64_t id = 0;

	cr_assert_eq(rdm_token_new(42, "alice", 1000, hex), 0);
	cr_assert_eq(strlen(hex), RDM_TOKEN_HEX);
	cr_assert_eq(strspn(hex, "0123456789abcdef"), RDM_TOKEN_HEX);
	cr_assert_eq(rdm_token_take(hex, strlen(hex), 2000, &id, &user), 0);
	cr_assert_eq(id, 42);
	cr_assert_str_eq(user, "alice");
	free(user);
	user = NULL;
	/* used */
	cr_assert_eq(rdm_token_take(hex, strlen(hex), 2000, &id, &user),
		     -ENOENT);
	cr_assert_null(user);
}

Test(token, unauthenticated_client_has_no_user)
{
	char hex[RDM_TOKEN_HEX + 1], *user = (char *)"x";
	uint64_t id = 0;

	cr_assert_eq(rdm_token_new(7, NULL, 0, hex), 0);
	cr_assert_eq(rdm_token_take(hex, strlen(hex), 1, &id, &user), 0);
	cr_assert_eq(id, 7);
	cr_assert_null(user);
}

Test(token, expired_is_refused_and_gone)
{
	char hex[RDM_TOKEN_HEX + 1], *user = NULL;
	uint64_t id = 0;

	cr_assert_eq(rdm_token_new(1, "u", 1000, hex), 0);
	cr_assert_eq(rdm_token_take(hex, strlen(hex),
				    1000 + RDM_TOKEN_TTL_MS, &id, &user),
		     -ETIMEDOUT);
	cr_assert_eq(rdm_token_take(hex, strlen(hex), 1000, &id, &user),
		     -ENOENT);
	cr_assert_null(user);
}

Test(token, wrong_or_malformed_tokens_match_nothing)
{
	char hex[RDM_TOKEN_HEX + 1], bad[RDM_TOKEN_HEX + 1], *user = NULL;
	uint64_t id = 0;

	cr_assert_eq(rdm_token_new(5, "u", 0, hex), 0);
	memcpy(bad, hex, sizeof(bad));
	bad[RDM_TOKEN_HEX - 1] = bad[RDM_TOKEN_HEX - 1] == '0' ? '1' : '0';
	cr_assert_eq(rdm_token_take(bad, RDM_TOKEN_HEX, 1, &id, &user),
		     -ENOENT);
	cr_assert_eq(rdm_token_take(hex, RDM_TOKEN_HEX - 1, 1, &id, &user),
		     -ENOENT);
	memcpy(bad, hex, sizeof(bad));
	bad[0] = 'G';
	cr_assert_eq(rdm_token_take(bad, RDM_TOKEN_HEX, 1, &id, &user),
		     -ENOENT);
	/* upper case is not the token's spelling */
	memcpy(bad, hex, sizeof(bad));
	for (size_t i = 0; i < RDM_TOKEN_HEX; i++)
		if (bad[i] >= 'a')
			bad[i] = (char)(bad[i] - 'a' + 'A');
	if (strcmp(bad, hex))
		cr_assert_eq(rdm_token_take(bad, RDM_TOKEN_HEX, 1, &id, &user),
			     -ENOENT);
	/* the wrong attempts did not use it up */
	cr_assert_eq(rdm_token_take(hex, RDM_TOKEN_HEX, 1, &id, &user), 0);
	cr_assert_eq(id, 5);
	free(user);
}

Test(token, tokens_differ_and_stay_apart)
{
	char a[RDM_TOKEN_HEX + 1], b[RDM_TOKEN_HEX + 1], *user = NULL;
	uint64_t id = 0;

	cr_assert_eq(rdm_token_new(1, "one", 0, a), 0);
	cr_assert_eq(rdm_token_new(2, "two", 0, b), 0);
	cr_assert_str_neq(a, b);
	cr_assert_eq(rdm_token_take(b, RDM_TOKEN_HEX, 1, &id, &user), 0);
	cr_assert_eq(id, 2);
	cr_assert_str_eq(user, "two");
	free(user);
	cr_assert_eq(rdm_token_take(a, RDM_TOKEN_HEX, 1, &id, &user), 0);
	cr_assert_eq(id, 1);
	cr_assert_str_eq(user, "one");
	free(user);
}

Test(token, new_tokens_drop_expired_ones)
{
	char a[RDM_TOKEN_HEX + 1], b[RDM_TOKEN_HEX + 1], *user = NULL;
	uint64_t id = 0;

	cr_assert_eq(rdm_token_new(1, "old", 0, a), 0);
	cr_assert_eq(rdm_token_new(2, "new", RDM_TOKEN_TTL_MS, b), 0);
	/* purged (not merely expired): not found even at an early time */
	cr_assert_eq(rdm_token_take(a, RDM_TOKEN_HEX, 0, &id, &user), -ENOENT);
	cr_assert_eq(rdm_token_take(b, RDM_TOKEN_HEX, RDM_TOKEN_TTL_MS, &id,
				    &user),
		     0);
	free(user);
}
