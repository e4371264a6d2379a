/*
 * rowcache.h: where this transaction's own newest version of each account
 * and sub-account row is (see rowcache.c).
 */
#ifndef CREDITLEDGER_ROWCACHE_H
#define CREDITLEDGER_ROWCACHE_H

#include "postgres.h"
#include "storage/itemptr.h"

extern void cl_rowcache_remember(Oid relid, int64 account_id, int32 sub,
								 ItemPointer tid);
extern bool cl_rowcache_lookup(Oid relid, int64 account_id, int32 sub,
							   ItemPointer tid);
extern void cl_rowcache_forget(Oid relid, int64 account_id, int32 sub);

#endif							/* CREDITLEDGER_ROWCACHE_H */
