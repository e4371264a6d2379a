/*
 * verify.c: verify_chain(account), the SQL-callable check of the chained
 * journals.
 *
 * The checks are verify_scan.c's: for NULL every money chain and every
 * credit chain, in one pass per journal; for an account, that account's
 * chains (main and sub-accounts).  This file turns each problem found into
 * one result row: money chains with line_id NULL, credit chains with
 * account_id NULL, line_id set and sub_account = the slice.  No rows means
 * intact.  The hold chains (holds.c) are checked by SQL
 * (_hold_chain_problems) and reported as problems of their account and
 * sub-account, the text starting with "hold chain:".  Reads only, with the
 * caller's snapshot.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"

#include "compat.h"
#include "errcodes.h"
#include "opstats.h"
#include "spi_plans.h"
#include "validate.h"
#include "verify_scan.h"

CL_TRACKED_FUNCTION(cl_verify_chain, CL_OP_VERIFY_CHAIN, verify_chain_impl)

/*
 * emit_problem: verify_chains' callback: one result row per problem.
 */
static void
emit_problem(void *arg, bool credit, int64 id, int32 sub, int64 version, const char *text)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) arg;
	Datum		values[5];
	bool		nulls[5] = {credit, false, false, false, !credit};

	values[0] = Int64GetDatum(credit ? 0 : id);
	values[1] = Int32GetDatum(sub);
	values[2] = Int64GetDatum(version);
	values[3] = CStringGetTextDatum(text);
	values[4] = Int64GetDatum(credit ? id : 0);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * verify_hold_chains: the hold chains (holds.c) of one account, or of every
 * account for 0: one row per problem _hold_chain_problems() finds (the
 * checks are SQL there, next to the CLH1 hash they recompute).
 */
static void
verify_hold_chains(int64 account, ReturnSetInfo *rsinfo)
{
	static ClPlan plan = {
		"SELECT account_id, sub_account, version, problem"
		"  FROM creditledger._hold_chain_problems($1)"
		" ORDER BY account_id, sub_account, version, problem",
		1, {INT8OID}
	};
	static ClPlan exists_plan = {
		"SELECT pg_catalog.to_regprocedure("
		"'creditledger._hold_chain_problems(bigint)'::pg_catalog.text) IS NOT NULL",
		0, {InvalidOid}
	};
	Datum		values[1] = {Int64GetDatum(account)};
	char		nulls[1] = {account == 0 ? 'n' : ' '};
	bool		isnull;

	/* a schema before release 0.3.0 has no hold chains */
	cl_exec_readonly(&exists_plan, NULL, NULL, 1);
	if (!DatumGetBool(cl_getdatum(0, 1, &isnull)))
		return;
	cl_exec_readonly(&plan, values, nulls, 0);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		emit_problem(rsinfo, false, cl_getint64(i, 1, NULL),
					 DatumGetInt32(cl_getdatum(i, 2, &isnull)),
					 cl_getint64(i, 3, NULL),
					 TextDatumGetCString(cl_getdatum(i, 4, &isnull)));
	}
}

/*
 * verify_chain(account): one row per problem found in the chains of one
 * account, or of every account and credit line for NULL.
 */
static Datum
verify_chain_impl(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		account = PG_ARGISNULL(0) ? 0 : PG_GETARG_INT64(0);

	/* ids start at 1; 0 stands for "every chain" in verify_chains */
	if (!PG_ARGISNULL(0) && account <= 0)
		cl_raise_account_missing(account);

	InitMaterializedSRF(fcinfo, 0);
	cl_spi_connect();
	verify_chains(account, emit_problem, rsinfo);
	verify_hold_chains(account, rsinfo);
	cl_spi_finish();
	return (Datum) 0;
}
