/*
 * journal.h: the canonical encoding and SHA-256 chaining of journal entries.
 */
#ifndef CREDITLEDGER_JOURNAL_H
#define CREDITLEDGER_JOURNAL_H

#include "postgres.h"
#include "common/cryptohash.h"
#include "datatype/timestamp.h"

#define CL_HASH_LEN 32

/* The fields of one journal entry that its hash covers. */
typedef struct JournalEntry
{
	int64		account_id;
	int32		sub_account;
	int64		version;
	int64		transfer_id;
	char		side;			/* 'D' or 'C' */
	int64		amount;
	int64		balance_before;
	int64		balance_after;
	bool		is_reversal;
	TimestampTz accepted_at;
	TimestampTz posted_at;
	const char *voucher;
	int			voucher_len;
} JournalEntry;

/*
 * The fields of one ledger_transfers row that its CLT1 row hash covers.
 * NULL memo / metadata: data NULL; metadata in jsonb's canonical text form.
 */
typedef struct TransferRow
{
	int64		transfer_id;
	const char *voucher;
	int			voucher_len;
	const char *kind;
	int			kind_len;
	bool		has_reverses;
	int64		reverses;
	const char *memo;
	int			memo_len;
	const char *metadata;
	int			metadata_len;
	const char *payload_hash;
	int			payload_hash_len;
	TimestampTz created_at;
} TransferRow;

extern const uint8 cl_zero_hash[CL_HASH_LEN];

extern pg_cryptohash_ctx *cl_hash_ctx_create(void);
extern void cl_sha256(pg_cryptohash_ctx *ctx, const uint8 *data, size_t len,
					  uint8 out[CL_HASH_LEN]);
extern void journal_entry_hash(pg_cryptohash_ctx *ctx, const uint8 prev_hash[CL_HASH_LEN],
							   const JournalEntry *e, uint8 out[CL_HASH_LEN]);
extern void transfer_row_hash(pg_cryptohash_ctx *ctx, const TransferRow *t,
							  uint8 out[CL_HASH_LEN]);
extern Datum cl_hash_datum(const uint8 *hash);
extern int64 cl_unix_usecs(TimestampTz t);
extern int64 cl_balance_delta(bool normal_credit, char side, int64 amount);

/* Big-endian appenders used by every canonical encoding. */
extern void cl_put_int64(StringInfo buf, int64 v);
extern void cl_put_int32(StringInfo buf, int32 v);
extern void cl_put_bytes(StringInfo buf, const char *data, int len);

#endif							/* CREDITLEDGER_JOURNAL_H */
