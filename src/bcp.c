/*
 * bcp.c: the C side of BCP reconciliation: the Merkle root of a
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
 * CLD2 (release 0.3.0, the format ledger_digest() writes) also commits to
 * the transfer rows the chains reference:
 *   leaf  = SHA-256(0x00 || "CLD2" || kind || id int64 || sub int32 ||
 *           version int64 || head hash || T), T = 32 bytes: for a money
 *           chain T(version), T(0) = 32 zero bytes, T(v) = SHA-256(T(v-1)
 *           || CLT1 row hash of entry v's transfer); 32 zero bytes for a
 *           credit chain;
 * nodes and tree as CLD1.  verify_digest() checks a digest in the format it
 * was taken in (bcp_digests.format).
 *
 * The recomputation itself is verify_scan.c's (one pass per journal).
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
#include "utils/timestamp.h"

#include "compat.h"
#include "bcp.h"
#include "credit.h"
#include "journal.h"
#include "spi_plans.h"
#include "verify_scan.h"

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

/*
 * hash_datum_or_null: a 32-byte hash as a bytea Datum; *isnull when absent.
 */
static Datum
hash_datum_or_null(const uint8 *hash, bool *isnull)
{
	bytea	   *h;

	*isnull = (hash == NULL);
	if (hash == NULL)
		return (Datum) 0;
	h = palloc(VARHDRSZ + CL_HASH_LEN);
	SET_VARSIZE(h, VARHDRSZ + CL_HASH_LEN);
	memcpy(VARDATA(h), hash, CL_HASH_LEN);
	return PointerGetDatum(h);
}

/* What a recomputation's rows look like. */
typedef enum EmitShape
{
	EMIT_CLD1,					/* kind, id, sub, version, hash */
	EMIT_WITH_TRANSFERS,		/* kind, id, sub, version, hash, transfers */
	EMIT_MONEY_TRANSFERS		/* id, sub, version, hash, transfers ('A' only) */
} EmitShape;

typedef struct EmitState
{
	ReturnSetInfo *rsinfo;
	EmitShape	shape;
} EmitState;

/*
 * emit_head: recompute_digest_heads' callback: one result row.
 */
static void
emit_head(void *arg, char kind, int64 id, int32 sub, int64 version, const uint8 *hash,
		  const uint8 *transfers)
{
	EmitState  *st = (EmitState *) arg;
	Datum		values[6];
	bool		nulls[6] = {false, false, false, false, false, false};
	int			n = 0;

	if (st->shape == EMIT_MONEY_TRANSFERS && kind != 'A')
		return;
	if (st->shape != EMIT_MONEY_TRANSFERS)
		values[n++] = CharGetDatum(kind);
	values[n++] = Int64GetDatum(id);
	values[n++] = Int32GetDatum(sub);
	values[n++] = Int64GetDatum(version);
	values[n] = hash_datum_or_null(hash, &nulls[n]);
	n++;
	if (st->shape != EMIT_CLD1)
	{
		values[n] = hash_datum_or_null(transfers, &nulls[n]);
		n++;
	}
	tuplestore_putvalues(st->rsinfo->setResult, st->rsinfo->setDesc, values, nulls);
}

/*
 * run_recompute: recompute_digest_heads into the SRF's tuplestore.
 */
static void
run_recompute(FunctionCallInfo fcinfo, const DigestSource *src, EmitShape shape)
{
	EmitState	st;

	InitMaterializedSRF(fcinfo, 0);
	st.rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	st.shape = shape;
	cl_spi_connect();
	recompute_digest_heads(src, emit_head, &st);
	cl_spi_finish();
}

/*
 * _digest_recompute(digest_id) (0.2.0 declaration): for every chain
 * recorded in the digest, the head hash recomputed from today's journal
 * entries 1..recorded version (each hash from the entry's fields and the
 * previous recomputed hash; the stored hashes are not trusted; NULL if
 * versions are missing).  Returns (kind, id, sub, version, hash).  Kept so
 * a 0.2.0 schema works with this library until ALTER EXTENSION UPDATE.
 */
PG_FUNCTION_INFO_V1(cl_digest_recompute);
Datum
cl_digest_recompute(PG_FUNCTION_ARGS)
{
	DigestSource src = {0};

	src.digest_id = PG_GETARG_INT64(0);
	src.credit = true;
	run_recompute(fcinfo, &src, EMIT_CLD1);
	return (Datum) 0;
}

/*
 * _digest_recompute(digest_id, with_transfers): as above, plus (with
 * with_transfers) each money chain's T(version) over the CLT1 row hashes of
 * its entries' transfers, recomputed from the ledger_transfers rows (zero
 * for credit chains; NULL, with the hash, when a transfer is missing).
 * Returns (kind, id, sub, version, hash, transfers).
 */
PG_FUNCTION_INFO_V1(cl_digest_recompute_clt);
Datum
cl_digest_recompute_clt(PG_FUNCTION_ARGS)
{
	DigestSource src = {0};

	src.digest_id = PG_GETARG_INT64(0);
	src.with_transfers = PG_GETARG_BOOL(1);
	src.credit = true;
	run_recompute(fcinfo, &src, EMIT_WITH_TRANSFERS);
	return (Datum) 0;
}

/*
 * _digest_transfers(kinds, chain_ids, subs, versions): for the money chains
 * ('A') among the given ones, the recomputed head hash and T(version), as
 * ledger_digest() records them.  Returns (chain_id, sub, version, hash,
 * transfers); NULLs when entries or transfers are missing.
 */
PG_FUNCTION_INFO_V1(cl_digest_transfers);
Datum
cl_digest_transfers(PG_FUNCTION_ARGS)
{
	DigestSource src = {0};

	src.kinds = PG_GETARG_ARRAYTYPE_P(0);
	src.ids = PG_GETARG_ARRAYTYPE_P(1);
	src.subs = PG_GETARG_ARRAYTYPE_P(2);
	src.versions = PG_GETARG_ARRAYTYPE_P(3);
	src.with_transfers = true;
	src.credit = false;
	run_recompute(fcinfo, &src, EMIT_MONEY_TRANSFERS);
	return (Datum) 0;
}
