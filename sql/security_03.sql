-- security_03: the release 0.3 security audit, as hostile roles would try
-- it: post_batch items, lending (receivable accounts), money holds,
-- temporary limits, link control, hot-line settlement and BCP, each role
-- (admin, app, auditor, bcp_runner, a role with no grants) with public, a
-- schema anyone may write, first on its search_path and look-alike
-- operators and functions planted there.  Every attack fails with a clear
-- SQLSTATE and changes nothing; no planted object ever runs; after each
-- group chains are intact and every built-in rule passes.
CREATE DATABASE security03_regression;
\c security03_regression
SET client_min_messages = warning;
CREATE EXTENSION creditledger;
SELECT creditledger.setup_roles();
SET search_path = creditledger, public;
\set VERBOSITY sqlstate

CREATE ROLE regress_s3_admin;
CREATE ROLE regress_s3_auditor;
CREATE ROLE regress_s3_app;
CREATE ROLE regress_s3_nobody;
CREATE ROLE regress_s3_owner;
GRANT creditledger_admin TO regress_s3_admin;
GRANT creditledger_auditor TO regress_s3_auditor;
GRANT creditledger_app TO regress_s3_app;
GRANT CREATE ON SCHEMA public TO PUBLIC;

CREATE FUNCTION pg_temp.still_safe() RETURNS TABLE(chains_intact boolean, rules_failing bigint)
LANGUAGE sql AS $$
    SELECT NOT EXISTS (SELECT 1 FROM creditledger.verify_chain()),
           (SELECT count(*) FROM creditledger.bcp_run(record => false) r WHERE r.status <> 'pass')
$$;

-- Look-alikes planted in public by a role with no grants: each records
-- that it ran (as whom) in public.planted_calls.
SET ROLE regress_s3_owner;
CREATE TABLE public.planted_calls (what text, who text);
GRANT INSERT, SELECT ON public.planted_calls TO PUBLIC;
CREATE FUNCTION public.nextval(text) RETURNS bigint LANGUAGE sql AS $$
    INSERT INTO public.planted_calls VALUES ('nextval', current_user);
    SELECT pg_catalog.nextval($1::pg_catalog.regclass) $$;
CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE sql AS $$
    INSERT INTO public.planted_calls VALUES ('now', current_user); SELECT pg_catalog.now() $$;
CREATE FUNCTION public.planted_eq(bigint, bigint) RETURNS boolean LANGUAGE sql AS $$
    INSERT INTO public.planted_calls VALUES ('=(bigint,bigint)', current_user);
    SELECT $1 OPERATOR(pg_catalog.=) $2 $$;
CREATE OPERATOR public.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = public.planted_eq);
CREATE FUNCTION public.planted_teq(text, text) RETURNS boolean LANGUAGE sql AS $$
    INSERT INTO public.planted_calls VALUES ('=(text,text)', current_user);
    SELECT $1 OPERATOR(pg_catalog.=) $2 $$;
CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.planted_teq);
CREATE FUNCTION public.planted_plus(bigint, bigint) RETURNS bigint LANGUAGE sql AS $$
    INSERT INTO public.planted_calls VALUES ('+(bigint,bigint)', current_user);
    SELECT $1 OPERATOR(pg_catalog.+) $2 $$;
CREATE OPERATOR public.+ (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = public.planted_plus);
CREATE FUNCTION public.sum(bigint) RETURNS bigint LANGUAGE sql AS $$
    INSERT INTO public.planted_calls VALUES ('sum(bigint)', current_user); SELECT $1 $$;
CREATE FUNCTION public.jsonb_typeof(jsonb) RETURNS text LANGUAGE sql AS $$
    INSERT INTO public.planted_calls VALUES ('jsonb_typeof', current_user);
    SELECT pg_catalog.jsonb_typeof($1) $$;
RESET ROLE;

SELECT open_account('s3:bank', 'CNY', 'debit', NULL) AS bank \gset
SELECT open_account('s3:a', 'CNY') AS a \gset
SELECT open_account('s3:b', 'CNY') AS b \gset
SELECT open_account('s3:usd', 'USD') AS usd \gset
SELECT open_account('s3:closed', 'CNY') AS closed \gset
SELECT close_account(:closed);
SELECT open_account('s3:blocked', 'CNY') AS blocked \gset
SELECT open_account('s3:fees', 'CNY', hot_mode => 'buffered') AS fees \gset
SELECT open_account('s3:split', 'CNY', hot_mode => 'split', shards => 2) AS split \gset
SELECT open_account('s3:recv', 'CNY', 'debit', 0) AS recv \gset
SELECT create_credit_line('s3:loan', 'CNY', 1000) AS loan \gset
SELECT set_credit_line_account(:loan, :recv);
SELECT transfer('s3-fund-a', :bank, :a, 5000) > 0 AS ok;
SELECT transfer('s3-fund-blocked', :bank, :blocked, 100) > 0 AS ok;
SELECT transfer('s3-fund-split', :bank, :split, 100) > 0 AS ok;
SELECT set_account_block(:blocked, 'debits');
SELECT * FROM pg_temp.still_safe();

------------------------------------------------------------------------
-- 1. Lending: a receivable account moves only through lending.  Before
--    the audit an application could reverse a repayment (the money came
--    back, the credit stayed returned) and draw the credit again, past the
--    line's limit, or take money off a receivable with a plain transfer.
------------------------------------------------------------------------
SET search_path = public, pg_catalog, creditledger;
SET ROLE regress_s3_app;
SELECT creditledger.credit_disburse_direct(:loan, 's3-d1', :a, 1000) > 0 AS disbursed;
SELECT creditledger.credit_repay('s3-d1', 's3-r1', :a, 1000) > 0 AS repaid;
-- the loop: undo the repayment, draw again; undo the disbursement
SELECT creditledger.reverse('s3-r1', 's3-r1-undo');
SELECT creditledger.reverse('s3-d1', 's3-d1-undo');
-- money without credit, in every shape a caller can post
SELECT creditledger.transfer('s3-x1', :recv, :b, 500);
SELECT creditledger.transfer('s3-x2', :a, :recv, 1);
SELECT creditledger.post_entry('s3-x3', pg_catalog.format(
    '[{"account": %s, "debit": 5}, {"account": %s, "credit": 5}]', :recv, :b)::jsonb);
SELECT creditledger.transfer_pending('s3-x4', :recv, :b, 500);
SELECT creditledger.transfer_pending('s3-x5', :a, :recv, 1);
-- a hold on the receivable would only stop repayments
SELECT creditledger.hold_funds('s3-x6', :recv, 1);
-- the same through post_batch (bulk path, pending and reverse items)
SELECT * FROM creditledger.post_batch(pg_catalog.jsonb_build_array(
    pg_catalog.jsonb_build_object('op', 'transfer', 'voucher', 's3-x7', 'debit', :recv, 'credit', :b, 'amount', 500),
    pg_catalog.jsonb_build_object('op', 'entry', 'voucher', 's3-x8', 'legs', pg_catalog.jsonb_build_array(
        pg_catalog.jsonb_build_object('account', :b, 'credit', 5),
        pg_catalog.jsonb_build_object('account', :recv, 'debit', 5))),
    pg_catalog.jsonb_build_object('op', 'pending', 'voucher', 's3-x9', 'debit', :recv, 'credit', :b, 'amount', 5),
    pg_catalog.jsonb_build_object('op', 'reverse', 'voucher', 's3-r1', 'reversal_voucher', 's3-x10'),
    pg_catalog.jsonb_build_object('op', 'transfer', 'voucher', 's3-ok1', 'debit', :a, 'credit', :b, 'amount', 1)));
SELECT creditledger.post_batch(pg_catalog.jsonb_build_array(
    pg_catalog.jsonb_build_object('op', 'transfer', 'voucher', 's3-x12', 'debit', :recv, 'credit', :b, 'amount', 500)),
    atomic => true);
-- the messages
\set VERBOSITY default
SELECT creditledger.transfer('s3-x1', :recv, :b, 500);
SELECT creditledger.reverse('s3-r1', 's3-r1-undo');
\set VERBOSITY sqlstate
-- the line's limit holds: 1000 drawn, nothing more
SELECT creditledger.credit_disburse_direct(:loan, 's3-d2', :a, 1000) > 0 AS disbursed;
SELECT creditledger.credit_disburse_direct(:loan, 's3-d3', :a, 1);
-- lending itself still moves the receivable: in transit, posted by a
-- batch, repaid
SELECT creditledger.credit_repay('s3-d2', 's3-r2', :a, 400) > 0 AS repaid;
SELECT creditledger.credit_disburse_direct(:loan, 's3-d4', :b, 300, pending => true) > 0 AS in_transit;
SELECT item, id > 0 AS ok, sqlstate FROM creditledger.post_batch(pg_catalog.jsonb_build_array(
    pg_catalog.jsonb_build_object('op', 'post', 'voucher', 's3-d4-post', 'pending_voucher', 's3-d4', 'amount', 200,
                                  'final', false)));
SELECT creditledger.transfer_void('s3-d4-void', 's3-d4') > 0 AS voided;
RESET ROLE;
SET search_path = creditledger, public;
SELECT count(*) AS refused_left_rows FROM ledger_transfers WHERE voucher LIKE 's3-x%' OR voucher LIKE 's3-%-undo';
SELECT count(*) AS refused_left_holds FROM ledger_pending_transfers WHERE voucher LIKE 's3-x%';
SELECT used, frozen, available FROM credit_line_state(:loan);
SELECT balance(:recv) AS receivable, balance(:a) AS a, balance(:b) AS b;
SELECT * FROM pg_temp.still_safe();

-- An administrator cannot make an account with open pending transfers or
-- funds holds a receivable (posting them later would move it without the
-- line).
SELECT create_credit_line('s3:loan2', 'CNY', 1000) AS loan2 \gset
SELECT open_account('s3:recv2', 'CNY', 'debit', 0) AS recv2 \gset
SELECT open_account('s3:recv3', 'CNY', 'debit', NULL) AS recv3 \gset
SELECT transfer_pending('s3-p-recv2', :recv2, :b, 10) > 0 AS pending;
SELECT hold_funds('s3-h-recv3', :recv3, 1) > 0 AS held;
SET ROLE regress_s3_admin;
SELECT creditledger.set_credit_line_account(:loan2, :recv2);
SELECT creditledger.set_credit_line_account(:loan2, :recv3);
RESET ROLE;
SELECT transfer_void('s3-p-recv2-void', 's3-p-recv2') > 0 AS voided;
SET ROLE regress_s3_admin;
SELECT creditledger.set_credit_line_account(:loan2, :recv2);
RESET ROLE;
SELECT count(*) AS receivables FROM credit_line_accounts;
-- nor does lending move another line's receivable: disbursing line 1 into
-- line 2's receivable, or repaying line 1 out of it
SET ROLE regress_s3_app;
SELECT creditledger.credit_repay('s3-d2', 's3-x13', :recv2, 1);
SELECT creditledger.credit_disburse_direct(:loan, 's3-x14', :recv2, 1);
SELECT creditledger.credit_disburse_direct(:loan, 's3-x15', :recv2, 1, pending => true);
SELECT creditledger.credit_freeze(:loan, 1, 's3-h16') > 0 AS frozen;
SELECT creditledger.credit_disburse('s3-h16', 's3-x16', :recv2);
SELECT creditledger.credit_disburse('s3-h16', 's3-x17', :recv2, pending => true);
RESET ROLE;
SELECT balance(:recv2) AS receivable2, used, frozen FROM credit_line_state(:loan);
SELECT count(*) AS refused_left_rows FROM ledger_transfers WHERE voucher LIKE 's3-x%';
SELECT * FROM pg_temp.still_safe();

------------------------------------------------------------------------
-- 2. post_batch: no item field reaches SQL text; every account and
--    pending id is checked as the single call checks it.
------------------------------------------------------------------------
SET search_path = public, pg_catalog, creditledger;
SET ROLE regress_s3_app;
SELECT * FROM creditledger.post_batch(pg_catalog.jsonb_build_array(
    pg_catalog.jsonb_build_object('op', 'transfer', 'voucher', $v$s3-b1'); DROP TABLE creditledger.bcp_rules; --$v$,
        'debit', :a, 'credit', :b, 'amount', 1,
        'memo', $m$x'); ALTER ROLE regress_s3_app SUPERUSER; --$m$,
        'metadata', pg_catalog.jsonb_build_object('q', $q$'||pg_catalog.pg_sleep(5)||'$q$)),
    pg_catalog.jsonb_build_object('op', 'transfer', 'voucher', 's3-b2', 'debit', :a, 'credit', :usd, 'amount', 1),
    pg_catalog.jsonb_build_object('op', 'transfer', 'voucher', 's3-b3', 'debit', :a, 'credit', :closed, 'amount', 1),
    pg_catalog.jsonb_build_object('op', 'transfer', 'voucher', 's3-b4', 'debit', :blocked, 'credit', :a, 'amount', 1),
    pg_catalog.jsonb_build_object('op', 'transfer', 'voucher', 's3-b5', 'debit', :a, 'credit', 999999, 'amount', 1),
    pg_catalog.jsonb_build_object('op', 'transfer', 'voucher', 's3-b6', 'debit', :a, 'credit', :fees, 'amount', 1),
    pg_catalog.jsonb_build_object('op', 'transfer', 'voucher', 's3-b7', 'debit', :split, 'credit', :a, 'amount', 101),
    pg_catalog.jsonb_build_object('op', 'pending', 'voucher', 's3-b8', 'debit', :blocked, 'credit', :a, 'amount', 1),
    pg_catalog.jsonb_build_object('op', 'post', 'voucher', 's3-b9', 'pending_voucher', 'no-such-pending'),
    pg_catalog.jsonb_build_object('op', 'void', 'voucher', 's3-b10', 'pending_voucher', 'creditledger:disbursement:s3-d4'),
    pg_catalog.jsonb_build_object('op', 'entry', 'voucher', 's3-b11', 'legs', pg_catalog.jsonb_build_array(
        pg_catalog.jsonb_build_object('account', :a, 'debit', 1),
        pg_catalog.jsonb_build_object('account', :usd, 'credit', 1))),
    pg_catalog.jsonb_build_object('op', 'set_credit_line_account', 'line', :loan, 'receivable_account', :a),
    pg_catalog.jsonb_build_object('op', 'transfer', 'voucher', 's3-b13', 'debit', :a, 'credit', :b, 'amount', 1,
        'metadata', '[1]'::jsonb)));
-- the single calls say the same
SELECT creditledger.transfer('s3-b2', :a, :usd, 1);
SELECT creditledger.transfer('s3-b3', :a, :closed, 1);
SELECT creditledger.transfer('s3-b4', :blocked, :a, 1);
SELECT creditledger.transfer('s3-b5', :a, 999999, 1);
SELECT creditledger.transfer('s3-b7', :split, :a, 101);
SELECT creditledger.transfer_pending('s3-b8', :blocked, :a, 1);
SELECT creditledger.transfer_post('s3-b9', 'no-such-pending');
SELECT creditledger.post_entry('s3-b11', pg_catalog.format(
    '[{"account": %s, "debit": 1}, {"account": %s, "credit": 1}]', :a, :usd)::jsonb);
SELECT creditledger.transfer('s3-b13', :a, :b, 1, NULL, '[1]');
RESET ROLE;
SET search_path = creditledger, public;
-- stored as data, byte for byte
SELECT voucher, memo, metadata FROM ledger_transfers WHERE voucher LIKE 's3-b1%' ORDER BY transfer_id;
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_s3_app';
SELECT count(*) AS rules FROM bcp_rules WHERE builtin;
SELECT * FROM pg_temp.still_safe();

------------------------------------------------------------------------
-- 3. Administration under the hostile path: money holds, temporary
--    limits, link control, hot-line settlement, expiries (what the
--    worker's periodic tasks run).
------------------------------------------------------------------------
SELECT create_credit_line('s3:parent', 'CNY', 1000) AS parent \gset
SELECT create_credit_line('s3:child', 'CNY', 100) AS child \gset
SELECT create_credit_line('s3:hotline', 'CNY', 1000) AS hotline \gset
SET search_path = public, pg_catalog, creditledger;
SET ROLE regress_s3_admin;
SELECT creditledger.link_credit_line(:child, :parent, 'grant');
SELECT creditledger.set_temporary_limit(:child, 's3-tl', 50, pg_catalog.now() OPERATOR(pg_catalog.+) interval '1 day') > 0 AS granted;
SELECT creditledger.end_temporary_limit('s3-tl');
SELECT creditledger.credit_apply_temporary_limits() >= 0 AS applied;
SELECT creditledger.set_credit_line_hot(:hotline, 4, 'batched');
SELECT creditledger.set_account_block(:b, 'credits', 'audit');
SELECT creditledger.set_account_block(:b, 'none');
SELECT creditledger.expire_pending() >= 0 AS expired;
SELECT creditledger.credit_expire_holds() >= 0 AS expired;
RESET ROLE;
SET ROLE regress_s3_app;
SELECT creditledger.credit_freeze(:hotline, 10, 's3-hf') > 0 AS frozen;
SELECT creditledger.transfer_pending('s3-pp', :a, :b, 10) > 0 AS pending;
SELECT creditledger.transfer_post('s3-pp-post', 's3-pp', 4, false) > 0 AS posted;
SELECT creditledger.hold_funds('s3-fh', :a, 10) > 0 AS held;
SELECT creditledger.release_funds('s3-fh-rel', 's3-fh') > 0 AS released;
RESET ROLE;
SET ROLE regress_s3_admin;
SELECT creditledger.credit_settle_hot_lines() >= 0 AS settled;
RESET ROLE;
SET search_path = creditledger, public;
SELECT * FROM pg_temp.still_safe();

------------------------------------------------------------------------
-- 4. BCP: user rule SQL never runs as a superuser and never writes, run
--    by the auditor, the runner role, or a superuser session that SET
--    ROLE to either (before the audit a rule run that way could
--    set_config('role', ...) back to the superuser).
------------------------------------------------------------------------
SET ROLE regress_s3_admin;
SELECT creditledger.bcp_add_rule('s3_role_back',
    $q$SELECT s.r, CURRENT_USER AS u FROM (SELECT pg_catalog.set_config('role', 'postgres', false) AS r OFFSET 0) s$q$);
SELECT creditledger.bcp_add_rule('s3_session_back',
    $q$SELECT s.r FROM (SELECT pg_catalog.set_config('session_authorization', 'postgres', false) AS r OFFSET 0) s$q$);
SELECT creditledger.bcp_add_rule('s3_who', $q$SELECT CURRENT_USER AS u WHERE (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = CURRENT_USER)$q$);
SELECT creditledger.bcp_add_rule('s3_writes', pg_catalog.format(
    $q$SELECT creditledger.transfer('s3-by-rule', %s, %s, 1)$q$, :a, :b));
RESET ROLE;
SET ROLE regress_s3_auditor;
SELECT rule, status, sample->>'sqlstate' AS sqlstate
  FROM creditledger.bcp_run(ARRAY['s3_role_back', 's3_session_back', 's3_who', 's3_writes'], false);
SELECT current_user;
RESET ROLE;
SET ROLE creditledger_bcp_runner;
SELECT rule, status, sample->>'sqlstate' AS sqlstate
  FROM creditledger.bcp_run(ARRAY['s3_role_back', 's3_session_back', 's3_who', 's3_writes'], true);
SELECT current_user;
-- the runner reads; it writes nothing, adds no rule, posts nothing
SELECT creditledger.bcp_add_rule('s3_runner', 'SELECT 1 WHERE false');
INSERT INTO creditledger.bcp_result_rows (run_id, rule, severity, status, mismatches, duration_ms)
VALUES (999999, 'chains_intact', 'critical', 'pass', 0, 0);
UPDATE creditledger.bcp_rules SET enabled = false;
SELECT creditledger.transfer('s3-by-runner', :a, :b, 1);
SELECT creditledger.credit_disburse_direct(:loan, 's3-by-runner', :a, 1);
RESET ROLE;
-- the admin may call transfer(), but a rule runs read-only
SET ROLE regress_s3_admin;
SELECT rule, status, sample->>'sqlstate' AS sqlstate
  FROM creditledger.bcp_run(ARRAY['s3_role_back', 's3_writes'], false);
RESET ROLE;
-- a superuser's run executes user rules as the runner role
SELECT rule, status, sample->>'sqlstate' AS sqlstate
  FROM bcp_run(ARRAY['s3_role_back', 's3_session_back', 's3_who', 's3_writes'], false);
SELECT count(*) AS transfers_by_rules FROM ledger_transfers WHERE voucher = 's3-by-rule';
SELECT bcp_drop_rule(r) FROM unnest(ARRAY['s3_role_back', 's3_session_back', 's3_who', 's3_writes']) r;
SELECT * FROM pg_temp.still_safe();

------------------------------------------------------------------------
-- 5. Who may call the 0.3 functions, and what PUBLIC may do.
------------------------------------------------------------------------
SELECT f AS function,
       has_function_privilege('creditledger_admin', f, 'EXECUTE') AS admin,
       has_function_privilege('creditledger_app', f, 'EXECUTE') AS app,
       has_function_privilege('creditledger_auditor', f, 'EXECUTE') AS auditor,
       has_function_privilege('creditledger_bcp_runner', f, 'EXECUTE') AS runner,
       has_function_privilege('regress_s3_nobody', f, 'EXECUTE') AS nobody
  FROM unnest(ARRAY[
    'creditledger.post_batch(jsonb,boolean)',
    'creditledger.transfer_pending(text,bigint,bigint,bigint,timestamptz,text,jsonb)',
    'creditledger.transfer_post(text,text,bigint,boolean)',
    'creditledger.transfer_void(text,text)',
    'creditledger.hold_funds(text,bigint,bigint,text,timestamptz)',
    'creditledger.release_funds(text,text,bigint)',
    'creditledger.expire_pending()',
    'creditledger.set_account_block(bigint,text,text)',
    'creditledger.set_credit_line_account(bigint,bigint)',
    'creditledger.credit_disburse(text,text,bigint,bigint,boolean,boolean)',
    'creditledger.credit_disburse_direct(bigint,text,bigint,bigint,boolean)',
    'creditledger.credit_repay(text,text,bigint,bigint)',
    'creditledger.set_temporary_limit(bigint,text,bigint,timestamptz,timestamptz)',
    'creditledger.end_temporary_limit(text)',
    'creditledger.credit_apply_temporary_limits()',
    'creditledger.link_credit_line(bigint,bigint,text)',
    'creditledger.credit_settle_hot_lines(bigint)',
    'creditledger.bcp_run(text[],boolean)',
    'creditledger.bcp_add_rule(text,text,text,text)']::regprocedure[]) AS f;
-- nothing executable by PUBLIC; every SECURITY DEFINER function and every
-- function not in C pins search_path
SELECT count(*) AS public_functions FROM pg_proc p
 WHERE p.pronamespace = 'creditledger'::regnamespace
   AND has_function_privilege('regress_s3_nobody', p.oid, 'EXECUTE');
SELECT p.oid::regprocedure AS unpinned FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
 WHERE p.pronamespace = 'creditledger'::regnamespace
   AND (p.prosecdef OR l.lanname <> 'c')
   AND NOT coalesce(p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false);
-- no table, view or sequence is writable by anyone but its owner, except
-- the alert thresholds the administrators tune
SELECT c.oid::regclass AS relation, a.grantee::regrole AS grantee, a.privilege_type
  FROM pg_class c, aclexplode(c.relacl) a
 WHERE c.relnamespace = 'creditledger'::regnamespace
   AND a.grantee <> c.relowner
   AND a.privilege_type NOT IN ('SELECT')
 ORDER BY 1, 2, 3;
-- a role with no grants gets nothing from the 0.3 functions
SET ROLE regress_s3_nobody;
SELECT * FROM creditledger.post_batch('[]');
SELECT creditledger.credit_repay('s3-d2', 's3-n', :a, 1);
SELECT creditledger.set_temporary_limit(:child, 's3-n', 1, now());
SELECT creditledger.hold_funds('s3-n', :a, 1);
SELECT creditledger.credit_settle_hot_lines();
RESET ROLE;

-- nothing planted ran, whoever called
SELECT count(*) AS planted_calls FROM public.planted_calls;
SELECT * FROM pg_temp.still_safe();
-- (and the plants were live: unqualified SQL under that path runs them)
SET search_path = public, pg_catalog;
SELECT 1::bigint = 2::bigint AS planted_equal;
SET search_path = creditledger, public;
SELECT what, who FROM public.planted_calls;

\c contrib_regression
DROP DATABASE security03_regression;
DROP ROLE regress_s3_admin, regress_s3_auditor, regress_s3_app, regress_s3_nobody, regress_s3_owner;
