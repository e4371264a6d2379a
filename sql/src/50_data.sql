-- Built-in rows: the BCP rules and the alert thresholds (their tables keep
-- the users' own rows; pg_extension_config_dump dumps only those).

--------------------------------------------------------------------------
-- Built-in rules.  Thresholds come from GUCs read at run time.
--------------------------------------------------------------------------
INSERT INTO creditledger.bcp_rules (name, severity, builtin, description, check_sql) VALUES
('balance_equals_journal', 'critical', true,
 'Every account''s posted balance (main plus sub-accounts) equals the signed sum of its journal entries, and its balance() equals that plus its committed buffered postings.',
 $r$SELECT a.account_id, a.code, a.posted_balance, coalesce(j.journal_sum, 0) AS journal_sum,
       a.balance, coalesce(j.journal_sum, 0) + a.buffered_amount AS journal_plus_buffered,
       creditledger.balance(a.account_id) AS balance_fn
  FROM creditledger.accounts a
  LEFT JOIN (SELECT e.account_id,
                    sum(CASE WHEN (e.side = 'C') = (x.normal_side = 'credit') THEN e.amount ELSE -e.amount END) AS journal_sum
               FROM creditledger.journal_entries e
               JOIN creditledger.ledger_accounts x USING (account_id)
              GROUP BY e.account_id) j USING (account_id)
 WHERE a.posted_balance <> coalesce(j.journal_sum, 0)
    OR creditledger.balance(a.account_id) <> coalesce(j.journal_sum, 0) + a.buffered_amount$r$),
('balance_equals_chain_head', 'critical', true,
 'Every chain head (account, sub-account, credit line, hot slice) has the balance (or frozen/used/returned; a batched hot line''s slice: less its pending amounts), version and hash of its chain''s last entry.',
 $r$WITH heads AS (
    SELECT 'account' AS chain, account_id AS id, 0 AS sub, balance AS a, 0::bigint AS b, 0::bigint AS c, version, last_hash
      FROM creditledger.ledger_accounts
    UNION ALL
    SELECT 'account', account_id, sub_account, balance, 0, 0, version, last_hash FROM creditledger.sub_accounts
    UNION ALL
    SELECT 'line', line_id, 0, frozen, used, returned, version, last_hash FROM creditledger.ledger_credit_lines
    UNION ALL
    -- a batched hot line's slice: its journaled amounts (what is pending is not in the chain yet)
    SELECT 'line', line_id, slice, frozen - pending_frozen, used - pending_used, returned - pending_returned,
           version, last_hash FROM creditledger.credit_line_slices
), tails AS (
    -- each chain's last entry through the (id, sub, version) index
    SELECT h.chain, h.id, h.sub, t.a, t.b, t.c, t.version, t.hash
      FROM heads h
      CROSS JOIN LATERAL (
          SELECT e.balance_after AS a, 0::bigint AS b, 0::bigint AS c, e.version, e.hash
            FROM creditledger.journal_entries e
           WHERE h.chain = 'account' AND e.account_id = h.id AND e.sub_account = h.sub
           ORDER BY e.version DESC LIMIT 1) t
    UNION ALL
    SELECT h.chain, h.id, h.sub, t.a, t.b, t.c, t.version, t.hash
      FROM heads h
      CROSS JOIN LATERAL (
          SELECT e.frozen_after AS a, e.used_after AS b, e.returned_after AS c, e.version, e.hash
            FROM creditledger.credit_journal_entries e
           WHERE h.chain = 'line' AND e.line_id = h.id AND e.slice = h.sub
           ORDER BY e.version DESC LIMIT 1) t
)
SELECT h.chain, h.id, h.sub, h.version AS head_version, t.version AS chain_version,
       h.a AS head_amount, t.a AS chain_amount
  FROM heads h LEFT JOIN tails t USING (chain, id, sub)
 WHERE h.version <> coalesce(t.version, 0)
    OR (h.a, h.b, h.c) <> (coalesce(t.a, 0), coalesce(t.b, 0), coalesce(t.c, 0))
    OR h.last_hash <> coalesce(t.hash, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea)$r$),
('chains_intact', 'critical', true,
 'verify_chain(): every money and credit chain has contiguous versions, linked prev_hash, consistent amounts and recomputable SHA-256 hashes (head rows are balance_equals_chain_head''s job).',
 $r$SELECT account_id, line_id, sub_account, version, problem
  FROM creditledger.verify_chain()
 WHERE problem NOT LIKE '%chain head%' AND problem NOT LIKE '%chain has no entries%'$r$),
('transfers_balanced', 'critical', true,
 'Every transfer''s legs (journal entries and buffered postings) have equal debits and credits per currency.',
 $r$SELECT l.transfer_id, a.currency,
       sum(CASE WHEN l.side = 'D' THEN l.amount ELSE 0 END) AS debits,
       sum(CASE WHEN l.side = 'C' THEN l.amount ELSE 0 END) AS credits
  FROM (SELECT transfer_id, account_id, side, amount FROM creditledger.journal_entries
        UNION ALL
        SELECT transfer_id, account_id, side, amount FROM creditledger.posting_buffer) l
  JOIN creditledger.ledger_accounts a USING (account_id)
 GROUP BY l.transfer_id, a.currency
HAVING sum(CASE WHEN l.side = 'D' THEN l.amount ELSE -l.amount END) <> 0$r$),
('reversals_exact', 'critical', true,
 'Every reversal reverses an existing transfer that is not itself a reversal, at most once, with exactly the mirror image of its legs.',
 $r$WITH rev AS (
    SELECT t.transfer_id, t.reverses, t.kind, o.kind AS original_kind
      FROM creditledger.ledger_transfers t
      LEFT JOIN creditledger.ledger_transfers o ON o.transfer_id = t.reverses
     WHERE t.reverses IS NOT NULL OR t.kind = 'reversal'
)
SELECT r.transfer_id AS reversal, r.reverses AS original, NULL::bigint AS account_id,
       CASE WHEN r.reverses IS NULL THEN 'reversal without an original'
            WHEN r.original_kind IS NULL THEN 'original transfer does not exist'
            WHEN r.original_kind = 'reversal' THEN 'reverses a reversal'
            ELSE 'kind is not reversal' END AS problem
  FROM rev r
 WHERE r.reverses IS NULL OR r.original_kind IS NULL OR r.original_kind = 'reversal' OR r.kind <> 'reversal'
UNION ALL
SELECT min(r.transfer_id), r.reverses, NULL, format('reversed %s times', count(*))
  FROM rev r WHERE r.reverses IS NOT NULL GROUP BY r.reverses HAVING count(*) > 1
UNION ALL
SELECT r.transfer_id, r.reverses, x.account_id,
       format('side %s: original mirrored %s, reversal %s', x.side, x.original, x.reversal)
  FROM rev r
  JOIN LATERAL (
      SELECT u.account_id, u.side,
             sum(u.amount) FILTER (WHERE u.src = 'o') AS original,
             sum(u.amount) FILTER (WHERE u.src = 'r') AS reversal
        FROM (SELECT 'o' AS src, l.account_id, CASE l.side WHEN 'D' THEN 'C' ELSE 'D' END AS side, l.amount
                FROM (SELECT account_id, side, amount FROM creditledger.journal_entries
                       WHERE transfer_id = r.reverses
                      UNION ALL
                      SELECT account_id, side, amount FROM creditledger.posting_buffer
                       WHERE transfer_id = r.reverses) l
              UNION ALL
              SELECT 'r', l.account_id, l.side::text, l.amount
                FROM (SELECT account_id, side, amount FROM creditledger.journal_entries
                       WHERE transfer_id = r.transfer_id
                      UNION ALL
                      SELECT account_id, side, amount FROM creditledger.posting_buffer
                       WHERE transfer_id = r.transfer_id) l) u
       GROUP BY u.account_id, u.side) x ON true
 WHERE r.reverses IS NOT NULL AND x.original IS DISTINCT FROM x.reversal$r$),
('split_equals_sub_accounts', 'critical', true,
 'A split account has exactly its sub-accounts 1..shards, other sub-accounts hold nothing, and balance() equals the main balance plus the sub-accounts plus buffered postings.',
 $r$SELECT a.account_id, a.code, a.hot_mode, a.shards, s.subs, s.subs_in_range, s.outside_balance,
       creditledger.balance(a.account_id) AS balance_fn,
       a.balance + coalesce(s.total, 0) + coalesce(b.amount, 0) AS parts
  FROM creditledger.ledger_accounts a
  LEFT JOIN LATERAL (
      SELECT count(*) AS subs,
             count(*) FILTER (WHERE x.sub_account BETWEEN 1 AND a.shards) AS subs_in_range,
             coalesce(sum(x.balance) FILTER (WHERE a.hot_mode NOT IN ('split', 'buffered_split')
                                                OR x.sub_account > a.shards), 0) AS outside_balance,
             sum(x.balance) AS total
        FROM creditledger.sub_accounts x WHERE x.account_id = a.account_id) s ON true
  LEFT JOIN LATERAL (
      SELECT sum(p.amount) AS amount FROM creditledger.posting_buffer p WHERE p.account_id = a.account_id) b ON true
 WHERE (a.hot_mode IN ('split', 'buffered_split') AND s.subs_in_range <> a.shards)
    OR s.outside_balance <> 0
    OR creditledger.balance(a.account_id) <> a.balance + coalesce(s.total, 0) + coalesce(b.amount, 0)$r$),
('buffer_not_stale', 'warning', true,
 'No committed buffered posting waits longer than creditledger.bcp_buffer_max_age (is the worker running?).',
 $r$SELECT account_id, buffer_id, transfer_id, amount, now() - accepted_at AS age
  FROM creditledger.posting_buffer
 WHERE accepted_at < now() - coalesce(nullif(pg_catalog.current_setting('creditledger.bcp_buffer_max_age', true), '')::interval,
                                      interval '1 minute')$r$),
('trial_balance', 'critical', true,
 'Per currency, the balances of debit-normal accounts equal those of credit-normal accounts (posted plus buffered): the books balance.',
 $r$SELECT currency,
       sum(CASE WHEN normal_side = 'debit' THEN balance ELSE 0 END) AS debit_normal,
       sum(CASE WHEN normal_side = 'credit' THEN balance ELSE 0 END) AS credit_normal
  FROM creditledger.accounts
 GROUP BY currency
HAVING sum(CASE WHEN normal_side = 'debit' THEN balance ELSE -balance END) <> 0$r$),
('balance_floor', 'critical', true,
 'No account''s balance is below its min_balance.',
 $r$SELECT account_id, code, balance, min_balance
  FROM creditledger.accounts
 WHERE min_balance IS NOT NULL AND balance < min_balance$r$),
('credit_totals', 'critical', true,
 'Every credit line''s frozen, used and returned equal what the open holds and the drawdowns of the line and its descendants (each once) add up to.',
 $r$WITH RECURSIVE down(top, id) AS (
    SELECT line_id, line_id FROM creditledger.ledger_credit_lines
    UNION
    SELECT d.top, k.child_id FROM creditledger.credit_line_links k JOIN down d ON k.parent_id = d.id
), own AS (
    SELECT l.line_id,
           (SELECT coalesce(sum(h.remaining), 0) FROM creditledger.ledger_credit_holds h
             WHERE h.line_id = l.line_id AND h.status = 'open') AS frozen,
           (SELECT coalesce(sum(w.outstanding), 0) FROM creditledger.ledger_credit_drawdowns w
             WHERE w.line_id = l.line_id) AS used,
           (SELECT coalesce(sum(w.returned), 0) FROM creditledger.ledger_credit_drawdowns w
             WHERE w.line_id = l.line_id) AS returned
      FROM creditledger.ledger_credit_lines l
), expected AS (
    SELECT d.top AS line_id, sum(o.frozen) AS frozen, sum(o.used) AS used, sum(o.returned) AS returned
      FROM down d JOIN own o ON o.line_id = d.id GROUP BY d.top
)
SELECT c.line_id, c.code, c.frozen, e.frozen AS holds_frozen, c.used, e.used AS drawdowns_used,
       c.returned, e.returned AS drawdowns_returned
  FROM creditledger.credit_lines c JOIN expected e USING (line_id)
 WHERE (c.frozen, c.used, c.returned) <> (e.frozen, e.used, e.returned)$r$),
('credit_within_limit', 'critical', true,
 'No credit line consumes more than its limit, unless its limit was lowered (see credit_over_limit_after_decrease).',
 $r$SELECT line_id, code, limit_amount, frozen, used, returned, available
  FROM creditledger.credit_lines
 WHERE available < 0 AND limit_decreased_at IS NULL$r$),
('credit_over_limit_after_decrease', 'warning', true,
 'Credit lines over their limit after the limit was lowered: allowed (new freezes are refused), reported until back within the limit.',
 $r$SELECT line_id, code, limit_amount, frozen, used, returned, available, limit_decreased_at
  FROM creditledger.credit_lines
 WHERE available < 0 AND limit_decreased_at IS NOT NULL$r$),
('credit_records_consistent', 'critical', true,
 'Holds and drawdowns add up: amount = remaining + used + released (open exactly while something remains), amount = outstanding + returned, a hold''s drawdowns sum to its used amount, and a hot line''s slices never hold more headroom than the line has; an immediate disbursement''s drawdown has its transfer (voucher = its ref) and the transfer''s metadata names that line and drawdown.',
 $r$SELECT 'hold' AS record, h.hold_id AS id, h.ref, h.status AS detail
  FROM creditledger.ledger_credit_holds h
 WHERE h.amount <> h.remaining + h.used_amount + h.released_amount
    OR least(h.remaining, h.used_amount, h.released_amount) < 0
    OR (h.status = 'open') <> (h.remaining > 0)
    OR h.used_amount <> (SELECT coalesce(sum(w.amount), 0) FROM creditledger.ledger_credit_drawdowns w
                          WHERE w.hold_id = h.hold_id)
UNION ALL
SELECT 'drawdown', w.drawdown_id, w.ref, format('amount %s, outstanding %s, returned %s', w.amount, w.outstanding, w.returned)
  FROM creditledger.ledger_credit_drawdowns w
 WHERE w.amount <> w.outstanding + w.returned OR w.outstanding < 0 OR w.returned < 0
UNION ALL
SELECT 'hot line', c.line_id, c.code, format('available %s, slices'' headroom %s', c.available, s.headroom)
  FROM creditledger.credit_lines c
  JOIN LATERAL (SELECT coalesce(sum(x.headroom) FILTER (WHERE x.slice <= c.hot_slices), 0) AS headroom,
                       coalesce(sum(abs(x.headroom)) FILTER (WHERE x.slice > c.hot_slices), 0) AS outside,
                       coalesce(bool_or(x.headroom > 0) FILTER (WHERE x.slice <= c.hot_slices), false) AS any_positive
                  FROM creditledger.credit_line_slices x WHERE x.line_id = c.line_id) s ON true
 WHERE (c.hot_slices > 0 AND (s.headroom > c.available OR (c.available < 0 AND s.any_positive)))
    OR s.outside <> 0
UNION ALL
SELECT 'disbursement', w.drawdown_id, w.ref,
       CASE WHEN t.transfer_id IS NULL THEN 'no transfer has its ref as voucher'
            ELSE format('transfer %s names line %s, drawdown %s', t.transfer_id,
                        t.metadata ->> 'credit_line', t.metadata ->> 'drawdown') END
  FROM creditledger.ledger_credit_drawdowns w
  LEFT JOIN creditledger.ledger_transfers t ON t.voucher = w.ref
 WHERE w.payload ->> 'kind' IN ('disburse', 'disburse_direct')
   AND NOT (w.payload ->> 'pending')::boolean
   AND (t.transfer_id IS NULL
        OR t.metadata ->> 'credit_line' IS DISTINCT FROM w.line_id::text
        OR t.metadata ->> 'drawdown' IS DISTINCT FROM w.drawdown_id::text)$r$),
('holds_not_overdue', 'warning', true,
 'No open hold stays past its expires_at longer than creditledger.bcp_hold_overdue (is the worker expiring holds?).',
 $r$SELECT hold_id, ref, line_id, remaining, expires_at, now() - expires_at AS overdue
  FROM creditledger.ledger_credit_holds
 WHERE status = 'open'
   AND expires_at < now() - coalesce(nullif(pg_catalog.current_setting('creditledger.bcp_hold_overdue', true), '')::interval,
                                     interval '1 minute')$r$);

-- Batched hot lines (credit_settle_hot_lines): a slice's changes wait in
-- its pending columns until the worker journals them.
INSERT INTO creditledger.bcp_rules (name, severity, builtin, description, check_sql) VALUES
('hot_slices_journaled', 'warning', true,
 'No slice of a batched hot line keeps a change out of its journal longer than creditledger.bcp_slice_journal_max_age (is the worker settling hot lines?), and only a batched line''s slices have anything pending.',
 $r$SELECT x.line_id, x.slice, x.pending_frozen, x.pending_used, x.pending_returned,
       now() - x.pending_since AS age, l.hot_batched
  FROM creditledger.credit_line_slices x
  JOIN creditledger.ledger_credit_lines l ON l.line_id = x.line_id
 WHERE x.pending_since < now() - coalesce(nullif(pg_catalog.current_setting('creditledger.bcp_slice_journal_max_age', true), '')::interval,
                                          interval '1 minute')
    OR (x.pending_since IS NULL AND (x.pending_frozen, x.pending_used, x.pending_returned) <> (0, 0, 0))
    OR (NOT l.hot_batched AND x.pending_since IS NOT NULL)$r$);

-- Defaults, for an application of the order of 100 calls/s.  Refusals that
-- customers cause (insufficient funds, limits, blocks) are common; those
-- that only a faulty client or an attack causes (a voucher reused with
-- another payload, unknown accounts, unbalanced entries, currency
-- mismatches) are rare and alarming; deadlocks should not happen at all.
INSERT INTO creditledger.alert_thresholds
    (sqlstate, operation, max_per_minute, min_calls, severity, builtin, description) VALUES
    ('LD001', '*',  60, 0, 'warning',  true, 'insufficient funds: customers run out of money; normal at a low rate'),
    ('LD002', '*',  60, 0, 'warning',  true, 'credit limit exceeded: normal at a low rate'),
    ('LD003', '*',   5, 0, 'warning',  true, 'unknown or closed account: a client posting to accounts that do not exist'),
    ('LD004', '*',   2, 0, 'critical', true, 'idempotency conflict: a voucher or reference reused with another payload (client bug, or a replay with changed amounts)'),
    ('LD005', '*',   5, 0, 'warning',  true, 'reversal not allowed: double or invalid reversals'),
    ('LD006', '*',  30, 0, 'warning',  true, 'credit line unavailable (suspended, closed, expired)'),
    ('LD007', '*',  30, 0, 'warning',  true, 'hold state: use or unfreeze of an expired, released or too small hold'),
    ('LD008', '*',  10, 0, 'warning',  true, 'drawdown state: return of more than is outstanding'),
    ('LD009', '*',   2, 0, 'warning',  true, 'currency mismatch: a client bug'),
    ('LD010', '*',   2, 0, 'warning',  true, 'unbalanced entry: a client bug'),
    ('LD011', '*',   1, 0, 'warning',  true, 'credit graph cycle: an administration error'),
    ('LD012', '*',  60, 0, 'warning',  true, 'account blocked: postings refused by a block, expected while blocks are in place'),
    ('LD013', '*',  30, 0, 'warning',  true, 'pending transfer or funds hold not pending any more, or too small'),
    ('LD014', '*', 120, 0, 'info',     true, 'linked batch item not applied because another item of its group failed (counted with that item''s own error)'),
    ('22%',   '*',  10, 0, 'warning',  true, 'malformed input (NULL, out of range, invalid parameter): a client bug'),
    ('40P01', '*',   1, 0, 'critical', true, 'deadlock: the ledger locks in one order, so there should be none'),
    ('40001', '*',   5, 0, 'warning',  true, 'serialization failure (callers in REPEATABLE READ or SERIALIZABLE retry these)'),
    ('57014', '*',  10, 0, 'warning',  true, 'statement timeout or cancellation by the client (kind client)'),
    ('55P03', '*',  10, 0, 'warning',  true, 'lock timeout set by the client (kind client)'),
    ('25P03', '*',   5, 0, 'warning',  true, 'idle-in-transaction timeout (kind client)'),
    ('*',     '*',   1, 0, 'critical', true, 'any other error: internal errors, out of resources, unexpected SQLSTATEs');

--------------------------------------------------------------------------
-- The critical rule transfers_consistent.  One row per mismatch:
--   journal entries and buffered postings (source journal|buffer, id =
--   entry_id|buffer_id) whose transfer does not exist, has another voucher,
--   or whose is_reversal disagrees with the transfer's kind;
--   transfers (source transfer) whose row_hash is not their CLT1 hash, that
--   have neither journal entries nor buffered postings, of kind transfer
--   without exactly one debit and one credit leg, of an unknown kind, a
--   reversal whose payload_hash is not that of reverse(<the voucher of the
--   transfer it reverses>, reason => memo) (reverses redirected, or the
--   original renamed), or with the internal moves' zero payload_hash but
--   not their shape (kind entry, no reverses, voucher
--   'creditledger:<what>:<account>:<transfer id>').
-- reversals_exact keeps checking existence, kind and mirror legs of the
-- original.  Cost: two scans of the journal (one hash-joined with
-- ledger_transfers, one grouped by transfer) and one SHA-256 per
-- transfer; a transfer's checks are one array unnested (a LATERAL VALUES
-- list costs twice as much).  The legs are counted per table, journal and
-- buffer apart, not over their UNION ALL: grouped so, the journal's
-- statistics tell the planner how many transfers there are, and it
-- streams the count in transfer_id order next to ledger_transfers instead
-- of building the whole count again in every parallel worker and spilling
-- it to disk (1,000,000 entries of 500,000 transfers: 3.1 s against
-- 4.5-4.9 s on this 2-core machine, work_mem 4MB).
--------------------------------------------------------------------------
INSERT INTO creditledger.bcp_rules (name, severity, builtin, description, check_sql) VALUES
('transfers_consistent', 'critical', true,
 'Legs and transfers agree: every journal entry and buffered posting belongs to an existing transfer with its voucher and kind; every transfer has legs, a row_hash equal to the hash of its fields (CLT1), a transfer kind has one debit and one credit leg, and a reversal''s payload names the transfer it reverses.',
 $r$SELECT l.source, l.id, l.transfer_id, l.voucher,
       CASE WHEN t.transfer_id IS NULL THEN 'transfer does not exist'
            WHEN l.voucher <> t.voucher THEN format('the transfer''s voucher is %L', t.voucher)
            ELSE format('is_reversal is %s but the transfer''s kind is %L', l.is_reversal, t.kind) END AS problem
  FROM (SELECT 'journal' AS source, entry_id AS id, transfer_id, voucher, is_reversal
          FROM creditledger.journal_entries
        UNION ALL
        SELECT 'buffer', buffer_id, transfer_id, voucher, is_reversal
          FROM creditledger.posting_buffer) l
  LEFT JOIN creditledger.ledger_transfers t ON t.transfer_id = l.transfer_id
 WHERE t.transfer_id IS NULL OR l.voucher <> t.voucher OR l.is_reversal <> (t.kind = 'reversal')
UNION ALL
SELECT * FROM (
SELECT 'transfer' AS source, t.transfer_id AS id, t.transfer_id, t.voucher, unnest(ARRAY[
    CASE WHEN t.row_hash IS DISTINCT FROM sha256('CLT1'::bytea || int8send(t.transfer_id)
              || int4send(octet_length(t.voucher)) || convert_to(t.voucher, 'UTF8')
              || int4send(octet_length(t.kind)) || convert_to(t.kind, 'UTF8')
              || CASE WHEN t.reverses IS NULL THEN '\x00'::bytea ELSE '\x01'::bytea || int8send(t.reverses) END
              || CASE WHEN t.memo IS NULL THEN int4send(-1)
                      ELSE int4send(octet_length(t.memo)) || convert_to(t.memo, 'UTF8') END
              || CASE WHEN t.metadata IS NULL THEN int4send(-1)
                      ELSE int4send(octet_length(t.metadata::text)) || convert_to(t.metadata::text, 'UTF8') END
              || int4send(octet_length(t.payload_hash)) || t.payload_hash
              || int8send((extract(epoch FROM t.created_at) * 1000000)::bigint))
          THEN 'row_hash differs from the hash of the row''s fields (CLT1)' END,
    CASE WHEN n.legs = 0 THEN 'no journal entry and no buffered posting' END,
    CASE WHEN t.kind = 'transfer' AND n.legs > 0 AND (n.legs <> 2 OR n.debits <> 1)
          THEN format('kind transfer with %s legs, %s of them debits', n.legs, n.debits) END,
    CASE WHEN t.kind NOT IN ('transfer', 'entry', 'reversal') THEN format('unknown kind %L', t.kind) END,
    CASE WHEN t.kind = 'reversal' AND o.transfer_id IS NOT NULL
           AND t.payload_hash <> sha256(int4send(8) || 'reversal'::bytea
                   || int4send(octet_length(o.voucher)) || convert_to(o.voucher, 'UTF8')
                   || CASE WHEN t.memo IS NULL THEN int4send(-1)
                           ELSE int4send(octet_length(t.memo)) || convert_to(t.memo, 'UTF8') END
                   || int4send(-1))
          THEN format('payload_hash is not that of a reversal of %L (transfer %s)', o.voucher, o.transfer_id) END,
    CASE WHEN t.payload_hash = '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea
           AND NOT (t.kind = 'entry' AND t.reverses IS NULL
                    AND t.voucher LIKE 'creditledger:%:' || t.transfer_id::text)
          THEN 'the zero payload_hash of an internal move on a transfer that is not one' END]) AS problem
  FROM creditledger.ledger_transfers t
  LEFT JOIN (SELECT transfer_id, count(*) AS legs, count(*) FILTER (WHERE side = 'D') AS debits
               FROM creditledger.journal_entries GROUP BY transfer_id) j ON j.transfer_id = t.transfer_id
  LEFT JOIN (SELECT transfer_id, count(*) AS legs, count(*) FILTER (WHERE side = 'D') AS debits
               FROM creditledger.posting_buffer GROUP BY transfer_id) b ON b.transfer_id = t.transfer_id
  CROSS JOIN LATERAL (SELECT coalesce(j.legs, 0) + coalesce(b.legs, 0) AS legs,
                             coalesce(j.debits, 0) + coalesce(b.debits, 0) AS debits) n
  LEFT JOIN creditledger.ledger_transfers o ON o.transfer_id = t.reverses
) s
 WHERE s.problem IS NOT NULL$r$);

--------------------------------------------------------------------------
-- Built-in BCP rules (critical)
--------------------------------------------------------------------------
INSERT INTO creditledger.bcp_rules (name, severity, builtin, description, check_sql) VALUES
('held_equals_open_reservations', 'critical', true,
 'Every chain''s held (account main chain and each sub-account) equals the remaining amounts of the open pending transfers and funds holds whose reservation sits on it.',
 $r$WITH r AS (
    SELECT p.debit_account AS account_id, p.debit_sub AS sub_account, p.amount - p.posted AS remaining
      FROM creditledger.ledger_pending_transfers p
     WHERE p.status = 'pending' AND p.debit_sub IS NOT NULL
    UNION ALL
    SELECT p.credit_account, p.credit_sub, p.amount - p.posted
      FROM creditledger.ledger_pending_transfers p
     WHERE p.status = 'pending' AND p.credit_sub IS NOT NULL
    UNION ALL
    SELECT h.account_id, h.sub_account, h.amount - h.released
      FROM creditledger.ledger_funds_holds h WHERE h.status = 'open'
), s AS (
    SELECT r.account_id, r.sub_account, sum(r.remaining) AS reserved FROM r GROUP BY 1, 2
), c AS (
    SELECT a.account_id, 0 AS sub_account, a.held FROM creditledger.ledger_accounts a
    UNION ALL
    SELECT x.account_id, x.sub_account, x.held FROM creditledger.sub_accounts x
)
SELECT coalesce(c.account_id, s.account_id) AS account_id,
       coalesce(c.sub_account, s.sub_account) AS sub_account,
       c.held, coalesce(s.reserved, 0) AS open_reservations
  FROM c FULL JOIN s ON s.account_id = c.account_id AND s.sub_account = c.sub_account
 WHERE coalesce(c.held, 0) <> coalesce(s.reserved, 0) OR c.account_id IS NULL$r$),
('pending_posted_within_amount', 'critical', true,
 'No pending transfer has posted more than its amount: its posted equals the sum of its post entries, each post is a transfer of that amount between its accounts, and the sum does not exceed the amount.',
 $r$WITH posts AS (
    SELECT e.target_id AS pending_id, e.transfer_id, e.ref, e.amount
      FROM creditledger.hold_entries e
      JOIN creditledger.ledger_pending_transfers p ON p.pending_id = e.target_id
     WHERE e.target = 'P' AND e.op IN ('post', 'post_final')
       AND e.account_id = p.debit_account AND e.sub_account = coalesce(p.debit_sub, 0)
), legs AS (
    SELECT j.transfer_id, sum(j.amount) FILTER (WHERE j.side = 'D') AS debited
      FROM (SELECT transfer_id, side, amount FROM creditledger.journal_entries
            UNION ALL
            SELECT transfer_id, side, amount FROM creditledger.posting_buffer) j
     WHERE j.transfer_id IN (SELECT transfer_id FROM posts)
     GROUP BY j.transfer_id
)
SELECT p.pending_id, p.voucher, p.amount, p.posted, coalesce(sum(x.amount), 0) AS post_entries,
       'posted differs from its post entries or exceeds the amount' AS problem
  FROM creditledger.ledger_pending_transfers p
  LEFT JOIN posts x ON x.pending_id = p.pending_id
 GROUP BY p.pending_id
HAVING p.posted <> coalesce(sum(x.amount), 0) OR coalesce(sum(x.amount), 0) > p.amount
UNION ALL
SELECT x.pending_id, x.ref, x.amount, NULL, l.debited, 'post entry whose transfer does not move its amount'
  FROM posts x LEFT JOIN legs l ON l.transfer_id = x.transfer_id
 WHERE l.debited IS DISTINCT FROM x.amount$r$),
('pending_single_outcome', 'critical', true,
 'No pending transfer is both posted and voided (or expired): at most one final outcome (post_final, void, expire) per pending transfer, nothing after it, and its status agrees with it.',
 $r$WITH ev AS (
    SELECT p.pending_id, p.voucher, p.status,
           count(*) FILTER (WHERE e.op IN ('post_final', 'void', 'expire')) AS outcomes,
           max(e.op) FILTER (WHERE e.op IN ('post_final', 'void', 'expire')) AS outcome,
           max(e.version) FILTER (WHERE e.op IN ('post_final', 'void', 'expire')) AS outcome_version,
           max(e.version) AS last_version
      FROM creditledger.ledger_pending_transfers p
      LEFT JOIN creditledger.hold_entries e
        ON e.target = 'P' AND e.target_id = p.pending_id
       AND e.account_id = p.debit_account AND e.sub_account = coalesce(p.debit_sub, 0)
     GROUP BY p.pending_id
)
SELECT pending_id, voucher, status, outcomes, outcome
  FROM ev
 WHERE outcomes > 1
    OR (outcomes = 1 AND outcome_version <> last_version)
    OR status <> CASE outcome WHEN 'post_final' THEN 'posted' WHEN 'void' THEN 'voided'
                              WHEN 'expire' THEN 'expired' ELSE 'pending' END$r$),
('pending_not_overdue', 'warning', true,
 'No pending transfer or funds hold stays past its expires_at longer than creditledger.bcp_hold_overdue (is the worker expiring them?).',
 $r$SELECT 'pending' AS kind, pending_id AS id, voucher AS ref, expires_at, now() - expires_at AS overdue
  FROM creditledger.ledger_pending_transfers
 WHERE status = 'pending'
   AND expires_at < now() - coalesce(nullif(pg_catalog.current_setting('creditledger.bcp_hold_overdue', true), '')::interval,
                                     interval '1 minute')
UNION ALL
SELECT 'funds_hold', hold_id, ref, expires_at, now() - expires_at
  FROM creditledger.ledger_funds_holds
 WHERE status = 'open'
   AND expires_at < now() - coalesce(nullif(pg_catalog.current_setting('creditledger.bcp_hold_overdue', true), '')::interval,
                                     interval '1 minute')$r$);

--------------------------------------------------------------------------
-- Built-in BCP rules
--------------------------------------------------------------------------

-- credit_totals walks the usage DAG only (a grant link carves limits, it
-- does not carry amounts).
UPDATE creditledger.bcp_rules SET
    description = 'Every credit line''s frozen, used and returned equal what the open holds and the drawdowns of the line and its usage descendants (over usage and both links, each once) add up to.',
    check_sql = $r$WITH RECURSIVE down(top, id) AS (
    SELECT line_id, line_id FROM creditledger.ledger_credit_lines
    UNION
    SELECT d.top, k.child_id FROM creditledger.credit_line_links k JOIN down d ON k.parent_id = d.id
     WHERE k.control <> 'grant'
), own AS (
    SELECT l.line_id,
           (SELECT coalesce(sum(h.remaining), 0) FROM creditledger.ledger_credit_holds h
             WHERE h.line_id = l.line_id AND h.status = 'open') AS frozen,
           (SELECT coalesce(sum(w.outstanding), 0) FROM creditledger.ledger_credit_drawdowns w
             WHERE w.line_id = l.line_id) AS used,
           (SELECT coalesce(sum(w.returned), 0) FROM creditledger.ledger_credit_drawdowns w
             WHERE w.line_id = l.line_id) AS returned
      FROM creditledger.ledger_credit_lines l
), expected AS (
    SELECT d.top AS line_id, sum(o.frozen) AS frozen, sum(o.used) AS used, sum(o.returned) AS returned
      FROM down d JOIN own o ON o.line_id = d.id GROUP BY d.top
)
SELECT c.line_id, c.code, c.frozen, e.frozen AS holds_frozen, c.used, e.used AS drawdowns_used,
       c.returned, e.returned AS drawdowns_returned
  FROM creditledger.credit_lines c JOIN expected e USING (line_id)
 WHERE (c.frozen, c.used, c.returned) <> (e.frozen, e.used, e.returned)$r$
 WHERE name = 'credit_totals' AND builtin;

INSERT INTO creditledger.bcp_rules (name, severity, builtin, description, check_sql) VALUES
('credit_granted_within_limit', 'critical', true,
 'Under grant control (控制授信) the limits of a parent''s granting children (links with control grant or both) add up to at most the parent''s limit.',
 $r$SELECT p.line_id, p.code, p.limit_amount, sum(c.limit_amount) AS granted,
       array_agg(c.line_id ORDER BY c.line_id) AS children
  FROM creditledger.credit_line_links k
  JOIN creditledger.ledger_credit_lines c ON c.line_id = k.child_id
  JOIN creditledger.ledger_credit_lines p ON p.line_id = k.parent_id
 WHERE k.control IN ('grant', 'both')
 GROUP BY p.line_id, p.code, p.limit_amount
HAVING sum(c.limit_amount) > p.limit_amount$r$),
('credit_temporary_limits_consistent', 'critical', true,
 'Every line''s temporary_limit equals the sum of its active temporary limits; no temporary limit started before its valid_from, and each one''s journal entries on its line''s chain (temp_limit when it started, temp_limit_end when an active one ended, temp_limit_cancel when a scheduled one ended) match its status.',
 $r$WITH s AS (
    SELECT t.line_id, sum(t.amount) AS active
      FROM creditledger.ledger_credit_temporary_limits t WHERE t.status = 'active' GROUP BY t.line_id
), j AS (
    SELECT t.temporary_limit_id,
           count(*) FILTER (WHERE e.op = 'temp_limit') AS starts,
           count(*) FILTER (WHERE e.op = 'temp_limit_end') AS ends,
           count(*) FILTER (WHERE e.op = 'temp_limit_cancel') AS cancels
      FROM creditledger.ledger_credit_temporary_limits t
      LEFT JOIN creditledger.credit_journal_entries e
        ON e.line_id = t.line_id AND e.slice = 0 AND e.ref = t.ref
       AND e.op IN ('temp_limit', 'temp_limit_end', 'temp_limit_cancel')
     GROUP BY t.temporary_limit_id
)
SELECT 'line' AS what, l.line_id AS id, l.code AS ref,
       format('temporary_limit %s, active temporary limits %s', l.temporary_limit, coalesce(s.active, 0)) AS problem
  FROM creditledger.ledger_credit_lines l LEFT JOIN s ON s.line_id = l.line_id
 WHERE l.temporary_limit <> coalesce(s.active, 0)
UNION ALL
SELECT 'temporary limit', t.temporary_limit_id, t.ref,
       format('status %s, started_at %s, ended_at %s, journal: %s start, %s end, %s cancel',
              t.status, t.started_at, t.ended_at, j.starts, j.ends, j.cancels)
  FROM creditledger.ledger_credit_temporary_limits t
  JOIN j ON j.temporary_limit_id = t.temporary_limit_id
 WHERE (t.status = 'scheduled' AND (t.started_at IS NOT NULL OR t.ended_at IS NOT NULL))
    OR (t.status = 'active' AND (t.started_at IS NULL OR t.ended_at IS NOT NULL))
    OR (t.status IN ('ended', 'expired') AND t.ended_at IS NULL)
    OR t.started_at < t.valid_from
    OR j.starts <> (t.started_at IS NOT NULL)::int
    OR j.ends <> (t.started_at IS NOT NULL AND t.status IN ('ended', 'expired'))::int
    OR j.cancels <> (t.started_at IS NULL AND t.status IN ('ended', 'expired'))::int$r$),
('credit_temporary_limits_on_time', 'warning', true,
 'No temporary limit stays active past its valid_until, or scheduled past its valid_from, longer than creditledger.bcp_hold_overdue (is the worker running?).',
 $r$SELECT temporary_limit_id, ref, line_id, status, valid_from, valid_until,
       now() - CASE WHEN status = 'active' THEN valid_until ELSE valid_from END AS overdue
  FROM creditledger.ledger_credit_temporary_limits
 WHERE ((status = 'active' AND valid_until < now() - coalesce(nullif(pg_catalog.current_setting('creditledger.bcp_hold_overdue', true), '')::interval,
                                                             interval '1 minute'))
     OR (status = 'scheduled' AND valid_from < now() - coalesce(nullif(pg_catalog.current_setting('creditledger.bcp_hold_overdue', true), '')::interval,
                                                               interval '1 minute')))$r$);

--------------------------------------------------------------------------
-- Built-in BCP rules of lending (critical): credit and money agree.
--------------------------------------------------------------------------
INSERT INTO creditledger.bcp_rules (name, severity, builtin, description, check_sql) VALUES
('credit_used_equals_receivable', 'critical', true,
 'Per credit line with a receivable account, its own outstanding drawdowns equal the account''s balance (授信使用额度 = 放款金额: credit in use is the principal lent).',
 $r$SELECT a.line_id, l.code, a.receivable_account, coalesce(w.outstanding, 0) AS outstanding,
       b.balance AS receivable_balance
  FROM creditledger.credit_line_accounts a
  JOIN creditledger.ledger_credit_lines l ON l.line_id = a.line_id
  JOIN creditledger.accounts b ON b.account_id = a.receivable_account
  LEFT JOIN (SELECT line_id, sum(outstanding) AS outstanding
               FROM creditledger.ledger_credit_drawdowns GROUP BY line_id) w ON w.line_id = a.line_id
 WHERE coalesce(w.outstanding, 0) <> b.balance$r$),
('credit_frozen_covers_disbursements_in_transit', 'critical', true,
 'Every pending disbursement is its pending transfer (same voucher, receivable, borrower and amount) and what it has not posted is still frozen in its transit hold on its line, what it posted is its drawdown (授信流水冻结 = 放款流水冻结, 在途流水 = 放款).',
 $r$SELECT d.drawdown_id, d.ref, d.line_id, p.status AS pending_status,
       CASE WHEN p.status = 'pending' THEN p.amount - p.posted ELSE 0 END AS in_transit,
       CASE WHEN h.status = 'open' THEN h.remaining ELSE 0 END AS frozen,
       p.posted, w.amount AS drawn
  FROM creditledger.ledger_credit_pending_disbursements d
  LEFT JOIN creditledger.ledger_pending_transfers p ON p.pending_id = d.pending_id
  LEFT JOIN creditledger.ledger_credit_holds h ON h.hold_id = d.transit_hold_id
  LEFT JOIN creditledger.ledger_credit_drawdowns w ON w.drawdown_id = d.drawdown_id
 WHERE (p.pending_id IS NULL OR h.hold_id IS NULL OR w.drawdown_id IS NULL
        OR h.line_id <> d.line_id OR p.voucher <> d.ref
        OR p.debit_account <> d.receivable_account OR p.credit_account <> d.to_account
        OR p.amount <> d.amount OR w.amount <> p.posted
        OR CASE WHEN p.status = 'pending' THEN p.amount - p.posted ELSE 0 END
           <> CASE WHEN h.status = 'open' THEN h.remaining ELSE 0 END)$r$);
