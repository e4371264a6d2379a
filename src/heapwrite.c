/*
 * heapwrite.c: direct heap writes for the posting hot path.
 *
 * Appending journal rows (and buffer rows) and moving chain heads are the
 * writes every posting makes per leg; through SPI each would pay a whole executor start
 * and end.  Here they are done the way PostgreSQL writes its own catalogs
 * (CatalogTupleInsert/CatalogTupleUpdate): heap_insert / simple_heap_update
 * plus index maintenance through ExecInsertIndexTuples, so unique,
 * exclusion, partial and expression indexes all behave as with SQL.
 *
 * What this bypasses, deliberately: row triggers and CHECK constraints on
 * the tables written this way, journal_entries, posting_buffer,
 * ledger_accounts, sub_accounts, hold_entries and ledger_pending_transfers
 * (the extension's own tables, written only by its functions, which
 * compute every value they write; the journals' guard triggers are
 * UPDATE/DELETE/TRUNCATE triggers, which no posting fires, and the other
 * tables have none).  They are created USING heap, and direct_open()
 * refuses any other access method.
 *
 * direct_open() leaves the table's indexes closed until the first write
 * that needs an index entry (open_indices): a chain head's update that
 * stays HOT needs none, and building the indexes' IndexInfo is a good part
 * of opening a table.  direct_open_claim() opens them at once.
 *
 * direct_multi_insert() appends many rows with heap_multi_insert and then
 * each row's index entries through ExecInsertIndexTuples, as COPY does
 * (unique checks, their waits and 23505 included, partial predicates
 * evaluated); it checks NOT NULL columns itself and refuses a table with
 * CHECK constraints or row INSERT triggers other than those the caller
 * names as emulated (ledger_transfers_seal, whose row_hash the caller
 * computes), so that it never silently skips a rule SQL would apply.
 *
 * direct_claim() is INSERT ... ON CONFLICT DO NOTHING on one arbiter
 * index, with the executor's speculative insertion protocol (the same
 * waits and the same outcome as the SQL statement), for a reference's
 * claim on the hot path (transfer_pending; the transfer row of a transfer,
 * an entry or a posting made by another module, transfers.c's
 * cl_claim_transfer_voucher, which computes the row_hash of
 * ledger_transfers_seal and checks with direct_check_insert_rules that the
 * table has no other INSERT rule).
 * lending.c appends pending disbursements' rows
 * (ledger_credit_pending_disbursements) with direct_insert, checking their
 * CHECK constraint's and NOT NULLs' conditions itself.
 *
 * One more deliberate difference from SQL: when an update is not HOT but
 * changes no column that any index covers (the chain-head columns balance,
 * version and last_hash), the new version's index entries are inserted
 * without a unique check (insert_unchanged_index_entries).  The key is the
 * one of the version it replaces, which we hold locked and which was
 * unique, so the check cannot fail; but it visits every earlier version of
 * the key, and within one transaction none of them is dead to everyone yet,
 * so many updates of one row in one transaction would cost O(N^2).  A
 * concurrent inserter of the same key still checks against our entries and
 * waits for us, as with SQL.
 *
 * Locking: the caller holds RowExclusiveLock on the table (taken here, as
 * SQL would) and, for an update, the row lock on the account row (taken by
 * locking.c), so no other transaction can change that row under us.  Every
 * write uses the current command id; direct_close() makes it visible to the
 * transaction's next command.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/pg_trigger.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/bitmapset.h"
#include "optimizer/optimizer.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "compat.h"
#include "heapwrite.h"

/*
 * The OIDs cl_relation_oid found, by name, for the backend's life until a
 * relcache invalidation of any of them (or of everything): a relation that
 * is dropped (DROP EXTENSION) is invalidated first, so a name never maps
 * to a stale OID longer than the syscache would map it.
 */
typedef struct RelationOidEntry
{
	char		name[NAMEDATALEN];	/* hash key */
	Oid			relid;
} RelationOidEntry;

static HTAB *relation_oids = NULL;

/*
 * relation_oids_invalidate: a relcache invalidation; forget every OID when
 * it names one of them (or all relations).
 */
static void
relation_oids_invalidate(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS seq;
	RelationOidEntry *e;
	bool		drop = !OidIsValid(relid);

	if (relation_oids == NULL)
		return;
	if (!drop)
	{
		hash_seq_init(&seq, relation_oids);
		while ((e = hash_seq_search(&seq)) != NULL)
			if (e->relid == relid)
			{
				drop = true;
				hash_seq_term(&seq);
				break;
			}
	}
	if (drop)
	{
		hash_destroy(relation_oids);
		relation_oids = NULL;
	}
}

/*
 * relation_oid: the OID of creditledger.relname, cached until a relcache
 * invalidation names it; when there is no such relation, InvalidOid if
 * missing_ok (not cached: it is looked up again next time), else an error.
 */
static Oid
relation_oid(const char *relname, bool missing_ok)
{
	static bool registered = false;
	RelationOidEntry *e;
	bool		found;
	Oid			nsp;
	Oid			relid;

	if (relation_oids != NULL && strlen(relname) < NAMEDATALEN)
	{
		e = hash_search(relation_oids, relname, HASH_FIND, NULL);
		if (e != NULL)
			return e->relid;
	}
	nsp = get_namespace_oid("creditledger", missing_ok);
	relid = OidIsValid(nsp) ? get_relname_relid(relname, nsp) : InvalidOid;
	if (!OidIsValid(relid))
	{
		if (missing_ok)
			return InvalidOid;
		elog(ERROR, "creditledger: relation creditledger.%s does not exist", relname);
	}
	if (strlen(relname) >= NAMEDATALEN)
		return relid;
	if (!registered)
	{
		CacheRegisterRelcacheCallback(relation_oids_invalidate, (Datum) 0);
		registered = true;
	}
	if (relation_oids == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = NAMEDATALEN;
		ctl.entrysize = sizeof(RelationOidEntry);
		ctl.hcxt = TopMemoryContext;
		relation_oids = hash_create("creditledger relation OIDs", 64, &ctl,
									HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	}
	e = hash_search(relation_oids, relname, HASH_ENTER, &found);
	e->relid = relid;
	return relid;
}

/*
 * cl_relation_oid: the OID of creditledger.relname (an error if missing).
 */
Oid
cl_relation_oid(const char *relname)
{
	return relation_oid(relname, false);
}

/*
 * cl_relation_oid_if_exists: the OID of creditledger.relname, or InvalidOid
 * when the installed release has no such relation (the library runs
 * against an older schema until ALTER EXTENSION UPDATE).
 */
Oid
cl_relation_oid_if_exists(const char *relname)
{
	return relation_oid(relname, true);
}

/*
 * Compiled predicates of partial indexes, by index OID, for the backend's
 * life: ExecInsertIndexTuples would compile each one again for every
 * statement (every direct_open here).  An index's predicate never changes
 * (a new predicate is a new index, with a new OID).
 */
typedef struct PredicateEntry
{
	Oid			indexoid;
	ExprState  *state;			/* NULL until compiled */
} PredicateEntry;

static HTAB *predicates = NULL;

/*
 * seed_predicates: give each partial index of t its compiled predicate
 * (compiled once per backend, in TopMemoryContext).
 */
static void
seed_predicates(DirectTable *t)
{
	for (int i = 0; i < t->rri->ri_NumIndices; i++)
	{
		IndexInfo  *ii = t->rri->ri_IndexRelationInfo[i];
		Oid			oid;
		PredicateEntry *e;
		bool		found;

		if (ii == NULL || ii->ii_Predicate == NIL || ii->ii_PredicateState != NULL)
			continue;
		if (predicates == NULL)
		{
			HASHCTL		ctl;

			ctl.keysize = sizeof(Oid);
			ctl.entrysize = sizeof(PredicateEntry);
			ctl.hcxt = TopMemoryContext;
			predicates = hash_create("creditledger index predicates", 16, &ctl,
									 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		}
		oid = RelationGetRelid(t->rri->ri_IndexRelationDescs[i]);
		e = hash_search(predicates, &oid, HASH_ENTER, &found);
		if (!found)
			e->state = NULL;
		if (e->state == NULL)
		{
			MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
			Expr	   *pred = expression_planner((Expr *) copyObject(ii->ii_Predicate));

			e->state = ExecInitQual((List *) pred, NULL);
			MemoryContextSwitchTo(old);
		}
		ii->ii_PredicateState = e->state;
	}
}

/*
 * exec_ready: t's executor state, result relation and slot, made on first
 * need (an index entry to write): a table whose writes are all HOT updates
 * (a head, a hot slice) never needs them, and they are most of what
 * opening a table costs.
 */
static void
exec_ready(DirectTable *t)
{
	if (t->estate != NULL)
		return;
	t->estate = CreateExecutorState();
	t->estate->es_output_cid = GetCurrentCommandId(true);
	t->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(t->rri, t->rel, 1, NULL, 0);
	t->slot = MakeSingleTupleTableSlot(RelationGetDescr(t->rel), &TTSOpsHeapTuple);
}

/*
 * open_indices: open t's indexes for inserting entries (speculative: for
 * direct_claim's arbiter checks), once.  direct_open leaves this to the
 * first write that needs an index entry: an update that stays HOT (most
 * head updates) needs none, and opening the indexes (their IndexInfo)
 * is a good part of opening a table.  The indexes are allocated in the
 * table's executor state, closed by direct_close.
 */
static void
open_indices(DirectTable *t, bool speculative)
{
	MemoryContext old;

	if (t->indices_open)
		return;
	exec_ready(t);
	old = MemoryContextSwitchTo(t->estate->es_query_cxt);
	ExecOpenIndices(t->rri, speculative);
	MemoryContextSwitchTo(old);
	t->indices_open = true;
	seed_predicates(t);
}

/*
 * open_table: open creditledger.relname and its indexes for writing; with
 * speculative, the unique indexes' information for arbitrating conflicts
 * too (as for INSERT ... ON CONFLICT).
 */
static void
open_table(DirectTable *t, const char *relname, bool speculative)
{
	t->rel = table_open(cl_relation_oid(relname), RowExclusiveLock);
	if (t->rel->rd_tableam != GetHeapamTableAmRoutine())
		elog(ERROR, "creditledger: table creditledger.%s must use the heap access method",
			 relname);
	t->estate = NULL;			/* exec_ready, on first need */
	t->rri = NULL;
	t->slot = NULL;
	t->indices_open = false;
	if (speculative)
		open_indices(t, true);
}

/*
 * direct_open: open creditledger.relname and its indexes for writing.
 */
void
direct_open(DirectTable *t, const char *relname)
{
	open_table(t, relname, false);
}

/*
 * direct_open_claim: direct_open for direct_claim.
 */
void
direct_open_claim(DirectTable *t, const char *relname)
{
	open_table(t, relname, true);
}

/*
 * insert_index_entries: index the tuple in t->slot (all indexes, or only
 * summarizing ones after a HOT update that changed a summarized column).
 */
static void
insert_index_entries(DirectTable *t, HeapTuple tup, bool only_summarizing)
{
	List	   *recheck;

	open_indices(t, false);
	if (t->rri->ri_NumIndices == 0)
		return;
	ExecStoreHeapTuple(tup, t->slot, false);

	/*
	 * update = false even for an update: with true, the executor asks the
	 * range table which columns changed (a hint for bottom-up index
	 * deletion), and this EState has no range table.
	 */
	recheck = CL_EXEC_INSERT_INDEX_TUPLES(t->rri, t->slot, t->estate, false,
										  only_summarizing);
	list_free(recheck);
	ExecClearTuple(t->slot);
	ResetPerTupleExprContext(t->estate);
}

/*
 * keys_unchanged: whether an update of columns attnums[0..ncols-1] leaves
 * every index key as it was: none of them is a key column, or used in an
 * index expression or predicate, of any index; and no index of the table is
 * partial or an exclusion constraint (those keep the executor's path).
 */
static bool
keys_unchanged(DirectTable *t, int ncols, const int *attnums)
{
	Bitmapset  *indexed = RelationGetIndexAttrBitmap(t->rel, CL_INDEX_ATTR_BITMAP_INDEXED);
	bool		unchanged = true;

	for (int c = 0; c < ncols && unchanged; c++)
		unchanged = !bms_is_member(attnums[c] - FirstLowInvalidHeapAttributeNumber, indexed);
	bms_free(indexed);
	for (int i = 0; i < t->rri->ri_NumIndices && unchanged; i++)
	{
		IndexInfo  *ii = t->rri->ri_IndexRelationInfo[i];

		if (ii->ii_Predicate != NIL || ii->ii_ExclusionOps != NULL)
			unchanged = false;
	}
	return unchanged;
}

/*
 * insert_unchanged_index_entries: the index entries of a non-HOT version
 * whose keys keys_unchanged() found equal to its predecessor's, inserted
 * without a unique check (see the file header).
 */
static void
insert_unchanged_index_entries(DirectTable *t, HeapTuple tup)
{
	ResultRelInfo *rri = t->rri;
	ExprContext *econtext = GetPerTupleExprContext(t->estate);
	Datum		values[INDEX_MAX_KEYS];
	bool		isnull[INDEX_MAX_KEYS];

	ExecStoreHeapTuple(tup, t->slot, false);
	econtext->ecxt_scantuple = t->slot;
	for (int i = 0; i < rri->ri_NumIndices; i++)
	{
		Relation	index = rri->ri_IndexRelationDescs[i];
		IndexInfo  *ii = rri->ri_IndexRelationInfo[i];

		if (index == NULL || !ii->ii_ReadyForInserts)
			continue;
		FormIndexDatum(ii, t->slot, t->estate, values, isnull);
		(void) index_insert(index, values, isnull, &tup->t_self, t->rel,
							UNIQUE_CHECK_NO, false, ii);
	}
	ExecClearTuple(t->slot);
	ResetPerTupleExprContext(t->estate);
}

/*
 * insert_update_index_entries: the index entries of a non-HOT version
 * when keys_unchanged() said no (some index is partial, or covers a
 * changed column), index by index: a partial index gets an entry only when
 * the new version satisfies its predicate (as ExecInsertIndexTuples
 * decides); an index that is not partial, has no expressions and none of
 * whose columns changed gets its entry without a unique check (see the
 * file header); every other one as the executor would (a unique check for
 * a unique index).  A table with an exclusion constraint or a deferrable
 * unique index takes the executor's path for all of them.
 */
static void
insert_update_index_entries(DirectTable *t, HeapTuple tup, int ncols, const int *attnums)
{
	ResultRelInfo *rri = t->rri;
	ExprContext *econtext = GetPerTupleExprContext(t->estate);
	Datum		values[INDEX_MAX_KEYS];
	bool		isnull[INDEX_MAX_KEYS];

	for (int i = 0; i < rri->ri_NumIndices; i++)
	{
		Relation	index = rri->ri_IndexRelationDescs[i];
		IndexInfo  *ii = rri->ri_IndexRelationInfo[i];

		if (index != NULL && (ii->ii_ExclusionOps != NULL ||
							  (ii->ii_Unique && !index->rd_index->indimmediate)))
		{
			insert_index_entries(t, tup, false);
			return;
		}
	}
	ExecStoreHeapTuple(tup, t->slot, false);
	econtext->ecxt_scantuple = t->slot;
	for (int i = 0; i < rri->ri_NumIndices; i++)
	{
		Relation	index = rri->ri_IndexRelationDescs[i];
		IndexInfo  *ii = rri->ri_IndexRelationInfo[i];
		bool		unchanged;

		if (index == NULL || !ii->ii_ReadyForInserts)
			continue;
		if (ii->ii_Predicate != NIL)
		{
			if (ii->ii_PredicateState == NULL)
				ii->ii_PredicateState = ExecPrepareQual(ii->ii_Predicate, t->estate);
			if (!ExecQual(ii->ii_PredicateState, econtext))
				continue;
		}
		unchanged = ii->ii_Predicate == NIL && ii->ii_Expressions == NIL;
		for (int k = 0; k < ii->ii_NumIndexAttrs && unchanged; k++)
			for (int c = 0; c < ncols && unchanged; c++)
				unchanged = ii->ii_IndexAttrNumbers[k] != attnums[c];
		FormIndexDatum(ii, t->slot, t->estate, values, isnull);
		(void) index_insert(index, values, isnull, &tup->t_self, t->rel,
							(ii->ii_Unique && !unchanged) ? UNIQUE_CHECK_YES : UNIQUE_CHECK_NO,
							false, ii);
	}
	ExecClearTuple(t->slot);
	ResetPerTupleExprContext(t->estate);
}

/*
 * direct_insert: append one row; returns its TID.
 */
ItemPointerData
direct_insert(DirectTable *t, Datum *values, bool *nulls)
{
	HeapTuple	tup = heap_form_tuple(RelationGetDescr(t->rel), values, nulls);
	ItemPointerData tid;

	simple_heap_insert(t->rel, tup);
	tid = tup->t_self;
	insert_index_entries(t, tup, false);
	heap_freetuple(tup);
	return tid;
}

/*
 * check_insert_rules: what direct_multi_insert() does not run must not be
 * there: no CHECK constraint, and no row INSERT trigger but those named in
 * emulated (whose effect the caller computed into the row).  ERROR
 * otherwise, before anything is written.
 */
static void
check_insert_rules(DirectTable *t, const char *const *emulated, int nemulated)
{
	TupleDesc	desc = RelationGetDescr(t->rel);
	TriggerDesc *td = t->rel->trigdesc;

	if (desc->constr != NULL && desc->constr->num_check > 0)
		elog(ERROR, "creditledger: %s has CHECK constraints the bulk writer does not evaluate",
			 RelationGetRelationName(t->rel));
	for (int i = 0; td != NULL && i < td->numtriggers; i++)
	{
		Trigger    *trig = &td->triggers[i];
		bool		known = false;

		if (!TRIGGER_FOR_ROW(trig->tgtype) || !TRIGGER_FOR_INSERT(trig->tgtype) ||
			!trig->tgenabled || trig->tgenabled == TRIGGER_DISABLED)
			continue;
		for (int e = 0; e < nemulated && !known; e++)
			known = strcmp(trig->tgname, emulated[e]) == 0;
		if (!known)
			elog(ERROR, "creditledger: %s has an INSERT trigger %s the bulk writer does not fire",
				 RelationGetRelationName(t->rel), trig->tgname);
	}
}

/*
 * direct_check_insert_rules: check_insert_rules for a caller that writes
 * one row with direct_claim or direct_insert and emulates the named row
 * INSERT triggers itself: a CHECK constraint or any other row INSERT
 * trigger of the table is refused rather than silently skipped.
 */
void
direct_check_insert_rules(DirectTable *t, const char *const *emulated, int nemulated)
{
	check_insert_rules(t, emulated, nemulated);
}

/*
 * direct_multi_insert: append rows tuples[0..n-1] (formed with the table's
 * descriptor; this function takes them over) with one heap_multi_insert
 * per chunk of rows, then each row's index entries as COPY does
 * (ExecInsertIndexTuples: unique checks and their waits included, so a
 * duplicate key raises 23505 naming the constraint, as SQL's INSERT
 * would; partial index predicates evaluated).  NOT NULL columns are
 * checked here; CHECK constraints and row INSERT triggers other than the
 * emulated ones are refused (check_insert_rules).  The rows get the
 * current command id, like direct_insert's.
 */
void
direct_multi_insert(DirectTable *t, HeapTuple *tuples, int n,
					const char *const *emulated, int nemulated)
{
#define MULTI_INSERT_CHUNK 64
	TupleDesc	desc = RelationGetDescr(t->rel);
	TupleTableSlot *slots[MULTI_INSERT_CHUNK];
	int			nslots = Min(n, MULTI_INSERT_CHUNK);

	if (n <= 0)
		return;
	open_indices(t, false);
	check_insert_rules(t, emulated, nemulated);
	for (int i = 0; i < n; i++)
		for (int a = 0; a < desc->natts; a++)
			if (TupleDescAttr(desc, a)->attnotnull && !TupleDescAttr(desc, a)->attisdropped &&
				heap_attisnull(tuples[i], a + 1, desc))
				elog(ERROR, "creditledger: NULL in column %s of a row for %s",
					 NameStr(TupleDescAttr(desc, a)->attname), RelationGetRelationName(t->rel));
	for (int s = 0; s < nslots; s++)
		slots[s] = MakeSingleTupleTableSlot(desc, &TTSOpsHeapTuple);
	for (int from = 0; from < n; from += MULTI_INSERT_CHUNK)
	{
		int			m = Min(n - from, MULTI_INSERT_CHUNK);

		CHECK_FOR_INTERRUPTS();
		for (int i = 0; i < m; i++)
			ExecStoreHeapTuple(tuples[from + i], slots[i], true);
		heap_multi_insert(t->rel, slots, m, t->estate->es_output_cid, 0, NULL);
		for (int i = 0; i < m; i++)
		{
			if (t->rri->ri_NumIndices > 0)
			{
				List	   *recheck = CL_EXEC_INSERT_INDEX_TUPLES(t->rri, slots[i], t->estate,
																  false, false);

				list_free(recheck);
				ResetPerTupleExprContext(t->estate);
			}
			ExecClearTuple(slots[i]);
		}
	}
	for (int s = 0; s < nslots; s++)
		ExecDropSingleTupleTableSlot(slots[s]);
}

/*
 * check_conflict_visible: under REPEATABLE READ or SERIALIZABLE, a
 * conflicting row the transaction's snapshot cannot see (committed by a
 * transaction it does not see) is a serialization failure, as for INSERT
 * ... ON CONFLICT DO NOTHING (nodeModifyTable.c, ExecCheckTupleVisible).
 */
static void
check_conflict_visible(DirectTable *t, ItemPointer tid)
{
	TupleTableSlot *s;
	bool		isnull;

	if (!IsolationUsesXactSnapshot())
		return;
	s = table_slot_create(t->rel, NULL);
	if (!table_tuple_fetch_row_version(t->rel, tid, SnapshotAny, s))
		elog(ERROR, "creditledger: failed to fetch the conflicting row of %s",
			 RelationGetRelationName(t->rel));
	if (!table_tuple_satisfies_snapshot(t->rel, s, GetTransactionSnapshot()) &&
		!TransactionIdIsCurrentTransactionId(
			DatumGetTransactionId(slot_getsysattr(s, MinTransactionIdAttributeNumber, &isnull))))
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not serialize access due to concurrent update")));
	ExecDropSingleTupleTableSlot(s);
}

/*
 * direct_claim: INSERT ... ON CONFLICT (the arbiter index) DO NOTHING of
 * one row, done as the executor does it (nodeModifyTable.c, ExecInsert):
 * when a row with the same arbiter key exists (committed, or written by
 * this transaction) nothing is written and false is returned, with that
 * row's TID in *tid; an inserter of the same key still in progress is
 * waited for first; two inserters racing past that check are settled by
 * a speculative insertion (the loser's row is killed and it checks again).
 * Otherwise the row is inserted with its index entries and true returned
 * with its TID in *tid.  t comes from direct_open_claim().
 *
 * The first attempt skips the executor's pre-check of the arbiter index
 * (a second search of the place the speculative insertion searches
 * anyway): a new reference, the usual case, is inserted after one search.
 * The speculative insertion is what settles a conflict in every case (the
 * pre-check only saves a row that would be killed, and waits); when it
 * finds one, the row is killed and the loop goes on as the executor's,
 * pre-check first (waiting for an inserter still in progress, then
 * returning the existing row).
 */
bool
direct_claim(DirectTable *t, Oid arbiter, Datum *values, bool *nulls, ItemPointer tid)
{
	HeapTuple	tup = heap_form_tuple(RelationGetDescr(t->rel), values, nulls);
	List	   *arbiters = list_make1_oid(arbiter);
	bool		inserted = false;
	bool		precheck = false;	/* not on the first attempt (see above) */

	open_indices(t, false);		/* open already (direct_open_claim) */
	for (;;)
	{
		ItemPointerData conflict;
		uint32		token;
		bool		spec_conflict = false;
		List	   *recheck;

		CHECK_FOR_INTERRUPTS();
		ExecStoreHeapTuple(tup, t->slot, false);
		if (precheck &&
			!ExecCheckIndexConstraints(t->rri, t->slot, t->estate, &conflict, arbiters))
		{
			ExecClearTuple(t->slot);
			ResetPerTupleExprContext(t->estate);
			check_conflict_visible(t, &conflict);
			*tid = conflict;
			break;
		}
		token = SpeculativeInsertionLockAcquire(GetCurrentTransactionId());
		table_tuple_insert_speculative(t->rel, t->slot, t->estate->es_output_cid, 0, NULL,
									   token);
		recheck = CL_EXEC_INSERT_INDEX_TUPLES_SPECULATIVE(t->rri, t->slot, t->estate,
														  &spec_conflict, arbiters);
		table_tuple_complete_speculative(t->rel, t->slot, token, !spec_conflict);
		SpeculativeInsertionLockRelease(GetCurrentTransactionId());
		list_free(recheck);
		if (!spec_conflict)
		{
			*tid = t->slot->tts_tid;
			inserted = true;
		}
		ExecClearTuple(t->slot);
		ResetPerTupleExprContext(t->estate);
		if (inserted)
			break;
		precheck = true;
	}
	list_free(arbiters);
	heap_freetuple(tup);
	return inserted;
}

/*
 * direct_update_columns: replace columns attnums[0..ncols-1] of the row
 * version at tid (locked by the caller) with values (never NULL); returns
 * the TID of the new row version.
 */
ItemPointerData
direct_update_columns(DirectTable *t, ItemPointer tid, int ncols,
					  const int *attnums, Datum *values)
{
	return direct_update_columns_nulls(t, tid, ncols, attnums, values, NULL);
}

/*
 * direct_update_columns_nulls: direct_update_columns where isnull[i]
 * (isnull NULL: none) makes column attnums[i] NULL; at most 16 columns.
 */
ItemPointerData
direct_update_columns_nulls(DirectTable *t, ItemPointer tid, int ncols,
							const int *attnums, Datum *values, const bool *isnull)
{
	HeapTupleData oldtup;
	HeapTuple	newtup;
	Buffer		buf;
	bool		nulls[16] = {false};
	ItemPointerData newtid;

	if (ncols > (int) lengthof(nulls))
		elog(ERROR, "creditledger: direct_update_columns of %d columns", ncols);
	if (isnull)
		memcpy(nulls, isnull, sizeof(bool) * ncols);
	oldtup.t_self = *tid;
	if (!heap_fetch(t->rel, SnapshotAny, &oldtup, &buf, true))
		elog(ERROR, "creditledger: row (%u,%u) of %s vanished",
			 ItemPointerGetBlockNumber(tid), ItemPointerGetOffsetNumber(tid),
			 RelationGetRelationName(t->rel));
	newtup = heap_modify_tuple_by_cols(&oldtup, RelationGetDescr(t->rel), ncols,
									   (int *) attnums, values, nulls);
	ReleaseBuffer(buf);
	newtid = direct_update_tuple(t, tid, newtup, ncols, attnums);
	heap_freetuple(newtup);
	return newtid;
}

/*
 * direct_update_tuple: replace the row version at tid (locked by the
 * caller, or otherwise written by nobody else) with newtup, which the
 * caller formed from that version's values with columns
 * attnums[0..ncols-1] changed; returns the TID of the new row version.
 * For a caller that already knows every column of the row (no fetch and
 * deform of the old version).
 */
ItemPointerData
direct_update_tuple(DirectTable *t, ItemPointer tid, HeapTuple newtup, int ncols,
					const int *attnums)
{
	bool		index_all;
	bool		index_summarizing;

	cl_simple_heap_update(t->rel, tid, newtup, &index_all, &index_summarizing);
	if (index_all || index_summarizing)
		open_indices(t, false);
	if (index_all && keys_unchanged(t, ncols, attnums))
		insert_unchanged_index_entries(t, newtup);
	else if (index_all)
		insert_update_index_entries(t, newtup, ncols, attnums);
	else if (index_all || index_summarizing)
		insert_index_entries(t, newtup, !index_all);
	return newtup->t_self;
}

/*
 * cl_column_map: the attribute numbers of names[0..n-1] in rel, looked up
 * when map was filled for another relation (first use, or the extension was
 * dropped and created again) and reused otherwise: the extension's columns
 * are never dropped or renamed, so their numbers are fixed for a table's
 * life.
 */
const AttrNumber *
cl_column_map(ColumnMap *map, Relation rel, const char *const *names, int n)
{
	if (n > CL_MAX_MAPPED_COLUMNS)
		elog(ERROR, "creditledger: %d columns exceed a column map's %d", n, CL_MAX_MAPPED_COLUMNS);
	if (map->relid != RelationGetRelid(rel))
	{
		for (int c = 0; c < n; c++)
		{
			AttrNumber	att = get_attnum(RelationGetRelid(rel), names[c]);

			if (att == InvalidAttrNumber)
				elog(ERROR, "creditledger: column %s.%s does not exist",
					 RelationGetRelationName(rel), names[c]);
			map->attnum[c] = att;
		}
		map->relid = RelationGetRelid(rel);
	}
	return map->attnum;
}

/*
 * cl_column_map_optional: cl_column_map where only the first nrequired
 * names must exist; a later one that does not (a schema not yet updated to
 * the release that added it: the library is always the newest) maps to
 * InvalidAttrNumber.  A map with a missing column is not kept, so the
 * columns an ALTER EXTENSION UPDATE adds are found by the next call.
 */
const AttrNumber *
cl_column_map_optional(ColumnMap *map, Relation rel, const char *const *names, int n,
					   int nrequired)
{
	bool		complete = true;

	if (n > CL_MAX_MAPPED_COLUMNS)
		elog(ERROR, "creditledger: %d columns exceed a column map's %d", n, CL_MAX_MAPPED_COLUMNS);
	if (map->relid == RelationGetRelid(rel))
		return map->attnum;
	for (int c = 0; c < n; c++)
	{
		AttrNumber	att = get_attnum(RelationGetRelid(rel), names[c]);

		if (att == InvalidAttrNumber && c < nrequired)
			elog(ERROR, "creditledger: column %s.%s does not exist",
				 RelationGetRelationName(rel), names[c]);
		complete &= (att != InvalidAttrNumber);
		map->attnum[c] = att;
	}
	map->relid = complete ? RelationGetRelid(rel) : InvalidOid;
	return map->attnum;
}

/*
 * direct_index: t's index with OID indexoid (opened, with the others, if
 * no write opened them yet), for a caller that looks rows up through it
 * before writing; NULL if t has no such index.
 */
Relation
direct_index(DirectTable *t, Oid indexoid)
{
	open_indices(t, false);
	for (int i = 0; i < t->rri->ri_NumIndices; i++)
		if (RelationGetRelid(t->rri->ri_IndexRelationDescs[i]) == indexoid)
			return t->rri->ri_IndexRelationDescs[i];
	return NULL;
}

/*
 * direct_close: close indexes and table (keeping the lock to end of
 * transaction) and make the writes visible to the next command.
 */
void
direct_close(DirectTable *t)
{
	if (t->slot != NULL)
		ExecDropSingleTupleTableSlot(t->slot);
	if (t->indices_open)
		ExecCloseIndices(t->rri);
	if (t->estate != NULL)
		FreeExecutorState(t->estate);
	table_close(t->rel, NoLock);
	CommandCounterIncrement();
}
