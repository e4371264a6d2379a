-- Lending: fewer index entries per disbursement (part of the 0.2.0 -> 0.3.0
-- delta, assembled by the Makefile in file-name order).  An immediate
-- disbursement has no pending transfer, so the unique index on pending_id
-- becomes partial; a line's disbursements are found through its drawdowns
-- (drawdown_id is the disbursement's key), so the line index goes.
ALTER TABLE creditledger.ledger_credit_disbursements
    DROP CONSTRAINT ledger_credit_disbursements_pending_id_key;
DROP INDEX creditledger.ledger_credit_disbursements_line_idx;
-- A pending disbursement is found by its pending transfer (post, void,
-- expiry, post_batch); an immediate one has none, so it has no entry here.
-- A line's disbursements are found through its drawdowns (same drawdown_id).
CREATE UNIQUE INDEX ledger_credit_disbursements_pending_key
    ON creditledger.ledger_credit_disbursements (pending_id) WHERE pending_id IS NOT NULL;
