/*
 * posting.c: the posting engine shared by transfer, post_entry and reverse.
 *
 * Given the legs of a transfer whose ledger_transfers row the caller has
 * already inserted (so the voucher is claimed), post_legs:
 *   1. takes each account's mode lock (shared) and reads it, in ascending id
 *      order (LD003 for an unknown or closed account); when this backend
 *      knows every account to be in mode 'none', they are locked right
 *      away (reading them under the lock), else only read,
 *   2. checks blocks (LD012 for a leg on a side the account's block
 *      refuses) and currencies (LD009 for a transfer, LD010 for an entry
 *      that does not balance per currency),
 *   3. plans each account, in ascending id order, by its hot mode:
 *      - buffered increases (buffered, buffered_split, no decreasing leg):
 *        buffer rows, no row lock;
 *      - split decreases and increases (split, buffered_split): one
 *        sub-account chosen and locked by hot.c (probed only if free
 *        first, a short one let go at once; gathers from siblings when
 *        none has enough, releasing due reservations through the
 *        registered release_due, holds.c's holds_release_due, passed
 *        in; LD001 only when the whole account
 *        is short);
 *      - everything else: the account row, locked; a buffered account that
 *        is short applies its own buffer first (hot.c), then releases the
 *        due reservations on the chain (release_due), then the floor is checked
 *        (LD001), with overflow checks (22003);
 *      - an account with a reservation to release (transfer_post): exactly
 *        the chain the reservation sits on, its release taken off held
 *        first.
 *      The floor is always checked against available = balance - held of
 *      the chain (for a split account's slow path: of the whole account),
 *      under the same lock that serialises the chain's postings, so holds
 *      and decreases never overdraw together,
 *   4. appends one chained journal entry per immediate leg, in leg order,
 *      one buffer row per buffered leg, and the releases' hold chain
 *      entries, and
 *   5. writes the moved chain heads back (balances and hold chains).
 * An error anywhere aborts the caller's (sub)transaction, so a failed call
 * leaves nothing.  Must be called inside SPI (hot.c issues SQL).
 *
 * posting_evaluate() makes steps 2 and 3's checks alone, with the same
 * code and messages, for accounts in mode 'none' whose locked state
 * post_batch keeps in memory (batch.c); it touches no database state.
 */
#include "postgres.h"

#include "access/xact.h"
#include "common/int.h"
#include "storage/lockdefs.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "compat.h"
#include "chain.h"
#include "errcodes.h"
#include "hot.h"
#include "hold_chain.h"
#include "hot_internal.h"
#include "journal.h"
#include "locking.h"
#include "posting.h"
#include "validate.h"

typedef enum PlanKind
{
	PLAN_MAIN,					/* the account row's chain */
	PLAN_BUFFER,				/* buffered increases */
	PLAN_SUB					/* one sub-account's chain */
} PlanKind;

/* How one account of a posting is served. */
typedef struct AccountPlan
{
	AccountInfo info;
	PlanKind	kind;
	int64		net;			/* net balance change of its legs */
	bool		any_decrease;
	ChainHead	head;			/* PLAN_MAIN / PLAN_SUB */
	bool		row_locked;		/* head read under the account row lock */
	const PostingRelease *release;	/* reservation released with it, or NULL */
} AccountPlan;

/*
 * Accounts this backend has seen in hot mode 'none' (at most
 * NONE_HINT_MAX of them).  A posting all of whose accounts are known to be
 * 'none' locks them straight away, in ascending order, which reads them too;
 * any other posting first reads every account without a lock (a buffered
 * increase must not lock the account row) and locks in the planning step,
 * again in ascending order.  Only a hint: after a conversion away from
 * 'none' one posting per backend locks that row once more than it needs,
 * finds the new mode and forgets the account.
 */
#define NONE_HINT_MAX 65536
static HTAB *none_hint = NULL;

/*
 * The release of a chain's due reservations: holds.c's holds_release_due,
 * registered at load (cl_holds_init), since holds.c sits above this engine
 * (it posts through it).  Called with the chain's lock held when a
 * decrease finds the chain short; true if it released any.
 */
static HotReleaseDue release_due = NULL;

/*
 * posting_set_release_due: register the release of due reservations.
 */
void
posting_set_release_due(HotReleaseDue fn)
{
	release_due = fn;
}

/*
 * find_plan: the plan of account id (binary search over ascending ids).
 */
static AccountPlan *
find_plan(AccountPlan *plans, int n, int64 id)
{
	int			lo = 0,
				hi = n - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;

		if (plans[mid].info.account_id == id)
			return &plans[mid];
		if (plans[mid].info.account_id < id)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	elog(ERROR, "creditledger: account " INT64_FORMAT " is not part of the posting", id);
	return NULL;
}

/*
 * check_currencies: LD009 when a transfer joins two currencies; LD010 when an
 * entry's debits and credits differ within any currency.
 */
static void
check_currencies(PostingKind kind, const PostingLeg *legs, int nlegs,
				 AccountPlan *plans, int nplans)
{
	if (kind == POSTING_TRANSFER)
	{
		AccountInfo *d = &find_plan(plans, nplans, legs[0].account_id)->info;
		AccountInfo *c = &find_plan(plans, nplans, legs[1].account_id)->info;

		if (strcmp(d->currency, c->currency) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_CL_CURRENCY_MISMATCH),
					 errmsg("accounts " INT64_FORMAT " and " INT64_FORMAT " have different currencies",
							d->account_id, c->account_id),
					 errdetail("Account " INT64_FORMAT " is in %s, account " INT64_FORMAT " in %s.",
							   d->account_id, d->currency, c->account_id, c->currency)));
		return;
	}

	/* per currency (first seen in leg order), debits minus credits */
	for (int i = 0; i < nlegs; i++)
	{
		const char *cur = find_plan(plans, nplans, legs[i].account_id)->info.currency;
		int64		net = 0;
		bool		seen_before = false;

		for (int k = 0; k < i && !seen_before; k++)
			seen_before = strcmp(find_plan(plans, nplans, legs[k].account_id)->info.currency,
								 cur) == 0;
		if (seen_before)
			continue;
		for (int j = i; j < nlegs; j++)
		{
			if (strcmp(find_plan(plans, nplans, legs[j].account_id)->info.currency, cur) != 0)
				continue;
			if (pg_add_s64_overflow(net, legs[j].side == 'D' ? legs[j].amount : -legs[j].amount,
									&net))
				ereport(ERROR,
						(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
						 errmsg("entry total in %s is out of range for type bigint", cur)));
		}
		if (net != 0)
			ereport(ERROR,
					(errcode(ERRCODE_CL_UNBALANCED_ENTRY),
					 errmsg("entry does not balance in %s", cur),
					 net > 0 ?
					 errdetail("Debits exceed credits in %s by " INT64_FORMAT ".", cur, net) :
					 errdetail("Credits exceed debits in %s by " UINT64_FORMAT ".", cur,
							   (uint64) 0 - (uint64) net)));
	}
}

/*
 * sum_legs: each plan's net change and whether any of its legs decreases
 * it, with overflow checks over the legs in order (22003).
 */
static void
sum_legs(const PostingLeg *legs, int nlegs, AccountPlan *plans, int nplans)
{
	for (int i = 0; i < nlegs; i++)
	{
		AccountPlan *p = find_plan(plans, nplans, legs[i].account_id);
		int64		delta = cl_balance_delta(p->info.normal_credit, legs[i].side, legs[i].amount);

		if (delta < 0)
			p->any_decrease = true;
		if (pg_add_s64_overflow(p->net, delta, &p->net))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("the change to account " INT64_FORMAT " is out of range for type bigint",
							p->info.account_id)));
	}
}

/*
 * check_final: 22003 if balance + net overflows; LD001 if a decrease would
 * leave the available balance (balance - held) below the floor.  Returns
 * whether the floor holds (raise = false only asks).
 */
static bool
check_final(const AccountInfo *info, int64 balance, int64 held, int64 net, bool raise)
{
	int64		after;
	int64		avail;

	if (pg_add_s64_overflow(balance, net, &after))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("balance of account " INT64_FORMAT " would be out of range for type bigint",
						info->account_id)));
	if (!info->has_floor || net >= 0)
		return true;
	if (pg_sub_s64_overflow(balance, held, &avail) ||
		pg_add_s64_overflow(avail, net, &after))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("available balance of account " INT64_FORMAT " is out of range for type bigint",
						info->account_id)));
	if (after < info->min_balance)
	{
		if (raise)
		{
			if (held == 0)
				cl_raise_insufficient(info->account_id, balance, after, info->min_balance);
			ereport(ERROR,
					(errcode(ERRCODE_CL_INSUFFICIENT_FUNDS),
					 errmsg("insufficient funds in account " INT64_FORMAT, info->account_id),
					 errdetail("The balance is " INT64_FORMAT ", of which " INT64_FORMAT
							   " is held; the posting would leave " INT64_FORMAT
							   " available, below the minimum balance of " INT64_FORMAT ".",
							   balance, held, after, info->min_balance)));
		}
		return false;
	}
	return true;
}

/*
 * take_release: take a reservation's release off the chain's held before
 * the floor is checked.
 */
static void
take_release(AccountPlan *p)
{
	if (p->release == NULL)
		return;
	if (p->release->release > p->head.held)
		elog(ERROR, "creditledger: account " INT64_FORMAT " sub-account %d holds " INT64_FORMAT
			 ", less than the " INT64_FORMAT " to release",
			 p->head.account_id, p->head.sub_account, p->head.held, p->release->release);
	p->head.held -= p->release->release;
}

/*
 * none_hint_update: remember (or forget) that account id is in mode 'none'.
 */
static void
none_hint_update(int64 id, bool none)
{
	if (none_hint == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(int64);
		ctl.entrysize = sizeof(int64);
		ctl.hcxt = TopMemoryContext;
		none_hint = hash_create("creditledger accounts in mode none", 1024, &ctl,
								HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	if (!none)
		(void) hash_search(none_hint, &id, HASH_REMOVE, NULL);
	else if (hash_get_num_entries(none_hint) < NONE_HINT_MAX)
		(void) hash_search(none_hint, &id, HASH_ENTER, NULL);
}

/*
 * known_none: whether this backend has seen account id in mode 'none'.
 */
static bool
known_none(int64 id)
{
	return none_hint != NULL && hash_search(none_hint, &id, HASH_FIND, NULL) != NULL;
}

/*
 * cl_known_none / cl_note_none: the hint above, for post_batch's lock pass
 * (batch.c), which locks an account known to be in mode 'none' without
 * reading it first, and keeps the hint as post_legs does.
 */
bool
cl_known_none(int64 id)
{
	return known_none(id);
}

void
cl_note_none(int64 id, bool none)
{
	none_hint_update(id, none);
}

/*
 * read_account: read an account, locking it when lock_now (all accounts of
 * the posting are known to be in mode 'none', so taking their locks here, in
 * ascending order, is the posting's whole locking); LD003 when it is
 * unknown or closed.
 */
static void
read_account(LockContext *lc, AccountPlan *p, int64 id, bool lock_now)
{
	if (lock_now)
	{
		if (cl_lock_main(lc, id, LockWaitBlock, LockTupleNoKeyExclusive,
						 &p->info, &p->head) != LOCK_OK)
			cl_raise_account_missing(id);
		if (!p->info.open)
			cl_raise_account_closed(id);
		p->row_locked = true;
	}
	else
		cl_require_open_account(lc, id, &p->info);
	none_hint_update(id, p->info.hot_mode == HOT_NONE);
}

/*
 * plan_main: lock the account row (unless read_account did) and check the
 * posting against it; a buffered account that is short applies its
 * committed buffer first.
 */
static void
plan_main(LockContext *lc, AccountPlan *p)
{
	p->kind = PLAN_MAIN;
	if (!p->row_locked &&
		cl_lock_main(lc, p->info.account_id, LockWaitBlock, LockTupleNoKeyExclusive,
					 &p->info, &p->head) != LOCK_OK)
		elog(ERROR, "creditledger: account " INT64_FORMAT " vanished", p->info.account_id);
	take_release(p);
	if (check_final(&p->info, p->head.balance, p->head.held, p->net, false))
		return;
	if (HOT_MODE_IS_BUFFERED(p->info.hot_mode))
		hot_apply_buffer(lc, &p->info, &p->head, 0);
	if (check_final(&p->info, p->head.balance, p->head.held, p->net, false))
		return;
	/* a due reservation met here counts as released (holds.c) */
	if (p->head.held > 0)
		(void) release_due(&p->head, p->info.block);
	(void) check_final(&p->info, p->head.balance, p->head.held, p->net, true);
}

/*
 * plan_release_sub: serve a split account's legs from the sub-account its
 * released reservation sits on (waiting for it: one sub-account, taken in
 * the posting's ascending order), checked against that sub-account's
 * available balance and the floor the sub-accounts keep.
 */
static void
plan_release_sub(LockContext *lc, AccountPlan *p)
{
	int64		sub_floor = p->info.has_floor ? Max(p->info.min_balance, 0) : 0;
	int64		after;

	p->kind = PLAN_SUB;
	if (cl_lock_sub(lc, &p->info, p->release->sub_account, LockWaitBlock, &p->head) != LOCK_OK)
		elog(ERROR, "creditledger: account " INT64_FORMAT " has no sub-account %d",
			 p->info.account_id, p->release->sub_account);
	take_release(p);
	if (pg_add_s64_overflow(p->head.balance, p->net, &after))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("balance of account " INT64_FORMAT " would be out of range for type bigint",
						p->info.account_id)));
	after = cl_available(&p->head) + p->net;
	if (p->info.has_floor && p->net < 0 && after < sub_floor)
		cl_raise_insufficient(p->info.account_id, cl_available(&p->head), after, sub_floor);
}

/*
 * cl_reserve_chain: lock the chain a reservation of amount on an account
 * (read, its mode lock held) sits on, and check that the account can spare
 * it: like a decrease of amount, against available and the floor (LD001),
 * applying a buffered account's buffer or releasing due reservations when
 * short, and for a split account choosing one sub-account (SKIP LOCKED
 * first, gathering only when none has enough).  locked, when not NULL, is
 * the main chain's head the caller read when it locked the account row
 * (info read under that lock).  The caller adds amount to head->held,
 * writes the hold entry and the head.  Inside SPI.
 */
void
cl_reserve_chain(LockContext *lc, AccountInfo *info, int64 amount, const ChainHead *locked,
				 ChainHead *head)
{
	int64		check;

	if (HOT_MODE_IS_SPLIT(info->hot_mode))
		hot_choose_sub(lc, info, -amount, head, release_due);
	else
	{
		AccountPlan p;

		memset(&p, 0, sizeof(p));
		p.info = *info;
		p.net = -amount;
		p.any_decrease = true;
		if (locked != NULL)
		{
			/* the caller locked the account row, reading info and this head */
			p.head = *locked;
			p.row_locked = true;
		}
		plan_main(lc, &p);
		*info = p.info;
		*head = p.head;
	}
	if (pg_add_s64_overflow(head->held, amount, &check))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("held amount of account " INT64_FORMAT " would be out of range for type bigint",
						info->account_id)));
}

/*
 * check_blocks: LD012 for the first leg on a side its account's block
 * refuses.
 */
static void
check_blocks(const PostingLeg *legs, int nlegs, AccountPlan *plans, int nplans)
{
	for (int i = 0; i < nlegs; i++)
	{
		const AccountInfo *info = &find_plan(plans, nplans, legs[i].account_id)->info;

		if (CL_BLOCKS_SIDE(info, legs[i].side))
			ereport(ERROR,
					(errcode(ERRCODE_CL_ACCOUNT_BLOCKED),
					 errmsg("account " INT64_FORMAT " is blocked for %s", info->account_id,
							legs[i].side == 'D' ? "debits" : "credits"),
					 errdetail("The account's block is \"%s\".", cl_block_name(info->block)),
					 errhint("An administrator lifts it with set_account_block(account, 'none').")));
	}
}

/*
 * The receivable accounts' look-up (lending.c's, registered at load; NULL
 * in a backend that has not loaded lending: then no account is one).
 */
static ReceivableLinesFn receivable_lines = NULL;

void
posting_set_receivable_lookup(ReceivableLinesFn fn)
{
	receivable_lines = fn;
}

/*
 * cl_receivable_lines: for ids (ascending, distinct), lines[i] the line
 * whose receivable account ids[i] is, or 0; returns how many are.
 */
int
cl_receivable_lines(const int64 *ids, int n, int64 *lines)
{
	if (receivable_lines == NULL || n == 0)
	{
		memset(lines, 0, sizeof(int64) * n);
		return 0;
	}
	return receivable_lines(ids, n, lines);
}

/*
 * cl_receivable_line: the credit line whose receivable account account_id
 * is, or 0.
 */
int64
cl_receivable_line(int64 account_id)
{
	int64		line;

	(void) cl_receivable_lines(&account_id, 1, &line);
	return line;
}

/*
 * cl_refuse_receivable: 22023 for a caller's posting, pending transfer or
 * funds hold on account_id, the receivable account of line_id.  (Security
 * audit 0.3: a plain transfer, entry, reversal, pending transfer or hold
 * on a receivable moved its balance without the line's drawdowns, so an
 * application could reverse a repayment and draw the regained credit
 * again, lending past the line's limit, or drain a receivable, and
 * credit_used_equals_receivable failed.  Only credit_disburse,
 * credit_disburse_direct and credit_repay, and posting or voiding their
 * pending disbursements, move money there.)
 */
void
cl_refuse_receivable(int64 account_id, int64 line_id)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("account " INT64_FORMAT " is the receivable account of credit line " INT64_FORMAT,
					account_id, line_id),
			 errdetail("Only credit_disburse, credit_disburse_direct and credit_repay move money on a line's receivable account, so that its balance stays the line's outstanding drawdowns."),
			 errhint("Use credit_disburse or credit_repay.")));
}

/*
 * cl_first_receivable: the first of the legs' accounts, in ascending id
 * order (the order post_batch checks them in), that is a receivable
 * account, with its line in *line; 0 if none is.  The accounts' mode
 * locks are taken first (shared, ascending: lockorder.h step 5, as the
 * posting itself takes them next; held on return in every case), so the
 * look-up, under a snapshot taken after them, sees a
 * set_credit_line_account that held one of them exclusively (it does,
 * until it commits); one that comes later waits for this posting and then
 * compares the account's balance with it in.
 */
int64
cl_first_receivable(const PostingLeg *legs, int nlegs, int64 *line)
{
	int64	   *ids;
	int64	   *lines;
	int64		account = 0;
	int			n;

	*line = 0;
	ids = palloc(sizeof(int64) * nlegs * 2);
	lines = ids + nlegs;
	for (int i = 0; i < nlegs; i++)
		ids[i] = legs[i].account_id;
	n = cl_sort_unique_ids(ids, nlegs);
	for (int i = 0; i < n; i++)
		cl_mode_lock(ids[i], false);
	if (receivable_lines != NULL && receivable_lines(ids, n, lines) > 0)
		for (int i = 0; i < n && account == 0; i++)
			if (lines[i] != 0)
			{
				account = ids[i];
				*line = lines[i];
			}
	pfree(ids);
	return account;
}

/*
 * cl_refuse_receivables: cl_refuse_receivable for the first of the legs'
 * accounts that is a receivable account (cl_first_receivable).
 */
void
cl_refuse_receivables(const PostingLeg *legs, int nlegs)
{
	int64		line;
	int64		account = cl_first_receivable(legs, nlegs, &line);

	if (account != 0)
		cl_refuse_receivable(account, line);
}

/*
 * posting_evaluate: the checks post_legs makes, in its order and with its
 * errors, for a posting whose accounts are all in hot mode 'none', open,
 * and locked by the caller, who keeps their state in memory (post_batch's
 * in-memory evaluation, batch.c): infos[0..n-1] in ascending id order (the
 * posting's distinct accounts), with each main chain's current balance
 * and held.  Blocks (LD012), currencies (LD009/LD010), sums (22003), then
 * per account in ascending order the floor against balance - held (22003,
 * LD001).  Returns true with nets[i] each account's change when the
 * posting fits.  Returns false, raising nothing, when a floor check fails
 * on a chain that holds reservations: post_legs would first release the
 * due ones (release_due), which needs the database, so the caller
 * runs the posting through post_legs instead.
 */
bool
posting_evaluate(PostingKind kind, const PostingLeg *legs, int nlegs,
				 const AccountInfo *infos, const int64 *balances, const int64 *helds,
				 int n, int64 *nets)
{
	AccountPlan *plans = palloc0(sizeof(AccountPlan) * n);

	for (int i = 0; i < n; i++)
	{
		Assert(infos[i].hot_mode == HOT_NONE && infos[i].open);
		plans[i].info = infos[i];
		plans[i].kind = PLAN_MAIN;
		plans[i].head.account_id = infos[i].account_id;
		plans[i].head.normal_credit = infos[i].normal_credit;
		plans[i].head.balance = balances[i];
		plans[i].head.held = helds[i];
	}
	check_blocks(legs, nlegs, plans, n);
	check_currencies(kind, legs, nlegs, plans, n);
	sum_legs(legs, nlegs, plans, n);
	for (int i = 0; i < n; i++)
	{
		AccountPlan *p = &plans[i];

		if (!check_final(&p->info, p->head.balance, p->head.held, p->net, false))
		{
			if (p->head.held > 0)
			{
				pfree(plans);
				return false;
			}
			(void) check_final(&p->info, p->head.balance, p->head.held, p->net, true);
		}
		nets[i] = p->net;
	}
	pfree(plans);
	return true;
}

/*
 * post_legs: lock, check and post the legs of transfer transfer_id (see the
 * file header for the steps).
 */
void
post_legs(int64 transfer_id, const char *voucher, PostingKind kind,
		  const PostingLeg *legs, int nlegs,
		  const PostingRelease *releases, int nreleases)
{
	int64	   *ids = palloc(sizeof(int64) * nlegs);
	int			n;
	AccountPlan *plans;
	LockContext lc;
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	bool		is_reversal = (kind == POSTING_REVERSAL);
	JournalWriter w;
	ChainHead **heads;
	int			nheads = 0;
	bool		any_immediate = false;
	bool		all_none = true;

	for (int i = 0; i < nlegs; i++)
		ids[i] = legs[i].account_id;
	n = cl_sort_unique_ids(ids, nlegs);
	plans = palloc0(sizeof(AccountPlan) * n);

	lock_context_open(&lc);
	for (int i = 0; i < n && all_none; i++)
		all_none = known_none(ids[i]);
	for (int i = 0; i < n; i++)
	{
		cl_mode_lock(ids[i], false);
		read_account(&lc, &plans[i], ids[i], all_none);
	}
	check_blocks(legs, nlegs, plans, n);
	check_currencies(kind, legs, nlegs, plans, n);
	sum_legs(legs, nlegs, plans, n);
	for (int r = 0; r < nreleases; r++)
		find_plan(plans, n, releases[r].account_id)->release = &releases[r];

	for (int i = 0; i < n; i++)
	{
		AccountPlan *p = &plans[i];
		HotMode		mode = p->info.hot_mode;

		if (mode != HOT_NONE && p->net != 0)
			hot_check_total_bound(&lc, &p->info, p->net);
		if (p->release != NULL && p->release->sub_account > 0)
			plan_release_sub(&lc, p);
		else if (p->release != NULL)
			plan_main(&lc, p);
		else if (HOT_MODE_IS_BUFFERED(mode) && !p->any_decrease)
		{
			p->kind = PLAN_BUFFER;
			(void) check_final(&p->info, p->info.balance, 0, p->net, true);
		}
		else if (HOT_MODE_IS_SPLIT(mode))
		{
			p->kind = PLAN_SUB;
			hot_choose_sub(&lc, &p->info, p->net, &p->head, release_due);
		}
		else
			plan_main(&lc, p);
		any_immediate |= (p->kind != PLAN_BUFFER);
	}

	if (any_immediate)
		journal_writer_open(&w);
	for (int i = 0; i < nlegs; i++)
	{
		AccountPlan *p = find_plan(plans, n, legs[i].account_id);

		if (p->kind == PLAN_BUFFER)
			hot_buffer_insert(p->info.account_id, transfer_id, voucher, legs[i].side,
							  legs[i].amount, is_reversal, now);
		else
			journal_append(&w, &p->head, transfer_id, voucher, legs[i].side,
						   legs[i].amount, is_reversal, now, now);
	}
	if (any_immediate)
		journal_writer_close(&w);
	for (int r = 0; r < nreleases; r++)
	{
		AccountPlan *p = find_plan(plans, n, releases[r].account_id);

		/* take_release took it off for the check; the entry records it */
		p->head.held += releases[r].release;
		hold_append(&p->head, &releases[r].rec, -releases[r].release, p->info.block);
	}

	heads = palloc(sizeof(ChainHead *) * n);
	for (int i = 0; i < n; i++)
		if (plans[i].kind != PLAN_BUFFER)
			heads[nheads++] = &plans[i].head;
	chain_heads_write(heads, nheads);
	lock_context_close(&lc);
}
