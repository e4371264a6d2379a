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
 * So a transaction may post to a hot account only while the account's
 * total as it saw it at its first posting there (T0, committed state plus
 * its own rows) and T0 plus everything it has itself added since (counted
 * apart for increases and decreases, and never taken back, not even by a
 * rollback to a savepoint) stay within +/- hot_total_bound() =
 * INT64_MAX / (2 * (N + 1)), N being the most transactions that can be in
 * flight at once (MaxBackends + max_prepared_transactions).  A transaction
 * then moves the total by at most 2 * bound, a new one is refused once the
 * committed total is beyond the bound, and so the committed total stays
 * within (2N + 1) * bound < INT64_MAX whatever the interleaving; a posting
 * that would break this is refused at the call (22003).  With default
 * settings the bound is about 4e16 minor units.
 *
 * Cost: one read of the total per transaction and hot account (at its
 * first posting there: the account row, one scan of its sub-accounts for
 * all of them (locking.c cl_read_sub_balances), its buffer); later
 * postings of the same transaction only add in memory, so N postings in
 * one transaction cost O(N) whatever the buffer holds.
 *
 * Locking: none; reads the committed state plus this transaction's own rows
 * (through locking.c's unlocked reads and an index scan of the buffer with
 * the transaction snapshot).  The per-transaction table is backend-local
 * and dropped at the end of every transaction (commit, abort or prepare).
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/twophase.h"
#include "access/xact.h"
#include "common/int.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "heapwrite.h"
#include "hot_internal.h"

/*
 * hot_total_bound: the largest magnitude a hot account's total may have.
 */
static int64
hot_total_bound(void)
{
	int64		inflight = (int64) MaxBackends + max_prepared_xacts;

	return PG_INT64_MAX / (2 * (inflight + 1));
}

/* What this transaction knows of one hot account's total */
typedef struct TotalSeen
{
	int64		account_id;		/* hash key */
	int64		first_total;	/* T0: the total at its first posting */
	int64		added_up;		/* its own increases since (never taken back) */
	int64		added_down;		/* its own decreases since, as a positive sum */
} TotalSeen;

/* This transaction's table (NULL outside one, or before its first hot posting) */
static HTAB *totals_seen = NULL;
static bool totals_callback_registered = false;

/*
 * totals_xact_callback: forget the table at the end of every transaction.
 */
static void
totals_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
			if (totals_seen != NULL)
				hash_destroy(totals_seen);
			totals_seen = NULL;
			break;
		default:
			break;
	}
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
 * read_total: the hot account's total (main + sub-accounts 1..shards +
 * buffered) as this transaction sees it, or ERROR 22003 if it does not fit
 * a bigint.  The chain heads are read through locking.c, so rows this
 * transaction already wrote cost one lookup each (rowcache.c); a conversion
 * to fewer shards or out of split mode empties the other sub-accounts into
 * the main chain, so they hold 0.  Sums are numeric: no partial sum can
 * overflow.
 */
static int64
read_total(LockContext *lc, const AccountInfo *info, int64 bound)
{
	AccountInfo cur;
	Datum		total;
	char	   *digits;
	char	   *end;
	int64		total64;

	if (!cl_read_account(lc, info->account_id, &cur))
		return 0;
	total = NumericGetDatum(int64_to_numeric(cur.balance));
	if (HOT_MODE_IS_SPLIT(info->hot_mode) && info->shards > 0)
	{
		int64	   *subs = palloc(sizeof(int64) * info->shards);

		/* one scan for all sub-accounts (locking.c) */
		cl_read_sub_balances(lc, info->account_id, info->shards, subs);
		for (int32 i = 0; i < info->shards; i++)
			total = DirectFunctionCall2(numeric_add, total,
										NumericGetDatum(int64_to_numeric(subs[i])));
		pfree(subs);
	}
	total = DirectFunctionCall2(numeric_add, total, buffered_sum(info->account_id));
	digits = DatumGetCString(DirectFunctionCall1(numeric_out, total));
	errno = 0;
	total64 = strtoi64(digits, &end, 10);
	if (errno != 0 || *end != '\0')
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("total of hot account " INT64_FORMAT " is out of range",
						info->account_id),
				 errdetail("Its total (posted, sub-accounts and buffered) is %s; a hot account's total stays within +/-"
						   INT64_FORMAT ".", digits, bound)));
	return total64;
}

/*
 * refuse_total: 22003 for a posting that would take a hot account's total
 * (as this transaction accounts for it) beyond the bound.
 */
static void
refuse_total(const AccountInfo *info, int64 total, int64 net, int64 bound)
{
	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 errmsg("balance of hot account " INT64_FORMAT " would be out of range",
					info->account_id),
			 errdetail("Its total (posted, sub-accounts and buffered) is " INT64_FORMAT
					   " and the posting changes it by " INT64_FORMAT
					   "; a hot account's total stays within +/-" INT64_FORMAT
					   " so that concurrent postings can never overflow bigint.",
					   total, net, bound)));
}

/*
 * hot_check_total_bound: 22003 unless a posting changing the hot account's
 * total by net keeps this transaction's view of it within the bound (see
 * the file header); on success the change is counted.  net = 0 only checks
 * the total (set_hot_mode).
 */
void
hot_check_total_bound(LockContext *lc, const AccountInfo *info, int64 net)
{
	int64		bound = hot_total_bound();
	TotalSeen  *seen;
	bool		found;
	int64		up,
				down;

	if (totals_seen == NULL)
	{
		HASHCTL		ctl;

		if (!totals_callback_registered)
		{
			RegisterXactCallback(totals_xact_callback, NULL);
			totals_callback_registered = true;
		}
		ctl.keysize = sizeof(int64);
		ctl.entrysize = sizeof(TotalSeen);
		ctl.hcxt = TopMemoryContext;
		totals_seen = hash_create("creditledger hot totals of this transaction", 16, &ctl,
								  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	seen = (TotalSeen *) hash_search(totals_seen, &info->account_id, HASH_FIND, NULL);
	if (seen == NULL)
	{
		/* read first: an error here must leave no entry behind */
		int64		first = read_total(lc, info, bound);

		seen = (TotalSeen *) hash_search(totals_seen, &info->account_id, HASH_ENTER, &found);
		seen->first_total = first;
		seen->added_up = seen->added_down = 0;
	}

	/*
	 * |T0| <= bound, and T0 + own increases / T0 - own decreases within it.
	 * Every term is at most bound in magnitude before the change, so only
	 * adding net can overflow: checked.
	 */
	if (seen->first_total > bound || seen->first_total < -bound ||
		pg_add_s64_overflow(seen->added_up, Max(net, 0), &up) ||
		pg_sub_s64_overflow(seen->added_down, Min(net, 0), &down) ||
		up > 2 * bound || down > 2 * bound ||
		seen->first_total + up > bound || seen->first_total - down < -bound)
		refuse_total(info, seen->first_total + seen->added_up - seen->added_down, net, bound);
	seen->added_up = up;
	seen->added_down = down;
}
