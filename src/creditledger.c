/*
 * creditledger.c: module entry point.
 *
 * Owns _PG_init: registers the hooks through which the modules below
 * reach the ones above them without naming them (holds.c's release of due
 * reservations in posting.c; lending.c's hooks in holds.c and
 * credit_engine.c), defines the settings (settings.c), reserves the
 * "creditledger." prefix so a misspelt setting is reported instead of
 * silently kept, and, when preloaded, installs the shared-memory hooks
 * (shmem.c) and registers the background workers (worker.c).  No locking
 * here: _PG_init runs once per process before anything is shared.
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"

#include "compat.h"
#include "holds.h"
#include "lending.h"
#include "settings.h"
#include "shmem.h"
#include "worker.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/*
 * _PG_init: called when the library is loaded (at postmaster start when
 * preloaded, else on first use).
 */
void
_PG_init(void)
{
	/* the upper modules plug into the lower ones' extension points */
	cl_holds_init();
	cl_lending_init();

	/* pg_upgrade loads libraries only to check them; do nothing more then */
	if (IsBinaryUpgrade)
		return;

	/* GUCs first: MarkGUCPrefixReserved drops undefined creditledger.* */
	cl_define_settings();

	MarkGUCPrefixReserved("creditledger");

	/* shared memory and background workers exist only when preloaded */
	if (process_shared_preload_libraries_in_progress)
	{
		cl_shmem_init();
		cl_register_workers();
	}
}
