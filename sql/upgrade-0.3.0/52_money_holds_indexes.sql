--------------------------------------------------------------------------
-- Money holds: three indexes no query needs, dropped (doc/benchmark-history.md,
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
--     AND target_id = <pending_id> (the key's prefix);
--   * hold_entries_pkey on entry_id: nothing looks a hold chain entry up
--     by its id (a surrogate from hold_entry_id_seq, in insertion order);
--     the entry's key is (account_id, sub_account, version), whose unique
--     index every reader uses, so that becomes the primary key (its index
--     is rebuilt under the name hold_entries_pkey, as a fresh install
--     creates it) and entry_id keeps NOT NULL and its default.
--------------------------------------------------------------------------

DROP INDEX creditledger.ledger_pending_transfers_credit_idx;
DROP INDEX creditledger.hold_entries_target_idx;
ALTER TABLE creditledger.hold_entries DROP CONSTRAINT hold_entries_pkey;
ALTER TABLE creditledger.hold_entries DROP CONSTRAINT hold_entries_account_id_sub_account_version_key;
ALTER TABLE creditledger.hold_entries ADD PRIMARY KEY (account_id, sub_account, version);
