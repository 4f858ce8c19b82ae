/*-------------------------------------------------------------------------
 *
 * account_triggers.c
 *	  Triggers on cs.account and cs.team_member that keep the journey and
 *	  ownership current. New accounts enter the default phase and churned
 *	  ones the churn phase. Every phase and owner change is recorded, and
 *	  accounts entering a phase owned by another role get a new owner.
 *
 * The row trigger only edits the row in memory. The statement triggers do
 * the SQL work once per statement over its transition tables, so a COPY
 * of a million accounts runs a few statements, not a few million. They run
 * as the owner of the table, so that users need no privileges on the
 * history tables and cannot write history themselves.
 *
 * Copyright (c) 2026, pg_success developers
 *
 * src/account_triggers.c
 *
 *-------------------------------------------------------------------------
 */
#include "pg_success.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/rel.h"

PG_FUNCTION_INFO_V1(cs_account_before_insert_statement);
PG_FUNCTION_INFO_V1(cs_account_before_write);
PG_FUNCTION_INFO_V1(cs_account_after_insert);
PG_FUNCTION_INFO_V1(cs_account_after_update);
PG_FUNCTION_INFO_V1(cs_team_member_after_update);
PG_FUNCTION_INFO_V1(cs_team_member_after_insert);

/* Columns of cs.account that the row trigger reads or sets. */
typedef struct AccountColumns
{
	int			account_id;
	int			status;
	int			created_at;
	int			churned_at;
	int			phase_id;
	int			phase_entered_at;
} AccountColumns;

static void check_trigger_call(FunctionCallInfo fcinfo, const char *name,
							   bool expected_event);
static AccountColumns account_columns(TupleDesc tupdesc);
static bool status_is_churned(HeapTuple tuple, TupleDesc tupdesc, int column);
static TimestampTz change_time(void);
static HeapTuple place_new_account(HeapTuple tuple, TupleDesc tupdesc,
								   const AccountColumns *columns);
static HeapTuple follow_status_change(HeapTuple old_tuple, HeapTuple tuple,
									  TupleDesc tupdesc,
									  const AccountColumns *columns);
static void begin_as_table_owner(Relation relation, TriggerData *trigdata,
								 Oid *saved_user, int *saved_context);
static void end_as_table_owner(Oid saved_user, int saved_context);
static void assign_for_member_change(TriggerData *trigdata,
									 const char *account_filter);

/*
 * check_trigger_call
 *		Rejects a call that is not a trigger call, or one fired by another
 *		event than the function is written for. expected_event is evaluated
 *		by the caller only after CALLED_AS_TRIGGER holds, so it is passed as
 *		a macro expression over trigdata.
 */
static void
check_trigger_call(FunctionCallInfo fcinfo, const char *name,
				   bool expected_event)
{
	if (!expected_event)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s was called outside the trigger it is written for", name),
				 errhint("Use the triggers that CREATE EXTENSION pg_success defines.")));
}

static AccountColumns
account_columns(TupleDesc tupdesc)
{
	AccountColumns columns;

	columns.account_id = SPI_fnumber(tupdesc, "account_id");
	columns.status = SPI_fnumber(tupdesc, "status");
	columns.created_at = SPI_fnumber(tupdesc, "created_at");
	columns.churned_at = SPI_fnumber(tupdesc, "churned_at");
	columns.phase_id = SPI_fnumber(tupdesc, "phase_id");
	columns.phase_entered_at = SPI_fnumber(tupdesc, "phase_entered_at");

	if (columns.account_id <= 0 || columns.status <= 0 ||
		columns.created_at <= 0 || columns.churned_at <= 0 ||
		columns.phase_id <= 0 || columns.phase_entered_at <= 0)
		elog(ERROR, "cs.account is missing a column the journey trigger needs");
	return columns;
}

static bool
status_is_churned(HeapTuple tuple, TupleDesc tupdesc, int column)
{
	bool		isnull;
	Datum		status = SPI_getbinval(tuple, tupdesc, column, &isnull);
	bool		churned;
	char	   *status_text;

	if (isnull)
		return false;
	status_text = TextDatumGetCString(status);
	churned = (strcmp(status_text, "churned") == 0);
	pfree(status_text);
	return churned;
}

/*
 * change_time
 *		Returns the time to record for a change: the as_of of the running
 *		automation, else the start of the transaction, which is what now()
 *		and the column defaults use.
 */
static TimestampTz
change_time(void)
{
	if (cs_current_automation != NULL)
		return cs_current_automation->as_of;
	return GetCurrentTransactionStartTimestamp();
}

/*
 * place_new_account
 *		Fills in the phase of a new account and buffers its entry for the
 *		history. The phase is the one given, else the churn phase for an
 *		account inserted as churned (when the journey has one), else the
 *		default phase. It is entered at phase_entered_at when given, else at
 *		churned_at for the churn phase, else at created_at.
 *
 *		An account inserted with both phase_id and phase_entered_at is a copy
 *		of an account that already has a history, from a restore or a
 *		migration. It
 *		is kept as given, with no entry row and no owner assignment, so that
 *		a restore does not add history.
 */
static HeapTuple
place_new_account(HeapTuple tuple, TupleDesc tupdesc,
				  const AccountColumns *columns)
{
	int			changed_columns[3];
	Datum		new_values[3];
	bool		new_nulls[3] = {false, false, false};
	int			changed_count = 0;
	bool		isnull;
	bool		created_at_null;
	bool		churned = status_is_churned(tuple, tupdesc, columns->status);
	Datum		created_at = SPI_getbinval(tuple, tupdesc, columns->created_at, &created_at_null);
	Datum		churned_at;
	Datum		phase_id;
	Datum		entered_at;
	bool		churned_at_null;
	bool		phase_id_null;
	bool		entered_at_null;
	bool		entered_churn_phase = false;
	int64		account_id;

	churned_at = SPI_getbinval(tuple, tupdesc, columns->churned_at, &churned_at_null);
	if (churned && churned_at_null)
	{
		churned_at = TimestampTzGetDatum(change_time());
		changed_columns[changed_count] = columns->churned_at;
		new_values[changed_count++] = churned_at;
	}

	phase_id = SPI_getbinval(tuple, tupdesc, columns->phase_id, &phase_id_null);
	entered_at = SPI_getbinval(tuple, tupdesc, columns->phase_entered_at,
							   &entered_at_null);

	/*
	 * A copy keeps its phase. A NULL created_at is left for the NOT NULL
	 * constraint to reject with the column's name.
	 */
	if ((!phase_id_null && !entered_at_null) || created_at_null)
	{
		if (changed_count == 0)
			return tuple;
		return heap_modify_tuple_by_cols(tuple, tupdesc, changed_count,
										 changed_columns, new_values, new_nulls);
	}

	if (phase_id_null)
	{
		const CsPhase *phase = cs_phase_default();

		if (churned && cs_phase_churn() != NULL)
		{
			phase = cs_phase_churn();
			entered_churn_phase = true;
		}
		phase_id = Int64GetDatum(phase->phase_id);
		changed_columns[changed_count] = columns->phase_id;
		new_values[changed_count++] = phase_id;
	}

	if (entered_at_null)
	{
		entered_at = entered_churn_phase ? churned_at : created_at;
		changed_columns[changed_count] = columns->phase_entered_at;
		new_values[changed_count++] = entered_at;
	}

	account_id = DatumGetInt64(SPI_getbinval(tuple, tupdesc,
											 columns->account_id, &isnull));
	cs_history_add_entry(account_id, DatumGetInt64(phase_id),
						 DatumGetTimestampTz(entered_at), churned);

	return heap_modify_tuple_by_cols(tuple, tupdesc, changed_count,
									 changed_columns, new_values, new_nulls);
}

/*
 * follow_status_change
 *		On update: an account that becomes churned gets churned_at and moves
 *		to the churn phase. One that becomes active again loses churned_at
 *		and re-enters the default phase. A phase set by the same statement
 *		wins over both moves. A phase change that leaves phase_entered_at
 *		as it was enters the new phase now.
 */
static HeapTuple
follow_status_change(HeapTuple old_tuple, HeapTuple tuple, TupleDesc tupdesc,
					 const AccountColumns *columns)
{
	int			changed_columns[3];
	Datum		new_values[3];
	bool		new_nulls[3] = {false, false, false};
	int			changed_count = 0;
	bool		was_churned = status_is_churned(old_tuple, tupdesc, columns->status);
	bool		is_churned = status_is_churned(tuple, tupdesc, columns->status);
	bool		isnull;
	bool		new_phase_null;
	bool		new_entered_null;
	int64		old_phase = DatumGetInt64(SPI_getbinval(old_tuple, tupdesc, columns->phase_id, &isnull));
	int64		new_phase = DatumGetInt64(SPI_getbinval(tuple, tupdesc, columns->phase_id, &new_phase_null));
	TimestampTz old_entered = DatumGetTimestampTz(SPI_getbinval(old_tuple, tupdesc, columns->phase_entered_at, &isnull));
	TimestampTz new_entered = DatumGetTimestampTz(SPI_getbinval(tuple, tupdesc, columns->phase_entered_at, &new_entered_null));
	Datum		churned_at;
	bool		churned_at_null;
	TimestampTz enter_time = change_time();

	/*
	 * A NULL phase or entry time set by the statement is left for the NOT
	 * NULL constraint to reject with the column's name.
	 */
	if (new_phase_null || new_entered_null)
		return tuple;

	churned_at = SPI_getbinval(tuple, tupdesc, columns->churned_at, &churned_at_null);

	if (!was_churned && is_churned)
	{
		if (churned_at_null)
		{
			churned_at = TimestampTzGetDatum(enter_time);
			changed_columns[changed_count] = columns->churned_at;
			new_values[changed_count++] = churned_at;
		}
		enter_time = DatumGetTimestampTz(churned_at);
		if (new_phase == old_phase && cs_phase_churn() != NULL)
			new_phase = cs_phase_churn()->phase_id;
	}
	else if (was_churned && !is_churned)
	{
		if (!churned_at_null)
		{
			changed_columns[changed_count] = columns->churned_at;
			new_values[changed_count] = (Datum) 0;
			new_nulls[changed_count++] = true;
		}
		if (new_phase == old_phase)
			new_phase = cs_phase_default()->phase_id;
	}

	if (new_phase != old_phase)
	{
		changed_columns[changed_count] = columns->phase_id;
		new_values[changed_count++] = Int64GetDatum(new_phase);
		if (new_entered == old_entered)
		{
			changed_columns[changed_count] = columns->phase_entered_at;
			new_values[changed_count++] = TimestampTzGetDatum(enter_time);
		}
	}
	else if (was_churned && is_churned && !churned_at_null &&
			 cs_phase_churn() != NULL && new_phase == cs_phase_churn()->phase_id &&
			 new_entered == old_entered)
	{
		bool		old_churned_at_null;
		Datum		old_churned_at = SPI_getbinval(old_tuple, tupdesc,
												   columns->churned_at,
												   &old_churned_at_null);

		/*
		 * A corrected churn date of an account that is still in the churn
		 * phase moves its entry into that phase along with it.
		 */
		if (old_churned_at_null ||
			DatumGetTimestampTz(old_churned_at) != DatumGetTimestampTz(churned_at))
		{
			changed_columns[changed_count] = columns->phase_entered_at;
			new_values[changed_count++] = churned_at;
		}
	}

	if (changed_count == 0)
		return tuple;
	return heap_modify_tuple_by_cols(tuple, tupdesc, changed_count,
									 changed_columns, new_values, new_nulls);
}

/*
 * cs_account_before_insert_statement
 *		BEFORE INSERT statement trigger on cs.account: opens the statement's
 *		frame for buffered phase entries (see history.c).
 */
Datum
cs_account_before_insert_statement(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	check_trigger_call(fcinfo, "cs.account_before_insert_statement()",
					   CALLED_AS_TRIGGER(fcinfo) &&
					   TRIGGER_FIRED_BEFORE(trigdata->tg_event) &&
					   TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event) &&
					   TRIGGER_FIRED_BY_INSERT(trigdata->tg_event));

	cs_history_open_frame();
	return PointerGetDatum(NULL);
}

/*
 * cs_account_before_write
 *		BEFORE INSERT OR UPDATE row trigger on cs.account.
 */
Datum
cs_account_before_write(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TupleDesc	tupdesc;
	AccountColumns columns;

	check_trigger_call(fcinfo, "cs.account_before_write()",
					   CALLED_AS_TRIGGER(fcinfo) &&
					   TRIGGER_FIRED_BEFORE(trigdata->tg_event) &&
					   TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) &&
					   (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event) ||
						TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event)));

	tupdesc = RelationGetDescr(trigdata->tg_relation);
	columns = account_columns(tupdesc);

	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
		return PointerGetDatum(place_new_account(trigdata->tg_trigtuple,
												 tupdesc, &columns));

	return PointerGetDatum(follow_status_change(trigdata->tg_trigtuple,
												trigdata->tg_newtuple,
												tupdesc, &columns));
}

/*
 * begin_as_table_owner
 *		Switches to the owner of the table for the trigger's SQL work,
 *		connects to SPI and registers the transition tables.
 */
static void
begin_as_table_owner(Relation relation, TriggerData *trigdata,
					 Oid *saved_user, int *saved_context)
{
	GetUserIdAndSecContext(saved_user, saved_context);
	SetUserIdAndSecContext(relation->rd_rel->relowner,
						   *saved_context | SECURITY_LOCAL_USERID_CHANGE);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_register_trigger_data(trigdata) != SPI_OK_TD_REGISTER)
		elog(ERROR, "SPI_register_trigger_data failed");
}

static void
end_as_table_owner(Oid saved_user, int saved_context)
{
	SPI_finish();
	SetUserIdAndSecContext(saved_user, saved_context);
}

/*
 * cs_account_after_insert
 *		AFTER INSERT statement trigger on cs.account, with the transition
 *		table new_accounts: writes the buffered phase entries and assigns
 *		owners to those accounts. Copies (see place_new_account) have no
 *		entry and get no owner here.
 */
Datum
cs_account_after_insert(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Oid			saved_user;
	int			saved_context;
	Datum		entered_ids;
	Oid			argtypes[1] = {INT8ARRAYOID};

	check_trigger_call(fcinfo, "cs.account_after_insert()",
					   CALLED_AS_TRIGGER(fcinfo) &&
					   TRIGGER_FIRED_AFTER(trigdata->tg_event) &&
					   TRIGGER_FIRED_BY_INSERT(trigdata->tg_event));

	begin_as_table_owner(trigdata->tg_relation, trigdata, &saved_user,
						 &saved_context);

	entered_ids = cs_history_flush_entries("new_accounts");

	if (entered_ids != (Datum) 0 &&
		(cs_current_automation == NULL || !cs_current_automation->assigns_owners))
		cs_assign_owners_where("a.account_id IN (SELECT pg_catalog.unnest($1))",
							   1, argtypes, &entered_ids, change_time(), true,
							   "owner_assignment");

	end_as_table_owner(saved_user, saved_context);
	return PointerGetDatum(NULL);
}

/*
 * cs_account_after_update
 *		AFTER UPDATE statement trigger on cs.account, with the transition
 *		tables old_accounts and new_accounts: records phase and owner
 *		changes made by users, then assigns owners to accounts that entered
 *		a phase owned by another role. Changes made by an automation that
 *		records and assigns by itself are skipped.
 */
Datum
cs_account_after_update(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Oid			saved_user;
	int			saved_context;
	Oid			argtypes[2] = {TEXTOID, TIMESTAMPTZOID};
	Datum		values[2];
	const char *changed_by;

	check_trigger_call(fcinfo, "cs.account_after_update()",
					   CALLED_AS_TRIGGER(fcinfo) &&
					   TRIGGER_FIRED_AFTER(trigdata->tg_event) &&
					   TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event));

	if (cs_current_automation != NULL &&
		cs_current_automation->records_history &&
		cs_current_automation->assigns_owners)
		return PointerGetDatum(NULL);

	changed_by = cs_current_automation != NULL
		? cs_current_automation->automation
		: GetUserNameFromId(GetUserId(), false);

	begin_as_table_owner(trigdata->tg_relation, trigdata, &saved_user,
						 &saved_context);

	values[0] = CStringGetTextDatum(changed_by);
	values[1] = TimestampTzGetDatum(change_time());

	if (cs_current_automation == NULL || !cs_current_automation->records_history)
	{
		cs_spi_execute("INSERT INTO cs.phase_history "
					   "(account_id, changed_at, from_phase_id, to_phase_id, changed_by, reason) "
					   "SELECT n.account_id, n.phase_entered_at, o.phase_id, n.phase_id, $1, "
					   "CASE WHEN n.status = 'churned' AND o.status <> 'churned' THEN 'account churned' "
					   "WHEN n.status = 'active' AND o.status <> 'active' THEN 'account reactivated' "
					   "ELSE 'phase set by ' || $1 END "
					   "FROM old_accounts AS o JOIN new_accounts AS n ON n.account_id = o.account_id "
					   "WHERE n.phase_id IS DISTINCT FROM o.phase_id "
					   "ORDER BY n.account_id",
					   2, argtypes, values, NULL, SPI_OK_INSERT);

		cs_spi_execute("INSERT INTO cs.owner_history "
					   "(account_id, changed_at, from_member_id, to_member_id, changed_by, reason) "
					   "SELECT n.account_id, $2, o.owner_id, n.owner_id, $1, 'owner set by ' || $1 "
					   "FROM old_accounts AS o JOIN new_accounts AS n ON n.account_id = o.account_id "
					   "WHERE n.owner_id IS DISTINCT FROM o.owner_id "
					   "ORDER BY n.account_id",
					   2, argtypes, values, NULL, SPI_OK_INSERT);
	}

	if (cs_current_automation == NULL || !cs_current_automation->assigns_owners)
		cs_assign_owners_where("a.account_id IN ("
							   "SELECT n.account_id FROM old_accounts AS o "
							   "JOIN new_accounts AS n ON n.account_id = o.account_id "
							   "WHERE n.phase_id IS DISTINCT FROM o.phase_id)",
							   0, NULL, NULL, change_time(), true,
							   "owner_assignment");

	end_as_table_owner(saved_user, saved_context);
	return PointerGetDatum(NULL);
}

/*
 * assign_for_member_change
 *		Runs owner assignment, as the owner of cs.team_member, over the
 *		accounts that account_filter selects from the trigger's transition
 *		tables.
 */
static void
assign_for_member_change(TriggerData *trigdata, const char *account_filter)
{
	Oid			saved_user;
	int			saved_context;

	begin_as_table_owner(trigdata->tg_relation, trigdata, &saved_user,
						 &saved_context);
	cs_assign_owners_where(account_filter, 0, NULL, NULL, change_time(), false,
						   "owner_assignment");
	end_as_table_owner(saved_user, saved_context);
}

/*
 * cs_team_member_after_update
 *		AFTER UPDATE statement trigger on cs.team_member, with the transition
 *		tables old_members and new_members: reassigns the accounts of every
 *		member who was deactivated or moved to another role, and gives
 *		unassigned accounts to members who became active or joined a role.
 */
Datum
cs_team_member_after_update(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	check_trigger_call(fcinfo, "cs.team_member_after_update()",
					   CALLED_AS_TRIGGER(fcinfo) &&
					   TRIGGER_FIRED_AFTER(trigdata->tg_event) &&
					   TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event));

	assign_for_member_change(trigdata,
							 "a.owner_id IN ("
							 "SELECT n.member_id FROM old_members AS o "
							 "JOIN new_members AS n ON n.member_id = o.member_id "
							 "WHERE (o.active AND NOT n.active) OR n.role_name <> o.role_name) "
							 "OR (a.owner_id IS NULL AND p.owner_role IN ("
							 "SELECT n.role_name FROM old_members AS o "
							 "JOIN new_members AS n ON n.member_id = o.member_id "
							 "WHERE n.active AND (NOT o.active OR n.role_name <> o.role_name)))");
	return PointerGetDatum(NULL);
}

/*
 * cs_team_member_after_insert
 *		AFTER INSERT statement trigger on cs.team_member, with the transition
 *		table new_members: gives unassigned accounts to the new members.
 */
Datum
cs_team_member_after_insert(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	check_trigger_call(fcinfo, "cs.team_member_after_insert()",
					   CALLED_AS_TRIGGER(fcinfo) &&
					   TRIGGER_FIRED_AFTER(trigdata->tg_event) &&
					   TRIGGER_FIRED_BY_INSERT(trigdata->tg_event));

	assign_for_member_change(trigdata,
							 "a.owner_id IS NULL AND p.owner_role IN ("
							 "SELECT n.role_name FROM new_members AS n WHERE n.active)");
	return PointerGetDatum(NULL);
}
