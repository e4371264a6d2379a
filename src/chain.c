/*
 * chain.c: chain heads and the journal writer.
 *
 * Every journal entry goes through journal_append(): it takes the chain
 * head (balance, version, last hash) of its (account, sub-account), computes
 * the next version, balances and hash (journal.c), appends the row straight
 * into the heap (heapwrite.c) and moves the head forward in memory;
 * chain_heads_write() then writes the moved heads back to ledger_accounts
 * (sub-account 0) or sub_accounts (1..N), together with the head of the
 * chain's hold chain (held, hold_version, hold_hash), which holds.c moves
 * the same way.
 *
 * Locking: the caller holds the row lock of every head it passes (taken in
 * ascending (account, sub-account) order by locking.c), so no other
 * transaction can move the same chain concurrently.  Each head written back
 * is remembered in rowcache.c, so the transaction's next posting on that
 * chain reads the new version directly (locking.c) instead of searching the
 * primary key past every version the transaction left behind.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "common/int.h"
#include "utils/builtins.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "chain.h"
#include "rowcache.h"

/* The journal_entries columns a posting writes, by name. */
static const char *const entry_columns[] = {
	"entry_id", "transfer_id", "voucher", "account_id", "sub_account", "version",
	"side", "amount", "balance_before", "balance_after", "is_reversal",
	"prev_hash", "hash", "accepted_at", "posted_at"
};
enum
{
	EC_ENTRY_ID, EC_TRANSFER_ID, EC_VOUCHER, EC_ACCOUNT_ID, EC_SUB_ACCOUNT, EC_VERSION,
	EC_SIDE, EC_AMOUNT, EC_BALANCE_BEFORE, EC_BALANCE_AFTER, EC_IS_REVERSAL,
	EC_PREV_HASH, EC_HASH, EC_ACCEPTED_AT, EC_POSTED_AT, EC_COUNT
};

StaticAssertDecl(lengthof(entry_columns) == EC_COUNT, "entry_columns and EC_* differ");

/*
 * hash_datum: a bytea Datum holding a hash.
 */
static Datum
hash_datum(const uint8 *hash)
{
	bytea	   *b = palloc(VARHDRSZ + CL_HASH_LEN);

	SET_VARSIZE(b, VARHDRSZ + CL_HASH_LEN);
	memcpy(VARDATA(b), hash, CL_HASH_LEN);
	return PointerGetDatum(b);
}

/*
 * cl_side_for: the side ('D' or 'C') that increases (or decreases) the
 * balance of an account with this normal side.
 */
char
cl_side_for(bool normal_credit, bool increase)
{
	return (normal_credit == increase) ? 'C' : 'D';
}

/*
 * journal_writer_open: open journal_entries for appending.
 */
void
journal_writer_open(JournalWriter *w)
{
	static ColumnMap columns;
	static Oid	seq_relid = InvalidOid;
	static Oid	seq = InvalidOid;
	const AttrNumber *att;

	StaticAssertStmt(lengthof(w->attnum) == EC_COUNT, "attnum size");

	direct_open(&w->journal, "journal_entries");
	w->natts = RelationGetDescr(w->journal.rel)->natts;
	w->values = palloc0(sizeof(Datum) * w->natts);
	w->nulls = palloc(sizeof(bool) * w->natts);
	memset(w->nulls, true, sizeof(bool) * w->natts);	/* unknown columns stay NULL */
	att = cl_column_map(&columns, w->journal.rel, entry_columns, EC_COUNT);
	for (int c = 0; c < EC_COUNT; c++)
	{
		w->attnum[c] = att[c] - 1;
		w->nulls[w->attnum[c]] = false;
	}
	/* the sequence belongs to the same incarnation of the table */
	if (seq_relid != RelationGetRelid(w->journal.rel))
	{
		seq = cl_relation_oid("entry_id_seq");
		seq_relid = RelationGetRelid(w->journal.rel);
	}
	w->entry_seq = seq;
	w->ctx = cl_hash_ctx_create();
}

/*
 * journal_append: append the next entry of head's chain and move the head.
 * The caller has checked the amount against the floor and for overflow.
 */
void
journal_append(JournalWriter *w, ChainHead *head, int64 transfer_id,
			   const char *voucher, char side, int64 amount, bool is_reversal,
			   TimestampTz accepted_at, TimestampTz posted_at)
{
	JournalEntry e;
	uint8		hash[CL_HASH_LEN];
	Datum	   *v = w->values;

	e.account_id = head->account_id;
	e.sub_account = head->sub_account;
	e.version = head->version + 1;
	e.transfer_id = transfer_id;
	e.side = side;
	e.amount = amount;
	e.balance_before = head->balance;
	e.balance_after = head->balance + cl_balance_delta(head->normal_credit, side, amount);
	e.is_reversal = is_reversal;
	e.accepted_at = accepted_at;
	e.posted_at = posted_at;
	e.voucher = voucher;
	e.voucher_len = strlen(voucher);
	journal_entry_hash(w->ctx, head->last_hash, &e, hash);

	v[w->attnum[EC_ENTRY_ID]] = Int64GetDatum(nextval_internal(w->entry_seq, false));
	v[w->attnum[EC_TRANSFER_ID]] = Int64GetDatum(transfer_id);
	v[w->attnum[EC_VOUCHER]] = CStringGetTextDatum(voucher);
	v[w->attnum[EC_ACCOUNT_ID]] = Int64GetDatum(e.account_id);
	v[w->attnum[EC_SUB_ACCOUNT]] = Int32GetDatum(e.sub_account);
	v[w->attnum[EC_VERSION]] = Int64GetDatum(e.version);
	v[w->attnum[EC_SIDE]] = CharGetDatum(side);
	v[w->attnum[EC_AMOUNT]] = Int64GetDatum(amount);
	v[w->attnum[EC_BALANCE_BEFORE]] = Int64GetDatum(e.balance_before);
	v[w->attnum[EC_BALANCE_AFTER]] = Int64GetDatum(e.balance_after);
	v[w->attnum[EC_IS_REVERSAL]] = BoolGetDatum(is_reversal);
	v[w->attnum[EC_PREV_HASH]] = hash_datum(head->last_hash);
	v[w->attnum[EC_HASH]] = hash_datum(hash);
	v[w->attnum[EC_ACCEPTED_AT]] = TimestampTzGetDatum(accepted_at);
	v[w->attnum[EC_POSTED_AT]] = TimestampTzGetDatum(posted_at);
	(void) direct_insert(&w->journal, v, w->nulls);

	head->version = e.version;
	head->balance = e.balance_after;
	memcpy(head->last_hash, hash, CL_HASH_LEN);
	head->dirty = true;
}

/*
 * journal_writer_close: close the journal and make the rows visible.
 */
void
journal_writer_close(JournalWriter *w)
{
	pg_cryptohash_free(w->ctx);
	direct_close(&w->journal);
}

/*
 * write_heads_of: write back the dirty heads that live in one table.
 */
static void
write_heads_of(const char *relname, bool subs, ChainHead **heads, int n)
{
	static const char *const head_columns[] = {
		"balance", "version", "last_hash", "held", "hold_version", "hold_hash"
	};
	static ColumnMap account_map;
	static ColumnMap sub_map;
	DirectTable t;
	int			att[6];
	int			ncols = 6;
	bool		opened = false;

	for (int i = 0; i < n; i++)
	{
		ChainHead  *h = heads[i];
		Datum		vals[6];

		if (!h->dirty || (h->sub_account != 0) != subs)
			continue;
		if (!opened)
		{
			const AttrNumber *a;

			direct_open(&t, relname);
			/* no hold columns before release 0.3.0: write the balance head only */
			a = cl_column_map_optional(subs ? &sub_map : &account_map, t.rel, head_columns, 6, 3);
			for (int c = 0; c < 6; c++)
				att[c] = a[c];
			if (att[3] == InvalidAttrNumber || att[4] == InvalidAttrNumber ||
				att[5] == InvalidAttrNumber)
				ncols = 3;
			opened = true;
		}
		vals[0] = Int64GetDatum(h->balance);
		vals[1] = Int64GetDatum(h->version);
		vals[2] = hash_datum(h->last_hash);
		vals[3] = Int64GetDatum(h->held);
		vals[4] = Int64GetDatum(h->hold_version);
		vals[5] = hash_datum(h->hold_hash);
		h->tid = direct_update_columns(&t, &h->tid, ncols, att, vals);
		h->dirty = false;
		/* the next posting of this chain in the transaction finds it here */
		cl_rowcache_remember(RelationGetRelid(t.rel), h->account_id, h->sub_account, &h->tid);
	}
	if (opened)
		direct_close(&t);
}

/*
 * chain_heads_write: write every moved head back to its row (and point the
 * head at the new row version, which stays locked by this transaction).
 */
void
chain_heads_write(ChainHead **heads, int n)
{
	write_heads_of("ledger_accounts", false, heads, n);
	write_heads_of("sub_accounts", true, heads, n);
}

/*
 * cl_available: a chain's available balance, balance - held (22003 if that
 * is out of range).
 */
int64
cl_available(const ChainHead *head)
{
	int64		avail;

	if (pg_sub_s64_overflow(head->balance, head->held, &avail))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("available balance of account " INT64_FORMAT " is out of range for type bigint",
						head->account_id)));
	return avail;
}
