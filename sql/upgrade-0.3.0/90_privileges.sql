--------------------------------------------------------------------------
-- Roles and privileges (last: covers every function the files above made).
--
-- setup_roles() also creates creditledger_bcp_runner, the dedicated
-- non-superuser role scheduled BCP runs (and user rules run by a superuser)
-- execute as; it reads what an auditor reads and nothing more.  No role is
-- granted a way to write BCP history or run text as the owner: the helpers
-- that allowed it are gone (10_bcp_runs.sql).
--------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION creditledger.setup_roles() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['creditledger_app', 'creditledger_auditor', 'creditledger_admin',
                             'creditledger_bcp_runner'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', r);
        END IF;
        EXECUTE format('GRANT USAGE ON SCHEMA creditledger TO %I', r);
    END LOOP;
    -- scheduled BCP runs execute user rule SQL as this role: never a superuser
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles
                WHERE rolname = 'creditledger_bcp_runner' AND (rolsuper OR rolbypassrls)) THEN
        RAISE EXCEPTION USING ERRCODE = '42501',
            MESSAGE = 'role creditledger_bcp_runner must not be a superuser or bypass row security',
            DETAIL = 'Scheduled BCP runs execute user-written rule SQL as that role.',
            HINT = 'ALTER ROLE creditledger_bcp_runner NOSUPERUSER NOBYPASSRLS; then run setup_roles() again.';
    END IF;

    -- Applications: accounts, postings, balances, credit operations.
    GRANT EXECUTE ON FUNCTION
        creditledger.open_account(text, text, text, bigint, text, int, jsonb),
        creditledger.account_id(text),
        creditledger.balance(bigint),
        creditledger.account_state(bigint),
        creditledger.transfer(text, bigint, bigint, bigint, text, jsonb),
        creditledger.post_entry(text, jsonb, text, jsonb),
        creditledger.reverse(text, text, text),
        creditledger.lock_accounts(bigint[]),
        creditledger.credit_line_id(text),
        creditledger.credit_line_state(bigint),
        creditledger.credit_freeze(bigint, bigint, text, timestamptz),
        creditledger.credit_unfreeze(text, text, bigint),
        creditledger.credit_use(text, text, bigint, boolean),
        creditledger.credit_use_direct(bigint, bigint, text),
        creditledger.credit_return(text, text, bigint),
        creditledger.transfer_pending(text, bigint, bigint, bigint, timestamptz, text, jsonb),
        creditledger.transfer_post(text, text, bigint, boolean),
        creditledger.transfer_void(text, text),
        creditledger.hold_funds(text, bigint, bigint, text, timestamptz),
        creditledger.release_funds(text, text, bigint),
        creditledger.post_batch(jsonb, boolean),
        creditledger.credit_disburse(text, text, bigint, bigint, boolean, boolean),
        creditledger.credit_disburse_direct(bigint, text, bigint, bigint, boolean),
        creditledger.credit_repay(text, text, bigint, bigint)
        TO creditledger_app;

    -- Auditors: read everything (views and ledger tables, for BCP rules),
    -- verify chains and digests, run BCP (its history is written by the run
    -- itself, never by the auditor); never write.
    GRANT SELECT ON ALL TABLES IN SCHEMA creditledger TO creditledger_auditor;
    GRANT EXECUTE ON FUNCTION
        creditledger.account_id(text),
        creditledger.balance(bigint),
        creditledger.account_state(bigint),
        creditledger.verify_chain(bigint),
        creditledger.credit_line_id(text),
        creditledger.credit_line_state(bigint),
        creditledger.bcp_run(text[], boolean),
        creditledger.verify_digest(bigint, bytea),
        creditledger.stat_workers(),
        creditledger.stat_latency_bounds(),
        creditledger.stat_operations_raw(),
        creditledger.stat_errors_raw(),
        creditledger.stat_hot_accounts_raw(),
        creditledger.stat_quantile(bigint[], float8[], float8, float8),
        creditledger._metrics_core(),
        creditledger._metrics_bcp(),
        creditledger._metrics_holds(),
        creditledger._prom_label(text),
        creditledger.metrics()
        TO creditledger_auditor;

    -- The scheduled BCP runner: exactly the auditor's read access.
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members m
                    WHERE m.roleid = 'creditledger_auditor'::regrole
                      AND m.member = 'creditledger_bcp_runner'::regrole) THEN
        GRANT creditledger_auditor TO creditledger_bcp_runner;
    END IF;

    -- Administrators: everything the others may do, plus administration.
    FOREACH r IN ARRAY ARRAY['creditledger_app', 'creditledger_auditor'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members m
                        WHERE m.roleid = r::regrole AND m.member = 'creditledger_admin'::regrole) THEN
            EXECUTE format('GRANT %I TO creditledger_admin', r);
        END IF;
    END LOOP;
    GRANT EXECUTE ON FUNCTION
        creditledger.set_hot_mode(bigint, text, int),
        creditledger.close_account(bigint),
        creditledger.flush(bigint),
        creditledger.stat_reset(),
        creditledger.create_credit_line(text, text, bigint, bigint[], boolean, timestamptz, timestamptz, jsonb),
        creditledger.link_credit_line(bigint, bigint, text),
        creditledger.set_credit_limit(bigint, bigint),
        creditledger.suspend_credit_line(bigint, text),
        creditledger.resume_credit_line(bigint),
        creditledger.close_credit_line(bigint),
        creditledger.set_credit_line_hot(bigint, int, text),
        creditledger.credit_settle_hot_lines(bigint),
        creditledger.credit_expire_holds(),
        creditledger.set_temporary_limit(bigint, text, bigint, timestamptz, timestamptz),
        creditledger.end_temporary_limit(text),
        creditledger.credit_apply_temporary_limits(),
        creditledger.bcp_add_rule(text, text, text, text),
        creditledger.bcp_enable_rule(text, boolean),
        creditledger.bcp_drop_rule(text),
        creditledger.ledger_digest(),
        creditledger.set_account_block(bigint, text, text),
        creditledger.expire_pending(),
        creditledger.set_credit_line_account(bigint, bigint)
        TO creditledger_admin;
    -- per-code alert thresholds are tuned by administrators with plain DML
    GRANT INSERT, UPDATE, DELETE ON creditledger.alert_thresholds TO creditledger_admin;
END
$$;
COMMENT ON FUNCTION creditledger.setup_roles() IS
    'Creates (if missing) the NOLOGIN roles creditledger_app, creditledger_auditor, creditledger_admin and creditledger_bcp_runner (scheduled BCP runs; never a superuser) and grants them their functions; run once by a superuser, again after an upgrade.';

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA creditledger FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA creditledger FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA creditledger FROM PUBLIC;
GRANT EXECUTE ON FUNCTION creditledger.metrics(), creditledger._metrics_core(),
    creditledger._metrics_bcp(), creditledger._metrics_holds(), creditledger._prom_label(text)
    TO pg_monitor;
GRANT SELECT ON creditledger.stat_holds TO pg_monitor;
