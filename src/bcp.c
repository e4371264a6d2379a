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
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "bcp.h"
#include "credit.h"
#include "journal.h"
#include "spi_plans.h"
#include "verify_scan.h"

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
							60, 1, INT_MAX, PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("creditledger.bcp_hold_overdue",
							"Time past expires_at after which an open hold fails the holds_not_overdue BCP rule.",
							NULL, &cl_bcp_hold_overdue,
							60, 1, INT_MAX, PGC_SUSET, GUC_UNIT_S,
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

/*
 * emit_head: recompute_digest_heads' callback: one result row.
 */
static void
emit_head(void *arg, char kind, int64 id, int32 sub, int64 version, const uint8 *hash)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) arg;
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, hash == NULL};

	values[0] = CharGetDatum(kind);
	values[1] = Int64GetDatum(id);
	values[2] = Int32GetDatum(sub);
	values[3] = Int64GetDatum(version);
	if (hash != NULL)
	{
		bytea	   *h = palloc(VARHDRSZ + CL_HASH_LEN);

		SET_VARSIZE(h, VARHDRSZ + CL_HASH_LEN);
		memcpy(VARDATA(h), hash, CL_HASH_LEN);
		values[4] = PointerGetDatum(h);
	}
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * _digest_recompute(digest_id): for every chain recorded in the digest, the
 * head hash recomputed from today's journal entries 1..recorded version
 * (each hash from the entry's fields and the previous recomputed hash; the
 * stored hashes are not trusted; NULL if versions are missing).  Returns
 * (kind, id, sub, version, hash).
 */
PG_FUNCTION_INFO_V1(cl_digest_recompute);
Datum
cl_digest_recompute(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	cl_spi_connect();
	recompute_digest_heads(PG_GETARG_INT64(0), emit_head, rsinfo);
	cl_spi_finish();
	return (Datum) 0;
}
