/*-------------------------------------------------------------------------
 *
 * rule_sweeps.c
 *	  The sweeps that raise the timed events renewal_due and phase_overdue.
 *
 * Each sweep finds what became due with one set-based statement, which
 * also records every occurrence in cs.time_event_occurrence, so that an
 * occurrence is raised once however often the sweep runs and whatever
 * as_of it is given. Then the rules of the event are evaluated for each
 * new occurrence, as a trigger would evaluate them for a changed row.
 *
 * renewal_due: an active contract of an active account whose end date is
 * within a threshold (90, 60 and 30 days by default) raises the event for
 * the nearest threshold it reached. Farther thresholds reached in the same
 * sweep, as when a contract is loaded 20 days before its end, are recorded
 * as passed over and do not fire. A threshold at or beyond one already
 * recorded for the contract's end date never fires, so adding a farther
 * threshold later notifies no contract twice. Occurrences name the end
 * date: a contract whose end date moves is due again.
 *
 * phase_overdue: an active account that has spent longer than share times
 * its phase's max_duration in the phase raises the event once per entry
 * into the phase. Phases without a duration are never overdue.
 *
 * Copyright (c) 2026, pg_success developers
 *
 * src/rule_sweeps.c
 *
 *-------------------------------------------------------------------------
 */
#include "rule_engine.h"

#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/lsyscache.h"

PG_FUNCTION_INFO_V1(cs_run_renewal_due);
PG_FUNCTION_INFO_V1(cs_run_phase_overdue);

#define MAX_THRESHOLD_DAYS 3650

/* One occurrence found by a sweep. */
typedef struct DueItem
{
	int64		account_id;
	int64		subject_id;		/* contract_id, or the phase_id */
	double		value;			/* the threshold in days, or the phase share */
} DueItem;

static TimestampTz
sweep_as_of(FunctionCallInfo fcinfo)
{
	TimestampTz as_of;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("as_of must not be NULL"),
				 errhint("Pass the time the sweep runs for, such as now().")));
	as_of = PG_GETARG_TIMESTAMPTZ(0);
	if (TIMESTAMP_NOT_FINITE(as_of))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("as_of must be a finite time, not %s",
						TIMESTAMP_IS_NOBEGIN(as_of) ? "-infinity" : "infinity"),
				 errhint("Pass the time the sweep runs for, such as now().")));
	return as_of;
}

/*
 * copy_due_items
 *		Copies the rows of the last SPI result (account, subject, value)
 *		out of SPI memory, because evaluating rules runs further queries.
 */
static DueItem *
copy_due_items(int *count, MemoryContext context)
{
	DueItem    *items;
	int			rows = (int) SPI_processed;

	items = MemoryContextAlloc(context, sizeof(DueItem) * Max(rows, 1));
	for (int i = 0; i < rows; i++)
	{
		bool		isnull;

		items[i].account_id = cs_spi_get_int64(i, 1, NULL);
		items[i].subject_id = cs_spi_get_int64(i, 2, NULL);
		items[i].value = DatumGetFloat8(SPI_getbinval(SPI_tuptable->vals[i],
													  SPI_tuptable->tupdesc, 3,
													  &isnull));
	}
	*count = rows;
	return items;
}

/*
 * evaluate_items
 *		Evaluates the rules of an event for each occurrence, with the row
 *		that the fetch statement returns for (account, subject) as the
 *		event's row.
 */
static void
evaluate_items(RuleEvent event_kind, DueItem *items, int count,
			   const char *fetch_sql, TimestampTz as_of)
{
	MemoryContext caller_context = CurrentMemoryContext;
	MemoryContext item_context;
	CsRuleEvent occurrence;
	CsRowColumns columns;
	SPIPlanPtr	fetch_plan = NULL;
	Oid			argtypes[2] = {INT8OID, INT8OID};
	const CsRuleList *list = cs_rule_cache_event(event_kind);

	if (list->count == 0)
		return;
	cs_rule_cache_pin();

	item_context = AllocSetContextCreate(caller_context, "pg_success sweep item",
										 ALLOCSET_DEFAULT_SIZES);
	memset(&occurrence, 0, sizeof(occurrence));
	occurrence.event = event_kind;
	occurrence.as_of = as_of;

	for (int i = 0; i < count; i++)
	{
		Datum		values[2];
		TupleTableSlot *slot;
		TupleDesc	tupdesc;

		CHECK_FOR_INTERRUPTS();
		MemoryContextSwitchTo(item_context);

		values[0] = Int64GetDatum(items[i].account_id);
		values[1] = Int64GetDatum(items[i].subject_id);
		if (fetch_plan == NULL)
		{
			fetch_plan = SPI_prepare(fetch_sql, 2, argtypes);
			if (fetch_plan == NULL)
				elog(ERROR, "SPI_prepare failed for: %s", fetch_sql);
		}
		if (SPI_execute_plan(fetch_plan, values, NULL, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "SPI_execute_plan failed for: %s", fetch_sql);
		if (SPI_processed != 1)
		{
			/* The row went away after the sweep statement; nothing to do. */
			MemoryContextSwitchTo(caller_context);
			MemoryContextReset(item_context);
			continue;
		}

		tupdesc = CreateTupleDescCopy(SPI_tuptable->tupdesc);
		slot = MakeSingleTupleTableSlot(tupdesc, &TTSOpsHeapTuple);
		ExecStoreHeapTuple(SPI_copytuple(SPI_tuptable->vals[0]), slot, true);
		SPI_freetuptable(SPI_tuptable);
		cs_rule_columns_for(tupdesc, &columns);

		occurrence.row = slot;
		occurrence.old_row = NULL;
		occurrence.columns = &columns;
		occurrence.account_id = items[i].account_id;
		occurrence.subject_id = event_kind == RULE_EVENT_RENEWAL_DUE ? items[i].subject_id : 0;
		occurrence.renewal_threshold = items[i].value;
		occurrence.phase_share = items[i].value;

		cs_rule_event_reset(&occurrence);
		cs_rules_evaluate(&occurrence, list);
		cs_rule_event_disconnect(&occurrence);
		ExecDropSingleTupleTableSlot(slot);

		MemoryContextSwitchTo(caller_context);
		MemoryContextReset(item_context);
	}

	MemoryContextDelete(item_context);
	if (fetch_plan != NULL)
		SPI_freeplan(fetch_plan);
	cs_rule_cache_unpin();
}

/*
 * run_sweep
 *		Runs a sweep statement and the rules of its occurrences as the owner
 *		of cs.rule, with the sweep named as the author of what the rules do.
 */
static int64
run_sweep(RuleEvent event_kind, const char *find_sql, int nargs,
		  Oid *argtypes, Datum *values, const char *fetch_sql,
		  TimestampTz as_of)
{
	Oid			saved_user;
	int			saved_security_context;
	CsAutomationContext context = {NULL, as_of, false, false};
	CsAutomationContext *saved_context = cs_current_automation;
	DueItem    *items;
	int			count;

	context.automation = cs_rule_events[event_kind].name;

	GetUserIdAndSecContext(&saved_user, &saved_security_context);
	SetUserIdAndSecContext(cs_relation_owner(cs_relation_oid("rule")),
						   saved_security_context | SECURITY_LOCAL_USERID_CHANGE);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	cs_current_automation = &context;
	PG_TRY();
	{
		cs_spi_execute(find_sql, nargs, argtypes, values, NULL,
					   SPI_OK_SELECT);
		items = copy_due_items(&count, CurrentMemoryContext);
		evaluate_items(event_kind, items, count, fetch_sql, as_of);
	}
	PG_FINALLY();
	{
		cs_current_automation = saved_context;
	}
	PG_END_TRY();

	SPI_finish();
	SetUserIdAndSecContext(saved_user, saved_security_context);
	return count;
}

/*
 * cs_run_renewal_due
 *		SQL function cs.run_renewal_due(as_of, thresholds).
 */
Datum
cs_run_renewal_due(PG_FUNCTION_ARGS)
{
	TimestampTz as_of = sweep_as_of(fcinfo);
	ArrayType  *thresholds;
	Datum	   *elements;
	bool	   *nulls;
	int			count;
	Oid			argtypes[2] = {TIMESTAMPTZOID, INT4ARRAYOID};
	Datum		values[2];

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("thresholds must not be NULL"),
				 errhint("Pass days before the end date, such as '{90,60,30}'.")));
	thresholds = PG_GETARG_ARRAYTYPE_P(1);
	if (ARR_NDIM(thresholds) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("thresholds must be a one-dimensional array, not %d-dimensional",
						ARR_NDIM(thresholds)),
				 errhint("Pass days before the end date, such as '{90,60,30}'.")));
	deconstruct_array(thresholds, INT4OID, 4, true, TYPALIGN_INT,
					  &elements, &nulls, &count);
	if (count == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("thresholds must not be empty"),
				 errhint("Pass days before the end date, such as '{90,60,30}'.")));
	for (int i = 0; i < count; i++)
	{
		if (nulls[i] || DatumGetInt32(elements[i]) < 1 ||
			DatumGetInt32(elements[i]) > MAX_THRESHOLD_DAYS)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid renewal threshold %s",
							nulls[i] ? "NULL" : psprintf("%d", DatumGetInt32(elements[i]))),
					 errhint("Each threshold is a number of days from 1 to %d.",
							 MAX_THRESHOLD_DAYS)));
	}

	values[0] = TimestampTzGetDatum(as_of);
	values[1] = PointerGetDatum(thresholds);

	PG_RETURN_INT64(run_sweep(RULE_EVENT_RENEWAL_DUE,
							  "WITH due AS ("
							  "  SELECT c.account_id, c.contract_id, t.days, "
							  "  'contract:' || c.contract_id || ':end:' || pg_catalog.to_char(c.end_date, 'YYYY-MM-DD') "
							  "  || ':days:' || t.days AS occurrence, "
							  "  row_number() OVER (PARTITION BY c.account_id, c.contract_id "
							  "  ORDER BY t.days) AS nearest "
							  "  FROM cs.contract AS c "
							  "  JOIN cs.account AS a ON a.account_id = c.account_id AND a.status = 'active' "
							  "  CROSS JOIN (SELECT DISTINCT d AS days FROM pg_catalog.unnest($2) AS d) AS t "
							  "  WHERE c.status = 'active' "
							  "  AND c.end_date >= ($1)::date AND c.end_date <= ($1)::date + t.days "
							  "  AND NOT EXISTS (SELECT 1 FROM cs.time_event_occurrence AS o "
							  "  WHERE o.account_id = c.account_id AND o.event = 'renewal_due' "
							  "  AND o.occurrence LIKE 'contract:' || c.contract_id || ':end:' "
							  "  || pg_catalog.to_char(c.end_date, 'YYYY-MM-DD') || ':days:%' "
							  "  AND pg_catalog.split_part(o.occurrence, ':', 6)::int <= t.days)), "
							  "recorded AS ("
							  "  INSERT INTO cs.time_event_occurrence "
							  "  (account_id, event, occurrence, occurred_at, fired) "
							  "  SELECT d.account_id, 'renewal_due', d.occurrence, $1, d.nearest = 1 "
							  "  FROM due AS d ORDER BY d.account_id, d.occurrence "
							  "  ON CONFLICT DO NOTHING "
							  "  RETURNING account_id, occurrence, fired) "
							  "SELECT d.account_id, d.contract_id, d.days::float8 "
							  "FROM recorded AS r JOIN due AS d "
							  "ON d.account_id = r.account_id AND d.occurrence = r.occurrence "
							  "WHERE r.fired ORDER BY d.account_id, d.contract_id",
							  2, argtypes, values,
							  "SELECT * FROM cs.contract AS c "
							  "WHERE c.account_id = $1 AND c.contract_id = $2",
							  as_of));
}

/*
 * cs_run_phase_overdue
 *		SQL function cs.run_phase_overdue(as_of, share).
 */
Datum
cs_run_phase_overdue(PG_FUNCTION_ARGS)
{
	TimestampTz as_of = sweep_as_of(fcinfo);
	float8		share;
	Oid			argtypes[2] = {TIMESTAMPTZOID, FLOAT8OID};
	Datum		values[2];

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("share must not be NULL"),
				 errhint("Pass the share of the phase's duration, such as 0.8.")));
	share = PG_GETARG_FLOAT8(1);
	if (isnan(share) || share <= 0 || share > 100)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid share %s", float8out_internal(share)),
				 errhint("Pass a share of the phase's duration above 0 and at most 100, such as 0.8.")));

	values[0] = TimestampTzGetDatum(as_of);
	values[1] = Float8GetDatum(share);

	PG_RETURN_INT64(run_sweep(RULE_EVENT_PHASE_OVERDUE,
							  "WITH overdue AS ("
							  "  SELECT a.account_id, a.phase_id, "
							  "  extract(epoch FROM $1 - a.phase_entered_at)::float8 "
							  "  / extract(epoch FROM p.max_duration)::float8 AS phase_share, "
							  "  'phase:' || a.phase_id || ':entered:' || "
							  "  pg_catalog.to_char(a.phase_entered_at AT TIME ZONE 'UTC', "
							  "  'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS occurrence "
							  "  FROM cs.account AS a JOIN cs.phase AS p ON p.phase_id = a.phase_id "
							  "  WHERE a.status = 'active' AND p.max_duration IS NOT NULL "
							  "  AND a.phase_entered_at < $1 - p.max_duration * $2), "
							  "recorded AS ("
							  "  INSERT INTO cs.time_event_occurrence "
							  "  (account_id, event, occurrence, occurred_at, fired) "
							  "  SELECT o.account_id, 'phase_overdue', o.occurrence, $1, true "
							  "  FROM overdue AS o ORDER BY o.account_id "
							  "  ON CONFLICT DO NOTHING "
							  "  RETURNING account_id, occurrence) "
							  "SELECT o.account_id, o.phase_id, round(o.phase_share::numeric, 4)::float8 "
							  "FROM recorded AS r JOIN overdue AS o "
							  "ON o.account_id = r.account_id AND o.occurrence = r.occurrence "
							  "ORDER BY o.account_id",
							  2, argtypes, values,
							  "SELECT * FROM cs.account AS a "
							  "WHERE a.account_id = $1 AND a.phase_id = $2",
							  as_of));
}
