/*-------------------------------------------------------------------------
 *
 * rule_cache.c
 *	  Per-backend cache of the compiled enabled rules, grouped by event,
 *	  and the server side of compiling a rule.
 *
 * A statement trigger on cs.rule sends a relcache invalidation for the
 * table whenever its rows change, and the callback drops the cache. The
 * next event that needs rules reloads all of them with one query and
 * compiles them into a memory context of their own. The invalidation reaches this
 * backend at its next command and other backends when the change commits,
 * so a changed rule applies from the next statement in every session.
 *
 * Copyright (c) 2026, pg_success developers
 *
 * src/rule_cache.c
 *
 *-------------------------------------------------------------------------
 */
#include "rule_engine.h"

#include "commands/trigger.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "catalog/pg_collation.h"
#include "regex/regex.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/varlena.h"

PG_FUNCTION_INFO_V1(cs_rule_invalidate_cache);

typedef struct RuleCache
{
	MemoryContext context;
	CsRuleList	events[RULE_EVENT_COUNT];
} RuleCache;

static RuleCache rule_cache;
static bool rule_cache_valid = false;
static int	rule_cache_pins = 0;
static Oid	rule_table_oid = InvalidOid;

static void rule_cache_invalidate_callback(Datum arg, Oid relid);
static void rule_cache_load(void);
static void *rule_palloc(void *state, size_t size);
static const char *check_pattern(void *state, const char *pattern);

void
cs_rule_cache_init(void)
{
	CacheRegisterRelcacheCallback(rule_cache_invalidate_callback, (Datum) 0);
}

static void
rule_cache_invalidate_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == rule_table_oid)
	{
		rule_cache_valid = false;
		rule_table_oid = InvalidOid;
	}
}

/*
 * cs_rule_invalidate_cache
 *		Statement trigger on cs.rule.
 */
Datum
cs_rule_invalidate_cache(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "cs_rule_invalidate_cache: not called by trigger manager");

	CacheInvalidateRelcache(trigdata->tg_relation);
	return PointerGetDatum(NULL);
}

static void *
rule_palloc(void *state, size_t size)
{
	return MemoryContextAllocExtended((MemoryContext) state, size,
									  MCXT_ALLOC_ZERO | MCXT_ALLOC_NO_OOM);
}

/*
 * check_pattern
 *		Compiles a regular expression as the evaluator will, and returns the
 *		regex library's message when that fails.
 */
static const char *
check_pattern(void *state, const char *pattern)
{
	regex_t		regex;
	pg_wchar   *wide;
	int			length = strlen(pattern);
	int			wide_length;
	int			status;
	char		message[256];

	wide = palloc((length + 1) * sizeof(pg_wchar));
	wide_length = pg_mb2wchar_with_len(pattern, wide, length);
	status = pg_regcomp(&regex, wide, wide_length, REG_ADVANCED, C_COLLATION_OID);
	pfree(wide);
	if (status == REG_OKAY)
	{
		pg_regfree(&regex);
		return NULL;
	}
	pg_regerror(status, &regex, message, sizeof(message));
	return pstrdup(message);
}

/*
 * cs_rule_compile_or_error
 *		Compiles a rule into context, or raises an error that names the
 *		JSON path of the mistake, what is there, and the allowed names.
 */
RuleProgram *
cs_rule_compile_or_error(const char *event_name, const char *condition_json,
						 const char *actions_json, MemoryContext context)
{
	RuleAllocator allocator = {rule_palloc, context};
	RuleChecks	checks = {check_pattern, NULL};
	RuleError	error;
	RuleProgram *program;

	program = cs_rule_compile(event_name, condition_json, actions_json,
							  &allocator, &checks, &error);
	if (program != NULL)
		return program;

	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid rule at %s: %s", error.path, error.message),
			 error.found[0] != '\0' ? errdetail("Found %s.", error.found) : 0,
			 error.hint[0] != '\0' ? errhint("%s", error.hint) : 0));
	return NULL;				/* keep compiler quiet */
}

/*
 * rule_cache_load
 *		Reads and compiles every enabled rule. A rule that no longer
 *		compiles (the vocabulary shrank in an upgrade) is left out with a
 *		WARNING rather than stopping every write to the tables.
 */
static void
rule_cache_load(void)
{
	MemoryContext old_context;
	int			count;
	int			counts[RULE_EVENT_COUNT] = {0};
	CsRule	  **compiled;
	Oid			saved_user;
	int			saved_security_context;

	/* Read the rules as the table's owner, whichever user fired the event. */
	rule_table_oid = cs_relation_oid("rule");
	GetUserIdAndSecContext(&saved_user, &saved_security_context);
	SetUserIdAndSecContext(cs_relation_owner(rule_table_oid),
						   saved_security_context | SECURITY_LOCAL_USERID_CHANGE);

	/*
	 * Rules that an evaluation further up the stack is running stay until
	 * the end of the transaction; otherwise the old copy goes now.
	 */
	if (rule_cache.context != NULL && rule_cache_pins > 0)
		MemoryContextSetParent(rule_cache.context, TopTransactionContext);
	else if (rule_cache.context != NULL)
		MemoryContextDelete(rule_cache.context);
	rule_cache.context = AllocSetContextCreate(CacheMemoryContext,
											   "pg_success rule cache",
											   ALLOCSET_DEFAULT_SIZES);
	memset(rule_cache.events, 0, sizeof(rule_cache.events));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	/*
	 * Read with the latest snapshot, not the transaction's: a REPEATABLE
	 * READ transaction would otherwise load rules older than the change
	 * whose invalidation caused this load, and keep them after it ends.
	 */
	PushActiveSnapshot(GetLatestSnapshot());
	PG_TRY();
	{
		if (SPI_execute("SELECT r.rule_id, r.name, r.event, r.condition::text, "
						"r.actions::text, r.version, r.priority, r.cooldown "
						"FROM cs.rule AS r WHERE r.enabled "
						"ORDER BY r.priority, r.rule_id",
						true, 0) != SPI_OK_SELECT)
			elog(ERROR, "SPI_execute failed to read cs.rule");
	}
	PG_FINALLY();
	{
		PopActiveSnapshot();
	}
	PG_END_TRY();

	count = (int) SPI_processed;
	old_context = MemoryContextSwitchTo(rule_cache.context);
	compiled = palloc0(sizeof(CsRule *) * Max(count, 1));

	for (int i = 0; i < count; i++)
	{
		CsRule	   *rule = palloc0(sizeof(CsRule));
		HeapTuple	tuple = SPI_tuptable->vals[i];
		TupleDesc	tupdesc = SPI_tuptable->tupdesc;
		bool		isnull;
		Interval   *cooldown;
		MemoryContext rule_context;

		rule->rule_id = cs_spi_get_int64(i, 1, NULL);
		rule->name = pstrdup(cs_spi_get_text(i, 2));
		rule->version = DatumGetInt32(SPI_getbinval(tuple, tupdesc, 6, &isnull));
		rule->priority = DatumGetInt32(SPI_getbinval(tuple, tupdesc, 7, &isnull));
		cooldown = DatumGetIntervalP(SPI_getbinval(tuple, tupdesc, 8, &isnull));
		rule->cooldown = *cooldown;
		rule->has_cooldown = cooldown->time > 0 || cooldown->day > 0 ||
			cooldown->month > 0;

		rule_context = CurrentMemoryContext;
		PG_TRY();
		{
			rule->program = cs_rule_compile_or_error(cs_spi_get_text(i, 3),
													 cs_spi_get_text(i, 4),
													 cs_spi_get_text(i, 5),
													 rule_context);
		}
		PG_CATCH();
		{
			ErrorData  *error;

			MemoryContextSwitchTo(rule_context);
			error = CopyErrorData();
			FlushErrorState();
			ereport(WARNING,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("rule \"%s\" is skipped because it does not compile", rule->name),
					 errdetail("%s", error->message),
					 errhint("Fix the rule with UPDATE cs.rule, or disable it.")));
			rule->program = NULL;
		}
		PG_END_TRY();

		if (rule->program == NULL)
			continue;
		compiled[i] = rule;
		counts[rule->program->event]++;
	}

	for (int e = 0; e < RULE_EVENT_COUNT; e++)
		rule_cache.events[e].rules = palloc0(sizeof(CsRule *) * Max(counts[e], 1));
	for (int i = 0; i < count; i++)
	{
		CsRuleList *list;

		if (compiled[i] == NULL)
			continue;
		list = &rule_cache.events[compiled[i]->program->event];
		list->rules[list->count++] = compiled[i];
	}

	MemoryContextSwitchTo(old_context);
	SPI_finish();
	SetUserIdAndSecContext(saved_user, saved_security_context);

	rule_cache_valid = true;
}

/*
 * cs_rule_cache_event
 *		The enabled rules of an event, in priority order.
 */
const CsRuleList *
cs_rule_cache_event(RuleEvent event)
{
	if (!rule_cache_valid)
		rule_cache_load();
	return &rule_cache.events[event];
}

/*
 * cs_rule_cache_pin, cs_rule_cache_unpin
 *		Keep the compiled rules in memory while they are being evaluated,
 *		even when a nested change reloads the cache.
 */
void
cs_rule_cache_pin(void)
{
	rule_cache_pins++;
}

void
cs_rule_cache_unpin(void)
{
	if (rule_cache_pins > 0)
		rule_cache_pins--;
}

void
cs_rule_cache_reset_pins(void)
{
	rule_cache_pins = 0;
}
