/*
 * lending.c: credit and money in one transaction: set_credit_line_account,
 * credit_disburse, credit_disburse_direct and credit_repay, and what a
 * pending disbursement (放款在途) does when its pending transfer is posted,
 * voided or expires.
 *
 * A line's receivable account (credit_line_accounts, one line per account)
 * holds the principal lent under the line: debit-normal, the line's
 * currency.  A disbursement is the credit engine's use (credit_engine.h)
 * plus a transfer debiting the receivable and crediting the borrower's
 * account (posting.c), under one reference: the drawdown's ref is the
 * transfer's voucher.  A repayment is the engine's return plus a transfer
 * from the payer's account to the receivable, under one reference (the
 * return's ref, the transfer's voucher).  An immediate disbursement is
 * recorded by its drawdown (whose payload names the borrower) and its
 * transfer (whose metadata names line, drawdown and receivable) alone; a
 * pending one also by its row in ledger_credit_pending_disbursements
 * (record_pending); the view credit_disbursements shows both kinds.  Both
 * halves are written by the same code as the single calls, so hot accounts
 * (split, buffered), blocks, floors, currencies and chains behave as for
 * any posting; an error in either half rolls back both, as everything
 * runs in the caller's transaction.  A line with a receivable account
 * lends only through these functions: credit_use, credit_use_direct and
 * credit_return on it are refused (they would move credit without money).
 *
 * Pending disbursements: the money is a pending transfer whose voucher is
 * the ref (holds.c); the credit stays frozen in a transit hold of its own
 * (credit_engine.c, "creditledger:disbursement:<ref>"), and the drawdown
 * exists from the start with amount 0.  holds.c calls the hooks below:
 * transfer_post turns the posted amount into used on the drawdown (and a
 * final post releases the rest), transfer_void and expiry unfreeze what
 * remains, each in the transaction that changes the money side.  The
 * pending transfer inherits the hold's expires_at (credit_disburse), so
 * credit and money expire together; a direct one has no expiry.
 *
 * Locking (lockorder.h): the credit graph lock (shared; set_credit_line_account
 * exclusive), the credit reference (drawdown or return ref), the hold or
 * drawdown row, the credit lines, then the money voucher and the accounts
 * (posting.c, holds.c).  The money voucher is claimed after the credit
 * locks: only a money call with the same voucher can make it wait there,
 * and such a call takes no credit lock.  For a pending disbursement,
 * transfer_post and transfer_void take the graph lock before their claim
 * (cl_lending_pending_begin, right after holds.c looks the pending row up)
 * and the lines after the pending row, before the accounts; expiry holds
 * the pending row already, so it only tries the graph lock and, once it
 * holds other records' locks, the lines (SKIP LOCKED), leaving a busy one
 * for the next pass; post_batch takes the graph lock before the pending
 * rows and the lines after them, before its accounts.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "credit.h"
#include "credit_engine.h"
#include "errcodes.h"
#include "heapwrite.h"
#include "holds.h"
#include "journal.h"
#include "lending.h"
#include "locking.h"
#include "lockorder.h"
#include "opstats.h"
#include "posting.h"
#include "spi_plans.h"
#include "validate.h"

CL_TRACKED_FUNCTION(cl_set_credit_line_account, CL_OP_SET_CREDIT_LINE_ACCOUNT,
					set_credit_line_account_impl)
CL_TRACKED_FUNCTION(cl_credit_disburse, CL_OP_CREDIT_DISBURSE, credit_disburse_impl)
CL_TRACKED_FUNCTION(cl_credit_disburse_direct, CL_OP_CREDIT_DISBURSE_DIRECT,
					credit_disburse_direct_impl)
CL_TRACKED_FUNCTION(cl_credit_repay, CL_OP_CREDIT_REPAY, credit_repay_impl)

#define TRANSIT_PREFIX "creditledger:disbursement:"

/* The memo of every disbursement's transfer or pending transfer. */
#define PENDING_MEMO "credit_disburse"

static ClPlan hold_expiry_plan = {
	"SELECT expires_at FROM creditledger.ledger_credit_holds WHERE ref OPERATOR(pg_catalog.=) $1",
	1, {TEXTOID}
};

/*
 * ledger_credit_pending_disbursements' columns, all of them, as
 * record_pending() writes them
 */
static const char *const disbursement_columns[] = {
	"drawdown_id", "ref", "line_id", "receivable_account", "to_account", "amount",
	"pending_id", "transit_hold_id", "created_at"
};
enum
{
	DB_DRAWDOWN_ID, DB_REF, DB_LINE_ID, DB_RECEIVABLE, DB_TO_ACCOUNT, DB_AMOUNT,
	DB_PENDING_ID, DB_TRANSIT_HOLD_ID, DB_CREATED_AT, DB_COUNT
};
StaticAssertDecl(lengthof(disbursement_columns) == DB_COUNT,
				 "disbursement_columns and DB_* differ");
static ColumnMap disbursement_map;

static const char *const receivable_columns[] = {"receivable_account"};
static ColumnMap receivable_map;
static const char *const line_of_columns[] = {"receivable_account", "line_id"};
static ColumnMap line_of_map;

static ClPlan pending_lookup_plan = {
	"SELECT d.drawdown_id, d.ref, h.ref, d.transit_hold_id"
	"  FROM creditledger.ledger_credit_pending_disbursements d"
	"  JOIN creditledger.ledger_credit_holds h ON h.hold_id OPERATOR(pg_catalog.=) d.transit_hold_id"
	" WHERE d.pending_id OPERATOR(pg_catalog.=) $1",
	1, {INT8OID}
};

static ClPlan batch_lookup_plan = {
	"SELECT d.transit_hold_id FROM creditledger.ledger_credit_pending_disbursements d"
	"  JOIN creditledger.ledger_pending_transfers p"
	"    ON p.pending_id OPERATOR(pg_catalog.=) d.pending_id"
	" WHERE p.voucher OPERATOR(pg_catalog.=) ANY ($1)"
	"   AND p.status OPERATOR(pg_catalog.=) 'pending'::pg_catalog.text"
	" ORDER BY 1",
	1, {TEXTARRAYOID}
};

/* set_credit_line_account */
static ClPlan line_for_account_plan = {
	"SELECT l.currency, a.receivable_account"
	"  FROM creditledger.ledger_credit_lines l"
	"  LEFT JOIN creditledger.credit_line_accounts a ON a.line_id OPERATOR(pg_catalog.=) l.line_id"
	" WHERE l.line_id OPERATOR(pg_catalog.=) $1 FOR NO KEY UPDATE OF l",
	1, {INT8OID}
};

static ClPlan account_for_line_plan = {
	"SELECT a.currency, a.normal_side, a.status, a.balance,"
	"       (SELECT x.line_id FROM creditledger.credit_line_accounts x"
	"         WHERE x.receivable_account OPERATOR(pg_catalog.=) a.account_id)"
	"  FROM creditledger.accounts a WHERE a.account_id OPERATOR(pg_catalog.=) $1",
	1, {INT8OID}
};

/*
 * The account's row, locked against postings in mode 'none' while its
 * balance is compared (they lock it FOR NO KEY UPDATE), and its open
 * pending transfers and funds holds (audit 0.3: once it is a receivable,
 * posting one of them would move its balance without the line).
 */
static ClPlan account_lock_plan = {
	"SELECT 1 FROM creditledger.ledger_accounts"
	" WHERE account_id OPERATOR(pg_catalog.=) $1 FOR SHARE",
	1, {INT8OID}
};

static ClPlan account_holds_plan = {
	"SELECT (SELECT pg_catalog.count(*) FROM creditledger.ledger_pending_transfers p"
	"         WHERE p.status OPERATOR(pg_catalog.=) 'pending'::pg_catalog.text"
	"           AND (p.debit_account OPERATOR(pg_catalog.=) $1"
	"                OR p.credit_account OPERATOR(pg_catalog.=) $1))"
	"       OPERATOR(pg_catalog.+)"
	"       (SELECT pg_catalog.count(*) FROM creditledger.ledger_funds_holds h"
	"         WHERE h.status OPERATOR(pg_catalog.=) 'open'::pg_catalog.text"
	"           AND h.account_id OPERATOR(pg_catalog.=) $1)",
	1, {INT8OID}
};

static ClPlan line_loans_plan = {
	"SELECT (SELECT coalesce(pg_catalog.sum(w.outstanding), 0)::bigint"
	"          FROM creditledger.ledger_credit_drawdowns w"
	"         WHERE w.line_id OPERATOR(pg_catalog.=) $1),"
	"       (SELECT pg_catalog.count(*) FROM creditledger.ledger_credit_drawdowns w"
	"          JOIN creditledger.ledger_credit_pending_disbursements d"
	"            ON d.drawdown_id OPERATOR(pg_catalog.=) w.drawdown_id"
	"          JOIN creditledger.ledger_pending_transfers p"
	"            ON p.pending_id OPERATOR(pg_catalog.=) d.pending_id"
	"         WHERE w.line_id OPERATOR(pg_catalog.=) $1"
	"           AND p.status OPERATOR(pg_catalog.=) 'pending'::pg_catalog.text)",
	1, {INT8OID}
};

static ClPlan set_account_plan = {
	"INSERT INTO creditledger.credit_line_accounts (line_id, receivable_account)"
	" VALUES ($1, $2) ON CONFLICT (line_id) DO UPDATE"
	"   SET receivable_account = EXCLUDED.receivable_account,"
	"       set_at = pg_catalog.now(), set_by = SESSION_USER",
	2, {INT8OID, INT8OID}
};

/* ------------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------------ */

/*
 * A call's payload (and a transfer's metadata), built as a jsonb value
 * directly, without writing JSON text and parsing it back.
 */
typedef struct Payload
{
	JsonbParseState *state;		/* NULL until the first key */
} Payload;

static void
payload_key(Payload *p, const char *key)
{
	JsonbValue	k;

	if (p->state == NULL)
		(void) pushJsonbValue(&p->state, WJB_BEGIN_OBJECT, NULL);
	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	(void) pushJsonbValue(&p->state, WJB_KEY, &k);
}

static void
payload_text(Payload *p, const char *key, const char *value)
{
	JsonbValue	v;

	payload_key(p, key);
	v.type = jbvString;
	v.val.string.val = (char *) value;
	v.val.string.len = strlen(value);
	(void) pushJsonbValue(&p->state, WJB_VALUE, &v);
}

static void
payload_int(Payload *p, const char *key, bool isnull, int64 value)
{
	JsonbValue	v;

	payload_key(p, key);
	if (isnull)
		v.type = jbvNull;
	else
	{
		v.type = jbvNumeric;
		v.val.numeric = int64_to_numeric(value);
	}
	(void) pushJsonbValue(&p->state, WJB_VALUE, &v);
}

static void
payload_bool(Payload *p, const char *key, bool value)
{
	JsonbValue	v;

	payload_key(p, key);
	v.type = jbvBool;
	v.val.boolean = value;
	(void) pushJsonbValue(&p->state, WJB_VALUE, &v);
}

static Datum
payload_end(Payload *p)
{
	if (p->state == NULL)
		(void) pushJsonbValue(&p->state, WJB_BEGIN_OBJECT, NULL);
	return JsonbPGetDatum(JsonbValueToJsonb(pushJsonbValue(&p->state, WJB_END_OBJECT, NULL)));
}

/*
 * lending_metadata: a disbursement's or repayment's money metadata,
 * {"credit_line": line, "drawdown": drawdown, "receivable_account":
 * receivable}: what the view credit_disbursements reads of an immediate
 * disbursement's transfer besides its id (the account the line lent from
 * then; set_credit_line_account may later give the line another).
 */
static Jsonb *
lending_metadata(int64 line_id, int64 drawdown_id, int64 receivable)
{
	Payload		m = {NULL};

	payload_int(&m, "credit_line", false, line_id);
	payload_int(&m, "drawdown", false, drawdown_id);
	payload_int(&m, "receivable_account", false, receivable);
	return DatumGetJsonbP(payload_end(&m));
}

/*
 * The receivable cache: each line's receivable account (or that it has
 * none), and each account's line when it is one's receivable (or that it
 * is none's), per backend, valid while the credit graph's generation
 * (lockorder.h: cl_credit_graph_cache_check) is the one it was filled
 * under.  set_credit_line_account, the only writer of
 * credit_line_accounts, takes the graph lock exclusively, which bumps the
 * generation; so, as for credit_rows.c's graph cache, an entry read while
 * the graph lock is held shared stays true until the generation moves.
 * When the generation cannot be used (the graph lock not held shared,
 * this transaction took it exclusively, REPEATABLE READ or SERIALIZABLE,
 * no shared segment) the cache is neither read nor filled.
 */
typedef enum ReceivableKind
{
	RECEIVABLE_OF_LINE,			/* key: a line; value: its receivable account */
	LINE_OF_ACCOUNT				/* key: an account; value: the line it is the
								 * receivable of */
} ReceivableKind;

typedef struct ReceivableKey
{
	int64		id;
	int32		kind;			/* ReceivableKind */
} ReceivableKey;

typedef struct ReceivableEntry
{
	ReceivableKey key;			/* hash key (zeroed padding included) */
	int64		value;			/* 0: the line has no receivable, or the
								 * account is no line's receivable (ids
								 * start at 1) */
} ReceivableEntry;

static HTAB *receivable_cache = NULL;
static CreditGraphStamp receivable_stamp;	/* what the cache was filled under */

/* The entries a backend keeps before it starts afresh. */
#define CL_RECEIVABLE_CACHE_ENTRIES 100000

/*
 * receivable_cache_ready: whether the receivable cache may be used now,
 * emptied first when it is stale (cl_credit_graph_cache_check: the
 * generation moved, or credit_line_accounts is another table than it was
 * filled from) or when it holds CL_RECEIVABLE_CACHE_ENTRIES entries (a
 * bound on a backend's memory).
 */
static bool
receivable_cache_ready(void)
{
	GraphCacheState state;
	HASHCTL		info;

	state = cl_credit_graph_cache_check(&receivable_stamp, "credit_line_accounts");
	if (state == GRAPH_CACHE_OFF)
		return false;
	if (state == GRAPH_CACHE_CURRENT && receivable_cache != NULL &&
		hash_get_num_entries(receivable_cache) < CL_RECEIVABLE_CACHE_ENTRIES)
		return true;
	if (receivable_cache != NULL)
		hash_destroy(receivable_cache);
	info.keysize = sizeof(ReceivableKey);
	info.entrysize = sizeof(ReceivableEntry);
	info.hcxt = TopMemoryContext;
	receivable_cache = hash_create("creditledger receivable accounts", 256, &info,
								   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	return true;
}

/*
 * receivable_key: the cache's key of (kind, id), padding zeroed.
 */
static ReceivableKey
receivable_key(ReceivableKind kind, int64 id)
{
	ReceivableKey key;

	memset(&key, 0, sizeof(key));
	key.id = id;
	key.kind = (int32) kind;
	return key;
}

/*
 * receivable_cached: the cache's entry for (kind, id), or NULL when it has
 * none; the caller has checked receivable_cache_ready().
 */
static ReceivableEntry *
receivable_cached(ReceivableKind kind, int64 id)
{
	ReceivableKey key = receivable_key(kind, id);

	return hash_search(receivable_cache, &key, HASH_FIND, NULL);
}

/*
 * receivable_remember: enter what a lookup found for (kind, id) (0:
 * nothing), after the lookup succeeded, so that an error inside one never
 * leaves an entry behind; the caller has checked receivable_cache_ready()
 * before the lookup (the graph lock it holds keeps the generation from
 * moving meanwhile).
 */
static void
receivable_remember(ReceivableKind kind, int64 id, int64 value)
{
	ReceivableKey key = receivable_key(kind, id);
	ReceivableEntry *e = hash_search(receivable_cache, &key, HASH_ENTER, NULL);

	e->value = value;
}

/*
 * receivable_find: the receivable account of a line as a statement run
 * here would see it (the command counter advanced first, then the
 * transaction snapshot), read through credit_line_accounts' primary key
 * without SPI, or from the receivable cache when it may be used; false if
 * the line has none.  No lock: the callers hold the credit graph lock,
 * which set_credit_line_account takes exclusively.
 */
static bool
receivable_find(int64 line_id, int64 *account)
{
	bool		cache = receivable_cache_ready();
	Relation	rel;
	Relation	index;
	TupleTableSlot *slot;
	const AttrNumber *att;
	ScanKeyData key;
	Snapshot	snapshot;
	bool		found;

	if (cache)
	{
		ReceivableEntry *e = receivable_cached(RECEIVABLE_OF_LINE, line_id);

		if (e != NULL)
		{
			*account = e->value;
			return e->value != 0;
		}
	}
	rel = table_open(cl_relation_oid("credit_line_accounts"), AccessShareLock);
	index = index_open(cl_relation_oid("credit_line_accounts_pkey"), AccessShareLock);
	slot = table_slot_create(rel, NULL);
	att = cl_column_map(&receivable_map, rel, receivable_columns, 1);
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(line_id));
	CommandCounterIncrement();
	snapshot = RegisterSnapshot(GetTransactionSnapshot());
	found = cl_find_row(rel, index, &key, 1, snapshot, slot);
	if (found)
	{
		bool		isnull;

		*account = DatumGetInt64(slot_getattr(slot, att[0], &isnull));
	}
	UnregisterSnapshot(snapshot);
	ExecDropSingleTupleTableSlot(slot);
	/* the index's lock goes at once (as in credit_rows.c's rows_close) */
	index_close(index, AccessShareLock);
	table_close(rel, NoLock);
	if (cache)
		receivable_remember(RECEIVABLE_OF_LINE, line_id, found ? *account : 0);
	return found;
}

/*
 * receivable_lines_of: for ids (ascending, distinct), lines[i] the line
 * whose receivable account ids[i] is, or 0; returns how many are.  One
 * scan of credit_line_accounts' unique receivable_account index for all
 * of them (an array key), without SPI, under a snapshot taken now (the
 * latest: what is committed, and this transaction's own earlier
 * commands), so that a caller holding the accounts' mode locks sees every
 * set_credit_line_account that held one before it (cl_refuse_receivables,
 * lockorder.h).  No row lock: set_credit_line_account, the only writer,
 * holds the account's mode lock exclusively.  Registered with posting.c
 * (cl_refuse_receivables), which refuses a caller's postings on a
 * receivable (security audit 0.3).
 */
static int
receivable_lines_of(const int64 *ids, int n, int64 *lines)
{
	Relation	rel;
	Relation	index;
	TupleTableSlot *slot;
	const AttrNumber *att;
	ScanKeyData key;
	Snapshot	snapshot;
	IndexScanDesc scan;
	int			found = 0;
	Oid			relid;

	memset(lines, 0, sizeof(int64) * n);
	/* a release before 0.3.0 (not updated yet) has no receivable accounts */
	relid = cl_relation_oid_if_exists("credit_line_accounts");
	if (!OidIsValid(relid))
		return 0;
	rel = table_open(relid, AccessShareLock);
	index = index_open(cl_relation_oid("credit_line_accounts_receivable_account_key"),
					   AccessShareLock);
	slot = table_slot_create(rel, NULL);
	att = cl_column_map(&line_of_map, rel, line_of_columns, 2);
	if (n == 1)
		ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(ids[0]));
	else
	{
		Datum	   *d = palloc(sizeof(Datum) * n);

		for (int i = 0; i < n; i++)
			d[i] = Int64GetDatum(ids[i]);
		ScanKeyEntryInitialize(&key, SK_SEARCHARRAY, 1, BTEqualStrategyNumber, InvalidOid,
							   InvalidOid, F_INT8EQ,
							   PointerGetDatum(construct_array(d, n, INT8OID, sizeof(int64),
															   FLOAT8PASSBYVAL, TYPALIGN_DOUBLE)));
	}
	CommandCounterIncrement();
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	scan = index_beginscan(rel, index, snapshot, 1, 0);
	index_rescan(scan, &key, 1, NULL, 0);
	while (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		bool		isnull;
		int64		account = DatumGetInt64(slot_getattr(slot, att[0], &isnull));
		int64		line = DatumGetInt64(slot_getattr(slot, att[1], &isnull));

		for (int i = 0; i < n; i++)
			if (ids[i] == account && lines[i] == 0)
			{
				lines[i] = line;
				found++;
			}
	}
	index_endscan(scan);
	UnregisterSnapshot(snapshot);
	ExecDropSingleTupleTableSlot(slot);
	index_close(index, AccessShareLock);
	table_close(rel, NoLock);
	return found;
}

/*
 * receivable_of: the receivable account of a line; LD006 if it has none.
 */
static int64
receivable_of(int64 line_id, const char *what)
{
	int64		account;

	if (!receivable_find(line_id, &account))
		ereport(ERROR,
				(errcode(ERRCODE_CL_CREDIT_LINE_UNAVAILABLE),
				 errmsg("credit line " INT64_FORMAT " has no receivable account", line_id),
				 errdetail("%s books the principal on the line's receivable account.", what),
				 errhint("An administrator sets one with set_credit_line_account(line, account).")));
	return account;
}

/*
 * receivable_line_of: the line whose receivable account account is (0:
 * none), as cl_receivable_line finds it, or from the receivable cache
 * when it may be used (the caller holds the credit graph lock shared).
 */
static int64
receivable_line_of(int64 account)
{
	bool		cache = receivable_cache_ready();
	int64		line;

	if (cache)
	{
		ReceivableEntry *e = receivable_cached(LINE_OF_ACCOUNT, account);

		if (e != NULL)
			return e->value;
	}
	line = cl_receivable_line(account);
	if (cache)
		receivable_remember(LINE_OF_ACCOUNT, account, line);
	return line;
}

/*
 * refuse_self: 22023 when the borrower's (or payer's) account is the
 * receivable account itself, or another line's receivable account
 * (security audit 0.3: disbursing into, or repaying from, another line's
 * receivable moved that receivable without its line).  Looked up without
 * the account's mode lock, unlike cl_refuse_receivables: every caller
 * holds the credit graph lock shared, which set_credit_line_account takes
 * exclusively, so no account becomes a receivable until this call ends.
 */
static void
refuse_self(int64 account, int64 receivable, const char *name)
{
	int64		other;

	if (account == receivable)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s " INT64_FORMAT " is the line's receivable account", name, account),
				 errdetail("A disbursement or repayment moves money between the receivable account and another account.")));
	other = receivable_line_of(account);
	if (other != 0)
		cl_refuse_receivable(account, other);
}

/*
 * transit_ref: the reference of a pending disbursement's transit hold.
 */
static char *
transit_ref(const char *ref)
{
	return psprintf(TRANSIT_PREFIX "%s", ref);
}

/*
 * post_money: the money half of an immediate disbursement or a repayment:
 * claim voucher in the transfers' namespace (LD004 when any transfer has
 * it already: the credit reference was new, so it cannot be this call's)
 * and post amount from debit to credit; receivable is the line's (debit
 * for a disbursement, credit for a repayment), named in the metadata.  The
 * transfer's payload hash is SHA-256 of the kind and the call's payload
 * in jsonb's binary form (canonical: keys sorted, no whitespace), which
 * needs no text output; no replay ever compares it with another call's
 * (a claimed voucher is always LD004 here).
 */
static void
post_money(const char *voucher, const char *kind, Datum payload, int64 debit, int64 credit,
		   int64 amount, int64 line_id, int64 drawdown_id, int64 receivable)
{
	Jsonb	   *jb = DatumGetJsonbP(payload);
	pg_cryptohash_ctx *ctx = cl_hash_ctx_create();
	StringInfoData args;
	uint8		hash[CL_HASH_LEN];
	bool		replayed;
	int64		id;
	PostingLeg	legs[2];

	initStringInfo(&args);
	cl_put_bytes(&args, kind, strlen(kind));
	cl_put_bytes(&args, VARDATA_ANY(jb), VARSIZE_ANY_EXHDR(jb));
	cl_sha256(ctx, (const uint8 *) args.data, args.len, hash);
	pg_cryptohash_free(ctx);
	id = cl_claim_transfer_voucher(voucher, "transfer", hash,
								   cstring_to_text(kind),
								   lending_metadata(line_id, drawdown_id, receivable),
								   &replayed);
	if (replayed)
		ereport(ERROR,
				(errcode(ERRCODE_CL_IDEMPOTENCY_CONFLICT),
				 errmsg("voucher \"%s\" was already used with a different payload", voucher),
				 errdetail("Voucher \"%s\" belongs to transfer " INT64_FORMAT ", not to this %s.",
						   voucher, id, kind),
				 errhint("The reference of a disbursement or repayment is also its transfer's voucher: use a new one.")));
	legs[0] = (PostingLeg) {debit, 'D', amount};
	legs[1] = (PostingLeg) {credit, 'C', amount};
	post_legs(id, voucher, POSTING_TRANSFER, legs, 2, NULL, 0);
}

/*
 * pending_money: the money half of a pending disbursement: transfer_pending
 * (holds.c's implementation) with voucher ref from the receivable to the
 * borrower, expiring with the credit hold (expires_at NULL: never).  A
 * pending voucher that exists already is LD004 (the drawdown was new).
 */
static int64
pending_money(const char *ref, int64 receivable, int64 to_account, int64 amount,
			  bool has_expiry, TimestampTz expires_at, int64 line_id, int64 drawdown_id)
{
	LOCAL_FCINFO(fc, 7);

	{
		static ClPlan pending_exists_plan = {
			"SELECT pending_id FROM creditledger.ledger_pending_transfers"
			" WHERE voucher OPERATOR(pg_catalog.=) $1",
			1, {TEXTOID}
		};
		Datum		v[1] = {CStringGetTextDatum(ref)};

		cl_exec(&pending_exists_plan, v, NULL, 1);
		if (SPI_processed > 0)
			ereport(ERROR,
					(errcode(ERRCODE_CL_IDEMPOTENCY_CONFLICT),
					 errmsg("pending voucher \"%s\" was already used with a different payload", ref),
					 errdetail("Voucher \"%s\" belongs to pending transfer " INT64_FORMAT ", not to this disbursement.",
							   ref, cl_getint64(0, 1, NULL)),
					 errhint("The reference of a pending disbursement is also its pending transfer's voucher: use a new one.")));
	}
	InitFunctionCallInfoData(*fc, NULL, 7, InvalidOid, NULL, NULL);
	fc->args[0].value = CStringGetTextDatum(ref);
	fc->args[0].isnull = false;
	fc->args[1].value = Int64GetDatum(receivable);
	fc->args[1].isnull = false;
	fc->args[2].value = Int64GetDatum(to_account);
	fc->args[2].isnull = false;
	fc->args[3].value = Int64GetDatum(amount);
	fc->args[3].isnull = false;
	fc->args[4].value = TimestampTzGetDatum(expires_at);
	fc->args[4].isnull = !has_expiry;
	fc->args[5].value = CStringGetTextDatum(PENDING_MEMO);
	fc->args[5].isnull = false;
	fc->args[6].value = JsonbPGetDatum(lending_metadata(line_id, drawdown_id, receivable));
	fc->args[6].isnull = false;
	return DatumGetInt64(cl_transfer_pending_lending(fc));
}

/*
 * record_pending: a pending disbursement's row (what links its drawdown to
 * its pending transfer and transit hold), appended through heapwrite.c's
 * direct_insert with its index entries (the unique checks of drawdown_id
 * and pending_id included; ref is the drawdown's, unique among drawdowns)
 * instead of an SPI INSERT.  An immediate disbursement has no row: its
 * drawdown and its transfer (voucher = ref, lending_metadata) are the
 * whole record.  What the direct insert bypasses, and what stands in for
 * it (as in credit_rows.c): the CHECK constraint (amount > 0) and the NOT
 * NULLs, checked here before the write; the foreign keys' checks: the
 * drawdown was claimed by this call and the line's row is locked by it
 * (FOR NO KEY UPDATE, or FOR KEY SHARE for a hot line: credit_line_guard),
 * the locks those checks would take; created_at is now(), as its default.
 * The table has no other trigger, and one with columns this library does
 * not know is refused.
 */
static void
record_pending(int64 drawdown_id, const char *ref, int64 line_id, int64 receivable,
			   int64 to_account, int64 amount, int64 pending_id, int64 transit_hold_id)
{
	DirectTable t;
	const AttrNumber *att;
	TupleDesc	desc;
	int			live = 0;
	Datum	   *v;
	bool	   *isnull;
	Datum		c[DB_COUNT];

	if (amount <= 0 || pending_id == 0 || transit_hold_id == 0)
		elog(ERROR, "creditledger: inconsistent disbursement of drawdown " INT64_FORMAT,
			 drawdown_id);
	c[DB_DRAWDOWN_ID] = Int64GetDatum(drawdown_id);
	c[DB_REF] = CStringGetTextDatum(ref);
	c[DB_LINE_ID] = Int64GetDatum(line_id);
	c[DB_RECEIVABLE] = Int64GetDatum(receivable);
	c[DB_TO_ACCOUNT] = Int64GetDatum(to_account);
	c[DB_AMOUNT] = Int64GetDatum(amount);
	c[DB_PENDING_ID] = Int64GetDatum(pending_id);
	c[DB_TRANSIT_HOLD_ID] = Int64GetDatum(transit_hold_id);
	c[DB_CREATED_AT] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());

	direct_open(&t, "ledger_credit_pending_disbursements");
	desc = RelationGetDescr(t.rel);
	for (int i = 0; i < desc->natts; i++)
		if (!TupleDescAttr(desc, i)->attisdropped)
			live++;
	if (live != DB_COUNT)
		elog(ERROR, "creditledger: table %s has %d columns, this library writes %d",
			 RelationGetRelationName(t.rel), live, DB_COUNT);
	att = cl_column_map(&disbursement_map, t.rel, disbursement_columns, DB_COUNT);
	v = palloc0(sizeof(Datum) * desc->natts);
	isnull = palloc(sizeof(bool) * desc->natts);
	memset(isnull, true, sizeof(bool) * desc->natts);
	for (int i = 0; i < DB_COUNT; i++)
	{
		v[att[i] - 1] = c[i];
		isnull[att[i] - 1] = false;
	}
	(void) direct_insert(&t, v, isnull);
	direct_close(&t);
}

/*
 * graph_lock_try: the credit graph lock, shared, only if free.
 */
static bool
graph_lock_try(void)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) CL_CREDIT_GRAPH_KEY1,
						 (uint32) CL_CREDIT_GRAPH_KEY2, 2);
	return LockAcquire(&tag, ShareLock, false, true) != LOCKACQUIRE_NOT_AVAIL;
}

/* ------------------------------------------------------------------------
 * The SQL functions
 * ------------------------------------------------------------------------ */

/*
 * set_credit_line_account(line, receivable_account): the account that
 * holds the principal lent under the line (admin).  The account must be
 * open (LD003), debit-normal (22023), in the line's currency (LD009),
 * no other line's and without open pending transfers or funds holds
 * (22023; its row is locked, FOR SHARE, while its balance is compared);
 * no disbursement of the line may be in transit and its outstanding
 * drawdowns must equal the account's balance (LD008),
 * so credit_used_equals_receivable holds from the start.  Setting the
 * same account again changes nothing.  A change is a zero-delta credit
 * journal entry (op 'receivable') on the line's chain.
 */
static Datum
set_credit_line_account_impl(PG_FUNCTION_ARGS)
{
	int64		line;
	int64		account;
	char	   *line_currency;
	bool		isnull;
	bool		had;
	int64		current = 0;
	char	   *currency;
	char	   *normal_side;
	char	   *status;
	int64		balance;
	int64		outstanding;
	int64		in_transit;
	Datum		d;

	CL_REQUIRE_ARGS("line", "receivable_account");
	line = PG_GETARG_INT64(0);
	account = PG_GETARG_INT64(1);
	cl_credit_graph_lock(true);
	cl_spi_connect();
	{
		Datum		v[1] = {Int64GetDatum(line)};

		cl_exec(&line_for_account_plan, v, NULL, 1);
	}
	if (SPI_processed == 0)
		cl_raise_line_missing(line);
	line_currency = TextDatumGetCString(cl_getdatum(0, 1, &isnull));
	d = cl_getdatum(0, 2, &isnull);
	had = !isnull;
	if (had)
		current = DatumGetInt64(d);
	/*
	 * The account's mode lock, exclusive (lockorder.h step 5, as
	 * set_account_block): a posting, pending transfer or funds hold on it
	 * in flight is waited for (and then in the balance compared below);
	 * one that comes later waits for this call and, its look-up taken under
	 * that lock, finds the account a receivable (cl_refuse_receivables).
	 */
	cl_mode_lock(account, true);
	{
		Datum		v[1] = {Int64GetDatum(account)};

		cl_exec(&account_lock_plan, v, NULL, 1);
		cl_exec(&account_for_line_plan, v, NULL, 1);
	}
	if (SPI_processed == 0)
		cl_raise_account_missing(account);
	currency = TextDatumGetCString(cl_getdatum(0, 1, &isnull));
	normal_side = TextDatumGetCString(cl_getdatum(0, 2, &isnull));
	status = TextDatumGetCString(cl_getdatum(0, 3, &isnull));
	balance = cl_getint64(0, 4, NULL);
	d = cl_getdatum(0, 5, &isnull);
	if (strcmp(status, "open") != 0)
		cl_raise_account_closed(account);
	if (strcmp(normal_side, "debit") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("receivable account " INT64_FORMAT " must be debit-normal", account),
				 errdetail("Account " INT64_FORMAT " is %s-normal; a receivable is an asset: a disbursement debits it, a repayment credits it.",
						   account, normal_side)));
	if (strcmp(currency, line_currency) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_CL_CURRENCY_MISMATCH),
				 errmsg("account " INT64_FORMAT " and credit line " INT64_FORMAT " have different currencies",
						account, line),
				 errdetail("Account " INT64_FORMAT " is in %s, line " INT64_FORMAT " in %s.",
						   account, currency, line, line_currency)));
	if (!isnull && DatumGetInt64(d) != line)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("account " INT64_FORMAT " is the receivable account of credit line " INT64_FORMAT,
						account, DatumGetInt64(d)),
				 errdetail("Each line has a receivable account of its own, so that its drawdowns and the account's balance can be compared.")));
	if (had && current == account)
	{
		cl_spi_finish();
		PG_RETURN_VOID();
	}
	{
		Datum		v[1] = {Int64GetDatum(account)};
		int64		open_holds;

		cl_exec(&account_holds_plan, v, NULL, 1);
		open_holds = cl_getint64(0, 1, NULL);
		if (open_holds > 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("account " INT64_FORMAT " has open pending transfers or funds holds", account),
					 errdetail(INT64_FORMAT " pending transfer(s) or funds hold(s) on the account are open; once it is a receivable, only lending moves its money.",
							   open_holds),
					 errhint("Post, void or release them first.")));
	}
	{
		Datum		v[1] = {Int64GetDatum(line)};

		cl_exec(&line_loans_plan, v, NULL, 1);
		outstanding = cl_getint64(0, 1, NULL);
		in_transit = cl_getint64(0, 2, NULL);
	}
	if (in_transit > 0)
		ereport(ERROR,
				(errcode(ERRCODE_CL_DRAWDOWN_STATE),
				 errmsg("credit line " INT64_FORMAT " has disbursements in transit", line),
				 errdetail(INT64_FORMAT " pending disbursement(s) of the line debit its receivable account " INT64_FORMAT ".",
						   in_transit, current),
				 errhint("Post or void them first.")));
	if (outstanding != balance)
		ereport(ERROR,
				(errcode(ERRCODE_CL_DRAWDOWN_STATE),
				 errmsg("credit line " INT64_FORMAT " has " INT64_FORMAT " outstanding, account " INT64_FORMAT " a balance of " INT64_FORMAT,
						line, outstanding, account, balance),
				 errdetail("A line's outstanding drawdowns must equal its receivable account's balance (credit_used_equals_receivable)."),
				 errhint("Choose an account whose balance is the line's outstanding principal (usually a new account for a line with nothing drawn).")));
	{
		Datum		v[2] = {Int64GetDatum(line), Int64GetDatum(account)};

		cl_exec(&set_account_plan, v, NULL, 0);
	}
	cl_credit_post_line_event(line, "receivable", psprintf("creditledger:receivable:" INT64_FORMAT, account));
	cl_spi_finish();
	PG_RETURN_VOID();
}

/*
 * credit_disburse(hold_ref, ref, to_account, amount, release_rest,
 * pending): credit_use of the hold and a transfer (voucher ref) from the
 * line's receivable account to to_account, atomically; pending: the money
 * is a pending transfer and the credit stays frozen.  Returns the
 * drawdown id.
 */
static Datum
credit_disburse_impl(PG_FUNCTION_ARGS)
{
	char	   *hold_ref;
	char	   *ref;
	int64		to_account;
	bool		has_amount = !PG_ARGISNULL(3);
	int64		amount = 0;
	bool		release_rest;
	bool		pending;
	Payload		p = {NULL};
	Datum		payload;
	CreditOpResult r;
	int64		receivable;

	hold_ref = cl_required_voucher_arg(fcinfo, 0, "hold_ref");
	ref = cl_required_voucher_arg(fcinfo, 1, "ref");
	cl_require_arg(fcinfo, 2, "to_account");
	to_account = PG_GETARG_INT64(2);
	if (has_amount)
		amount = cl_amount_arg(fcinfo, 3, "amount");
	cl_require_arg(fcinfo, 4, "release_rest");
	release_rest = PG_GETARG_BOOL(4);
	cl_require_arg(fcinfo, 5, "pending");
	pending = PG_GETARG_BOOL(5);
	payload_text(&p, "kind", "disburse");
	payload_text(&p, "hold_ref", hold_ref);
	payload_int(&p, "to_account", false, to_account);
	payload_int(&p, "amount", !has_amount, amount);
	payload_bool(&p, "release_rest", release_rest);
	payload_bool(&p, "pending", pending);
	payload = payload_end(&p);

	cl_spi_connect();
	if (!pending)
	{
		cl_credit_use_hold(hold_ref, ref, has_amount, amount, release_rest, payload, &r);
		if (!r.replayed)
		{
			receivable = receivable_of(r.line_id, "A disbursement");
			refuse_self(to_account, receivable, "to_account");
			post_money(ref, "credit_disburse", payload, receivable, to_account, r.amount,
					   r.line_id, r.id, receivable);
		}
	}
	else
	{
		bool		has_expiry;
		TimestampTz expires_at = 0;
		char	   *tref = transit_ref(ref);

		{
			Datum		v[1] = {CStringGetTextDatum(hold_ref)};
			bool		isnull;
			Datum		d;

			/* the hold's expiry, read before the engine locks it (it never changes) */
			cl_exec(&hold_expiry_plan, v, NULL, 1);
			d = SPI_processed == 1 ? cl_getdatum(0, 1, &isnull) : (isnull = true, (Datum) 0);
			has_expiry = !isnull;
			if (has_expiry)
				expires_at = DatumGetTimestampTz(d);
		}
		cl_credit_transit_from_hold(hold_ref, ref, tref, has_amount, amount, release_rest,
									payload, &r);
		if (!r.replayed)
		{
			int64		pid;

			receivable = receivable_of(r.line_id, "A disbursement");
			refuse_self(to_account, receivable, "to_account");
			pid = pending_money(ref, receivable, to_account, r.amount, has_expiry, expires_at,
								r.line_id, r.id);
			record_pending(r.id, ref, r.line_id, receivable, to_account, r.amount, pid, r.hold_id);
		}
	}
	cl_spi_finish();
	PG_RETURN_INT64(r.id);
}

/*
 * credit_disburse_direct(line, ref, to_account, amount, pending):
 * credit_use_direct and the transfer, atomically (pending: the amount is
 * frozen on the line until the pending transfer is posted).  Returns the
 * drawdown id.
 */
static Datum
credit_disburse_direct_impl(PG_FUNCTION_ARGS)
{
	int64		line;
	char	   *ref;
	int64		to_account;
	int64		amount;
	bool		pending;
	Payload		p = {NULL};
	Datum		payload;
	CreditOpResult r;
	int64		receivable;

	cl_require_arg(fcinfo, 0, "line");
	line = PG_GETARG_INT64(0);
	ref = cl_required_voucher_arg(fcinfo, 1, "ref");
	cl_require_arg(fcinfo, 2, "to_account");
	to_account = PG_GETARG_INT64(2);
	amount = cl_required_amount_arg(fcinfo, 3, "amount");
	cl_require_arg(fcinfo, 4, "pending");
	pending = PG_GETARG_BOOL(4);
	payload_text(&p, "kind", "disburse_direct");
	payload_int(&p, "line", false, line);
	payload_int(&p, "to_account", false, to_account);
	payload_int(&p, "amount", false, amount);
	payload_bool(&p, "pending", pending);
	payload = payload_end(&p);

	cl_spi_connect();
	if (!pending)
	{
		cl_credit_use_line(line, ref, amount, payload, &r);
		if (!r.replayed)
		{
			receivable = receivable_of(line, "A disbursement");
			refuse_self(to_account, receivable, "to_account");
			post_money(ref, "credit_disburse", payload, receivable, to_account, amount, line,
					   r.id, receivable);
		}
	}
	else
	{
		cl_credit_transit_direct(line, ref, transit_ref(ref), amount, payload, &r);
		if (!r.replayed)
		{
			int64		pid;

			receivable = receivable_of(line, "A disbursement");
			refuse_self(to_account, receivable, "to_account");
			pid = pending_money(ref, receivable, to_account, amount, false, 0, line, r.id);
			record_pending(r.id, ref, line, receivable, to_account, amount, pid, r.hold_id);
		}
	}
	cl_spi_finish();
	PG_RETURN_INT64(r.id);
}

/*
 * credit_repay(drawdown_ref, ref, from_account, amount): a transfer
 * (voucher ref) from from_account to the receivable account and the
 * return of amount to the drawdown, atomically.  Returns the credit
 * operation id.
 */
static Datum
credit_repay_impl(PG_FUNCTION_ARGS)
{
	char	   *drawdown_ref;
	char	   *ref;
	int64		from_account;
	int64		amount;
	Payload		p = {NULL};
	Datum		payload;
	CreditOpResult r;

	drawdown_ref = cl_required_voucher_arg(fcinfo, 0, "drawdown_ref");
	ref = cl_required_voucher_arg(fcinfo, 1, "ref");
	cl_require_arg(fcinfo, 2, "from_account");
	from_account = PG_GETARG_INT64(2);
	amount = cl_required_amount_arg(fcinfo, 3, "amount");
	payload_text(&p, "kind", "repay");
	payload_text(&p, "drawdown_ref", drawdown_ref);
	payload_int(&p, "from_account", false, from_account);
	payload_int(&p, "amount", false, amount);
	payload = payload_end(&p);

	cl_spi_connect();
	cl_credit_return_drawdown(drawdown_ref, ref, amount, payload, &r);
	if (!r.replayed)
	{
		int64		receivable = receivable_of(r.line_id, "A repayment");

		refuse_self(from_account, receivable, "from_account");
		post_money(ref, "credit_repay", payload, from_account, receivable, amount, r.line_id,
				   r.drawdown_id, receivable);
	}
	cl_spi_finish();
	PG_RETURN_INT64(r.id);
}

/* ------------------------------------------------------------------------
 * Hooks
 * ------------------------------------------------------------------------ */

/*
 * cl_lending_refuse_credit_only: a credit-only drawdown or return on a
 * line that lends through its receivable account would leave credit and
 * money apart: LD006 (use) or LD008 (return).  The receivable is read
 * without SPI (receivable_find).
 */
static void
cl_lending_refuse_credit_only(int64 line_id, const char *what)
{
	bool		is_return = strcmp(what, "credit_return") == 0;
	int64		account;

	if (!receivable_find(line_id, &account))
		return;
	ereport(ERROR,
			(errcode(is_return ? ERRCODE_CL_DRAWDOWN_STATE : ERRCODE_CL_CREDIT_LINE_UNAVAILABLE),
			 errmsg("credit line " INT64_FORMAT " lends through receivable account " INT64_FORMAT,
					line_id, account),
			 errdetail("%s changes credit without money, which would leave the line's drawdowns and its receivable account apart.",
					   what),
			 errhint(is_return ? "Use credit_repay(drawdown_ref, ref, from_account, amount)."
					 : "Use credit_disburse or credit_disburse_direct.")));
}

/*
 * cl_lending_pending_lookup: whether pending transfer pending_id is a
 * disbursement in transit (then lp describes it).  Inside SPI; no lock.
 */
static bool
cl_lending_pending_lookup(int64 pending_id, LendingPending *lp)
{
	Datum		v[1] = {Int64GetDatum(pending_id)};
	bool		isnull;

	cl_exec(&pending_lookup_plan, v, NULL, 1);
	if (SPI_processed == 0)
		return false;
	lp->pending_id = pending_id;
	lp->drawdown_id = cl_getint64(0, 1, NULL);
	lp->ref = TextDatumGetCString(cl_getdatum(0, 2, &isnull));
	lp->transit_ref = TextDatumGetCString(cl_getdatum(0, 3, &isnull));
	lp->transit_hold_id = cl_getint64(0, 4, NULL);
	return true;
}

/*
 * cl_lending_pending_begin: cl_lending_pending_lookup, and for a
 * disbursement the credit graph lock (shared): transfer_post and
 * transfer_void call it before their claim.  memo_known: the caller read
 * the pending transfer's memo (memo, NULL when it has none): a
 * disbursement's is always PENDING_MEMO (pending_money), so no memo or any
 * other memo is no disbursement and costs no lookup.
 */
static bool
cl_lending_pending_begin(int64 pending_id, bool memo_known, const text *memo,
						 LendingPending *lp)
{
	if (memo_known &&
		(memo == NULL || VARSIZE_ANY_EXHDR(memo) != strlen(PENDING_MEMO) ||
		 memcmp(VARDATA_ANY(memo), PENDING_MEMO, strlen(PENDING_MEMO)) != 0))
		return false;
	if (!cl_lending_pending_lookup(pending_id, lp))
		return false;
	cl_credit_graph_lock(false);
	return true;
}

/*
 * cl_lending_pending_post: transfer_post of a disbursement in transit, its
 * row locked and checked: amount becomes used on the drawdown; closes (a
 * final post, or the last of it) releases the rest of the transit hold.
 */
static void
cl_lending_pending_post(const LendingPending *lp, int64 amount, bool closes)
{
	cl_credit_transit_post(lp->transit_ref, lp->drawdown_id, lp->ref, amount, closes);
}

/*
 * cl_lending_pending_void: transfer_void of a disbursement in transit:
 * what remains of its transit hold is unfrozen (op unfreeze, ref: the
 * void's voucher).
 */
static void
cl_lending_pending_void(const LendingPending *lp, const char *voucher)
{
	cl_credit_transit_release(lp->transit_ref, "unfreeze", voucher);
}

/*
 * cl_lending_pending_expire: the credit half of the expiry of a
 * disbursement in transit, whose pending row the caller locked: the graph
 * lock only if free; the lines waited for unless nowait (the caller holds
 * other records' locks), else only if free.  False, with nothing done
 * that the caller's subtransaction must keep, when a lock is taken.
 */
static bool
cl_lending_pending_expire(const LendingPending *lp, bool nowait)
{
	if (!graph_lock_try())
		return false;
	if (!cl_credit_transit_lock(&lp->transit_hold_id, 1, nowait))
		return false;
	cl_credit_transit_release(lp->transit_ref, "expire", lp->ref);
	return true;
}

/* lending's side of a pending transfer that is a disbursement in transit */
static const PendingTransitHooks transit_hooks = {
	cl_lending_pending_lookup,
	cl_lending_pending_begin,
	cl_lending_pending_post,
	cl_lending_pending_void,
	cl_lending_pending_expire
};

/*
 * cl_lending_init: plug lending into the modules below it, which never
 * call lending by name: the money holds' pending-disbursement hooks
 * (holds.c), the credit engine's refusal of credit-only changes on a
 * lending line (credit_engine.c) and the posting engine's refusal of
 * money-only changes on a receivable account (posting.c).  Called from
 * _PG_init.
 */
void
cl_lending_init(void)
{
	holds_set_transit_hooks(&transit_hooks);
	credit_set_credit_only_guard(cl_lending_refuse_credit_only);
	posting_set_receivable_lookup(receivable_lines_of);
}

/*
 * cl_lending_batch_begin: before post_batch locks the pending transfers
 * its post and void items name: the transit holds of those that are
 * disbursements in transit, and if any, the credit graph lock (shared).
 * Returns how many.  Inside SPI.
 */
int
cl_lending_batch_begin(char **vouchers, int n, int64 **transit_holds)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));
	int			found;

	for (int i = 0; i < n; i++)
		d[i] = CStringGetTextDatum(vouchers[i]);
	{
		Datum		v[1] = {PointerGetDatum(construct_array(d, n, TEXTOID, -1, false, TYPALIGN_INT))};

		cl_exec(&batch_lookup_plan, v, NULL, 0);
	}
	found = (int) SPI_processed;
	*transit_holds = palloc(sizeof(int64) * Max(found, 1));
	for (int i = 0; i < found; i++)
		(*transit_holds)[i] = cl_getint64(i, 1, NULL);
	if (found > 0)
		cl_credit_graph_lock(false);
	return found;
}

/*
 * cl_lending_batch_lock: after the pending rows, before the accounts: the
 * rows of every credit line the batch's disbursements in transit touch,
 * ascending, so that their post and void items wait for no credit lock.
 * Inside SPI.
 */
void
cl_lending_batch_lock(const int64 *transit_holds, int n)
{
	(void) cl_credit_transit_lock(transit_holds, n, false);
}
