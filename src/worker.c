/*
 * worker.c: creditledger's background workers.
 *
 * One static background worker per database named in creditledger.database
 * (registered from _PG_init while shared_preload_libraries is processed).
 * Each worker connects to its database and loops, as worker_spi and
 * autoprewarm do: wait on its latch (or a timeout), reset it, handle
 * interrupts and a pending SIGHUP reload, then do one cycle:
 *
 *   - in one transaction: check that the extension is installed (if not,
 *     say so once at LOG level and wait quietly, retrying every few seconds)
 *     and fetch the accounts that have committed buffered postings
 *     (hot_accounts_with_buffer);
 *   - for each of them, in its own transaction: hot_flush_account(id,
 *     batch_size, skip_locked = true); repeat the pass until one applies
 *     nothing, then sleep creditledger.flush_interval;
 *   - periodic tasks (cl_tasks, one scheduler, each first due one interval
 *     after start, 0 = off): every creditledger.sweep_interval
 *     hot_sweep_account() for each split account (hot_split_accounts), each
 *     in its own transaction; every creditledger.hold_expiry_interval
 *     cl_credit_expire_due() (credit holds) and then cl_expire_due_holds()
 *     (pending transfers and funds holds; both counted in
 *     stat_workers.holds_expired, not as application calls in
 *     stat_operations: cl_opstats_suppress_begin), then
 *     cl_credit_apply_due_temporary_limits() (starts temporary credit limits
 *     whose valid_from has come, ends those past valid_until; not counted as
 *     an application call either), each a C function called in its own
 *     transaction; every creditledger.hot_line_settle_interval
 *     cl_credit_settle_due() (journals batched hot lines' pending slice
 *     changes, one entry per slice, busy slices skipped); and every
 *     creditledger.bcp_interval a scheduled BCP run, started in a
 *     short-lived worker of its own (worker_bcp.c) so that rules never hold
 *     up flushing.
 *
 * Transactions: every unit of work is SetCurrentStatementStartTimestamp,
 * StartTransactionCommand, PushActiveSnapshot(GetTransactionSnapshot()),
 * the hot.c call (which connects to SPI itself), PopActiveSnapshot,
 * CommitTransactionCommand, so each sees a fresh snapshot and a failure
 * undoes only its own account's batch.
 *
 * Errors: an ERROR in one unit is logged (with a CONTEXT line naming the
 * account), counted in shared memory (stat_workers.errors, last_error), and
 * its transaction aborted; the account is then left alone for 1, 2, 4, ...
 * up to 64 seconds (doubling per consecutive failure, reset by a success),
 * so one bad row never crash-loops the worker or floods the log, and the
 * other accounts keep flowing.  A failure outside any account (fetching the
 * account list) backs off the whole worker the same way.
 *
 * Signals: SIGHUP reloads the configuration; SIGTERM (pg_terminate_backend,
 * or shutdown) is handled by die(), so the worker exits with FATAL, exit
 * code 1, and the postmaster restarts it after bgw_restart_time (it is
 * never exit code 0, which would unregister it).  A crash (e.g. kill -9)
 * makes the postmaster reinitialise and restart everything, this worker
 * included.
 *
 * Security: the worker runs everything as the bootstrap superuser, so it
 * pins search_path to pg_catalog, pg_temp when it connects (as the override
 * default, above any ALTER DATABASE/ROLE SET and postgresql.conf, reloads
 * included) and again before every unit should a SQL task have SET it for
 * the session; and every SQL string the C code runs names its functions,
 * operators and tables with their schema (OPERATOR(pg_catalog.=),
 * pg_catalog.nextval, creditledger.*), so nothing planted in public or any
 * other schema runs as the worker (CVE-2018-1058).
 *
 * Locking: the worker takes no locks of its own; hot.c serialises flushers
 * by the account row lock (the worker asks for skip_locked, so it never
 * waits on a posting backend) and sweeps skip busy accounts.  Shared memory
 * is touched only through stats.c (the worker's own slot).
 */
#include "postgres.h"

#include <limits.h>

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"
#include "utils/wait_event.h"

#include "credit.h"
#include "credit_limits.h"
#include "holds.h"
#include "hot.h"
#include "opstats.h"
#include "settings.h"
#include "stats.h"
#include "worker.h"

/* Restart delay after the worker exits with an error or is terminated */
#define CL_WORKER_RESTART_SECONDS	5

/* Sleep between checks while the extension is not installed */
#define CL_WAIT_FOR_EXTENSION_MS	5000

/* Sleep between checks while the worker is paused (flush_interval = 0) */
#define CL_PAUSED_MS				1000

/* Backoff after consecutive failures: 1 s, doubling, at most 64 s */
#define CL_BACKOFF_FIRST_MS			1000
#define CL_BACKOFF_MAX_MS			64000

/* run_unit() of a unit that failed (hot.c itself returns -1 or more) */
#define CL_UNIT_FAILED				(-2)

/* The only search_path the worker runs anything with (CVE-2018-1058) */
#define CL_WORKER_SEARCH_PATH		"pg_catalog, pg_temp"

/*
 * An account the worker failed on: retried no earlier than retry_at.
 */
typedef struct ClBackoff
{
	int64		account_id;		/* hash key */
	int			failures;		/* consecutive failures */
	TimestampTz retry_at;
} ClBackoff;

/* Per-process state of a running worker */
static int	cl_index = -1;		/* this worker's slot (bgw_main_arg) */
static const char *cl_dbname = NULL;
static const char *cl_state = NULL; /* state last published */
static MemoryContext cl_cycle_cxt = NULL;	/* reset every cycle */
static HTAB *cl_flush_backoff = NULL;
static HTAB *cl_sweep_backoff = NULL;
static int	cl_cycle_failures = 0;	/* consecutive failed account lists */
static emit_log_hook_type prev_emit_log_hook = NULL;

/* What an ErrorContextCallback reports for the unit in progress */
typedef struct ClUnitContext
{
	const char *what;			/* "flushing", "sweeping", ... */
	int64		account_id;		/* or 0 */
} ClUnitContext;

/*
 * A periodic task, run every *interval_ms (0 = off).  run drives it: the
 * sweep and the BCP launch are drivers of their own; a unit task
 * (run_unit_task) calls its C function work inside SPI, in a transaction of
 * its own, once the release that has it is installed (requires names a
 * function of that release; while the extension is older the task is
 * skipped quietly), and hands work's result to done.
 */
typedef struct ClPeriodicTask ClPeriodicTask;
struct ClPeriodicTask
{
	const char *what;			/* for the log and CONTEXT: "expiring holds" */
	int		   *interval_ms;
	void		(*run) (ClPeriodicTask *task);
	/* unit tasks (run_unit_task) */
	const char *activity;		/* pg_stat_activity */
	const char *requires;		/* regprocedure that must exist */
	int64		(*work) (void);	/* inside SPI and a transaction */
	void		(*done) (int64 result);	/* or NULL */
	TimestampTz next_at;
};

static void sweep_task(ClPeriodicTask *task);
static void bcp_task(ClPeriodicTask *task);
static void run_unit_task(ClPeriodicTask *task);
static void holds_expired_done(int64 result);

static ClPeriodicTask cl_tasks[] = {
	{"sweeping split accounts", &cl_sweep_interval, sweep_task},
	{"expiring holds", &cl_hold_expiry_interval, run_unit_task,
		"creditledger: expire due credit holds",
		"creditledger.credit_expire_holds()",
		cl_credit_expire_due,
		holds_expired_done},
	{"expiring pending transfers", &cl_hold_expiry_interval, run_unit_task,
		"creditledger: expire due pending transfers and funds holds",
		"creditledger.expire_pending()",
		cl_expire_due_holds,
		holds_expired_done},
	{"applying temporary limits", &cl_hold_expiry_interval, run_unit_task,
		"creditledger: start and end due temporary credit limits",
		"creditledger.credit_apply_temporary_limits()",
		cl_credit_apply_due_temporary_limits,
		NULL},
	{"settling batched hot lines", &cl_hot_line_settle_interval, run_unit_task,
		"creditledger: journal batched hot lines' pending slice changes",
		"creditledger.credit_settle_hot_lines(bigint)",
		cl_credit_settle_due,
		NULL},
	{"starting a BCP run", &cl_bcp_interval, bcp_task},
};

/*
 * cl_register_workers: register one static background worker per database
 * in creditledger.database.  Called from _PG_init only while
 * shared_preload_libraries is processed.
 */
void
cl_register_workers(void)
{
	if (!process_shared_preload_libraries_in_progress)
		return;

	cl_settings_fix_databases();

	for (int i = 0; i < cl_database_count(); i++)
	{
		const char *db = cl_database_name(i);
		BackgroundWorker worker;

		memset(&worker, 0, sizeof(worker));
		worker.bgw_flags = BGWORKER_SHMEM_ACCESS |
			BGWORKER_BACKEND_DATABASE_CONNECTION;
		worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
		worker.bgw_restart_time = CL_WORKER_RESTART_SECONDS;
		strlcpy(worker.bgw_library_name, "creditledger", BGW_MAXLEN);
		strlcpy(worker.bgw_function_name, "cl_worker_main", BGW_MAXLEN);
		snprintf(worker.bgw_name, BGW_MAXLEN,
				 "creditledger worker for database %s", db);
		strlcpy(worker.bgw_type, "creditledger worker", BGW_MAXLEN);
		worker.bgw_main_arg = Int32GetDatum(i);
		worker.bgw_notify_pid = 0;

		RegisterBackgroundWorker(&worker);
	}
}

/*
 * set_state: publish the worker's state in stat_workers (only on change).
 */
static void
set_state(const char *state)
{
	if (cl_state != NULL && strcmp(cl_state, state) == 0)
		return;
	cl_state = state;
	cl_stats_worker_set_state(cl_index, state);
}

/*
 * worker_exit: before_shmem_exit callback: mark the slot stopped.
 */
static void
worker_exit(int code, Datum arg)
{
	cl_stats_worker_stopped(DatumGetInt32(arg));
}

/*
 * connect_emit_log: emit_log_hook while connecting: a FATAL (typically "the
 * database does not exist") is counted and kept as last_error, so
 * stat_workers explains why the worker keeps restarting.
 */
static void
connect_emit_log(ErrorData *edata)
{
	if (edata->elevel >= FATAL && edata->message != NULL)
		cl_stats_worker_error(cl_index, edata->message);
	if (prev_emit_log_hook)
		prev_emit_log_hook(edata);
}

/*
 * unit_error_context: error context callback naming the worker's unit of
 * work (shown as CONTEXT in the server log).
 */
static void
unit_error_context(void *arg)
{
	ClUnitContext *unit = (ClUnitContext *) arg;

	if (unit->account_id != 0)
		errcontext("creditledger worker %s account " INT64_FORMAT,
				   unit->what, unit->account_id);
	else
		errcontext("creditledger worker %s", unit->what);
}

/*
 * pin_search_path: make search_path CL_WORKER_SEARCH_PATH again if anything
 * the worker ran (a plain SET or set_config(..., false) inside a SQL task,
 * which outlives its function's SET clause) changed it for the session.
 * Connecting pinned it as the override default, which ALTER DATABASE/ROLE
 * SET and configuration reloads cannot displace; only a session-level SET
 * can, so it is undone the same way.
 */
static void
pin_search_path(void)
{
	if (namespace_search_path == NULL ||
		strcmp(namespace_search_path, CL_WORKER_SEARCH_PATH) != 0)
		SetConfigOption("search_path", CL_WORKER_SEARCH_PATH,
						PGC_SUSET, PGC_S_SESSION);
}

/*
 * begin_unit: start a transaction for one unit of work, with a fresh active
 * snapshot and the pinned search_path, and report it in pg_stat_activity.
 */
static void
begin_unit(const char *activity)
{
	pin_search_path();
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, activity);
}

/*
 * end_unit: commit the unit's transaction.
 */
static void
end_unit(void)
{
	PopActiveSnapshot();
	CommitTransactionCommand();
}

/*
 * unit_failed: in PG_CATCH of a unit: log the error (with its context),
 * count it as last_error with the given prefix, and abort the transaction.
 * Leaves the caller in cl_cycle_cxt with no transaction open.
 */
static void
unit_failed(const char *prefix)
{
	ErrorData  *edata;
	char	   *msg;

	MemoryContextSwitchTo(cl_cycle_cxt);
	EmitErrorReport();
	edata = CopyErrorData();
	FlushErrorState();
	AbortCurrentTransaction();
	MemoryContextSwitchTo(cl_cycle_cxt);

	msg = psprintf("%s: %s", prefix, edata->message ? edata->message : "unknown error");
	cl_stats_worker_error(cl_index, msg);
	pfree(msg);
	FreeErrorData(edata);
}

/*
 * backoff_delay_ms: the wait after a given number of consecutive failures:
 * 1 s, 2 s, 4 s, ... at most CL_BACKOFF_MAX_MS.
 */
static long
backoff_delay_ms(int failures)
{
	long		delay = CL_BACKOFF_FIRST_MS;

	while (--failures > 0 && delay < CL_BACKOFF_MAX_MS)
		delay *= 2;
	return Min(delay, CL_BACKOFF_MAX_MS);
}

/*
 * backoff_skip: whether an account in table is still backing off.
 */
static bool
backoff_skip(HTAB *table, int64 account_id, TimestampTz now)
{
	ClBackoff  *entry;

	entry = (ClBackoff *) hash_search(table, &account_id, HASH_FIND, NULL);
	return entry != NULL && now < entry->retry_at;
}

/*
 * backoff_record: note the outcome of a unit on an account: a failure
 * doubles its backoff; a success forgets it.
 */
static void
backoff_record(HTAB *table, int64 account_id, bool failed)
{
	ClBackoff  *entry;
	bool		found;

	if (!failed)
	{
		(void) hash_search(table, &account_id, HASH_REMOVE, NULL);
		return;
	}
	entry = (ClBackoff *) hash_search(table, &account_id, HASH_ENTER, &found);
	if (!found)
		entry->failures = 0;
	if (entry->failures < INT_MAX)
		entry->failures++;
	entry->retry_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
												  backoff_delay_ms(entry->failures));
}

/* What fetch_accounts fetches */
typedef enum ClFetch
{
	CL_FETCH_NOTHING,			/* only check that the extension exists */
	CL_FETCH_BUFFERED,			/* hot_accounts_with_buffer() */
	CL_FETCH_SPLIT				/* hot_split_accounts() */
} ClFetch;

/*
 * push_unit_context: make unit's error context callback (on the caller's
 * stack) the innermost one, so errors name the unit of work.
 */
static void
push_unit_context(ErrorContextCallback *cb, ClUnitContext *unit)
{
	cb->callback = unit_error_context;
	cb->arg = unit;
	cb->previous = error_context_stack;
	error_context_stack = cb;
}

/*
 * fetch_accounts: in one transaction, check that the extension is installed
 * and, if so, fetch the ids of the accounts to work on, copied into
 * cl_cycle_cxt.  Returns false when the extension is missing.  When the
 * fetch failed (logged and counted) returns true with *ids = NULL, *n = -1.
 */
static bool
fetch_accounts(ClFetch fetch, int64 **ids, int *n)
{
	volatile bool present = false;
	const char *what = fetch == CL_FETCH_SPLIT ? "listing split accounts" :
		fetch == CL_FETCH_BUFFERED ? "listing buffered accounts" :
		"checking for the extension";
	ClUnitContext unit = {what, 0};

	*ids = NULL;
	*n = 0;

	begin_unit(fetch == CL_FETCH_SPLIT ? "creditledger: list split accounts" :
			   fetch == CL_FETCH_BUFFERED ? "creditledger: list buffered accounts" :
			   "creditledger: check for the extension");
	PG_TRY();
	{
		ErrorContextCallback errcallback;

		push_unit_context(&errcallback, &unit);

		present = OidIsValid(get_extension_oid("creditledger", true));
		if (present && fetch != CL_FETCH_NOTHING)
		{
			int			count = 0;
			int64	   *found;

			found = fetch == CL_FETCH_SPLIT ? hot_split_accounts(&count)
				: hot_accounts_with_buffer(&count);
			if (count > 0)
			{
				*ids = MemoryContextAlloc(cl_cycle_cxt, sizeof(int64) * count);
				memcpy(*ids, found, sizeof(int64) * count);
			}
			*n = count;
		}

		error_context_stack = errcallback.previous;
		end_unit();
	}
	PG_CATCH();
	{
		unit_failed(what);
		*ids = NULL;
		*n = -1;
		present = true;
	}
	PG_END_TRY();
	pgstat_report_activity(STATE_IDLE, NULL);

	return present;
}

/*
 * run_unit: one account's flush (sweep = false) or sweep, in its own
 * transaction.  Returns what hot.c returned (postings applied, -1 if the
 * account was locked; sub-accounts moved), or CL_UNIT_FAILED after an error
 * (logged, counted, rolled back).
 */
static int64
run_unit(bool sweep, int64 account_id)
{
	volatile int64 result = 0;
	ClUnitContext unit = {sweep ? "sweeping" : "flushing", account_id};

	begin_unit(sweep ? "creditledger: sweep split account"
			   : "creditledger: flush buffered postings");
	PG_TRY();
	{
		ErrorContextCallback errcallback;

		push_unit_context(&errcallback, &unit);

		if (sweep)
			result = hot_sweep_account(account_id);
		else
			result = hot_flush_account(account_id, (int64) cl_batch_size, true);

		error_context_stack = errcallback.previous;
		end_unit();
	}
	PG_CATCH();
	{
		char		prefix[64];

		snprintf(prefix, sizeof(prefix), "%s account " INT64_FORMAT,
				 sweep ? "sweeping" : "flushing", account_id);
		unit_failed(prefix);
		result = CL_UNIT_FAILED;
	}
	PG_END_TRY();
	pgstat_report_activity(STATE_IDLE, NULL);
	pgstat_report_stat(false);

	return result;
}

/*
 * process_interrupts: between units: handle SIGTERM (CHECK_FOR_INTERRUPTS
 * exits), ignore a stale cancel, and apply a pending configuration reload.
 */
static void
process_interrupts(void)
{
	/*
	 * A cancel (pg_cancel_backend) cancels the unit in progress, where it is
	 * caught like any error.  Between units there is nothing to cancel, and
	 * an ERROR here, outside any handler, would become FATAL: drop it.
	 */
	QueryCancelPending = false;
	CHECK_FOR_INTERRUPTS();
	if (ConfigReloadPending)
	{
		ConfigReloadPending = false;
		ProcessConfigFile(PGC_SIGHUP);
	}
}

/*
 * sweep_split_accounts: one sweep of every split account not backing off.
 */
static void
sweep_split_accounts(void)
{
	int64	   *ids;
	int			n;
	int			i;
	TimestampTz now = GetCurrentTimestamp();

	set_state("sweeping");
	if (!fetch_accounts(CL_FETCH_SPLIT, &ids, &n) || n <= 0)
		return;

	for (i = 0; i < n && cl_flush_interval > 0; i++)
	{
		int64		r;

		if (backoff_skip(cl_sweep_backoff, ids[i], now))
			continue;
		r = run_unit(true, ids[i]);
		backoff_record(cl_sweep_backoff, ids[i], r == CL_UNIT_FAILED);
		process_interrupts();
	}
}

/*
 * holds_expired_done: count the holds a periodic expiry released.
 */
static void
holds_expired_done(int64 result)
{
	cl_stats_worker_add_expired(cl_index, result);
}

/*
 * sweep_task: the periodic sweep of every split account.
 */
static void
sweep_task(ClPeriodicTask *task)
{
	sweep_split_accounts();
}

/*
 * bcp_task: a scheduled BCP run is due: start it in a worker of its own
 * (worker_bcp.c), so rules never hold up flushing.
 */
static void
bcp_task(ClPeriodicTask *task)
{
	set_state("starting a BCP run");
	cl_bcp_launch(cl_index, cl_dbname);
}

/*
 * run_unit_task: one run of a unit task in its own transaction; its result
 * (0 when the installed release does not have the task yet) goes to
 * task->done, unless the run failed (logged and counted).
 */
static void
run_unit_task(ClPeriodicTask *task)
{
	volatile int64 result = 0;
	ClUnitContext unit = {task->what, 0};

	set_state(task->what);
	/* the worker's own calls are not application calls (opstats.h) */
	cl_opstats_suppress_begin();
	begin_unit(task->activity);
	PG_TRY();
	{
		ErrorContextCallback errcallback;
		bool		isnull;
		Oid			argtypes[1] = {TEXTOID};
		Datum		args[1];

		push_unit_context(&errcallback, &unit);
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "creditledger: SPI_connect failed");
		args[0] = CStringGetTextDatum(task->requires);
		if (SPI_execute_with_args("SELECT pg_catalog.to_regprocedure($1) IS NOT NULL",
								  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "creditledger: could not look up %s", task->requires);
		if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
			result = task->work();
		SPI_finish();
		error_context_stack = errcallback.previous;
		end_unit();
	}
	PG_CATCH();
	{
		unit_failed(task->what);
		result = CL_UNIT_FAILED;
	}
	PG_END_TRY();
	cl_opstats_suppress_end();
	pgstat_report_activity(STATE_IDLE, NULL);
	pgstat_report_stat(false);
	if (result != CL_UNIT_FAILED && task->done != NULL)
		task->done(result);
}

/*
 * run_due_tasks: run every periodic task whose time has come (a failed run
 * is retried one interval later); returns the milliseconds until the next
 * one is due (LONG_MAX if none is on).
 */
static long
run_due_tasks(void)
{
	long		until_next = LONG_MAX;

	for (int i = 0; i < (int) lengthof(cl_tasks); i++)
	{
		ClPeriodicTask *task = &cl_tasks[i];
		TimestampTz now = GetCurrentTimestamp();
		long		secs;
		int			usecs;

		if (*task->interval_ms <= 0)
		{
			task->next_at = 0;
			continue;
		}
		/* first run one interval from now; a shorter interval (SIGHUP) at once */
		if (task->next_at == 0 ||
			task->next_at > TimestampTzPlusMilliseconds(now, *task->interval_ms))
			task->next_at = TimestampTzPlusMilliseconds(now, *task->interval_ms);
		if (now >= task->next_at)
		{
			task->run(task);
			process_interrupts();
			task->next_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
														*task->interval_ms);
		}
		TimestampDifference(GetCurrentTimestamp(), task->next_at, &secs, &usecs);
		until_next = Min(until_next, secs * 1000 + usecs / 1000 + 1);
	}
	return until_next;
}

/*
 * reset_tasks: every periodic task runs one interval from now (the
 * extension just appeared).
 */
static void
reset_tasks(void)
{
	for (int i = 0; i < (int) lengthof(cl_tasks); i++)
		cl_tasks[i].next_at = 0;
}

/*
 * worker_cycle: one cycle of the loop (see the file header); returns how
 * long to sleep, in milliseconds.
 */
static long
worker_cycle(void)
{
	static bool waiting_logged = false;
	long		sleep_ms;
	long		until_task = LONG_MAX;

	for (;;)
	{
		int64	   *ids;
		int			n;
		int			i;
		int64		applied = 0;
		TimestampTz now;

		MemoryContextReset(cl_cycle_cxt);

		if (cl_flush_interval == 0)
		{
			/* Paused: still watch for the extension, do no ledger work */
			bool		present;

			present = fetch_accounts(CL_FETCH_NOTHING, &ids, &n);
			set_state(present ? "paused" : "waiting for extension");
			cl_stats_worker_cycle_done(cl_index);
			return CL_PAUSED_MS;
		}

		if (!fetch_accounts(CL_FETCH_BUFFERED, &ids, &n))
		{
			if (!waiting_logged)
				ereport(LOG,
						(errmsg("creditledger worker is waiting for the extension in database \"%s\"",
								cl_dbname),
						 errhint("Run CREATE EXTENSION creditledger in that database, or remove it from creditledger.database.")));
			waiting_logged = true;
			set_state("waiting for extension");
			cl_stats_worker_cycle_done(cl_index);
			return CL_WAIT_FOR_EXTENSION_MS;
		}
		if (waiting_logged)
		{
			ereport(LOG,
					(errmsg("creditledger worker found the extension in database \"%s\"",
							cl_dbname)));
			waiting_logged = false;
			reset_tasks();
		}

		if (n < 0)
		{
			/* listing failed (logged and counted): back off the worker */
			if (cl_cycle_failures < INT_MAX)
				cl_cycle_failures++;
			set_state("idle");
			cl_stats_worker_cycle_done(cl_index);
			return backoff_delay_ms(cl_cycle_failures);
		}
		cl_cycle_failures = 0;

		if (n > 0)
			set_state("flushing");
		now = GetCurrentTimestamp();
		for (i = 0; i < n; i++)
		{
			int64		r;

			if (backoff_skip(cl_flush_backoff, ids[i], now))
				continue;
			r = run_unit(false, ids[i]);
			backoff_record(cl_flush_backoff, ids[i], r == CL_UNIT_FAILED);
			if (r > 0)
			{
				applied += r;
				cl_stats_worker_add_flushed(cl_index, r);
			}
			process_interrupts();
			if (cl_flush_interval == 0)
				break;
		}
		cl_stats_worker_cycle_done(cl_index);

		/* sweeps and other tasks are due even under a load that never lets
		 * the buffer empty */
		until_task = run_due_tasks();

		if (applied == 0 || cl_flush_interval == 0)
			break;
	}

	set_state("idle");

	sleep_ms = cl_flush_interval > 0 ? cl_flush_interval : CL_PAUSED_MS;
	return Min(sleep_ms, until_task);
}

/*
 * cl_worker_main: entry point of a worker (bgw_function_name); main_arg is
 * the index of its database in creditledger.database.  Never returns:
 * exits through proc_exit on SIGTERM (FATAL, exit code 1: restarted) or on
 * postmaster death.
 */
void
cl_worker_main(Datum main_arg)
{
	HASHCTL		ctl;

	cl_index = DatumGetInt32(main_arg);

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	if (cl_index < 0 || cl_index >= cl_database_count())
	{
		/* cannot happen: the list is fixed at server start; exit for good */
		ereport(LOG,
				(errmsg("creditledger worker %d has no database configured", cl_index)));
		proc_exit(0);
	}
	cl_dbname = cl_database_name(cl_index);

	cl_stats_worker_started(cl_index);
	cl_state = "starting";
	before_shmem_exit(worker_exit, Int32GetDatum(cl_index));

	/* a connection failure is FATAL: keep its message for stat_workers */
	prev_emit_log_hook = emit_log_hook;
	emit_log_hook = connect_emit_log;
	BackgroundWorkerInitializeConnection(cl_dbname, NULL, 0);
	emit_log_hook = prev_emit_log_hook;

	/*
	 * Everything the worker runs, it runs as the bootstrap superuser: plan
	 * it with pg_catalog first and nothing a database owner or any role can
	 * create objects in (CVE-2018-1058).  PGC_S_OVERRIDE outranks the
	 * database's and role's settings (ALTER DATABASE/ROLE ... SET, applied
	 * while connecting) and postgresql.conf on every reload, and is also the
	 * value RESET returns to.
	 */
	SetConfigOption("search_path", CL_WORKER_SEARCH_PATH,
					PGC_SUSET, PGC_S_OVERRIDE);

	cl_cycle_cxt = AllocSetContextCreate(TopMemoryContext,
										 "creditledger worker cycle",
										 ALLOCSET_DEFAULT_SIZES);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(ClBackoff);
	cl_flush_backoff = hash_create("creditledger flush backoff", 64, &ctl,
								   HASH_ELEM | HASH_BLOBS);
	cl_sweep_backoff = hash_create("creditledger sweep backoff", 64, &ctl,
								   HASH_ELEM | HASH_BLOBS);

	ereport(LOG,
			(errmsg("creditledger worker started for database \"%s\"", cl_dbname)));

	for (;;)
	{
		long		sleep_ms;

		process_interrupts();

		sleep_ms = worker_cycle();
		MemoryContextSwitchTo(TopMemoryContext);
		/* cumulative statistics: forced only before a long sleep */
		pgstat_report_stat(sleep_ms >= 1000);

		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Max(sleep_ms, 1L),
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
