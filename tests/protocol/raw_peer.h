/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring tests: a scripted raw-verbs peer speaking Valkey's RDMA protocol. */
#ifndef RAW_PEER_H
#define RAW_PEER_H

/*
 * An independent implementation of the Valkey 8 RDMA transport (src/rdma.c)
 * written straight against libibverbs and librdmacm, for tests: it talks to
 * rdmaring (or to another raw peer) in either role and checks what the other
 * side does, byte by byte. It deliberately shares no code with the engine's
 * wire state machines (engine/wire_send.c, wire_recv.c); it only uses the
 * constants of engine/wire_msg.h and builds and parses every 32-byte control
 * message by hand.
 *
 * What it does, as Valkey does: rdma_cm with RDMA_PS_TCP and an event
 * channel, one RC QP (send queue 1024, CQ 2048, its own completion channel),
 * 1024 posted 32-byte receives reposted after use, a page-aligned receive
 * buffer (LOCAL_WRITE | REMOTE_READ | REMOTE_WRITE) advertised with
 * RegisterXferMemory when the connection is established and again when it
 * has been completely written and completely consumed; data as
 * RDMA_WRITE_WITH_IMM with imm_data = htonl(byte count), never past the
 * advertised window, waiting for the re-advertisement when the window is
 * full; GetServerFeature / SetClientFeature answered as Valkey does;
 * keepalives sent (server, every keepalive_ms) and accepted.
 *
 * It checks the other side: control messages (byte_len, opcode, advertised
 * length and rkey, feature bits), every write-with-imm (count == byte_len,
 * inside our buffer, not before our advertisement), the window protocol
 * (re-advertisement only of a completely written window). A violation is
 * recorded (raw_peer_violation()) and closes the connection, as a compliant
 * peer should.
 *
 * Misbehaviour (struct raw_peer_opts.misbehave) makes it break the protocol
 * on purpose, one violation per peer; see enum raw_peer_misbehave.
 *
 * Threads: single-threaded. A peer object is used by exactly one thread (the
 * one that created it), which keeps softverbs' strict mode happy. Every
 * blocking call takes an absolute deadline (raw_peer_deadline()) and
 * returns -ETIMEDOUT when it passes: a test never hangs.
 *
 * Against rdmaring: the engine runs its own poller and IO threads, so the
 * raw peer can block in the test's thread. Engine as server:
 * port = rring_listen(e, "127.0.0.1", 0, ...); raw_peer_connect(); then
 * raw_peer_send() a pattern and check it in the RECV handler, or have the
 * handler rring_conn_send() and raw_peer_recv() it. Engine as client:
 * raw_peer_listen(port 0); rring_connect(e, "127.0.0.1",
 * raw_peer_port(p), ...); raw_peer_accept(). Misbehaviour: set
 * opts.misbehave, connect, raw_peer_misbehave(), then raw_peer_wait_closed()
 * must return 0 (the engine closed) and the engine must report CLOSED with
 * an error status for that connection only.
 *
 * Errors: 0 or a positive count, or a negative errno: -ETIMEDOUT deadline,
 * -ECONNRESET the connection is closed (peer disconnected or flushed),
 * -EPROTO the peer broke the protocol (see raw_peer_violation()),
 * -ECONNABORTED we disconnected on purpose (RAW_PEER_DISCONNECT_MID).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "wire_msg.h"

struct raw_peer;

enum raw_peer_misbehave {
	RAW_PEER_BEHAVE = 0,
	/* raw_peer_misbehave(): a control message of 16 bytes (a keepalive
	 * cut short) instead of 32. */
	RAW_PEER_BAD_BYTE_LEN,
	/* raw_peer_misbehave(): a 32-byte control message with opcode
	 * misbehave_value (default 7). */
	RAW_PEER_UNKNOWN_OPCODE,
	/* At establishment, instead of our real advertisement: length
	 * misbehave_value (default 32 KiB, below the 64 KiB minimum). */
	RAW_PEER_ADV_BAD_LENGTH,
	/* At establishment, instead of our real advertisement: rkey 0. */
	RAW_PEER_ADV_ZERO_RKEY,
	/* raw_peer_misbehave(): once the peer's window is known, write 4 KiB
	 * legitimately, then one write of (window left + 4 KiB) bytes at the
	 * start of the peer's buffer (inside its MR, so no NIC check fires),
	 * imm = that count: the peer's write offset would pass its length. */
	RAW_PEER_WRITE_OVERRUN,
	/* raw_peer_misbehave(): once the window is known, a 1-byte write
	 * whose immediate says (peer buffer length + 64 KiB). */
	RAW_PEER_IMM_TOO_LARGE,
	/* At establishment, before we look at any control message: a
	 * zero-length RDMA_WRITE_WITH_IMM (no SGE, rkey 0: no memory access,
	 * so legal on any NIC) whose immediate says 4096 bytes. A receiver
	 * either has not advertised yet or sees a count that does not match
	 * byte_len: both are violations. */
	RAW_PEER_WRITE_BEFORE_ADV,
	/* raw_peer_recv() consumes at most consume_chunk bytes at a time and
	 * waits consume_delay_us before each step. */
	RAW_PEER_SLOW_CONSUMER,
	/* raw_peer_send() stops after disconnect_after bytes of the stream
	 * have been posted, waits for their completion, and disconnects. */
	RAW_PEER_DISCONNECT_MID,
};

struct raw_peer_opts {
	uint32_t rx_size; /* receive buffer; 0: 1 MiB; 64 KiB..16 MiB */
	enum raw_peer_misbehave misbehave;
	uint32_t misbehave_value;  /* opcode / advertised length, see above */
	uint32_t consume_chunk;	   /* SLOW_CONSUMER; 0: 4096 */
	uint32_t consume_delay_us; /* SLOW_CONSUMER; 0: 1000 */
	uint64_t disconnect_after; /* DISCONNECT_MID: stream bytes */
	uint32_t keepalive_ms; /* server: keepalive period (3000); 0: none */
	bool get_feature;      /* client: send GetServerFeature(select) */
	uint16_t feature_select;
	/* Do not close on a peer violation (only record it). */
	bool tolerate;
};

/* A received control message exactly as it arrived. */
struct raw_peer_capture {
	uint32_t byte_len;
	uint8_t bytes[RRING_WIRE_MSG_SIZE];
};

#define RAW_PEER_CAPTURE_MAX 256

struct raw_peer_stats {
	uint64_t bytes_sent;	  /* payload posted as write-with-imm */
	uint64_t bytes_received;  /* payload written into our buffer */
	uint64_t bytes_consumed;  /* payload returned by raw_peer_recv */
	uint64_t writes_posted;	  /* RDMA_WRITE_WITH_IMM WRs */
	uint64_t writes_received; /* IBV_WC_RECV_RDMA_WITH_IMM completions */
	uint64_t adv_sent;	/* RegisterXferMemory sent, initial included */
	uint64_t readv_sent;	/* of which re-advertisements */
	uint64_t adv_received;	/* RegisterXferMemory received */
	uint64_t window_waits;	/* times send waited for a re-advertisement */
	uint64_t ctrl_received; /* control messages (any byte_len) */
	uint64_t keepalive_sent;
	uint64_t keepalive_received;
	uint64_t get_feature_received;
	uint64_t set_feature_received;
	uint64_t cq_events; /* completion channel events */
};

/* Fill @o with the defaults above (a well-behaved peer, 1 MiB buffer). */
void raw_peer_opts_init(struct raw_peer_opts *o);

/* Absolute deadline @ms milliseconds from now (CLOCK_MONOTONIC, ns). */
uint64_t raw_peer_deadline(unsigned int ms);

/* Server: listen on @addr:@port (0: a free port, see raw_peer_port()).
 * Does not block. */
int raw_peer_listen(struct raw_peer **out, const char *addr, uint16_t port,
		    const struct raw_peer_opts *o);
/* Port the listener is bound to (host order). */
uint16_t raw_peer_port(const struct raw_peer *p);
/* Server: accept one connection, wait for ESTABLISHED and advertise. */
int raw_peer_accept(struct raw_peer *p, uint64_t deadline);

/* Client: connect to @addr:@port, wait for ESTABLISHED and advertise (and
 * send GetServerFeature if asked). */
int raw_peer_connect(struct raw_peer **out, const char *addr, uint16_t port,
		     const struct raw_peer_opts *o, uint64_t deadline);

/* Send @len bytes as write-with-imm into the peer's window, waiting for
 * re-advertisements as needed. Returns 0 when every byte has been posted
 * (use raw_peer_flush() to wait for completions). */
int raw_peer_send(struct raw_peer *p, const void *buf, size_t len,
		  uint64_t deadline);
/* Wait until every posted work request has completed. */
int raw_peer_flush(struct raw_peer *p, uint64_t deadline);
/* Receive exactly @len bytes (consuming them, re-advertising when our buffer
 * is full and consumed). Returns @len; fewer (like read(2)) when the
 * connection closed or the deadline passed after some bytes were consumed,
 * the next call then returns the error; or a negative errno. */
ssize_t raw_peer_recv(struct raw_peer *p, void *buf, size_t len,
		      uint64_t deadline);
/* Handle every pending completion and rdma_cm event; if there were none,
 * wait for one until @deadline. Returns how many were handled, -ETIMEDOUT
 * if none came, or (once nothing is pending) the error the connection closed
 * with. */
int raw_peer_poll(struct raw_peer *p, uint64_t deadline);
/* Poll until @pred(p, arg) is true. */
int raw_peer_wait(struct raw_peer *p, bool (*pred)(struct raw_peer *, void *),
		  void *arg, uint64_t deadline);
/* Wait until the peer closes the connection (or breaks it). 0 if it did. */
int raw_peer_wait_closed(struct raw_peer *p, uint64_t deadline);

/* Commit the configured misbehaviour now (the ones marked
 * raw_peer_misbehave() above); may wait for the peer's window. */
int raw_peer_misbehave(struct raw_peer *p, uint64_t deadline);
/* Whether @mb happens by itself at establishment (the bad advertisements,
 * WRITE_BEFORE_ADV): no raw_peer_misbehave() call for those. */
bool raw_peer_misbehaves_at_establishment(enum raw_peer_misbehave mb);
/* Send 32 bytes (or @len, to break the protocol) as one control message. */
int raw_peer_send_ctrl(struct raw_peer *p, const uint8_t *msg, uint32_t len);
/* Disconnect now (rdma_disconnect); the peer sees DISCONNECTED. */
int raw_peer_disconnect(struct raw_peer *p);

/* Bytes received and not yet consumed. */
uint32_t raw_peer_rx_pending(const struct raw_peer *p);
/* True once the peer's window is known (first RegisterXferMemory). */
bool raw_peer_window_known(const struct raw_peer *p);
/* The peer's last advertisement (0s before any). */
void raw_peer_window(const struct raw_peer *p, uint64_t *addr, uint32_t *len,
		     uint32_t *rkey);
/* Our own buffer as advertised. */
void raw_peer_rx_buffer(const struct raw_peer *p, uint64_t *addr, uint32_t *len,
			uint32_t *rkey);
/* Connection state: true once DISCONNECTED, a flush or a violation. */
bool raw_peer_closed(const struct raw_peer *p);
/* Why it closed: 0 while open, else -ECONNRESET (disconnected or flushed),
 * -EPROTO (peer violation), -ECONNABORTED (we disconnected), -EIO. */
int raw_peer_error(const struct raw_peer *p);
/* The first completion error other than IBV_WC_WR_FLUSH_ERR (an enum
 * ibv_wc_status; 0 if none): a transport error rather than a disconnect. */
int raw_peer_wc_error(const struct raw_peer *p);
/* The violation the peer committed (static text), or NULL. */
const char *raw_peer_violation(const struct raw_peer *p);
const struct raw_peer_stats *raw_peer_stats(const struct raw_peer *p);
/* Number of control messages captured; the @i-th one (oldest first). */
unsigned int raw_peer_capture_count(const struct raw_peer *p);
const struct raw_peer_capture *raw_peer_capture(const struct raw_peer *p,
						unsigned int i);

/* Disconnect (if connected) and free everything. NULL is a no-op. */
void raw_peer_close(struct raw_peer *p);

#endif /* RAW_PEER_H */
