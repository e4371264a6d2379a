/*
 * bcp_run.h: BCP runs (bcp_run.c): rule checks, runs, recording.
 */
#ifndef CREDITLEDGER_BCP_RUN_H
#define CREDITLEDGER_BCP_RUN_H

#include "postgres.h"

#include "utils/array.h"
#include "utils/jsonb.h"

/* The dedicated non-superuser role scheduled runs (and user rules run by a
 * superuser) execute as; created by setup_roles(). */
#define CL_BCP_RUNNER_ROLE "creditledger_bcp_runner"

/* The result of one rule in a run */
typedef struct ClBcpResult
{
	const char *rule;
	const char *severity;
	const char *status;			/* pass, fail or error */
	int64		mismatches;
	bool		mismatches_null;	/* true for status error */
	Jsonb	   *sample;			/* up to 5 rows, or the error; NULL if none */
	double		duration_ms;
} ClBcpResult;

typedef void (*ClBcpEmit) (void *arg, const ClBcpResult *result);

extern void cl_bcp_check_rule_text(const char *sql);
extern Oid	cl_bcp_runner_role(void);
extern int	cl_bcp_run_rules(ArrayType *names, bool record, ClBcpEmit emit, void *arg);

#endif							/* CREDITLEDGER_BCP_RUN_H */
