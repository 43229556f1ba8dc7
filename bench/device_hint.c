// SPDX-License-Identifier: BSD-3-Clause
/* rdmaring benchmarks: the softverbs hint when no RDMA device is visible. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <infiniband/verbs.h>

#include "device_hint.h"

/* libsoftverbs.so where this program's build or install put it: the build
 * tree has bench/ next to softverbs/, an install has bin/ next to lib/. */
static const char *softverbs_path(char out[PATH_MAX])
{
	static const char *const rel[] = {"../softverbs/libsoftverbs.so",
					  "../lib/libsoftverbs.so"};
	char exe[PATH_MAX], path[PATH_MAX], *slash;
	ssize_t n;
	size_t i;

	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return "libsoftverbs.so";
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (!slash)
		return "libsoftverbs.so";
	*slash = '\0';
	for (i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", exe,
				     rel[i]) < sizeof(path) &&
		    realpath(path, out))
			return out;
	}
	return "libsoftverbs.so";
}

void rring_device_hint(const char *prog)
{
	struct ibv_device **list;
	char path[PATH_MAX];
	int n = 0;

	list = ibv_get_device_list(&n);
	if (list)
		ibv_free_device_list(list);
	if (n > 0)
		return;
	fprintf(stderr,
		"%s: no RDMA device found. Without an RDMA NIC, run it over "
		"softverbs, the userspace provider built with rdmaring:\n"
		"  LD_PRELOAD=%s %s ...\n",
		prog, softverbs_path(path), prog);
}
