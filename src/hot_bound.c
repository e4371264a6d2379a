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
 * rows (through locking.c's unlocked reads and an index scan of the buffer
 * with the transaction snapshot).
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/twophase.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "heapwrite.h"
#include "hot_internal.h"

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
 * buffered_sum: the sum of the account's rows in posting_buffer that this
 * transaction sees (committed ones and its own), as numeric, read through
 * the primary key (account_id, buffer_id) whatever the table's size.
 */
static Datum
buffered_sum(int64 account_id)
{
	Relation	rel = table_open(cl_relation_oid("posting_buffer"), AccessShareLock);
	Relation	pk = index_open(cl_relation_oid("posting_buffer_pkey"), AccessShareLock);
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	Snapshot	snapshot = RegisterSnapshot(GetTransactionSnapshot());
	AttrNumber	amount_att = get_attnum(RelationGetRelid(rel), "amount");
	IndexScanDesc scan;
	ScanKeyData key;
	Datum		sum = NumericGetDatum(int64_to_numeric(0));

	if (amount_att == InvalidAttrNumber)
		elog(ERROR, "creditledger: column posting_buffer.amount does not exist");
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(account_id));
	scan = index_beginscan(rel, pk, snapshot, 1, 0);
	index_rescan(scan, &key, 1, NULL, 0);
	while (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		bool		isnull;
		Datum		amount = slot_getattr(slot, amount_att, &isnull);

		if (!isnull)
			sum = DirectFunctionCall2(numeric_add, sum,
									  NumericGetDatum(int64_to_numeric(DatumGetInt64(amount))));
	}
	index_endscan(scan);
	UnregisterSnapshot(snapshot);
	ExecDropSingleTupleTableSlot(slot);
	index_close(pk, AccessShareLock);
	table_close(rel, AccessShareLock);
	return sum;
}

/*
 * hot_check_total_bound: 22003 unless the hot account's total (main +
 * sub-accounts + buffered, as this transaction sees it) and that total
 * plus net are within the bound.
 *
 * The chain heads are read through locking.c, so the rows this transaction
 * has already written cost one lookup each, not a visit of every version it
 * left behind (rowcache.c); the sub-accounts summed are 1..shards (a
 * conversion to fewer shards or out of split mode empties the others into
 * the main chain, so rows beyond shards hold 0); the buffer is summed in
 * buffered_sum().  Sums are numeric, so no partial sum can overflow.
 */
void
hot_check_total_bound(LockContext *lc, const AccountInfo *info, int64 net)
{
	int64		bound = cl_hot_total_bound();
	AccountInfo cur;
	Datum		total;
	int64		total64;
	char	   *digits;
	char	   *end;

	if (!cl_read_account(lc, info->account_id, &cur))
		return;
	total = NumericGetDatum(int64_to_numeric(cur.balance));
	for (int32 sub = 1; HOT_MODE_IS_SPLIT(info->hot_mode) && sub <= info->shards; sub++)
	{
		int64		b = cl_read_sub_balance(lc, info->account_id, sub);

		total = DirectFunctionCall2(numeric_add, total, NumericGetDatum(int64_to_numeric(b)));
	}
	total = DirectFunctionCall2(numeric_add, total, buffered_sum(info->account_id));
	digits = DatumGetCString(DirectFunctionCall1(numeric_out, total));
	errno = 0;
	total64 = strtoi64(digits, &end, 10);
	if (errno != 0 || *end != '\0' || total64 > bound || total64 < -bound ||
		(net > 0 && total64 > bound - net) || (net < 0 && total64 < -bound - net))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("balance of hot account " INT64_FORMAT " would be out of range",
						info->account_id),
				 errdetail("Its total (posted, sub-accounts and buffered) is %s and the posting changes it by "
						   INT64_FORMAT "; a hot account's total stays within +/-" INT64_FORMAT
						   " so that concurrent postings can never overflow bigint.",
						   digits, net, bound)));
}
