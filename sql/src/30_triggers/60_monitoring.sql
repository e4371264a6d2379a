-- Monitoring: statistics views, metrics(), alert thresholds: triggers.
-- Part of the current install script (sql/creditledger--0.3.0.sql, assembled by
-- the Makefile from sql/src/ in path order: tables, functions, triggers,
-- views, data, grants).

CREATE TRIGGER alert_thresholds_upsert
    BEFORE INSERT ON creditledger.alert_thresholds
    FOR EACH ROW EXECUTE FUNCTION creditledger._alert_thresholds_upsert();
