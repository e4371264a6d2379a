/*
 * batch.c: post_batch(items jsonb, atomic boolean): many postings (transfer,
 * entry, reverse, pending, post, void) in one call, with per-item results.
 *
 * The batch engine, in four steps:
 *   1. Parse.  Every item is parsed and its shape checked before anything
 *      is read or locked: an object with a known "op", only the keys of that
 *      op, each of the right JSON type, "linked" a boolean, the last item not
 *      linked.  A shape error becomes the item's result (22023); the values
 *      themselves (NULLs, references, amounts, self-transfers, legs,
 *      metadata, expires_at) are checked by the single call's own code,
 *      so results carry exactly its SQLSTATEs and messages: for transfer
 *      and entry items still before any lock (prepare_items: checked and
 *      payload hashed, an error kept for the item), with their vouchers
 *      looked up (lookup_vouchers) and the accounts this backend has not
 *      seen in mode 'none' read (lock_batch, a hint rechecked under the
 *      lock).  Under the locks only the lock pass, the evaluation and the
 *      writes remain, which keeps the hold (first lock to commit) short.
 *   2. Lock.  Every account the batch can touch is collected: the accounts
 *      of transfer, pending and entry items, the accounts of the originals
 *      that reverse items name and of the pending transfers that post and
 *      void items name (those pending rows are locked here, FOR UPDATE in
 *      pending id order, before any account: locking.c's and holds.c's
 *      order).  Then, in ascending id order, each account's mode lock is
 *      taken (shared) and the row of each account in hot mode 'none' is
 *      locked (FOR NO KEY UPDATE), once, in the batch's top transaction;
 *      so is the row of a buffered account an item may decrease (a
 *      decrease there locks the row).  Hot accounts are otherwise served by
 *      the single calls' hot paths in step 3 (buffered increases lock
 *      nothing, split accounts choose a sub-account with SKIP LOCKED; a
 *      split account that must gather waits for its sub-accounts in the
 *      middle of the batch, the one wait out of order, as for single calls
 *      in one transaction).  So two batches, or a batch and single calls,
 *      wait for each other only in ascending order and never deadlock.
 *   3. Evaluate in memory and write in bulk (transfer and entry items on
 *      accounts in mode 'none': the bulk path).  The arguments of every
 *      transfer and entry item were checked and its payload hashed in
 *      step 1, by the single calls' own code (cl_transfer_prepare,
 *      cl_entry_prepare), an error kept for the item.  Runs of groups
 *      all of whose items qualify (a segment) are evaluated in item order
 *      against the locked accounts' balances kept in memory: the shape or
 *      argument error; the voucher (looked up in step 1; a segment after
 *      single calls ran, or after an undone write, looks its own up again;
 *      one index probe each: a replay returns the first id, another
 *      payload is LD004; a voucher an earlier item of the segment took is
 *      a replay of it, as a sequential call would find it); LD003; then
 *      posting_evaluate (posting.c: blocks, currencies, overflow, floors
 *      against available = balance - held, exactly post_legs' checks and
 *      messages).  A posting that fits moves the working balances, and
 *      the next items see them.  A failed item or linked group is undone
 *      in memory (nothing was written, nothing claimed).  Then the
 *      segment is written: the new ledger_transfers rows in one heap
 *      multi-insert (their unique voucher index is the claim: a voucher
 *      another transaction took meanwhile waits for it, as the single
 *      call's INSERT ... ON CONFLICT does, and when it committed, the
 *      write is undone and the segment evaluated again: now a replay or
 *      LD004), the journal entries chained per account in item and leg
 *      order (CLJ1, version, balances before and after, prev hash: as
 *      journal_append computes them) in another, and each moved account
 *      row ONCE (balance, version, last hash).  Row hashes, NOT NULL
 *      columns, unique and partial indexes are kept exactly as with SQL
 *      (heapwrite.c: direct_multi_insert).
 *      The rest goes through the single calls' implementations
 *      (transfers.c, holds.c, posting.c) called directly, item by item,
 *      as before: reverse, pending, post and void items; items on hot
 *      accounts (buffered increases go to the buffer, split accounts
 *      choose a sub-account with SKIP LOCKED); and a group the evaluation
 *      hands over: a refusal on a chain that holds reservations (post_legs
 *      releases due reservations first, which needs the database), or a
 *      voucher repeated in the batch with another payload (LD004 names the
 *      first item's id, known once it is written).  Before such a group
 *      runs, the segment before it is written; after it, the heads the
 *      bulk path keeps are read again (under the locks it holds).  The
 *      rows locked in step 2 are not locked again, and a row this
 *      transaction wrote is read from its newest version (rowcache.c).
 *   4. Atomicity per group.  In the bulk path a failed group is simply not
 *      written.  For the single calls: an item, or a linked group (items
 *      joined by "linked": true with the next), must succeed or fail as
 *      one.  Runs of groups are attempted together in ONE subtransaction;
 *      when a group fails, the attempt is rolled back and the groups
 *      before it are attempted again (they succeeded already against the
 *      same locked state), then the failing group alone, whose error
 *      becomes its result (its other items: LD014).  With atomic => true
 *      the first failure raises (with the item number in the context) and
 *      the caller's transaction rolls everything back.
 *
 * Subtransactions of the bulk path: the argument checks and the
 * evaluation each run in one that writes nothing (so it gets no
 * transaction id), replaced after each refused item; the write of a
 * segment in one (undone only for a voucher taken concurrently).
 *
 * Only business refusals (classes LD and 22) become item results.  Any
 * other error (cancellation, timeouts, deadlock, serialization failure,
 * out of memory, internal) aborts the whole call: they say nothing about
 * the item and a retry of the batch is the remedy.
 *
 * Privileges: post_batch is SECURITY DEFINER like the single calls and
 * granted to the same roles; what an item can do is exactly what the
 * single call with those arguments can do.  Hostile input: at most
 * CL_MAX_BATCH_ITEMS items; nested values are never walked recursively here
 * (legs and metadata go to the single calls' checks as jsonb); a wrong JSON
 * type is 22023 naming the key.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "mb/pg_wchar.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "errcodes.h"
#include "chain.h"
#include "holds.h"
#include "lending.h"
#include "locking.h"
#include "opstats.h"
#include "posting.h"
#include "spi_plans.h"
#include "transfers.h"
#include "validate.h"

/* Most items one post_batch call takes. */
#define CL_MAX_BATCH_ITEMS 10000

CL_TRACKED_FUNCTION(cl_post_batch, CL_OP_POST_BATCH, post_batch_impl)

#define MAX_ITEM_ARGS 7

typedef enum ArgType
{
	ARG_TEXT,
	ARG_INT8,
	ARG_JSONB,
	ARG_TIME,					/* a string, converted when the item runs */
	ARG_BOOL
} ArgType;

/* One argument of an item's call: its key (and another accepted name). */
typedef struct ArgSpec
{
	const char *key;
	const char *alias;
	ArgType		type;
} ArgSpec;

typedef enum BatchOp
{
	OP_TRANSFER, OP_ENTRY, OP_REVERSE, OP_PENDING, OP_POST, OP_VOID
} BatchOp;

/* An item kind: the single call it runs and that call's arguments. */
typedef struct OpSpec
{
	const char *name;
	PGFunction	impl;
	int			nargs;
	ArgSpec		args[MAX_ITEM_ARGS];
} OpSpec;

/* In BatchOp order. */
static const OpSpec op_specs[] = {
	{"transfer", cl_transfer_impl, 6,
		{{"voucher", NULL, ARG_TEXT}, {"debit", "debit_account", ARG_INT8},
		 {"credit", "credit_account", ARG_INT8}, {"amount", NULL, ARG_INT8},
		 {"memo", NULL, ARG_TEXT}, {"metadata", NULL, ARG_JSONB}}},
	{"entry", cl_post_entry_impl, 4,
		{{"voucher", NULL, ARG_TEXT}, {"legs", NULL, ARG_JSONB},
		 {"memo", NULL, ARG_TEXT}, {"metadata", NULL, ARG_JSONB}}},
	{"reverse", cl_reverse_impl, 3,
		{{"voucher", NULL, ARG_TEXT}, {"reversal_voucher", NULL, ARG_TEXT},
		 {"reason", NULL, ARG_TEXT}}},
	{"pending", cl_transfer_pending_impl, 7,
		{{"voucher", NULL, ARG_TEXT}, {"debit", "debit_account", ARG_INT8},
		 {"credit", "credit_account", ARG_INT8}, {"amount", NULL, ARG_INT8},
		 {"expires_at", NULL, ARG_TIME}, {"memo", NULL, ARG_TEXT},
		 {"metadata", NULL, ARG_JSONB}}},
	{"post", cl_transfer_post_impl, 4,
		{{"voucher", NULL, ARG_TEXT}, {"pending_voucher", NULL, ARG_TEXT},
		 {"amount", NULL, ARG_INT8}, {"final", NULL, ARG_BOOL}}},
	{"void", cl_transfer_void_impl, 2,
		{{"voucher", NULL, ARG_TEXT}, {"pending_voucher", NULL, ARG_TEXT}}},
};

/* One item: its parsed call, or why it cannot run; then its result. */
typedef struct BatchItem
{
	int			op;				/* BatchOp, -1 when unknown */
	bool		linked;			/* joined with the next item */
	Datum		values[MAX_ITEM_ARGS];
	bool		nulls[MAX_ITEM_ARGS];
	int			parse_code;		/* 0, or the SQLSTATE of a shape error */
	char	   *parse_msg;
	/* the bulk path (transfer and entry items) */
	PreparedPosting *prep;		/* checked arguments, or NULL */
	ErrorData  *prep_error;		/* what checking them raised, or NULL */
	bool		eligible;		/* can be evaluated in memory */
	int		   *acc;			/* its distinct accounts (indexes into the
								 * batch's accounts, ascending ids) */
	int			nacc;
	int			eval;			/* EV_* */
	int			replay_of;		/* EV_REPLAY_ITEM: that earlier item */
	/* result */
	int64		id;
	int			code;			/* 0: success */
	char	   *msg;
} BatchItem;

/* What the in-memory evaluation made of an item. */
enum
{
	EV_NONE,					/* not evaluated (or failed: code set) */
	EV_NEW,						/* a new posting, written with its segment */
	EV_REPLAY,					/* a replay of a posting already written: id */
	EV_REPLAY_ITEM				/* a replay of an earlier item of its segment */
};

/*
 * An account of the batch, as the bulk path keeps it: found and open, in
 * mode 'none' with its row locked (bulk), its attributes and main chain
 * head as last read or written (valid while gen is the batch's), and the
 * working balance and held of the evaluation.
 */
typedef struct BulkAccount
{
	int64		id;
	int			sides;			/* USE_* */
	bool		exists;
	bool		bulk;
	AccountInfo info;
	ChainHead	head;
	uint32		gen;
	int64		balance;
	int64		held;
	uint32		written;		/* the last write_rows call that wrote it */
	int64		receivable_line;	/* the line whose receivable it is, or 0
									 * (BatchState.receivables_known) */
} BulkAccount;

/* A linked group: items first..last. */
typedef struct BatchGroup
{
	int			first;
	int			last;
	bool		parse_failed;	/* an item of it has a shape error */
	bool		bulk;			/* every item of it eligible for the bulk path */
} BatchGroup;

/* The pending transfers that post and void items name, locked first. */
static ClPlan lock_pendings_plan = {
	"SELECT debit_account, credit_account FROM creditledger.ledger_pending_transfers"
	" WHERE voucher OPERATOR(pg_catalog.=) ANY ($1)"
	" ORDER BY pending_id FOR UPDATE",
	1, {TEXTARRAYOID}
};

/* The accounts of the transfers that reverse items name (posted or buffered legs). */
static ClPlan reversed_accounts_plan = {
	"SELECT j.account_id FROM creditledger.ledger_transfers t"
	"  JOIN creditledger.journal_entries j"
	"    ON j.transfer_id OPERATOR(pg_catalog.=) t.transfer_id"
	" WHERE t.voucher OPERATOR(pg_catalog.=) ANY ($1)"
	" UNION"
	" SELECT b.account_id FROM creditledger.ledger_transfers t"
	"  JOIN creditledger.posting_buffer b"
	"    ON b.transfer_id OPERATOR(pg_catalog.=) t.transfer_id"
	" WHERE t.voucher OPERATOR(pg_catalog.=) ANY ($1)",
	1, {TEXTARRAYOID}
};

/* The item being parsed or run (1-based; 0: none), for the error context. */
typedef struct BatchContext
{
	int			item;
} BatchContext;

/*
 * batch_error_context: "post_batch item N" in the context of any error
 * raised while item N is parsed or runs.
 */
static void
batch_error_context(void *arg)
{
	BatchContext *bc = (BatchContext *) arg;

	if (bc->item > 0)
		errcontext("post_batch item %d", bc->item);
}

static void item_error(BatchItem *it, const char *fmt,...) pg_attribute_printf(2, 3);

/*
 * item_error: record a shape error for an item (the first one wins).
 */
static void
item_error(BatchItem *it, const char *fmt,...)
{
	va_list		ap;
	StringInfoData buf;

	if (it->parse_code != 0)
		return;
	initStringInfo(&buf);
	for (;;)
	{
		int			needed;

		va_start(ap, fmt);
		needed = appendStringInfoVA(&buf, fmt, ap);
		va_end(ap);
		if (needed == 0)
			break;
		enlargeStringInfo(&buf, needed);
	}
	it->parse_code = ERRCODE_INVALID_PARAMETER_VALUE;
	it->parse_msg = buf.data;
}

/*
 * jsonb_int64: a jsonb number that is integral and in bigint range (5, 5.0
 * and 5e0 are all 5), without raising; false for anything else.
 */
static bool
jsonb_int64(const JsonbValue *v, int64 *out)
{
	Datum		n,
				truncated;
	char	   *digits;
	char	   *end;

	if (v->type != jbvNumeric)
		return false;
	n = NumericGetDatum(v->val.numeric);
	truncated = DirectFunctionCall2(numeric_trunc, n, Int32GetDatum(0));
	if (!DatumGetBool(DirectFunctionCall2(numeric_eq, n, truncated)))
		return false;
	digits = DatumGetCString(DirectFunctionCall1(numeric_out, truncated));
	errno = 0;
	*out = strtoi64(digits, &end, 10);
	return *digits != '\0' && *end == '\0' && errno == 0;
}

/*
 * find_key: the value of key in an object container, or NULL.
 */
static JsonbValue *
find_key(JsonbContainer *obj, const char *key)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	return findJsonbValueFromContainer(obj, JB_FOBJECT, &k);
}

/*
 * json_type_name: how a JSON value's type is called in messages.
 */
static const char *
json_type_name(const JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			return "null";
		case jbvString:
			return "a string";
		case jbvNumeric:
			return "a number";
		case jbvBool:
			return "a boolean";
		case jbvBinary:
			return JsonContainerIsArray(v->val.binary.data) ? "an array" : "an object";
		default:
			return "a JSON value";
	}
}

/*
 * set_arg: convert the JSON value of argument a of an item to its SQL
 * type (JSON null: SQL NULL, which the single call refuses where it
 * refuses NULL); a wrong JSON type is a shape error naming the key.
 */
static void
set_arg(BatchItem *it, int a, const ArgSpec *spec, const char *key, JsonbValue *v)
{
	it->nulls[a] = false;
	if (v->type == jbvNull)
	{
		it->nulls[a] = true;
		return;
	}
	switch (spec->type)
	{
		case ARG_TEXT:
		case ARG_TIME:
			if (v->type != jbvString)
			{
				item_error(it, "\"%s\" must be a string, not %s", key, json_type_name(v));
				return;
			}
			if (spec->type == ARG_TEXT)
				it->values[a] = PointerGetDatum(cstring_to_text_with_len(v->val.string.val,
																		 v->val.string.len));
			else
				it->values[a] = CStringGetDatum(pnstrdup(v->val.string.val, v->val.string.len));
			return;
		case ARG_INT8:
			{
				int64		n;

				if (!jsonb_int64(v, &n))
				{
					item_error(it, "\"%s\" must be an integer in the range of bigint, not %s",
							   key, v->type == jbvNumeric ? "a fraction or a larger number" :
							   json_type_name(v));
					return;
				}
				it->values[a] = Int64GetDatum(n);
				return;
			}
		case ARG_JSONB:
			it->values[a] = JsonbPGetDatum(JsonbValueToJsonb(v));
			return;
		case ARG_BOOL:
			if (v->type != jbvBool)
			{
				item_error(it, "\"%s\" must be true or false, not %s", key, json_type_name(v));
				return;
			}
			it->values[a] = BoolGetDatum(v->val.boolean);
			return;
	}
}

/*
 * parse_item: the call an item (a JSON value) asks for, or its shape error.
 */
static void
parse_item(BatchItem *it, JsonbValue *elem)
{
	JsonbContainer *obj;
	JsonbValue *v;
	const OpSpec *spec = NULL;
	JsonbIterator *iter;
	JsonbValue	k,
				val;
	JsonbIteratorToken tok;
	char	   *opname;

	it->op = -1;
	for (int a = 0; a < MAX_ITEM_ARGS; a++)
		it->nulls[a] = true;
	if (elem->type != jbvBinary || !JsonContainerIsObject(elem->val.binary.data))
	{
		item_error(it, "an item must be a JSON object, not %s", json_type_name(elem));
		return;
	}
	obj = elem->val.binary.data;

	/* "linked" first: the groups must be known even for a malformed item */
	v = find_key(obj, "linked");
	if (v != NULL && v->type == jbvBool)
		it->linked = v->val.boolean;
	else if (v != NULL && v->type != jbvNull)
		item_error(it, "\"linked\" must be true or false, not %s", json_type_name(v));

	v = find_key(obj, "op");
	if (v == NULL || v->type != jbvString)
	{
		item_error(it, "an item needs \"op\": one of \"transfer\", \"entry\", \"reverse\", "
				   "\"pending\", \"post\", \"void\"");
		return;
	}
	opname = pnstrdup(v->val.string.val, v->val.string.len);
	for (int o = 0; o < (int) lengthof(op_specs); o++)
		if (strcmp(opname, op_specs[o].name) == 0)
		{
			it->op = o;
			spec = &op_specs[o];
		}
	if (spec == NULL)
	{
		item_error(it, "unknown op \"%s\"", opname);
		return;
	}
	if (it->op == OP_POST)
	{
		/* final defaults to true, as in transfer_post */
		it->values[3] = BoolGetDatum(true);
		it->nulls[3] = false;
	}

	iter = JsonbIteratorInit(obj);
	while ((tok = JsonbIteratorNext(&iter, &k, true)) != WJB_DONE)
	{
		char	   *key;
		int			a;
		const char *other = NULL;

		if (tok != WJB_KEY)
			continue;
		key = pnstrdup(k.val.string.val, k.val.string.len);
		tok = JsonbIteratorNext(&iter, &val, true);
		Assert(tok == WJB_VALUE);
		if (strcmp(key, "op") == 0 || strcmp(key, "linked") == 0)
			continue;
		for (a = 0; a < spec->nargs; a++)
		{
			if (strcmp(key, spec->args[a].key) == 0)
			{
				other = spec->args[a].alias;
				break;
			}
			if (spec->args[a].alias && strcmp(key, spec->args[a].alias) == 0)
			{
				other = spec->args[a].key;
				break;
			}
		}
		if (a == spec->nargs)
		{
			item_error(it, "unexpected key \"%s\" in a \"%s\" item", key, spec->name);
			continue;
		}
		if (other != NULL && find_key(obj, other) != NULL)
		{
			item_error(it, "\"%s\" and \"%s\" name the same argument; give one", key, other);
			continue;
		}
		set_arg(it, a, &spec->args[a], key, &val);
	}
}

/*
 * build_call: an item's arguments as its single call's (timestamps
 * converted now).
 */
static void
build_call(BatchItem *it, FunctionCallInfo fc)
{
	const OpSpec *spec = &op_specs[it->op];

	InitFunctionCallInfoData(*fc, NULL, spec->nargs, InvalidOid, NULL, NULL);
	for (int a = 0; a < spec->nargs; a++)
	{
		fc->args[a].value = it->values[a];
		fc->args[a].isnull = it->nulls[a];
		if (spec->args[a].type == ARG_TIME && !it->nulls[a])
			fc->args[a].value = DirectFunctionCall3(timestamptz_in, it->values[a],
													ObjectIdGetDatum(InvalidOid),
													Int32GetDatum(-1));
	}
}

/*
 * raise_parse_error: raise an item's shape error.
 */
static void
raise_parse_error(BatchItem *it)
{
	ereport(ERROR,
			(errcode(it->parse_code),
			 errmsg_internal("%s", it->parse_msg)));
}

/*
 * run_item: run an item's call through the single call's implementation;
 * returns its id.  Raises what that call raises.
 */
static int64
run_item(BatchItem *it)
{
	LOCAL_FCINFO(fc, MAX_ITEM_ARGS);
	Datum		result;

	if (it->parse_code != 0)
		raise_parse_error(it);
	build_call(it, fc);
	result = op_specs[it->op].impl(fc);
	return DatumGetInt64(result);
}

/* How a batch may touch an account: legs on these sides (bits). */
#define USE_DEBIT	1
#define USE_CREDIT	2
#define USE_UNKNOWN	4			/* reverse, post, void: not known before they run */

typedef struct AccountUse
{
	int64		id;
	int			sides;
} AccountUse;

/*
 * add_use: record that the batch may touch account id on sides (USE_*).
 */
static void
add_use(AccountUse **uses, int *n, int *cap, int64 id, int sides)
{
	if (id <= 0)
		return;
	if (*n == *cap)
	{
		*cap *= 2;
		*uses = repalloc_huge(*uses, sizeof(AccountUse) * *cap);
	}
	(*uses)[*n].id = id;
	(*uses)[*n].sides = sides;
	(*n)++;
}

/*
 * use_cmp: AccountUse by id, for qsort.
 */
static int
use_cmp(const void *a, const void *b)
{
	int64		x = ((const AccountUse *) a)->id;
	int64		y = ((const AccountUse *) b)->id;

	return x < y ? -1 : x > y ? 1 : 0;
}

/*
 * merge_uses: sort uses by id and merge each account's into one entry;
 * returns the number of accounts.
 */
static int
merge_uses(AccountUse *uses, int n)
{
	int			m = 0;

	if (n == 0)
		return 0;
	qsort(uses, n, sizeof(AccountUse), use_cmp);
	for (int i = 1; i < n; i++)
	{
		if (uses[i].id == uses[m].id)
			uses[m].sides |= uses[i].sides;
		else
			uses[++m] = uses[i];
	}
	return m + 1;
}

/*
 * text_array: a text[] datum of n C strings.
 */
static Datum
text_array(char **s, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		d[i] = CStringGetTextDatum(s[i]);
	return PointerGetDatum(construct_array(d, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/*
 * lock_batch: step 2 of the file header: lock the pending transfers that
 * post and void items name, then every account of the batch once, in
 * ascending id order (mode lock; row lock for accounts in mode 'none').
 * Unknown accounts are left to the items (LD003).  Returns the accounts
 * (ascending ids) in *accs_out, as the bulk path keeps them.
 */
static int
lock_batch(BatchItem *items, int n, BulkAccount **accs_out, TimestampTz *locked_at)
{
	BulkAccount *accs;
	int			cap = 64,
				nids = 0;
	AccountUse *ids = palloc(sizeof(AccountUse) * cap);
	char	  **reversed = palloc(sizeof(char *) * n);
	char	  **pendings = palloc(sizeof(char *) * n);
	int			nreversed = 0,
				npendings = 0;
	LockContext lc;

	for (int i = 0; i < n; i++)
	{
		BatchItem  *it = &items[i];

		if (it->parse_code != 0)
			continue;
		switch ((BatchOp) it->op)
		{
			case OP_TRANSFER:
			case OP_ENTRY:
				/* checked already (prepare_items): the legs' accounts */
				if (it->prep != NULL)
					for (int l = 0; l < it->prep->nlegs; l++)
						add_use(&ids, &nids, &cap, it->prep->legs[l].account_id,
								it->prep->legs[l].side == 'D' ? USE_DEBIT : USE_CREDIT);
				break;
			case OP_PENDING:
				if (!it->nulls[1])
					add_use(&ids, &nids, &cap, DatumGetInt64(it->values[1]), USE_DEBIT);
				if (!it->nulls[2])
					add_use(&ids, &nids, &cap, DatumGetInt64(it->values[2]), USE_CREDIT);
				break;
			case OP_REVERSE:
				if (!it->nulls[0])
					reversed[nreversed++] = TextDatumGetCString(it->values[0]);
				break;
			case OP_POST:
			case OP_VOID:
				if (!it->nulls[1])
					pendings[npendings++] = TextDatumGetCString(it->values[1]);
				break;
		}
	}

	/*
	 * Still before any lock: read the accounts this backend has not seen in
	 * mode 'none' (a hint, rechecked under the locks), so that the locked
	 * pass below reads nothing it could have read before.
	 */
	nids = merge_uses(ids, nids);
	lock_context_open(&lc);
	for (int i = 0; i < nids; i++)
	{
		AccountInfo info;

		CHECK_FOR_INTERRUPTS();
		if (!cl_known_none(ids[i].id) && cl_read_account(&lc, ids[i].id, &info))
			cl_note_none(ids[i].id, info.hot_mode == HOT_NONE);
	}
	lock_context_close(&lc);

	*locked_at = GetCurrentTimestamp();
	if (nreversed > 0 || npendings > 0)
	{
		cl_spi_connect();
		if (npendings > 0)
		{
			Datum		v[1] = {text_array(pendings, npendings)};
			int64	   *transit;
			int			ntransit;

			/* disbursements in transit: credit graph lock, rows, lines (lending.c) */
			ntransit = cl_lending_batch_begin(pendings, npendings, &transit);
			cl_exec(&lock_pendings_plan, v, NULL, 0);
			for (uint64 r = 0; r < SPI_processed; r++)
			{
				add_use(&ids, &nids, &cap, cl_getint64(r, 1, NULL), USE_UNKNOWN);
				add_use(&ids, &nids, &cap, cl_getint64(r, 2, NULL), USE_UNKNOWN);
			}
			if (ntransit > 0)
				cl_lending_batch_lock(transit, ntransit);
		}
		if (nreversed > 0)
		{
			Datum		v[1] = {text_array(reversed, nreversed)};

			cl_exec_readonly(&reversed_accounts_plan, v, NULL, 0);
			for (uint64 r = 0; r < SPI_processed; r++)
				add_use(&ids, &nids, &cap, cl_getint64(r, 1, NULL), USE_UNKNOWN);
		}
		cl_spi_finish();
	}

	nids = merge_uses(ids, nids);
	accs = palloc0(sizeof(BulkAccount) * Max(nids, 1));
	lock_context_open(&lc);
	for (int i = 0; i < nids; i++)
	{
		AccountInfo info;
		ChainHead	head;
		bool		lock_row;

		CHECK_FOR_INTERRUPTS();
		accs[i].id = ids[i].id;
		accs[i].sides = ids[i].sides;
		cl_mode_lock(ids[i].id, false);

		/*
		 * An account this backend saw in mode 'none' is locked straight
		 * away, which reads it too (posting.c's hint: a stale one, after a
		 * conversion, locks a hot account's row once more than needed).
		 */
		if (cl_known_none(ids[i].id) &&
			cl_lock_main(&lc, ids[i].id, LockWaitBlock, LockTupleNoKeyExclusive,
						 &info, &head) == LOCK_OK)
		{
			accs[i].exists = true;
			accs[i].info = info;
			cl_note_none(ids[i].id, info.hot_mode == HOT_NONE);
			if (info.open && info.hot_mode == HOT_NONE)
			{
				accs[i].head = head;
				accs[i].bulk = true;
				accs[i].gen = 1;
			}
			continue;
		}
		if (!cl_read_account(&lc, ids[i].id, &info))
			continue;
		accs[i].exists = true;
		accs[i].info = info;
		cl_note_none(ids[i].id, info.hot_mode == HOT_NONE);
		if (!info.open)
			continue;

		/*
		 * The row of an account in mode 'none'; of a buffered one (not
		 * split) too when an item may decrease it, since a decrease, a
		 * reservation or a post there locks that row (posting.c): taken
		 * here, in order, it is never waited for in the middle of the
		 * batch.  Buffered increases alone lock nothing, split accounts
		 * lock sub-accounts (SKIP LOCKED first).
		 */
		lock_row = info.hot_mode == HOT_NONE;
		if (info.hot_mode == HOT_BUFFERED)
			lock_row = (ids[i].sides & USE_UNKNOWN) ||
				(ids[i].sides & (info.normal_credit ? USE_DEBIT : USE_CREDIT));
		if (lock_row &&
			cl_lock_main(&lc, ids[i].id, LockWaitBlock, LockTupleNoKeyExclusive,
						 &info, &head) == LOCK_OK)
		{
			accs[i].info = info;
			accs[i].head = head;
			accs[i].bulk = info.hot_mode == HOT_NONE;
			accs[i].gen = 1;
		}
	}
	lock_context_close(&lc);
	*accs_out = accs;
	return nids;
}

/*
 * is_item_error: whether an error is a business refusal that becomes the
 * item's result (classes LD and 22) rather than failing the whole call.
 */
static bool
is_item_error(int sqlerrcode)
{
	const char *s = unpack_sql_state(sqlerrcode);

	return (s[0] == 'L' && s[1] == 'D') || (s[0] == '2' && s[1] == '2');
}

/*
 * fail_group: the results of a group that failed at item failed (0-based)
 * with code and msg: that item carries them, the others LD014.
 */
static void
fail_group(BatchItem *items, const BatchGroup *g, int failed, int code, const char *msg)
{
	for (int i = g->first; i <= g->last; i++)
	{
		items[i].id = 0;
		if (i == failed)
		{
			items[i].code = code;
			items[i].msg = pstrdup(msg ? msg : "");
		}
		else
		{
			items[i].code = ERRCODE_CL_LINKED_ITEM_FAILED;
			items[i].msg = psprintf("item %d of the linked group failed", failed + 1);
		}
	}
}

/*
 * attempt: run groups from..to-1 in one subtransaction.  Returns -1 when
 * all succeeded (their ids recorded, the subtransaction kept); else rolls
 * the subtransaction back and returns the failing group, with the failing
 * item and its error in *failed_item / *edata_out.  Errors that are not
 * business refusals are raised again.
 */
static int
attempt(BatchItem *items, BatchGroup *groups, int from, int to, BatchContext *bc,
		MemoryContext batch_cxt, MemoryContext item_cxt, int *failed_item,
		ErrorData **edata_out)
{
	ResourceOwner oldowner = CurrentResourceOwner;
	volatile int g = from;
	volatile int i = groups[from].first;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(batch_cxt);
	PG_TRY();
	{
		for (g = from; g < to; g++)
		{
			for (i = groups[g].first; i <= groups[g].last; i++)
			{
				int64		id;

				bc->item = i + 1;
				MemoryContextSwitchTo(item_cxt);
				id = run_item(&items[i]);
				MemoryContextSwitchTo(batch_cxt);
				MemoryContextReset(item_cxt);
				items[i].id = id;
				items[i].code = 0;
				items[i].msg = NULL;
			}
		}
		bc->item = 0;
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(batch_cxt);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(batch_cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(batch_cxt);
		CurrentResourceOwner = oldowner;
		MemoryContextReset(item_cxt);
		bc->item = 0;
		if (!is_item_error(edata->sqlerrcode))
			ReThrowError(edata);
		*failed_item = i;
		*edata_out = edata;
		return g;
	}
	PG_END_TRY();
	return -1;
}

/*
 * run_batch: step 4 of the file header, without atomic, for groups
 * from..to-1 through the single calls.
 */
static void
run_batch(BatchItem *items, BatchGroup *groups, int from, int ngroups, BatchContext *bc,
		  MemoryContext batch_cxt, MemoryContext item_cxt)
{
	int			pos = from;
	int			limit = ngroups;

	while (pos < ngroups)
	{
		int			end;
		int			failed_group;
		int			failed_item = 0;
		ErrorData  *edata = NULL;

		CHECK_FOR_INTERRUPTS();
		if (groups[pos].parse_failed)
		{
			/* resolved without running anything: the first malformed item */
			for (int i = groups[pos].first; i <= groups[pos].last; i++)
				if (items[i].parse_code != 0)
				{
					fail_group(items, &groups[pos], i, items[i].parse_code, items[i].parse_msg);
					break;
				}
			pos++;
			continue;
		}
		end = pos;
		while (end < limit && !groups[end].parse_failed)
			end++;
		failed_group = attempt(items, groups, pos, end, bc, batch_cxt, item_cxt,
							   &failed_item, &edata);
		if (failed_group < 0)
		{
			pos = end;
			limit = ngroups;
		}
		else if (failed_group == pos)
		{
			fail_group(items, &groups[pos], failed_item, edata->sqlerrcode, edata->message);
			FreeErrorData(edata);
			pos++;
			limit = ngroups;
		}
		else
		{
			/* run the groups before it again, then it alone */
			FreeErrorData(edata);
			limit = failed_group;
		}
	}
}

/*
 * run_atomic: items from..n-1 through the single calls, in the caller's
 * transaction; the first failure raises.
 */
static void
run_atomic(BatchItem *items, int from, int n, BatchContext *bc, MemoryContext batch_cxt,
		   MemoryContext item_cxt)
{
	for (int i = from; i < n; i++)
	{
		int64		id;

		CHECK_FOR_INTERRUPTS();
		bc->item = i + 1;
		MemoryContextSwitchTo(item_cxt);
		id = run_item(&items[i]);
		MemoryContextSwitchTo(batch_cxt);
		MemoryContextReset(item_cxt);
		items[i].id = id;
	}
	bc->item = 0;
}

/* The state of one post_batch call. */
typedef struct BatchState
{
	BatchItem  *items;
	int			n;
	BatchGroup *groups;
	int			ngroups;
	BulkAccount *accs;			/* ascending ids */
	int			naccs;
	bool		receivables_known;	/* accs' receivable_line looked up */
	uint32		gen;			/* heads read under an older one are stale */
	uint32		writes;			/* write_rows calls so far */
	bool		atomic;
	BatchContext *bc;
	MemoryContext batch_cxt;
	MemoryContext item_cxt;
	/* the vouchers looked up before the locks (lookup_vouchers) */
	FoundVoucher *found;
	int			nfound;
	bool		found_valid;	/* nothing of the batch ran or retried since */
} BatchState;

/* Longest voucher in bytes, and its terminator. */
#define VOUCHER_KEY_LEN (CL_MAX_REFERENCE_CHARS * MAX_MULTIBYTE_CHAR_LEN + 1)

/*
 * A voucher known to the evaluation of a segment: held by a row of
 * ledger_transfers (item -1: id, kind, hash) or by a new posting of an
 * earlier item of the segment.
 */
typedef struct VoucherEntry
{
	char		voucher[VOUCHER_KEY_LEN];
	int			item;
	int64		id;
	char	   *kind;
	uint8		hash[CL_HASH_LEN];
} VoucherEntry;

/* Outcomes of evaluating one item in memory. */
typedef enum EvalResult
{
	EVAL_OK,
	EVAL_FAILED,				/* a business refusal: the item's result */
	EVAL_SLOW					/* its group must run through the single calls */
} EvalResult;

/* What a group's evaluation changed, so that a failed group is undone. */
typedef struct EvalUndo
{
	int		   *acc;			/* account index whose balance changed */
	int64	   *balance;		/* its balance before */
	int			n;
	int			cap;
	int		   *added;			/* items whose voucher entered the table */
	int			nadded;
} EvalUndo;

/*
 * find_account: the index of account id among the batch's accounts, or -1.
 */
static int
find_account(const BatchState *bs, int64 id)
{
	int			lo = 0,
				hi = bs->naccs - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;

		if (bs->accs[mid].id == id)
			return mid;
		if (bs->accs[mid].id < id)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

/*
 * prepare_items: check the arguments of every transfer and entry item and
 * hash its payload, as its single call does first (cl_transfer_prepare,
 * cl_entry_prepare); what that raises is kept as the item's error, to be
 * raised when the evaluation reaches the item.  One subtransaction (which
 * writes nothing, so gets no transaction id) for all of them, and one
 * more after each item that fails.
 */
static void
prepare_items(BatchState *bs)
{
	ResourceOwner oldowner = CurrentResourceOwner;
	volatile int i = 0;

	while (i < bs->n)
	{
		BeginInternalSubTransaction(NULL);
		MemoryContextSwitchTo(bs->batch_cxt);
		PG_TRY();
		{
			for (; i < bs->n; i++)
			{
				BatchItem  *it = &bs->items[i];
				LOCAL_FCINFO(fc, MAX_ITEM_ARGS);
				PreparedPosting *pp;

				if (it->parse_code != 0 || (it->op != OP_TRANSFER && it->op != OP_ENTRY))
					continue;
				CHECK_FOR_INTERRUPTS();
				bs->bc->item = i + 1;
				build_call(it, fc);
				pp = palloc0(sizeof(PreparedPosting));
				if (it->op == OP_TRANSFER)
					cl_transfer_prepare(fc, pp);
				else
					cl_entry_prepare(fc, pp);
				it->prep = pp;
			}
			bs->bc->item = 0;
			ReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(bs->batch_cxt);
			CurrentResourceOwner = oldowner;
		}
		PG_CATCH();
		{
			ErrorData  *edata;

			MemoryContextSwitchTo(bs->batch_cxt);
			edata = CopyErrorData();
			FlushErrorState();
			RollbackAndReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(bs->batch_cxt);
			CurrentResourceOwner = oldowner;
			bs->bc->item = 0;
			if (!is_item_error(edata->sqlerrcode))
				ReThrowError(edata);
			bs->items[i].prep_error = edata;
			i++;
		}
		PG_END_TRY();
	}
}

/*
 * lookup_vouchers: look up, before any lock, the vouchers of the items
 * prepare_items checked, one index probe each.  The first segment the bulk
 * path evaluates uses what was found, unless something of the batch ran
 * before it (a group through the single calls, or a write undone for a
 * voucher taken concurrently): then it looks its vouchers up again.  A
 * voucher found is a committed (or this transaction's) row and stays one;
 * one taken after the lookup is found by the write's unique check, as
 * when the lookup is made under the locks (write_segment).
 */
static void
lookup_vouchers(BatchState *bs)
{
	char	  **vouchers = palloc(sizeof(char *) * bs->n);
	int			nv = 0;

	for (int i = 0; i < bs->n; i++)
		if (bs->items[i].prep != NULL)
			vouchers[nv++] = bs->items[i].prep->voucher;
	bs->nfound = nv > 0 ? cl_find_transfer_vouchers(vouchers, nv, &bs->found) : 0;
	bs->found_valid = true;
	pfree(vouchers);
}

/*
 * classify_items: which items the bulk path evaluates in memory: a
 * transfer or entry item all of whose accounts are in mode 'none' (locked
 * by lock_batch), unknown or closed (LD003, found in memory); and any item
 * whose shape or arguments are wrong (its error is known).  Items of the
 * other kinds, and those touching a hot account, run through the single
 * calls.  A group is bulk when all its items are.
 */
static void
classify_items(BatchState *bs)
{
	for (int i = 0; i < bs->n; i++)
	{
		BatchItem  *it = &bs->items[i];
		int64	   *ids;
		bool		ok = true;

		it->eligible = it->parse_code != 0 || it->prep_error != NULL;
		if (it->eligible || it->prep == NULL)
			continue;
		ids = palloc(sizeof(int64) * it->prep->nlegs);
		for (int l = 0; l < it->prep->nlegs; l++)
			ids[l] = it->prep->legs[l].account_id;
		it->nacc = cl_sort_unique_ids(ids, it->prep->nlegs);
		it->acc = palloc(sizeof(int) * it->nacc);
		for (int k = 0; k < it->nacc && ok; k++)
		{
			int			a = find_account(bs, ids[k]);

			if (a < 0)
				ok = false;
			else
			{
				BulkAccount *b = &bs->accs[a];

				it->acc[k] = a;
				if (b->exists && b->info.open && !b->bulk)
					ok = false;
			}
		}
		pfree(ids);
		it->eligible = ok;
	}
	for (int g = 0; g < bs->ngroups; g++)
	{
		bs->groups[g].bulk = true;
		for (int i = bs->groups[g].first; i <= bs->groups[g].last; i++)
			bs->groups[g].bulk &= bs->items[i].eligible;
	}
}

/*
 * refresh_heads: read again, under the row lock this transaction holds,
 * the heads of the accounts items first..last use that are stale (items
 * of other kinds ran since they were read and may have moved them).
 */
static void
refresh_heads(BatchState *bs, int first, int last)
{
	LockContext lc;
	bool		opened = false;

	for (int i = first; i <= last; i++)
	{
		BatchItem  *it = &bs->items[i];

		if (it->prep == NULL || !it->eligible)
			continue;
		for (int k = 0; k < it->nacc; k++)
		{
			BulkAccount *b = &bs->accs[it->acc[k]];

			if (!b->bulk || b->gen == bs->gen)
				continue;
			if (!opened)
				lock_context_open(&lc);
			opened = true;
			if (cl_lock_main(&lc, b->id, LockWaitBlock, LockTupleNoKeyExclusive,
							 &b->info, &b->head) != LOCK_OK)
				elog(ERROR, "creditledger: account " INT64_FORMAT " vanished", b->id);
			b->gen = bs->gen;
		}
	}
	if (opened)
		lock_context_close(&lc);
}

/*
 * eval_item: evaluate item i in memory, as its single call would run
 * against the balances the items before it left: its shape or argument
 * error; its voucher (a replay of a posting already written, or of an
 * earlier item of the segment; LD004 for another payload); a receivable
 * account (22023, as transfer() and post_entry() refuse it); its accounts
 * (LD003 in ascending id order); then posting_evaluate's checks (LD012,
 * LD009/LD010, 22003, LD001).  A new posting moves the working balances
 * (recorded in u) and takes its voucher.  Raises the item's error.
 */
static EvalResult
eval_item(BatchState *bs, int i, HTAB *vtab, EvalUndo *u)
{
	BatchItem  *it = &bs->items[i];
	PreparedPosting *pp = it->prep;
	VoucherEntry *v;
	AccountInfo *infos;
	int64	   *bal,
			   *held,
			   *nets;

	it->eval = EV_NONE;
	if (it->parse_code != 0)
		raise_parse_error(it);
	if (it->prep_error != NULL)
		ReThrowError(it->prep_error);

	v = hash_search(vtab, pp->voucher, HASH_FIND, NULL);
	if (v != NULL && v->item < 0)
	{
		it->id = cl_transfer_replay(pp->voucher, v->id, v->kind, v->hash, pp);
		it->eval = EV_REPLAY;
		return EVAL_OK;
	}
	if (v != NULL)
	{
		const PreparedPosting *first = bs->items[v->item].prep;

		if (strcmp(first->kind, pp->kind) != 0 || memcmp(first->hash, pp->hash, CL_HASH_LEN) != 0)
			return EVAL_SLOW;	/* LD004 names the first item's id: known once written */
		it->eval = EV_REPLAY_ITEM;
		it->replay_of = v->item;
		return EVAL_OK;
	}

	/*
	 * a receivable takes lending's postings alone, as in transfer(): every
	 * account of the batch looked up at once, on the first item evaluated
	 */
	if (!bs->receivables_known)
	{
		int64	   *ids = palloc(sizeof(int64) * Max(bs->naccs, 1) * 2);
		int64	   *lines = ids + Max(bs->naccs, 1);

		for (int k = 0; k < bs->naccs; k++)
			ids[k] = bs->accs[k].id;
		(void) cl_receivable_lines(ids, bs->naccs, lines);
		for (int k = 0; k < bs->naccs; k++)
			bs->accs[k].receivable_line = lines[k];
		pfree(ids);
		bs->receivables_known = true;
	}
	for (int k = 0; k < it->nacc; k++)
	{
		BulkAccount *b = &bs->accs[it->acc[k]];

		if (b->receivable_line != 0)
			cl_refuse_receivable(b->id, b->receivable_line);
	}
	for (int k = 0; k < it->nacc; k++)
	{
		BulkAccount *b = &bs->accs[it->acc[k]];

		if (!b->exists)
			cl_raise_account_missing(b->id);
		if (!b->info.open)
			cl_raise_account_closed(b->id);
	}
	infos = palloc(sizeof(AccountInfo) * it->nacc);
	bal = palloc(sizeof(int64) * it->nacc * 3);
	held = bal + it->nacc;
	nets = held + it->nacc;
	for (int k = 0; k < it->nacc; k++)
	{
		BulkAccount *b = &bs->accs[it->acc[k]];

		infos[k] = b->info;
		bal[k] = b->balance;
		held[k] = b->held;
	}
	if (!posting_evaluate(pp->posting_kind, pp->legs, pp->nlegs, infos, bal, held,
						  it->nacc, nets))
		return EVAL_SLOW;
	for (int k = 0; k < it->nacc; k++)
	{
		BulkAccount *b = &bs->accs[it->acc[k]];

		if (u->n == u->cap)
		{
			u->cap *= 2;
			u->acc = repalloc_huge(u->acc, sizeof(int) * u->cap);
			u->balance = repalloc_huge(u->balance, sizeof(int64) * u->cap);
		}
		u->acc[u->n] = it->acc[k];
		u->balance[u->n++] = b->balance;
		b->balance += nets[k];
	}
	pfree(infos);
	pfree(bal);
	v = hash_search(vtab, pp->voucher, HASH_ENTER, NULL);
	v->item = i;
	u->added[u->nadded++] = i;
	it->eval = EV_NEW;
	return EVAL_OK;
}

/*
 * eval_guarded: eval_item inside the evaluation's subtransaction; a
 * business refusal rolls that subtransaction back, starts another and
 * comes back as EVAL_FAILED with the error in *edata_out; with atomic, or
 * for any other error, it is raised again (the subtransaction gone).
 */
static EvalResult
eval_guarded(BatchState *bs, int i, HTAB *vtab, EvalUndo *u, ResourceOwner oldowner,
			 ErrorData **edata_out)
{
	EvalResult	r = EVAL_OK;

	bs->bc->item = i + 1;
	PG_TRY();
	{
		r = eval_item(bs, i, vtab, u);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(bs->batch_cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(bs->batch_cxt);
		CurrentResourceOwner = oldowner;
		bs->bc->item = 0;
		if (bs->atomic || !is_item_error(edata->sqlerrcode))
			ReThrowError(edata);
		BeginInternalSubTransaction(NULL);
		MemoryContextSwitchTo(bs->batch_cxt);
		*edata_out = edata;
		r = EVAL_FAILED;
	}
	PG_END_TRY();
	bs->bc->item = 0;
	return r;
}

/*
 * undo_group: forget what the items of a group that failed (or must run
 * through the single calls) did to the working balances and the voucher
 * table since the marks.
 */
static void
undo_group(BatchState *bs, const BatchGroup *g, HTAB *vtab, EvalUndo *u, int mark,
		   int added_mark)
{
	while (u->n > mark)
	{
		u->n--;
		bs->accs[u->acc[u->n]].balance = u->balance[u->n];
	}
	while (u->nadded > added_mark)
		(void) hash_search(vtab, bs->items[u->added[--u->nadded]].prep->voucher,
						   HASH_REMOVE, NULL);
	for (int i = g->first; i <= g->last; i++)
		bs->items[i].eval = EV_NONE;
}

/*
 * evaluate_segment: evaluate bulk groups from..to-1 in memory, in order
 * (step 3 of the file header).  The vouchers are looked up first, in one
 * query.  A group whose item fails is undone and gets its results
 * (fail_group; with atomic, the error is raised); the others keep their
 * effects for the groups after them.  Returns the first group that must
 * run through the single calls instead (undone), or to.  Inside one
 * subtransaction that writes nothing, replaced after each failure.
 */
static int
evaluate_segment(BatchState *bs, int from, int to)
{
	int			first = bs->groups[from].first;
	int			last = bs->groups[to - 1].last;
	char	  **vouchers = palloc(sizeof(char *) * (last - first + 1));
	int			nv = 0;
	FoundVoucher *found;
	int			nfound;
	HASHCTL		ctl;
	HTAB	   *vtab;
	EvalUndo	u;
	ResourceOwner oldowner = CurrentResourceOwner;
	int			stop = to;

	for (int i = first; i <= last; i++)
		if (bs->items[i].prep != NULL)
			vouchers[nv++] = bs->items[i].prep->voucher;
	if (bs->found_valid)
	{
		/* looked up before the locks, and nothing ran since */
		found = bs->found;
		nfound = bs->nfound;
		bs->found_valid = false;
	}
	else
		nfound = nv > 0 ? cl_find_transfer_vouchers(vouchers, nv, &found) : 0;
	ctl.keysize = VOUCHER_KEY_LEN;
	ctl.entrysize = sizeof(VoucherEntry);
	ctl.hcxt = bs->batch_cxt;
	vtab = hash_create("creditledger batch vouchers", Max(nv, 16), &ctl,
					   HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	for (int f = 0; f < nfound; f++)
	{
		VoucherEntry *v = hash_search(vtab, found[f].voucher, HASH_ENTER, NULL);

		v->item = -1;
		v->id = found[f].transfer_id;
		v->kind = found[f].kind;
		memcpy(v->hash, found[f].hash, CL_HASH_LEN);
	}
	for (int i = first; i <= last; i++)
	{
		BatchItem  *it = &bs->items[i];

		if (it->prep == NULL || !it->eligible)
			continue;
		for (int k = 0; k < it->nacc; k++)
		{
			BulkAccount *b = &bs->accs[it->acc[k]];

			b->balance = b->head.balance;
			b->held = b->head.held;
		}
	}
	u.cap = 64;
	u.n = 0;
	u.acc = palloc(sizeof(int) * u.cap);
	u.balance = palloc(sizeof(int64) * u.cap);
	u.added = palloc(sizeof(int) * (last - first + 1));
	u.nadded = 0;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(bs->batch_cxt);
	for (int g = from; g < to; g++)
	{
		BatchGroup *grp = &bs->groups[g];
		int			mark = u.n;
		int			added_mark = u.nadded;
		EvalResult	r = EVAL_OK;
		int			i;
		ErrorData  *edata = NULL;

		CHECK_FOR_INTERRUPTS();
		if (!bs->atomic && grp->parse_failed)
		{
			/* resolved without evaluating anything: the first malformed item */
			for (int k = grp->first; k <= grp->last; k++)
				if (bs->items[k].parse_code != 0)
				{
					fail_group(bs->items, grp, k, bs->items[k].parse_code, bs->items[k].parse_msg);
					break;
				}
			continue;
		}
		for (i = grp->first; i <= grp->last; i++)
		{
			r = eval_guarded(bs, i, vtab, &u, oldowner, &edata);
			if (r != EVAL_OK)
				break;
		}
		bs->bc->item = 0;
		if (r == EVAL_OK)
			continue;
		undo_group(bs, grp, vtab, &u, mark, added_mark);
		if (r == EVAL_SLOW)
		{
			stop = g;
			break;
		}
		fail_group(bs->items, grp, i, edata->sqlerrcode, edata->message);
		FreeErrorData(edata);
	}
	ReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(bs->batch_cxt);
	CurrentResourceOwner = oldowner;
	hash_destroy(vtab);
	return stop;
}

/*
 * write_rows: the writes of write_segment, for items first..last.
 */
static void
write_rows(BatchState *bs, int first, int last)
{
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	TransferRows tr;
	JournalBulk jb;
	ChainHead **heads;
	int			nheads = 0;

	transfer_rows_open(&tr);
	for (int i = first; i <= last; i++)
		if (bs->items[i].eval == EV_NEW)
			bs->items[i].id = transfer_rows_add(&tr, bs->items[i].prep);
	transfer_rows_close(&tr);

	journal_bulk_open(&jb);
	for (int i = first; i <= last; i++)
	{
		BatchItem  *it = &bs->items[i];

		if (it->eval != EV_NEW)
			continue;
		for (int l = 0; l < it->prep->nlegs; l++)
		{
			const PostingLeg *leg = &it->prep->legs[l];
			BulkAccount *b = &bs->accs[find_account(bs, leg->account_id)];

			journal_bulk_append(&jb, &b->head, it->id, it->prep->voucher, leg->side,
								leg->amount, false, now, now);
		}
	}
	journal_bulk_close(&jb);

	/* each moved head once, found through the items (not all accounts) */
	bs->writes++;
	heads = palloc(sizeof(ChainHead *) * Max(bs->naccs, 1));
	for (int i = first; i <= last; i++)
	{
		BatchItem  *it = &bs->items[i];

		if (it->eval != EV_NEW)
			continue;
		for (int k = 0; k < it->nacc; k++)
		{
			BulkAccount *b = &bs->accs[it->acc[k]];

			if (b->written != bs->writes && b->head.dirty)
			{
				b->written = bs->writes;
				heads[nheads++] = &b->head;
			}
		}
	}
	chain_heads_write(heads, nheads);
	pfree(heads);
}

/*
 * write_segment: write what the evaluation of groups from..stop-1 found
 * (step 3, its end): the new postings' ledger_transfers rows in one
 * multi-insert (their vouchers' unique check is the claim), their journal
 * entries chained per account in item and leg order in another, and each
 * moved account row once.  In a subtransaction: when a voucher turns out
 * to be taken by a transaction that committed after the lookup (23505 on
 * the voucher), everything is undone and false returned, so that the
 * caller evaluates again (under REPEATABLE READ or SERIALIZABLE that is a
 * serialization failure, as for the single call).  Then the items'
 * results.
 */
static bool
write_segment(BatchState *bs, int from, int stop)
{
	const volatile int first = bs->groups[from].first;
	const volatile int last = bs->groups[stop - 1].last;
	bool		any_new = false;

	for (int i = first; i <= last && !any_new; i++)
		any_new = bs->items[i].eval == EV_NEW;
	if (any_new)
	{
		ResourceOwner oldowner = CurrentResourceOwner;

		BeginInternalSubTransaction(NULL);
		MemoryContextSwitchTo(bs->batch_cxt);
		PG_TRY();
		{
			write_rows(bs, first, last);
			ReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(bs->batch_cxt);
			CurrentResourceOwner = oldowner;
		}
		PG_CATCH();
		{
			ErrorData  *edata;

			MemoryContextSwitchTo(bs->batch_cxt);
			edata = CopyErrorData();
			FlushErrorState();
			RollbackAndReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(bs->batch_cxt);
			CurrentResourceOwner = oldowner;
			if (edata->sqlerrcode != ERRCODE_UNIQUE_VIOLATION || edata->constraint_name == NULL ||
				strcmp(edata->constraint_name, "ledger_transfers_voucher_key") != 0)
				ReThrowError(edata);
			if (IsolationUsesXactSnapshot())
				ereport(ERROR,
						(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
						 errmsg("could not serialize access due to concurrent update"),
						 errdetail_internal("%s", edata->message)));
			FreeErrorData(edata);
			return false;
		}
		PG_END_TRY();
	}
	for (int i = first; i <= last; i++)
	{
		BatchItem  *it = &bs->items[i];

		if (it->eval == EV_NONE)
			continue;
		if (it->eval == EV_REPLAY_ITEM)
			it->id = bs->items[it->replay_of].id;
		it->code = 0;
		it->msg = NULL;
	}
	return true;
}

/*
 * run_bulk_segment: evaluate bulk groups from..to-1 in memory and write
 * what they posted; returns the first group that must run through the
 * single calls (to: none).  A voucher taken concurrently between the
 * lookup and the write makes it start again from the heads as the
 * database has them again (each time, one more voucher is seen as taken:
 * it ends).
 */
static int
run_bulk_segment(BatchState *bs, int from, int to)
{
	for (int tries = 0;; tries++)
	{
		int			stop;

		if (tries > bs->n + 10)
			elog(ERROR, "creditledger: post_batch kept finding its vouchers taken concurrently");
		refresh_heads(bs, bs->groups[from].first, bs->groups[to - 1].last);
		stop = evaluate_segment(bs, from, to);
		if (stop == from || write_segment(bs, from, stop))
			return stop;
		/* the write was undone: read the heads and vouchers again, as they are now */
		bs->gen++;
		bs->found_valid = false;
	}
}

/*
 * run_slow: groups from..to-1 through the single calls' implementations
 * (step 4 of the file header); the heads the bulk path keeps are stale
 * after them.
 */
static void
run_slow(BatchState *bs, int from, int to)
{
	if (bs->atomic)
		run_atomic(bs->items, bs->groups[from].first, bs->groups[to - 1].last + 1, bs->bc,
				   bs->batch_cxt, bs->item_cxt);
	else
		run_batch(bs->items, bs->groups, from, to, bs->bc, bs->batch_cxt, bs->item_cxt);
	bs->gen++;
	bs->found_valid = false;
}

/*
 * run_engine: the groups in order: runs of bulk groups evaluated in memory
 * and written together, the other groups (and a bulk group the evaluation
 * hands over) through the single calls.
 */
static void
run_engine(BatchState *bs)
{
	int			pos = 0;

	while (pos < bs->ngroups)
	{
		int			end = pos;

		CHECK_FOR_INTERRUPTS();
		while (end < bs->ngroups && bs->groups[end].bulk)
			end++;
		if (end > pos)
		{
			int			stop = run_bulk_segment(bs, pos, end);

			if (stop < end)
			{
				run_slow(bs, stop, stop + 1);
				stop++;
			}
			pos = stop;
			continue;
		}
		while (end < bs->ngroups && !bs->groups[end].bulk)
			end++;
		run_slow(bs, pos, end);
		pos = end;
	}
}

/*
 * post_batch(items, atomic): run a batch of postings; one result row per
 * item (item, id, sqlstate, message), in order.
 */
static Datum
post_batch_impl(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Jsonb	   *jb;
	bool		atomic;
	int			n;
	BatchItem  *items;
	BatchGroup *groups;
	int			ngroups = 0;
	MemoryContext caller_cxt = CurrentMemoryContext;
	MemoryContext batch_cxt;
	MemoryContext item_cxt;
	BatchContext bc = {0};
	BatchState	bs;
	TimestampTz locked_at;
	ErrorContextCallback errcb;

	CL_REQUIRE_ARGS("items", "atomic");
	jb = PG_GETARG_JSONB_P(0);
	atomic = PG_GETARG_BOOL(1);
	if (!JB_ROOT_IS_ARRAY(jb) || JB_ROOT_IS_SCALAR(jb))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("items must be a JSON array"),
				 errdetail("The value given is a JSON %s.",
						   JB_ROOT_IS_SCALAR(jb) ? "scalar" : "object")));
	n = JB_ROOT_COUNT(jb);
	if (n < 1 || n > CL_MAX_BATCH_ITEMS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a batch needs 1 to %d items, not %d", CL_MAX_BATCH_ITEMS, n),
				 errhint("Split larger batches into several calls.")));

	InitMaterializedSRF(fcinfo, 0);

	batch_cxt = AllocSetContextCreate(caller_cxt, "creditledger batch", ALLOCSET_DEFAULT_SIZES);
	item_cxt = AllocSetContextCreate(batch_cxt, "creditledger batch item", ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(batch_cxt);

	errcb.callback = batch_error_context;
	errcb.arg = &bc;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;

	/* 1. parse every item; group them */
	items = palloc0(sizeof(BatchItem) * n);
	groups = palloc0(sizeof(BatchGroup) * n);
	for (int i = 0; i < n; i++)
	{
		JsonbValue *elem;

		CHECK_FOR_INTERRUPTS();
		bc.item = i + 1;
		elem = getIthJsonbValueFromContainer(&jb->root, i);
		parse_item(&items[i], elem);
		if (i == n - 1 && items[i].linked)
			item_error(&items[i], "the last item must not be linked");
		if (i == 0 || !items[i - 1].linked)
			groups[ngroups++].first = i;
		groups[ngroups - 1].last = i;
		if (items[i].parse_code != 0)
			groups[ngroups - 1].parse_failed = true;
	}
	bc.item = 0;

	memset(&bs, 0, sizeof(bs));
	bs.items = items;
	bs.n = n;
	bs.groups = groups;
	bs.ngroups = ngroups;
	bs.gen = 1;
	bs.writes = 0;
	bs.atomic = atomic;
	bs.bc = &bc;
	bs.batch_cxt = batch_cxt;
	bs.item_cxt = item_cxt;

	/*
	 * Before any lock: check the arguments and hash the payloads of the
	 * transfer and entry items, look their vouchers up (and, in lock_batch,
	 * read the accounts this backend does not know yet); under the locks
	 * only the evaluation and the writes remain.
	 */
	prepare_items(&bs);
	lookup_vouchers(&bs);

	/* 2. lock every account once, ascending */
	bs.naccs = lock_batch(items, n, &bs.accs, &locked_at);

	/* 3 and 4. evaluate and write, in order, each group as one */
	classify_items(&bs);
	run_engine(&bs);
	elog(DEBUG1, "creditledger: post_batch of %d items held %d account locks for %.3f ms",
		 n, bs.naccs, (double) (GetCurrentTimestamp() - locked_at) / 1000.0);

	error_context_stack = errcb.previous;

	/* refused items count in stat_errors under post_batch */
	{
		int		   *codes = palloc(sizeof(int) * n);

		for (int i = 0; i < n; i++)
			codes[i] = items[i].code;
		cl_opstats_item_errors(CL_OP_POST_BATCH, codes, n);
	}

	for (int i = 0; i < n; i++)
	{
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		values[0] = Int32GetDatum(i + 1);
		if (items[i].code == 0)
		{
			values[1] = Int64GetDatum(items[i].id);
			nulls[2] = nulls[3] = true;
		}
		else
		{
			nulls[1] = true;
			values[2] = CStringGetTextDatum(unpack_sql_state(items[i].code));
			values[3] = CStringGetTextDatum(items[i].msg);
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	MemoryContextSwitchTo(caller_cxt);
	MemoryContextDelete(batch_cxt);
	return (Datum) 0;
}
