// SPDX-License-Identifier: BSD-3-Clause
/* softverbs: the process's "NIC thread awake" word, on a page its ring peers map. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sv_priv.h"

/*
 * A ring consumer that keeps a connection on its NIC thread's hot list
 * (sv_wire.c) arms the ring HOT instead of ALWAYS: the producer then rings
 * the doorbell only to wake a NIC thread that sleeps, once per sleep. The
 * word says SV_AWAKE_AWAKE from epoll_wait()'s return; before it sleeps
 * again the NIC thread stores SV_AWAKE_ASLEEP, issues a full fence and
 * reads the tails of its hot rings (sv_wire_hot_check()). A producer
 * publishes its tail, issues a full fence, then swaps ASLEEP for
 * SV_AWAKE_WOKEN and rings only when that succeeds, on the page's own
 * doorbell, which the NIC thread always watches (a connection's may be
 * closed meanwhile, and a lost wakeup here would stall every peer's HOT
 * rings, not one). One of the two sees
 * the other's store: the NIC thread finds the message, or the producer
 * rings; and a producer that finds WOKEN knows a pass with that last look
 * is coming. So a process whose NIC thread is busy, or already woken, costs
 * its peers no syscall, as a doorbell write to a NIC costs none; 50 peers
 * that each send one message to a sleeping NIC thread ring once, not 50
 * times.
 *
 * The page is a one-page memfd sealed against resizing, so a mapping of
 * it can never fault. Peers write it, so it goes only to peers that run
 * as our user (as the rings do); the worst such a peer can do with it is
 * keep the word at WOKEN, and our NIC thread then learns of other peers'
 * messages on HOT rings at its next wakeup instead. A forked child makes
 * its own page when it starts its NIC thread (the parent's mapping is not
 * inherited).
 */

static struct {
	int fd, bell;
	_Atomic uint32_t *word;
} page = { .fd = -1, .bell = -1 };

int sv_awake_init(void)
{
	int fd, bell, ret;
	void *map;

	bell = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (bell < 0)
		return -errno;
	fd = memfd_create("softverbs-awake", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0) {
		ret = -errno;
		goto err_close_bell;
	}
	if (ftruncate(fd, SV_AWAKE_BYTES)) {
		ret = -errno;
		goto err_close_fd;
	}
	map = sv_shm_map(fd, SV_AWAKE_BYTES);
	if (!map) {
		ret = -errno;
		goto err_close_fd;
	}
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)) {
		ret = -errno;
		goto err_unmap;
	}
	page.fd = fd;
	page.bell = bell;
	page.word = map;
	return 0;

err_unmap:
	munmap(map, SV_AWAKE_BYTES);
err_close_fd:
	close(fd);
err_close_bell:
	close(bell);
	return ret;
}

void sv_awake_fini(void)
{
	if (page.word)
		munmap((void *)page.word, SV_AWAKE_BYTES);
	sv_awake_forget();
}

void sv_awake_forget(void)
{
	/* the mapping is not in a forked child; the fd is its own copy */
	if (page.fd >= 0) {
		close(page.fd);
		close(page.bell);
	}
	page.fd = page.bell = -1;
	page.word = NULL;
}

int sv_awake_fd(void)
{
	return page.fd;
}

int sv_awake_bell(void)
{
	return page.bell;
}

void sv_awake_set(void)
{
	if (page.word)
		atomic_store_explicit(page.word, SV_AWAKE_AWAKE,
				      memory_order_relaxed);
}

void sv_awake_clear(void)
{
	if (page.word)
		atomic_store_explicit(page.word, SV_AWAKE_ASLEEP,
				      memory_order_relaxed);
	/* pairs with the producer's fence in notify() (sv_shm.c): the tails
	 * read after this include every one published by a producer that
	 * did not find ASLEEP */
	atomic_thread_fence(memory_order_seq_cst);
}
