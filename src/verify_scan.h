/*
 * verify_scan.h: verify_chain()'s checks and verify_digest()'s chain
 * recomputation (verify_scan.c).
 */
#ifndef CREDITLEDGER_VERIFY_SCAN_H
#define CREDITLEDGER_VERIFY_SCAN_H

#include "postgres.h"

extern void verify_chains(int64 account,
						  void (*emit) (void *arg, bool credit, int64 id, int32 sub,
										int64 version, const char *text),
						  void *arg);

extern void recompute_digest_heads(int64 digest_id,
								   void (*emit) (void *arg, char kind, int64 id, int32 sub,
												 int64 version, const uint8 *hash),
								   void *arg);

#endif							/* CREDITLEDGER_VERIFY_SCAN_H */
