/*
 * compat.h: shims over differences between PostgreSQL 15, 16 and 17.
 *
 * Everything version-specific lives here, behind PG_VERSION_NUM, so the
 * rest of the code is written against one API.
 */
#ifndef CREDITLEDGER_COMPAT_H
#define CREDITLEDGER_COMPAT_H

#include "postgres.h"

#if PG_VERSION_NUM < 150000
#error "creditledger requires PostgreSQL 15 or later"
#endif

/* varatt.h was split out of postgres.h in PostgreSQL 16. */
#if PG_VERSION_NUM >= 160000
#include "varatt.h"
#endif

#endif							/* CREDITLEDGER_COMPAT_H */
