/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring: C11 atomics, fences and branch hints, wrapped once. */
#ifndef RRING_BARRIER_H
#define RRING_BARRIER_H

#include <stdatomic.h>
#include <stdint.h>

/*
 * Every inter-thread access in the engine goes through these wrappers, so
 * that the ordering of each access is visible at the call site and each
 * acquire/release can name its partner in a comment next to it.
 *
 * CPU ordering only: DMA ordering belongs to verbs (doorbells), never here.
 */

#define RRING_CACHELINE 64

#define rring_likely(x) __builtin_expect(!!(x), 1)
#define rring_unlikely(x) __builtin_expect(!!(x), 0)

/* Loads and stores on an _Atomic object, with the ordering in the name. */
#define rring_load_acquire(p) atomic_load_explicit((p), memory_order_acquire)
#define rring_load_relaxed(p) atomic_load_explicit((p), memory_order_relaxed)
#define rring_store_release(p, v)                                              \
	atomic_store_explicit((p), (v), memory_order_release)
#define rring_store_relaxed(p, v)                                              \
	atomic_store_explicit((p), (v), memory_order_relaxed)

/*
 * Full (store-load) fence: the only ordering that stops a later load from
 * passing an earlier store. Needed by Dekker-style sleep/wake protocols.
 * GCC >= 12 warns (-Wtsan) that ThreadSanitizer does not model fences; the
 * fence is still emitted and still orders the hardware, and TSan needs no
 * help here (every access it could see racing is atomic), so the warning is
 * silenced for this one statement.
 */
static inline void rring_smp_mb(void)
{
#if defined(__SANITIZE_THREAD__) && !defined(__clang__) && __GNUC__ >= 12
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wtsan"
#endif
	atomic_thread_fence(memory_order_seq_cst);
#if defined(__SANITIZE_THREAD__) && !defined(__clang__) && __GNUC__ >= 12
#pragma GCC diagnostic pop
#endif
}

/* Hint to the CPU that this is a spin-wait loop (no memory ordering). */
static inline void rring_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

#endif /* RRING_BARRIER_H */
