/*
 * credit.h: the canonical encoding of credit journal entries and the
 * credit GUCs (credit.c).
 */
#ifndef CREDITLEDGER_CREDIT_H
#define CREDITLEDGER_CREDIT_H

#include "postgres.h"
#include "common/cryptohash.h"
#include "datatype/timestamp.h"

#include "chain.h"
#include "journal.h"

/* The fields of one credit journal entry that its hash covers (CLC1). */
typedef struct CreditEntry
{
	int64		line_id;
	int32		slice;
	int64		version;
	const char *op;
	int			op_len;
	const char *ref;
	int			ref_len;
	int64		frozen_delta;
	int64		used_delta;
	int64		returned_delta;
	int64		frozen_after;
	int64		used_after;
	int64		returned_after;
	TimestampTz created_at;
} CreditEntry;

/* The credit chain kind (credit_journal_entries, CLC1), for chain.c. */
extern const ChainKind cl_credit_chain_kind;

/* The worker's periodic release of due credit holds (inside SPI). */
extern int64 cl_credit_expire_due(void);
extern int64 cl_credit_settle(int64 line, bool wait, int64 limit);
extern int64 cl_credit_settle_due(void);

/* A zero-delta entry on a line's own chain (credit_engine.c, inside SPI). */
extern void cl_credit_post_line_event(int64 line_id, const char *op, const char *ref);

/* Spread a hot line's headroom over its slices (credit_engine.c, inside SPI). */
extern void cl_credit_respread(int64 line_id);

/* The engine's change of one node, and one entry on one chain (inside SPI). */
extern void cl_credit_apply_node(int64 node, const char *op, const char *ref,
								 int64 fd, int64 ud, int64 rd);
extern void cl_credit_post_chain(int64 node, int32 slice, const char *op, const char *ref,
								 int64 fd, int64 ud, int64 rd, int64 headroom_delta);

extern void credit_entry_hash(pg_cryptohash_ctx *ctx, const uint8 prev_hash[CL_HASH_LEN],
							  const CreditEntry *e, uint8 out[CL_HASH_LEN]);

#endif							/* CREDITLEDGER_CREDIT_H */
