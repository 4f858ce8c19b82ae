/*-------------------------------------------------------------------------
 *
 * rule_firing.c
 *	  Evaluating the rules of an event occurrence and firing those whose
 *	  condition holds: cooldown, actions, the firing record, and the depth
 *	  limit of chains.
 *
 * An action that changes a row raises that row's events, so rules can
 * fire rules. This file keeps the chain of rules whose actions are
 * running. Past pg_success.max_rule_depth the next event is not evaluated
 * and a WARNING names the chain, but the change that started it commits.
 *
 * Each action runs in a subtransaction. An action that fails on data (a
 * constraint, a missing row) is rolled back alone, recorded as failed with
 * its message, and reported with a WARNING; the change that fired the rule
 * commits. Cancels, deadlocks, serialization failures and resource errors
 * are not caught.
 *
 * Copyright (c) 2026, pg_success developers
 *
 * src/rule_firing.c
 *
 *-------------------------------------------------------------------------
 */
#include "rule_engine.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#define MAX_RULE_DEPTH_LIMIT 100

static int	max_rule_depth = 8;

/* False to write rows without evaluating rules, as a restore must. */
bool		cs_rules_enabled = true;

/* Names of the rules whose actions are running, outermost first. */
static int	chain_depth = 0;
static const char *chain[MAX_RULE_DEPTH_LIMIT + 1];

static SPIPlanPtr cooldown_plan;
static SPIPlanPtr firing_plan;

static void rule_xact_callback(XactEvent event, void *arg);

void
cs_rule_depth_init(void)
{
	DefineCustomIntVariable("pg_success.max_rule_depth",
							"Longest chain of rules whose actions fire further rules.",
							"Past it, the next event is not evaluated and a WARNING names the rules of the chain.",
							&max_rule_depth,
							8, 1, MAX_RULE_DEPTH_LIMIT,
							PGC_USERSET, 0,
							NULL, NULL, NULL);
	DefineCustomBoolVariable("pg_success.rules_enabled",
							 "Evaluates rules when rows of cs.account, cs.contract and cs.usage_daily change.",
							 "Turn off for a restore, so that restored rows do not fire rules a second time.",
							 &cs_rules_enabled,
							 true,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);
	RegisterXactCallback(rule_xact_callback, NULL);
}

/* An error that escaped a chain leaves no depth behind. */
static void
rule_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_COMMIT ||
		event == XACT_EVENT_PARALLEL_ABORT || event == XACT_EVENT_PREPARE)
	{
		chain_depth = 0;
		cs_rule_cache_reset_pins();
	}
}

/*
 * chain_allows
 *		False, with a WARNING naming the chain, when the rules of an event
 *		would run deeper than max_rule_depth.
 */
static bool
chain_allows(RuleEvent event)
{
	StringInfoData names;

	if (chain_depth < max_rule_depth)
		return true;

	initStringInfo(&names);
	for (int i = 0; i < chain_depth; i++)
		appendStringInfo(&names, "%s\"%s\"", i == 0 ? "" : " -> ", chain[i]);

	ereport(WARNING,
			(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
			 errmsg("rule chain stopped at depth %d: %s rules were not evaluated",
					chain_depth, cs_rule_events[event].name),
			 errdetail("The chain of rules was %s. The changes made so far are kept.",
					   names.data),
			 errhint("Change the rules so that their actions do not raise each other's events, or raise pg_success.max_rule_depth.")));
	return false;
}

/*
 * cs_rules_evaluate
 *		Evaluates the rules of a list, the occurrence's event's rules as the
 *		caller took them from the cache at the start of its statement, in
 *		priority order, and fires those whose condition holds. The caller
 *		keeps the cache pinned while it evaluates.
 */
void
cs_rules_evaluate(CsRuleEvent *event, const CsRuleList *list)
{
	const char *fired_by = NULL;

	if (list->count == 0 || !chain_allows(event->event))
		return;

	for (int i = 0; i < list->count; i++)
	{
		CsRule	   *rule = list->rules[i];

		CHECK_FOR_INTERRUPTS();
		if (!cs_rule_condition_holds(event, rule->program->condition))
			continue;

		if (fired_by == NULL)
			fired_by = cs_current_automation != NULL &&
				cs_current_automation->automation != NULL
				? cs_current_automation->automation
				: GetUserNameFromId(GetOuterUserId(), false);
		cs_rule_event_connect(event);
		cs_rule_fire(rule, cs_rule_events[event->event].name,
					 event->account_id, event->subject_id,
					 cs_rule_facts_jsonb(event, rule->program),
					 event->as_of, fired_by);
	}
}

static bool
error_is_data_error(int sqlerrcode)
{
	int			category = ERRCODE_TO_CATEGORY(sqlerrcode);

	return category == ERRCODE_DATA_EXCEPTION ||
		category == ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION ||
		category == ERRCODE_NO_DATA ||
		category == ERRCODE_CARDINALITY_VIOLATION ||
		category == ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE ||
		category == ERRCODE_RAISE_EXCEPTION ||
		sqlerrcode == ERRCODE_UNDEFINED_OBJECT ||
		sqlerrcode == ERRCODE_INVALID_PARAMETER_VALUE ||
		sqlerrcode == ERRCODE_INSUFFICIENT_PRIVILEGE;
}

/*
 * run_action_isolated
 *		Runs an action in a subtransaction; a data error rolls back that
 *		action only and becomes a failed outcome.
 *
 * NOTE: every action that writes takes a subtransaction id. Past 64 in
 * one transaction, as in a bulk load that fires rules for many rows,
 * other sessions' snapshots overflow their subtransaction cache and
 * check visibility through pg_subtrans until that transaction ends.
 */
static void
run_action_isolated(const CsRule *rule, const RuleAction *action,
					int64 account_id, Jsonb *facts, TimestampTz as_of,
					CsActionOutcome *outcome)
{
	MemoryContext caller_context = CurrentMemoryContext;
	ResourceOwner caller_owner = CurrentResourceOwner;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(caller_context);

	PG_TRY();
	{
		cs_rule_run_action(rule, action, account_id, facts, as_of, outcome);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(caller_context);
		CurrentResourceOwner = caller_owner;
	}
	PG_CATCH();
	{
		ErrorData  *error;

		MemoryContextSwitchTo(caller_context);
		error = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(caller_context);
		CurrentResourceOwner = caller_owner;

		/*
		 * Other errors end the statement. The subtransaction must be gone
		 * first: one left open makes the error handler abort only it, and
		 * the session is left in a failed transaction block.
		 */
		if (!error_is_data_error(error->sqlerrcode))
			ReThrowError(error);

		outcome->result = "failed";
		outcome->target = NULL;
		outcome->target_id = 0;
		outcome->detail = psprintf("%s (SQLSTATE %s)", error->message,
								   unpack_sql_state(error->sqlerrcode));
		ereport(WARNING,
				(errcode(error->sqlerrcode),
				 errmsg("action %s of rule \"%s\" failed for account " INT64_FORMAT ": %s",
						cs_rule_actions[action->kind].name, rule->name,
						account_id, error->message),
				 errdetail("The action was rolled back; the change that fired the rule is kept."),
				 errhint("SELECT * FROM cs.rule_effect WHERE result = 'failed' lists failed actions.")));
		FreeErrorData(error);
	}
	PG_END_TRY();
}

/*
 * cooldown_allows
 *		Claims the rule's cooldown for the account: true when the rule has
 *		not fired for it within the cooldown, and then records this firing.
 *		The upsert locks the row, so two transactions firing the same rule
 *		for the same account take turns, and the second reads the first's firing time.
 */
static bool
cooldown_allows(const CsRule *rule, int64 account_id, TimestampTz as_of)
{
	Oid			argtypes[4] = {INT8OID, INT8OID, TIMESTAMPTZOID, INTERVALOID};
	Datum		values[4];

	values[0] = Int64GetDatum(account_id);
	values[1] = Int64GetDatum(rule->rule_id);
	values[2] = TimestampTzGetDatum(as_of);
	values[3] = IntervalPGetDatum(&rule->cooldown);
	cs_spi_execute_plan(&cooldown_plan,
						"INSERT INTO cs.rule_cooldown AS c (account_id, rule_id, last_fired_at) "
						"VALUES ($1, $2, $3) ON CONFLICT (account_id, rule_id) DO UPDATE "
						"SET last_fired_at = excluded.last_fired_at "
						"WHERE c.last_fired_at + $4 <= excluded.last_fired_at "
						"RETURNING 1",
						4, argtypes, values, NULL, false, SPI_OK_INSERT_RETURNING);
	return SPI_processed == 1;
}

static void
append_outcome(StringInfo json, const RuleAction *action,
			   const CsActionOutcome *outcome, bool first)
{
	appendStringInfoString(json, first ? "{" : ",{");
	appendStringInfoString(json, "\"action\":");
	escape_json(json, cs_rule_actions[action->kind].name);
	appendStringInfoString(json, ",\"result\":");
	escape_json(json, outcome->result != NULL ? outcome->result : "unchanged");
	appendStringInfoString(json, ",\"target\":");
	if (outcome->target != NULL)
		escape_json(json, outcome->target);
	else
		appendStringInfoString(json, "null");
	appendStringInfoString(json, ",\"target_id\":");
	if (outcome->target != NULL && outcome->target_id != 0)
		appendStringInfo(json, INT64_FORMAT, outcome->target_id);
	else
		appendStringInfoString(json, "null");
	appendStringInfoString(json, ",\"detail\":");
	escape_json(json, outcome->detail != NULL ? outcome->detail : "");
	appendStringInfoChar(json, '}');
}

/*
 * cs_rule_fire
 *		Fires a rule whose condition holds for an account: claims the
 *		cooldown, runs the actions and records the firing. Returns the id
 *		of the firing, or 0 when the cooldown held the rule back. SPI is
 *		connected.
 */
int64
cs_rule_fire(const CsRule *rule, const char *event_name, int64 account_id,
			 int64 subject_id, Jsonb *facts, TimestampTz as_of,
			 const char *fired_by)
{
	StringInfoData actions;
	Oid			argtypes[11] = {INT8OID, INT8OID, TEXTOID, INT4OID, TEXTOID, INT8OID,
	INT4OID, JSONBOID, TEXTOID, TIMESTAMPTZOID, TEXTOID};
	Datum		values[11];
	char		nulls[11] = "           ";
	const RuleProgram *program = rule->program;

	if (rule->has_cooldown && !cooldown_allows(rule, account_id, as_of))
		return 0;

	initStringInfo(&actions);
	appendStringInfoChar(&actions, '[');

	chain[chain_depth++] = rule->name;
	PG_TRY();
	{
		for (int i = 0; i < program->action_count; i++)
		{
			CsActionOutcome outcome;

			memset(&outcome, 0, sizeof(outcome));
			run_action_isolated(rule, &program->actions[i], account_id, facts,
								as_of, &outcome);
			append_outcome(&actions, &program->actions[i], &outcome, i == 0);
		}
	}
	PG_FINALLY();
	{
		chain_depth--;
	}
	PG_END_TRY();
	appendStringInfoChar(&actions, ']');

	values[0] = Int64GetDatum(account_id);
	values[1] = Int64GetDatum(rule->rule_id);
	values[2] = CStringGetTextDatum(rule->name);
	values[3] = Int32GetDatum(rule->version);
	values[4] = CStringGetTextDatum(event_name);
	values[5] = Int64GetDatum(subject_id);
	if (subject_id == 0)
		nulls[5] = 'n';
	values[6] = Int32GetDatum(chain_depth + 1);
	values[7] = JsonbPGetDatum(facts);
	values[8] = CStringGetTextDatum(actions.data);
	values[9] = TimestampTzGetDatum(as_of);
	values[10] = CStringGetTextDatum(fired_by);

	cs_spi_execute_plan(&firing_plan,
						"INSERT INTO cs.rule_firing (account_id, rule_id, rule_name, rule_version, "
						"event, subject_id, depth, facts, actions, fired_at, fired_by) "
						"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11) "
						"RETURNING rule_firing_id",
						11, argtypes, values, nulls, false, SPI_OK_INSERT_RETURNING);
	return cs_spi_get_int64(0, 1, NULL);
}
