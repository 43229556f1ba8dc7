/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring fuzzing: the libFuzzer entry point every harness defines. */
#ifndef RRING_FUZZ_H
#define RRING_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* One input; 0. A violated property aborts (libFuzzer keeps the input). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Abort with a message: the harnesses' assertion (active in every build). */
#define FUZZ_CHECK(cond, ...)                                                  \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "fuzz: %s:%d: %s: ", __FILE__,         \
				__LINE__, #cond);                              \
			fprintf(stderr, __VA_ARGS__);                          \
			fputc('\n', stderr);                                   \
			abort();                                               \
		}                                                              \
	} while (0)

#endif /* RRING_FUZZ_H */
