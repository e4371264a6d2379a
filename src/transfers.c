/*
 * transfers.c: transfer(), post_entry() and reverse(): vouchers, replays and
 * the rules of reversal.
 *
 * Idempotency: a call first claims its voucher with INSERT ... ON CONFLICT
 * DO NOTHING into ledger_transfers.  The unique index is the only arbiter: a
 * second session with the same voucher waits for the first to commit or
 * abort; after a commit it finds the row and, when the payload hash (SHA-256
 * of every argument of the call, see payload_hash()) matches, returns the
 * same id having changed nothing; otherwise LD004.  After an abort the
 * second session's insert proceeds.  Reversal uniqueness works the same way
 * through the unique ledger_transfers.reverses column: of two concurrent
 * reversals of one transfer, the second finds the conflict and gets LD005.
 * Only after the voucher is claimed are accounts locked and posted
 * (posting.c), so checks run in the contract's order: arguments, reference,
 * account state, balances.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "batch.h"
#include "compat.h"
#include "errcodes.h"
#include "opstats.h"
#include "journal.h"
#include "posting.h"
#include "spi_plans.h"
#include "validate.h"

CL_TRACKED_FUNCTION_SHARED(cl_transfer, CL_OP_TRANSFER, cl_transfer_impl)
CL_TRACKED_FUNCTION_SHARED(cl_post_entry, CL_OP_POST_ENTRY, cl_post_entry_impl)
CL_TRACKED_FUNCTION_SHARED(cl_reverse, CL_OP_REVERSE, cl_reverse_impl)

#define CL_MAX_LEGS 1000

static ClPlan claim_plan = {
	"INSERT INTO creditledger.ledger_transfers"
	" (voucher, kind, reverses, memo, metadata, payload_hash)"
	" VALUES ($1, $2, $3, $4, $5, $6)"
	" ON CONFLICT DO NOTHING"
	" RETURNING transfer_id",
	6, {TEXTOID, TEXTOID, INT8OID, TEXTOID, JSONBOID, BYTEAOID}
};

static ClPlan find_voucher_plan = {
	"SELECT transfer_id, kind, payload_hash, reverses"
	"  FROM creditledger.ledger_transfers WHERE voucher OPERATOR(pg_catalog.=) $1",
	1, {TEXTOID}
};

static ClPlan find_reversal_of_plan = {
	"SELECT transfer_id, voucher FROM creditledger.ledger_transfers"
	" WHERE reverses OPERATOR(pg_catalog.=) $1",
	1, {INT8OID}
};

/* every leg of a transfer: posted (journal) or still buffered, one snapshot */
static ClPlan original_legs_plan = {
	"SELECT account_id, side, amount FROM ("
	"  SELECT account_id, side, amount, 0 AS part, entry_id AS n"
	"    FROM creditledger.journal_entries WHERE transfer_id OPERATOR(pg_catalog.=) $1"
	"  UNION ALL"
	"  SELECT account_id, side, amount, 1, buffer_id"
	"    FROM creditledger.posting_buffer WHERE transfer_id OPERATOR(pg_catalog.=) $1) legs"
	" ORDER BY part, n",
	1, {INT8OID}
};

/* The arguments of a posting call, as the voucher's payload. */
typedef struct CallPayload
{
	const char *kind;			/* 'transfer', 'entry' or 'reversal' */
	StringInfoData args;		/* canonical encoding of the call's arguments */
	text	   *memo;			/* NULL when omitted */
	Jsonb	   *metadata;		/* NULL when omitted */
	int64		reverses;		/* reversal: the original's id, else 0 */
	uint8		hash[CL_HASH_LEN];
} CallPayload;

/*
 * payload_begin: start the payload of a call of this kind.
 */
static void
payload_begin(CallPayload *p, const char *kind)
{
	memset(p, 0, sizeof(*p));
	p->kind = kind;
	initStringInfo(&p->args);
	cl_put_bytes(&p->args, kind, strlen(kind));
}

/*
 * payload_put_optional_text: an optional text argument; NULL is encoded
 * apart from every string (also the empty one).
 */
static void
payload_put_optional_text(CallPayload *p, text *t)
{
	if (t == NULL)
		cl_put_int32(&p->args, -1);
	else
		cl_put_bytes(&p->args, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
}

/*
 * payload_finish: add memo and metadata (metadata in jsonb's canonical text
 * form, so key order and whitespace do not matter) and hash the whole.
 */
static void
payload_finish(CallPayload *p, FunctionCallInfo fcinfo, int memo_arg, int metadata_arg)
{
	pg_cryptohash_ctx *ctx;

	p->memo = PG_ARGISNULL(memo_arg) ? NULL : PG_GETARG_TEXT_PP(memo_arg);
	p->metadata = (metadata_arg < 0 || PG_ARGISNULL(metadata_arg)) ? NULL :
		PG_GETARG_JSONB_P(metadata_arg);
	if (p->metadata != NULL)
		cl_check_metadata(p->metadata, "metadata");
	payload_put_optional_text(p, p->memo);
	if (p->metadata == NULL)
		cl_put_int32(&p->args, -1);
	else
	{
		StringInfoData js;

		initStringInfo(&js);
		JsonbToCString(&js, &p->metadata->root, VARSIZE(p->metadata));
		cl_put_bytes(&p->args, js.data, js.len);
	}
	ctx = cl_hash_ctx_create();
	cl_sha256(ctx, (const uint8 *) p->args.data, p->args.len, p->hash);
	pg_cryptohash_free(ctx);
}

/*
 * find_voucher: look a voucher up; returns its transfer id or 0, and fills
 * kind_out/hash_out when found.  Inside SPI.
 */
static int64
find_voucher(const char *voucher, char **kind_out, uint8 *hash_out)
{
	Datum		values[1] = {CStringGetTextDatum(voucher)};
	bool		isnull;
	bytea	   *h;

	cl_exec(&find_voucher_plan, values, NULL, 1);
	if (SPI_processed == 0)
		return 0;
	if (kind_out)
		*kind_out = TextDatumGetCString(cl_getdatum(0, 2, &isnull));
	h = DatumGetByteaPP(cl_getdatum(0, 3, &isnull));
	if (hash_out)
		memcpy(hash_out, VARDATA_ANY(h), Min(VARSIZE_ANY_EXHDR(h), CL_HASH_LEN));
	return cl_getint64(0, 1, NULL);
}

/*
 * replay_or_conflict: a voucher already exists as transfer id with kind and
 * hash: return id if the call is the same, else raise LD004.
 */
static int64
replay_or_conflict(const char *voucher, int64 id, const char *kind,
				   const uint8 *hash, const CallPayload *p)
{
	if (strcmp(kind, p->kind) == 0 && memcmp(hash, p->hash, CL_HASH_LEN) == 0)
		return id;
	ereport(ERROR,
			(errcode(ERRCODE_CL_IDEMPOTENCY_CONFLICT),
			 errmsg("voucher \"%s\" was already used with a different payload", voucher),
			 errdetail("Voucher \"%s\" belongs to %s " INT64_FORMAT ".",
					   voucher, kind, id),
			 errhint("Use a new voucher for a new posting, or repeat the original call exactly.")));
	return 0;					/* keep compiler quiet */
}

/*
 * claim_voucher: insert the transfer row unless the voucher (or, for a
 * reversal, the original) is taken.  Returns the new id with *replayed =
 * false; the existing id with *replayed = true for a replay; raises LD004
 * for a different payload.  Returns 0 when the insert conflicted on
 * `reverses` only (the original was reversed concurrently).  Inside SPI.
 */
static int64
claim_voucher(const char *voucher, CallPayload *p, bool *replayed)
{
	Datum		values[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	bytea	   *h = palloc(VARHDRSZ + CL_HASH_LEN);
	char	   *kind;
	uint8		hash[CL_HASH_LEN];
	int64		id;

	SET_VARSIZE(h, VARHDRSZ + CL_HASH_LEN);
	memcpy(VARDATA(h), p->hash, CL_HASH_LEN);
	values[0] = CStringGetTextDatum(voucher);
	values[1] = CStringGetTextDatum(p->kind);
	values[2] = Int64GetDatum(p->reverses);
	if (p->reverses == 0)
		nulls[2] = 'n';
	values[3] = p->memo ? PointerGetDatum(p->memo) : (Datum) 0;
	if (p->memo == NULL)
		nulls[3] = 'n';
	values[4] = p->metadata ? JsonbPGetDatum(p->metadata) : (Datum) 0;
	if (p->metadata == NULL)
		nulls[4] = 'n';
	values[5] = PointerGetDatum(h);

	cl_exec(&claim_plan, values, nulls, 1);
	*replayed = false;
	if (SPI_processed == 1)
		return cl_getint64(0, 1, NULL);

	id = find_voucher(voucher, &kind, hash);
	if (id == 0)
		return 0;
	*replayed = true;
	return replay_or_conflict(voucher, id, kind, hash, p);
}

/*
 * cl_claim_transfer_voucher: claim voucher in the transfers namespace for a
 * posting made by another module (transfer_post, holds.c), whose payload
 * hash the caller computed over its own arguments; kind is the transfer
 * row's kind.  Returns the new id, or the first call's id with *replayed
 * for a replay; LD004 for another payload.  Inside SPI.
 */
int64
cl_claim_transfer_voucher(const char *voucher, const char *kind, const uint8 *hash,
						  text *memo, Jsonb *metadata, bool *replayed)
{
	CallPayload p;

	memset(&p, 0, sizeof(p));
	p.kind = kind;
	p.memo = memo;
	p.metadata = metadata;
	memcpy(p.hash, hash, CL_HASH_LEN);
	return claim_voucher(voucher, &p, replayed);
}

/*
 * transfer(voucher, debit_account, credit_account, amount, memo, metadata):
 * debit one account and credit another; returns the transfer id.
 */
Datum
cl_transfer_impl(PG_FUNCTION_ARGS)
{
	char	   *voucher;
	int64		debit_account,
				credit_account,
				amount;
	CallPayload p;
	PostingLeg	legs[2];
	bool		replayed;
	int64		id;

	CL_REQUIRE_ARGS("voucher", "debit_account", "credit_account", "amount");
	voucher = cl_voucher_arg(fcinfo, 0, "voucher");
	debit_account = PG_GETARG_INT64(1);
	credit_account = PG_GETARG_INT64(2);
	amount = cl_amount_arg(fcinfo, 3, "amount");
	if (debit_account == credit_account)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("debit and credit account are the same account " INT64_FORMAT,
						debit_account),
				 errdetail("A transfer moves money between two different accounts.")));

	payload_begin(&p, "transfer");
	cl_put_int64(&p.args, debit_account);
	cl_put_int64(&p.args, credit_account);
	cl_put_int64(&p.args, amount);
	payload_finish(&p, fcinfo, 4, 5);

	cl_spi_connect();
	id = claim_voucher(voucher, &p, &replayed);
	if (!replayed)
	{
		legs[0] = (PostingLeg) {debit_account, 'D', amount};
		legs[1] = (PostingLeg) {credit_account, 'C', amount};
		post_legs(id, voucher, POSTING_TRANSFER, legs, 2, NULL, 0);
	}
	cl_spi_finish();
	PG_RETURN_INT64(id);
}

/*
 * leg_error: raise 22023 for a malformed leg.
 */
static void
leg_error(int i, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("malformed leg %d: %s", i + 1, what),
			 errdetail("Each leg is an object {\"account\": id, \"debit\": amount} or "
					   "{\"account\": id, \"credit\": amount} with a positive integer amount.")));
}

/*
 * leg_int64: a jsonb number that must be integral and in bigint range.
 * jsonb keeps 5e0 as 5 and 5.0 as 5.0, so integrality is judged on the
 * value, not on how it was written: 5, 5.0 and 5e0 are all 5; 5.5 is not
 * an amount.
 */
static int64
leg_int64(JsonbValue *v, int i, const char *key)
{
	Datum		n;
	Datum		truncated;
	char	   *digits;
	char	   *end;
	int64		result;

	if (v->type != jbvNumeric)
		leg_error(i, psprintf("\"%s\" must be a number", key));
	n = NumericGetDatum(v->val.numeric);
	truncated = DirectFunctionCall2(numeric_trunc, n, Int32GetDatum(0));
	if (!DatumGetBool(DirectFunctionCall2(numeric_eq, n, truncated)))
		leg_error(i, psprintf("\"%s\" must be an integer in the range of bigint", key));
	/* the scale-0 form of an integral value is plain digits */
	digits = DatumGetCString(DirectFunctionCall1(numeric_out, truncated));
	errno = 0;
	result = strtoi64(digits, &end, 10);
	if (*digits == '\0' || *end != '\0' || errno != 0)
		leg_error(i, psprintf("\"%s\" must be an integer in the range of bigint", key));
	return result;
}

/*
 * parse_legs: the legs array of post_entry, validated (22023 on any shape
 * error, 2..1000 legs, positive amounts and ids).
 */
static PostingLeg *
parse_legs(Jsonb *legs, int *nlegs)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	PostingLeg *out;
	int			n;
	int			i = -1;
	bool		has_account = false,
				has_amount = false;

	if (!JB_ROOT_IS_ARRAY(legs) || JB_ROOT_IS_SCALAR(legs))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("legs must be a JSON array")));
	n = JB_ROOT_COUNT(legs);
	if (n < 2 || n > CL_MAX_LEGS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("an entry needs 2 to %d legs, not %d", CL_MAX_LEGS, n)));
	out = palloc0(sizeof(PostingLeg) * n);

	it = JsonbIteratorInit(&legs->root);
	tok = JsonbIteratorNext(&it, &v, false);	/* WJB_BEGIN_ARRAY */
	while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		switch (tok)
		{
			case WJB_BEGIN_OBJECT:
				if (i >= 0 && (!has_account || !has_amount))
					leg_error(i, "missing \"account\" or amount");
				i++;
				has_account = has_amount = false;
				break;
			case WJB_KEY:
				{
					char	   *key = pnstrdup(v.val.string.val, v.val.string.len);
					bool		is_account = strcmp(key, "account") == 0;
					bool		is_side = strcmp(key, "debit") == 0 || strcmp(key, "credit") == 0;

					if (!is_account && !is_side)
						leg_error(i, psprintf("unexpected key \"%s\"", key));
					if (is_side && has_amount)
						leg_error(i, "a leg has exactly one of \"debit\" and \"credit\"");
					tok = JsonbIteratorNext(&it, &v, false);
					if (tok != WJB_VALUE)
						leg_error(i, psprintf("\"%s\" must be a number", key));
					if (is_account)
					{
						out[i].account_id = leg_int64(&v, i, key);
						if (out[i].account_id <= 0)
							leg_error(i, "\"account\" must be a positive account id");
						has_account = true;
					}
					else
					{
						out[i].side = key[0] == 'd' ? 'D' : 'C';
						out[i].amount = leg_int64(&v, i, key);
						if (out[i].amount <= 0)
							leg_error(i, "the amount must be positive");
						has_amount = true;
					}
					break;
				}
			case WJB_END_OBJECT:
				break;
			case WJB_END_ARRAY:
				break;
			default:
				/* a scalar or array where a leg object belongs */
				leg_error(i + 1, "each leg must be a JSON object");
		}
	}
	if (i >= 0 && (!has_account || !has_amount))
		leg_error(i, "missing \"account\" or amount");
	*nlegs = n;
	return out;
}

/*
 * post_entry(voucher, legs, memo, metadata): post a balanced multi-leg
 * entry; returns the transfer id.
 */
Datum
cl_post_entry_impl(PG_FUNCTION_ARGS)
{
	char	   *voucher;
	PostingLeg *legs;
	int			nlegs;
	CallPayload p;
	bool		replayed;
	int64		id;

	CL_REQUIRE_ARGS("voucher", "legs");
	voucher = cl_voucher_arg(fcinfo, 0, "voucher");
	legs = parse_legs(PG_GETARG_JSONB_P(1), &nlegs);

	payload_begin(&p, "entry");
	cl_put_int32(&p.args, nlegs);
	for (int i = 0; i < nlegs; i++)
	{
		cl_put_int64(&p.args, legs[i].account_id);
		appendStringInfoChar(&p.args, legs[i].side);
		cl_put_int64(&p.args, legs[i].amount);
	}
	payload_finish(&p, fcinfo, 2, 3);

	cl_spi_connect();
	id = claim_voucher(voucher, &p, &replayed);
	if (!replayed)
		post_legs(id, voucher, POSTING_ENTRY, legs, nlegs, NULL, 0);
	cl_spi_finish();
	PG_RETURN_INT64(id);
}

/*
 * reversal_refused: raise LD005 with the reason.
 */
static void
reversal_refused(const char *voucher, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_CL_REVERSAL_NOT_ALLOWED),
			 errmsg("transfer \"%s\" cannot be reversed", voucher),
			 errdetail_internal("%s", detail)));
}

/*
 * reverse(voucher, reversal_voucher, reason): post the mirror image of a
 * transfer, at most once; returns the reversal's transfer id.
 */
Datum
cl_reverse_impl(PG_FUNCTION_ARGS)
{
	char	   *voucher;
	char	   *rvoucher;
	CallPayload p;
	char	   *kind;
	uint8		hash[CL_HASH_LEN];
	int64		id,
				orig;
	bool		replayed;
	PostingLeg *legs;
	int			nlegs;

	CL_REQUIRE_ARGS("voucher");
	voucher = cl_voucher_arg(fcinfo, 0, "voucher");
	if (PG_ARGISNULL(1))
		rvoucher = psprintf("%s:reversal", voucher);
	else
		rvoucher = cl_voucher_arg(fcinfo, 1, "reversal_voucher");

	payload_begin(&p, "reversal");
	cl_put_bytes(&p.args, voucher, strlen(voucher));
	payload_finish(&p, fcinfo, 2, -1);
	/* the reason is kept as the reversal's memo */

	cl_spi_connect();

	/* the reference first: a replay returns before any state is looked at */
	id = find_voucher(rvoucher, &kind, hash);
	if (id != 0)
	{
		id = replay_or_conflict(rvoucher, id, kind, hash, &p);
		cl_spi_finish();
		PG_RETURN_INT64(id);
	}

	orig = find_voucher(voucher, &kind, NULL);
	if (orig == 0)
		reversal_refused(voucher, psprintf("No transfer has voucher \"%s\".", voucher));
	if (strcmp(kind, "reversal") == 0)
		reversal_refused(voucher, "It is itself a reversal.");
	{
		Datum		values[1] = {Int64GetDatum(orig)};

		cl_exec(&find_reversal_of_plan, values, NULL, 1);
		if (SPI_processed > 0)
		{
			bool		isnull;

			reversal_refused(voucher,
							 psprintf("It was already reversed by transfer " INT64_FORMAT " (voucher \"%s\").",
									  cl_getint64(0, 1, NULL),
									  TextDatumGetCString(cl_getdatum(0, 2, &isnull))));
		}
	}

	p.reverses = orig;
	id = claim_voucher(rvoucher, &p, &replayed);
	if (id == 0)
		reversal_refused(voucher, "It was reversed concurrently by another voucher.");
	if (replayed)
	{
		cl_spi_finish();
		PG_RETURN_INT64(id);
	}

	/* mirror every leg of the original */
	{
		Datum		values[1] = {Int64GetDatum(orig)};

		cl_exec(&original_legs_plan, values, NULL, 0);
		nlegs = SPI_processed;
		legs = palloc(sizeof(PostingLeg) * Max(nlegs, 1));
		for (int i = 0; i < nlegs; i++)
		{
			bool		isnull;

			legs[i].account_id = cl_getint64(i, 1, NULL);
			legs[i].side = DatumGetChar(cl_getdatum(i, 2, &isnull)) == 'D' ? 'C' : 'D';
			legs[i].amount = cl_getint64(i, 3, NULL);
		}
	}
	if (nlegs == 0)
		elog(ERROR, "creditledger: transfer " INT64_FORMAT " has no journal entries", orig);
	post_legs(id, rvoucher, POSTING_REVERSAL, legs, nlegs, NULL, 0);
	cl_spi_finish();
	PG_RETURN_INT64(id);
}
