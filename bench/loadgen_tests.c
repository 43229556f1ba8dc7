/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring: rring-bench's tests, the commands redis-benchmark 7.0 sends. */
#include "loadgen.h"

#define RAND LG_RAND_TOKEN
#define K "key:" RAND " @ " /* one MSET pair */

static const struct lg_test tests[] = {
    {"ping_inline", "ping", "PING_INLINE", "PING", LG_EXPECT_PONG, true},
    {"ping_mbulk", "ping", "PING_MBULK", "PING", LG_EXPECT_PONG, false},
    {"set", NULL, "SET", "SET key:" RAND " @", LG_EXPECT_OK, false},
    {"get", NULL, "GET", "GET key:" RAND, LG_EXPECT_VALUE, false},
    {"incr", NULL, "INCR", "INCR counter:" RAND, LG_EXPECT_INT, false},
    {"lpush", NULL, "LPUSH", "LPUSH mylist @", LG_EXPECT_INT, false},
    {"rpush", NULL, "RPUSH", "RPUSH mylist @", LG_EXPECT_INT, false},
    {"lpop", NULL, "LPOP", "LPOP mylist", LG_EXPECT_MAYBE, false},
    {"rpop", NULL, "RPOP", "RPOP mylist", LG_EXPECT_MAYBE, false},
    {"sadd", NULL, "SADD", "SADD myset element:" RAND, LG_EXPECT_INT, false},
    {"hset", NULL, "HSET", "HSET myhash element:" RAND " @", LG_EXPECT_INT,
     false},
    {"spop", NULL, "SPOP", "SPOP myset", LG_EXPECT_MAYBE, false},
    {"zadd", NULL, "ZADD", "ZADD myzset 0 element:" RAND, LG_EXPECT_INT, false},
    {"zpopmin", NULL, "ZPOPMIN", "ZPOPMIN myzset", LG_EXPECT_ARRAY, false},
    {"lrange_100", "lrange", "LRANGE_100 (first 100 elements)",
     "LRANGE mylist 0 99", LG_EXPECT_ARRAY, false},
    {"lrange_300", "lrange", "LRANGE_300 (first 300 elements)",
     "LRANGE mylist 0 299", LG_EXPECT_ARRAY, false},
    {"lrange_500", "lrange", "LRANGE_500 (first 500 elements)",
     "LRANGE mylist 0 499", LG_EXPECT_ARRAY, false},
    {"lrange_600", "lrange", "LRANGE_600 (first 600 elements)",
     "LRANGE mylist 0 599", LG_EXPECT_ARRAY, false},
    {"mset", NULL, "MSET (10 keys)", "MSET " K K K K K K K K K K, LG_EXPECT_OK,
     false},
};

static const struct lg_test lrange_fill = {
    .id = "lpush",
    .name = "LPUSH (needed to benchmark LRANGE)",
    .cmd = "LPUSH mylist @",
    .expect = LG_EXPECT_INT,
};

const struct lg_test *lg_tests(unsigned int *n)
{
	*n = sizeof(tests) / sizeof(tests[0]);
	return tests;
}

const struct lg_test *lg_lrange_fill(void)
{
	return &lrange_fill;
}
