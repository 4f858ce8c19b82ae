/*-------------------------------------------------------------------------
 *
 * phase_transitions.c
 *	  cs.run_phase_transitions(as_of): moves accounts whose phase is over to
 *	  the next phase, in one statement over all accounts.
 *
 * Boundary rule: an account is moved when phase_entered_at + max_duration
 * <= as_of, so at exactly the end of its phase or later. The sum is
 * computed by timestamptz + interval, so day and month steps follow the
 * session's TimeZone (a day across a DST change is 23 or 25 hours).
 *
 * An account several phases behind moves through each of them in the same
 * run, and each step is recorded at the time it was due, so a late run
 * writes the same history as a punctual one.
 *
 * Copyright (c) 2026, pg_success developers
 *
 * src/phase_transitions.c
 *
 *-------------------------------------------------------------------------
 */
#include "pg_success.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(cs_run_phase_transitions);

/* Key of the transaction-level advisory lock that serializes runs. */
#define CS_PHASE_TRANSITIONS_LOCK_KEY 1668481025

/*
 * The recursive part walks next_phase_id for as long as each phase has
 * ended by as_of. The journey check on cs.phase rules out cycles at
 * commit, and the step limit ends the walk after one step per phase also
 * inside a transaction with an uncommitted cycle.
 *
 * The UPDATE re-checks the phase and entry time it started from, so an
 * account changed by a concurrent transaction in the meantime is skipped,
 * and only accounts actually moved get history rows.
 */
static const char *transition_sql =
"WITH RECURSIVE due AS ("
"  SELECT a.account_id, a.phase_id AS start_phase_id, "
"         a.phase_entered_at AS start_entered_at, "
"         a.phase_id AS from_phase_id, p.next_phase_id AS to_phase_id, "
"         a.phase_entered_at + p.max_duration AS due_at, "
"         p.name AS from_name, 1 AS step "
"  FROM cs.account AS a "
"  JOIN cs.phase AS p ON p.phase_id = a.phase_id "
"  WHERE a.status = 'active' "
"    AND p.next_phase_id IS NOT NULL "
"    AND a.phase_entered_at + p.max_duration <= $1 "
"  UNION ALL "
"  SELECT d.account_id, d.start_phase_id, d.start_entered_at, "
"         d.to_phase_id, p.next_phase_id, d.due_at + p.max_duration, "
"         p.name, d.step + 1 "
"  FROM due AS d "
"  JOIN cs.phase AS p ON p.phase_id = d.to_phase_id "
"  WHERE p.next_phase_id IS NOT NULL "
"    AND d.due_at + p.max_duration <= $1 "
"    AND d.step < (SELECT pg_catalog.count(*) FROM cs.phase) "
"), "
"last_step AS ("
"  SELECT DISTINCT ON (d.account_id) d.account_id, d.start_phase_id, "
"         d.start_entered_at, d.to_phase_id, d.due_at "
"  FROM due AS d "
"  ORDER BY d.account_id, d.step DESC"
"), "
"moved AS ("
"  UPDATE cs.account AS a "
"  SET phase_id = l.to_phase_id, phase_entered_at = l.due_at "
"  FROM last_step AS l "
"  WHERE a.account_id = l.account_id "
"    AND a.phase_id = l.start_phase_id "
"    AND a.phase_entered_at = l.start_entered_at "
"    AND a.status = 'active' "
"  RETURNING a.account_id"
"), "
"logged AS ("
"  INSERT INTO cs.phase_history "
"  (account_id, changed_at, from_phase_id, to_phase_id, changed_by, reason) "
"  SELECT d.account_id, d.due_at, d.from_phase_id, d.to_phase_id, "
"         'phase_transition', "
"         pg_catalog.format('max_duration of %s reached', d.from_name) "
"  FROM due AS d "
"  WHERE d.account_id IN (SELECT m.account_id FROM moved AS m) "
"  ORDER BY d.account_id, d.step"
") "
"SELECT m.account_id FROM moved AS m";

/*
 * cs_run_phase_transitions
 *		SQL function cs.run_phase_transitions(as_of): moves due accounts,
 *		assigns owners where the new phase belongs to another role, and
 *		returns the number of accounts moved. Runs as the owner of
 *		cs.account. Concurrent runs wait for each other on an advisory lock
 *		so that none moves an account twice.
 */
Datum
cs_run_phase_transitions(PG_FUNCTION_ARGS)
{
	TimestampTz as_of;
	Oid			account_table;
	Oid			saved_user;
	int			saved_security_context;
	Oid			argtypes[1] = {TIMESTAMPTZOID};
	Datum		values[1];
	CsAutomationContext context = {"phase_transition", 0, true, true};
	CsAutomationContext *saved_automation = cs_current_automation;
	int64		moved_count;
	int64	   *moved_ids;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("as_of must not be NULL"),
				 errhint("Pass a time, or omit the argument to use now().")));
	as_of = PG_GETARG_TIMESTAMPTZ(0);
	if (TIMESTAMP_NOT_FINITE(as_of))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("as_of must be a finite time, not %s",
						TIMESTAMP_IS_NOBEGIN(as_of) ? "-infinity" : "infinity"),
				 errhint("Pass a time between 1900-01-01 and 9999-12-31.")));

	cs_schema_oid();
	account_table = cs_relation_oid("account");
	if (!OidIsValid(account_table))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"cs.account\" does not exist"),
				 errhint("Run CREATE EXTENSION pg_success in this database.")));

	GetUserIdAndSecContext(&saved_user, &saved_security_context);
	SetUserIdAndSecContext(cs_relation_owner(account_table),
						   saved_security_context | SECURITY_LOCAL_USERID_CHANGE);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	/*
	 * Take the lock in its own statement, so that the transition statement
	 * takes its snapshot after a concurrent run has committed.
	 */
	cs_spi_execute("SELECT pg_catalog.pg_advisory_xact_lock(" CppAsString2(CS_PHASE_TRANSITIONS_LOCK_KEY) ")",
				   0, NULL, NULL, NULL, SPI_OK_SELECT);

	values[0] = TimestampTzGetDatum(as_of);

	context.as_of = as_of;
	cs_current_automation = &context;
	PG_TRY();
	{
		cs_spi_execute(transition_sql, 1, argtypes, values, NULL, SPI_OK_SELECT);
	}
	PG_FINALLY();
	{
		cs_current_automation = saved_automation;
	}
	PG_END_TRY();

	moved_count = (int64) SPI_processed;
	moved_ids = palloc(sizeof(int64) * Max(moved_count, 1));
	for (int64 i = 0; i < moved_count; i++)
		moved_ids[i] = cs_spi_get_int64((int) i, 1, NULL);

	if (moved_count > 0)
	{
		Oid			id_types[1] = {INT8ARRAYOID};
		Datum		id_values[1];

		id_values[0] = cs_int64_array(moved_ids, (int) moved_count);
		cs_assign_owners_where("a.account_id IN (SELECT pg_catalog.unnest($1))",
							   1, id_types, id_values, as_of, true,
							   "owner_assignment");
	}

	SPI_finish();
	SetUserIdAndSecContext(saved_user, saved_security_context);

	PG_RETURN_INT64(moved_count);
}
