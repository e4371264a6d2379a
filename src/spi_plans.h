/*
 * spi_plans.h: prepared SPI statements kept for the life of the backend.
 */
#ifndef CREDITLEDGER_SPI_PLANS_H
#define CREDITLEDGER_SPI_PLANS_H

#include "postgres.h"
#include "executor/spi.h"

/* A statement prepared once per backend on first use. */
typedef struct ClPlan
{
	const char *sql;
	int			nargs;
	Oid			argtypes[16];
	SPIPlanPtr	plan;			/* NULL until first use */
} ClPlan;

extern int	cl_exec_readonly(ClPlan *p, Datum *values, const char *nulls, long count);
extern int	cl_exec(ClPlan *p, Datum *values, const char *nulls, long count);
extern int64 cl_getint64(int row, int col, bool *isnull);
extern Datum cl_getdatum(int row, int col, bool *isnull);
extern void cl_spi_connect(void);
extern void cl_spi_finish(void);
extern Datum cl_int8_array(const int64 *ids, int n);

#endif							/* CREDITLEDGER_SPI_PLANS_H */
