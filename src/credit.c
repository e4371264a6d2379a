/*
 * credit.c: the CLC1 canonical encoding of credit journal entries: the
 * credit chain kind (columns and encoder) that credit_engine.c's chain
 * writer and verify_chain use, and _credit_entry_hash for SQL.
 *
 * The data path (freeze, unfreeze, use, use_direct, return, expiry, hot
 * slices) is credit_engine.c; the administration calls are
 * credit_admin.c (create, credit_line_id, suspend, resume, close, hot) and
 * credit_limits.c (limits, links, temporary limits).
 *
 * CLC1: hash = SHA-256(prev_hash || encoding), integers big-endian,
 * timestamps as microseconds since 1970-01-01 00:00:00 UTC:
 *
 *   "CLC1"                 4 bytes, format tag
 *   line_id                int64
 *   slice                  int32 (0 = the line's own chain)
 *   version                int64
 *   op                     int32 byte length, then the UTF-8 bytes
 *   ref                    int32 byte length, then the UTF-8 bytes
 *   frozen_delta, used_delta, returned_delta     int64 each
 *   frozen_after, used_after, returned_after     int64 each
 *   created_at             int64
 *
 * No locking here: hashing is pure.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "credit.h"
#include "journal.h"

/*
 * credit_entry_hash: the chained hash of one credit journal entry.
 */
void
credit_entry_hash(pg_cryptohash_ctx *ctx, const uint8 prev_hash[CL_HASH_LEN],
				  const CreditEntry *e, uint8 out[CL_HASH_LEN])
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, (const char *) prev_hash, CL_HASH_LEN);
	appendBinaryStringInfo(&buf, "CLC1", 4);
	cl_put_int64(&buf, e->line_id);
	cl_put_int32(&buf, e->slice);
	cl_put_int64(&buf, e->version);
	cl_put_bytes(&buf, e->op, e->op_len);
	cl_put_bytes(&buf, e->ref, e->ref_len);
	cl_put_int64(&buf, e->frozen_delta);
	cl_put_int64(&buf, e->used_delta);
	cl_put_int64(&buf, e->returned_delta);
	cl_put_int64(&buf, e->frozen_after);
	cl_put_int64(&buf, e->used_after);
	cl_put_int64(&buf, e->returned_after);
	cl_put_int64(&buf, cl_unix_usecs(e->created_at));
	cl_sha256(ctx, (const uint8 *) buf.data, buf.len, out);
	pfree(buf.data);
}

/* The credit chain kind: credit_journal_entries, CLC1. */
static const char *const credit_entry_columns[] = {
	"entry_id", "line_id", "slice", "version", "op", "ref",
	"frozen_delta", "used_delta", "returned_delta",
	"frozen_after", "used_after", "returned_after", "prev_hash", "hash", "created_at"
};

static Datum
hash_bytea(const uint8 *hash)
{
	bytea	   *b = palloc(VARHDRSZ + CL_HASH_LEN);

	SET_VARSIZE(b, VARHDRSZ + CL_HASH_LEN);
	memcpy(VARDATA(b), hash, CL_HASH_LEN);
	return PointerGetDatum(b);
}

/* credit_encode: the kind's encoder (CLC1) */
static void
credit_encode(pg_cryptohash_ctx *ctx, const uint8 *prev_hash, const void *entry, uint8 *out)
{
	credit_entry_hash(ctx, prev_hash, (const CreditEntry *) entry, out);
}

/* credit_fill: the kind's row */
static void
credit_fill(const void *entry, const uint8 *prev_hash, const uint8 *hash, Datum *v, bool *isnull)
{
	const CreditEntry *e = entry;

	v[1] = Int64GetDatum(e->line_id);
	v[2] = Int32GetDatum(e->slice);
	v[3] = Int64GetDatum(e->version);
	v[4] = PointerGetDatum(cstring_to_text_with_len(e->op, e->op_len));
	v[5] = PointerGetDatum(cstring_to_text_with_len(e->ref, e->ref_len));
	v[6] = Int64GetDatum(e->frozen_delta);
	v[7] = Int64GetDatum(e->used_delta);
	v[8] = Int64GetDatum(e->returned_delta);
	v[9] = Int64GetDatum(e->frozen_after);
	v[10] = Int64GetDatum(e->used_after);
	v[11] = Int64GetDatum(e->returned_after);
	v[12] = hash_bytea(prev_hash);
	v[13] = hash_bytea(hash);
	v[14] = TimestampTzGetDatum(e->created_at);
}

static ChainKindCache credit_cache;
const ChainKind cl_credit_chain_kind = {
	"credit_journal_entries", "credit_entry_id_seq", credit_entry_columns,
	lengthof(credit_entry_columns), &credit_cache, credit_encode, credit_fill
};

/*
 * _credit_entry_hash(prev_hash, line_id, slice, version, op, ref, deltas...,
 * afters..., created_at): the hash the credit bodies store (STRICT).
 */
PG_FUNCTION_INFO_V1(cl_credit_entry_hash);
Datum
cl_credit_entry_hash(PG_FUNCTION_ARGS)
{
	bytea	   *prev = PG_GETARG_BYTEA_PP(0);
	text	   *op = PG_GETARG_TEXT_PP(4);
	text	   *ref = PG_GETARG_TEXT_PP(5);
	CreditEntry e;
	uint8		prev_hash[CL_HASH_LEN] = {0};
	uint8		out[CL_HASH_LEN];
	pg_cryptohash_ctx *ctx;
	bytea	   *result;

	if (VARSIZE_ANY_EXHDR(prev) != CL_HASH_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("prev_hash must be %d bytes", CL_HASH_LEN)));
	memcpy(prev_hash, VARDATA_ANY(prev), CL_HASH_LEN);
	e.line_id = PG_GETARG_INT64(1);
	e.slice = PG_GETARG_INT32(2);
	e.version = PG_GETARG_INT64(3);
	e.op = VARDATA_ANY(op);
	e.op_len = VARSIZE_ANY_EXHDR(op);
	e.ref = VARDATA_ANY(ref);
	e.ref_len = VARSIZE_ANY_EXHDR(ref);
	e.frozen_delta = PG_GETARG_INT64(6);
	e.used_delta = PG_GETARG_INT64(7);
	e.returned_delta = PG_GETARG_INT64(8);
	e.frozen_after = PG_GETARG_INT64(9);
	e.used_after = PG_GETARG_INT64(10);
	e.returned_after = PG_GETARG_INT64(11);
	e.created_at = PG_GETARG_TIMESTAMPTZ(12);

	ctx = cl_hash_ctx_create();
	credit_entry_hash(ctx, prev_hash, &e, out);
	pg_cryptohash_free(ctx);

	result = (bytea *) palloc(VARHDRSZ + CL_HASH_LEN);
	SET_VARSIZE(result, VARHDRSZ + CL_HASH_LEN);
	memcpy(VARDATA(result), out, CL_HASH_LEN);
	PG_RETURN_BYTEA_P(result);
}
