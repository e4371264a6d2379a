-- Lending: one index entry fewer per disbursement (part of the 0.2.0 ->
-- 0.3.0 delta, assembled by the Makefile in file-name order).  A
-- disbursement's ref is its drawdown's, which is unique there
-- (ledger_credit_drawdowns_ref_key), and drawdown_id is the key here, so
-- the unique constraint on ref repeats a check every disbursement paid for.
ALTER TABLE creditledger.ledger_credit_disbursements
    DROP CONSTRAINT ledger_credit_disbursements_ref_key;
