-- Not a workload: every 100 ms, samples what the benchmark's sessions are
-- doing into public.bench_waits (bench.sh creates it): one row per active
-- client backend other than the sampler, with wait_event_type:wait_event, or
-- 'CPU' when it waits on nothing (running, or runnable on a busy machine).
-- pgbench -D variables: run (the number of the run being sampled).
INSERT INTO public.bench_waits (run, wait)
SELECT :run, coalesce(wait_event_type || ':' || wait_event, 'CPU')
  FROM pg_stat_activity
 WHERE backend_type = 'client backend' AND state = 'active' AND pid <> pg_backend_pid();
\sleep 100 ms
