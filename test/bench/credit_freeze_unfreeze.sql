-- Credit workloads "free", "hot", "plain": freeze an amount on a uniformly
-- random customer line of one group, then release the whole hold.
-- pgbench -D variables: lo, hi (contiguous line ids of the group), run (a
-- number unique to this pgbench run).
-- Two statements, each its own transaction (autocommit), as in production:
-- the freeze is one business event (an order holds credit) and the unfreeze
-- another (the order is cancelled); one pgbench transaction = one freeze +
-- one unfreeze = two commits. Under a parent, the freeze changes the line and
-- the parent (a hot parent: one of its slices), and so does the unfreeze.
-- References are unique without a round trip: the run, the client and a
-- random number below 10^15 (a repeat within one client's run is ~1e-9 likely).
\set line random(:lo, :hi)
\set amount random(1, 100)
\set n random(1, 1000000000000000)
SELECT creditledger.credit_freeze(:line, :amount, 'bf-' || :run || '-' || :client_id || '-' || :n);
SELECT creditledger.credit_unfreeze('bf-' || :run || '-' || :client_id || '-' || :n,
                                    'bu-' || :run || '-' || :client_id || '-' || :n);
