--------------------------------------------------------------------------
-- Money holds: two indexes no query needs, dropped (README, Benchmarks,
-- money holds).  Every pending transfer and every hold chain entry paid
-- an index entry for each (CPU, WAL, and after a checkpoint a full-page
-- image), and no statement of the extension uses them:
--   * ledger_pending_transfers_credit_idx (open pending transfers by
--     credit account): nothing looks pending transfers up by credit
--     account; the scans of open ones (BCP rule
--     held_equals_open_reservations) use the debit index, whose predicate
--     is the same, and the release of due reservations on a chain
--     (holds_release_due) looks them up by debit account;
--   * hold_entries_target_idx (hold chain entries by record): the BCP
--     rules pending_posted_within_amount and pending_single_outcome join
--     every entry with every pending transfer (hash joins over the whole
--     tables, with or without it), and verification, digests and the
--     chain writer go by (account_id, sub_account, version).  A pending
--     transfer's history is found on its debit account's chain:
--     hold_journal WHERE account_id = <debit_account> AND target = 'P'
--     AND target_id = <pending_id> (the unique index's prefix).
--------------------------------------------------------------------------

DROP INDEX creditledger.ledger_pending_transfers_credit_idx;
DROP INDEX creditledger.hold_entries_target_idx;
