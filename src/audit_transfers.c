/*
 * audit_transfers.c: the CLT1 row hash of ledger_transfers rows (encoding
 * in journal.c).
 *
 * Journal entries are chained, transfer rows are not: a transfer row edited
 * behind the guard (memo, metadata, kind, reverses) changes no chain.  So
 * every row gets a row hash when it is inserted (the BEFORE INSERT trigger
 * ledger_transfers_seal, whatever code path inserts it), which the critical
 * BCP rule transfers_consistent recomputes in SQL, and CLD2 ledger digests
 * fold the row hash of every transfer their chains reference, recomputed
 * from the row's fields here (transfer_hasher_get), never read from
 * row_hash.
 *
 * Locking: the trigger runs inside the inserting statement; the hasher reads
 * with the active snapshot and takes AccessShareLock on ledger_transfers and
 * its primary key.
 */
#include "postgres.h"

#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "compat.h"
#include "audit_transfers.h"
#include "heapwrite.h"

/* The ledger_transfers columns the row hash covers, and row_hash itself. */
static const char *const transfer_columns[] = {
	"transfer_id", "voucher", "kind", "reverses", "memo", "metadata",
	"payload_hash", "created_at", "row_hash"
};
enum
{
	TC_TRANSFER_ID, TC_VOUCHER, TC_KIND, TC_REVERSES, TC_MEMO, TC_METADATA,
	TC_PAYLOAD_HASH, TC_CREATED_AT, TC_ROW_HASH, TC_COUNT
};

StaticAssertDecl(lengthof(transfer_columns) == TC_COUNT, "transfer_columns and TC_* differ");

/*
 * row_hash_of: the CLT1 row hash of a row given as values/nulls indexed by
 * attribute number - 1; false when a column the hash needs is NULL (only a
 * row that violates NOT NULL, or was made behind the guard).
 */
static bool
row_hash_of(pg_cryptohash_ctx *ctx, const AttrNumber *att, Datum *values, bool *nulls,
			uint8 out[CL_HASH_LEN])
{
	TransferRow t;
	text	   *voucher,
			   *kind;
	bytea	   *payload;

	if (nulls[att[TC_TRANSFER_ID] - 1] || nulls[att[TC_VOUCHER] - 1] ||
		nulls[att[TC_KIND] - 1] || nulls[att[TC_PAYLOAD_HASH] - 1] ||
		nulls[att[TC_CREATED_AT] - 1])
		return false;

	memset(&t, 0, sizeof(t));
	t.transfer_id = DatumGetInt64(values[att[TC_TRANSFER_ID] - 1]);
	voucher = DatumGetTextPP(values[att[TC_VOUCHER] - 1]);
	t.voucher = VARDATA_ANY(voucher);
	t.voucher_len = VARSIZE_ANY_EXHDR(voucher);
	kind = DatumGetTextPP(values[att[TC_KIND] - 1]);
	t.kind = VARDATA_ANY(kind);
	t.kind_len = VARSIZE_ANY_EXHDR(kind);
	t.has_reverses = !nulls[att[TC_REVERSES] - 1];
	if (t.has_reverses)
		t.reverses = DatumGetInt64(values[att[TC_REVERSES] - 1]);
	if (!nulls[att[TC_MEMO] - 1])
	{
		text	   *memo = DatumGetTextPP(values[att[TC_MEMO] - 1]);

		t.memo = VARDATA_ANY(memo);
		t.memo_len = VARSIZE_ANY_EXHDR(memo);
	}
	if (!nulls[att[TC_METADATA] - 1])
	{
		Jsonb	   *js = DatumGetJsonbP(values[att[TC_METADATA] - 1]);
		StringInfoData s;

		/* the canonical text, as jsonb_out (metadata::text) writes it */
		initStringInfo(&s);
		JsonbToCString(&s, &js->root, VARSIZE(js));
		t.metadata = s.data;
		t.metadata_len = s.len;
	}
	payload = DatumGetByteaPP(values[att[TC_PAYLOAD_HASH] - 1]);
	t.payload_hash = VARDATA_ANY(payload);
	t.payload_hash_len = VARSIZE_ANY_EXHDR(payload);
	t.created_at = DatumGetTimestampTz(values[att[TC_CREATED_AT] - 1]);
	transfer_row_hash(ctx, &t, out);
	return true;
}

/*
 * _transfer_seal(): BEFORE INSERT row trigger on ledger_transfers: sets
 * row_hash to the row's CLT1 hash unless the row brings one (a pg_restore
 * keeps the dumped value, so a row edited before the dump stays visible).
 */
PG_FUNCTION_INFO_V1(cl_transfer_seal);
Datum
cl_transfer_seal(PG_FUNCTION_ARGS)
{
	static ColumnMap columns;
	TriggerData *td = (TriggerData *) fcinfo->context;
	Relation	rel;
	TupleDesc	desc;
	HeapTuple	tup;
	const AttrNumber *att;
	Datum	   *values;
	bool	   *nulls;
	uint8		hash[CL_HASH_LEN];
	pg_cryptohash_ctx *ctx;
	bool		ok;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(td->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(td->tg_event) || !TRIGGER_FIRED_BY_INSERT(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("_transfer_seal() must be a BEFORE INSERT row trigger")));
	rel = td->tg_relation;
	desc = RelationGetDescr(rel);
	tup = td->tg_trigtuple;
	att = cl_column_map(&columns, rel, transfer_columns, TC_COUNT);
	values = palloc(sizeof(Datum) * desc->natts);
	nulls = palloc(sizeof(bool) * desc->natts);
	heap_deform_tuple(tup, desc, values, nulls);
	if (!nulls[att[TC_ROW_HASH] - 1])
		return PointerGetDatum(tup);

	ctx = cl_hash_ctx_create();
	ok = row_hash_of(ctx, att, values, nulls, hash);
	pg_cryptohash_free(ctx);
	if (ok)
	{
		bytea	   *h = palloc(VARHDRSZ + CL_HASH_LEN);
		int			col = att[TC_ROW_HASH];
		Datum		val;
		bool		isnull = false;

		SET_VARSIZE(h, VARHDRSZ + CL_HASH_LEN);
		memcpy(VARDATA(h), hash, CL_HASH_LEN);
		val = PointerGetDatum(h);
		tup = heap_modify_tuple_by_cols(tup, desc, 1, &col, &val, &isnull);
	}
	return PointerGetDatum(tup);
}

/*
 * transfer_hasher_open: ready to recompute row hashes of transfers by id.
 */
TransferHasher *
transfer_hasher_open(pg_cryptohash_ctx *ctx)
{
	static ColumnMap columns;
	TransferHasher *th = palloc0(sizeof(TransferHasher));
	Oid			nsp = get_namespace_oid("creditledger", false);

	th->rel = table_open(cl_relation_oid("ledger_transfers"), AccessShareLock);
	th->idx = index_open(get_relname_relid("ledger_transfers_pkey", nsp), AccessShareLock);
	th->att = cl_column_map(&columns, th->rel, transfer_columns, TC_COUNT);
	th->slot = table_slot_create(th->rel, NULL);
	th->scan = index_beginscan(th->rel, th->idx, GetActiveSnapshot(), 1, 0);
	th->ctx = ctx;
	return th;
}

/*
 * transfer_hasher_get: the CLT1 row hash of transfer transfer_id recomputed
 * from its fields; false when no such row is visible (or it lacks a column).
 */
bool
transfer_hasher_get(TransferHasher *th, int64 transfer_id, uint8 out[CL_HASH_LEN])
{
	int			slot = (int) ((uint64) transfer_id % CL_TRANSFER_CACHE);
	ScanKeyData key;
	bool		ok;

	if (th->cache[slot].valid && th->cache[slot].id == transfer_id)
	{
		memcpy(out, th->cache[slot].hash, CL_HASH_LEN);
		return true;
	}
	th->lookups++;
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(transfer_id));
	index_rescan(th->scan, &key, 1, NULL, 0);
	if (!index_getnext_slot(th->scan, ForwardScanDirection, th->slot))
		return false;
	slot_getallattrs(th->slot);
	ok = row_hash_of(th->ctx, th->att, th->slot->tts_values, th->slot->tts_isnull, out);
	ExecClearTuple(th->slot);
	if (!ok)
		return false;
	th->cache[slot].valid = true;
	th->cache[slot].id = transfer_id;
	memcpy(th->cache[slot].hash, out, CL_HASH_LEN);
	return true;
}

/*
 * transfer_hasher_close: release the scan, the index and the table.
 */
void
transfer_hasher_close(TransferHasher *th)
{
	index_endscan(th->scan);
	ExecDropSingleTupleTableSlot(th->slot);
	index_close(th->idx, AccessShareLock);
	table_close(th->rel, AccessShareLock);
	pfree(th);
}
