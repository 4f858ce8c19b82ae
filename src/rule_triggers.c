/*-------------------------------------------------------------------------
 *
 * rule_triggers.c
 *	  The statement triggers that raise the row events: account_created,
 *	  account_updated and phase_entered on cs.account, contract_changed on
 *	  cs.contract, usage_recorded on cs.usage_daily.
 *
 * The triggers read the statement's transition tables directly, row by
 * row, with no query. SPI is connected for a row only when a fact or a
 * firing needs it, and disconnected after the row, which frees what the
 * row's queries allocated. When no enabled rule listens to the table's
 * events, the triggers return at once. Otherwise a row that matches none
 * of the rules costs the evaluation of their conditions and nothing else.
 *
 * The triggers run after the journey triggers of cs.account (their names
 * sort after them), so rules see the phase and owner that the statement
 * gave the account. They run as the owner of the table, so that rules can
 * write alerts and firings whatever the privileges of the user whose
 * change fired them.
 *
 * Copyright (c) 2026, pg_success developers
 *
 * src/rule_triggers.c
 *
 *-------------------------------------------------------------------------
 */
#include "rule_engine.h"

#include "commands/trigger.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/tuplestore.h"

PG_FUNCTION_INFO_V1(cs_rule_evaluate_changes);

#define MAX_TABLE_EVENTS 2

static int
open_reader(Tuplestorestate *store)
{
	int			reader = tuplestore_alloc_read_pointer(store, EXEC_FLAG_REWIND);

	tuplestore_select_read_pointer(store, reader);
	tuplestore_rescan(store);
	return reader;
}

static bool
read_row(Tuplestorestate *store, int reader, TupleTableSlot *slot)
{
	tuplestore_select_read_pointer(store, reader);
	return tuplestore_gettupleslot(store, true, false, slot);
}

static int64
int64_column(TupleTableSlot *slot, AttrNumber attnum)
{
	bool		isnull;
	Datum		value;

	if (attnum == InvalidAttrNumber)
		return 0;
	value = slot_getattr(slot, attnum, &isnull);
	return isnull ? 0 : DatumGetInt64(value);
}

/*
 * table_events
 *		The events that a change to the trigger's table raises.
 */
static int
table_events(TriggerData *trigdata, RuleEvent *events, RuleSubject *subject)
{
	const char *table = RelationGetRelationName(trigdata->tg_relation);
	bool		inserted = TRIGGER_FIRED_BY_INSERT(trigdata->tg_event);

	if (strcmp(table, "account") == 0)
	{
		*subject = RULE_SUBJECT_ACCOUNT;
		events[0] = inserted ? RULE_EVENT_ACCOUNT_CREATED : RULE_EVENT_ACCOUNT_UPDATED;
		events[1] = RULE_EVENT_PHASE_ENTERED;
		return 2;
	}
	if (strcmp(table, "contract") == 0)
	{
		*subject = RULE_SUBJECT_CONTRACT;
		events[0] = RULE_EVENT_CONTRACT_CHANGED;
		return 1;
	}
	if (strcmp(table, "usage_daily") == 0)
	{
		*subject = RULE_SUBJECT_USAGE;
		events[0] = RULE_EVENT_USAGE_RECORDED;
		return 1;
	}
	ereport(ERROR,
			(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
			 errmsg("cs.rule_evaluate_changes() cannot run on table \"%s\"", table),
			 errhint("The extension installs it on cs.account, cs.contract and cs.usage_daily only.")));
	return 0;
}

/*
 * cs_rule_evaluate_changes
 *		AFTER INSERT or UPDATE statement trigger with transition tables.
 */
Datum
cs_rule_evaluate_changes(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	RuleEvent	events[MAX_TABLE_EVENTS];
	RuleSubject subject;
	int			event_count;
	bool		any_rules = false;
	Tuplestorestate *new_rows;
	Tuplestorestate *old_rows;
	TupleDesc	tupdesc;
	TupleTableSlot *new_slot;
	TupleTableSlot *old_slot = NULL;
	int			new_reader;
	int			old_reader = -1;
	CsRowColumns columns;
	CsRuleEvent occurrence;
	const CsRuleList *lists[MAX_TABLE_EVENTS];
	MemoryContext row_context;
	MemoryContext caller_context;
	Oid			saved_user;
	int			saved_security_context;

	if (!CALLED_AS_TRIGGER(fcinfo) ||
		!TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event) ||
		trigdata->tg_newtable == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("cs.rule_evaluate_changes() must run as an AFTER statement trigger with a NEW TABLE")));

	if (!cs_rules_enabled)
		return PointerGetDatum(NULL);

	/*
	 * The statement evaluates the rules as they are now, even when a rule
	 * changes while it runs. The pin keeps them in memory until it ends.
	 */
	event_count = table_events(trigdata, events, &subject);
	for (int e = 0; e < event_count; e++)
	{
		lists[e] = cs_rule_cache_event(events[e]);
		any_rules = any_rules || lists[e]->count > 0;
	}
	if (!any_rules)
		return PointerGetDatum(NULL);
	cs_rule_cache_pin();

	new_rows = trigdata->tg_newtable;
	old_rows = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ? trigdata->tg_oldtable : NULL;
	tupdesc = RelationGetDescr(trigdata->tg_relation);
	cs_rule_columns_for(tupdesc, &columns);

	caller_context = CurrentMemoryContext;
	GetUserIdAndSecContext(&saved_user, &saved_security_context);
	SetUserIdAndSecContext(trigdata->tg_relation->rd_rel->relowner,
						   saved_security_context | SECURITY_LOCAL_USERID_CHANGE);

	row_context = AllocSetContextCreate(caller_context, "pg_success rule row",
										ALLOCSET_DEFAULT_SIZES);
	new_slot = MakeSingleTupleTableSlot(tupdesc, &TTSOpsMinimalTuple);
	new_reader = open_reader(new_rows);
	if (old_rows != NULL)
	{
		old_slot = MakeSingleTupleTableSlot(tupdesc, &TTSOpsMinimalTuple);
		old_reader = open_reader(old_rows);
	}

	memset(&occurrence, 0, sizeof(occurrence));
	occurrence.columns = &columns;
	occurrence.as_of = cs_current_automation != NULL && cs_current_automation->as_of != 0
		? cs_current_automation->as_of : GetCurrentTransactionStartTimestamp();

	/*
	 * The old and new transition tables of an UPDATE contain the two
	 * versions of each row at the same position. A row whose key differs
	 * from its partner's is treated as having no old version.
	 */
	while (read_row(new_rows, new_reader, new_slot))
	{
		bool		has_old = false;
		MemoryContext saved;

		CHECK_FOR_INTERRUPTS();
		if (old_rows != NULL && read_row(old_rows, old_reader, old_slot))
			has_old = int64_column(old_slot, columns.account_id) ==
				int64_column(new_slot, columns.account_id) &&
				int64_column(old_slot, columns.contract_id) ==
				int64_column(new_slot, columns.contract_id);

		saved = MemoryContextSwitchTo(row_context);
		occurrence.row = new_slot;
		occurrence.old_row = has_old ? old_slot : NULL;
		occurrence.account_id = int64_column(new_slot, columns.account_id);
		occurrence.subject_id = subject == RULE_SUBJECT_CONTRACT ?
			int64_column(new_slot, columns.contract_id) : 0;

		for (int e = 0; e < event_count; e++)
		{
			occurrence.event = events[e];

			/* An update raises phase_entered only when the phase changed. */
			if (events[e] == RULE_EVENT_PHASE_ENTERED && old_rows != NULL &&
				(!has_old || int64_column(old_slot, columns.phase_id) ==
				 int64_column(new_slot, columns.phase_id)))
				continue;

			cs_rule_event_reset(&occurrence);
			cs_rules_evaluate(&occurrence, lists[e]);
		}
		cs_rule_event_disconnect(&occurrence);

		MemoryContextSwitchTo(saved);
		MemoryContextReset(row_context);
	}

	ExecDropSingleTupleTableSlot(new_slot);
	if (old_slot != NULL)
		ExecDropSingleTupleTableSlot(old_slot);
	MemoryContextDelete(row_context);

	cs_rule_cache_unpin();
	SetUserIdAndSecContext(saved_user, saved_security_context);
	return PointerGetDatum(NULL);
}
