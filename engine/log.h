/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring: engine log lines, to the application's sink or stderr. */
#ifndef RRING_LOG_H
#define RRING_LOG_H

#include "rdmaring.h"

#define RR_LOG_ERR 0
#define RR_LOG_WARN 1
#define RR_LOG_INFO 2
#define RR_LOG_DEBUG 3

/* Format and emit one line through h->log (stderr when h or h->log is NULL;
 * debug lines to stderr only with h->log set). Any thread. */
void rr_log(const struct rring_handlers *h, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif /* RRING_LOG_H */
