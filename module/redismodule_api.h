/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring module: the subset of the Redis 7.0 module API the module uses. */
#ifndef RDM_REDISMODULE_API_H
#define RDM_REDISMODULE_API_H

/*
 * No redismodule.h is packaged by Debian, so the module declares what it
 * uses. Every function is a pointer resolved at load time through
 * RedisModule_GetApi (the server stores that function at offset 0 of the
 * context it passes to RedisModule_OnLoad). Signatures and constant values
 * are those of Redis 7.0 (Debian 12 ships 7.0.15); Valkey 7/8 keeps them.
 *
 * Pointers marked "optional" may be NULL after rdm_api_init(): callers
 * check before use. All others are required and a missing one fails the
 * load with a log line naming it.
 */

#include <stddef.h>
#include <stdint.h>

/* Status codes. */
#define REDISMODULE_OK 0
#define REDISMODULE_ERR 1

#define REDISMODULE_APIVER_1 1

/* Reply types of RedisModule_CallReplyType (RESP2 subset). */
#define REDISMODULE_REPLY_UNKNOWN -1
#define REDISMODULE_REPLY_STRING 0
#define REDISMODULE_REPLY_ERROR 1
#define REDISMODULE_REPLY_INTEGER 2
#define REDISMODULE_REPLY_ARRAY 3
#define REDISMODULE_REPLY_NULL 4

/* Module config flags (RedisModule_Register*Config, since 7.0). */
#define REDISMODULE_CONFIG_DEFAULT 0
#define REDISMODULE_CONFIG_IMMUTABLE (1ULL << 0)
#define REDISMODULE_CONFIG_SENSITIVE (1ULL << 1)
#define REDISMODULE_CONFIG_HIDDEN (1ULL << 4)
#define REDISMODULE_CONFIG_PROTECTED (1ULL << 5)
#define REDISMODULE_CONFIG_DENY_LOADING (1ULL << 6)
#define REDISMODULE_CONFIG_MEMORY (1ULL << 7)
#define REDISMODULE_CONFIG_BITFLAGS (1ULL << 8)

/* RedisModule_GetContextFlags bits. */
#define REDISMODULE_CTX_FLAGS_LUA (1 << 0)
#define REDISMODULE_CTX_FLAGS_MULTI (1 << 1)
#define REDISMODULE_CTX_FLAGS_MASTER (1 << 2)
#define REDISMODULE_CTX_FLAGS_SLAVE (1 << 3)
#define REDISMODULE_CTX_FLAGS_READONLY (1 << 4)
#define REDISMODULE_CTX_FLAGS_CLUSTER (1 << 5)
#define REDISMODULE_CTX_FLAGS_AOF (1 << 6)
#define REDISMODULE_CTX_FLAGS_RDB (1 << 7)
#define REDISMODULE_CTX_FLAGS_MAXMEMORY (1 << 8)
#define REDISMODULE_CTX_FLAGS_EVICT (1 << 9)
#define REDISMODULE_CTX_FLAGS_OOM (1 << 10)
#define REDISMODULE_CTX_FLAGS_OOM_WARNING (1 << 11)
#define REDISMODULE_CTX_FLAGS_REPLICATED (1 << 12)
#define REDISMODULE_CTX_FLAGS_LOADING (1 << 13)
#define REDISMODULE_CTX_FLAGS_DENY_BLOCKING (1 << 21)
#define REDISMODULE_CTX_FLAGS_RESP3 (1 << 22)

/* RedisModule_SetModuleOptions. */
#define REDISMODULE_OPTIONS_HANDLE_IO_ERRORS (1 << 0)
#define REDISMODULE_OPTION_NO_IMPLICIT_SIGNAL_MODIFIED (1 << 1)
#define REDISMODULE_OPTIONS_HANDLE_REPL_ASYNC_LOAD (1 << 2)

/* RedisModule_EventLoopAdd masks (the server's AE_READABLE/AE_WRITABLE). */
#define REDISMODULE_EVENTLOOP_READABLE 1
#define REDISMODULE_EVENTLOOP_WRITABLE 2

/*
 * RedisModule_Call format flags that exist in 7.0 (after the argument
 * types 'c' C string, 's' RedisModuleString, 'b' buffer+len, 'l' long long,
 * 'v' RedisModuleString array+count):
 *   '!' propagate to AOF and replicas   'A' no AOF   'R' no replicas
 *   '3' RESP3 reply   '0' reply protocol of the context's client
 *   'C' run as (and check ACLs of) the user set on the context
 *   'S' script mode (deny-script commands refused)   'W' no writes
 *   'M' deny when over maxmemory   'E' errors as an error CallReply
 * 'K' (blocking) and 'D' (dry run) are 7.2 and are not used.
 */
#define RDM_CALL_PROPAGATE "!"
#define RDM_CALL_AS_USER "C"
#define RDM_CALL_ERRORS_AS_REPLY "E"
#define RDM_CALL_DENY_OOM "M"

/* Log levels of RedisModule_Log. */
#define RDM_LOG_DEBUG "debug"
#define RDM_LOG_VERBOSE "verbose"
#define RDM_LOG_NOTICE "notice"
#define RDM_LOG_WARNING "warning"

/* Opaque server objects. */
typedef struct RedisModuleCtx RedisModuleCtx;
typedef struct RedisModuleString RedisModuleString;
typedef struct RedisModuleCallReply RedisModuleCallReply;
typedef struct RedisModuleInfoCtx RedisModuleInfoCtx;
typedef struct RedisModuleUser RedisModuleUser;
typedef struct RedisModuleCommandFilter RedisModuleCommandFilter;
typedef struct RedisModuleCommandFilterCtx RedisModuleCommandFilterCtx;
typedef void (*RedisModuleCommandFilterFunc)(RedisModuleCommandFilterCtx *fctx);

typedef int (*RedisModuleCmdFunc)(RedisModuleCtx *ctx, RedisModuleString **argv,
				  int argc);
typedef void (*RedisModuleInfoFunc)(RedisModuleInfoCtx *ctx,
				    int for_crash_report);
typedef void (*RedisModuleEventLoopFunc)(int fd, void *user_data, int mask);
typedef void (*RedisModuleEventLoopOneShotFunc)(void *user_data);
typedef uint64_t RedisModuleTimerID;
typedef void (*RedisModuleTimerProc)(RedisModuleCtx *ctx, void *data);

typedef long long (*RedisModuleConfigGetNumericFunc)(const char *name,
						     void *privdata);
typedef int (*RedisModuleConfigSetNumericFunc)(const char *name, long long val,
					       void *privdata,
					       RedisModuleString **err);
typedef RedisModuleString *(*RedisModuleConfigGetStringFunc)(const char *name,
							     void *privdata);
typedef int (*RedisModuleConfigSetStringFunc)(const char *name,
					      RedisModuleString *val,
					      void *privdata,
					      RedisModuleString **err);
typedef int (*RedisModuleConfigApplyFunc)(RedisModuleCtx *ctx, void *privdata,
					  RedisModuleString **err);

/* Core. */
extern int (*RedisModule_GetApi)(const char *name, void *funcptr);
extern void (*RedisModule_SetModuleAttribs)(RedisModuleCtx *ctx,
					    const char *name, int ver,
					    int apiver);
extern int (*RedisModule_IsModuleNameBusy)(const char *name);
extern void (*RedisModule_Log)(RedisModuleCtx *ctx, const char *level,
			       const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
extern int (*RedisModule_GetContextFlags)(RedisModuleCtx *ctx);
extern void (*RedisModule_SetModuleOptions)(RedisModuleCtx *ctx, int options);
extern int (*RedisModule_CreateCommand)(RedisModuleCtx *ctx, const char *name,
					RedisModuleCmdFunc cmdfunc,
					const char *strflags, int firstkey,
					int lastkey, int keystep);

/* Memory and strings. */
extern void *(*RedisModule_Alloc)(size_t bytes);
extern void (*RedisModule_Free)(void *ptr);
extern RedisModuleString *(*RedisModule_CreateString)(RedisModuleCtx *ctx,
						      const char *ptr,
						      size_t len);
extern RedisModuleString *(*RedisModule_CreateStringPrintf)(RedisModuleCtx *ctx,
							    const char *fmt,
							    ...)
    __attribute__((format(printf, 2, 3)));
extern void (*RedisModule_FreeString)(RedisModuleCtx *ctx,
				      RedisModuleString *str);
extern const char *(*RedisModule_StringPtrLen)(const RedisModuleString *str,
					       size_t *len);
extern int (*RedisModule_StringToLongLong)(const RedisModuleString *str,
					   long long *ll);

/* Replies to a module command. */
extern int (*RedisModule_ReplyWithError)(RedisModuleCtx *ctx, const char *err);
extern int (*RedisModule_ReplyWithSimpleString)(RedisModuleCtx *ctx,
						const char *msg);
extern int (*RedisModule_ReplyWithLongLong)(RedisModuleCtx *ctx, long long ll);
extern int (*RedisModule_ReplyWithStringBuffer)(RedisModuleCtx *ctx,
						const char *buf, size_t len);

/* Running commands on behalf of a client (data path). */
extern RedisModuleCallReply *(*RedisModule_Call)(RedisModuleCtx *ctx,
						 const char *cmdname,
						 const char *fmt, ...);
extern void (*RedisModule_FreeCallReply)(RedisModuleCallReply *reply);
extern int (*RedisModule_CallReplyType)(RedisModuleCallReply *reply);
extern const char *(*RedisModule_CallReplyProto)(RedisModuleCallReply *reply,
						 size_t *len);
extern long long (*RedisModule_CallReplyInteger)(RedisModuleCallReply *reply);
extern size_t (*RedisModule_CallReplyLength)(RedisModuleCallReply *reply);
extern const char *(*RedisModule_CallReplyStringPtr)(
    RedisModuleCallReply *reply, size_t *len);
extern RedisModuleCallReply *(*RedisModule_CallReplyArrayElement)(
    RedisModuleCallReply *reply, size_t idx);
extern int (*RedisModule_SelectDb)(RedisModuleCtx *ctx, int newid);
extern int (*RedisModule_GetSelectedDb)(RedisModuleCtx *ctx);
extern RedisModuleCtx *(*RedisModule_GetDetachedThreadSafeContext)(
    RedisModuleCtx *ctx);
extern void (*RedisModule_FreeThreadSafeContext)(RedisModuleCtx *ctx);
extern void (*RedisModule_ThreadSafeContextLock)(RedisModuleCtx *ctx);
extern void (*RedisModule_ThreadSafeContextUnlock)(RedisModuleCtx *ctx);

/* ACLs (AUTH and per-client users on the data path). */
extern RedisModuleUser *(*RedisModule_GetModuleUserFromUserName)(
    RedisModuleString *name);
extern void (*RedisModule_FreeModuleUser)(RedisModuleUser *user);
extern int (*RedisModule_ACLCheckCommandPermissions)(RedisModuleUser *user,
						     RedisModuleString **argv,
						     int argc);
/* ACL LOG entries (RedisModuleACLLogEntryReason). */
#define REDISMODULE_ACL_LOG_CMD 1
#define REDISMODULE_ACL_LOG_KEY 2
#define REDISMODULE_ACL_LOG_CHANNEL 3
extern int (*RedisModule_ACLAddLogEntry)(RedisModuleCtx *ctx,
					 RedisModuleUser *user,
					 RedisModuleString *object, int reason);
/* optional (Redis 7.0.15 has it): with RedisModule_Call's "C" flag the
 * call's client is that user. A denial by "C" itself logs through a client
 * without a user and crashes 7.0.15: commands are checked before. */
extern void (*RedisModule_SetContextUser)(RedisModuleCtx *ctx,
					  const RedisModuleUser *user);

/* Moving an RDMA client to a real server client (attach.c): the calling
 * client becomes a user without a password check, and its id. */
typedef void (*RedisModuleUserChangedFunc)(uint64_t client_id, void *privdata);
extern int (*RedisModule_AuthenticateClientWithACLUser)(
    RedisModuleCtx *ctx, const char *name, size_t len,
    RedisModuleUserChangedFunc callback, void *privdata, uint64_t *client_id);
extern unsigned long long (*RedisModule_GetClientId)(RedisModuleCtx *ctx);

/* Server events. */
typedef struct RedisModuleEvent {
	uint64_t id;
	uint64_t dataver;
} RedisModuleEvent;
typedef void (*RedisModuleEventCallback)(RedisModuleCtx *ctx,
					 RedisModuleEvent eid,
					 uint64_t subevent, void *data);
#define REDISMODULE_EVENT_CLIENT_CHANGE 4
#define REDISMODULE_SUBEVENT_CLIENT_CHANGE_CONNECTED 0
/* The data of a client change event (version 1, Redis 7.0's layout). */
typedef struct RedisModuleClientInfo {
	uint64_t version;
	uint64_t flags;
	uint64_t id;
	char addr[46];
	uint16_t port;
	uint16_t db;
} RedisModuleClientInfo;
#define REDISMODULE_EVENT_CRON_LOOP 8 /* every serverCron (hz) */
extern int (*RedisModule_SubscribeToServerEvent)(RedisModuleCtx *ctx,
						 RedisModuleEvent event,
						 RedisModuleEventCallback cb);

/* Command filters: see every command of every client before it runs. */
extern RedisModuleCommandFilter *(*RedisModule_RegisterCommandFilter)(
    RedisModuleCtx *ctx, RedisModuleCommandFilterFunc cb, int flags);
extern int (*RedisModule_UnregisterCommandFilter)(
    RedisModuleCtx *ctx, RedisModuleCommandFilter *filter);
extern int (*RedisModule_CommandFilterArgsCount)(
    RedisModuleCommandFilterCtx *fctx);
extern RedisModuleString *(*RedisModule_CommandFilterArgGet)(
    RedisModuleCommandFilterCtx *fctx, int pos);

/* Event loop (main-thread wakeups from IO threads). */
extern int (*RedisModule_EventLoopAdd)(int fd, int mask,
				       RedisModuleEventLoopFunc func,
				       void *user_data);
extern int (*RedisModule_EventLoopDel)(int fd, int mask);
extern int (*RedisModule_EventLoopAddOneShot)(
    RedisModuleEventLoopOneShotFunc func, void *user_data);

/* Timers: a callback's context propagates what it ran when it ends. */
extern RedisModuleTimerID (*RedisModule_CreateTimer)(RedisModuleCtx *ctx,
						     long long period,
						     RedisModuleTimerProc cb,
						     void *data);

extern int (*RedisModule_StopTimer)(RedisModuleCtx *ctx, RedisModuleTimerID id,
				   void **data);

/* Configs. */
extern int (*RedisModule_RegisterNumericConfig)(
    RedisModuleCtx *ctx, const char *name, long long default_val,
    unsigned int flags, long long min, long long max,
    RedisModuleConfigGetNumericFunc getfn,
    RedisModuleConfigSetNumericFunc setfn, RedisModuleConfigApplyFunc applyfn,
    void *privdata);
extern int (*RedisModule_RegisterStringConfig)(
    RedisModuleCtx *ctx, const char *name, const char *default_val,
    unsigned int flags, RedisModuleConfigGetStringFunc getfn,
    RedisModuleConfigSetStringFunc setfn, RedisModuleConfigApplyFunc applyfn,
    void *privdata);
extern int (*RedisModule_LoadConfigs)(RedisModuleCtx *ctx);

/* INFO. */
extern int (*RedisModule_RegisterInfoFunc)(RedisModuleCtx *ctx,
					   RedisModuleInfoFunc cb);
extern int (*RedisModule_InfoAddSection)(RedisModuleInfoCtx *ctx,
					 const char *name);
extern int (*RedisModule_InfoBeginDictField)(RedisModuleInfoCtx *ctx,
					     const char *name);
extern int (*RedisModule_InfoEndDictField)(RedisModuleInfoCtx *ctx);
extern int (*RedisModule_InfoAddFieldLongLong)(RedisModuleInfoCtx *ctx,
					       const char *field,
					       long long value);
extern int (*RedisModule_InfoAddFieldULongLong)(RedisModuleInfoCtx *ctx,
						const char *field,
						unsigned long long value);
extern int (*RedisModule_InfoAddFieldDouble)(RedisModuleInfoCtx *ctx,
					     const char *field, double value);
extern int (*RedisModule_InfoAddFieldCString)(RedisModuleInfoCtx *ctx,
					      const char *field,
					      const char *value);

/*
 * rdm_api_init - the module's RedisModule_Init: resolve every pointer above
 * and register the module name. Main thread, first thing in OnLoad.
 * Returns REDISMODULE_OK or REDISMODULE_ERR (name busy, or a required API
 * missing: logged when RedisModule_Log itself resolved).
 */
int rdm_api_init(RedisModuleCtx *ctx, const char *name, int ver, int apiver);

#endif /* RDM_REDISMODULE_API_H */
