/*
 * chain.h: chain heads and the journal writer.
 */
#ifndef CREDITLEDGER_CHAIN_H
#define CREDITLEDGER_CHAIN_H

#include "postgres.h"
#include "common/cryptohash.h"
#include "datatype/timestamp.h"
#include "storage/itemptr.h"

#include "heapwrite.h"
#include "journal.h"

/*
 * The head of one chain, (account, sub-account), as read under its row lock:
 * sub-account 0 lives in ledger_accounts, 1..N in sub_accounts.
 */
typedef struct ChainHead
{
	int64		account_id;
	int32		sub_account;
	bool		normal_credit;
	ItemPointerData tid;		/* the locked row version */
	int64		balance;
	int64		version;
	uint8		last_hash[CL_HASH_LEN];
	int64		held;			/* reservations on this chain (holds.c) */
	int64		hold_version;	/* head of the chain's hold chain */
	uint8		hold_hash[CL_HASH_LEN];
	bool		dirty;			/* moved forward, row needs writing */
} ChainHead;

/*
 * A chain kind: the journal table its entries go to, the columns a row
 * sets (columns[0] is the entry id, drawn from sequence), and the kind's
 * callbacks: encode computes SHA-256(prev_hash || the kind's canonical
 * encoding of entry), fill sets columns 1..ncolumns-1 of the entry's row
 * (isnull[i] for a NULL), given its prev hash and hash.
 */
typedef struct ChainKindCache
{
	ColumnMap	map;
	Oid			seq_relid;		/* the table incarnation seq belongs to */
	Oid			seq;
} ChainKindCache;

typedef struct ChainKind
{
	const char *table;
	const char *sequence;
	const char *const *columns;
	int			ncolumns;
	ChainKindCache *cache;
	void		(*encode) (pg_cryptohash_ctx *ctx, const uint8 *prev_hash,
						   const void *entry, uint8 *out);
	void		(*fill) (const void *entry, const uint8 *prev_hash, const uint8 *hash,
						 Datum *col, bool *isnull);
} ChainKind;

/* Appends chained entries of one kind straight into its journal's heap. */
typedef struct ChainWriter
{
	const ChainKind *kind;
	DirectTable table;
	int			natts;
	Datum	   *values;
	bool	   *nulls;
	AttrNumber	att[CL_MAX_MAPPED_COLUMNS];
	Oid			seq;
	pg_cryptohash_ctx *ctx;
} ChainWriter;

extern void chain_writer_open(ChainWriter *w, const ChainKind *kind);
extern void chain_writer_append(ChainWriter *w, const uint8 *prev_hash, const void *entry,
								uint8 *out);
extern void chain_writer_close(ChainWriter *w);

/* Money entries (journal_entries, CLJ1): a ChainWriter of the money kind. */
typedef struct JournalWriter
{
	ChainWriter cw;
} JournalWriter;

extern void journal_writer_open(JournalWriter *w);
extern void journal_append(JournalWriter *w, ChainHead *head, int64 transfer_id,
						   const char *voucher, char side, int64 amount,
						   bool is_reversal, TimestampTz accepted_at,
						   TimestampTz posted_at);
extern void journal_writer_close(JournalWriter *w);

/*
 * Money entries appended in bulk (post_batch): formed and chained one by
 * one, inserted together by journal_bulk_close.
 */
typedef struct JournalBulk
{
	ChainWriter cw;
	HeapTuple  *rows;
	int			n;
	int			cap;
} JournalBulk;

extern void journal_bulk_open(JournalBulk *b);
extern void journal_bulk_append(JournalBulk *b, ChainHead *head, int64 transfer_id,
								const char *voucher, char side, int64 amount,
								bool is_reversal, TimestampTz accepted_at,
								TimestampTz posted_at);
extern void journal_bulk_close(JournalBulk *b);
extern void chain_heads_write(ChainHead **heads, int n);
extern int64 cl_available(const ChainHead *head);
extern char cl_side_for(bool normal_credit, bool increase);

#endif							/* CREDITLEDGER_CHAIN_H */
