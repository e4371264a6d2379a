/*
 * creditledger.c: module entry point.
 *
 * Owns _PG_init: reserves the "creditledger." GUC prefix so a misspelt
 * setting is reported instead of silently kept.  Nothing is shared between
 * backends yet, so there is no locking here.
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"

#include "compat.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/*
 * _PG_init: called when the library is loaded (at postmaster start when
 * preloaded, else on first use).
 */
void
_PG_init(void)
{
	/* pg_upgrade loads libraries only to check them; do nothing then */
	if (IsBinaryUpgrade)
		return;

	MarkGUCPrefixReserved("creditledger");
}
