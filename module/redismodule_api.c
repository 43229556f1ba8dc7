/* SPDX-License-Identifier: BSD-3-Clause */
/* rdmaring module: resolves the module API pointers (our RedisModule_Init). */
#include <stdbool.h>
#include <stddef.h>

#include "redismodule_api.h"

int (*RedisModule_GetApi)(const char *, void *);
void (*RedisModule_SetModuleAttribs)(RedisModuleCtx *, const char *, int, int);
int (*RedisModule_IsModuleNameBusy)(const char *);
void (*RedisModule_Log)(RedisModuleCtx *, const char *, const char *, ...);
int (*RedisModule_GetContextFlags)(RedisModuleCtx *);
void (*RedisModule_SetModuleOptions)(RedisModuleCtx *, int);
int (*RedisModule_CreateCommand)(RedisModuleCtx *, const char *,
				 RedisModuleCmdFunc, const char *, int, int,
				 int);
void *(*RedisModule_Alloc)(size_t);
void (*RedisModule_Free)(void *);
RedisModuleString *(*RedisModule_CreateString)(RedisModuleCtx *, const char *,
					       size_t);
RedisModuleString *(*RedisModule_CreateStringPrintf)(RedisModuleCtx *,
						     const char *, ...);
void (*RedisModule_FreeString)(RedisModuleCtx *, RedisModuleString *);
const char *(*RedisModule_StringPtrLen)(const RedisModuleString *, size_t *);
int (*RedisModule_StringToLongLong)(const RedisModuleString *, long long *);
int (*RedisModule_ReplyWithError)(RedisModuleCtx *, const char *);
int (*RedisModule_ReplyWithSimpleString)(RedisModuleCtx *, const char *);
int (*RedisModule_ReplyWithLongLong)(RedisModuleCtx *, long long);
int (*RedisModule_ReplyWithStringBuffer)(RedisModuleCtx *, const char *,
					 size_t);
RedisModuleCallReply *(*RedisModule_Call)(RedisModuleCtx *, const char *,
					  const char *, ...);
void (*RedisModule_FreeCallReply)(RedisModuleCallReply *);
int (*RedisModule_CallReplyType)(RedisModuleCallReply *);
const char *(*RedisModule_CallReplyProto)(RedisModuleCallReply *, size_t *);
long long (*RedisModule_CallReplyInteger)(RedisModuleCallReply *);
size_t (*RedisModule_CallReplyLength)(RedisModuleCallReply *);
const char *(*RedisModule_CallReplyStringPtr)(RedisModuleCallReply *, size_t *);
RedisModuleCallReply *(*RedisModule_CallReplyArrayElement)(
    RedisModuleCallReply *, size_t);
int (*RedisModule_SelectDb)(RedisModuleCtx *, int);
int (*RedisModule_GetSelectedDb)(RedisModuleCtx *);
RedisModuleCtx *(*RedisModule_GetDetachedThreadSafeContext)(RedisModuleCtx *);
void (*RedisModule_FreeThreadSafeContext)(RedisModuleCtx *);
void (*RedisModule_ThreadSafeContextLock)(RedisModuleCtx *);
void (*RedisModule_ThreadSafeContextUnlock)(RedisModuleCtx *);
RedisModuleUser *(*RedisModule_GetModuleUserFromUserName)(RedisModuleString *);
void (*RedisModule_FreeModuleUser)(RedisModuleUser *);
int (*RedisModule_ACLCheckCommandPermissions)(RedisModuleUser *,
					      RedisModuleString **, int);
int (*RedisModule_ACLAddLogEntry)(RedisModuleCtx *, RedisModuleUser *,
				  RedisModuleString *, int);
void (*RedisModule_SetContextUser)(RedisModuleCtx *, const RedisModuleUser *);
int (*RedisModule_AuthenticateClientWithACLUser)(RedisModuleCtx *,
						 const char *, size_t,
						 RedisModuleUserChangedFunc,
						 void *, uint64_t *);
unsigned long long (*RedisModule_GetClientId)(RedisModuleCtx *);
int (*RedisModule_SubscribeToServerEvent)(RedisModuleCtx *, RedisModuleEvent,
					  RedisModuleEventCallback);
RedisModuleCommandFilter *(*RedisModule_RegisterCommandFilter)(
    RedisModuleCtx *, RedisModuleCommandFilterFunc, int);
int (*RedisModule_UnregisterCommandFilter)(RedisModuleCtx *,
					   RedisModuleCommandFilter *);
int (*RedisModule_CommandFilterArgsCount)(RedisModuleCommandFilterCtx *);
RedisModuleString *(*RedisModule_CommandFilterArgGet)(
    RedisModuleCommandFilterCtx *, int);
int (*RedisModule_EventLoopAdd)(int, int, RedisModuleEventLoopFunc, void *);
int (*RedisModule_EventLoopDel)(int, int);
int (*RedisModule_EventLoopAddOneShot)(RedisModuleEventLoopOneShotFunc, void *);
RedisModuleTimerID (*RedisModule_CreateTimer)(RedisModuleCtx *, long long,
					      RedisModuleTimerProc, void *);
int (*RedisModule_StopTimer)(RedisModuleCtx *, RedisModuleTimerID, void **);
int (*RedisModule_RegisterNumericConfig)(RedisModuleCtx *, const char *,
					 long long, unsigned int, long long,
					 long long,
					 RedisModuleConfigGetNumericFunc,
					 RedisModuleConfigSetNumericFunc,
					 RedisModuleConfigApplyFunc, void *);
int (*RedisModule_RegisterStringConfig)(RedisModuleCtx *, const char *,
					const char *, unsigned int,
					RedisModuleConfigGetStringFunc,
					RedisModuleConfigSetStringFunc,
					RedisModuleConfigApplyFunc, void *);
int (*RedisModule_LoadConfigs)(RedisModuleCtx *);
int (*RedisModule_RegisterInfoFunc)(RedisModuleCtx *, RedisModuleInfoFunc);
int (*RedisModule_InfoAddSection)(RedisModuleInfoCtx *, const char *);
int (*RedisModule_InfoBeginDictField)(RedisModuleInfoCtx *, const char *);
int (*RedisModule_InfoEndDictField)(RedisModuleInfoCtx *);
int (*RedisModule_InfoAddFieldLongLong)(RedisModuleInfoCtx *, const char *,
					long long);
int (*RedisModule_InfoAddFieldULongLong)(RedisModuleInfoCtx *, const char *,
					 unsigned long long);
int (*RedisModule_InfoAddFieldDouble)(RedisModuleInfoCtx *, const char *,
				      double);
int (*RedisModule_InfoAddFieldCString)(RedisModuleInfoCtx *, const char *,
				       const char *);

struct api_entry {
	const char *name; /* without the RedisModule_ prefix */
	void *ptr;	  /* address of the pointer variable */
	bool optional;
};

#define API(n)                                                                 \
	{                                                                      \
#n, (void *)&RedisModule_##n, false                            \
	}
#define API_OPT(n)                                                             \
	{                                                                      \
#n, (void *)&RedisModule_##n, true                             \
	}

static const struct api_entry api_table[] = {
    API(SetModuleAttribs),
    API_OPT(IsModuleNameBusy),
    API(Log),
    API(GetContextFlags),
    API(SetModuleOptions),
    API(CreateCommand),
    API(Alloc),
    API(Free),
    API(CreateString),
    API(CreateStringPrintf),
    API(FreeString),
    API(StringPtrLen),
    API(StringToLongLong),
    API(ReplyWithError),
    API(ReplyWithSimpleString),
    API(ReplyWithLongLong),
    API(ReplyWithStringBuffer),
    API(Call),
    API(FreeCallReply),
    API(CallReplyType),
    API(CallReplyProto),
    API(CallReplyInteger),
    API(CallReplyLength),
    API(CallReplyStringPtr),
    API(CallReplyArrayElement),
    API(SelectDb),
    API(GetSelectedDb),
    API(GetDetachedThreadSafeContext),
    API(FreeThreadSafeContext),
    API(ThreadSafeContextLock),
    API(ThreadSafeContextUnlock),
    API(GetModuleUserFromUserName),
    API(FreeModuleUser),
    API(ACLCheckCommandPermissions),
    API(ACLAddLogEntry),
    API_OPT(SetContextUser),
    API(AuthenticateClientWithACLUser),
    API(GetClientId),
    API(SubscribeToServerEvent),
    API(RegisterCommandFilter),
    API(UnregisterCommandFilter),
    API(CommandFilterArgsCount),
    API(CommandFilterArgGet),
    API(EventLoopAdd),
    API(EventLoopDel),
    API(EventLoopAddOneShot),
    API(CreateTimer),
    API(StopTimer),
    API(RegisterNumericConfig),
    API(RegisterStringConfig),
    API(LoadConfigs),
    API(RegisterInfoFunc),
    API(InfoAddSection),
    API(InfoBeginDictField),
    API(InfoEndDictField),
    API(InfoAddFieldLongLong),
    API(InfoAddFieldULongLong),
    API(InfoAddFieldDouble),
    API(InfoAddFieldCString),
};

static int resolve_prefixed(const char *prefix, const struct api_entry *e)
{
	char full[96];
	size_t i, p = 0;

	for (i = 0; prefix[i] && p < sizeof(full) - 1; i++)
		full[p++] = prefix[i];
	for (i = 0; e->name[i] && p < sizeof(full) - 1; i++)
		full[p++] = e->name[i];
	full[p] = '\0';
	return RedisModule_GetApi(full, e->ptr);
}

/* Redis names first; Valkey also registers its own prefix. */
static int resolve(const struct api_entry *e)
{
	/* GetApi leaves the pointer untouched when the name is unknown. */
	*(void **)e->ptr = NULL;
	if (resolve_prefixed("RedisModule_", e) == REDISMODULE_OK)
		return REDISMODULE_OK;
	return resolve_prefixed("ValkeyModule_", e);
}

int rdm_api_init(RedisModuleCtx *ctx, const char *name, int ver, int apiver)
{
	void *getapi = ((void **)ctx)[0];
	const char *missing = NULL;
	size_t i;

	/* The server's RM_GetApi is the first member of every context. */
	*(void **)&RedisModule_GetApi = getapi;
	for (i = 0; i < sizeof(api_table) / sizeof(api_table[0]); i++) {
		const struct api_entry *e = &api_table[i];

		if (resolve(e) != REDISMODULE_OK && !e->optional && !missing)
			missing = e->name;
	}
	if (missing) {
		if (RedisModule_Log)
			RedisModule_Log(ctx, RDM_LOG_WARNING,
					"%s: this server lacks the module API "
					"RedisModule_%s (Redis >= 7.0 or "
					"Valkey >= 7.2 is required)",
					name, missing);
		return REDISMODULE_ERR;
	}
	if (RedisModule_IsModuleNameBusy && RedisModule_IsModuleNameBusy(name))
		return REDISMODULE_ERR;
	RedisModule_SetModuleAttribs(ctx, name, ver, apiver);
	return REDISMODULE_OK;
}
