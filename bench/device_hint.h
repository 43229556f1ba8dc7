/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring benchmarks: the softverbs hint when no RDMA device is visible. */
#ifndef RRING_DEVICE_HINT_H
#define RRING_DEVICE_HINT_H

/* If the process sees no RDMA device, tell the user on stderr how to run
 * prog over softverbs (the LD_PRELOAD line, with the libsoftverbs.so found
 * next to the program when there is one). Prints nothing otherwise. */
void rring_device_hint(const char *prog);

#endif
