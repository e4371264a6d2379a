/*
 * spi_plans.c: prepared SPI statements kept for the life of the backend.
 *
 * Each caller declares a static ClPlan with its SQL and argument types; the
 * plan is prepared on first use and kept with SPI_keepplan.  The plan cache
 * revalidates kept plans when the tables behind them change (including a
 * DROP/CREATE EXTENSION in the same backend), so no invalidation is needed
 * here.  No locking: plans are backend-local.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"

#include "spi_plans.h"

/*
 * prepared_plan: the prepared plan of p, preparing and keeping it on first use.
 */
static SPIPlanPtr
prepared_plan(ClPlan *p)
{
	if (p->plan == NULL)
	{
		/*
		 * Always the generic plan: the statements are simple key lookups and
		 * writes whose best plan does not depend on the values, and a custom
		 * plan would be planned anew on every call.
		 */
		SPIPlanPtr	plan = SPI_prepare_cursor(p->sql, p->nargs, p->argtypes,
											  CURSOR_OPT_GENERIC_PLAN);

		if (plan == NULL)
			elog(ERROR, "creditledger: SPI_prepare_cursor failed (%s): %s",
				 SPI_result_code_string(SPI_result), p->sql);
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "creditledger: SPI_keepplan failed");
		p->plan = plan;
	}
	return p->plan;
}

/*
 * exec_plan: execute a kept plan (read_only: against the active snapshot,
 * as SPI does for a STABLE function); errors are raised, never returned.
 */
static int
exec_plan(ClPlan *p, Datum *values, const char *nulls, bool read_only, long count)
{
	int			rc = SPI_execute_plan(prepared_plan(p), values, nulls, read_only, count);

	if (rc < 0)
		elog(ERROR, "creditledger: SPI_execute_plan failed (%s): %s",
			 SPI_result_code_string(rc), p->sql);
	return rc;
}

/*
 * cl_exec: execute a kept plan that may write (a new snapshot per call in
 * READ COMMITTED, as any statement).
 */
int
cl_exec(ClPlan *p, Datum *values, const char *nulls, long count)
{
	return exec_plan(p, values, nulls, false, count);
}

/*
 * cl_exec_readonly: execute a kept read-only plan against the active
 * snapshot, as a STABLE function's queries should: one statement, one
 * snapshot, even in READ COMMITTED (a BCP run's rules call balance()).
 */
int
cl_exec_readonly(ClPlan *p, Datum *values, const char *nulls, long count)
{
	return exec_plan(p, values, nulls, true, count);
}

/*
 * cl_getdatum: column col (1-based) of result row row.
 */
Datum
cl_getdatum(int row, int col, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc,
						 col, isnull);
}

/*
 * cl_getint64: a bigint column of the last result; 0 when NULL.
 */
int64
cl_getint64(int row, int col, bool *isnull)
{
	bool		n;
	Datum		d = cl_getdatum(row, col, &n);

	if (isnull)
		*isnull = n;
	return n ? 0 : DatumGetInt64(d);
}

/*
 * cl_spi_connect / cl_spi_finish: SPI_connect and SPI_finish that raise on
 * failure.
 */
void
cl_spi_connect(void)
{
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "creditledger: SPI_connect failed");
}

void
cl_spi_finish(void)
{
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "creditledger: SPI_finish failed");
}

/*
 * cl_int8_array: a bigint[] parameter value of n ids (n may be 0).
 */
Datum
cl_int8_array(const int64 *ids, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		d[i] = Int64GetDatum(ids[i]);
	return PointerGetDatum(construct_array(d, n, INT8OID, sizeof(int64), FLOAT8PASSBYVAL,
										   TYPALIGN_DOUBLE));
}
