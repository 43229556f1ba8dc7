/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring fuzzing: the module's RESP request parser (module/resp.c). */
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "resp.h"

/*
 * Input: byte 0 flags (bit 0: client not authenticated, bit 1: a small
 * proto-max-bulk-len), byte 1 the receive buffer size, byte 2 the read
 * size, then the client's byte stream. The stream is parsed the way the
 * module's transports feed it (module/loopback.c, module/rdma.c): reads
 * into a buffer of that size, parse until AGAIN, and when the buffer is
 * full absorb the unfinished command into the parser's carry.
 *
 * Properties: consumed never exceeds the window, every argument is
 * readable (ASan), a command has arguments, and the same stream parsed
 * from one buffer holding all of it gives the same commands, the same
 * final state and the same error text: how the bytes arrive must not
 * change what the parser sees.
 */

struct outcome {
	uint64_t hash; /* of every command's arguments, in order */
	unsigned int cmds;
	int status; /* the last rdm_resp_parse result */
	char err[96];
};

static uint64_t mix(uint64_t h, const void *p, size_t len)
{
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

static void take_cmd(const struct rdm_resp_parser *p, struct outcome *o)
{
	int i;

	FUZZ_CHECK(p->argc > 0, "a command without arguments");
	o->hash = mix(o->hash, &p->argc, sizeof(p->argc));
	for (i = 0; i < p->argc; i++) {
		o->hash = mix(o->hash, &p->argv[i].len, sizeof(size_t));
		o->hash = mix(o->hash, p->argv[i].ptr, p->argv[i].len);
	}
	o->cmds++;
}

static void parse_stream(const uint8_t *in, size_t n, size_t cap, size_t rd,
			 unsigned int flags, struct outcome *o)
{
	struct rdm_resp_parser p;
	size_t len = 0, off = 0, pos = 0, consumed, take;
	char *buf = malloc(cap);
	int ret;

	FUZZ_CHECK(buf, "out of memory");
	memset(o, 0, sizeof(*o));
	o->hash = 0xcbf29ce484222325ull;
	rdm_resp_parser_init(&p, flags & 2 ? 1000 : 0);
	p.auth_required = flags & 1;
	for (;;) {
		ret = rdm_resp_parse(&p, buf + off, len - off, &consumed);
		FUZZ_CHECK(consumed <= len - off, "consumed %zu of %zu",
			   consumed, len - off);
		off += consumed;
		if (ret == RDM_RESP_CMD) {
			take_cmd(&p, o);
			continue;
		}
		if (ret == RDM_RESP_ERROR) {
			snprintf(o->err, sizeof(o->err), "%s", p.err);
			break;
		}
		FUZZ_CHECK(ret == RDM_RESP_AGAIN, "status %d", ret);
		if (len == cap) { /* full: carry the rest, start over */
			FUZZ_CHECK(!rdm_resp_absorb(&p, buf + off, len - off),
				   "absorb");
			off = len = 0;
		}
		if (pos == n)
			break;
		take = n - pos < cap - len ? n - pos : cap - len;
		take = take < rd ? take : rd;
		memcpy(buf + len, in + pos, take);
		len += take;
		pos += take;
	}
	o->status = ret;
	rdm_resp_parser_destroy(&p);
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct outcome chunked, whole;
	size_t cap, rd, n;

	if (size < 3)
		return 0;
	cap = 16 + (size_t)data[1] * 16; /* 16..4096 */
	rd = 1 + (size_t)data[2] * cap / 256;
	n = size - 3;
	parse_stream(data + 3, n, cap, rd, data[0], &chunked);
	parse_stream(data + 3, n, n ? n : 1, n ? n : 1, data[0], &whole);
	FUZZ_CHECK(chunked.cmds == whole.cmds, "%u commands, %u in one buffer",
		   chunked.cmds, whole.cmds);
	FUZZ_CHECK(chunked.hash == whole.hash, "commands differ");
	FUZZ_CHECK(chunked.status == whole.status, "status %d, %d in one buffer",
		   chunked.status, whole.status);
	FUZZ_CHECK(!strcmp(chunked.err, whole.err), "'%s', '%s' in one buffer",
		   chunked.err, whole.err);
	return 0;
}
