/*
 * accounts.c: open_account, account_id, set_hot_mode, close_account,
 * balance, account_state, flush and _sweep_account (the worker's sweep of
 * one split account, for administrators and tests).
 *
 * Locking: open_account claims the code with INSERT ... ON CONFLICT DO
 * NOTHING on the unique code index, so two sessions opening one code get one
 * account; the second compares attributes (same: same id, else LD004).
 * close_account takes the account's mode lock exclusively (locking.c), which
 * waits for every posting in flight on it, buffered ones included, and then
 * the row FOR UPDATE; a posting that comes later finds the account closed.
 * set_hot_mode does the same through hot.c.  Readers take no locks.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "compat.h"
#include "errcodes.h"
#include "opstats.h"
#include "hot.h"
#include "hot_internal.h"
#include "locking.h"
#include "spi_plans.h"
#include "validate.h"

CL_TRACKED_FUNCTION(cl_open_account, CL_OP_OPEN_ACCOUNT, open_account_impl)
CL_TRACKED_FUNCTION(cl_account_id, CL_OP_ACCOUNT_ID, account_id_impl)
CL_TRACKED_FUNCTION(cl_set_hot_mode, CL_OP_SET_HOT_MODE, set_hot_mode_impl)
CL_TRACKED_FUNCTION(cl_close_account, CL_OP_CLOSE_ACCOUNT, close_account_impl)
CL_TRACKED_FUNCTION(cl_balance, CL_OP_BALANCE, balance_impl)
CL_TRACKED_FUNCTION(cl_account_state, CL_OP_ACCOUNT_STATE, account_state_impl)
CL_TRACKED_FUNCTION(cl_flush, CL_OP_FLUSH, flush_impl)

#define CL_MAX_SHARDS 1024

static ClPlan insert_account_plan = {
	"INSERT INTO creditledger.ledger_accounts"
	" (code, currency, normal_side, min_balance, hot_mode, shards, metadata)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7)"
	" ON CONFLICT (code) DO NOTHING RETURNING account_id",
	7, {TEXTOID, TEXTOID, TEXTOID, INT8OID, TEXTOID, INT4OID, JSONBOID}
};

static ClPlan same_account_plan = {
	"SELECT account_id,"
	"       currency OPERATOR(pg_catalog.=) $2"
	"       AND normal_side OPERATOR(pg_catalog.=) $3"
	"       AND COALESCE(min_balance OPERATOR(pg_catalog.=) $4,"
	"                    min_balance IS NULL AND $4 IS NULL)"
	"       AND hot_mode OPERATOR(pg_catalog.=) $5"
	"       AND shards OPERATOR(pg_catalog.=) $6"
	"       AND metadata OPERATOR(pg_catalog.=) $7"
	"  FROM creditledger.ledger_accounts WHERE code OPERATOR(pg_catalog.=) $1",
	7, {TEXTOID, TEXTOID, TEXTOID, INT8OID, TEXTOID, INT4OID, JSONBOID}
};

static ClPlan account_by_code_plan = {
	"SELECT account_id FROM creditledger.ledger_accounts"
	" WHERE code OPERATOR(pg_catalog.=) $1",
	1, {TEXTOID}
};

static ClPlan account_state_plan = {
	/* every column of the view, in its order: 13 before release 0.3.0, 16 since */
	"SELECT * FROM creditledger.accounts WHERE account_id OPERATOR(pg_catalog.=) $1",
	1, {INT8OID}
};

static ClPlan lock_for_close_plan = {
	"SELECT status FROM creditledger.ledger_accounts"
	" WHERE account_id OPERATOR(pg_catalog.=) $1 FOR UPDATE",
	1, {INT8OID}
};

static ClPlan close_plan = {
	"UPDATE creditledger.ledger_accounts"
	"   SET status = 'closed'::pg_catalog.text, closed_at = pg_catalog.now()"
	" WHERE account_id OPERATOR(pg_catalog.=) $1",
	1, {INT8OID}
};

static ClPlan account_exists_plan = {
	"SELECT 1 FROM creditledger.ledger_accounts"
	" WHERE account_id OPERATOR(pg_catalog.=) $1",
	1, {INT8OID}
};

/*
 * check_hot_mode: validate hot_mode and shards (22023); returns the mode.
 */
static HotMode
check_hot_mode(const char *hot_mode, int32 shards)
{
	HotMode		mode = cl_parse_hot_mode(hot_mode);

	if ((int) mode < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid hot_mode \"%s\"", hot_mode),
				 errdetail("hot_mode is one of none, buffered, split and buffered_split.")));
	if (shards < 1 || shards > CL_MAX_SHARDS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("shards must be between 1 and %d", CL_MAX_SHARDS),
				 errdetail("The value given was %d.", shards)));
	return mode;
}

/*
 * require_account: LD003 unless account id exists.  Inside SPI.
 */
static void
require_account(int64 id)
{
	Datum		values[1] = {Int64GetDatum(id)};

	cl_exec(&account_exists_plan, values, NULL, 1);
	if (SPI_processed == 0)
		cl_raise_account_missing(id);
}

/*
 * open_account(code, currency, normal_side, min_balance, hot_mode, shards,
 * metadata): open an account, or return the id of the identical one.
 */
static Datum
open_account_impl(PG_FUNCTION_ARGS)
{
	char	   *code;
	char	   *currency;
	char	   *normal_side;
	char	   *hot_mode;
	HotMode		mode;
	int32		shards;
	Datum		values[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};
	int64		id;

	CL_REQUIRE_ARGS("code", "currency", "normal_side", NULL, "hot_mode", "shards", "metadata");
	code = cl_reference_arg(fcinfo, 0, "code");
	cl_check_metadata(PG_GETARG_JSONB_P(6), "metadata");
	currency = text_to_cstring(PG_GETARG_TEXT_PP(1));
	cl_check_currency(currency);
	normal_side = text_to_cstring(PG_GETARG_TEXT_PP(2));
	if (strcmp(normal_side, "credit") != 0 && strcmp(normal_side, "debit") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid normal_side \"%s\"", normal_side),
				 errdetail("normal_side is 'credit' (balance = credits - debits) or 'debit' (balance = debits - credits).")));
	hot_mode = text_to_cstring(PG_GETARG_TEXT_PP(4));
	shards = PG_GETARG_INT32(5);
	mode = check_hot_mode(hot_mode, shards);
	/* an account that is not split is one chain */
	if (!HOT_MODE_IS_SPLIT(mode))
		shards = 1;

	values[0] = CStringGetTextDatum(code);
	values[1] = CStringGetTextDatum(currency);
	values[2] = CStringGetTextDatum(normal_side);
	values[3] = PG_ARGISNULL(3) ? (Datum) 0 : PG_GETARG_DATUM(3);
	nulls[3] = PG_ARGISNULL(3) ? 'n' : ' ';
	values[4] = CStringGetTextDatum(hot_mode);
	values[5] = Int32GetDatum(shards);
	values[6] = PG_GETARG_DATUM(6);

	cl_spi_connect();
	cl_exec(&insert_account_plan, values, nulls, 1);
	if (SPI_processed == 1)
	{
		id = cl_getint64(0, 1, NULL);
		if (HOT_MODE_IS_SPLIT(mode))
			hot_create_subs(id, shards);
	}
	else
	{
		bool		isnull;

		cl_exec(&same_account_plan, values, nulls, 1);
		if (SPI_processed != 1)
			elog(ERROR, "creditledger: account \"%s\" vanished", code);
		id = cl_getint64(0, 1, NULL);
		if (!DatumGetBool(cl_getdatum(0, 2, &isnull)))
			ereport(ERROR,
					(errcode(ERRCODE_CL_IDEMPOTENCY_CONFLICT),
					 errmsg("account \"%s\" already exists with different attributes", code),
					 errdetail("Account \"%s\" is account " INT64_FORMAT ".", code, id),
					 errhint("Use creditledger.account_state() to see its attributes.")));
	}
	cl_spi_finish();
	PG_RETURN_INT64(id);
}

/*
 * account_id(code): the id of the account with this code; LD003 if none.
 */
static Datum
account_id_impl(PG_FUNCTION_ARGS)
{
	Datum		values[1];
	int64		id;

	CL_REQUIRE_ARGS("code");
	values[0] = PG_GETARG_DATUM(0);
	cl_spi_connect();
	cl_exec(&account_by_code_plan, values, NULL, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_CL_ACCOUNT_UNAVAILABLE),
				 errmsg("account \"%s\" does not exist", text_to_cstring(PG_GETARG_TEXT_PP(0)))));
	id = cl_getint64(0, 1, NULL);
	cl_spi_finish();
	PG_RETURN_INT64(id);
}

/*
 * set_hot_mode(account, hot_mode, shards): switch an account between hot
 * modes online (hot.c); the balance is carried over with journal entries.
 */
static Datum
set_hot_mode_impl(PG_FUNCTION_ARGS)
{
	HotMode		mode;

	CL_REQUIRE_ARGS("account", "hot_mode", "shards");
	mode = check_hot_mode(text_to_cstring(PG_GETARG_TEXT_PP(1)), PG_GETARG_INT32(2));
	cl_spi_connect();
	hot_convert(PG_GETARG_INT64(0), mode, PG_GETARG_INT32(2));
	cl_spi_finish();
	PG_RETURN_VOID();
}

/*
 * close_account(account): close an account whose balance, over all its
 * sub-accounts and buffer, is 0 (55000 otherwise); a closed account takes no
 * postings (LD003).  The exclusive mode lock waits for every posting in
 * flight on the account, buffered ones included.
 */
static Datum
close_account_impl(PG_FUNCTION_ARGS)
{
	int64		id;
	Datum		values[1];
	bool		isnull;
	int64		balance;
	int64		buffered;

	CL_REQUIRE_ARGS("account");
	id = PG_GETARG_INT64(0);
	values[0] = Int64GetDatum(id);
	cl_mode_lock(id, true);
	cl_spi_connect();
	cl_exec(&lock_for_close_plan, values, NULL, 1);
	if (SPI_processed == 0)
		cl_raise_account_missing(id);
	if (strcmp(TextDatumGetCString(cl_getdatum(0, 1, &isnull)), "open") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_CL_ACCOUNT_UNAVAILABLE),
				 errmsg("account " INT64_FORMAT " is already closed", id)));
	cl_exec(&account_state_plan, values, NULL, 1);
	balance = cl_getint64(0, 5, NULL);
	buffered = cl_getint64(0, 7, NULL);
	if (balance != 0 || cl_getint64(0, 8, NULL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("account " INT64_FORMAT " cannot be closed with a non-zero balance", id),
				 errdetail("The balance is " INT64_FORMAT ", of which " INT64_FORMAT
						   " in buffered postings.", balance, buffered),
				 errhint("Transfer the balance out first.")));
	if (SPI_tuptable->tupdesc->natts >= 14 && cl_getint64(0, 14, NULL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("account " INT64_FORMAT " cannot be closed with open reservations", id),
				 errdetail("Pending transfers and funds holds reserve " INT64_FORMAT " on it.",
						   cl_getint64(0, 14, NULL)),
				 errhint("Post, void or release them first.")));
	cl_exec(&close_plan, values, NULL, 0);
	cl_spi_finish();
	PG_RETURN_VOID();
}

/*
 * balance(account): posted plus committed buffered postings; LD003 if the
 * account does not exist.  A closed account reads as its (zero) balance.
 */
static Datum
balance_impl(PG_FUNCTION_ARGS)
{
	int64		id;
	int64		balance;
	Datum		values[1];

	CL_REQUIRE_ARGS("account");
	id = PG_GETARG_INT64(0);
	values[0] = Int64GetDatum(id);
	cl_spi_connect();
	cl_exec_readonly(&account_state_plan, values, NULL, 1);
	if (SPI_processed == 0)
		cl_raise_account_missing(id);
	balance = cl_getint64(0, 5, NULL);
	cl_spi_finish();
	PG_RETURN_INT64(balance);
}

/*
 * account_state(account): one row with the columns of the accounts view.
 */
static Datum
account_state_impl(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		id;
	Datum		values[1];

	CL_REQUIRE_ARGS("account");
	id = PG_GETARG_INT64(0);
	InitMaterializedSRF(fcinfo, 0);
	values[0] = Int64GetDatum(id);
	cl_spi_connect();
	cl_exec_readonly(&account_state_plan, values, NULL, 1);
	if (SPI_processed == 0)
		cl_raise_account_missing(id);
	{
		int			natts = rsinfo->setDesc->natts;
		Datum	   *row = palloc(sizeof(Datum) * natts);
		bool	   *nulls = palloc(sizeof(bool) * natts);

		for (int i = 0; i < natts; i++)
			row[i] = cl_getdatum(0, i + 1, &nulls[i]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, row, nulls);
	}
	cl_spi_finish();
	return (Datum) 0;
}

/*
 * flush(account): apply the committed buffered postings of one account (or
 * of all, for NULL) now, and return how many were applied.  The worker does
 * the same in the background; flush() makes the extension work without it.
 */
static Datum
flush_impl(PG_FUNCTION_ARGS)
{
	int64		applied;

	if (PG_ARGISNULL(0))
		applied = hot_flush_all();
	else
	{
		cl_spi_connect();
		require_account(PG_GETARG_INT64(0));
		cl_spi_finish();
		applied = hot_flush_account(PG_GETARG_INT64(0), 0, false);
	}
	PG_RETURN_INT64(applied);
}

/*
 * _sweep_account(account bigint): one sweep of a split account, as the
 * worker's periodic sweep does it (hot_sweep_account); returns the number
 * of sub-accounts moved (0: nothing to even out, not a split account, or
 * busy).  Not counted as an API call; NULL: 22004.
 */
PG_FUNCTION_INFO_V1(cl_sweep_account);
Datum
cl_sweep_account(PG_FUNCTION_ARGS)
{
	cl_require_arg(fcinfo, 0, "account");
	PG_RETURN_INT64(hot_sweep_account(PG_GETARG_INT64(0)));
}
