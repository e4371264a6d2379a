-- Hot accounts: buffered postings and split sub-accounts: tables, sequences, indexes and their comments.
-- Part of the current install script (sql/creditledger--0.3.0.sql, assembled by
-- the Makefile from sql/src/ in path order: tables, functions, triggers,
-- views, data, grants).

CREATE TABLE creditledger.sub_accounts (
    account_id   bigint NOT NULL,
    sub_account  int NOT NULL,
    balance      bigint NOT NULL DEFAULT 0,
    version      bigint NOT NULL DEFAULT 0,
    last_hash    bytea NOT NULL DEFAULT '\x0000000000000000000000000000000000000000000000000000000000000000',
    held         bigint NOT NULL DEFAULT 0,
    hold_version bigint NOT NULL DEFAULT 0,
    hold_hash    bytea NOT NULL DEFAULT '\x0000000000000000000000000000000000000000000000000000000000000000',
    PRIMARY KEY (account_id, sub_account)
) USING heap;
COMMENT ON TABLE creditledger.sub_accounts IS
    'Sub-accounts 1..shards of split accounts: each the head (balance, version, last hash) of its own chain in the journal (sub_account 1..N). Written only by creditledger functions.';
SELECT pg_catalog.pg_extension_config_dump('creditledger.sub_accounts', '');
COMMENT ON COLUMN creditledger.sub_accounts.held IS
    'Sum of the reservations on this sub-account (a split account''s reservation sits in one sub-account).';
COMMENT ON COLUMN creditledger.sub_accounts.hold_version IS
    'Version of the last entry of this sub-account''s hold chain (0: none).';
COMMENT ON COLUMN creditledger.sub_accounts.hold_hash IS
    'Hash (CLH1) of the last entry of this sub-account''s hold chain.';

CREATE SEQUENCE creditledger.buffer_id_seq;
SELECT pg_catalog.pg_extension_config_dump('creditledger.buffer_id_seq', '');

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
SELECT pg_catalog.pg_extension_config_dump('creditledger.posting_buffer', '');
