-- Lending (credit and money in one transaction): views and their comments.
-- Part of the current install script (sql/creditledger--0.3.0.sql, assembled by
-- the Makefile from sql/src/ in path order: tables, functions, triggers,
-- views, data, grants).

CREATE VIEW creditledger.credit_disbursements AS
SELECT d.drawdown_id, d.ref, d.line_id, d.receivable_account, d.to_account, d.amount,
       CASE WHEN d.pending_id IS NULL THEN 'disbursed'
            WHEN p.status = 'pending' THEN 'in_transit'
            ELSE p.status END AS status,
       CASE WHEN d.pending_id IS NULL THEN d.amount ELSE p.posted END AS posted,
       CASE WHEN p.status = 'pending' THEN p.amount - p.posted ELSE 0 END AS in_transit,
       w.outstanding, w.returned, d.transfer_id, d.pending_id, d.created_at
  FROM creditledger.ledger_credit_disbursements d
  JOIN creditledger.ledger_credit_drawdowns w ON w.drawdown_id = d.drawdown_id
  LEFT JOIN creditledger.ledger_pending_transfers p ON p.pending_id = d.pending_id;
COMMENT ON VIEW creditledger.credit_disbursements IS
    'One row per disbursement: status disbursed (immediate), in_transit (放款在途: pending transfer not yet settled), posted, voided or expired; posted = what became a drawdown, in_transit = what is still frozen for it; outstanding and returned from its drawdown.';
