-- privileges: nothing for PUBLIC; setup_roles() creates three NOLOGIN roles;
-- applications post through functions but cannot write the tables.
SET search_path = creditledger, public;
\set VERBOSITY sqlstate

SELECT open_account('pv:bank', 'CNY', 'debit', NULL) AS bank \gset
SELECT open_account('pv:a', 'CNY') AS a \gset
SELECT transfer('pv-fund', :bank, :a, 100) > 0 AS ok;

CREATE ROLE regress_cl_nobody;
CREATE ROLE regress_cl_app;
CREATE ROLE regress_cl_auditor;
CREATE ROLE regress_cl_admin;

-- a role without grants can do nothing
SET ROLE regress_cl_nobody;
SELECT creditledger.balance(:a);
SELECT creditledger.transfer('pv-x', :a, :bank, 1);
SELECT count(*) FROM creditledger.journal;
RESET ROLE;
GRANT USAGE ON SCHEMA creditledger TO regress_cl_nobody;
SET ROLE regress_cl_nobody;
SELECT creditledger.balance(:a);
SELECT creditledger.transfer('pv-x', :a, :bank, 1);
SELECT count(*) FROM creditledger.journal;
SELECT count(*) FROM creditledger.ledger_accounts;
RESET ROLE;

-- setup_roles: idempotent
SELECT setup_roles();
SELECT setup_roles();
SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname LIKE 'creditledger\_%' ORDER BY 1;
GRANT creditledger_app TO regress_cl_app;
GRANT creditledger_auditor TO regress_cl_auditor;
GRANT creditledger_admin TO regress_cl_admin;

-- the application role posts and reads balances ...
SET ROLE regress_cl_app;
SELECT creditledger.transfer('pv-1', :a, :bank, 10) > 0 AS ok;
SELECT creditledger.balance(:a);
SELECT creditledger.open_account('pv:b', 'CNY') > 0 AS ok;
SELECT creditledger.reverse('pv-1') > 0 AS ok;
BEGIN;
SELECT creditledger.lock_accounts(ARRAY[:a]::bigint[]);
COMMIT;
-- ... but cannot write the tables, administer accounts or read the views
UPDATE creditledger.ledger_accounts SET balance = 1000000 WHERE account_id = :a;
INSERT INTO creditledger.journal_entries DEFAULT VALUES;
INSERT INTO creditledger.ledger_transfers (voucher, kind, payload_hash) VALUES ('x', 'transfer', '\x00');
SELECT count(*) FROM creditledger.journal;
SELECT creditledger.close_account(:a);
SELECT creditledger.set_hot_mode(:a, 'none');
SELECT count(*) FROM creditledger.verify_chain();
SELECT creditledger.setup_roles();
RESET ROLE;

-- the auditor reads and verifies but cannot post
SET ROLE regress_cl_auditor;
SELECT count(*) > 0 AS ok FROM creditledger.journal;
SELECT count(*) > 0 AS ok FROM creditledger.transfers;
SELECT count(*) > 0 AS ok FROM creditledger.accounts;
SELECT count(*) AS problems FROM creditledger.verify_chain();
SELECT creditledger.balance(:a);
SELECT creditledger.transfer('pv-2', :a, :bank, 10);
UPDATE creditledger.ledger_accounts SET balance = 0;
RESET ROLE;

-- the admin does both, plus administration
SET ROLE regress_cl_admin;
SELECT creditledger.transfer('pv-3', :a, :bank, 100) > 0 AS ok;
SELECT count(*) AS problems FROM creditledger.verify_chain();
SELECT creditledger.close_account(:a);
SELECT status FROM creditledger.accounts WHERE account_id = :a;
SELECT creditledger.flush();
-- but still cannot write the tables directly
DELETE FROM creditledger.ledger_accounts;
RESET ROLE;

DROP OWNED BY regress_cl_nobody, regress_cl_app, regress_cl_auditor, regress_cl_admin;
DROP ROLE regress_cl_nobody, regress_cl_app, regress_cl_auditor, regress_cl_admin;
