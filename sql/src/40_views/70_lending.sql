-- Lending (credit and money in one transaction): views and their comments.
-- Part of the current install script (sql/creditledger--0.3.0.sql, assembled by
-- the Makefile from sql/src/ in path order: tables, functions, triggers,
-- views, data, grants).

CREATE VIEW creditledger.credit_disbursements AS
SELECT w.drawdown_id, w.ref, w.line_id,
       (t.metadata ->> 'receivable_account')::bigint AS receivable_account,
       (w.payload ->> 'to_account')::bigint AS to_account, w.amount,
       'disbursed'::text AS status, w.amount AS posted, 0::bigint AS in_transit,
       w.outstanding, w.returned, t.transfer_id, NULL::bigint AS pending_id, w.created_at
  FROM creditledger.ledger_credit_drawdowns w
  JOIN creditledger.ledger_transfers t ON t.voucher = w.ref
 WHERE w.payload ->> 'kind' IN ('disburse', 'disburse_direct')
   AND NOT (w.payload ->> 'pending')::boolean
UNION ALL
SELECT d.drawdown_id, d.ref, d.line_id, d.receivable_account, d.to_account, d.amount,
       CASE WHEN p.status = 'pending' THEN 'in_transit' ELSE p.status END,
       p.posted, CASE WHEN p.status = 'pending' THEN p.amount - p.posted ELSE 0 END,
       w.outstanding, w.returned, NULL::bigint, d.pending_id, d.created_at
  FROM creditledger.ledger_credit_pending_disbursements d
  JOIN creditledger.ledger_credit_drawdowns w ON w.drawdown_id = d.drawdown_id
  JOIN creditledger.ledger_pending_transfers p ON p.pending_id = d.pending_id;
COMMENT ON VIEW creditledger.credit_disbursements IS
    'One row per disbursement: status disbursed (immediate: its drawdown and its transfer, voucher = ref), in_transit (放款在途: pending transfer not yet settled), posted, voided or expired; posted = what became a drawdown, in_transit = what is still frozen for it; outstanding and returned from its drawdown.';
