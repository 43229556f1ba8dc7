/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring: single-producer single-consumer ring of fixed-size entries. */
#ifndef RRING_RING_H
#define RRING_RING_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "barrier.h"

/*
 * Design
 * ------
 * One producer thread and one consumer thread share an array of
 * `nentries` slots of `entry_size` bytes (nentries a power of two,
 * entry_size a multiple of 8). The ring struct does not own that memory:
 * the caller places it (NUMA node, hugepage, static array) and sizes it
 * with rring_spsc_mem_size().
 *
 * Indices are free-running uint32_t counters: `tail` counts entries ever
 * published, `head` counts entries ever released. They are masked only to
 * address a slot, so `tail - head` is the fill level even across the
 * 2^32 wrap, and full and empty are distinguishable without a spare slot.
 * nentries is therefore at most 2^31.
 *
 * Six cache lines. The published `tail` and the released `head` each sit
 * alone on a line: only their owner stores to it, only the other side
 * loads it. Each side also has a private line that the other never
 * touches: its own index (a plain copy of what it last stored, so the fast
 * path never loads from a line the other core keeps pulling away) and its
 * cached copy of the other side's index. A side reads the other side's
 * index (an acquire load, i.e. a cache-line transfer) only when its cached
 * copy says there is not enough room or data, so in steady state the
 * index lines move about once per ring's worth of entries, not once per
 * entry (rigtorp SPSCQueue's layout; ck_ring and rte_ring read the other
 * index on every operation). Measured with rring-bench-ring on this VM,
 * keeping the private fields on the shared index's line instead cost about
 * a third of single-entry throughput. The geometry (base, mask, entry
 * size) has its own read-only line, which stays shared-clean in both
 * caches, and the flags word (sleep protocol) has the last line.
 *
 * Batches: reserve(n)/publish(n) and peek(n)/release(n) expose runs of
 * slots in place (no copy) and publish or release a whole batch with one
 * release store (liburing's io_uring_cq_advance); rring_spsc_contig() says
 * where a batch wraps so it can be copied in two straight runs. The
 * single-entry push/pop helpers share their internals.
 *
 * Memory ordering (every acquire/release below names its partner):
 *   - publish: store-release of tail. Pairs with the load-acquire of tail
 *     in peek: entries written before publish are visible to the consumer.
 *   - release: store-release of head. Pairs with the load-acquire of head
 *     in reserve: the consumer's reads of a slot happen before the
 *     producer overwrites it.
 *   - a side never loads its own shared index: it keeps a plain private
 *     copy (only it writes the index).
 *
 * Sleeping (io_uring SQPOLL's NEED_WAKEUP): a consumer that finds the ring
 * empty and wants to sleep on its own eventfd/futex does
 *
 *     consumer                            producer
 *     flags |= NEED_WAKEUP    (A1)        store-release tail  (B1)  publish
 *     full fence              (A2)        full fence          (B2)
 *     load tail; empty?       (A3)        load flags          (B3)
 *     if empty: sleep                     if NEED_WAKEUP: claim it, wake
 *
 * This is Dekker's pattern: with both fences, A3 and B3 cannot both read
 * the old values (store-load reordering is exactly what the full fences
 * forbid, and only they do: acquire/release alone allows it). So either
 * the consumer sees the new tail and does not sleep, or the producer sees
 * the flag and wakes it. No lost wakeup.
 *
 * Who clears the flag: the waker. rring_spsc_needs_wakeup() claims the flag
 * with an atomic fetch-and, so of all publishes made while the consumer
 * sleeps exactly one returns true and issues one wakeup (one syscall per
 * sleep, not one per publish). The sleeper also clears it, idempotently,
 * with rring_spsc_cancel_sleep() when it decides not to sleep or after it
 * wakes. Because a producer may claim the flag just as the consumer
 * cancels, a wakeup can arrive when the consumer is not asleep: wakeups are
 * hints, the consumer re-checks the ring after every wake (an eventfd
 * counter or futex word absorbs the stale one and the next sleep returns at
 * once, then re-checks). Lost wakeups are impossible; spurious ones are
 * allowed and rare.
 *
 * Which operations may run concurrently (Y = yes, from different threads;
 * "-" = no; rows and columns are the calling thread's operation):
 *
 *                       producer ops   consumer ops   count   init
 *   producer ops        - (one thread)  Y              Y       -
 *   consumer ops        Y               - (one thread) Y       -
 *   count               Y               Y              Y       -
 *   init / init_at      -               -              -       -
 *
 *   producer ops: reserve, slot and contig (on reserved indices), publish,
 *                 push, needs_wakeup.
 *   consumer ops: peek, slot and contig (on peeked indices), release, pop,
 *                 prepare_sleep, cancel_sleep, empty.
 *   count: rring_spsc_count() and rring_spsc_capacity(), from any thread.
 *
 * Producer and consumer may each migrate between threads only with a
 * happens-before edge between the old and the new thread (a mutex or a
 * thread join), as for any single-owner state.
 */

/* Set by a consumer about to sleep; claimed (cleared) by the producer that
 * wakes it or cleared by the consumer itself. */
#define RRING_SPSC_NEED_WAKEUP (1u << 0)

/* Largest ring: tail - head must stay representable in a uint32_t. */
#define RRING_SPSC_MAX_ENTRIES (1u << 31)

/* Largest entry (a 64 KiB slot is already far beyond any ring entry). */
#define RRING_SPSC_MAX_ENTRY_SIZE (1u << 16)

/* Read-only after init; on its own line, so it stays shared-clean in both
 * cores' caches and costs no transfers. */
struct rring_spsc_geom {
	unsigned char *base; /* slot 0 */
	uint32_t mask;	     /* nentries - 1 */
	uint32_t entry_size; /* bytes per slot, multiple of 8 */
};

/* Producer-private: never read by the consumer, so the producer's fast
 * path loads nothing from a line the consumer pulls away. */
struct rring_spsc_prod {
	uint32_t tail;	      /* next index to publish (copy of shared tail) */
	uint32_t cached_head; /* last shared head seen */
};

/* Consumer-private, the mirror image. */
struct rring_spsc_cons {
	uint32_t head;	      /* next index to release (copy of shared head) */
	uint32_t cached_tail; /* last shared tail seen */
};

struct rring_spsc {
	_Alignas(RRING_CACHELINE) struct rring_spsc_geom g;
	/* Written by the producer only (stores), read by the consumer. */
	_Alignas(RRING_CACHELINE) _Atomic uint32_t tail;
	/* Written by the consumer only (stores), read by the producer. */
	_Alignas(RRING_CACHELINE) _Atomic uint32_t head;
	_Alignas(RRING_CACHELINE) struct rring_spsc_prod prod;
	_Alignas(RRING_CACHELINE) struct rring_spsc_cons cons;
	_Alignas(RRING_CACHELINE) _Atomic uint32_t flags; /* RRING_SPSC_* */
};

_Static_assert(offsetof(struct rring_spsc, g) == 0, "geometry line first");
_Static_assert(offsetof(struct rring_spsc, tail) == RRING_CACHELINE,
	       "shared tail on its own cache line");
_Static_assert(offsetof(struct rring_spsc, head) == 2 * RRING_CACHELINE,
	       "shared head on its own cache line");
_Static_assert(offsetof(struct rring_spsc, prod) == 3 * RRING_CACHELINE,
	       "producer-private fields on their own cache line");
_Static_assert(offsetof(struct rring_spsc, cons) == 4 * RRING_CACHELINE,
	       "consumer-private fields on their own cache line");
_Static_assert(offsetof(struct rring_spsc, flags) == 5 * RRING_CACHELINE,
	       "flags on their own cache line");
_Static_assert(sizeof(struct rring_spsc) == 6 * RRING_CACHELINE,
	       "nothing shares the last cache line");

/*
 * Bytes of entry memory for a ring of nentries slots of entry_size bytes,
 * or 0 if the geometry is invalid (same rules as rring_spsc_init()).
 */
static inline size_t rring_spsc_mem_size(uint32_t nentries, uint32_t entry_size)
{
	if (nentries == 0 || nentries > RRING_SPSC_MAX_ENTRIES ||
	    (nentries & (nentries - 1)) != 0)
		return 0;
	if (entry_size == 0 || entry_size % 8 != 0 ||
	    entry_size > RRING_SPSC_MAX_ENTRY_SIZE)
		return 0;
	if (nentries > SIZE_MAX / entry_size) /* 32-bit size_t */
		return 0;
	return (size_t)nentries * entry_size;
}

/*
 * Initialise an empty ring whose head and tail both start at `start`
 * (tests use a start near UINT32_MAX to cross the index wrap). Entry memory
 * must hold rring_spsc_mem_size() bytes, 8-byte aligned. Returns 0 or
 * -EINVAL. Not concurrent with any other operation on r.
 */
static inline int rring_spsc_init_at(struct rring_spsc *r, void *entries,
				     uint32_t nentries, uint32_t entry_size,
				     uint32_t start)
{
	if (!r || !entries || ((uintptr_t)entries & 7) != 0 ||
	    rring_spsc_mem_size(nentries, entry_size) == 0)
		return -EINVAL;
	memset(r, 0, sizeof(*r));
	r->g.base = entries;
	r->g.mask = nentries - 1;
	r->g.entry_size = entry_size;
	r->prod.tail = start;
	r->prod.cached_head = start;
	r->cons.head = start;
	r->cons.cached_tail = start;
	/* Relaxed: the ring is handed to its threads by thread creation or
	 * another synchronising operation, which orders these stores. */
	rring_store_relaxed(&r->tail, start);
	rring_store_relaxed(&r->head, start);
	rring_store_relaxed(&r->flags, 0);
	return 0;
}

/* Initialise an empty ring; see rring_spsc_init_at(). */
static inline int rring_spsc_init(struct rring_spsc *r, void *entries,
				  uint32_t nentries, uint32_t entry_size)
{
	return rring_spsc_init_at(r, entries, nentries, entry_size, 0);
}

/* Number of slots. Any thread. */
static inline uint32_t rring_spsc_capacity(const struct rring_spsc *r)
{
	return r->g.mask + 1;
}

/* Address of the slot for free-running index idx, for a caller that
 * passes the entry size (must equal the ring's): with a constant size the
 * compiler turns the multiply into a shift, as DPDK's rte_ring_*_elem
 * calls do with their esize argument. */
static inline void *rring_spsc_slot_sized(struct rring_spsc *r, uint32_t idx,
					  uint32_t entry_size)
{
	return r->g.base + (size_t)(idx & r->g.mask) * entry_size;
}

/* Address of the slot for free-running index idx (producer: on indices
 * returned by reserve; consumer: on indices returned by peek). */
static inline void *rring_spsc_slot(struct rring_spsc *r, uint32_t idx)
{
	return rring_spsc_slot_sized(r, idx, r->g.entry_size);
}

/* Producer: free slots given our tail, refreshing the cached head only
 * when it shows fewer than want. */
static inline uint32_t rring_spsc_free_(struct rring_spsc *r, uint32_t tail,
					uint32_t want)
{
	uint32_t size = r->g.mask + 1;
	uint32_t free = size - (tail - r->prod.cached_head);

	if (rring_unlikely(free < want)) {
		/* Acquire pairs with the release of head in
		 * rring_spsc_release_at_(): the consumer is done with the
		 * slots it released before we overwrite them. */
		r->prod.cached_head = rring_load_acquire(&r->head);
		free = size - (tail - r->prod.cached_head);
	}
	return free;
}

/* Producer: make every slot below new_tail visible to the consumer. */
static inline void rring_spsc_publish_at_(struct rring_spsc *r,
					  uint32_t new_tail)
{
	/* Release pairs with the acquire of tail in rring_spsc_avail_() (and
	 * in rring_spsc_prepare_sleep()): slot contents written before this
	 * store are visible to a consumer that sees the new tail. */
	r->prod.tail = new_tail;
	rring_store_release(&r->tail, new_tail);
}

/*
 * Producer: find up to `want` free slots starting at *idx. Returns how many
 * (0 when full, fewer than want when only that many are free). The slots
 * are not visible to the consumer until rring_spsc_publish().
 */
static inline uint32_t rring_spsc_reserve(struct rring_spsc *r, uint32_t want,
					  uint32_t *idx)
{
	uint32_t tail = r->prod.tail;
	uint32_t free = rring_spsc_free_(r, tail, want);

	*idx = tail;
	return free < want ? free : want;
}

/*
 * Producer: make the next n reserved slots visible to the consumer, with
 * one release store for the whole batch. n must not exceed what reserve
 * returned.
 */
static inline void rring_spsc_publish(struct rring_spsc *r, uint32_t n)
{
	rring_spsc_publish_at_(r, r->prod.tail + n);
}

/* Consumer: published entries given our head, refreshing the cached tail
 * only when it shows fewer than want. */
static inline uint32_t rring_spsc_avail_(struct rring_spsc *r, uint32_t head,
					 uint32_t want)
{
	uint32_t avail = r->cons.cached_tail - head;

	if (rring_unlikely(avail < want)) {
		/* Acquire pairs with the release of tail in
		 * rring_spsc_publish_at_(): entries below the new tail are
		 * fully written. */
		r->cons.cached_tail = rring_load_acquire(&r->tail);
		avail = r->cons.cached_tail - head;
	}
	return avail;
}

/* Consumer: give every slot below new_head back to the producer. */
static inline void rring_spsc_release_at_(struct rring_spsc *r,
					  uint32_t new_head)
{
	/* Release pairs with the acquire of head in rring_spsc_free_(): our
	 * reads of these slots happen before the producer reuses them. */
	r->cons.head = new_head;
	rring_store_release(&r->head, new_head);
}

/*
 * Consumer: find up to `want` published entries starting at *idx. Returns
 * how many (0 when empty). The entries stay owned by the consumer until
 * rring_spsc_release().
 */
static inline uint32_t rring_spsc_peek(struct rring_spsc *r, uint32_t want,
				       uint32_t *idx)
{
	uint32_t head = r->cons.head;
	uint32_t avail = rring_spsc_avail_(r, head, want);

	*idx = head;
	return avail < want ? avail : want;
}

/*
 * Consumer: give the next n peeked slots back to the producer, with one
 * release store for the whole batch.
 */
static inline void rring_spsc_release(struct rring_spsc *r, uint32_t n)
{
	rring_spsc_release_at_(r, r->cons.head + n);
}

/*
 * Number of the n slots starting at index idx that are contiguous in
 * memory; the remaining n - contig start again at slot 0. Lets a batch be
 * copied with two straight copies instead of one slot() per entry.
 */
static inline uint32_t rring_spsc_contig(const struct rring_spsc *r,
					 uint32_t idx, uint32_t n)
{
	uint32_t to_end = r->g.mask + 1 - (idx & r->g.mask);

	return n < to_end ? n : to_end;
}

/* Copy one entry. 8-byte entries (a pointer or a token) get a plain move;
 * other sizes go through memcpy. (A switch over more constant sizes makes
 * GCC's -Warray-bounds flag callers whose object is smaller than the
 * unused cases.) */
static inline void rring_spsc_copy(void *dst, const void *src, uint32_t size)
{
	if (size == 8)
		memcpy(dst, src, 8);
	else
		memcpy(dst, src, size);
}

/* Producer: copy one entry of entry_size bytes (must equal the ring's; a
 * constant makes the copy a few moves) in. 0 or -EAGAIN if full. Reads its
 * own index once (reserve + publish would read it twice). */
static inline int rring_spsc_push_sized(struct rring_spsc *r, const void *e,
					uint32_t entry_size)
{
	uint32_t tail = r->prod.tail;

	if (rring_unlikely(rring_spsc_free_(r, tail, 1) == 0))
		return -EAGAIN;
	rring_spsc_copy(rring_spsc_slot_sized(r, tail, entry_size), e,
			entry_size);
	rring_spsc_publish_at_(r, tail + 1);
	return 0;
}

/* Consumer: copy one entry of entry_size bytes (must equal the ring's)
 * out. 0 or -EAGAIN if empty. Reads its own index once. */
static inline int rring_spsc_pop_sized(struct rring_spsc *r, void *e,
				       uint32_t entry_size)
{
	uint32_t head = r->cons.head;

	if (rring_unlikely(rring_spsc_avail_(r, head, 1) == 0))
		return -EAGAIN;
	rring_spsc_copy(e, rring_spsc_slot_sized(r, head, entry_size),
			entry_size);
	rring_spsc_release_at_(r, head + 1);
	return 0;
}

/* Producer: copy one entry (the ring's entry_size bytes) in. 0 or -EAGAIN
 * if full. */
static inline int rring_spsc_push(struct rring_spsc *r, const void *e)
{
	return rring_spsc_push_sized(r, e, r->g.entry_size);
}

/* Consumer: copy one entry (the ring's entry_size bytes) out. 0 or -EAGAIN
 * if empty. */
static inline int rring_spsc_pop(struct rring_spsc *r, void *e)
{
	return rring_spsc_pop_sized(r, e, r->g.entry_size);
}

/*
 * Approximate number of entries in the ring, from any thread: exact when
 * called by either side while the other is quiescent, otherwise a value
 * the depth had at some moment during the call (clamped to capacity).
 */
static inline uint32_t rring_spsc_count(const struct rring_spsc *r)
{
	/* Head first: the consumer never moves head past a tail it saw, and
	 * the acquire pairs with the release in rring_spsc_release(), so the
	 * tail loaded next (acquire, pairs with rring_spsc_publish()) is at
	 * least that head and the difference cannot underflow. */
	uint32_t head = rring_load_acquire(&r->head);
	uint32_t tail = rring_load_acquire(&r->tail);
	uint32_t n = tail - head;
	uint32_t size = r->g.mask + 1;

	return n > size ? size : n;
}

/* Consumer: true if no published entry is waiting (refreshes the cache). */
static inline int rring_spsc_empty(struct rring_spsc *r)
{
	uint32_t idx;

	return rring_spsc_peek(r, 1, &idx) == 0;
}

/*
 * Consumer, before sleeping: set NEED_WAKEUP, full fence, re-check. Returns
 * true if the ring is still empty, so the caller may sleep (and the
 * producer will see the flag and wake it); false if an entry arrived, in
 * which case the caller should rring_spsc_cancel_sleep() and consume.
 */
static inline int rring_spsc_prepare_sleep(struct rring_spsc *r)
{
	uint32_t head = r->cons.head;

	/* (A1) Relaxed RMW: ordering comes from the fence below. */
	atomic_fetch_or_explicit(&r->flags, RRING_SPSC_NEED_WAKEUP,
				 memory_order_relaxed);
	/* (A2) Full fence pairs with the full fence in
	 * rring_spsc_needs_wakeup() (B2): Dekker, the flag store cannot pass
	 * the tail load below, nor the producer's tail store its flag load. */
	rring_smp_mb();
	/* (A3) Acquire pairs with the release in rring_spsc_publish(). */
	r->cons.cached_tail = rring_load_acquire(&r->tail);
	return r->cons.cached_tail == head;
}

/* Consumer: clear NEED_WAKEUP (did not sleep after all, or woke up).
 * Idempotent; the producer may have cleared it already. */
/* Consumer: true while the flag of its last prepare_sleep is set, i.e. no
 * producer claimed it (to wake the consumer) and no cancel cleared it.
 * Relaxed: a stale "set" only delays the consumer's look at a wakeup that
 * is already on its way. */
static inline int rring_spsc_sleep_armed(struct rring_spsc *r)
{
	return (atomic_load_explicit(&r->flags, memory_order_relaxed) &
		RRING_SPSC_NEED_WAKEUP) != 0;
}

static inline void rring_spsc_cancel_sleep(struct rring_spsc *r)
{
	/* Relaxed: the flag carries no data; a wakeup claimed concurrently
	 * only leaves a stale hint in the sleeper's eventfd/futex. */
	atomic_fetch_and_explicit(&r->flags, ~RRING_SPSC_NEED_WAKEUP,
				  memory_order_relaxed);
}

/*
 * Producer, after rring_spsc_publish(): returns true if the consumer is
 * (about to be) asleep and this caller must wake it. Claims the flag, so
 * only one of several publishes during one sleep returns true.
 */
static inline int rring_spsc_needs_wakeup(struct rring_spsc *r)
{
	/* (B2) Full fence pairs with the fence in rring_spsc_prepare_sleep()
	 * (A2): the tail store of the publish cannot pass the flag load. */
	rring_smp_mb();
	/* (B3) Plain load first so the common no-sleeper case costs no RMW. */
	if (rring_likely(
		!(rring_load_relaxed(&r->flags) & RRING_SPSC_NEED_WAKEUP)))
		return 0;
	/* Claim: of concurrent claimers (one producer, or the consumer's own
	 * cancel) exactly one sees the bit go from set to clear. */
	return (atomic_fetch_and_explicit(&r->flags, ~RRING_SPSC_NEED_WAKEUP,
					  memory_order_relaxed) &
		RRING_SPSC_NEED_WAKEUP) != 0;
}

#endif /* RRING_RING_H */
