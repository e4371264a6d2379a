/*
 * credit_rows.c: the credit engine's rows read, locked and written in C:
 * credit lines, their links and slices, holds, drawdowns and unfreeze /
 * return operations, and the credit journal's heads.  credit_engine.c
 * decides what to change; this file is how, with the money path's
 * mechanisms and no SPI: rows found through their unique index with the
 * transaction snapshot (locking.c's cl_find_row), locked by TID as SELECT
 * ... FOR NO KEY UPDATE would (cl_lock_tid: the newest version under READ
 * COMMITTED, a serialization failure under REPEATABLE READ), a row this
 * transaction wrote last read straight from where rowcache.c remembers it
 * (cl_own_version); references claimed by heapwrite.c's direct_claim
 * (INSERT ... ON CONFLICT DO NOTHING the executor's way: the first call
 * wins, a concurrent one waits for it, then replays or conflicts; under
 * REPEATABLE READ a conflicting row the snapshot cannot see is 40001);
 * rows inserted and updated in the heap with their index entries
 * (heapwrite.c), CLC1 entries appended by chain.c's ChainWriter.
 *
 * What writing directly bypasses, and what stands in for it:
 *   - CHECK constraints of ledger_credit_lines, credit_line_slices,
 *     ledger_credit_holds, ledger_credit_drawdowns and credit_operations:
 *     every value written here is computed here (statuses and kinds are
 *     literals of the constraint's list; amounts are checked by the
 *     engine before), as in heapwrite.c;
 *   - the foreign keys' checks (RI triggers) of holds and drawdowns: the
 *     engine names only a line it found (LD006 otherwise: before a
 *     hold's claim; a drawdown without a hold is claimed first, and the
 *     error rolls its row back) and a hold it locked, and a line's row is
 *     locked FOR NO KEY UPDATE by the call (a plain line) or FOR KEY SHARE
 *     here (credit_line_guard: a hot line, whose row the call does not lock),
 *     exactly the lock the foreign key's check takes, so the referenced
 *     row cannot be deleted before the call commits;
 *   - triggers: these tables have none (the credit journal's append-only
 *     guard fires on UPDATE and DELETE, which nothing here does).
 * A table with columns this library does not know is refused (it would
 * leave them to no default).
 *
 * Two per-backend caches, both only hints or validated: the graph cache
 * (each line's nodes, each hot line's row as read; valid while the credit
 * graph's generation is unchanged, see "The graph cache" below) and each
 * slice row's HOT-chain root (slice_find: checked on every use, the index
 * being the fallback).
 *
 * Locking: none of its own; the caller holds the credit graph lock and
 * takes row locks through the functions here in lockorder.h's order;
 * heads are written only under the row's lock.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "executor/tuptable.h"
#include "storage/bufmgr.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "credit_rows.h"
#include "heapwrite.h"
#include "locking.h"
#include "lockorder.h"
#include "rowcache.h"

/* ------------------------------------------------------------------------
 * Tables: open, find, fetch
 * ------------------------------------------------------------------------ */

/* One table opened for reading or locking rows, with the index used. */
typedef struct Rows
{
	Relation	rel;
	Relation	index;			/* NULL when none */
	TupleTableSlot *slot;
	const AttrNumber *att;		/* the table's ColumnMap, by the caller's names */
} Rows;

/*
 * rows_open: open creditledger.table (lock mode: AccessShareLock to read,
 * RowShareLock to lock rows) and, if named, one of its indexes; map names.
 * rows_close gives the index's lock back at once, as catalog scans do: the
 * table's lock, kept to the end of the transaction, already keeps the
 * index from being dropped, and a disbursement, which opens many tables,
 * then holds few enough relation locks (under PostgreSQL's 16 fast-path
 * slots per backend) that none goes to the shared lock table, whose
 * partition locks every backend would contend for.
 */
static void
rows_open(Rows *r, const char *table, const char *index, LOCKMODE mode,
		  ColumnMap *map, const char *const *names, int n)
{
	r->rel = table_open(cl_relation_oid(table), mode);
	r->index = index ? index_open(cl_relation_oid(index), AccessShareLock) : NULL;
	r->slot = table_slot_create(r->rel, NULL);
	r->att = cl_column_map(map, r->rel, names, n);
}

static void
rows_close(Rows *r)
{
	ExecDropSingleTupleTableSlot(r->slot);
	if (r->index)
		index_close(r->index, AccessShareLock);
	table_close(r->rel, NoLock);
}

/*
 * text_key: an equality key on a text column of an index, with the
 * index column's collation.
 */
static void
text_key(ScanKey key, Relation index, AttrNumber col, const char *value)
{
	ScanKeyInit(key, col, BTEqualStrategyNumber, F_TEXTEQ, CStringGetTextDatum(value));
	key->sk_collation = index->rd_indcollation[col - 1];
}

/*
 * statement_snapshot: the snapshot an SQL statement run here would get
 * (registered): the command counter is advanced first, as SPI does before
 * every statement, so writes of this transaction's previous SQL statements
 * are seen; then the transaction snapshot (a new one under READ
 * COMMITTED).
 */
static Snapshot
statement_snapshot(void)
{
	CommandCounterIncrement();
	return RegisterSnapshot(GetTransactionSnapshot());
}

/*
 * find_snapshot: the row whose index key is keys[], as a statement's
 * snapshot sees it, left in r->slot; false if none.
 */
static bool
find_snapshot(Rows *r, ScanKey keys, int nkeys)
{
	Snapshot	snapshot = statement_snapshot();
	bool		found = cl_find_row(r->rel, r->index, keys, nkeys, snapshot, r->slot);

	UnregisterSnapshot(snapshot);
	return found;
}

/*
 * find_locked: find_snapshot, then the row locked FOR NO KEY UPDATE
 * (waiting), its newest version left in r->slot; false if none.
 */
static bool
find_locked(Rows *r, ScanKey keys, int nkeys)
{
	ItemPointerData tid;

	if (!find_snapshot(r, keys, nkeys))
		return false;
	tid = r->slot->tts_tid;
	return cl_lock_tid(r->rel, &tid, LockWaitBlock, LockTupleNoKeyExclusive, r->slot) == LOCK_OK;
}

static int64
col_int64(Rows *r, int c, bool *isnull)
{
	bool		n;
	Datum		d = slot_getattr(r->slot, r->att[c], &n);

	if (isnull)
		*isnull = n;
	return n ? 0 : DatumGetInt64(d);
}

static int32
col_int32(Rows *r, int c)
{
	bool		n;
	Datum		d = slot_getattr(r->slot, r->att[c], &n);

	return n ? 0 : DatumGetInt32(d);
}

static char *
col_text(Rows *r, int c)
{
	bool		n;
	Datum		d = slot_getattr(r->slot, r->att[c], &n);

	return n ? NULL : TextDatumGetCString(d);
}

static Datum
col_datum_copy(Rows *r, int c, bool *isnull)
{
	Datum		d = slot_getattr(r->slot, r->att[c], isnull);
	Form_pg_attribute a = TupleDescAttr(r->slot->tts_tupleDescriptor, r->att[c] - 1);

	return *isnull ? (Datum) 0 : datumCopy(d, a->attbyval, a->attlen);
}

static void
col_hash(Rows *r, int c, uint8 out[CL_HASH_LEN], const char *what, int64 id)
{
	bool		n;
	Datum		d = slot_getattr(r->slot, r->att[c], &n);
	bytea	   *b = n ? NULL : DatumGetByteaPP(d);

	if (b == NULL || VARSIZE_ANY_EXHDR(b) != CL_HASH_LEN)
		elog(ERROR, "creditledger: %s " INT64_FORMAT " has a malformed last_hash", what, id);
	memcpy(out, VARDATA_ANY(b), CL_HASH_LEN);
}

/*
 * fetch_tid: the row version at tid (any snapshot: only columns no update
 * changes are read from it) into r->slot.
 */
static void
fetch_tid(Rows *r, ItemPointer tid)
{
	if (!table_tuple_fetch_row_version(r->rel, tid, SnapshotAny, r->slot))
		elog(ERROR, "creditledger: row (%u,%u) of %s vanished",
			 ItemPointerGetBlockNumber(tid), ItemPointerGetOffsetNumber(tid),
			 RelationGetRelationName(r->rel));
}

/*
 * require_columns: refuse a table whose columns are not exactly the n this
 * library writes (a row written from them would leave the others to no
 * default).
 */
static void
require_columns(Relation rel, int n)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			live = 0;

	for (int i = 0; i < desc->natts; i++)
		if (!TupleDescAttr(desc, i)->attisdropped)
			live++;
	if (live != n)
		elog(ERROR, "creditledger: table %s has %d columns, this library writes %d",
			 RelationGetRelationName(rel), live, n);
}

/*
 * claim_row: INSERT ... ON CONFLICT (arbiter) DO NOTHING of one row given
 * by column (names[c] = values[c], nulls[c]) through direct_claim; true and
 * the new row's TID, or false and the TID of the row that holds the key.
 */
static bool
claim_row(const char *table, const char *arbiter, ColumnMap *map, const char *const *names,
		  int n, const Datum *values, const bool *nulls, ItemPointer tid)
{
	DirectTable t;
	const AttrNumber *att;
	int			natts;
	Datum	   *v;
	bool	   *isnull;
	bool		inserted;

	direct_open_claim(&t, table);
	require_columns(t.rel, n);
	att = cl_column_map(map, t.rel, names, n);
	natts = RelationGetDescr(t.rel)->natts;
	v = palloc0(sizeof(Datum) * natts);
	isnull = palloc(sizeof(bool) * natts);
	memset(isnull, true, sizeof(bool) * natts);
	for (int c = 0; c < n; c++)
	{
		v[att[c] - 1] = values[c];
		isnull[att[c] - 1] = nulls[c];
	}
	inserted = direct_claim(&t, cl_relation_oid(arbiter), v, isnull, tid);
	direct_close(&t);
	return inserted;
}

/*
 * next_id: nextval of a creditledger sequence, as a column default would.
 */
static int64
next_id(const char *sequence)
{
	return nextval_internal(cl_relation_oid(sequence), false);
}

/*
 * update_row: replace n columns (cols[], indexes into the table's names,
 * mapped by map) of the locked row version at *tid (the caller's lock),
 * through the direct heap writer; *tid moves to the new version.
 */
static void
update_row(const char *table, ColumnMap *map, const char *const *names, int nnames,
		   ItemPointer tid, int n, const int *cols, Datum *values)
{
	DirectTable t;
	const AttrNumber *a;
	int			att[8];

	Assert(n <= lengthof(att));
	direct_open(&t, table);
	a = cl_column_map(map, t.rel, names, nnames);
	for (int c = 0; c < n; c++)
		att[c] = a[cols[c]];
	*tid = direct_update_columns(&t, tid, n, att, values);
	direct_close(&t);
}

/* ------------------------------------------------------------------------
 * Lines and links
 * ------------------------------------------------------------------------ */

static const char *const line_columns[] = {
	"line_id", "code", "limit_amount", "revolving", "hot_slices", "status", "status_reason",
	"valid_from", "valid_until", "frozen", "used", "returned", "version", "last_hash",
	"temporary_limit", "limit_decreased_at", "hot_batched"
};
enum
{
	L_LINE_ID, L_CODE, L_LIMIT, L_REVOLVING, L_HOT_SLICES, L_STATUS, L_STATUS_REASON,
	L_VALID_FROM, L_VALID_UNTIL, L_FROZEN, L_USED, L_RETURNED, L_VERSION, L_LAST_HASH,
	L_TEMPORARY_LIMIT, L_LIMIT_DECREASED_AT, L_HOT_BATCHED, L_COUNT
};
StaticAssertDecl(lengthof(line_columns) == L_COUNT, "line_columns and L_* differ");
static ColumnMap line_map;

static void
lines_open(Rows *r, LOCKMODE mode)
{
	rows_open(r, "ledger_credit_lines", "ledger_credit_lines_pkey", mode, &line_map,
			  line_columns, L_COUNT);
}

/* fill_line: a CreditLine from r->slot. */
static void
fill_line(Rows *r, CreditLine *l)
{
	bool		isnull;
	Datum		d;

	l->line_id = col_int64(r, L_LINE_ID, NULL);
	l->code = col_text(r, L_CODE);
	l->limit_amount = col_int64(r, L_LIMIT, NULL);
	l->revolving = DatumGetBool(slot_getattr(r->slot, r->att[L_REVOLVING], &isnull));
	l->hot_slices = col_int32(r, L_HOT_SLICES);
	l->status = col_text(r, L_STATUS);
	l->status_reason = col_text(r, L_STATUS_REASON);
	l->valid_from = DatumGetTimestampTz(slot_getattr(r->slot, r->att[L_VALID_FROM], &isnull));
	d = slot_getattr(r->slot, r->att[L_VALID_UNTIL], &isnull);
	l->has_until = !isnull;
	l->valid_until = isnull ? 0 : DatumGetTimestampTz(d);
	l->frozen = col_int64(r, L_FROZEN, NULL);
	l->used = col_int64(r, L_USED, NULL);
	l->returned = col_int64(r, L_RETURNED, NULL);
	l->version = col_int64(r, L_VERSION, NULL);
	col_hash(r, L_LAST_HASH, l->last_hash, "credit line", l->line_id);
	l->temporary_limit = col_int64(r, L_TEMPORARY_LIMIT, NULL);
	(void) slot_getattr(r->slot, r->att[L_LIMIT_DECREASED_AT], &isnull);
	l->limit_decreased = !isnull;
	l->hot_batched = DatumGetBool(slot_getattr(r->slot, r->att[L_HOT_BATCHED], &isnull));
	l->tid = r->slot->tts_tid;
	l->row_cached = false;
}

/* ------------------------------------------------------------------------
 * The graph cache: what only an exclusive holder of the graph lock changes
 * ------------------------------------------------------------------------
 *
 * Per backend, valid while the credit graph's generation (locking.c:
 * cl_credit_graph_cache_check) is the one it was filled under: each line's
 * nodes (credit_line_nodes), and each hot line's row as read, whose
 * attributes the engine needs of an ancestor it does not lock (status,
 * validity window, limits, slices, journal mode: changed only under the
 * exclusive graph lock, which bumps the generation).  Its totals (frozen,
 * used, returned) are those of when it was read; they are only ever used
 * as a bound (check_slice_bound in credit_engine.c re-reads the row before
 * refusing a change on them), since a hot line's own row total never
 * grows while it is hot.  Validity windows are compared with now() by the
 * caller, so a cached line never carries a verdict.  When the generation
 * cannot be used (no shared segment, the graph lock not held shared, this
 * transaction took it exclusively, REPEATABLE READ or SERIALIZABLE) the
 * cache is neither read nor filled.
 */

typedef struct NodesEntry
{
	int64		line_id;
	int			n;
	int64	   *ids;
} NodesEntry;

typedef struct HotLineEntry
{
	int64		line_id;
	CreditLine	line;
} HotLineEntry;

static MemoryContext graph_cxt = NULL;
static HTAB *nodes_cache = NULL;
static HTAB *hot_cache = NULL;
static CreditGraphStamp graph_stamp;	/* what the cache was filled under */

/* The lines whose nodes a backend keeps before it starts afresh. */
#define CL_GRAPH_CACHE_LINES 100000

/*
 * graph_cache_ready: whether the graph cache may be used now, emptied
 * first when it is stale (cl_credit_graph_cache_check: the generation
 * moved, or ledger_credit_lines is another table than it was filled from)
 * or when it holds CL_GRAPH_CACHE_LINES lines (a bound on a backend's
 * memory).
 */
static bool
graph_cache_ready(void)
{
	GraphCacheState state;
	HASHCTL		info;

	state = cl_credit_graph_cache_check(&graph_stamp, "ledger_credit_lines");
	if (state == GRAPH_CACHE_OFF)
		return false;
	if (state == GRAPH_CACHE_CURRENT && nodes_cache != NULL &&
		hash_get_num_entries(nodes_cache) < CL_GRAPH_CACHE_LINES)
		return true;
	nodes_cache = hot_cache = NULL;
	if (graph_cxt == NULL)
		graph_cxt = AllocSetContextCreate(TopMemoryContext, "creditledger graph cache",
										  ALLOCSET_SMALL_SIZES);
	else
		MemoryContextReset(graph_cxt);
	info.keysize = sizeof(int64);
	info.hcxt = graph_cxt;
	info.entrysize = sizeof(NodesEntry);
	nodes_cache = hash_create("creditledger line nodes", 64, &info,
							  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	info.entrysize = sizeof(HotLineEntry);
	hot_cache = hash_create("creditledger hot lines", 16, &info,
							HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	return true;
}

/* copy_line: l with its strings in cxt. */
static void
copy_line(CreditLine *to, const CreditLine *l, MemoryContext cxt)
{
	*to = *l;
	to->code = l->code ? MemoryContextStrdup(cxt, l->code) : NULL;
	to->status = l->status ? MemoryContextStrdup(cxt, l->status) : NULL;
	to->status_reason = l->status_reason ? MemoryContextStrdup(cxt, l->status_reason) : NULL;
}

/*
 * find_line: line_id's row into r->slot: this transaction's own newest
 * version (*own = true: its lock is ours already), else as the snapshot
 * sees it.  False if there is no such line.
 */
static bool
find_line(Rows *r, int64 line_id, bool *own)
{
	ScanKeyData key;

	*own = cl_own_version(r->rel, line_id, 0, r->att[L_LINE_ID], InvalidAttrNumber, r->slot);
	if (*own)
		return true;
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(line_id));
	return find_snapshot(r, &key, 1);
}

/*
 * credit_line_read: a line's row as this transaction sees it, without a
 * lock; false if there is no such line.
 */
bool
credit_line_read(int64 line_id, CreditLine *l)
{
	Rows		r;
	bool		own;
	bool		found;

	lines_open(&r, AccessShareLock);
	found = find_line(&r, line_id, &own);
	if (found)
		fill_line(&r, l);
	ExecClearTuple(r.slot);
	rows_close(&r);
	return found;
}

static bool lines_lock(const int64 *ids, int n, bool include_hot, int64 may_miss,
					   const ItemPointerData *may_miss_tid, CreditLine *out);

/*
 * credit_lines_lock: read the lines ids[0..n-1] (ascending) into out,
 * locking the rows of the plain ones (of all with include_hot) FOR NO KEY
 * UPDATE in that order, waiting; a hot line is read as the snapshot sees
 * it (its slices are its chains), or, without include_hot, taken from the
 * graph cache (row_cached: its totals as of then).  A line missing is an
 * internal error.
 */
void
credit_lines_lock(const int64 *ids, int n, bool include_hot, CreditLine *out)
{
	(void) lines_lock(ids, n, include_hot, 0, NULL, out);
}

/*
 * credit_lines_lock_line: credit_lines_lock(ids, n, false, out) for a
 * change on line (one of ids) that the call has not read before: false,
 * with nothing locked after the lines before it, when line does not exist
 * (any other line missing is an internal error).  The caller's one look
 * at the line, where a read before the lock would be a second.
 */
bool
credit_lines_lock_line(const int64 *ids, int n, int64 line, const ItemPointerData *tid,
					   CreditLine *out)
{
	return lines_lock(ids, n, false, line, tid, out);
}

/*
 * lines_lock: credit_lines_lock, and false when line may_miss (0: none)
 * has no row; may_miss_tid (NULL or invalid: none) is where this call
 * found may_miss's row, a plain line's, with no write of the transaction
 * since: that version is locked, or the newest after it (cl_lock_tid
 * follows the update chain as a find and its lock would), without a
 * second search of the index.  The version cannot have been pruned: it
 * was visible to a snapshot newer than the statement's, which holds this
 * backend's xmin.
 */
static bool
lines_lock(const int64 *ids, int n, bool include_hot, int64 may_miss,
		   const ItemPointerData *may_miss_tid, CreditLine *out)
{
	Rows		r;
	bool		cache = !include_hot && graph_cache_ready();
	bool		opened = false;

	for (int i = 0; i < n; i++)
	{
		bool		own;
		bool		found;

		if (cache)
		{
			HotLineEntry *e = hash_search(hot_cache, &ids[i], HASH_FIND, NULL);

			if (e != NULL)
			{
				copy_line(&out[i], &e->line, CurrentMemoryContext);
				out[i].row_cached = true;
				continue;
			}
		}
		if (!opened)
		{
			lines_open(&r, RowShareLock);
			opened = true;
		}
		if (ids[i] == may_miss && may_miss_tid != NULL && ItemPointerIsValid(may_miss_tid) &&
			!cl_own_version(r.rel, ids[i], 0, r.att[L_LINE_ID], InvalidAttrNumber, r.slot))
		{
			ItemPointerData tid = *may_miss_tid;

			found = cl_lock_tid(r.rel, &tid, LockWaitBlock, LockTupleNoKeyExclusive,
								r.slot) == LOCK_OK;
			own = true;			/* locked: nothing more to do below */
		}
		else
			found = find_line(&r, ids[i], &own);

		if (found && !own)
		{
			bool		isnull;
			int32		hot = DatumGetInt32(slot_getattr(r.slot, r.att[L_HOT_SLICES], &isnull));

			if (hot == 0 || include_hot)
			{
				ItemPointerData tid = r.slot->tts_tid;

				found = cl_lock_tid(r.rel, &tid, LockWaitBlock, LockTupleNoKeyExclusive,
									r.slot) == LOCK_OK;
			}
		}
		if (!found && ids[i] == may_miss)
		{
			ExecClearTuple(r.slot);
			rows_close(&r);
			return false;
		}
		if (!found)
			elog(ERROR, "creditledger: credit line " INT64_FORMAT " vanished", ids[i]);
		fill_line(&r, &out[i]);
		ExecClearTuple(r.slot);
		if (cache && out[i].hot_slices > 0)
		{
			HotLineEntry *e = hash_search(hot_cache, &ids[i], HASH_ENTER, NULL);

			copy_line(&e->line, &out[i], graph_cxt);
		}
	}
	if (opened)
		rows_close(&r);
	return true;
}

/*
 * credit_line_guard: what a foreign key's check does for a row that names
 * the line (a hold, a drawdown): lock the line's row FOR KEY SHARE, so it
 * cannot be deleted before this transaction ends.  Only a hot line needs
 * it: a plain line's row is locked FOR NO KEY UPDATE by the call itself.
 * known: the line as the caller read it in this call, or NULL.
 */
void
credit_line_guard(int64 line_id, const CreditLine *known)
{
	Rows		r;
	bool		own;

	if (known != NULL && known->hot_slices == 0)
		return;
	lines_open(&r, RowShareLock);
	if (!find_line(&r, line_id, &own))
		elog(ERROR, "creditledger: credit line " INT64_FORMAT " vanished", line_id);
	if (!own && col_int32(&r, L_HOT_SLICES) > 0)
	{
		ItemPointerData tid = r.slot->tts_tid;

		if (cl_lock_tid(r.rel, &tid, LockWaitBlock, LockTupleKeyShare, r.slot) != LOCK_OK)
			elog(ERROR, "creditledger: credit line " INT64_FORMAT " vanished", line_id);
	}
	ExecClearTuple(r.slot);
	rows_close(&r);
}

/*
 * credit_line_head: the head of a line's own chain (slice 0) as this
 * transaction sees it (the caller holds the row's lock).
 */
void
credit_line_head(int64 line_id, CreditHead *h)
{
	CreditLine	l;

	if (!credit_line_read(line_id, &l))
		elog(ERROR, "creditledger: credit line " INT64_FORMAT " vanished", line_id);
	h->line_id = line_id;
	h->slice = 0;
	h->frozen = l.frozen;
	h->used = l.used;
	h->returned = l.returned;
	h->version = l.version;
	memcpy(h->last_hash, l.last_hash, CL_HASH_LEN);
	h->headroom = 0;
	h->pending_frozen = h->pending_used = h->pending_returned = 0;
	h->has_pending_since = false;
	h->tid = l.tid;
	h->own = false;
}

static const char *const link_columns[] = {"child_id", "parent_id", "control"};
enum
{
	K_CHILD_ID, K_PARENT_ID, K_CONTROL, K_COUNT
};
static ColumnMap link_map;

/*
 * add_parents: append to ids[0..*count-1] the parents of line through
 * links whose control is not 'grant', those not there yet (one scan of
 * the links' primary key).
 */
static void
add_parents(Rows *r, Snapshot snapshot, int64 line, int64 **ids, int *count, int *cap)
{
	ScanKeyData key;
	IndexScanDesc scan;

	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(line));
	scan = index_beginscan(r->rel, r->index, snapshot, 1, 0);
	index_rescan(scan, &key, 1, NULL, 0);
	while (index_getnext_slot(scan, ForwardScanDirection, r->slot))
	{
		char	   *control = col_text(r, K_CONTROL);
		int64		parent = col_int64(r, K_PARENT_ID, NULL);
		bool		seen = false;

		if (control != NULL && strcmp(control, "grant") == 0)
			continue;
		for (int k = 0; k < *count && !seen; k++)
			seen = (*ids)[k] == parent;
		if (seen)
			continue;
		if (*count == *cap)
		{
			*cap *= 2;
			*ids = repalloc(*ids, sizeof(int64) * *cap);
		}
		(*ids)[(*count)++] = parent;
	}
	index_endscan(scan);
}

/* How deep line_nodes goes by ancestors' cached nodes (then it walks). */
#define CL_NODES_DEPTH 32

/*
 * line_nodes: credit_line_nodes at depth (ancestors of the line asked
 * about): with the graph cache usable, the cached answer, else the line's
 * own parents (one scan) and each parent's nodes (cached or found so, and
 * cached), so a line met for the first time costs one scan when its
 * ancestors are known; without it (or below CL_NODES_DEPTH, which an
 * acyclic graph never reaches) one scan per node, breadth first.
 */
static int64 *
line_nodes(int64 line, int *n, int depth)
{
	Rows		r;
	Snapshot	snapshot;
	int			cap = 8;
	int			count = 1;
	int64	   *ids;
	bool		cache = graph_cache_ready();

	if (cache)
	{
		NodesEntry *e = hash_search(nodes_cache, &line, HASH_FIND, NULL);

		if (e != NULL)
		{
			ids = palloc(sizeof(int64) * e->n);
			memcpy(ids, e->ids, sizeof(int64) * e->n);
			*n = e->n;
			return ids;
		}
	}
	ids = palloc(sizeof(int64) * cap);
	ids[0] = line;
	rows_open(&r, "credit_line_links", "credit_line_links_pkey", AccessShareLock, &link_map,
			  link_columns, K_COUNT);
	snapshot = statement_snapshot();
	if (cache && depth < CL_NODES_DEPTH)
	{
		int			direct;

		add_parents(&r, snapshot, line, &ids, &count, &cap);
		UnregisterSnapshot(snapshot);
		rows_close(&r);
		direct = count;
		for (int i = 1; i < direct; i++)
		{
			int			m;
			int64	   *up = line_nodes(ids[i], &m, depth + 1);

			for (int j = 0; j < m; j++)
			{
				bool		seen = false;

				for (int k = 0; k < count && !seen; k++)
					seen = ids[k] == up[j];
				if (seen)
					continue;
				if (count == cap)
				{
					cap *= 2;
					ids = repalloc(ids, sizeof(int64) * cap);
				}
				ids[count++] = up[j];
			}
			pfree(up);
		}
	}
	else
	{
		for (int i = 0; i < count; i++)
			add_parents(&r, snapshot, ids[i], &ids, &count, &cap);
		UnregisterSnapshot(snapshot);
		rows_close(&r);
	}
	*n = cl_sort_unique_ids(ids, count);	/* the nodes are distinct already */
	if (cache)
	{
		NodesEntry *e = hash_search(nodes_cache, &line, HASH_ENTER, NULL);

		e->n = *n;
		e->ids = MemoryContextAlloc(graph_cxt, sizeof(int64) * *n);
		memcpy(e->ids, ids, sizeof(int64) * *n);
	}
	return ids;
}

/*
 * credit_line_nodes: the line and every ancestor it reaches through links
 * whose control is not 'grant' (granted limits are carved, not used), each
 * once, ascending: what the engine changes (line_nodes: from the graph
 * cache when it is usable, else one scan of the links' primary key per
 * node).
 */
int64 *
credit_line_nodes(int64 line, int *n)
{
	return line_nodes(line, n, 0);
}

/*
 * credit_line_nodes_found: credit_line_nodes for a line the call has not
 * looked at yet; NULL when the line does not exist.  The graph cache only
 * ever holds the nodes of a line that existed (every other caller names a
 * line it found; lines are never deleted), so a hit needs no look at the
 * line; on a miss the line's row is looked for first, with a snapshot
 * taken before the links' (a line commits together with the links it was
 * created with, and any later link waits for the exclusive graph lock),
 * so nodes are never computed, nor cached, from links that miss a line's
 * parents.  *tid: where that look found a plain line's row (another
 * transaction's version), for credit_lines_lock_line; invalid otherwise.
 */
int64 *
credit_line_nodes_found(int64 line, int *n, ItemPointer tid)
{
	Rows		r;
	bool		own;
	bool		found;

	ItemPointerSetInvalid(tid);
	if (graph_cache_ready())
	{
		NodesEntry *e = hash_search(nodes_cache, &line, HASH_FIND, NULL);

		if (e != NULL)
		{
			int64	   *ids = palloc(sizeof(int64) * e->n);

			memcpy(ids, e->ids, sizeof(int64) * e->n);
			*n = e->n;
			return ids;
		}
	}
	/* RowShareLock: the mode credit_lines_lock_line opens the table in */
	lines_open(&r, RowShareLock);
	found = find_line(&r, line, &own);
	if (found && !own && col_int32(&r, L_HOT_SLICES) == 0)
		*tid = r.slot->tts_tid;
	ExecClearTuple(r.slot);
	rows_close(&r);
	if (!found)
		return NULL;
	return line_nodes(line, n, 0);
}

/* ------------------------------------------------------------------------
 * Slices
 * ------------------------------------------------------------------------ */

static DirectTable *writer_slices(CreditWriter *w, const AttrNumber **a);

static const char *const slice_columns[] = {
	"line_id", "slice", "headroom", "frozen", "used", "returned", "version", "last_hash",
	"pending_frozen", "pending_used", "pending_returned", "pending_since"
};
enum
{
	S_LINE_ID, S_SLICE, S_HEADROOM, S_FROZEN, S_USED, S_RETURNED, S_VERSION, S_LAST_HASH,
	S_PENDING_FROZEN, S_PENDING_USED, S_PENDING_RETURNED, S_PENDING_SINCE, S_COUNT
};
StaticAssertDecl(lengthof(slice_columns) == S_COUNT, "slice_columns and S_* differ");
static ColumnMap slice_map;

static void
slices_open(Rows *r, LOCKMODE mode)
{
	rows_open(r, "credit_line_slices", "credit_line_slices_pkey", mode, &slice_map,
			  slice_columns, S_COUNT);
}

/* fill_slice: a slice's head from r->slot. */
static void
fill_slice(Rows *r, int64 line_id, CreditHead *h)
{
	Datum		since;

	/* every column at once (column by column, each read deforms again) */
	slot_getallattrs(r->slot);
	h->line_id = line_id;
	h->slice = col_int32(r, S_SLICE);
	h->headroom = col_int64(r, S_HEADROOM, NULL);
	h->frozen = col_int64(r, S_FROZEN, NULL);
	h->used = col_int64(r, S_USED, NULL);
	h->returned = col_int64(r, S_RETURNED, NULL);
	h->version = col_int64(r, S_VERSION, NULL);
	col_hash(r, S_LAST_HASH, h->last_hash, "credit line slice of line", line_id);
	h->pending_frozen = col_int64(r, S_PENDING_FROZEN, NULL);
	h->pending_used = col_int64(r, S_PENDING_USED, NULL);
	h->pending_returned = col_int64(r, S_PENDING_RETURNED, NULL);
	since = slot_getattr(r->slot, r->att[S_PENDING_SINCE], &h->has_pending_since);
	h->has_pending_since = !h->has_pending_since;
	h->pending_since = h->has_pending_since ? DatumGetTimestampTz(since) : 0;
	h->tid = r->slot->tts_tid;
}

/*
 * Where each slice row's HOT chain starts (the TID its primary-key entry
 * points to), per backend, kept across transactions: slice_find follows
 * the chain from there, as the index scan would, without descending the
 * index.  Only a hint: what it finds is checked (in the relation, the
 * slice's key, visible to the snapshot: the one version of that key the
 * index would give), and anything else (a non-HOT update moved the row,
 * VACUUM freed or reused the slot, the table was truncated) falls back to
 * the index, which remembers the new root.
 */
typedef struct SliceRootKey
{
	Oid			relid;
	int32		slice;
	int64		line_id;
} SliceRootKey;

typedef struct SliceRootEntry
{
	SliceRootKey key;
	ItemPointerData root;
} SliceRootEntry;

static HTAB *slice_roots = NULL;

/* The slice roots a backend keeps before it starts afresh. */
#define CL_SLICE_ROOTS 65536

/*
 * Free space below which slice_at_root lets PostgreSQL prune a slice's
 * page.  The table's fillfactor (10, so that few slices share a page)
 * makes heap_page_prune_opt prune whenever 90% of the page is not free,
 * that is at every read of a slice page that has a dead version: one
 * prune per change, about 4,000 instructions, and a cleanup lock tried on
 * the page every time.  Pruning when less than half the page is free
 * instead removes some twenty dead versions at once, long before an
 * update would not fit (a version is under 200 bytes), while HOT chains
 * stay a few versions long.
 */
#define CL_SLICE_PRUNE_FREE (BLCKSZ / 2)

/*
 * slice_at_root: the version of the slice row whose chain starts at root
 * that snapshot sees, into r->slot (a buffer heap slot), if it is slice
 * (line_id, slice).  What an index fetch does (heapam_index_fetch_tuple),
 * except that the page is pruned only when less than CL_SLICE_PRUNE_FREE
 * of it is free.
 */
static bool
slice_at_root(Rows *r, ItemPointer root, int64 line_id, int32 slice, Snapshot snapshot)
{
	BufferHeapTupleTableSlot *bslot = (BufferHeapTupleTableSlot *) r->slot;
	ItemPointerData tid = *root;
	Buffer		buf;
	bool		all_dead;
	bool		found;

	if (!TTS_IS_BUFFERTUPLE(r->slot))
		elog(ERROR, "creditledger: a slice is read into a buffer heap slot");
	ExecClearTuple(r->slot);
	if (ItemPointerGetBlockNumber(&tid) >= RelationGetNumberOfBlocks(r->rel))
		return false;
	buf = ReadBuffer(r->rel, ItemPointerGetBlockNumber(&tid));
	/* an unlocked read, as heap_page_prune_opt's own test */
	if (PageGetHeapFreeSpace(BufferGetPage(buf)) < CL_SLICE_PRUNE_FREE)
		heap_page_prune_opt(r->rel, buf);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	found = heap_hot_search_buffer(&tid, r->rel, buf, snapshot, &bslot->base.tupdata,
								   &all_dead, true);
	bslot->base.tupdata.t_tableOid = RelationGetRelid(r->rel);
	LockBuffer(buf, BUFFER_LOCK_UNLOCK);
	if (found)
		ExecStoreBufferHeapTuple(&bslot->base.tupdata, r->slot, buf);	/* pins buf again */
	ReleaseBuffer(buf);
	if (found && (col_int64(r, S_LINE_ID, NULL) != line_id || col_int32(r, S_SLICE) != slice))
	{
		ExecClearTuple(r->slot);
		found = false;
	}
	return found;
}

/*
 * slice_find: slice (line_id, slice) as snapshot sees it, into r->slot
 * (r opened without its index: opened here when needed); false if none.
 * Tries the remembered root first, else the primary key (remembering the
 * root the index gave).
 */
static bool
slice_find(Rows *r, int64 line_id, int32 slice, Snapshot snapshot)
{
	SliceRootKey key;
	SliceRootEntry *e;
	ScanKeyData keys[2];
	IndexScanDesc scan;
	ItemPointer tid;
	ItemPointerData root;
	bool		found = false;

	memset(&key, 0, sizeof(key));
	key.relid = RelationGetRelid(r->rel);
	key.slice = slice;
	key.line_id = line_id;
	if (slice_roots != NULL && hash_get_num_entries(slice_roots) >= CL_SLICE_ROOTS)
	{
		hash_destroy(slice_roots);	/* a bound on a backend's memory */
		slice_roots = NULL;
	}
	if (slice_roots == NULL)
	{
		HASHCTL		info;

		info.keysize = sizeof(SliceRootKey);
		info.entrysize = sizeof(SliceRootEntry);
		slice_roots = hash_create("creditledger slice roots", 256, &info,
								  HASH_ELEM | HASH_BLOBS);
	}
	e = hash_search(slice_roots, &key, HASH_FIND, NULL);
	if (e != NULL && slice_at_root(r, &e->root, line_id, slice, snapshot))
		return true;
	if (r->index == NULL)
		r->index = index_open(cl_relation_oid("credit_line_slices_pkey"), AccessShareLock);
	ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(line_id));
	ScanKeyInit(&keys[1], 2, BTEqualStrategyNumber, F_INT4EQ, Int32GetDatum(slice));
	scan = index_beginscan(r->rel, r->index, snapshot, 2, 0);
	index_rescan(scan, keys, 2, NULL, 0);
	while ((tid = index_getnext_tid(scan, ForwardScanDirection)) != NULL)
	{
		root = *tid;
		if (index_fetch_heap(scan, r->slot))
		{
			found = true;
			break;
		}
	}
	index_endscan(scan);
	if (found)
	{
		e = hash_search(slice_roots, &key, HASH_ENTER, NULL);
		e->root = root;
	}
	else if (e != NULL)
		(void) hash_search(slice_roots, &key, HASH_REMOVE, NULL);
	return found;
}

/*
 * credit_slice_read: slice `slice` of a hot line as this transaction sees
 * it now (its own newest version if it wrote the slice, h->own), without a
 * lock; false if the line has no such slice.
 */
bool
credit_slice_read(int64 line_id, int32 slice, CreditHead *h)
{
	Rows		r;
	bool		found;

	slices_open(&r, AccessShareLock);
	h->own = cl_own_version(r.rel, line_id, slice, r.att[S_LINE_ID], r.att[S_SLICE], r.slot);
	found = h->own;
	if (!found)
	{
		ScanKeyData keys[2];

		ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(line_id));
		ScanKeyInit(&keys[1], 2, BTEqualStrategyNumber, F_INT4EQ, Int32GetDatum(slice));
		found = find_snapshot(&r, keys, 2);
	}
	if (found)
		fill_slice(&r, line_id, h);
	ExecClearTuple(r.slot);
	rows_close(&r);
	return found;
}

/*
 * credit_slice_lock_row: lock the row of a slice read by
 * credit_slice_read (h), FOR NO KEY UPDATE, waiting or (LockWaitSkip) not,
 * and read it again as locked (the newest version).  The caller holds the
 * slice's lock (lockorder.h), so the values are the ones it read unless a
 * transaction outside the protocol held the row.
 */
LockOutcome
credit_slice_lock_row(CreditHead *h, LockWaitPolicy wait)
{
	Rows		r;
	LockOutcome o;
	ItemPointerData tid = h->tid;

	if (h->own)
		return LOCK_OK;			/* written by this transaction: locked already */
	slices_open(&r, RowShareLock);
	o = cl_lock_tid(r.rel, &tid, wait, LockTupleNoKeyExclusive, r.slot);
	if (o == LOCK_OK)
		fill_slice(&r, h->line_id, h);
	ExecClearTuple(r.slot);
	rows_close(&r);
	return o;
}

/*
 * slot_unclaimed: whether the row version in slot has no xmax at all (no
 * transaction, committed, aborted or running, has locked, updated or
 * deleted it): the newest version of its row, locked by nobody.
 */
static bool
slot_unclaimed(TupleTableSlot *slot)
{
	HeapTuple	tup = ExecFetchSlotHeapTuple(slot, false, NULL);

	return (tup->t_data->t_infomask & HEAP_XMAX_INVALID) != 0 ||
		!TransactionIdIsValid(HeapTupleHeaderGetRawXmax(tup->t_data));
}

/*
 * credit_slice_take_row: credit_slice_read and credit_slice_lock_row in
 * one pass over one opening of the table, for the engine's slice_take
 * (whose caller holds the slice's lock): slice `slice` of a hot line as a
 * statement sees it (this transaction's own newest version if it wrote
 * the slice); SLICE_SHORT when its headroom is below needed (nothing
 * locked), else its row locked FOR NO KEY UPDATE (waiting or, with
 * LockWaitSkip, SLICE_BUSY when another holds it) with the snapshot that
 * found it, and read into h as locked.  SLICE_MISSING when the line has no
 * such slice.  With w, the table is the one w writes the slice through
 * (opened by it now if not yet), not opened a second time, and the caller
 * writes the slice through w in this call: then, under READ COMMITTED,
 * a version nobody has locked or updated (no xmax) is taken without a row
 * lock (a heap_lock_tuple and its WAL record less per change): the slice
 * lock already excludes every other writer and the update marks the row.
 */
SliceTake
credit_slice_take_row(CreditWriter *w, int64 line_id, int32 slice, int64 needed,
					  LockWaitPolicy wait, CreditHead *h)
{
	Rows		r;
	Snapshot	snapshot = NULL;
	SliceTake	result;
	bool		found;

	/* the index is opened only when the slice's remembered root fails */
	if (w != NULL)
	{
		/* the writer's opening (RowExclusiveLock), which the change uses */
		DirectTable *t = writer_slices(w, &r.att);

		r.rel = t->rel;
		r.index = NULL;
		if (w->slice_slot == NULL)
			w->slice_slot = table_slot_create(r.rel, NULL);
		r.slot = w->slice_slot;
	}
	else
		rows_open(&r, "credit_line_slices", NULL, RowShareLock, &slice_map, slice_columns,
				  S_COUNT);
	h->own = cl_own_version(r.rel, line_id, slice, r.att[S_LINE_ID], r.att[S_SLICE], r.slot);
	found = h->own;
	if (!found)
	{
		snapshot = statement_snapshot();
		found = slice_find(&r, line_id, slice, snapshot);
	}
	if (!found)
		result = SLICE_MISSING;
	else if (col_int64(&r, S_HEADROOM, NULL) < needed)
		result = SLICE_SHORT;
	else if (h->own)
	{
		/* written by this transaction: locked already */
		fill_slice(&r, line_id, h);
		result = SLICE_TAKEN;
	}
	else if (w != NULL && !IsolationUsesXactSnapshot() && slot_unclaimed(r.slot))
	{
		/*
		 * No row lock: the slice lock excludes every other writer, the
		 * version found (by a snapshot taken under that lock) is the newest
		 * and nobody's lock or update is on it, and this call writes it
		 * next through w, which marks it as the row lock would.
		 */
		fill_slice(&r, line_id, h);
		result = SLICE_TAKEN;
	}
	else
	{
		int64		seen = col_int64(&r, S_HEADROOM, NULL);
		ItemPointerData tid = r.slot->tts_tid;

		if (cl_lock_tid_snapshot(r.rel, &tid, wait, LockTupleNoKeyExclusive, r.slot,
								 snapshot) != LOCK_OK)
			result = SLICE_BUSY;
		else
		{
			fill_slice(&r, line_id, h);
			/* every writer of a slice holds its slice lock: the row is as read */
			if (h->headroom != seen)
				elog(ERROR, "creditledger: slice %d of hot credit line " INT64_FORMAT
					 " changed under its slice lock", slice, line_id);
			result = SLICE_TAKEN;
		}
	}
	if (snapshot)
		UnregisterSnapshot(snapshot);
	ExecClearTuple(r.slot);
	if (w != NULL)
	{
		if (r.index)
			index_close(r.index, AccessShareLock);
	}
	else
		rows_close(&r);
	return result;
}

/*
 * credit_slice_headrooms: the committed headroom of slices 1..n of a hot
 * line as this transaction sees them, in headroom[1..n] (one scan of the
 * primary key); returns how many were found.
 */
int
credit_slice_headrooms(int64 line_id, int32 n, int64 *headroom)
{
	Rows		r;
	Snapshot	snapshot;
	ScanKeyData key;
	IndexScanDesc scan;
	int			found = 0;

	slices_open(&r, AccessShareLock);
	snapshot = statement_snapshot();
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(line_id));
	scan = index_beginscan(r.rel, r.index, snapshot, 1, 0);
	index_rescan(scan, &key, 1, NULL, 0);
	while (index_getnext_slot(scan, ForwardScanDirection, r.slot))
	{
		int32		s = col_int32(&r, S_SLICE);

		if (s >= 1 && s <= n)
		{
			headroom[s] = col_int64(&r, S_HEADROOM, NULL);
			found++;
		}
	}
	index_endscan(scan);
	UnregisterSnapshot(snapshot);
	rows_close(&r);
	return found;
}

/* ------------------------------------------------------------------------
 * The journal and the heads
 * ------------------------------------------------------------------------ */

/*
 * credit_writer_open: start a call's writes (tables are opened on first
 * use).
 */
void
credit_writer_open(CreditWriter *w)
{
	w->chain_open = w->lines_open = w->slices_open = false;
	w->slice_slot = NULL;
}

/* the writer's slices table, opened on first use, and its column map */
static DirectTable *
writer_slices(CreditWriter *w, const AttrNumber **a)
{
	if (!w->slices_open)
	{
		direct_open(&w->slices, "credit_line_slices");
		w->slices_open = true;
	}
	*a = cl_column_map(&slice_map, w->slices.rel, slice_columns, S_COUNT);
	return &w->slices;
}

/*
 * credit_writer_append: append entry e (its version, deltas and afters
 * set by the caller from h) to h's chain and write the head back to its
 * row (a line's, or a slice's with headroom less headroom_delta), whose
 * lock the caller holds; h moves to the new version.  A slice's entry
 * journals everything the slice had pending (its afters are the slice's
 * totals): its pending columns are cleared.
 */
void
credit_writer_append(CreditWriter *w, CreditHead *h, const CreditEntry *e,
					 int64 headroom_delta)
{
	uint8		hash[CL_HASH_LEN];
	Datum		v[10];
	bool		nulls[10] = {false};
	int			att[10];
	int			ncols;
	DirectTable *t;
	const AttrNumber *a;
	Oid			relid;

	if (!w->chain_open)
	{
		chain_writer_open(&w->chain, &cl_credit_chain_kind);
		w->chain_open = true;
	}
	chain_writer_append(&w->chain, h->last_hash, e, hash);

	v[0] = Int64GetDatum(e->frozen_after);
	v[1] = Int64GetDatum(e->used_after);
	v[2] = Int64GetDatum(e->returned_after);
	v[3] = Int64GetDatum(e->version);
	v[4] = cl_hash_datum(hash);
	if (h->slice == 0)
	{
		if (!w->lines_open)
		{
			direct_open(&w->lines, "ledger_credit_lines");
			w->lines_open = true;
		}
		t = &w->lines;
		a = cl_column_map(&line_map, t->rel, line_columns, L_COUNT);
		att[0] = a[L_FROZEN];
		att[1] = a[L_USED];
		att[2] = a[L_RETURNED];
		att[3] = a[L_VERSION];
		att[4] = a[L_LAST_HASH];
		ncols = 5;
	}
	else
	{
		t = writer_slices(w, &a);
		att[0] = a[S_FROZEN];
		att[1] = a[S_USED];
		att[2] = a[S_RETURNED];
		att[3] = a[S_VERSION];
		att[4] = a[S_LAST_HASH];
		att[5] = a[S_HEADROOM];
		v[5] = Int64GetDatum(h->headroom - headroom_delta);
		ncols = 6;
		if (h->pending_frozen != 0 || h->pending_used != 0 || h->pending_returned != 0 ||
			h->has_pending_since)
		{
			att[6] = a[S_PENDING_FROZEN];
			att[7] = a[S_PENDING_USED];
			att[8] = a[S_PENDING_RETURNED];
			att[9] = a[S_PENDING_SINCE];
			v[6] = v[7] = v[8] = Int64GetDatum(0);
			v[9] = (Datum) 0;
			nulls[9] = true;
			ncols = 10;
		}
	}
	h->tid = direct_update_columns_nulls(t, &h->tid, ncols, att, v, nulls);
	relid = RelationGetRelid(t->rel);
	/* the next change of this chain in the transaction finds it here */
	cl_rowcache_remember(relid, h->line_id, h->slice, &h->tid);
	h->own = true;
	h->version = e->version;
	h->frozen = e->frozen_after;
	h->used = e->used_after;
	h->returned = e->returned_after;
	if (h->slice != 0)
		h->headroom -= headroom_delta;
	h->pending_frozen = h->pending_used = h->pending_returned = 0;
	h->has_pending_since = false;
	memcpy(h->last_hash, hash, CL_HASH_LEN);
}

/*
 * credit_writer_pend: a change of a batched hot line's slice h (whose
 * lock the caller holds) without a journal entry: frozen/used/returned
 * move by fd/ud/rd, the headroom by -headroom_delta, and the same deltas
 * are added to the slice's pending columns (pending_since set if it was
 * not), for credit_settle_hot_lines to journal in one entry.
 */
void
credit_writer_pend(CreditWriter *w, CreditHead *h, int64 fd, int64 ud, int64 rd,
				   int64 headroom_delta)
{
	Datum		v[8];
	int			att[8];
	int			ncols = 7;
	DirectTable *t;
	const AttrNumber *a;
	TupleDesc	desc;

	Assert(h->slice != 0);
	t = writer_slices(w, &a);
	att[0] = a[S_FROZEN];
	att[1] = a[S_USED];
	att[2] = a[S_RETURNED];
	att[3] = a[S_HEADROOM];
	att[4] = a[S_PENDING_FROZEN];
	att[5] = a[S_PENDING_USED];
	att[6] = a[S_PENDING_RETURNED];
	v[0] = Int64GetDatum(h->frozen + fd);
	v[1] = Int64GetDatum(h->used + ud);
	v[2] = Int64GetDatum(h->returned + rd);
	v[3] = Int64GetDatum(h->headroom - headroom_delta);
	v[4] = Int64GetDatum(h->pending_frozen + fd);
	v[5] = Int64GetDatum(h->pending_used + ud);
	v[6] = Int64GetDatum(h->pending_returned + rd);
	if (!h->has_pending_since)
	{
		att[7] = a[S_PENDING_SINCE];
		v[7] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
		ncols = 8;
	}
	desc = RelationGetDescr(t->rel);
	if (desc->natts == S_COUNT)
	{
		/*
		 * h holds every column of the version at h->tid (fill_slice read
		 * them all, and the table has no other, not even a dropped one): the
		 * new version is formed from h, without fetching and deforming the
		 * old one again.
		 */
		Datum		all[S_COUNT];
		bool		nulls[S_COUNT] = {false};
		HeapTuple	tup;

		all[a[S_LINE_ID] - 1] = Int64GetDatum(h->line_id);
		all[a[S_SLICE] - 1] = Int32GetDatum(h->slice);
		all[a[S_VERSION] - 1] = Int64GetDatum(h->version);
		all[a[S_LAST_HASH] - 1] = cl_hash_datum(h->last_hash);
		all[a[S_PENDING_SINCE] - 1] = TimestampTzGetDatum(h->pending_since);
		for (int c = 0; c < ncols; c++)
			all[att[c] - 1] = v[c];
		tup = heap_form_tuple(desc, all, nulls);
		h->tid = direct_update_tuple(t, &h->tid, tup, ncols, att);
		heap_freetuple(tup);
	}
	else
		h->tid = direct_update_columns(t, &h->tid, ncols, att, v);
	cl_rowcache_remember(RelationGetRelid(t->rel), h->line_id, h->slice, &h->tid);
	h->own = true;
	h->frozen += fd;
	h->used += ud;
	h->returned += rd;
	h->headroom -= headroom_delta;
	h->pending_frozen += fd;
	h->pending_used += ud;
	h->pending_returned += rd;
	if (!h->has_pending_since)
		h->pending_since = GetCurrentTransactionStartTimestamp();
	h->has_pending_since = true;
}

/*
 * credit_writer_unpend: clear the pending columns of a slice h (whose
 * lock the caller holds) whose pending changes added up to nothing: no
 * journal entry, the chain's head is already the slice's totals.
 */
void
credit_writer_unpend(CreditWriter *w, CreditHead *h)
{
	Datum		v[4] = {Int64GetDatum(0), Int64GetDatum(0), Int64GetDatum(0), (Datum) 0};
	bool		nulls[4] = {false, false, false, true};
	int			att[4];
	DirectTable *t;
	const AttrNumber *a;

	Assert(h->slice != 0 && h->pending_frozen == 0 && h->pending_used == 0 &&
		   h->pending_returned == 0);
	t = writer_slices(w, &a);
	att[0] = a[S_PENDING_FROZEN];
	att[1] = a[S_PENDING_USED];
	att[2] = a[S_PENDING_RETURNED];
	att[3] = a[S_PENDING_SINCE];
	h->tid = direct_update_columns_nulls(t, &h->tid, 4, att, v, nulls);
	cl_rowcache_remember(RelationGetRelid(t->rel), h->line_id, h->slice, &h->tid);
	h->own = true;
	h->has_pending_since = false;
}

/*
 * credit_writer_close: close what the call opened; its writes become
 * visible to the transaction's next command.
 */
void
credit_writer_close(CreditWriter *w)
{
	if (w->chain_open)
		chain_writer_close(&w->chain);
	if (w->lines_open)
		direct_close(&w->lines);
	if (w->slice_slot != NULL)
		ExecDropSingleTupleTableSlot(w->slice_slot);
	if (w->slices_open)
		direct_close(&w->slices);
	w->chain_open = w->lines_open = w->slices_open = false;
	w->slice_slot = NULL;
}

/* ------------------------------------------------------------------------
 * Holds
 * ------------------------------------------------------------------------ */

static const char *const hold_columns[] = {
	"hold_id", "ref", "line_id", "amount", "expires_at", "remaining", "used_amount",
	"released_amount", "status", "created_at", "closed_at"
};
enum
{
	H_HOLD_ID, H_REF, H_LINE_ID, H_AMOUNT, H_EXPIRES_AT, H_REMAINING, H_USED_AMOUNT,
	H_RELEASED_AMOUNT, H_STATUS, H_CREATED_AT, H_CLOSED_AT, H_COUNT
};
StaticAssertDecl(lengthof(hold_columns) == H_COUNT, "hold_columns and H_* differ");
static ColumnMap hold_map;

static void
holds_open(Rows *r, const char *index, LOCKMODE mode)
{
	rows_open(r, "ledger_credit_holds", index, mode, &hold_map, hold_columns, H_COUNT);
}

/* fill_hold: a hold from r->slot. */
static void
fill_hold(Rows *r, CreditHoldRow *h)
{
	bool		isnull;
	Datum		d;

	h->hold_id = col_int64(r, H_HOLD_ID, NULL);
	h->ref = col_text(r, H_REF);
	h->line_id = col_int64(r, H_LINE_ID, NULL);
	h->amount = col_int64(r, H_AMOUNT, NULL);
	d = slot_getattr(r->slot, r->att[H_EXPIRES_AT], &isnull);
	h->has_expiry = !isnull;
	h->expires_at = isnull ? 0 : DatumGetTimestampTz(d);
	h->remaining = col_int64(r, H_REMAINING, NULL);
	h->used_amount = col_int64(r, H_USED_AMOUNT, NULL);
	h->released_amount = col_int64(r, H_RELEASED_AMOUNT, NULL);
	h->status = col_text(r, H_STATUS);
	h->tid = r->slot->tts_tid;
}

/*
 * credit_hold_find: the hold with this ref as this transaction sees it;
 * false if none.
 */
bool
credit_hold_find(const char *ref, CreditHoldRow *h)
{
	Rows		r;
	ScanKeyData key;
	bool		found;

	holds_open(&r, "ledger_credit_holds_ref_key", AccessShareLock);
	text_key(&key, r.index, 1, ref);
	found = find_snapshot(&r, &key, 1);
	if (found)
		fill_hold(&r, h);
	ExecClearTuple(r.slot);
	rows_close(&r);
	return found;
}

/*
 * credit_hold_claim: claim a freeze's ref with its hold row (open, the
 * whole amount remaining; hold_id from its sequence, created_at now(), as
 * the columns' defaults would).  True and the new hold in h; false and
 * the hold that has the ref (committed, or this transaction's) in h.
 */
bool
credit_hold_claim(const char *ref, int64 line, int64 amount, bool has_expiry,
				  TimestampTz expires_at, CreditHoldRow *h)
{
	Datum		v[H_COUNT];
	bool		n[H_COUNT];
	ItemPointerData tid;
	Rows		r;

	memset(n, false, sizeof(n));
	v[H_HOLD_ID] = Int64GetDatum(next_id("credit_hold_id_seq"));
	v[H_REF] = CStringGetTextDatum(ref);
	v[H_LINE_ID] = Int64GetDatum(line);
	v[H_AMOUNT] = Int64GetDatum(amount);
	v[H_EXPIRES_AT] = TimestampTzGetDatum(expires_at);
	n[H_EXPIRES_AT] = !has_expiry;
	v[H_REMAINING] = Int64GetDatum(amount);
	v[H_USED_AMOUNT] = Int64GetDatum(0);
	v[H_RELEASED_AMOUNT] = Int64GetDatum(0);
	v[H_STATUS] = CStringGetTextDatum("open");
	v[H_CREATED_AT] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	v[H_CLOSED_AT] = (Datum) 0;
	n[H_CLOSED_AT] = true;
	if (claim_row("ledger_credit_holds", "ledger_credit_holds_ref_key", &hold_map, hold_columns,
				  H_COUNT, v, n, &tid))
	{
		h->hold_id = DatumGetInt64(v[H_HOLD_ID]);
		h->ref = pstrdup(ref);
		h->line_id = line;
		h->amount = amount;
		h->has_expiry = has_expiry;
		h->expires_at = has_expiry ? expires_at : 0;
		h->remaining = amount;
		h->used_amount = h->released_amount = 0;
		h->status = "open";
		h->tid = tid;
		return true;
	}
	holds_open(&r, NULL, AccessShareLock);
	fetch_tid(&r, &tid);
	fill_hold(&r, h);
	ExecClearTuple(r.slot);
	rows_close(&r);
	return false;
}

/*
 * credit_hold_lock: the hold with this ref, locked FOR NO KEY UPDATE
 * (waiting; the newest version); false if none.
 */
bool
credit_hold_lock(const char *ref, CreditHoldRow *h)
{
	Rows		r;
	ScanKeyData key;
	bool		found;

	holds_open(&r, "ledger_credit_holds_ref_key", RowShareLock);
	text_key(&key, r.index, 1, ref);
	found = find_locked(&r, &key, 1);
	if (found)
		fill_hold(&r, h);
	ExecClearTuple(r.slot);
	rows_close(&r);
	return found;
}

/*
 * credit_hold_update: take used and released off a hold locked by
 * credit_hold_lock, setting its status (and closed_at = now() when it is
 * not open any more).
 */
void
credit_hold_update(CreditHoldRow *h, int64 used, int64 released, const char *status)
{
	int			cols[5];
	Datum		v[5];
	int			n = 0;

	cols[n] = H_REMAINING;
	v[n++] = Int64GetDatum(h->remaining - used - released);
	cols[n] = H_USED_AMOUNT;
	v[n++] = Int64GetDatum(h->used_amount + used);
	cols[n] = H_RELEASED_AMOUNT;
	v[n++] = Int64GetDatum(h->released_amount + released);
	cols[n] = H_STATUS;
	v[n++] = CStringGetTextDatum(status);
	if (strcmp(status, "open") != 0)
	{
		/* an open hold's closed_at is NULL already */
		cols[n] = H_CLOSED_AT;
		v[n++] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	}
	update_row("ledger_credit_holds", &hold_map, hold_columns, H_COUNT, &h->tid, n, cols, v);
	h->remaining -= used + released;
	h->used_amount += used;
	h->released_amount += released;
	h->status = pstrdup(status);
}

/*
 * credit_holds_any_due: whether any open hold is past its expires_at
 * (now(): the transaction's start), as this transaction sees them: one
 * probe of the due index.
 */
bool
credit_holds_any_due(void)
{
	Rows		r;
	Snapshot	snapshot;
	ScanKeyData key;
	IndexScanDesc scan;
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	bool		any = false;

	holds_open(&r, "ledger_credit_holds_due_idx", AccessShareLock);
	snapshot = statement_snapshot();
	ScanKeyInit(&key, 1, BTLessEqualStrategyNumber, F_TIMESTAMPTZ_LE, TimestampTzGetDatum(now));
	scan = index_beginscan(r.rel, r.index, snapshot, 1, 0);
	index_rescan(scan, &key, 1, NULL, 0);
	while (!any && index_getnext_slot(scan, ForwardScanDirection, r.slot))
	{
		bool		isnull;
		Datum		d = slot_getattr(r.slot, r.att[H_EXPIRES_AT], &isnull);
		char	   *status = col_text(&r, H_STATUS);

		any = !isnull && DatumGetTimestampTz(d) <= now &&
			status != NULL && strcmp(status, "open") == 0;
	}
	index_endscan(scan);
	UnregisterSnapshot(snapshot);
	rows_close(&r);
	return any;
}

/* ------------------------------------------------------------------------
 * Drawdowns and operations
 * ------------------------------------------------------------------------ */

static const char *const drawdown_columns[] = {
	"drawdown_id", "ref", "line_id", "hold_id", "amount", "outstanding", "returned",
	"payload", "created_at"
};
enum
{
	D_DRAWDOWN_ID, D_REF, D_LINE_ID, D_HOLD_ID, D_AMOUNT, D_OUTSTANDING, D_RETURNED,
	D_PAYLOAD, D_CREATED_AT, D_COUNT
};
StaticAssertDecl(lengthof(drawdown_columns) == D_COUNT, "drawdown_columns and D_* differ");
static ColumnMap drawdown_map;

static const char *const operation_columns[] = {
	"operation_id", "kind", "ref", "target_id", "amount", "payload", "created_at"
};
enum
{
	O_OPERATION_ID, O_KIND, O_REF, O_TARGET_ID, O_AMOUNT, O_PAYLOAD, O_CREATED_AT, O_COUNT
};
StaticAssertDecl(lengthof(operation_columns) == O_COUNT, "operation_columns and O_* differ");
static ColumnMap operation_map;

static void
drawdowns_open(Rows *r, const char *index, LOCKMODE mode)
{
	rows_open(r, "ledger_credit_drawdowns", index, mode, &drawdown_map, drawdown_columns,
			  D_COUNT);
}

static void
operations_open(Rows *r, const char *index, LOCKMODE mode)
{
	rows_open(r, "credit_operations", index, mode, &operation_map, operation_columns, O_COUNT);
}

/*
 * credit_drawdown_find: the drawdown with this ref (its id and payload) as
 * this transaction sees it; false if none.
 */
bool
credit_drawdown_find(const char *ref, int64 *id, Datum *payload)
{
	Rows		r;
	ScanKeyData key;
	bool		found;
	bool		isnull;

	drawdowns_open(&r, "ledger_credit_drawdowns_ref_key", AccessShareLock);
	text_key(&key, r.index, 1, ref);
	found = find_snapshot(&r, &key, 1);
	if (found)
	{
		*id = col_int64(&r, D_DRAWDOWN_ID, NULL);
		*payload = col_datum_copy(&r, D_PAYLOAD, &isnull);
	}
	ExecClearTuple(r.slot);
	rows_close(&r);
	return found;
}

/*
 * credit_drawdown_claim: claim a drawdown's ref with its row (hold_id 0:
 * none); true and the new id, or false and the id and payload of the
 * drawdown that has the ref.
 */
bool
credit_drawdown_claim(const char *ref, int64 line, int64 hold_id, int64 amount, Datum payload,
					  int64 *id, Datum *existing)
{
	Datum		v[D_COUNT];
	bool		n[D_COUNT];
	ItemPointerData tid;
	Rows		r;
	bool		isnull;

	memset(n, false, sizeof(n));
	v[D_DRAWDOWN_ID] = Int64GetDatum(next_id("credit_drawdown_id_seq"));
	v[D_REF] = CStringGetTextDatum(ref);
	v[D_LINE_ID] = Int64GetDatum(line);
	v[D_HOLD_ID] = Int64GetDatum(hold_id);
	n[D_HOLD_ID] = (hold_id == 0);
	v[D_AMOUNT] = Int64GetDatum(amount);
	v[D_OUTSTANDING] = Int64GetDatum(amount);
	v[D_RETURNED] = Int64GetDatum(0);
	v[D_PAYLOAD] = payload;
	v[D_CREATED_AT] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	if (claim_row("ledger_credit_drawdowns", "ledger_credit_drawdowns_ref_key", &drawdown_map,
				  drawdown_columns, D_COUNT, v, n, &tid))
	{
		*id = DatumGetInt64(v[D_DRAWDOWN_ID]);
		return true;
	}
	drawdowns_open(&r, NULL, AccessShareLock);
	fetch_tid(&r, &tid);
	*id = col_int64(&r, D_DRAWDOWN_ID, NULL);
	*existing = col_datum_copy(&r, D_PAYLOAD, &isnull);
	ExecClearTuple(r.slot);
	rows_close(&r);
	return false;
}

/*
 * credit_drawdown_lock: the drawdown with this ref, locked FOR NO KEY
 * UPDATE (waiting; the newest version); false if none.
 */
bool
credit_drawdown_lock(const char *ref, CreditDrawdownRow *d)
{
	Rows		r;
	ScanKeyData key;
	bool		found;

	drawdowns_open(&r, "ledger_credit_drawdowns_ref_key", RowShareLock);
	text_key(&key, r.index, 1, ref);
	found = find_locked(&r, &key, 1);
	if (found)
	{
		d->drawdown_id = col_int64(&r, D_DRAWDOWN_ID, NULL);
		d->line_id = col_int64(&r, D_LINE_ID, NULL);
		d->outstanding = col_int64(&r, D_OUTSTANDING, NULL);
		d->returned = col_int64(&r, D_RETURNED, NULL);
		d->tid = r.slot->tts_tid;
	}
	ExecClearTuple(r.slot);
	rows_close(&r);
	return found;
}

/*
 * credit_drawdown_update: a return of amount on a drawdown locked by
 * credit_drawdown_lock.
 */
void
credit_drawdown_update(CreditDrawdownRow *d, int64 amount)
{
	int			cols[2] = {D_OUTSTANDING, D_RETURNED};
	Datum		v[2] = {Int64GetDatum(d->outstanding - amount), Int64GetDatum(d->returned + amount)};

	update_row("ledger_credit_drawdowns", &drawdown_map, drawdown_columns, D_COUNT, &d->tid, 2,
			   cols, v);
	d->outstanding -= amount;
	d->returned += amount;
}

/*
 * credit_operation_find: the unfreeze or return (kind) with this ref, its
 * id and payload, as this transaction sees it; false if none.
 */
bool
credit_operation_find(const char *kind, const char *ref, int64 *id, Datum *payload)
{
	Rows		r;
	ScanKeyData keys[2];
	bool		found;
	bool		isnull;

	operations_open(&r, "credit_operations_kind_ref_key", AccessShareLock);
	text_key(&keys[0], r.index, 1, kind);
	text_key(&keys[1], r.index, 2, ref);
	found = find_snapshot(&r, keys, 2);
	if (found)
	{
		*id = col_int64(&r, O_OPERATION_ID, NULL);
		*payload = col_datum_copy(&r, O_PAYLOAD, &isnull);
	}
	ExecClearTuple(r.slot);
	rows_close(&r);
	return found;
}

/*
 * credit_operation_claim: claim an unfreeze's or return's ref (kind) with
 * its row; true and the new id, or false and the id and payload of the
 * operation that has the ref.
 */
bool
credit_operation_claim(const char *kind, const char *ref, int64 target, int64 amount,
					   Datum payload, int64 *id, Datum *existing)
{
	Datum		v[O_COUNT];
	bool		n[O_COUNT];
	ItemPointerData tid;
	Rows		r;
	bool		isnull;

	memset(n, false, sizeof(n));
	v[O_OPERATION_ID] = Int64GetDatum(next_id("credit_operation_id_seq"));
	v[O_KIND] = CStringGetTextDatum(kind);
	v[O_REF] = CStringGetTextDatum(ref);
	v[O_TARGET_ID] = Int64GetDatum(target);
	v[O_AMOUNT] = Int64GetDatum(amount);
	v[O_PAYLOAD] = payload;
	v[O_CREATED_AT] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	if (claim_row("credit_operations", "credit_operations_kind_ref_key", &operation_map,
				  operation_columns, O_COUNT, v, n, &tid))
	{
		*id = DatumGetInt64(v[O_OPERATION_ID]);
		return true;
	}
	operations_open(&r, NULL, AccessShareLock);
	fetch_tid(&r, &tid);
	*id = col_int64(&r, O_OPERATION_ID, NULL);
	*existing = col_datum_copy(&r, O_PAYLOAD, &isnull);
	ExecClearTuple(r.slot);
	rows_close(&r);
	return false;
}
