/* SPDX-License-Identifier: BSD-3-Clause */
/* softverbs: private object layouts and functions of the verbs half (not for cm_*.c). */
#ifndef SV_PRIV_H
#define SV_PRIV_H

/*
 * Objects and locks
 *
 *   sv.lock (global mutex)  object tables (QPs, MRs), connections, epoll
 *                           registrations, QP state changes; held by the NIC
 *                           thread for a whole progress pass.
 *   qp->lock                send queue indices and QP state as read by
 *                           post_send; taken inside sv.lock.
 *   rq->lock                a receive queue (QP's own or an SRQ's).
 *   cq->lock                completion ring and arming.
 *   ctx->ev_lock            the context's async event queue.
 *
 *   Order: sv.lock -> qp->lock -> rq->lock -> cq->lock -> ctx->ev_lock.
 *   The data path entry points (post_send, post_recv, poll_cq) never block
 *   on sv.lock; they record work and kick the NIC thread (only the QP
 *   with new work: sv_kick_qp()). post_send, after releasing qp->lock,
 *   spins for sv.lock about a microsecond (sv_trylock_spin()) and, when
 *   it gets it, puts the new WQEs on a shared-memory ring itself
 *   (sv_wire_post()); poll_cq, when it is free, turns the peers' acks on
 *   the rings into completions (sv_cq_reap()). The NIC thread reads the
 *   send queue head and a CQ's count without the QP's and CQ's locks.
 *   They wait for it only when the send queue is full (post_send) and
 *   when arming a send CQ of ring connections (req_notify_cq).
 *
 * Data path
 *   post_send copies the WR (and inline data) into the send queue and kicks
 *   the NIC thread. The NIC thread executes each WQE in order: against an
 *   in-process peer directly (sv_exec_local(), a memcpy into the target MR),
 *   or by writing header + payload on the QP's requester connection (sv_wire.c,
 *   over shared-memory rings (sv_shm.c) or the socket itself); the remote
 *   NIC thread reads the payload straight into its MR and acknowledges.
 *   Over the rings, a large message from shared MR pages (sv_mrshare.c)
 *   carries references instead, and the remote NIC thread copies straight
 *   from (or, for a READ, into) the requester's memory, mapped there.
 *   Send completions are generated in send-queue order on
 *   execution (in-process) or acknowledgement (cross-process).
 */

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/uio.h>
#include <infiniband/verbs.h>

#include "sv_internal.h"

#define SV_MAX_SGE 32
#define SV_MAX_INLINE 256
#define SV_MAX_QP_WR 16384
#define SV_MAX_CQE 65536
#define SV_MAX_MSG (1u << 31)
#define SV_ASYNC_QUEUE 256 /* async events a context holds */
#define SV_RNR_STEP_NS 2000000ull /* wait per RNR retry */
#define SV_HOT_MAX 64 /* hot list: its look before a sleep reads this many tails */
#define SV_container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

struct sv_context {
	struct sv_owner owner;
	int async_wfd; /* write end of the async event pipe */
	pthread_mutex_t ev_lock;
	struct ibv_async_event ev[SV_ASYNC_QUEUE];
	bool ev_dropped[SV_ASYNC_QUEUE]; /* its object was destroyed first */
	unsigned int ev_head, ev_count;
	struct verbs_context vctx; /* must be last: ibv_context is its last field */
};

struct sv_pd {
	struct ibv_pd ibv;
	struct sv_owner owner;
};

struct sv_mr {
	struct ibv_mr ibv;
	struct sv_owner owner;
	uint64_t iova;
	unsigned int access;
	struct sv_mrshare *share; /* pages a peer process may map, or NULL */
};

struct sv_channel {
	struct ibv_comp_channel ibv;
	struct sv_owner owner;
	int wfd; /* write end: CQ pointers */
};

struct sv_cq {
	struct ibv_cq ibv;
	struct sv_owner owner;
	pthread_mutex_t lock;
	struct ibv_wc *ring;
	uint32_t cap, head;
	/* entries; written under lock, peeked without by poll_cq (an empty
	 * CQ costs a busy poller no lock the NIC thread then waits for) */
	_Atomic uint32_t count;
	/* 0, 1 = any, 2 = solicited only; written under lock, read without
	 * by sv_wire.c (seq_cst with shm_reqs: see conn_use_shm()) */
	_Atomic int armed;
	bool overflowed;
	int refs; /* 1 for the application + 1 per QP; under sv.lock */
	struct sv_qp *sq_qps; /* QPs sending to it (qp->scq_next); sv.lock */
	/* of those, requester connections on rings: their acks are reaped
	 * by ibv_poll_cq (sv_wire_reap()) */
	_Atomic int shm_reqs;
	unsigned int async_reported; /* events fetched; under ctx->ev_lock */
	struct sv_context *ctx;
};

struct sv_rwqe {
	uint64_t wr_id;
	uint32_t num_sge;
	struct ibv_sge *sge;
};

/* A receive queue: a QP's own or an SRQ. */
struct sv_rq {
	pthread_mutex_t lock;
	struct sv_rwqe *wqe;
	struct ibv_sge *sges;
	uint32_t cap, max_sge;
	uint32_t head, count; /* head = oldest */
	uint32_t limit; /* SRQ limit (0 = disarmed) */
};

struct sv_srq {
	struct ibv_srq ibv;
	struct sv_owner owner;
	struct sv_rq rq;
	unsigned int async_reported; /* events fetched; under ctx->ev_lock */
	struct sv_context *ctx;
};

struct sv_swqe {
	uint64_t wr_id;
	enum ibv_wr_opcode opcode;
	unsigned int send_flags;
	uint32_t imm; /* raw __be32 bits, never swapped */
	uint32_t rkey;
	uint64_t raddr;
	uint32_t num_sge;
	uint32_t len; /* total payload length */
	uint32_t msn; /* message number on the wire (cross-process) */
	int status; /* set when a local error is found at execution */
	uint64_t rnr_deadline; /* ns, 0 = none (in-process RNR) */
	uint64_t post_ns; /* when posted (only with SOFTVERBS_DELAY_US) */
	struct ibv_sge *sge;
	uint8_t *inl; /* inline payload (IBV_SEND_INLINE) */
};

struct sv_conn;

struct sv_qp {
	struct ibv_qp ibv;
	struct sv_owner owner;
	pthread_mutex_t lock;
	enum ibv_qp_state state;
	struct ibv_qp_attr attr;
	struct ibv_qp_cap cap;
	bool sq_sig_all;
	struct sv_cq *scq, *rcq;
	struct sv_srq *srq;
	struct sv_context *ctx;
	unsigned int async_reported; /* events fetched; under ctx->ev_lock */
	/* send queue: [done, tx) executed, awaiting ack; [tx, head) posted;
	 * tx under sv.lock only, done also under lock (post_send reads it) */
	struct sv_swqe *sq;
	struct ibv_sge *sq_sges;
	uint8_t *sq_inl;
	uint32_t sq_cap, sq_tx, sq_done;
	/* written under lock by post_send (release, after the WQEs), read
	 * without by the NIC thread: sv_sq_head() */
	_Atomic uint32_t sq_head;
	struct sv_rq rq;
	/* connection */
	uint32_t dest_qpn;
	bool connected; /* has been to RTR with a destination */
	struct sv_qp *peer; /* in-process target, or NULL */
	struct sv_conn *req; /* cross-process: our requests out, responses in */
	struct sv_conn *resp; /* cross-process: their requests in */
	struct sv_ep *lep; /* listening socket @softverbs/qp/<qpn> */
	_Atomic bool peer_gone;
	unsigned long nmsgs; /* messages executed (fault injection) */
	/* SOFTVERBS_DELAY_US (NIC thread): message delay_seq (send queue
	 * index) may go at delay_due (ns); valid once delay_set */
	uint64_t delay_due;
	uint32_t delay_seq;
	bool delay_set;
	struct sv_qp *next; /* sv.qps list */
	struct sv_qp *scq_next; /* scq->sq_qps list */
	struct sv_qp *ready_next; /* sv.ready stack (see sv_nic_ready()) */
	_Atomic bool on_ready;
};

/* An epoll registration of the NIC thread; freed only by the NIC thread. */
enum sv_ep_type {
	SV_EP_KICK,
	SV_EP_LISTEN,
	SV_EP_CONN,
	SV_EP_USER,
	SV_EP_TIMER, /* wakes the NIC thread when a delayed message is due */
	SV_EP_BELL, /* a connection's shared-memory doorbell (sv_shm.c) */
	SV_EP_WAKE, /* the awake page's doorbell: look at the hot rings */
};
struct sv_ep {
	enum sv_ep_type type;
	int fd;
	bool dead;
	void *obj; /* sv_qp for LISTEN, sv_conn for CONN, arg for USER */
	sv_watch_fn fn;
	struct sv_ep *next; /* sv.eps or sv.dead_eps */
};

struct sv_global {
	pthread_mutex_t lock;
	struct sv_config cfg;
	pid_t pid;
	bool forked_child;
	bool nic_running; /* false in a forked child until sv_nic_ensure() */
	struct ibv_device *dev;
	struct sv_qp *qps;
	/* MRs by key index: key = index << 8 | generation */
	struct sv_mr **mrs;
	uint32_t mrs_cap;
	uint8_t *mr_gen;
	uint32_t next_qpn;
	int epfd, kickfd;
	_Atomic int kick_pending;
	/* what the NIC thread looks at after a kick: every QP (kick_all,
	 * sv_kick()) or only those on the ready list (sv_kick_qp()) */
	_Atomic int kick_all;
	_Atomic(struct sv_qp *) ready; /* lock-free stack: push, take all */
	pthread_t nic;
	struct sv_ep *eps, *dead_eps;
	pthread_mutex_t cb_lock; /* held while USER callbacks run */
	_Atomic int rnr_waiters; /* stalls with a deadline: poll the clock */
	int timerfd;	  /* armed for wake_at */
	uint64_t wake_at; /* NIC thread: earliest delayed message, 0 = none */
	/* shared-memory rings (sv_shm.c), under sv.lock */
	uint64_t shm_moved; /* bytes moved through rings, ever */
	bool spinning; /* the NIC thread polls: rings ask for no doorbell */
	/* ring connections the NIC thread reads again before each sleep, so
	 * their producers skip the doorbell while it is awake (sv_wire.c) */
	struct sv_conn *hot[SV_HOT_MAX];
	uint32_t nhot;
	_Atomic int lock_wanted; /* application threads waiting for sv.lock */
};

extern struct sv_global sv;

/* sv_main.c */
uint64_t sv_now_ns(void);
/* sv.lock for an application thread (a spinning NIC thread lets it in). */
void sv_lock(void);
/* sv.lock if it comes free within about a microsecond (see sv_main.c). */
bool sv_trylock_spin(void);
int sv_gettid(void);
/* Wake the NIC thread to look at every QP, or only at @qp. */
void sv_kick(void);
void sv_kick_qp(struct sv_qp *qp);
/* Put @qp on the ready list without a kick (the NIC thread, or a thread
 * that kicks next): its next pass progresses it. */
void sv_nic_ready(struct sv_qp *qp);
/* Take @qp off the ready list (destroy; sv.lock held). */
void sv_nic_unready(struct sv_qp *qp);
struct sv_context *sv_ctx(struct ibv_context *ctx);
void sv_async_event(struct sv_context *ctx, const struct ibv_async_event *ev);
void sv_async_quiesce(struct sv_context *ctx, const struct ibv_async_event *ev);
int sv_nic_start(void);
int sv_nic_ensure(void);
void sv_nic_add_ep(struct sv_ep *ep, uint32_t events);
void sv_nic_del_ep(struct sv_ep *ep);

/* sv_device.c */
void sv_device_init(void);

/* sv_verbs.c */
struct sv_mr *sv_mr_lookup(uint32_t key);
int sv_sge_to_iov(struct ibv_pd *pd, const struct ibv_sge *sge, uint32_t n,
		  unsigned int need, struct iovec *iov, uint32_t *iovcnt,
		  uint64_t *total);
void sv_cq_push(struct sv_cq *cq, const struct ibv_wc *wc, bool solicited);
void sv_cq_put(struct sv_cq *cq);
/* Reap the acks of @cq's ring connections into it (application thread;
 * @wait: take sv.lock even if busy, else only when free). */
void sv_cq_reap(struct sv_cq *cq, bool wait);
int sv_rq_init(struct sv_rq *rq, uint32_t cap, uint32_t max_sge);
void sv_rq_fini(struct sv_rq *rq);
/* *@was_empty: the queue held no receive before (see sv_post_recv()). */
int sv_rq_post(struct sv_rq *rq, struct ibv_recv_wr *wr,
	       struct ibv_recv_wr **bad, bool *was_empty);
bool sv_rq_take(struct sv_rq *rq, struct sv_rwqe *out, struct ibv_sge *sges);
int sv_post_srq_recv(struct ibv_srq *srq, struct ibv_recv_wr *wr,
		     struct ibv_recv_wr **bad);
int sv_poll_cq(struct ibv_cq *cq, int n, struct ibv_wc *wc);
int sv_req_notify_cq(struct ibv_cq *cq, int solicited_only);
void sv_srq_check_limit(struct sv_srq *srq);

/* sv_qp.c */
int sv_post_send(struct ibv_qp *qp, struct ibv_send_wr *wr,
		 struct ibv_send_wr **bad);
int sv_post_recv(struct ibv_qp *qp, struct ibv_recv_wr *wr,
		 struct ibv_recv_wr **bad);
struct sv_qp *sv_qp_lookup(uint32_t qpn);
/* The send queue's head: posted WQEs before it are complete in memory. */
uint32_t sv_sq_head(struct sv_qp *qp);
void sv_qp_set_err(struct sv_qp *qp);
void sv_qp_fatal(struct sv_qp *qp, bool peer_gone);
void sv_qp_drop(struct sv_qp *qp);
void sv_qp_check_gone(struct sv_qp *qp);
void sv_sq_complete(struct sv_qp *qp, int status);
void sv_qp_flush(struct sv_qp *qp);

/* sv_nic.c: execution of work requests (sv.lock held) */
/* A request as seen by the target QP. */
struct sv_req {
	uint8_t op; /* enum ibv_wr_opcode */
	bool solicited;
	uint8_t rnr_retry;
	uint32_t imm;
	uint32_t rkey;
	uint64_t addr;
	uint32_t len;
};
struct sv_target {
	int req_status; /* for the requester's completion */
	int recv_status; /* for the consumed receive, if any */
	bool has_rwqe;
	struct sv_rwqe rwqe;
	struct ibv_sge rsge[SV_MAX_SGE];
	struct iovec iov[SV_MAX_SGE];
	uint32_t iovcnt;
};
enum sv_prep { SV_PREP_OK, SV_PREP_STALL, SV_PREP_ERR };
enum sv_prep sv_target_prepare(struct sv_qp *t, const struct sv_req *r,
			       struct sv_target *tg, uint64_t *rnr_deadline);
void sv_target_finish(struct sv_qp *t, const struct sv_req *r,
		      struct sv_target *tg);
void sv_qp_progress(struct sv_qp *qp);
void sv_fault_count(struct sv_qp *qp);
/* SOFTVERBS_DELAY_US: may @w, send queue entry @seq and the oldest
 * unexecuted message of @qp, be executed now? If not, the NIC thread wakes
 * when it is due (NIC thread). */
bool sv_delay_ready(struct sv_qp *qp, const struct sv_swqe *w, uint32_t seq);
int sv_local_iov(struct sv_qp *qp, struct sv_swqe *w, struct iovec *iov,
		 uint32_t *cnt);
/* Copy @len bytes from @src to @dst; @peer: one side is another process's
 * memory (see sv_peer_copy()). */
size_t sv_iov_copy(const struct iovec *dst, uint32_t dcnt,
		   const struct iovec *src, uint32_t scnt, size_t len, bool peer);
/* memcpy between this process's memory and a peer process's (a ring, or
 * its MR mapped here): not instrumented under ThreadSanitizer. */
void sv_peer_copy(void *d, const void *s, size_t n);

/* sv_wire.c: cross-process transport (sv.lock held) */
int sv_wire_listen(struct sv_qp *qp);
void sv_wire_unlisten(struct sv_qp *qp);
void sv_wire_connect(struct sv_qp *qp);
void sv_wire_close_qp(struct sv_qp *qp, bool graceful);
void sv_wire_progress(struct sv_qp *qp);
/* Application thread after a post (takes sv.lock if free): true when it
 * put every posted WQE on the ring itself, so no kick is needed. */
bool sv_wire_post(struct sv_qp *qp);
/* Application thread, sv.lock held: acks of the rings to completions
 * (reap: also read the responses waiting; reap_acks: only the counter). */
void sv_wire_reap(struct sv_qp *qp);
void sv_wire_reap_acks(struct sv_qp *qp);
/* Arming the send CQ: the peer rings for the next ack (sv.lock held). */
void sv_wire_want_ack(struct sv_qp *qp);
/* An event of a connection's socket or doorbell: its QP, or NULL. */
struct sv_qp *sv_wire_event(struct sv_ep *ep, uint32_t events);
void sv_wire_accept(struct sv_ep *ep);
/* NIC thread, before it sleeps (sv.lock held): clear the awake word and
 * read the hot rings; true when messages came (their QPs are on the
 * ready list and the word is set again: do not sleep). */
bool sv_wire_hot_check(void);
void sv_conn_free(struct sv_conn *c);

/* sv_shm.c: a small message with up to 5 fds (SCM_RIGHTS) on a unix socket,
 * whole or not at all, never blocking: 0 or -errno. */
int sv_send_fds(int sock, const void *msg, size_t len, const int *fds,
		int nfds);
/* @len bytes of memfd @fd mapped shared, not into forked children; NULL
 * with errno. */
void *sv_shm_map(int fd, size_t len);
/* The process at the other end of unix socket @sock runs as our user. */
bool sv_peer_is_us(int sock);
/* Receive one: bytes or -errno; @fds gets the message's fds, at most
 * @nfds, the rest -1 (a message with more has them all closed). */
ssize_t sv_recv_fds(int sock, void *msg, size_t len, int *fds, int nfds);

/* sv_shm.c: a connection's two byte streams as rings in shared memory */
struct sv_shm;
/* Requester: create the rings, send them on @sock; NULL: use the socket. */
struct sv_shm *sv_shm_offer(int sock);
/* Accepted side: 1 with *out set when the peer offered rings, 0 for the
 * socket stream, -EAGAIN before the first byte, or another -errno. */
int sv_shm_accept(int sock, struct sv_shm **out);
/* Like sendmsg()/recvmsg() on the rings: bytes, -EAGAIN, or -EPROTO. */
ssize_t sv_shm_writev(struct sv_shm *s, const struct iovec *iov, int cnt);
ssize_t sv_shm_readv(struct sv_shm *s, const struct iovec *iov, int cnt);
int sv_shm_bell_fd(const struct sv_shm *s);
/* Requester: read the accepting side's awake page from @sock (its only
 * message there): 0, or -EPROTO for anything else. */
int sv_shm_recv_awake(struct sv_shm *s, int sock);
/* Our NIC thread's hot list holds the connection (@hot) or not: arm the
 * rx ring HOT or ALWAYS. Leaving it, true when bytes wait in the ring
 * (the caller reads them: no doorbell will come for them). */
bool sv_shm_set_hot(struct sv_shm *s, bool hot);
/* Bytes came into the rx ring since the last call and wait there (a
 * relaxed look, as for sv_shm_rx_news()); bytes the consumer leaves
 * there (no receive posted) count only once. */
bool sv_shm_rx_arrived(struct sv_shm *s);
/* Responder: requests up to @msn are executed (rings if asked to). */
void sv_shm_ack(struct sv_shm *s, uint32_t msn, bool signaled);
/* Requester: false while responses wait in the ring (they come first);
 * else true with *@upto = the responder's last msn + 1 (0 = none yet). */
bool sv_shm_acked(struct sv_shm *s, uint32_t *upto);
/* Requester: has the peer acked past @acked_seen or written a response?
 * Two reads of cache lines the peer rarely writes: the cheap look of a
 * busy-polling ibv_poll_cq. */
bool sv_shm_rx_news(const struct sv_shm *s, uint32_t acked_seen);
/* Requester: ask for the doorbell at the next ack (one-shot). */
void sv_shm_want_ack(struct sv_shm *s);
/* Close the doorbells (the rings stay mapped); then free (NULL is fine). */
void sv_shm_close(struct sv_shm *s);
void sv_shm_free(struct sv_shm *s);

/* sv_awake.c: the word peers look at before ringing a HOT ring's doorbell */
#define SV_AWAKE_BYTES 4096u /* the page: a sealed one-page memfd */
enum {
	SV_AWAKE_ASLEEP = 0, /* in epoll_wait(): the first producer rings */
	SV_AWAKE_AWAKE = 1, /* reads its hot rings before it sleeps */
	SV_AWAKE_WOKEN = 2, /* a producer rang; so is the next state */
};
/* Create this process's page (the NIC thread's start): 0 or -errno. */
int sv_awake_init(void);
/* Unmap and close it (the NIC thread did not start). */
void sv_awake_fini(void);
/* Forked child: the parent's page is not ours (its mapping is gone). */
void sv_awake_forget(void);
/* The page's fd and its doorbell (an eventfd the NIC thread watches), to
 * hand to ring peers; -1 when there is none. */
int sv_awake_fd(void);
int sv_awake_bell(void);
/* NIC thread: set after epoll_wait(); clear, with a full fence, before the
 * last look at the hot rings (see sv_wire_hot_check()). */
void sv_awake_set(void);
void sv_awake_clear(void);

/* sv_mrshare.c: registered memory a peer process maps (one copy per byte) */
struct sv_mrshare;
/* Move the MR's whole pages onto a memfd; NULL when not eligible. */
struct sv_mrshare *sv_mrshare_new(void *addr, size_t length);
/* Give the pages back to private memory (deregistration, forked child). */
void sv_mrshare_unshare(struct sv_mrshare *s);
void sv_mrshare_free(struct sv_mrshare *s);
uint32_t sv_mrshare_id(const struct sv_mrshare *s);
/* Offset of [@p, @p + @len) in the memfd; false when not all shared. */
bool sv_mrshare_offset(const struct sv_mrshare *s, const void *p, size_t len,
		       uint64_t *off);
/* Control messages on a connection's socket: the memfd, or forget it. */
int sv_mrshare_send(int sock, const struct sv_mrshare *s);
int sv_mrshare_send_drop(int sock, uint32_t id);
/* The peer's MRs this process has mapped (per connection). */
struct sv_peer_mrs;
/* Read the control messages waiting on @sock (allocates *@pp); 0 or -errno. */
int sv_peer_mrs_recv(int sock, struct sv_peer_mrs **pp);
/* Where bytes [@off, @off + @len) of peer MR @id are mapped, or NULL. */
uint8_t *sv_peer_mrs_find(const struct sv_peer_mrs *p, uint32_t id,
			  uint64_t off, uint32_t len);
void sv_peer_mrs_free(struct sv_peer_mrs *p);
/* sv_wire.c: tell the peers that were given MR @id to unmap it. */
void sv_wire_mr_gone(uint32_t id);

#endif /* SV_PRIV_H */
