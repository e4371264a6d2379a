-- Money holds: pending transfers, funds holds, account blocks: tables, sequences, indexes and their comments.
-- Part of the current install script (sql/creditledger--0.3.0.sql, assembled by
-- the Makefile from sql/src/ in path order: tables, functions, triggers,
-- views, data, grants).

CREATE SEQUENCE creditledger.pending_id_seq;
SELECT pg_catalog.pg_extension_config_dump('creditledger.pending_id_seq', '');

CREATE TABLE creditledger.ledger_pending_transfers (
    pending_id     bigint PRIMARY KEY DEFAULT nextval('creditledger.pending_id_seq'),
    voucher        text NOT NULL UNIQUE,
    debit_account  bigint NOT NULL,
    credit_account bigint NOT NULL,
    amount         bigint NOT NULL CHECK (amount > 0),
    debit_sub      int,
    credit_sub     int,
    posted         bigint NOT NULL DEFAULT 0,
    status         text NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'posted', 'voided', 'expired')),
    expires_at     timestamptz,
    memo           text,
    metadata       jsonb,
    payload_hash   bytea NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    closed_at      timestamptz,
    CHECK (posted >= 0 AND posted <= amount)
);
ALTER SEQUENCE creditledger.pending_id_seq OWNED BY creditledger.ledger_pending_transfers.pending_id;
CREATE INDEX ledger_pending_transfers_due_idx ON creditledger.ledger_pending_transfers (expires_at)
    WHERE status = 'pending' AND expires_at IS NOT NULL;
CREATE INDEX ledger_pending_transfers_debit_idx ON creditledger.ledger_pending_transfers (debit_account)
    WHERE status = 'pending';
COMMENT ON TABLE creditledger.ledger_pending_transfers IS
    'Pending transfers (transfer_pending): the voucher is the idempotency key; debit_sub/credit_sub name the chain holding the reservation on an account the transfer decreases (NULL: that account is not decreased, nothing reserved there); posted and status change under the row lock (transfer_post, transfer_void, expiry); the history is the hold chain.';
SELECT pg_catalog.pg_extension_config_dump('creditledger.ledger_pending_transfers', '');

CREATE SEQUENCE creditledger.funds_hold_id_seq;
SELECT pg_catalog.pg_extension_config_dump('creditledger.funds_hold_id_seq', '');

CREATE TABLE creditledger.ledger_funds_holds (
    hold_id      bigint PRIMARY KEY DEFAULT nextval('creditledger.funds_hold_id_seq'),
    ref          text NOT NULL UNIQUE,
    account_id   bigint NOT NULL,
    sub_account  int NOT NULL,
    amount       bigint NOT NULL CHECK (amount > 0),
    released     bigint NOT NULL DEFAULT 0,
    status       text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'released', 'expired')),
    reason       text,
    expires_at   timestamptz,
    payload_hash bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    closed_at    timestamptz,
    CHECK (released >= 0 AND released <= amount)
);
ALTER SEQUENCE creditledger.funds_hold_id_seq OWNED BY creditledger.ledger_funds_holds.hold_id;
CREATE INDEX ledger_funds_holds_due_idx ON creditledger.ledger_funds_holds (expires_at)
    WHERE status = 'open' AND expires_at IS NOT NULL;
CREATE INDEX ledger_funds_holds_account_idx ON creditledger.ledger_funds_holds (account_id)
    WHERE status = 'open';
COMMENT ON TABLE creditledger.ledger_funds_holds IS
    'Funds holds (hold_funds: 金额冻结, e.g. a court''s freeze, 司法冻结): the ref is the idempotency key; the reservation sits on (account_id, sub_account); released and status change under the row lock (release_funds, expiry); the history is the hold chain.';
SELECT pg_catalog.pg_extension_config_dump('creditledger.ledger_funds_holds', '');

CREATE SEQUENCE creditledger.hold_operation_id_seq;
SELECT pg_catalog.pg_extension_config_dump('creditledger.hold_operation_id_seq', '');

CREATE TABLE creditledger.hold_operations (
    operation_id bigint PRIMARY KEY DEFAULT nextval('creditledger.hold_operation_id_seq'),
    kind         text NOT NULL CHECK (kind IN ('void', 'release')),
    ref          text NOT NULL,
    target_id    bigint NOT NULL,
    payload_hash bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (kind, ref)
);
ALTER SEQUENCE creditledger.hold_operation_id_seq OWNED BY creditledger.hold_operations.operation_id;
COMMENT ON TABLE creditledger.hold_operations IS
    'The reference namespaces of transfer_void (kind void; target: the pending id) and release_funds (kind release; target: the funds hold id), each with the SHA-256 of the call''s arguments. Append-only (guard triggers).';
SELECT pg_catalog.pg_extension_config_dump('creditledger.hold_operations', '');

CREATE SEQUENCE creditledger.hold_entry_id_seq;
SELECT pg_catalog.pg_extension_config_dump('creditledger.hold_entry_id_seq', '');

CREATE TABLE creditledger.hold_entries (
    entry_id     bigint NOT NULL DEFAULT nextval('creditledger.hold_entry_id_seq'),
    account_id   bigint NOT NULL,
    sub_account  int NOT NULL,
    version      bigint NOT NULL,
    op           text NOT NULL,
    target       "char" NOT NULL,
    target_id    bigint NOT NULL,
    ref          text NOT NULL,
    transfer_id  bigint,
    amount       bigint NOT NULL,
    held_delta   bigint NOT NULL,
    held_after   bigint NOT NULL,
    block        text NOT NULL,
    actor        text NOT NULL,
    reason       text,
    prev_hash    bytea NOT NULL,
    hash         bytea NOT NULL,
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (account_id, sub_account, version)
) USING heap;
ALTER SEQUENCE creditledger.hold_entry_id_seq OWNED BY creditledger.hold_entries.entry_id;
COMMENT ON TABLE creditledger.hold_entries IS
    'The hold chain: one entry per reservation change or block change, chained per (account_id, sub_account) by version and SHA-256 (CLH1, README). op: pending, post, post_final, void (target P: a pending transfer), hold, release, release_final (target F: a funds hold), expire (P or F), block (target A: the account; block = the new block). Append-only (guard triggers).';
SELECT pg_catalog.pg_extension_config_dump('creditledger.hold_entries', '');
