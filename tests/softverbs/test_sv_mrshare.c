// SPDX-License-Identifier: BSD-3-Clause
/* softverbs conformance: MRs moved onto memfds for peers to map keep the application's addresses, bytes and fork semantics. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "svt.h"

#define LEN (1u << 20)

static struct ibv_context *ctx;
static struct ibv_pd *pd;

static void setup(void)
{
	struct ibv_device **list = ibv_get_device_list(NULL);

	cr_assert(list && list[0]);
	ctx = ibv_open_device(list[0]);
	ibv_free_device_list(list);
	cr_assert(ctx);
	pd = ibv_alloc_pd(ctx);
	cr_assert(pd);
}

static void teardown(void)
{
	if (pd)
		ibv_dealloc_pd(pd);
	if (ctx)
		ibv_close_device(ctx);
}

/* Is the page at @p backed by a softverbs MR memfd (per /proc/self/maps)? */
static bool on_memfd(const void *p)
{
	char line[512];
	bool found = false;
	FILE *f = fopen("/proc/self/maps", "r");

	cr_assert(f);
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;

		if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 &&
		    (uintptr_t)p >= lo && (uintptr_t)p < hi) {
			found = strstr(line, "/memfd:softverbs-mr") != NULL;
			break;
		}
	}
	fclose(f);
	return found;
}

static uint8_t *map_filled(unsigned int seed)
{
	uint8_t *p = mmap(NULL, LEN, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	cr_assert_neq(p, MAP_FAILED);
	for (size_t i = 0; i < LEN; i++)
		p[i] = (uint8_t)(i * 31 + seed);
	return p;
}

static struct ibv_mr *reg(void *p, size_t len)
{
	struct ibv_mr *mr = ibv_reg_mr(pd, p, len,
				       IBV_ACCESS_LOCAL_WRITE |
					       IBV_ACCESS_REMOTE_WRITE |
					       IBV_ACCESS_REMOTE_READ);

	cr_assert(mr, "reg_mr: %s", strerror(errno));
	return mr;
}

TestSuite(sv_mrshare, .init = setup, .fini = teardown, .timeout = 60);

Test(sv_mrshare, registration_keeps_addresses_and_bytes)
{
	uint8_t *p = map_filled(1);
	uint32_t sum = svt_sum(p, LEN);
	struct ibv_mr *mr = reg(p, LEN);

	cr_assert(on_memfd(p), "a 1 MiB mmap'd MR is shared");
	cr_assert_eq(mr->addr, (void *)p);
	cr_assert_eq(svt_sum(p, LEN), sum, "bytes survive the move");
	p[12345] ^= 0xff; /* still ordinary read-write memory */
	sum = svt_sum(p, LEN);
	cr_assert_eq(ibv_dereg_mr(mr), 0);
	cr_assert_not(on_memfd(p), "deregistered pages are private again");
	cr_assert_eq(svt_sum(p, LEN), sum, "bytes survive the move back");
	munmap(p, LEN);
}

/* Pages of [@p, @p + LEN) in memory (mincore): of a shared mapping, those
 * the memfd holds; of a private anonymous one, those ever touched. */
static unsigned int resident(const uint8_t *p)
{
	unsigned char v[LEN / 4096];
	unsigned int n = 0;

	cr_assert_eq(mincore((void *)p, LEN, v), 0);
	for (size_t i = 0; i < sizeof(v); i++)
		n += v[i] & 1;
	return n;
}

/*
 * Only pages that hold data are copied, both ways: a fresh receive buffer
 * costs no copy and no page on either side, and every byte still survives.
 * (Nothing reads the whole range before the end: a read would fault in
 * the untouched pages.)
 */
Test(sv_mrshare, only_pages_with_data_are_copied)
{
	static const unsigned int before[] = { 0, 1, 2, 100, 255 };
	static const unsigned int during[] = { 3, 101, 200 };
	uint8_t *p = mmap(NULL, LEN, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t *want = calloc(1, LEN);
	struct ibv_mr *mr;
	size_t i;

	cr_assert_neq(p, MAP_FAILED);
	cr_assert(want);
	for (i = 0; i < sizeof(before) / sizeof(before[0]); i++) {
		memset(p + before[i] * 4096u, 0x10 + (int)i, 4096);
		memset(want + before[i] * 4096u, 0x10 + (int)i, 4096);
	}
	mr = reg(p, LEN);
	cr_assert(on_memfd(p));
	cr_assert_eq(resident(p), 5, "the memfd holds the 5 written pages, "
		     "not %u", resident(p));
	for (i = 0; i < sizeof(during) / sizeof(during[0]); i++) {
		memset(p + during[i] * 4096u + 7, 0x40 + (int)i, 100);
		memset(want + during[i] * 4096u + 7, 0x40 + (int)i, 100);
	}
	cr_assert_eq(resident(p), 8);
	cr_assert_eq(ibv_dereg_mr(mr), 0);
	cr_assert_not(on_memfd(p));
	cr_assert_eq(resident(p), 8, "the move back copied the 8 pages with "
		     "data, not %u", resident(p));
	cr_assert_eq(memcmp(p, want, LEN), 0, "every byte survives both moves");
	free(want);
	munmap(p, LEN);
}

Test(sv_mrshare, only_whole_pages_of_an_unaligned_mr_move)
{
	uint8_t *p = map_filled(2);
	uint32_t sum = svt_sum(p, LEN);
	struct ibv_mr *mr = reg(p + 100, LEN - 200);

	cr_assert_not(on_memfd(p), "the partial first page stays");
	cr_assert(on_memfd(p + 4096));
	cr_assert_not(on_memfd(p + LEN - 1), "the partial last page stays");
	cr_assert_eq(svt_sum(p, LEN), sum);
	cr_assert_eq(ibv_dereg_mr(mr), 0);
	cr_assert_eq(svt_sum(p, LEN), sum);
	munmap(p, LEN);
}

Test(sv_mrshare, small_heap_and_send_only_mrs_are_left_alone)
{
	uint8_t *small = map_filled(3);
	uint8_t *big = map_filled(4);
	uint8_t *heap = malloc(4096);
	struct ibv_mr *m1, *m2, *m3;

	cr_assert(heap);
	m1 = reg(small, 16384); /* under the 64 KiB that pays for a memfd */
	m2 = reg(heap, 4096);
	/* only sent from: the application's live data, never moved */
	m3 = ibv_reg_mr(pd, big, LEN, 0);
	cr_assert(m3);
	cr_assert_not(on_memfd(small));
	cr_assert_not(on_memfd(heap));
	cr_assert_not(on_memfd(big));
	cr_assert_eq(ibv_dereg_mr(m1), 0);
	cr_assert_eq(ibv_dereg_mr(m2), 0);
	cr_assert_eq(ibv_dereg_mr(m3), 0);
	free(heap);
	munmap(small, LEN);
	munmap(big, LEN);
}

/* The application unmapped the memory before deregistering it. */
Test(sv_mrshare, dereg_after_munmap_touches_nothing)
{
	uint8_t *p = map_filled(4);
	struct ibv_mr *mr = reg(p, LEN);

	cr_assert(on_memfd(p));
	cr_assert_eq(munmap(p, LEN), 0);
	p = map_filled(5); /* likely the same address, fresh memory */
	cr_assert_eq(ibv_dereg_mr(mr), 0);
	cr_assert_not(on_memfd(p));
	cr_assert_eq(p[7], (uint8_t)(7 * 31 + 5));
	munmap(p, LEN);
}

/*
 * A forked child gets its own copy of registered pages (as the kernel
 * copies pinned pages at fork): its writes never reach the parent.
 */
Test(sv_mrshare, forked_child_gets_private_pages)
{
	uint8_t *p = map_filled(6);
	uint32_t sum = svt_sum(p, LEN);
	struct ibv_mr *mr = reg(p, LEN);
	int pid = fork();

	cr_assert_geq(pid, 0);
	if (!pid) {
		bool ok = !on_memfd(p) && svt_sum(p, LEN) == sum;

		memset(p, 0xee, LEN);
		_exit(ok ? 0 : 1);
	}
	cr_assert_eq(svt_wait_child(pid), 0, "the child saw the bytes, privately");
	cr_assert_eq(svt_sum(p, LEN), sum, "the child's writes stayed its own");
	cr_assert(on_memfd(p));
	cr_assert_eq(ibv_dereg_mr(mr), 0);
	munmap(p, LEN);
}

/* Each shared MR holds an fd: past 256 at once, MRs stay private. */
Test(sv_mrshare, at_most_256_mrs_are_shared_at_once)
{
	enum { N = 257, SZ = 64 << 10 };
	struct ibv_mr **mr = calloc(N, sizeof(*mr));
	uint8_t *p = mmap(NULL, (size_t)N * SZ, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int i, shared = 0;

	cr_assert(mr);
	cr_assert_neq(p, MAP_FAILED);
	for (i = 0; i < N; i++)
		mr[i] = reg(p + (size_t)i * SZ, SZ);
	for (i = 0; i < N; i++)
		shared += on_memfd(p + (size_t)i * SZ);
	cr_assert_eq(shared, 256);
	cr_assert_not(on_memfd(p + (size_t)(N - 1) * SZ), "the 257th stays private");
	cr_assert_eq(ibv_dereg_mr(mr[0]), 0);
	cr_assert_eq(ibv_dereg_mr(mr[N - 1]), 0);
	mr[N - 1] = reg(p + (size_t)(N - 1) * SZ, SZ);
	cr_assert(on_memfd(p + (size_t)(N - 1) * SZ), "a freed place is reused");
	for (i = 1; i < N; i++)
		cr_assert_eq(ibv_dereg_mr(mr[i]), 0);
	munmap(p, (size_t)N * SZ);
	free(mr);
}
