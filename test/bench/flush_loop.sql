-- Not a workload: the stand-in flusher when no background worker runs.
-- One client applies the buffer of the hot account :hot every 10 ms
-- (creditledger.flush_interval's value), each call its own transaction.
-- pgbench -D variables: hot.
SELECT creditledger.flush(:hot);
\sleep 10 ms
