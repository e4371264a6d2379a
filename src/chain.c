/*
 * chain.c: chained append, one implementation for every chain kind, and
 * the money chain heads.
 *
 * A chain kind (ChainKind) names its journal table, its entry id sequence,
 * the columns a row sets and two callbacks: its encoder (the canonical
 * encoding hashed after the previous hash: CLJ1 money entries, journal.c;
 * CLC1 credit entries, credit.c; CLH1 hold entries, holds.c) and its row
 * filler.  chain_writer_append()
 * hashes the entry, draws its id and appends the row straight into the heap
 * with its index entries (heapwrite.c); the caller holds the chain's lock
 * and moves the head.
 *
 * Every money journal entry goes through journal_append(): it takes the chain
 * head (balance, version, last hash) of its (account, sub-account), computes
 * the next version, balances and hash (journal.c), appends the row straight
 * into the heap (heapwrite.c) and moves the head forward in memory;
 * chain_heads_write() then writes the moved heads back to ledger_accounts
 * (sub-account 0) or sub_accounts (1..N), together with the head of the
 * chain's hold chain (held, hold_version, hold_hash), which holds.c moves
 * the same way.
 *
 * post_batch appends through journal_bulk_*: the same entries, chained
 * the same way one by one in memory, inserted together by one heap
 * multi-insert (heapwrite.c) when the batch's segment is written.
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
 * cl_side_for: the side ('D' or 'C') that increases (or decreases) the
 * balance of an account with this normal side.
 */
char
cl_side_for(bool normal_credit, bool increase)
{
	return (normal_credit == increase) ? 'C' : 'D';
}

/*
 * chain_writer_open: open a kind's journal for appending.
 */
void
chain_writer_open(ChainWriter *w, const ChainKind *kind)
{
	const AttrNumber *att;

	Assert(kind->ncolumns <= CL_MAX_MAPPED_COLUMNS);
	w->kind = kind;
	direct_open(&w->table, kind->table);
	w->natts = RelationGetDescr(w->table.rel)->natts;
	w->values = palloc0(sizeof(Datum) * w->natts);
	w->nulls = palloc(sizeof(bool) * w->natts);
	att = cl_column_map(&kind->cache->map, w->table.rel, kind->columns, kind->ncolumns);
	for (int c = 0; c < kind->ncolumns; c++)
		w->att[c] = att[c] - 1;
	/* the sequence belongs to the same incarnation of the table */
	if (kind->cache->seq_relid != RelationGetRelid(w->table.rel))
	{
		kind->cache->seq = cl_relation_oid(kind->sequence);
		kind->cache->seq_relid = RelationGetRelid(w->table.rel);
	}
	w->seq = kind->cache->seq;
	w->ctx = cl_hash_ctx_create();
}

/*
 * chain_writer_append: append one entry after prev_hash (the caller holds
 * the chain's lock and moves its head); its hash is left in out.
 */
void
chain_writer_append(ChainWriter *w, const uint8 *prev_hash, const void *entry, uint8 *out)
{
	const ChainKind *k = w->kind;
	Datum		col[CL_MAX_MAPPED_COLUMNS];
	bool		isnull[CL_MAX_MAPPED_COLUMNS];

	k->encode(w->ctx, prev_hash, entry, out);
	memset(isnull, false, sizeof(isnull));
	k->fill(entry, prev_hash, out, col, isnull);
	col[0] = Int64GetDatum(nextval_internal(w->seq, false));
	memset(w->nulls, true, sizeof(bool) * w->natts);	/* unknown columns stay NULL */
	for (int c = 0; c < k->ncolumns; c++)
	{
		w->values[w->att[c]] = col[c];
		w->nulls[w->att[c]] = isnull[c];
	}
	(void) direct_insert(&w->table, w->values, w->nulls);
}

/*
 * chain_writer_close: close the journal and make the rows visible.
 */
void
chain_writer_close(ChainWriter *w)
{
	pg_cryptohash_free(w->ctx);
	direct_close(&w->table);
}

/* The money kind: journal_entries, CLJ1 (journal.c). */
static void
money_encode(pg_cryptohash_ctx *ctx, const uint8 *prev_hash, const void *entry, uint8 *out)
{
	journal_entry_hash(ctx, prev_hash, (const JournalEntry *) entry, out);
}

static void
money_fill(const void *entry, const uint8 *prev_hash, const uint8 *hash, Datum *v, bool *isnull)
{
	const JournalEntry *e = entry;

	v[EC_TRANSFER_ID] = Int64GetDatum(e->transfer_id);
	v[EC_VOUCHER] = CStringGetTextDatum(e->voucher);
	v[EC_ACCOUNT_ID] = Int64GetDatum(e->account_id);
	v[EC_SUB_ACCOUNT] = Int32GetDatum(e->sub_account);
	v[EC_VERSION] = Int64GetDatum(e->version);
	v[EC_SIDE] = CharGetDatum(e->side);
	v[EC_AMOUNT] = Int64GetDatum(e->amount);
	v[EC_BALANCE_BEFORE] = Int64GetDatum(e->balance_before);
	v[EC_BALANCE_AFTER] = Int64GetDatum(e->balance_after);
	v[EC_IS_REVERSAL] = BoolGetDatum(e->is_reversal);
	v[EC_PREV_HASH] = cl_hash_datum(prev_hash);
	v[EC_HASH] = cl_hash_datum(hash);
	v[EC_ACCEPTED_AT] = TimestampTzGetDatum(e->accepted_at);
	v[EC_POSTED_AT] = TimestampTzGetDatum(e->posted_at);
}

static ChainKindCache money_cache;
static const ChainKind money_kind = {
	"journal_entries", "entry_id_seq", entry_columns, EC_COUNT, &money_cache,
	money_encode, money_fill
};

/*
 * journal_writer_open: open journal_entries for appending.
 */
void
journal_writer_open(JournalWriter *w)
{
	chain_writer_open(&w->cw, &money_kind);
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
	chain_writer_append(&w->cw, head->last_hash, &e, hash);

	head->version = e.version;
	head->balance = e.balance_after;
	memcpy(head->last_hash, hash, CL_HASH_LEN);
	head->dirty = true;
}

/*
 * journal_bulk_open: open journal_entries for a batch of appends that go
 * into the heap together (journal_bulk_close), for post_batch (batch.c).
 */
void
journal_bulk_open(JournalBulk *b)
{
	chain_writer_open(&b->cw, &money_kind);
	b->n = 0;
	b->cap = 64;
	b->rows = palloc(sizeof(HeapTuple) * b->cap);
}

/*
 * journal_bulk_append: journal_append, except that the row is kept for
 * journal_bulk_close instead of being inserted now: the next entry of
 * head's chain (version, balances, hash after head's last hash, entry id
 * drawn from the sequence now, so ids follow the order of the calls) and
 * the head moved in memory.  The caller holds the chain's row lock and has
 * checked the amount against the floor and for overflow.
 */
void
journal_bulk_append(JournalBulk *b, ChainHead *head, int64 transfer_id,
					const char *voucher, char side, int64 amount, bool is_reversal,
					TimestampTz accepted_at, TimestampTz posted_at)
{
	ChainWriter *w = &b->cw;
	const ChainKind *k = w->kind;
	JournalEntry e;
	uint8		hash[CL_HASH_LEN];
	Datum		col[CL_MAX_MAPPED_COLUMNS];
	bool		isnull[CL_MAX_MAPPED_COLUMNS];

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

	k->encode(w->ctx, head->last_hash, &e, hash);
	memset(isnull, false, sizeof(isnull));
	k->fill(&e, head->last_hash, hash, col, isnull);
	col[0] = Int64GetDatum(nextval_internal(w->seq, false));
	memset(w->nulls, true, sizeof(bool) * w->natts);
	for (int c = 0; c < k->ncolumns; c++)
	{
		w->values[w->att[c]] = col[c];
		w->nulls[w->att[c]] = isnull[c];
	}
	if (b->n == b->cap)
	{
		b->cap *= 2;
		b->rows = repalloc_huge(b->rows, sizeof(HeapTuple) * b->cap);
	}
	b->rows[b->n++] = heap_form_tuple(RelationGetDescr(w->table.rel), w->values, w->nulls);

	head->version = e.version;
	head->balance = e.balance_after;
	memcpy(head->last_hash, hash, CL_HASH_LEN);
	head->dirty = true;
}

/*
 * journal_bulk_close: insert the kept rows (direct_multi_insert: one heap
 * multi-insert, each row's index entries with their unique checks), close
 * the journal and make the rows visible.
 */
void
journal_bulk_close(JournalBulk *b)
{
	direct_multi_insert(&b->cw.table, b->rows, b->n, NULL, 0);
	pfree(b->rows);
	b->rows = NULL;
	b->n = 0;
	chain_writer_close(&b->cw);
}

/*
 * journal_writer_close: close the journal and make the rows visible.
 */
void
journal_writer_close(JournalWriter *w)
{
	chain_writer_close(&w->cw);
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
		vals[2] = cl_hash_datum(h->last_hash);
		vals[3] = Int64GetDatum(h->held);
		vals[4] = Int64GetDatum(h->hold_version);
		vals[5] = cl_hash_datum(h->hold_hash);
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
