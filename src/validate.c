/*
 * validate.c: argument checks and the error reports shared by every
 * SQL-callable function.
 *
 * The contract's order of checks starts here: NULL arguments (22004), then
 * malformed ones (22023), before any table is read.  The reports of what
 * was not found or may not be used (LD001, LD003, LD006) are here too, so
 * that every function words them alike.  Nothing here touches shared
 * state, so there is no locking.
 */
#include "postgres.h"

#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "compat.h"
#include "errcodes.h"
#include "validate.h"

/*
 * cl_require_args: raise null_value_not_allowed for the first of the named
 * leading arguments that is NULL.  names[i] is argument i's SQL name; a NULL
 * entry marks an argument that may be NULL.
 */
void
cl_require_args(FunctionCallInfo fcinfo, const char *const *names, int n)
{
	for (int i = 0; i < n; i++)
	{
		if (names[i] != NULL)
			cl_require_arg(fcinfo, i, names[i]);
	}
}

/*
 * cl_require_arg: raise null_value_not_allowed when argument argno (SQL
 * name: name) is NULL; for functions that check their arguments one by
 * one, each just before it is read.
 */
void
cl_require_arg(FunctionCallInfo fcinfo, int argno, const char *name)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"%s\" must not be null", name)));
}

/* The reference namespace kept for the extension's own moves */
#define CL_RESERVED_PREFIX "creditledger:"

/*
 * is_blank: whether s (len bytes) is only ASCII white space.
 */
static bool
is_blank(const char *s, int len)
{
	for (int i = 0; i < len; i++)
		if (!strchr(" \t\n\r\v\f", s[i]))
			return false;
	return true;
}

/*
 * cl_reference_arg: a non-NULL text argument naming something (a code, a
 * voucher, a ref): not empty, not only white space, at most
 * CL_MAX_REFERENCE_CHARS characters (22023).  Returns it as a palloc'd C
 * string.
 */
char *
cl_reference_arg(FunctionCallInfo fcinfo, int argno, const char *name)
{
	text	   *t = PG_GETARG_TEXT_PP(argno);
	int			bytes = VARSIZE_ANY_EXHDR(t);
	int			chars;

	if (bytes == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be empty", name)));
	if (is_blank(VARDATA_ANY(t), bytes))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be blank", name),
				 errdetail("The value given is only white space.")));
	chars = pg_mbstrlen_with_len(VARDATA_ANY(t), bytes);
	if (chars > CL_MAX_REFERENCE_CHARS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s is too long", name),
				 errdetail("It has %d characters; at most %d are allowed.",
						   chars, CL_MAX_REFERENCE_CHARS)));
	return text_to_cstring(t);
}

/*
 * cl_voucher_arg: cl_reference_arg for a posting reference (voucher, ref),
 * which also must not be in the namespace reserved for the extension's
 * internal moves ("creditledger:...", 22023): a caller could otherwise
 * claim the voucher of a future gather, flush or conversion.
 */
char *
cl_voucher_arg(FunctionCallInfo fcinfo, int argno, const char *name)
{
	char	   *ref = cl_reference_arg(fcinfo, argno, name);

	if (strncmp(ref, CL_RESERVED_PREFIX, strlen(CL_RESERVED_PREFIX)) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not start with \"%s\"", name, CL_RESERVED_PREFIX),
				 errdetail("References starting with \"%s\" are reserved for the extension's internal moves.",
						   CL_RESERVED_PREFIX)));
	return ref;
}

/*
 * cl_required_voucher_arg: a posting reference that must be given: NULL
 * (22004), then its form (cl_voucher_arg, 22023).
 */
char *
cl_required_voucher_arg(FunctionCallInfo fcinfo, int argno, const char *name)
{
	cl_require_arg(fcinfo, argno, name);
	return cl_voucher_arg(fcinfo, argno, name);
}

/*
 * cl_check_metadata: 22023 unless a jsonb argument (metadata) is an object.
 */
void
cl_check_metadata(Jsonb *metadata, const char *name)
{
	if (!JB_ROOT_IS_OBJECT(metadata))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a JSON object", name),
				 errdetail("The value given is a JSON %s.",
						   JB_ROOT_IS_SCALAR(metadata) ? "scalar" : "array")));
}

/*
 * cl_amount_arg: a non-NULL bigint argument that must be > 0.
 */
int64
cl_amount_arg(FunctionCallInfo fcinfo, int argno, const char *name)
{
	int64		v = PG_GETARG_INT64(argno);

	if (v <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be positive", name),
				 errdetail("The value given was " INT64_FORMAT ".", v)));
	return v;
}

/*
 * cl_required_amount_arg: an amount that must be given: NULL (22004), then
 * positive (cl_amount_arg, 22023).
 */
int64
cl_required_amount_arg(FunctionCallInfo fcinfo, int argno, const char *name)
{
	cl_require_arg(fcinfo, argno, name);
	return cl_amount_arg(fcinfo, argno, name);
}

/*
 * cl_check_currency: three upper-case ASCII letters.
 */
void
cl_check_currency(const char *currency)
{
	if (strlen(currency) != 3 ||
		currency[0] < 'A' || currency[0] > 'Z' ||
		currency[1] < 'A' || currency[1] > 'Z' ||
		currency[2] < 'A' || currency[2] > 'Z')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid currency \"%s\"", currency),
				 errdetail("A currency is a three-letter upper-case code such as CNY or USD.")));
}

/*
 * cl_raise_insufficient: LD001 for an account whose balance would end
 * below its floor.
 */
void
cl_raise_insufficient(int64 account_id, int64 balance, int64 after, int64 min_balance)
{
	ereport(ERROR,
			(errcode(ERRCODE_CL_INSUFFICIENT_FUNDS),
			 errmsg("insufficient funds in account " INT64_FORMAT, account_id),
			 errdetail("The balance is " INT64_FORMAT "; the posting would leave " INT64_FORMAT
					   ", below the minimum balance of " INT64_FORMAT ".",
					   balance, after, min_balance)));
}

/*
 * cl_raise_account_missing: LD003 for an account id that no account has
 * (as the caller's snapshot or lock sees the accounts).
 */
void
cl_raise_account_missing(int64 account_id)
{
	ereport(ERROR,
			(errcode(ERRCODE_CL_ACCOUNT_UNAVAILABLE),
			 errmsg("account " INT64_FORMAT " does not exist", account_id)));
}

/*
 * cl_raise_account_closed: LD003 for a closed account.
 */
void
cl_raise_account_closed(int64 account_id)
{
	ereport(ERROR,
			(errcode(ERRCODE_CL_ACCOUNT_UNAVAILABLE),
			 errmsg("account " INT64_FORMAT " is closed", account_id)));
}

/*
 * cl_raise_line_missing: LD006 for a credit line id that no line has (as
 * the caller sees the lines).
 */
void
cl_raise_line_missing(int64 line_id)
{
	ereport(ERROR,
			(errcode(ERRCODE_CL_CREDIT_LINE_UNAVAILABLE),
			 errmsg("credit line " INT64_FORMAT " does not exist", line_id)));
}
