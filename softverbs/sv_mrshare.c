// SPDX-License-Identifier: BSD-3-Clause
/* softverbs: registered memory the peer process maps (memfd-backed MRs), so that one copy moves each byte between processes. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sv_priv.h"

/*
 * At ibv_reg_mr the whole pages of an MR that lie in a private anonymous
 * mapping (mmap'd buffers, glibc's large allocations) are moved onto a
 * memfd: the memfd is mapped elsewhere, the pages that hold data copied into
 * it (never-touched pages and memfd holes read as zeros: skipped),
 * and that mapping moved over the original range with one mremap(), so the
 * application keeps its addresses and contents. The memfd has no name in
 * any file system, is owner-only, sealed against shrinking (a mapping peer
 * could otherwise be made to fault) and is handed only to the peer process
 * of a QP connection that uses the MR, over that connection's unix socket
 * (SCM_RIGHTS), just before the first request that refers to it. The peer
 * maps it once and copies straight between it and its own MR.
 *
 * ibv_dereg_mr and a forked child move the pages back onto private
 * anonymous memory (another copy), so that a deregistered buffer is the
 * application's alone again (a peer's stale mapping sees only the old
 * pages) and a child gets private pages, as the kernel copies pinned pages
 * at fork. Writes another thread makes to those pages while ibv_reg_mr or
 * ibv_dereg_mr copies them can be lost.
 */

#define SV_SHARE_MIN (64u << 10) /* smaller MRs are not worth a memfd */
/* Each shared MR keeps its memfd open (to hand it to later peers): at most
 * this many at once, so that a server with an MR per client does not run
 * out of file descriptors; later MRs stay private (two copies). */
#define SV_SHARE_MAX 256
#define SV_CTL_MR 0xa1 /* socket control message: fd of an MR */
#define SV_CTL_DROP 0xa2 /* socket control message: forget an MR */

struct sv_mrshare {
	uint32_t id;
	int fd;
	uint8_t *base; /* page-aligned start of the shared pages */
	size_t len;
	ino_t ino; /* of the memfd: is the mapping still ours? */
};

struct sv_ctl {
	uint8_t op;
	uint8_t pad[3];
	uint32_t id;
	uint64_t len;
};

static _Atomic uint32_t next_id = 1;
static _Atomic int live; /* shared MRs, each holding an fd */

/* PROCMAP_QUERY (Linux 6.11, <linux/fs.h>): one mapping by address, instead
 * of reading and parsing all of /proc/self/maps. The ABI is fixed; the
 * headers of older distributions do not have it. */
struct sv_procmap_query {
	uint64_t size, query_flags, query_addr;
	uint64_t vma_start, vma_end, vma_flags, vma_page_size, vma_offset;
	uint64_t inode;
	uint32_t dev_major, dev_minor;
	uint32_t vma_name_size, build_id_size;
	uint64_t vma_name_addr, build_id_addr;
};
#define SV_PROCMAP_QUERY _IOWR('f', 17, struct sv_procmap_query)
#define SV_VMA_RW 0x3 /* readable | writable */
#define SV_VMA_XS 0xc /* executable | shared */

/* find_mapping() by ioctl: 0, -ENOENT, or -ENOTTY (older kernel). */
static int query_mapping(int fd, uintptr_t start, uintptr_t end, ino_t *ino,
			 bool *anon_rw)
{
	char name[256];
	struct sv_procmap_query q = {
		.size = sizeof(q), .query_addr = start,
		.vma_name_size = sizeof(name),
		.vma_name_addr = (uintptr_t)name,
	};

	if (ioctl(fd, SV_PROCMAP_QUERY, &q))
		/* a name that long is a file's: not one of ours either */
		return errno == ENAMETOOLONG ? -ENOENT : -errno;
	if (end > q.vma_end)
		return -ENOENT; /* spans mappings: leave it alone */
	*ino = (ino_t)q.inode;
	/* no name: not a file, nor [heap] or [stack], whose owners shrink
	 * and grow them behind our back */
	*anon_rw = (q.vma_flags & (SV_VMA_RW | SV_VMA_XS)) == SV_VMA_RW &&
		   !q.inode && !q.vma_name_size;
	return 0;
}

/*
 * The mapping of /proc/self/maps that holds [@start, @end): 0 with its
 * inode and whether it is private, anonymous and read-write; -ENOENT.
 */
static int find_mapping(uintptr_t start, uintptr_t end, ino_t *ino,
			bool *anon_rw)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512];
	int ret = -ENOENT;

	if (!f)
		return -errno;
	ret = query_mapping(fileno(f), start, end, ino, anon_rw);
	if (ret != -ENOTTY && ret != -EINVAL) {
		fclose(f);
		return ret;
	}
	ret = -ENOENT;
	while (fgets(line, sizeof(line), f)) {
		uintmax_t lo, hi, off, inode;
		char perms[8], dev[16];

		if (sscanf(line, "%jx-%jx %7s %jx %15s %ju", &lo, &hi, perms,
			   &off, dev, &inode) != 6)
			continue;
		if (start < lo || start >= hi)
			continue;
		if (end > hi)
			break; /* spans mappings: leave it alone */
		*ino = (ino_t)inode;
		/* no path: not a file, nor [heap] or [stack], whose owners
		 * shrink and grow them behind our back */
		*anon_rw = !strcmp(perms, "rw-p") && !inode &&
			   !strchr(line, '/') && !strchr(line, '[');
		ret = 0;
		break;
	}
	fclose(f);
	return ret;
}

/* /proc/self/pagemap: the page is in memory or swapped out (holds data) */
#define PM_DATA (1ull << 63 | 1ull << 62)
#define PM_BATCH 512 /* entries read at once */

/*
 * Copy the pages of the private anonymous range @from that hold data
 * (present or swapped out) into @to, which reads as zeros: a page never
 * touched reads as zeros too, and copying it would fault in a page on
 * both sides (a fresh receive buffer is all such pages). Everything when
 * pagemap cannot be read.
 */
static void copy_anon_data(uint8_t *to, const uint8_t *from, size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), n = len / page, i = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	uint64_t pm[PM_BATCH];

	if (fd < 0) {
		memcpy(to, from, len);
		return;
	}
	while (i < n) {
		size_t want = n - i < PM_BATCH ? n - i : PM_BATCH, got, j, run;
		off_t at = (off_t)(((uintptr_t)from / page + i) * sizeof(*pm));
		ssize_t r = pread(fd, pm, want * sizeof(*pm), at);

		if (r < (ssize_t)sizeof(*pm)) {
			memcpy(to + i * page, from + i * page, len - i * page);
			break;
		}
		got = (size_t)r / sizeof(*pm);
		for (j = 0; j < got; j += run) {
			bool data = pm[j] & PM_DATA;

			/* the run of pages like this one */
			for (run = 1; j + run < got &&
				      !(pm[j + run] & PM_DATA) == !data;
			     run++)
				;
			if (data)
				memcpy(to + (i + j) * page, from + (i + j) * page,
				       run * page);
		}
		i += got;
	}
	close(fd);
}

/*
 * Copy the data of memfd @fd, mapped at @from, into @to, which reads as
 * zeros: holes (pages nobody wrote) are skipped. Everything from where
 * SEEK_DATA fails for a reason other than "no more data".
 */
static void copy_memfd_data(uint8_t *to, const uint8_t *from, size_t len,
			    int fd)
{
	off_t off = 0, data, hole;

	while ((size_t)off < len) {
		data = lseek(fd, off, SEEK_DATA);
		if (data < 0 && errno == ENXIO)
			return;
		hole = data < 0 ? -1 : lseek(fd, data, SEEK_HOLE);
		if (hole < 0) {
			memcpy(to + off, from + off, len - (size_t)off);
			return;
		}
		if ((size_t)hole > len)
			hole = (off_t)len;
		memcpy(to + data, from + data, (size_t)(hole - data));
		off = hole;
	}
}

/*
 * Replace [@at, @at + @len) by pages holding the same bytes: memfd @fd's
 * (@share), or, when the range is @fd's, fresh private ones.
 */
static int swap_pages(uint8_t *at, size_t len, int fd, bool share)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       share ? MAP_SHARED : MAP_PRIVATE | MAP_ANONYMOUS,
		       share ? fd : -1, 0);

	if (p == MAP_FAILED)
		return -errno;
	if (share)
		copy_anon_data(p, at, len);
	else
		copy_memfd_data(p, at, len, fd);
	/* atomic for the range: it is never unmapped in between */
	if (mremap(p, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, at) != at) {
		int err = errno;

		munmap(p, len);
		return -err;
	}
	return 0;
}

struct sv_mrshare *sv_mrshare_new(void *addr, size_t length)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t start = ((uintptr_t)addr + page - 1) & ~(page - 1);
	uintptr_t end = ((uintptr_t)addr + length) & ~(page - 1);
	struct sv_mrshare *s;
	struct stat st;
	bool anon_rw;
	ino_t ino;

	if (end <= start || end - start < SV_SHARE_MIN ||
	    find_mapping(start, end, &ino, &anon_rw) || !anon_rw)
		return NULL;
	if (atomic_fetch_add(&live, 1) >= SV_SHARE_MAX) {
		atomic_fetch_sub(&live, 1);
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		atomic_fetch_sub(&live, 1);
		return NULL;
	}
	s->base = (uint8_t *)start;
	s->len = end - start;
	s->fd = memfd_create("softverbs-mr", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (s->fd < 0 || fchmod(s->fd, 0600) || ftruncate(s->fd, (off_t)s->len) ||
	    fcntl(s->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) ||
	    fstat(s->fd, &st) || swap_pages(s->base, s->len, s->fd, true)) {
		sv_log(SV_LOG_INFO, "MR at %p: not shared with peers (%s): two copies per byte",
		       addr, strerror(errno));
		if (s->fd >= 0)
			close(s->fd);
		free(s);
		atomic_fetch_sub(&live, 1);
		return NULL;
	}
	s->ino = st.st_ino;
	s->id = atomic_fetch_add_explicit(&next_id, 1, memory_order_relaxed);
	return s;
}

void sv_mrshare_unshare(struct sv_mrshare *s)
{
	bool anon_rw;
	ino_t ino;

	/* the application may have unmapped (and reused) the range first */
	if (s->base &&
	    !find_mapping((uintptr_t)s->base, (uintptr_t)s->base + s->len,
			  &ino, &anon_rw) &&
	    ino == s->ino && swap_pages(s->base, s->len, s->fd, false))
		sv_log(SV_LOG_WARN, "MR pages at %p stay shared: %s",
		       (void *)s->base, strerror(errno));
	s->base = NULL;
}

void sv_mrshare_free(struct sv_mrshare *s)
{
	if (!s)
		return;
	sv_mrshare_unshare(s);
	close(s->fd);
	free(s);
	atomic_fetch_sub(&live, 1);
}

uint32_t sv_mrshare_id(const struct sv_mrshare *s)
{
	return s->id;
}

bool sv_mrshare_offset(const struct sv_mrshare *s, const void *p, size_t len,
		       uint64_t *off)
{
	const uint8_t *b = p;

	if (!s->base || b < s->base || len > s->len ||
	    (size_t)(b - s->base) > s->len - len)
		return false;
	*off = (uint64_t)(b - s->base);
	return true;
}

int sv_mrshare_send(int sock, const struct sv_mrshare *s)
{
	struct sv_ctl m = { .op = SV_CTL_MR, .id = s->id, .len = s->len };

	return sv_send_fds(sock, &m, sizeof(m), &s->fd, 1);
}

int sv_mrshare_send_drop(int sock, uint32_t id)
{
	struct sv_ctl m = { .op = SV_CTL_DROP, .id = id };

	return sv_send_fds(sock, &m, sizeof(m), NULL, 0);
}

/* ---- the peer's side: MRs of the other process, mapped ---- */

struct sv_peer_mr {
	uint32_t id;
	uint8_t *map;
	size_t len;
};

struct sv_peer_mrs {
	struct sv_peer_mr *v;
	uint32_t n, cap;
};

static void peer_drop(struct sv_peer_mrs *p, uint32_t i)
{
	munmap(p->v[i].map, p->v[i].len);
	p->v[i] = p->v[--p->n];
}

static int peer_forget(struct sv_peer_mrs *p, uint32_t id)
{
	for (uint32_t i = 0; i < p->n; i++) {
		if (p->v[i].id == id) {
			peer_drop(p, i);
			break;
		}
	}
	return 0;
}

/* Map a peer's MR memfd after checking it cannot fault us; 0 or -errno. */
static int peer_add(struct sv_peer_mrs *p, uint32_t id, uint64_t len, int fd)
{
	struct stat st;
	void *map;
	int seals = fcntl(fd, F_GET_SEALS);

	if (seals < 0 || !(seals & F_SEAL_SHRINK) || fstat(fd, &st) ||
	    !len || (uint64_t)st.st_size != len || len > SIZE_MAX)
		return -EPROTO;
	if (p->n == p->cap) {
		uint32_t cap = p->cap ? p->cap * 2 : 8;
		struct sv_peer_mr *v = realloc(p->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		p->v = v;
		p->cap = cap;
	}
	map = mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		return -errno;
	/* a forked child (BGSAVE) gets no access to the peer's memory */
	madvise(map, (size_t)len, MADV_DONTFORK);
	p->v[p->n++] = (struct sv_peer_mr){ .id = id, .map = map,
					     .len = (size_t)len };
	return 0;
}

int sv_peer_mrs_recv(int sock, struct sv_peer_mrs **pp)
{
	struct sv_peer_mrs *p = *pp;

	if (!p) {
		p = calloc(1, sizeof(*p));
		if (!p)
			return -ENOMEM;
		*pp = p;
	}
	for (;;) {
		struct sv_ctl m;
		int fd, ret;
		ssize_t n = sv_recv_fds(sock, &m, sizeof(m), &fd, 1);

		if (n == -EAGAIN || n == -EINTR)
			return 0;
		if (n < 0)
			return (int)n;
		if (n == 0)
			return 0; /* EOF: the NIC thread learns it from epoll */
		if (n != (ssize_t)sizeof(m))
			ret = -EPROTO;
		else if (m.op == SV_CTL_MR && fd >= 0)
			ret = peer_add(p, m.id, m.len, fd);
		else if (m.op == SV_CTL_DROP && fd < 0)
			ret = peer_forget(p, m.id);
		else
			ret = -EPROTO;
		if (fd >= 0)
			close(fd); /* mapped or refused: the fd is not needed */
		if (ret)
			return ret;
	}
}

uint8_t *sv_peer_mrs_find(const struct sv_peer_mrs *p, uint32_t id,
			  uint64_t off, uint32_t len)
{
	for (uint32_t i = 0; p && i < p->n; i++) {
		const struct sv_peer_mr *m = &p->v[i];

		if (m->id != id)
			continue;
		if (off > m->len || len > m->len - off)
			return NULL;
		return m->map + off;
	}
	return NULL;
}

void sv_peer_mrs_free(struct sv_peer_mrs *p)
{
	if (!p)
		return;
	while (p->n)
		peer_drop(p, p->n - 1);
	free(p->v);
	free(p);
}
