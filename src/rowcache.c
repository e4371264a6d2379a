/*
 * rowcache.c: the TIDs of the row versions this transaction wrote last, per
 * account (ledger_accounts, sub-account 0) and per sub-account
 * (sub_accounts, 1..N), so that N postings in one transaction cost O(N).
 *
 * Why.  A transaction that posts many times to the same account leaves one
 * dead version of the account row per posting, and none of them can be
 * pruned before the transaction ends.  Finding the row again through its
 * primary key visits every one of them (one index entry per non-HOT
 * version, and the whole HOT chain behind each), and so does the unique
 * check of each new index entry: posting k costs O(k), N postings O(N^2).
 *
 * What.  When chain.c writes a chain head back it remembers the new
 * version's TID here; locking.c looks the row up here first and reads that
 * version directly (heap_fetch, no index), after checking on the page that
 * it is still the newest version and ours (locking.c: own_version()).
 * heapwrite.c, for its part, skips the unique check of index entries whose
 * key the update did not change.
 *
 * Correctness rests on this invariant: an entry is only ever made for a
 * version written by the current (sub)transaction, and the whole cache is
 * dropped when any subtransaction aborts and when the transaction ends
 * (commit, abort or PREPARE).  So every entry names a version whose writer
 * is still alive or committed into a live parent: we hold the row lock its
 * update took, and the RowExclusiveLock on the table that prevents VACUUM
 * from truncating it.  locking.c nonetheless re-checks every hit (key,
 * xmin, xmax, ctid) and falls back to the index on any doubt, forgetting
 * the entry, so a stale entry costs one index lookup, never a wrong row.
 *
 * Locking: none of its own; backend-local memory in TopTransactionContext.
 */
#include "postgres.h"

#include "access/xact.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "rowcache.h"

/* One entry: a row of relid, identified by (account_id, sub). */
typedef struct RowKey
{
	Oid			relid;
	int32		sub;
	int64		account_id;
} RowKey;

typedef struct RowEntry
{
	RowKey		key;
	ItemPointerData tid;
} RowEntry;

/* NULL outside a transaction that wrote a head, and after any abort. */
static HTAB *rows = NULL;
static bool callbacks_registered = false;

/*
 * rowcache_xact_callback: the transaction is over; its memory context (and
 * the table in it) goes away with it.
 */
static void
rowcache_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			rows = NULL;
			break;
		default:
			break;
	}
}

/*
 * rowcache_subxact_callback: a subtransaction aborted (ROLLBACK TO
 * SAVEPOINT, an exception block, a failed call inside a savepoint): the
 * versions it wrote are dead and the locks it took are released, so forget
 * everything (the next posting of each account finds its row through the
 * index once, then is cached again).
 */
static void
rowcache_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						  SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB && rows != NULL)
	{
		hash_destroy(rows);
		rows = NULL;
	}
}

/*
 * make_key: a key with no uninitialised padding (the hash reads the bytes).
 */
static void
make_key(RowKey *key, Oid relid, int64 account_id, int32 sub)
{
	memset(key, 0, sizeof(*key));
	key->relid = relid;
	key->sub = sub;
	key->account_id = account_id;
}

/*
 * cl_rowcache_remember: the newest version of the row (relid, account_id,
 * sub) is now tid, written by the current (sub)transaction.
 */
void
cl_rowcache_remember(Oid relid, int64 account_id, int32 sub, ItemPointer tid)
{
	RowKey		key;
	RowEntry   *e;

	if (!callbacks_registered)
	{
		RegisterXactCallback(rowcache_xact_callback, NULL);
		RegisterSubXactCallback(rowcache_subxact_callback, NULL);
		callbacks_registered = true;
	}
	if (rows == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(RowKey);
		ctl.entrysize = sizeof(RowEntry);
		ctl.hcxt = TopTransactionContext;
		rows = hash_create("creditledger rows written by this transaction", 256, &ctl,
						   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	make_key(&key, relid, account_id, sub);
	e = (RowEntry *) hash_search(rows, &key, HASH_ENTER, NULL);
	e->tid = *tid;
}

/*
 * cl_rowcache_lookup: the TID remembered for the row, if any (a hint: the
 * caller checks the version it finds there).
 */
bool
cl_rowcache_lookup(Oid relid, int64 account_id, int32 sub, ItemPointer tid)
{
	RowKey		key;
	RowEntry   *e;

	if (rows == NULL)
		return false;
	make_key(&key, relid, account_id, sub);
	e = (RowEntry *) hash_search(rows, &key, HASH_FIND, NULL);
	if (e == NULL)
		return false;
	*tid = e->tid;
	return true;
}

/*
 * cl_rowcache_forget: drop the row's entry (its version failed the check).
 */
void
cl_rowcache_forget(Oid relid, int64 account_id, int32 sub)
{
	RowKey		key;

	if (rows == NULL)
		return;
	make_key(&key, relid, account_id, sub);
	(void) hash_search(rows, &key, HASH_REMOVE, NULL);
}
