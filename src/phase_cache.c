/*-------------------------------------------------------------------------
 *
 * phase_cache.c
 *	  Per-backend copy of the journey (cs.phase), so that the row triggers
 *	  on cs.account find the default and churn phases without a query per
 *	  row.
 *
 * A statement trigger on cs.phase sends a relcache invalidation for the
 * table whenever its rows change. The callback registered here then drops
 * the copy, and the next look-up reloads it. The invalidation reaches this
 * backend at the next command and other backends when the change commits.
 *
 * Copyright (c) 2026, pg_success developers
 *
 * src/phase_cache.c
 *
 *-------------------------------------------------------------------------
 */
#include "pg_success.h"

#include "commands/trigger.h"
#include "fmgr.h"
#include "utils/inval.h"
#include "utils/memutils.h"

PG_FUNCTION_INFO_V1(cs_phase_invalidate_cache);

typedef struct CsPhaseCache
{
	MemoryContext context;
	int			count;
	CsPhase    *phases;
	const CsPhase *default_phase;
	const CsPhase *churn_phase;
} CsPhaseCache;

static CsPhaseCache phase_cache = {NULL, 0, NULL, NULL, NULL};
static bool phase_cache_valid = false;
static Oid	phase_table_oid = InvalidOid;

static void phase_cache_invalidate_callback(Datum arg, Oid relid);
static void phase_cache_load(void);

/*
 * cs_phase_cache_init
 *		Registers the relcache callback; called once from _PG_init.
 */
void
cs_phase_cache_init(void)
{
	CacheRegisterRelcacheCallback(phase_cache_invalidate_callback, (Datum) 0);
}

/*
 * phase_cache_invalidate_callback
 *		Drops the copy when cs.phase changes, or when every relcache entry is
 *		reset (relid InvalidOid), which also covers DROP EXTENSION.
 */
static void
phase_cache_invalidate_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == phase_table_oid)
	{
		phase_cache_valid = false;
		phase_table_oid = InvalidOid;
	}
}

/*
 * phase_cache_load
 *		Reads cs.phase into a memory context of its own under
 *		CacheMemoryContext, replacing the previous copy.
 */
static void
phase_cache_load(void)
{
	MemoryContext old_context;
	int			count;

	phase_table_oid = cs_relation_oid("phase");

	if (phase_cache.context == NULL)
		phase_cache.context = AllocSetContextCreate(CacheMemoryContext,
													"pg_success phase cache",
													ALLOCSET_SMALL_SIZES);
	else
		MemoryContextReset(phase_cache.context);

	phase_cache.count = 0;
	phase_cache.phases = NULL;
	phase_cache.default_phase = NULL;
	phase_cache.churn_phase = NULL;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	cs_spi_execute("SELECT p.phase_id, p.is_default, p.is_churn "
				   "FROM cs.phase AS p ORDER BY p.phase_id",
				   0, NULL, NULL, NULL, SPI_OK_SELECT);

	count = (int) SPI_processed;
	old_context = MemoryContextSwitchTo(phase_cache.context);
	phase_cache.phases = palloc0(sizeof(CsPhase) * Max(count, 1));

	for (int i = 0; i < count; i++)
	{
		CsPhase    *phase = &phase_cache.phases[i];
		char	   *flag;

		phase->phase_id = cs_spi_get_int64(i, 1, NULL);
		flag = cs_spi_get_text(i, 2);
		phase->is_default = (flag[0] == 't');
		flag = cs_spi_get_text(i, 3);
		phase->is_churn = (flag[0] == 't');

		if (phase->is_default)
			phase_cache.default_phase = phase;
		if (phase->is_churn)
			phase_cache.churn_phase = phase;
	}
	phase_cache.count = count;

	MemoryContextSwitchTo(old_context);
	SPI_finish();

	phase_cache_valid = true;
}

/*
 * cs_phase_default
 *		Returns the phase that new accounts enter. The journey check on
 *		cs.phase guarantees one at commit; inside the transaction that
 *		removed it, an insert into cs.account fails here.
 */
const CsPhase *
cs_phase_default(void)
{
	if (!phase_cache_valid)
		phase_cache_load();

	if (phase_cache.default_phase == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("journey has no default phase"),
				 errhint("Set is_default = true on the phase that new accounts should enter.")));
	return phase_cache.default_phase;
}

/*
 * cs_phase_churn
 *		Returns the phase that churned accounts enter, or NULL when the
 *		journey has none.
 */
const CsPhase *
cs_phase_churn(void)
{
	if (!phase_cache_valid)
		phase_cache_load();
	return phase_cache.churn_phase;
}

/*
 * cs_phase_invalidate_cache
 *		Statement trigger on cs.phase: queues a relcache invalidation of the
 *		table, which every backend's callback turns into a reload.
 */
Datum
cs_phase_invalidate_cache(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("cs.phase_invalidate_cache() must be called as a trigger")));

	CacheInvalidateRelcacheByRelid(RelationGetRelid(trigdata->tg_relation));
	return PointerGetDatum(NULL);
}
