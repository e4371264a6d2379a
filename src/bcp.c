/*
 * bcp.c: the C side of BCP reconciliation: its GUCs, the Merkle root of a
 * ledger digest, and the recomputation of recorded chain heads from today's
 * journal (verify_digest).  The rules, runs and history are SQL (0.2.0
 * script).
 *
 * Digest (CLD1, documented in the README so an auditor can recompute it
 * from an export):
 *   leaf  = SHA-256(0x00 || "CLD1" || kind (1 byte, 'A' account chain or
 *           'L' credit-line chain) || id int64 || sub int32 || version int64
 *           || head hash (32 bytes)), integers big-endian;
 *   node  = SHA-256(0x01 || left || right);
 * leaves in key order (kind, id, sub); each level pairs neighbours left to
 * right and an odd last node moves up unchanged; the root of no leaves is
 * 32 zero bytes.
 *
 * Locking: none; reads with the caller's snapshot.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "bcp.h"
#include "credit.h"
#include "journal.h"
#include "spi_plans.h"

/* Thresholds of the warning rules (read by the rule queries) */
static int	cl_bcp_buffer_max_age = 60;
static int	cl_bcp_hold_overdue = 60;

/*
 * cl_define_bcp_gucs: the thresholds the built-in warning rules read.
 */
void
cl_define_bcp_gucs(void)
{
	DefineCustomIntVariable("creditledger.bcp_buffer_max_age",
							"Age beyond which a buffered posting fails the buffer_not_stale BCP rule.",
							NULL, &cl_bcp_buffer_max_age,
							60, 1, INT_MAX, PGC_USERSET, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("creditledger.bcp_hold_overdue",
							"Time past expires_at after which an open hold fails the holds_not_overdue BCP rule.",
							NULL, &cl_bcp_hold_overdue,
							60, 1, INT_MAX, PGC_USERSET, GUC_UNIT_S,
							NULL, NULL, NULL);
}

/*
 * _merkle_root(leaves bytea[]): the root over 32-byte leaves in array order;
 * NULL if any leaf is NULL or not 32 bytes.
 */
PG_FUNCTION_INFO_V1(cl_merkle_root);
Datum
cl_merkle_root(PG_FUNCTION_ARGS)
{
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(0);
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	uint8	   *level;
	pg_cryptohash_ctx *ctx;
	bytea	   *result;

	deconstruct_array(arr, BYTEAOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	level = palloc0(Max(n, 1) * CL_HASH_LEN);
	for (int i = 0; i < n; i++)
	{
		bytea	   *b;

		if (nulls[i])
			PG_RETURN_NULL();
		b = DatumGetByteaPP(elems[i]);
		if (VARSIZE_ANY_EXHDR(b) != CL_HASH_LEN)
			PG_RETURN_NULL();
		memcpy(level + i * CL_HASH_LEN, VARDATA_ANY(b), CL_HASH_LEN);
	}

	ctx = cl_hash_ctx_create();
	while (n > 1)
	{
		int			up = 0;

		for (int i = 0; i < n; i += 2)
		{
			if (i + 1 < n)
			{
				uint8		buf[1 + 2 * CL_HASH_LEN];

				buf[0] = 0x01;
				memcpy(buf + 1, level + i * CL_HASH_LEN, 2 * CL_HASH_LEN);
				cl_sha256(ctx, buf, sizeof(buf), level + up * CL_HASH_LEN);
			}
			else
				memmove(level + up * CL_HASH_LEN, level + i * CL_HASH_LEN, CL_HASH_LEN);
			up++;
		}
		n = up;
	}
	pg_cryptohash_free(ctx);

	result = palloc(VARHDRSZ + CL_HASH_LEN);
	SET_VARSIZE(result, VARHDRSZ + CL_HASH_LEN);
	memcpy(VARDATA(result), level, CL_HASH_LEN);	/* zeros when n == 0 */
	PG_RETURN_BYTEA_P(result);
}

/* The recorded chains' entries, up to each recorded version, in key order. */
static ClPlan money_prefix_plan = {
	"SELECT e.account_id, e.sub_account, e.version, e.transfer_id, e.side, e.amount,"
	"       e.balance_before, e.balance_after, e.is_reversal, e.accepted_at, e.posted_at, e.voucher"
	"  FROM creditledger.journal_entries e"
	"  JOIN creditledger.bcp_digest_heads h"
	"    ON h.digest_id = $1 AND h.kind = 'A' AND h.chain_id = e.account_id"
	"   AND h.sub = e.sub_account AND e.version <= h.version"
	" ORDER BY e.account_id, e.sub_account, e.version",
	1, {INT8OID}
};
static ClPlan credit_prefix_plan = {
	"SELECT e.line_id, e.slice, e.version, e.op, e.ref, e.frozen_delta, e.used_delta,"
	"       e.returned_delta, e.frozen_after, e.used_after, e.returned_after, e.created_at"
	"  FROM creditledger.credit_journal_entries e"
	"  JOIN creditledger.bcp_digest_heads h"
	"    ON h.digest_id = $1 AND h.kind = 'L' AND h.chain_id = e.line_id"
	"   AND h.sub = e.slice AND e.version <= h.version"
	" ORDER BY e.line_id, e.slice, e.version",
	1, {INT8OID}
};

/* A chain being recomputed. */
typedef struct Recompute
{
	bool		active;
	char		kind;
	int64		id;
	int32		sub;
	int64		version;		/* last version seen; -1 once broken */
	uint8		hash[CL_HASH_LEN];
} Recompute;

/*
 * emit_head: one result row for the chain recomputed so far (hash NULL when
 * its versions were not 1, 2, 3 ... without gaps).
 */
static void
emit_head(ReturnSetInfo *rsinfo, Recompute *r)
{
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, r->version < 0};
	bytea	   *h = palloc(VARHDRSZ + CL_HASH_LEN);

	if (!r->active)
		return;
	SET_VARSIZE(h, VARHDRSZ + CL_HASH_LEN);
	memcpy(VARDATA(h), r->hash, CL_HASH_LEN);
	values[0] = CharGetDatum(r->kind);
	values[1] = Int64GetDatum(r->id);
	values[2] = Int32GetDatum(r->sub);
	values[3] = Int64GetDatum(r->version);
	values[4] = PointerGetDatum(h);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	r->active = false;
}

/*
 * advance: move r to (kind, id, sub, version), starting a new chain when
 * the key changes; returns false if the version breaks the sequence.
 */
static bool
advance(ReturnSetInfo *rsinfo, Recompute *r, char kind, int64 id, int32 sub, int64 version)
{
	if (!r->active || r->kind != kind || r->id != id || r->sub != sub)
	{
		emit_head(rsinfo, r);
		r->active = true;
		r->kind = kind;
		r->id = id;
		r->sub = sub;
		r->version = 0;
		memcpy(r->hash, cl_zero_hash, CL_HASH_LEN);
	}
	if (r->version < 0 || version != r->version + 1)
	{
		r->version = -1;
		return false;
	}
	r->version = version;
	return true;
}

/*
 * _digest_recompute(digest_id): for every chain recorded in the digest, the
 * head hash recomputed from today's journal entries 1..recorded version
 * (each hash from the entry's fields and the previous recomputed hash; the
 * stored hashes are not trusted).  Returns (kind, id, sub, version, hash).
 */
PG_FUNCTION_INFO_V1(cl_digest_recompute);
Datum
cl_digest_recompute(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum		arg[1] = {PG_GETARG_DATUM(0)};
	pg_cryptohash_ctx *ctx;
	Recompute	r = {0};
	Portal		portal;

	InitMaterializedSRF(fcinfo, 0);
	cl_spi_connect();
	ctx = cl_hash_ctx_create();

	/* money chains */
	portal = SPI_cursor_open(NULL, cl_plan(&money_prefix_plan), arg, NULL, true);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, 2000);
		if (SPI_processed == 0)
			break;
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			JournalEntry e;
			bool		isnull;
			text	   *voucher;

			e.account_id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
			e.sub_account = DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull));
			e.version = DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull));
			if (!advance(rsinfo, &r, 'A', e.account_id, e.sub_account, e.version))
				continue;
			e.transfer_id = DatumGetInt64(SPI_getbinval(tup, desc, 4, &isnull));
			e.side = DatumGetChar(SPI_getbinval(tup, desc, 5, &isnull));
			e.amount = DatumGetInt64(SPI_getbinval(tup, desc, 6, &isnull));
			e.balance_before = DatumGetInt64(SPI_getbinval(tup, desc, 7, &isnull));
			e.balance_after = DatumGetInt64(SPI_getbinval(tup, desc, 8, &isnull));
			e.is_reversal = DatumGetBool(SPI_getbinval(tup, desc, 9, &isnull));
			e.accepted_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 10, &isnull));
			e.posted_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 11, &isnull));
			voucher = DatumGetTextPP(SPI_getbinval(tup, desc, 12, &isnull));
			e.voucher = VARDATA_ANY(voucher);
			e.voucher_len = VARSIZE_ANY_EXHDR(voucher);
			journal_entry_hash(ctx, r.hash, &e, r.hash);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	emit_head(rsinfo, &r);

	/* credit chains */
	portal = SPI_cursor_open(NULL, cl_plan(&credit_prefix_plan), arg, NULL, true);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, 2000);
		if (SPI_processed == 0)
			break;
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			CreditEntry e;
			bool		isnull;
			text	   *op,
					   *ref;

			e.line_id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
			e.slice = DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull));
			e.version = DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull));
			if (!advance(rsinfo, &r, 'L', e.line_id, e.slice, e.version))
				continue;
			op = DatumGetTextPP(SPI_getbinval(tup, desc, 4, &isnull));
			ref = DatumGetTextPP(SPI_getbinval(tup, desc, 5, &isnull));
			e.op = VARDATA_ANY(op);
			e.op_len = VARSIZE_ANY_EXHDR(op);
			e.ref = VARDATA_ANY(ref);
			e.ref_len = VARSIZE_ANY_EXHDR(ref);
			e.frozen_delta = DatumGetInt64(SPI_getbinval(tup, desc, 6, &isnull));
			e.used_delta = DatumGetInt64(SPI_getbinval(tup, desc, 7, &isnull));
			e.returned_delta = DatumGetInt64(SPI_getbinval(tup, desc, 8, &isnull));
			e.frozen_after = DatumGetInt64(SPI_getbinval(tup, desc, 9, &isnull));
			e.used_after = DatumGetInt64(SPI_getbinval(tup, desc, 10, &isnull));
			e.returned_after = DatumGetInt64(SPI_getbinval(tup, desc, 11, &isnull));
			e.created_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 12, &isnull));
			credit_entry_hash(ctx, r.hash, &e, r.hash);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	emit_head(rsinfo, &r);

	pg_cryptohash_free(ctx);
	cl_spi_finish();
	return (Datum) 0;
}
