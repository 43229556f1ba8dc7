// SPDX-License-Identifier: BSD-3-Clause
/* softverbs: a QP connection's byte streams as two rings in a memfd both processes map, with eventfd doorbells. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sv_priv.h"

/*
 * The connecting process (the requester) creates a sealed memfd holding two
 * single-producer single-consumer byte rings, ring 0 for its requests and
 * ring 1 for the responses, and two eventfds, one doorbell per process. It
 * sends the three fds, and its awake page and that page's doorbell, with a
 * hello message (SCM_RIGHTS) as the first bytes on the QP's unix socket and
 * keeps its own copies; the accepting process maps the memfd, watches its
 * doorbell and answers with its own awake page and doorbell (the only
 * message it ever sends on that socket). Both close the memfd once mapped:
 * the rings exist only in the two mappings (and in nothing a file name could
 * reach). The socket stays open as the liveness signal: its EOF tells a
 * process that the peer closed the connection or died, after everything the
 * peer wrote into the ring is visible.
 *
 * Doorbell (NEED_WAKEUP, as io_uring's SQPOLL ring does it): a consumer that
 * finds its ring empty sets want_data, issues a full fence and looks again;
 * a producer publishes its tail, issues a full fence and rings the
 * consumer's doorbell only if want_data was set (clearing it). One of the
 * two always sees the other's store, so a wakeup is never lost, and a busy
 * consumer costs the producer no syscall. Free space works the same way
 * with want_space in the other direction. While the NIC thread spins
 * (sv.spinning: it polls every ring again within microseconds) it sets no
 * flag at all, so a peer streaming to it rings no doorbell; it sets them
 * in its last pass before it sleeps (see nic_loop()).
 *
 * want_data HOT instead of ALWAYS: the ring is on the consumer's hot list,
 * which its NIC thread reads again before each sleep, so the producer rings
 * only to wake that NIC thread from a sleep, and only if no other producer
 * did (the awake word, sv_awake.c). HOT stays set: the flag is the
 * consumer's, the word is shared by all its peers. Each process hands its
 * peers that page: the requester with its hello, the accepting side in a
 * reply on the socket. Until a producer has the page it rings for HOT as
 * for ALWAYS.
 *
 * Acknowledgements carry no message: the responder stores the msn of the
 * last request it executed in the response ring's control page (acked),
 * and the requester turns it into send completions when it looks (its
 * NIC thread's pass, ibv_poll_cq, a full send queue), as a NIC's poll_cq
 * reads the CQEs the hardware wrote. Only a requester that waits for a
 * completion event sets want_ack, and only then does the responder ring
 * its doorbell, for the acknowledgement of a signaled request (same
 * fences as want_data): an unsignaled one makes no completion.
 *
 * The peer is not trusted: the memfd must carry the shrink/grow seals and
 * the expected size (a shrunk file would fault this process), the doorbells
 * must be eventfds, the peer must run as our user (a requester offers only
 * to a listener of our user, so peers of two users use the socket), and
 * indices read from the shared pages are checked before use; this process
 * keeps its own indices privately and only publishes them.
 */

#define SV_SHM_MAGIC 0xa0 /* first byte: never an opcode of the socket stream */
/* 2: acknowledgements in the control page; 3: requests say whether they
 * are signaled (the ack doorbell rings only for those); 4: awake pages
 * and HOT rings */
#define SV_SHM_VERSION 4
#define SV_SHM_AWAKE_MAGIC 0xa1 /* the accepting side's page, on the socket */
#define SV_RING_BYTES (1u << 19)
#define SV_RING_HDR 4096u
#define SV_SHM_BYTES (SV_RING_HDR + 2u * SV_RING_BYTES)

struct sv_ring_ctl {
	_Alignas(64) _Atomic uint64_t tail; /* written by the producer */
	_Alignas(64) _Atomic uint64_t head; /* written by the consumer */
	_Alignas(64) _Atomic uint32_t want_data; /* consumer sleeps: SV_WANT_* */
	_Atomic uint32_t want_space; /* producer sleeps on full */
	/* response ring only: requests executed, as msn + 1 (0 = none),
	 * written by the responder; want_ack: the requester asks for the
	 * doorbell when it moves (it waits for a completion event) */
	_Alignas(64) _Atomic uint32_t acked;
	_Atomic uint32_t want_ack;
};
_Static_assert(2 * sizeof(struct sv_ring_ctl) <= SV_RING_HDR,
	       "ring controls fit the first page");

/* What a side that sleeps on a ring asks of the other (want_*). */
enum {
	SV_WANT_NONE = 0,
	SV_WANT_ALWAYS = 1, /* ring the doorbell */
	SV_WANT_HOT = 2, /* ring only a sleeping consumer (its awake word) */
};

struct sv_hello {
	uint8_t magic;
	uint8_t version;
	uint16_t pad;
	uint32_t ring_bytes;
};

struct sv_shm {
	uint8_t *map;
	struct sv_ring_ctl *tx_ctl, *rx_ctl;
	uint8_t *tx, *rx;
	uint64_t tx_tail, rx_head; /* our own indices, the truth */
	int my_bell, peer_bell;
	bool hot; /* on our NIC thread's hot list: arm the rx ring HOT */
	uint64_t hot_tail; /* the rx tail at the hot list's last look */
	_Atomic uint32_t *peer_awake; /* the peer's awake word, or NULL */
	int peer_wake; /* and its doorbell */
};

static struct sv_shm *shm_new(uint8_t *map, bool requester, int my_bell,
			      int peer_bell)
{
	struct sv_shm *s = calloc(1, sizeof(*s));
	struct sv_ring_ctl *ctl = (struct sv_ring_ctl *)map;
	uint8_t *data = map + SV_RING_HDR;

	if (!s)
		return NULL;
	s->map = map;
	s->tx_ctl = &ctl[requester ? 0 : 1];
	s->rx_ctl = &ctl[requester ? 1 : 0];
	s->tx = data + (requester ? 0 : SV_RING_BYTES);
	s->rx = data + (requester ? SV_RING_BYTES : 0);
	s->my_bell = my_bell;
	s->peer_bell = peer_bell;
	s->peer_wake = -1;
	return s;
}

#define SV_MAX_PASSED_FDS 5

int sv_send_fds(int sock, const void *msg, size_t len, const int *fds,
		int nfds)
{
	union {
		char buf[CMSG_SPACE(SV_MAX_PASSED_FDS * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = (void *)msg, .iov_len = len };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (nfds > SV_MAX_PASSED_FDS)
		return -EINVAL;
	if (nfds > 0) {
		struct cmsghdr *cm;

		memset(u.buf, 0, sizeof(u.buf));
		m.msg_control = u.buf;
		m.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
		cm = CMSG_FIRSTHDR(&m);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, (size_t)nfds * sizeof(int));
	}
	/* all or nothing: a unix socket takes a small message whole or not */
	n = sendmsg(sock, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n == (ssize_t)len)
		return 0;
	return n < 0 ? -errno : -EIO;
}

ssize_t sv_recv_fds(int sock, void *msg, size_t len, int *fds, int nfds)
{
	union {
		char buf[CMSG_SPACE(SV_MAX_PASSED_FDS * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = msg, .iov_len = len };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *cm;
	ssize_t n;
	int i;

	for (i = 0; i < nfds; i++)
		fds[i] = -1;
	n = recvmsg(sock, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0)
		return -errno;
	cm = CMSG_FIRSTHDR(&m);
	if (!cm || cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
		return n;
	if (cm->cmsg_len <= CMSG_LEN((size_t)nfds * sizeof(int)) &&
	    !(m.msg_flags & MSG_CTRUNC)) {
		memcpy(fds, CMSG_DATA(cm), cm->cmsg_len - CMSG_LEN(0));
		return n;
	}
	/* more than asked for: none is kept */
	for (i = 0; i < (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int)); i++)
		close(((int *)CMSG_DATA(cm))[i]);
	return n;
}

void *sv_shm_map(int fd, size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	if (p == MAP_FAILED)
		return NULL;
	/* a forked child (BGSAVE) gets no copy of the rings */
	madvise(p, len, MADV_DONTFORK);
	return p;
}

/* A peer's memfd we may map: shrink-sealed (a shrunk file would fault
 * this process) and of the expected size. */
static bool sealed_size(int fd, size_t len)
{
	struct stat st;
	int seals = fcntl(fd, F_GET_SEALS);

	return seals >= 0 && (seals & F_SEAL_SHRINK) && !fstat(fd, &st) &&
	       st.st_size == (off_t)len;
}

bool sv_peer_is_us(int sock)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	return !getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) &&
	       cred.uid == getuid();
}

struct sv_shm *sv_shm_offer(int sock)
{
	struct sv_hello h = { .magic = SV_SHM_MAGIC, .version = SV_SHM_VERSION,
			      .ring_bytes = SV_RING_BYTES };
	/* memfd, acceptor's bell, ours; our awake page and its bell (when we
	 * have them) */
	int ret, fds[5] = { -1, -1, -1, sv_awake_fd(), sv_awake_bell() };
	struct sv_shm *s = NULL;
	uint8_t *map = NULL;

	/* the accepting side refuses another user's rings; ours and our awake
	 * page go to nobody else either (connect() succeeded: the listener's
	 * credentials are known) */
	if (!sv_peer_is_us(sock)) {
		sv_log(SV_LOG_INFO, "peer runs as another user: using the socket");
		return NULL;
	}
	fds[0] = memfd_create("softverbs-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fds[0] < 0 || ftruncate(fds[0], SV_SHM_BYTES) ||
	    fcntl(fds[0], F_ADD_SEALS,
		  F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL))
		goto fail;
	fds[1] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	fds[2] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (fds[1] < 0 || fds[2] < 0)
		goto fail;
	map = sv_shm_map(fds[0], SV_SHM_BYTES);
	if (!map)
		goto fail;
	/* nobody has looked yet: the first message of each ring rings */
	atomic_store(&((struct sv_ring_ctl *)map)[0].want_data, SV_WANT_ALWAYS);
	atomic_store(&((struct sv_ring_ctl *)map)[1].want_data, SV_WANT_ALWAYS);
	s = shm_new(map, true, fds[2], fds[1]);
	if (!s)
		goto fail;
	ret = sv_send_fds(sock, &h, sizeof(h), fds, fds[3] >= 0 ? 5 : 3);
	if (ret) {
		errno = -ret;
		goto fail;
	}
	close(fds[0]);
	return s;

fail:
	sv_log(SV_LOG_WARN, "shared-memory transport unavailable (%s): using the socket",
	       strerror(errno));
	free(s);
	if (map)
		munmap(map, SV_SHM_BYTES);
	for (int i = 0; i < 3; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return NULL;
}

static bool is_eventfd(int fd)
{
	char path[64], link[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n <= 0)
		return false;
	link[n] = '\0';
	return !strcmp(link, "anon_inode:[eventfd]");
}

/* The peer's hello and fds are acceptable (see the trust notes above). */
static int check_offer(int sock, const struct sv_hello *h, const int *fds)
{
	if (h->version != SV_SHM_VERSION || h->ring_bytes != SV_RING_BYTES)
		return -EPROTO;
	if (!sv_peer_is_us(sock))
		return -EPERM;
	if (!sealed_size(fds[0], SV_SHM_BYTES))
		return -EPROTO;
	if (!is_eventfd(fds[1]) || !is_eventfd(fds[2]))
		return -EPROTO;
	return 0;
}

/*
 * A peer's awake page and its doorbell, from the hello or the reply: keep
 * them in @s (the page mapped) and 0, or -EPROTO. The page's fd is closed
 * either way, the doorbell's when it is refused.
 */
static int take_awake(struct sv_shm *s, int page, int bell)
{
	int ret = 0;

	if (page < 0 || bell < 0 || !is_eventfd(bell) || s->peer_awake ||
	    !sealed_size(page, SV_AWAKE_BYTES) ||
	    !(s->peer_awake = sv_shm_map(page, SV_AWAKE_BYTES)))
		ret = -EPROTO;
	if (page >= 0)
		close(page);
	if (ret && bell >= 0)
		close(bell);
	if (!ret)
		s->peer_wake = bell;
	return ret;
}

/* Accepted side: our awake page to the requester (best effort: without
 * it the requester rings for HOT as for ALWAYS). */
static void send_awake(int sock)
{
	struct sv_hello h = { .magic = SV_SHM_AWAKE_MAGIC,
			      .version = SV_SHM_VERSION };
	int fds[2] = { sv_awake_fd(), sv_awake_bell() }, ret;

	if (fds[0] < 0)
		return;
	ret = sv_send_fds(sock, &h, sizeof(h), fds, 2);
	if (ret)
		sv_log(SV_LOG_DEBUG, "awake page not sent: %s", strerror(-ret));
}

int sv_shm_accept(int sock, struct sv_shm **out)
{
	struct sv_hello h;
	int fds[5], ret, i;
	uint8_t first;
	uint8_t *map;
	ssize_t n;

	*out = NULL;
	n = recv(sock, &first, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? -EAGAIN : 0;
	if (n == 0 || first != SV_SHM_MAGIC)
		return 0; /* the socket stream (or its EOF) */
	n = sv_recv_fds(sock, &h, sizeof(h), fds, 5);
	ret = n != (ssize_t)sizeof(h) || fds[0] < 0 ? -EPROTO :
						      check_offer(sock, &h, fds);
	map = ret ? NULL : sv_shm_map(fds[0], SV_SHM_BYTES);
	if (!ret && !map)
		ret = -errno;
	if (!ret) {
		for (i = 1; i < 3; i++)
			fcntl(fds[i], F_SETFL, O_NONBLOCK); /* never block the NIC thread */
		*out = shm_new(map, false, fds[1], fds[2]);
		if (!*out) {
			munmap(map, SV_SHM_BYTES);
			ret = -ENOMEM;
		}
	}
	if (!ret && (fds[3] >= 0 || fds[4] >= 0)) {
		ret = take_awake(*out, fds[3], fds[4]);
		fds[3] = fds[4] = -1;
		if (ret) {
			sv_shm_free(*out); /* closes the doorbells */
			*out = NULL;
			fds[1] = fds[2] = -1;
		}
	}
	for (i = 0; i < 5; i++)
		if (fds[i] >= 0 && (i == 0 || i >= 3 || ret))
			close(fds[i]);
	if (!ret)
		send_awake(sock);
	return ret ? ret : 1;
}

int sv_shm_recv_awake(struct sv_shm *s, int sock)
{
	for (;;) {
		struct sv_hello h;
		int fds[2];
		ssize_t n = sv_recv_fds(sock, &h, sizeof(h), fds, 2);

		if (n == -EAGAIN || n == -EINTR || n == 0)
			return 0; /* EOF: the NIC thread learns it from epoll */
		if (n < 0)
			return (int)n;
		/* one page, once (take_awake() refuses a second): anything
		 * else is not our protocol */
		if (n != (ssize_t)sizeof(h) || h.magic != SV_SHM_AWAKE_MAGIC ||
		    h.version != SV_SHM_VERSION) {
			for (int i = 0; i < 2; i++)
				if (fds[i] >= 0)
					close(fds[i]);
			return -EPROTO;
		}
		if (take_awake(s, fds[0], fds[1]))
			return -EPROTO;
	}
}

int sv_shm_bell_fd(const struct sv_shm *s)
{
	return s->my_bell;
}

void sv_shm_close(struct sv_shm *s)
{
	if (s->my_bell >= 0)
		close(s->my_bell);
	if (s->peer_bell >= 0)
		close(s->peer_bell);
	if (s->peer_wake >= 0)
		close(s->peer_wake);
	s->my_bell = s->peer_bell = s->peer_wake = -1;
}

void sv_shm_free(struct sv_shm *s)
{
	if (!s)
		return;
	sv_shm_close(s);
	if (s->peer_awake)
		munmap(s->peer_awake, SV_AWAKE_BYTES);
	munmap(s->map, SV_SHM_BYTES);
	free(s);
}

/* Ring the peer's doorbell if it asked for it in @want (after a full fence). */
static void notify(struct sv_shm *s, _Atomic uint32_t *want)
{
	int bell = s->peer_bell;
	uint64_t one = 1;
	uint32_t w;

	/* pairs with the fence of the side that set @want, then looked again,
	 * and with the one after the peer cleared its awake word */
	atomic_thread_fence(memory_order_seq_cst);
	w = atomic_load_explicit(want, memory_order_relaxed);
	if (w == SV_WANT_NONE)
		return;
	if (w == SV_WANT_HOT && s->peer_awake) {
		uint32_t asleep = SV_AWAKE_ASLEEP;

		/* awake or woken: its NIC thread reads this ring before it
		 * sleeps; asleep: we wake it, and the next producers need not */
		if (!atomic_compare_exchange_strong_explicit(
			    s->peer_awake, &asleep, SV_AWAKE_WOKEN,
			    memory_order_relaxed, memory_order_relaxed))
			return;
		bell = s->peer_wake;
	} else if (!atomic_exchange_explicit(want, SV_WANT_NONE,
					     memory_order_relaxed)) {
		return;
	}
	if (bell >= 0 && write(bell, &one, sizeof(one)) < 0 && errno != EAGAIN)
		sv_log(SV_LOG_WARN, "doorbell: %s", strerror(errno));
}

/*
 * Indices are published every SV_RING_STEP bytes of a long copy, so that
 * the other side's NIC thread (on the other CPU) copies the first part
 * while this one copies the rest, instead of each waiting for a whole ring.
 * The doorbell is looked at once the call moved its first step and after
 * the last: at most two wakeups per call (one for a message shorter than
 * a step), and the last check loses no wakeup.
 */
#define SV_RING_STEP (64u << 10)


/* Copy between the ring at index @pos and @buf (@to_ring: into the ring). */
static void ring_copy(uint8_t *ring, uint64_t pos, void *buf, size_t n,
		      bool to_ring)
{
	size_t off = (size_t)(pos % SV_RING_BYTES);
	size_t first = n < SV_RING_BYTES - off ? n : SV_RING_BYTES - off;

	if (to_ring) {
		sv_peer_copy(ring + off, buf, first);
		sv_peer_copy(ring, (uint8_t *)buf + first, n - first);
	} else {
		sv_peer_copy(buf, ring + off, first);
		sv_peer_copy((uint8_t *)buf + first, ring, n - first);
	}
}

/*
 * One direction of a connection as this process uses it: the producer of
 * the tx ring or the consumer of the rx ring. @mine is our private index,
 * published in @my_idx; @peer_idx is the other side's; @wait is the flag we
 * set before sleeping on it, @wake the one it sets before sleeping on us.
 */
struct ring_end {
	uint8_t *data;
	uint64_t *mine;
	_Atomic uint64_t *my_idx, *peer_idx;
	_Atomic uint32_t *wait, *wake;
	uint32_t arm; /* what we store in @wait (SV_WANT_*) */
	bool producer;
};

/* Bytes we may move now (free space or data), or -EPROTO. */
static int64_t ring_room(const struct ring_end *e)
{
	/* pairs with the other side's release of its index */
	uint64_t peer = atomic_load_explicit(e->peer_idx, memory_order_acquire);
	uint64_t used = e->producer ? *e->mine - peer : peer - *e->mine;

	if (used > SV_RING_BYTES)
		return -EPROTO;
	return (int64_t)(e->producer ? SV_RING_BYTES - used : used);
}

/* Move up to what the ring allows between it and @iov: bytes, -EAGAIN, -EPROTO. */
static ssize_t ring_move(struct sv_shm *s, const struct ring_end *e,
			 const struct iovec *iov, int cnt)
{
	int64_t room = ring_room(e);
	size_t done = 0;
	bool rung = false;
	int i;

	if (room == 0 && !sv.spinning) {
		atomic_store_explicit(e->wait, e->arm, memory_order_relaxed);
		/* pairs with the fence in notify(): see its index, or it sees us */
		atomic_thread_fence(memory_order_seq_cst);
		room = ring_room(e);
	}
	if (room < 0)
		return room;
	if (room == 0)
		return -EAGAIN;
	for (i = 0; i < cnt && done < (size_t)room; i++) {
		size_t off = 0, len = iov[i].iov_len;

		if (len > (size_t)room - done)
			len = (size_t)room - done;
		while (off < len) {
			size_t n = len - off < SV_RING_STEP ? len - off :
							      SV_RING_STEP;

			ring_copy(e->data, *e->mine,
				  (uint8_t *)iov[i].iov_base + off, n,
				  e->producer);
			*e->mine += n;
			sv.shm_moved += n;
			off += n;
			/* producer: the bytes are in place before the tail is
			 * seen; consumer: our copy is done before the
			 * producer may overwrite the bytes */
			atomic_store_explicit(e->my_idx, *e->mine,
					      memory_order_release);
			/* once the first step of the whole call is in, not per
			 * iovec: a header and its payload are one doorbell */
			if (!rung && done + off >= SV_RING_STEP) {
				notify(s, e->wake);
				rung = true;
			}
		}
		done += len;
	}
	notify(s, e->wake);
	return (ssize_t)done;
}

ssize_t sv_shm_writev(struct sv_shm *s, const struct iovec *iov, int cnt)
{
	const struct ring_end e = {
		.data = s->tx, .mine = &s->tx_tail,
		.my_idx = &s->tx_ctl->tail, .peer_idx = &s->tx_ctl->head,
		.wait = &s->tx_ctl->want_space, .wake = &s->tx_ctl->want_data,
		.arm = SV_WANT_ALWAYS, .producer = true,
	};

	return ring_move(s, &e, iov, cnt);
}

ssize_t sv_shm_readv(struct sv_shm *s, const struct iovec *iov, int cnt)
{
	const struct ring_end e = {
		.data = s->rx, .mine = &s->rx_head,
		.my_idx = &s->rx_ctl->head, .peer_idx = &s->rx_ctl->tail,
		.wait = &s->rx_ctl->want_data, .wake = &s->rx_ctl->want_space,
		.arm = s->hot ? SV_WANT_HOT : SV_WANT_ALWAYS, .producer = false,
	};

	return ring_move(s, &e, iov, cnt);
}

void sv_shm_ack(struct sv_shm *s, uint32_t msn, bool signaled)
{
	/* release: every response written before it is in the ring first
	 * (the requester checks the ring is empty after its acquire) */
	atomic_store_explicit(&s->tx_ctl->acked, msn + 1, memory_order_release);
	/* the ack of an unsignaled request makes no completion: nothing to
	 * wake the requester for; a later signaled one covers it (acks are
	 * cumulative) */
	if (signaled)
		notify(s, &s->tx_ctl->want_ack);
}

/* Bytes wait in the rx ring: a hint only (relaxed), the reader then
 * loads with acquire. */
static bool rx_pending(const struct sv_shm *s)
{
	return atomic_load_explicit(&s->rx_ctl->tail, memory_order_relaxed) !=
	       s->rx_head;
}

bool sv_shm_acked(struct sv_shm *s, uint32_t *upto)
{
	/* pairs with the release in sv_shm_ack(): a response the responder
	 * wrote before this ack is visible in the ring now */
	uint32_t v = atomic_load_explicit(&s->rx_ctl->acked,
					  memory_order_acquire);

	if (atomic_load_explicit(&s->rx_ctl->tail, memory_order_acquire) !=
	    s->rx_head)
		return false; /* read those responses first: they come before */
	*upto = v;
	return true;
}

bool sv_shm_rx_news(const struct sv_shm *s, uint32_t acked_seen)
{
	/* a hint only (relaxed): the reader then loads with acquire */
	return atomic_load_explicit(&s->rx_ctl->acked, memory_order_relaxed) !=
		       acked_seen ||
	       rx_pending(s);
}

void sv_shm_want_ack(struct sv_shm *s)
{
	atomic_store_explicit(&s->rx_ctl->want_ack, 1, memory_order_relaxed);
	/* pairs with the fence in notify(): it sees the flag, or our next
	 * sv_shm_acked() sees its ack */
	atomic_thread_fence(memory_order_seq_cst);
}

bool sv_shm_set_hot(struct sv_shm *s, bool hot)
{
	uint32_t w = SV_WANT_HOT;

	s->hot = hot;
	if (hot)
		return false; /* armed HOT when it is next found empty */
	/* a producer that saw HOT and our awake word set rang nothing: from
	 * now on it rings, and we look once more */
	atomic_compare_exchange_strong(&s->rx_ctl->want_data, &w,
				       SV_WANT_ALWAYS);
	/* pairs with the fence in notify(): it sees ALWAYS, or we its tail */
	atomic_thread_fence(memory_order_seq_cst);
	return rx_pending(s);
}

bool sv_shm_rx_arrived(struct sv_shm *s)
{
	uint64_t tail = atomic_load_explicit(&s->rx_ctl->tail,
					     memory_order_relaxed);
	/* bytes the consumer left (a receive it waits for) count once */
	bool news = tail != s->rx_head && tail != s->hot_tail;

	s->hot_tail = tail;
	return news;
}
