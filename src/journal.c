/*
 * journal.c: the canonical encoding of journal entries and their SHA-256 chain.
 *
 * hash = SHA-256(prev_hash || encoding), where encoding is (all integers
 * big-endian, timestamps as microseconds since 1970-01-01 00:00:00 UTC):
 *
 *   "CLJ1"                     4 bytes, format tag
 *   account_id                 int64
 *   sub_account                int32
 *   version                    int64
 *   transfer_id                int64
 *   side                       1 byte, 'D' or 'C'
 *   amount                     int64
 *   balance_before             int64
 *   balance_after              int64
 *   is_reversal                1 byte, 0 or 1
 *   accepted_at                int64
 *   posted_at                  int64
 *   voucher                    int32 byte length, then the UTF-8 bytes
 *
 * The first entry of a chain has prev_hash = 32 zero bytes.  The same bytes
 * can be produced in SQL with int8send/int4send (see README), so an auditor
 * can recompute any hash without this code.
 *
 * A ledger_transfers row has its own (unchained) row hash, SHA-256 over
 * (release 0.3.0, sql/upgrade-0.3.0/30_transfer_integrity.sql):
 *
 *   "CLT1"                     4 bytes, format tag
 *   transfer_id                int64
 *   voucher                    int32 byte length, then the UTF-8 bytes
 *   kind                       int32 byte length, then the bytes
 *   reverses                   1 byte 0 when NULL, else 1 followed by int64
 *   memo                       int32 -1 when NULL, else length and bytes
 *   metadata                   int32 -1 when NULL, else length and the bytes
 *                              of jsonb's canonical text (metadata::text)
 *   payload_hash               int32 byte length, then the bytes
 *   created_at                 int64
 *
 * It is stored in ledger_transfers.row_hash when the row is inserted (a
 * trigger, audit_transfers.c), checked by the BCP rule transfers_consistent
 * and folded into CLD2 ledger digests.  Pure functions: no locking.
 */
#include "postgres.h"

#include "common/cryptohash.h"
#include "lib/stringinfo.h"
#include "port/pg_bswap.h"
#ifdef USE_OPENSSL
#include <openssl/evp.h>
#endif

#include "compat.h"
#include "journal.h"

/* Seconds from the Unix epoch to the PostgreSQL epoch (2000-01-01). */
#define UNIX_TO_PG_EPOCH_USECS \
	((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * USECS_PER_SEC)

const uint8 cl_zero_hash[CL_HASH_LEN] = {0};

/*
 * cl_put_int64 / cl_put_int32 / cl_put_bytes: append in canonical form.
 */
void
cl_put_int64(StringInfo buf, int64 v)
{
	uint64		be = pg_hton64((uint64) v);

	appendBinaryStringInfo(buf, (const char *) &be, sizeof(be));
}

void
cl_put_int32(StringInfo buf, int32 v)
{
	uint32		be = pg_hton32((uint32) v);

	appendBinaryStringInfo(buf, (const char *) &be, sizeof(be));
}

void
cl_put_bytes(StringInfo buf, const char *data, int len)
{
	cl_put_int32(buf, len);
	appendBinaryStringInfo(buf, data, len);
}

/*
 * cl_hash_datum: a bytea Datum holding a hash (a chain row's prev_hash,
 * hash or last_hash column).
 */
Datum
cl_hash_datum(const uint8 *hash)
{
	bytea	   *b = palloc(VARHDRSZ + CL_HASH_LEN);

	SET_VARSIZE(b, VARHDRSZ + CL_HASH_LEN);
	memcpy(VARDATA(b), hash, CL_HASH_LEN);
	return PointerGetDatum(b);
}

/*
 * cl_unix_usecs: a timestamp as microseconds since the Unix epoch, as every
 * canonical encoding writes it.
 */
int64
cl_unix_usecs(TimestampTz t)
{
	return t + UNIX_TO_PG_EPOCH_USECS;
}

/*
 * cl_hash_ctx_create: a SHA-256 context owned by the current resource owner,
 * reusable for many digests; the callers pass it to cl_sha256 (directly or
 * through the encoders) and free it with pg_cryptohash_free.  With OpenSSL
 * cl_sha256 uses the backend's own context instead, so there is none to
 * create: NULL (pg_cryptohash_free(NULL) does nothing).
 */
pg_cryptohash_ctx *
cl_hash_ctx_create(void)
{
#ifdef USE_OPENSSL
	return NULL;
#else
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);

	if (ctx == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	return ctx;
#endif
}

#ifdef USE_OPENSSL
/*
 * With OpenSSL, cl_sha256 digests on the backend's one EVP context with a
 * SHA-256 implementation fetched once: pg_cryptohash_init passes
 * EVP_sha256() to EVP_DigestInit_ex, which under OpenSSL 3 fetches the
 * implementation again for every digest, about 40% of the cost of the
 * short digests the ledger computes (four per transfer).  Created on first
 * use, kept for the backend's life (malloc'ed by OpenSSL, no memory
 * context); no digest is ever left half done (one call does all of it).
 */
static EVP_MD_CTX *sha256_evp;
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
static EVP_MD *sha256_md;
#else
static const EVP_MD *sha256_md;
#endif
#endif

/*
 * cl_sha256: SHA-256 of data.  Without OpenSSL it uses (and resets) ctx;
 * with OpenSSL the backend's own context above (ctx is then not used).
 */
void
cl_sha256(pg_cryptohash_ctx *ctx, const uint8 *data, size_t len, uint8 out[CL_HASH_LEN])
{
#ifdef USE_OPENSSL
	unsigned int outlen = 0;

	if (sha256_md == NULL)
	{
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
		sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
#else
		sha256_md = EVP_sha256();
#endif
		if (sha256_md == NULL)
			elog(ERROR, "creditledger: could not fetch SHA-256 from OpenSSL");
	}
	if (sha256_evp == NULL && (sha256_evp = EVP_MD_CTX_new()) == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	if (EVP_DigestInit_ex(sha256_evp, sha256_md, NULL) != 1 ||
		EVP_DigestUpdate(sha256_evp, data, len) != 1 ||
		EVP_DigestFinal_ex(sha256_evp, out, &outlen) != 1 ||
		outlen != CL_HASH_LEN)
		elog(ERROR, "creditledger: could not compute SHA-256");
#else
	if (pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, data, len) < 0 ||
		pg_cryptohash_final(ctx, out, CL_HASH_LEN) < 0)
		elog(ERROR, "creditledger: could not compute SHA-256");
#endif
}

/*
 * journal_entry_hash: the chained hash of entry e after prev_hash.
 */
void
journal_entry_hash(pg_cryptohash_ctx *ctx, const uint8 prev_hash[CL_HASH_LEN],
				   const JournalEntry *e, uint8 out[CL_HASH_LEN])
{
	char		fixed[256];
	StringInfoData buf;

	/* a stack buffer serves all but absurdly long vouchers */
	buf.data = fixed;
	buf.len = 0;
	buf.maxlen = sizeof(fixed);
	buf.cursor = 0;
	if (e->voucher_len > (int) sizeof(fixed) - 128)
		initStringInfo(&buf);

	appendBinaryStringInfo(&buf, (const char *) prev_hash, CL_HASH_LEN);
	appendBinaryStringInfo(&buf, "CLJ1", 4);
	cl_put_int64(&buf, e->account_id);
	cl_put_int32(&buf, e->sub_account);
	cl_put_int64(&buf, e->version);
	cl_put_int64(&buf, e->transfer_id);
	appendStringInfoChar(&buf, e->side);
	cl_put_int64(&buf, e->amount);
	cl_put_int64(&buf, e->balance_before);
	cl_put_int64(&buf, e->balance_after);
	appendStringInfoChar(&buf, e->is_reversal ? 1 : 0);
	cl_put_int64(&buf, cl_unix_usecs(e->accepted_at));
	cl_put_int64(&buf, cl_unix_usecs(e->posted_at));
	cl_put_bytes(&buf, e->voucher, e->voucher_len);

	cl_sha256(ctx, (const uint8 *) buf.data, buf.len, out);
	if (buf.data != fixed)
		pfree(buf.data);
}

/*
 * cl_put_optional_bytes: a nullable string: int32 -1 for NULL, else its
 * length and bytes.
 */
static void
cl_put_optional_bytes(StringInfo buf, const char *data, int len)
{
	if (data == NULL)
		cl_put_int32(buf, -1);
	else
		cl_put_bytes(buf, data, len);
}

/*
 * transfer_row_hash: the CLT1 row hash of a ledger_transfers row.
 */
void
transfer_row_hash(pg_cryptohash_ctx *ctx, const TransferRow *t, uint8 out[CL_HASH_LEN])
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, "CLT1", 4);
	cl_put_int64(&buf, t->transfer_id);
	cl_put_bytes(&buf, t->voucher, t->voucher_len);
	cl_put_bytes(&buf, t->kind, t->kind_len);
	if (t->has_reverses)
	{
		appendStringInfoChar(&buf, 1);
		cl_put_int64(&buf, t->reverses);
	}
	else
		appendStringInfoChar(&buf, 0);
	cl_put_optional_bytes(&buf, t->memo, t->memo_len);
	cl_put_optional_bytes(&buf, t->metadata, t->metadata_len);
	cl_put_bytes(&buf, t->payload_hash, t->payload_hash_len);
	cl_put_int64(&buf, cl_unix_usecs(t->created_at));
	cl_sha256(ctx, (const uint8 *) buf.data, buf.len, out);
	pfree(buf.data);
}

/*
 * cl_balance_delta: how a posting of amount on side changes the balance of an
 * account whose normal side is credit (normal_credit) or debit.  amount > 0,
 * so the negation cannot overflow.
 */
int64
cl_balance_delta(bool normal_credit, char side, int64 amount)
{
	bool		increases = normal_credit ? (side == 'C') : (side == 'D');

	return increases ? amount : -amount;
}
