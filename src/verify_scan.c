/*
 * verify_scan.c: verify_chain(): every chain in one pass per journal, or
 * the chains of one account.
 *
 * Each journal (journal_entries, then credit_journal_entries) is read once
 * in entry_id order through its primary key, straight from the table (no
 * SQL per row, no sort); one account's entries through the (account_id,
 * sub_account, version) index instead.  Entry ids come from a sequence and a chain's next
 * entry is written only after the previous one committed (the head row is
 * locked in between), so within every chain entry_id order is version
 * order.  The tail of every chain (version, amounts, hash) lives in a hash
 * table keyed by (id, sub), sized by the number of chains, not of entries;
 * it is filled first with the head rows (accounts and sub-accounts, credit
 * lines and slices), read with SPI.  Every entry is checked against its
 * chain's tail as verify.c documents (versions, prev_hash, amounts, the
 * recomputed CLJ1/CLC1 hash); at the end every head row is compared with
 * its chain's last entry.  Problems are collected and returned sorted by
 * (id, sub, version), money chains first, in the order they were found
 * within one key.
 *
 * The same scan serves ledger digests (recompute_digest_heads): the chains
 * a digest recorded (or is about to record) are loaded instead of the head
 * rows, and each entry up to the recorded version is hashed after the
 * previous *recomputed* hash.  For CLD2 digests each money chain also folds
 * the CLT1 row hash of every entry's transfer, recomputed from the
 * ledger_transfers row (audit_transfers.c), into a second running hash:
 * T(0) = 32 zero bytes, T(v) = SHA-256(T(v-1) || row hash of entry v's
 * transfer).  An entry whose transfer is missing breaks the chain like a
 * missing version.  Legs of one transfer are mostly near each other in
 * entry_id order, so a small cache keeps that to about one primary-key
 * probe per transfer.
 *
 * Reads only, with the caller's snapshot; takes AccessShareLock on the two
 * journals and their primary keys (and ledger_transfers' for CLD2).
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/relscan.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/stratnum.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "common/int.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "audit_transfers.h"
#include "credit.h"
#include "errcodes.h"
#include "heapwrite.h"
#include "journal.h"
#include "spi_plans.h"
#include "validate.h"
#include "verify_scan.h"

/* A chain: (account, sub-account) or (credit line, slice). */
typedef struct ChainKey
{
	int64		id;
	int32		sub;
	int32		pad;			/* zeroed: the key is hashed as bytes */
} ChainKey;

typedef struct ChainState
{
	ChainKey	key;			/* hash key, first */
	bool		has_head;
	bool		normal_credit;	/* money chains */
	bool		seen;			/* an entry was read */
	bool		broken;			/* digest mode: a version out of sequence */
	int64		head_version;
	int64		head_amounts[3];	/* balance, or frozen/used/returned */
	uint8		head_hash[CL_HASH_LEN];
	int64		version;		/* tail: the last entry read */
	int64		amounts[3];
	uint8		hash[CL_HASH_LEN];
	uint8		transfers[CL_HASH_LEN];	/* digest mode: T(version) */
} ChainState;

typedef struct Problem
{
	int64		id;
	int32		sub;
	int64		version;
	int			seq;			/* order found, to keep it within one key */
	char	   *text;
} Problem;

typedef struct Pass
{
	bool		credit;
	int64		account;		/* money pass of one account; 0 = every chain */
	const DigestSource *digest; /* recompute these chains; NULL = verify */
	TransferHasher *th;			/* digest with transfers: money chains fold T */
	HTAB	   *chains;
	List	   *problems;
	int			seq;
	pg_cryptohash_ctx *ctx;
	MemoryContext cxt;			/* outlives the per-row context: problems, chains */
} Pass;

static const char *const amount_names[3] = {"frozen", "used", "returned"};

/*
 * problem: record one problem of chain (id, sub) at version.
 */
static void
problem(Pass *p, int64 id, int32 sub, int64 version, const char *fmt,...) pg_attribute_printf(5, 6);

static void
problem(Pass *p, int64 id, int32 sub, int64 version, const char *fmt,...)
{
	MemoryContext old = MemoryContextSwitchTo(p->cxt);
	Problem    *pr = palloc(sizeof(Problem));
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
	pr->id = id;
	pr->sub = sub;
	pr->version = version;
	pr->seq = p->seq++;
	pr->text = buf.data;
	p->problems = lappend(p->problems, pr);
	MemoryContextSwitchTo(old);
}

/*
 * chain_lookup: the state of chain (id, sub), created empty if new.
 */
static ChainState *
chain_lookup(Pass *p, int64 id, int32 sub, bool *found)
{
	ChainKey	key;
	ChainState *c;

	memset(&key, 0, sizeof(key));
	key.id = id;
	key.sub = sub;
	c = hash_search(p->chains, &key, HASH_ENTER, found);
	if (!*found)
	{
		memset(((char *) c) + sizeof(ChainKey), 0, sizeof(ChainState) - sizeof(ChainKey));
		memcpy(c->hash, cl_zero_hash, CL_HASH_LEN);
		memcpy(c->head_hash, cl_zero_hash, CL_HASH_LEN);
	}
	return c;
}

/*
 * load_heads: every head row into the hash table (SPI).
 */
static void
load_heads(Pass *p)
{
	const char *sql = p->credit ?
		"SELECT line_id, 0, true, frozen, used, returned, version, last_hash"
		"  FROM creditledger.ledger_credit_lines"
		" UNION ALL "
		"SELECT line_id, slice, true, frozen OPERATOR(pg_catalog.-) pending_frozen,"
		"       used OPERATOR(pg_catalog.-) pending_used,"
		"       returned OPERATOR(pg_catalog.-) pending_returned, version, last_hash"
		"  FROM creditledger.credit_line_slices" :
		"SELECT account_id, 0, normal_side OPERATOR(pg_catalog.=) 'credit'::pg_catalog.text,"
		"       balance, 0::pg_catalog.int8, 0::pg_catalog.int8, version, last_hash"
		"  FROM creditledger.ledger_accounts"
		" UNION ALL "
		"SELECT s.account_id, s.sub_account, a.normal_side OPERATOR(pg_catalog.=) 'credit'::pg_catalog.text,"
		"       s.balance, 0::pg_catalog.int8, 0::pg_catalog.int8,"
		"       s.version, s.last_hash"
		"  FROM creditledger.sub_accounts s JOIN creditledger.ledger_accounts a"
		"    ON a.account_id OPERATOR(pg_catalog.=) s.account_id";
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(p->account)};
	Portal		portal;

	Oid			chain_types[4] = {CHARARRAYOID, INT8ARRAYOID, INT4ARRAYOID, INT8ARRAYOID};
	Datum		chain_args[4];
	int			nargs = (p->account != 0) ? 1 : 0;

	if (p->digest != NULL && p->digest->versions == NULL)
	{
		/* the chains the digest recorded, with their recorded versions */
		args[0] = Int64GetDatum(p->digest->digest_id);
		nargs = 1;
		sql = p->credit ?
			"SELECT chain_id, sub, true, 0::pg_catalog.int8, 0::pg_catalog.int8, 0::pg_catalog.int8,"
			"       version, hash"
			"  FROM creditledger.bcp_digest_heads WHERE digest_id OPERATOR(pg_catalog.=) $1"
			"   AND kind OPERATOR(pg_catalog.=) 'L'::pg_catalog.\"char\"" :
			"SELECT chain_id, sub, true, 0::pg_catalog.int8, 0::pg_catalog.int8, 0::pg_catalog.int8,"
			"       version, hash"
			"  FROM creditledger.bcp_digest_heads WHERE digest_id OPERATOR(pg_catalog.=) $1"
			"   AND kind OPERATOR(pg_catalog.=) 'A'::pg_catalog.\"char\"";
	}
	else if (p->digest != NULL)
	{
		/* the chains a digest is about to record, given as arrays */
		chain_args[0] = PointerGetDatum(p->digest->kinds);
		chain_args[1] = PointerGetDatum(p->digest->ids);
		chain_args[2] = PointerGetDatum(p->digest->subs);
		chain_args[3] = PointerGetDatum(p->digest->versions);
		nargs = 4;
		sql = p->credit ?
			"SELECT u.i, u.s, true, 0::pg_catalog.int8, 0::pg_catalog.int8, 0::pg_catalog.int8, u.v, '\\x'::pg_catalog.bytea"
			"  FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2),"
			"                 pg_catalog.unnest($3), pg_catalog.unnest($4)) AS u(k, i, s, v)"
			" WHERE u.k OPERATOR(pg_catalog.=) 'L'::pg_catalog.\"char\"" :
			"SELECT u.i, u.s, true, 0::pg_catalog.int8, 0::pg_catalog.int8, 0::pg_catalog.int8, u.v, '\\x'::pg_catalog.bytea"
			"  FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2),"
			"                 pg_catalog.unnest($3), pg_catalog.unnest($4)) AS u(k, i, s, v)"
			" WHERE u.k OPERATOR(pg_catalog.=) 'A'::pg_catalog.\"char\"";
	}
	else if (p->account != 0)
		sql = "SELECT account_id, 0, normal_side OPERATOR(pg_catalog.=) 'credit'::pg_catalog.text,"
			"       balance, 0::pg_catalog.int8, 0::pg_catalog.int8, version, last_hash"
			"  FROM creditledger.ledger_accounts WHERE account_id OPERATOR(pg_catalog.=) $1"
			" UNION ALL "
			"SELECT s.account_id, s.sub_account, a.normal_side OPERATOR(pg_catalog.=) 'credit'::pg_catalog.text,"
			"       s.balance, 0::pg_catalog.int8, 0::pg_catalog.int8,"
			"       s.version, s.last_hash"
			"  FROM creditledger.sub_accounts s JOIN creditledger.ledger_accounts a"
			"    ON a.account_id OPERATOR(pg_catalog.=) s.account_id"
			" WHERE s.account_id OPERATOR(pg_catalog.=) $1";
	portal = nargs == 4 ?
		SPI_cursor_open_with_args(NULL, sql, 4, chain_types, chain_args, NULL, true, 0) :
		SPI_cursor_open_with_args(NULL, sql, nargs, argtypes, args, NULL, true, 0);

	for (;;)
	{
		SPI_cursor_fetch(portal, true, 5000);
		if (SPI_processed == 0)
			break;
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull,
						found;
			ChainState *c;
			bytea	   *h;

			c = chain_lookup(p,
							 DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull)),
							 DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull)),
							 &found);
			c->has_head = true;
			c->normal_credit = DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull));
			for (int a = 0; a < 3; a++)
				c->head_amounts[a] = DatumGetInt64(SPI_getbinval(tup, desc, 4 + a, &isnull));
			c->head_version = DatumGetInt64(SPI_getbinval(tup, desc, 7, &isnull));
			h = DatumGetByteaPP(SPI_getbinval(tup, desc, 8, &isnull));
			memset(c->head_hash, 0, CL_HASH_LEN);
			memcpy(c->head_hash, VARDATA_ANY(h), Min(VARSIZE_ANY_EXHDR(h), CL_HASH_LEN));
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
}

/*
 * check_link: the checks common to both journals: version sequence and
 * prev_hash; then, after the caller's amount checks, the stored hash
 * against the recomputed one, and the tail moves on.
 */
static void
check_link(Pass *p, ChainState *c, int64 version, bytea *prev)
{
	if (version != c->version + 1)
		problem(p, c->key.id, c->key.sub, version,
				"version gap: expected version " INT64_FORMAT ", found " INT64_FORMAT,
				c->version + 1, version);
	if (VARSIZE_ANY_EXHDR(prev) != CL_HASH_LEN ||
		memcmp(VARDATA_ANY(prev), c->hash, CL_HASH_LEN) != 0)
		problem(p, c->key.id, c->key.sub, version,
				"prev_hash differs from the previous entry's hash");
}

static void
check_hash(Pass *p, ChainState *c, int64 version, bytea *stored, const uint8 *computed)
{
	if (VARSIZE_ANY_EXHDR(stored) != CL_HASH_LEN ||
		memcmp(VARDATA_ANY(stored), computed, CL_HASH_LEN) != 0)
		problem(p, c->key.id, c->key.sub, version,
				"hash differs from the hash recomputed from the entry's fields");
	c->version = version;
	memset(c->hash, 0, CL_HASH_LEN);
	memcpy(c->hash, VARDATA_ANY(stored), Min(VARSIZE_ANY_EXHDR(stored), CL_HASH_LEN));
}

/*
 * enter_chain: the chain of an entry; a chain without a head row is
 * reported at its first entry.
 */
static ChainState *
enter_chain(Pass *p, int64 id, int32 sub, int64 version)
{
	bool		found;
	ChainState *c = chain_lookup(p, id, sub, &found);

	if (!c->seen && !c->has_head)
		problem(p, id, sub, version,
				p->credit ? "credit journal entry of a line or slice that does not exist" :
				sub == 0 ? "journal entry of an account that does not exist" :
				"journal entry of a sub-account that does not exist");
	c->seen = true;
	return c;
}

/* Columns read from each journal, in this order. */
static const char *const money_columns[] = {
	"account_id", "sub_account", "version", "transfer_id", "side", "amount",
	"balance_before", "balance_after", "is_reversal", "prev_hash", "hash",
	"accepted_at", "posted_at", "voucher"
};
static const char *const credit_columns[] = {
	"line_id", "slice", "version", "op", "ref", "frozen_delta", "used_delta",
	"returned_delta", "frozen_after", "used_after", "returned_after",
	"prev_hash", "hash", "created_at"
};

/*
 * digest_chain: digest mode: the recorded chain of an entry, or NULL when the
 * digest did not record it or the entry lies beyond the recorded version.
 */
static ChainState *
digest_chain(Pass *p, int64 id, int32 sub, int64 version)
{
	ChainKey	key;
	ChainState *c;

	memset(&key, 0, sizeof(key));
	key.id = id;
	key.sub = sub;
	c = hash_search(p->chains, &key, HASH_FIND, NULL);
	if (c == NULL || c->broken || version > c->head_version)
		return NULL;
	return c;
}

/*
 * digest_step: digest mode: the chain moves on to version with the hash
 * recomputed from the entry's fields after the previous recomputed hash;
 * out of sequence, the chain is broken (no head hash).
 */
static void
digest_step(ChainState *c, int64 version, const uint8 *computed)
{
	if (version != c->version + 1)
	{
		c->broken = true;
		return;
	}
	c->version = version;
	memcpy(c->hash, computed, CL_HASH_LEN);
}

/*
 * fold_transfer: digest mode with transfers: T moves on with the row hash of
 * the entry's transfer; a transfer that is not there breaks the chain.
 */
static void
fold_transfer(Pass *p, ChainState *c, int64 transfer_id)
{
	uint8		buf[2 * CL_HASH_LEN];

	if (!transfer_hasher_get(p->th, transfer_id, buf + CL_HASH_LEN))
	{
		c->broken = true;
		return;
	}
	memcpy(buf, c->transfers, CL_HASH_LEN);
	cl_sha256(p->ctx, buf, sizeof(buf), c->transfers);
}

/*
 * check_money_entry: one journal_entries row (v: its values by column).
 */
static void
check_money_entry(Pass *p, Datum *v)
{
	JournalEntry e;
	ChainState *c;
	bytea	   *prev = DatumGetByteaPP(v[9]);
	bytea	   *stored = DatumGetByteaPP(v[10]);
	text	   *voucher = DatumGetTextPP(v[13]);
	uint8		computed[CL_HASH_LEN];

	e.account_id = DatumGetInt64(v[0]);
	e.sub_account = DatumGetInt32(v[1]);
	e.version = DatumGetInt64(v[2]);
	e.transfer_id = DatumGetInt64(v[3]);
	e.side = DatumGetChar(v[4]);
	e.amount = DatumGetInt64(v[5]);
	e.balance_before = DatumGetInt64(v[6]);
	e.balance_after = DatumGetInt64(v[7]);
	e.is_reversal = DatumGetBool(v[8]);
	e.accepted_at = DatumGetTimestampTz(v[11]);
	e.posted_at = DatumGetTimestampTz(v[12]);
	e.voucher = VARDATA_ANY(voucher);
	e.voucher_len = VARSIZE_ANY_EXHDR(voucher);

	if (p->digest != NULL)
	{
		if ((c = digest_chain(p, e.account_id, e.sub_account, e.version)) != NULL)
		{
			journal_entry_hash(p->ctx, c->hash, &e, computed);
			digest_step(c, e.version, computed);
			if (p->th != NULL && !c->broken)
				fold_transfer(p, c, e.transfer_id);
		}
		return;
	}
	c = enter_chain(p, e.account_id, e.sub_account, e.version);
	check_link(p, c, e.version, prev);
	if (e.balance_before != c->amounts[0])
		problem(p, c->key.id, c->key.sub, e.version,
				"balance_before " INT64_FORMAT " differs from the previous balance_after " INT64_FORMAT,
				e.balance_before, c->amounts[0]);
	if (c->has_head &&
		((e.side != 'D' && e.side != 'C') ||
		 e.balance_after - e.balance_before != cl_balance_delta(c->normal_credit, e.side, e.amount)))
		problem(p, c->key.id, c->key.sub, e.version,
				"balance_after " INT64_FORMAT " does not follow from balance_before " INT64_FORMAT
				" and a %s of " INT64_FORMAT,
				e.balance_after, e.balance_before, e.side == 'D' ? "debit" : "credit", e.amount);
	journal_entry_hash(p->ctx, (const uint8 *) VARDATA_ANY(prev), &e, computed);
	check_hash(p, c, e.version, stored, computed);
	c->amounts[0] = e.balance_after;
}

/*
 * check_credit_entry: one credit_journal_entries row.
 */
static void
check_credit_entry(Pass *p, Datum *v)
{
	CreditEntry e;
	ChainState *c;
	text	   *op = DatumGetTextPP(v[3]);
	text	   *ref = DatumGetTextPP(v[4]);
	bytea	   *prev = DatumGetByteaPP(v[11]);
	bytea	   *stored = DatumGetByteaPP(v[12]);
	int64		deltas[3],
				afters[3];
	uint8		computed[CL_HASH_LEN];

	e.line_id = DatumGetInt64(v[0]);
	e.slice = DatumGetInt32(v[1]);
	e.version = DatumGetInt64(v[2]);
	e.op = VARDATA_ANY(op);
	e.op_len = VARSIZE_ANY_EXHDR(op);
	e.ref = VARDATA_ANY(ref);
	e.ref_len = VARSIZE_ANY_EXHDR(ref);
	for (int a = 0; a < 3; a++)
	{
		deltas[a] = DatumGetInt64(v[5 + a]);
		afters[a] = DatumGetInt64(v[8 + a]);
	}
	e.frozen_delta = deltas[0];
	e.used_delta = deltas[1];
	e.returned_delta = deltas[2];
	e.frozen_after = afters[0];
	e.used_after = afters[1];
	e.returned_after = afters[2];
	e.created_at = DatumGetTimestampTz(v[13]);

	if (p->digest != NULL)
	{
		if ((c = digest_chain(p, e.line_id, e.slice, e.version)) != NULL)
		{
			credit_entry_hash(p->ctx, c->hash, &e, computed);
			digest_step(c, e.version, computed);
		}
		return;
	}
	c = enter_chain(p, e.line_id, e.slice, e.version);
	check_link(p, c, e.version, prev);
	for (int a = 0; a < 3; a++)
	{
		int64		expected;

		if (pg_add_s64_overflow(c->amounts[a], deltas[a], &expected) || expected != afters[a])
			problem(p, c->key.id, c->key.sub, e.version,
					"%s_after " INT64_FORMAT " is not the previous " INT64_FORMAT " plus the delta " INT64_FORMAT,
					amount_names[a], afters[a], c->amounts[a], deltas[a]);
	}
	credit_entry_hash(p->ctx, (const uint8 *) VARDATA_ANY(prev), &e, computed);
	check_hash(p, c, e.version, stored, computed);
	memcpy(c->amounts, afters, sizeof(afters));
}

/*
 * scan_journal: every row of the pass's journal in entry_id order.
 */
static void
scan_journal(Pass *p)
{
	static ColumnMap money_map,
				credit_map;
	const char *relname = p->credit ? "credit_journal_entries" : "journal_entries";
	const char *pkname = p->credit ? "credit_journal_entries_pkey" :
		p->account != 0 ? "journal_entries_account_id_sub_account_version_key" :
		"journal_entries_pkey";
	Oid			nsp = get_namespace_oid("creditledger", false);
	Relation	rel = table_open(cl_relation_oid(relname), AccessShareLock);
	Relation	idx = index_open(get_relname_relid(pkname, nsp), AccessShareLock);
	const AttrNumber *att = p->credit ?
		cl_column_map(&credit_map, rel, credit_columns, lengthof(credit_columns)) :
		cl_column_map(&money_map, rel, money_columns, lengthof(money_columns));
	int			ncols = p->credit ? lengthof(credit_columns) : lengthof(money_columns);
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	IndexScanDesc scan = index_beginscan(rel, idx, GetActiveSnapshot(), p->account != 0 ? 1 : 0, 0);
	ScanKeyData key;
	MemoryContext rowcxt = AllocSetContextCreate(CurrentMemoryContext, "verify row",
												 ALLOCSET_DEFAULT_SIZES);
	Datum		values[lengthof(money_columns)];

	if (p->account != 0)
	{
		/* one account: its chains in (sub_account, version) order */
		ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(p->account));
		index_rescan(scan, &key, 1, NULL, 0);
	}
	else
		index_rescan(scan, NULL, 0, NULL, 0);
	while (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		MemoryContext old;

		CHECK_FOR_INTERRUPTS();
		slot_getallattrs(slot);
		for (int i = 0; i < ncols; i++)
		{
			if (slot->tts_isnull[att[i] - 1])
				elog(ERROR, "creditledger: NULL %s in %s", p->credit ? credit_columns[i] :
					 money_columns[i], relname);
			values[i] = slot->tts_values[att[i] - 1];
		}
		old = MemoryContextSwitchTo(rowcxt);
		if (p->credit)
			check_credit_entry(p, values);
		else
			check_money_entry(p, values);
		MemoryContextSwitchTo(old);
		MemoryContextReset(rowcxt);
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	MemoryContextDelete(rowcxt);
	index_close(idx, AccessShareLock);
	table_close(rel, AccessShareLock);
}

/*
 * check_heads: every head row against its chain's last entry.
 */
static void
check_heads(Pass *p)
{
	HASH_SEQ_STATUS seq;
	ChainState *c;

	hash_seq_init(&seq, p->chains);
	while ((c = hash_seq_search(&seq)) != NULL)
	{
		const char *what = p->credit ? "credit head" :
			c->key.sub == 0 ? "account" : "sub-account";

		if (!c->has_head)
			continue;
		if (!c->seen)
		{
			if (p->credit ?
				(c->head_version != 0 || c->head_amounts[0] != 0 ||
				 c->head_amounts[1] != 0 || c->head_amounts[2] != 0) :
				(c->head_version != 0 || c->head_amounts[0] != 0))
				problem(p, c->key.id, c->key.sub, c->head_version,
						"%s is at version " INT64_FORMAT " with %s " INT64_FORMAT
						" but its chain has no entries",
						what, c->head_version, p->credit ? "frozen" : "balance",
						c->head_amounts[0]);
			continue;
		}
		if (c->head_version != c->version)
			problem(p, c->key.id, c->key.sub, c->version,
					"%s row is at version " INT64_FORMAT " but the chain head is version " INT64_FORMAT,
					what, c->head_version, c->version);
		for (int a = 0; a < (p->credit ? 3 : 1); a++)
			if (c->head_amounts[a] != c->amounts[a])
				problem(p, c->key.id, c->key.sub, c->version,
						p->credit ? "%s %s " INT64_FORMAT " differs from the chain head's %s_after " INT64_FORMAT :
						"%s %s " INT64_FORMAT " differs from the chain head's %s " INT64_FORMAT,
						what, p->credit ? amount_names[a] : "balance", c->head_amounts[a],
						p->credit ? amount_names[a] : "balance_after", c->amounts[a]);
		if (memcmp(c->head_hash, c->hash, CL_HASH_LEN) != 0)
			problem(p, c->key.id, c->key.sub, c->version,
					"%s last_hash differs from the chain head's hash", what);
	}
}

/*
 * problem_cmp: (id, sub, version, order found).
 */
static int
problem_cmp(const ListCell *a, const ListCell *b)
{
	const Problem *x = lfirst(a);
	const Problem *y = lfirst(b);

	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	if (x->sub != y->sub)
		return x->sub < y->sub ? -1 : 1;
	if (x->version != y->version)
		return x->version < y->version ? -1 : 1;
	return x->seq - y->seq;
}

/*
 * start_pass: a pass over one journal with its head rows loaded.
 */
static void
start_pass(Pass *p, bool credit, int64 account, const DigestSource *digest,
		   pg_cryptohash_ctx *ctx)
{
	HASHCTL		hctl;

	memset(p, 0, sizeof(*p));
	p->credit = credit;
	p->account = account;
	p->digest = digest;
	p->ctx = ctx;
	p->cxt = CurrentMemoryContext;
	hctl.keysize = sizeof(ChainKey);
	hctl.entrysize = sizeof(ChainState);
	hctl.hcxt = CurrentMemoryContext;
	p->chains = hash_create("creditledger verify chains", 1024, &hctl,
							HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	load_heads(p);
}

/*
 * run_pass: verify every chain of one journal (or one account's); returns
 * its problems sorted.
 */
static List *
run_pass(bool credit, int64 account, pg_cryptohash_ctx *ctx)
{
	Pass		p;

	start_pass(&p, credit, account, NULL, ctx);
	scan_journal(&p);
	check_heads(&p);
	hash_destroy(p.chains);
	list_sort(p.problems, problem_cmp);
	return p.problems;
}

/*
 * recompute_digest_heads: for every chain of a digest (recorded, or given
 * as arrays), its head hash recomputed from today's entries 1..recorded
 * version (each entry's hash from its fields after the previous recomputed
 * hash; stored hashes are not used), or NULL when those versions are not
 * all there, in sequence.  With src->with_transfers, also T(version) of
 * every money chain (32 zero bytes for credit chains), NULL when an entry's
 * transfer is missing (and then the head hash is NULL too).  src->credit:
 * credit chains too.  Calls emit once per chain.  Inside SPI.
 */
void
recompute_digest_heads(const DigestSource *src,
					   void (*emit) (void *arg, char kind, int64 id, int32 sub,
									 int64 version, const uint8 *hash,
									 const uint8 *transfers),
					   void *arg)
{
	pg_cryptohash_ctx *ctx = cl_hash_ctx_create();

	for (int pass = 0; pass < (src->credit ? 2 : 1); pass++)
	{
		Pass		p;
		HASH_SEQ_STATUS seq;
		ChainState *c;

		/* each chain starts at version 0 with the zero hash and zero T */
		start_pass(&p, pass == 1, 0, src, ctx);
		if (pass == 0 && src->with_transfers)
			p.th = transfer_hasher_open(ctx);
		scan_journal(&p);
		if (p.th != NULL)
			transfer_hasher_close(p.th);
		hash_seq_init(&seq, p.chains);
		while ((c = hash_seq_search(&seq)) != NULL)
		{
			bool		ok = !c->broken && c->version == c->head_version;

			emit(arg, pass == 1 ? 'L' : 'A', c->key.id, c->key.sub, c->head_version,
				 ok ? c->hash : NULL,
				 !src->with_transfers ? NULL : pass == 1 ? cl_zero_hash :
				 ok ? c->transfers : NULL);
		}
		hash_destroy(p.chains);
	}
	pg_cryptohash_free(ctx);
}

/*
 * verify_chains: every money chain and (if the extension has them) every
 * credit chain, or (account != 0) the chains of one account, which must
 * exist (LD003); calls emit for each problem in order.  Inside SPI.
 */
void
verify_chains(int64 account,
			  void (*emit) (void *arg, bool credit, int64 id, int32 sub,
							int64 version, const char *text),
			  void *arg)
{
	pg_cryptohash_ctx *ctx = cl_hash_ctx_create();
	bool		has_credit = account == 0 &&
		OidIsValid(get_relname_relid("credit_journal_entries",
									 get_namespace_oid("creditledger", false)));
	ListCell   *lc;

	if (account != 0)
	{
		Oid			argtypes[1] = {INT8OID};
		Datum		args[1] = {Int64GetDatum(account)};

		if (SPI_execute_with_args("SELECT 1 FROM creditledger.ledger_accounts"
								  " WHERE account_id OPERATOR(pg_catalog.=) $1",
								  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "creditledger: could not look up account " INT64_FORMAT, account);
		if (SPI_processed == 0)
			cl_raise_account_missing(account);
	}

	for (int pass = 0; pass < (has_credit ? 2 : 1); pass++)
	{
		List	   *problems = run_pass(pass == 1, account, ctx);

		foreach(lc, problems)
		{
			Problem    *pr = lfirst(lc);

			emit(arg, pass == 1, pr->id, pr->sub, pr->version, pr->text);
		}
	}
	pg_cryptohash_free(ctx);
}
