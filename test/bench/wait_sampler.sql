-- Not a workload: every 100 ms, samples what the benchmark's sessions are
-- doing into public.bench_waits (bench.sh creates it): per wait, how many
-- active client backends other than the sampler show it, as
-- wait_event_type:wait_event, or 'CPU' when they wait on nothing (running,
-- or runnable on a busy machine).
-- pgbench -D variables: run (the number of the run being sampled).
INSERT INTO public.bench_waits (run, wait, n)
SELECT :run, coalesce(wait_event_type || ':' || wait_event, 'CPU'), count(*)
  FROM pg_stat_activity
 WHERE backend_type = 'client backend' AND state = 'active' AND pid <> pg_backend_pid()
 GROUP BY 2;
\sleep 100 ms
