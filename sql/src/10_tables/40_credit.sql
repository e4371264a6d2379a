-- Credit lines: tables, sequences, indexes and their comments.
-- Part of the current install script (sql/creditledger--0.3.0.sql, assembled by
-- the Makefile from sql/src/ in path order: tables, functions, triggers,
-- views, data, grants).

CREATE SEQUENCE creditledger.credit_line_id_seq;
SELECT pg_catalog.pg_extension_config_dump('creditledger.credit_line_id_seq', '');

CREATE SEQUENCE creditledger.credit_hold_id_seq;
SELECT pg_catalog.pg_extension_config_dump('creditledger.credit_hold_id_seq', '');

CREATE SEQUENCE creditledger.credit_drawdown_id_seq;
SELECT pg_catalog.pg_extension_config_dump('creditledger.credit_drawdown_id_seq', '');

CREATE SEQUENCE creditledger.credit_operation_id_seq;
SELECT pg_catalog.pg_extension_config_dump('creditledger.credit_operation_id_seq', '');

CREATE SEQUENCE creditledger.credit_entry_id_seq;
SELECT pg_catalog.pg_extension_config_dump('creditledger.credit_entry_id_seq', '');

CREATE TABLE creditledger.ledger_credit_lines (
    line_id            bigint PRIMARY KEY DEFAULT nextval('creditledger.credit_line_id_seq'),
    code               text NOT NULL UNIQUE,
    currency           text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    limit_amount       bigint NOT NULL CHECK (limit_amount >= 0),
    revolving          boolean NOT NULL,
    valid_from         timestamptz NOT NULL,
    valid_until        timestamptz,
    metadata           jsonb NOT NULL,
    status             text NOT NULL DEFAULT 'active'
                       CHECK (status IN ('active', 'suspended', 'closed')),
    status_reason      text,
    hot_slices         int NOT NULL DEFAULT 0 CHECK (hot_slices BETWEEN 0 AND 1024),
    frozen             bigint NOT NULL DEFAULT 0,
    used               bigint NOT NULL DEFAULT 0,
    returned           bigint NOT NULL DEFAULT 0,
    version            bigint NOT NULL DEFAULT 0,
    last_hash          bytea NOT NULL DEFAULT '\x0000000000000000000000000000000000000000000000000000000000000000',
    limit_decreased_at timestamptz,
    created_limit      bigint NOT NULL,
    created_parents    bigint[] NOT NULL,
    valid_from_given   boolean NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    temporary_limit    bigint NOT NULL DEFAULT 0 CHECK (temporary_limit >= 0),
    hot_batched        boolean NOT NULL DEFAULT false
);
ALTER SEQUENCE creditledger.credit_line_id_seq OWNED BY creditledger.ledger_credit_lines.line_id;
COMMENT ON TABLE creditledger.ledger_credit_lines IS
    'Credit lines: attributes, and the head (frozen, used, returned, version, last hash) of the line''s own chain in the credit journal (slice 0). A node''s totals are this row plus its slices. created_* keep the creation arguments for idempotent re-creation. Written only by creditledger functions.';
SELECT pg_catalog.pg_extension_config_dump('creditledger.ledger_credit_lines', '');
COMMENT ON COLUMN creditledger.ledger_credit_lines.temporary_limit IS
    'Sum of the line''s active temporary limits (ledger_credit_temporary_limits, status active); the effective limit is limit_amount + temporary_limit.';
COMMENT ON COLUMN creditledger.ledger_credit_lines.hot_batched IS
    'A hot line whose slices'' journal is written in batches (credit_lines.journal_chains = batched): a change adds to its slice''s pending_* columns, and credit_settle_hot_lines() (the background worker) appends one chained entry per slice for them. false: one entry per change on the slice (per_slice).';

CREATE TABLE creditledger.credit_line_links (
    child_id   bigint NOT NULL REFERENCES creditledger.ledger_credit_lines,
    parent_id  bigint NOT NULL REFERENCES creditledger.ledger_credit_lines,
    linked_at  timestamptz NOT NULL DEFAULT now(),
    control    text NOT NULL DEFAULT 'usage' CHECK (control IN ('usage', 'grant', 'both')),
    PRIMARY KEY (child_id, parent_id)
);
CREATE INDEX credit_line_links_parent_idx ON creditledger.credit_line_links (parent_id);
COMMENT ON TABLE creditledger.credit_line_links IS
    'Edges of the credit-line DAG (child under parent). Acyclic: link_credit_line refuses a cycle under the exclusive credit graph lock.';
SELECT pg_catalog.pg_extension_config_dump('creditledger.credit_line_links', '');
COMMENT ON COLUMN creditledger.credit_line_links.control IS
    'usage (控制用信: the child''s frozen/used count at the parent), grant (控制授信: the child''s limit is carved from the parent''s, its usage does not count there) or both.';

-- The columns are in the order a change writes them, so that the WAL
-- record of a slice's update is short: PostgreSQL logs a HOT update on the
-- same page as the bytes between the first and the last column that
-- changed.  The chain head (version, last_hash) and pending_since change
-- only when the worker journals the slice; a freeze or an unfreeze changes
-- headroom, frozen and pending_frozen, a direct use used, pending_used and
-- headroom, a use of a hold used..pending_frozen, a return
-- returned..pending_used (..headroom when revolving): 24 to 40 bytes of the
-- row, where the order of 0.2.0 plus the pending columns appended to it
-- made it the 96 from headroom to pending_used.
CREATE TABLE creditledger.credit_line_slices (
    line_id    bigint NOT NULL REFERENCES creditledger.ledger_credit_lines,
    slice      int NOT NULL CHECK (slice >= 1),
    version    bigint NOT NULL DEFAULT 0,
    last_hash  bytea NOT NULL DEFAULT '\x0000000000000000000000000000000000000000000000000000000000000000',
    pending_since    timestamptz,
    returned   bigint NOT NULL DEFAULT 0,
    pending_returned bigint NOT NULL DEFAULT 0,
    used       bigint NOT NULL DEFAULT 0,
    pending_used     bigint NOT NULL DEFAULT 0,
    headroom   bigint NOT NULL DEFAULT 0,
    frozen     bigint NOT NULL DEFAULT 0,
    pending_frozen   bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (line_id, slice)
) WITH (fillfactor = 10);
COMMENT ON TABLE creditledger.credit_line_slices IS
    'Slices 1..hot_slices of a hot credit line: each holds part of the line''s headroom (their sum is the line''s available amount, less what expiries freed since the last gather) and is the head of its own credit-journal chain. Taken with FOR NO KEY UPDATE SKIP LOCKED; gathered under locks on all slices when none has enough.';
COMMENT ON COLUMN creditledger.credit_line_slices.pending_frozen IS
    'Of frozen, what no journal entry has recorded yet (a batched hot line: settled by credit_settle_hot_lines); frozen - pending_frozen is the chain head''s frozen_after. Likewise pending_used and pending_returned.';
COMMENT ON COLUMN creditledger.credit_line_slices.pending_since IS
    'When the oldest change not yet journaled was made (NULL: none); the hot_slices_journaled BCP rule warns past creditledger.bcp_slice_journal_max_age.';
SELECT pg_catalog.pg_extension_config_dump('creditledger.credit_line_slices', '');

CREATE TABLE creditledger.ledger_credit_holds (
    hold_id          bigint PRIMARY KEY DEFAULT nextval('creditledger.credit_hold_id_seq'),
    ref              text NOT NULL UNIQUE,
    line_id          bigint NOT NULL REFERENCES creditledger.ledger_credit_lines,
    amount           bigint NOT NULL,
    expires_at       timestamptz,
    remaining        bigint NOT NULL,
    used_amount      bigint NOT NULL DEFAULT 0,
    released_amount  bigint NOT NULL DEFAULT 0,
    status           text NOT NULL DEFAULT 'open'
                     CHECK (status IN ('open', 'used', 'released', 'expired')),
    created_at       timestamptz NOT NULL DEFAULT now(),
    closed_at        timestamptz
);
ALTER SEQUENCE creditledger.credit_hold_id_seq OWNED BY creditledger.ledger_credit_holds.hold_id;
CREATE INDEX ledger_credit_holds_line_idx ON creditledger.ledger_credit_holds (line_id) WHERE status = 'open';
CREATE INDEX ledger_credit_holds_due_idx ON creditledger.ledger_credit_holds (expires_at) WHERE status = 'open';
COMMENT ON TABLE creditledger.ledger_credit_holds IS
    'Holds (freezes): amount frozen on a line and its ancestors; remaining = amount - used_amount - released_amount while open. The ref is the hold''s idempotency key.';
SELECT pg_catalog.pg_extension_config_dump('creditledger.ledger_credit_holds', '');

CREATE TABLE creditledger.ledger_credit_drawdowns (
    drawdown_id  bigint PRIMARY KEY DEFAULT nextval('creditledger.credit_drawdown_id_seq'),
    ref          text NOT NULL UNIQUE,
    line_id      bigint NOT NULL REFERENCES creditledger.ledger_credit_lines,
    hold_id      bigint REFERENCES creditledger.ledger_credit_holds,
    amount       bigint NOT NULL,
    outstanding  bigint NOT NULL,
    returned     bigint NOT NULL DEFAULT 0,
    payload      jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
ALTER SEQUENCE creditledger.credit_drawdown_id_seq OWNED BY creditledger.ledger_credit_drawdowns.drawdown_id;
CREATE INDEX ledger_credit_drawdowns_line_idx ON creditledger.ledger_credit_drawdowns (line_id);
CREATE INDEX ledger_credit_drawdowns_hold_idx ON creditledger.ledger_credit_drawdowns (hold_id)
    WHERE hold_id IS NOT NULL;
COMMENT ON TABLE creditledger.ledger_credit_drawdowns IS
    'Drawdowns (credit_use from a hold, credit_use_direct without one; one ref namespace): amount drawn, outstanding = amount - returned. payload is the call''s arguments for replays.';
SELECT pg_catalog.pg_extension_config_dump('creditledger.ledger_credit_drawdowns', '');

CREATE TABLE creditledger.credit_operations (
    operation_id bigint PRIMARY KEY DEFAULT nextval('creditledger.credit_operation_id_seq'),
    kind         text NOT NULL CHECK (kind IN ('unfreeze', 'return')),
    ref          text NOT NULL,
    target_id    bigint NOT NULL,
    amount       bigint NOT NULL,
    payload      jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (kind, ref)
);
ALTER SEQUENCE creditledger.credit_operation_id_seq OWNED BY creditledger.credit_operations.operation_id;
COMMENT ON TABLE creditledger.credit_operations IS
    'Unfreezes (target: hold) and returns (target: drawdown), one ref namespace per kind; amount is what was applied.';
SELECT pg_catalog.pg_extension_config_dump('creditledger.credit_operations', '');

CREATE TABLE creditledger.credit_journal_entries (
    entry_id        bigint PRIMARY KEY DEFAULT nextval('creditledger.credit_entry_id_seq'),
    line_id         bigint NOT NULL,
    slice           int NOT NULL DEFAULT 0,
    version         bigint NOT NULL,
    op              text NOT NULL,
    ref             text NOT NULL,
    frozen_delta    bigint NOT NULL,
    used_delta      bigint NOT NULL,
    returned_delta  bigint NOT NULL,
    frozen_after    bigint NOT NULL,
    used_after      bigint NOT NULL,
    returned_after  bigint NOT NULL,
    prev_hash       bytea NOT NULL,
    hash            bytea NOT NULL,
    created_at      timestamptz NOT NULL,
    UNIQUE (line_id, slice, version)
);
ALTER SEQUENCE creditledger.credit_entry_id_seq OWNED BY creditledger.credit_journal_entries.entry_id;
COMMENT ON TABLE creditledger.credit_journal_entries IS
    'The chained credit journal: one row per change of a node''s frozen/used/returned, chained per (line_id, slice) by version and SHA-256 hash (CLC1 encoding, README). Append-only (guard triggers).';
SELECT pg_catalog.pg_extension_config_dump('creditledger.credit_journal_entries', '');

CREATE SEQUENCE creditledger.credit_temporary_limit_id_seq;
SELECT pg_catalog.pg_extension_config_dump('creditledger.credit_temporary_limit_id_seq', '');

CREATE TABLE creditledger.ledger_credit_temporary_limits (
    temporary_limit_id bigint PRIMARY KEY
                       DEFAULT pg_catalog.nextval('creditledger.credit_temporary_limit_id_seq'),
    ref                text NOT NULL UNIQUE,
    line_id            bigint NOT NULL REFERENCES creditledger.ledger_credit_lines,
    amount             bigint NOT NULL CHECK (amount > 0),
    valid_from         timestamptz NOT NULL,
    valid_until        timestamptz NOT NULL,
    valid_from_given   boolean NOT NULL,
    status             text NOT NULL DEFAULT 'scheduled'
                       CHECK (status IN ('scheduled', 'active', 'ended', 'expired')),
    started_at         timestamptz,
    ended_at           timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    CHECK (valid_until > valid_from)
);
ALTER SEQUENCE creditledger.credit_temporary_limit_id_seq
    OWNED BY creditledger.ledger_credit_temporary_limits.temporary_limit_id;
CREATE INDEX ledger_credit_temporary_limits_line_idx
    ON creditledger.ledger_credit_temporary_limits (line_id);
CREATE INDEX ledger_credit_temporary_limits_start_idx
    ON creditledger.ledger_credit_temporary_limits (valid_from) WHERE status = 'scheduled';
CREATE INDEX ledger_credit_temporary_limits_end_idx
    ON creditledger.ledger_credit_temporary_limits (valid_until) WHERE status = 'active';
COMMENT ON TABLE creditledger.ledger_credit_temporary_limits IS
    'Temporary limits (临额): amount added to a line''s limit from valid_from until valid_until. status scheduled|active|ended (end_temporary_limit)|expired (its window passed); started_at/ended_at when that happened. The ref is the idempotency key; valid_from_given tells whether valid_from was passed (an omitted one replays as omitted).';
SELECT pg_catalog.pg_extension_config_dump('creditledger.ledger_credit_temporary_limits', '');
