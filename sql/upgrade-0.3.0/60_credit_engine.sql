--------------------------------------------------------------------------
-- The credit engine in C (src/credit_engine.c): credit_freeze,
-- credit_unfreeze, credit_use, credit_use_direct, credit_return and
-- credit_expire_holds (the worker's expiry too) run in C, with hot-line
-- slices and gather; their PL/pgSQL bodies and helpers are dropped.  The
-- public functions keep their names, signatures and C symbols and now run
-- with the owner's rights themselves (SECURITY DEFINER, search_path
-- pinned), as the money functions do.  The administration calls follow
-- in C too (65_credit_limits.sql, 68_credit_admin.sql).  Locking:
-- lockorder.h (README "The lock table").
--------------------------------------------------------------------------

DROP FUNCTION creditledger._credit_freeze(bigint, bigint, text, timestamptz);
DROP FUNCTION creditledger._credit_unfreeze(text, text, bigint);
DROP FUNCTION creditledger._credit_use(text, text, bigint, boolean);
DROP FUNCTION creditledger._credit_use_direct(bigint, bigint, text);
DROP FUNCTION creditledger._credit_return(text, text, bigint);
DROP FUNCTION creditledger._credit_expire_holds();
DROP FUNCTION creditledger._credit_release_due(bigint[], bigint);
DROP FUNCTION creditledger._credit_expire(bigint[], bigint[]);
DROP FUNCTION creditledger._credit_apply_all(bigint[], text, text, bigint, bigint, bigint);
DROP FUNCTION creditledger._credit_lock_hold(text);
DROP FUNCTION creditledger._credit_check_hold(creditledger.ledger_credit_holds, bigint, text);
DROP FUNCTION creditledger._credit_claim_operation(text, text, bigint, bigint, jsonb);
DROP FUNCTION creditledger._credit_claim_drawdown(text, bigint, bigint, bigint, jsonb);
DROP FUNCTION creditledger._credit_replay(text, text, jsonb);
DROP FUNCTION creditledger._credit_conflict(text, text, bigint);
DROP FUNCTION creditledger._credit_check_usable(bigint, bigint[]);
DROP FUNCTION creditledger._credit_take_slice(creditledger.ledger_credit_lines, bigint);
DROP FUNCTION creditledger._credit_gather(creditledger.ledger_credit_lines, bigint, text);
DROP FUNCTION creditledger._credit_shortfall(creditledger.ledger_credit_lines, bigint, bigint, text);

ALTER FUNCTION creditledger.credit_freeze(bigint, bigint, text, timestamptz) SECURITY DEFINER;
ALTER FUNCTION creditledger.credit_unfreeze(text, text, bigint) SECURITY DEFINER;
ALTER FUNCTION creditledger.credit_use(text, text, bigint, boolean) SECURITY DEFINER;
ALTER FUNCTION creditledger.credit_use_direct(bigint, bigint, text) SECURITY DEFINER;
ALTER FUNCTION creditledger.credit_return(text, text, bigint) SECURITY DEFINER;
ALTER FUNCTION creditledger.credit_expire_holds() SECURITY DEFINER;

-- The default slice count is twice the concurrent callers of a busy
-- application (128 for 64): a slice is held from the change to the commit,
-- so with about as many slices as callers they still collide and queue
-- (doc/benchmark-history.md: 64 slices gave 72-96% of the no-parent rate at
-- 64 clients; 128 gave 85-98% in the release's later runs, README
-- "Benchmarks").
CREATE OR REPLACE FUNCTION creditledger.set_credit_line_hot(line bigint, slices int DEFAULT 128)
RETURNS void AS 'MODULE_PATHNAME', 'cl_set_credit_line_hot'
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.set_credit_line_hot(bigint, int) IS
    'Makes a line hot: its headroom is kept in slices (default 128) taken with SKIP LOCKED (0 = not hot).';

-- A hot line's slices are written by many sessions at once: with the
-- default fillfactor 64 slices share two heap pages, whose buffer locks then
-- serialise what the row locks keep apart.  A low fillfactor spreads the
-- slices a line gets (set_credit_line_hot inserts them) over pages and
-- leaves room for their HOT updates.
ALTER TABLE creditledger.credit_line_slices SET (fillfactor = 10);
