-- Monitoring: statistics views, metrics(), alert thresholds: tables, sequences, indexes and their comments.
-- Part of the current install script (sql/creditledger--0.3.0.sql, assembled by
-- the Makefile from sql/src/ in path order: tables, functions, triggers,
-- views, data, grants).

-- Per-error-code alert thresholds.  The shipped alert rules compare each
-- (operation, SQLSTATE)'s errors per minute with the threshold that applies
-- to it, exported by metrics() (creditledger_error_threshold_per_minute),
-- so alerting is tuned with an UPDATE here.
--
-- Which row applies to an error (operation o, SQLSTATE s): the most
-- specific one, SQLSTATE first: sqlstate = s, then a class 'XX%' that s is
-- in, then '*'; within those, operation = o before '*'.  max_per_minute
-- NULL: never alert for what the row covers.  Rows made by CREATE
-- EXTENSION have builtin = true; all rows are dumped, and a restore (which
-- loads them after CREATE EXTENSION made the shipped ones) replaces a
-- shipped row by its dumped copy instead of failing on the duplicate key.
CREATE TABLE creditledger.alert_thresholds (
    sqlstate        text NOT NULL
                    CHECK (sqlstate ~ '^([0-9A-Z]{5}|[0-9A-Z]{2}%|\*)$'),
    operation       text NOT NULL DEFAULT '*'
                    CHECK (operation ~ '^([a-z][a-z0-9_]{0,62}|\*)$'),
    max_per_minute  double precision CHECK (max_per_minute >= 0),
    min_calls       double precision NOT NULL DEFAULT 0 CHECK (min_calls >= 0),
    severity        text NOT NULL DEFAULT 'warning'
                    CHECK (severity IN ('critical', 'warning', 'info')),
    description     text,
    builtin         boolean NOT NULL DEFAULT false,
    PRIMARY KEY (sqlstate, operation)
);
COMMENT ON TABLE creditledger.alert_thresholds IS
    'Alert thresholds per error code: sqlstate (a code such as LD001, a class such as ''LD%'', or ''*''), operation (an API function or ''*''), max_per_minute (errors per minute of one operation above which the shipped rule CreditledgerErrorRateAboveThreshold fires; NULL: never), min_calls (the rule applies only while the operation has at least this many calls per minute), severity of the alert (critical, warning, info). The most specific row applies (SQLSTATE before operation; see stat_error_thresholds). Administrators edit it; metrics() exports the result.';
COMMENT ON COLUMN creditledger.alert_thresholds.sqlstate IS
    'A SQLSTATE (LD004), a class (''LD%'': two characters and %), or ''*'' (any).';
COMMENT ON COLUMN creditledger.alert_thresholds.operation IS
    'An API function as named in stat_operations (transfer, credit_freeze, ...) or ''*'' (any).';
COMMENT ON COLUMN creditledger.alert_thresholds.max_per_minute IS
    'Errors per minute (of one operation with one SQLSTATE) above which the alert fires; NULL: no alert for what this row covers.';
COMMENT ON COLUMN creditledger.alert_thresholds.min_calls IS
    'The alert applies only while the operation is called at least this many times per minute (failed calls included); 0: always.';
COMMENT ON COLUMN creditledger.alert_thresholds.severity IS
    'Severity label of the alert: critical (page), warning, info.';
COMMENT ON COLUMN creditledger.alert_thresholds.builtin IS
    'Shipped with the extension (a restore or an upgrade brings back a shipped row that was deleted: to silence one, set its max_per_minute to NULL).';
SELECT pg_catalog.pg_extension_config_dump('creditledger.alert_thresholds', '');
