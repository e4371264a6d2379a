/*
 * credit.c: the CLC1 canonical encoding of credit journal entries (the
 * encoder credit_engine.c's chain writer and verification use) and the
 * entry points of the credit administration calls.
 *
 * The data path (freeze, unfreeze, use, use_direct, return, expiry, hot
 * slices) is C in credit_engine.c.  The administration calls (create,
 * credit_line_id, link, limit, suspend, resume, close, hot) are still
 * PL/pgSQL bodies named _<function>: each public function here is counted
 * in stat_operations (CL_TRACKED_FUNCTION) and forwards its arguments
 * unchanged to the body of the same name with a leading underscore, looked
 * up once per call site (cached in fn_extra).  set_credit_limit,
 * link_credit_line and the temporary-limit functions are C of their own
 * (credit_limits.c).  The bodies are SECURITY
 * DEFINER; EXECUTE on the public function is what the caller needs.
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
 * No locking here: the bodies lock (lockorder.h), hashing is pure.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_proc.h"
#include "fmgr.h"
#include "nodes/value.h"
#include "parser/parse_func.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "compat.h"
#include "credit.h"
#include "journal.h"
#include "opstats.h"

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

/*
 * body_lookup: the FmgrInfo of creditledger._<name>(same argument types)
 * for the public function being called, cached in its fn_extra.
 */
static FmgrInfo *
body_lookup(FunctionCallInfo fcinfo)
{
	FmgrInfo   *flinfo = fcinfo->flinfo;
	FmgrInfo   *body = (FmgrInfo *) flinfo->fn_extra;
	HeapTuple	proc;
	Form_pg_proc form;
	Oid			body_oid;
	char	   *name;

	if (body != NULL)
		return body;

	proc = SearchSysCache1(PROCOID, ObjectIdGetDatum(flinfo->fn_oid));
	if (!HeapTupleIsValid(proc))
		elog(ERROR, "creditledger: cache lookup failed for function %u", flinfo->fn_oid);
	form = (Form_pg_proc) GETSTRUCT(proc);
	name = psprintf("_%s", NameStr(form->proname));
	body_oid = LookupFuncName(list_make2(makeString(get_namespace_name(form->pronamespace)),
										 makeString(name)),
							  form->pronargs, form->proargtypes.values, false);
	ReleaseSysCache(proc);

	body = MemoryContextAllocZero(flinfo->fn_mcxt, sizeof(FmgrInfo));
	fmgr_info_cxt(body_oid, body, flinfo->fn_mcxt);
	flinfo->fn_extra = body;
	return body;
}

/*
 * credit_forward: call the PL/pgSQL body with this call's arguments and
 * return its result.
 */
static Datum
credit_forward(PG_FUNCTION_ARGS)
{
	FmgrInfo   *body = body_lookup(fcinfo);
	FunctionCallInfo inner;
	Datum		result;

	inner = palloc0(SizeForFunctionCallInfo(fcinfo->nargs));
	InitFunctionCallInfoData(*inner, body, fcinfo->nargs, fcinfo->fncollation, NULL, NULL);
	memcpy(inner->args, fcinfo->args, sizeof(NullableDatum) * fcinfo->nargs);
	result = FunctionCallInvoke(inner);
	fcinfo->isnull = inner->isnull;
	pfree(inner);
	return result;
}

CL_TRACKED_FUNCTION(cl_create_credit_line, CL_OP_CREATE_CREDIT_LINE, credit_forward)
CL_TRACKED_FUNCTION(cl_credit_line_id, CL_OP_CREDIT_LINE_ID, credit_forward)
CL_TRACKED_FUNCTION(cl_suspend_credit_line, CL_OP_SUSPEND_CREDIT_LINE, credit_forward)
CL_TRACKED_FUNCTION(cl_resume_credit_line, CL_OP_RESUME_CREDIT_LINE, credit_forward)
CL_TRACKED_FUNCTION(cl_close_credit_line, CL_OP_CLOSE_CREDIT_LINE, credit_forward)
CL_TRACKED_FUNCTION(cl_set_credit_line_hot, CL_OP_SET_CREDIT_LINE_HOT, credit_forward)
