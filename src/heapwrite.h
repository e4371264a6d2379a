/*
 * heapwrite.h: direct heap writes for the posting hot path.
 */
#ifndef CREDITLEDGER_HEAPWRITE_H
#define CREDITLEDGER_HEAPWRITE_H

#include "postgres.h"
#include "nodes/execnodes.h"
#include "storage/itemptr.h"
#include "utils/relcache.h"

/* A creditledger table opened for direct writes, with its indexes. */
typedef struct DirectTable
{
	Relation	rel;
	ResultRelInfo *rri;
	EState	   *estate;
	TupleTableSlot *slot;
} DirectTable;

extern void direct_open(DirectTable *t, const char *relname);
extern ItemPointerData direct_insert(DirectTable *t, Datum *values, bool *nulls);
extern ItemPointerData direct_update_columns(DirectTable *t, ItemPointer tid, int ncols,
								  const int *attnums, Datum *values);
extern void direct_close(DirectTable *t);
extern AttrNumber direct_attnum(DirectTable *t, const char *attname);
extern Oid	cl_relation_oid(const char *relname);

#endif							/* CREDITLEDGER_HEAPWRITE_H */
