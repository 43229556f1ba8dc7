// SPDX-License-Identifier: BSD-3-Clause
/* rdmaring: engine log lines, to the application's sink or stderr. */
#include <stdarg.h>
#include <stdio.h>

#include "log.h"

void rr_log(const struct rring_handlers *h, int level, const char *fmt, ...)
{
	static const char *const names[] = {"error", "warning", "info",
					    "debug"};
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (h && h->log) {
		h->log(level, msg, h->arg);
		return;
	}
	if (level >= RR_LOG_DEBUG)
		return;
	fprintf(stderr, "rdmaring %s: %s\n",
		names[level < 0	  ? 0
		      : level > 3 ? 3
				  : level],
		msg);
}
