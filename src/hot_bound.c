/*
 * hot_bound.c: the bound on a hot account's total, which keeps every
 * accepted posting applicable.
 *
 * An account in mode 'none' is one row, locked by every posting, so its
 * balance is checked exactly against bigint (posting.c).  A hot account's
 * total (main chain + sub-accounts + buffered postings) is changed by
 * concurrent transactions that do not lock one row: buffered increases lock
 * nothing, split postings lock different sub-accounts.  Checking each call
 * against the total it can see would let N concurrent calls, each fitting on
 * its own, overflow together, and the money would then be stuck: flushes,
 * balance() and BCP would fail on that account.
 *
 * So a posting on a hot account is accepted only if the total it sees and
 * the total after it are both within +/- cl_hot_total_bound() =
 * INT64_MAX / (2 * (N + 1)), N being the most transactions that can be in
 * flight at once (MaxBackends + max_prepared_transactions).  Each in-flight
 * transaction then adds at most 2 * bound beyond what others see, so the
 * committed total stays within N * 2 * bound + bound < INT64_MAX whatever
 * the interleaving, and is refused at the call (22003) otherwise.  With
 * default settings the bound is about 4e16 minor units.
 *
 * Locking: none; reads the committed state plus this transaction's own
 * rows.
 */
#include "postgres.h"

#include "access/twophase.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/numeric.h"

#include "hot_internal.h"
#include "spi_plans.h"

/*
 * cl_hot_total_bound: the largest magnitude a hot account's total may have.
 */
int64
cl_hot_total_bound(void)
{
	int64		inflight = (int64) MaxBackends + max_prepared_xacts;

	return PG_INT64_MAX / (2 * (inflight + 1));
}

/*
 * hot_check_total_bound: 22003 unless the hot account's total (main +
 * sub-accounts + buffered, as this transaction sees it) and that total
 * plus net are within the bound.  Inside SPI.
 */
void
hot_check_total_bound(const AccountInfo *info, int64 net)
{
	static ClPlan total_plan = {
		"SELECT (a.balance::pg_catalog.numeric"
		"        OPERATOR(pg_catalog.+) COALESCE((SELECT pg_catalog.sum(s.balance)"
		"            FROM creditledger.sub_accounts s"
		"           WHERE s.account_id OPERATOR(pg_catalog.=) $1), 0)"
		"        OPERATOR(pg_catalog.+) COALESCE((SELECT pg_catalog.sum(b.amount)"
		"            FROM creditledger.posting_buffer b"
		"           WHERE b.account_id OPERATOR(pg_catalog.=) $1), 0))::pg_catalog.text"
		"  FROM creditledger.ledger_accounts a WHERE a.account_id OPERATOR(pg_catalog.=) $1",
		1, {INT8OID}
	};
	Datum		values[1] = {Int64GetDatum(info->account_id)};
	int64		bound = cl_hot_total_bound();
	int64		total;
	bool		isnull;
	char	   *digits;
	char	   *end;

	cl_exec(&total_plan, values, NULL, 1);
	if (SPI_processed == 0)
		return;
	digits = TextDatumGetCString(cl_getdatum(0, 1, &isnull));
	errno = 0;
	total = strtoi64(digits, &end, 10);
	if (errno != 0 || *end != '\0' || total > bound || total < -bound ||
		(net > 0 && total > bound - net) || (net < 0 && total < -bound - net))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("balance of hot account " INT64_FORMAT " would be out of range",
						info->account_id),
				 errdetail("Its total (posted, sub-accounts and buffered) is %s and the posting changes it by "
						   INT64_FORMAT "; a hot account's total stays within +/-" INT64_FORMAT
						   " so that concurrent postings can never overflow bigint.",
						   digits, net, bound)));
}
