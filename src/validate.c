/*
 * validate.c: argument checks shared by every SQL-callable function.
 *
 * The contract's order of checks starts here: NULL arguments (22004), then
 * malformed ones (22023), before any table is read.  Nothing here touches
 * shared state, so there is no locking.
 */
#include "postgres.h"

#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"

#include "compat.h"
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
		if (names[i] != NULL && PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("argument \"%s\" must not be null", names[i])));
	}
}

/*
 * cl_reference_arg: a non-NULL text argument used as a reference (voucher,
 * ref, code): non-empty and at most CL_MAX_REFERENCE_CHARS characters.
 * Returns it as a palloc'd C string.
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
