-- creditledger 0.1.0: install script.
--
-- Owns the schema's tables, views, guard triggers and function declarations.
-- Every name is schema-qualified; every function revokes EXECUTE from PUBLIC.
-- The hot paths (posting, locking, hashing, verification) are C; what is
-- naturally SQL (views, the guard trigger, role setup) stays SQL.

\echo Use "CREATE EXTENSION creditledger" to load this file. \quit

--------------------------------------------------------------------------
-- Tables
--------------------------------------------------------------------------

CREATE SEQUENCE creditledger.account_id_seq;
CREATE SEQUENCE creditledger.transfer_id_seq;
CREATE SEQUENCE creditledger.entry_id_seq;

CREATE TABLE creditledger.ledger_accounts (
    account_id   bigint PRIMARY KEY DEFAULT nextval('creditledger.account_id_seq'),
    code         text NOT NULL UNIQUE,
    currency     text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    normal_side  text NOT NULL CHECK (normal_side IN ('credit', 'debit')),
    min_balance  bigint,
    hot_mode     text NOT NULL DEFAULT 'none'
                 CHECK (hot_mode IN ('none', 'buffered', 'split', 'buffered_split')),
    shards       int NOT NULL DEFAULT 1 CHECK (shards BETWEEN 1 AND 1024),
    metadata     jsonb NOT NULL DEFAULT '{}',
    status       text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    balance      bigint NOT NULL DEFAULT 0,
    version      bigint NOT NULL DEFAULT 0,
    last_hash    bytea NOT NULL DEFAULT '\x0000000000000000000000000000000000000000000000000000000000000000',
    opened_at    timestamptz NOT NULL DEFAULT now(),
    closed_at    timestamptz
) USING heap;
ALTER SEQUENCE creditledger.account_id_seq OWNED BY creditledger.ledger_accounts.account_id;
COMMENT ON TABLE creditledger.ledger_accounts IS
    'Accounts: attributes plus the posted balance, version and last hash of the main chain (sub_account 0), so posting never scans the journal. Written only by creditledger functions.';

CREATE TABLE creditledger.ledger_transfers (
    transfer_id  bigint PRIMARY KEY DEFAULT nextval('creditledger.transfer_id_seq'),
    voucher      text NOT NULL UNIQUE,
    kind         text NOT NULL,
    reverses     bigint,
    memo         text,
    metadata     jsonb,
    payload_hash bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
ALTER SEQUENCE creditledger.transfer_id_seq OWNED BY creditledger.ledger_transfers.transfer_id;
-- a transfer is reversed at most once; only reversals carry the key
CREATE UNIQUE INDEX ledger_transfers_reverses_key ON creditledger.ledger_transfers (reverses)
    WHERE reverses IS NOT NULL;
COMMENT ON TABLE creditledger.ledger_transfers IS
    'One row per transfer, multi-leg entry or reversal (kind transfer|entry|reversal; reverses set exactly for reversals); the voucher is the idempotency key and payload_hash the SHA-256 of the call''s arguments. Append-only (guard triggers). No CHECK constraints on the posting path: the functions are the only writers.';

CREATE TABLE creditledger.journal_entries (
    entry_id       bigint PRIMARY KEY DEFAULT nextval('creditledger.entry_id_seq'),
    transfer_id    bigint NOT NULL,
    voucher        text NOT NULL,
    account_id     bigint NOT NULL,
    sub_account    int NOT NULL DEFAULT 0,
    version        bigint NOT NULL,
    side           "char" NOT NULL,
    amount         bigint NOT NULL,
    balance_before bigint NOT NULL,
    balance_after  bigint NOT NULL,
    is_reversal    boolean NOT NULL,
    prev_hash      bytea NOT NULL,
    hash           bytea NOT NULL,
    accepted_at    timestamptz NOT NULL,
    posted_at      timestamptz NOT NULL,
    UNIQUE (account_id, sub_account, version)
) USING heap;
ALTER SEQUENCE creditledger.entry_id_seq OWNED BY creditledger.journal_entries.entry_id;
CREATE INDEX journal_entries_transfer_idx ON creditledger.journal_entries (transfer_id);
COMMENT ON TABLE creditledger.journal_entries IS
    'The chained journal: one row per leg, chained per (account_id, sub_account) by version and SHA-256 hash. Append-only (guard triggers). Written by the posting functions directly into the heap (no CHECK constraints: verify_chain checks every row).';

CREATE TABLE creditledger.sub_accounts (
    account_id   bigint NOT NULL,
    sub_account  int NOT NULL,
    balance      bigint NOT NULL DEFAULT 0,
    version      bigint NOT NULL DEFAULT 0,
    last_hash    bytea NOT NULL DEFAULT '\x0000000000000000000000000000000000000000000000000000000000000000',
    PRIMARY KEY (account_id, sub_account)
) USING heap;
COMMENT ON TABLE creditledger.sub_accounts IS
    'Sub-accounts 1..shards of split accounts: each the head (balance, version, last hash) of its own chain in the journal (sub_account 1..N). Written only by creditledger functions.';

CREATE SEQUENCE creditledger.buffer_id_seq;
CREATE TABLE creditledger.posting_buffer (
    account_id   bigint NOT NULL,
    buffer_id    bigint NOT NULL DEFAULT nextval('creditledger.buffer_id_seq'),
    transfer_id  bigint NOT NULL,
    voucher      text NOT NULL,
    side         "char" NOT NULL,
    amount       bigint NOT NULL,
    is_reversal  boolean NOT NULL,
    accepted_at  timestamptz NOT NULL,
    PRIMARY KEY (account_id, buffer_id)
) USING heap;
ALTER SEQUENCE creditledger.buffer_id_seq OWNED BY creditledger.posting_buffer.buffer_id;
COMMENT ON TABLE creditledger.posting_buffer IS
    'Committed increases of buffered accounts not yet applied to the journal; the background worker or flush() turns each row into one journal entry and deletes it, in one transaction.';

--------------------------------------------------------------------------
-- Append-only guard: UPDATE, DELETE and TRUNCATE refused for every role.
-- A superuser repairing data can bypass it consciously (DISABLE TRIGGER ALL
-- or session_replication_role = replica); verify_chain detects the result.
--------------------------------------------------------------------------

CREATE FUNCTION creditledger.refuse_journal_change() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RAISE EXCEPTION USING
        ERRCODE = 'object_not_in_prerequisite_state',
        MESSAGE = format('%s on %s is not allowed', TG_OP, TG_TABLE_NAME),
        DETAIL  = 'The creditledger journal and transfers are append-only.',
        HINT    = 'Post a reversal with creditledger.reverse() instead of changing history.';
END
$$;
COMMENT ON FUNCTION creditledger.refuse_journal_change() IS
    'Trigger function: refuses UPDATE, DELETE and TRUNCATE on the append-only tables.';

CREATE TRIGGER journal_entries_append_only
    BEFORE UPDATE OR DELETE ON creditledger.journal_entries
    FOR EACH ROW EXECUTE FUNCTION creditledger.refuse_journal_change();
CREATE TRIGGER journal_entries_no_truncate
    BEFORE TRUNCATE ON creditledger.journal_entries
    FOR EACH STATEMENT EXECUTE FUNCTION creditledger.refuse_journal_change();
CREATE TRIGGER ledger_transfers_append_only
    BEFORE UPDATE OR DELETE ON creditledger.ledger_transfers
    FOR EACH ROW EXECUTE FUNCTION creditledger.refuse_journal_change();
CREATE TRIGGER ledger_transfers_no_truncate
    BEFORE TRUNCATE ON creditledger.ledger_transfers
    FOR EACH STATEMENT EXECUTE FUNCTION creditledger.refuse_journal_change();

--------------------------------------------------------------------------
-- Dump: every data table and sequence travels with pg_dump.
--------------------------------------------------------------------------

SELECT pg_catalog.pg_extension_config_dump('creditledger.ledger_accounts', '');
SELECT pg_catalog.pg_extension_config_dump('creditledger.ledger_transfers', '');
SELECT pg_catalog.pg_extension_config_dump('creditledger.journal_entries', '');
SELECT pg_catalog.pg_extension_config_dump('creditledger.account_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('creditledger.transfer_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('creditledger.entry_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('creditledger.sub_accounts', '');
SELECT pg_catalog.pg_extension_config_dump('creditledger.posting_buffer', '');
SELECT pg_catalog.pg_extension_config_dump('creditledger.buffer_id_seq', '');

--------------------------------------------------------------------------
-- Views
--------------------------------------------------------------------------

CREATE VIEW creditledger.accounts AS
SELECT a.account_id, a.code, a.currency, a.normal_side,
       (a.balance + coalesce(s.balance, 0) + coalesce(b.amount, 0))::bigint AS balance,
       (a.balance + coalesce(s.balance, 0))::bigint AS posted_balance,
       coalesce(b.amount, 0)::bigint AS buffered_amount,
       coalesce(b.count, 0)::bigint AS buffered_count,
       a.version, a.min_balance, a.hot_mode, a.shards, a.status
  FROM creditledger.ledger_accounts a
  LEFT JOIN LATERAL (SELECT sum(sa.balance) AS balance
                       FROM creditledger.sub_accounts sa
                      WHERE sa.account_id = a.account_id) s ON true
  LEFT JOIN LATERAL (SELECT sum(pb.amount) AS amount, count(*) AS count
                       FROM creditledger.posting_buffer pb
                      WHERE pb.account_id = a.account_id) b ON true;
COMMENT ON VIEW creditledger.accounts IS
    'One row per account with the columns of account_state(): balance = posted + committed buffered postings.';

CREATE VIEW creditledger.journal AS
SELECT j.entry_id, j.transfer_id, j.voucher, j.account_id, j.sub_account, j.version,
       j.side::text AS side, j.amount, j.balance_before, j.balance_after, j.is_reversal,
       j.prev_hash, j.hash, j.accepted_at, j.posted_at
  FROM creditledger.journal_entries j;
COMMENT ON VIEW creditledger.journal IS
    'The chained journal, one row per leg; columns come straight from creditledger.journal_entries.';

CREATE VIEW creditledger.transfers AS
SELECT t.transfer_id, t.voucher, t.kind, t.reverses,
       (SELECT r.transfer_id FROM creditledger.ledger_transfers r
         WHERE r.reverses = t.transfer_id) AS reversed_by,
       t.memo, t.metadata, t.created_at
  FROM creditledger.ledger_transfers t;
COMMENT ON VIEW creditledger.transfers IS
    'Transfers, multi-leg entries and reversals; reversed_by is derived from the reversal''s reverses column, so no row is ever updated.';

--------------------------------------------------------------------------
-- Functions (C). Functions that read or write ledger tables run with the
-- owner's rights and a pinned search_path; none is STRICT, so a NULL
-- argument is an error (22004), never a silent NULL.
--------------------------------------------------------------------------

CREATE FUNCTION creditledger.open_account(code text, currency text,
        normal_side text DEFAULT 'credit', min_balance bigint DEFAULT 0,
        hot_mode text DEFAULT 'none', shards int DEFAULT 8,
        metadata jsonb DEFAULT '{}')
RETURNS bigint
AS 'MODULE_PATHNAME', 'cl_open_account'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.open_account(text, text, text, bigint, text, int, jsonb) IS
    'Opens an account (idempotent on code: same attributes return the same id, different ones raise LD004).';

CREATE FUNCTION creditledger.account_id(code text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'cl_account_id'
LANGUAGE C STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.account_id(text) IS
    'The id of the account with this code; LD003 if there is none.';

CREATE FUNCTION creditledger.set_hot_mode(account bigint, hot_mode text, shards int DEFAULT 8)
RETURNS void
AS 'MODULE_PATHNAME', 'cl_set_hot_mode'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.set_hot_mode(bigint, text, int) IS
    'Switches an account''s hot mode (this release supports only ''none'').';

CREATE FUNCTION creditledger.close_account(account bigint)
RETURNS void
AS 'MODULE_PATHNAME', 'cl_close_account'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.close_account(bigint) IS
    'Closes an account at balance 0 with nothing buffered (else 55000); a closed account takes no postings.';

CREATE FUNCTION creditledger.balance(account bigint)
RETURNS bigint
AS 'MODULE_PATHNAME', 'cl_balance'
LANGUAGE C STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.balance(bigint) IS
    'The account''s balance: posted plus committed buffered postings, over all sub-accounts.';

CREATE FUNCTION creditledger.account_state(account bigint)
RETURNS TABLE(account_id bigint, code text, currency text, normal_side text,
              balance bigint, posted_balance bigint, buffered_amount bigint,
              buffered_count bigint, version bigint, min_balance bigint,
              hot_mode text, shards int, status text)
AS 'MODULE_PATHNAME', 'cl_account_state'
LANGUAGE C STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.account_state(bigint) IS
    'One row describing the account (the columns of the accounts view); LD003 if unknown.';

CREATE FUNCTION creditledger.transfer(voucher text, debit_account bigint,
        credit_account bigint, amount bigint,
        memo text DEFAULT NULL, metadata jsonb DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'cl_transfer'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.transfer(text, bigint, bigint, bigint, text, jsonb) IS
    'Debits one account and credits another by amount; idempotent on voucher; returns the transfer id.';

CREATE FUNCTION creditledger.post_entry(voucher text, legs jsonb,
        memo text DEFAULT NULL, metadata jsonb DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'cl_post_entry'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.post_entry(text, jsonb, text, jsonb) IS
    'Posts a multi-leg entry (2 to 1000 legs, balanced per currency); idempotent on voucher; returns the transfer id.';

CREATE FUNCTION creditledger.reverse(voucher text, reversal_voucher text DEFAULT NULL,
        reason text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'cl_reverse'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.reverse(text, text, text) IS
    'Posts the mirror image of a transfer once (default voucher: voucher || '':reversal''); returns the reversal''s transfer id.';

CREATE FUNCTION creditledger.lock_accounts(accounts bigint[])
RETURNS void
AS 'MODULE_PATHNAME', 'cl_lock_accounts'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.lock_accounts(bigint[]) IS
    'Locks the given accounts in ascending id order until the end of the transaction, as every posting does.';

CREATE FUNCTION creditledger.flush(account bigint DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'cl_flush'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.flush(bigint) IS
    'Applies committed buffered postings (of one account, or all); returns how many were applied.';

CREATE FUNCTION creditledger.verify_chain(account bigint DEFAULT NULL)
RETURNS TABLE(account_id bigint, sub_account int, version bigint, problem text, line_id bigint)
AS 'MODULE_PATHNAME', 'cl_verify_chain'
LANGUAGE C STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.verify_chain(bigint) IS
    'Recomputes chains (all, or one account''s) and returns one row per problem; no rows = intact.';

--------------------------------------------------------------------------
-- Monitoring: background workers
--------------------------------------------------------------------------

CREATE FUNCTION creditledger.stat_workers(
        OUT database text, OUT worker text, OUT pid int, OUT state text,
        OUT started_at timestamptz, OUT last_cycle_at timestamptz,
        OUT cycles bigint, OUT postings_flushed bigint, OUT holds_expired bigint,
        OUT errors bigint, OUT last_error text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'cl_stat_workers'
LANGUAGE C VOLATILE PARALLEL SAFE SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.stat_workers() IS
    'One row per background worker configured in creditledger.database, from shared memory; needs creditledger in shared_preload_libraries (55000 with a hint otherwise).';

CREATE VIEW creditledger.stat_workers AS
SELECT w.database, w.worker, w.pid, w.state, w.started_at, w.last_cycle_at,
       w.cycles, w.postings_flushed, w.holds_expired, w.errors, w.last_error
  FROM creditledger.stat_workers() w;
COMMENT ON VIEW creditledger.stat_workers IS
    'Background workers: database served, pid (NULL when not running), state (not started, starting, idle, flushing, sweeping, paused, waiting for extension, stopped), cycles, buffered postings applied, holds expired, errors and the last error; counters are cumulative since server start.';

-- Functions a view calls are checked against the querying role, so
-- pg_monitor needs the schema, the view and the function.
REVOKE ALL ON FUNCTION creditledger.stat_workers() FROM PUBLIC;
REVOKE ALL ON creditledger.stat_workers FROM PUBLIC;
GRANT USAGE ON SCHEMA creditledger TO pg_monitor;
GRANT EXECUTE ON FUNCTION creditledger.stat_workers() TO pg_monitor;
GRANT SELECT ON creditledger.stat_workers TO pg_monitor;

--------------------------------------------------------------------------
-- Monitoring: operations, errors, hot accounts (opstats.c)
--------------------------------------------------------------------------

CREATE FUNCTION creditledger.stat_latency_bounds() RETURNS float8[]
AS 'MODULE_PATHNAME', 'cl_stat_latency_bounds'
LANGUAGE C IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.stat_latency_bounds() IS
    'Upper bounds, in seconds, of the latency histogram buckets (a last bucket is +Inf).';

CREATE FUNCTION creditledger.stat_operations_raw(
        OUT operation text, OUT calls bigint, OUT errors bigint,
        OUT total_seconds float8, OUT max_seconds float8,
        OUT last_error_sqlstate text, OUT since timestamptz, OUT buckets bigint[])
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'cl_stat_operations_raw'
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.stat_operations_raw() IS
    'Per API function called since the last reset: calls, errors, total and max seconds, last error SQLSTATE, and the latency histogram (per-bucket counts, one per stat_latency_bounds() bound plus +Inf). Needs the library preloaded.';

CREATE FUNCTION creditledger.stat_errors_raw(OUT operation text, OUT sqlstate text, OUT count bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'cl_stat_errors_raw'
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.stat_errors_raw() IS
    'Errors per API function and SQLSTATE since the last reset. Needs the library preloaded.';

CREATE FUNCTION creditledger.stat_hot_accounts_raw(
        OUT account_id bigint, OUT flushes bigint, OUT flushed_postings bigint,
        OUT last_flush_at timestamptz, OUT skip_locked_retries bigint, OUT sweeps bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'cl_stat_hot_accounts_raw'
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.stat_hot_accounts_raw() IS
    'Per hot account since the last reset: flushes, postings flushed, last flush, sub-accounts passed over as locked, sweeps. Needs the library preloaded.';

CREATE FUNCTION creditledger.stat_reset() RETURNS void
AS 'MODULE_PATHNAME', 'cl_stat_reset'
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.stat_reset() IS
    'Zeroes the operation, error and hot-account statistics (worker counters count since server start and are kept).';

CREATE FUNCTION creditledger.stat_quantile(buckets bigint[], bounds float8[], q float8,
                                           max_seconds float8)
RETURNS float8
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    total bigint;
    cum bigint := 0;
    target float8;
    lo float8 := 0;
    hi float8;
BEGIN
    SELECT sum(b) INTO total FROM unnest(buckets) AS b;
    IF total IS NULL OR total = 0 THEN
        RETURN NULL;
    END IF;
    target := q * total;
    FOR i IN 1 .. array_length(buckets, 1) LOOP
        hi := CASE WHEN i <= array_length(bounds, 1) THEN bounds[i] ELSE max_seconds END;
        IF buckets[i] > 0 AND cum + buckets[i] >= target THEN
            RETURN least(max_seconds, lo + (hi - lo) * (target - cum) / buckets[i]);
        END IF;
        cum := cum + buckets[i];
        IF i <= array_length(bounds, 1) THEN
            lo := bounds[i];
        END IF;
    END LOOP;
    RETURN max_seconds;
END
$$;
COMMENT ON FUNCTION creditledger.stat_quantile(bigint[], float8[], float8, float8) IS
    'The q-quantile of a latency histogram, interpolated linearly within its bucket and capped at the maximum.';

CREATE VIEW creditledger.stat_operations AS
SELECT o.operation, o.calls, o.errors,
       o.total_seconds / o.calls * 1000 AS mean_ms,
       creditledger.stat_quantile(o.buckets, creditledger.stat_latency_bounds(), 0.50, o.max_seconds) * 1000 AS p50_ms,
       creditledger.stat_quantile(o.buckets, creditledger.stat_latency_bounds(), 0.95, o.max_seconds) * 1000 AS p95_ms,
       creditledger.stat_quantile(o.buckets, creditledger.stat_latency_bounds(), 0.99, o.max_seconds) * 1000 AS p99_ms,
       o.max_seconds * 1000 AS max_ms,
       o.last_error_sqlstate, o.since
  FROM creditledger.stat_operations_raw() o;
COMMENT ON VIEW creditledger.stat_operations IS
    'Per API function since the last stat_reset(): calls, errors, mean and max latency, and p50/p95/p99 from a fixed log-scale histogram (ms).';

CREATE VIEW creditledger.stat_errors AS
SELECT e.operation, e.sqlstate,
       CASE WHEN left(e.sqlstate, 2) IN ('LD', '22') THEN 'business' ELSE 'system' END AS kind,
       e.count
  FROM creditledger.stat_errors_raw() e;
COMMENT ON VIEW creditledger.stat_errors IS
    'Errors per API function and SQLSTATE since the last stat_reset(); kind business (classes LD and 22: refusals the ledger must make) or system (deadlocks, serialization failures, internal errors).';

CREATE VIEW creditledger.stat_hot_accounts AS
SELECT a.account_id, a.code, a.hot_mode, a.shards,
       coalesce(b.count, 0)::bigint AS buffered_count,
       coalesce(b.amount, 0)::bigint AS buffered_amount,
       clock_timestamp() - b.oldest AS oldest_buffered_age,
       coalesce(h.flushes, 0) AS flushes,
       coalesce(h.flushed_postings, 0) AS flushed_postings,
       h.last_flush_at,
       coalesce(h.skip_locked_retries, 0) AS skip_locked_retries,
       coalesce(h.sweeps, 0) AS sweeps
  FROM creditledger.ledger_accounts a
  LEFT JOIN creditledger.stat_hot_accounts_raw() h USING (account_id)
  LEFT JOIN LATERAL (SELECT count(*) AS count, sum(pb.amount) AS amount,
                            min(pb.accepted_at) AS oldest
                       FROM creditledger.posting_buffer pb
                      WHERE pb.account_id = a.account_id) b ON true
 WHERE (a.hot_mode <> 'none' OR h.account_id IS NOT NULL)
   -- evaluated once, before any join: without the preloaded library the
   -- view raises 55000 (with its hint) even when there are no accounts
   AND (SELECT count(*) FROM creditledger.stat_hot_accounts_raw()) >= 0;
COMMENT ON VIEW creditledger.stat_hot_accounts IS
    'Hot accounts: what is buffered now (count, amount, age of the oldest) and, since the last stat_reset(), flushes, postings flushed, last flush, sub-accounts passed over as locked (SKIP LOCKED retries) and sweeps.';

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

--------------------------------------------------------------------------
-- Monitoring: Prometheus text exposition (metrics()).  Metric names are
-- the contract of monitoring/ (alert rules, dashboard, and the exporter's
-- queries.yaml, which produces the same names from the views).
--------------------------------------------------------------------------

CREATE FUNCTION creditledger.metrics() RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET extra_float_digits = 1
AS $$
DECLARE
    body text;
    credit text := '';
BEGIN
    -- The statistics first, so that without the preloaded library the
    -- caller gets the clear 55000 error (with its hint) and nothing else.
    PERFORM 1 FROM creditledger.stat_operations_raw() LIMIT 1;

    WITH
    -- Label values are escaped per the exposition format: \ " and newline.
    ops AS (
        SELECT o.operation, o.calls, o.errors, o.total_seconds, o.max_seconds,
               o.since, o.buckets
          FROM creditledger.stat_operations_raw() o),
    bounds AS (
        SELECT creditledger.stat_latency_bounds() AS b),
    errs AS (
        SELECT e.operation, e.sqlstate, e.kind, e.count
          FROM creditledger.stat_errors e),
    hot AS (
        SELECT replace(replace(replace(current_database()::text, E'\\', E'\\\\'),
                               '"', E'\\"'), E'\n', E'\\n') AS db,
               replace(replace(replace(h.code, E'\\', E'\\\\'),
                               '"', E'\\"'), E'\n', E'\\n') AS account,
               h.account_id, h.hot_mode, h.shards, h.buffered_count, h.buffered_amount,
               greatest(coalesce(extract(epoch FROM h.oldest_buffered_age), 0), 0) AS age,
               h.flushes, h.flushed_postings, h.last_flush_at,
               h.skip_locked_retries, h.sweeps
          FROM creditledger.stat_hot_accounts h),
    wrk AS (
        SELECT replace(replace(replace(w.database, E'\\', E'\\\\'),
                               '"', E'\\"'), E'\n', E'\\n') AS db,
               w.pid, w.state, w.started_at, w.last_cycle_at, w.cycles,
               w.postings_flushed, w.holds_expired, w.errors
          FROM creditledger.stat_workers w),
    families(ord, name, type, help) AS (VALUES
        (1, 'creditledger_up', 'gauge',
            '1: creditledger is preloaded and its statistics are available.'),
        (2, 'creditledger_build_info', 'gauge',
            'Installed creditledger extension version (always 1).'),
        (3, 'creditledger_tracking_enabled', 'gauge',
            '1 when creditledger.track is on (calls, errors and latencies are counted), else 0.'),
        (4, 'creditledger_stats_reset_timestamp_seconds', 'gauge',
            'When the operation and hot-account statistics started counting (server start or stat_reset()), seconds since the epoch.'),
        (10, 'creditledger_operation_calls_total', 'counter',
            'Calls of a creditledger API function, failed ones included.'),
        (11, 'creditledger_operation_errors_total', 'counter',
            'Calls of a creditledger API function that ended in an error.'),
        (12, 'creditledger_operation_duration_seconds', 'histogram',
            'Duration of creditledger API function calls (fixed log-scale buckets).'),
        (13, 'creditledger_operation_max_duration_seconds', 'gauge',
            'Longest call of a creditledger API function since the statistics started.'),
        (20, 'creditledger_errors_total', 'counter',
            'Errors of creditledger API functions by SQLSTATE; kind business (classes LD and 22: refusals) or system (deadlocks, serialization failures, internal errors).'),
        (30, 'creditledger_hot_account_info', 'gauge',
            'A hot account (buffered, split or buffered_split) and its mode (always 1).'),
        (31, 'creditledger_hot_account_shards', 'gauge',
            'Sub-accounts of a hot account.'),
        (32, 'creditledger_hot_account_buffered_postings', 'gauge',
            'Committed postings waiting in the buffer of a hot account.'),
        (33, 'creditledger_hot_account_buffered_amount', 'gauge',
            'Sum of the buffered postings of a hot account, in minor units.'),
        (34, 'creditledger_hot_account_oldest_buffered_age_seconds', 'gauge',
            'Age of the oldest buffered posting of a hot account (0 when nothing is buffered).'),
        (35, 'creditledger_hot_account_flushes_total', 'counter',
            'Flushes that applied buffered postings of a hot account.'),
        (36, 'creditledger_hot_account_flushed_postings_total', 'counter',
            'Buffered postings of a hot account applied to the journal.'),
        (37, 'creditledger_hot_account_last_flush_timestamp_seconds', 'gauge',
            'When a hot account was last flushed, seconds since the epoch.'),
        (38, 'creditledger_hot_account_skip_locked_retries_total', 'counter',
            'Sub-accounts of a split account passed over because another transaction held them.'),
        (39, 'creditledger_hot_account_sweeps_total', 'counter',
            'Sweeps that rebalanced the sub-accounts of a split account.'),
        (50, 'creditledger_worker_up', 'gauge',
            '1 when the background worker of a database is running, else 0.'),
        (51, 'creditledger_worker_state', 'gauge',
            'Background worker state: 0 not started, 1 starting, 2 waiting for extension, 3 paused, 4 idle, 5 flushing, 6 sweeping, 7 stopped, -1 other.'),
        (52, 'creditledger_worker_start_timestamp_seconds', 'gauge',
            'When the background worker started, seconds since the epoch.'),
        (53, 'creditledger_worker_last_cycle_timestamp_seconds', 'gauge',
            'When the background worker last completed a cycle, seconds since the epoch.'),
        (54, 'creditledger_worker_cycles_total', 'counter',
            'Cycles of the background worker since server start.'),
        (55, 'creditledger_worker_postings_flushed_total', 'counter',
            'Buffered postings the background worker applied since server start.'),
        (56, 'creditledger_worker_holds_expired_total', 'counter',
            'Credit holds the background worker expired since server start.'),
        (57, 'creditledger_worker_errors_total', 'counter',
            'Errors of the background worker since server start.')),
    samples(ord, series, sub, line) AS (
        SELECT 1, '', 0, 'creditledger_up 1'
        UNION ALL
        SELECT 2, '', 0, format('creditledger_build_info{version="%s"} 1',
                                replace(replace(e.extversion, E'\\', E'\\\\'), '"', E'\\"'))
          FROM pg_catalog.pg_extension e WHERE e.extname = 'creditledger'
        UNION ALL
        SELECT 3, '', 0, 'creditledger_tracking_enabled '
               || CASE WHEN coalesce(current_setting('creditledger.track', true), 'on')
                            IN ('on', 'true', '1', 'yes') THEN '1' ELSE '0' END
        UNION ALL
        SELECT 4, '', 0, 'creditledger_stats_reset_timestamp_seconds '
               || extract(epoch FROM min(o.since))::text
          FROM ops o HAVING count(*) > 0
        -- operations
        UNION ALL
        SELECT 10, o.operation, 0, format('creditledger_operation_calls_total{operation="%s"} %s',
                                          o.operation, o.calls) FROM ops o
        UNION ALL
        SELECT 11, o.operation, 0, format('creditledger_operation_errors_total{operation="%s"} %s',
                                          o.operation, o.errors) FROM ops o
        UNION ALL
        SELECT 12, c.operation, c.i::int,
               format('creditledger_operation_duration_seconds_bucket{operation="%s",le="%s"} %s',
                      c.operation,
                      CASE WHEN c.i > cardinality(bd.b) THEN '+Inf' ELSE bd.b[c.i]::text END,
                      c.cum)
          FROM (SELECT o.operation, u.i,
                       sum(u.n) OVER (PARTITION BY o.operation ORDER BY u.i) AS cum
                  FROM ops o, unnest(o.buckets) WITH ORDINALITY AS u(n, i)) c, bounds bd
        UNION ALL
        SELECT 12, o.operation, 100000,
               format('creditledger_operation_duration_seconds_sum{operation="%s"} %s',
                      o.operation, o.total_seconds) FROM ops o
        UNION ALL
        SELECT 12, o.operation, 100001,
               format('creditledger_operation_duration_seconds_count{operation="%s"} %s',
                      o.operation, o.calls) FROM ops o
        UNION ALL
        SELECT 13, o.operation, 0,
               format('creditledger_operation_max_duration_seconds{operation="%s"} %s',
                      o.operation, o.max_seconds) FROM ops o
        -- errors
        UNION ALL
        SELECT 20, e.operation || ' ' || e.sqlstate, 0,
               format('creditledger_errors_total{operation="%s",sqlstate="%s",kind="%s"} %s',
                      e.operation, e.sqlstate, e.kind, e.count) FROM errs e
        -- hot accounts
        UNION ALL
        SELECT 30, h.account, 0, format('creditledger_hot_account_info{database="%s",account="%s",hot_mode="%s"} 1',
                                        h.db, h.account, h.hot_mode) FROM hot h
        -- per hot account, one sample per family, named by the families list
        UNION ALL
        SELECT v.ord, h.account, 0,
               format('%s{database="%s",account="%s"} %s', f.name, h.db, h.account, v.value)
          FROM hot h
         CROSS JOIN LATERAL (VALUES
                (31, h.shards::text), (32, h.buffered_count::text),
                (33, h.buffered_amount::text), (34, h.age::text),
                (35, h.flushes::text), (36, h.flushed_postings::text),
                (37, extract(epoch FROM h.last_flush_at)::text),
                (38, h.skip_locked_retries::text), (39, h.sweeps::text)) AS v(ord, value)
          JOIN families f ON f.ord = v.ord
         WHERE v.value IS NOT NULL
        -- background workers
        UNION ALL
        SELECT 50, w.db, 0, format('creditledger_worker_up{database="%s"} %s',
                                   w.db, CASE WHEN w.pid IS NULL THEN 0 ELSE 1 END) FROM wrk w
        UNION ALL
        SELECT 51, w.db, 0, format('creditledger_worker_state{database="%s"} %s', w.db,
                                   CASE w.state WHEN 'not started' THEN 0 WHEN 'starting' THEN 1
                                        WHEN 'waiting for extension' THEN 2 WHEN 'paused' THEN 3
                                        WHEN 'idle' THEN 4 WHEN 'flushing' THEN 5
                                        WHEN 'sweeping' THEN 6 WHEN 'stopped' THEN 7
                                        ELSE -1 END) FROM wrk w
        -- per worker, one sample per family, named by the families list
        UNION ALL
        SELECT v.ord, w.db, 0, format('%s{database="%s"} %s', f.name, w.db, v.value)
          FROM wrk w
         CROSS JOIN LATERAL (VALUES
                (52, extract(epoch FROM w.started_at)::text),
                (53, extract(epoch FROM w.last_cycle_at)::text),
                (54, w.cycles::text), (55, w.postings_flushed::text),
                (56, w.holds_expired::text), (57, w.errors::text)) AS v(ord, value)
          JOIN families f ON f.ord = v.ord
         WHERE v.value IS NOT NULL)
    SELECT string_agg(format(E'# HELP %s %s\n# TYPE %s %s\n', f.name, f.help, f.name, f.type)
                      || coalesce((SELECT string_agg(s.line || E'\n', '' ORDER BY s.series, s.sub)
                                     FROM samples s WHERE s.ord = f.ord), ''),
                      '' ORDER BY f.ord)
      INTO body
      FROM families f;

    -- Credit lines (credit_alerts) arrive in a later release: counted once
    -- the view exists, so the rules in monitoring/ light up without a change.
    IF pg_catalog.to_regclass('creditledger.credit_alerts') IS NOT NULL
       AND pg_catalog.has_table_privilege('creditledger.credit_alerts', 'SELECT') THEN
        EXECUTE $q$
            SELECT E'# HELP creditledger_credit_alert_lines Credit lines in an alert state (credit_alerts) by kind.\n'
                   || E'# TYPE creditledger_credit_alert_lines gauge\n'
                   || string_agg(format(E'creditledger_credit_alert_lines{kind="%s"} %s\n',
                                        replace(replace(replace(k.kind, E'\\', E'\\\\'),
                                                        '"', E'\\"'), E'\n', E'\\n'),
                                        coalesce(a.n, 0)),
                                 '' ORDER BY k.kind)
              FROM (SELECT unnest(ARRAY['utilization_high', 'expiring_soon', 'over_limit',
                                        'expired_with_outstanding', 'suspended_with_holds']) AS kind
                    UNION
                    SELECT DISTINCT c.kind FROM creditledger.credit_alerts c) k
              LEFT JOIN (SELECT c.kind, count(DISTINCT c.line_id) AS n
                           FROM creditledger.credit_alerts c GROUP BY c.kind) a USING (kind)
        $q$ INTO credit;
    END IF;

    RETURN body || coalesce(credit, '');
END
$$;
COMMENT ON FUNCTION creditledger.metrics() IS
    'All creditledger statistics (operations, latency histogram, errors by SQLSTATE and kind, hot accounts, background workers) in the Prometheus text exposition format; needs the library preloaded (55000 with a hint otherwise).';

REVOKE ALL ON FUNCTION creditledger.metrics() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION creditledger.metrics() TO pg_monitor;

--------------------------------------------------------------------------
-- Roles
--------------------------------------------------------------------------

CREATE FUNCTION creditledger.setup_roles() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['creditledger_app', 'creditledger_auditor', 'creditledger_admin'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', r);
        END IF;
        EXECUTE format('GRANT USAGE ON SCHEMA creditledger TO %I', r);
    END LOOP;

    -- Applications: open and look up accounts, post, reverse, lock, read balances.
    GRANT EXECUTE ON FUNCTION
        creditledger.open_account(text, text, text, bigint, text, int, jsonb),
        creditledger.account_id(text),
        creditledger.balance(bigint),
        creditledger.account_state(bigint),
        creditledger.transfer(text, bigint, bigint, bigint, text, jsonb),
        creditledger.post_entry(text, jsonb, text, jsonb),
        creditledger.reverse(text, text, text),
        creditledger.lock_accounts(bigint[])
        TO creditledger_app;

    -- Auditors: read everything, verify chains; never write.
    GRANT SELECT ON creditledger.accounts, creditledger.journal, creditledger.transfers,
                    creditledger.stat_workers, creditledger.stat_operations,
                    creditledger.stat_errors, creditledger.stat_hot_accounts
        TO creditledger_auditor;
    GRANT EXECUTE ON FUNCTION
        creditledger.account_id(text),
        creditledger.balance(bigint),
        creditledger.account_state(bigint),
        creditledger.verify_chain(bigint),
        creditledger.stat_workers(),
        creditledger.stat_latency_bounds(),
        creditledger.stat_operations_raw(),
        creditledger.stat_errors_raw(),
        creditledger.stat_hot_accounts_raw(),
        creditledger.stat_quantile(bigint[], float8[], float8, float8),
        creditledger.metrics()
        TO creditledger_auditor;

    -- Administrators: everything the others may do, plus account administration.
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
        creditledger.stat_reset()
        TO creditledger_admin;
END
$$;
COMMENT ON FUNCTION creditledger.setup_roles() IS
    'Creates (if missing) the NOLOGIN roles creditledger_app, creditledger_auditor and creditledger_admin and grants them their functions and views; safe to run again after an upgrade.';

--------------------------------------------------------------------------
-- Privileges: nothing for PUBLIC.
--------------------------------------------------------------------------

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA creditledger FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA creditledger FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA creditledger FROM PUBLIC;
