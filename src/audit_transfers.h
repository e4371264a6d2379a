/*
 * audit_transfers.h: CLT1 row hashes of ledger_transfers rows
 * (audit_transfers.c): the insert trigger that stores them and the lookup
 * that recomputes them for CLD2 digests.
 */
#ifndef CREDITLEDGER_AUDIT_TRANSFERS_H
#define CREDITLEDGER_AUDIT_TRANSFERS_H

#include "postgres.h"

#include "access/genam.h"
#include "executor/tuptable.h"
#include "utils/relcache.h"

#include "journal.h"

/* Recently hashed transfers, direct-mapped by id. */
#define CL_TRANSFER_CACHE 4096

/* Recomputes the CLT1 row hash of transfers by id (see transfer_hasher_get). */
typedef struct TransferHasher
{
	Relation	rel;
	Relation	idx;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	const AttrNumber *att;
	pg_cryptohash_ctx *ctx;
	uint64		lookups;		/* index probes (cache misses) */
	struct
	{
		bool		valid;
		int64		id;
		uint8		hash[CL_HASH_LEN];
	}			cache[CL_TRANSFER_CACHE];
} TransferHasher;

extern TransferHasher *transfer_hasher_open(pg_cryptohash_ctx *ctx);
extern bool transfer_hasher_get(TransferHasher *th, int64 transfer_id, uint8 out[CL_HASH_LEN]);
extern void transfer_hasher_close(TransferHasher *th);

#endif							/* CREDITLEDGER_AUDIT_TRANSFERS_H */
