/*
 * verify_scan.h: verify_chain()'s checks and verify_digest()'s chain
 * recomputation (verify_scan.c).
 */
#ifndef CREDITLEDGER_VERIFY_SCAN_H
#define CREDITLEDGER_VERIFY_SCAN_H

#include "postgres.h"

#include "utils/array.h"

extern void verify_chains(int64 account,
						  void (*emit) (void *arg, bool credit, int64 id, int32 sub,
										int64 version, const char *text),
						  void *arg);

/*
 * The chains of a digest to recompute: those recorded under digest_id, or
 * (versions != NULL) the chains given as arrays kinds "char"[], ids
 * bigint[], subs int[], versions bigint[].
 */
typedef struct DigestSource
{
	int64		digest_id;
	ArrayType  *kinds;
	ArrayType  *ids;
	ArrayType  *subs;
	ArrayType  *versions;
	bool		with_transfers; /* CLD2: fold the transfers of money chains */
	bool		credit;			/* credit chains too */
} DigestSource;

extern void recompute_digest_heads(const DigestSource *src,
								   void (*emit) (void *arg, char kind, int64 id, int32 sub,
												 int64 version, const uint8 *hash,
												 const uint8 *transfers),
								   void *arg);

#endif							/* CREDITLEDGER_VERIFY_SCAN_H */
