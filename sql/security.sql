-- security: every attack of the 0.2.0 security review (issue 10) and the
-- ones found since, tried as the roles that would try them: an admin, an
-- auditor, an application, a role with no grants, and a database owner who
-- may create objects in a writable public schema.  Each attack must fail
-- with a clear SQLSTATE and change nothing; after each group, no role has
-- gained an attribute, verify_chain() is clean and bcp_run() passes.
-- (The worker's search_path attack needs a server: TAP 008.)
CREATE DATABASE security_regression;
\c security_regression
SET client_min_messages = warning;
CREATE EXTENSION creditledger;
SELECT creditledger.setup_roles();
RESET client_min_messages;
SET search_path = creditledger, public;
\set VERBOSITY sqlstate

CREATE ROLE regress_sec_admin;
CREATE ROLE regress_sec_auditor;
CREATE ROLE regress_sec_app;
CREATE ROLE regress_sec_nobody;
CREATE ROLE regress_sec_owner;
GRANT creditledger_admin TO regress_sec_admin;
GRANT creditledger_auditor TO regress_sec_auditor;
GRANT creditledger_app TO regress_sec_app;
-- the PostgreSQL 14 default: anyone may create objects in public
GRANT CREATE ON SCHEMA public TO PUBLIC;

-- The state every attack must leave: no role changed its attributes, chains
-- intact, every enabled rule passes (run as a superuser: built-in rules).
CREATE FUNCTION pg_temp.roles_fingerprint() RETURNS text LANGUAGE sql AS $$
    SELECT string_agg(format('%s:%s%s%s%s%s', rolname, rolsuper, rolcreaterole, rolcreatedb,
                             rolbypassrls, rolreplication), ',' ORDER BY rolname)
      FROM pg_roles WHERE rolname LIKE 'regress\_sec\_%' OR rolname LIKE 'creditledger\_%'
$$;
CREATE FUNCTION pg_temp.still_safe(fingerprint text) RETURNS TABLE(roles_unchanged boolean,
        chains_intact boolean, rules_failing bigint) LANGUAGE sql AS $$
    SELECT pg_temp.roles_fingerprint() = fingerprint,
           NOT EXISTS (SELECT 1 FROM creditledger.verify_chain()),
           (SELECT count(*) FROM creditledger.bcp_run(record => false) r WHERE r.status <> 'pass')
$$;
SELECT pg_temp.roles_fingerprint() AS fp \gset
SET client_min_messages = warning;

SELECT open_account('sec:bank', 'CNY', 'debit', NULL) AS bank \gset
SELECT open_account('sec:a', 'CNY') AS a \gset
SELECT open_account('sec:fees', 'CNY', hot_mode => 'buffered') AS fees \gset
SELECT open_account('sec:split', 'CNY', hot_mode => 'split', shards => 4) AS split \gset
SELECT open_account('sec:both', 'CNY', hot_mode => 'buffered_split', shards => 2) AS both_ \gset
SELECT transfer('sec-1', :bank, :a, 1000) > 0 AS ok;
SELECT transfer('sec-2', :a, :fees, 10) > 0 AS ok;
SELECT transfer('sec-3', :bank, :split, 400) > 0 AS ok;
SELECT transfer('sec-4', :bank, :both_, 100) > 0 AS ok;
SELECT * FROM pg_temp.still_safe(:'fp');

------------------------------------------------------------------------
-- 1. An admin tries to run SQL through bcp_add_rule (was: superuser).
------------------------------------------------------------------------
SET ROLE regress_sec_admin;
-- the 0.2.0 exploit: text spliced into a statement run by the owner
SELECT bcp_add_rule('x1', $q$SELECT 1) s; ALTER ROLE regress_sec_admin SUPERUSER; SELECT * FROM (SELECT 1$q$);
SELECT bcp_add_rule('x2', $q$SELECT 1; ALTER ROLE regress_sec_admin SUPERUSER$q$);
-- not a query, or a query that writes or locks
SELECT bcp_add_rule('x3', $q$ALTER ROLE regress_sec_admin SUPERUSER$q$);
SELECT bcp_add_rule('x4', $q$WITH d AS (DELETE FROM creditledger.bcp_rules RETURNING 1) SELECT * FROM d$q$);
SELECT bcp_add_rule('x5', $q$SELECT * INTO public.stolen FROM creditledger.ledger_accounts$q$);
SELECT bcp_add_rule('x6', $q$SELECT * FROM creditledger.ledger_accounts FOR UPDATE$q$);
SELECT bcp_add_rule('x7', $q$SELECT 1 UNION ALL (SELECT 1 FROM creditledger.ledger_accounts FOR SHARE)$q$);
-- checked with the admin's own rights: no reading what the admin cannot read
SELECT bcp_add_rule('x8', $q$SELECT rolpassword FROM pg_authid$q$);
-- a rule calling a writing function is a query, but runs read-only
SELECT bcp_add_rule('x9', format($q$SELECT creditledger.transfer('sec-by-rule', %s, %s, 1)$q$, :a, :bank));
SELECT rule, status, sample->>'sqlstate' AS sqlstate FROM bcp_run(ARRAY['x9'], false);
SELECT bcp_drop_rule('x9');
-- the admin cannot write the rule table directly either
INSERT INTO creditledger.bcp_rules (name, check_sql) VALUES ('x10', 'SELECT 1 WHERE false');
RESET ROLE;
SELECT count(*) AS rules_stored FROM bcp_rules WHERE NOT builtin;
SELECT count(*) AS transfers_by_rules FROM ledger_transfers WHERE voucher = 'sec-by-rule';
SELECT * FROM pg_temp.still_safe(:'fp');

------------------------------------------------------------------------
-- 3. User rules never run as a superuser: a superuser's bcp_run runs them
--    as creditledger_bcp_runner, who cannot read server files.
------------------------------------------------------------------------
SET ROLE regress_sec_admin;
SELECT bcp_add_rule('reads_a_file', $q$SELECT 1 AS x WHERE false$q$);
RESET ROLE;
-- (stored text can only change through bcp_add_rule; simulate an older
-- rule that was added before the checks existed)
UPDATE bcp_rules SET check_sql = $q$SELECT pg_read_file('/etc/passwd') AS f$q$
 WHERE name = 'reads_a_file';
SELECT rule, status, mismatches, sample->>'sqlstate' AS sqlstate,
       sample::text LIKE '%root:%' AS leaked
  FROM bcp_run(ARRAY['reads_a_file']);
SELECT count(*) AS leaked_into_history FROM bcp_results WHERE sample::text LIKE '%root:%';
SELECT bcp_drop_rule('reads_a_file');

------------------------------------------------------------------------
-- 4 and 8. BCP history is written only by a real run; the auditor and the
--    admin can run BCP (record => false and true).
------------------------------------------------------------------------
SET ROLE regress_sec_auditor;
SELECT count(*) AS rules, count(*) FILTER (WHERE status = 'pass') AS passing
  FROM bcp_run(record => false);
SELECT count(*) AS rules, count(*) FILTER (WHERE status = 'pass') AS passing
  FROM bcp_run(record => true);
-- forging: the 0.2.0 helpers are gone, the tables are not writable
SELECT creditledger._bcp_record(999999, 'chains_intact', 'critical', 'pass', 0, NULL, 0);
SELECT creditledger._bcp_new_run();
INSERT INTO creditledger.bcp_result_rows (run_id, rule, severity, status, mismatches, duration_ms)
VALUES (999999, 'chains_intact', 'critical', 'pass', 0, 0);
UPDATE creditledger.bcp_result_rows SET status = 'pass';
DELETE FROM creditledger.bcp_result_rows;
SELECT nextval('creditledger.bcp_run_id_seq');
-- nor can it relax a rule's threshold for its own runs
SET creditledger.bcp_buffer_max_age = '100 years';
SET creditledger.bcp_rule_timeout = 1;
RESET ROLE;
SET ROLE regress_sec_admin;
SELECT count(*) AS rules, count(*) FILTER (WHERE status = 'pass') AS passing
  FROM bcp_run(record => true);
RESET ROLE;
SELECT count(DISTINCT run_id) AS recorded_runs, count(*) FILTER (WHERE run_id = 999999) AS forged
  FROM bcp_results;
-- metrics(): one sample per enabled rule, label values escaped
SELECT count(*) AS failing_samples FROM regexp_split_to_table(metrics(), E'\n') AS line
 WHERE line LIKE 'creditledger_bcp_rule_failing%' AND line NOT LIKE '% 0';
SELECT * FROM pg_temp.still_safe(:'fp');

------------------------------------------------------------------------
-- 6. Overflow is refused at the call, counting buffered postings and
--    sub-accounts, so flushes, balance() and BCP keep working.
------------------------------------------------------------------------
-- each attack debits a fresh credit-normal source without a floor, which
-- can go to -9.2e18 itself: the refusal is the hot account's
SELECT open_account('sec:src' || i, 'CNY', 'credit', NULL) FROM generate_series(1, 8) i;
SELECT account_id('sec:src1') AS s1, account_id('sec:src2') AS s2, account_id('sec:src3') AS s3,
       account_id('sec:src4') AS s4, account_id('sec:src5') AS s5, account_id('sec:src6') AS s6,
       account_id('sec:src7') AS s7 \gset
SET ROLE regress_sec_app;
-- buffered increases: the total (posted + buffered) stays within the bound
SELECT transfer('sec-ov-1', :s1, :fees, 9223372036854775807);
SELECT transfer('sec-ov-2', :s2, :fees, 4611686018427387904);
SELECT transfer('sec-ov-3', :s3, :fees, 1000) > 0 AS within_bound;
-- split: the sum of the sub-accounts too
SELECT transfer('sec-ov-4', :s4, :split, 9223372036854775000);
SELECT transfer('sec-ov-5', :s5, :both_, 9223372036854775000);
-- a multi-leg entry that posts a buffered account immediately (it also
-- decreases it) too
SELECT post_entry('sec-ov-6', format('[{"account": %s, "debit": 1},
    {"account": %s, "debit": 9223372036854775806},
    {"account": %s, "credit": 9223372036854775807}]', :fees, :s6, :fees)::jsonb);
RESET ROLE;
SELECT count(*) AS refused_calls_left_rows FROM ledger_transfers WHERE voucher LIKE 'sec-ov-%' AND voucher <> 'sec-ov-3';
SELECT flush(NULL) >= 1 AS flushed;
SELECT balance(:fees) AS fees_balance, balance(:split) AS split_balance;
-- a 'none' account with a balance beyond the bound cannot become hot
SELECT open_account('sec:huge', 'CNY') AS huge \gset
SELECT transfer('sec-ov-7', :s7, :huge, 9223372036854775000) > 0 AS ok;
SELECT set_hot_mode(:huge, 'buffered');
SELECT hot_mode FROM accounts WHERE account_id = :huge;
SELECT transfer('sec-ov-8', :huge, :s7, 9223372036854775000) > 0 AS ok;
SELECT * FROM pg_temp.still_safe(:'fp');

------------------------------------------------------------------------
-- 7. The creditledger: reference namespace is reserved: no squatting on
--    the voucher of a future gather, flush, spread or conversion.
------------------------------------------------------------------------
SELECT max(transfer_id) + 1 AS next_id FROM ledger_transfers \gset
SET ROLE regress_sec_app;
SELECT transfer(format('creditledger:gather:%s:%s', :split, :next_id), :bank, :a, 1);
SELECT transfer('creditledger:', :bank, :a, 1);
SELECT post_entry('creditledger:x', format('[{"account": %s, "debit": 1}, {"account": %s, "credit": 1}]', :bank, :a)::jsonb);
SELECT reverse('sec-1', 'creditledger:reversal');
SELECT credit_freeze(1, 1, 'creditledger:hold');
SELECT credit_unfreeze('creditledger:hold', 'x');
-- a caller's voucher may contain the word elsewhere
SELECT transfer('my-creditledger:1', :bank, :a, 1) > 0 AS ok;
RESET ROLE;
SELECT count(*) AS squatted FROM ledger_transfers WHERE voucher LIKE 'creditledger:%' AND kind <> 'entry';
-- internal moves still work: a split debit that gathers, a flush, a conversion
SELECT transfer('sec-7-1', :split, :bank, 399) > 0 AS gathered;
SELECT set_hot_mode(:split, 'split', 3);
SELECT set_hot_mode(:fees, 'none');
SELECT * FROM pg_temp.still_safe(:'fp');

------------------------------------------------------------------------
-- 9. credit_return always works: a use that could make the cumulative
--    returned overflow is refused when it is made.
------------------------------------------------------------------------
SELECT create_credit_line('sec:line', 'CNY', 9223372036854775807) AS line \gset
SET ROLE regress_sec_app;
SELECT credit_use_direct(:line, 6000000000000000000, 'sec-d1') > 0 AS ok;
SELECT credit_return('sec-d1', 'sec-r1', 6000000000000000000) > 0 AS ok;
-- used 0, returned 6e18: another 6e18 could never be returned
SELECT credit_use_direct(:line, 6000000000000000000, 'sec-d2');
SELECT credit_freeze(:line, 6000000000000000000, 'sec-h2');
SELECT credit_use_direct(:line, 3000000000000000000, 'sec-d3') > 0 AS ok;
SELECT credit_return('sec-d3', 'sec-r3', 3000000000000000000) > 0 AS returned_in_full;
RESET ROLE;
SELECT frozen, used, returned, available FROM credit_line_state(:line);
SELECT * FROM pg_temp.still_safe(:'fp');

------------------------------------------------------------------------
-- 10. Small inputs and messages.
------------------------------------------------------------------------
SET ROLE regress_sec_app;
-- a leg amount is an integer however JSON writes it: 5, 5.0 and 5e0 alike
SELECT post_entry('sec-10-1', format('[{"account": %s, "debit": 5e0}, {"account": %s, "credit": 5.0}]', :bank, :a)::jsonb) > 0 AS ok;
SELECT post_entry('sec-10-2', format('[{"account": %s, "debit": 5.5}, {"account": %s, "credit": 5.5}]', :bank, :a)::jsonb);
SELECT post_entry('sec-10-3', format('[{"account": %s, "debit": 1e19}, {"account": %s, "credit": 1e19}]', :bank, :a)::jsonb);
-- metadata is a JSON object
SELECT transfer('sec-10-4', :bank, :a, 1, NULL, '[1]');
SELECT transfer('sec-10-5', :bank, :a, 1, NULL, '"x"');
SELECT open_account('sec:m', 'CNY', metadata => '[]');
-- references are not blank
SELECT transfer(' ', :bank, :a, 1);
SELECT transfer(E'\t\n', :bank, :a, 1);
SELECT credit_freeze(1, 1, '   ');
SELECT open_account('  ', 'CNY');
RESET ROLE;
SELECT amount FROM journal WHERE voucher = 'sec-10-1' ORDER BY entry_id;
SELECT create_credit_line('sec:m', 'CNY', 1, metadata => '[]');
SELECT create_credit_line(' ', 'CNY', 1);
-- the same NULL wording from C and PL/pgSQL functions
\set VERBOSITY default
SELECT transfer(NULL, :bank, :a, 1);
SELECT credit_freeze(:line, 1, NULL);
SELECT credit_use_direct(:line, NULL, 'x');
-- the append-only guard names the table it protects
DELETE FROM credit_journal_entries;
SELECT ledger_digest() IS NOT NULL AS digested;
DELETE FROM bcp_digests;
UPDATE journal_entries SET amount = 0;
\set VERBOSITY sqlstate
SELECT * FROM pg_temp.still_safe(:'fp');

------------------------------------------------------------------------
-- A role with no grants, and a database owner's planted objects.
------------------------------------------------------------------------
SET ROLE regress_sec_nobody;
SELECT creditledger.balance(:a);
SELECT * FROM creditledger.bcp_run();
SELECT creditledger.bcp_add_rule('n1', 'SELECT 1 WHERE false');
SELECT creditledger.setup_roles();
RESET ROLE;
-- Objects planted in public by a non-superuser (CVE-2018-1058): if any of
-- them ever runs, it writes a row into public.planted_calls.
SET ROLE regress_sec_owner;
CREATE TABLE public.planted_calls (what text);
GRANT INSERT, SELECT ON public.planted_calls TO PUBLIC;
CREATE FUNCTION public.nextval(text) RETURNS bigint LANGUAGE sql AS $$
    INSERT INTO public.planted_calls VALUES ('nextval'); SELECT pg_catalog.nextval($1::regclass) $$;
CREATE FUNCTION public.planted_concat(text, bigint) RETURNS text LANGUAGE sql AS $$
    INSERT INTO public.planted_calls VALUES ('||'); SELECT $1 OPERATOR(pg_catalog.||) $2::text $$;
CREATE OPERATOR public.|| (LEFTARG = text, RIGHTARG = bigint, FUNCTION = public.planted_concat);
CREATE FUNCTION public.planted_eq(bigint, bigint) RETURNS boolean LANGUAGE sql AS $$
    INSERT INTO public.planted_calls VALUES ('='); SELECT $1 OPERATOR(pg_catalog.=) $2 $$;
CREATE OPERATOR public.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = public.planted_eq);
CREATE FUNCTION public.sum(bigint) RETURNS bigint LANGUAGE sql AS $$
    INSERT INTO public.planted_calls VALUES ('sum()'); SELECT $1 $$;
RESET ROLE;
-- every role, with public first on its search_path, uses the extension
SET search_path = public, pg_catalog, creditledger;
SET ROLE regress_sec_app;
SELECT creditledger.transfer('sec-p-1', :bank, :both_, 50) > 0 AS ok;
SELECT creditledger.transfer('sec-p-2', :split, :bank, 1) > 0 AS ok;
SELECT creditledger.balance(:both_) > 0 AS ok;
SELECT creditledger.credit_freeze(:line, 1, 'sec-p-h') > 0 AS ok;
RESET ROLE;
SET ROLE regress_sec_admin;
SELECT creditledger.flush(NULL) >= 1 AS flushed;
SELECT creditledger.credit_settle_hot_lines() >= 0 AS settled;
SELECT creditledger.set_hot_mode(:both_, 'buffered_split', 3);
SELECT creditledger.bcp_add_rule('p1', 'SELECT 1 WHERE false');
-- a rule that runs first and changes search_path for the rules after it
SELECT creditledger.bcp_add_rule('aaa_sets_path',
    $r$SELECT s.p FROM (SELECT pg_catalog.set_config('search_path', 'public, pg_catalog', false) AS p) s
        WHERE s.p IS NULL$r$);
RESET ROLE;
SET ROLE regress_sec_auditor;
SELECT count(*) FILTER (WHERE status <> 'pass') AS failing FROM creditledger.bcp_run();
SHOW search_path;
SELECT count(*) AS problems FROM creditledger.verify_chain();
RESET ROLE;
SET search_path = creditledger, public;
SELECT count(*) AS planted_calls FROM public.planted_calls;
SELECT * FROM pg_temp.still_safe(:'fp');

------------------------------------------------------------------------
-- Money holds (0.3.0): who may call them, and the reserved namespace.
------------------------------------------------------------------------
SET ROLE regress_sec_nobody;
SELECT creditledger.transfer_pending('sec-mh-n', :bank, :a, 1);
SELECT creditledger.hold_funds('sec-mh-n', :a, 1);
RESET ROLE;
SET ROLE regress_sec_app;
SELECT creditledger.set_account_block(:a, 'all');
SELECT creditledger.expire_pending();
SELECT creditledger.transfer_pending('creditledger:pending', :bank, :a, 1);
SELECT creditledger.hold_funds('creditledger:hold', :a, 1);
SELECT creditledger.transfer_post('creditledger:post', 'sec-none');
SELECT creditledger.transfer_void('creditledger:void', 'sec-none');
SELECT creditledger.release_funds('creditledger:release', 'sec-none');
RESET ROLE;
SET ROLE regress_sec_auditor;
INSERT INTO creditledger.ledger_funds_holds DEFAULT VALUES;
RESET ROLE;
SELECT * FROM pg_temp.still_safe(:'fp');

------------------------------------------------------------------------
-- Credit administration in C (0.3.0): the functions run with the owner's
-- rights (SECURITY DEFINER), so EXECUTE is the whole gate: the application,
-- the auditor and a role with no grants get 42501 and change nothing; the
-- application and the auditor may look an id up.
------------------------------------------------------------------------
SELECT count(*) AS lines_before FROM creditledger.ledger_credit_lines \gset
SELECT status, status_reason, hot_slices FROM creditledger.ledger_credit_lines WHERE line_id = :line;
SET ROLE regress_sec_app;
SELECT creditledger.create_credit_line('sec:app-line', 'CNY', 1);
SELECT creditledger.suspend_credit_line(:line, 'app');
SELECT creditledger.resume_credit_line(:line);
SELECT creditledger.close_credit_line(:line);
SELECT creditledger.set_credit_line_hot(:line, 4);
SELECT creditledger.credit_line_id('sec:line') = :line AS app_finds_line;
RESET ROLE;
SET ROLE regress_sec_auditor;
SELECT creditledger.create_credit_line('sec:auditor-line', 'CNY', 1);
SELECT creditledger.suspend_credit_line(:line, 'auditor');
SELECT creditledger.set_credit_line_hot(:line, 4);
SELECT creditledger.credit_line_id('sec:line') = :line AS auditor_finds_line;
RESET ROLE;
SET ROLE regress_sec_nobody;
SELECT creditledger.create_credit_line('sec:nobody-line', 'CNY', 1);
SELECT creditledger.close_credit_line(:line);
SELECT creditledger.credit_line_id('sec:line');
RESET ROLE;
SELECT status, status_reason, hot_slices FROM creditledger.ledger_credit_lines WHERE line_id = :line;
SELECT count(*) - :lines_before AS lines_added FROM creditledger.ledger_credit_lines;

-- Batched hot lines (0.3.0): journaling a batched line's pending slice
-- changes is the worker's and the administrators' (SECURITY DEFINER, so
-- EXECUTE is the gate); nobody writes the pending columns by hand.
SET ROLE regress_sec_app;
SELECT creditledger.credit_settle_hot_lines();
SELECT creditledger.set_credit_line_hot(:line, 4, 'per_slice');
UPDATE creditledger.credit_line_slices SET pending_frozen = 1;
RESET ROLE;
SET ROLE regress_sec_auditor;
SELECT creditledger.credit_settle_hot_lines(:line);
UPDATE creditledger.credit_line_slices SET pending_since = NULL;
SELECT count(*) >= 0 AS auditor_reads_slices FROM creditledger.credit_line_slices;
RESET ROLE;
SET ROLE regress_sec_nobody;
SELECT creditledger.credit_settle_hot_lines();
RESET ROLE;
SET ROLE regress_sec_admin;
SELECT creditledger.credit_settle_hot_lines(:line) >= 0 AS settled;
RESET ROLE;

------------------------------------------------------------------------
-- Temporary limits and link control (0.3.0): administrators only; the
-- auditor reads, never writes.
------------------------------------------------------------------------
SET ROLE regress_sec_app;
SELECT creditledger.set_temporary_limit(:line, 'sec-tl', 1, now() + interval '1 day');
SELECT creditledger.end_temporary_limit('sec-tl');
SELECT creditledger.credit_apply_temporary_limits();
SELECT creditledger.link_credit_line(:line, :line, 'grant');
SELECT temporary_limit, granted FROM creditledger.credit_line_state(:line);
RESET ROLE;
SET ROLE regress_sec_auditor;
SELECT creditledger.set_temporary_limit(:line, 'sec-tl', 1, now() + interval '1 day');
SELECT count(*) AS temporary_limits FROM creditledger.credit_temporary_limits;
UPDATE creditledger.ledger_credit_temporary_limits SET amount = 1;
UPDATE creditledger.credit_line_links SET control = 'grant';
RESET ROLE;
SELECT creditledger.create_credit_line('sec:tl', 'CNY', 100) AS tline \gset
SET ROLE regress_sec_admin;
SELECT creditledger.set_temporary_limit(:tline, 'creditledger:tl', 1, now() + interval '1 day');
-- the limit plus temporary limits must stay a bigint
SELECT creditledger.set_temporary_limit(:line, 'sec-tl', 1, now() + interval '1 day');
SELECT creditledger.set_temporary_limit(:tline, 'sec-tl', 1, now() + interval '1 day') > 0 AS granted;
SELECT creditledger.end_temporary_limit('sec-tl');
SELECT creditledger.credit_apply_temporary_limits() >= 0 AS applied;
UPDATE creditledger.ledger_credit_lines SET temporary_limit = 1000000;
RESET ROLE;
SELECT * FROM pg_temp.still_safe(:'fp');

------------------------------------------------------------------------
-- Batch posting (0.3.0): refused without grants; the app gets the single
-- calls' rights and nothing more, whatever the jsonb says.
------------------------------------------------------------------------
SET ROLE regress_sec_nobody;
SELECT * FROM creditledger.post_batch(jsonb_build_array(jsonb_build_object(
    'op', 'transfer', 'voucher', 'sec-b-n', 'debit', :bank, 'credit', :a, 'amount', 1)));
RESET ROLE;
SET ROLE regress_sec_app;
-- reserved namespace, a key that is no argument, an unknown op, nesting
SELECT * FROM creditledger.post_batch(jsonb_build_array(
    jsonb_build_object('op', 'transfer', 'voucher', 'creditledger:flush', 'debit', :bank, 'credit', :a, 'amount', 1),
    jsonb_build_object('op', 'transfer', 'voucher', 'sec-b-1', 'debit', :bank, 'credit', :a, 'amount', 1,
                       'search_path', 'public'),
    jsonb_build_object('op', 'set_account_block', 'account', :a, 'block', 'all'),
    jsonb_build_object('op', 'entry', 'voucher', 'sec-b-2',
                       'legs', (SELECT pg_catalog.repeat('[', 5000) || pg_catalog.repeat(']', 5000))::jsonb)));
RESET ROLE;
SELECT * FROM pg_temp.still_safe(:'fp');

------------------------------------------------------------------------
-- Lending (0.3.0): set_credit_line_account is the admin's; the app
-- disburses and repays; nobody else does either; an app cannot touch a
-- disbursement's transit hold, nor move credit without money on a
-- lending line.
------------------------------------------------------------------------
SELECT open_account('sec:recv', 'CNY', 'debit', 0) AS recv \gset
SELECT create_credit_line('sec:loan', 'CNY', 1000) AS loan \gset
SET ROLE regress_sec_app;
SELECT creditledger.set_credit_line_account(:loan, :recv);
RESET ROLE;
SET ROLE regress_sec_nobody;
SELECT creditledger.set_credit_line_account(:loan, :recv);
SELECT creditledger.credit_disburse_direct(:loan, 'sec-ld-n', :a, 1);
SELECT creditledger.credit_disburse('sec-ld-h', 'sec-ld-n', :a);
SELECT creditledger.credit_repay('sec-ld-d1', 'sec-ld-n', :a, 1);
RESET ROLE;
SET ROLE regress_sec_auditor;
SELECT creditledger.credit_disburse_direct(:loan, 'sec-ld-n', :a, 1);
RESET ROLE;
SET ROLE regress_sec_admin;
SELECT creditledger.set_credit_line_account(:loan, :recv);
RESET ROLE;
SET ROLE regress_sec_app;
SELECT creditledger.credit_disburse_direct(:loan, 'sec-ld-d1', :a, 100) > 0 AS disbursed;
SELECT creditledger.credit_disburse_direct(:loan, 'sec-ld-p1', :a, 100, pending => true) > 0 AS in_transit;
SELECT creditledger.credit_unfreeze('creditledger:disbursement:sec-ld-p1', 'sec-ld-x');
SELECT creditledger.credit_disburse_direct(:loan, 'creditledger:disbursement:x', :a, 1);
SELECT creditledger.credit_use_direct(:loan, 1, 'sec-ld-x');
SELECT creditledger.credit_return('sec-ld-d1', 'sec-ld-x', 1);
SELECT creditledger.credit_repay('sec-ld-d1', 'sec-ld-r1', :a, 40) > 0 AS repaid;
SELECT creditledger.transfer_void('sec-ld-p1-void', 'sec-ld-p1') > 0 AS voided;
-- the tables stay the extension's
UPDATE creditledger.credit_line_accounts SET receivable_account = :a;
INSERT INTO creditledger.ledger_credit_pending_disbursements (drawdown_id, ref, line_id, receivable_account, to_account, amount, pending_id, transit_hold_id)
VALUES (1, 'x', :loan, :recv, :a, 1, 1, 1);
RESET ROLE;
SELECT * FROM pg_temp.still_safe(:'fp');

\c contrib_regression
DROP DATABASE security_regression;
DROP ROLE regress_sec_admin, regress_sec_auditor, regress_sec_app, regress_sec_nobody, regress_sec_owner;
