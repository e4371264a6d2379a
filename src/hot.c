/*
 * hot.c: hot accounts: the posting buffer, split sub-accounts, flush, sweep
 * and hot-mode conversion.
 *
 * Buffered (加频).  An increase of a buffered account is a row in
 * posting_buffer (hot_buffer_insert), written without touching the account
 * row.  hot_apply_buffer() turns committed buffer rows into chained journal
 * entries: it DELETEs them ... RETURNING and applies exactly the rows it
 * deleted, in buffer order.  A row whose inserting transaction has not
 * committed yet is invisible and stays for the next flush, however its id
 * compares with rows already applied (no watermark); a row deleted by a
 * concurrent flusher is not returned, so nothing is applied twice.
 *
 * Split (减频).  The balance lives in sub-accounts 1..shards (sub_accounts,
 * each its own chain).  hot_choose_sub() serves a posting from one of them:
 * increases from any sub-account nobody holds (the search starting at a
 * different one per call); decreases from one nobody holds that has
 * enough, probed only if free (cl_probe_sub) starting where the backend's
 * last decrease was served (decrease_start), before ever waiting.  When every
 * sub-account that had enough is held by other transactions, it waits for
 * one of them (holding no other sub-account of the account).  Only when
 * none has enough does it lock the account row and every sub-account in
 * order and gather (归集) funds from siblings into one, with internal
 * chained entries; LD001 only when the whole account is short.
 * hot_sweep_account() evens out sub-accounts that drifted apart, the same
 * way.  Internal moves are transfers of kind
 * 'entry' with the voucher 'creditledger:<what>:<account>:<transfer id>';
 * their legs net to zero within the account.
 *
 * Holds (holds.c).  A split account's reservations sit in sub-accounts;
 * every check here is against a chain's available balance (balance -
 * held): a decrease or a reservation takes a sub-account whose available
 * covers it, a gather or sweep moves only what is available, and the slow
 * path refuses (LD001) only when the whole account's available is short,
 * after releasing due reservations on the sub-accounts it locked (through
 * the caller's HotReleaseDue).  Hot-mode
 * conversion refuses an account with open reservations (55000).
 *
 * Buffered postings always reach the account's main chain (sub-account 0);
 * for a buffered_split account, the flush then spreads that to the
 * sub-accounts it can take without waiting, and a decrease's slow path or
 * the sweep moves whatever remains.
 *
 * Locking.  Every flusher locks the account row first (FOR NO KEY UPDATE),
 * so the worker, flush() and a decrease that applies the buffer itself (主动
 * 汇总) exclude each other.  A sub-account is taken by the probe protocol
 * of hot-line slices (lockorder.h step 6, locking.c cl_probe_sub): its
 * sub-account lock (advisory), then its newest version read, then its row
 * only when that serves; every writer here, in posting.c and in holds.c
 * takes sub-accounts through cl_lock_sub / cl_probe_sub, so what is read
 * under the sub-account lock is what the row holds.  Waiting locks follow
 * locking.c's order: the account row, then sub-accounts in ascending order;
 * only a decrease's slow path and set_hot_mode wait for sub-accounts while
 * holding the account row; a decrease whose every sub-account with enough
 * is held waits for one sub-account, holding no other of the account (and
 * not its row, unless the transaction locked it before: then the order
 * holds); flush, spread and sweep take sub-accounts only if free.  A
 * decrease's probe of a sub-account that turns out short under its
 * sub-account lock (a concurrent decrease emptied it just before) gives
 * that lock back at once, before its row is locked: the slow path never
 * waits while holding a sub-account the same call probed, and no
 * subtransaction is needed.  What remains is the case any two rows have: a
 * sub-account this transaction wrote in an earlier statement stays locked
 * (its change is in the row), so a later decrease of the same transaction
 * whose slow path waits for the account row holds it out of order; a
 * concurrent slow path waiting for it closes a cycle (40P01), as two
 * transactions that each updated a row the other wants.  set_hot_mode
 * (hot_convert) takes the account's
 * mode lock exclusively, so no posting that read the old mode is in flight,
 * then the row FOR UPDATE, applies the buffer, and merges or splits the
 * balance with journal entries that show it.
 *
 * Dependencies: hot.c is a mechanism under the ledger; the release of due
 * reservations its slow path needs (holds.c) is passed in by the caller
 * (posting.c) as a HotReleaseDue, so hot.c does not include holds.h.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/int.h"
#include "commands/sequence.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "chain.h"
#include "errcodes.h"
#include "heapwrite.h"
#include "hot.h"
#include "hot_internal.h"
#include "locking.h"
#include "lockorder.h"
#include "opstats.h"
#include "rowcache.h"
#include "validate.h"
#include "spi_plans.h"

/*
 * The batch is chosen as an array, so the DELETE probes the primary key
 * (account_id, buffer_id) once per row whatever the backlog; rows the batch
 * cannot see (not committed yet) stay for a later flush.
 */
static ClPlan take_buffer_plan = {
	"DELETE FROM creditledger.posting_buffer b"
	" WHERE b.account_id OPERATOR(pg_catalog.=) $1"
	"   AND b.buffer_id OPERATOR(pg_catalog.=) ANY (ARRAY("
	"   SELECT buffer_id FROM creditledger.posting_buffer"
	"    WHERE account_id OPERATOR(pg_catalog.=) $1 ORDER BY buffer_id LIMIT $2))"
	" RETURNING b.buffer_id, b.transfer_id, b.voucher, b.side, b.amount,"
	"           b.is_reversal, b.accepted_at",
	2, {INT8OID, INT8OID}
};

static ClPlan buffered_accounts_plan = {
	"SELECT DISTINCT account_id FROM creditledger.posting_buffer ORDER BY 1",
	0, {InvalidOid}
};

static ClPlan split_accounts_plan = {
	"SELECT account_id FROM creditledger.ledger_accounts"
	" WHERE hot_mode OPERATOR(pg_catalog.=) ANY ('{split,buffered_split}'::pg_catalog.text[])"
	"   AND status OPERATOR(pg_catalog.=) 'open'::pg_catalog.text"
	" ORDER BY account_id",
	0, {InvalidOid}
};

static ClPlan internal_transfer_plan = {
	"INSERT INTO creditledger.ledger_transfers (transfer_id, voucher, kind, memo, payload_hash)"
	" SELECT t,"
	"        'creditledger:'::pg_catalog.text OPERATOR(pg_catalog.||) $1"
	"        OPERATOR(pg_catalog.||) ':'::pg_catalog.text"
	"        OPERATOR(pg_catalog.||) $2::pg_catalog.text"
	"        OPERATOR(pg_catalog.||) ':'::pg_catalog.text"
	"        OPERATOR(pg_catalog.||) t::pg_catalog.text,"
	"        'entry'::pg_catalog.text, $3,"
	"        pg_catalog.decode(pg_catalog.repeat('00'::pg_catalog.text, 32),"
	"                          'hex'::pg_catalog.text)"
	"   FROM pg_catalog.nextval('creditledger.transfer_id_seq'::pg_catalog.regclass) AS t"
	" RETURNING transfer_id, voucher",
	3, {TEXTOID, INT8OID, TEXTOID}
};

static ClPlan create_subs_plan = {
	"INSERT INTO creditledger.sub_accounts (account_id, sub_account)"
	" SELECT $1, g FROM pg_catalog.generate_series(1, $2) AS g"
	" ON CONFLICT DO NOTHING",
	2, {INT8OID, INT4OID}
};

static ClPlan set_mode_plan = {
	"UPDATE creditledger.ledger_accounts SET hot_mode = $2, shards = $3"
	" WHERE account_id OPERATOR(pg_catalog.=) $1",
	3, {INT8OID, TEXTOID, INT4OID}
};

/* An internal transfer that moves money between chains of one account. */
typedef struct InternalMove
{
	int64		transfer_id;	/* 0 until the first move */
	char	   *voucher;
	const char *what;
	const char *memo;
	int64		account_id;
	JournalWriter w;
	TimestampTz now;
} InternalMove;

/* One committed buffer row taken for applying. */
typedef struct BufferRow
{
	int64		buffer_id;
	int64		transfer_id;
	char	   *voucher;
	char		side;
	int64		amount;
	bool		is_reversal;
	TimestampTz accepted_at;
} BufferRow;

/*
 * buffer_row_cmp: order buffer rows by id.
 */
static int
buffer_row_cmp(const void *a, const void *b)
{
	int64		x = ((const BufferRow *) a)->buffer_id;
	int64		y = ((const BufferRow *) b)->buffer_id;

	return (x > y) - (x < y);
}

/*
 * move_begin: start an internal move (the transfer row is made on the first
 * leg, so a move with nothing to do leaves nothing).
 */
static void
move_begin(InternalMove *m, const char *what, const char *memo, int64 account_id)
{
	memset(m, 0, sizeof(*m));
	m->what = what;
	m->memo = memo;
	m->account_id = account_id;
	m->now = GetCurrentTransactionStartTimestamp();
}

/*
 * move_amount: move amount (> 0) of balance from chain `from` to chain `to`
 * of the same account, as two chained entries of the internal transfer.
 */
static void
move_amount(InternalMove *m, ChainHead *from, ChainHead *to, int64 amount)
{
	int64		check;

	if (amount <= 0)
		return;
	if (pg_add_s64_overflow(to->balance, amount, &check) ||
		pg_sub_s64_overflow(from->balance, amount, &check))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("moving " INT64_FORMAT " within account " INT64_FORMAT
						" is out of range for type bigint", amount, m->account_id)));
	if (m->transfer_id == 0)
	{
		Datum		values[3];
		bool		isnull;

		values[0] = CStringGetTextDatum(m->what);
		values[1] = Int64GetDatum(m->account_id);
		values[2] = CStringGetTextDatum(m->memo);
		cl_exec(&internal_transfer_plan, values, NULL, 1);
		m->transfer_id = cl_getint64(0, 1, NULL);
		m->voucher = TextDatumGetCString(cl_getdatum(0, 2, &isnull));
		journal_writer_open(&m->w);
	}
	journal_append(&m->w, from, m->transfer_id, m->voucher,
				   cl_side_for(from->normal_credit, false), amount, false, m->now, m->now);
	journal_append(&m->w, to, m->transfer_id, m->voucher,
				   cl_side_for(to->normal_credit, true), amount, false, m->now, m->now);
}

/*
 * move_end: finish an internal move and write the heads it moved.
 */
static void
move_end(InternalMove *m, ChainHead **heads, int n)
{
	if (m->transfer_id != 0)
		journal_writer_close(&m->w);
	chain_heads_write(heads, n);
}

/*
 * hot_buffer_insert: one buffered increase.
 */
void
hot_buffer_insert(int64 account_id, int64 transfer_id, const char *voucher, char side,
				  int64 amount, bool is_reversal, TimestampTz accepted_at)
{
	static const char *const cols[] = {
		"buffer_id", "account_id", "transfer_id", "voucher", "side", "amount",
		"is_reversal", "accepted_at"
	};
	static ColumnMap columns;
	DirectTable t;
	int			natts;
	Datum	   *values;
	bool	   *nulls;
	Datum		v[lengthof(cols)];
	const AttrNumber *att;

	direct_open(&t, "posting_buffer");
	att = cl_column_map(&columns, t.rel, cols, lengthof(cols));
	natts = RelationGetDescr(t.rel)->natts;
	values = palloc0(sizeof(Datum) * natts);
	nulls = palloc(sizeof(bool) * natts);
	memset(nulls, true, sizeof(bool) * natts);
	v[0] = Int64GetDatum(nextval_internal(cl_relation_oid("buffer_id_seq"), false));
	v[1] = Int64GetDatum(account_id);
	v[2] = Int64GetDatum(transfer_id);
	v[3] = CStringGetTextDatum(voucher);
	v[4] = CharGetDatum(side);
	v[5] = Int64GetDatum(amount);
	v[6] = BoolGetDatum(is_reversal);
	v[7] = TimestampTzGetDatum(accepted_at);
	for (int c = 0; c < (int) lengthof(cols); c++)
	{
		int			a = att[c] - 1;

		values[a] = v[c];
		nulls[a] = false;
	}
	(void) direct_insert(&t, values, nulls);
	direct_close(&t);
}

/*
 * hot_apply_buffer: apply up to limit (0 = all) committed buffer rows of
 * the account onto chain `target` (its main chain, or a locked sub-account
 * of a buffered_split account) and write the head back.  The caller holds
 * the account row lock.  Inside SPI.
 */
int64
hot_apply_buffer(LockContext *lc, AccountInfo *info, ChainHead *target, int64 limit)
{
	Datum		values[2];
	char		nulls[2] = {' ', ' '};
	uint64		n;
	BufferRow  *rows;
	JournalWriter w;
	TimestampTz posted_at = GetCurrentTimestamp();

	values[0] = Int64GetDatum(info->account_id);
	values[1] = Int64GetDatum(limit);
	if (limit <= 0)
		nulls[1] = 'n';
	cl_exec(&take_buffer_plan, values, nulls, 0);
	n = SPI_processed;
	if (n == 0)
		return 0;
	rows = palloc(sizeof(BufferRow) * n);
	for (uint64 i = 0; i < n; i++)
	{
		bool		isnull;

		rows[i].buffer_id = cl_getint64(i, 1, NULL);
		rows[i].transfer_id = cl_getint64(i, 2, NULL);
		rows[i].voucher = TextDatumGetCString(cl_getdatum(i, 3, &isnull));
		rows[i].side = DatumGetChar(cl_getdatum(i, 4, &isnull));
		rows[i].amount = cl_getint64(i, 5, NULL);
		rows[i].is_reversal = DatumGetBool(cl_getdatum(i, 6, &isnull));
		rows[i].accepted_at = DatumGetTimestampTz(cl_getdatum(i, 7, &isnull));
	}
	qsort(rows, n, sizeof(BufferRow), buffer_row_cmp);

	journal_writer_open(&w);
	for (uint64 i = 0; i < n; i++)
	{
		int64		check;

		if (pg_add_s64_overflow(target->balance,
								cl_balance_delta(target->normal_credit, rows[i].side,
												 rows[i].amount), &check))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("buffered posting " INT64_FORMAT " would take account " INT64_FORMAT
							" out of range for type bigint",
							rows[i].buffer_id, info->account_id)));
		journal_append(&w, target, rows[i].transfer_id, rows[i].voucher, rows[i].side,
					   rows[i].amount, rows[i].is_reversal, rows[i].accepted_at, posted_at);
	}
	journal_writer_close(&w);
	chain_heads_write(&target, 1);
	cl_stat_hot_flush(info->account_id, (int64) n);
	return (int64) n;
}

/* Increases so far in this backend: rotates where their searches start. */
static uint32 sub_rotation = 0;

/*
 * first_sub: where an increase's search over n sub-accounts starts
 * (0-based): different backends and successive calls start at different
 * ones, which spreads increases over the sub-accounts.
 */
static int32
first_sub(int32 n)
{
	return (int32) (((uint32) MyProcPid + sub_rotation++) % (uint32) n);
}

/*
 * Where this backend's searches for a decrease (or reservation) start: the
 * sub-account (0-based, modulo the account's shards) its last one took, at
 * first one chosen by its pid.  A backend keeps using the sub-account it
 * got as long as nobody else holds it and it has enough, so concurrent
 * callers settle on different sub-accounts and a search usually succeeds
 * at its first try; one that collides moves on to the next free one and
 * stays there.  (Rotating the start on every call, as for increases, made
 * callers collide all the time once most sub-accounts were held, as they
 * are with about as many callers as sub-accounts: each then probed several
 * held ones first.)  A sub-account drained this way is passed over once it
 * is short; the sweep (hot_sweep_account, run by the worker) evens out
 * what drifted apart.
 */
static uint32 decrease_start = 0;
static bool decrease_start_set = false;

/*
 * first_decrease_sub: where a decrease's search over n sub-accounts starts
 * (0-based).
 */
static int32
first_decrease_sub(int32 n)
{
	if (!decrease_start_set)
	{
		decrease_start = (uint32) MyProcPid;
		decrease_start_set = true;
	}
	return (int32) (decrease_start % (uint32) n);
}

/*
 * decrease_taken: a decrease took sub-account sub (1..n): the next one
 * starts there.
 */
static void
decrease_taken(int32 sub)
{
	decrease_start = (uint32) (sub - 1);
	decrease_start_set = true;
}

/*
 * hot_next_first_sub: the sub-account (1..n) this backend's next search for
 * a decrease of a split account with n sub-accounts will try first: a
 * pending transfer names it in its claim, before it reserves, so that when
 * that first try succeeds (the usual case) the row needs no correction.
 * Only a guess: the search may take another one.
 */
int32
hot_next_first_sub(int32 n)
{
	return n > 0 ? first_decrease_sub(n) + 1 : 0;
}

/*
 * lock_any_sub: lock a sub-account nobody holds (starting at first_sub()),
 * or wait for the first one tried when all are held.
 */
static void
lock_any_sub(LockContext *lc, AccountInfo *info, ChainHead *out)
{
	int32		n = info->shards;
	int32		start = first_sub(n);

	for (int32 k = 0; k < n; k++)
	{
		if (cl_lock_sub(lc, info, (start + k) % n + 1, LockWaitSkip, out) == LOCK_OK)
		{
			cl_stat_hot_skips(info->account_id, k);
			return;
		}
	}
	cl_stat_hot_skips(info->account_id, n);
	if (cl_lock_sub(lc, info, start + 1, LockWaitBlock, out) != LOCK_OK)
		elog(ERROR, "creditledger: account " INT64_FORMAT " has no sub-account %d",
			 info->account_id, start + 1);
}

/*
 * check_sub_overflow: 22003 if the sub-account's balance + net overflows.
 */
static void
check_sub_overflow(AccountInfo *info, ChainHead *h, int64 net)
{
	int64		check;

	if (pg_add_s64_overflow(h->balance, net, &check))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("balance of account " INT64_FORMAT " would be out of range for type bigint",
						info->account_id)));
}

/*
 * lock_all_subs: lock sub-accounts 1..shards in order, waiting (the caller
 * holds the account row lock); returns their heads.
 */
static ChainHead *
lock_all_subs(LockContext *lc, AccountInfo *info, int32 shards)
{
	ChainHead  *subs = palloc(sizeof(ChainHead) * shards);

	for (int32 i = 0; i < shards; i++)
		if (cl_lock_sub(lc, info, i + 1, LockWaitBlock, &subs[i]) != LOCK_OK)
			elog(ERROR, "creditledger: account " INT64_FORMAT " has no sub-account %d",
				 info->account_id, i + 1);
	return subs;
}

/*
 * sum_heads: the total balance of n heads (22003 on overflow).
 */
static int64
sum_heads(ChainHead *h, int n, int64 account_id)
{
	int64		total = 0;

	for (int i = 0; i < n; i++)
		if (pg_add_s64_overflow(total, h[i].balance, &total))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("balance of account " INT64_FORMAT " is out of range for type bigint",
							account_id)));
	return total;
}

/*
 * sum_available: the total available balance (balance - held) of n heads
 * (22003 on overflow).
 */
static int64
sum_available(ChainHead *h, int n, int64 account_id)
{
	int64		total = 0;

	for (int i = 0; i < n; i++)
		if (pg_add_s64_overflow(total, cl_available(&h[i]), &total))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("balance of account " INT64_FORMAT " is out of range for type bigint",
							account_id)));
	return total;
}

/*
 * hot_choose_sub: lock the sub-account that serves a posting changing a
 * split account's balance by net, gathering funds into it when no single
 * sub-account can cover a decrease (see the file header).  release_due is
 * called by the slow path, before it refuses, on each sub-account with
 * reservations (the caller's due-reservation release, holds.c); it returns
 * whether it released any.  Inside SPI.
 */
void
hot_choose_sub(LockContext *lc, AccountInfo *info, int64 net, ChainHead *out,
			   HotReleaseDue release_due)
{
	int32		n = info->shards;
	int32		start;
	bool		needs_funds = (net < 0 && info->has_floor);
	int64		sub_floor = info->has_floor ? Max(info->min_balance, 0) : 0;
	int64		needed;			/* the available a sub-account must have */
	AccountInfo locked;
	ChainHead	main_head;
	ChainHead  *subs;
	ChainHead **heads;
	ChainHead  *target;
	int64		total;
	int32	   *busy;			/* sub-accounts another transaction held */
	int32		nbusy = 0;
	bool		kept = false;	/* this transaction holds a short one from before */
	InternalMove m;

	if (!needs_funds)
	{
		lock_any_sub(lc, info, out);
		check_sub_overflow(info, out, net);
		return;
	}

	/*
	 * fast path: a sub-account nobody holds that has enough, probed
	 * (cl_probe_sub) in this backend's order: its sub-account lock only if
	 * free, then its newest version read, and its row locked only if that
	 * covers the decrease; a short one is let go at once.  So the waits
	 * below never start while this call holds a sub-account it probed.
	 */
	if (pg_sub_s64_overflow(sub_floor, net, &needed))
		needed = PG_INT64_MAX;	/* no sub-account covers it: the slow path refuses */
	busy = palloc(sizeof(int32) * n);
	start = first_decrease_sub(n);
	for (int32 k = 0; k < n && needed < PG_INT64_MAX; k++)
	{
		int32		sub = (start + k) % n + 1;

		switch (cl_probe_sub(lc, info, sub, LockWaitSkip, needed, out, &kept))
		{
			case LOCK_OK:
				cl_stat_hot_skips(info->account_id, nbusy);
				decrease_taken(sub);
				return;
			case LOCK_SKIPPED:
				busy[nbusy++] = sub;
				break;
			case LOCK_SHORT:
				break;
			case LOCK_NOT_FOUND:
				elog(ERROR, "creditledger: account " INT64_FORMAT " has no sub-account %d",
					 info->account_id, sub);
		}
	}
	cl_stat_hot_skips(info->account_id, nbusy);

	/*
	 * Every sub-account that has enough is held by another transaction
	 * (with as many concurrent callers as sub-accounts, a moment when all
	 * are held is common): wait for the one that has the most (committed,
	 * read without a lock), as a posting waits for an account row, instead
	 * of taking the slow path, whose caller would hold the account row and
	 * every sub-account in turn and send every other caller after it into
	 * the same path.  Only while this transaction holds no sub-account of
	 * the account from before (kept: a wait while holding one taken out of
	 * order could close a deadlock).  Short after the wait (the holder
	 * took it), it is let go like any probe before the slow path.
	 */
	if (nbusy > 0 && !kept)
	{
		int32		wait_sub = 0;
		int64		wait_read = 0;

		for (int32 i = 0; i < nbusy; i++)
		{
			int64		read = cl_read_sub_balance(lc, info->account_id, busy[i]);

			if (read >= needed && (wait_sub == 0 || read > wait_read))
			{
				wait_sub = busy[i];
				wait_read = read;
			}
		}
		if (wait_sub != 0 &&
			cl_probe_sub(lc, info, wait_sub, LockWaitBlock, needed, out, NULL) == LOCK_OK)
		{
			decrease_taken(wait_sub);
			return;
		}
	}

	/* slow path: the account row, then every sub-account, in order */
	if (cl_lock_main(lc, info->account_id, LockWaitBlock, LockTupleNoKeyExclusive,
					 &locked, &main_head) != LOCK_OK)
		elog(ERROR, "creditledger: account " INT64_FORMAT " vanished", info->account_id);
	subs = lock_all_subs(lc, info, n);
	total = sum_available(subs, n, info->account_id) + cl_available(&main_head);
	if (total + net < info->min_balance && HOT_MODE_IS_BUFFERED(info->hot_mode) &&
		hot_apply_buffer(lc, info, &main_head, 0) > 0)
		total = sum_available(subs, n, info->account_id) + cl_available(&main_head);
	if (total + net < info->min_balance && release_due != NULL)
	{
		/* due reservations met here count as released (the caller's holds.c) */
		bool		released = false;

		for (int32 i = 0; i < n; i++)
			if (subs[i].held > 0)
				released |= release_due(&subs[i], info->block);
		if (released)
			total = sum_available(subs, n, info->account_id) + cl_available(&main_head);
	}
	if (total + net < info->min_balance)
		cl_raise_insufficient(info->account_id, total, total + net, info->min_balance);
	target = &subs[0];
	for (int32 i = 1; i < n; i++)
		if (cl_available(&subs[i]) > cl_available(target))
			target = &subs[i];

	/*
	 * Gather into the target, until it covers the decrease: first what the
	 * main chain holds (applied buffer), then siblings in order; only what
	 * is available (not held) moves.
	 */
	move_begin(&m, "gather", "sub-account gather", info->account_id);
	if (cl_available(&main_head) > 0 && cl_available(target) + net < sub_floor)
		move_amount(&m, &main_head, target,
					Min(cl_available(&main_head), sub_floor - net - cl_available(target)));
	for (int32 i = 0; i < n && cl_available(target) + net < sub_floor; i++)
	{
		ChainHead  *from = &subs[i];

		if (from == target || cl_available(from) <= 0)
			continue;
		move_amount(&m, from, target,
					Min(cl_available(from), sub_floor - net - cl_available(target)));
	}
	heads = palloc(sizeof(ChainHead *) * (n + 1));
	for (int32 i = 0; i < n; i++)
		heads[i] = &subs[i];
	heads[n] = &main_head;
	move_end(&m, heads, n + 1);
	*out = *target;
}

/*
 * hot_create_subs: make sure sub-accounts 1..shards exist.  Inside SPI.
 */
void
hot_create_subs(int64 account_id, int32 shards)
{
	Datum		values[2] = {Int64GetDatum(account_id), Int32GetDatum(shards)};

	cl_exec(&create_subs_plan, values, NULL, 0);
	CommandCounterIncrement();
}

/*
 * hot_convert: switch an account to another hot mode (and shard count)
 * online: apply its buffer, merge sub-accounts into the main chain, split
 * the main chain into the new sub-accounts, each move a journal entry.
 * Inside SPI.
 */
void
hot_convert(int64 account_id, HotMode mode, int32 shards)
{
	LockContext lc;
	AccountInfo info;
	ChainHead	main_head;
	ChainHead  *subs = NULL;
	ChainHead **heads;
	int32		old_n;
	int32		new_n = HOT_MODE_IS_SPLIT(mode) ? shards : 1;
	InternalMove m;
	int			nheads = 0;
	Datum		values[3];
	char	   *memo;

	cl_mode_lock(account_id, true);
	lock_context_open(&lc);
	if (cl_lock_main(&lc, account_id, LockWaitBlock, LockTupleExclusive, &info,
					 &main_head) != LOCK_OK)
		cl_raise_account_missing(account_id);
	if (!info.open)
		cl_raise_account_closed(account_id);
	if (info.hot_mode == mode && info.shards == new_n)
	{
		lock_context_close(&lc);
		return;
	}
	old_n = HOT_MODE_IS_SPLIT(info.hot_mode) ? info.shards : 0;
	/* a hot account's total must start within the bound (hot_bound.c) */
	if (mode != HOT_NONE)
		hot_check_total_bound(&lc, &info, 0);

	/* 1. everything committed in the buffer reaches the main chain */
	(void) hot_apply_buffer(&lc, &info, &main_head, 0);
	if (old_n > 0)
		subs = lock_all_subs(&lc, &info, old_n);
	{
		int64		held = main_head.held;

		for (int32 i = 0; i < old_n; i++)
			held += subs[i].held;
		if (held != 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("account " INT64_FORMAT " has open reservations", account_id),
					 errdetail("Pending transfers and funds holds reserve " INT64_FORMAT
							   " on it; a reservation stays on the chain it was made on.", held),
					 errhint("Post, void or release them (or let them expire) before changing the hot mode.")));
	}

	/* 2. merge the old sub-accounts into the main chain */
	memo = psprintf("hot mode %s/%d -> %s/%d", cl_hot_mode_name(info.hot_mode), info.shards,
					cl_hot_mode_name(mode), new_n);
	move_begin(&m, "hot-mode", memo, account_id);
	for (int32 i = 0; i < old_n; i++)
	{
		if (subs[i].balance > 0)
			move_amount(&m, &subs[i], &main_head, subs[i].balance);
		else if (subs[i].balance < 0)
			move_amount(&m, &main_head, &subs[i], -subs[i].balance);
	}

	/* 3. split the main chain into the new sub-accounts */
	heads = palloc(sizeof(ChainHead *) * (1 + Max(old_n, new_n)));
	heads[nheads++] = &main_head;
	if (HOT_MODE_IS_SPLIT(mode))
	{
		ChainHead  *new_subs;
		int64		b = main_head.balance;

		hot_create_subs(account_id, new_n);
		if (old_n > 0)
		{
			/* write the merge first: the sub-account rows are relocked below */
			for (int32 i = 0; i < old_n; i++)
				heads[nheads++] = &subs[i];
			move_end(&m, heads, nheads);
			nheads = 1;
			move_begin(&m, "hot-mode", memo, account_id);
		}
		info.shards = new_n;
		new_subs = lock_all_subs(&lc, &info, new_n);
		if (b < 0)
			move_amount(&m, &new_subs[0], &main_head, -b);
		else
			for (int32 i = 0; i < new_n; i++)
				move_amount(&m, &main_head, &new_subs[i], b / new_n + (i < b % new_n ? 1 : 0));
		for (int32 i = 0; i < new_n; i++)
			heads[nheads++] = &new_subs[i];
	}
	else
		for (int32 i = 0; i < old_n; i++)
			heads[nheads++] = &subs[i];
	move_end(&m, heads, nheads);

	values[0] = Int64GetDatum(account_id);
	values[1] = CStringGetTextDatum(cl_hot_mode_name(mode));
	values[2] = Int32GetDatum(new_n);
	cl_exec(&set_mode_plan, values, NULL, 0);
	lock_context_close(&lc);
}

/*
 * fetch_ids: the bigint first column of a statement's rows, as a palloc'd
 * array in the caller's context; *n receives the count.
 */
static int64 *
fetch_ids(ClPlan *plan, int *n)
{
	int64	   *ids;

	cl_spi_connect();
	cl_exec(plan, NULL, NULL, 0);
	*n = (int) SPI_processed;
	ids = SPI_palloc(sizeof(int64) * Max(*n, 1));
	for (int i = 0; i < *n; i++)
		ids[i] = cl_getint64(i, 1, NULL);
	cl_spi_finish();
	return ids;
}

/*
 * hot_accounts_with_buffer: see hot.h.
 */
int64 *
hot_accounts_with_buffer(int *n)
{
	return fetch_ids(&buffered_accounts_plan, n);
}

/*
 * hot_split_accounts: see hot.h.
 */
int64 *
hot_split_accounts(int *n)
{
	return fetch_ids(&split_accounts_plan, n);
}

/*
 * spread_main: move what the main chain of a split account holds (applied
 * buffer) into the sub-accounts nobody holds, evenly, without waiting for
 * any.  The caller holds the account row.
 */
static void
spread_main(LockContext *lc, AccountInfo *info, ChainHead *main_head)
{
	int32		n = info->shards;
	ChainHead  *subs = palloc(sizeof(ChainHead) * n);
	ChainHead **heads = palloc(sizeof(ChainHead *) * (n + 1));
	int32		got = 0;
	int64		b = main_head->balance;
	InternalMove m;

	if (b <= 0)
		return;
	for (int32 i = 0; i < n; i++)
		if (cl_lock_sub(lc, info, i + 1, LockWaitSkip, &subs[got]) == LOCK_OK)
			got++;
	if (got == 0)
		return;
	move_begin(&m, "spread", "buffer spread to sub-accounts", info->account_id);
	for (int32 i = 0; i < got; i++)
	{
		move_amount(&m, main_head, &subs[i], b / got + (i < b % got ? 1 : 0));
		heads[i] = &subs[i];
	}
	heads[got] = main_head;
	move_end(&m, heads, got + 1);
}

/*
 * hot_flush_account: see hot.h.  Buffered postings always reach the main
 * chain (so a flush never waits for a sub-account); for a buffered_split
 * account they are then spread to the sub-accounts that are free, and the
 * slow path of a decrease or the sweep picks up the rest.
 */
int64
hot_flush_account(int64 account_id, int64 limit, bool skip_locked)
{
	LockContext lc;
	AccountInfo info;
	ChainHead	main_head;
	LockOutcome r;
	int64		applied = -1;

	cl_spi_connect();
	lock_context_open(&lc);
	r = cl_lock_main(&lc, account_id, skip_locked ? LockWaitSkip : LockWaitBlock,
					 LockTupleNoKeyExclusive, &info, &main_head);
	if (r == LOCK_NOT_FOUND)
		cl_raise_account_missing(account_id);
	if (r == LOCK_OK)
	{
		applied = hot_apply_buffer(&lc, &info, &main_head, limit);
		if (HOT_MODE_IS_SPLIT(info.hot_mode))
			spread_main(&lc, &info, &main_head);
	}
	lock_context_close(&lc);
	cl_spi_finish();
	return applied;
}

/*
 * hot_flush_all: flush every account's committed buffer; returns how many
 * postings were applied.
 */
int64
hot_flush_all(void)
{
	int			n;
	int64	   *ids = hot_accounts_with_buffer(&n);
	int64		total = 0;

	for (int i = 0; i < n; i++)
		total += hot_flush_account(ids[i], 0, false);
	return total;
}

/*
 * sweep_balanced: nothing for a sweep to even out among these n chain
 * heads (total: their sum): the main chain holds nothing to hand out
 * (main_balance <= 0) and either they hold nothing or the spread between
 * the fullest and the emptiest is within half their mean.
 */
static bool
sweep_balanced(int64 main_balance, const ChainHead *subs, int32 n, int64 total)
{
	int64		lo = subs[0].balance,
				hi = subs[0].balance;

	for (int32 i = 1; i < n; i++)
	{
		lo = Min(lo, subs[i].balance);
		hi = Max(hi, subs[i].balance);
	}
	return main_balance <= 0 && (total <= 0 || hi - lo <= Max(1, total / n / 2));
}

/*
 * hot_sweep_account: see hot.h.  The sweep takes the sub-accounts nobody
 * holds (SKIP LOCKED, never waiting while it holds the account row); they
 * have drifted when the spread between the fullest and the emptiest is more
 * than half their mean.  It then moves what the main chain holds and the
 * surplus of those above the mean to those below it.
 *
 * An idle, evened account costs no write at all: the committed balances are
 * first read without locks, and when they give nothing to even out the sweep
 * ends there (a row lock alone writes WAL and dirties the pages of the
 * account and of every sub-account).  Under the locks the check is made
 * again on what was locked, as before.
 */
int64
hot_sweep_account(int64 account_id)
{
	LockContext lc;
	AccountInfo info;
	ChainHead	main_head;
	ChainHead  *subs;
	ChainHead  *avail;
	ChainHead **heads;
	int64		total;
	int64		moves = 0;
	int32		n = 0,
				d = 0,
				r = 0;
	InternalMove m;

	cl_spi_connect();
	lock_context_open(&lc);

	/* unlocked look at the committed balances: nothing to do, nothing written */
	if (!cl_read_account(&lc, account_id, &info) ||
		!info.open || !HOT_MODE_IS_SPLIT(info.hot_mode) || info.shards < 2)
		goto done;
	subs = palloc0(sizeof(ChainHead) * info.shards);
	{
		int64	   *avail = palloc(sizeof(int64) * info.shards);

		cl_read_sub_balances(&lc, account_id, info.shards, avail);
		for (int32 i = 0; i < info.shards; i++)
			subs[i].balance = avail[i];
		pfree(avail);
	}
	if (sweep_balanced(info.balance, subs, info.shards,
					   sum_heads(subs, info.shards, account_id)))
		goto done;
	pfree(subs);

	if (cl_lock_main(&lc, account_id, LockWaitSkip, LockTupleNoKeyExclusive, &info,
					 &main_head) != LOCK_OK ||
		!info.open || !HOT_MODE_IS_SPLIT(info.hot_mode) || info.shards < 2)
		goto done;
	subs = palloc(sizeof(ChainHead) * info.shards);
	avail = palloc(sizeof(ChainHead) * info.shards);
	for (int32 i = 0; i < info.shards; i++)
		if (cl_lock_sub(&lc, &info, i + 1, LockWaitSkip, &subs[n]) == LOCK_OK)
			n++;
	if (n < 2)
		goto done;
	/* only what is available (not held) is evened out */
	for (int32 i = 0; i < n; i++)
	{
		avail[i] = subs[i];
		avail[i].balance = cl_available(&subs[i]);
	}
	total = sum_heads(avail, n, account_id);
	if (sweep_balanced(cl_available(&main_head), avail, n, total))
		goto done;
	if (cl_available(&main_head) > 0)
		total += cl_available(&main_head);

	/* target of sub-account i: total / n, the remainder to the first ones */
#define SWEEP_TARGET(i) (total / n + ((i) < total % n ? 1 : 0))
	move_begin(&m, "sweep", "sub-account sweep", account_id);
	for (int32 i = 0; i < n && cl_available(&main_head) > 0; i++)
		if (cl_available(&subs[i]) < SWEEP_TARGET(i))
		{
			move_amount(&m, &main_head, &subs[i],
						Min(cl_available(&main_head), SWEEP_TARGET(i) - cl_available(&subs[i])));
			moves++;
		}
	while (d < n && r < n)
	{
		int64		surplus,
					deficit;

		if ((surplus = cl_available(&subs[d]) - SWEEP_TARGET(d)) <= 0)
		{
			d++;
			continue;
		}
		if ((deficit = SWEEP_TARGET(r) - cl_available(&subs[r])) <= 0)
		{
			r++;
			continue;
		}
		move_amount(&m, &subs[d], &subs[r], Min(surplus, deficit));
		moves++;
	}
#undef SWEEP_TARGET
	heads = palloc(sizeof(ChainHead *) * (n + 1));
	for (int32 i = 0; i < n; i++)
		heads[i] = &subs[i];
	heads[n] = &main_head;
	move_end(&m, heads, n + 1);
	if (moves > 0)
		cl_stat_hot_sweep(account_id);
done:
	lock_context_close(&lc);
	cl_spi_finish();
	return moves;
}
