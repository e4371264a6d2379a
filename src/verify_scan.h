/*
 * verify_scan.h: verify_chain()'s checks (verify_scan.c).
 */
#ifndef CREDITLEDGER_VERIFY_SCAN_H
#define CREDITLEDGER_VERIFY_SCAN_H

#include "postgres.h"

extern void verify_chains(int64 account,
						  void (*emit) (void *arg, bool credit, int64 id, int32 sub,
										int64 version, const char *text),
						  void *arg);

#endif							/* CREDITLEDGER_VERIFY_SCAN_H */
