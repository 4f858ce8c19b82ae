/*-------------------------------------------------------------------------
 *
 * pg_success.c
 *	  Module entry point: checks how the library is loaded and sets up the
 *	  per-backend state of the other modules.
 *
 * Copyright (c) 2026, pg_success developers
 *
 * src/pg_success.c
 *
 *-------------------------------------------------------------------------
 */
#include "pg_success.h"
#include "rule_engine.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "worker.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

CsAutomationContext *cs_current_automation = NULL;

/*
 * _PG_init
 *		Rejects loading outside shared_preload_libraries, because the
 *		background workers of the extension can only be registered while the
 *		postmaster starts. Then defines the pg_success.* settings and
 *		installs the caches and transaction callbacks.
 */
void
_PG_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pg_success must be loaded via shared_preload_libraries"),
				 errdetail("The extension runs background workers, which can only be registered when the server starts."),
				 errhint("Add pg_success to shared_preload_libraries in postgresql.conf and restart the server.")));

	cs_worker_init();
	cs_mail_delivery_init();
	MarkGUCPrefixReserved("pg_success");

	cs_phase_cache_init();
	cs_history_init();
	cs_rule_cache_init();
	cs_rule_depth_init();
}
