/*-------------------------------------------------------------------------
 *
 * rule_definition.c
 *	  Saving rules: the trigger that compiles each rule written to cs.rule,
 *	  and cs.rule_vocabulary(), which lists the events, facts, operators
 *	  and actions a rule can use.
 *
 * A rule that does not compile is rejected with the JSON path of the
 * mistake, so every saved rule can be compiled by the cache. Names of
 * phases, team roles and templates are checked too, but only with a
 * WARNING: a restore can load rules before the rows they name, and an
 * action whose target is missing is skipped and recorded as such.
 *
 * Copyright (c) 2026, pg_success developers
 *
 * src/rule_definition.c
 *
 *-------------------------------------------------------------------------
 */
#include "rule_engine.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/rel.h"

PG_FUNCTION_INFO_V1(cs_rule_before_write);
PG_FUNCTION_INFO_V1(cs_rule_vocabulary);

static char *
jsonb_column_text(HeapTuple tuple, TupleDesc tupdesc, const char *column)
{
	bool		isnull;
	Datum		value = heap_getattr(tuple, SPI_fnumber(tupdesc, column), tupdesc,
									 &isnull);

	if (isnull)
		return NULL;
	return JsonbToCString(NULL, &DatumGetJsonbP(value)->root, 0);
}

/*
 * warn_missing_targets
 *		Warns about actions that name a phase, team role or template that
 *		does not exist now.
 */
static void
warn_missing_targets(const char *rule_name, const RuleProgram *program)
{
	for (int i = 0; i < program->action_count; i++)
	{
		const RuleAction *action = &program->actions[i];
		const char *sql;
		const char *target_kind;
		Oid			argtypes[1] = {TEXTOID};
		Datum		values[1];

		switch (action->kind)
		{
			case RULE_ACTION_MOVE_PHASE:
				sql = "SELECT 1 FROM cs.phase AS p WHERE p.name = $1";
				target_kind = "phase";
				break;
			case RULE_ACTION_ASSIGN_OWNER:
				sql = "SELECT 1 FROM cs.team_role AS r WHERE r.role_name = $1";
				target_kind = "team role";
				break;
			case RULE_ACTION_QUEUE_EMAIL:
				sql = "SELECT 1 FROM cs.email_template AS t WHERE t.name = $1";
				target_kind = "e-mail template";
				break;
			default:
				continue;
		}
		values[0] = CStringGetTextDatum(action->params[0]);
		if (cs_spi_execute(sql, 1, argtypes, values, NULL, SPI_OK_SELECT) == 0)
			ereport(WARNING,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("rule \"%s\" names %s \"%s\", which does not exist",
							rule_name, target_kind, action->params[0]),
					 errdetail("At %s. Until it exists, the action is skipped and its firings say so.",
							   action->path),
					 errhint("Create the %s, or correct the name in the rule.", target_kind)));
	}
}

/*
 * cs_rule_before_write
 *		BEFORE INSERT OR UPDATE row trigger on cs.rule.
 */
Datum
cs_rule_before_write(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	HeapTuple	tuple;
	TupleDesc	tupdesc;
	bool		isnull;
	Datum		event;
	Datum		name;
	char	   *condition;
	char	   *actions;
	RuleProgram *program;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("cs.rule_before_write() must run as a BEFORE row trigger")));

	tupdesc = RelationGetDescr(trigdata->tg_relation);
	tuple = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ? trigdata->tg_newtuple
		: trigdata->tg_trigtuple;

	event = heap_getattr(tuple, SPI_fnumber(tupdesc, "event"), tupdesc, &isnull);
	if (isnull)
		return PointerGetDatum(tuple);	/* the NOT NULL constraint reports it */
	name = heap_getattr(tuple, SPI_fnumber(tupdesc, "name"), tupdesc, &isnull);
	condition = jsonb_column_text(tuple, tupdesc, "condition");
	actions = jsonb_column_text(tuple, tupdesc, "actions");
	if (condition == NULL || actions == NULL)
		return PointerGetDatum(tuple);

	program = cs_rule_compile_or_error(TextDatumGetCString(event), condition,
									   actions, CurrentMemoryContext);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	warn_missing_targets(isnull ? "" : TextDatumGetCString(name), program);
	SPI_finish();

	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
	{
		int			columns[2];
		Datum		values[2];
		bool		nulls[2] = {false, false};
		int32		old_version;

		old_version = DatumGetInt32(heap_getattr(trigdata->tg_trigtuple,
												 SPI_fnumber(tupdesc, "version"),
												 tupdesc, &isnull));
		columns[0] = SPI_fnumber(tupdesc, "version");
		values[0] = Int32GetDatum(old_version + 1);
		columns[1] = SPI_fnumber(tupdesc, "updated_at");
		values[1] = TimestampTzGetDatum(GetCurrentStatementStartTimestamp());
		tuple = heap_modify_tuple_by_cols(tuple, tupdesc, 2, columns, values, nulls);
	}
	return PointerGetDatum(tuple);
}

static const char *
event_list(uint32_t events)
{
	StringInfoData list;

	if (events == RULE_ALL_EVENTS)
		return "all events";
	initStringInfo(&list);
	for (int e = 0; e < RULE_EVENT_COUNT; e++)
		if (events & RULE_EVENT_BIT(e))
			appendStringInfo(&list, "%s%s", list.len > 0 ? ", " : "",
							 cs_rule_events[e].name);
	return list.data;
}

/*
 * cs_rule_vocabulary
 *		SQL function cs.rule_vocabulary(): one row per event, fact,
 *		operator and action.
 */
Datum
cs_rule_vocabulary(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);

#define EMIT(kind, name, applies, description) \
	do { \
		Datum		values_[4]; \
		bool		nulls_[4] = {false, false, false, false}; \
		values_[0] = CStringGetTextDatum(kind); \
		values_[1] = CStringGetTextDatum(name); \
		values_[2] = CStringGetTextDatum(applies); \
		values_[3] = CStringGetTextDatum(description); \
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values_, nulls_); \
	} while (0)

	for (int e = 0; e < RULE_EVENT_COUNT; e++)
		EMIT("event", cs_rule_events[e].name,
			 cs_rule_events[e].is_timed ? "sweep" : "trigger",
			 cs_rule_events[e].description);
	for (int f = 0; f < RULE_FACT_COUNT; f++)
	{
		const RuleFactDef *fact = &cs_rule_facts[f];

		EMIT("fact",
			 fact->keyed ? psprintf("%s.<%s>", fact->name,
									f == RULE_FACT_ATTRIBUTE ? "key" : "kind")
			 : fact->name,
			 event_list(fact->events), fact->description);
	}
	for (int o = 0; o < RULE_OP_COUNT; o++)
		EMIT("operator", cs_rule_operators[o].name,
			 cs_rule_operators[o].needs_previous ?
			 "account_updated, usage_recorded, contract_changed" : "all events",
			 cs_rule_operators[o].description);
	for (int a = 0; a < RULE_ACTION_COUNT; a++)
	{
		const RuleActionDef *action = &cs_rule_actions[a];
		StringInfoData params;

		initStringInfo(&params);
		for (int p = 0; p < action->param_count; p++)
			appendStringInfo(&params, "%s%s%s", p == 0 ? "" : ", ",
							 action->params[p].name,
							 action->params[p].required ? "" : " (optional)");
		EMIT("action", action->name, params.data, action->description);
	}
#undef EMIT

	return (Datum) 0;
}
