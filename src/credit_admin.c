/*
 * credit_admin.c: the credit administration calls that are not about
 * limits: create_credit_line, credit_line_id, suspend_credit_line,
 * resume_credit_line, close_credit_line and set_credit_line_hot.
 * (set_credit_limit, link_credit_line and temporary limits are
 * credit_limits.c; the data path is credit_engine.c.)
 *
 * Administration is rare, so its statements go through SPI (prepared once
 * per backend, every name schema-qualified, the functions' search_path
 * pinned); the chain entries a slice-count change writes go through the
 * engine's one chain writer (cl_credit_post_chain) and the re-spread of a
 * hot line's headroom through the engine's one re-spread
 * (cl_credit_respread).  Every public function here is SECURITY DEFINER
 * and granted to administrators only, except credit_line_id (also the
 * application role: it only reads an id).  Arguments are checked NULLs
 * first (22004), then form (22023), before any table is read.
 *
 * Locking (lockorder.h): create_credit_line takes no graph lock (a new line
 * has no children, so its links can close no cycle; its code's unique
 * index serialises two creations of one code, the second replays or gets
 * LD004); suspend, resume, close and set_credit_line_hot take the credit
 * graph lock exclusive (step 1), which excludes every credit data call,
 * and then write the line's row (and, for set_credit_line_hot, lock its
 * slices in slice order).
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "credit.h"
#include "errcodes.h"
#include "locking.h"
#include "lockorder.h"
#include "opstats.h"
#include "spi_plans.h"
#include "validate.h"

/* Longest slice count set_credit_line_hot accepts. */
#define CL_MAX_HOT_SLICES 1024

static ClPlan create_plan = {
	"INSERT INTO creditledger.ledger_credit_lines"
	" (code, currency, limit_amount, revolving, valid_from, valid_until, metadata,"
	"  created_limit, created_parents, valid_from_given)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7, $3, $8, $5 OPERATOR(pg_catalog.<>) pg_catalog.now())"
	" ON CONFLICT ON CONSTRAINT ledger_credit_lines_code_key DO NOTHING"
	" RETURNING line_id",
	8, {TEXTOID, TEXTOID, INT8OID, BOOLOID, TIMESTAMPTZOID, TIMESTAMPTZOID, JSONBOID, INT8ARRAYOID}
};

/*
 * The existing line of a code, whether a creation with these attributes
 * ($2..$8 as in create_plan) is a replay of it, and the detail of LD004.
 */
static ClPlan replay_plan = {
	"SELECT l.line_id,"
	"       coalesce(l.currency OPERATOR(pg_catalog.=) $2 AND l.created_limit OPERATOR(pg_catalog.=) $3"
	"   AND l.created_parents OPERATOR(pg_catalog.=) $8 AND l.revolving OPERATOR(pg_catalog.=) $4"
	"   AND (l.valid_until OPERATOR(pg_catalog.=) $6 OR (l.valid_until IS NULL AND $6 IS NULL))"
	"   AND l.metadata OPERATOR(pg_catalog.=) $7"
	"   AND (l.valid_from OPERATOR(pg_catalog.=) $5"
	"        OR (NOT l.valid_from_given AND $5 OPERATOR(pg_catalog.=) pg_catalog.now())), false),"
	"       pg_catalog.format('Line %s was created with currency %s, limit %s, parents %s, revolving %s.',"
	"                         l.line_id, l.currency, l.created_limit, l.created_parents, l.revolving)"
	"  FROM creditledger.ledger_credit_lines l WHERE l.code OPERATOR(pg_catalog.=) $1",
	8, {TEXTOID, TEXTOID, INT8OID, BOOLOID, TIMESTAMPTZOID, TIMESTAMPTZOID, JSONBOID, INT8ARRAYOID}
};

static ClPlan parent_plan = {
	"SELECT currency FROM creditledger.ledger_credit_lines WHERE line_id OPERATOR(pg_catalog.=) $1",
	1, {INT8OID}
};

static ClPlan link_plan = {
	"INSERT INTO creditledger.credit_line_links (child_id, parent_id) VALUES ($1, $2)",
	2, {INT8OID, INT8OID}
};

static ClPlan line_id_plan = {
	"SELECT line_id FROM creditledger.ledger_credit_lines WHERE code OPERATOR(pg_catalog.=) $1",
	1, {TEXTOID}
};

static ClPlan line_plan = {
	"SELECT status, version FROM creditledger.ledger_credit_lines"
	" WHERE line_id OPERATOR(pg_catalog.=) $1",
	1, {INT8OID}
};

static ClPlan set_status_plan = {
	"UPDATE creditledger.ledger_credit_lines SET status = $2, status_reason = $3"
	" WHERE line_id OPERATOR(pg_catalog.=) $1",
	3, {INT8OID, TEXTOID, TEXTOID}
};

static ClPlan busy_slices_plan = {
	"SELECT slice, frozen, used, returned FROM creditledger.credit_line_slices"
	" WHERE line_id OPERATOR(pg_catalog.=) $1"
	"   AND (frozen OPERATOR(pg_catalog.<>) 0 OR used OPERATOR(pg_catalog.<>) 0"
	"        OR returned OPERATOR(pg_catalog.<>) 0)"
	" ORDER BY slice FOR NO KEY UPDATE",
	1, {INT8OID}
};

static ClPlan clear_headroom_plan = {
	"UPDATE creditledger.credit_line_slices SET headroom = 0 WHERE line_id OPERATOR(pg_catalog.=) $1",
	1, {INT8OID}
};

static ClPlan set_slices_plan = {
	"UPDATE creditledger.ledger_credit_lines SET hot_slices = $2, hot_batched = $3"
	" WHERE line_id OPERATOR(pg_catalog.=) $1",
	3, {INT8OID, INT4OID, BOOLOID}
};

static ClPlan add_slices_plan = {
	"INSERT INTO creditledger.credit_line_slices (line_id, slice)"
	" SELECT $1, g FROM pg_catalog.generate_series(1, $2) g"
	" ON CONFLICT ON CONSTRAINT credit_line_slices_pkey DO NOTHING",
	2, {INT8OID, INT4OID}
};

/*
 * parents_arg: the parents argument as sorted distinct ids (22004 if it
 * holds a NULL).
 */
static int64 *
parents_arg(ArrayType *a, int *n)
{
	Datum	   *elems;
	bool	   *nulls;
	int			count;
	int64	   *ids;

	deconstruct_array(a, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &elems, &nulls, &count);
	ids = palloc(sizeof(int64) * Max(count, 1));
	for (int i = 0; i < count; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("parents must not contain NULL")));
		ids[i] = DatumGetInt64(elems[i]);
	}
	*n = cl_sort_unique_ids(ids, count);
	return ids;
}

/*
 * create_credit_line(code, currency, limit_amount, parents, revolving,
 * valid_from, valid_until, metadata): a new line under its parents;
 * idempotent on code (the same attributes return the first id, others
 * raise LD004).
 */
static Datum
create_credit_line_impl(PG_FUNCTION_ARGS)
{
	char	   *code;
	char	   *currency;
	int64		limit_amount;
	TimestampTz valid_from;
	Jsonb	   *metadata;
	int64	   *parents;
	int			nparents;
	Datum		v[8];
	char		nulls[8] = "        ";
	bool		isnull;
	int64		line_id;

	CL_REQUIRE_ARGS("code");
	code = cl_reference_arg(fcinfo, 0, "code");
	CL_REQUIRE_ARGS("code", "currency", "limit_amount", "parents", "revolving", "valid_from",
					NULL, "metadata");
	currency = text_to_cstring(PG_GETARG_TEXT_PP(1));
	limit_amount = PG_GETARG_INT64(2);
	valid_from = PG_GETARG_TIMESTAMPTZ(5);
	metadata = PG_GETARG_JSONB_P(7);
	cl_check_currency(currency);
	if (limit_amount < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("limit_amount must not be negative"),
				 errdetail("The value given was " INT64_FORMAT ".", limit_amount)));
	parents = parents_arg(PG_GETARG_ARRAYTYPE_P(3), &nparents);
	if (!PG_ARGISNULL(6) && PG_GETARG_TIMESTAMPTZ(6) <= valid_from)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("valid_until must be later than valid_from"),
				 errdetail("valid_from is %s, valid_until %s.",
						   DatumGetCString(DirectFunctionCall1(timestamptz_out,
															   TimestampTzGetDatum(valid_from))),
						   DatumGetCString(DirectFunctionCall1(timestamptz_out,
															   PG_GETARG_DATUM(6))))));
	if (!JB_ROOT_IS_OBJECT(metadata))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("metadata must be a JSON object")));

	v[0] = CStringGetTextDatum(code);
	v[1] = CStringGetTextDatum(currency);
	v[2] = Int64GetDatum(limit_amount);
	v[3] = PG_GETARG_DATUM(4);
	v[4] = TimestampTzGetDatum(valid_from);
	v[5] = PG_ARGISNULL(6) ? (Datum) 0 : PG_GETARG_DATUM(6);
	nulls[5] = PG_ARGISNULL(6) ? 'n' : ' ';
	v[6] = PointerGetDatum(metadata);
	v[7] = cl_int8_array(parents, nparents);

	cl_spi_connect();
	cl_exec(&create_plan, v, nulls, 1);
	if (SPI_processed == 0)
	{
		/* the code exists: a replay, or LD004 */
		cl_exec(&replay_plan, v, nulls, 1);
		if (SPI_processed != 1)
			elog(ERROR, "creditledger: credit line \"%s\" vanished", code);
		line_id = cl_getint64(0, 1, NULL);
		if (!DatumGetBool(cl_getdatum(0, 2, &isnull)))
			ereport(ERROR,
					(errcode(ERRCODE_CL_IDEMPOTENCY_CONFLICT),
					 errmsg("credit line \"%s\" already exists with different attributes", code),
					 errdetail("%s", TextDatumGetCString(cl_getdatum(0, 3, &isnull))),
					 errhint("Repeat the original call exactly, or use set_credit_limit/link_credit_line to change the line.")));
		cl_spi_finish();
		PG_RETURN_INT64(line_id);
	}
	line_id = cl_getint64(0, 1, NULL);

	for (int i = 0; i < nparents; i++)
	{
		Datum		pv[2] = {Int64GetDatum(parents[i]), Int64GetDatum(line_id)};
		char	   *pcur;

		cl_exec(&parent_plan, pv, NULL, 1);
		if (SPI_processed != 1)
			ereport(ERROR,
					(errcode(ERRCODE_CL_CREDIT_LINE_UNAVAILABLE),
					 errmsg("credit line " INT64_FORMAT " does not exist", parents[i]),
					 errhint("Every parent must be an existing credit line.")));
		pcur = TextDatumGetCString(cl_getdatum(0, 1, &isnull));
		if (strcmp(pcur, currency) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_CL_CURRENCY_MISMATCH),
					 errmsg("parent credit line " INT64_FORMAT " is in %s, not %s",
							parents[i], pcur, currency),
					 errhint("All lines of one credit graph share a currency.")));
		pv[0] = Int64GetDatum(line_id);
		pv[1] = Int64GetDatum(parents[i]);
		cl_exec(&link_plan, pv, NULL, 0);
	}
	cl_spi_finish();
	PG_RETURN_INT64(line_id);
}

/*
 * credit_line_id(code): the id of the line with this code (LD006 if none).
 */
static Datum
credit_line_id_impl(PG_FUNCTION_ARGS)
{
	char	   *code;
	Datum		v[1];
	int64		line_id;

	CL_REQUIRE_ARGS("code");
	code = text_to_cstring(PG_GETARG_TEXT_PP(0));
	v[0] = PG_GETARG_DATUM(0);
	cl_spi_connect();
	cl_exec_readonly(&line_id_plan, v, NULL, 1);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_CL_CREDIT_LINE_UNAVAILABLE),
				 errmsg("credit line \"%s\" does not exist", code)));
	line_id = cl_getint64(0, 1, NULL);
	cl_spi_finish();
	PG_RETURN_INT64(line_id);
}

/*
 * read_line: the line's status and version, under the graph lock the
 * caller holds (LD006 if it does not exist).  Inside SPI.
 */
static char *
read_line(int64 line_id, int64 *version)
{
	Datum		v[1] = {Int64GetDatum(line_id)};
	bool		isnull;

	cl_exec(&line_plan, v, NULL, 1);
	if (SPI_processed != 1)
		cl_raise_line_missing(line_id);
	if (version)
		*version = cl_getint64(0, 2, NULL);
	return TextDatumGetCString(cl_getdatum(0, 1, &isnull));
}

/*
 * set_status: a line's status (active, suspended, closed) and reason, under
 * the exclusive graph lock; a closed line stays closed (LD006).
 */
static void
set_status(FunctionCallInfo fcinfo, const char *new_status, bool with_reason)
{
	int64		line_id;
	Datum		v[3];
	char		nulls[3] = "   ";

	CL_REQUIRE_ARGS("line");
	line_id = PG_GETARG_INT64(0);
	cl_spi_connect();
	cl_credit_graph_lock(true);
	if (strcmp(read_line(line_id, NULL), "closed") == 0 && strcmp(new_status, "closed") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_CL_CREDIT_LINE_UNAVAILABLE),
				 errmsg("credit line " INT64_FORMAT " is closed", line_id),
				 errhint("A closed line cannot be suspended or resumed.")));
	v[0] = Int64GetDatum(line_id);
	v[1] = CStringGetTextDatum(new_status);
	if (with_reason && !PG_ARGISNULL(1))
		v[2] = PG_GETARG_DATUM(1);
	else
	{
		v[2] = (Datum) 0;
		nulls[2] = 'n';
	}
	cl_exec(&set_status_plan, v, nulls, 0);
	cl_spi_finish();
}

/* suspend_credit_line(line, reason): it and its descendants refuse new credit. */
static Datum
suspend_credit_line_impl(PG_FUNCTION_ARGS)
{
	set_status(fcinfo, "suspended", true);
	PG_RETURN_VOID();
}

/* resume_credit_line(line): a suspended line is active again. */
static Datum
resume_credit_line_impl(PG_FUNCTION_ARGS)
{
	set_status(fcinfo, "active", false);
	PG_RETURN_VOID();
}

/* close_credit_line(line): closed for good. */
static Datum
close_credit_line_impl(PG_FUNCTION_ARGS)
{
	set_status(fcinfo, "closed", false);
	PG_RETURN_VOID();
}

/*
 * set_credit_line_hot(line, slices, journal): journal what the line's
 * slices have pending (a batched line's, cl_credit_settle), fold every
 * slice's amounts back into the line's own chain (one "fold" entry on the
 * slice and one on the line, ref fold:<line>:<version + 1>), then keep the
 * headroom in slices 1..n (0: not hot), spread evenly by the engine's
 * re-spread, their journal batched (journal = 'batched') or one entry per
 * change ('per_slice').
 */
static Datum
set_credit_line_hot_impl(PG_FUNCTION_ARGS)
{
	int64		line_id;
	int32		slices;
	char	   *journal;
	bool		batched;
	int64		version;
	char	   *fref;
	Datum		v[3];
	SPITupleTable *busy;
	uint64		nbusy;

	CL_REQUIRE_ARGS("line", "slices", "journal");
	line_id = PG_GETARG_INT64(0);
	slices = PG_GETARG_INT32(1);
	journal = text_to_cstring(PG_GETARG_TEXT_PP(2));
	if (slices < 0 || slices > CL_MAX_HOT_SLICES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("slices must be between 0 and %d", CL_MAX_HOT_SLICES),
				 errdetail("The value given was %d.", slices)));
	if (strcmp(journal, "batched") == 0)
		batched = true;
	else if (strcmp(journal, "per_slice") == 0)
		batched = false;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("journal must be batched or per_slice"),
				 errdetail("The value given was \"%s\".", journal)));
	cl_spi_connect();
	cl_credit_graph_lock(true);
	(void) read_line(line_id, &version);
	/* a fold is appended to a chain that has everything journaled */
	(void) cl_credit_settle(line_id, true, PG_INT64_MAX);
	fref = psprintf("fold:" INT64_FORMAT ":" INT64_FORMAT, line_id, version + 1);

	v[0] = Int64GetDatum(line_id);
	cl_exec(&busy_slices_plan, v, NULL, 0);
	busy = SPI_tuptable;
	nbusy = SPI_processed;
	for (uint64 i = 0; i < nbusy; i++)
	{
		bool		isnull;
		int32		slice = DatumGetInt32(SPI_getbinval(busy->vals[i], busy->tupdesc, 1, &isnull));
		int64		f = DatumGetInt64(SPI_getbinval(busy->vals[i], busy->tupdesc, 2, &isnull));
		int64		u = DatumGetInt64(SPI_getbinval(busy->vals[i], busy->tupdesc, 3, &isnull));
		int64		r = DatumGetInt64(SPI_getbinval(busy->vals[i], busy->tupdesc, 4, &isnull));

		cl_credit_post_chain(line_id, slice, "fold", fref, -f, -u, -r, 0);
		cl_credit_post_chain(line_id, 0, "fold", fref, f, u, r, 0);
	}
	cl_exec(&clear_headroom_plan, v, NULL, 0);
	v[1] = Int32GetDatum(slices);
	v[2] = BoolGetDatum(slices > 0 && batched);
	cl_exec(&set_slices_plan, v, NULL, 0);
	if (slices > 0)
	{
		cl_exec(&add_slices_plan, v, NULL, 0);
		cl_credit_respread(line_id);
	}
	cl_spi_finish();
	PG_RETURN_VOID();
}

CL_TRACKED_FUNCTION(cl_create_credit_line, CL_OP_CREATE_CREDIT_LINE, create_credit_line_impl)
CL_TRACKED_FUNCTION(cl_credit_line_id, CL_OP_CREDIT_LINE_ID, credit_line_id_impl)
CL_TRACKED_FUNCTION(cl_suspend_credit_line, CL_OP_SUSPEND_CREDIT_LINE, suspend_credit_line_impl)
CL_TRACKED_FUNCTION(cl_resume_credit_line, CL_OP_RESUME_CREDIT_LINE, resume_credit_line_impl)
CL_TRACKED_FUNCTION(cl_close_credit_line, CL_OP_CLOSE_CREDIT_LINE, close_credit_line_impl)
CL_TRACKED_FUNCTION(cl_set_credit_line_hot, CL_OP_SET_CREDIT_LINE_HOT, set_credit_line_hot_impl)
