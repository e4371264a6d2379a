/*
 * verify.c: verify_chain(), the check of the chained journal.
 *
 * For NULL (every chain, money and credit) the work is verify_scan.c's:
 * one pass per journal in entry_id order.  For one account, two SPI
 * cursors are read in step, both in key order: the account's head rows
 * (account, then sub-accounts) and its journal entries by (sub_account,
 * version), through the (account_id, sub_account, version) index.  For
 * every chain it checks that versions run 1, 2, 3 ... without gaps, that
 * prev_hash is the previous entry's hash (32 zero bytes first), that
 * balance_before is the previous balance_after (0 first), that
 * balance_after follows from the side and amount, and that the stored hash
 * is the recomputed one; at the end of a chain, that the head row's
 * balance, version and last hash are the chain head's.  Every problem is
 * one result row (credit chains: account_id NULL, line_id set); a chain
 * keeps being checked after a problem, from the entry as stored.
 * Reads only, with the caller's snapshot; takes no locks beyond
 * AccessShareLock.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "verify_scan.h"
#include "errcodes.h"
#include "opstats.h"
#include "journal.h"
#include "spi_plans.h"

CL_TRACKED_FUNCTION(cl_verify_chain, CL_OP_VERIFY_CHAIN, verify_chain_impl)

#define VERIFY_BATCH 2000

/* chain heads: account rows (sub-account 0) and sub-account rows, in key order */
#define HEAD_COLUMNS(where_a, where_s) \
	"SELECT account_id, 0 AS sub_account, normal_side = 'credit', balance, version, last_hash" \
	"  FROM creditledger.ledger_accounts" where_a \
	" UNION ALL " \
	"SELECT s.account_id, s.sub_account, a.normal_side = 'credit', s.balance, s.version, s.last_hash" \
	"  FROM creditledger.sub_accounts s JOIN creditledger.ledger_accounts a USING (account_id)" \
	where_s \
	" ORDER BY 1, 2"
static ClPlan one_account_plan = {
	HEAD_COLUMNS(" WHERE account_id = $1", " WHERE s.account_id = $1"),
	1, {INT8OID}
};
#define JOURNAL_COLUMNS \
	"SELECT account_id, sub_account, version, transfer_id, side, amount," \
	"       balance_before, balance_after, is_reversal, prev_hash, hash," \
	"       accepted_at, posted_at, voucher" \
	"  FROM creditledger.journal_entries"
static ClPlan one_journal_plan = {
	JOURNAL_COLUMNS " WHERE account_id = $1 ORDER BY account_id, sub_account, version",
	1, {INT8OID}
};

/* A cursor read one batch at a time. */
typedef struct Stream
{
	Portal		portal;
	SPITupleTable *batch;
	uint64		pos;
	bool		done;
} Stream;

/* The head row (account or sub-account) a chain is compared with. */
typedef struct AccountHead
{
	int64		account_id;
	int32		sub_account;
	bool		normal_credit;
	int64		balance;
	int64		version;
	uint8		last_hash[CL_HASH_LEN];
	bool		main_chain_seen;
} AccountHead;

/* Where the chain being read stands. */
typedef struct ChainState
{
	bool		active;
	int64		account_id;
	int32		sub_account;
	int64		version;
	int64		balance_after;
	uint8		hash[CL_HASH_LEN];
} ChainState;

typedef struct Verifier
{
	Tuplestorestate *out;
	TupleDesc	desc;
	pg_cryptohash_ctx *ctx;
	Stream		accounts;
	Stream		journal;
	AccountHead acct;			/* current head row; account_id 0 = none */
	ChainState	chain;
} Verifier;

/*
 * stream_open: open a cursor on plan p (with an optional account argument).
 */
static void
stream_open(Stream *s, ClPlan *p, Datum *arg)
{
	s->portal = SPI_cursor_open(NULL, cl_plan(p), arg, NULL, true);
	s->batch = NULL;
	s->pos = 0;
	s->done = false;
}

/*
 * stream_next: the next row of s, or NULL at the end.
 */
static HeapTuple
stream_next(Stream *s)
{
	if (s->done)
		return NULL;
	if (s->batch == NULL || s->pos >= s->batch->numvals)
	{
		if (s->batch)
			SPI_freetuptable(s->batch);
		SPI_cursor_fetch(s->portal, true, VERIFY_BATCH);
		s->batch = SPI_tuptable;
		s->pos = 0;
		if (SPI_processed == 0)
		{
			s->done = true;
			return NULL;
		}
	}
	return s->batch->vals[s->pos++];
}

/*
 * emit_row: one problem row; a money chain's (line_id 0: line_id NULL) or a
 * credit chain's (account_id NULL, sub_account = the slice).
 */
static void
emit_row(Verifier *v, int64 account_id, int32 sub_account, int64 version, bool has_version,
		 int64 line_id, const char *text)
{
	Datum		values[5];
	bool		nulls[5] = {line_id != 0, false, !has_version, false, line_id == 0};

	values[0] = Int64GetDatum(account_id);
	values[1] = Int32GetDatum(sub_account);
	values[2] = Int64GetDatum(version);
	values[3] = CStringGetTextDatum(text);
	values[4] = Int64GetDatum(line_id);
	tuplestore_putvalues(v->out, v->desc, values, nulls);
}

/*
 * report: emit one problem of a money chain.
 */
static void
report(Verifier *v, int64 account_id, int32 sub_account, int64 version, bool has_version,
	   const char *fmt,...) pg_attribute_printf(6, 7);

static void
report(Verifier *v, int64 account_id, int32 sub_account, int64 version, bool has_version,
	   const char *fmt,...)
{
	StringInfoData buf;
	va_list		args;

	initStringInfo(&buf);
	for (;;)
	{
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(&buf, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&buf, needed);
	}
	emit_row(v, account_id, sub_account, version, has_version, 0, buf.data);
}

/*
 * load_account: read a head row into v->acct.
 */
static void
load_account(Verifier *v, HeapTuple tup, TupleDesc desc)
{
	bool		isnull;
	bytea	   *h;

	v->acct.account_id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
	v->acct.sub_account = DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull));
	v->acct.normal_credit = DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull));
	v->acct.balance = DatumGetInt64(SPI_getbinval(tup, desc, 4, &isnull));
	v->acct.version = DatumGetInt64(SPI_getbinval(tup, desc, 5, &isnull));
	h = DatumGetByteaPP(SPI_getbinval(tup, desc, 6, &isnull));
	memset(v->acct.last_hash, 0, CL_HASH_LEN);
	memcpy(v->acct.last_hash, VARDATA_ANY(h), Min(VARSIZE_ANY_EXHDR(h), CL_HASH_LEN));
	v->acct.main_chain_seen = false;
}

/*
 * finish_account: checks on a head row once its chain was read: a head that
 * says it has entries must have a chain.
 */
static void
finish_account(Verifier *v)
{
	if (v->acct.account_id == 0 || v->acct.main_chain_seen)
		return;
	if (v->acct.version != 0 || v->acct.balance != 0)
		report(v, v->acct.account_id, v->acct.sub_account, v->acct.version, true,
			   "%s is at version " INT64_FORMAT " with balance " INT64_FORMAT
			   " but its chain has no entries",
			   v->acct.sub_account == 0 ? "account" : "sub-account",
			   v->acct.version, v->acct.balance);
}

/*
 * key_cmp: order of (account, sub-account) keys.
 */
static int
key_cmp(int64 a1, int32 s1, int64 a2, int32 s2)
{
	if (a1 != a2)
		return a1 < a2 ? -1 : 1;
	return (s1 > s2) - (s1 < s2);
}

/*
 * seek_account: move the heads stream to (id, sub); returns whether a head
 * row with that key exists.  Heads passed over are finished.
 */
static bool
seek_account(Verifier *v, int64 id, int32 sub)
{
	while (key_cmp(v->acct.account_id, v->acct.sub_account, id, sub) < 0)
	{
		HeapTuple	tup;

		finish_account(v);
		tup = stream_next(&v->accounts);
		if (tup == NULL)
		{
			v->acct.account_id = PG_INT64_MAX;
			v->acct.sub_account = PG_INT32_MAX;
			return false;
		}
		load_account(v, tup, v->accounts.batch->tupdesc);
	}
	return v->acct.account_id == id && v->acct.sub_account == sub;
}

/*
 * finish_chain: compare the head of the chain just read with its head row.
 */
static void
finish_chain(Verifier *v)
{
	ChainState *c = &v->chain;
	const char *what = c->sub_account == 0 ? "account" : "sub-account";

	if (!c->active || v->acct.account_id != c->account_id ||
		v->acct.sub_account != c->sub_account)
		return;
	v->acct.main_chain_seen = true;
	if (v->acct.version != c->version)
		report(v, c->account_id, c->sub_account, c->version, true,
			   "%s row is at version " INT64_FORMAT " but the chain head is version " INT64_FORMAT,
			   what, v->acct.version, c->version);
	if (v->acct.balance != c->balance_after)
		report(v, c->account_id, c->sub_account, c->version, true,
			   "%s balance " INT64_FORMAT " differs from the chain head's balance_after " INT64_FORMAT,
			   what, v->acct.balance, c->balance_after);
	if (memcmp(v->acct.last_hash, c->hash, CL_HASH_LEN) != 0)
		report(v, c->account_id, c->sub_account, c->version, true,
			   "%s last_hash differs from the chain head's hash", what);
}

/*
 * check_entry: verify one journal row against the chain so far.
 */
static void
check_entry(Verifier *v, HeapTuple tup, TupleDesc desc)
{
	ChainState *c = &v->chain;
	JournalEntry e;
	bool		isnull;
	bytea	   *prev,
			   *stored;
	text	   *voucher;
	uint8		computed[CL_HASH_LEN];
	int64		delta;

	e.account_id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
	e.sub_account = DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull));
	e.version = DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull));
	e.transfer_id = DatumGetInt64(SPI_getbinval(tup, desc, 4, &isnull));
	e.side = DatumGetChar(SPI_getbinval(tup, desc, 5, &isnull));
	e.amount = DatumGetInt64(SPI_getbinval(tup, desc, 6, &isnull));
	e.balance_before = DatumGetInt64(SPI_getbinval(tup, desc, 7, &isnull));
	e.balance_after = DatumGetInt64(SPI_getbinval(tup, desc, 8, &isnull));
	e.is_reversal = DatumGetBool(SPI_getbinval(tup, desc, 9, &isnull));
	prev = DatumGetByteaPP(SPI_getbinval(tup, desc, 10, &isnull));
	stored = DatumGetByteaPP(SPI_getbinval(tup, desc, 11, &isnull));
	e.accepted_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 12, &isnull));
	e.posted_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 13, &isnull));
	voucher = DatumGetTextPP(SPI_getbinval(tup, desc, 14, &isnull));
	e.voucher = VARDATA_ANY(voucher);
	e.voucher_len = VARSIZE_ANY_EXHDR(voucher);

	if (!c->active || c->account_id != e.account_id || c->sub_account != e.sub_account)
	{
		finish_chain(v);
		if (!seek_account(v, e.account_id, e.sub_account))
			report(v, e.account_id, e.sub_account, e.version, true,
				   e.sub_account == 0 ? "journal entry of an account that does not exist" :
				   "journal entry of a sub-account that does not exist");
		c->active = true;
		c->account_id = e.account_id;
		c->sub_account = e.sub_account;
		c->version = 0;
		c->balance_after = 0;
		memcpy(c->hash, cl_zero_hash, CL_HASH_LEN);
	}

	if (e.version != c->version + 1)
		report(v, e.account_id, e.sub_account, e.version, true,
			   "version gap: expected version " INT64_FORMAT ", found " INT64_FORMAT,
			   c->version + 1, e.version);
	if (VARSIZE_ANY_EXHDR(prev) != CL_HASH_LEN ||
		memcmp(VARDATA_ANY(prev), c->hash, CL_HASH_LEN) != 0)
		report(v, e.account_id, e.sub_account, e.version, true,
			   "prev_hash differs from the previous entry's hash");
	if (e.balance_before != c->balance_after)
		report(v, e.account_id, e.sub_account, e.version, true,
			   "balance_before " INT64_FORMAT " differs from the previous balance_after " INT64_FORMAT,
			   e.balance_before, c->balance_after);
	delta = (v->acct.account_id == e.account_id && v->acct.sub_account == e.sub_account) ?
		cl_balance_delta(v->acct.normal_credit, e.side, e.amount) : 0;
	if (v->acct.account_id == e.account_id && v->acct.sub_account == e.sub_account &&
		(e.side != 'D' && e.side != 'C' ? true :
		 e.balance_after - e.balance_before != delta))
		report(v, e.account_id, e.sub_account, e.version, true,
			   "balance_after " INT64_FORMAT " does not follow from balance_before " INT64_FORMAT
			   " and a %s of " INT64_FORMAT,
			   e.balance_after, e.balance_before, e.side == 'D' ? "debit" : "credit", e.amount);

	journal_entry_hash(v->ctx, (const uint8 *) VARDATA_ANY(prev), &e, computed);
	if (VARSIZE_ANY_EXHDR(stored) != CL_HASH_LEN ||
		memcmp(VARDATA_ANY(stored), computed, CL_HASH_LEN) != 0)
		report(v, e.account_id, e.sub_account, e.version, true,
			   "hash differs from the hash recomputed from the entry's fields");

	c->version = e.version;
	c->balance_after = e.balance_after;
	memset(c->hash, 0, CL_HASH_LEN);
	memcpy(c->hash, VARDATA_ANY(stored), Min(VARSIZE_ANY_EXHDR(stored), CL_HASH_LEN));
}

/*
 * emit_found: verify_all_chains' callback: one result row per problem.
 */
static void
emit_found(void *arg, bool credit, int64 id, int32 sub, int64 version, const char *text)
{
	Verifier   *v = (Verifier *) arg;

	if (credit)
		emit_row(v, 0, sub, version, true, id, text);
	else
		emit_row(v, id, sub, version, true, 0, text);
}

/*
 * verify_chain(account): one row per problem found in the chains of one
 * account, or of every account for NULL; no rows means intact.
 */
static Datum
verify_chain_impl(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Verifier	v;
	Datum		arg[1];
	HeapTuple	tup;

	InitMaterializedSRF(fcinfo, 0);
	memset(&v, 0, sizeof(v));
	v.out = rsinfo->setResult;
	v.desc = rsinfo->setDesc;

	cl_spi_connect();
	if (PG_ARGISNULL(0))
	{
		/* every chain, money and credit: one pass per journal */
		verify_all_chains(emit_found, &v);
		cl_spi_finish();
		return (Datum) 0;
	}

	v.ctx = cl_hash_ctx_create();
	arg[0] = PG_GETARG_DATUM(0);
	stream_open(&v.accounts, &one_account_plan, arg);
	stream_open(&v.journal, &one_journal_plan, arg);
	if (!seek_account(&v, DatumGetInt64(arg[0]), 0))
		ereport(ERROR,
				(errcode(ERRCODE_CL_ACCOUNT_UNAVAILABLE),
				 errmsg("account " INT64_FORMAT " does not exist", DatumGetInt64(arg[0]))));

	while ((tup = stream_next(&v.journal)) != NULL)
		check_entry(&v, tup, v.journal.batch->tupdesc);
	finish_chain(&v);
	seek_account(&v, PG_INT64_MAX, PG_INT32_MAX);

	pg_cryptohash_free(v.ctx);
	SPI_cursor_close(v.journal.portal);
	SPI_cursor_close(v.accounts.portal);
	cl_spi_finish();
	return (Datum) 0;
}
