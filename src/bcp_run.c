/*
 * bcp_run.c: BCP runs: checking rule text, storing user rules, running rules
 * (bcp_run and the worker's scheduled runs) and recording their results.
 *
 * Rights.  Nothing here is SECURITY DEFINER.  Rule text runs with the rights
 * of the role that runs it: the caller of bcp_run(), or, for a scheduled run,
 * the dedicated non-superuser role creditledger_bcp_runner (worker.c).  A
 * superuser calling bcp_run() runs the built-in rules itself but user rules
 * as creditledger_bcp_runner (refused with status 'error' when that role does
 * not exist): user-written SQL never runs as a superuser.  Only two writes
 * need more than the caller's rights, and both are made here, in C, as the
 * owner of the table written (never through a SQL-callable helper): storing a
 * checked rule (bcp_add_rule) and recording a run's results (bcp_run with
 * record => true).  So no role can write bcp_rules or bcp_results directly,
 * and history can only come from a real run.
 *
 * Rule text is checked before it is stored and again before it runs: it must
 * parse as exactly one SELECT (or VALUES) with no INTO, no FOR UPDATE/SHARE
 * and no data-modifying WITH; it is never EXECUTEd by a definer.  At add time
 * it is also planned and started (LIMIT 0) with the caller's rights, so a
 * missing table or a missing privilege is refused then.  Rules run in a
 * read-only state (transaction_read_only semantics) and each under its own
 * timeout (creditledger.bcp_rule_timeout).
 *
 * Consistency: every rule of one run reads the same snapshot (the one active
 * when the run starts); functions the rules call (balance(), verify_chain())
 * read the active snapshot too, so postings that commit during the run never
 * make a correct ledger fail a rule.
 *
 * Locking: rules only read.  Recording appends rows; run ids come from a
 * sequence.  No shared memory.
 */
#include "postgres.h"

#include <limits.h>

#include "access/htup_details.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "parser/parser.h"
#include "portability/instr_time.h"
#include "storage/latch.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "bcp_run.h"
#include "opstats.h"
#include "settings.h"
#include "spi_plans.h"
#include "validate.h"

/* Largest sample (as JSON text) kept with a result */
#define CL_BCP_SAMPLE_MAX_BYTES 8192

/* The timeout that cancels a rule running too long, and whether it fired */
static TimeoutId rule_timeout_id = MAX_TIMEOUTS;
static volatile sig_atomic_t rule_timed_out = false;

/*
 * Calls of extension functions made by rules (balance() ...) are
 * housekeeping, not application traffic.
 */
static void
suppress_counting(bool on)
{
	if (on)
		cl_opstats_suppress_begin();
	else
		cl_opstats_suppress_end();
}

/* One rule to run */
typedef struct BcpRule
{
	char	   *name;
	char	   *severity;
	char	   *check_sql;
	bool		builtin;
} BcpRule;

/*
 * rule_timeout_handler: the rule's time is up: cancel it like a statement
 * timeout would (the rule's subtransaction catches the error).
 */
static void
rule_timeout_handler(void)
{
	rule_timed_out = true;
	QueryCancelPending = true;
	InterruptPending = true;
	SetLatch(MyLatch);
}

/*
 * rule_timeout_arm / rule_timeout_disarm: start and stop one rule's timeout.
 */
static void
rule_timeout_arm(void)
{
	if (rule_timeout_id == MAX_TIMEOUTS)
		rule_timeout_id = RegisterTimeout(USER_TIMEOUT, rule_timeout_handler);
	rule_timed_out = false;
	if (cl_bcp_rule_timeout > 0)
		enable_timeout_after(rule_timeout_id, cl_bcp_rule_timeout);
}

static void
rule_timeout_disarm(void)
{
	if (rule_timeout_id != MAX_TIMEOUTS)
		disable_timeout(rule_timeout_id, false);
}

/*
 * rule_subxact_commit: release the subtransaction a rule (or a rule check)
 * ran in and return to the caller's memory context and resource owner.
 */
static void
rule_subxact_commit(MemoryContext oldcxt, ResourceOwner oldowner)
{
	ReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(oldcxt);
	CurrentResourceOwner = oldowner;
}

/*
 * rule_subxact_abort: in PG_CATCH of a rule's subtransaction: stop its
 * timeout, keep the error (in oldcxt), roll the subtransaction back and
 * return to the caller's context and owner.  *timed_out tells whether the
 * error was the rule timeout's cancel.
 */
static ErrorData *
rule_subxact_abort(MemoryContext oldcxt, ResourceOwner oldowner, bool *timed_out)
{
	ErrorData  *edata;

	*timed_out = rule_timed_out;
	rule_timeout_disarm();
	MemoryContextSwitchTo(oldcxt);
	edata = CopyErrorData();
	FlushErrorState();
	RollbackAndReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(oldcxt);
	CurrentResourceOwner = oldowner;
	return edata;
}

/*
 * refuse_rule: 22023 for rule text that is not one read-only query.
 */
static void
refuse_rule(const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("check_sql is not a valid rule query"),
			 errdetail("%s", detail),
			 errhint("A rule is one SELECT (or VALUES) returning one row per mismatch.")));
}

/*
 * check_select: refuse a SELECT that is not read-only: INTO, FOR UPDATE /
 * SHARE, or a WITH whose queries are not (recursively) read-only SELECTs.
 */
static void
check_select(Node *node)
{
	SelectStmt *s;

	if (node == NULL)
		return;
	if (!IsA(node, SelectStmt))
		refuse_rule("A WITH query of a rule must be a SELECT.");
	s = (SelectStmt *) node;
	if (s->intoClause != NULL)
		refuse_rule("SELECT INTO creates a table; a rule only reads.");
	if (s->lockingClause != NIL)
		refuse_rule("FOR UPDATE and FOR SHARE lock rows; a rule only reads.");
	if (s->withClause != NULL)
	{
		ListCell   *lc;

		foreach(lc, s->withClause->ctes)
			check_select(((CommonTableExpr *) lfirst(lc))->ctequery);
	}
	check_select((Node *) s->larg);
	check_select((Node *) s->rarg);
}

/*
 * cl_bcp_check_rule_text: 22023 unless sql parses as exactly one read-only
 * SELECT or VALUES (nothing is executed or even looked up here).
 */
void
cl_bcp_check_rule_text(const char *sql)
{
	List	   *stmts;
	MemoryContext oldcxt = CurrentMemoryContext;

	PG_TRY();
	{
		stmts = raw_parser(sql, RAW_PARSE_DEFAULT);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		refuse_rule(edata->message);
		stmts = NIL;			/* not reached */
	}
	PG_END_TRY();

	if (list_length(stmts) != 1)
		refuse_rule(psprintf("The text holds %d statements; a rule is exactly one query.",
							 list_length(stmts)));
	if (!IsA(((RawStmt *) linitial(stmts))->stmt, SelectStmt))
		refuse_rule("Only SELECT and VALUES are allowed; a rule never writes.");
	check_select(((RawStmt *) linitial(stmts))->stmt);
}

/*
 * table_owner: the owner of creditledger.<relname>.
 */
static Oid
table_owner(const char *relname)
{
	Oid			relid = get_relname_relid(relname, get_namespace_oid("creditledger", false));
	HeapTuple	tup;
	Oid			owner;

	if (!OidIsValid(relid))
		elog(ERROR, "creditledger: table creditledger.%s does not exist", relname);
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "creditledger: cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

/*
 * cl_bcp_runner_role: the OID of creditledger_bcp_runner, or InvalidOid.
 */
Oid
cl_bcp_runner_role(void)
{
	return get_role_oid(CL_BCP_RUNNER_ROLE, true);
}

/*
 * as_user_begin / as_user_end: run the enclosed SPI statements as role
 * (restricted: no SET ROLE, no temporary objects): a rule, as the runner
 * role or as the caller, and the two writes a run makes on behalf of its
 * caller, as the tables' owner.
 */
static void
as_user_begin(Oid role, Oid *save_user, int *save_sec)
{
	GetUserIdAndSecContext(save_user, save_sec);
	SetUserIdAndSecContext(role, *save_sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
}

static void
as_user_end(Oid save_user, int save_sec)
{
	SetUserIdAndSecContext(save_user, save_sec);
}

/*
 * pin_rule_settings: open a GUC nesting level for one rule, with search_path
 * pinned in it; the caller ends it with AtEOXact_GUC(false, level) (or the
 * subtransaction's abort does), so nothing a rule sets, such as
 * set_config('search_path', ...), outlives it or reaches the next rule.
 */
static int
pin_rule_settings(void)
{
	int			level = NewGUCNestLevel();

	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	return level;
}

/*
 * run_readonly: execute sql (a rule, wrapped) with the given snapshot in a
 * read-only state: writes, nextval() and the like are refused as in a
 * read-only transaction.  Returns the SPI result code; restores the state on
 * error too (the caller's subtransaction catches the error).
 */
static int
run_readonly(const char *sql, Snapshot snapshot, long count)
{
	bool		save_read_only = XactReadOnly;
	volatile int rc = 0;

	XactReadOnly = true;
	PG_TRY();
	{
		SPIPlanPtr	plan = SPI_prepare(sql, 0, NULL);

		if (plan == NULL)
			elog(ERROR, "creditledger: SPI_prepare failed (%s)",
				 SPI_result_code_string(SPI_result));
		rc = SPI_execute_snapshot(plan, NULL, NULL, snapshot, InvalidSnapshot,
								  true, false, count);
		if (rc < 0)
			elog(ERROR, "creditledger: SPI_execute_snapshot failed (%s)",
				 SPI_result_code_string(rc));
	}
	PG_FINALLY();
	{
		XactReadOnly = save_read_only;
	}
	PG_END_TRY();
	return rc;
}

/*
 * bcp_add_rule(name, check_sql, description, severity): store a user rule
 * after checking its text (one read-only query) and planning and starting it
 * with the caller's rights.  22004, 22023; 42710 for a built-in rule's name.
 */
PG_FUNCTION_INFO_V1(cl_bcp_add_rule);
Datum
cl_bcp_add_rule(PG_FUNCTION_ARGS)
{
	char	   *name;
	char	   *check_sql;
	char	   *severity;
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	Oid			save_user;
	int			save_sec;
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	static ClPlan builtin_plan = {
		"SELECT 1 FROM creditledger.bcp_rules"
		" WHERE name OPERATOR(pg_catalog.=) $1 AND builtin",
		1, {TEXTOID}
	};
	static ClPlan store_plan = {
		"INSERT INTO creditledger.bcp_rules AS r (name, description, severity, check_sql)"
		" VALUES ($1, $2, $3, $4)"
		" ON CONFLICT ON CONSTRAINT bcp_rules_pkey DO UPDATE"
		"   SET description = excluded.description, severity = excluded.severity,"
		"       check_sql = excluded.check_sql"
		"   WHERE NOT r.builtin",
		4, {TEXTOID, TEXTOID, TEXTOID, TEXTOID}
	};

	CL_REQUIRE_ARGS("name", "check_sql", NULL, "severity");
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	check_sql = text_to_cstring(PG_GETARG_TEXT_PP(1));
	severity = text_to_cstring(PG_GETARG_TEXT_PP(3));

	if (strlen(name) < 1 || strlen(name) > 63 ||
		strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_:.-") != strlen(name))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid rule name \"%s\"", name),
				 errdetail("A rule name is 1 to 63 characters of a-z, 0-9, _ : . and -.")));
	if (strcmp(severity, "critical") != 0 && strcmp(severity, "warning") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid severity \"%s\"", severity),
				 errdetail("Severity is critical or warning.")));

	/* 1. the text: one read-only query, parsed only */
	cl_bcp_check_rule_text(check_sql);

	/* 2. planned and started with the caller's rights, in a subtransaction */
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		int			guc_level;
		Oid			save_user;
		int			save_sec;

		/* the caller's rights, restricted as when the rule runs (run_rule) */
		as_user_begin(GetUserId(), &save_user, &save_sec);
		guc_level = pin_rule_settings();
		cl_spi_connect();
		rule_timeout_arm();
		(void) run_readonly(psprintf("SELECT * FROM (\n%s\n) AS bcp_rule LIMIT 0", check_sql),
							GetActiveSnapshot(), 0);
		rule_timeout_disarm();
		cl_spi_finish();
		AtEOXact_GUC(false, guc_level);
		as_user_end(save_user, save_sec);
		rule_subxact_commit(oldcxt, oldowner);
	}
	PG_CATCH();
	{
		bool		timed_out;
		ErrorData  *edata = rule_subxact_abort(oldcxt, oldowner, &timed_out);

		refuse_rule(timed_out ? "Planning the rule exceeded creditledger.bcp_rule_timeout."
					: psprintf("%s (SQLSTATE %s)", edata->message,
							   unpack_sql_state(edata->sqlerrcode)));
	}
	PG_END_TRY();

	/* 3. stored as the owner of bcp_rules */
	cl_spi_connect();
	as_user_begin(table_owner("bcp_rules"), &save_user, &save_sec);
	values[0] = CStringGetTextDatum(name);
	cl_exec(&builtin_plan, values, NULL, 1);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("\"%s\" is a built-in rule", name),
				 errdetail("Built-in rules cannot be replaced; disable it with bcp_enable_rule() and add yours under another name.")));
	if (PG_ARGISNULL(2))
		nulls[1] = 'n';
	else
		values[1] = PG_GETARG_DATUM(2);
	values[2] = CStringGetTextDatum(severity);
	values[3] = CStringGetTextDatum(check_sql);
	cl_exec(&store_plan, values, nulls, 0);
	as_user_end(save_user, save_sec);
	cl_spi_finish();
	PG_RETURN_VOID();
}

/*
 * fetch_rules: the rules a run runs (the enabled ones, or those named),
 * in name order, copied into the caller's context; 22023 for unknown names.
 */
static BcpRule *
fetch_rules(ArrayType *names, int *nrules)
{
	static ClPlan unknown_plan = {
		"SELECT pg_catalog.string_agg(COALESCE(u, 'NULL'), ', ' ORDER BY u)"
		"  FROM pg_catalog.unnest($1) AS u"
		" WHERE u IS NULL OR NOT EXISTS (SELECT 1 FROM creditledger.bcp_rules x"
		"                                 WHERE x.name OPERATOR(pg_catalog.=) u)",
		1, {TEXTARRAYOID}
	};
	static ClPlan rules_plan = {
		"SELECT name, severity, check_sql, builtin FROM creditledger.bcp_rules"
		" WHERE CASE WHEN $1 IS NULL THEN enabled"
		"            ELSE name OPERATOR(pg_catalog.=) ANY ($1) END"
		" ORDER BY name COLLATE pg_catalog.\"C\"",
		1, {TEXTARRAYOID}
	};
	Datum		values[1];
	char		nulls[1] = {' '};
	BcpRule    *rules;
	MemoryContext caller = CurrentMemoryContext;

	cl_spi_connect();
	if (names != NULL)
	{
		bool		isnull;

		values[0] = PointerGetDatum(names);
		cl_exec(&unknown_plan, values, NULL, 1);
		(void) cl_getdatum(0, 1, &isnull);
		if (!isnull)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown BCP rules requested"),
					 errdetail("No rule is named %s.",
							   TextDatumGetCString(cl_getdatum(0, 1, &isnull)))));
	}
	else
		nulls[0] = 'n';
	values[0] = PointerGetDatum(names);
	cl_exec(&rules_plan, values, nulls, 0);
	*nrules = (int) SPI_processed;
	rules = MemoryContextAlloc(caller, sizeof(BcpRule) * Max(*nrules, 1));
	for (int i = 0; i < *nrules; i++)
	{
		bool		isnull;
		MemoryContext spi = MemoryContextSwitchTo(caller);

		rules[i].name = TextDatumGetCString(cl_getdatum(i, 1, &isnull));
		rules[i].severity = TextDatumGetCString(cl_getdatum(i, 2, &isnull));
		rules[i].check_sql = TextDatumGetCString(cl_getdatum(i, 3, &isnull));
		rules[i].builtin = DatumGetBool(cl_getdatum(i, 4, &isnull));
		MemoryContextSwitchTo(spi);
	}
	cl_spi_finish();
	return rules;
}

/*
 * error_sample: the sample of a rule that errored: {"sqlstate", "error"}.
 */
static Jsonb *
error_sample(const char *sqlstate, const char *message)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"sqlstate\": ");
	escape_json(&buf, sqlstate);
	appendStringInfoString(&buf, ", \"error\": ");
	escape_json(&buf, message);
	appendStringInfoChar(&buf, '}');
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}

/*
 * run_rule: run one rule in its own subtransaction, as role (InvalidOid: the
 * current user), under the run's snapshot, read-only and with its timeout;
 * fills *result.  An error, a timeout included, becomes status 'error'.
 */
static void
run_rule(const BcpRule *rule, Oid role, Snapshot snapshot, ClBcpResult *result)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	instr_time	start,
				elapsed;
	Oid			save_user = InvalidOid;
	int			save_sec = 0;
	int			guc_level;

	memset(result, 0, sizeof(*result));
	result->rule = rule->name;
	result->severity = rule->severity;
	result->mismatches_null = true;
	INSTR_TIME_SET_CURRENT(start);

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		char	   *sql;
		bool		isnull;

		/*
		 * Restricted even as the caller (security audit 0.3): a rule run by
		 * a role whose session user is a superuser (SET ROLE auditor) could
		 * set_config('role', 'postgres', false) and go on as a superuser, or
		 * take any role the session user may; restricted, SET ROLE and SET
		 * SESSION AUTHORIZATION are refused (42501).
		 */
		as_user_begin(OidIsValid(role) ? role : GetUserId(), &save_user, &save_sec);
		guc_level = pin_rule_settings();
		cl_bcp_check_rule_text(rule->check_sql);
		sql = psprintf("WITH m AS MATERIALIZED (\n%s\n)"
					   " SELECT (SELECT pg_catalog.count(*) FROM m),"
					   "        (SELECT pg_catalog.jsonb_agg(pg_catalog.to_jsonb(s))"
					   "           FROM (SELECT * FROM m LIMIT 5) s)",
					   rule->check_sql);
		cl_spi_connect();
		rule_timeout_arm();
		(void) run_readonly(sql, snapshot, 1);
		rule_timeout_disarm();
		result->mismatches = DatumGetInt64(cl_getdatum(0, 1, &isnull));
		result->mismatches_null = false;
		{
			Datum		d = cl_getdatum(0, 2, &isnull);

			if (!isnull)
			{
				MemoryContext spi = MemoryContextSwitchTo(oldcxt);
				Jsonb	   *j = DatumGetJsonbPCopy(d);
				char	   *text = JsonbToCString(NULL, &j->root, VARSIZE(j));

				if (strlen(text) > CL_BCP_SAMPLE_MAX_BYTES)
				{
					StringInfoData buf;

					initStringInfo(&buf);
					appendStringInfo(&buf, "{\"truncated\": true, \"bytes\": %zu, \"head\": ",
									 strlen(text));
					text[CL_BCP_SAMPLE_MAX_BYTES / 2] = '\0';
					escape_json(&buf, text);
					appendStringInfoChar(&buf, '}');
					j = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
				}
				result->sample = j;
				MemoryContextSwitchTo(spi);
			}
		}
		result->status = result->mismatches == 0 ? "pass" : "fail";
		cl_spi_finish();
		AtEOXact_GUC(false, guc_level);
		as_user_end(save_user, save_sec);
		rule_subxact_commit(oldcxt, oldowner);
	}
	PG_CATCH();
	{
		bool		timed_out;
		ErrorData  *edata = rule_subxact_abort(oldcxt, oldowner, &timed_out);

		result->status = "error";
		result->mismatches_null = true;
		result->sample = timed_out ?
			error_sample("57014",
						 psprintf("rule exceeded creditledger.bcp_rule_timeout (%d ms)",
								  cl_bcp_rule_timeout)) :
			error_sample(unpack_sql_state(edata->sqlerrcode),
						 edata->message ? edata->message : "unknown error");
		FreeErrorData(edata);
	}
	PG_END_TRY();

	INSTR_TIME_SET_CURRENT(elapsed);
	INSTR_TIME_SUBTRACT(elapsed, start);
	result->duration_ms = INSTR_TIME_GET_MILLISEC(elapsed);
}

/*
 * record_result: append one result of run run_id to the history, as the
 * owner of bcp_result_rows.  *run_id is drawn on the first call (0 before).
 */
static void
record_result(int64 *run_id, const ClBcpResult *r)
{
	static ClPlan new_run_plan = {
		"SELECT pg_catalog.nextval('creditledger.bcp_run_id_seq'::pg_catalog.regclass)",
		0, {InvalidOid}
	};
	static ClPlan record_plan = {
		"INSERT INTO creditledger.bcp_result_rows"
		" (run_id, rule, severity, status, mismatches, sample, duration_ms)"
		" VALUES ($1, $2, $3, $4, $5, $6, $7)",
		7, {INT8OID, TEXTOID, TEXTOID, TEXTOID, INT8OID, JSONBOID, FLOAT8OID}
	};
	Datum		values[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};
	Oid			save_user;
	int			save_sec;

	cl_spi_connect();
	as_user_begin(table_owner("bcp_result_rows"), &save_user, &save_sec);
	if (*run_id == 0)
	{
		cl_exec(&new_run_plan, NULL, NULL, 1);
		*run_id = cl_getint64(0, 1, NULL);
	}
	values[0] = Int64GetDatum(*run_id);
	values[1] = CStringGetTextDatum(r->rule);
	values[2] = CStringGetTextDatum(r->severity);
	values[3] = CStringGetTextDatum(r->status);
	values[4] = Int64GetDatum(r->mismatches);
	if (r->mismatches_null)
		nulls[4] = 'n';
	values[5] = PointerGetDatum(r->sample);
	if (r->sample == NULL)
		nulls[5] = 'n';
	values[6] = Float8GetDatum(r->duration_ms);
	cl_exec(&record_plan, values, nulls, 0);
	as_user_end(save_user, save_sec);
	cl_spi_finish();
}

/*
 * cl_bcp_run_rules: run the enabled rules (names NULL) or the named ones,
 * in name order, against one snapshot, calling emit for each result; with
 * record, append the results to the history (25006 on a standby).  User
 * rules run as creditledger_bcp_runner when the current user is a superuser.
 * Extension calls made by the rules (balance() ...) are not counted as
 * application calls.  Returns the number of rules that did not pass.
 */
int
cl_bcp_run_rules(ArrayType *names, bool record, ClBcpEmit emit, void *arg)
{
	BcpRule    *rules;
	int			nrules;
	volatile int64 run_id = 0;
	volatile int failing = 0;
	Snapshot	snapshot;
	bool		superuser_caller = superuser();
	Oid			runner = InvalidOid;

	if (record && RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot record a BCP run on a hot standby"),
				 errhint("Use bcp_run(record => false) on a standby.")));

	rules = fetch_rules(names, &nrules);
	if (superuser_caller)
		runner = cl_bcp_runner_role();

	/* one snapshot for every rule of the run */
	snapshot = RegisterSnapshot(GetActiveSnapshot() ? GetActiveSnapshot()
								: GetTransactionSnapshot());
	suppress_counting(true);
	PG_TRY();
	{
		for (int i = 0; i < nrules; i++)
		{
			ClBcpResult result;

			ereport(NOTICE,
					(errmsg("bcp_run: rule %d of %d: %s", i + 1, nrules, rules[i].name)));
			CHECK_FOR_INTERRUPTS();
			if (superuser_caller && !rules[i].builtin && !OidIsValid(runner))
			{
				memset(&result, 0, sizeof(result));
				result.rule = rules[i].name;
				result.severity = rules[i].severity;
				result.status = "error";
				result.mismatches_null = true;
				result.sample = error_sample("42501",
											 "user rules do not run as a superuser and role "
											 CL_BCP_RUNNER_ROLE " does not exist (run creditledger.setup_roles())");
			}
			else
				run_rule(&rules[i], superuser_caller && !rules[i].builtin ? runner : InvalidOid,
						 snapshot, &result);
			if (strcmp(result.status, "pass") != 0)
				failing++;
			if (record)
				record_result((int64 *) &run_id, &result);
			if (emit != NULL)
				emit(arg, &result);
		}
	}
	PG_FINALLY();
	{
		suppress_counting(false);
	}
	PG_END_TRY();
	UnregisterSnapshot(snapshot);
	return failing;
}

/*
 * emit_row: bcp_run()'s callback: one result row.
 */
static void
emit_row(void *arg, const ClBcpResult *r)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) arg;
	Datum		values[6];
	bool		nulls[6] = {false, false, false, r->mismatches_null, r->sample == NULL, false};

	values[0] = CStringGetTextDatum(r->rule);
	values[1] = CStringGetTextDatum(r->severity);
	values[2] = CStringGetTextDatum(r->status);
	values[3] = Int64GetDatum(r->mismatches);
	values[4] = PointerGetDatum(r->sample);
	values[5] = Float8GetDatum(r->duration_ms);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * bcp_run(rules, record): run BCP rules with the caller's rights (see the
 * file header), one result row per rule.
 */
PG_FUNCTION_INFO_V1(cl_bcp_run);
Datum
cl_bcp_run(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	CL_REQUIRE_ARGS(NULL, "record");
	InitMaterializedSRF(fcinfo, 0);
	(void) cl_bcp_run_rules(PG_ARGISNULL(0) ? NULL : PG_GETARG_ARRAYTYPE_P(0),
							PG_GETARG_BOOL(1), emit_row, rsinfo);
	return (Datum) 0;
}
