-- Verification, digests and BCP reconciliation: tables, sequences, indexes and their comments.
-- Part of the current install script (sql/creditledger--0.3.0.sql, assembled by
-- the Makefile from sql/src/ in path order: tables, functions, triggers,
-- views, data, grants).

-- BCP reconciliation (业务核对): rules, runs and history.
--
-- A rule is a query returning one row per mismatch.  bcp_run runs rules with
-- the CALLER's rights (SECURITY INVOKER: an auditor needs SELECT on what a
-- rule reads; setup_roles grants creditledger_auditor read access to the
-- ledger tables), each inside its own subtransaction so an error becomes
-- status 'error' instead of aborting the run, and writes history only when
-- record => true (through a SECURITY DEFINER helper), so record => false
-- works on a read-only hot standby.  Locking: rules only read, with each
-- rule's own snapshot; history rows are appended.
CREATE TABLE creditledger.bcp_rules (
    name         text PRIMARY KEY CHECK (name ~ '^[a-z0-9_:.-]{1,63}$'),
    description  text,
    severity     text NOT NULL DEFAULT 'critical' CHECK (severity IN ('critical', 'warning')),
    check_sql    text NOT NULL,
    enabled      boolean NOT NULL DEFAULT true,
    builtin      boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE creditledger.bcp_rules IS
    'BCP rules: check_sql returns one row per mismatch (no rows = the invariant holds). Built-in rules ship with the extension; user rules are added with bcp_add_rule().';
SELECT pg_catalog.pg_extension_config_dump('creditledger.bcp_rules', 'WHERE NOT builtin');

-- Built-in rules are made by CREATE EXTENSION and not dumped; whether one is
-- enabled is kept here too, so a restore (which loads this table after
-- CREATE EXTENSION) switches it back off through the trigger.
CREATE TABLE creditledger.bcp_builtin_switches (
    name     text PRIMARY KEY,
    enabled  boolean NOT NULL
);
COMMENT ON TABLE creditledger.bcp_builtin_switches IS
    'Enabled flags of built-in BCP rules set with bcp_enable_rule(); dumped, and applied to bcp_rules by a trigger (also when pg_restore loads it).';
SELECT pg_catalog.pg_extension_config_dump('creditledger.bcp_builtin_switches', '');

CREATE SEQUENCE creditledger.bcp_run_id_seq;
SELECT pg_catalog.pg_extension_config_dump('creditledger.bcp_run_id_seq', '');

CREATE TABLE creditledger.bcp_result_rows (
    run_id       bigint NOT NULL,
    rule         text NOT NULL,
    severity     text NOT NULL,
    status       text NOT NULL CHECK (status IN ('pass', 'fail', 'error')),
    mismatches   bigint,
    sample       jsonb,
    duration_ms  double precision NOT NULL,
    ran_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, rule)
);
CREATE INDEX bcp_result_rows_rule_idx ON creditledger.bcp_result_rows (rule, run_id);
COMMENT ON TABLE creditledger.bcp_result_rows IS
    'History of recorded BCP runs: one row per rule per run (bcp_run(record => true) and the worker''s scheduled runs).';
SELECT pg_catalog.pg_extension_config_dump('creditledger.bcp_result_rows', '');

-- Ledger digests: a Merkle root over every chain head (CLD1, bcp.c and the
-- README), recorded; verify_digest recomputes every recorded chain from
-- today's journal.
CREATE SEQUENCE creditledger.bcp_digest_id_seq;
SELECT pg_catalog.pg_extension_config_dump('creditledger.bcp_digest_id_seq', '');

CREATE TABLE creditledger.bcp_digests (
    digest_id  bigint PRIMARY KEY DEFAULT nextval('creditledger.bcp_digest_id_seq'),
    digest     bytea NOT NULL,
    chains     bigint NOT NULL,
    entries    bigint NOT NULL,
    taken_at   timestamptz NOT NULL DEFAULT now(),
    format     text NOT NULL CHECK (format IN ('CLD1', 'CLD2'))
);
ALTER SEQUENCE creditledger.bcp_digest_id_seq OWNED BY creditledger.bcp_digests.digest_id;
SELECT pg_catalog.pg_extension_config_dump('creditledger.bcp_digests', '');
COMMENT ON COLUMN creditledger.bcp_digests.format IS
    'Leaf encoding of the digest: CLD1 (chain heads; digests of release 0.2.0) or CLD2 (chain heads and the transfers their entries reference).';
COMMENT ON TABLE creditledger.bcp_digests IS
    'Ledger digests taken by ledger_digest(): the Merkle root over the recorded chain heads (and, format CLD2, the transfers their entries reference). Append-only (guard triggers).';

CREATE TABLE creditledger.bcp_digest_heads (
    digest_id  bigint NOT NULL REFERENCES creditledger.bcp_digests,
    kind       "char" NOT NULL CHECK (kind IN ('A', 'L', 'H')),
    chain_id   bigint NOT NULL,
    sub        int NOT NULL,
    version    bigint NOT NULL,
    hash       bytea NOT NULL,
    transfers  bytea,
    PRIMARY KEY (digest_id, kind, chain_id, sub)
);
SELECT pg_catalog.pg_extension_config_dump('creditledger.bcp_digest_heads', '');
COMMENT ON COLUMN creditledger.bcp_digest_heads.transfers IS
    'CLD2: T(version), the running SHA-256 over the CLT1 row hashes of the transfers of the chain''s entries 1..version (32 zero bytes for a credit chain); NULL in CLD1 digests.';
COMMENT ON TABLE creditledger.bcp_digest_heads IS
    'The chain heads a digest covers: kind A (account, sub-account), L (credit line, slice) or H (hold chain of an account, sub-account), the head version and hash, and (CLD2) the running hash of the transfers the chain references. Append-only (guard triggers).';
