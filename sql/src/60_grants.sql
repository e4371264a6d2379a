-- Grants: nothing is PUBLIC's (EXECUTE and SELECT revoked on every
-- function, table, view and sequence of the schema), then what pg_monitor
-- may read.  The extension's own roles are created and granted by
-- setup_roles() (20_functions/90_privileges.sql).

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA creditledger FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA creditledger FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA creditledger FROM PUBLIC;

GRANT USAGE ON SCHEMA creditledger TO pg_monitor;

GRANT EXECUTE ON FUNCTION creditledger.stat_workers() TO pg_monitor;

GRANT SELECT ON creditledger.stat_workers TO pg_monitor;

GRANT EXECUTE ON FUNCTION creditledger.stat_latency_bounds(), creditledger.stat_operations_raw(),
    creditledger.stat_errors_raw(), creditledger.stat_hot_accounts_raw(),
    creditledger.stat_quantile(bigint[], float8[], float8, float8)
    TO pg_monitor;

GRANT SELECT ON creditledger.stat_operations, creditledger.stat_errors,
    creditledger.stat_hot_accounts TO pg_monitor;

GRANT SELECT ON creditledger.credit_alerts, creditledger.bcp_results TO pg_monitor;

GRANT SELECT (name, enabled) ON creditledger.bcp_rules TO pg_monitor;

GRANT SELECT ON creditledger.alert_thresholds TO pg_monitor;

GRANT SELECT ON creditledger.stat_error_thresholds TO pg_monitor;

GRANT EXECUTE ON FUNCTION creditledger._prom_label(text) TO pg_monitor;

GRANT EXECUTE ON FUNCTION creditledger.metrics(), creditledger._metrics_core(),
    creditledger._metrics_bcp(), creditledger._metrics_holds(), creditledger._prom_label(text)
    TO pg_monitor;

GRANT SELECT ON creditledger.stat_holds TO pg_monitor;
