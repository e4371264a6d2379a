/*
 * hot_internal.h: hot-account steps used inside a posting or an account
 * change (posting.c, accounts.c); see hot.c.
 */
#ifndef CREDITLEDGER_HOT_INTERNAL_H
#define CREDITLEDGER_HOT_INTERNAL_H

#include "postgres.h"
#include "datatype/timestamp.h"

#include "chain.h"
#include "locking.h"

extern int64 hot_apply_buffer(LockContext *lc, AccountInfo *info, ChainHead *target,
							  int64 limit);
/*
 * The release of due reservations on a chain whose lock is held (holds.c's
 * holds_release_due, passed in by the posting engine so that hot.c, a
 * mechanism, does not call up into the ledger): true if it released any.
 */
typedef bool (*HotReleaseDue) (ChainHead *head, char block);

extern void hot_choose_sub(LockContext *lc, AccountInfo *info, int64 net, ChainHead *out,
						   HotReleaseDue release_due);
extern int32 hot_next_first_sub(int32 n);
extern void hot_buffer_insert(int64 account_id, int64 transfer_id, const char *voucher,
							  char side, int64 amount, bool is_reversal,
							  TimestampTz accepted_at);
extern void hot_create_subs(int64 account_id, int32 shards);
extern void hot_convert(int64 account_id, HotMode mode, int32 shards);
extern int64 hot_flush_all(void);

/* hot_bound.c */
extern void hot_check_total_bound(LockContext *lc, const AccountInfo *info, int64 net);

#endif							/* CREDITLEDGER_HOT_INTERNAL_H */
