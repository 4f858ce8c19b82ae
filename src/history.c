/*-------------------------------------------------------------------------
 *
 * history.c
 *	  Entries of new accounts into their first phase, collected by the row
 *	  trigger and written to cs.phase_history once per statement.
 *
 * The BEFORE INSERT row trigger cannot insert the history row itself,
 * because the account row does not exist yet and the foreign key check
 * would fail. It appends the entry to a buffer instead, and the AFTER
 * INSERT statement trigger writes the buffer with one INSERT. That INSERT
 * joins the statement's transition table, so rows that were not inserted
 * (suppressed by another trigger, or turned into an update by ON CONFLICT)
 * leave no history.
 *
 * An insert into cs.account can run inside another one, from a function or
 * a trigger. A BEFORE INSERT statement trigger therefore opens a frame for
 * each statement, entries carry the frame of the statement whose row
 * created them, and a statement writes only the entries of its own frame.
 *
 * The buffer lives in TopTransactionContext. Each entry and frame carries
 * the subtransaction that created it, so that those of a rolled-back
 * subtransaction are dropped and never reach the table.
 *
 * Copyright (c) 2026, pg_success developers
 *
 * src/history.c
 *
 *-------------------------------------------------------------------------
 */
#include "pg_success.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "utils/memutils.h"

typedef struct PendingEntry
{
	int64		account_id;
	int64		phase_id;
	TimestampTz entered_at;
	bool		churned;
	int64		frame_id;
	SubTransactionId subxact_id;
} PendingEntry;

/* An INSERT statement on cs.account that is still running. */
typedef struct StatementFrame
{
	int64		frame_id;
	SubTransactionId subxact_id;
} StatementFrame;

static PendingEntry *pending_entries = NULL;
static int	pending_count = 0;
static int	pending_capacity = 0;

static StatementFrame *frames = NULL;
static int	frame_count = 0;
static int	frame_capacity = 0;
static int64 last_frame_id = 0;

static void history_xact_callback(XactEvent event, void *arg);
static void history_subxact_callback(SubXactEvent event,
									 SubTransactionId subxact_id,
									 SubTransactionId parent_subxact_id,
									 void *arg);

/*
 * cs_history_init
 *		Registers the transaction callbacks; called once from _PG_init.
 */
void
cs_history_init(void)
{
	RegisterXactCallback(history_xact_callback, NULL);
	RegisterSubXactCallback(history_subxact_callback, NULL);
}

/*
 * history_xact_callback
 *		Forgets the buffer at the end of every transaction; its memory goes
 *		with TopTransactionContext.
 */
static void
history_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			pending_entries = NULL;
			pending_count = 0;
			pending_capacity = 0;
			frames = NULL;
			frame_count = 0;
			frame_capacity = 0;
			break;
		default:
			break;
	}
}

/*
 * history_subxact_callback
 *		Drops the entries of an aborted subtransaction and hands those of a
 *		committed one to its parent.
 */
static void
history_subxact_callback(SubXactEvent event, SubTransactionId subxact_id,
						 SubTransactionId parent_subxact_id, void *arg)
{
	int			kept = 0;

	if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		for (int i = 0; i < pending_count; i++)
		{
			if (pending_entries[i].subxact_id != subxact_id)
				pending_entries[kept++] = pending_entries[i];
		}
		pending_count = kept;

		kept = 0;
		for (int i = 0; i < frame_count; i++)
		{
			if (frames[i].subxact_id != subxact_id)
				frames[kept++] = frames[i];
		}
		frame_count = kept;
	}
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		for (int i = 0; i < pending_count; i++)
		{
			if (pending_entries[i].subxact_id == subxact_id)
				pending_entries[i].subxact_id = parent_subxact_id;
		}
		for (int i = 0; i < frame_count; i++)
		{
			if (frames[i].subxact_id == subxact_id)
				frames[i].subxact_id = parent_subxact_id;
		}
	}
}

/*
 * cs_history_open_frame
 *		Starts the frame of an INSERT statement on cs.account; called by its
 *		BEFORE INSERT statement trigger.
 */
void
cs_history_open_frame(void)
{
	if (frame_count == frame_capacity)
	{
		int			new_capacity = frame_capacity == 0 ? 8 : frame_capacity * 2;

		if (frames == NULL)
			frames = MemoryContextAlloc(TopTransactionContext,
										sizeof(StatementFrame) * new_capacity);
		else
			frames = repalloc(frames, sizeof(StatementFrame) * new_capacity);
		frame_capacity = new_capacity;
	}

	frames[frame_count].frame_id = ++last_frame_id;
	frames[frame_count].subxact_id = GetCurrentSubTransactionId();
	frame_count++;
}

/*
 * cs_history_add_entry
 *		Remembers that a new account entered a phase; written by
 *		cs_history_flush_entries.
 */
void
cs_history_add_entry(int64 account_id, int64 phase_id, TimestampTz entered_at,
					 bool churned)
{
	PendingEntry *entry;

	if (pending_count == pending_capacity)
	{
		int			new_capacity = pending_capacity == 0 ? 64 : pending_capacity * 2;

		if (pending_entries == NULL)
			pending_entries = MemoryContextAlloc(TopTransactionContext,
												 sizeof(PendingEntry) * new_capacity);
		else
			pending_entries = repalloc_huge(pending_entries,
											sizeof(PendingEntry) * new_capacity);
		pending_capacity = new_capacity;
	}

	entry = &pending_entries[pending_count++];
	entry->account_id = account_id;
	entry->phase_id = phase_id;
	entry->entered_at = entered_at;
	entry->churned = churned;
	entry->frame_id = frame_count > 0 ? frames[frame_count - 1].frame_id : 0;
	entry->subxact_id = GetCurrentSubTransactionId();
}

/*
 * cs_history_flush_entries
 *		Closes the innermost statement frame and writes its buffered entries
 *		whose account is in the named transition table. Returns the ids of
 *		the accounts written as a bigint[], or 0 when there were none. The
 *		caller is connected to SPI and has registered the transition table.
 */
Datum
cs_history_flush_entries(const char *transition_table)
{
	int			count = 0;
	int			kept = 0;
	int64		frame_id = 0;
	int64	   *account_ids;
	int64	   *phase_ids;
	TimestampTz *entered_at;
	char	  **reasons;
	Oid			argtypes[4] = {INT8ARRAYOID, INT8ARRAYOID,
	TIMESTAMPTZARRAYOID, TEXTARRAYOID};
	Datum		values[4];
	char	   *sql;
	int64	   *written_ids;
	uint64		written;

	if (frame_count > 0)
		frame_id = frames[--frame_count].frame_id;

	account_ids = palloc(sizeof(int64) * Max(pending_count, 1));
	phase_ids = palloc(sizeof(int64) * Max(pending_count, 1));
	entered_at = palloc(sizeof(TimestampTz) * Max(pending_count, 1));
	reasons = palloc(sizeof(char *) * Max(pending_count, 1));

	/*
	 * Take this frame's entries out of the buffer before writing them, so
	 * that an error below cannot replay them.
	 */
	for (int i = 0; i < pending_count; i++)
	{
		PendingEntry *entry = &pending_entries[i];

		if (entry->frame_id != frame_id)
		{
			pending_entries[kept++] = *entry;
			continue;
		}
		account_ids[count] = entry->account_id;
		phase_ids[count] = entry->phase_id;
		entered_at[count] = entry->entered_at;
		reasons[count] = entry->churned
			? "new account, already churned" : "new account";
		count++;
	}
	pending_count = kept;

	if (count == 0)
		return (Datum) 0;

	values[0] = cs_int64_array(account_ids, count);
	values[1] = cs_int64_array(phase_ids, count);
	values[2] = cs_timestamptz_array(entered_at, count);
	values[3] = cs_text_array(reasons, count);

	sql = psprintf("INSERT INTO cs.phase_history "
				   "(account_id, changed_at, from_phase_id, to_phase_id, changed_by, reason) "
				   "SELECT e.account_id, e.entered_at, NULL, e.phase_id, 'journey', e.reason "
				   "FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), "
				   "pg_catalog.unnest($3), pg_catalog.unnest($4)) "
				   "AS e(account_id, phase_id, entered_at, reason) "
				   "WHERE e.account_id IN (SELECT n.account_id FROM %s AS n) "
				   "ORDER BY e.account_id "
				   "RETURNING account_id",
				   transition_table);

	written = cs_spi_execute(sql, 4, argtypes, values, NULL,
							 SPI_OK_INSERT_RETURNING);
	if (written == 0)
		return (Datum) 0;

	written_ids = palloc(sizeof(int64) * written);
	for (uint64 i = 0; i < written; i++)
		written_ids[i] = cs_spi_get_int64((int) i, 1, NULL);
	return cs_int64_array(written_ids, (int) written);
}
