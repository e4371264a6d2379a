/*
 * posting.c: the posting engine shared by transfer, post_entry and reverse.
 *
 * Given the legs of a transfer whose ledger_transfers row the caller has
 * already inserted (so the voucher is claimed), post_legs:
 *   1. locks every account the legs touch in ascending id order
 *      (locking.c; LD003 for an unknown or closed account),
 *   2. checks currencies (LD009 for a transfer, LD010 for an entry that
 *      does not balance per currency),
 *   3. computes every new balance with overflow checks (22003) and checks
 *      each account's final balance against its floor (LD001),
 *   4. appends one chained journal entry per leg, in leg order, and
 *   5. updates each account's balance, version and last hash
 * (4 and 5 with direct heap writes, see heapwrite.c).
 * Nothing is written before every check has passed; an error in between
 * aborts the caller's (sub)transaction, so a failed call leaves nothing.
 * Must be called inside SPI.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "common/int.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "errcodes.h"
#include "heapwrite.h"
#include "journal.h"
#include "locking.h"
#include "posting.h"
#include "spi_plans.h"

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
 * check_currencies: LD009 when a transfer joins two currencies; LD010 when an
 * entry's debits and credits differ within any currency.
 */
static void
check_currencies(PostingKind kind, const PostingLeg *legs, int nlegs,
				 LockedAccount *accts, int naccts)
{
	if (kind == POSTING_TRANSFER)
	{
		LockedAccount *d = cl_find_locked(accts, naccts, legs[0].account_id);
		LockedAccount *c = cl_find_locked(accts, naccts, legs[1].account_id);

		if (strcmp(d->currency, c->currency) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_CL_CURRENCY_MISMATCH),
					 errmsg("accounts " INT64_FORMAT " and " INT64_FORMAT " have different currencies",
							d->account_id, c->account_id),
					 errdetail("Account " INT64_FORMAT " is in %s, account " INT64_FORMAT " in %s.",
							   d->account_id, d->currency, c->account_id, c->currency)));
		return;
	}

	/*
	 * Per currency, sum debits minus credits.  Amounts are positive bigints
	 * and there are at most 1000 legs, so an int128-free check is: track the
	 * net in int64 with overflow detection.
	 */
	for (int i = 0; i < nlegs; i++)
	{
		const char *cur = cl_find_locked(accts, naccts, legs[i].account_id)->currency;
		int64		net = 0;
		bool		seen_before = false;

		for (int k = 0; k < i && !seen_before; k++)
			seen_before = strcmp(cl_find_locked(accts, naccts, legs[k].account_id)->currency,
								 cur) == 0;
		if (seen_before)
			continue;
		for (int j = i; j < nlegs; j++)
		{
			if (strcmp(cl_find_locked(accts, naccts, legs[j].account_id)->currency, cur) != 0)
				continue;
			if (pg_add_s64_overflow(net, legs[j].side == 'D' ? legs[j].amount : -legs[j].amount,
									&net))
				ereport(ERROR,
						(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
						 errmsg("entry total in %s is out of range for type bigint", cur)));
		}
		if (net != 0)
			ereport(ERROR,
					(errcode(ERRCODE_CL_UNBALANCED_ENTRY),
					 errmsg("entry does not balance in %s", cur),
					 net > 0 ?
					 errdetail("Debits exceed credits in %s by " INT64_FORMAT ".", cur, net) :
					 errdetail("Credits exceed debits in %s by " UINT64_FORMAT ".", cur,
							   (uint64) 0 - (uint64) net)));
	}
}

/*
 * apply_deltas: compute every account's final balance (22003 on overflow)
 * and check it against the account's floor (LD001).
 */
static void
apply_deltas(const PostingLeg *legs, int nlegs, LockedAccount *accts, int naccts)
{
	for (int i = 0; i < nlegs; i++)
	{
		LockedAccount *a = cl_find_locked(accts, naccts, legs[i].account_id);
		int64		delta = cl_balance_delta(a->normal_credit, legs[i].side, legs[i].amount);

		if (pg_add_s64_overflow(a->new_balance, delta, &a->new_balance))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("balance of account " INT64_FORMAT " would be out of range for type bigint",
							a->account_id)));
	}
	for (int i = 0; i < naccts; i++)
	{
		LockedAccount *a = &accts[i];

		if (a->has_floor && a->new_balance < a->min_balance && a->new_balance < a->balance)
			ereport(ERROR,
					(errcode(ERRCODE_CL_INSUFFICIENT_FUNDS),
					 errmsg("insufficient funds in account " INT64_FORMAT, a->account_id),
					 errdetail("The balance is " INT64_FORMAT "; the posting would leave " INT64_FORMAT
							   ", below the minimum balance of " INT64_FORMAT ".",
							   a->balance, a->new_balance, a->min_balance)));
	}
}

/*
 * write_entries: append one chained journal entry per leg and move each
 * account's head (balance, version, last hash) forward, with direct heap
 * writes (heapwrite.c).
 */
static void
write_entries(int64 transfer_id, const char *voucher, PostingKind kind,
			  const PostingLeg *legs, int nlegs, LockedAccount *accts, int naccts)
{
	pg_cryptohash_ctx *ctx = cl_hash_ctx_create();
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	Oid			entry_seq = cl_relation_oid("entry_id_seq");
	DirectTable journal;
	DirectTable accounts;
	int			natts;
	Datum	   *values;
	bool	   *nulls;
	int			attnum[EC_COUNT];
	int			head_attnums[3];
	JournalEntry e;

	direct_open(&journal, "journal_entries");
	natts = RelationGetDescr(journal.rel)->natts;
	values = palloc0(sizeof(Datum) * natts);
	nulls = palloc(sizeof(bool) * natts);
	memset(nulls, true, sizeof(bool) * natts);	/* columns we do not know stay NULL */
	for (int c = 0; c < EC_COUNT; c++)
	{
		attnum[c] = direct_attnum(&journal, entry_columns[c]) - 1;
		nulls[attnum[c]] = false;
	}

	e.transfer_id = transfer_id;
	e.voucher = voucher;
	e.voucher_len = strlen(voucher);
	e.sub_account = 0;
	e.is_reversal = (kind == POSTING_REVERSAL);
	e.accepted_at = now;
	e.posted_at = now;

	values[attnum[EC_TRANSFER_ID]] = Int64GetDatum(transfer_id);
	values[attnum[EC_VOUCHER]] = CStringGetTextDatum(voucher);
	values[attnum[EC_SUB_ACCOUNT]] = Int32GetDatum(0);
	values[attnum[EC_IS_REVERSAL]] = BoolGetDatum(e.is_reversal);
	values[attnum[EC_ACCEPTED_AT]] = TimestampTzGetDatum(now);
	values[attnum[EC_POSTED_AT]] = TimestampTzGetDatum(now);

	for (int i = 0; i < nlegs; i++)
	{
		LockedAccount *a = cl_find_locked(accts, naccts, legs[i].account_id);
		uint8		hash[CL_HASH_LEN];

		e.account_id = a->account_id;
		e.version = a->version + 1;
		e.side = legs[i].side;
		e.amount = legs[i].amount;
		e.balance_before = a->balance;
		e.balance_after = a->balance + cl_balance_delta(a->normal_credit, e.side, e.amount);
		journal_entry_hash(ctx, a->last_hash, &e, hash);

		values[attnum[EC_ENTRY_ID]] = Int64GetDatum(nextval_internal(entry_seq, false));
		values[attnum[EC_ACCOUNT_ID]] = Int64GetDatum(e.account_id);
		values[attnum[EC_VERSION]] = Int64GetDatum(e.version);
		values[attnum[EC_SIDE]] = CharGetDatum(e.side);
		values[attnum[EC_AMOUNT]] = Int64GetDatum(e.amount);
		values[attnum[EC_BALANCE_BEFORE]] = Int64GetDatum(e.balance_before);
		values[attnum[EC_BALANCE_AFTER]] = Int64GetDatum(e.balance_after);
		values[attnum[EC_PREV_HASH]] = hash_datum(a->last_hash);
		values[attnum[EC_HASH]] = hash_datum(hash);
		(void) direct_insert(&journal, values, nulls);

		a->version = e.version;
		a->balance = e.balance_after;
		memcpy(a->last_hash, hash, CL_HASH_LEN);
	}
	pg_cryptohash_free(ctx);
	direct_close(&journal);

	direct_open(&accounts, "ledger_accounts");
	head_attnums[0] = direct_attnum(&accounts, "balance");
	head_attnums[1] = direct_attnum(&accounts, "version");
	head_attnums[2] = direct_attnum(&accounts, "last_hash");
	for (int i = 0; i < naccts; i++)
	{
		Datum		head[3];

		Assert(accts[i].balance == accts[i].new_balance);
		head[0] = Int64GetDatum(accts[i].balance);
		head[1] = Int64GetDatum(accts[i].version);
		head[2] = hash_datum(accts[i].last_hash);
		direct_update_columns(&accounts, &accts[i].tid, 3, head_attnums, head);
	}
	direct_close(&accounts);
}

/*
 * post_legs: lock, check and post the legs of transfer transfer_id (see the
 * file header for the steps).
 */
void
post_legs(int64 transfer_id, const char *voucher, PostingKind kind,
		  const PostingLeg *legs, int nlegs)
{
	int64	   *ids = palloc(sizeof(int64) * nlegs);
	int			nids;
	int			naccts;
	LockedAccount *accts;

	for (int i = 0; i < nlegs; i++)
		ids[i] = legs[i].account_id;
	nids = cl_sort_unique_ids(ids, nlegs);

	accts = cl_lock_account_rows(ids, nids, &naccts);
	check_currencies(kind, legs, nlegs, accts, naccts);
	apply_deltas(legs, nlegs, accts, naccts);
	write_entries(transfer_id, voucher, kind, legs, nlegs, accts, naccts);
}
