/*
 * credit_engine.c: the credit data path in C: credit_freeze,
 * credit_unfreeze, credit_use, credit_use_direct, credit_return,
 * credit_expire_holds (also the worker's hold expiry), hot-line slices and
 * gather, and the few internals the administration calls use
 * (credit_admin.c, credit_limits.c: cl_credit_apply_node,
 * cl_credit_post_chain, cl_credit_respread).  The operations are C
 * functions (credit_engine.h: cl_credit_use_hold,
 * cl_credit_use_line, cl_credit_return_drawdown, and the transit holds of
 * pending disbursements) with thin SQL wrappers, so lending.c pairs them
 * with money postings in one transaction.
 *
 * A change of frozen/used/returned is applied to the line and every
 * ancestor (each once, ascending id: "nodes").  A plain node's chain is its
 * row in ledger_credit_lines; a hot node's chains are its slices
 * (credit_line_slices 1..hot_slices), each with a share of the line's
 * headroom.  Each change is one CLC1 journal entry on the chain it
 * touched, appended by chain.c's ChainWriter with the credit chain kind
 * (credit.c: columns and encoder); the head is then written back.
 *
 * Rows are read, locked and written in C, as the money path does, by
 * credit_rows.c (no SPI on the data path): lines and slices found once
 * through their primary key and locked by TID, holds, drawdowns and
 * operations claimed with heapwrite.c's direct_claim, heads and records
 * written into the heap directly.  SQL is left to the slow paths: a
 * partial gather, the release of due holds, expiry.
 *
 * References (claim, replay, conflict) are one section here:
 * reference_claim (INSERT ... ON CONFLICT DO NOTHING the executor's way:
 * the first call wins, a concurrent one waits on the unique index and
 * then replays), reference_replay and reference_conflict (LD004).
 * Arguments are checked by validate.c (NULL 22004, then form 22023) in
 * the contract's order.
 *
 * Availability is computed in one place, credit_available(); the re-spread
 * of a hot line's headroom after its limit changed in one place,
 * spread_headroom() (cl_credit_respread for a line as it stands).  A
 * plain node's frozen + used + returned is kept within bigint exactly; a hot
 * node's, changed under different slice locks, by a share per slice
 * (check_slice_bound).
 *
 * Locking (lockorder.h, steps 1-4): the credit graph lock shared; the
 * reference claim; the hold or drawdown row; due holds released (rows with
 * SKIP LOCKED) before the lines are locked; the rows of the plain nodes,
 * ascending, FOR NO KEY UPDATE; then node by node (ascending) one slice of
 * each hot node.  A slice is taken by slice_take: its slice lock (an
 * advisory lock, lockorder.h), then, if the slice as it is now serves the
 * change, its row (under READ COMMITTED left to the update when nobody's
 * xmax is on the version: credit_slice_take_row); a slice found short (or
 * whose row another holds) has
 * its slice lock given back at once, no row locked, so a call keeps only
 * the slice it uses, with no subtransaction:
 *   - a change that needs no headroom: a slice in deficit (only slice 1
 *     can be, on a line whose limit was decreased), else any free slice,
 *     else waits for this backend's preferred slice;
 *   - a change that needs headroom, in rounds: a free slice with enough
 *     (a few tried one by one in this backend's order, then those that had
 *     enough in one read of every slice); else, when slices with enough
 *     are all busy, wait for one of them (given back if it turns out
 *     short); else, when the headroom is really scattered, a partial
 *     gather (in a subtransaction): every free slice and, if free, the
 *     line's surplus lock, whose holder alone may take what expiries
 *     freed; their headroom is pooled and spread again with the need on
 *     one slice; else LD002 when the line's committed available lacks the
 *     need, or wait for the richest busy slice to be let go (polling for
 *     the surplus lock) and go round again.
 * Why no subtransaction is needed to keep that promise: a slice's row is
 * locked only under its slice lock, and only once the slice is known to
 * serve the change (every writer of a slice holds its slice lock, so what
 * was read under it is what the row holds); a slice lock is waited for
 * only while the call holds no slice of that line taken in this call, and
 * a short slice's lock is released at once (LockRelease of this call's
 * acquisition: a slice this transaction took in an earlier call stays
 * held).  A partial gather only tries locks, in a subtransaction rolled
 * back when its pool is short.
 * A call never waits for a slice while holding a slice of that line it
 * took itself, so hot lines add no deadlock; two transactions that both
 * wrote the same hot line in earlier statements and now each need the
 * headroom the other holds are the one exception (as two transactions that
 * each updated a row the other now wants).
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/int.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "chain.h"
#include "compat.h"
#include "credit.h"
#include "credit_engine.h"
#include "credit_rows.h"
#include "errcodes.h"
#include "lockorder.h"
#include "opstats.h"
#include "settings.h"
#include "spi_plans.h"
#include "validate.h"

/*
 * The refusal of a credit-only change (credit_use, credit_use_direct,
 * credit_return) on a line that lends through a receivable account:
 * lending.c's, registered at load (cl_lending_init), since lending sits
 * above this engine.  NULL until then: nothing to refuse.
 */
static CreditOnlyGuard credit_only_guard = NULL;

/*
 * credit_set_credit_only_guard: register the refusal of credit-only changes.
 */
void
credit_set_credit_only_guard(CreditOnlyGuard guard)
{
	credit_only_guard = guard;
}

/*
 * refuse_credit_only: raise the registered guard's error if line_id lends
 * through a receivable account (what: the calling function's name).
 */
static void
refuse_credit_only(int64 line_id, const char *what)
{
	if (credit_only_guard != NULL)
		credit_only_guard(line_id, what);
}

/* The line's available amount: its own row and every slice (credit_lines). */
static ClPlan line_totals_plan = {
	"SELECT l.limit_amount OPERATOR(pg_catalog.+) l.temporary_limit, l.revolving,"
	"       l.frozen OPERATOR(pg_catalog.+) coalesce(pg_catalog.sum(x.frozen), 0)::bigint,"
	"       l.used OPERATOR(pg_catalog.+) coalesce(pg_catalog.sum(x.used), 0)::bigint,"
	"       l.returned OPERATOR(pg_catalog.+) coalesce(pg_catalog.sum(x.returned), 0)::bigint"
	"  FROM creditledger.ledger_credit_lines l"
	"  LEFT JOIN creditledger.credit_line_slices x ON x.line_id OPERATOR(pg_catalog.=) l.line_id"
	" WHERE l.line_id OPERATOR(pg_catalog.=) $1 GROUP BY l.line_id",
	1, {INT8OID}
};

static ClPlan hot_slices_plan = {
	"SELECT hot_slices FROM creditledger.ledger_credit_lines WHERE line_id OPERATOR(pg_catalog.=) $1",
	1, {INT8OID}
};

static ClPlan spread_plan = {
	"UPDATE creditledger.credit_line_slices"
	"   SET headroom = CASE WHEN slice OPERATOR(pg_catalog.=) $3"
	"                       THEN $4::bigint ELSE $5::bigint END"
	" WHERE line_id OPERATOR(pg_catalog.=) $1 AND slice OPERATOR(pg_catalog.<=) $2",
	5, {INT8OID, INT4OID, INT4OID, INT8OID, INT8OID}
};

static ClPlan slice_values_plan = {
	"SELECT slice, headroom, frozen, used, returned FROM creditledger.credit_line_slices"
	" WHERE line_id OPERATOR(pg_catalog.=) $1 AND slice OPERATOR(pg_catalog.<=) $2 ORDER BY slice",
	2, {INT8OID, INT4OID}
};

static ClPlan line_row_plan = {
	"SELECT frozen, used, returned FROM creditledger.ledger_credit_lines"
	" WHERE line_id OPERATOR(pg_catalog.=) $1",
	1, {INT8OID}
};

static ClPlan spread_some_plan = {
	"UPDATE creditledger.credit_line_slices"
	"   SET headroom = CASE WHEN slice OPERATOR(pg_catalog.=) $3"
	"                       THEN $4::bigint ELSE $5::bigint END"
	" WHERE line_id OPERATOR(pg_catalog.=) $1 AND slice OPERATOR(pg_catalog.=) ANY ($2)",
	5, {INT8OID, INT4ARRAYOID, INT4OID, INT8OID, INT8OID}
};

/*
 * expiry (every name and operator qualified, as everywhere: the worker
 * runs these; security audit 0.3 qualified unnest and turned an IN, which
 * looks "=" up by name, into OPERATOR(pg_catalog.=) ANY)
 */

static ClPlan due_under_plan = {
	"SELECT h.hold_id FROM creditledger.ledger_credit_holds h"
	" WHERE h.status OPERATOR(pg_catalog.=) 'open' AND h.expires_at OPERATOR(pg_catalog.<=) pg_catalog.now()"
	"   AND h.line_id OPERATOR(pg_catalog.=) ANY"
	"       (SELECT pg_catalog.unnest(creditledger._credit_subtree(c.line_id))"
	"                       FROM creditledger.credit_lines c"
	"                      WHERE c.line_id OPERATOR(pg_catalog.=) ANY ($1)"
	"                        AND c.available OPERATOR(pg_catalog.<) $2)"
	" ORDER BY h.hold_id FOR NO KEY UPDATE SKIP LOCKED",
	2, {INT8ARRAYOID, INT8OID}
};

static ClPlan due_all_plan = {
	"SELECT hold_id FROM creditledger.ledger_credit_holds"
	" WHERE status OPERATOR(pg_catalog.=) 'open' AND expires_at OPERATOR(pg_catalog.<=) pg_catalog.now()"
	" ORDER BY hold_id FOR NO KEY UPDATE SKIP LOCKED",
	0, {}
};

static ClPlan expire_nodes_plan = {
	"SELECT DISTINCT u.n FROM (SELECT pg_catalog.unnest(creditledger._credit_nodes(x.line_id)) AS n"
	"    FROM creditledger.ledger_credit_holds x WHERE x.hold_id OPERATOR(pg_catalog.=) ANY ($1)"
	"  UNION ALL SELECT pg_catalog.unnest($2::bigint[])) u ORDER BY 1",
	2, {INT8ARRAYOID, INT8ARRAYOID}
};

static ClPlan open_holds_plan = {
	"SELECT hold_id, ref, line_id, remaining FROM creditledger.ledger_credit_holds"
	" WHERE hold_id OPERATOR(pg_catalog.=) ANY ($1) AND status OPERATOR(pg_catalog.=) 'open'"
	" ORDER BY hold_id",
	1, {INT8ARRAYOID}
};

static ClPlan expire_hold_plan = {
	"UPDATE creditledger.ledger_credit_holds"
	"   SET released_amount = released_amount OPERATOR(pg_catalog.+) remaining, remaining = 0,"
	"       status = 'expired', closed_at = pg_catalog.now()"
	" WHERE hold_id OPERATOR(pg_catalog.=) $1",
	1, {INT8OID}
};

/* Rotates the preferred slice between calls of one backend. */
static uint32 slice_rotation = 0;

/* ------------------------------------------------------------------------
 * Small helpers: messages, arrays, rows
 * ------------------------------------------------------------------------ */

/*
 * ts_text: a timestamptz as format('%s', ts) shows it.
 */
static char *
ts_text(TimestampTz t)
{
	return DatumGetCString(DirectFunctionCall1(timestamptz_out, TimestampTzGetDatum(t)));
}

/*
 * credit_available: limit - frozen - used - (revolving ? 0 : returned), the
 * one definition of a credit line's available amount (the credit_lines
 * view spells the same formula in SQL).
 */
static int64
credit_available(int64 limit_amount, bool revolving, int64 frozen, int64 used, int64 returned)
{
	return limit_amount - frozen - used - (revolving ? 0 : returned);
}

/*
 * line_limit: a line's effective limit, its own plus its active temporary
 * limits (set_temporary_limit keeps the sum within bigint).
 */
static int64
line_limit(const CreditLine *l)
{
	return l->limit_amount + l->temporary_limit;
}

/*
 * credit_needed: the headroom a change consumes on a node (<= 0: none).
 */
static int64
credit_needed(bool revolving, int64 fd, int64 ud, int64 rd)
{
	return fd + ud + (revolving ? 0 : rd);
}

/*
 * line_available: a line's available amount over its own row and every
 * slice, as the credit_lines view computes it.
 */
static int64
line_available(int64 line_id)
{
	Datum		v[1] = {Int64GetDatum(line_id)};
	bool		isnull;

	cl_exec(&line_totals_plan, v, NULL, 1);
	if (SPI_processed != 1)
		elog(ERROR, "creditledger: credit line " INT64_FORMAT " vanished", line_id);
	return credit_available(cl_getint64(0, 1, NULL),
							DatumGetBool(cl_getdatum(0, 2, &isnull)),
							cl_getint64(0, 3, NULL), cl_getint64(0, 4, NULL),
							cl_getint64(0, 5, NULL));
}

/*
 * shortfall: LD002 naming the node that lacks headroom.
 */
static void
shortfall(const CreditLine *l, int64 available, int64 needed, const char *op)
{
	ereport(ERROR,
			(errcode(ERRCODE_CL_CREDIT_LIMIT_EXCEEDED),
			 errmsg("credit limit exceeded on credit line " INT64_FORMAT, l->line_id),
			 errdetail("Line " INT64_FORMAT " (%s) has " INT64_FORMAT " available of a limit of "
					   INT64_FORMAT "%s; the %s needs " INT64_FORMAT ".",
					   l->line_id, l->code, available, l->limit_amount,
					   l->temporary_limit > 0 ?
					   psprintf(" plus " INT64_FORMAT " of temporary limits", l->temporary_limit) : "",
					   op, needed),
			 errhint("Release or return credit under that line, or raise its limit.")));
}

/*
 * int128_text: decimal text of a 128-bit integer.
 */
static char *
int128_text(int128 v)
{
	char		buf[48];
	int			i = sizeof(buf) - 1;
	bool		neg = v < 0;

	buf[i] = '\0';
	if (v == 0)
		buf[--i] = '0';
	while (v != 0)
	{
		int			d = (int) (v % 10);

		buf[--i] = '0' + (d < 0 ? -d : d);
		v /= 10;
	}
	if (neg)
		buf[--i] = '-';
	return pstrdup(&buf[i]);
}

/* ------------------------------------------------------------------------
 * Locks and the graph
 * ------------------------------------------------------------------------ */

/*
 * credit_nodes: the line and every ancestor, each once, ascending
 * (credit_rows.c: the links' primary key).
 */
static int64 *
credit_nodes(int64 line, int *n)
{
	return credit_line_nodes(line, n);
}

/*
 * lock_nodes: lock the rows of the plain nodes (all nodes when include_hot)
 * in ascending order, and read every node; returns them in id order
 * (credit_rows.c: each row found once and locked by TID).  adds: whether
 * the change adds to frozen + used + returned (a hot node's bound is
 * checked on the slice that takes the change: credit_apply).
 */
static CreditLine *
lock_nodes(const int64 *ids, int n, bool include_hot, bool adds)
{
	CreditLine *lines = palloc0(sizeof(CreditLine) * Max(n, 1));

	(void) adds;
	credit_lines_lock(ids, n, include_hot, lines);
	return lines;
}

/*
 * check_usable: LD006 unless the line and every ancestor are active and
 * within their validity window (the first offender in id order).
 */
static void
check_usable(int64 line, const CreditLine *nodes, int n)
{
	TimestampTz now = GetCurrentTransactionStartTimestamp();

	for (int i = 0; i < n; i++)
	{
		const CreditLine *l = &nodes[i];
		char	   *why = NULL;

		if (strcmp(l->status, "suspended") == 0)
			why = l->status_reason ? psprintf("is suspended (%s)", l->status_reason)
				: pstrdup("is suspended");
		else if (strcmp(l->status, "closed") == 0)
			why = pstrdup("is closed");
		else if (l->valid_from > now)
			why = psprintf("is not valid before %s", ts_text(l->valid_from));
		else if (l->has_until && l->valid_until <= now)
			why = psprintf("expired at %s", ts_text(l->valid_until));
		if (why)
			ereport(ERROR,
					(errcode(ERRCODE_CL_CREDIT_LINE_UNAVAILABLE),
					 errmsg("credit line " INT64_FORMAT " is unavailable", line),
					 l->line_id == line
					 ? errdetail("Line " INT64_FORMAT " (%s) %s.", l->line_id, l->code, why)
					 : errdetail("Its ancestor line " INT64_FORMAT " (%s) %s.", l->line_id, l->code, why),
					 errhint("Unfreeze and return still work on this line; new freezes and drawdowns do not.")));
	}
}

/* ------------------------------------------------------------------------
 * The chain: one CLC1 entry per change (credit.c encodes)
 * ------------------------------------------------------------------------ */

/*
 * slice_settle: journal a batched hot line's slice h (whose lock the
 * caller holds): one entry, op batch (ref batch:<line>:<slice>:<version>),
 * whose deltas are what the slice had pending and whose afters are its
 * totals; the pending columns are cleared (by the append, or alone when
 * the pending changes added up to nothing).  Nothing when nothing is
 * pending.
 */
static void
slice_settle(CreditWriter *w, CreditHead *h)
{
	CreditEntry e;
	char	   *ref;

	if (!h->has_pending_since && h->pending_frozen == 0 && h->pending_used == 0 &&
		h->pending_returned == 0)
		return;
	ref = psprintf("batch:" INT64_FORMAT ":%d:" INT64_FORMAT, h->line_id, h->slice,
				   h->version + 1);
	e.line_id = h->line_id;
	e.slice = h->slice;
	e.version = h->version + 1;
	e.op = "batch";
	e.op_len = strlen(e.op);
	e.ref = ref;
	e.ref_len = strlen(ref);
	e.frozen_delta = h->pending_frozen;
	e.used_delta = h->pending_used;
	e.returned_delta = h->pending_returned;
	e.frozen_after = h->frozen;
	e.used_after = h->used;
	e.returned_after = h->returned;
	e.created_at = GetCurrentTransactionStartTimestamp();
	if (e.frozen_delta == 0 && e.used_delta == 0 && e.returned_delta == 0)
		credit_writer_unpend(w, h);
	else
		credit_writer_append(w, h, &e, 0);
}

/*
 * credit_post_with: append one CLC1 entry to head's chain through w
 * (chain.c's ChainWriter with the credit chain kind) and write the head
 * back to its row (the caller holds the chain's lock); for a slice,
 * headroom_delta leaves the slice's headroom.
 */
static void
credit_post_with(CreditWriter *w, CreditHead *h, const char *op, const char *ref,
				 int64 fd, int64 ud, int64 rd, int64 headroom_delta)
{
	CreditEntry e;

	/* a batched slice's pending changes go into the chain first */
	if (h->slice != 0 && h->has_pending_since)
		slice_settle(w, h);

	e.line_id = h->line_id;
	e.slice = h->slice;
	e.version = h->version + 1;
	e.op = op;
	e.op_len = strlen(op);
	e.ref = ref;
	e.ref_len = strlen(ref);
	e.frozen_delta = fd;
	e.used_delta = ud;
	e.returned_delta = rd;
	e.frozen_after = h->frozen + fd;
	e.used_after = h->used + ud;
	e.returned_after = h->returned + rd;
	e.created_at = GetCurrentTransactionStartTimestamp();
	credit_writer_append(w, h, &e, headroom_delta);
}

/*
 * credit_post: credit_post_with through a writer of its own.
 */
static void
credit_post(CreditHead *h, const char *op, const char *ref,
			int64 fd, int64 ud, int64 rd, int64 headroom_delta)
{
	CreditWriter w;

	credit_writer_open(&w);
	credit_post_with(&w, h, op, ref, fd, ud, rd, headroom_delta);
	credit_writer_close(&w);
}

/*
 * read_line_head: the head of a line's own chain (slice 0), as of now.
 */
static void
read_line_head(int64 line_id, CreditHead *h)
{
	credit_line_head(line_id, h);
}

/*
 * cl_credit_post_line_event: one zero-delta entry (op, ref) on a line's
 * own chain (slice 0), e.g. a temporary limit's start or end; the caller
 * holds the line's row lock.  Inside SPI.
 */
void
cl_credit_post_line_event(int64 line_id, const char *op, const char *ref)
{
	CreditHead	h;

	read_line_head(line_id, &h);
	credit_post(&h, op, ref, 0, 0, 0, 0);
}

/* ------------------------------------------------------------------------
 * Hot lines: slices
 * ------------------------------------------------------------------------ */

/*
 * preferred_slice: where this call's search over n slices starts (0-based).
 */
static int32
preferred_slice(int32 n)
{
	return (int32) (((uint32) MyProcPid + slice_rotation++) % (uint32) n);
}

/*
 * slice_take: take slice `slice` of hot line l for this call (lockorder.h,
 * step 4): its slice lock (waiting for it, or only if free), then, when
 * the slice as it is now has at least `needed` headroom (PG_INT64_MIN:
 * any), its row FOR NO KEY UPDATE (waiting when wait, else only if free),
 * read into h.  When the slice is short or its row busy, the slice lock is
 * given back at once, no row lock taken, and false returned: a short slice
 * is never kept, without a subtransaction.  w: the call's writer, whose
 * opening of the slices table the read uses (NULL in a subtransaction,
 * whose rollback would close what it opened: the read opens its own).
 */
static bool
slice_take(CreditWriter *w, const CreditLine *l, int32 slice, bool wait, int64 needed,
		   CreditHead *h)
{
	SliceTake	t;

	if (!cl_credit_slice_lock(l->line_id, slice, wait))
		return false;
	/* read, and if it serves the change lock, in one pass (credit_rows.c) */
	t = credit_slice_take_row(w, l->line_id, slice, needed,
							  wait ? LockWaitBlock : LockWaitSkip, h);
	if (t == SLICE_MISSING)
		elog(ERROR, "creditledger: hot credit line " INT64_FORMAT " has no slice %d",
			 l->line_id, slice);
	if (t != SLICE_TAKEN)
	{
		cl_credit_slice_unlock(l->line_id, slice);
		return false;
	}
	return true;
}

/*
 * take_slice_giving: a slice for a change that consumes no headroom
 * (needed <= 0): the slice in deficit if any, else a free one (tried in
 * this backend's order), else this backend's preferred one (waiting).
 * Returned locked.  Only slice 1 can be in deficit (a negative total is
 * spread there by spread_headroom, and nothing else takes a
 * slice below zero), and only on a line whose limit was ever decreased: a
 * negative total is a line over its limit, which only a decrease of its
 * limit (limit_decreased_at, never cleared; BCP reports a line over its
 * limit without one) makes; so slice 1 is read only on such a line.
 */
static void
take_slice_giving(CreditWriter *w, const CreditLine *l, int64 needed, CreditHead *h)
{
	int32		n = l->hot_slices;
	int32		start = preferred_slice(n);

	if (needed < 0 && l->limit_decreased)
	{
		CreditHead	d;

		if (credit_slice_read(l->line_id, 1, &d) && d.headroom < 0)
		{
			if (!slice_take(w, l, 1, true, PG_INT64_MIN, h))
				elog(ERROR, "creditledger: hot credit line " INT64_FORMAT " has no slice 1",
					 l->line_id);
			return;
		}
	}
	for (int32 k = 0; k < n; k++)
		if (slice_take(w, l, (start + k) % n + 1, false, PG_INT64_MIN, h))
			return;
	if (!slice_take(w, l, start + 1, true, PG_INT64_MIN, h))
		elog(ERROR, "creditledger: hot credit line " INT64_FORMAT " has no slice %d",
			 l->line_id, start + 1);
}

/* What a slice wait needs: the line, the slice, where to put the head. */
typedef struct SliceTry
{
	const CreditLine *l;
	int64		needed;
	int32		slice;			/* the slice to wait for */
	CreditHead *h;
} SliceTry;

/*
 * Slices a probe tries one by one, in this backend's order, before it
 * reads every slice's headroom at once: a busy slice costs a refused
 * conditional lock, a free one a read of its row.
 */
#define CL_SLICE_DIRECT_TRIES 4

/*
 * probe_slice: a free slice with at least needed headroom, taken by
 * slice_take (no subtransaction: a slice found short is let go at once):
 * the first CL_SLICE_DIRECT_TRIES slices in this backend's order, then,
 * in the same order, those that had enough when one scan read every
 * slice's headroom.
 */
static bool
probe_slice(CreditWriter *w, const CreditLine *l, int64 needed, CreditHead *h)
{
	int32		n = l->hot_slices;
	int32		start = preferred_slice(n);
	int32		direct = Min(n, CL_SLICE_DIRECT_TRIES);
	int64	   *hr;

	for (int32 k = 0; k < direct; k++)
		if (slice_take(w, l, (start + k) % n + 1, false, needed, h))
			return true;
	if (direct == n)
		return false;
	hr = palloc(sizeof(int64) * (n + 1));
	for (int32 s = 0; s <= n; s++)
		hr[s] = PG_INT64_MIN;
	(void) credit_slice_headrooms(l->line_id, n, hr);
	for (int32 k = direct; k < n; k++)
	{
		int32		s = (start + k) % n + 1;

		if (hr[s] >= needed && slice_take(w, l, s, false, needed, h))
			return true;
	}
	return false;
}

/*
 * wait_for_slice: when every slice that has enough is busy, wait for one
 * of them (holding no slice of this line taken in this call) and keep it
 * if it still has enough once ours (else its slice lock is given back);
 * false when none has enough (the headroom is scattered or short) or the
 * one waited for came back short.
 */
static bool
wait_for_slice(CreditWriter *w, const CreditLine *l, int64 needed, CreditHead *h)
{
	int32		n = l->hot_slices;
	int64	   *hr = palloc(sizeof(int64) * (n + 1));
	int32	   *rich = palloc(sizeof(int32) * Max(n, 1));
	int			nrich = 0;

	for (int32 s = 0; s <= n; s++)
		hr[s] = PG_INT64_MIN;
	(void) credit_slice_headrooms(l->line_id, n, hr);
	for (int32 s = 1; s <= n; s++)
		if (hr[s] >= needed)
			rich[nrich++] = s;
	if (nrich == 0)
		return false;
	return slice_take(w, l, rich[preferred_slice(nrich)], true, needed, h);
}

/* What a partial gather found. */
typedef struct GatherTry
{
	const CreditLine *l;
	int64		needed;
	const char *op;
	CreditHead *h;
	int32		busy;			/* out: a busy slice worth waiting for (0: none) */
	int64		busy_headroom;	/* out: the busy slices' committed headroom */
	bool		row_busy;		/* out: the line's surplus lock is held by another call */
	int64		pool;			/* out: what the free slices (and row) held */
} GatherTry;

/*
 * partial_gather_try: take every slice nobody holds (slice_take, only if
 * free) and, if free, the line's surplus lock (lockorder.h: only ever tried, held to the
 * end of the transaction by the one call that may pool what expiries freed
 * since the last gather: limit - consumption - every slice's headroom,
 * exact from committed values since a change moves a slice's consumption
 * and headroom by the same amount, and conservative while an expiry is in
 * flight); when the pool covers needed, spread it over the slices taken
 * with needed on one, and keep them.  Otherwise LD002 if the line's
 * committed available lacks needed, else name the richest busy slice
 * (busy) and return false (the subtransaction's rollback lets the slices
 * and the surplus lock go).  The line's row is never locked here: an
 * expiry holds it while it waits for the rows of the lines under it.
 */
static bool
partial_gather_try(void *arg)
{
	GatherTry  *t = arg;
	const CreditLine *l = t->l;
	int32		n = l->hot_slices;
	Datum		v[2] = {Int64GetDatum(l->line_id), Int32GetDatum(n)};
	bool	   *mine = palloc0(sizeof(bool) * (n + 1));
	int32	   *took = palloc(sizeof(int32) * n);
	int			ntook = 0;
	int64		pool = 0;
	int64		all_headroom = 0;
	int64		busy_best = PG_INT64_MIN;
	int64		frozen = 0,
				used = 0,
				returned = 0;
	bool		have_row;
	int32		target;

	for (int32 s = 1; s <= n; s++)
	{
		CreditHead	x;

		if (slice_take(NULL, l, s, false, PG_INT64_MIN, &x))
		{
			mine[s] = true;
			took[ntook++] = s;
		}
	}
	have_row = cl_credit_surplus_lock_try(l->line_id);
	t->row_busy = !have_row;
	if (have_row)
	{
		Datum		r[1] = {Int64GetDatum(l->line_id)};

		cl_exec(&line_row_plan, r, NULL, 1);
		if (SPI_processed == 1)
		{
			frozen = cl_getint64(0, 1, NULL);
			used = cl_getint64(0, 2, NULL);
			returned = cl_getint64(0, 3, NULL);
		}
	}
	cl_exec(&slice_values_plan, v, NULL, 0);
	t->busy = 0;
	t->busy_headroom = 0;
	for (int i = 0; i < (int) SPI_processed; i++)
	{
		bool		isnull;
		int32		s = DatumGetInt32(cl_getdatum(i, 1, &isnull));
		int64		hr = cl_getint64(i, 2, NULL);

		all_headroom += hr;
		frozen += cl_getint64(i, 3, NULL);
		used += cl_getint64(i, 4, NULL);
		returned += cl_getint64(i, 5, NULL);
		if (s >= 1 && s <= n && mine[s])
			pool += hr;
		else
		{
			t->busy_headroom += hr;
			if (hr > busy_best)
			{
				busy_best = hr;
				t->busy = s;
			}
		}
	}
	if (have_row)
	{
		int64		freed = credit_available(line_limit(l), l->revolving, frozen, used, returned)
			- all_headroom;

		if (freed > 0)
			pool += freed;
	}
	if (ntook > 0 && pool >= t->needed)
	{
		int64		rest = pool - t->needed;
		Datum	   *sd = palloc(sizeof(Datum) * ntook);

		target = took[preferred_slice(ntook)];
		for (int i = 0; i < ntook; i++)
			sd[i] = Int32GetDatum(took[i]);
		{
			Datum		u[5] = {Int64GetDatum(l->line_id),
				PointerGetDatum(construct_array(sd, ntook, INT4OID, 4, true, TYPALIGN_INT)),
				Int32GetDatum(target), Int64GetDatum(rest / ntook + rest % ntook + t->needed),
			Int64GetDatum(rest / ntook)};

			cl_exec(&spread_some_plan, u, NULL, 0);
		}
		if (!credit_slice_read(l->line_id, target, t->h))
			elog(ERROR, "creditledger: hot credit line " INT64_FORMAT " has no slice %d",
				 l->line_id, target);
		return true;
	}
	t->pool = pool;
	{
		int64		avail = line_available(l->line_id);

		if (avail < t->needed)
			shortfall(l, avail, t->needed, t->op);
	}
	return false;
}

/*
 * wait_release_try: wait for a slice's holder to finish (its slice lock,
 * then its row, for a holder outside the protocol), then let it go (the
 * subtransaction's rollback).
 */
static bool
wait_release_try(void *arg)
{
	SliceTry   *t = arg;

	(void) slice_take(NULL, t->l, t->slice, true, PG_INT64_MIN, t->h);
	return false;
}

/*
 * take_slice_needing: the slice of a hot line that serves a change
 * consuming needed > 0 of headroom (see the file header), in rounds: a
 * free slice with enough; else wait for a busy one with enough; else pool
 * what the free slices hold and what expiries freed (partial gather); else
 * (LD002 when the line's committed available lacks it) wait for the
 * richest busy slice to be let go (or, when only what expiries freed
 * could make up the difference and another call holds the line's surplus
 * lock, poll: that lock is only ever tried, so its holder waits for
 * nothing this call holds), and go
 * round again.
 * Every wait happens while this call holds no slice of the line (a slice
 * this transaction took in an earlier call stays held), so no two calls
 * wait for each other unless both hold slices from earlier calls.
 */
static void
take_slice_needing(CreditWriter *cw, const CreditLine *l, int64 needed, const char *op,
				   CreditHead *h)
{
	for (;;)
	{
		GatherTry	g = {l, needed, op, h, 0, 0, false, 0};
		SliceTry	w = {l, needed, 0, h};

		CHECK_FOR_INTERRUPTS();
		if (probe_slice(cw, l, needed, h))
			return;
		if (wait_for_slice(cw, l, needed, h))
			return;
		if (cl_in_subxact(partial_gather_try, &g))
			return;
		w.slice = g.busy;
		if (g.busy > 0 && (!g.row_busy || g.pool + g.busy_headroom >= needed))
			(void) cl_in_subxact(wait_release_try, &w);
		else if (g.row_busy)
		{
			/*
			 * What expiries freed is being pooled by another call, which
			 * holds the line's surplus lock: poll (the lock is only tried).
			 */
			pg_usleep(1000L);
		}
		else
			elog(ERROR, "creditledger: hot credit line " INT64_FORMAT " has no slice to wait for",
				 l->line_id);
	}
}

/*
 * spread_headroom: spread a hot line's total headroom over slices
 * 1..n (a negative total all on slice 1, so no slice can give any); the
 * one place a limit or slice-count change re-spreads a hot line.  The
 * caller holds the exclusive graph lock.
 */
static void
spread_headroom(int64 line, int32 n, int64 total)
{
	Datum		v[5];

	if (n <= 0)
		return;					/* not a hot line */
	v[0] = Int64GetDatum(line);
	v[1] = Int32GetDatum(n);
	v[2] = Int32GetDatum(1);
	v[3] = Int64GetDatum(total < 0 ? total : total / n + total % n);
	v[4] = Int64GetDatum(total < 0 ? 0 : total / n);
	cl_exec(&spread_plan, v, NULL, 0);
}

/* ------------------------------------------------------------------------
 * Applying a change to the nodes
 * ------------------------------------------------------------------------ */

/*
 * check_slice_bound: 22003 when a change adding add (> 0) to frozen + used
 * + returned would take the slice h of hot line l beyond its share of
 * bigint.  A hot line's total is its row's plus every slice's, changed by
 * concurrent calls under different slice locks, so no call can check the
 * sum: instead each slice keeps its own total within (INT64_MAX - the
 * row's total, if positive) / hot_slices.  The row's total never grows
 * while the line is hot (expiry only releases there; making a line hot
 * folds its slices into the row first), so the line's total stays within
 * bigint whatever the interleaving, as hot_bound.c keeps a hot account's.
 * So a row total read earlier (l from the graph cache, row_cached) is a
 * bound that errs only towards refusing: the row is read again first.
 */
static void
check_slice_bound(CreditLine *l, const CreditHead *h, int128 add, const char *op)
{
	int128		row = (int128) l->frozen + l->used + l->returned;
	int128		share = ((int128) PG_INT64_MAX - Max(row, 0)) / l->hot_slices;
	int128		total = (int128) h->frozen + h->used + h->returned;

	if (total + add > share && l->row_cached)
	{
		/* the cached row's total is a bound only: read it as it is now */
		CreditLine	now;

		if (!credit_line_read(l->line_id, &now))
			elog(ERROR, "creditledger: credit line " INT64_FORMAT " vanished", l->line_id);
		l->frozen = now.frozen;
		l->used = now.used;
		l->returned = now.returned;
		l->row_cached = false;
		row = (int128) l->frozen + l->used + l->returned;
		share = ((int128) PG_INT64_MAX - Max(row, 0)) / l->hot_slices;
	}
	if (total + add > share)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("credit totals of line " INT64_FORMAT " would be out of range for type bigint",
						l->line_id),
				 errdetail("Line " INT64_FORMAT " is hot: each of its %d slices keeps frozen + used + returned"
						   " within %s, so that concurrent changes can never take the line's total out of"
						   " bigint; slice %d has %s and the %s adds %s.",
						   l->line_id, l->hot_slices, int128_text(share), h->slice,
						   int128_text(total), op, int128_text(add))));
}

/*
 * credit_apply: apply one change of frozen/used/returned to one node (the
 * caller locked the plain nodes' rows in ascending order), journalled and
 * written through w: 22003 when it would take frozen + used + returned out
 * of bigint (a hot node: out of its slice's share, check_slice_bound),
 * LD002 when it consumes more headroom than the node has.
 */
static void
credit_apply(CreditWriter *w, CreditLine *l, const char *op, const char *ref,
			 int64 fd, int64 ud, int64 rd)
{
	int128		add = (int128) fd + ud + rd;
	int64		needed = credit_needed(l->revolving, fd, ud, rd);
	CreditHead	h;

	if (l->hot_slices == 0)
	{
		if (add > 0)
		{
			int128		total = (int128) l->frozen + l->used + l->returned;

			if (total + add > (int128) PG_INT64_MAX)
				ereport(ERROR,
						(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
						 errmsg("credit totals of line " INT64_FORMAT " would be out of range for type bigint",
								l->line_id),
						 errdetail("Line " INT64_FORMAT " has frozen + used + returned = %s; the %s adds %s.",
								   l->line_id, int128_text(total), op, int128_text(add))));
		}
		if (needed > 0)
		{
			int64		avail = credit_available(line_limit(l), l->revolving,
												 l->frozen, l->used, l->returned);

			if (avail < needed)
				shortfall(l, avail, needed, op);
		}
		h.line_id = l->line_id;
		h.slice = 0;
		h.frozen = l->frozen;
		h.used = l->used;
		h.returned = l->returned;
		h.version = l->version;
		memcpy(h.last_hash, l->last_hash, CL_HASH_LEN);
		h.headroom = 0;
		h.pending_frozen = h.pending_used = h.pending_returned = 0;
		h.has_pending_since = false;
		h.tid = l->tid;
		h.own = false;
		credit_post_with(w, &h, op, ref, fd, ud, rd, 0);
		l->frozen = h.frozen;
		l->used = h.used;
		l->returned = h.returned;
		l->version = h.version;
		memcpy(l->last_hash, h.last_hash, CL_HASH_LEN);
		l->tid = h.tid;
	}
	else
	{
		if (needed <= 0)
			take_slice_giving(w, l, needed, &h);
		else
			take_slice_needing(w, l, needed, op, &h);
		if (add > 0)
			check_slice_bound(l, &h, add, op);
		if (l->hot_batched)
			credit_writer_pend(w, &h, fd, ud, rd, needed);
		else
			credit_post_with(w, &h, op, ref, fd, ud, rd, needed);
	}
}

/*
 * apply_all: one change to every node, ascending, with one writer.
 */
static void
apply_all(CreditLine *nodes, int n, const char *op, const char *ref,
		  int64 fd, int64 ud, int64 rd)
{
	CreditWriter w;

	credit_writer_open(&w);
	for (int i = 0; i < n; i++)
		credit_apply(&w, &nodes[i], op, ref, fd, ud, rd);
	credit_writer_close(&w);
}

/* ------------------------------------------------------------------------
 * Expiry
 * ------------------------------------------------------------------------ */

/*
 * expire_holds: release the remaining amount of the given (locked, due)
 * holds that are still open on their line and ancestors, journalled as op
 * expire on each line's own chain, after locking the rows of every line
 * involved (and also_lock) in one ascending pass, hot lines included.
 * Returns how many holds it closed.
 */
static int64
expire_holds(const int64 *holds, int nholds, const int64 *also_lock, int nalso)
{
	int64		done = 0;
	int64	   *all;
	int			nall;
	int64	   *hid;
	char	  **href;
	int64	   *hline;
	int64	   *hrem;
	int			nopen;

	if (nholds == 0)
		return 0;
	{
		Datum		v[2] = {cl_int8_array(holds, nholds), cl_int8_array(also_lock, nalso)};

		cl_exec(&expire_nodes_plan, v, NULL, 0);
		nall = (int) SPI_processed;
		all = palloc(sizeof(int64) * Max(nall, 1));
		for (int i = 0; i < nall; i++)
			all[i] = cl_getint64(i, 1, NULL);
		(void) lock_nodes(all, nall, true, false);

		cl_exec(&open_holds_plan, v, NULL, 0);
	}
	nopen = (int) SPI_processed;
	hid = palloc(sizeof(int64) * Max(nopen, 1));
	href = palloc(sizeof(char *) * Max(nopen, 1));
	hline = palloc(sizeof(int64) * Max(nopen, 1));
	hrem = palloc(sizeof(int64) * Max(nopen, 1));
	for (int i = 0; i < nopen; i++)
	{
		bool		isnull;

		hid[i] = cl_getint64(i, 1, NULL);
		href[i] = TextDatumGetCString(cl_getdatum(i, 2, &isnull));
		hline[i] = cl_getint64(i, 3, NULL);
		hrem[i] = cl_getint64(i, 4, NULL);
	}
	for (int i = 0; i < nopen; i++)
	{
		/*
		 * A release needs no headroom check and goes to each line's own
		 * row, hot lines included: the headroom it frees reaches a hot
		 * line's slices at their next gather.
		 */
		if (hrem[i] > 0)
		{
			int			nn;
			int64	   *nodes = credit_nodes(hline[i], &nn);

			for (int k = 0; k < nn; k++)
			{
				CreditHead	h;

				read_line_head(nodes[k], &h);
				credit_post(&h, "expire", href[i], -hrem[i], 0, 0, 0);
			}
		}
		{
			Datum		v[1] = {Int64GetDatum(hid[i])};

			cl_exec(&expire_hold_plan, v, NULL, 0);
		}
		done++;
	}
	return done;
}

/*
 * release_due: before a change that needs `needed` at every node takes any
 * line lock, release the due holds under each node that looks short (rows
 * taken with SKIP LOCKED: a busy one is left to its owner or the worker);
 * the operation's own lines are locked in the same ascending pass.
 * any_due: whether any hold at all was due (one probe of the due index,
 * made with the call's first look).
 */
static void
release_due(const int64 *nodes, int n, int64 needed, bool any_due)
{
	int64	   *due;
	int			ndue;

	if (!any_due)
		return;
	{
		Datum		v[2] = {cl_int8_array(nodes, n), Int64GetDatum(needed)};

		cl_exec(&due_under_plan, v, NULL, 0);
	}
	ndue = (int) SPI_processed;
	due = palloc(sizeof(int64) * Max(ndue, 1));
	for (int i = 0; i < ndue; i++)
		due[i] = cl_getint64(i, 1, NULL);
	(void) expire_holds(due, ndue, nodes, n);
}

/* ------------------------------------------------------------------------
 * References: claim, replay, conflict
 * ------------------------------------------------------------------------ */

/* A call's payload, built as JSON text and compared as jsonb. */
typedef struct Payload
{
	StringInfoData buf;
	bool		first;
} Payload;

static void
payload_begin(Payload *p)
{
	initStringInfo(&p->buf);
	appendStringInfoChar(&p->buf, '{');
	p->first = true;
}

static void
payload_key(Payload *p, const char *key)
{
	if (!p->first)
		appendStringInfoString(&p->buf, ", ");
	p->first = false;
	escape_json(&p->buf, key);
	appendStringInfoString(&p->buf, ": ");
}

static void
payload_text(Payload *p, const char *key, const char *value)
{
	payload_key(p, key);
	escape_json(&p->buf, value);
}

static void
payload_int(Payload *p, const char *key, bool isnull, int64 value)
{
	payload_key(p, key);
	if (isnull)
		appendStringInfoString(&p->buf, "null");
	else
		appendStringInfo(&p->buf, INT64_FORMAT, value);
}

static void
payload_bool(Payload *p, const char *key, bool value)
{
	payload_key(p, key);
	appendStringInfoString(&p->buf, value ? "true" : "false");
}

static Datum
payload_end(Payload *p)
{
	appendStringInfoChar(&p->buf, '}');
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(p->buf.data));
}

/*
 * reference_conflict: LD004 for a reference reused with another payload.
 */
static void
reference_conflict(const char *what, const char *ref, int64 id)
{
	ereport(ERROR,
			(errcode(ERRCODE_CL_IDEMPOTENCY_CONFLICT),
			 errmsg("%s reference \"%s\" was already used with a different payload", what, ref),
			 errdetail("Reference \"%s\" belongs to %s " INT64_FORMAT ".", ref, what, id),
			 errhint("Use a new reference for a new operation, or repeat the original call exactly.")));
}

/*
 * payload_differs: whether a stored payload is not the call's (jsonb <>).
 */
static bool
payload_differs(Datum stored, Datum payload)
{
	return DatumGetBool(DirectFunctionCall2(jsonb_ne, stored, payload));
}

/*
 * reference_replay: the id of an earlier call with this reference (what:
 * "unfreeze" or "return" in credit_operations, "drawdown" in
 * ledger_credit_drawdowns); false if none; LD004 if its payload differs.
 */
static bool
reference_replay(const char *what, const char *ref, Datum payload, int64 *id)
{
	Datum		stored;
	bool		found;

	if (strcmp(what, "drawdown") == 0)
		found = credit_drawdown_find(ref, id, &stored);
	else
		found = credit_operation_find(what, ref, id, &stored);
	if (!found)
		return false;
	if (payload_differs(stored, payload))
		reference_conflict(what, ref, *id);
	return true;
}

/*
 * reference_claim: claim an unfreeze's or return's reference (kind), or a
 * drawdown's (kind "drawdown"; target is then the line and hold_id the
 * hold, NULL when 0): true and the new id, or false and the id of the call
 * that claimed it first (committed while this one waited), or LD004.
 * credit_rows.c claims with direct_claim (INSERT ... ON CONFLICT DO
 * NOTHING the executor's way); a drawdown's line is then guarded as its
 * foreign key's check would (credit_line_guard), unless guard is false:
 * the caller looks at the line after the claim and guards it with what
 * it found (lock_line_nodes).
 */
static bool
reference_claim(const char *kind, const char *ref, int64 target, int64 hold_id,
				int64 amount, Datum payload, bool guard, int64 *id)
{
	Datum		existing;

	if (strcmp(kind, "drawdown") == 0)
	{
		if (credit_drawdown_claim(ref, target, hold_id, amount, payload, id, &existing))
		{
			if (guard)
				credit_line_guard(target, NULL);
			return true;
		}
	}
	else if (credit_operation_claim(kind, ref, target, amount, payload, id, &existing))
		return true;
	if (payload_differs(existing, payload))
		reference_conflict(kind, ref, *id);
	return false;
}

/*
 * lock_line_nodes: release_due and lock_nodes(ids, n, false, true) for a
 * drawdown without a hold on line (ids: its nodes, from
 * credit_line_nodes_found, which found the line, at *tid, or had it
 * cached), claimed
 * by this call before it looked at the line: the lock is the call's first
 * read of the line's row (LD006 if it is not there: the error rolls the
 * claim back), and a hot line, whose row lock_nodes does not lock, is then
 * guarded as the drawdown's foreign key's check would (credit_line_guard:
 * a FOR KEY SHARE lock, which only a key change or a delete would wait
 * for, and no function makes either).
 */
static CreditLine *
lock_line_nodes(int64 line, const int64 *ids, int n, const ItemPointerData *tid, int64 amount,
				bool any_due)
{
	CreditLine *lines = palloc0(sizeof(CreditLine) * Max(n, 1));

	release_due(ids, n, amount, any_due);
	/* where credit_line_nodes_found saw the row, unless the release wrote since */
	if (!credit_lines_lock_line(ids, n, line, any_due ? NULL : tid, lines))
		cl_raise_line_missing(line);
	for (int i = 0; i < n; i++)
		if (lines[i].line_id == line)
			credit_line_guard(line, &lines[i]);
	return lines;
}

/* ------------------------------------------------------------------------
 * Holds
 * ------------------------------------------------------------------------ */

typedef struct HoldState
{
	int64		hold_id;
	char	   *ref;
	int64		line_id;
	int64		remaining;
	char	   *status;
	bool		has_expiry;
	TimestampTz expires_at;
	bool		due;
	int64		used_amount;
	int64	   *nodes;			/* its line and every ancestor, ascending */
	int			nnodes;
} HoldState;

/*
 * The hold lock_hold locked last (this call's), for update_hold.
 */
static CreditHoldRow locked_hold;

/*
 * lock_hold: the hold with this ref, locked; LD007 if unknown.
 */
static void
lock_hold(const char *hold_ref, HoldState *h)
{
	CreditHoldRow r;

	if (!credit_hold_lock(hold_ref, &r))
		ereport(ERROR,
				(errcode(ERRCODE_CL_HOLD_STATE),
				 errmsg("hold \"%s\" does not exist", hold_ref)));
	h->hold_id = r.hold_id;
	h->ref = r.ref;
	h->line_id = r.line_id;
	h->remaining = r.remaining;
	h->status = r.status;
	h->has_expiry = r.has_expiry;
	h->expires_at = r.expires_at;
	/* due: expires_at <= now(), the transaction's start, as in SQL */
	h->due = r.has_expiry && r.expires_at <= GetCurrentTransactionStartTimestamp();
	h->used_amount = r.used_amount;
	h->nodes = credit_nodes(r.line_id, &h->nnodes);
	locked_hold = r;
}

/*
 * check_hold: LD007 unless the locked hold is open, not due, and has
 * amount left.
 */
static void
check_hold(const HoldState *h, int64 amount, const char *what)
{
	if (strcmp(h->status, "open") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_CL_HOLD_STATE),
				 errmsg("hold \"%s\" is not open", h->ref),
				 errdetail("Hold " INT64_FORMAT " is %s.", h->hold_id, h->status)));
	if (h->due)
		ereport(ERROR,
				(errcode(ERRCODE_CL_HOLD_STATE),
				 errmsg("hold \"%s\" has expired", h->ref),
				 errdetail("Hold " INT64_FORMAT " expired at %s; its amount counts as released.",
						   h->hold_id, ts_text(h->expires_at))));
	if (amount > h->remaining)
		ereport(ERROR,
				(errcode(ERRCODE_CL_HOLD_STATE),
				 errmsg("cannot %s " INT64_FORMAT " of hold \"%s\"", what, amount, h->ref),
				 errdetail("Hold " INT64_FORMAT " has " INT64_FORMAT " remaining.",
						   h->hold_id, h->remaining)));
}

/*
 * update_hold: take used and released off the hold lock_hold locked,
 * setting its status.
 */
static void
update_hold(int64 hold_id, int64 used, int64 released, const char *status)
{
	if (locked_hold.hold_id != hold_id)
		elog(ERROR, "creditledger: hold " INT64_FORMAT " was not locked by this call", hold_id);
	credit_hold_update(&locked_hold, used, released, status);
}

/* ------------------------------------------------------------------------
 * The operations
 * ------------------------------------------------------------------------ */

CL_TRACKED_FUNCTION(cl_credit_freeze, CL_OP_CREDIT_FREEZE, credit_freeze_impl)
CL_TRACKED_FUNCTION(cl_credit_unfreeze, CL_OP_CREDIT_UNFREEZE, credit_unfreeze_impl)
CL_TRACKED_FUNCTION(cl_credit_use, CL_OP_CREDIT_USE, credit_use_impl)
CL_TRACKED_FUNCTION(cl_credit_use_direct, CL_OP_CREDIT_USE_DIRECT, credit_use_direct_impl)
CL_TRACKED_FUNCTION(cl_credit_return, CL_OP_CREDIT_RETURN, credit_return_impl)
CL_TRACKED_FUNCTION(cl_credit_expire_holds, CL_OP_CREDIT_EXPIRE_HOLDS, credit_expire_holds_impl)

static void freeze_hold(int64 line, int64 amount, const char *ref, bool has_expiry,
						TimestampTz expires_at, CreditOpResult *r);

/*
 * credit_freeze(line, amount, ref, expires_at): hold amount on the line and
 * every ancestor; idempotent on ref; returns the hold id.
 */
static Datum
credit_freeze_impl(PG_FUNCTION_ARGS)
{
	int64		line;
	int64		amount;
	char	   *ref;
	bool		has_expiry = !PG_ARGISNULL(3);
	TimestampTz expires_at = has_expiry ? PG_GETARG_TIMESTAMPTZ(3) : 0;
	CreditOpResult r;

	cl_require_arg(fcinfo, 0, "line");
	line = PG_GETARG_INT64(0);
	amount = cl_required_amount_arg(fcinfo, 1, "amount");
	ref = cl_required_voucher_arg(fcinfo, 2, "ref");
	cl_spi_connect();
	freeze_hold(line, amount, ref, has_expiry, expires_at, &r);
	cl_spi_finish();
	PG_RETURN_INT64(r.id);
}

/*
 * freeze_hold: credit_freeze's work, inside SPI: hold amount on the line
 * and every ancestor under ref; r->id is the hold id (the first
 * call's for a replay: same line, amount and expiry).
 */
static void
freeze_hold(int64 line, int64 amount, const char *ref, bool has_expiry,
			TimestampTz expires_at, CreditOpResult *r)
{
	CreditHoldRow hold;
	CreditLine	first;
	bool		any_due;
	int			n;
	int64	   *ids;
	CreditLine *nodes;

	memset(r, 0, sizeof(*r));
	r->line_id = line;
	r->amount = amount;
	cl_credit_graph_lock(false);
	/* the reference first: a replay returns before any state is looked at */
	if (!credit_hold_find(ref, &hold))
	{
		if (has_expiry && expires_at <= GetCurrentTransactionStartTimestamp())
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("expires_at must be in the future"),
					 errdetail("The value given was %s.", ts_text(expires_at))));
		if (!credit_line_read(line, &first))
			cl_raise_line_missing(line);
		ids = credit_nodes(line, &n);
		any_due = credit_holds_any_due();
		if (credit_hold_claim(ref, line, amount, has_expiry, expires_at, &hold))
		{
			credit_line_guard(line, &first);
			release_due(ids, n, amount, any_due);
			nodes = lock_nodes(ids, n, false, true);
			check_usable(line, nodes, n);
			apply_all(nodes, n, "freeze", ref, amount, 0, 0);
			r->id = hold.hold_id;
			return;
		}
	}
	/* a replay: the same call returns the same hold, another is LD004 */
	if (hold.line_id != line || hold.amount != amount || hold.has_expiry != has_expiry ||
		(has_expiry && hold.expires_at != expires_at))
		reference_conflict("hold", ref, hold.hold_id);
	r->id = hold.hold_id;
	r->replayed = true;
}

/*
 * credit_unfreeze(hold_ref, ref, amount): release amount (default: all
 * that remains) of a hold; idempotent on ref; returns the operation id.
 */
static Datum
credit_unfreeze_impl(PG_FUNCTION_ARGS)
{
	char	   *hold_ref = cl_required_voucher_arg(fcinfo, 0, "hold_ref");
	char	   *ref = cl_required_voucher_arg(fcinfo, 1, "ref");
	bool		has_amount = !PG_ARGISNULL(2);
	Payload		p;
	Datum		payload;
	int64		id;
	int64		amt;
	HoldState	h;
	CreditLine *nodes;

	if (has_amount)
		(void) cl_amount_arg(fcinfo, 2, "amount");
	payload_begin(&p);
	payload_text(&p, "hold_ref", hold_ref);
	payload_int(&p, "amount", !has_amount, has_amount ? PG_GETARG_INT64(2) : 0);
	payload = payload_end(&p);
	cl_credit_graph_lock(false);

	cl_spi_connect();
	if (reference_replay("unfreeze", ref, payload, &id))
	{
		cl_spi_finish();
		PG_RETURN_INT64(id);
	}
	lock_hold(hold_ref, &h);
	amt = has_amount ? PG_GETARG_INT64(2) : h.remaining;
	if (!reference_claim("unfreeze", ref, h.hold_id, 0, amt, payload, true, &id))
	{
		cl_spi_finish();
		PG_RETURN_INT64(id);
	}
	check_hold(&h, amt, "unfreeze");
	if (amt == 0)
		ereport(ERROR,
				(errcode(ERRCODE_CL_HOLD_STATE),
				 errmsg("hold \"%s\" has nothing left to unfreeze", hold_ref)));
	nodes = lock_nodes(h.nodes, h.nnodes, false, false);
	apply_all(nodes, h.nnodes, "unfreeze", ref, -amt, 0, 0);
	update_hold(h.hold_id, 0, amt,
				h.remaining - amt > 0 ? "open" : (h.used_amount > 0 ? "used" : "released"));
	cl_spi_finish();
	PG_RETURN_INT64(id);
}

/*
 * credit_use(hold_ref, ref, amount, release_rest): draw amount (default:
 * all that remains) of a hold, optionally releasing the rest; idempotent
 * on ref; returns the drawdown id.
 */
static Datum
credit_use_impl(PG_FUNCTION_ARGS)
{
	char	   *hold_ref = cl_required_voucher_arg(fcinfo, 0, "hold_ref");
	char	   *ref = cl_required_voucher_arg(fcinfo, 1, "ref");
	bool		has_amount = !PG_ARGISNULL(2);
	bool		release_rest;
	Payload		p;
	Datum		payload;
	CreditOpResult r;

	if (has_amount)
		(void) cl_amount_arg(fcinfo, 2, "amount");
	cl_require_arg(fcinfo, 3, "release_rest");
	release_rest = PG_GETARG_BOOL(3);
	payload_begin(&p);
	payload_text(&p, "kind", "use");
	payload_text(&p, "hold_ref", hold_ref);
	payload_int(&p, "amount", !has_amount, has_amount ? PG_GETARG_INT64(2) : 0);
	payload_bool(&p, "release_rest", release_rest);
	payload = payload_end(&p);

	cl_spi_connect();
	cl_credit_use_hold(hold_ref, ref, has_amount, has_amount ? PG_GETARG_INT64(2) : 0,
					   release_rest, payload, &r);
	if (!r.replayed)
		refuse_credit_only(r.line_id, "credit_use");
	cl_spi_finish();
	PG_RETURN_INT64(r.id);
}

/*
 * cl_credit_use_hold: credit_use's work, inside SPI: draw amount (all that
 * remains unless has_amount) of hold hold_ref under drawdown ref, releasing
 * the rest with release_rest; payload is kept with the drawdown for
 * replays.  r: the drawdown id, its line and amount (replayed: only id).
 */
void
cl_credit_use_hold(const char *hold_ref, const char *ref, bool has_amount, int64 amount,
				   bool release_rest, Datum payload, CreditOpResult *r)
{
	int64		id;
	int64		amt;
	int64		rest;
	HoldState	h;
	CreditLine *nodes;

	memset(r, 0, sizeof(*r));
	cl_credit_graph_lock(false);
	if (reference_replay("drawdown", ref, payload, &id))
	{
		r->id = id;
		r->replayed = true;
		return;
	}
	lock_hold(hold_ref, &h);
	amt = has_amount ? amount : h.remaining;
	if (!reference_claim("drawdown", ref, h.line_id, h.hold_id, amt, payload, true, &id))
	{
		r->id = id;
		r->replayed = true;
		return;
	}
	check_hold(&h, amt, "use");
	if (amt == 0)
		ereport(ERROR,
				(errcode(ERRCODE_CL_HOLD_STATE),
				 errmsg("hold \"%s\" has nothing left to use", hold_ref)));
	rest = release_rest ? h.remaining - amt : 0;
	nodes = lock_nodes(h.nodes, h.nnodes, false, false);
	check_usable(h.line_id, nodes, h.nnodes);
	apply_all(nodes, h.nnodes, "use", ref, -(amt + rest), amt, 0);
	update_hold(h.hold_id, amt, rest, h.remaining - amt - rest > 0 ? "open" : "used");
	r->id = id;
	r->line_id = h.line_id;
	r->amount = amt;
}

/*
 * credit_use_direct(line, amount, ref): draw amount on a line without a
 * hold; idempotent on ref (shared with credit_use); returns the drawdown
 * id.
 */
static Datum
credit_use_direct_impl(PG_FUNCTION_ARGS)
{
	int64		line;
	int64		amount;
	char	   *ref;
	Payload		p;
	Datum		payload;
	CreditOpResult r;

	cl_require_arg(fcinfo, 0, "line");
	line = PG_GETARG_INT64(0);
	amount = cl_required_amount_arg(fcinfo, 1, "amount");
	ref = cl_required_voucher_arg(fcinfo, 2, "ref");
	payload_begin(&p);
	payload_text(&p, "kind", "direct");
	payload_int(&p, "line", false, line);
	payload_int(&p, "amount", false, amount);
	payload = payload_end(&p);

	cl_spi_connect();
	cl_credit_use_line(line, ref, amount, payload, &r);
	if (!r.replayed)
		refuse_credit_only(line, "credit_use_direct");
	cl_spi_finish();
	PG_RETURN_INT64(r.id);
}

/*
 * cl_credit_use_line: credit_use_direct's work, inside SPI: draw amount on
 * line without a hold under drawdown ref (payload kept for replays).
 */
void
cl_credit_use_line(int64 line, const char *ref, int64 amount, Datum payload, CreditOpResult *r)
{
	int64		id;
	bool		any_due;
	int			n;
	int64	   *ids;
	CreditLine *nodes;
	ItemPointerData tid;

	memset(r, 0, sizeof(*r));
	cl_credit_graph_lock(false);
	/* the reference first: a replay returns before any state is looked at */
	if (!reference_claim("drawdown", ref, line, 0, amount, payload, false, &id))
	{
		r->id = id;
		r->replayed = true;
		return;
	}
	any_due = credit_holds_any_due();
	ids = credit_line_nodes_found(line, &n, &tid);
	if (ids == NULL)
		cl_raise_line_missing(line);
	nodes = lock_line_nodes(line, ids, n, &tid, amount, any_due);
	check_usable(line, nodes, n);
	apply_all(nodes, n, "use", ref, 0, amount, 0);
	r->id = id;
	r->line_id = line;
	r->amount = amount;
}

/*
 * credit_return(drawdown_ref, ref, amount): repay amount of a drawdown (at
 * most its outstanding); idempotent on ref; returns the operation id.
 */
static Datum
credit_return_impl(PG_FUNCTION_ARGS)
{
	char	   *drawdown_ref = cl_required_voucher_arg(fcinfo, 0, "drawdown_ref");
	char	   *ref = cl_required_voucher_arg(fcinfo, 1, "ref");
	int64		amount = cl_required_amount_arg(fcinfo, 2, "amount");
	Payload		p;
	Datum		payload;
	CreditOpResult r;

	payload_begin(&p);
	payload_text(&p, "drawdown_ref", drawdown_ref);
	payload_int(&p, "amount", false, amount);
	payload = payload_end(&p);

	cl_spi_connect();
	cl_credit_return_drawdown(drawdown_ref, ref, amount, payload, &r);
	if (!r.replayed)
		refuse_credit_only(r.line_id, "credit_return");
	cl_spi_finish();
	PG_RETURN_INT64(r.id);
}

/*
 * cl_credit_return_drawdown: credit_return's work, inside SPI: give back
 * amount (at most the outstanding, LD008) of drawdown drawdown_ref under
 * return ref (payload kept for replays).  r: the operation id, the
 * drawdown's id and line, and amount.
 */
void
cl_credit_return_drawdown(const char *drawdown_ref, const char *ref, int64 amount,
						  Datum payload, CreditOpResult *r)
{
	int64		id;
	CreditDrawdownRow drawdown;
	int64		drawdown_id;
	int64		outstanding;
	int			n;
	int64	   *ids;
	CreditLine *nodes;

	memset(r, 0, sizeof(*r));
	cl_credit_graph_lock(false);
	if (reference_replay("return", ref, payload, &id))
	{
		r->id = id;
		r->replayed = true;
		return;
	}
	if (!credit_drawdown_lock(drawdown_ref, &drawdown))
		ereport(ERROR,
				(errcode(ERRCODE_CL_DRAWDOWN_STATE),
				 errmsg("drawdown \"%s\" does not exist", drawdown_ref)));
	drawdown_id = drawdown.drawdown_id;
	outstanding = drawdown.outstanding;
	r->line_id = drawdown.line_id;
	r->drawdown_id = drawdown_id;
	ids = credit_nodes(drawdown.line_id, &n);
	if (!reference_claim("return", ref, drawdown_id, 0, amount, payload, true, &id))
	{
		r->id = id;
		r->replayed = true;
		return;
	}
	if (amount > outstanding)
		ereport(ERROR,
				(errcode(ERRCODE_CL_DRAWDOWN_STATE),
				 errmsg("cannot return " INT64_FORMAT " of drawdown \"%s\"", amount, drawdown_ref),
				 errdetail("Drawdown " INT64_FORMAT " has " INT64_FORMAT " outstanding.",
						   drawdown_id, outstanding)));
	nodes = lock_nodes(ids, n, false, false);
	apply_all(nodes, n, "return", ref, 0, -amount, amount);
	credit_drawdown_update(&drawdown, amount);
	r->id = id;
	r->amount = amount;
}

/*
 * cl_credit_expire_due: release every open hold past its expires_at that
 * no other transaction holds; returns how many.  Inside SPI: the
 * background worker's periodic task, and credit_expire_holds().
 */
int64
cl_credit_expire_due(void)
{
	int64	   *due;
	int			ndue;

	cl_credit_graph_lock(false);
	cl_exec(&due_all_plan, NULL, NULL, 0);
	ndue = (int) SPI_processed;
	due = palloc(sizeof(int64) * Max(ndue, 1));
	for (int i = 0; i < ndue; i++)
		due[i] = cl_getint64(i, 1, NULL);
	return expire_holds(due, ndue, NULL, 0);
}

/*
 * credit_expire_holds(): the same, called by hand; returns how many.
 */
static Datum
credit_expire_holds_impl(PG_FUNCTION_ARGS)
{
	int64		done;

	cl_spi_connect();
	done = cl_credit_expire_due();
	cl_spi_finish();
	PG_RETURN_INT64(done);
}

/* ------------------------------------------------------------------------
 * Disbursements in transit (lending.c)
 *
 * A pending disbursement's amount stays frozen in a hold of its own, the
 * transit hold (ref "creditledger:disbursement:<ref>", no expiry of its
 * own: it ends with the pending transfer), and its drawdown is claimed at
 * once with amount 0, growing as the pending transfer is posted.  Posting,
 * voiding and expiring it change the line's and every ancestor's own row
 * (hot lines included, as expiry does), all locked in one ascending pass,
 * so that a caller that already locked them (cl_credit_transit_lock) never
 * waits again.
 * ------------------------------------------------------------------------ */

static ClPlan set_drawdown_hold_plan = {
	"UPDATE creditledger.ledger_credit_drawdowns SET hold_id = $2"
	" WHERE drawdown_id OPERATOR(pg_catalog.=) $1",
	2, {INT8OID, INT8OID}
};

static ClPlan add_drawdown_plan = {
	"UPDATE creditledger.ledger_credit_drawdowns"
	"   SET amount = amount OPERATOR(pg_catalog.+) $2,"
	"       outstanding = outstanding OPERATOR(pg_catalog.+) $2"
	" WHERE drawdown_id OPERATOR(pg_catalog.=) $1",
	2, {INT8OID, INT8OID}
};

static ClPlan try_lock_lines_plan = {
	"SELECT line_id FROM creditledger.ledger_credit_lines"
	" WHERE line_id OPERATOR(pg_catalog.=) ANY ($1)"
	" ORDER BY line_id FOR NO KEY UPDATE SKIP LOCKED",
	1, {INT8ARRAYOID}
};

/*
 * open_transit_hold: the transit hold of a new pending disbursement (its
 * drawdown drawdown_id, just claimed), amount frozen on line; returns its
 * id.  The reference is derived from the drawdown's, which this
 * transaction holds, so the insert cannot conflict.
 */
static int64
open_transit_hold(const char *transit_ref, int64 line, int64 amount, int64 drawdown_id)
{
	CreditHoldRow hold;

	if (!credit_hold_claim(transit_ref, line, amount, false, 0, &hold))
		elog(ERROR, "creditledger: transit hold \"%s\" exists already", transit_ref);
	{
		Datum		v[2] = {Int64GetDatum(drawdown_id), Int64GetDatum(hold.hold_id)};

		cl_exec(&set_drawdown_hold_plan, v, NULL, 0);
	}
	return hold.hold_id;
}

/*
 * apply_own_rows: one change to every node's own row (slice 0), hot lines
 * included, ascending, as expiry does; the rows are locked (lock_nodes
 * with include_hot).  Only for changes that need no headroom.
 */
static void
apply_own_rows(const CreditLine *nodes, int n, const char *op, const char *ref,
			   int64 fd, int64 ud, int64 rd)
{
	CreditWriter w;

	credit_writer_open(&w);
	for (int i = 0; i < n; i++)
	{
		CreditHead	h;

		read_line_head(nodes[i].line_id, &h);
		credit_post_with(&w, &h, op, ref, fd, ud, rd, 0);
	}
	credit_writer_close(&w);
}

/*
 * cl_credit_transit_from_hold: the credit side of credit_disburse(...,
 * pending => true), inside SPI: claims drawdown ref (amount 0 until
 * posted), then moves amt (default: all that remains) of hold hold_ref
 * (open, not due, on a usable line) to a new transit hold transit_ref;
 * with release_rest the hold's remainder is unfrozen.  The moved amount
 * stays frozen on the line and its ancestors (no journal entry: nothing
 * changes there); the hold counts it as released.  r: the drawdown id,
 * line, amount and transit hold id; replayed as cl_credit_use_hold.
 */
void
cl_credit_transit_from_hold(const char *hold_ref, const char *ref, const char *transit_ref,
							bool has_amount, int64 amount, bool release_rest, Datum payload,
							CreditOpResult *r)
{
	int64		id;
	int64		amt;
	int64		rest;
	HoldState	h;
	CreditLine *nodes;

	memset(r, 0, sizeof(*r));
	cl_credit_graph_lock(false);
	if (reference_replay("drawdown", ref, payload, &id))
	{
		r->id = id;
		r->replayed = true;
		return;
	}
	lock_hold(hold_ref, &h);
	amt = has_amount ? amount : h.remaining;
	if (!reference_claim("drawdown", ref, h.line_id, 0, 0, payload, true, &id))
	{
		r->id = id;
		r->replayed = true;
		return;
	}
	check_hold(&h, amt, "disburse");
	if (amt == 0)
		ereport(ERROR,
				(errcode(ERRCODE_CL_HOLD_STATE),
				 errmsg("hold \"%s\" has nothing left to disburse", hold_ref)));
	rest = release_rest ? h.remaining - amt : 0;
	nodes = lock_nodes(h.nodes, h.nnodes, false, false);
	check_usable(h.line_id, nodes, h.nnodes);
	if (rest > 0)
		apply_all(nodes, h.nnodes, "unfreeze", ref, -rest, 0, 0);
	update_hold(h.hold_id, 0, amt + rest,
				h.remaining - amt - rest > 0 ? "open" : (h.used_amount > 0 ? "used" : "released"));
	r->hold_id = open_transit_hold(transit_ref, h.line_id, amt, id);
	r->id = id;
	r->line_id = h.line_id;
	r->amount = amt;
}

/*
 * cl_credit_transit_direct: the credit side of credit_disburse_direct(...,
 * pending => true), inside SPI: claims drawdown ref (amount 0 until
 * posted) and freezes amount on line (and every ancestor) in a new
 * transit hold transit_ref.  r as cl_credit_transit_from_hold.
 */
void
cl_credit_transit_direct(int64 line, const char *ref, const char *transit_ref, int64 amount,
						 Datum payload, CreditOpResult *r)
{
	int64		id;
	bool		any_due;
	int			n;
	int64	   *ids;
	CreditLine *nodes;
	ItemPointerData tid;

	memset(r, 0, sizeof(*r));
	cl_credit_graph_lock(false);
	/* the reference first: a replay returns before any state is looked at */
	if (!reference_claim("drawdown", ref, line, 0, 0, payload, false, &id))
	{
		r->id = id;
		r->replayed = true;
		return;
	}
	any_due = credit_holds_any_due();
	ids = credit_line_nodes_found(line, &n, &tid);
	if (ids == NULL)
		cl_raise_line_missing(line);
	nodes = lock_line_nodes(line, ids, n, &tid, amount, any_due);
	check_usable(line, nodes, n);
	r->hold_id = open_transit_hold(transit_ref, line, amount, id);
	apply_all(nodes, n, "freeze", transit_ref, amount, 0, 0);
	r->id = id;
	r->line_id = line;
	r->amount = amount;
}

/*
 * lock_transit: the transit hold transit_ref, locked, open; its nodes'
 * rows locked (hot lines' own rows too), ascending.
 */
static CreditLine *
lock_transit(const char *transit_ref, HoldState *h)
{
	lock_hold(transit_ref, h);
	if (strcmp(h->status, "open") != 0)
		elog(ERROR, "creditledger: transit hold \"%s\" is %s while its pending transfer is pending",
			 transit_ref, h->status);
	return lock_nodes(h->nodes, h->nnodes, true, false);
}

/*
 * cl_credit_transit_post: a pending disbursement posted (transfer_post):
 * amount of its transit hold becomes used on drawdown drawdown_id (op
 * use, ref: the drawdown's); with release_rest (a final post) the rest
 * is unfrozen.  The line's state is not checked: the money has moved.
 * Inside SPI, the credit graph lock held.
 */
void
cl_credit_transit_post(const char *transit_ref, int64 drawdown_id, const char *ref,
					   int64 amount, bool release_rest)
{
	HoldState	h;
	CreditLine *nodes = lock_transit(transit_ref, &h);
	int64		rest;

	if (amount > h.remaining)
		elog(ERROR, "creditledger: transit hold \"%s\" has " INT64_FORMAT " remaining, less than "
			 INT64_FORMAT, transit_ref, h.remaining, amount);
	rest = release_rest ? h.remaining - amount : 0;
	apply_own_rows(nodes, h.nnodes, "use", ref, -(amount + rest), amount, 0);
	update_hold(h.hold_id, amount, rest, h.remaining - amount - rest > 0 ? "open" : "used");
	{
		Datum		v[2] = {Int64GetDatum(drawdown_id), Int64GetDatum(amount)};

		cl_exec(&add_drawdown_plan, v, NULL, 0);
	}
}

/*
 * cl_credit_transit_release: a pending disbursement voided (op unfreeze)
 * or expired (op expire): what remains of its transit hold is unfrozen
 * and the hold closed (status: used if part was posted, else released or
 * expired).  Inside SPI, the credit graph lock held.
 */
void
cl_credit_transit_release(const char *transit_ref, const char *op, const char *ref)
{
	HoldState	h;
	CreditLine *nodes = lock_transit(transit_ref, &h);

	if (h.remaining > 0)
		apply_own_rows(nodes, h.nnodes, op, ref, -h.remaining, 0, 0);
	update_hold(h.hold_id, 0, h.remaining,
				h.used_amount > 0 ? "used" : (strcmp(op, "expire") == 0 ? "expired" : "released"));
}

/*
 * cl_credit_transit_lock: lock the rows of every node of the given transit
 * holds (hot lines' own rows too), ascending, so that posting, voiding or
 * expiring them later waits for no credit lock; nowait: only if all are
 * free (false, and nothing kept, when one is not: the caller runs in a
 * subtransaction).  Inside SPI, the credit graph lock held.
 */
bool
cl_credit_transit_lock(const int64 *holds, int nholds, bool nowait)
{
	int64	   *all;
	int			nall;

	if (nholds == 0)
		return true;
	{
		Datum		v[2] = {cl_int8_array(holds, nholds), cl_int8_array(NULL, 0)};

		cl_exec(&expire_nodes_plan, v, NULL, 0);
	}
	nall = (int) SPI_processed;
	all = palloc(sizeof(int64) * Max(nall, 1));
	for (int i = 0; i < nall; i++)
		all[i] = cl_getint64(i, 1, NULL);
	if (!nowait)
	{
		(void) lock_nodes(all, nall, true, false);
		return true;
	}
	{
		Datum		v[1] = {cl_int8_array(all, nall)};

		cl_exec(&try_lock_lines_plan, v, NULL, 0);
	}
	return (int) SPI_processed == nall;
}


/* ------------------------------------------------------------------------
 * Internals for the administration calls (credit_admin.c, credit_limits.c)
 * ------------------------------------------------------------------------ */

/*
 * cl_credit_apply_node: credit_apply on one node for link_credit_line's
 * carry (the caller holds the exclusive graph lock and locked the plain
 * nodes' rows).  Inside SPI.
 */
void
cl_credit_apply_node(int64 node, const char *op, const char *ref, int64 fd, int64 ud, int64 rd)
{
	CreditLine	l;
	CreditWriter w;

	if (!credit_line_read(node, &l))
		elog(ERROR, "creditledger: credit line " INT64_FORMAT " vanished", node);
	credit_writer_open(&w);
	credit_apply(&w, &l, op, ref, fd, ud, rd);
	credit_writer_close(&w);
}

/*
 * cl_credit_post_chain: append one entry to a chain whose lock the caller
 * holds, a line's own (slice 0) or one of its slices (set_credit_line_hot's
 * fold).  Inside SPI.
 */
void
cl_credit_post_chain(int64 node, int32 slice, const char *op, const char *ref,
					 int64 fd, int64 ud, int64 rd, int64 headroom_delta)
{
	CreditHead	h;

	if (slice == 0)
		read_line_head(node, &h);
	else if (!credit_slice_read(node, slice, &h))
		elog(ERROR, "creditledger: hot credit line " INT64_FORMAT " has no slice %d", node, slice);
	credit_post(&h, op, ref, fd, ud, rd, headroom_delta);
}

/*
 * cl_credit_respread: spread a hot line's available amount (its row and
 * every slice, line_available) over its slices again, after its limit,
 * temporary limits or slice count changed; nothing for a plain line.  The
 * caller holds the exclusive graph lock.  Inside SPI.
 */
void
cl_credit_respread(int64 line_id)
{
	Datum		v[1] = {Int64GetDatum(line_id)};
	bool		isnull;
	int32		n;

	cl_exec(&hot_slices_plan, v, NULL, 1);
	if (SPI_processed != 1)
		elog(ERROR, "creditledger: credit line " INT64_FORMAT " vanished", line_id);
	n = DatumGetInt32(cl_getdatum(0, 1, &isnull));
	if (n > 0)
		spread_headroom(line_id, n, line_available(line_id));
}

/* ------------------------------------------------------------------------
 * Batched hot lines: settling the slices' journal
 * ------------------------------------------------------------------------ */

static ClPlan pending_slices_plan = {
	"SELECT line_id, slice FROM creditledger.credit_line_slices"
	" WHERE pending_since IS NOT NULL"
	"   AND ($1 IS NULL OR line_id OPERATOR(pg_catalog.=) $1)"
	" ORDER BY line_id, slice LIMIT $2",
	2, {INT8OID, INT8OID}
};

/*
 * cl_credit_settle: journal the pending changes of batched hot lines'
 * slices (of line, or of every line when line is 0), at most limit
 * slices: each taken as the engine takes slices (lockorder.h, step 4,
 * after the credit graph lock shared), its slice lock and then its row;
 * when wait is false a slice another call holds is skipped (settled next
 * time), so a settle never waits while holding a slice and adds no
 * deadlock.  wait is for set_credit_line_hot, which holds the exclusive
 * graph lock (no credit call holds a slice then).  Returns how many
 * slices it settled.  Inside SPI.
 */
int64
cl_credit_settle(int64 line, bool wait, int64 limit)
{
	Datum		v[2] = {Int64GetDatum(line), Int64GetDatum(limit)};
	char		nulls[2] = {line == 0 ? 'n' : ' ', ' '};
	int64	   *lines;
	int32	   *slices;
	int			n;
	int64		done = 0;
	CreditWriter w;

	cl_credit_graph_lock(false);
	cl_exec(&pending_slices_plan, v, nulls, 0);
	n = (int) SPI_processed;
	lines = palloc(sizeof(int64) * Max(n, 1));
	slices = palloc(sizeof(int32) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		bool		isnull;

		lines[i] = cl_getint64(i, 1, NULL);
		slices[i] = DatumGetInt32(cl_getdatum(i, 2, &isnull));
	}
	credit_writer_open(&w);
	for (int i = 0; i < n; i++)
	{
		CreditHead	h;

		CHECK_FOR_INTERRUPTS();
		if (!cl_credit_slice_lock(lines[i], slices[i], wait))
			continue;
		if (!credit_slice_read(lines[i], slices[i], &h) ||
			credit_slice_lock_row(&h, wait ? LockWaitBlock : LockWaitSkip) != LOCK_OK)
		{
			cl_credit_slice_unlock(lines[i], slices[i]);
			continue;
		}
		if (h.has_pending_since)
		{
			slice_settle(&w, &h);
			done++;
		}
	}
	credit_writer_close(&w);
	return done;
}

/*
 * cl_credit_settle_due: the background worker's settle (a unit task):
 * every batched hot line's pending slices, at most creditledger.batch_size
 * of them per transaction, busy ones skipped.  Inside SPI.
 */
int64
cl_credit_settle_due(void)
{
	return cl_credit_settle(0, false, Max(cl_batch_size, 1));
}

/*
 * credit_settle_hot_lines(line = NULL): the same, called by hand, for one
 * line or all, every pending slice that is free; returns how many it
 * settled.
 */
static Datum
credit_settle_hot_lines_impl(PG_FUNCTION_ARGS)
{
	int64		done;

	cl_spi_connect();
	done = cl_credit_settle(PG_ARGISNULL(0) ? 0 : PG_GETARG_INT64(0), false, PG_INT64_MAX);
	cl_spi_finish();
	PG_RETURN_INT64(done);
}

CL_TRACKED_FUNCTION(cl_credit_settle_hot_lines, CL_OP_CREDIT_SETTLE_HOT_LINES,
					credit_settle_hot_lines_impl)
