-- Grants: EXECUTE and SELECT revoked from PUBLIC on everything, then what
-- pg_monitor may read.  The roles are created and granted by setup_roles().

REVOKE ALL ON FUNCTION creditledger.stat_workers() FROM PUBLIC;

REVOKE ALL ON creditledger.stat_workers FROM PUBLIC;

GRANT USAGE ON SCHEMA creditledger TO pg_monitor;

GRANT EXECUTE ON FUNCTION creditledger.stat_workers() TO pg_monitor;

GRANT SELECT ON creditledger.stat_workers TO pg_monitor;

REVOKE ALL ON FUNCTION creditledger.stat_latency_bounds(), creditledger.stat_operations_raw(),
    creditledger.stat_errors_raw(), creditledger.stat_hot_accounts_raw(),
    creditledger.stat_reset(), creditledger.stat_quantile(bigint[], float8[], float8, float8)
    FROM PUBLIC;

GRANT EXECUTE ON FUNCTION creditledger.stat_latency_bounds(), creditledger.stat_operations_raw(),
    creditledger.stat_errors_raw(), creditledger.stat_hot_accounts_raw(),
    creditledger.stat_quantile(bigint[], float8[], float8, float8)
    TO pg_monitor;

GRANT SELECT ON creditledger.stat_operations, creditledger.stat_errors,
    creditledger.stat_hot_accounts TO pg_monitor;

REVOKE ALL ON FUNCTION creditledger.metrics() FROM PUBLIC;

GRANT EXECUTE ON FUNCTION creditledger.metrics() TO pg_monitor;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA creditledger FROM PUBLIC;

REVOKE ALL ON ALL TABLES IN SCHEMA creditledger FROM PUBLIC;

REVOKE ALL ON ALL SEQUENCES IN SCHEMA creditledger FROM PUBLIC;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA creditledger FROM PUBLIC;

REVOKE ALL ON ALL TABLES IN SCHEMA creditledger FROM PUBLIC;

REVOKE ALL ON ALL SEQUENCES IN SCHEMA creditledger FROM PUBLIC;

GRANT EXECUTE ON FUNCTION creditledger.metrics(), creditledger._metrics_core(),
    creditledger._metrics_bcp() TO pg_monitor;

GRANT SELECT ON creditledger.credit_alerts, creditledger.bcp_results TO pg_monitor;

GRANT SELECT (name, enabled) ON creditledger.bcp_rules TO pg_monitor;

REVOKE ALL ON FUNCTION creditledger._sweep_account(bigint) FROM PUBLIC;

REVOKE ALL ON creditledger.alert_thresholds FROM PUBLIC;

GRANT SELECT ON creditledger.alert_thresholds TO pg_monitor;

REVOKE ALL ON creditledger.stat_error_thresholds FROM PUBLIC;

REVOKE ALL ON FUNCTION creditledger._alert_thresholds_upsert() FROM PUBLIC;

GRANT SELECT ON creditledger.stat_error_thresholds TO pg_monitor;

REVOKE ALL ON FUNCTION creditledger._prom_label(text) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION creditledger._prom_label(text) TO pg_monitor;

REVOKE ALL ON FUNCTION creditledger._transfer_seal(),
    creditledger._digest_leaf("char", bigint, int, bigint, bytea, bytea),
    creditledger._digest_recompute(bigint, boolean),
    creditledger._digest_transfers("char"[], bigint[], int[], bigint[])
    FROM PUBLIC;

REVOKE ALL ON FUNCTION creditledger._hold_chain_problems(bigint),
    creditledger._hold_digest_recompute(bigint),
    creditledger._hold_entry_hash(bytea, bigint, int, bigint, text, "char", bigint, text, bigint, bigint, bigint, bigint, text, text, text, timestamptz)
    FROM PUBLIC;

REVOKE ALL ON FUNCTION
    creditledger.set_temporary_limit(bigint, text, bigint, timestamptz, timestamptz),
    creditledger.end_temporary_limit(text),
    creditledger.credit_apply_temporary_limits(),
    creditledger.link_credit_line(bigint, bigint, text),
    creditledger.credit_line_state(bigint)
    FROM PUBLIC;

REVOKE ALL ON creditledger.credit_temporary_limits, creditledger.ledger_credit_temporary_limits FROM PUBLIC;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA creditledger FROM PUBLIC;

REVOKE ALL ON ALL TABLES IN SCHEMA creditledger FROM PUBLIC;

REVOKE ALL ON ALL SEQUENCES IN SCHEMA creditledger FROM PUBLIC;

GRANT EXECUTE ON FUNCTION creditledger.metrics(), creditledger._metrics_core(),
    creditledger._metrics_bcp(), creditledger._metrics_holds(), creditledger._prom_label(text)
    TO pg_monitor;

GRANT SELECT ON creditledger.stat_holds TO pg_monitor;
