/*-------------------------------------------------------------------------
 *
 * worker.h
 *	  Declarations shared by the launcher and the automation workers.
 *
 * Copyright (c) 2026, pg_success developers
 *
 * src/worker.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_SUCCESS_WORKER_H
#define PG_SUCCESS_WORKER_H

#include "postgres.h"

extern bool cs_worker_enabled;
extern int	cs_worker_naptime;
extern char *cs_worker_databases;
extern char *cs_worker_role;

extern void cs_worker_init(void);

extern PGDLLEXPORT void cs_launcher_main(Datum main_arg);
extern PGDLLEXPORT void cs_automation_worker_main(Datum main_arg);

#endif							/* PG_SUCCESS_WORKER_H */
