/*
 * locking.h: ordered locking of account rows.
 */
#ifndef CREDITLEDGER_LOCKING_H
#define CREDITLEDGER_LOCKING_H

#include "postgres.h"

#include "storage/itemptr.h"

#include "journal.h"

/* An account row as read under its row lock. */
typedef struct LockedAccount
{
	int64		account_id;
	ItemPointerData tid;		/* the locked row version */
	char		currency[4];
	bool		normal_credit;	/* normal_side = 'credit' */
	bool		has_floor;		/* min_balance IS NOT NULL */
	int64		min_balance;
	int64		balance;		/* posted balance of sub-account 0 */
	int64		version;
	uint8		last_hash[CL_HASH_LEN];
	/* working state of a posting in progress */
	int64		new_balance;
} LockedAccount;

extern int	cl_sort_unique_ids(int64 *ids, int n);
extern LockedAccount *cl_lock_account_rows(int64 *ids, int n, int *nlocked);
extern LockedAccount *cl_find_locked(LockedAccount *accts, int n, int64 id);

#endif							/* CREDITLEDGER_LOCKING_H */
