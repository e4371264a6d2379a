-- Credit workload "freeze": one credit_freeze of 1..100 on a uniformly random
-- line of a group, never released (one business event, one commit), the
-- credit counterpart of transfer_uniform.sql.
-- pgbench -D variables: lo, hi (contiguous line ids), run (unique to the run).
\set line random(:lo, :hi)
\set amount random(1, 100)
\set n random(1, 1000000000000000)
SELECT creditledger.credit_freeze(:line, :amount, 'bo-' || :run || '-' || :client_id || '-' || :n);
