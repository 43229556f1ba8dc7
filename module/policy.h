/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring module: which commands can run through RM_Call for an RDMA client.
 */
#ifndef RDM_POLICY_H
#define RDM_POLICY_H

#include <stddef.h>

#include "resp.h"

/*
 * Commands of an RDMA client run on the main thread through RedisModule_Call
 * on the module's context, one at a time, each on the server's temporary
 * client. That client has no state between calls, cannot block, and never
 * receives pushed messages, so some commands cannot keep their meaning
 * there: those move the client to a real server client (relay.h) on a
 * transport that can, or are refused. The list is documented in
 * module/README.md.
 */
enum rdm_cmd_action {
	RDM_CMD_ALLOW, /* run through RM_Call */
	RDM_CMD_DENY,  /* reply with rule->error, do not run */
	RDM_CMD_LOCAL, /* the module implements it for the connection */
	RDM_CMD_ARGS,  /* decided by arguments: use rdm_cmd_policy_args */
	RDM_CMD_MOVE,  /* needs a server client: the transport moves the
			* client; one that cannot replies rule->error */
};

struct rdm_cmd_rule {
	const char *name; /* lower case */
	enum rdm_cmd_action action;
	const char *error; /* full error reply text for DENY and MOVE */
};

/*
 * rdm_cmd_policy - rule for a command name (case-insensitive); NULL means
 * RDM_CMD_ALLOW. Pure, any thread.
 */
const struct rdm_cmd_rule *rdm_cmd_policy(const char *name, size_t len);

/*
 * rdm_cmd_policy_args - the rule for a whole command (argv[0] is the name):
 * resolves RDM_CMD_ARGS rules (CLIENT subcommands, XREAD/XREADGROUP with
 * BLOCK, HELLO 3) into MOVE, LOCAL or ALLOW. NULL means allow.
 */
const struct rdm_cmd_rule *rdm_cmd_policy_args(const struct rdm_resp_arg *argv,
					       int argc);

/* rdm_cmd_rules - the whole table (for documentation and tests). */
const struct rdm_cmd_rule *rdm_cmd_rules(size_t *count);

#endif /* RDM_POLICY_H */
