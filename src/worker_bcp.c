/*
 * worker_bcp.c: scheduled BCP runs (creditledger.bcp_interval).
 *
 * The database's worker (worker.c) never runs rules itself, so a slow rule
 * can never hold up flushing, sweeps or hold expiry: when a run is due it
 * starts a short-lived dynamic background worker ("creditledger BCP run")
 * for its database, unless the previous one is still running (then that
 * round is skipped).  The run worker connects to the database, pins
 * search_path = pg_catalog, pg_temp, and runs every enabled rule as the
 * dedicated non-superuser role creditledger_bcp_runner (created by
 * setup_roles()), recording the results and logging each rule that did not
 * pass at WARNING.  Without that role, or if it is a superuser, there is no
 * scheduled run and the log says why (once per change): user rule SQL never
 * runs as a superuser.
 *
 * Locking: the run reads with one snapshot and appends history rows
 * (bcp_run.c); the launcher keeps the worker handle in process memory only.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "bcp_run.h"
#include "settings.h"
#include "worker.h"

/* The run worker of this database's worker, if one was started */
static BackgroundWorkerHandle *bcp_handle = NULL;

/* What the launcher last logged about the runner role (to log changes only) */
static int	runner_problem_logged = -1;

/* Why there can be no scheduled run */
typedef enum RunnerProblem
{
	RUNNER_OK,
	RUNNER_NO_EXTENSION,
	RUNNER_MISSING,
	RUNNER_SUPERUSER
} RunnerProblem;

/*
 * runner_problem: whether creditledger_bcp_runner can run scheduled rules;
 * sets *runner to its OID.  Needs a transaction.
 */
static RunnerProblem
runner_problem(Oid *runner)
{
	HeapTuple	tup;
	bool		is_super;

	if (!OidIsValid(get_extension_oid("creditledger", true)))
		return RUNNER_NO_EXTENSION;
	*runner = cl_bcp_runner_role();
	if (!OidIsValid(*runner))
		return RUNNER_MISSING;
	tup = SearchSysCache1(AUTHOID, ObjectIdGetDatum(*runner));
	if (!HeapTupleIsValid(tup))
		return RUNNER_MISSING;
	is_super = ((Form_pg_authid) GETSTRUCT(tup))->rolsuper;
	ReleaseSysCache(tup);
	return is_super ? RUNNER_SUPERUSER : RUNNER_OK;
}

/*
 * log_runner_problem: say (once per change) why scheduled runs do not run.
 */
static void
log_runner_problem(RunnerProblem problem, const char *dbname)
{
	if (runner_problem_logged == (int) problem)
		return;
	runner_problem_logged = (int) problem;
	if (problem == RUNNER_MISSING)
		ereport(LOG,
				(errmsg("creditledger scheduled BCP runs are off in database \"%s\": role \"%s\" does not exist",
						dbname, CL_BCP_RUNNER_ROLE),
				 errdetail("Scheduled runs execute rules as that dedicated non-superuser role, never as a superuser."),
				 errhint("Run SELECT creditledger.setup_roles(); as a superuser.")));
	else if (problem == RUNNER_SUPERUSER)
		ereport(LOG,
				(errmsg("creditledger scheduled BCP runs are off in database \"%s\": role \"%s\" is a superuser",
						dbname, CL_BCP_RUNNER_ROLE),
				 errdetail("User rule SQL never runs as a superuser."),
				 errhint("ALTER ROLE %s NOSUPERUSER;", CL_BCP_RUNNER_ROLE)));
	else if (problem == RUNNER_OK)
		ereport(LOG,
				(errmsg("creditledger scheduled BCP runs in database \"%s\" run as role \"%s\"",
						dbname, CL_BCP_RUNNER_ROLE)));
}

/*
 * cl_bcp_launch: a scheduled run is due for worker index (database dbname):
 * start a run worker unless one is still running or the runner role is not
 * usable.  Called between units, outside any transaction.
 */
void
cl_bcp_launch(int index, const char *dbname)
{
	BackgroundWorker worker;
	pid_t		pid;
	RunnerProblem problem;
	Oid			runner = InvalidOid;

	if (bcp_handle != NULL)
	{
		BgwHandleStatus status = GetBackgroundWorkerPid(bcp_handle, &pid);

		if (status == BGWH_STARTED || status == BGWH_NOT_YET_STARTED)
		{
			ereport(DEBUG1,
					(errmsg("creditledger scheduled BCP run skipped: the previous one is still running")));
			return;
		}
		pfree(bcp_handle);
		bcp_handle = NULL;
	}

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	problem = runner_problem(&runner);
	CommitTransactionCommand();
	if (problem == RUNNER_NO_EXTENSION)
		return;
	log_runner_problem(problem, dbname);
	if (problem != RUNNER_OK)
		return;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	strlcpy(worker.bgw_library_name, "creditledger", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "cl_bcp_worker_main", BGW_MAXLEN);
	snprintf(worker.bgw_name, BGW_MAXLEN, "creditledger BCP run for database %s", dbname);
	strlcpy(worker.bgw_type, "creditledger BCP run", BGW_MAXLEN);
	worker.bgw_main_arg = Int32GetDatum(index);
	worker.bgw_notify_pid = 0;
	if (!RegisterDynamicBackgroundWorker(&worker, &bcp_handle))
	{
		bcp_handle = NULL;
		ereport(WARNING,
				(errmsg("creditledger could not start a scheduled BCP run in database \"%s\"", dbname),
				 errhint("Raise max_worker_processes.")));
	}
}

/*
 * log_failing: a scheduled run's callback: each rule that did not pass at
 * WARNING.
 */
static void
log_failing(void *arg, const ClBcpResult *r)
{
	if (strcmp(r->status, "pass") == 0)
		return;
	if (r->mismatches_null)
		ereport(WARNING,
				(errmsg("creditledger BCP rule \"%s\" (%s) %s", r->rule, r->severity, r->status),
				 errdetail("%s", r->sample ? JsonbToCString(NULL, &r->sample->root,
															 VARSIZE(r->sample)) : "")));
	else
		ereport(WARNING,
				(errmsg("creditledger BCP rule \"%s\" (%s) %s: " INT64_FORMAT " mismatches",
						r->rule, r->severity, r->status, r->mismatches),
				 errdetail("First mismatches: %.400s",
						   r->sample ? JsonbToCString(NULL, &r->sample->root,
													  VARSIZE(r->sample)) : "")));
}

/*
 * cl_bcp_worker_main: entry point of a run worker (bgw_function_name);
 * main_arg is the index of its database in creditledger.database.  Runs
 * every enabled rule once, as creditledger_bcp_runner, and exits.
 */
void
cl_bcp_worker_main(Datum main_arg)
{
	int			index = DatumGetInt32(main_arg);
	Oid			runner = InvalidOid;
	Oid			save_user;
	int			save_sec;
	int			failing;

	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	if (index < 0 || index >= cl_database_count())
		proc_exit(0);
	BackgroundWorkerInitializeConnection(cl_database_name(index), NULL, 0);
	/* whatever the database or role settings say (CVE-2018-1058) */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("jit", "off", PGC_SUSET, PGC_S_OVERRIDE);

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "creditledger: scheduled BCP run");
	if (runner_problem(&runner) != RUNNER_OK)
	{
		/* the launcher checked; the role vanished since: nothing runs */
		PopActiveSnapshot();
		CommitTransactionCommand();
		proc_exit(0);
	}
	GetUserIdAndSecContext(&save_user, &save_sec);
	SetUserIdAndSecContext(runner, save_sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	failing = cl_bcp_run_rules(NULL, true, log_failing, NULL);
	SetUserIdAndSecContext(save_user, save_sec);
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
	ereport(DEBUG1,
			(errmsg("creditledger scheduled BCP run: %d rules did not pass", failing)));
	proc_exit(0);
}
