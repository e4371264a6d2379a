/*
 * settings.c: every creditledger.* setting, defined in one place.
 *
 * _PG_init calls cl_define_settings() in every process that loads the
 * library (preloaded or not), before MarkGUCPrefixReserved.  The variables
 * are read by the modules named in settings.h.  The list of databases
 * served by workers (creditledger.database) is parsed once, at preload,
 * by cl_settings_fix_databases(), and kept for the life of the postmaster
 * and its children.
 *
 * Who may change what: superuser-only (PGC_SUSET) for every setting that
 * could relax a reconciliation or hide activity (BCP thresholds and
 * timeout, creditledger.track); server-wide (PGC_SIGHUP) for the worker's
 * pacing; per session (PGC_USERSET) only for the credit_alerts view's
 * thresholds, which change what one session sees and nothing else.
 *
 * No locking: GUC variables are process-local.
 */
#include "postgres.h"

#include <limits.h>

#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/varlena.h"

#include "settings.h"

/* Background workers */
static char *cl_database_list = NULL;
int			cl_flush_interval = 10;
int			cl_batch_size = 1000;
int			cl_sweep_interval = 10000;
int			cl_hold_expiry_interval = 1000;
int			cl_hot_line_settle_interval = 1000;
int			cl_bcp_interval = 0;

/* Statistics */
bool		cl_track = true;

/* BCP */
int			cl_bcp_buffer_max_age = 60;
int			cl_bcp_hold_overdue = 60;
int			cl_bcp_slice_journal_max_age = 60;
int			cl_bcp_rule_timeout = 60000;

/* Credit alerts */
double		cl_credit_alert_utilization = 0.9;
int			cl_credit_alert_expiring_within = 7 * 24 * 3600;

/* creditledger.database, parsed at preload */
static List *cl_databases = NIL;

static bool check_database_list(char **newval, void **extra, GucSource source);

/*
 * cl_define_settings: define every creditledger.* setting.
 */
void
cl_define_settings(void)
{
	/*
	 * creditledger.database is read once, at server start.  A PGC_POSTMASTER
	 * variable can only be created while shared_preload_libraries is
	 * processed (later it is FATAL); when the library is loaded on first use
	 * instead, there are no workers and the setting only shows its value, so
	 * it is created as PGC_SIGHUP (no session can change it either), which
	 * also spares every session a warning about an unknown creditledger.
	 * setting after MarkGUCPrefixReserved.
	 */
	DefineCustomStringVariable("creditledger.database",
							   "Databases served by creditledger background workers.",
							   "A comma-separated list of database names; one worker per database. "
							   "Read at server start, with creditledger in shared_preload_libraries. "
							   "Empty: no workers.",
							   &cl_database_list,
							   "postgres",
							   process_shared_preload_libraries_in_progress ?
							   PGC_POSTMASTER : PGC_SIGHUP,
							   GUC_LIST_INPUT,
							   check_database_list, NULL, NULL);

	DefineCustomIntVariable("creditledger.flush_interval",
							"Time the background worker sleeps once no buffered postings are left.",
							"0 pauses the worker: it neither flushes nor sweeps.",
							&cl_flush_interval,
							10, 0, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("creditledger.batch_size",
							"Buffered postings of one account the background worker applies per transaction.",
							NULL,
							&cl_batch_size,
							1000, 1, INT_MAX,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("creditledger.sweep_interval",
							"Time between the background worker's rebalancing sweeps of split accounts.",
							"0 turns sweeping off.",
							&cl_sweep_interval,
							10000, 0, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("creditledger.hold_expiry_interval",
							"Time between the background worker's releases of credit holds past their expires_at.",
							"0 turns it off (credit_expire_holds() still works by hand).",
							&cl_hold_expiry_interval,
							1000, 0, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("creditledger.hot_line_settle_interval",
							"Time between the background worker's journaling of batched hot lines' pending slice changes.",
							"0 turns it off (credit_settle_hot_lines() still works by hand).",
							&cl_hot_line_settle_interval,
							1000, 0, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("creditledger.bcp_interval",
							"Time between the background worker's scheduled runs of every enabled BCP rule.",
							"0 (the default) turns scheduled runs off.",
							&cl_bcp_interval,
							0, 0, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("creditledger.track",
							 "Counts calls, errors and latencies of creditledger functions.",
							 "Statistics need creditledger in shared_preload_libraries.",
							 &cl_track, true, PGC_SUSET, 0, NULL, NULL, NULL);

	DefineCustomIntVariable("creditledger.bcp_buffer_max_age",
							"Age beyond which a buffered posting fails the buffer_not_stale BCP rule.",
							NULL, &cl_bcp_buffer_max_age,
							60, 1, INT_MAX, PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("creditledger.bcp_slice_journal_max_age",
							"Age beyond which a batched hot line's pending slice change fails the hot_slices_journaled BCP rule.",
							NULL, &cl_bcp_slice_journal_max_age,
							60, 1, INT_MAX, PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("creditledger.bcp_hold_overdue",
							"Time past expires_at after which an open hold fails the holds_not_overdue BCP rule.",
							NULL, &cl_bcp_hold_overdue,
							60, 1, INT_MAX, PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);

	/*
	 * PGC_SUSET, as the warning rules' thresholds: a role must not be able
	 * to relax (or break) a reconciliation for its own runs.
	 */
	DefineCustomIntVariable("creditledger.bcp_rule_timeout",
							"Time one BCP rule may run before it is cancelled (status error).",
							"0 turns the timeout off.",
							&cl_bcp_rule_timeout,
							60000, 0, INT_MAX,
							PGC_SUSET, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomRealVariable("creditledger.credit_alert_utilization",
							 "Share of a credit line's limit consumed at which credit_alerts reports utilization_high.",
							 NULL,
							 &cl_credit_alert_utilization,
							 0.9, 0.0, 1.0,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("creditledger.credit_alert_expiring_within",
							"How long before valid_until credit_alerts reports expiring_soon.",
							NULL,
							&cl_credit_alert_expiring_within,
							7 * 24 * 3600, 0, INT_MAX,
							PGC_USERSET, GUC_UNIT_S,
							NULL, NULL, NULL);
}

/*
 * check_database_list: GUC check hook for creditledger.database: a valid
 * list of at most CL_MAX_WORKERS distinct, non-empty names no longer than
 * NAMEDATALEN - 1.
 */
static bool
check_database_list(char **newval, void **extra, GucSource source)
{
	char	   *raw = pstrdup(*newval);
	List	   *names = NIL;
	ListCell   *lc;
	bool		ok = true;

	if (!SplitGUCList(raw, ',', &names))
	{
		GUC_check_errdetail("List syntax is invalid.");
		ok = false;
	}
	else if (list_length(names) > CL_MAX_WORKERS)
	{
		GUC_check_errdetail("At most %d databases can be listed.", CL_MAX_WORKERS);
		ok = false;
	}
	else
	{
		foreach(lc, names)
		{
			const char *name = (const char *) lfirst(lc);
			ListCell   *lc2;

			if (name[0] == '\0' || strlen(name) >= NAMEDATALEN)
			{
				GUC_check_errdetail("Database name \"%s\" is empty or too long.", name);
				ok = false;
				break;
			}
			for_each_cell(lc2, names, lnext(names, lc))
			{
				if (strcmp(name, (const char *) lfirst(lc2)) == 0)
				{
					GUC_check_errdetail("Database \"%s\" is listed more than once.", name);
					ok = false;
					break;
				}
			}
			if (!ok)
				break;
		}
	}

	list_free(names);
	pfree(raw);
	return ok;
}

/*
 * cl_settings_fix_databases: parse creditledger.database once, at preload
 * (the check hook has already refused a malformed value, so a parse failure
 * here, which cannot happen, means no workers).  Kept in TopMemoryContext
 * for the life of the postmaster and inherited by its children.
 */
void
cl_settings_fix_databases(void)
{
	MemoryContext oldcxt = MemoryContextSwitchTo(TopMemoryContext);
	char	   *raw = pstrdup(cl_database_list ? cl_database_list : "");

	if (!SplitGUCList(raw, ',', &cl_databases))
		cl_databases = NIL;
	MemoryContextSwitchTo(oldcxt);
}

/*
 * cl_database_count: number of databases in creditledger.database as fixed
 * at preload (0 when the library was not preloaded).
 */
int
cl_database_count(void)
{
	return list_length(cl_databases);
}

/*
 * cl_database_name: the database of worker index.
 */
const char *
cl_database_name(int index)
{
	Assert(index >= 0 && index < list_length(cl_databases));
	return (const char *) list_nth(cl_databases, index);
}
