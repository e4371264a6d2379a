/*
 * credit_rows.h: the credit engine's rows read, locked and written in C
 * (credit_rows.c), for credit_engine.c.
 */
#ifndef CREDITLEDGER_CREDIT_ROWS_H
#define CREDITLEDGER_CREDIT_ROWS_H

#include "postgres.h"
#include "datatype/timestamp.h"
#include "nodes/lockoptions.h"
#include "storage/itemptr.h"

#include "chain.h"
#include "credit.h"
#include "heapwrite.h"
#include "journal.h"
#include "locking.h"

/* One credit line row as the engine reads it. */
typedef struct CreditLine
{
	int64		line_id;
	char	   *code;
	int64		limit_amount;
	int64		temporary_limit;	/* Σ active temporary limits (credit_limits.c) */
	bool		revolving;
	int32		hot_slices;
	char	   *status;
	char	   *status_reason;	/* NULL if none */
	TimestampTz valid_from;
	bool		has_until;
	TimestampTz valid_until;
	int64		frozen;
	int64		used;
	int64		returned;
	int64		version;
	uint8		last_hash[CL_HASH_LEN];
	bool		limit_decreased;	/* limit_decreased_at is set */
	bool		hot_batched;	/* a hot line whose slice journal is batched */
	ItemPointerData tid;		/* the version read (locked, when locked) */
	bool		row_cached;		/* a hot line from the graph cache: frozen,
								 * used, returned, version, last_hash and tid
								 * are as of when it was cached (its totals
								 * can only have fallen since) */
} CreditLine;

/* The head of one chain: a line's own row (slice 0) or a slice. */
typedef struct CreditHead
{
	int64		line_id;
	int32		slice;
	int64		frozen;
	int64		used;
	int64		returned;
	int64		version;
	uint8		last_hash[CL_HASH_LEN];
	int64		headroom;		/* a slice's headroom (0 for a line's row) */
	/* a slice's changes not journaled yet (included in frozen/used/returned) */
	int64		pending_frozen;
	int64		pending_used;
	int64		pending_returned;
	bool		has_pending_since;	/* pending_since is set */
	TimestampTz pending_since;	/* (a slice read by credit_rows.c) its value if set */
	ItemPointerData tid;		/* the version read (locked, when locked) */
	bool		own;			/* that version is this transaction's newest */
} CreditHead;

/* A credit hold row. */
typedef struct CreditHoldRow
{
	int64		hold_id;
	char	   *ref;
	int64		line_id;
	int64		amount;
	bool		has_expiry;
	TimestampTz expires_at;
	int64		remaining;
	int64		used_amount;
	int64		released_amount;
	char	   *status;
	ItemPointerData tid;
} CreditHoldRow;

/* A drawdown row (what credit_return needs). */
typedef struct CreditDrawdownRow
{
	int64		drawdown_id;
	int64		line_id;
	int64		outstanding;
	int64		returned;
	ItemPointerData tid;
} CreditDrawdownRow;

/* Writes of one call: the credit journal and the chain heads. */
typedef struct CreditWriter
{
	bool		chain_open;
	ChainWriter chain;
	bool		lines_open;
	DirectTable lines;
	bool		slices_open;
	DirectTable slices;
	TupleTableSlot *slice_slot;	/* slice takes' reading slot, or NULL */
} CreditWriter;

/* lines and the graph */
extern int64 *credit_line_nodes(int64 line, int *n);
extern int64 *credit_line_nodes_found(int64 line, int *n, ItemPointer tid);
extern bool credit_line_read(int64 line_id, CreditLine *l);
extern void credit_lines_lock(const int64 *ids, int n, bool include_hot, CreditLine *out);
extern bool credit_lines_lock_line(const int64 *ids, int n, int64 line,
								   const ItemPointerData *tid, CreditLine *out);
extern void credit_line_guard(int64 line_id, const CreditLine *known);
extern void credit_line_head(int64 line_id, CreditHead *h);

/* slices */
typedef enum SliceTake
{
	SLICE_TAKEN,				/* locked, read into the head */
	SLICE_SHORT,				/* less headroom than needed: not locked */
	SLICE_BUSY,					/* its row held by another (skip policy) */
	SLICE_MISSING				/* the line has no such slice */
} SliceTake;

extern SliceTake credit_slice_take_row(CreditWriter *w, int64 line_id, int32 slice,
									   int64 needed, LockWaitPolicy wait, CreditHead *h);
extern bool credit_slice_read(int64 line_id, int32 slice, CreditHead *h);
extern LockOutcome credit_slice_lock_row(CreditHead *h, LockWaitPolicy wait);
extern int	credit_slice_headrooms(int64 line_id, int32 n, int64 *headroom);

/* the journal and the heads */
extern void credit_writer_open(CreditWriter *w);
extern void credit_writer_append(CreditWriter *w, CreditHead *h, const CreditEntry *e,
								 int64 headroom_delta);
extern void credit_writer_pend(CreditWriter *w, CreditHead *h, int64 fd, int64 ud, int64 rd,
							   int64 headroom_delta);
extern void credit_writer_unpend(CreditWriter *w, CreditHead *h);
extern void credit_writer_close(CreditWriter *w);

/* holds */
extern bool credit_hold_find(const char *ref, CreditHoldRow *h);
extern bool credit_hold_claim(const char *ref, int64 line, int64 amount, bool has_expiry,
							  TimestampTz expires_at, CreditHoldRow *h);
extern bool credit_hold_lock(const char *ref, CreditHoldRow *h);
extern void credit_hold_update(CreditHoldRow *h, int64 used, int64 released, const char *status);
extern bool credit_holds_any_due(void);

/* drawdowns and operations: references with a jsonb payload */
extern bool credit_drawdown_find(const char *ref, int64 *id, Datum *payload);
extern bool credit_drawdown_claim(const char *ref, int64 line, int64 hold_id, int64 amount,
								  Datum payload, int64 *id, Datum *existing);
extern bool credit_drawdown_lock(const char *ref, CreditDrawdownRow *d);
extern void credit_drawdown_update(CreditDrawdownRow *d, int64 amount);
extern bool credit_operation_find(const char *kind, const char *ref, int64 *id, Datum *payload);
extern bool credit_operation_claim(const char *kind, const char *ref, int64 target, int64 amount,
								   Datum payload, int64 *id, Datum *existing);

#endif							/* CREDITLEDGER_CREDIT_ROWS_H */
