/* SPDX-License-Identifier: BSD-3-Clause */
/* softverbs rdma_cm: internal objects, wire messages and helpers of the cm_*.c files. */
#ifndef CM_INTERNAL_H
#define CM_INTERNAL_H

/*
 * How the rdma_cm half works
 *
 * Port space: an rdma_cm address ip:port is the abstract unix socket
 * "@softverbs/cm/<ip>:<port>" (IPv6 as "[ip]:port"), SOCK_SEQPACKET. A
 * listening id listens on it; an active id binds its socket to its own
 * source address (so ports are allocated like the kernel does) and connects
 * to the listener. The TCP port of the same number is untouched.
 *
 * Handshake over that socket, one struct cm_msg per packet, as IB CM:
 *   active                      passive
 *   REQ (qpn, gid, psn, pdata) ->          CONNECT_REQUEST (child id)
 *                              <- REP      (rdma_accept)   or REJ (rdma_reject)
 *   CONNECT_RESPONSE, or ESTABLISHED once its QP is in RTS
 *   RTU                        ->          ESTABLISHED
 *   DREQ                       <->         DISCONNECTED on both sides
 * The death of the peer (EOF: no process holds the other end any more)
 * gives DISCONNECTED once connected, UNREACHABLE while connecting. A forked
 * child inherits sockets but never sends on them (sv_forked_child()).
 *
 * Threads: a cm progress thread (cm_progress.c) reads the sockets and queues
 * raw events; everything that touches verbs objects (QP transitions, the
 * default PD) runs in the application thread that retrieves the event, as
 * librdmacm does in rdma_get_cm_event(). All cm state is under cm_lock.
 * Lock order: the progress dispatch lock, then cm_lock. Application threads
 * never call cm_watch()/cm_unwatch() with cm_lock held.
 */

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <rdma/rdma_cma.h>
#include <rdma/rdma_verbs.h>

#include "sv_internal.h"

#define CM_SOCK_PREFIX "softverbs/cm/"
#define CM_MSG_MAGIC 0x4d435653u /* "SVCM" */
#define CM_PDATA_MAX 256 /* RDMA_MAX_PRIVATE_DATA */
/* IB CM private data sizes as rdma_cm delivers them (RDMA_PS_TCP). */
#define CM_REQ_PDATA 56
#define CM_REP_PDATA 196
#define CM_REJ_PDATA 148
/* IB CM reject reason for a consumer reject (rdma_reject). */
#define CM_REJ_CONSUMER_DEFINED 28
#define CM_PORT_MIN 32768
#define CM_PORT_MAX 60999
#define CM_LISTEN_BACKLOG 1024
/* QP attributes the kernel's IB CM programs. */
#define CM_QP_TIMEOUT 14
#define CM_MIN_RNR_TIMER 12
#define CM_HOP_LIMIT 64

enum cm_msg_type {
	CM_MSG_REQ = 1,
	CM_MSG_REP,
	CM_MSG_REJ,
	CM_MSG_RTU,
	CM_MSG_DREQ,
};

/* One handshake message; same host, so native byte order. */
struct cm_msg {
	uint32_t magic;
	uint16_t type;
	uint16_t pdata_len;
	uint32_t qpn;
	uint32_t psn;
	int32_t status;
	uint8_t resp_res;
	uint8_t init_depth;
	uint8_t retry_count;
	uint8_t rnr_retry_count;
	uint8_t flow_control;
	uint8_t srq;
	uint8_t mtu;
	uint8_t pad;
	union ibv_gid gid;
	struct sockaddr_storage src;
	struct sockaddr_storage dst;
	uint8_t pdata[CM_PDATA_MAX];
};

/* Lifecycle of a cm_id. */
enum cm_state {
	/* created; nothing bound */
	CM_IDLE,
	/* rdma_bind_addr: socket bound to the address */
	CM_ADDR_BOUND,
	/* ADDR_RESOLVED queued: source bound, device set */
	CM_ADDR_RESOLVED,
	/* ROUTE_RESOLVED queued: may connect */
	CM_ROUTE_RESOLVED,
	/* listening on its abstract socket */
	CM_LISTEN,
	/* active: REQ sent, waiting for REP or REJ */
	CM_CONNECT_SENT,
	/* active: CONNECT_RESPONSE queued, no RTU sent yet */
	CM_REP_RCVD,
	/* passive child: accepted socket, no REQ read yet */
	CM_REQ_WAIT,
	/* passive child: CONNECT_REQUEST queued or being handled */
	CM_REQ_RCVD,
	/* passive: accepted, waiting for RTU */
	CM_REP_SENT,
	/* ESTABLISHED on this side */
	CM_CONNECTED,
	/* DISCONNECTED queued (once per connection) */
	CM_DISCONNECTED,
	/* REJ sent or received */
	CM_REJECTED,
	/* UNREACHABLE or CONNECT_ERROR queued */
	CM_FAILED,
};

struct cm_event;

/* Event channel: an epoll fd over an eventfd that counts the queued events. */
struct cm_channel {
	struct rdma_event_channel ch; /* ch.fd: epoll fd watching efd */
	int efd; /* EFD_SEMAPHORE | EFD_NONBLOCK: count == queued events */
	struct sv_owner owner;
	struct cm_event *head; /* FIFO of queued, not yet retrieved events */
	struct cm_event **tailp;
	/*
	 * Under cm_lock: threads blocked in rdma_get_cm_event() on ch.fd, and
	 * whether rdma_destroy_event_channel() ran meanwhile: then the channel
	 * waits on a list of dead channels until its last waiter returns and
	 * frees it (a waiter that is cancelled never returns: it stays there).
	 */
	unsigned int waiters;
	bool dead;
	struct cm_channel *next_dead;
};

struct cm_id {
	struct rdma_cm_id id; /* what the application sees; first member */
	struct sv_owner owner;
	struct cm_id *next; /* all ids of the process (cm_ids) */
	struct cm_channel *chan; /* == id.channel */
	enum cm_state state;
	int fd; /* bound, listening or connected socket; -1 = none */
	pid_t pid; /* process that created the socket */
	bool sync; /* created without a channel: private channel */
	bool bound; /* fd bound to route.addr.src_addr */
	bool destroying;
	bool peer_gone; /* EOF seen on fd */
	bool user_owned; /* passive child: CONNECT_REQUEST retrieved */
	struct cm_id *listen; /* passive child: its listener until retrieved */
	unsigned int reported; /* events retrieved by rdma_get_cm_event */
	unsigned int acked; /* events acknowledged */
	/* Connection parameters, this side's view. */
	uint8_t resp_res;
	uint8_t init_depth;
	uint8_t retry_count;
	uint8_t rnr_retry_count;
	uint32_t psn;
	uint32_t peer_qpn;
	uint32_t peer_psn;
	uint8_t peer_mtu;
	union ibv_gid peer_gid;
	struct ibv_sa_path_rec path; /* route.path_rec once connected */
	/* rdma_create_ep state */
	struct ibv_qp_init_attr *ep_qp_attr;
	void *ep_connect;
	size_t ep_connect_len;
};

struct cm_event {
	struct rdma_cm_event ev; /* what the application sees; first member */
	struct cm_event *next;
	struct cm_id *owner; /* id whose reported/acked counters it uses */
	struct cm_id *target; /* id the event is about (child for a request) */
	uint8_t pdata[CM_PDATA_MAX];
};

extern pthread_mutex_t cm_lock;
extern pthread_cond_t cm_cond; /* broadcast on every ack and state change */

/* cm_channel.c */
struct cm_channel *cm_channel_new(void);
void cm_channel_free(struct cm_channel *c);
/* cm_lock held: a thread starts / stops waiting on @c's fd; true: release it. */
void cm_channel_wait_begin(struct cm_channel *c);
bool cm_channel_wait_end(struct cm_channel *c);
/* Close the fds and free a channel nobody uses any more (no cm_lock). */
void cm_channel_release(struct cm_channel *c);
struct cm_channel *cm_channel_of(struct rdma_event_channel *ch);
/* Queue an event (cm_lock held). @pdata_len bytes of @pdata, padded to @pad. */
int cm_queue_event(struct cm_id *owner, struct cm_id *target,
		   enum rdma_cm_event_type type, int status,
		   const struct cm_msg *msg, unsigned int pad);
/* Pop the oldest queued event or NULL (cm_lock held). */
struct cm_event *cm_channel_pop(struct cm_channel *c);
/* Remove queued events of @id from its channel (cm_lock held). */
void cm_channel_drop(struct cm_channel *c, struct cm_id *id);
/* Move @id and its queued events to @to (cm_lock held). */
void cm_channel_move(struct cm_id *id, struct cm_channel *to);

/* cm_id.c */
struct cm_id *cm_id_of(struct rdma_cm_id *id);
struct cm_id *cm_id_alloc(struct cm_channel *chan, void *context,
			  enum rdma_port_space ps);
void cm_id_unlink_free(struct cm_id *c);
/* Attach the device context and default PD (application thread). */
int cm_id_set_device(struct cm_id *c);
/* Fill route.addr.addr.ibaddr and route.path_rec from the peer data. */
void cm_id_fill_route(struct cm_id *c);
/* Wait for the next event of a synchronous id (librdmacm's ucma_complete). */
int cm_sync_complete(struct cm_id *c);
/* librdmacm's convention: errno = @err, return -1. */
int cm_err(int err);
uint8_t cm_port_mtu(void);
/* The device's max_qp_rd_atom and max_qp_init_rd_atom. */
void cm_dev_limits(uint8_t *max_resp_res, uint8_t *max_init_depth);

/* cm_addr.c */
bool cm_addr_is_local(const struct sockaddr *sa);
bool cm_addr_is_any(const struct sockaddr *sa);
socklen_t cm_addr_len(const struct sockaddr *sa);
uint16_t cm_addr_port(const struct sockaddr *sa); /* host order */
void cm_addr_set_port(struct sockaddr *sa, uint16_t port);
/* The abstract socket address of @sa; returns its length. */
socklen_t cm_addr_sun(const struct sockaddr *sa, struct sockaddr_un *sun);
/* A local source address to reach @dst (loopback for wildcards). */
void cm_addr_source_for(const struct sockaddr *dst,
			struct sockaddr_storage *src);
/* GID of a local address: GID 0 of softverbs0. */
void cm_local_gid(union ibv_gid *gid);
/* Socket bound to @sa (port 0: an ephemeral port, written back). */
int cm_bind_socket(struct sockaddr_storage *sa);

/* cm_wire.c */
int cm_send(struct cm_id *c, struct cm_msg *m);
void cm_msg_init(struct cm_msg *m, enum cm_msg_type type, const void *pdata,
		 unsigned int pdata_len);
void cm_conn_ready(void *arg, uint32_t events);
void cm_listen_ready(void *arg, uint32_t events);

/* cm_qp.c */
int cm_qp_to_rtr(struct cm_id *c, struct ibv_qp *qp);
int cm_qp_to_rts(struct cm_id *c, struct ibv_qp *qp);
void cm_qp_to_err(struct cm_id *c);

/* cm_progress.c: the cm progress thread's fd watch list. */
typedef void (*cm_watch_fn)(void *arg, uint32_t events);
int cm_watch(int fd, cm_watch_fn fn, void *arg);
void cm_unwatch(int fd);

#endif /* CM_INTERNAL_H */
