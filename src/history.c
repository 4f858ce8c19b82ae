/*-------------------------------------------------------------------------
 *
 * history.c
 *	  Entries of new accounts into their first phase, collected by the row
 *	  trigger and written to cs.phase_history once per statement.
 *
 * The BEFORE INSERT row trigger cannot insert the history row itself,
 * because the account row does not exist yet and the foreign key check
 * would fail. It appends the entry to a buffer instead, and the AFTER
 * INSERT statement trigger writes the whole buffer with one INSERT, joined
 * to the statement's transition table so that rows which were not inserted
 * (suppressed by another trigger, or turned into an update by ON CONFLICT)
 * leave no history.
 *
 * The buffer lives in TopTransactionContext. Each entry carries the
 * subtransaction that created it, so that entries of a rolled-back
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
	SubTransactionId subxact_id;
} PendingEntry;

static PendingEntry *pending_entries = NULL;
static int	pending_count = 0;
static int	pending_capacity = 0;

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

	if (pending_count == 0)
		return;

	if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		for (int i = 0; i < pending_count; i++)
		{
			if (pending_entries[i].subxact_id != subxact_id)
				pending_entries[kept++] = pending_entries[i];
		}
		pending_count = kept;
	}
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		for (int i = 0; i < pending_count; i++)
		{
			if (pending_entries[i].subxact_id == subxact_id)
				pending_entries[i].subxact_id = parent_subxact_id;
		}
	}
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
	entry->subxact_id = GetCurrentSubTransactionId();
}

/*
 * cs_history_flush_entries
 *		Writes every buffered entry whose account is in the named transition
 *		table, empties the buffer, and returns the ids of the accounts
 *		written as a bigint[], or 0 when there were none. The caller is
 *		connected to SPI and has registered the transition table.
 *
 * NOTE: an insert into cs.account made by another trigger while a row of an
 * outer insert is being processed flushes the outer statement's buffered
 * entries too, and those are dropped because the inner transition table
 * does not hold them.
 */
Datum
cs_history_flush_entries(const char *transition_table)
{
	int			count = pending_count;
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

	if (count == 0)
		return (Datum) 0;

	account_ids = palloc(sizeof(int64) * count);
	phase_ids = palloc(sizeof(int64) * count);
	entered_at = palloc(sizeof(TimestampTz) * count);
	reasons = palloc(sizeof(char *) * count);

	for (int i = 0; i < count; i++)
	{
		account_ids[i] = pending_entries[i].account_id;
		phase_ids[i] = pending_entries[i].phase_id;
		entered_at[i] = pending_entries[i].entered_at;
		reasons[i] = pending_entries[i].churned
			? "new account, already churned" : "new account";
	}

	/* Empty the buffer first, so that an error below cannot replay it. */
	pending_count = 0;

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
