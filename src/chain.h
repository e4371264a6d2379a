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

/* Appends chained journal entries and writes the heads back. */
typedef struct JournalWriter
{
	DirectTable journal;
	int			natts;
	Datum	   *values;
	bool	   *nulls;
	int			attnum[15];
	Oid			entry_seq;
	pg_cryptohash_ctx *ctx;
} JournalWriter;

extern void journal_writer_open(JournalWriter *w);
extern void journal_append(JournalWriter *w, ChainHead *head, int64 transfer_id,
						   const char *voucher, char side, int64 amount,
						   bool is_reversal, TimestampTz accepted_at,
						   TimestampTz posted_at);
extern void journal_writer_close(JournalWriter *w);
extern void chain_heads_write(ChainHead **heads, int n);
extern int64 cl_available(const ChainHead *head);
extern char cl_side_for(bool normal_credit, bool increase);

#endif							/* CREDITLEDGER_CHAIN_H */
