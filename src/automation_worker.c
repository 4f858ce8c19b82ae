/*-------------------------------------------------------------------------
 *
 * automation_worker.c
 *	  The per-database automation worker: every pg_success.naptime it runs
 *	  one tick, which executes each enabled step of cs.automation_step in a
 *	  transaction of its own and records the outcome in cs.worker_state.
 *
 * A step is an SQL statement with one parameter, $1, the tick's as_of
 * time. A SELECT step returns the number of items it handled in its first
 * column. A CALL step runs a procedure that may commit on its own, so it is
 * executed the way a top-level statement is, through a portal, and it
 * reports no count. A failing step is logged with its name and the database, its
 * error is kept for cs.worker_status, and the following steps still run.
 *
 * Copyright (c) 2026, pg_success developers
 *
 * src/automation_worker.c
 *
 *-------------------------------------------------------------------------
 */
#include "pg_success.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/pquery.h"
#include "tcop/tcopprot.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/portal.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "worker.h"

/* One step of a tick and its outcome. */
typedef struct TickStep
{
	char	   *name;
	char	   *statement;
	bool		is_call;
	bool		failed;
	int64		count;
	bool		count_known;
	char	   *error;
} TickStep;

/* Name of this worker's database, for log messages outside transactions. */
static char *worker_database_name = "";

static bool extension_is_installed(void);
static TickStep *read_steps(MemoryContext context, int *count);
static void run_step(TickStep *step, TimestampTz as_of, MemoryContext context);
static void run_select_step(TickStep *step, TimestampTz as_of);
static char *replace_parameter(const char *statement, const char *literal);
static void run_call_step(TickStep *step, TimestampTz as_of);
static void record_tick(TickStep *steps, int count, TimestampTz as_of,
						TimestampTz finished);
static void run_tick(MemoryContext tick_context);

/*
 * extension_is_installed
 *		True when pg_success is installed in this database. Runs inside a
 *		transaction of its own.
 */
static bool
extension_is_installed(void)
{
	bool		installed;

	StartTransactionCommand();
	installed = OidIsValid(get_extension_oid("pg_success", true));
	CommitTransactionCommand();
	return installed;
}

/*
 * read_steps
 *		Reads the enabled steps in order into the given context.
 */
static TickStep *
read_steps(MemoryContext context, int *count)
{
	TickStep   *steps;
	int			rows;

	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	cs_spi_execute("SELECT s.step_name, s.statement "
				   "FROM cs.automation_step AS s "
				   "WHERE s.enabled ORDER BY s.position, s.step_name",
				   0, NULL, NULL, NULL, SPI_OK_SELECT);

	rows = (int) SPI_processed;
	steps = MemoryContextAllocZero(context, sizeof(TickStep) * Max(rows, 1));
	for (int i = 0; i < rows; i++)
	{
		char	   *statement = cs_spi_get_text(i, 2);

		steps[i].name = MemoryContextStrdup(context, cs_spi_get_text(i, 1));
		steps[i].statement = MemoryContextStrdup(context, statement);
		steps[i].is_call = (pg_strncasecmp(statement, "call", 4) == 0);
	}

	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();

	*count = rows;
	return steps;
}

/*
 * run_select_step
 *		Runs a SELECT step through SPI in the current transaction.
 */
static void
run_select_step(TickStep *step, TimestampTz as_of)
{
	Oid			argtypes[1] = {TIMESTAMPTZOID};
	Datum		values[1] = {TimestampTzGetDatum(as_of)};
	int			result;

	PushActiveSnapshot(GetTransactionSnapshot());
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	result = SPI_execute_with_args(step->statement, 1, argtypes, values,
								   NULL, false, 0);
	if (result < 0)
		elog(ERROR, "SPI_execute_with_args returned %s for step \"%s\"",
			 SPI_result_code_string(result), step->name);

	if (SPI_processed > 0 && SPI_tuptable != NULL &&
		SPI_tuptable->tupdesc->natts >= 1)
	{
		char	   *value = SPI_getvalue(SPI_tuptable->vals[0],
										 SPI_tuptable->tupdesc, 1);

		if (value != NULL)
		{
			step->count = strtoll(value, NULL, 10);
			step->count_known = true;
		}
	}

	SPI_finish();
	PopActiveSnapshot();
}

/*
 * replace_parameter
 *		Returns the statement with every $1 replaced by the literal. The
 *		statement comes from cs.automation_step, whose check constraint
 *		admits only SELECT and CALL statements.
 */
static char *
replace_parameter(const char *statement, const char *literal)
{
	StringInfoData result;
	const char *position = statement;
	const char *found;

	initStringInfo(&result);
	while ((found = strstr(position, "$1")) != NULL)
	{
		appendBinaryStringInfo(&result, position, found - position);
		appendStringInfoString(&result, literal);
		position = found + 2;
	}
	appendStringInfoString(&result, position);
	return result.data;
}

/*
 * run_call_step
 *		Runs a CALL step like a top-level statement: the as_of value is
 *		spliced in as a literal, the statement is planned and run through an
 *		unnamed portal, so the procedure may commit and start transactions.
 */
static void
run_call_step(TickStep *step, TimestampTz as_of)
{
	char	   *as_of_literal;
	char	   *statement;
	List	   *parse_trees;
	ListCell   *cell;
	MemoryContext call_context;

	/*
	 * The procedure commits, which frees the transaction's memory, so the
	 * statement, its plan and the portal's query live in a context of their
	 * own until the call has returned, as exec_simple_query keeps them in
	 * MessageContext.
	 */
	call_context = AllocSetContextCreate(TopMemoryContext,
										 "pg_success call step",
										 ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(call_context);

	as_of_literal = psprintf("%s::timestamptz",
							 quote_literal_cstr(DatumGetCString(DirectFunctionCall1(timestamptz_out,
																					TimestampTzGetDatum(as_of)))));
	statement = replace_parameter(step->statement, as_of_literal);

	parse_trees = pg_parse_query(statement);
	foreach(cell, parse_trees)
	{
		RawStmt    *parse_tree = lfirst_node(RawStmt, cell);
		List	   *query_trees;
		List	   *plan_trees;
		Portal		portal;
		DestReceiver *receiver;
		QueryCompletion completion;

		PushActiveSnapshot(GetTransactionSnapshot());
		query_trees = pg_analyze_and_rewrite_fixedparams(parse_tree, statement,
														 NULL, 0, NULL);
		plan_trees = pg_plan_queries(query_trees, statement,
									 CURSOR_OPT_PARALLEL_OK, NULL);
		PopActiveSnapshot();

		portal = CreatePortal("", true, true);
		portal->visible = false;
		PortalDefineQuery(portal, NULL, statement,
						  CreateCommandTag(parse_tree->stmt),
						  plan_trees, NULL);
		PortalStart(portal, NULL, 0, InvalidSnapshot);

		receiver = CreateDestReceiver(DestNone);
		(void) PortalRun(portal, FETCH_ALL, true, true, receiver, receiver,
						 &completion);
		receiver->rDestroy(receiver);
		PortalDrop(portal, false);
	}

	/*
	 * The context that was current before the call belonged to a
	 * transaction that the procedure may have committed, so continue in the
	 * transaction that is open now.
	 */
	MemoryContextSwitchTo(TopTransactionContext ? TopTransactionContext : TopMemoryContext);
	MemoryContextDelete(call_context);
}

/*
 * run_step
 *		Runs one step in a transaction of its own. An error is caught,
 *		logged with the step and database names, and kept in the step. The
 *		transaction is then rolled back and the tick goes on.
 */
static void
run_step(TickStep *step, TimestampTz as_of, MemoryContext context)
{
	MemoryContext caller_context = CurrentMemoryContext;

	pgstat_report_activity(STATE_RUNNING, psprintf("pg_success step %s", step->name));
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();

	PG_TRY();
	{
		if (step->is_call)
			run_call_step(step, as_of);
		else
			run_select_step(step, as_of);
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		ErrorData  *error;

		MemoryContextSwitchTo(context);
		error = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();

		step->failed = true;
		step->error = psprintf("%s", error->message);
		ereport(LOG,
				(errmsg("pg_success step \"%s\" failed in database \"%s\": %s",
						step->name, worker_database_name, error->message),
				 error->detail ? errdetail_internal("%s", error->detail) : 0));
		FreeErrorData(error);
	}
	PG_END_TRY();

	MemoryContextSwitchTo(caller_context);
}

/*
 * record_tick
 *		Writes the tick's time, duration, counts per step and last error to
 *		cs.worker_state, in a transaction of its own.
 */
static void
record_tick(TickStep *steps, int count, TimestampTz as_of, TimestampTz finished)
{
	StringInfoData counts;
	char	   *last_error = NULL;
	char	   *failed_step = NULL;
	Oid			argtypes[6] = {TIMESTAMPTZOID, TIMESTAMPTZOID, JSONBOID, TEXTOID,
	TEXTOID, INT4OID};
	Datum		values[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};

	initStringInfo(&counts);
	appendStringInfoChar(&counts, '{');
	for (int i = 0; i < count; i++)
	{
		if (i > 0)
			appendStringInfoString(&counts, ", ");
		escape_json(&counts, steps[i].name);
		if (steps[i].failed)
			appendStringInfoString(&counts, ": \"failed\"");
		else if (steps[i].count_known)
			appendStringInfo(&counts, ": " INT64_FORMAT, steps[i].count);
		else
			appendStringInfoString(&counts, ": null");

		if (steps[i].failed)
		{
			failed_step = steps[i].name;
			last_error = steps[i].error;
		}
	}
	appendStringInfoChar(&counts, '}');

	values[0] = TimestampTzGetDatum(as_of);
	values[1] = TimestampTzGetDatum(finished);
	values[2] = DirectFunctionCall1(jsonb_in, CStringGetDatum(counts.data));
	values[3] = failed_step ? CStringGetTextDatum(failed_step) : (Datum) 0;
	nulls[3] = failed_step ? ' ' : 'n';
	values[4] = last_error ? CStringGetTextDatum(last_error) : (Datum) 0;
	nulls[4] = last_error ? ' ' : 'n';
	values[5] = Int32GetDatum(MyProcPid);

	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	cs_spi_execute("INSERT INTO cs.worker_state AS w "
				   "(singleton, worker_pid, last_tick_at, last_tick_finished_at, "
				   " last_tick_counts, ticks, last_error_step, last_error, last_error_at) "
				   "VALUES (true, $6, $1, $2, $3, 1, $4, $5, CASE WHEN $5 IS NULL THEN NULL ELSE $2 END) "
				   "ON CONFLICT (singleton) DO UPDATE SET "
				   "worker_pid = excluded.worker_pid, "
				   "last_tick_at = excluded.last_tick_at, "
				   "last_tick_finished_at = excluded.last_tick_finished_at, "
				   "last_tick_counts = excluded.last_tick_counts, "
				   "ticks = w.ticks + 1, "
				   "last_error_step = coalesce(excluded.last_error_step, w.last_error_step), "
				   "last_error = coalesce(excluded.last_error, w.last_error), "
				   "last_error_at = coalesce(excluded.last_error_at, w.last_error_at)",
				   6, argtypes, values, nulls, SPI_OK_INSERT);

	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
}

/*
 * run_tick
 *		Runs every enabled step once, with as_of the time the tick started.
 */
static void
run_tick(MemoryContext tick_context)
{
	TimestampTz as_of = GetCurrentTimestamp();
	TickStep   *steps;
	int			count;

	steps = read_steps(tick_context, &count);

	for (int i = 0; i < count; i++)
	{
		CHECK_FOR_INTERRUPTS();
		run_step(&steps[i], as_of, tick_context);
	}

	record_tick(steps, count, as_of, GetCurrentTimestamp());
	elog(DEBUG1, "pg_success tick in database %u ran %d steps", MyDatabaseId, count);
}

/*
 * cs_automation_worker_main
 *		Entry point of a per-database worker. The database OID is the main
 *		argument and the role OID is in bgw_extra. Exits at once when the
 *		extension is not installed, and later when it is dropped.
 */
void
cs_automation_worker_main(Datum main_arg)
{
	Oid			database_oid = DatumGetObjectId(main_arg);
	Oid			role_oid;
	MemoryContext tick_context;
	memcpy(&role_oid, MyBgworkerEntry->bgw_extra, sizeof(Oid));

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	BackgroundWorkerInitializeConnectionByOid(database_oid, role_oid, 0);
	pgstat_report_appname("pg_success worker");

	if (!extension_is_installed())
		proc_exit(0);

	StartTransactionCommand();
	worker_database_name = MemoryContextStrdup(TopMemoryContext,
											   get_database_name(MyDatabaseId));
	CommitTransactionCommand();

	ereport(LOG,
			(errmsg("pg_success worker started in database \"%s\"", worker_database_name)));

	tick_context = AllocSetContextCreate(TopMemoryContext,
										 "pg_success tick",
										 ALLOCSET_DEFAULT_SIZES);

	for (;;)
	{
		CHECK_FOR_INTERRUPTS();

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		if (!extension_is_installed())
		{
			ereport(LOG,
					(errmsg("pg_success worker in database \"%s\" stopped: the extension was dropped",
							worker_database_name)));
			proc_exit(0);
		}

		if (cs_worker_enabled)
		{
			MemoryContextReset(tick_context);
			run_tick(tick_context);
		}

		pgstat_report_activity(STATE_IDLE, NULL);
		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 (long) cs_worker_naptime * 1000L,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
