/*
 * credit_limits.c: the seeds' limit system on credit lines (CONTRACT.md,
 * "Credit lines, more of the seeds' limit system"): set_credit_limit,
 * link_credit_line(child, parent, control), temporary limits (临额:
 * set_temporary_limit, end_temporary_limit, credit_apply_temporary_limits,
 * which the background worker runs), and credit_limit_changed, the one
 * path every change of a line's limit goes through.
 *
 * Data (sql/upgrade-0.3.0/65_credit_limits.sql):
 *   - ledger_credit_lines.temporary_limit: the sum of the line's ACTIVE
 *     temporary limits.  The credit data path knows only the effective
 *     limit, limit_amount + temporary_limit (line_limit in credit_engine.c,
 *     the credit_lines view);
 *   - ledger_credit_temporary_limits: one row per temporary limit, status
 *     scheduled -> active -> expired (window passed) or ended (ended by
 *     end_temporary_limit); a scheduled one may go straight to ended or
 *     expired without starting;
 *   - credit_line_links.control: usage (the child's frozen/used count at
 *     the parent, as in 0.2), grant (the child's limit_amount is carved
 *     from the parent's: the limit_amounts of a parent's granting children
 *     never add up to more than its limit_amount, LD002 otherwise; the
 *     child's usage does not count at the parent), both.
 *
 * Journal: each start and end of a temporary limit is an entry of the
 * line's own credit chain (slice 0, CLC1, zero deltas, ref = the temporary
 * limit's ref): op temp_limit (started), temp_limit_end (an active one
 * ended), temp_limit_cancel (a scheduled one ended without starting).
 * cl_credit_post_line_event (credit_engine.c) writes it through the one
 * credit chain writer, so verify_chain and digests cover it.
 *
 * Locking, in this order, by every function here (as link_credit_line and
 * set_credit_limit always did):
 *   1. the credit graph lock EXCLUSIVE (advisory (17228, -1), the key of
 *      _credit_graph_lock): freeze, unfreeze, use, return and expiry take
 *      it shared, so none runs while a limit, a temporary limit or a link
 *      changes, and a hot line's slices are spread again without locking
 *      them one by one;
 *   2. the rows of the lines whose limits change (the line, its grant
 *      parents; a link's child and parent) FOR NO KEY UPDATE, ascending id;
 *   3. the temporary limit rows (FOR UPDATE), ascending id.
 * credit_apply_temporary_limits (the worker's periodic task) takes 1 only
 * when something is due: otherwise it costs two probes of partial indexes
 * and never blocks a freeze.
 *
 * Security: the SQL functions are SECURITY DEFINER with search_path pinned
 * to pg_catalog, pg_temp, and every statement below names its tables,
 * functions and operators with their schema.  Only creditledger_admin is
 * granted them (90_privileges.sql).
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/int.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/timestamp.h"
#include "access/xact.h"

#include "compat.h"
#include "credit.h"
#include "credit_limits.h"
#include "credit_rows.h"
#include "locking.h"
#include "lockorder.h"
#include "errcodes.h"
#include "opstats.h"
#include "spi_plans.h"
#include "validate.h"


CL_TRACKED_FUNCTION(cl_set_credit_limit, CL_OP_SET_CREDIT_LIMIT, set_credit_limit_impl)
CL_TRACKED_FUNCTION(cl_link_credit_line, CL_OP_LINK_CREDIT_LINE, link_credit_line_impl)
CL_TRACKED_FUNCTION(cl_set_temporary_limit, CL_OP_SET_TEMPORARY_LIMIT, set_temporary_limit_impl)
CL_TRACKED_FUNCTION(cl_end_temporary_limit, CL_OP_END_TEMPORARY_LIMIT, end_temporary_limit_impl)
CL_TRACKED_FUNCTION(cl_credit_apply_temporary_limits, CL_OP_CREDIT_APPLY_TEMPORARY_LIMITS,
					credit_apply_temporary_limits_impl)

/* A credit line's attributes that limit changes read. */
typedef struct LineRow
{
	int64		line_id;
	char	   *code;
	char	   *currency;
	int64		limit_amount;
	int64		temporary_limit;
	char	   *status;
} LineRow;

/* A temporary limit. */
typedef struct TempRow
{
	int64		id;
	char	   *ref;
	int64		line_id;
	int64		amount;
	TimestampTz valid_from;
	TimestampTz valid_until;
	bool		valid_from_given;
	char	   *status;
} TempRow;

#define LINE_COLUMNS \
	"SELECT line_id, code, currency, limit_amount, temporary_limit, status" \
	"  FROM creditledger.ledger_credit_lines WHERE line_id OPERATOR(pg_catalog.=) $1"

static ClPlan line_plan = {LINE_COLUMNS, 1, {INT8OID}};
static ClPlan line_lock_plan = {LINE_COLUMNS " FOR NO KEY UPDATE", 1, {INT8OID}};
static ClPlan lock_lines_plan = {
	"SELECT 1 FROM creditledger.ledger_credit_lines"
	" WHERE line_id OPERATOR(pg_catalog.=) ANY ($1)"
	" ORDER BY line_id FOR NO KEY UPDATE",
	1, {INT8ARRAYOID}
};
static ClPlan decreased_plan = {
	"UPDATE creditledger.ledger_credit_lines SET limit_decreased_at = pg_catalog.now()"
	" WHERE line_id OPERATOR(pg_catalog.=) $1",
	1, {INT8OID}
};
static ClPlan granted_plan = {
	"SELECT c.limit_amount FROM creditledger.credit_line_links k"
	"  JOIN creditledger.ledger_credit_lines c ON c.line_id OPERATOR(pg_catalog.=) k.child_id"
	" WHERE k.parent_id OPERATOR(pg_catalog.=) $1"
	"   AND k.control OPERATOR(pg_catalog.<>) 'usage'::pg_catalog.text",
	1, {INT8OID}
};
static ClPlan grant_parents_plan = {
	"SELECT k.parent_id FROM creditledger.credit_line_links k"
	" WHERE k.child_id OPERATOR(pg_catalog.=) $1"
	"   AND k.control OPERATOR(pg_catalog.<>) 'usage'::pg_catalog.text"
	" ORDER BY k.parent_id",
	1, {INT8OID}
};
static ClPlan set_limit_plan = {
	"UPDATE creditledger.ledger_credit_lines SET limit_amount = $2"
	" WHERE line_id OPERATOR(pg_catalog.=) $1",
	2, {INT8OID, INT8OID}
};
static ClPlan link_control_plan = {
	"SELECT control FROM creditledger.credit_line_links"
	" WHERE child_id OPERATOR(pg_catalog.=) $1 AND parent_id OPERATOR(pg_catalog.=) $2",
	2, {INT8OID, INT8OID}
};
static ClPlan cycle_plan = {
	"WITH RECURSIVE down(id) AS ("
	"    SELECT $1::pg_catalog.int8"
	"    UNION"
	"    SELECT k.child_id FROM creditledger.credit_line_links k"
	"      JOIN down d ON k.parent_id OPERATOR(pg_catalog.=) d.id)"
	" SELECT 1 FROM down WHERE id OPERATOR(pg_catalog.=) $2",
	2, {INT8OID, INT8OID}
};
static ClPlan link_insert_plan = {
	"INSERT INTO creditledger.credit_line_links (child_id, parent_id, control) VALUES ($1, $2, $3)",
	3, {INT8OID, INT8OID, TEXTOID}
};
static ClPlan lock_plain_plan = {
	"SELECT 1 FROM creditledger.ledger_credit_lines"
	" WHERE line_id OPERATOR(pg_catalog.=) ANY ($1) AND hot_slices OPERATOR(pg_catalog.=) 0"
	" ORDER BY line_id FOR NO KEY UPDATE",
	1, {INT8ARRAYOID}
};
/*
 * What linking $1 under a new usage ancestor $2 carries there: the open
 * holds, outstanding and returned amounts of $1's usage subtree, less the
 * lines $2 already counts (its own usage subtree: a diamond is never
 * counted twice).
 */
static ClPlan carry_plan = {
	"SELECT coalesce(pg_catalog.sum(o.frozen), 0)::bigint, coalesce(pg_catalog.sum(o.used), 0)::bigint,"
	"       coalesce(pg_catalog.sum(o.returned), 0)::bigint"
	"  FROM pg_catalog.unnest(creditledger._credit_subtree($1)) AS b(id)"
	"  CROSS JOIN LATERAL ("
	"      SELECT (SELECT coalesce(pg_catalog.sum(h.remaining), 0) FROM creditledger.ledger_credit_holds h"
	"               WHERE h.line_id OPERATOR(pg_catalog.=) b.id"
	"                 AND h.status OPERATOR(pg_catalog.=) 'open') AS frozen,"
	"             (SELECT coalesce(pg_catalog.sum(w.outstanding), 0) FROM creditledger.ledger_credit_drawdowns w"
	"               WHERE w.line_id OPERATOR(pg_catalog.=) b.id) AS used,"
	"             (SELECT coalesce(pg_catalog.sum(w.returned), 0) FROM creditledger.ledger_credit_drawdowns w"
	"               WHERE w.line_id OPERATOR(pg_catalog.=) b.id) AS returned) o"
	" WHERE b.id OPERATOR(pg_catalog.<>) ALL (creditledger._credit_subtree($2))",
	2, {INT8OID, INT8OID}
};

#define TEMP_COLUMNS \
	"SELECT temporary_limit_id, ref, line_id, amount, valid_from, valid_until," \
	"       valid_from_given, status FROM creditledger.ledger_credit_temporary_limits"

static ClPlan temp_by_ref_plan = {
	TEMP_COLUMNS " WHERE ref OPERATOR(pg_catalog.=) $1", 1, {TEXTOID}
};
static ClPlan temp_lock_plan = {
	"SELECT 1 FROM creditledger.ledger_credit_temporary_limits"
	" WHERE temporary_limit_id OPERATOR(pg_catalog.=) $1 FOR UPDATE",
	1, {INT8OID}
};
static ClPlan temp_pending_plan = {
	"SELECT amount FROM creditledger.ledger_credit_temporary_limits"
	" WHERE line_id OPERATOR(pg_catalog.=) $1"
	"   AND status OPERATOR(pg_catalog.=) ANY ('{scheduled,active}'::pg_catalog.text[])",
	1, {INT8OID}
};
static ClPlan temp_insert_plan = {
	"INSERT INTO creditledger.ledger_credit_temporary_limits"
	" (ref, line_id, amount, valid_from, valid_until, valid_from_given)"
	" VALUES ($1, $2, $3, $4, $5, $6) RETURNING temporary_limit_id",
	6, {TEXTOID, INT8OID, INT8OID, TIMESTAMPTZOID, TIMESTAMPTZOID, BOOLOID}
};
static ClPlan temp_add_plan = {
	"UPDATE creditledger.ledger_credit_lines"
	"   SET temporary_limit = temporary_limit OPERATOR(pg_catalog.+) $2"
	" WHERE line_id OPERATOR(pg_catalog.=) $1",
	2, {INT8OID, INT8OID}
};
static ClPlan temp_started_plan = {
	"UPDATE creditledger.ledger_credit_temporary_limits"
	"   SET status = 'active', started_at = pg_catalog.now()"
	" WHERE temporary_limit_id OPERATOR(pg_catalog.=) $1",
	1, {INT8OID}
};
static ClPlan temp_ended_plan = {
	"UPDATE creditledger.ledger_credit_temporary_limits"
	"   SET status = $2, ended_at = pg_catalog.now()"
	" WHERE temporary_limit_id OPERATOR(pg_catalog.=) $1",
	2, {INT8OID, TEXTOID}
};
static ClPlan due_probe_plan = {
	"SELECT EXISTS (SELECT 1 FROM creditledger.ledger_credit_temporary_limits"
	"                WHERE status OPERATOR(pg_catalog.=) 'active'"
	"                  AND valid_until OPERATOR(pg_catalog.<=) pg_catalog.now())"
	"    OR EXISTS (SELECT 1 FROM creditledger.ledger_credit_temporary_limits"
	"                WHERE status OPERATOR(pg_catalog.=) 'scheduled'"
	"                  AND valid_from OPERATOR(pg_catalog.<=) pg_catalog.now())",
	0, {0}
};
static ClPlan due_lines_plan = {
	"SELECT 1 FROM creditledger.ledger_credit_lines"
	" WHERE line_id OPERATOR(pg_catalog.=) ANY ("
	"   SELECT t.line_id FROM creditledger.ledger_credit_temporary_limits t"
	"    WHERE (t.status OPERATOR(pg_catalog.=) 'active'"
	"           AND t.valid_until OPERATOR(pg_catalog.<=) pg_catalog.now())"
	"       OR (t.status OPERATOR(pg_catalog.=) 'scheduled'"
	"           AND t.valid_from OPERATOR(pg_catalog.<=) pg_catalog.now()))"
	" ORDER BY line_id FOR NO KEY UPDATE",
	0, {0}
};
static ClPlan due_ends_plan = {
	TEMP_COLUMNS
	" WHERE status OPERATOR(pg_catalog.=) 'active'"
	"   AND valid_until OPERATOR(pg_catalog.<=) pg_catalog.now()"
	" ORDER BY temporary_limit_id FOR UPDATE",
	0, {0}
};
static ClPlan due_starts_plan = {
	TEMP_COLUMNS
	" WHERE status OPERATOR(pg_catalog.=) 'scheduled'"
	"   AND valid_from OPERATOR(pg_catalog.<=) pg_catalog.now()"
	" ORDER BY temporary_limit_id FOR UPDATE",
	0, {0}
};

/*
 * text_column: column col of result row row as a C string (NULL if NULL).
 */
static char *
text_column(int row, int col)
{
	bool		isnull;
	Datum		d = cl_getdatum(row, col, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

/*
 * fetch_line: line id's row (locked FOR NO KEY UPDATE with lock); LD006 if
 * there is none.
 */
static void
fetch_line(int64 id, bool lock, LineRow *l)
{
	Datum		args[1] = {Int64GetDatum(id)};

	cl_exec(lock ? &line_lock_plan : &line_plan, args, NULL, 1);
	if (SPI_processed == 0)
		cl_raise_line_missing(id);
	l->line_id = id;
	l->code = text_column(0, 2);
	l->currency = text_column(0, 3);
	l->limit_amount = cl_getint64(0, 4, NULL);
	l->temporary_limit = cl_getint64(0, 5, NULL);
	l->status = text_column(0, 6);
}

/*
 * lock_lines: the rows of n lines, FOR NO KEY UPDATE in ascending id order.
 */
static void
lock_lines(int64 *ids, int n)
{
	Datum		args[1];

	n = cl_sort_unique_ids(ids, n);
	args[0] = cl_int8_array(ids, n);
	cl_exec(&lock_lines_plan, args, NULL, 0);
}

/*
 * credit_limit_changed: after a change of a line's limit_amount or
 * temporary_limit (the caller holds the exclusive credit graph lock and
 * the line's row): a decrease is recorded in limit_decreased_at (the line
 * may now be over its limit: allowed, new freezes are refused until it is
 * back, BCP reports it as a warning), and a hot line's headroom is spread
 * again over its slices by cl_credit_respread (credit_engine.c, the one
 * place that does it, from the same available amount the engine checks
 * against): evenly, the remainder on slice 1, a negative
 * total all on slice 1 (so that no slice can give any until the line is
 * back within its limit).
 */
void
credit_limit_changed(int64 line_id, bool decreased)
{
	Datum		args[1];

	args[0] = Int64GetDatum(line_id);
	if (decreased)
		cl_exec(&decreased_plan, args, NULL, 0);
	cl_credit_respread(line_id);
}

/*
 * check_granted: LD002 unless the limits of the parent's granting children
 * plus extra (a child being linked, or a child's raise) fit in
 * parent_limit.
 */
static void
check_granted(const LineRow *parent, int64 parent_limit, int64 extra, const char *what)
{
	Datum		args[1] = {Int64GetDatum(parent->line_id)};
	int64		granted = 0;
	bool		overflow = false;
	int64		total;

	cl_exec(&granted_plan, args, NULL, 0);
	for (uint64 i = 0; i < SPI_processed; i++)
		overflow |= pg_add_s64_overflow(granted, cl_getint64(i, 1, NULL), &granted);
	overflow |= pg_add_s64_overflow(granted, extra, &total);
	if (overflow || total > parent_limit)
		ereport(ERROR,
				(errcode(ERRCODE_CL_CREDIT_LIMIT_EXCEEDED),
				 errmsg("credit limit exceeded on credit line " INT64_FORMAT, parent->line_id),
				 errdetail("Line " INT64_FORMAT " (%s) has a limit of " INT64_FORMAT
						   " and has granted " INT64_FORMAT
						   " to its children under grant control; %s needs " INT64_FORMAT " more.",
						   parent->line_id, parent->code, parent_limit, granted, what, extra),
				 errhint("Under grant control the children's limits are carved from the parent's: "
						 "raise the parent's limit or lower a child's first.")));
}

/*
 * set_credit_limit(line, limit_amount): a new limit; below utilisation is
 * allowed.  Under grant control a parent's limit must still cover what it
 * granted, and a granting child's raise must fit in each grant parent
 * (LD002).
 */
static Datum
set_credit_limit_impl(PG_FUNCTION_ARGS)
{
	int64		line_id;
	int64		new_limit;
	LineRow		l;
	int64	   *ids;
	int			n = 0;
	Datum		args[2];

	CL_REQUIRE_ARGS("line", "limit_amount");
	line_id = PG_GETARG_INT64(0);
	new_limit = PG_GETARG_INT64(1);
	if (new_limit < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("limit_amount must not be negative"),
				 errdetail("The value given was " INT64_FORMAT ".", new_limit)));

	cl_spi_connect();
	cl_credit_graph_lock(true);
	fetch_line(line_id, false, &l);
	/* the line and its grant parents, ascending */
	args[0] = Int64GetDatum(line_id);
	cl_exec(&grant_parents_plan, args, NULL, 0);
	ids = palloc(sizeof(int64) * (SPI_processed + 1));
	ids[n++] = line_id;
	for (uint64 i = 0; i < SPI_processed; i++)
		ids[n++] = cl_getint64(i, 1, NULL);
	lock_lines(ids, n);

	/* as a parent: the new limit must still cover what it granted */
	check_granted(&l, new_limit, 0,
				  psprintf("a limit of " INT64_FORMAT, new_limit));
	/* as a granting child: a raise must fit in every grant parent */
	if (new_limit > l.limit_amount)
	{
		for (int i = 0; i < n; i++)
		{
			LineRow		p;

			if (ids[i] == line_id)
				continue;
			fetch_line(ids[i], false, &p);
			check_granted(&p, p.limit_amount, new_limit - l.limit_amount,
						  psprintf("raising line " INT64_FORMAT " to " INT64_FORMAT,
								   line_id, new_limit));
		}
	}
	args[0] = Int64GetDatum(line_id);
	args[1] = Int64GetDatum(new_limit);
	cl_exec(&set_limit_plan, args, NULL, 0);
	credit_limit_changed(line_id, new_limit < l.limit_amount);
	cl_spi_finish();
	PG_RETURN_VOID();
}

/*
 * link_usage_carry: before child is linked under parent with usage (or
 * both) control, carry the child's usage subtree's frozen, used and
 * returned amounts to every usage ancestor of parent (parent included)
 * that does not count them yet, through the engine (LD002 if an ancestor
 * lacks the headroom, 22003 out of bigint); one "link" entry
 * (ref link:<child>:<parent>) per ancestor that changes.  The caller holds
 * the exclusive graph lock; the plain ancestors' rows are locked here,
 * ascending.  Inside SPI.
 */
static void
link_usage_carry(int64 child_id, int64 parent_id)
{
	Datum		args[2];
	int64	   *above;
	int			nabove;
	char	   *ref = psprintf("link:" INT64_FORMAT ":" INT64_FORMAT, child_id, parent_id);

	above = credit_line_nodes(parent_id, &nabove);
	args[0] = cl_int8_array(above, nabove);
	cl_exec(&lock_plain_plan, args, NULL, 0);
	for (int i = 0; i < nabove; i++)
	{
		int64		fd;
		int64		ud;
		int64		rd;

		args[0] = Int64GetDatum(child_id);
		args[1] = Int64GetDatum(above[i]);
		cl_exec(&carry_plan, args, NULL, 1);
		fd = cl_getint64(0, 1, NULL);
		ud = cl_getint64(0, 2, NULL);
		rd = cl_getint64(0, 3, NULL);
		if (fd != 0 || ud != 0 || rd != 0)
			cl_credit_apply_node(above[i], "link", ref, fd, ud, rd);
	}
}

/*
 * link_credit_line(child, parent, control = 'usage'): usage carries the
 * child's amounts to its new usage ancestors (the 0.2 behaviour,
 * link_usage_carry); grant carves the
 * child's limit from the parent's (LD002 if the granted limits would
 * exceed it) and carries nothing; both does both.  Linking again with the
 * same control is a no-op, with another LD004.  Cycles are refused over
 * every link whatever its control (LD011).
 */
static Datum
link_credit_line_impl(PG_FUNCTION_ARGS)
{
	int64		child_id;
	int64		parent_id;
	char	   *control;
	LineRow		c;
	LineRow		p;
	int64		ids[2];
	Datum		args[3];

	CL_REQUIRE_ARGS("child", "parent", "control");
	child_id = PG_GETARG_INT64(0);
	parent_id = PG_GETARG_INT64(1);
	control = text_to_cstring(PG_GETARG_TEXT_PP(2));
	if (strcmp(control, "usage") != 0 && strcmp(control, "grant") != 0 &&
		strcmp(control, "both") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid link control \"%s\"", control),
				 errdetail("The control of a link is usage, grant or both.")));

	cl_spi_connect();
	cl_credit_graph_lock(true);
	fetch_line(child_id, false, &c);
	fetch_line(parent_id, false, &p);
	if (strcmp(c.currency, p.currency) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_CL_CURRENCY_MISMATCH),
				 errmsg("credit lines " INT64_FORMAT " and " INT64_FORMAT " have different currencies",
						child_id, parent_id),
				 errdetail("Line " INT64_FORMAT " is in %s, line " INT64_FORMAT " in %s.",
						   child_id, c.currency, parent_id, p.currency)));
	args[0] = Int64GetDatum(child_id);
	args[1] = Int64GetDatum(parent_id);
	cl_exec(&link_control_plan, args, NULL, 1);
	if (SPI_processed > 0)
	{
		char	   *existing = text_column(0, 1);

		if (strcmp(existing, control) == 0)
		{
			cl_spi_finish();
			PG_RETURN_VOID();
		}
		ereport(ERROR,
				(errcode(ERRCODE_CL_IDEMPOTENCY_CONFLICT),
				 errmsg("credit line " INT64_FORMAT " is already linked under " INT64_FORMAT
						" with control %s", child_id, parent_id, existing),
				 errdetail("The link was asked for with control %s.", control),
				 errhint("A link's control cannot be changed; repeat the original call exactly.")));
	}
	cl_exec(&cycle_plan, args, NULL, 1);
	if (child_id == parent_id || SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_CL_CREDIT_GRAPH_CYCLE),
				 errmsg("linking credit line " INT64_FORMAT " under " INT64_FORMAT
						" would make the credit graph cyclic", child_id, parent_id),
				 errdetail("Line " INT64_FORMAT " is line " INT64_FORMAT " or one of its descendants.",
						   parent_id, child_id)));
	ids[0] = child_id;
	ids[1] = parent_id;
	lock_lines(ids, 2);
	if (strcmp(control, "usage") != 0)
		check_granted(&p, p.limit_amount, c.limit_amount,
					  psprintf("granting line " INT64_FORMAT " (limit " INT64_FORMAT ")",
							   child_id, c.limit_amount));
	if (strcmp(control, "grant") == 0)
	{
		args[2] = CStringGetTextDatum("grant");
		cl_exec(&link_insert_plan, args, NULL, 0);
	}
	else
	{
		/* usage: the carry of the child's amounts, as in 0.2, and the link */
		link_usage_carry(child_id, parent_id);
		args[2] = CStringGetTextDatum(control);
		cl_exec(&link_insert_plan, args, NULL, 0);
	}
	cl_spi_finish();
	PG_RETURN_VOID();
}

/*
 * temp_from_row: a TempRow from row row of a TEMP_COLUMNS result.
 */
static void
temp_from_row(int row, TempRow *t)
{
	bool		isnull;

	t->id = cl_getint64(row, 1, NULL);
	t->ref = text_column(row, 2);
	t->line_id = cl_getint64(row, 3, NULL);
	t->amount = cl_getint64(row, 4, NULL);
	t->valid_from = DatumGetTimestampTz(cl_getdatum(row, 5, &isnull));
	t->valid_until = DatumGetTimestampTz(cl_getdatum(row, 6, &isnull));
	t->valid_from_given = DatumGetBool(cl_getdatum(row, 7, &isnull));
	t->status = text_column(row, 8);
}

/*
 * temp_start: a scheduled temporary limit starts: added to the line's
 * temporary_limit, journalled (temp_limit), the limit change applied.
 * The caller holds the graph lock and the line's and the row's locks.
 */
static void
temp_start(const TempRow *t)
{
	Datum		args[2] = {Int64GetDatum(t->line_id), Int64GetDatum(t->amount)};

	cl_exec(&temp_add_plan, args, NULL, 0);
	cl_credit_post_line_event(t->line_id, "temp_limit", t->ref);
	args[0] = Int64GetDatum(t->id);
	cl_exec(&temp_started_plan, args, NULL, 0);
	credit_limit_changed(t->line_id, false);
}

/*
 * temp_stop: a temporary limit ends with status final_status (ended,
 * expired): an active one leaves the line's temporary_limit (journal
 * temp_limit_end; a limit decrease), a scheduled one never starts
 * (journal temp_limit_cancel).  Same locks as temp_start.
 */
static void
temp_stop(const TempRow *t, const char *final_status)
{
	Datum		args[2];

	if (strcmp(t->status, "active") == 0)
	{
		args[0] = Int64GetDatum(t->line_id);
		args[1] = Int64GetDatum(-t->amount);
		cl_exec(&temp_add_plan, args, NULL, 0);
		cl_credit_post_line_event(t->line_id, "temp_limit_end", t->ref);
		credit_limit_changed(t->line_id, true);
	}
	else
		cl_credit_post_line_event(t->line_id, "temp_limit_cancel", t->ref);
	args[0] = Int64GetDatum(t->id);
	args[1] = CStringGetTextDatum(final_status);
	cl_exec(&temp_ended_plan, args, NULL, 0);
}

/*
 * set_temporary_limit(line, ref, amount, valid_until, valid_from = now()):
 * a temporary limit (临额); started at once when valid_from has come, else
 * scheduled for credit_apply_temporary_limits.  Idempotent on ref (an
 * omitted valid_from replays as omitted); the window must be non-empty
 * and, for a new ref, not over (22023); the line must exist and not be
 * closed (LD006); its limit plus every scheduled and active temporary
 * limit must stay a bigint (22003), so that a start can never overflow.
 */
static Datum
set_temporary_limit_impl(PG_FUNCTION_ARGS)
{
	int64		line_id;
	char	   *ref;
	int64		amount;
	TimestampTz valid_until;
	TimestampTz valid_from;
	TimestampTz txn_now = GetCurrentTransactionStartTimestamp();
	Datum		args[6];
	LineRow		l;
	TempRow		t;
	int64		total;
	bool		overflow;

	CL_REQUIRE_ARGS("line", "ref", "amount", "valid_until", "valid_from");
	line_id = PG_GETARG_INT64(0);
	ref = cl_voucher_arg(fcinfo, 1, "ref");
	amount = cl_amount_arg(fcinfo, 2, "amount");
	valid_until = PG_GETARG_TIMESTAMPTZ(3);
	valid_from = PG_GETARG_TIMESTAMPTZ(4);
	if (valid_until <= valid_from)
	{
		/* timestamptz_to_str returns a static buffer: copy the first */
		char	   *from = pstrdup(timestamptz_to_str(valid_from));

		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("valid_until must be later than valid_from"),
				 errdetail("valid_from is %s, valid_until %s.",
						   from, timestamptz_to_str(valid_until))));
	}

	cl_spi_connect();
	cl_credit_graph_lock(true);

	/* the reference: a replay returns the first id, whatever happened since */
	args[0] = CStringGetTextDatum(ref);
	cl_exec(&temp_by_ref_plan, args, NULL, 1);
	if (SPI_processed > 0)
	{
		temp_from_row(0, &t);
		if (t.line_id != line_id || t.amount != amount || t.valid_until != valid_until ||
			!(t.valid_from == valid_from || (!t.valid_from_given && valid_from == txn_now)))
			ereport(ERROR,
					(errcode(ERRCODE_CL_IDEMPOTENCY_CONFLICT),
					 errmsg("temporary limit reference \"%s\" was already used with a different payload", ref),
					 errdetail("Reference \"%s\" belongs to temporary limit " INT64_FORMAT
							   " of " INT64_FORMAT " on line " INT64_FORMAT ".",
							   ref, t.id, t.amount, t.line_id),
					 errhint("Use a new reference for a new operation, or repeat the original call exactly.")));
		cl_spi_finish();
		PG_RETURN_INT64(t.id);
	}
	if (valid_until <= txn_now)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("valid_until must be in the future"),
				 errdetail("The value given was %s.", timestamptz_to_str(valid_until))));

	fetch_line(line_id, true, &l);
	if (strcmp(l.status, "closed") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_CL_CREDIT_LINE_UNAVAILABLE),
				 errmsg("credit line " INT64_FORMAT " is unavailable", line_id),
				 errdetail("Line " INT64_FORMAT " (%s) is closed.", line_id, l.code),
				 errhint("A closed line takes no new temporary limit.")));
	args[0] = Int64GetDatum(line_id);
	cl_exec(&temp_pending_plan, args, NULL, 0);
	overflow = pg_add_s64_overflow(l.limit_amount, amount, &total);
	for (uint64 i = 0; i < SPI_processed && !overflow; i++)
		overflow = pg_add_s64_overflow(total, cl_getint64(i, 1, NULL), &total);
	if (overflow)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("temporary limit out of range"),
				 errdetail("Line " INT64_FORMAT "'s limit " INT64_FORMAT
						   " plus its temporary limits would exceed the bigint range.",
						   line_id, l.limit_amount)));

	args[0] = CStringGetTextDatum(ref);
	args[1] = Int64GetDatum(line_id);
	args[2] = Int64GetDatum(amount);
	args[3] = TimestampTzGetDatum(valid_from);
	args[4] = TimestampTzGetDatum(valid_until);
	args[5] = BoolGetDatum(valid_from != txn_now);
	cl_exec(&temp_insert_plan, args, NULL, 1);
	t.id = cl_getint64(0, 1, NULL);
	t.ref = ref;
	t.line_id = line_id;
	t.amount = amount;
	t.valid_from = valid_from;
	t.valid_until = valid_until;
	t.valid_from_given = valid_from != txn_now;
	t.status = "scheduled";
	if (valid_from <= txn_now)
		temp_start(&t);
	cl_spi_finish();
	PG_RETURN_INT64(t.id);
}

/*
 * end_temporary_limit(ref): ends a temporary limit early (a scheduled one
 * never starts); LD006 if unknown; nothing to do once it is over.
 */
static Datum
end_temporary_limit_impl(PG_FUNCTION_ARGS)
{
	char	   *ref;
	Datum		args[1];
	TempRow		t;
	LineRow		l;

	CL_REQUIRE_ARGS("ref");
	ref = cl_voucher_arg(fcinfo, 0, "ref");

	cl_spi_connect();
	cl_credit_graph_lock(true);
	args[0] = CStringGetTextDatum(ref);
	cl_exec(&temp_by_ref_plan, args, NULL, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_CL_CREDIT_LINE_UNAVAILABLE),
				 errmsg("temporary limit \"%s\" does not exist", ref),
				 errhint("set_temporary_limit() creates a temporary limit under this reference.")));
	temp_from_row(0, &t);
	if (strcmp(t.status, "ended") != 0 && strcmp(t.status, "expired") != 0)
	{
		/* the graph lock keeps t as read; lock the line, then the row */
		fetch_line(t.line_id, true, &l);
		args[0] = Int64GetDatum(t.id);
		cl_exec(&temp_lock_plan, args, NULL, 1);
		temp_stop(&t, "ended");
	}
	cl_spi_finish();
	PG_RETURN_VOID();
}

/*
 * fetch_temps: the rows of a TEMP_COLUMNS result, copied out (the next SPI
 * call replaces SPI_tuptable).
 */
static TempRow *
fetch_temps(uint64 *n)
{
	TempRow    *rows;

	*n = SPI_processed;
	rows = palloc(sizeof(TempRow) * (*n + 1));
	for (uint64 i = 0; i < *n; i++)
		temp_from_row(i, &rows[i]);
	return rows;
}

/*
 * cl_credit_apply_due_temporary_limits: ends the active temporary limits
 * whose valid_until has passed (expired), then starts the scheduled ones
 * whose valid_from has come (or expires one whose whole window passed
 * before it could start); returns how many changed.  Inside SPI.  The
 * background worker runs it every creditledger.hold_expiry_interval.
 */
int64
cl_credit_apply_due_temporary_limits(void)
{
	TimestampTz txn_now = GetCurrentTransactionStartTimestamp();
	bool		isnull;
	TempRow    *rows;
	uint64		n;
	int64		done = 0;

	cl_exec(&due_probe_plan, NULL, NULL, 1);
	if (!DatumGetBool(cl_getdatum(0, 1, &isnull)))
		return 0;
	cl_credit_graph_lock(true);
	cl_exec(&due_lines_plan, NULL, NULL, 0);

	/* ends first, so that a line never counts an old and a new one at once */
	cl_exec(&due_ends_plan, NULL, NULL, 0);
	rows = fetch_temps(&n);
	for (uint64 i = 0; i < n; i++)
		temp_stop(&rows[i], "expired");
	done += n;

	cl_exec(&due_starts_plan, NULL, NULL, 0);
	rows = fetch_temps(&n);
	for (uint64 i = 0; i < n; i++)
	{
		if (rows[i].valid_until <= txn_now)
			temp_stop(&rows[i], "expired");		/* its whole window passed */
		else
			temp_start(&rows[i]);
	}
	done += n;
	return done;
}

/*
 * credit_apply_temporary_limits(): the same, called by hand.
 */
static Datum
credit_apply_temporary_limits_impl(PG_FUNCTION_ARGS)
{
	int64		done;

	cl_spi_connect();
	done = cl_credit_apply_due_temporary_limits();
	cl_spi_finish();
	PG_RETURN_INT64(done);
}
