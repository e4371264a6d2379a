/*
 * heapwrite.h: direct heap writes for the posting hot path.
 */
#ifndef CREDITLEDGER_HEAPWRITE_H
#define CREDITLEDGER_HEAPWRITE_H

#include "postgres.h"
#include "nodes/execnodes.h"
#include "access/htup.h"
#include "storage/itemptr.h"
#include "utils/relcache.h"

/* A creditledger table opened for direct writes, with its indexes. */
typedef struct DirectTable
{
	Relation	rel;
	/* rri, estate and slot: NULL until a write needs index entries */
	ResultRelInfo *rri;
	EState	   *estate;
	TupleTableSlot *slot;
	bool		indices_open;	/* rri's indexes opened (direct_open: on first need) */
} DirectTable;

extern void direct_open(DirectTable *t, const char *relname);
extern void direct_open_claim(DirectTable *t, const char *relname);
extern bool direct_claim(DirectTable *t, Oid arbiter, Datum *values, bool *nulls,
						 ItemPointer tid);
extern ItemPointerData direct_insert(DirectTable *t, Datum *values, bool *nulls);
extern void direct_multi_insert(DirectTable *t, HeapTuple *tuples, int n,
								const char *const *emulated, int nemulated);
extern ItemPointerData direct_update_columns(DirectTable *t, ItemPointer tid, int ncols,
								  const int *attnums, Datum *values);
extern ItemPointerData direct_update_columns_nulls(DirectTable *t, ItemPointer tid, int ncols,
												   const int *attnums, Datum *values,
												   const bool *isnull);
extern ItemPointerData direct_update_tuple(DirectTable *t, ItemPointer tid, HeapTuple newtup,
										   int ncols, const int *attnums);
extern void direct_check_insert_rules(DirectTable *t, const char *const *emulated,
									  int nemulated);
extern Relation direct_index(DirectTable *t, Oid indexoid);
extern void direct_close(DirectTable *t);

/* Most columns one ColumnMap holds (checked at every fill). */
#define CL_MAX_MAPPED_COLUMNS 32

/*
 * Attribute numbers of a fixed list of column names in one table, kept by
 * the caller in a static variable and filled once per table incarnation.
 */
typedef struct ColumnMap
{
	Oid			relid;			/* InvalidOid until filled */
	AttrNumber	attnum[CL_MAX_MAPPED_COLUMNS];
} ColumnMap;

extern const AttrNumber *cl_column_map(ColumnMap *map, Relation rel,
									   const char *const *names, int n);
extern const AttrNumber *cl_column_map_optional(ColumnMap *map, Relation rel,
												const char *const *names, int n,
												int nrequired);
extern Oid	cl_relation_oid(const char *relname);
extern Oid	cl_relation_oid_if_exists(const char *relname);

#endif							/* CREDITLEDGER_HEAPWRITE_H */
