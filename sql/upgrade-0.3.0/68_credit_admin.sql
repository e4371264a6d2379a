--------------------------------------------------------------------------
-- The credit administration calls in C (src/credit_admin.c):
-- create_credit_line, credit_line_id, suspend_credit_line,
-- resume_credit_line, close_credit_line and set_credit_line_hot; and
-- link_credit_line's usage carry (src/credit_limits.c).  Their PL/pgSQL
-- bodies, and the helpers only those bodies used, are dropped.  The public
-- functions keep their names, signatures and C symbols and now run with the
-- owner's rights themselves (SECURITY DEFINER, search_path pinned), as the
-- credit data path and the money functions do; their grants do not change
-- (administrators; credit_line_id also the application).
--------------------------------------------------------------------------

DROP FUNCTION creditledger._create_credit_line(text, text, bigint, bigint[], boolean, timestamptz, timestamptz, jsonb);
DROP FUNCTION creditledger._credit_line_id(text);
DROP FUNCTION creditledger._link_credit_line(bigint, bigint);
DROP FUNCTION creditledger._suspend_credit_line(bigint, text);
DROP FUNCTION creditledger._resume_credit_line(bigint);
DROP FUNCTION creditledger._close_credit_line(bigint);
DROP FUNCTION creditledger._credit_set_status(bigint, text, text);
DROP FUNCTION creditledger._set_credit_line_hot(bigint, int);
DROP FUNCTION creditledger._credit_apply(bigint, text, text, bigint, bigint, bigint);
DROP FUNCTION creditledger._credit_post(bigint, int, text, text, bigint, bigint, bigint, bigint);
DROP FUNCTION creditledger._credit_spread_headroom(bigint, int, bigint);
DROP FUNCTION creditledger._credit_available(creditledger.ledger_credit_lines);
DROP FUNCTION creditledger._credit_line(bigint);
DROP FUNCTION creditledger._credit_lock(bigint[], boolean);
DROP FUNCTION creditledger._credit_graph_lock(boolean);
DROP FUNCTION creditledger._credit_check_ref(text, text);
DROP FUNCTION creditledger._credit_check_amount(bigint, text);

ALTER FUNCTION creditledger.create_credit_line(text, text, bigint, bigint[], boolean, timestamptz, timestamptz, jsonb)
    SECURITY DEFINER;
ALTER FUNCTION creditledger.credit_line_id(text) SECURITY DEFINER;
ALTER FUNCTION creditledger.suspend_credit_line(bigint, text) SECURITY DEFINER;
ALTER FUNCTION creditledger.resume_credit_line(bigint) SECURITY DEFINER;
ALTER FUNCTION creditledger.close_credit_line(bigint) SECURITY DEFINER;
ALTER FUNCTION creditledger.set_credit_line_hot(bigint, int) SECURITY DEFINER;
