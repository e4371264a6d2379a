/*
 * validate.h: argument checks and the error reports shared by every
 * SQL-callable function.
 */
#ifndef CREDITLEDGER_VALIDATE_H
#define CREDITLEDGER_VALIDATE_H

#include "postgres.h"
#include "fmgr.h"
#include "utils/jsonb.h"

/* Longest reference (voucher, ref, code) a caller may pass, in characters. */
#define CL_MAX_REFERENCE_CHARS 128

extern void cl_require_args(FunctionCallInfo fcinfo, const char *const *names, int n);
extern void cl_require_arg(FunctionCallInfo fcinfo, int argno, const char *name);
extern char *cl_reference_arg(FunctionCallInfo fcinfo, int argno, const char *name);
extern char *cl_voucher_arg(FunctionCallInfo fcinfo, int argno, const char *name);
extern char *cl_required_voucher_arg(FunctionCallInfo fcinfo, int argno, const char *name);
extern void cl_check_metadata(Jsonb *metadata, const char *name);
extern int64 cl_amount_arg(FunctionCallInfo fcinfo, int argno, const char *name);
extern int64 cl_required_amount_arg(FunctionCallInfo fcinfo, int argno, const char *name);
extern void cl_check_currency(const char *currency);

/* Raise 22004 unless every named argument (0..n-1) is non-NULL. */
#define CL_REQUIRE_ARGS(...) \
	do { \
		static const char *const cl_names_[] = {__VA_ARGS__}; \
		cl_require_args(fcinfo, cl_names_, lengthof(cl_names_)); \
	} while (0)

/* LD001: the posting would leave the account below its floor. */
extern void cl_raise_insufficient(int64 account_id, int64 balance, int64 after,
								  int64 min_balance) pg_attribute_noreturn();

/* LD003: no such account, as the caller sees the accounts. */
extern void cl_raise_account_missing(int64 account_id) pg_attribute_noreturn();

/* LD003: the account is closed. */
extern void cl_raise_account_closed(int64 account_id) pg_attribute_noreturn();

/* LD006: no such credit line, as the caller sees the lines. */
extern void cl_raise_line_missing(int64 line_id) pg_attribute_noreturn();

#endif							/* CREDITLEDGER_VALIDATE_H */
