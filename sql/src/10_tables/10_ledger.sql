-- Accounts, transfers and the chained journal: tables, sequences, indexes and their comments.
-- Part of the current install script (sql/creditledger--0.3.0.sql, assembled by
-- the Makefile from sql/src/ in path order: tables, functions, triggers,
-- views, data, grants).

CREATE SEQUENCE creditledger.account_id_seq;
SELECT pg_catalog.pg_extension_config_dump('creditledger.account_id_seq', '');

CREATE SEQUENCE creditledger.transfer_id_seq;
SELECT pg_catalog.pg_extension_config_dump('creditledger.transfer_id_seq', '');

CREATE SEQUENCE creditledger.entry_id_seq;
SELECT pg_catalog.pg_extension_config_dump('creditledger.entry_id_seq', '');

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
    closed_at    timestamptz,
    held         bigint NOT NULL DEFAULT 0,
    block        text NOT NULL DEFAULT 'none'
                 CHECK (block IN ('none', 'debits', 'credits', 'all')),
    hold_version bigint NOT NULL DEFAULT 0,
    hold_hash    bytea NOT NULL DEFAULT '\x0000000000000000000000000000000000000000000000000000000000000000'
) USING heap;
ALTER SEQUENCE creditledger.account_id_seq OWNED BY creditledger.ledger_accounts.account_id;
COMMENT ON TABLE creditledger.ledger_accounts IS
    'Accounts: attributes plus the posted balance, version and last hash of the main chain (sub_account 0), so posting never scans the journal. Written only by creditledger functions.';
SELECT pg_catalog.pg_extension_config_dump('creditledger.ledger_accounts', '');
COMMENT ON COLUMN creditledger.ledger_accounts.held IS
    'Sum of the reservations (open pending transfers that decrease the account, open funds holds) on the main chain; a decrease checks balance - held against min_balance.';
COMMENT ON COLUMN creditledger.ledger_accounts.block IS
    'none, debits (止付: no debit legs), credits (止收: no credit legs) or all; changed by set_account_block() and recorded in the hold chain.';
COMMENT ON COLUMN creditledger.ledger_accounts.hold_version IS
    'Version of the last hold_entries entry of the main chain''s hold chain (0: none).';
COMMENT ON COLUMN creditledger.ledger_accounts.hold_hash IS
    'Hash (CLH1) of the last hold_entries entry of the main chain''s hold chain (32 zero bytes: none).';

CREATE TABLE creditledger.ledger_transfers (
    transfer_id  bigint PRIMARY KEY DEFAULT nextval('creditledger.transfer_id_seq'),
    voucher      text NOT NULL UNIQUE,
    kind         text NOT NULL,
    reverses     bigint,
    memo         text,
    metadata     jsonb,
    payload_hash bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    row_hash     bytea
);
ALTER SEQUENCE creditledger.transfer_id_seq OWNED BY creditledger.ledger_transfers.transfer_id;
CREATE UNIQUE INDEX ledger_transfers_reverses_key ON creditledger.ledger_transfers (reverses)
    WHERE reverses IS NOT NULL;
SELECT pg_catalog.pg_extension_config_dump('creditledger.ledger_transfers', '');
COMMENT ON COLUMN creditledger.ledger_transfers.row_hash IS
    'SHA-256 of the row''s CLT1 encoding (README), set on insert by the trigger ledger_transfers_seal; the BCP rule transfers_consistent recomputes it. NULL only for a row inserted behind the guard.';
COMMENT ON TABLE creditledger.ledger_transfers IS
    'One row per transfer, multi-leg entry or reversal (kind transfer|entry|reversal; reverses set exactly for reversals); the voucher is the idempotency key, payload_hash the SHA-256 of the call''s arguments and row_hash the SHA-256 of the row itself (CLT1). Append-only (guard triggers). No CHECK constraints on the posting path: the functions are the only writers.';

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
SELECT pg_catalog.pg_extension_config_dump('creditledger.journal_entries', '');
