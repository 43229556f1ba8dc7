/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring module: TCP stand-in transport for the data path (tests, no NIC). */
#ifndef RDM_LOOPBACK_H
#define RDM_LOOPBACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "exec.h"
#include "runtime.h"

/* rdm_loopback_start - serve RESP on 127.0.0.1:port from one thread, with
 * rx_size-byte receive windows, at most max_clients at once.
 * rdm_dispatch_start must have run. Main thread. 0 or -errno. */
int rdm_loopback_start(uint16_t port, size_t rx_size, uint64_t max_clients);
/* rdm_loopback_set_max_clients - runtime change (new accepts). Any thread. */
void rdm_loopback_set_max_clients(uint64_t n);
/* rdm_loopback_stop - stop and join the thread, close every client, free
 * what it holds. Main thread; idempotent. 0 or -errno. */
int rdm_loopback_stop(void);
/* rdm_loopback_running - is the thread running? Main thread. */
bool rdm_loopback_running(void);
/* rdm_loopback_stats - counters into s (io[0]). Any thread. */
void rdm_loopback_stats(struct rdm_stats *s);

#endif /* RDM_LOOPBACK_H */
