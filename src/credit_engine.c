/*
 * credit_engine.c: the credit data path in C: credit_freeze,
 * credit_unfreeze, credit_use, credit_use_direct, credit_return,
 * credit_expire_holds (also the worker's hold expiry), hot-line slices and
 * gather, and the few internals the administration calls use
 * (credit_admin.c, credit_limits.c: cl_credit_apply_node,
 * cl_credit_post_chain, cl_credit_respread).
 *
 * A change of frozen/used/returned is applied to the line and every
 * ancestor (each once, ascending id: "nodes").  A plain node's chain is its
 * row in ledger_credit_lines; a hot node's chains are its slices
 * (credit_line_slices 1..hot_slices), each with a share of the line's
 * headroom.  Each change is one CLC1 journal entry on the chain it
 * touched, appended by chain.c's ChainWriter with the credit chain kind
 * (credit.c: columns and encoder); the head is then written back.
 *
 * References (claim, replay, conflict) are one section here:
 * reference_claim (INSERT ... ON CONFLICT DO NOTHING: the first call wins,
 * a concurrent one waits on the unique index and then replays),
 * reference_replay and reference_conflict (LD004).  Arguments are checked
 * by validate.c (NULL 22004, then form 22023) in the contract's order.
 *
 * Availability is computed in one place, credit_available(); the re-spread
 * of a hot line's headroom after its limit changed in one place,
 * cl_credit_spread_headroom() (cl_credit_respread for a line as it stands).
 *
 * Locking (lockorder.h, steps 1-4): the credit graph lock shared; the
 * reference claim; the hold or drawdown row; due holds released (rows with
 * SKIP LOCKED) before the lines are locked; the rows of the plain nodes,
 * ascending, FOR NO KEY UPDATE; then node by node (ascending) one slice of
 * each hot node:
 *   - a change that needs no headroom: a slice in deficit, else any free
 *     slice (SKIP LOCKED), else waits for this backend's preferred slice;
 *   - a change that needs headroom, in rounds: a free slice with enough
 *     (SKIP LOCKED, in a subtransaction, so a slice found short after the
 *     lock is released again); else, when slices with enough are all busy,
 *     wait for one of them (in a subtransaction too, released if it turns
 *     out short); else, when the headroom is really scattered, a partial
 *     gather: every free slice (SKIP LOCKED) and, if free, the line's own
 *     row, whose holder alone may take what expiries freed; their headroom
 *     is pooled and spread again with the need on one slice; else LD002
 *     when the line's committed available lacks the need, or wait for the
 *     richest busy slice to be let go (polling for the surplus lock) and go
 *     round again.
 * A call never waits for a slice while holding a
 * slice of that line it took itself, so hot lines add no deadlock; two
 * transactions that both wrote the same hot line in earlier statements and
 * now each need the headroom the other holds are the one exception (as
 * two transactions that each updated a row the other now wants).
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
#include "errcodes.h"
#include "lockorder.h"
#include "opstats.h"
#include "spi_plans.h"
#include "validate.h"

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
	int64		slice_total;	/* Σ frozen+used+returned of its slices, capped */
} CreditLine;

/* The head of one chain: a plain line (slice 0) or a slice. */
typedef struct CreditHead
{
	int64		line_id;
	int32		slice;
	int64		frozen;
	int64		used;
	int64		returned;
	int64		version;
	uint8		last_hash[CL_HASH_LEN];
} CreditHead;

#define LINE_COLS \
	"l.line_id, l.code, l.limit_amount, l.revolving, l.hot_slices, l.status, l.status_reason," \
	" l.valid_from, l.valid_until, l.frozen, l.used, l.returned, l.version, l.last_hash," \
	" CASE WHEN $2 AND l.hot_slices OPERATOR(pg_catalog.>) 0 THEN" \
	"  (SELECT LEAST(coalesce(pg_catalog.sum(x.frozen::numeric OPERATOR(pg_catalog.+) x.used" \
	"                 OPERATOR(pg_catalog.+) x.returned), 0)," \
	"          9223372036854775807)::bigint" \
	"     FROM creditledger.credit_line_slices x WHERE x.line_id OPERATOR(pg_catalog.=) l.line_id)" \
	" ELSE 0 END, l.temporary_limit"

/* The line $N and every ancestor, each once, ascending, as a bigint[]. */
#define NODES_ARRAY(expr) \
	"ARRAY(WITH RECURSIVE up(id) AS (SELECT (" expr ")::bigint UNION" \
	"  SELECT k.parent_id FROM creditledger.credit_line_links k" \
	"    JOIN up ON k.child_id OPERATOR(pg_catalog.=) up.id" \
	"   WHERE k.control OPERATOR(pg_catalog.<>) 'grant')" \
	" SELECT id FROM up ORDER BY id)"

#define ANY_DUE \
	"EXISTS (SELECT 1 FROM creditledger.ledger_credit_holds d" \
	"  WHERE d.status OPERATOR(pg_catalog.=) 'open'" \
	"    AND d.expires_at OPERATOR(pg_catalog.<=) pg_catalog.now())"

/*
 * A freeze's or direct use's first look, one statement: the hold with its
 * ref (freeze), whether the line exists, whether any hold is due, the
 * line's nodes.
 */
static ClPlan freeze_start_plan = {
	"SELECT h.hold_id, h.line_id, h.amount, h.expires_at,"
	"       EXISTS (SELECT 1 FROM creditledger.ledger_credit_lines x"
	"                WHERE x.line_id OPERATOR(pg_catalog.=) $2), "
	ANY_DUE ", " NODES_ARRAY("$2")
	"  FROM (SELECT 1) AS one"
	"  LEFT JOIN creditledger.ledger_credit_holds h ON h.ref OPERATOR(pg_catalog.=) $1",
	2, {TEXTOID, INT8OID}
};

static ClPlan nodes_plan = {
	"WITH RECURSIVE up(id) AS (SELECT $1::bigint UNION"
	"  SELECT k.parent_id FROM creditledger.credit_line_links k"
	"    JOIN up ON k.child_id OPERATOR(pg_catalog.=) up.id"
	"   WHERE k.control OPERATOR(pg_catalog.<>) 'grant')"
	" SELECT id FROM up ORDER BY id",
	1, {INT8OID}
};

static ClPlan lock_plain_plan = {
	"SELECT " LINE_COLS " FROM creditledger.ledger_credit_lines l"
	" WHERE l.line_id OPERATOR(pg_catalog.=) ANY ($1) AND l.hot_slices OPERATOR(pg_catalog.=) 0"
	" ORDER BY l.line_id FOR NO KEY UPDATE OF l",
	2, {INT8ARRAYOID, BOOLOID}
};

static ClPlan lock_all_plan = {
	"SELECT " LINE_COLS " FROM creditledger.ledger_credit_lines l"
	" WHERE l.line_id OPERATOR(pg_catalog.=) ANY ($1)"
	" ORDER BY l.line_id FOR NO KEY UPDATE OF l",
	2, {INT8ARRAYOID, BOOLOID}
};

static ClPlan read_hot_plan = {
	"SELECT " LINE_COLS " FROM creditledger.ledger_credit_lines l"
	" WHERE l.line_id OPERATOR(pg_catalog.=) ANY ($1) AND l.hot_slices OPERATOR(pg_catalog.>) 0"
	" ORDER BY l.line_id",
	2, {INT8ARRAYOID, BOOLOID}
};

static ClPlan read_line_plan = {
	"SELECT " LINE_COLS " FROM creditledger.ledger_credit_lines l"
	" WHERE l.line_id OPERATOR(pg_catalog.=) $1",
	2, {INT8OID, BOOLOID}
};

static ClPlan head_line_plan = {
	"UPDATE creditledger.ledger_credit_lines SET frozen = $2, used = $3, returned = $4,"
	"   version = $5, last_hash = $6 WHERE line_id OPERATOR(pg_catalog.=) $1",
	6, {INT8OID, INT8OID, INT8OID, INT8OID, INT8OID, BYTEAOID}
};

static ClPlan head_slice_plan = {
	"UPDATE creditledger.credit_line_slices SET frozen = $2, used = $3, returned = $4,"
	"   version = $5, last_hash = $6, headroom = headroom OPERATOR(pg_catalog.-) $8"
	" WHERE line_id OPERATOR(pg_catalog.=) $1 AND slice OPERATOR(pg_catalog.=) $7",
	8, {INT8OID, INT8OID, INT8OID, INT8OID, INT8OID, BYTEAOID, INT4OID, INT8OID}
};

static ClPlan read_head_plan = {
	"SELECT frozen, used, returned, version, last_hash FROM creditledger.ledger_credit_lines"
	" WHERE line_id OPERATOR(pg_catalog.=) $1",
	1, {INT8OID}
};

#define SLICE_COLS "slice, frozen, used, returned, version, last_hash, headroom"

static ClPlan read_slice_plan = {
	"SELECT " SLICE_COLS " FROM creditledger.credit_line_slices"
	" WHERE line_id OPERATOR(pg_catalog.=) $1 AND slice OPERATOR(pg_catalog.=) $2",
	2, {INT8OID, INT4OID}
};

static ClPlan lock_slice_plan = {
	"SELECT " SLICE_COLS " FROM creditledger.credit_line_slices"
	" WHERE line_id OPERATOR(pg_catalog.=) $1 AND slice OPERATOR(pg_catalog.=) $2 FOR NO KEY UPDATE",
	2, {INT8OID, INT4OID}
};

static ClPlan probe_slice_plan = {
	"SELECT " SLICE_COLS " FROM creditledger.credit_line_slices"
	" WHERE line_id OPERATOR(pg_catalog.=) $1 AND slice OPERATOR(pg_catalog.<=) $2"
	"   AND headroom OPERATOR(pg_catalog.>=) $3"
	" ORDER BY (slice OPERATOR(pg_catalog.+) $4) OPERATOR(pg_catalog.%) $2"
	" LIMIT 1 FOR NO KEY UPDATE SKIP LOCKED",
	4, {INT8OID, INT4OID, INT8OID, INT4OID}
};

static ClPlan any_slice_plan = {
	"SELECT " SLICE_COLS " FROM creditledger.credit_line_slices"
	" WHERE line_id OPERATOR(pg_catalog.=) $1 AND slice OPERATOR(pg_catalog.<=) $2"
	" ORDER BY (slice OPERATOR(pg_catalog.+) $3) OPERATOR(pg_catalog.%) $2"
	" LIMIT 1 FOR NO KEY UPDATE SKIP LOCKED",
	3, {INT8OID, INT4OID, INT4OID}
};

static ClPlan deficit_slice_plan = {
	"SELECT slice FROM creditledger.credit_line_slices"
	" WHERE line_id OPERATOR(pg_catalog.=) $1 AND slice OPERATOR(pg_catalog.<=) $2"
	"   AND headroom OPERATOR(pg_catalog.<) 0 LIMIT 1",
	2, {INT8OID, INT4OID}
};

static ClPlan headrooms_plan = {
	"SELECT slice, headroom FROM creditledger.credit_line_slices"
	" WHERE line_id OPERATOR(pg_catalog.=) $1 AND slice OPERATOR(pg_catalog.<=) $2 ORDER BY slice",
	2, {INT8OID, INT4OID}
};


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

static ClPlan lock_free_slices_plan = {
	"SELECT slice FROM creditledger.credit_line_slices"
	" WHERE line_id OPERATOR(pg_catalog.=) $1 AND slice OPERATOR(pg_catalog.<=) $2"
	" ORDER BY slice FOR NO KEY UPDATE SKIP LOCKED",
	2, {INT8OID, INT4OID}
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

/* holds and drawdowns */
static ClPlan find_hold_plan = {
	"SELECT hold_id, line_id, amount, expires_at FROM creditledger.ledger_credit_holds"
	" WHERE ref OPERATOR(pg_catalog.=) $1",
	1, {TEXTOID}
};

static ClPlan claim_hold_plan = {
	"INSERT INTO creditledger.ledger_credit_holds (ref, line_id, amount, remaining, expires_at)"
	" VALUES ($1, $2, $3, $3, $4)"
	" ON CONFLICT ON CONSTRAINT ledger_credit_holds_ref_key DO NOTHING RETURNING hold_id",
	4, {TEXTOID, INT8OID, INT8OID, TIMESTAMPTZOID}
};

static ClPlan lock_hold_plan = {
	"SELECT hold_id, ref, line_id, remaining, status, expires_at,"
	"       expires_at OPERATOR(pg_catalog.<=) pg_catalog.now(), used_amount, "
	NODES_ARRAY("line_id")
	"  FROM creditledger.ledger_credit_holds WHERE ref OPERATOR(pg_catalog.=) $1 FOR NO KEY UPDATE",
	1, {TEXTOID}
};

static ClPlan update_hold_plan = {
	"UPDATE creditledger.ledger_credit_holds"
	"   SET remaining = remaining OPERATOR(pg_catalog.-) $2 OPERATOR(pg_catalog.-) $3,"
	"       used_amount = used_amount OPERATOR(pg_catalog.+) $2,"
	"       released_amount = released_amount OPERATOR(pg_catalog.+) $3,"
	"       status = $4, closed_at = CASE WHEN $4 OPERATOR(pg_catalog.=) 'open' THEN NULL"
	"                                     ELSE pg_catalog.now() END"
	" WHERE hold_id OPERATOR(pg_catalog.=) $1",
	4, {INT8OID, INT8OID, INT8OID, TEXTOID}
};

static ClPlan replay_drawdown_plan = {
	"SELECT drawdown_id, payload OPERATOR(pg_catalog.<>) $2"
	"  FROM creditledger.ledger_credit_drawdowns WHERE ref OPERATOR(pg_catalog.=) $1",
	2, {TEXTOID, JSONBOID}
};

static ClPlan replay_operation_plan = {
	"SELECT operation_id, payload OPERATOR(pg_catalog.<>) $3"
	"  FROM creditledger.credit_operations"
	" WHERE kind OPERATOR(pg_catalog.=) $1 AND ref OPERATOR(pg_catalog.=) $2",
	3, {TEXTOID, TEXTOID, JSONBOID}
};

static ClPlan claim_operation_plan = {
	"INSERT INTO creditledger.credit_operations (kind, ref, target_id, amount, payload)"
	" VALUES ($1, $2, $3, $4, $5)"
	" ON CONFLICT ON CONSTRAINT credit_operations_kind_ref_key DO NOTHING RETURNING operation_id",
	5, {TEXTOID, TEXTOID, INT8OID, INT8OID, JSONBOID}
};

static ClPlan claim_drawdown_plan = {
	"INSERT INTO creditledger.ledger_credit_drawdowns"
	"   (ref, line_id, hold_id, amount, outstanding, payload)"
	" VALUES ($1, $2, $3, $4, $4, $5)"
	" ON CONFLICT ON CONSTRAINT ledger_credit_drawdowns_ref_key DO NOTHING RETURNING drawdown_id",
	5, {TEXTOID, INT8OID, INT8OID, INT8OID, JSONBOID}
};

static ClPlan lock_drawdown_plan = {
	"SELECT drawdown_id, line_id, outstanding, " NODES_ARRAY("line_id")
	"  FROM creditledger.ledger_credit_drawdowns"
	" WHERE ref OPERATOR(pg_catalog.=) $1 FOR NO KEY UPDATE",
	1, {TEXTOID}
};

static ClPlan update_drawdown_plan = {
	"UPDATE creditledger.ledger_credit_drawdowns"
	"   SET outstanding = outstanding OPERATOR(pg_catalog.-) $2,"
	"       returned = returned OPERATOR(pg_catalog.+) $2"
	" WHERE drawdown_id OPERATOR(pg_catalog.=) $1",
	2, {INT8OID, INT8OID}
};

/* expiry */

static ClPlan due_under_plan = {
	"SELECT h.hold_id FROM creditledger.ledger_credit_holds h"
	" WHERE h.status OPERATOR(pg_catalog.=) 'open' AND h.expires_at OPERATOR(pg_catalog.<=) pg_catalog.now()"
	"   AND h.line_id IN (SELECT unnest(creditledger._credit_subtree(c.line_id))"
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
	"SELECT DISTINCT u.n FROM (SELECT unnest(creditledger._credit_nodes(x.line_id)) AS n"
	"    FROM creditledger.ledger_credit_holds x WHERE x.hold_id OPERATOR(pg_catalog.=) ANY ($1)"
	"  UNION ALL SELECT unnest($2::bigint[])) u ORDER BY 1",
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
 * int8_array: a bigint[] Datum of n ids.
 */
static Datum
int8_array(const int64 *ids, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		d[i] = Int64GetDatum(ids[i]);
	return PointerGetDatum(construct_array(d, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/*
 * isnull_col: whether column col of result row row is NULL.
 */
static bool
isnull_col(int row, int col)
{
	bool		isnull;

	(void) cl_getdatum(row, col, &isnull);
	return isnull;
}

/*
 * fetch_ids: a bigint[] column as a palloc'd array of n ids.
 */
static int64 *
fetch_ids(int row, int col, int *n)
{
	bool		isnull;
	Datum		d = cl_getdatum(row, col, &isnull);
	Datum	   *elems;
	bool	   *nulls;
	int64	   *ids;

	if (isnull)
		elog(ERROR, "creditledger: a credit line's nodes are NULL");
	deconstruct_array(DatumGetArrayTypeP(d), INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &elems, &nulls, n);
	ids = palloc(sizeof(int64) * Max(*n, 1));
	for (int i = 0; i < *n; i++)
		ids[i] = DatumGetInt64(elems[i]);
	return ids;
}

/*
 * copy_hash: the 32 bytes of a bytea column into out.
 */
static void
copy_hash(Datum d, uint8 out[CL_HASH_LEN])
{
	bytea	   *b = DatumGetByteaPP(d);

	if (VARSIZE_ANY_EXHDR(b) != CL_HASH_LEN)
		elog(ERROR, "creditledger: a credit chain head has a hash of %d bytes",
			 (int) VARSIZE_ANY_EXHDR(b));
	memcpy(out, VARDATA_ANY(b), CL_HASH_LEN);
}

static Datum
hash_datum(const uint8 *hash)
{
	bytea	   *b = palloc(VARHDRSZ + CL_HASH_LEN);

	SET_VARSIZE(b, VARHDRSZ + CL_HASH_LEN);
	memcpy(VARDATA(b), hash, CL_HASH_LEN);
	return PointerGetDatum(b);
}

/*
 * fetch_line: row `row` of a LINE_COLS result.
 */
static void
fetch_line(int row, CreditLine *l)
{
	bool		isnull;

	l->line_id = cl_getint64(row, 1, NULL);
	l->code = TextDatumGetCString(cl_getdatum(row, 2, &isnull));
	l->limit_amount = cl_getint64(row, 3, NULL);
	l->revolving = DatumGetBool(cl_getdatum(row, 4, &isnull));
	l->hot_slices = DatumGetInt32(cl_getdatum(row, 5, &isnull));
	l->status = TextDatumGetCString(cl_getdatum(row, 6, &isnull));
	{
		Datum		d = cl_getdatum(row, 7, &isnull);

		l->status_reason = isnull ? NULL : TextDatumGetCString(d);
	}
	l->valid_from = DatumGetTimestampTz(cl_getdatum(row, 8, &isnull));
	{
		Datum		d = cl_getdatum(row, 9, &isnull);

		l->has_until = !isnull;
		l->valid_until = isnull ? 0 : DatumGetTimestampTz(d);
	}
	l->frozen = cl_getint64(row, 10, NULL);
	l->used = cl_getint64(row, 11, NULL);
	l->returned = cl_getint64(row, 12, NULL);
	l->version = cl_getint64(row, 13, NULL);
	copy_hash(cl_getdatum(row, 14, &isnull), l->last_hash);
	l->slice_total = cl_getint64(row, 15, NULL);
	l->temporary_limit = cl_getint64(row, 16, NULL);
}

/*
 * fetch_slice: row `row` of a SLICE_COLS result; returns its headroom.
 */
static int64
fetch_slice(int row, int64 line_id, CreditHead *h)
{
	bool		isnull;

	h->line_id = line_id;
	h->slice = DatumGetInt32(cl_getdatum(row, 1, &isnull));
	h->frozen = cl_getint64(row, 2, NULL);
	h->used = cl_getint64(row, 3, NULL);
	h->returned = cl_getint64(row, 4, NULL);
	h->version = cl_getint64(row, 5, NULL);
	copy_hash(cl_getdatum(row, 6, &isnull), h->last_hash);
	return cl_getint64(row, 7, NULL);
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
 * credit_nodes: the line and every ancestor, each once, ascending.
 */
static int64 *
credit_nodes(int64 line, int *n)
{
	Datum		v[1] = {Int64GetDatum(line)};
	int64	   *ids;

	cl_exec(&nodes_plan, v, NULL, 0);
	*n = (int) SPI_processed;
	ids = palloc(sizeof(int64) * Max(*n, 1));
	for (int i = 0; i < *n; i++)
		ids[i] = cl_getint64(i, 1, NULL);
	return ids;
}

/*
 * lock_nodes: lock the rows of the plain nodes (all nodes when include_hot)
 * in ascending order, and read every node; returns them in id order.
 * adds: the change adds to frozen + used + returned, so a hot node's slice
 * totals are summed for the overflow check (else slice_total is 0).
 */
static CreditLine *
lock_nodes(const int64 *ids, int n, bool include_hot, bool adds)
{
	CreditLine *lines = palloc0(sizeof(CreditLine) * Max(n, 1));
	Datum		v[2] = {int8_array(ids, n), BoolGetDatum(adds)};
	int			got;

	cl_exec(include_hot ? &lock_all_plan : &lock_plain_plan, v, NULL, 0);
	got = (int) SPI_processed;
	for (int i = 0; i < got; i++)
		fetch_line(i, &lines[i]);
	if (got < n)
	{
		cl_exec(&read_hot_plan, v, NULL, 0);
		for (int i = 0; i < (int) SPI_processed; i++)
			fetch_line(i, &lines[got + i]);
		got += (int) SPI_processed;
		/* back to ascending id order */
		for (int i = 1; i < got; i++)
			for (int j = i; j > 0 && lines[j - 1].line_id > lines[j].line_id; j--)
			{
				CreditLine	t = lines[j];

				lines[j] = lines[j - 1];
				lines[j - 1] = t;
			}
	}
	if (got != n)
		elog(ERROR, "creditledger: %d of %d credit lines found", got, n);
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
 * credit_post: append one CLC1 entry to head's chain through chain.c (the
 * credit chain kind) and move the head (the caller holds the chain's
 * lock); for a slice, headroom_delta leaves the slice's headroom.
 */
static void
credit_post(CreditHead *h, const char *op, const char *ref,
			int64 fd, int64 ud, int64 rd, int64 headroom_delta)
{
	ChainWriter w;
	CreditEntry e;
	uint8		hash[CL_HASH_LEN];
	Datum		v[8];

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
	chain_writer_open(&w, &cl_credit_chain_kind);
	chain_writer_append(&w, h->last_hash, &e, hash);
	chain_writer_close(&w);

	v[0] = Int64GetDatum(e.line_id);
	v[1] = Int64GetDatum(e.frozen_after);
	v[2] = Int64GetDatum(e.used_after);
	v[3] = Int64GetDatum(e.returned_after);
	v[4] = Int64GetDatum(e.version);
	v[5] = hash_datum(hash);
	v[6] = Int32GetDatum(h->slice);
	v[7] = Int64GetDatum(headroom_delta);
	cl_exec(h->slice == 0 ? &head_line_plan : &head_slice_plan, v, NULL, 0);
	if (SPI_processed != 1)
		elog(ERROR, "creditledger: credit chain (" INT64_FORMAT ", %d) vanished",
			 h->line_id, h->slice);
	h->version = e.version;
	h->frozen = e.frozen_after;
	h->used = e.used_after;
	h->returned = e.returned_after;
	memcpy(h->last_hash, hash, CL_HASH_LEN);
}

/*
 * read_line_head: the head of a line's own chain (slice 0), as of now.
 */
static void
read_line_head(int64 line_id, CreditHead *h)
{
	Datum		v[1] = {Int64GetDatum(line_id)};
	bool		isnull;

	cl_exec(&read_head_plan, v, NULL, 1);
	if (SPI_processed != 1)
		elog(ERROR, "creditledger: credit line " INT64_FORMAT " vanished", line_id);
	h->line_id = line_id;
	h->slice = 0;
	h->frozen = cl_getint64(0, 1, NULL);
	h->used = cl_getint64(0, 2, NULL);
	h->returned = cl_getint64(0, 3, NULL);
	h->version = cl_getint64(0, 4, NULL);
	copy_hash(cl_getdatum(0, 5, &isnull), h->last_hash);
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
 * lock_slice: lock slice `slice` of a line, waiting; returns its headroom.
 */
static int64
lock_slice(int64 line_id, int32 slice, CreditHead *h)
{
	Datum		v[2] = {Int64GetDatum(line_id), Int32GetDatum(slice)};

	cl_exec(&lock_slice_plan, v, NULL, 1);
	if (SPI_processed != 1)
		elog(ERROR, "creditledger: hot credit line " INT64_FORMAT " has no slice %d",
			 line_id, slice);
	return fetch_slice(0, line_id, h);
}

/*
 * take_slice_giving: a slice for a change that consumes no headroom
 * (needed <= 0): the slice in deficit if any (only a limit decrease makes
 * one), else a free one (SKIP LOCKED), else this backend's preferred one
 * (waiting).  Returned locked.
 */
static void
take_slice_giving(const CreditLine *l, int64 needed, CreditHead *h)
{
	int32		n = l->hot_slices;
	int32		start = preferred_slice(n);

	if (needed < 0)
	{
		Datum		v[2] = {Int64GetDatum(l->line_id), Int32GetDatum(n)};

		cl_exec(&deficit_slice_plan, v, NULL, 1);
		if (SPI_processed == 1)
		{
			bool		isnull;
			int32		s = DatumGetInt32(cl_getdatum(0, 1, &isnull));

			(void) lock_slice(l->line_id, s, h);
			return;
		}
	}
	{
		Datum		v[3] = {Int64GetDatum(l->line_id), Int32GetDatum(n), Int32GetDatum(start)};

		cl_exec(&any_slice_plan, v, NULL, 1);
		if (SPI_processed == 1)
		{
			(void) fetch_slice(0, l->line_id, h);
			return;
		}
	}
	(void) lock_slice(l->line_id, start + 1, h);
}

/* What a slice try needs: the line, the headroom, where to put the head. */
typedef struct SliceTry
{
	const CreditLine *l;
	int64		needed;
	int32		slice;			/* wait_for_slice: the slice to wait for */
	CreditHead *h;
} SliceTry;

/* probe_try: one free slice with enough headroom, SKIP LOCKED */
static bool
probe_try(void *arg)
{
	SliceTry   *t = arg;
	int32		n = t->l->hot_slices;
	Datum		v[4] = {Int64GetDatum(t->l->line_id), Int32GetDatum(n), Int64GetDatum(t->needed),
	Int32GetDatum(preferred_slice(n))};

	cl_exec(&probe_slice_plan, v, NULL, 1);
	if (SPI_processed != 1)
		return false;
	return fetch_slice(0, t->l->line_id, t->h) >= t->needed;
}

/*
 * probe_slice: a free slice with at least needed headroom, locked in a
 * subtransaction that is kept when one qualifies and rolled back when
 * none does, so a slice the probe locked but found short after the lock
 * (SKIP LOCKED keeps such locks) is not held into a gather.
 */
static bool
probe_slice(const CreditLine *l, int64 needed, CreditHead *h)
{
	SliceTry	t = {l, needed, 0, h};

	return cl_in_subxact(probe_try, &t);
}

/* wait_try: wait for one slice; keep it if it has enough */
static bool
wait_try(void *arg)
{
	SliceTry   *t = arg;

	return lock_slice(t->l->line_id, t->slice, t->h) >= t->needed;
}

/*
 * wait_for_slice: when every slice that has enough is busy, wait for one
 * of them (holding no slice of this line) and keep it if it still has
 * enough once ours; false when none has enough (the headroom is
 * scattered or short) or the one waited for came back short.
 */
static bool
wait_for_slice(const CreditLine *l, int64 needed, CreditHead *h)
{
	int32		n = l->hot_slices;
	Datum		v[2] = {Int64GetDatum(l->line_id), Int32GetDatum(n)};
	int32	   *rich;
	int			nrich = 0;
	SliceTry	t = {l, needed, 0, h};

	cl_exec(&headrooms_plan, v, NULL, 0);
	rich = palloc(sizeof(int32) * Max((int) SPI_processed, 1));
	for (int i = 0; i < (int) SPI_processed; i++)
	{
		bool		isnull;

		if (cl_getint64(i, 2, NULL) >= needed)
			rich[nrich++] = DatumGetInt32(cl_getdatum(i, 1, &isnull));
	}
	if (nrich == 0)
		return false;
	t.slice = rich[preferred_slice(nrich)];
	return cl_in_subxact(wait_try, &t);
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
 * partial_gather_try: take every slice nobody holds (SKIP LOCKED) and, if
 * free, the line's surplus lock (lockorder.h: only ever tried, held to the
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

	cl_exec(&lock_free_slices_plan, v, NULL, 0);
	for (int i = 0; i < (int) SPI_processed; i++)
	{
		bool		isnull;
		int32		s = DatumGetInt32(cl_getdatum(i, 1, &isnull));

		if (s >= 1 && s <= n)
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
		CommandCounterIncrement();
		{
			Datum		r[2] = {Int64GetDatum(l->line_id), Int32GetDatum(target)};

			cl_exec(&read_slice_plan, r, NULL, 1);
			(void) fetch_slice(0, l->line_id, t->h);
		}
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

/* wait_release_try: wait for a slice's holder to finish, then let it go */
static bool
wait_release_try(void *arg)
{
	SliceTry   *t = arg;

	(void) lock_slice(t->l->line_id, t->slice, t->h);
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
take_slice_needing(const CreditLine *l, int64 needed, const char *op, CreditHead *h)
{
	for (;;)
	{
		GatherTry	g = {l, needed, op, h, 0, 0, false, 0};
		SliceTry	w = {l, needed, 0, h};

		CHECK_FOR_INTERRUPTS();
		if (probe_slice(l, needed, h))
			return;
		if (wait_for_slice(l, needed, h))
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
 * cl_credit_spread_headroom: spread a hot line's total headroom over slices
 * 1..n (a negative total all on slice 1, so no slice can give any); the
 * one place a limit or slice-count change re-spreads a hot line.  The
 * caller holds the exclusive graph lock.
 */
void
cl_credit_spread_headroom(int64 line, int32 n, int64 total)
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
 * credit_apply: apply one change of frozen/used/returned to one node (the
 * caller locked the plain nodes' rows in ascending order): 22003 when it
 * would take frozen + used + returned out of bigint, LD002 when it consumes
 * more headroom than the node has.
 */
static void
credit_apply(CreditLine *l, const char *op, const char *ref, int64 fd, int64 ud, int64 rd)
{
	int128		add = (int128) fd + ud + rd;
	int64		needed = credit_needed(l->revolving, fd, ud, rd);
	CreditHead	h;

	if (add > 0)
	{
		int128		total = (int128) l->frozen + l->used + l->returned + l->slice_total;

		if (total + add > (int128) PG_INT64_MAX)
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("credit totals of line " INT64_FORMAT " would be out of range for type bigint",
							l->line_id),
					 errdetail("Line " INT64_FORMAT " has frozen + used + returned = %s; the %s adds %s.",
							   l->line_id, int128_text(total), op, int128_text(add))));
	}
	if (l->hot_slices == 0)
	{
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
		credit_post(&h, op, ref, fd, ud, rd, 0);
		l->frozen = h.frozen;
		l->used = h.used;
		l->returned = h.returned;
		l->version = h.version;
		memcpy(l->last_hash, h.last_hash, CL_HASH_LEN);
	}
	else
	{
		if (needed <= 0)
			take_slice_giving(l, needed, &h);
		else
			take_slice_needing(l, needed, op, &h);
		credit_post(&h, op, ref, fd, ud, rd, needed);
	}
}

/*
 * apply_all: one change to every node, ascending.
 */
static void
apply_all(CreditLine *nodes, int n, const char *op, const char *ref,
		  int64 fd, int64 ud, int64 rd)
{
	for (int i = 0; i < n; i++)
		credit_apply(&nodes[i], op, ref, fd, ud, rd);
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
		Datum		v[2] = {int8_array(holds, nholds), int8_array(also_lock, nalso)};

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
		Datum		v[2] = {int8_array(nodes, n), Int64GetDatum(needed)};

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
 * reference_replay: the id of an earlier call with this reference (what:
 * "unfreeze" or "return" in credit_operations, "drawdown" in
 * ledger_credit_drawdowns); false if none; LD004 if its payload differs.
 */
static bool
reference_replay(const char *what, const char *ref, Datum payload, int64 *id)
{
	bool		isnull;

	if (strcmp(what, "drawdown") == 0)
	{
		Datum		v[2] = {CStringGetTextDatum(ref), payload};

		cl_exec(&replay_drawdown_plan, v, NULL, 1);
	}
	else
	{
		Datum		v[3] = {CStringGetTextDatum(what), CStringGetTextDatum(ref), payload};

		cl_exec(&replay_operation_plan, v, NULL, 1);
	}
	if (SPI_processed == 0)
		return false;
	*id = cl_getint64(0, 1, NULL);
	if (DatumGetBool(cl_getdatum(0, 2, &isnull)))
		reference_conflict(what, ref, *id);
	return true;
}

/*
 * reference_claim: claim an unfreeze's or return's reference (kind), or a
 * drawdown's (kind "drawdown"; target is then the line and hold_id the
 * hold, NULL when 0): true and the new id, or false and the id of the call
 * that claimed it first (committed while this one waited), or LD004.
 */
static bool
reference_claim(const char *kind, const char *ref, int64 target, int64 hold_id,
				int64 amount, Datum payload, int64 *id)
{
	if (strcmp(kind, "drawdown") == 0)
	{
		Datum		v[5] = {CStringGetTextDatum(ref), Int64GetDatum(target),
		Int64GetDatum(hold_id), Int64GetDatum(amount), payload};
		char		nulls[5] = {' ', ' ', hold_id == 0 ? 'n' : ' ', ' ', ' '};

		cl_exec(&claim_drawdown_plan, v, nulls, 1);
	}
	else
	{
		Datum		v[5] = {CStringGetTextDatum(kind), CStringGetTextDatum(ref),
		Int64GetDatum(target), Int64GetDatum(amount), payload};

		cl_exec(&claim_operation_plan, v, NULL, 1);
	}
	if (SPI_processed == 1)
	{
		*id = cl_getint64(0, 1, NULL);
		return true;
	}
	if (!reference_replay(kind, ref, payload, id))
		elog(ERROR, "creditledger: %s reference \"%s\" vanished", kind, ref);
	return false;
}

/* ------------------------------------------------------------------------
 * Argument checks (validate.c speaks for every function)
 * ------------------------------------------------------------------------ */

static void
require_arg(FunctionCallInfo fcinfo, int argno, const char *name)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"%s\" must not be null", name)));
}

/* a reference: NULL (22004), then its form (validate.c) */
static char *
ref_arg(FunctionCallInfo fcinfo, int argno, const char *name)
{
	require_arg(fcinfo, argno, name);
	return cl_voucher_arg(fcinfo, argno, name);
}

/* an amount: NULL (22004), then positive (validate.c) */
static int64
amount_arg(FunctionCallInfo fcinfo, int argno)
{
	require_arg(fcinfo, argno, "amount");
	return cl_amount_arg(fcinfo, argno, "amount");
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
 * lock_hold: the hold with this ref, locked; LD007 if unknown.
 */
static void
lock_hold(const char *hold_ref, HoldState *h)
{
	Datum		v[1] = {CStringGetTextDatum(hold_ref)};
	bool		isnull;
	Datum		d;

	cl_exec(&lock_hold_plan, v, NULL, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_CL_HOLD_STATE),
				 errmsg("hold \"%s\" does not exist", hold_ref)));
	h->hold_id = cl_getint64(0, 1, NULL);
	h->ref = TextDatumGetCString(cl_getdatum(0, 2, &isnull));
	h->line_id = cl_getint64(0, 3, NULL);
	h->remaining = cl_getint64(0, 4, NULL);
	h->status = TextDatumGetCString(cl_getdatum(0, 5, &isnull));
	d = cl_getdatum(0, 6, &isnull);
	h->has_expiry = !isnull;
	h->expires_at = isnull ? 0 : DatumGetTimestampTz(d);
	d = cl_getdatum(0, 7, &isnull);
	h->due = !isnull && DatumGetBool(d);
	h->used_amount = cl_getint64(0, 8, NULL);
	h->nodes = fetch_ids(0, 9, &h->nnodes);
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
 * update_hold: take used and released off a hold, setting its status.
 */
static void
update_hold(int64 hold_id, int64 used, int64 released, const char *status)
{
	Datum		v[4] = {Int64GetDatum(hold_id), Int64GetDatum(used), Int64GetDatum(released),
	CStringGetTextDatum(status)};

	cl_exec(&update_hold_plan, v, NULL, 0);
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
	int64		id = 0;
	bool		claimed = false;
	bool		found;
	bool		line_exists;
	bool		any_due;
	int			n;
	int64	   *ids;
	CreditLine *nodes;

	require_arg(fcinfo, 0, "line");
	line = PG_GETARG_INT64(0);
	amount = amount_arg(fcinfo, 1);
	ref = ref_arg(fcinfo, 2, "ref");
	cl_credit_graph_lock(false);

	cl_spi_connect();
	{
		Datum		v[2] = {CStringGetTextDatum(ref), Int64GetDatum(line)};
		bool		isnull;

		cl_exec(&freeze_start_plan, v, NULL, 1);
		found = !isnull_col(0, 1);
		line_exists = DatumGetBool(cl_getdatum(0, 5, &isnull));
		any_due = DatumGetBool(cl_getdatum(0, 6, &isnull));
		ids = fetch_ids(0, 7, &n);
	}
	if (!found)
	{
		if (has_expiry && expires_at <= GetCurrentTransactionStartTimestamp())
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("expires_at must be in the future"),
					 errdetail("The value given was %s.", ts_text(expires_at))));
		if (!line_exists)
			ereport(ERROR,
					(errcode(ERRCODE_CL_CREDIT_LINE_UNAVAILABLE),
					 errmsg("credit line " INT64_FORMAT " does not exist", line)));
		{
			Datum		v[4] = {CStringGetTextDatum(ref), Int64GetDatum(line),
			Int64GetDatum(amount), TimestampTzGetDatum(expires_at)};
			char		nulls[4] = {' ', ' ', ' ', has_expiry ? ' ' : 'n'};

			cl_exec(&claim_hold_plan, v, nulls, 1);
		}
		if (SPI_processed == 1)
		{
			id = cl_getint64(0, 1, NULL);
			claimed = true;
		}
		else
		{
			Datum		v[1] = {CStringGetTextDatum(ref)};

			cl_exec(&find_hold_plan, v, NULL, 1);
		}
	}
	if (!claimed)
	{
		bool		isnull;
		Datum		d;
		int64		hid = cl_getint64(0, 1, NULL);

		d = cl_getdatum(0, 4, &isnull);
		if (cl_getint64(0, 2, NULL) != line || cl_getint64(0, 3, NULL) != amount ||
			isnull == has_expiry || (!isnull && DatumGetTimestampTz(d) != expires_at))
			reference_conflict("hold", ref, hid);
		cl_spi_finish();
		PG_RETURN_INT64(hid);
	}

	release_due(ids, n, amount, any_due);
	nodes = lock_nodes(ids, n, false, true);
	check_usable(line, nodes, n);
	apply_all(nodes, n, "freeze", ref, amount, 0, 0);
	cl_spi_finish();
	PG_RETURN_INT64(id);
}

/*
 * credit_unfreeze(hold_ref, ref, amount): release amount (default: all
 * that remains) of a hold; idempotent on ref; returns the operation id.
 */
static Datum
credit_unfreeze_impl(PG_FUNCTION_ARGS)
{
	char	   *hold_ref = ref_arg(fcinfo, 0, "hold_ref");
	char	   *ref = ref_arg(fcinfo, 1, "ref");
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
	if (!reference_claim("unfreeze", ref, h.hold_id, 0, amt, payload, &id))
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
	char	   *hold_ref = ref_arg(fcinfo, 0, "hold_ref");
	char	   *ref = ref_arg(fcinfo, 1, "ref");
	bool		has_amount = !PG_ARGISNULL(2);
	bool		release_rest;
	Payload		p;
	Datum		payload;
	int64		id;
	int64		amt;
	int64		rest;
	HoldState	h;
	CreditLine *nodes;

	if (has_amount)
		(void) cl_amount_arg(fcinfo, 2, "amount");
	require_arg(fcinfo, 3, "release_rest");
	release_rest = PG_GETARG_BOOL(3);
	payload_begin(&p);
	payload_text(&p, "kind", "use");
	payload_text(&p, "hold_ref", hold_ref);
	payload_int(&p, "amount", !has_amount, has_amount ? PG_GETARG_INT64(2) : 0);
	payload_bool(&p, "release_rest", release_rest);
	payload = payload_end(&p);
	cl_credit_graph_lock(false);

	cl_spi_connect();
	if (reference_replay("drawdown", ref, payload, &id))
	{
		cl_spi_finish();
		PG_RETURN_INT64(id);
	}
	lock_hold(hold_ref, &h);
	amt = has_amount ? PG_GETARG_INT64(2) : h.remaining;
	if (!reference_claim("drawdown", ref, h.line_id, h.hold_id, amt, payload, &id))
	{
		cl_spi_finish();
		PG_RETURN_INT64(id);
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
	cl_spi_finish();
	PG_RETURN_INT64(id);
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
	int64		id;
	bool		any_due;
	int			n;
	int64	   *ids;
	CreditLine *nodes;

	require_arg(fcinfo, 0, "line");
	line = PG_GETARG_INT64(0);
	amount = amount_arg(fcinfo, 1);
	ref = ref_arg(fcinfo, 2, "ref");
	payload_begin(&p);
	payload_text(&p, "kind", "direct");
	payload_int(&p, "line", false, line);
	payload_int(&p, "amount", false, amount);
	payload = payload_end(&p);
	cl_credit_graph_lock(false);

	cl_spi_connect();
	if (reference_replay("drawdown", ref, payload, &id))
	{
		cl_spi_finish();
		PG_RETURN_INT64(id);
	}
	{
		Datum		v[2] = {CStringGetTextDatum(ref), Int64GetDatum(line)};
		bool		isnull;

		cl_exec(&freeze_start_plan, v, NULL, 1);
		if (!DatumGetBool(cl_getdatum(0, 5, &isnull)))
			ereport(ERROR,
					(errcode(ERRCODE_CL_CREDIT_LINE_UNAVAILABLE),
					 errmsg("credit line " INT64_FORMAT " does not exist", line)));
		any_due = DatumGetBool(cl_getdatum(0, 6, &isnull));
		ids = fetch_ids(0, 7, &n);
	}
	if (!reference_claim("drawdown", ref, line, 0, amount, payload, &id))
	{
		cl_spi_finish();
		PG_RETURN_INT64(id);
	}
	release_due(ids, n, amount, any_due);
	nodes = lock_nodes(ids, n, false, true);
	check_usable(line, nodes, n);
	apply_all(nodes, n, "use", ref, 0, amount, 0);
	cl_spi_finish();
	PG_RETURN_INT64(id);
}

/*
 * credit_return(drawdown_ref, ref, amount): repay amount of a drawdown (at
 * most its outstanding); idempotent on ref; returns the operation id.
 */
static Datum
credit_return_impl(PG_FUNCTION_ARGS)
{
	char	   *drawdown_ref = ref_arg(fcinfo, 0, "drawdown_ref");
	char	   *ref = ref_arg(fcinfo, 1, "ref");
	int64		amount = amount_arg(fcinfo, 2);
	Payload		p;
	Datum		payload;
	int64		id;
	int64		drawdown_id;
	int64		outstanding;
	int			n;
	int64	   *ids;
	CreditLine *nodes;

	payload_begin(&p);
	payload_text(&p, "drawdown_ref", drawdown_ref);
	payload_int(&p, "amount", false, amount);
	payload = payload_end(&p);
	cl_credit_graph_lock(false);

	cl_spi_connect();
	if (reference_replay("return", ref, payload, &id))
	{
		cl_spi_finish();
		PG_RETURN_INT64(id);
	}
	{
		Datum		v[1] = {CStringGetTextDatum(drawdown_ref)};

		cl_exec(&lock_drawdown_plan, v, NULL, 1);
	}
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_CL_DRAWDOWN_STATE),
				 errmsg("drawdown \"%s\" does not exist", drawdown_ref)));
	drawdown_id = cl_getint64(0, 1, NULL);
	outstanding = cl_getint64(0, 3, NULL);
	ids = fetch_ids(0, 4, &n);
	if (!reference_claim("return", ref, drawdown_id, 0, amount, payload, &id))
	{
		cl_spi_finish();
		PG_RETURN_INT64(id);
	}
	if (amount > outstanding)
		ereport(ERROR,
				(errcode(ERRCODE_CL_DRAWDOWN_STATE),
				 errmsg("cannot return " INT64_FORMAT " of drawdown \"%s\"", amount, drawdown_ref),
				 errdetail("Drawdown " INT64_FORMAT " has " INT64_FORMAT " outstanding.",
						   drawdown_id, outstanding)));
	nodes = lock_nodes(ids, n, false, false);
	apply_all(nodes, n, "return", ref, 0, -amount, amount);
	{
		Datum		v[2] = {Int64GetDatum(drawdown_id), Int64GetDatum(amount)};

		cl_exec(&update_drawdown_plan, v, NULL, 0);
	}
	cl_spi_finish();
	PG_RETURN_INT64(id);
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
	Datum		v[2] = {Int64GetDatum(node), BoolGetDatum(true)};
	CreditLine	l;

	cl_exec(&read_line_plan, v, NULL, 1);
	if (SPI_processed != 1)
		elog(ERROR, "creditledger: credit line " INT64_FORMAT " vanished", node);
	fetch_line(0, &l);
	credit_apply(&l, op, ref, fd, ud, rd);
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
	else
	{
		Datum		v[2] = {Int64GetDatum(node), Int32GetDatum(slice)};

		cl_exec(&read_slice_plan, v, NULL, 1);
		if (SPI_processed != 1)
			elog(ERROR, "creditledger: hot credit line " INT64_FORMAT " has no slice %d", node, slice);
		(void) fetch_slice(0, node, &h);
	}
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
		cl_credit_spread_headroom(line_id, n, line_available(line_id));
}
