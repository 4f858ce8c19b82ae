/*-------------------------------------------------------------------------
 *
 * worker_launcher.c
 *	  The launcher background worker: keeps one automation worker running
 *	  in every database where pg_success is installed, and the settings
 *	  that control the workers.
 *
 * The launcher connects to no database and reads the shared catalog
 * pg_database. It starts a worker for every database that accepts
 * connections, limited to pg_success.databases when that is set. A worker
 * in a database without the extension exits at once. The launcher probes
 * such a database again after CS_LAUNCHER_PROBE_NAPTIMES naptimes, or as
 * soon as CREATE EXTENSION pg_success commits anywhere, which wakes the
 * launcher through shared memory. A worker that stops for any other reason
 * is started again by the same probe.
 *
 * The launcher starts only when recovery has finished, so a hot standby
 * runs no automations, and a promoted standby starts them.
 *
 * Copyright (c) 2026, pg_success developers
 *
 * src/worker_launcher.c
 *
 *-------------------------------------------------------------------------
 */
#include "pg_success.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"
#include "worker.h"

PG_FUNCTION_INFO_V1(cs_wake_launcher);

/*
 * The launcher probes databases that have no worker every this many
 * naptimes (60 s with the default naptime of 10 s).
 */
#define CS_LAUNCHER_PROBE_NAPTIMES 6

/* Settings; see docs/scheduling.md. */
bool		cs_worker_enabled = true;
int			cs_worker_naptime = 10;
char	   *cs_worker_databases = NULL;
char	   *cs_worker_role = NULL;

/* State shared between the launcher and the backends that wake it. */
typedef struct CsLauncherShared
{
	slock_t		mutex;
	PGPROC	   *launcher_proc;	/* NULL while no launcher runs */
	bool		probe_requested;
} CsLauncherShared;

/* A database found in pg_database, with its worker. */
typedef struct DatabaseWorker
{
	Oid			database_oid;
	char		database_name[NAMEDATALEN];
	BackgroundWorkerHandle *handle; /* NULL when no worker was started */
	TimestampTz last_start;
	bool		seen;			/* still listed in the latest scan */
} DatabaseWorker;

static CsLauncherShared *launcher_shared = NULL;
static shmem_request_hook_type previous_shmem_request_hook = NULL;
static shmem_startup_hook_type previous_shmem_startup_hook = NULL;
static bool wake_launcher_at_commit = false;

static void launcher_shmem_request(void);
static void launcher_shmem_startup(void);
static void launcher_detach(int code, Datum arg);
static void launcher_xact_callback(XactEvent event, void *arg);
static bool database_is_selected(const char *database_name);
static void scan_databases(DatabaseWorker **workers, int *count,
						   int *capacity);
static void start_database_worker(DatabaseWorker *worker, Oid role_oid);

/*
 * cs_worker_init
 *		Defines the worker settings and registers the launcher and its
 *		shared memory; called from _PG_init in the postmaster.
 */
void
cs_worker_init(void)
{
	BackgroundWorker launcher;

	DefineCustomBoolVariable("pg_success.enabled",
							 "Runs the time-based automations in the background workers.",
							 "When off, the workers stay connected but run no ticks.",
							 &cs_worker_enabled, true,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);

	DefineCustomIntVariable("pg_success.naptime",
							"Time between two ticks of an automation worker.",
							NULL,
							&cs_worker_naptime, 10, 1, 86400,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);

	DefineCustomStringVariable("pg_success.databases",
							   "Comma-separated databases the launcher runs workers in; empty means every database with the extension.",
							   NULL,
							   &cs_worker_databases, "",
							   PGC_SIGHUP, GUC_LIST_INPUT, NULL, NULL, NULL);

	DefineCustomStringVariable("pg_success.role",
							   "Role the automation workers run as; empty means the bootstrap superuser.",
							   "Read when a worker starts.",
							   &cs_worker_role, "",
							   PGC_SIGHUP, 0, NULL, NULL, NULL);

	previous_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = launcher_shmem_request;
	previous_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = launcher_shmem_startup;

	RegisterXactCallback(launcher_xact_callback, NULL);

	memset(&launcher, 0, sizeof(launcher));
	launcher.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	launcher.bgw_start_time = BgWorkerStart_RecoveryFinished;
	launcher.bgw_restart_time = 10;
	snprintf(launcher.bgw_library_name, BGW_MAXLEN, "pg_success");
	snprintf(launcher.bgw_function_name, BGW_MAXLEN, "cs_launcher_main");
	snprintf(launcher.bgw_name, BGW_MAXLEN, "pg_success launcher");
	snprintf(launcher.bgw_type, BGW_MAXLEN, "pg_success launcher");
	RegisterBackgroundWorker(&launcher);
}

static void
launcher_shmem_request(void)
{
	if (previous_shmem_request_hook)
		previous_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(CsLauncherShared)));
}

static void
launcher_shmem_startup(void)
{
	bool		found;

	if (previous_shmem_startup_hook)
		previous_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	launcher_shared = ShmemInitStruct("pg_success launcher",
									  sizeof(CsLauncherShared), &found);
	if (!found)
	{
		SpinLockInit(&launcher_shared->mutex);
		launcher_shared->launcher_proc = NULL;
		launcher_shared->probe_requested = false;
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * cs_wake_launcher
 *		SQL function cs.wake_launcher(): makes the launcher probe the
 *		databases without a worker once the current transaction commits.
 *		CREATE EXTENSION calls it, so a new installation gets its worker
 *		without a restart.
 */
Datum
cs_wake_launcher(PG_FUNCTION_ARGS)
{
	wake_launcher_at_commit = true;
	PG_RETURN_VOID();
}

static void
launcher_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT && wake_launcher_at_commit &&
		launcher_shared != NULL)
	{
		PGPROC	   *launcher_proc;

		SpinLockAcquire(&launcher_shared->mutex);
		launcher_shared->probe_requested = true;
		launcher_proc = launcher_shared->launcher_proc;
		SpinLockRelease(&launcher_shared->mutex);

		if (launcher_proc != NULL)
			SetLatch(&launcher_proc->procLatch);
	}

	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PREPARE)
		wake_launcher_at_commit = false;
}

static void
launcher_detach(int code, Datum arg)
{
	SpinLockAcquire(&launcher_shared->mutex);
	launcher_shared->launcher_proc = NULL;
	SpinLockRelease(&launcher_shared->mutex);
}

/*
 * database_is_selected
 *		True when pg_success.databases is empty or lists the database.
 */
static bool
database_is_selected(const char *database_name)
{
	char	   *list_copy;
	List	   *names = NIL;
	ListCell   *cell;
	bool		selected = false;

	if (cs_worker_databases == NULL || cs_worker_databases[0] == '\0')
		return true;

	list_copy = pstrdup(cs_worker_databases);
	if (!SplitIdentifierString(list_copy, ',', &names))
	{
		ereport(LOG,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid list syntax in pg_success.databases: \"%s\"",
						cs_worker_databases),
				 errhint("List database names separated by commas.")));
		return false;
	}

	foreach(cell, names)
	{
		if (strcmp((char *) lfirst(cell), database_name) == 0)
			selected = true;
	}
	return selected;
}

/*
 * scan_databases
 *		Refreshes the array of known databases from pg_database: adds new
 *		ones that accept connections and are selected, and clears the seen
 *		flag of the ones that are gone.
 */
static void
scan_databases(DatabaseWorker **workers, int *count, int *capacity)
{
	Relation	relation;
	TableScanDesc scan;
	HeapTuple	tuple;

	for (int i = 0; i < *count; i++)
		(*workers)[i].seen = false;

	StartTransactionCommand();
	relation = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(relation, 0, NULL);

	while ((tuple = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database database = (Form_pg_database) GETSTRUCT(tuple);
		int			index = -1;

		if (!database->datallowconn || database->datistemplate)
			continue;
		if (!database_is_selected(NameStr(database->datname)))
			continue;

		for (int i = 0; i < *count; i++)
		{
			if ((*workers)[i].database_oid == database->oid)
				index = i;
		}

		if (index < 0)
		{
			if (*count == *capacity)
			{
				*capacity *= 2;
				*workers = repalloc(*workers, sizeof(DatabaseWorker) * *capacity);
			}
			index = (*count)++;
			memset(&(*workers)[index], 0, sizeof(DatabaseWorker));
			(*workers)[index].database_oid = database->oid;
			strlcpy((*workers)[index].database_name,
					NameStr(database->datname), NAMEDATALEN);
		}
		(*workers)[index].seen = true;
	}

	table_endscan(scan);
	table_close(relation, AccessShareLock);
	CommitTransactionCommand();
}

/*
 * start_database_worker
 *		Registers a dynamic background worker for one database, passing the
 *		database and role OIDs in bgw_main_arg and bgw_extra.
 */
static void
start_database_worker(DatabaseWorker *worker, Oid role_oid)
{
	BackgroundWorker definition;

	memset(&definition, 0, sizeof(definition));
	definition.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	definition.bgw_start_time = BgWorkerStart_RecoveryFinished;
	definition.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(definition.bgw_library_name, BGW_MAXLEN, "pg_success");
	snprintf(definition.bgw_function_name, BGW_MAXLEN, "cs_automation_worker_main");
	snprintf(definition.bgw_name, BGW_MAXLEN, "pg_success worker %s",
			 worker->database_name);
	snprintf(definition.bgw_type, BGW_MAXLEN, "pg_success worker");
	definition.bgw_main_arg = ObjectIdGetDatum(worker->database_oid);
	memcpy(definition.bgw_extra, &role_oid, sizeof(Oid));
	definition.bgw_notify_pid = MyProcPid;

	worker->last_start = GetCurrentTimestamp();
	if (!RegisterDynamicBackgroundWorker(&definition, &worker->handle))
	{
		worker->handle = NULL;
		ereport(LOG,
				(errmsg("pg_success launcher could not start a worker for database \"%s\"",
						worker->database_name),
				 errhint("Raise max_worker_processes; each database with pg_success needs one worker.")));
	}
}

/*
 * cs_launcher_main
 *		Entry point of the launcher. Loops until SIGTERM or postmaster death:
 *		rescans pg_database, starts workers where none runs and the probe is
 *		due, stops workers of databases that were dropped or deselected.
 */
void
cs_launcher_main(Datum main_arg)
{
	MemoryContext launcher_context;
	DatabaseWorker *workers;
	int			worker_count = 0;
	int			worker_capacity = 16;
	TimestampTz last_probe = 0;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("pg_success launcher");

	SpinLockAcquire(&launcher_shared->mutex);
	launcher_shared->launcher_proc = MyProc;
	SpinLockRelease(&launcher_shared->mutex);
	before_shmem_exit(launcher_detach, (Datum) 0);

	ereport(LOG, (errmsg("pg_success launcher started")));

	launcher_context = AllocSetContextCreate(TopMemoryContext,
											 "pg_success launcher",
											 ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(launcher_context);
	workers = palloc0(sizeof(DatabaseWorker) * worker_capacity);

	for (;;)
	{
		bool		probe;
		TimestampTz now = GetCurrentTimestamp();
		Oid			role_oid = InvalidOid;

		CHECK_FOR_INTERRUPTS();

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			last_probe = 0;
		}

		SpinLockAcquire(&launcher_shared->mutex);
		probe = launcher_shared->probe_requested;
		launcher_shared->probe_requested = false;
		SpinLockRelease(&launcher_shared->mutex);

		if (TimestampDifferenceExceeds(last_probe, now,
									   CS_LAUNCHER_PROBE_NAPTIMES * cs_worker_naptime * 1000))
			probe = true;

		if (probe)
		{
			last_probe = now;
			scan_databases(&workers, &worker_count, &worker_capacity);

			if (cs_worker_role != NULL && cs_worker_role[0] != '\0')
			{
				StartTransactionCommand();
				role_oid = get_role_oid(cs_worker_role, true);
				CommitTransactionCommand();
				if (!OidIsValid(role_oid))
					ereport(LOG,
							(errcode(ERRCODE_UNDEFINED_OBJECT),
							 errmsg("role \"%s\" in pg_success.role does not exist",
									cs_worker_role),
							 errhint("Create the role or change pg_success.role; workers run as the bootstrap superuser meanwhile.")));
			}

			for (int i = 0; i < worker_count; i++)
			{
				DatabaseWorker *worker = &workers[i];
				pid_t		pid;
				BgwHandleStatus status = BGWH_STOPPED;

				if (worker->handle != NULL)
					status = GetBackgroundWorkerPid(worker->handle, &pid);

				if (!worker->seen)
				{
					if (worker->handle != NULL && status != BGWH_STOPPED)
						TerminateBackgroundWorker(worker->handle);
					continue;
				}

				if (status == BGWH_STOPPED)
					start_database_worker(worker, role_oid);
			}
		}

		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 (long) cs_worker_naptime * 1000L,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
