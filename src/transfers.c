/*
 * transfers.c: transfer(), post_entry() and reverse(): vouchers, replays and
 * the rules of reversal.
 *
 * Idempotency: a call first claims its voucher with INSERT ... ON CONFLICT
 * DO NOTHING into ledger_transfers.  The unique index is the only arbiter: a
 * second session with the same voucher waits for the first to commit or
 * abort; after a commit it finds the row and, when the payload hash (SHA-256
 * of every argument of the call, see payload_hash()) matches, returns the
 * same id having changed nothing; otherwise LD004.  After an abort the
 * second session's insert proceeds.  Reversal uniqueness works the same way
 * through the unique ledger_transfers.reverses column: of two concurrent
 * reversals of one transfer, the second finds the conflict and gets LD005.
 * Only after the voucher is claimed are accounts locked and posted
 * (posting.c), so checks run in the contract's order: arguments, reference,
 * account state, balances.
 *
 * For post_batch's bulk path (batch.c) the same steps come apart: the
 * argument checks and payload hash (cl_transfer_prepare,
 * cl_entry_prepare, which the single calls use too), a lookup of many
 * vouchers at once (cl_find_transfer_vouchers, index probes under a new
 * snapshot), the replay rule (cl_transfer_replay), and the new rows of a
 * whole batch inserted together (transfer_rows_*: the claim is the unique
 * check of their voucher index, which waits for a concurrent inserter as
 * ON CONFLICT does and raises 23505 when it committed; the row hash the
 * trigger ledger_transfers_seal would set is computed here).
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/skey.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"

#include "compat.h"
#include "heapwrite.h"
#include "errcodes.h"
#include "opstats.h"
#include "journal.h"
#include "posting.h"
#include "spi_plans.h"
#include "transfers.h"
#include "validate.h"

CL_TRACKED_FUNCTION_SHARED(cl_transfer, CL_OP_TRANSFER, cl_transfer_impl)
CL_TRACKED_FUNCTION_SHARED(cl_post_entry, CL_OP_POST_ENTRY, cl_post_entry_impl)
CL_TRACKED_FUNCTION_SHARED(cl_reverse, CL_OP_REVERSE, cl_reverse_impl)

#define CL_MAX_LEGS 1000

static ClPlan claim_plan = {
	"INSERT INTO creditledger.ledger_transfers"
	" (voucher, kind, reverses, memo, metadata, payload_hash)"
	" VALUES ($1, $2, $3, $4, $5, $6)"
	" ON CONFLICT DO NOTHING"
	" RETURNING transfer_id",
	6, {TEXTOID, TEXTOID, INT8OID, TEXTOID, JSONBOID, BYTEAOID}
};

static ClPlan find_voucher_plan = {
	"SELECT transfer_id, kind, payload_hash, reverses"
	"  FROM creditledger.ledger_transfers WHERE voucher OPERATOR(pg_catalog.=) $1",
	1, {TEXTOID}
};

static ClPlan find_reversal_of_plan = {
	"SELECT transfer_id, voucher FROM creditledger.ledger_transfers"
	" WHERE reverses OPERATOR(pg_catalog.=) $1",
	1, {INT8OID}
};

/* every leg of a transfer: posted (journal) or still buffered, one snapshot */
static ClPlan original_legs_plan = {
	"SELECT account_id, side, amount FROM ("
	"  SELECT account_id, side, amount, 0 AS part, entry_id AS n"
	"    FROM creditledger.journal_entries WHERE transfer_id OPERATOR(pg_catalog.=) $1"
	"  UNION ALL"
	"  SELECT account_id, side, amount, 1, buffer_id"
	"    FROM creditledger.posting_buffer WHERE transfer_id OPERATOR(pg_catalog.=) $1) legs"
	" ORDER BY part, n",
	1, {INT8OID}
};

/* The arguments of a posting call, as the voucher's payload. */
typedef struct CallPayload
{
	const char *kind;			/* 'transfer', 'entry' or 'reversal' */
	StringInfoData args;		/* canonical encoding of the call's arguments */
	text	   *memo;			/* NULL when omitted */
	Jsonb	   *metadata;		/* NULL when omitted */
	int64		reverses;		/* reversal: the original's id, else 0 */
	uint8		hash[CL_HASH_LEN];
} CallPayload;

/*
 * payload_begin: start the payload of a call of this kind.
 */
static void
payload_begin(CallPayload *p, const char *kind)
{
	memset(p, 0, sizeof(*p));
	p->kind = kind;
	initStringInfo(&p->args);
	cl_put_bytes(&p->args, kind, strlen(kind));
}

/*
 * payload_put_optional_text: an optional text argument; NULL is encoded
 * apart from every string (also the empty one).
 */
static void
payload_put_optional_text(CallPayload *p, text *t)
{
	if (t == NULL)
		cl_put_int32(&p->args, -1);
	else
		cl_put_bytes(&p->args, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
}

/*
 * payload_finish: add memo and metadata (metadata in jsonb's canonical text
 * form, so key order and whitespace do not matter) and hash the whole.
 */
static void
payload_finish(CallPayload *p, FunctionCallInfo fcinfo, int memo_arg, int metadata_arg)
{
	pg_cryptohash_ctx *ctx;

	p->memo = PG_ARGISNULL(memo_arg) ? NULL : PG_GETARG_TEXT_PP(memo_arg);
	p->metadata = (metadata_arg < 0 || PG_ARGISNULL(metadata_arg)) ? NULL :
		PG_GETARG_JSONB_P(metadata_arg);
	if (p->metadata != NULL)
		cl_check_metadata(p->metadata, "metadata");
	payload_put_optional_text(p, p->memo);
	if (p->metadata == NULL)
		cl_put_int32(&p->args, -1);
	else
	{
		StringInfoData js;

		initStringInfo(&js);
		JsonbToCString(&js, &p->metadata->root, VARSIZE(p->metadata));
		cl_put_bytes(&p->args, js.data, js.len);
	}
	ctx = cl_hash_ctx_create();
	cl_sha256(ctx, (const uint8 *) p->args.data, p->args.len, p->hash);
	pg_cryptohash_free(ctx);
}

/*
 * find_voucher: look a voucher up; returns its transfer id or 0, and fills
 * kind_out/hash_out when found.  Inside SPI.
 */
static int64
find_voucher(const char *voucher, char **kind_out, uint8 *hash_out)
{
	Datum		values[1] = {CStringGetTextDatum(voucher)};
	bool		isnull;
	bytea	   *h;

	cl_exec(&find_voucher_plan, values, NULL, 1);
	if (SPI_processed == 0)
		return 0;
	if (kind_out)
		*kind_out = TextDatumGetCString(cl_getdatum(0, 2, &isnull));
	h = DatumGetByteaPP(cl_getdatum(0, 3, &isnull));
	if (hash_out)
		memcpy(hash_out, VARDATA_ANY(h), Min(VARSIZE_ANY_EXHDR(h), CL_HASH_LEN));
	return cl_getint64(0, 1, NULL);
}

/*
 * replay_or_conflict: a voucher already exists as transfer id with kind and
 * hash: return id if the call is the same, else raise LD004.
 */
static int64
replay_or_conflict(const char *voucher, int64 id, const char *kind,
				   const uint8 *hash, const CallPayload *p)
{
	if (strcmp(kind, p->kind) == 0 && memcmp(hash, p->hash, CL_HASH_LEN) == 0)
		return id;
	ereport(ERROR,
			(errcode(ERRCODE_CL_IDEMPOTENCY_CONFLICT),
			 errmsg("voucher \"%s\" was already used with a different payload", voucher),
			 errdetail("Voucher \"%s\" belongs to %s " INT64_FORMAT ".",
					   voucher, kind, id),
			 errhint("Use a new voucher for a new posting, or repeat the original call exactly.")));
	return 0;					/* keep compiler quiet */
}

/*
 * claim_voucher: insert the transfer row unless the voucher (or, for a
 * reversal, the original) is taken.  Returns the new id with *replayed =
 * false; the existing id with *replayed = true for a replay; raises LD004
 * for a different payload.  Returns 0 when the insert conflicted on
 * `reverses` only (the original was reversed concurrently).  Inside SPI.
 *
 * A transfer or entry (no reverses: the voucher is the only key that can
 * conflict) is claimed by cl_claim_transfer_voucher, the same INSERT ...
 * ON CONFLICT DO NOTHING without SQL (speculative insertion on the
 * voucher's unique index, the seal trigger's row_hash computed in C), as
 * transfer_post and disbursements already were: the SPI statement cost a
 * transfer some 50,000 instructions more.  A reversal, whose `reverses`
 * key can conflict too, keeps the SQL statement (its arbiter is every
 * unique index), and so does every call while the installed schema is
 * older than this library (an extension not yet updated to 0.3.0 has no
 * row_hash column, which cl_claim_transfer_voucher writes).
 */
static int64
claim_voucher(const char *voucher, CallPayload *p, bool *replayed)
{
	Datum		values[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	bytea	   *h = palloc(VARHDRSZ + CL_HASH_LEN);
	char	   *kind;
	uint8		hash[CL_HASH_LEN];
	int64		id;

	if (p->reverses == 0 &&
		get_attnum(cl_relation_oid("ledger_transfers"), "row_hash") != InvalidAttrNumber)
		return cl_claim_transfer_voucher(voucher, p->kind, p->hash, p->memo, p->metadata,
										 replayed);
	SET_VARSIZE(h, VARHDRSZ + CL_HASH_LEN);
	memcpy(VARDATA(h), p->hash, CL_HASH_LEN);
	values[0] = CStringGetTextDatum(voucher);
	values[1] = CStringGetTextDatum(p->kind);
	values[2] = Int64GetDatum(p->reverses);
	if (p->reverses == 0)
		nulls[2] = 'n';
	values[3] = p->memo ? PointerGetDatum(p->memo) : (Datum) 0;
	if (p->memo == NULL)
		nulls[3] = 'n';
	values[4] = p->metadata ? JsonbPGetDatum(p->metadata) : (Datum) 0;
	if (p->metadata == NULL)
		nulls[4] = 'n';
	values[5] = PointerGetDatum(h);

	cl_exec(&claim_plan, values, nulls, 1);
	*replayed = false;
	if (SPI_processed == 1)
		return cl_getint64(0, 1, NULL);

	id = find_voucher(voucher, &kind, hash);
	if (id == 0)
		return 0;
	*replayed = true;
	return replay_or_conflict(voucher, id, kind, hash, p);
}

/*
 * cl_transfer_replay: the voucher of a prepared transfer or entry exists
 * as transfer id with kind and hash: returns id when the call is the same
 * (a replay), else raises LD004, as the single call would.
 */
int64
cl_transfer_replay(const char *voucher, int64 id, const char *kind, const uint8 *hash,
				   const PreparedPosting *pp)
{
	CallPayload p;

	memset(&p, 0, sizeof(p));
	p.kind = pp->kind;
	memcpy(p.hash, pp->hash, CL_HASH_LEN);
	return replay_or_conflict(voucher, id, kind, hash, &p);
}

/*
 * cl_find_transfer_vouchers: the ledger_transfers rows holding any of
 * vouchers[0..n-1] that a new snapshot sees (committed, or written by this
 * transaction), in *out; returns how many.  One probe of the voucher's
 * unique index per voucher, straight through the index AM (no SQL).
 */
int
cl_find_transfer_vouchers(char **vouchers, int n, FoundVoucher **out)
{
	static const char *const names[] = {"voucher", "transfer_id", "kind", "payload_hash"};
	static ColumnMap map;
	Relation	rel = table_open(cl_relation_oid("ledger_transfers"), AccessShareLock);
	Relation	idx = index_open(cl_relation_oid("ledger_transfers_voucher_key"), AccessShareLock);
	const AttrNumber *att = cl_column_map(&map, rel, names, lengthof(names));
	Snapshot	snapshot = RegisterSnapshot(GetTransactionSnapshot());
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	IndexScanDesc scan = index_beginscan(rel, idx, snapshot, 1, 0);
	int			found = 0;

	if (idx->rd_index->indnatts != 1 || idx->rd_index->indkey.values[0] != att[0])
		elog(ERROR, "creditledger: index ledger_transfers_voucher_key is not on voucher alone");
	*out = palloc0(sizeof(FoundVoucher) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		ScanKeyData key;
		bool		isnull;
		bytea	   *h;
		FoundVoucher *f;

		ScanKeyEntryInitialize(&key, 0, 1, BTEqualStrategyNumber, InvalidOid,
							   idx->rd_indcollation[0], F_TEXTEQ,
							   CStringGetTextDatum(vouchers[i]));
		index_rescan(scan, &key, 1, NULL, 0);
		if (!index_getnext_slot(scan, ForwardScanDirection, slot))
			continue;
		f = &(*out)[found++];
		f->voucher = TextDatumGetCString(slot_getattr(slot, att[0], &isnull));
		f->transfer_id = DatumGetInt64(slot_getattr(slot, att[1], &isnull));
		f->kind = TextDatumGetCString(slot_getattr(slot, att[2], &isnull));
		h = DatumGetByteaPP(slot_getattr(slot, att[3], &isnull));
		memcpy(f->hash, VARDATA_ANY(h), Min(VARSIZE_ANY_EXHDR(h), CL_HASH_LEN));
		ExecClearTuple(slot);
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	UnregisterSnapshot(snapshot);
	index_close(idx, AccessShareLock);
	table_close(rel, AccessShareLock);
	return found;
}

/* The ledger_transfers columns a batch's new rows set. */
static const char *const transfer_row_columns[] = {
	"transfer_id", "voucher", "kind", "reverses", "memo", "metadata",
	"payload_hash", "created_at", "row_hash"
};
enum
{
	TR_TRANSFER_ID, TR_VOUCHER, TR_KIND, TR_REVERSES, TR_MEMO, TR_METADATA,
	TR_PAYLOAD_HASH, TR_CREATED_AT, TR_ROW_HASH, TR_COUNT
};

/* The row trigger whose effect (row_hash) transfer_rows_add computes. */
static const char *const transfer_row_triggers[] = {"ledger_transfers_seal"};

/*
 * transfer_rows_open: ready to add new ledger_transfers rows of a batch.
 */
void
transfer_rows_open(TransferRows *tr)
{
	static ColumnMap map;
	static Oid	seq_relid = InvalidOid;
	static Oid	seq = InvalidOid;

	direct_open(&tr->table, "ledger_transfers");
	tr->att = cl_column_map(&map, tr->table.rel, transfer_row_columns, TR_COUNT);
	if (seq_relid != RelationGetRelid(tr->table.rel))
	{
		seq = cl_relation_oid("transfer_id_seq");
		seq_relid = RelationGetRelid(tr->table.rel);
	}
	tr->seq = seq;
	tr->ctx = cl_hash_ctx_create();
	tr->n = 0;
	tr->cap = 64;
	tr->rows = palloc(sizeof(HeapTuple) * tr->cap);
}

/*
 * transfer_row_fill: values/nulls (indexed by attribute number - 1, the
 * table's width) of the ledger_transfers row a voucher claim inserts:
 * transfer id id, created_at now(), reverses NULL, and the row_hash the
 * trigger ledger_transfers_seal would set (computed with ctx).
 */
static void
transfer_row_fill(TupleDesc desc, const AttrNumber *att, pg_cryptohash_ctx *ctx, int64 id,
				  const char *voucher, const char *kind, text *memo, Jsonb *metadata,
				  const uint8 *hash, Datum *values, bool *nulls)
{
	TransferRow row;
	bytea	   *ph = palloc(VARHDRSZ + CL_HASH_LEN);
	bytea	   *rh = palloc(VARHDRSZ + CL_HASH_LEN);
	uint8		row_hash[CL_HASH_LEN];
	StringInfoData js;
	TimestampTz now = GetCurrentTransactionStartTimestamp();

	SET_VARSIZE(ph, VARHDRSZ + CL_HASH_LEN);
	memcpy(VARDATA(ph), hash, CL_HASH_LEN);

	memset(&row, 0, sizeof(row));
	row.transfer_id = id;
	row.voucher = voucher;
	row.voucher_len = strlen(voucher);
	row.kind = kind;
	row.kind_len = strlen(kind);
	if (memo != NULL)
	{
		row.memo = VARDATA_ANY(memo);
		row.memo_len = VARSIZE_ANY_EXHDR(memo);
	}
	if (metadata != NULL)
	{
		initStringInfo(&js);
		JsonbToCString(&js, &metadata->root, VARSIZE(metadata));
		row.metadata = js.data;
		row.metadata_len = js.len;
	}
	row.payload_hash = (const char *) hash;
	row.payload_hash_len = CL_HASH_LEN;
	row.created_at = now;
	transfer_row_hash(ctx, &row, row_hash);
	SET_VARSIZE(rh, VARHDRSZ + CL_HASH_LEN);
	memcpy(VARDATA(rh), row_hash, CL_HASH_LEN);

	memset(values, 0, sizeof(Datum) * desc->natts);
	memset(nulls, true, sizeof(bool) * desc->natts);
#define TR_SET(col, v) (values[att[col] - 1] = (v), nulls[att[col] - 1] = false)
	TR_SET(TR_TRANSFER_ID, Int64GetDatum(id));
	TR_SET(TR_VOUCHER, CStringGetTextDatum(voucher));
	TR_SET(TR_KIND, CStringGetTextDatum(kind));
	if (memo != NULL)
		TR_SET(TR_MEMO, PointerGetDatum(memo));
	if (metadata != NULL)
		TR_SET(TR_METADATA, JsonbPGetDatum(metadata));
	TR_SET(TR_PAYLOAD_HASH, PointerGetDatum(ph));
	TR_SET(TR_CREATED_AT, TimestampTzGetDatum(now));
	TR_SET(TR_ROW_HASH, PointerGetDatum(rh));
#undef TR_SET
}

/*
 * transfer_rows_add: the row a single call's voucher claim would insert
 * for pp (transfer_row_fill: transfer_id from its sequence, created_at
 * now(), reverses NULL, row_hash as the trigger ledger_transfers_seal
 * computes it), kept for transfer_rows_close; returns its transfer id.
 */
int64
transfer_rows_add(TransferRows *tr, const PreparedPosting *pp)
{
	TupleDesc	desc = RelationGetDescr(tr->table.rel);
	Datum	   *values = palloc(sizeof(Datum) * desc->natts);
	bool	   *nulls = palloc(sizeof(bool) * desc->natts);
	int64		id = nextval_internal(tr->seq, false);

	transfer_row_fill(desc, tr->att, tr->ctx, id, pp->voucher, pp->kind, pp->memo,
					  pp->metadata, pp->hash, values, nulls);
	if (tr->n == tr->cap)
	{
		tr->cap *= 2;
		tr->rows = repalloc_huge(tr->rows, sizeof(HeapTuple) * tr->cap);
	}
	tr->rows[tr->n++] = heap_form_tuple(desc, values, nulls);
	pfree(values);
	pfree(nulls);
	return id;
}

/*
 * transfer_rows_close: insert the kept rows (direct_multi_insert); a
 * voucher taken meanwhile by another transaction raises 23505 on
 * ledger_transfers_voucher_key (after waiting for that transaction, as
 * the unique check does), which post_batch turns into a new evaluation.
 * Closes the table and makes the rows visible.
 */
void
transfer_rows_close(TransferRows *tr)
{
	direct_multi_insert(&tr->table, tr->rows, tr->n, transfer_row_triggers,
						lengthof(transfer_row_triggers));
	pfree(tr->rows);
	tr->rows = NULL;
	tr->n = 0;
	pg_cryptohash_free(tr->ctx);
	direct_close(&tr->table);
}

/*
 * cl_claim_transfer_voucher: claim voucher in the transfers namespace for a
 * transfer or entry (claim_voucher), or a posting made by another module
 * (transfer_post, holds.c; a disbursement or repayment, lending.c), whose
 * payload hash the caller computed over its own arguments; kind is the
 * transfer row's kind.  Returns the new id,
 * or the first call's id with *replayed for a replay; LD004 for another
 * payload.  Inside SPI.
 *
 * The claim is claim_voucher's INSERT ... ON CONFLICT DO NOTHING done
 * without SPI: the row transfer_rows_add would form (row_hash computed
 * here, as the trigger ledger_transfers_seal would; any other row INSERT
 * trigger or a CHECK constraint is refused, direct_check_insert_rules)
 * inserted by heapwrite.c's direct_claim on the voucher's unique index
 * (the executor's speculative insertion: a concurrent claimer of the same
 * voucher waits for the first, then conflicts; under REPEATABLE READ a
 * conflicting row the snapshot cannot see is 40001, as with SQL).  The row
 * has no reverses, so the voucher is the only key that can conflict, as
 * for the SQL statement.  A conflict is decided by claim_voucher's own
 * lookup (find_voucher, replay_or_conflict).
 */
int64
cl_claim_transfer_voucher(const char *voucher, const char *kind, const uint8 *hash,
						  text *memo, Jsonb *metadata, bool *replayed)
{
	static ColumnMap map;
	static const char *const emulated[] = {"ledger_transfers_seal"};
	DirectTable t;
	TupleDesc	desc;
	Datum	   *values;
	bool	   *nulls;
	ItemPointerData tid;
	pg_cryptohash_ctx *ctx;
	const AttrNumber *att;
	int64		id;
	bool		inserted;
	CallPayload p;
	char	   *existing_kind;
	uint8		existing_hash[CL_HASH_LEN];

	direct_open_claim(&t, "ledger_transfers");
	direct_check_insert_rules(&t, emulated, lengthof(emulated));
	desc = RelationGetDescr(t.rel);
	att = cl_column_map(&map, t.rel, transfer_row_columns, TR_COUNT);
	values = palloc(sizeof(Datum) * desc->natts);
	nulls = palloc(sizeof(bool) * desc->natts);
	id = nextval_internal(cl_relation_oid("transfer_id_seq"), false);
	ctx = cl_hash_ctx_create();
	transfer_row_fill(desc, att, ctx, id, voucher, kind, memo, metadata, hash, values, nulls);
	pg_cryptohash_free(ctx);
	inserted = direct_claim(&t, cl_relation_oid("ledger_transfers_voucher_key"), values, nulls,
							&tid);
	direct_close(&t);
	pfree(values);
	pfree(nulls);
	*replayed = false;
	if (inserted)
		return id;

	memset(&p, 0, sizeof(p));
	p.kind = kind;
	p.memo = memo;
	p.metadata = metadata;
	memcpy(p.hash, hash, CL_HASH_LEN);
	id = find_voucher(voucher, &existing_kind, existing_hash);
	if (id == 0)
		return 0;
	*replayed = true;
	return replay_or_conflict(voucher, id, existing_kind, existing_hash, &p);
}

/*
 * cl_transfer_prepare: transfer()'s argument checks and payload hash, in
 * its order and with its errors, without touching the database: what
 * post_batch's in-memory evaluation needs (batch.c).
 */
void
cl_transfer_prepare(FunctionCallInfo fcinfo, PreparedPosting *out)
{
	CallPayload p;
	int64		debit_account,
				credit_account,
				amount;

	CL_REQUIRE_ARGS("voucher", "debit_account", "credit_account", "amount");
	out->voucher = cl_voucher_arg(fcinfo, 0, "voucher");
	debit_account = PG_GETARG_INT64(1);
	credit_account = PG_GETARG_INT64(2);
	amount = cl_amount_arg(fcinfo, 3, "amount");
	if (debit_account == credit_account)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("debit and credit account are the same account " INT64_FORMAT,
						debit_account),
				 errdetail("A transfer moves money between two different accounts.")));

	payload_begin(&p, "transfer");
	cl_put_int64(&p.args, debit_account);
	cl_put_int64(&p.args, credit_account);
	cl_put_int64(&p.args, amount);
	payload_finish(&p, fcinfo, 4, 5);

	out->kind = p.kind;
	out->posting_kind = POSTING_TRANSFER;
	out->nlegs = 2;
	out->legs = palloc(sizeof(PostingLeg) * 2);
	out->legs[0] = (PostingLeg) {debit_account, 'D', amount};
	out->legs[1] = (PostingLeg) {credit_account, 'C', amount};
	out->memo = p.memo;
	out->metadata = p.metadata;
	memcpy(out->hash, p.hash, CL_HASH_LEN);
}

/*
 * post_prepared: a checked transfer or entry (cl_transfer_prepare,
 * cl_entry_prepare): claim its voucher and, unless that is a replay of the
 * same call, post its legs, refusing receivable accounts (they move only
 * through lending).  Returns the transfer id (on a replay, the first
 * call's).
 */
static int64
post_prepared(PreparedPosting *pp)
{
	CallPayload p;
	bool		replayed;
	int64		id;

	memset(&p, 0, sizeof(p));
	p.kind = pp->kind;
	p.memo = pp->memo;
	p.metadata = pp->metadata;
	memcpy(p.hash, pp->hash, CL_HASH_LEN);

	cl_spi_connect();
	id = claim_voucher(pp->voucher, &p, &replayed);
	if (!replayed)
	{
		cl_refuse_receivables(pp->legs, pp->nlegs);
		post_legs(id, pp->voucher, pp->posting_kind, pp->legs, pp->nlegs, NULL, 0);
	}
	cl_spi_finish();
	return id;
}

/*
 * transfer(voucher, debit_account, credit_account, amount, memo, metadata):
 * debit one account and credit another; returns the transfer id.
 */
Datum
cl_transfer_impl(PG_FUNCTION_ARGS)
{
	PreparedPosting pp;

	cl_transfer_prepare(fcinfo, &pp);
	PG_RETURN_INT64(post_prepared(&pp));
}

/*
 * leg_error: raise 22023 for a malformed leg.
 */
static void
leg_error(int i, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("malformed leg %d: %s", i + 1, what),
			 errdetail("Each leg is an object {\"account\": id, \"debit\": amount} or "
					   "{\"account\": id, \"credit\": amount} with a positive integer amount.")));
}

/*
 * leg_int64: a jsonb number that must be integral and in bigint range.
 * jsonb keeps 5e0 as 5 and 5.0 as 5.0, so integrality is judged on the
 * value, not on how it was written: 5, 5.0 and 5e0 are all 5; 5.5 is not
 * an amount.
 */
static int64
leg_int64(JsonbValue *v, int i, const char *key)
{
	Datum		n;
	Datum		truncated;
	char	   *digits;
	char	   *end;
	int64		result;

	if (v->type != jbvNumeric)
		leg_error(i, psprintf("\"%s\" must be a number", key));
	n = NumericGetDatum(v->val.numeric);
	truncated = DirectFunctionCall2(numeric_trunc, n, Int32GetDatum(0));
	if (!DatumGetBool(DirectFunctionCall2(numeric_eq, n, truncated)))
		leg_error(i, psprintf("\"%s\" must be an integer in the range of bigint", key));
	/* the scale-0 form of an integral value is plain digits */
	digits = DatumGetCString(DirectFunctionCall1(numeric_out, truncated));
	errno = 0;
	result = strtoi64(digits, &end, 10);
	if (*digits == '\0' || *end != '\0' || errno != 0)
		leg_error(i, psprintf("\"%s\" must be an integer in the range of bigint", key));
	return result;
}

/*
 * parse_legs: the legs array of post_entry, validated (22023 on any shape
 * error, 2..1000 legs, positive amounts and ids).
 */
static PostingLeg *
parse_legs(Jsonb *legs, int *nlegs)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	PostingLeg *out;
	int			n;
	int			i = -1;
	bool		has_account = false,
				has_amount = false;

	if (!JB_ROOT_IS_ARRAY(legs) || JB_ROOT_IS_SCALAR(legs))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("legs must be a JSON array")));
	n = JB_ROOT_COUNT(legs);
	if (n < 2 || n > CL_MAX_LEGS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("an entry needs 2 to %d legs, not %d", CL_MAX_LEGS, n)));
	out = palloc0(sizeof(PostingLeg) * n);

	it = JsonbIteratorInit(&legs->root);
	tok = JsonbIteratorNext(&it, &v, false);	/* WJB_BEGIN_ARRAY */
	while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		switch (tok)
		{
			case WJB_BEGIN_OBJECT:
				if (i >= 0 && (!has_account || !has_amount))
					leg_error(i, "missing \"account\" or amount");
				i++;
				has_account = has_amount = false;
				break;
			case WJB_KEY:
				{
					char	   *key = pnstrdup(v.val.string.val, v.val.string.len);
					bool		is_account = strcmp(key, "account") == 0;
					bool		is_side = strcmp(key, "debit") == 0 || strcmp(key, "credit") == 0;

					if (!is_account && !is_side)
						leg_error(i, psprintf("unexpected key \"%s\"", key));
					if (is_side && has_amount)
						leg_error(i, "a leg has exactly one of \"debit\" and \"credit\"");
					tok = JsonbIteratorNext(&it, &v, false);
					if (tok != WJB_VALUE)
						leg_error(i, psprintf("\"%s\" must be a number", key));
					if (is_account)
					{
						out[i].account_id = leg_int64(&v, i, key);
						if (out[i].account_id <= 0)
							leg_error(i, "\"account\" must be a positive account id");
						has_account = true;
					}
					else
					{
						out[i].side = key[0] == 'd' ? 'D' : 'C';
						out[i].amount = leg_int64(&v, i, key);
						if (out[i].amount <= 0)
							leg_error(i, "the amount must be positive");
						has_amount = true;
					}
					break;
				}
			case WJB_END_OBJECT:
				break;
			case WJB_END_ARRAY:
				break;
			default:
				/* a scalar or array where a leg object belongs */
				leg_error(i + 1, "each leg must be a JSON object");
		}
	}
	if (i >= 0 && (!has_account || !has_amount))
		leg_error(i, "missing \"account\" or amount");
	*nlegs = n;
	return out;
}

/*
 * cl_entry_prepare: post_entry()'s argument checks (the legs parsed) and
 * payload hash, as cl_transfer_prepare.
 */
void
cl_entry_prepare(FunctionCallInfo fcinfo, PreparedPosting *out)
{
	CallPayload p;

	CL_REQUIRE_ARGS("voucher", "legs");
	out->voucher = cl_voucher_arg(fcinfo, 0, "voucher");
	out->legs = parse_legs(PG_GETARG_JSONB_P(1), &out->nlegs);

	payload_begin(&p, "entry");
	cl_put_int32(&p.args, out->nlegs);
	for (int i = 0; i < out->nlegs; i++)
	{
		cl_put_int64(&p.args, out->legs[i].account_id);
		appendStringInfoChar(&p.args, out->legs[i].side);
		cl_put_int64(&p.args, out->legs[i].amount);
	}
	payload_finish(&p, fcinfo, 2, 3);

	out->kind = p.kind;
	out->posting_kind = POSTING_ENTRY;
	out->memo = p.memo;
	out->metadata = p.metadata;
	memcpy(out->hash, p.hash, CL_HASH_LEN);
}

/*
 * post_entry(voucher, legs, memo, metadata): post a balanced multi-leg
 * entry; returns the transfer id.
 */
Datum
cl_post_entry_impl(PG_FUNCTION_ARGS)
{
	PreparedPosting pp;

	cl_entry_prepare(fcinfo, &pp);
	PG_RETURN_INT64(post_prepared(&pp));
}

/*
 * reversal_refused: raise LD005 with the reason.
 */
static void
reversal_refused(const char *voucher, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_CL_REVERSAL_NOT_ALLOWED),
			 errmsg("transfer \"%s\" cannot be reversed", voucher),
			 errdetail_internal("%s", detail)));
}

/*
 * reverse(voucher, reversal_voucher, reason): post the mirror image of a
 * transfer, at most once; returns the reversal's transfer id.
 */
Datum
cl_reverse_impl(PG_FUNCTION_ARGS)
{
	char	   *voucher;
	char	   *rvoucher;
	CallPayload p;
	char	   *kind;
	uint8		hash[CL_HASH_LEN];
	int64		id,
				orig;
	bool		replayed;
	PostingLeg *legs;
	int			nlegs;

	CL_REQUIRE_ARGS("voucher");
	voucher = cl_voucher_arg(fcinfo, 0, "voucher");
	if (PG_ARGISNULL(1))
		rvoucher = psprintf("%s:reversal", voucher);
	else
		rvoucher = cl_voucher_arg(fcinfo, 1, "reversal_voucher");

	payload_begin(&p, "reversal");
	cl_put_bytes(&p.args, voucher, strlen(voucher));
	payload_finish(&p, fcinfo, 2, -1);
	/* the reason is kept as the reversal's memo */

	cl_spi_connect();

	/* the reference first: a replay returns before any state is looked at */
	id = find_voucher(rvoucher, &kind, hash);
	if (id != 0)
	{
		id = replay_or_conflict(rvoucher, id, kind, hash, &p);
		cl_spi_finish();
		PG_RETURN_INT64(id);
	}

	orig = find_voucher(voucher, &kind, NULL);
	if (orig == 0)
		reversal_refused(voucher, psprintf("No transfer has voucher \"%s\".", voucher));
	if (strcmp(kind, "reversal") == 0)
		reversal_refused(voucher, "It is itself a reversal.");
	{
		Datum		values[1] = {Int64GetDatum(orig)};

		cl_exec(&find_reversal_of_plan, values, NULL, 1);
		if (SPI_processed > 0)
		{
			bool		isnull;

			reversal_refused(voucher,
							 psprintf("It was already reversed by transfer " INT64_FORMAT " (voucher \"%s\").",
									  cl_getint64(0, 1, NULL),
									  TextDatumGetCString(cl_getdatum(0, 2, &isnull))));
		}
	}

	p.reverses = orig;
	id = claim_voucher(rvoucher, &p, &replayed);
	if (id == 0)
		reversal_refused(voucher, "It was reversed concurrently by another voucher.");
	if (replayed)
	{
		cl_spi_finish();
		PG_RETURN_INT64(id);
	}

	/* mirror every leg of the original */
	{
		Datum		values[1] = {Int64GetDatum(orig)};

		cl_exec(&original_legs_plan, values, NULL, 0);
		nlegs = SPI_processed;
		legs = palloc(sizeof(PostingLeg) * Max(nlegs, 1));
		for (int i = 0; i < nlegs; i++)
		{
			bool		isnull;

			legs[i].account_id = cl_getint64(i, 1, NULL);
			legs[i].side = DatumGetChar(cl_getdatum(i, 2, &isnull)) == 'D' ? 'C' : 'D';
			legs[i].amount = cl_getint64(i, 3, NULL);
		}
	}
	if (nlegs == 0)
		elog(ERROR, "creditledger: transfer " INT64_FORMAT " has no journal entries", orig);

	/*
	 * A transfer on a receivable account (a disbursement or a repayment) is
	 * undone only through lending: reversing a repayment gave the money
	 * back while the line kept the credit returned (security audit 0.3).
	 * Looked up under the legs' mode locks (cl_first_receivable).
	 */
	{
		int64		line;
		int64		account = cl_first_receivable(legs, nlegs, &line);

		if (account != 0)
			reversal_refused(voucher,
							 psprintf("It moves money on account " INT64_FORMAT ", the receivable account of credit line " INT64_FORMAT ", which only credit_disburse and credit_repay change.",
									  account, line));
	}
	post_legs(id, rvoucher, POSTING_REVERSAL, legs, nlegs, NULL, 0);
	cl_spi_finish();
	PG_RETURN_INT64(id);
}
