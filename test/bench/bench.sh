#!/usr/bin/env bash
# creditledger benchmark: pgbench ratios measured side by side in one run.
#
# Run by `make bench` (test/run.sh builds and installs the extension first);
# can be run directly as root once the extension is installed:
#
#     BENCH_SECONDS=5 bash test/bench/bench.sh
#
# What it does:
#   1. starts a throwaway cluster (lib.sh: scratch directory owned by postgres,
#      free port, socket in that directory; stopped and removed on exit, even
#      on failure or Ctrl-C; no other cluster is touched);
#   2. the background worker: once the database exists, the worker settings
#      (WORKER_CONF) are added and the cluster restarted, so the worker starts
#      against an existing database;
#   3. test/bench/setup.sql: the extension, 1000 funded accounts, the plain
#      table of the bare INSERT baseline, the four hot accounts;
#   4. table 1: a short warm-up of every workload, then for each client count
#      every workload in turn (baseline first), so all see the same machine
#      state; a CHECKPOINT before each run so no run inherits another's dirty
#      buffers;
#   5. table 2, hot accounts, at BENCH_HOT_CLIENTS clients over the first 500
#      funded accounts: warm-up, then one run each of HOT_WORKLOADS in turn;
#      after the buffered run, waits until its buffer is empty and measures
#      the flush lag (posted_at - accepted_at) of the postings it made;
#      failed transactions, aborted clients and server-log errors (by
#      SQLSTATE) are counted per run; the money-hold workloads run last
#      (pending_post: transfer_pending + transfer_post pairs between random
#      accounts, two commits, compared with uniform500; pending_uniform and
#      pending_split: authorisations left open between random accounts and
#      from the split account, compared with each other, any LD001 a failed
#      transaction), as their reservations stay on the accounts;
#   6. table 3, credit lines (test/bench/credit_setup.sql: 1000 customer
#      lines with no parent, 1000 under one hot shared parent, 1000 under one
#      plain shared parent, 1000 under the race parent), at
#      BENCH_CREDIT_CLIENTS clients: warm-up, then one run each of
#      CREDIT_WORKLOADS in turn (credit_freeze_unfreeze.sql: freeze, then
#      unfreeze, on a random line of the group), counted like table 2, with
#      what the sessions wait on sampled every 100 ms (wait_sampler.sql);
#      then the race (credit_race.sql): BENCH_CREDIT_CLIENTS clients freeze
#      1..RACE_MAX under random children of a fresh hot parent whose limit
#      (BENCH_RACE_LIMIT) they fill early in the run, refusals (LD002) caught
#      and logged by a helper function so no client aborts;
#   7. correctness after the load: the hot accounts' balance() is posted +
#      buffered, a final flush() empties every buffer, verify_chain() finds
#      nothing, balances are conserved, each chain head (main chains and
#      sub-accounts) equals its last entry, every transfer has two legs,
#      internal moves net to zero, no committed transfer was lost; credit:
#      every line's frozen is the sum of the open holds' remaining on it and
#      its descendants, no line is over its limit, a hot line's slices hold
#      exactly its available amount, every credit chain head (line and slice)
#      equals its last entry, every freeze and unfreeze touched each node of
#      its line once; the race parent ended at or below its limit and within
#      one freeze of it, and no refused freeze would have fitted;
#   8. audit (after the other parts' runs, in a database of its own,
#      AUDIT_DB, so neither sees the other's data): test/bench/audit_setup.sql
#      builds a ledger of >= 1,000,000 journal entries (BENCH_AUDIT_TRANSFERS
#      transfers from one bank account to 1000 accounts, 1000 per statement,
#      a commit after each; buffered and split postings, reversals, a few
#      thousand credit operations on a small DAG with hot lines, so every BCP
#      rule has something to check), then VACUUM ANALYZE; the cluster is
#      restarted (shared_buffers empty, the OS page cache warm) and
#      verify_chain() over everything runs once ("first run") and then
#      BENCH_AUDIT_RUNS more times (median and best), each timed server side
#      (public.audit_time: clock_timestamp around the statement); side by
#      side, interleaved with those runs, the machine's hashing ceiling
#      (SHA-256 of 100-byte records, openssl speed, one core) and a
#      sequential read of both journals in SQL; then bcp_run(record => false)
#      (total and per rule; EXPLAIN ANALYZE of the three slowest rules in
#      audit-explain.log), ledger_digest() and verify_digest(); checked:
#      every verify_chain() run found nothing, every rule passed, the
#      digest verified;
#   9. bulk (in a database of its own, BULK_DB, after the other parts):
#      postings many to one transaction. 100 accounts (funded, ids
#      contiguous), transfers of 1 between two distinct ones, cycling through
#      all pairs; BULK_TRANSFERS (100,000) transfers posted three ways,
#      interleaved, BULK_REPS times each (the best time counts), VACUUM and
#      CHECKPOINT before each: as BULK_TRANSFERS/1000 transactions of one
#      1,000-transfer statement each (the reference), as one transaction of
#      BULK_TRANSFERS/1000 such statements, and as one transaction of one
#      statement; then the scaling of one statement in one transaction at
#      5,000, 10,000 and 20,000 transfers (per-transfer cost should stay
#      flat). Times are psql's \timing of each statement, summed (COMMIT
#      included). Checked: verify_chain() finds nothing, no balance moved off
#      the 100 accounts, every transfer has two legs;
#  10. batch (in a database of its own, BATCH_DB, after the other parts):
#      post_batch throughput.  test/bench/batch_setup.sql: 1000 funded
#      accounts, a large pool of BATCH_POOL (100,000) funded accounts and a
#      buffered account.  At BATCH_CLIENTS (16) clients, one
#      run each, in turn: single transfer() calls (transfer_uniform.sql),
#      then for each size N of BATCH_SIZES (1 10 100 1000) a bare multi-row
#      INSERT of N rows (insert_multi.sql, the ceiling) and post_batch of N
#      uniform transfers (batch_uniform.sql); then 100-item uniform batches
#      twice more, each run after a VACUUM of ledger_accounts: plain, and
#      behind a gate the caller keeps (batch_uniform_gated.sql: an advisory
#      lock in a statement of its own before the batch), with the account
#      rows' updates and HOT share during each; then 100-item batches into one
#      buffered account (a one-client flush loop alongside, as the worker
#      serves only the ledger database); single calls and post_batch of 100
#      uniform over the large pool (batches rarely overlap: the engine
#      without the convoy of the 1000 accounts).  Then BATCH_BULK (100,000)
#      transfers through post_batch calls of 1,000 items, as one transaction
#      and as BATCH_BULK/1000 transactions (one session, wall clock).
#      Checked: no item refused, verify_chain() finds nothing, balances
#      conserved, every batched transfer has two legs;
#  11. prints markdown tables (tps, ratios, targets, flush lag, race, audit, bulk, batch)
#      and saves them to bench-results/latest.md (pgbench logs and the server
#      log alongside in bench-results/logs/).
#
# Benchmarks are not tests: missing the target is reported, not an error.
# The exit status is non-zero only if a pgbench run failed or a correctness
# check did not hold.
#
# Environment:
#   BENCH_SECONDS      length of each measured run (default 20)
#   BENCH_WARMUP       length of each warm-up run (default 5; 0 = none)
#   BENCH_CLIENTS      client counts of table 1 (default "1 16 64")
#   BENCH_THREADS      pgbench -j (default 2; capped at the client count)
#   BENCH_HOT_CLIENTS  clients of the hot-account table (default 64)
#   BENCH_HOT_SECONDS  length of each measured hot-account run
#                      (default: BENCH_SECONDS)
#   BENCH_SPLIT_SHARDS sub-accounts of the split account (default 64: one per client)
#   BENCH_ONLY         run only some parts: "engine" (credit_engine.sh alone:
#                      the credit engine's table of issue 12, its own
#                      cluster; a full run ends with it), "lending"
#                      (lending.sh alone: credit_disburse vs transfer,
#                      issue 14, its own cluster; a full run ends with it
#                      too), "ledger" (tables 1 and 2, their
#                      setup and checks), "credit" (table 3 and the race,
#                      their setup and checks; setup.sql is skipped),
#                      "audit" (the audit tables, their database, setup and
#                      checks), "bulk" (many postings in one transaction,
#                      its database and checks) or "batch" (post_batch, its
#                      database and checks); default all five. E.g. to
#                      iterate on credit lines:
#                          BENCH_ONLY=credit BENCH_SECONDS=5 bash test/bench/bench.sh
#                      A partial run writes bench-results/latest-PART.md and
#                      bench-results/logs-PART/, leaving a full run's
#                      latest.md and logs/ alone.
#   BENCH_CREDIT_CLIENTS  clients of the credit table and the race (default 64)
#   BENCH_CREDIT_SECONDS  length of each measured credit run (default: BENCH_SECONDS)
#   BENCH_CREDIT_SLICES   slices of the hot parent and of the race parent
#                         (default 64: one per client)
#   BENCH_RACE_SECONDS    length of the race (default: BENCH_SECONDS)
#   BENCH_RACE_LIMIT      the race parent's limit (default: what the hot run's
#                         rate fills in a quarter of the race, so the race is
#                         mostly refusals; 100000 if the hot run failed)
#   BENCH_AUDIT_TRANSFERS transfers of the audit ledger (default 500000: with
#                         two journal entries each, 1,000,000 entries; a
#                         multiple of 1000)
#   BENCH_AUDIT_RUNS      verify_chain() runs after the first one, whose median
#                         and best are reported (default 3)
#   BENCH_BULK_TRANSFERS  transfers of the bulk comparison (default 100000; a
#                         multiple of 1000)
#   BENCH_BULK_REPS       runs of each bulk way, interleaved; the best counts
#                         (default 2)
#   BENCH_BATCH_CLIENTS   clients of the batch runs (default 16)
#   BENCH_BATCH_POOL      accounts of the batch part's large pool (default
#                         100000; 0: no pool, no pool rows)
#   BENCH_BATCH_BULK      transfers of the batch part's one-transaction
#                         comparison (default 100000; a multiple of 1000)
#
# Adding a workload: write test/bench/NAME.sql (pgbench script; variables
# :lo, :hi, :naccounts are passed with -D), add setup it needs to setup.sql,
# and add a line to WORKLOADS below. Ledger workloads that post exactly one
# transfer per pgbench transaction with a voucher 'bench-...' should use the
# kind "transfer", so the lost-transfer check counts them. HOT_WORKLOADS work
# the same way (their scripts also get -D hot=<the hot account's id>).
# CREDIT_WORKLOADS: a line "name|code prefix of its group|what"; the group's
# lines are <prefix>-1 .. <prefix>-1000 (credit_setup.sql makes them), passed
# as -D lo=, hi= (contiguous ids) and -D run=<a number unique to the run>.
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/lib.sh"
# On exit, whatever the reason: keep the server log next to the pgbench logs
# (show its tail on failure), then lib.sh's cleanup stops the cluster and
# removes the scratch directory. Fatal signals go through the same path.
on_exit() {
    local rc=$?
    if [ -n "${dir:-}" ] && [ -f "$dir/server.log" ]; then
        cp "$dir/server.log" "$LOGDIR/server.log" 2>/dev/null || true
        if [ "$rc" -ne 0 ]; then
            echo "---- last lines of the server log ($LOGDIR/server.log)" >&2
            tail -n 20 "$dir/server.log" >&2
        fi
    fi
    cleanup
}
trap on_exit EXIT
trap 'exit 130' INT TERM HUP

BENCH_SECONDS=${BENCH_SECONDS:-20}
BENCH_WARMUP=${BENCH_WARMUP:-5}
BENCH_CLIENTS=${BENCH_CLIENTS:-"1 16 64"}
BENCH_THREADS=${BENCH_THREADS:-2}
BENCH_HOT_CLIENTS=${BENCH_HOT_CLIENTS:-64}
BENCH_HOT_SECONDS=${BENCH_HOT_SECONDS:-$BENCH_SECONDS}

NACCOUNTS=1000
FUND=1000000000            # opening balance of each account (minor units)
NHOT=500                   # accounts the hot-account table uses (the first NHOT)
HOT_FUND=100000000000      # opening balance of each paying hot account: >1000x
                           # what 64 clients can draw in a minute (<= 100 a call)
SHARDS=${BENCH_SPLIT_SHARDS:-64}  # sub-accounts of the split account
DB=bench
PGBENCH=$PGBIN/pgbench
PSQL=$PGBIN/psql
BENCH_SRC=$SRC/test/bench
OUTDIR=$SRC/bench-results
RESULTS=$OUTDIR/latest.md
LOGDIR=$OUTDIR/logs

# Server settings for a 2-core / 24 GB machine; the same for every workload.
# synchronous_commit stays at its default (on): every transaction waits for
# its WAL flush, as a ledger in production would. Big max_wal_size and a long
# checkpoint_timeout so checkpoints happen only where we ask (before each run).
CONF=(
    "shared_buffers = 1GB"
    "max_connections = 200"
    "max_wal_size = 8GB"
    "min_wal_size = 1GB"
    "checkpoint_timeout = 30min"
    "checkpoint_completion_target = 0.9"
    "effective_cache_size = 16GB"
    "work_mem = 16MB"
    "maintenance_work_mem = 256MB"
    "log_min_messages = warning"
    "log_checkpoints = off"
    "log_line_prefix = '%m [%p] %e '"    # SQLSTATE in every line: errors counted by code
    "max_locks_per_transaction = 256"     # a post_batch of 1,000 uniform transfers takes a mode
                                          # lock on each of its ~860 distinct accounts
    "creditledger.database = ''"          # no worker until the database exists (WORKER_CONF)
)
# The background worker (added once the database exists, then a restart).
WORKER_CONF=(
    "creditledger.database = '$DB'"
    "creditledger.flush_interval = '10ms'"
    "creditledger.batch_size = 1000"
)

# Workloads: name|pgbench script|label|kind. The first one is the baseline
# every other one is compared with (kind: baseline, transfer, other).
WORKLOADS=(
    "insert|insert.sql|bare INSERT|baseline"
    "uniform|transfer_uniform.sql|uniform transfer|transfer"
)
# The target: workload TARGET_WORKLOAD >= TARGET_RATIO x baseline at TARGET_CLIENTS.
TARGET_WORKLOAD=uniform
TARGET_CLIENTS=16
TARGET_RATIO=0.40

# Hot-account workloads: name|pgbench script|hot account code ('' = none)|what.
# The first one is the ceiling the others are compared with.
HOT_WORKLOADS=(
    "uniform500|transfer_uniform.sql||transfers between two distinct random accounts of the $NHOT"
    "into_none|transfer_into.sql|bench-hot-into-none|from a random one of the $NHOT into one account, hot_mode 'none'"
    "into_buffered|transfer_into.sql|bench-hot-into-buffered|the same into one account, hot_mode 'buffered'"
    "out_of_none|transfer_out_of.sql|bench-hot-out-none|from one account, hot_mode 'none', to a random one of the $NHOT"
    "out_of_split|transfer_out_of.sql|bench-hot-out-split|the same from one account, hot_mode 'split' ($SHARDS shards)"
    "pending_post|pending_post.sql||transfer_pending + transfer_post pairs (two commits) between two random accounts of the $NHOT"
    "pending_uniform|pending_uniform.sql||pending debits (left open) between two random accounts of the $NHOT"
    "pending_split|pending_out_of.sql|bench-hot-out-split|pending debits (left open) from the split account ($SHARDS shards) to a random one of the $NHOT"
)
# Hot workloads that create no transfer (pending debits left open): left out
# of the lost-transfer check.
HOT_NO_TRANSFERS=" pending_uniform pending_split "
HOT_BUFFERED=into_buffered   # the run whose flush lag is measured (its account:
                             # bench-hot-into-buffered)
# Targets: "A|B|ratio": A / B >= ratio ("" for B's ratio: shown, no target).
HOT_TARGETS=(
    "into_buffered|into_none|5"
    "into_buffered|uniform500|0.90"
    "out_of_split|uniform500|0.80"
    "out_of_split|out_of_none|"
    "pending_post|uniform500|0.45"
    "pending_split|pending_uniform|0.80"
)
LAG_TARGET_MS=100            # flush lag p99 target

# Credit lines (table 3 and the race).
CREDIT_CLIENTS=${BENCH_CREDIT_CLIENTS:-64}
CREDIT_SECONDS=${BENCH_CREDIT_SECONDS:-$BENCH_SECONDS}
CREDIT_SLICES=${BENCH_CREDIT_SLICES:-64}
RACE_SECONDS=${BENCH_RACE_SECONDS:-$BENCH_SECONDS}
RACE_LIMIT_FALLBACK=100000   # the race parent's limit if there is no hot run to size it from
RACE_MAX=10                  # race freezes are of 1..RACE_MAX
NLINES=1000                  # customer lines per group
LINE_LIMIT=1000000000000     # limit of every customer line (10^12: never binds)
PARENT_LIMIT=1000000000000000  # limit of the hot and plain parents (10^15: never binds)
# Credit workloads: name|code prefix of the group|what. The first one is the
# ceiling the others are compared with.
CREDIT_WORKLOADS=(
    "free|bench-cl-free|$NLINES customer lines, no parent"
    "hot|bench-cl-hot|$NLINES customer lines under one shared parent, hot ($CREDIT_SLICES slices)"
    "plain|bench-cl-plain|$NLINES customer lines under one shared parent, not hot"
)
# Targets: "A|B|ratio", as HOT_TARGETS.
CREDIT_TARGETS=(
    "hot|free|0.80"
    "plain|free|"
    "hot|plain|"
)

# Audit (its own database): verify_chain, bcp_run and digests over a big ledger.
AUDIT_DB=bench_audit
AUDIT_ACCOUNTS=1000
AUDIT_TRANSFERS=${BENCH_AUDIT_TRANSFERS:-500000}
AUDIT_CREDIT_OPS=3000        # credit freezes (each then released one way or another)
AUDIT_RUNS=${BENCH_AUDIT_RUNS:-3}
AUDIT_MIN_ENTRIES=1000000    # the ledger the issue asks for: at least this many entries
AUDIT_TARGET=1000000         # verify_chain() entries/s (median of the AUDIT_RUNS runs)

# Bulk (its own database): many postings in one transaction.
BULK_DB=bench_bulk
BULK_ACCOUNTS=100
BULK_TRANSFERS=${BENCH_BULK_TRANSFERS:-100000}
BULK_REPS=${BENCH_BULK_REPS:-2}
BULK_SCALING="5000 10000 20000"
BULK_TARGET=1.3              # one transaction / BULK_TRANSFERS/1000 transactions: at most this

# Batch (its own database): post_batch throughput.
BATCH_DB=bench_batch
BATCH_ACCOUNTS=1000
BATCH_POOL=${BENCH_BATCH_POOL:-100000}   # the large pool: uniform batches of 100 rarely overlap
BATCH_CLIENTS=${BENCH_BATCH_CLIENTS:-16}
BATCH_SIZES="1 10 100 1000"
BATCH_HOT_ITEMS=100
BATCH_BULK=${BENCH_BATCH_BULK:-100000}
BATCH_TARGET_SIZE=100
BATCH_TARGET=10              # post_batch of BATCH_TARGET_SIZE: transfers/s >= this x single calls

die() { echo "bench: $*" >&2; exit 1; }

# The parts to run (BENCH_ONLY); want PART: is it one of them?
case "${BENCH_ONLY:-}" in
    "") PARTS="ledger credit audit bulk batch" ;;
    ledger | credit | audit | bulk | batch) PARTS=$BENCH_ONLY ;;
    # the credit engine's table (issue 12) runs on a cluster of its own
    engine) exec bash "$SRC/test/bench/credit_engine.sh" ;;
    # lending (issue 14): credit_disburse vs transfer, a cluster of its own
    lending) exec bash "$SRC/test/bench/lending.sh" ;;
    *) die "BENCH_ONLY must be ledger, credit, audit, bulk, batch, engine or lending (or unset for all), not '$BENCH_ONLY'" ;;
esac
want() { case " $PARTS " in *" $1 "*) return 0 ;; esac; return 1; }
if want audit; then
    [[ "$AUDIT_TRANSFERS" =~ ^[1-9][0-9]*000$ ]] \
        || die "BENCH_AUDIT_TRANSFERS must be a positive multiple of 1000, not '$AUDIT_TRANSFERS'"
    [[ "$AUDIT_RUNS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_AUDIT_RUNS must be >= 1, not '$AUDIT_RUNS'"
fi
if want bulk; then
    [[ "$BULK_TRANSFERS" =~ ^[1-9][0-9]*000$ ]] \
        || die "BENCH_BULK_TRANSFERS must be a positive multiple of 1000, not '$BULK_TRANSFERS'"
    [[ "$BULK_REPS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_BULK_REPS must be >= 1, not '$BULK_REPS'"
fi
# A partial run keeps its report and logs apart, so a full run's stay.
if [ -n "${BENCH_ONLY:-}" ]; then
    RESULTS=$OUTDIR/latest-$BENCH_ONLY.md
    LOGDIR=$OUTDIR/logs-$BENCH_ONLY
fi

# q SQL: one query in the bench database, unaligned tuples-only output.
q() { as_pg "$PSQL" -X -qAt -v ON_ERROR_STOP=1 -d "$DB" -c "$1"; }
# qa SQL: the same in the audit database, NOTICEs (bcp_run's progress) off.
qa() { PGOPTIONS="-c client_min_messages=warning" as_pg "$PSQL" -X -qAt -v ON_ERROR_STOP=1 -d "$AUDIT_DB" -c "$1"; }

# wl_field WORKLOAD N: the Nth |-separated field of a WORKLOADS entry.
wl_field() { local IFS='|' f; read -r -a f <<<"$1"; echo "${f[$2 - 1]}"; }

# logsize: current size of the server log in bytes (where a run's slice starts).
logsize() { stat -c %s "$dir/server.log" 2>/dev/null || echo 0; }

# server_errors OFFSET: "server: COUNT SQLSTATE LEVEL" for every WARNING,
# ERROR, FATAL or PANIC the server logged from byte OFFSET on, leaving out
# the audit part's restart (bytes RESTART_FROM to RESTART_TO of the log:
# its shutdown ends the worker with 57P01, which is no error of a run).
server_errors() {
    local from=$1 a=${RESTART_FROM:-} b=${RESTART_TO:-}
    {
        if [ -n "$a" ] && [ -n "$b" ] && [ "$from" -lt "$b" ]; then
            [ "$from" -ge "$a" ] || head -c "$a" "$dir/server.log" | tail -c +$((from + 1))
            tail -c +$((b + 1)) "$dir/server.log"
        else
            tail -c +$((from + 1)) "$dir/server.log"
        fi
    } 2>/dev/null \
        | grep -oE '\] [0-9A-Z]{5} (WARNING|ERROR|FATAL|PANIC):' \
        | awk '{ sub(":", "", $3); print $2, $3 }' | sort | uniq -c \
        | awk '{ print "server:", $1, $2, $3 }' || true
}

# pgbench_run LOGF CLIENTS SECONDS SCRIPT [pgbench options...]
#   CHECKPOINT, then one pgbench run of SCRIPT (file name in test/bench);
#   its output goes to LOGF, followed by a "wal:" line (pg_stat_wal before
#   and after) and "server:" lines (server_errors of the run's slice of the
#   server log). With FLUSHER_FOR=ACCOUNT_ID, a one-client pgbench running
#   flush_loop.sql for ACCOUNT_ID runs alongside for the same time (its log:
#   flusher-LOGF). With WAITS_RUN=N, a one-client pgbench running
#   wait_sampler.sql runs alongside (its log: waits-LOGF), recording what the
#   sessions wait on every 100 ms under run N in public.bench_waits (see
#   waits_summary). Returns pgbench's exit status.
pgbench_run() {
    local logf=$1 clients=$2 secs=$3 script=$4; shift 4
    local threads=$((clients < BENCH_THREADS ? clients : BENCH_THREADS))
    local walq="SELECT wal_bytes, wal_fpi FROM pg_stat_wal" wal0 wal1 off rc=0 fpid="" wpid=""
    q "CHECKPOINT" >/dev/null
    wal0=$(q "$walq" || true)
    off=$(logsize)
    if [ -n "${FLUSHER_FOR:-}" ]; then
        as_pg "$PGBENCH" -n -M prepared -c 1 -T "$secs" -D hot="$FLUSHER_FOR" \
            -f "$SCRIPTS/flush_loop.sql" "${RUN_DB:-$DB}" >"$(dirname "$logf")/flusher-$(basename "$logf")" 2>&1 &
        fpid=$!
    fi
    if [ -n "${WAITS_RUN:-}" ]; then
        as_pg "$PGBENCH" -n -M prepared -c 1 -T "$secs" -D run="$WAITS_RUN" \
            -f "$SCRIPTS/wait_sampler.sql" "$DB" >"$(dirname "$logf")/waits-$(basename "$logf")" 2>&1 &
        wpid=$!
    fi
    as_pg "$PGBENCH" -n -M prepared --failures-detailed -c "$clients" -j "$threads" \
        -T "$secs" "$@" -f "$SCRIPTS/$script" "${RUN_DB:-$DB}" >"$logf" 2>&1 || rc=$?
    if [ -n "$fpid" ]; then wait "$fpid" || echo "flusher: pgbench exit $?" >>"$logf"; fi
    if [ -n "$wpid" ]; then wait "$wpid" || echo "wait sampler: pgbench exit $?" >>"$logf"; fi
    wal1=$(q "$walq" || true)
    # WAL written during the run (whole cluster: the run is all that happens).
    echo "wal: $wal0 $wal1" >>"$logf"
    server_errors "$off" >>"$logf"
    return "$rc"
}

# run_summary LOGF: "tps|failed transactions|aborted clients|server errors"
#   of a run: tps rounded (empty if pgbench printed none), server errors as
#   "3 LD001 ERROR, 1 40P01 ERROR" (empty if none).
run_summary() {
    local f=$1 tps failed aborted errs
    tps=$(awk '/^tps = / { printf "%.0f", $3; exit }' "$f")
    failed=$(awk -F'[: ]+' '/^number of failed transactions/ { print $5; exit }' "$f")
    aborted=$(grep -c 'aborted in command' "$f" || true)
    errs=$(awk '/^server: / && $4 != "WARNING" { printf "%s%s %s %s", sep, $2, $3, $4; sep = ", " }' "$f")
    echo "$tps|${failed:-?}|${aborted:-0}|$errs"
}

# show_failure NAME CLIENTS LOGF RC: what went wrong in a run, on stderr.
show_failure() {
    {
        echo "bench: $1 with $2 clients failed (pgbench exit $4); from $3:"
        grep -E 'ERROR|aborted|FATAL|DETAIL|HINT' "$3" | sed -E 's/client [0-9]+/client N/' \
            | sort | uniq -c | sort -rn | head -n 10
        grep -E '^(number of|tps|server:)' "$3"
    } >&2
}

# run_workload NAME SCRIPT CLIENTS [SECONDS [LOGTAG]]
#   One pgbench run of SCRIPT (file name in test/bench) with CLIENTS clients
#   over all NACCOUNTS accounts. Prints the tps (without initial connection
#   time) on stdout; the full pgbench output goes to
#   bench-results/logs/[LOGTAG]NAME-cCLIENTS.log. Returns non-zero (and shows
#   the log's tail on stderr) if pgbench failed, a client aborted or any
#   transaction failed.
run_workload() {
    local name=$1 script=$2 clients=$3 secs=${4:-$BENCH_SECONDS} tag=${5:-}
    local logf="$LOGDIR/${tag}${name}-c${clients}.log" rc=0 tps failed aborted errs
    pgbench_run "$logf" "$clients" "$secs" "$script" \
        -D lo="$LO" -D hi="$HI" -D naccounts="$NACCOUNTS" || rc=$?
    IFS='|' read -r tps failed aborted errs <<<"$(run_summary "$logf")"
    if [ "$rc" -ne 0 ] || [ -z "$tps" ] || [ "$failed" != 0 ] || [ "$aborted" != 0 ]; then
        show_failure "$name" "$clients" "$logf" "$rc"
        return 1
    fi
    echo "$tps"
}

# run_hot WORKLOAD [SECONDS [LOGTAG]]
#   One pgbench run of a HOT_WORKLOADS entry with BENCH_HOT_CLIENTS clients
#   over the first NHOT accounts (and -D hot=ID of its hot account). Prints
#   run_summary's line (the tps even if some transactions failed or clients
#   aborted); returns non-zero (and shows why on stderr) if anything failed.
#   The buffered workload gets the stand-in flusher when no worker runs.
run_hot() {
    local w=$1 secs=${2:-$BENCH_HOT_SECONDS} tag=${3:-} name script code hot=0 rc=0
    local logf tps failed aborted errs flusher=""
    name=$(wl_field "$w" 1); script=$(wl_field "$w" 2); code=$(wl_field "$w" 3)
    logf="$LOGDIR/${tag}${name}-c${BENCH_HOT_CLIENTS}.log"
    [ -z "$code" ] || hot=${HOT_ID[$code]}
    if [ "$name" = "$HOT_BUFFERED" ] && [ "$FLUSHER" = loop ]; then flusher=$hot; fi
    FLUSHER_FOR=$flusher pgbench_run "$logf" "$BENCH_HOT_CLIENTS" "$secs" "$script" \
        -D lo="$LO" -D hi="$HOT_HI" -D naccounts="$NHOT" -D hot="$hot" || rc=$?
    IFS='|' read -r tps failed aborted errs <<<"$(run_summary "$logf")"
    echo "$tps|$failed|$aborted|$errs"
    if [ "$rc" -ne 0 ] || [ -z "$tps" ] || [ "$failed" != 0 ] || [ "$aborted" != 0 ]; then
        show_failure "$name" "$BENCH_HOT_CLIENTS" "$logf" "$rc"
        return 1
    fi
}

# drain ACCOUNT_ID: wait until the account has nothing buffered (the worker
#   flushes; without one, call flush() here); print the seconds it took, or
#   "timeout" after 120 s.
drain() {
    local id=$1 t0 n
    t0=$(date +%s.%N)
    while :; do
        [ "$FLUSHER" = worker ] || q "SELECT creditledger.flush($id)" >/dev/null || true
        n=$(q "SELECT buffered_count FROM creditledger.accounts WHERE account_id = $id" || echo error)
        [ "$n" = 0 ] && break
        if awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { exit !(b - a > 120) }'; then
            echo timeout; return 1
        fi
        sleep 0.05
    done
    awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f\n", b - a }'
}

# walpertx NAME CLIENTS: "WAL bytes (full-page images) per transaction" of that run.
walpertx() {
    local f="$LOGDIR/$1-c$2.log"
    [ -f "$f" ] || { echo "n/a"; return; }
    awk '/^number of transactions actually processed/ { split($NF, a, "/"); n = a[1] }
         /^wal: / { split($2, b, "|"); split($3, e, "|"); wb = e[1] - b[1]; fpi = e[2] - b[2]; ok = ($3 != "") }
         END { if (ok && n > 0) printf "%.0f B (%.2f FPI)", wb / n, fpi / n; else print "n/a" }' "$f"
}

# processed NAME: transactions pgbench processed over all runs of NAME (incl. warm-up).
processed() {
    local f n=0 c
    for f in "$LOGDIR/$1"-c*.log "$LOGDIR/warmup-$1"-c*.log "$LOGDIR/track-"*"-$1"-c*.log; do
        [ -f "$f" ] || continue
        c=$(awk -F': ' '/^number of transactions actually processed/ { split($2, a, "/"); print a[1]; exit }' "$f")
        n=$((n + ${c:-0}))
    done
    echo "$n"
}

# run_credit WORKLOAD [SECONDS [LOGTAG]]
#   One pgbench run of credit_freeze_unfreeze.sql for a CREDIT_WORKLOADS
#   entry with CREDIT_CLIENTS clients over its group's lines, with the wait
#   sampler alongside (run number CREDIT_RUN, which the caller increments
#   first: it also makes the run's references unique). Prints run_summary's
#   line; returns non-zero (and shows why on stderr) if anything failed.
run_credit() {
    local w=$1 secs=${2:-$CREDIT_SECONDS} tag=${3:-} name rc=0 logf tps failed aborted errs
    name=$(wl_field "$w" 1)
    logf="$LOGDIR/${tag}credit-${name}-c${CREDIT_CLIENTS}.log"
    WAITS_RUN=$CREDIT_RUN pgbench_run "$logf" "$CREDIT_CLIENTS" "$secs" credit_freeze_unfreeze.sql \
        -D lo="${CL_LO[$name]}" -D hi="${CL_HI[$name]}" -D run="$CREDIT_RUN" || rc=$?
    IFS='|' read -r tps failed aborted errs <<<"$(run_summary "$logf")"
    echo "$tps|$failed|$aborted|$errs"
    if [ "$rc" -ne 0 ] || [ -z "$tps" ] || [ "$failed" != 0 ] || [ "$aborted" != 0 ]; then
        show_failure "credit $name" "$CREDIT_CLIENTS" "$logf" "$rc"
        return 1
    fi
}

# credit_field NAME N: the Nth field of CREDIT[NAME] (run_summary's line).
credit_field() { local IFS='|' f; read -r -a f <<<"${CREDIT[$1]:-}"; echo "${f[$2 - 1]:-}"; }

# waits_summary RUN: the four most frequent things the sessions of a run
#   were sampled doing, with their share of the samples ("CPU 61%,
#   Lock:transactionid 22%, ..."; CPU = active, waiting on nothing), and the
#   average number of active sessions per sample.
waits_summary() {
    q "WITH s AS (SELECT wait, sum(n) AS n FROM public.bench_waits WHERE run = $1 GROUP BY wait),
            t AS (SELECT sum(n) AS total FROM s),
            top AS (SELECT wait, n FROM s ORDER BY n DESC, wait LIMIT 4)
       SELECT string_agg(format('%s %s%%', wait, round(100.0 * n / t.total)), ', ' ORDER BY n DESC, wait)
              || format(' (%s active per sample)',
                        round(t.total::numeric / nullif((SELECT count(DISTINCT sampled_at)
                                 FROM public.bench_waits WHERE run = $1), 0), 1))
         FROM top, t GROUP BY t.total" 2>/dev/null || echo "n/a"
}

#--------------------------------------------------------------------------
# Preconditions and the cluster
#--------------------------------------------------------------------------

[ "$(id -u)" = 0 ] || die "run as root (clusters run as the $PGUSER_OS OS user via runuser)"
[ -x "$PGBENCH" ] || die "$PGBENCH not found (package postgresql-$PGVER)"
[ -f "$("$PG_CONFIG" --pkglibdir)/creditledger.so" ] \
    || die "creditledger is not installed; run 'make bench' (builds and installs first)"

mkdir -p "$OUTDIR"
rm -rf "$LOGDIR"
mkdir -p "$LOGDIR"

scratch_dir bench; dir=$SCRATCH
SCRIPTS=$dir/scripts
mkdir -p "$SCRIPTS"
cp "$BENCH_SRC"/*.sql "$SCRIPTS"/
chown -R "$PGUSER_OS": "$SCRIPTS"

port=$(free_port)
log "starting a throwaway cluster in $dir (port $port)"
start_cluster "$dir" "$port" "${CONF[@]}"
as_pg "$PGBIN/createdb" "$DB"
# The worker connects to $DB at start, so it is configured only now that
# the database exists (else it fails and retries, noise in the server log).
printf '%s\n' "${WORKER_CONF[@]}" >>"$dir/data/postgresql.conf"
as_pg "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w restart >/dev/null \
    || die "restart with the worker settings failed"

if want ledger; then
    log "setup: extension, $NACCOUNTS funded accounts, baseline table, hot accounts"
    as_pg "$PSQL" -X -q -v ON_ERROR_STOP=1 -v naccounts="$NACCOUNTS" -v fund="$FUND" \
        -v hotfund="$HOT_FUND" -v shards="$SHARDS" \
        -d "$DB" -f "$SCRIPTS/setup.sql" >/dev/null \
        || die "setup.sql failed"

    IFS='|' read -r LO HI NACC <<<"$(q "SELECT min(account_id), max(account_id), count(*)
        FROM creditledger.accounts WHERE code LIKE 'bench-acct-%'")"
    [ "$NACC" = "$NACCOUNTS" ] && [ $((HI - LO + 1)) = "$NACCOUNTS" ] \
        || die "expected $NACCOUNTS accounts with contiguous ids, got $NACC in [$LO, $HI]"

    HOT_HI=$((LO + NHOT - 1))
    declare -A HOT_ID=()
    while IFS='|' read -r code id; do HOT_ID[$code]=$id; done \
        < <(q "SELECT code, account_id FROM creditledger.accounts WHERE code LIKE 'bench-hot-%'")
    for w in "${HOT_WORKLOADS[@]}"; do
        code=$(wl_field "$w" 3)
        [ -z "$code" ] || [ -n "${HOT_ID[$code]:-}" ] || die "hot account $code missing after setup"
    done
    HOT_IDS=$(IFS=,; echo "${HOT_ID[*]}")
    # The split account: its balance spread over SHARDS sub-accounts.
    split_id=${HOT_ID[bench-hot-out-split]}
    IFS='|' read -r nsubs subsum <<<"$(q "SELECT count(*), sum(balance)
        FROM creditledger.sub_accounts WHERE account_id = $split_id")"
    [ "$nsubs" = "$SHARDS" ] && [ "$subsum" = "$HOT_FUND" ] \
        || die "split account: expected $SHARDS sub-accounts holding $HOT_FUND, got $nsubs holding $subsum"

    # Sums over the ordinary accounts and over all benchmark accounts (the
    # ordinary ones and the hot ones: the hot workloads move money between them).
    BENCH_ACCTS="code LIKE 'bench-%' AND code <> 'bench-system'"
    TOTAL_BEFORE=$(q "SELECT coalesce(sum(balance), 0) FROM creditledger.accounts")
    FUNDED_BEFORE=$(q "SELECT sum(balance) FROM creditledger.accounts WHERE $BENCH_ACCTS")
    TRANSFERS_BEFORE=$(q "SELECT count(*) FROM creditledger.transfers WHERE voucher LIKE 'bench-%'")
    ORDINARY=$(q "SELECT sum(balance) FROM creditledger.accounts WHERE code LIKE 'bench-acct-%'")
    [ "$ORDINARY" = $((NACCOUNTS * FUND)) ] \
        || die "accounts hold $ORDINARY after funding, expected $((NACCOUNTS * FUND))"
    [ "$FUNDED_BEFORE" = $((NACCOUNTS * FUND + 2 * HOT_FUND)) ] \
        || die "bench accounts hold $FUNDED_BEFORE after funding, expected $((NACCOUNTS * FUND + 2 * HOT_FUND))"

    # Who flushes buffered accounts: the background worker if the installed
    # library has one (its settings exist and it shows in pg_stat_activity),
    # else a flush() loop every 10 ms from a separate session (flush_loop.sql).
    # (current_setting(..., true) rather than SHOW: no ERROR in the server log.)
    FLUSHER=loop
    FLUSHER_NOTE="no background worker (no setting creditledger.flush_interval)"
    fival=$(q "SELECT current_setting('creditledger.flush_interval', true)" || true)
    if [ -n "$fival" ]; then
        FLUSHER_NOTE="no background worker in pg_stat_activity (creditledger.flush_interval = $fival)"
        for _ in $(seq 1 100); do
            if [ "$(q "SELECT count(*) FROM pg_stat_activity
                        WHERE backend_type = 'creditledger worker' AND datname = '$DB'")" != 0 ]; then
                FLUSHER=worker
                FLUSHER_NOTE="the background worker (flush_interval $fival, batch_size $(q "SHOW creditledger.batch_size"))"
                break
            fi
            sleep 0.1
        done
    fi
    if [ "$FLUSHER" = loop ]; then
        FLUSHER_NOTE="$FLUSHER_NOTE: instead, SELECT creditledger.flush(account) every 10 ms from one separate session"
    fi
    log "flusher: $FLUSHER_NOTE"
fi

# What the sessions of a run wait on (wait_sampler.sql; waits_summary).
q "CREATE TABLE IF NOT EXISTS public.bench_waits (
       run int NOT NULL, sampled_at timestamptz NOT NULL DEFAULT now(), wait text NOT NULL,
       n int NOT NULL)" >/dev/null

if want credit; then
    log "credit setup: $NLINES lines with no parent, $NLINES under a hot parent, $NLINES under a plain one, $NLINES under the race parent"
    as_pg "$PSQL" -X -q -v ON_ERROR_STOP=1 -v nlines="$NLINES" -v line_limit="$LINE_LIMIT" \
        -v parent_limit="$PARENT_LIMIT" -v slices="$CREDIT_SLICES" \
        -d "$DB" -f "$SCRIPTS/credit_setup.sql" >/dev/null \
        || die "credit_setup.sql failed"
    # CL_LO/CL_HI[name]: the contiguous line ids of each group (and "race").
    declare -A CL_LO=() CL_HI=()
    for w in "${CREDIT_WORKLOADS[@]}" "race|bench-cl-race|"; do
        name=$(wl_field "$w" 1); prefix=$(wl_field "$w" 2)
        IFS='|' read -r lo hi n <<<"$(q "SELECT min(line_id), max(line_id), count(*)
            FROM creditledger.ledger_credit_lines WHERE code ~ '^$prefix-[0-9]+\$'")"
        [ "$n" = "$NLINES" ] && [ $((hi - lo + 1)) = "$NLINES" ] \
            || die "expected $NLINES credit lines $prefix-N with contiguous ids, got $n in [$lo, $hi]"
        CL_LO[$name]=$lo CL_HI[$name]=$hi
    done
    declare -A CL_PARENT=()
    while IFS='|' read -r code id; do CL_PARENT[$code]=$id; done \
        < <(q "SELECT code, line_id FROM creditledger.ledger_credit_lines WHERE code LIKE 'bench-cl-%-parent'")
    race_parent=${CL_PARENT[bench-cl-race-parent]:-}
    [ -n "$race_parent" ] && [ -n "${CL_PARENT[bench-cl-hot-parent]:-}" ] \
        && [ -n "${CL_PARENT[bench-cl-plain-parent]:-}" ] || die "credit parents missing after setup"
    # The children's parents, as meant: each group under its own parent.
    bad=$(q "SELECT count(*) FROM creditledger.credit_lines
              WHERE (code LIKE 'bench-cl-free-%' AND parents <> '{}')
                 OR (code LIKE 'bench-cl-hot-%' AND code <> 'bench-cl-hot-parent'
                     AND parents <> ARRAY[${CL_PARENT[bench-cl-hot-parent]}]::bigint[])
                 OR (code LIKE 'bench-cl-plain-%' AND code <> 'bench-cl-plain-parent'
                     AND parents <> ARRAY[${CL_PARENT[bench-cl-plain-parent]}]::bigint[])
                 OR (code LIKE 'bench-cl-race-%' AND code <> 'bench-cl-race-parent'
                     AND parents <> ARRAY[$race_parent]::bigint[])
                 OR (code = 'bench-cl-hot-parent' AND hot_slices <> $CREDIT_SLICES)
                 OR (code IN ('bench-cl-plain-parent', 'bench-cl-race-parent') AND hot_slices <> 0)")
    [ "$bad" = 0 ] || die "credit setup: $bad lines not linked or made hot as meant"
fi

#--------------------------------------------------------------------------
# The runs
#--------------------------------------------------------------------------

declare -A TPS=()
RUN_FAILURES=0

if want ledger; then
    if [ "$BENCH_WARMUP" -gt 0 ]; then
        log "warm-up: ${BENCH_WARMUP}s per workload at $TARGET_CLIENTS clients"
        for w in "${WORKLOADS[@]}"; do
            name=$(wl_field "$w" 1)
            run_workload "$name" "$(wl_field "$w" 2)" "$TARGET_CLIENTS" "$BENCH_WARMUP" warmup- \
                >/dev/null || RUN_FAILURES=$((RUN_FAILURES + 1))
        done
    fi

    for c in $BENCH_CLIENTS; do
        for w in "${WORKLOADS[@]}"; do
            name=$(wl_field "$w" 1)
            log "$name: $c clients, ${BENCH_SECONDS}s"
            if t=$(run_workload "$name" "$(wl_field "$w" 2)" "$c"); then
                TPS[$name:$c]=$t
            else
                TPS[$name:$c]=FAIL
                RUN_FAILURES=$((RUN_FAILURES + 1))
            fi
        done
    done

    # Statistics overhead: uniform transfers at TARGET_CLIENTS with
    # creditledger.track off and on, interleaved, twice each.
    TRACK_ON=0 TRACK_OFF=0
    for i in 1 2; do
        log "statistics overhead: uniform, $TARGET_CLIENTS clients, track off (run $i)"
        if t=$(PGOPTIONS="-c creditledger.track=off" run_workload uniform transfer_uniform.sql \
                   "$TARGET_CLIENTS" "$BENCH_SECONDS" "track-off$i-"); then
            TRACK_OFF=$((TRACK_OFF + t))
        else
            RUN_FAILURES=$((RUN_FAILURES + 1))
        fi
        log "statistics overhead: uniform, $TARGET_CLIENTS clients, track on (run $i)"
        if t=$(run_workload uniform transfer_uniform.sql "$TARGET_CLIENTS" "$BENCH_SECONDS" \
                   "track-on$i-"); then
            TRACK_ON=$((TRACK_ON + t))
        else
            RUN_FAILURES=$((RUN_FAILURES + 1))
        fi
    done

    # Table 2: hot accounts. HOT[name] = run_summary line of its measured run.
    declare -A HOT=()
    buffered_id=${HOT_ID[bench-hot-into-buffered]}
    if [ "$BENCH_WARMUP" -gt 0 ]; then
        log "hot-account warm-up: ${BENCH_WARMUP}s per workload at $BENCH_HOT_CLIENTS clients"
        for w in "${HOT_WORKLOADS[@]}"; do
            run_hot "$w" "$BENCH_WARMUP" warmup- >/dev/null || RUN_FAILURES=$((RUN_FAILURES + 1))
            if [ "$(wl_field "$w" 1)" = "$HOT_BUFFERED" ]; then
                drain "$buffered_id" >/dev/null || RUN_FAILURES=$((RUN_FAILURES + 1))
            fi
        done
    fi
    LAG="" DRAIN="" FLUSH_CALLS=""
    declare -A HOTWAITS=()
    HOT_RUN=1000   # wait-sampler run numbers of the hot runs: 1001, 1002, ...
    for w in "${HOT_WORKLOADS[@]}"; do
        name=$(wl_field "$w" 1)
        log "$name: $BENCH_HOT_CLIENTS clients, ${BENCH_HOT_SECONDS}s"
        t0=$(q "SELECT now()")
        HOT_RUN=$((HOT_RUN + 1))
        HOT[$name]=$(WAITS_RUN=$HOT_RUN run_hot "$w") || RUN_FAILURES=$((RUN_FAILURES + 1))
        t1=$(q "SELECT now()")
        [ -n "${HOT[$name]}" ] || HOT[$name]="|?|?|"
        HOTWAITS[$name]=$(waits_summary "$HOT_RUN")
        log "$name: ${HOT[$name]%%|*} tps; waits: ${HOTWAITS[$name]}"
        if [ "$name" = "$HOT_BUFFERED" ]; then
            # Flush lag of every posting accepted during the run, including those
            # applied after it ended (a flusher that falls behind shows here).
            DRAIN=$(drain "$buffered_id") || RUN_FAILURES=$((RUN_FAILURES + 1))
            LAG=$(q "SELECT count(*), round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1),
                            round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 1),
                            round(max(ms)::numeric, 1), count(*) FILTER (WHERE posted_at > '$t1')
                       FROM (SELECT extract(epoch FROM posted_at - accepted_at) * 1000 AS ms, posted_at
                               FROM creditledger.journal
                              WHERE account_id = $buffered_id
                                AND accepted_at BETWEEN '$t0' AND '$t1') s" || echo "error")
            log "flush lag: $LAG (count|p50|p99|max ms|posted after the run); buffer drained in ${DRAIN}s"
            if [ "$FLUSHER" = loop ]; then
                FLUSH_CALLS=$(awk -F': ' '/^number of transactions actually processed/ { n = $2 }
                                      /^latency average/ { l = $2 }
                                      END { if (n != "") printf "%s flush() calls, %s each on average", n, l }' \
                    "$LOGDIR/flusher-$name-c$BENCH_HOT_CLIENTS.log" 2>/dev/null || true)
            fi
        fi
    done
    # LD001 (insufficient funds) during the split run, and what the account
    # still held afterwards (funds sufficed throughout if that is well above 0).
    SPLIT_LD001=$(awk '/^server: / && $3 == "LD001" { n += $2 } END { print n + 0 }' \
        "$LOGDIR/out_of_split-c$BENCH_HOT_CLIENTS.log" 2>/dev/null || echo "?")
    SPLIT_LEFT=$(q "SELECT balance FROM creditledger.accounts WHERE account_id = $split_id" || echo "?")
fi

# Table 3: credit lines. CREDIT[name] = run_summary line of its measured
# run, CWAITS[name] = waits_summary of it; CREDIT_RUN numbers every credit
# pgbench run (its references and its wait samples).
declare -A CREDIT=() CWAITS=()
CREDIT_RUN=0
RACE="" RACE_WAITS="" RACE_LIMIT_NOTE="" RACE_BOUND_OK="" RACE_REFUSALS_OK=""
if want credit; then
    if [ "$BENCH_WARMUP" -gt 0 ]; then
        log "credit warm-up: ${BENCH_WARMUP}s per workload at $CREDIT_CLIENTS clients"
        for w in "${CREDIT_WORKLOADS[@]}"; do
            CREDIT_RUN=$((CREDIT_RUN + 1))
            run_credit "$w" "$BENCH_WARMUP" warmup- >/dev/null || RUN_FAILURES=$((RUN_FAILURES + 1))
        done
    fi
    for w in "${CREDIT_WORKLOADS[@]}"; do
        name=$(wl_field "$w" 1)
        log "credit $name: $CREDIT_CLIENTS clients, ${CREDIT_SECONDS}s"
        CREDIT_RUN=$((CREDIT_RUN + 1))
        CREDIT[$name]=$(run_credit "$w") || RUN_FAILURES=$((RUN_FAILURES + 1))
        [ -n "${CREDIT[$name]}" ] || CREDIT[$name]="|?|?|"
        CWAITS[$name]=$(waits_summary "$CREDIT_RUN")
        log "credit $name: $(wl_field "${CREDIT[$name]}" 1) tps; ${CWAITS[$name]}"
    done

    # The race: freezes until the race parent's limit is reached, and on.
    # Its limit: BENCH_RACE_LIMIT, or what the hot run's rate of freezes
    # (one per pgbench transaction) fills in a quarter of the race, so that
    # most of the race is spent refusing.
    if [ -n "${BENCH_RACE_LIMIT:-}" ]; then
        RACE_LIMIT=$BENCH_RACE_LIMIT RACE_LIMIT_NOTE="BENCH_RACE_LIMIT"
    elif t=$(credit_field hot 1) && [ -n "$t" ] && [ "$t" -gt 0 ]; then
        RACE_LIMIT=$(( t * RACE_SECONDS * (RACE_MAX + 1) / 2 / 4 ))
        RACE_LIMIT_NOTE="the hot run's $t tps x ${RACE_SECONDS}s x $((RACE_MAX + 1))/2 per freeze / 4"
    else
        RACE_LIMIT=$RACE_LIMIT_FALLBACK RACE_LIMIT_NOTE="no hot run to size it from"
    fi
    if ! q "SELECT creditledger.set_credit_limit($race_parent, $RACE_LIMIT)" >/dev/null \
        || ! q "SELECT creditledger.set_credit_line_hot($race_parent, $CREDIT_SLICES)" >/dev/null; then
        die "could not give the race parent its limit and slices"
    fi
    log "credit race: $CREDIT_CLIENTS clients, ${RACE_SECONDS}s, limit $RACE_LIMIT ($RACE_LIMIT_NOTE), freezes of 1..$RACE_MAX"
    CREDIT_RUN=$((CREDIT_RUN + 1))
    rc=0
    WAITS_RUN=$CREDIT_RUN pgbench_run "$LOGDIR/credit-race-c$CREDIT_CLIENTS.log" "$CREDIT_CLIENTS" \
        "$RACE_SECONDS" credit_race.sql -D lo="${CL_LO[race]}" -D hi="${CL_HI[race]}" \
        -D run="$CREDIT_RUN" -D maxamount="$RACE_MAX" || rc=$?
    RACE=$(run_summary "$LOGDIR/credit-race-c$CREDIT_CLIENTS.log")
    IFS='|' read -r tps failed aborted errs <<<"$RACE"
    if [ "$rc" -ne 0 ] || [ -z "$tps" ] || [ "$failed" != 0 ] || [ "$aborted" != 0 ]; then
        show_failure "credit race" "$CREDIT_CLIENTS" "$LOGDIR/credit-race-c$CREDIT_CLIENTS.log" "$rc"
        RUN_FAILURES=$((RUN_FAILURES + 1))
    fi
    RACE_WAITS=$(waits_summary "$CREDIT_RUN")
    log "credit race: ${tps:-?} attempts/s; $RACE_WAITS"
fi

# The audit part, in its own database: AUDIT[key] holds its figures (see
# report_audit; a step that failed leaves its figure empty), AUDIT_PROBLEMS
# the verify_chain() rows of every run (first included); the per-rule rows
# of bcp_run stay in public.audit_bcp.
declare -A AUDIT=()
AUDIT_PROBLEMS=()
# audit_time SQL: "result|seconds" of one statement returning one value, timed
# server side (public.audit_time); "error|" if it failed (error on stderr).
audit_time() { qa "SELECT result, round(seconds::numeric, 4) FROM public.audit_time(\$audit\$$1\$audit\$)" || echo "error|"; }
# median VALUES...: the median (mean of the middle two for an even count); "" if none.
median() {
    printf '%s\n' "$@" | grep -E '^[0-9.]+$' | sort -g \
        | awk '{ v[NR] = $1 } END { if (NR) printf "%.4f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# best VALUES...: the smallest (fastest) of the times; "" if none.
best() { printf '%s\n' "$@" | grep -E '^[0-9.]+$' | sort -g | head -n 1; }
if want audit; then
    log "audit setup: database $AUDIT_DB, $AUDIT_TRANSFERS transfers among $AUDIT_ACCOUNTS accounts, $AUDIT_CREDIT_OPS credit operations"
    as_pg "$PGBIN/createdb" "$AUDIT_DB"
    t0=$(date +%s.%N)
    as_pg "$PSQL" -X -q -v ON_ERROR_STOP=1 -v naccounts="$AUDIT_ACCOUNTS" -v ntransfers="$AUDIT_TRANSFERS" \
        -v ncreditops="$AUDIT_CREDIT_OPS" -d "$AUDIT_DB" -f "$SCRIPTS/audit_setup.sql" \
        >"$LOGDIR/audit-setup.log" 2>&1 || die "audit_setup.sql failed (see ${LOGDIR#"$SRC"/}/audit-setup.log)"
    AUDIT[build]=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }')
    IFS='|' read -r je cje jsize cjsize <<<"$(qa "SELECT
          (SELECT count(*) FROM creditledger.journal_entries),
          (SELECT count(*) FROM creditledger.credit_journal_entries),
          pg_size_pretty(pg_total_relation_size('creditledger.journal_entries')),
          pg_size_pretty(pg_total_relation_size('creditledger.credit_journal_entries'))")"
    AUDIT[je]=$je AUDIT[cje]=$cje AUDIT[jsize]=$jsize AUDIT[cjsize]=$cjsize
    AUDIT[entries]=$((je + cje))
    log "audit ledger built in ${AUDIT[build]}s: $je journal entries ($jsize), $cje credit journal entries ($cjsize)"

    # The first run right after a restart: nothing in shared_buffers, the OS
    # page cache still warm (cold-ish).
    RESTART_FROM=$(logsize)
    as_pg "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w restart >/dev/null \
        || die "restart before the audit runs failed"
    RESTART_TO=$(logsize)
    VERIFY_SQL="SELECT count(*) FROM creditledger.verify_chain()"
    log "audit: verify_chain(), first run after a restart"
    IFS='|' read -r n "AUDIT[first]" <<<"$(audit_time "$VERIFY_SQL")"
    AUDIT_PROBLEMS+=("$n")
    # Then AUDIT_RUNS runs, each followed by the two baselines: SHA-256 of
    # 100-byte records with `openssl speed -evp` for a second (C, one core,
    # no database: the machine's hashing ceiling; records/s = the bytes/s it
    # reports for 100-byte blocks / 100) and a sequential read of both
    # journals that fetches the hashes and vouchers (what reading the rows
    # costs in SQL, without hashing).
    READ_SQL="SELECT (SELECT count(*) FROM creditledger.journal_entries
                        WHERE octet_length(hash) + octet_length(prev_hash) + octet_length(voucher) > 0)
                   + (SELECT count(*) FROM creditledger.credit_journal_entries
                       WHERE octet_length(hash) + octet_length(prev_hash) + octet_length(ref) > 0)"
    vruns=() shas=() reads=()
    for i in $(seq 1 "$AUDIT_RUNS"); do
        log "audit: verify_chain() run $i of $AUDIT_RUNS, then the baselines"
        IFS='|' read -r n t <<<"$(audit_time "$VERIFY_SQL")"; AUDIT_PROBLEMS+=("$n"); vruns+=("$t")
        shas+=("$(openssl speed -evp sha256 -bytes 100 -seconds 1 -mr 2>/dev/null \
                  | awk -F: '/^\+F:/ { printf "%.0f", $4 / 100 }' || true)")
        IFS='|' read -r n t <<<"$(audit_time "$READ_SQL")"; reads+=("$t"); AUDIT[read_rows]=$n
    done
    AUDIT[median]=$(median "${vruns[@]}") AUDIT[best]=$(best "${vruns[@]}")
    AUDIT[sha_rate]=$(median "${shas[@]}") AUDIT[read]=$(median "${reads[@]}")
    AUDIT[sha_rate]=${AUDIT[sha_rate]%.*}
    AUDIT[runs]="${vruns[*]}"
    log "audit: verify_chain() first ${AUDIT[first]}s, then ${AUDIT[runs]} s; openssl SHA-256 ${AUDIT[sha_rate]:-?}/s, read ${AUDIT[read]}s"

    log "audit: bcp_run(record => false)"
    IFS='|' read -r "AUDIT[bcp_failing]" "AUDIT[bcp]" <<<"$(audit_time "WITH r AS (
            INSERT INTO public.audit_bcp SELECT * FROM creditledger.bcp_run(record => false) RETURNING status)
        SELECT count(*) FILTER (WHERE status <> 'pass') FROM r")"
    AUDIT[bcp_rules]=$(qa "SELECT count(*) FROM public.audit_bcp" || true)
    # EXPLAIN ANALYZE of the three slowest rules, for whoever wants to know why.
    for rule in $(qa "SELECT rule FROM public.audit_bcp ORDER BY duration_ms DESC LIMIT 3" || true); do
        { echo "---- $rule"; qa "SELECT * FROM public.audit_explain('$rule')" 2>&1; echo; } >>"$LOGDIR/audit-explain.log"
    done

    log "audit: ledger_digest() and verify_digest()"
    IFS='|' read -r res "AUDIT[digest]" <<<"$(audit_time "SELECT d.digest_id || ':' || encode(d.digest, 'hex')
            || ':' || d.chains || ':' || d.entries FROM creditledger.ledger_digest() d")"
    IFS=':' read -r did dhex "AUDIT[chains]" "AUDIT[digest_entries]" <<<"$res"
    if [[ "${did:-}" =~ ^[0-9]+$ ]]; then
        IFS='|' read -r "AUDIT[verified]" "AUDIT[verify_digest]" <<<"$(audit_time \
            "SELECT creditledger.verify_digest($did, decode('$dhex', 'hex'))::text")"
    else
        AUDIT[verified]="no digest"
    fi
    log "audit: bcp_run ${AUDIT[bcp]}s (${AUDIT[bcp_failing]} of ${AUDIT[bcp_rules]} rules not passing);" \
        "ledger_digest ${AUDIT[digest]}s over ${AUDIT[chains]:-?} chains; verify_digest ${AUDIT[verify_digest]:-?}s: ${AUDIT[verified]}"
fi

# The bulk part, in its own database: BULK[key] holds its times in seconds
# (see report_bulk; a run that failed leaves its figure empty).
declare -A BULK=()
# qb SQL: one query in the bulk database.
qb() { as_pg "$PSQL" -X -qAt -v ON_ERROR_STOP=1 -d "$BULK_DB" -c "$1"; }
# bulk_statement FROM TO: one statement posting transfers FROM..TO (numbered
# globally, so every run's vouchers are new): transfer g goes from account
# BULK_LO + g % 100 to one of the 99 others, cycling through all of them.
bulk_statement() {
    echo "SELECT count(creditledger.transfer('bulk-' || g, $BULK_LO + g % $BULK_ACCOUNTS,
          $BULK_LO + (g + 1 + (g / $BULK_ACCOUNTS) % ($BULK_ACCOUNTS - 1)) % $BULK_ACCOUNTS, 1))
          FROM generate_series($1, $2) g;"
}
# bulk_run NAME FROM N TXNS STMTS: VACUUM and CHECKPOINT, then transfers
# FROM..FROM+N-1 as TXNS transactions of STMTS statements each (N / TXNS /
# STMTS transfers a statement) through one psql session; prints the
# seconds, psql's \timing of every statement summed (BEGIN and COMMIT
# included), or nothing if it failed (its output in
# bench-results/logs*/bulk-NAME.log). The caller moves BULK_NEXT on by N
# (this runs in a subshell).
BULK_NEXT=1
bulk_run() {
    local name=$1 from=$2 n=$3 txns=$4 stmts=$5 per t s logf
    per=$((n / txns / stmts)) logf="$LOGDIR/bulk-$name.log"
    qb "VACUUM" >/dev/null; qb "CHECKPOINT" >/dev/null
    {
        echo '\timing on'
        for t in $(seq 1 "$txns"); do
            echo "BEGIN;"
            for s in $(seq 1 "$stmts"); do
                bulk_statement "$from" $((from + per - 1))
                from=$((from + per))
            done
            echo "COMMIT;"
        done
    } | as_pg "$PSQL" -X -qAt -v ON_ERROR_STOP=1 -d "$BULK_DB" >"$logf" 2>&1 || return 0
    awk '/^Time: / { ms += $2 } END { printf "%.3f", ms / 1000 }' "$logf"
}
if want bulk; then
    log "bulk setup: database $BULK_DB, $BULK_ACCOUNTS funded accounts"
    as_pg "$PGBIN/createdb" "$BULK_DB"
    qb "SET client_min_messages = warning; CREATE EXTENSION creditledger" >/dev/null
    qb "SELECT creditledger.open_account('bulk-system', 'CNY', 'credit', NULL)" >/dev/null
    qb "SELECT count(creditledger.open_account('bulk-acct-' || i, 'CNY')) FROM generate_series(1, $BULK_ACCOUNTS) i" >/dev/null
    IFS='|' read -r BULK_LO bhi bn <<<"$(qb "SELECT min(account_id), max(account_id), count(*)
        FROM creditledger.accounts WHERE code LIKE 'bulk-acct-%'")"
    [ "$bn" = "$BULK_ACCOUNTS" ] && [ $((bhi - BULK_LO + 1)) = "$BULK_ACCOUNTS" ] \
        || die "bulk: expected $BULK_ACCOUNTS accounts with contiguous ids, got $bn in [$BULK_LO, $bhi]"
    qb "SELECT count(creditledger.transfer('bulk-fund-' || a, creditledger.account_id('bulk-system'), a, $FUND))
          FROM generate_series($BULK_LO, $bhi) a" >/dev/null
    qb "VACUUM ANALYZE" >/dev/null
    BULK_HELD=$(qb "SELECT sum(balance) FROM creditledger.accounts WHERE code LIKE 'bulk-acct-%'")
    ntx=$((BULK_TRANSFERS / 1000))
    for i in $(seq 1 "$BULK_REPS"); do
        log "bulk run $i of $BULK_REPS: $BULK_TRANSFERS transfers as $ntx transactions of 1,000"
        BULK[many_tx:$i]=$(bulk_run "many-tx-$i" "$BULK_NEXT" "$BULK_TRANSFERS" "$ntx" 1)
        BULK_NEXT=$((BULK_NEXT + BULK_TRANSFERS))
        log "bulk run $i of $BULK_REPS: $BULK_TRANSFERS transfers in one transaction, $ntx statements"
        BULK[one_tx:$i]=$(bulk_run "one-tx-$i" "$BULK_NEXT" "$BULK_TRANSFERS" 1 "$ntx")
        BULK_NEXT=$((BULK_NEXT + BULK_TRANSFERS))
        log "bulk run $i of $BULK_REPS: $BULK_TRANSFERS transfers in one statement"
        BULK[one_stmt:$i]=$(bulk_run "one-stmt-$i" "$BULK_NEXT" "$BULK_TRANSFERS" 1 1)
        BULK_NEXT=$((BULK_NEXT + BULK_TRANSFERS))
        log "bulk run $i: ${BULK[many_tx:$i]:-FAIL} s, ${BULK[one_tx:$i]:-FAIL} s, ${BULK[one_stmt:$i]:-FAIL} s"
    done
    for w in many_tx one_tx one_stmt; do
        times=()
        for i in $(seq 1 "$BULK_REPS"); do times+=("${BULK[$w:$i]:-}"); done
        BULK[$w]=$(best "${times[@]}")
        BULK[$w:all]="${times[*]}"
    done
    for n in $BULK_SCALING; do
        log "bulk scaling: $n transfers in one statement"
        BULK[scale:$n]=$(bulk_run "scale-$n" "$BULK_NEXT" "$n" 1 1)
        BULK_NEXT=$((BULK_NEXT + n))
    done
fi

# The batch part, in its own database: BATCH[key] holds run_summary lines
# (pgbench runs) or seconds (the one-transaction comparison); empty = failed.
declare -A BATCH=()
# qbb SQL: one query in the batch database.
qbb() { as_pg "$PSQL" -X -qAt -v ON_ERROR_STOP=1 -d "$BATCH_DB" -c "$1"; }
# batch_run NAME SCRIPT N [HOT [CLIENTS]]: one pgbench run in the batch
#   database at CLIENTS (default BATCH_CLIENTS) clients (pgbench_run; with
#   HOT not 0, the flush loop alongside), over the 1000 accounts (or, with
#   RUN_LO, RUN_HI, RUN_N set, over those); prints run_summary's line;
#   non-zero (why on stderr) if anything failed.
batch_run() {
    local name=$1 script=$2 n=$3 hot=${4:-0} clients=${5:-$BATCH_CLIENTS} logf rc=0 tps failed aborted errs flusher=""
    logf="$LOGDIR/batch-$name-c$clients.log"
    [ "$hot" = 0 ] || flusher=$hot
    RUN_DB=$BATCH_DB FLUSHER_FOR=$flusher pgbench_run "$logf" "$clients" "$BENCH_SECONDS" "$script" \
        -D lo="${RUN_LO:-$BATCH_LO}" -D hi="${RUN_HI:-$BATCH_HI}" -D naccounts="${RUN_N:-$BATCH_ACCOUNTS}" \
        -D n="$n" -D hot="$hot" -D gate=4242 \
        -D nclients="$clients" || rc=$?
    IFS='|' read -r tps failed aborted errs <<<"$(run_summary "$logf")"
    echo "$tps|$failed|$aborted|$errs"
    if [ "$rc" -ne 0 ] || [ -z "$tps" ] || [ "$failed" != 0 ] || [ "$aborted" != 0 ]; then
        show_failure "batch $name" "$clients" "$logf" "$rc"
        return 1
    fi
}
# accounts_state: "updates|HOT updates|pages" of ledger_accounts in the
#   batch database (the statistics of every finished session included).
accounts_state() {
    sleep 1   # the pgbench sessions' last statistics are flushed as they exit
    qbb "SELECT n_tup_upd, n_tup_hot_upd, pg_relation_size(relid) / 8192 FROM pg_stat_user_tables
          WHERE relid = 'creditledger.ledger_accounts'::regclass"
}
# batch_bulk NAME TXNS: BATCH_BULK transfers through post_batch calls of
#   1,000 uniform items in TXNS transactions (1 or BATCH_BULK/1000), one
#   session, after VACUUM and CHECKPOINT; prints the wall-clock seconds
#   (empty if it failed; psql's output in logs*/batch-bulk-NAME.log).
batch_bulk() {
    local name=$1 txns=$2 calls=$((BATCH_BULK / 1000)) t0 t1 logf="$LOGDIR/batch-bulk-$1.log"
    qbb "VACUUM" >/dev/null; qbb "CHECKPOINT" >/dev/null
    t0=$(date +%s.%N)
    {
        if [ "$txns" = 1 ]; then echo "BEGIN;"; fi
        for _ in $(seq 1 "$calls"); do
            echo "SELECT count(*) FILTER (WHERE sqlstate IS NOT NULL) FROM creditledger.post_batch(public.bb_items(1000, $BATCH_LO, $BATCH_ACCOUNTS, NULL));"
        done
        if [ "$txns" = 1 ]; then echo "COMMIT;"; fi
    } | as_pg "$PSQL" -X -qAt -v ON_ERROR_STOP=1 -d "$BATCH_DB" >"$logf" 2>&1 || return 0
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f\n", b - a }'
}
if want batch; then
    log "batch setup: database $BATCH_DB, $BATCH_ACCOUNTS funded accounts, a buffered account"
    as_pg "$PGBIN/createdb" "$BATCH_DB"
    as_pg "$PSQL" -X -q -v ON_ERROR_STOP=1 -v naccounts="$BATCH_ACCOUNTS" -v fund="$FUND" -v npool="$BATCH_POOL" \
        -d "$BATCH_DB" -f "$SCRIPTS/batch_setup.sql" >/dev/null || die "batch_setup.sql failed"
    IFS='|' read -r BATCH_LO BATCH_HI bn <<<"$(qbb "SELECT min(account_id), max(account_id), count(*)
        FROM creditledger.accounts WHERE code LIKE 'bb-acct-%'")"
    [ "$bn" = "$BATCH_ACCOUNTS" ] && [ $((BATCH_HI - BATCH_LO + 1)) = "$BATCH_ACCOUNTS" ] \
        || die "batch: expected $BATCH_ACCOUNTS accounts with contiguous ids, got $bn in [$BATCH_LO, $BATCH_HI]"
    IFS='|' read -r POOL_LO POOL_HI pn <<<"$(qbb "SELECT min(account_id), max(account_id), count(*)
        FROM creditledger.accounts WHERE code LIKE 'bb-pool-%' AND balance = $FUND")"
    [ "$pn" = "$BATCH_POOL" ] && { [ "$pn" = 0 ] || [ $((POOL_HI - POOL_LO + 1)) = "$BATCH_POOL" ]; } \
        || die "batch: expected $BATCH_POOL funded pool accounts with contiguous ids, got $pn in [$POOL_LO, $POOL_HI]"
    BATCH_HOT=$(qbb "SELECT creditledger.account_id('bb-hot-buffered')")
    BATCH_HELD=$(qbb "SELECT sum(balance) FROM creditledger.accounts WHERE code LIKE 'bb-%' AND code <> 'bb-system'")
    if [ "$BENCH_WARMUP" != 0 ]; then
        log "batch warm-up ($BENCH_WARMUP s each)"
        BENCH_SECONDS=$BENCH_WARMUP batch_run warmup-single transfer_uniform.sql 1 >/dev/null || true
        BENCH_SECONDS=$BENCH_WARMUP batch_run warmup-b100 batch_uniform.sql 100 >/dev/null || true
    fi
    log "batch: single transfer() calls, $BATCH_CLIENTS clients"
    BATCH[single]=$(batch_run single transfer_uniform.sql 1) || RUN_FAILURES=$((RUN_FAILURES + 1))
    for n in $BATCH_SIZES; do
        log "batch: bare INSERT of $n rows, then post_batch of $n transfers, $BATCH_CLIENTS clients"
        BATCH[insert:$n]=$(batch_run "insert$n" insert_multi.sql "$n") || RUN_FAILURES=$((RUN_FAILURES + 1))
        BATCH[batch:$n]=$(batch_run "b$n" batch_uniform.sql "$n") || RUN_FAILURES=$((RUN_FAILURES + 1))
    done
    log "batch: post_batch of 100 uniform transfers, plain and behind a caller's gate, fresh account rows each"
    for w in plain gated; do
        script=batch_uniform.sql; [ "$w" = gated ] && script=batch_uniform_gated.sql
        qbb "VACUUM creditledger.ledger_accounts" >/dev/null
        a0=$(accounts_state)
        BATCH[contended:$w]=$(batch_run "contended-$w" "$script" 100) || RUN_FAILURES=$((RUN_FAILURES + 1))
        BATCH[accounts:$w]="$a0|$(accounts_state)"
    done
    for n in 100 1000; do
        log "batch: post_batch of $n transfers, each client on its own accounts"
        BATCH[own:$n]=$(batch_run "own$n" batch_disjoint.sql "$n") || RUN_FAILURES=$((RUN_FAILURES + 1))
    done
    if [ "$BATCH_POOL" -gt 0 ]; then
        log "batch: the large pool of $BATCH_POOL accounts: single transfer() calls, then post_batch of 100, $BATCH_CLIENTS clients"
        BATCH[pool_single]=$(RUN_LO=$POOL_LO RUN_HI=$POOL_HI RUN_N=$BATCH_POOL batch_run pool-single transfer_uniform.sql 1) \
            || RUN_FAILURES=$((RUN_FAILURES + 1))
        BATCH[pool_b100]=$(RUN_LO=$POOL_LO RUN_HI=$POOL_HI RUN_N=$BATCH_POOL batch_run pool-b100 batch_uniform.sql 100) \
            || RUN_FAILURES=$((RUN_FAILURES + 1))
    fi
    log "batch: one client: single transfer() calls, then post_batch of 100"
    BATCH[single1]=$(batch_run single transfer_uniform.sql 1 0 1) || RUN_FAILURES=$((RUN_FAILURES + 1))
    BATCH[b100_1]=$(batch_run b100 batch_uniform.sql 100 0 1) || RUN_FAILURES=$((RUN_FAILURES + 1))
    log "batch: post_batch of $BATCH_HOT_ITEMS transfers into one buffered account"
    BATCH[hot]=$(batch_run "hot$BATCH_HOT_ITEMS" batch_uniform.sql "$BATCH_HOT_ITEMS" "$BATCH_HOT") \
        || RUN_FAILURES=$((RUN_FAILURES + 1))
    log "batch: $BATCH_BULK transfers in post_batch calls of 1,000: $((BATCH_BULK / 1000)) transactions, then one"
    BATCH[bulk_many]=$(batch_bulk many $((BATCH_BULK / 1000)))
    BATCH[bulk_one]=$(batch_bulk one 1)
    log "batch bulk: ${BATCH[bulk_many]:-FAIL} s vs ${BATCH[bulk_one]:-FAIL} s"
    qbb "SELECT creditledger.flush($BATCH_HOT)" >/dev/null || true
fi

#--------------------------------------------------------------------------
# Correctness after the load
#--------------------------------------------------------------------------

log "checking the ledger ($PARTS) after the load"
CHECKS=()
CHECK_FAILURES=0
check() {   # check OK? TEXT
    if [ "$1" = ok ]; then CHECKS+=("- ok: $2"); else
        CHECKS+=("- **FAILED**: $2"); CHECK_FAILURES=$((CHECK_FAILURES + 1)); fi
}
sqlcheck() {   # sqlcheck SQL -> value, or "error" (and the error on stderr)
    q "$1" || echo error
}
if want ledger; then
    # Hot accounts, before the final flush: balance() and the view's balance are
    # both posted + buffered.
    bad=$(sqlcheck "SELECT count(*) FROM creditledger.accounts a
                     WHERE a.account_id IN ($HOT_IDS)
                       AND (a.balance <> a.posted_balance + a.buffered_amount
                            OR creditledger.balance(a.account_id) <> a.posted_balance + a.buffered_amount)")
    state=$(q "SELECT string_agg(format('%s %s: balance %s = posted %s + buffered %s (%s postings)',
                      hot_mode, code, balance, posted_balance, buffered_amount, buffered_count), '; '
                      ORDER BY account_id)
                 FROM creditledger.accounts WHERE account_id IN ($HOT_IDS)" || true)
    [ "$bad" = 0 ] && s=ok || s=bad
    check $s "hot accounts whose balance() is not posted + buffered: $bad ($state)"

    applied=$(sqlcheck "SELECT creditledger.flush()")
    left=$(sqlcheck "SELECT count(*) FROM creditledger.posting_buffer")
    [ "$left" = 0 ] && s=ok || s=bad
    check $s "final flush(): applied $applied postings; buffered postings left: $left"

    total=$(sqlcheck "SELECT coalesce(sum(balance), 0) FROM creditledger.accounts")
    [ "$total" = "$TOTAL_BEFORE" ] && s=ok || s=bad
    check $s "sum of all balances: $total (before the load: $TOTAL_BEFORE)"

    funded=$(sqlcheck "SELECT sum(balance) FROM creditledger.accounts WHERE $BENCH_ACCTS")
    [ "$funded" = "$FUNDED_BEFORE" ] && s=ok || s=bad
    check $s "sum over the $NACCOUNTS bench accounts and the ${#HOT_ID[@]} hot accounts: $funded (before: $FUNDED_BEFORE)"

    below=$(sqlcheck "SELECT (SELECT count(*) FROM creditledger.accounts
                                WHERE min_balance IS NOT NULL AND balance < min_balance)
                            + (SELECT count(*) FROM creditledger.sub_accounts s
                                 JOIN creditledger.ledger_accounts a USING (account_id)
                                WHERE a.min_balance IS NOT NULL AND s.balance < 0)")
    [ "$below" = 0 ] && s=ok || s=bad
    check $s "accounts below their floor, or sub-accounts of a floored account below 0: $below"

    # Every chain head (the account row for the main chain, sub_accounts rows for
    # the others) holds its last entry's balance_after and version.
    heads=$(sqlcheck "SELECT count(*) FROM (
          SELECT a.account_id, 0 AS sub_account, a.balance, a.version FROM creditledger.ledger_accounts a
          UNION ALL
          SELECT s.account_id, s.sub_account, s.balance, s.version FROM creditledger.sub_accounts s) c
        LEFT JOIN LATERAL (SELECT j.balance_after, j.version FROM creditledger.journal j
                            WHERE j.account_id = c.account_id AND j.sub_account = c.sub_account
                            ORDER BY j.version DESC LIMIT 1) h ON true
        WHERE c.balance IS DISTINCT FROM coalesce(h.balance_after, 0)
           OR c.version IS DISTINCT FROM coalesce(h.version, 0)")
    [ "$heads" = 0 ] && s=ok || s=bad
    check $s "chains (main and sub-accounts) whose head differs from their last entry (balance, version): $heads"

    # Legs: two per transfer; internal moves (kind 'entry': the split account's
    # conversion, gathering, sweeps) net to zero within their account.
    IFS='|' read -r ntransfers nlegs nother orphans <<<"$(sqlcheck "SELECT
          (SELECT count(*) FROM creditledger.ledger_transfers WHERE kind = 'transfer'),
          count(*) FILTER (WHERE t.kind = 'transfer'),
          count(*) FILTER (WHERE t.kind <> 'transfer'),
          count(*) FILTER (WHERE t.transfer_id IS NULL)
        FROM creditledger.journal_entries j
        LEFT JOIN creditledger.ledger_transfers t USING (transfer_id)")"
    s=bad
    if [ -n "${nlegs:-}" ] && [ "$nlegs" = $((ntransfers * 2)) ] && [ "$orphans" = 0 ]; then s=ok; fi
    check $s "journal entries: ${nlegs:-?} for ${ntransfers:-?} transfers (expected 2 each), ${orphans:-?} without a transfer"

    unbalanced=$(sqlcheck "SELECT count(*) FROM (
          SELECT j.transfer_id, j.account_id FROM creditledger.journal_entries j
            JOIN creditledger.ledger_transfers t USING (transfer_id)
           WHERE t.kind = 'entry' AND t.voucher LIKE 'creditledger:%'
           GROUP BY 1, 2
          HAVING sum(CASE WHEN j.side = 'D' THEN -j.amount ELSE j.amount END) <> 0) u")
    [ "$unbalanced" = 0 ] && s=ok || s=bad
    check $s "internal moves ($nother journal entries) not netting to zero within their account: $unbalanced"

    # pgbench counts the transactions it saw complete; a run cut off by -T may
    # leave up to one in-flight call per client that still commits.
    expected=0 slack=0
    for w in "${WORKLOADS[@]}"; do
        [ "$(wl_field "$w" 4)" = transfer ] || continue
        expected=$((expected + $(processed "$(wl_field "$w" 1)")))
        [ "$BENCH_WARMUP" -le 0 ] || slack=$((slack + TARGET_CLIENTS))
        for c in $BENCH_CLIENTS; do slack=$((slack + c)); done
    done
    slack=$((slack + 4 * TARGET_CLIENTS))   # the statistics-overhead runs
    for w in "${HOT_WORKLOADS[@]}"; do   # all transfer workloads
        case "$HOT_NO_TRANSFERS" in *" $(wl_field "$w" 1) "*) continue ;; esac
        expected=$((expected + $(processed "$(wl_field "$w" 1)")))
        [ "$BENCH_WARMUP" -le 0 ] || slack=$((slack + BENCH_HOT_CLIENTS))
        slack=$((slack + BENCH_HOT_CLIENTS))
    done
    committed=$(sqlcheck "SELECT count(*) FROM creditledger.transfers WHERE voucher LIKE 'bench-%'")
    if [ "$committed" != error ]; then
        committed=$((committed - TRANSFERS_BEFORE))
        [ "$committed" -ge "$expected" ] && [ "$committed" -le $((expected + slack)) ] && s=ok || s=bad
    else
        s=bad
    fi
    check $s "committed benchmark transfers: $committed (pgbench counted $expected, + at most $slack cut off by -T)"
fi

if want credit; then
    # The closure of the credit DAG: (line, node) for the line and each of
    # its ancestors, each once (UNION: a diamond counts once), as CTE "anc".
    ANC="WITH RECURSIVE anc(line_id, node) AS (
             SELECT line_id, line_id FROM creditledger.ledger_credit_lines
             UNION
             SELECT a.line_id, k.parent_id FROM anc a
               JOIN creditledger.credit_line_links k ON k.child_id = a.node)"

    # Every line's frozen (own and descendants', slices included) is the sum
    # of the open holds' remaining on it and its descendants; nothing is used.
    IFS='|' read -r nlines badfrozen openholds <<<"$(sqlcheck "$ANC,
          held AS (SELECT a.node, sum(h.remaining) AS frozen
                     FROM creditledger.ledger_credit_holds h JOIN anc a USING (line_id)
                    WHERE h.status = 'open' GROUP BY a.node)
        SELECT count(*), count(*) FILTER (WHERE l.frozen <> coalesce(held.frozen, 0) OR l.used <> 0),
               (SELECT count(*) FROM creditledger.ledger_credit_holds WHERE status = 'open')
          FROM creditledger.credit_lines l LEFT JOIN held ON held.node = l.line_id")"
    [ "${badfrozen:-}" = 0 ] && s=ok || s=bad
    check $s "credit lines whose frozen differs from the sum of the open holds' remaining on them and their descendants (or with used <> 0): ${badfrozen:-?} of ${nlines:-?} (open holds: ${openholds:-?})"

    over=$(sqlcheck "SELECT count(*) FROM creditledger.credit_lines WHERE available < 0")
    [ "$over" = 0 ] && s=ok || s=bad
    check $s "credit lines over their limit (available < 0): $over"

    # Hot lines: the slices' headroom adds up to the line's available amount,
    # and no slice has less than nothing.
    badhot=$(sqlcheck "SELECT count(*) FROM creditledger.credit_lines l
                         JOIN (SELECT line_id, sum(headroom) AS headroom, min(headroom) AS least
                                 FROM creditledger.credit_line_slices x
                                 JOIN creditledger.ledger_credit_lines y USING (line_id)
                                WHERE x.slice <= y.hot_slices GROUP BY line_id) s USING (line_id)
                        WHERE l.hot_slices > 0 AND (s.headroom <> l.available OR s.least < 0)")
    [ "$badhot" = 0 ] && s=ok || s=bad
    # (no hold expires in these runs, so the slices hold exactly the headroom)
    check $s "hot credit lines whose slices' headroom is not their available amount (or a slice below 0): $badhot"

    # Every credit chain head (slice 0: the line row; else a slice row, less
    # what a batched hot line's slice has pending) holds its last entry's
    # afters and version.
    heads=$(sqlcheck "SELECT count(*) FROM (
          SELECT l.line_id, 0 AS slice, l.frozen, l.used, l.returned, l.version
            FROM creditledger.ledger_credit_lines l
          UNION ALL
          SELECT x.line_id, x.slice, x.frozen - x.pending_frozen, x.used - x.pending_used,
                 x.returned - x.pending_returned, x.version
            FROM creditledger.credit_line_slices x) c
        LEFT JOIN LATERAL (SELECT e.frozen_after, e.used_after, e.returned_after, e.version
                             FROM creditledger.credit_journal_entries e
                            WHERE e.line_id = c.line_id AND e.slice = c.slice
                            ORDER BY e.version DESC LIMIT 1) h ON true
        WHERE (c.frozen, c.used, c.returned, c.version)
              IS DISTINCT FROM (coalesce(h.frozen_after, 0), coalesce(h.used_after, 0),
                                coalesce(h.returned_after, 0), coalesce(h.version, 0))")
    [ "$heads" = 0 ] && s=ok || s=bad
    check $s "credit chains (lines and slices) whose head differs from their last entry: $heads"

    # Each freeze and each unfreeze wrote one entry per node of its line (the
    # line and each ancestor once, but a batched hot line, whose slices are
    # journaled in batches by the worker), nothing else.
    IFS='|' read -r nops badops <<<"$(sqlcheck "$ANC,
          nodes AS (SELECT a.line_id, count(*) AS n FROM anc a
                      JOIN creditledger.ledger_credit_lines y ON y.line_id = a.node
                     WHERE NOT (y.hot_slices > 0 AND y.hot_batched) GROUP BY a.line_id),
          ops AS (SELECT 'freeze' AS op, h.ref, h.line_id FROM creditledger.ledger_credit_holds h
                  UNION ALL
                  SELECT 'unfreeze', o.ref, h.line_id FROM creditledger.credit_operations o
                    JOIN creditledger.ledger_credit_holds h ON h.hold_id = o.target_id
                   WHERE o.kind = 'unfreeze'),
          e AS (SELECT op, ref, count(*) AS n, count(DISTINCT line_id) AS nlines
                  FROM creditledger.credit_journal_entries
                 WHERE op IN ('freeze', 'unfreeze') GROUP BY op, ref)
        SELECT count(*), count(*) FILTER (WHERE e.n IS DISTINCT FROM nodes.n OR e.nlines IS DISTINCT FROM nodes.n)
          FROM ops JOIN nodes USING (line_id) LEFT JOIN e USING (op, ref)")"
    [ "${badops:-}" = 0 ] && s=ok || s=bad
    check $s "freezes and unfreezes whose journal entries are not one per node of their line: ${badops:-?} of ${nops:-?}"

    # The throughput runs unfroze every hold they froze (a run cut off by -T
    # between the two statements may leave one per client).
    left=$(sqlcheck "SELECT count(*) FROM creditledger.ledger_credit_holds
                      WHERE ref LIKE 'bf-%' AND status = 'open'")
    runs=$(( ${#CREDIT_WORKLOADS[@]} * (BENCH_WARMUP > 0 ? 2 : 1) ))
    [ "$left" != error ] && [ "$left" -le $((runs * CREDIT_CLIENTS)) ] && s=ok || s=bad
    check $s "holds of the throughput runs left open: $left (at most $((runs * CREDIT_CLIENTS)): one per client and run cut off by -T)"

    # The race: the parent at or below its limit and within one freeze of it
    # (limit - frozen < RACE_MAX), no refused freeze that would have fitted
    # (headroom only shrinks during the race, so a refusal of an amount <= the
    # final headroom had that headroom too), what the holds add up to.
    IFS='|' read -r RACE_LIM RACE_FROZEN RACE_HELD RACE_OK RACE_REFUSED RACE_MINREF \
        RACE_FIRST RACE_LAST <<<"$(sqlcheck "
        WITH h AS (SELECT count(*) AS n, coalesce(sum(amount), 0) AS held,
                          min(created_at) AS t0, max(created_at) AS last
                     FROM creditledger.ledger_credit_holds WHERE ref LIKE 'br-%'),
             r AS (SELECT count(*) AS n, min(amount) AS least, min(refused_at) AS first
                     FROM public.bench_credit_refusals)
        SELECT l.limit_amount, l.frozen, h.held, h.n, r.n, coalesce(r.least, 0),
               coalesce(round(extract(epoch FROM r.first - h.t0)::numeric, 1)::text, '?'),
               coalesce(round(extract(epoch FROM h.last - h.t0)::numeric, 1)::text, '?')
          FROM creditledger.credit_lines l, h, r WHERE l.line_id = $race_parent")"
    # RACE_BOUND_OK: frozen <= limit and headroom < RACE_MAX; RACE_REFUSALS_OK:
    # some refused, none of an amount the final headroom had room for.
    RACE_ROOM="?" RACE_BOUND_OK="" RACE_REFUSALS_OK=""
    if [[ "${RACE_LIM:-}|${RACE_FROZEN:-}|${RACE_REFUSED:-}|${RACE_MINREF:-}" =~ ^[0-9]+\|-?[0-9]+\|[0-9]+\|[0-9]+$ ]]; then
        RACE_ROOM=$((RACE_LIM - RACE_FROZEN))
        [ "$RACE_ROOM" -ge 0 ] && [ "$RACE_ROOM" -lt "$RACE_MAX" ] && RACE_BOUND_OK=1
        [ "$RACE_REFUSED" -gt 0 ] && [ "$RACE_MINREF" -gt "$RACE_ROOM" ] && RACE_REFUSALS_OK=1
    fi
    [ -n "$RACE_BOUND_OK" ] && s=ok || s=bad
    check $s "race parent: frozen ${RACE_FROZEN:-?} of a limit of ${RACE_LIM:-?} (headroom $RACE_ROOM; must be >= 0 and < $RACE_MAX, one freeze)"
    [ -n "${RACE_HELD:-}" ] && [ "$RACE_HELD" = "${RACE_FROZEN:-}" ] && s=ok || s=bad
    check $s "race parent: frozen ${RACE_FROZEN:-?} = sum of its ${RACE_OK:-?} holds ${RACE_HELD:-?}"
    [ -n "$RACE_REFUSALS_OK" ] && s=ok || s=bad
    check $s "race: ${RACE_REFUSED:-?} freezes refused (LD002), the smallest of ${RACE_MINREF:-?} (must be > the final headroom $RACE_ROOM: none would have fitted; and some refused: the limit was reached)"
fi

if want ledger || want credit; then
    problems=$(sqlcheck "SELECT count(*) FROM creditledger.verify_chain()")
    [ "$problems" = 0 ] && s=ok || s=bad
    check $s "verify_chain(): $problems problem rows (expected 0)"
    if [ "$problems" != 0 ] && [ "$problems" != error ]; then
        q "SELECT account_id, sub_account, line_id, version, problem FROM creditledger.verify_chain() LIMIT 5" \
            | sed 's/^/    /' >&2 || true
    fi
fi

if want audit; then
    # Every verify_chain() run found nothing; every BCP rule passed; the
    # digest verified.
    bad=0
    for n in "${AUDIT_PROBLEMS[@]}"; do [ "$n" = 0 ] || bad=$((bad + 1)); done
    [ "$bad" = 0 ] && [ "${#AUDIT_PROBLEMS[@]}" = $((AUDIT_RUNS + 1)) ] && s=ok || s=bad
    check $s "audit: verify_chain() problem rows in each of its $((AUDIT_RUNS + 1)) runs: ${AUDIT_PROBLEMS[*]:-none ran} (expected 0 each)"
    if [ "$s" = bad ]; then
        qa "SELECT account_id, sub_account, line_id, version, problem FROM creditledger.verify_chain() LIMIT 5" \
            | sed 's/^/    /' >&2 || true
    fi
    notpass=$(qa "SELECT coalesce(string_agg(format('%s %s (%s mismatches%s)', rule, status, coalesce(mismatches::text, '?'),
                                              CASE WHEN status = 'error' THEN ': ' || (sample->>'error') ELSE '' END),
                                       '; ' ORDER BY rule), 'none')
                    FROM public.audit_bcp WHERE status <> 'pass'" || echo error)
    [ "${AUDIT[bcp_failing]:-}" = 0 ] && [ "$notpass" = none ] && s=ok || s=bad
    check $s "audit: bcp_run(record => false): rules not passing: $notpass (of ${AUDIT[bcp_rules]:-?} run)"
    [ "${AUDIT[verified]:-}" = true ] && s=ok || s=bad
    check $s "audit: verify_digest() of the digest ledger_digest() just took: ${AUDIT[verified]:-not run} (expected true)"
fi

if want bulk; then
    # Every run completed; the chains are intact; the transfers moved money
    # among the 100 accounts only, two legs each.
    failed=0
    for k in "${!BULK[@]}"; do [ -n "${BULK[$k]}" ] || failed=$((failed + 1)); done
    [ "$failed" = 0 ] && s=ok || s=bad
    check $s "bulk: runs that failed: $failed (logs: ${LOGDIR#"$SRC"/}/bulk-*.log)"
    problems=$(qb "SELECT count(*) FROM creditledger.verify_chain()" || echo error)
    [ "$problems" = 0 ] && s=ok || s=bad
    check $s "bulk: verify_chain(): $problems problem rows (expected 0)"
    held=$(qb "SELECT sum(balance) FROM creditledger.accounts WHERE code LIKE 'bulk-acct-%'" || echo error)
    [ "$held" = "${BULK_HELD:-}" ] && s=ok || s=bad
    check $s "bulk: the $BULK_ACCOUNTS accounts hold $held (before the runs: ${BULK_HELD:-?})"
    posted=$(qb "SELECT count(*) FROM creditledger.transfers WHERE voucher LIKE 'bulk-%' AND voucher NOT LIKE 'bulk-fund-%'" || echo error)
    legs=$(qb "SELECT count(*) FROM creditledger.journal WHERE voucher LIKE 'bulk-%' AND voucher NOT LIKE 'bulk-fund-%'" || echo error)
    [ "$posted" = $((BULK_NEXT - 1)) ] && [ "$legs" = $((2 * (BULK_NEXT - 1))) ] && s=ok || s=bad
    check $s "bulk: $posted transfers with $legs journal entries (expected $((BULK_NEXT - 1)) and twice that)"
fi

if want batch; then
    # No item refused, every run completed, the chains intact, money conserved.
    failed=0
    for k in "${!BATCH[@]}"; do [ -n "${BATCH[$k]}" ] || failed=$((failed + 1)); done
    [ "$failed" = 0 ] && s=ok || s=bad
    check $s "batch: runs that failed: $failed (logs: ${LOGDIR#"$SRC"/}/batch-*.log)"
    refused=$(qbb "SELECT coalesce(sum(count), 0) FROM creditledger.stat_errors WHERE operation = 'post_batch'" || echo error)
    [ "$refused" = 0 ] && s=ok || s=bad
    check $s "batch: items refused (stat_errors, post_batch): $refused (expected 0)"
    problems=$(qbb "SELECT count(*) FROM creditledger.verify_chain()" || echo error)
    [ "$problems" = 0 ] && s=ok || s=bad
    check $s "batch: verify_chain(): $problems problem rows (expected 0)"
    held=$(qbb "SELECT sum(balance) FROM creditledger.accounts WHERE code LIKE 'bb-%' AND code <> 'bb-system'" || echo error)
    [ "$held" = "${BATCH_HELD:-}" ] && s=ok || s=bad
    check $s "batch: the accounts hold $held after a final flush (before the runs: ${BATCH_HELD:-?})"
    bad=$(qbb "SELECT count(*) FROM (SELECT t.transfer_id FROM creditledger.transfers t
                 LEFT JOIN creditledger.journal j ON j.transfer_id = t.transfer_id
                WHERE t.voucher LIKE 'bb-%' AND t.voucher NOT LIKE 'bb-fund-%'
                GROUP BY t.transfer_id HAVING count(j.entry_id) <> 2) x" || echo error)
    [ "$bad" = 0 ] && s=ok || s=bad
    check $s "batch: transfers without exactly two journal entries: $bad (expected 0)"
fi

# Diagnostics (information, not checks): how the account rows were updated.
HOT_INFO=$(q "SELECT string_agg(format('%s: %s updates, %s%% HOT', relname, n_tup_upd,
                  CASE WHEN n_tup_upd > 0 THEN round(100.0 * n_tup_hot_upd / n_tup_upd) ELSE 0 END),
                  '; ' ORDER BY relname)
              FROM pg_stat_user_tables WHERE schemaname = 'creditledger' AND n_tup_upd > 0" || true)
# Everything the server logged at WARNING or above, over the whole benchmark.
SERVER_LOG=$(server_errors 0 | awk '{ printf "%s%s %s %s", sep, $2, $3, $4; sep = ", " }')

#--------------------------------------------------------------------------
# Report
#--------------------------------------------------------------------------

pgversion=$(q "SHOW server_version" || echo "?")
commit=$(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo "none yet")
[ -n "$(git -C "$SRC" status --porcelain 2>/dev/null)" ] && commit="$commit + uncommitted changes"
mem=$(awk '/^MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo)

base=$(wl_field "${WORKLOADS[0]}" 1)
ratio() {   # ratio A B -> A/B with 2 decimals, or n/a
    case "$1$2" in *FAIL* | "") echo "n/a"; return ;; esac
    case "$1" in "") echo "n/a"; return ;; esac
    case "$2" in "") echo "n/a"; return ;; esac
    awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'
}
verdict() {   # verdict VALUE TARGET ge|lt -> MET / NOT MET / NOT MEASURED
    case "$1" in n/a | "" | error | "?") echo "NOT MEASURED"; return ;; esac
    if awk -v v="$1" -v t="$2" -v op="$3" 'BEGIN { exit !(op == "ge" ? v >= t : v < t) }'; then
        echo "MET"
    else
        echo "NOT MET"
    fi
}
hot_field() { local IFS='|' f; read -r -a f <<<"${HOT[$1]:-}"; echo "${f[$2 - 1]:-}"; }

# report_ledger: tables 1 and 2 (markdown, on stdout).
report_ledger() {
    echo "pgbench -M prepared -T $BENCH_SECONDS -j $BENCH_THREADS (capped at the client count), warm-up ${BENCH_WARMUP}s;"
    echo "$NACCOUNTS funded accounts; runs interleaved per client count (baseline first), CHECKPOINT before each."
    echo
    header="| clients |" rule="|--------:|"
    for w in "${WORKLOADS[@]}"; do
        header="$header $(wl_field "$w" 3) tps |"; rule="$rule---------:|"
    done
    for w in "${WORKLOADS[@]:1}"; do
        header="$header $(wl_field "$w" 1) / $base |"; rule="$rule---------:|"
    done
    echo "$header"
    echo "$rule"
    for c in $BENCH_CLIENTS; do
        row="| $c |"
        for w in "${WORKLOADS[@]}"; do row="$row ${TPS[$(wl_field "$w" 1):$c]:-} |"; done
        for w in "${WORKLOADS[@]:1}"; do
            row="$row $(ratio "${TPS[$(wl_field "$w" 1):$c]:-}" "${TPS[$base:$c]:-}") |"
        done
        echo "$row"
    done
    echo
    r=$(ratio "${TPS[$TARGET_WORKLOAD:$TARGET_CLIENTS]:-}" "${TPS[$base:$TARGET_CLIENTS]:-}")
    pct=$(awk -v r="$TARGET_RATIO" 'BEGIN { printf "%.0f%%", r * 100 }')
    if [ "$r" = n/a ]; then
        verdict="NOT MEASURED"
    elif awk -v r="$r" -v t="$TARGET_RATIO" 'BEGIN { exit !(r >= t) }'; then
        verdict="MET ($r)"
    else
        verdict="NOT MET ($r)"
    fi
    tlabel=$TARGET_WORKLOAD
    for w in "${WORKLOADS[@]}"; do
        if [ "$(wl_field "$w" 1)" = "$TARGET_WORKLOAD" ]; then tlabel=$(wl_field "$w" 3); fi
    done
    echo "Target: $tlabel >= $pct of $(wl_field "${WORKLOADS[0]}" 3) at $TARGET_CLIENTS clients: **$verdict**"
    echo
    if [ "$TRACK_ON" -gt 0 ] && [ "$TRACK_OFF" -gt 0 ]; then
        awk -v on="$TRACK_ON" -v off="$TRACK_OFF" -v c="$TARGET_CLIENTS" 'BEGIN {
            o = (1 - on / off) * 100
            printf "Statistics overhead (uniform transfers, %d clients, 2 interleaved runs each): track on %d tps, off %d tps: %.1f%% (target <= 3%%): **%s**\n",
                c, on / 2, off / 2, o, (o <= 3 ? "MET" : "NOT MET") }'
        echo
    fi
    echo "WAL per transaction (bytes, and full-page images; each run starts right after a CHECKPOINT):"
    echo
    header="| clients |" rule="|--------:|"
    for w in "${WORKLOADS[@]}"; do header="$header $(wl_field "$w" 3) |"; rule="$rule---------:|"; done
    echo "$header"
    echo "$rule"
    for c in $BENCH_CLIENTS; do
        row="| $c |"
        for w in "${WORKLOADS[@]}"; do row="$row $(walpertx "$(wl_field "$w" 1)" "$c") |"; done
        echo "$row"
    done
    [ -z "$HOT_INFO" ] || { echo; echo "Row updates over the whole run: $HOT_INFO."; }
    echo
    ceil=$(wl_field "${HOT_WORKLOADS[0]}" 1)
    echo "### Hot accounts, $BENCH_HOT_CLIENTS clients"
    echo
    echo "pgbench -T $BENCH_HOT_SECONDS, $BENCH_HOT_CLIENTS clients, warm-up ${BENCH_WARMUP}s, one run each, interleaved"
    echo "(CHECKPOINT before each); the first $NHOT funded accounts; amounts 1..100; paying hot accounts"
    echo "funded with $HOT_FUND; flusher: $FLUSHER_NOTE."
    echo
    echo "| workload | what | tps | / $ceil | failed txns | aborted clients | server errors | WAL/tx |"
    echo "|:---------|:-----|----:|---------:|------------:|----------------:|:--------------|-------:|"
    for w in "${HOT_WORKLOADS[@]}"; do
        name=$(wl_field "$w" 1)
        tps=$(hot_field "$name" 1)
        echo "| $name | $(wl_field "$w" 4) | ${tps:-FAIL} | $(ratio "$tps" "$(hot_field "$ceil" 1)") |" \
             "$(hot_field "$name" 2) | $(hot_field "$name" 3) | $(e=$(hot_field "$name" 4); echo "${e:-none}") |" \
             "$(walpertx "$name" "$BENCH_HOT_CLIENTS") |"
    done
    echo
    echo "What the sessions were doing (sampled every 100 ms from pg_stat_activity; CPU = active, no wait event):"
    echo
    for w in "${HOT_WORKLOADS[@]}"; do
        name=$(wl_field "$w" 1)
        echo "- $name: ${HOTWAITS[$name]:-n/a}"
    done
    echo
    echo "Targets at $BENCH_HOT_CLIENTS clients:"
    echo
    for t in "${HOT_TARGETS[@]}"; do
        IFS='|' read -r a b goal <<<"$t"
        r=$(ratio "$(hot_field "$a" 1)" "$(hot_field "$b" 1)")
        if [ -n "$goal" ]; then
            echo "- $a / $b = $r (target >= $goal): **$(verdict "$r" "$goal" ge)**"
        else
            echo "- $a / $b = $r (no target)"
        fi
    done
    aborted=$(hot_field out_of_split 3)
    if [ "$SPLIT_LD001" = 0 ] && [ "$aborted" = 0 ]; then v=MET; else v="NOT MET"; fi
    echo "- LD001 during out_of_split: $SPLIT_LD001, aborted clients: ${aborted:-?}" \
         "(target: none while funds suffice; the account still held $SPLIT_LEFT afterwards): **$v**"
    IFS='|' read -r lagn p50 p99 lagmax late <<<"$LAG"
    if [ -n "$p99" ]; then
        echo "- flush lag (posted_at - accepted_at) of the $lagn postings accepted during $HOT_BUFFERED:" \
             "p50 $p50 ms, p99 $p99 ms, max $lagmax ms; $late of them posted after the run ended," \
             "buffer empty ${DRAIN:-?} s after it (target p99 < $LAG_TARGET_MS ms): **$(verdict "$p99" "$LAG_TARGET_MS" lt)**"
        [ -z "$FLUSH_CALLS" ] || echo "  (stand-in flusher during the run: $FLUSH_CALLS)"
    else
        echo "- flush lag: not measured (${LAG:-no result}; drain: ${DRAIN:-?})"
    fi
    echo
}

# report_credit: table 3 and the race (markdown, on stdout).
report_credit() {
    local ceil w name tps a b goal r e
    ceil=$(wl_field "${CREDIT_WORKLOADS[0]}" 1)
    echo "### Credit lines, $CREDIT_CLIENTS clients"
    echo
    echo "pgbench -M prepared -T $CREDIT_SECONDS -j $BENCH_THREADS, $CREDIT_CLIENTS clients, warm-up ${BENCH_WARMUP}s, one run each,"
    echo "interleaved (CHECKPOINT before each). One pgbench transaction = credit_freeze of 1..100 on a random"
    echo "one of the group's $NLINES customer lines, then credit_unfreeze of that whole hold: two statements,"
    echo "each its own transaction (two commits), as a freeze and its release are two business events."
    echo "Limits never bind (lines $LINE_LIMIT, parents $PARENT_LIMIT). Waits: share of the samples"
    echo "(every 100 ms, pg_stat_activity) of the active client sessions; CPU = waiting on nothing."
    echo
    echo "| workload | what | tps | / $ceil | failed txns | aborted clients | server errors | WAL/tx | waits (share of samples) |"
    echo "|:---------|:-----|----:|---------:|------------:|----------------:|:--------------|-------:|:-------------------------|"
    for w in "${CREDIT_WORKLOADS[@]}"; do
        name=$(wl_field "$w" 1)
        tps=$(credit_field "$name" 1)
        echo "| $name | $(wl_field "$w" 3) | ${tps:-FAIL} | $(ratio "$tps" "$(credit_field "$ceil" 1)") |" \
             "$(credit_field "$name" 2) | $(credit_field "$name" 3) | $(e=$(credit_field "$name" 4); echo "${e:-none}") |" \
             "$(walpertx "credit-$name" "$CREDIT_CLIENTS") | ${CWAITS[$name]:-n/a} |"
    done
    echo
    echo "Targets at $CREDIT_CLIENTS clients:"
    echo
    for t in "${CREDIT_TARGETS[@]}"; do
        IFS='|' read -r a b goal <<<"$t"
        r=$(ratio "$(credit_field "$a" 1)" "$(credit_field "$b" 1)")
        if [ -n "$goal" ]; then
            echo "- $a / $b = $r (target >= $goal): **$(verdict "$r" "$goal" ge)**"
        else
            echo "- $a / $b = $r (no target)"
        fi
    done
    local rtps rfailed raborted rerrs v
    IFS='|' read -r rtps rfailed raborted rerrs <<<"$RACE"
    if [ -n "$RACE_BOUND_OK" ] && [ -n "$RACE_REFUSALS_OK" ] && [ "$rfailed" = 0 ] && [ "$raborted" = 0 ]; then
        v=MET
    else
        v="NOT MET"
    fi
    echo "- race: $CREDIT_CLIENTS clients freezing 1..$RACE_MAX under random ones of $NLINES children of a hot parent" \
         "($CREDIT_SLICES slices, limit ${RACE_LIM:-?}: $RACE_LIMIT_NOTE), nothing released, pgbench -T $RACE_SECONDS:" \
         "${rtps:-?} attempts/s; ${RACE_OK:-?} freezes succeeded, the last ${RACE_LAST:-?} s into the run;" \
         "${RACE_REFUSED:-?} refused with LD002 (the first ${RACE_FIRST:-?} s in, the smallest of ${RACE_MINREF:-?});" \
         "final frozen ${RACE_FROZEN:-?}, headroom $RACE_ROOM; failed txns ${rfailed:-?}, aborted clients ${raborted:-?}," \
         "server errors ${rerrs:-none} (target: frozen <= limit, headroom < $RACE_MAX, no refusal that would" \
         "have fitted, no error but LD002): **$v**"
    echo "  (waits: ${RACE_WAITS:-n/a})"
    echo
}

# report_audit: the audit tables (markdown, on stdout).
report_audit() {
    local entries=${AUDIT[entries]:-0} r v rule sev st mm ms total
    # rate SECONDS [ROWS]: rows (default: the audit entries) per second, or n/a.
    rate() { awk -v n="${2:-$entries}" -v t="$1" 'BEGIN { if (t + 0 > 0) printf "%.0f", n / t; else print "n/a" }'; }
    # vs SECONDS [ROWS]: that rate over the openssl SHA-256 ceiling.
    vs() { ratio "$(rate "$1" "${2:-}")" "${AUDIT[sha_rate]:-}"; }
    echo "### Audit: verify_chain, bcp_run and digests over $entries journal entries"
    echo
    echo "A database of its own ($AUDIT_DB), built by audit_setup.sql in ${AUDIT[build]:-?} s: $AUDIT_TRANSFERS transfers from"
    echo "one bank account to $AUDIT_ACCOUNTS accounts (1000 per statement, a commit after each), 200 buffered postings"
    echo "(flushed), 400 postings on a split account (8 sub-accounts), 22 reversals, $AUDIT_CREDIT_OPS credit freezes"
    echo "released every way on 40 customer lines under a small DAG (a hot group line with 8 slices, a region, a"
    echo "product line made hot and folded back), a limit decrease; then VACUUM ANALYZE. journal_entries:"
    echo "${AUDIT[je]:-?} rows (${AUDIT[jsize]:-?}), credit_journal_entries: ${AUDIT[cje]:-?} rows (${AUDIT[cjsize]:-?}), in ${AUDIT[chains]:-?} chains."
    echo "Times are taken server side (clock_timestamp() around the statement). The first verify_chain() runs"
    echo "right after a server restart (shared_buffers empty, OS page cache warm); then $AUDIT_RUNS runs, each"
    echo "followed by the baselines: SHA-256 of 100-byte records with openssl speed -evp for 1 s (C, one core,"
    echo "no database: the machine's hashing ceiling) and a sequential read of both journals' rows in SQL (no"
    echo "hashing). A journal entry's hash input is about 130 bytes (CLJ1/CLC1: previous hash, ids, amounts,"
    echo "times, voucher or ref)."
    echo
    echo "| measurement | rows | seconds | rows/s | / openssl SHA-256 |"
    echo "|:------------|-----:|--------:|-------:|------------------:|"
    echo "| verify_chain(), first run after a restart | $entries | ${AUDIT[first]:-n/a} | $(rate "${AUDIT[first]:-}") | $(vs "${AUDIT[first]:-}") |"
    echo "| verify_chain(), median of $AUDIT_RUNS | $entries | ${AUDIT[median]:-n/a} | $(rate "${AUDIT[median]:-}") | $(vs "${AUDIT[median]:-}") |"
    echo "| verify_chain(), best of $AUDIT_RUNS | $entries | ${AUDIT[best]:-n/a} | $(rate "${AUDIT[best]:-}") | $(vs "${AUDIT[best]:-}") |"
    echo "| baseline: SHA-256 of 100-byte records, openssl speed, median | | | ${AUDIT[sha_rate]:-n/a} | 1.00 |"
    echo "| baseline: sequential read of both journals in SQL, median | ${AUDIT[read_rows]:-?} | ${AUDIT[read]:-n/a} | $(rate "${AUDIT[read]:-}" "${AUDIT[read_rows]:-0}") | $(vs "${AUDIT[read]:-}" "${AUDIT[read_rows]:-0}") |"
    echo
    echo "(verify_chain() runs: ${AUDIT[first]:-?} s first, then ${AUDIT[runs]:-?} s.)"
    echo
    echo "| step | seconds | result |"
    echo "|:-----|--------:|:-------|"
    echo "| bcp_run(record => false), ${AUDIT[bcp_rules]:-?} rules | ${AUDIT[bcp]:-n/a} | ${AUDIT[bcp_failing]:-?} not passing |"
    echo "| ledger_digest() | ${AUDIT[digest]:-n/a} | ${AUDIT[chains]:-?} chains, ${AUDIT[digest_entries]:-?} entries |"
    echo "| verify_digest() of that digest | ${AUDIT[verify_digest]:-n/a} | ${AUDIT[verified]:-?} |"
    echo
    r=$(rate "${AUDIT[median]:-}")
    v=$(verdict "$r" "$AUDIT_TARGET" ge)
    echo "Targets:"
    echo
    echo "- verify_chain() >= $AUDIT_TARGET entries/s (median of $AUDIT_RUNS runs): $r entries/s: **$v**"
    [ "$entries" -ge "$AUDIT_MIN_ENTRIES" ] && v=MET || v="NOT MET"
    echo "- a ledger of >= $AUDIT_MIN_ENTRIES journal entries: $entries: **$v**"
    echo
    total=${AUDIT[bcp]:-0}
    echo "bcp_run(record => false), rules slowest first (EXPLAIN ANALYZE of the three slowest: ${LOGDIR#"$SRC"/}/audit-explain.log):"
    echo
    echo "| rule | severity | status | mismatches | duration ms | share of the run |"
    echo "|:-----|:---------|:-------|-----------:|------------:|-----------------:|"
    while IFS='|' read -r rule sev st mm ms; do
        [ -n "$rule" ] || continue
        echo "| $rule | $sev | $st | $mm | $ms | $(awk -v ms="$ms" -v t="$total" 'BEGIN { if (t > 0) printf "%.0f%%", ms / 10 / t; else print "n/a" }') |"
    done < <(qa "SELECT rule, severity, status, coalesce(mismatches::text, 'n/a'), round(duration_ms::numeric, 1)
                   FROM public.audit_bcp ORDER BY duration_ms DESC, rule" 2>/dev/null || true)
    echo
}

# report_bulk: the bulk tables (markdown, on stdout).
report_bulk() {
    local ref=${BULK[many_tx]:-} ntx=$((BULK_TRANSFERS / 1000)) r n t
    # us SECONDS N: microseconds per transfer.
    us() { awk -v t="$1" -v n="$2" 'BEGIN { if (t + 0 > 0) printf "%.0f", t * 1e6 / n; else print "n/a" }'; }
    echo "### Bulk: many postings in one transaction"
    echo
    echo "A database of its own ($BULK_DB): $BULK_ACCOUNTS funded accounts; transfer g of 1 from account g mod"
    echo "$BULK_ACCOUNTS to one of the 99 others, cycling through all pairs, so every transaction touches"
    echo "every account hundreds of times. Each way run $BULK_REPS times, interleaved, VACUUM and CHECKPOINT"
    echo "before each; the best time counts (all: in parentheses). Times: psql's \\timing of every statement"
    echo "summed, COMMIT included, one session."
    echo
    echo "| how | transfers | transactions | statements | seconds | us/transfer | / $ntx transactions |"
    echo "|:----|----------:|-------------:|-----------:|--------:|------------:|-------------------:|"
    echo "| $ntx transactions of one 1,000-transfer statement | $BULK_TRANSFERS | $ntx | $ntx | ${BULK[many_tx]:-FAIL} (${BULK[many_tx:all]:-}) | $(us "${BULK[many_tx]:-}" "$BULK_TRANSFERS") | 1.00 |"
    echo "| one transaction of $ntx statements | $BULK_TRANSFERS | 1 | $ntx | ${BULK[one_tx]:-FAIL} (${BULK[one_tx:all]:-}) | $(us "${BULK[one_tx]:-}" "$BULK_TRANSFERS") | $(ratio "${BULK[one_tx]:-}" "$ref") |"
    echo "| one transaction, one statement | $BULK_TRANSFERS | 1 | 1 | ${BULK[one_stmt]:-FAIL} (${BULK[one_stmt:all]:-}) | $(us "${BULK[one_stmt]:-}" "$BULK_TRANSFERS") | $(ratio "${BULK[one_stmt]:-}" "$ref") |"
    for n in $BULK_SCALING; do
        t=${BULK[scale:$n]:-}
        echo "| scaling: one transaction, one statement | $n | 1 | 1 | ${t:-FAIL} | $(us "$t" "$n") | $(ratio "$(us "$t" "$n")" "$(us "$ref" "$BULK_TRANSFERS")") per transfer |"
    done
    echo
    r=$(ratio "${BULK[one_tx]:-}" "$ref")
    if [ "$r" = n/a ]; then v="NOT MEASURED"
    elif awk -v r="$r" -v t="$BULK_TARGET" 'BEGIN { exit !(r <= t) }'; then v=MET
    else v="NOT MET"; fi
    echo "Target: $BULK_TRANSFERS transfers in one transaction within ${BULK_TARGET}x of $ntx transactions of 1,000: $r: **$v**"
    r=$(ratio "${BULK[one_stmt]:-}" "$ref")
    echo "(In one statement: $r.)"
    echo
}

# report_batch: the batch tables (markdown, on stdout).
report_batch() {
    local single n tps rows sr ir r v
    # bfield KEY N: field N of BATCH[KEY] (run_summary's line).
    bfield() { local IFS='|' f; read -r -a f <<<"${BATCH[$1]:-}"; echo "${f[$2 - 1]:-}"; }
    single=$(bfield single 1)
    echo "### Batch posting: post_batch"
    echo
    echo "A database of its own ($BATCH_DB): $BATCH_ACCOUNTS funded accounts. $BATCH_CLIENTS clients, ${BENCH_SECONDS} s"
    echo "per run, one run each, in the order of the table; every transfer between two distinct uniformly"
    echo "random accounts (amount 1..100, a fresh voucher), the items built server side by public.bb_items;"
    echo "the INSERT rows build the same rows the same way and insert them into a plain table in one"
    echo "statement (the ceiling). Rows/s = calls/s x rows per call."
    echo
    echo "| workload | rows per call | calls/s | rows/s | / single transfer() | / INSERT of as many rows |"
    echo "|:---------|--------------:|--------:|-------:|--------------------:|-------------------------:|"
    echo "| single transfer() | 1 | ${single:-FAIL} | ${single:-FAIL} | 1.00 | |"
    for n in $BATCH_SIZES; do
        tps=$(bfield "insert:$n" 1)
        ir=$(awk -v t="$tps" -v n="$n" 'BEGIN { if (t != "") printf "%.0f", t * n }')
        echo "| bare multi-row INSERT | $n | ${tps:-FAIL} | ${ir:-FAIL} | $(ratio "$ir" "$single") | |"
        tps=$(bfield "batch:$n" 1)
        rows=$(awk -v t="$tps" -v n="$n" 'BEGIN { if (t != "") printf "%.0f", t * n }')
        echo "| post_batch, uniform transfers | $n | ${tps:-FAIL} | ${rows:-FAIL} | $(ratio "$rows" "$single") | $(ratio "$rows" "$ir") |"
        [ "$n" = "$BATCH_TARGET_SIZE" ] && sr=$rows
    done
    for n in 100 1000; do
        tps=$(bfield "own:$n" 1)
        rows=$(awk -v t="$tps" -v n="$n" 'BEGIN { if (t != "") printf "%.0f", t * n }')
        echo "| post_batch, each client on its own $((BATCH_ACCOUNTS / BATCH_CLIENTS)) accounts | $n | ${tps:-FAIL} | ${rows:-FAIL} | $(ratio "$rows" "$single") | |"
    done
    tps=$(bfield hot 1)
    rows=$(awk -v t="$tps" -v n="$BATCH_HOT_ITEMS" 'BEGIN { if (t != "") printf "%.0f", t * n }')
    echo "| post_batch into one buffered account | $BATCH_HOT_ITEMS | ${tps:-FAIL} | ${rows:-FAIL} | $(ratio "$rows" "$single") | |"
    tps=$(bfield single1 1)
    echo "| one client: single transfer() | 1 | ${tps:-FAIL} | ${tps:-FAIL} | $(ratio "$tps" "$single") | |"
    local s1=$tps
    tps=$(bfield b100_1 1)
    rows=$(awk -v t="$tps" 'BEGIN { if (t != "") printf "%.0f", t * 100 }')
    echo "| one client: post_batch, uniform transfers | 100 | ${tps:-FAIL} | ${rows:-FAIL} | $(ratio "$rows" "$single") ($(ratio "$rows" "$s1") x one client's single calls) | |"
    echo
    r=$(ratio "${sr:-}" "$single")
    if [ "$r" = n/a ]; then v="NOT MEASURED"
    elif awk -v r="$r" -v t="$BATCH_TARGET" 'BEGIN { exit !(r >= t) }'; then v=MET
    else v="NOT MET"; fi
    echo "Target: post_batch of $BATCH_TARGET_SIZE >= ${BATCH_TARGET}x the single-call rate (uniform over the $BATCH_ACCOUNTS accounts): $r: **$v**"
    echo
    echo "Contended batches: 100 uniform transfers per call once more, each run right after a VACUUM of"
    echo "ledger_accounts, plain and behind a gate the caller keeps (batch_uniform_gated.sql: one exclusive"
    echo "advisory lock taken in a statement of its own, then the batch, in one transaction), with what the"
    echo "run did to the account rows (README, Batch posting: contended batches)."
    echo
    echo "| workload | calls/s | rows/s | / single transfer() | account row updates | HOT | ledger_accounts pages before -> after |"
    echo "|:--|--:|--:|--:|--:|--:|--:|"
    local w label u0 h0 p0 u1 h1 p1
    for w in plain gated; do
        label="post_batch of 100, uniform"; [ "$w" = gated ] && label="the same behind the caller's gate"
        tps=$(bfield "contended:$w" 1)
        rows=$(awk -v t="$tps" 'BEGIN { if (t != "") printf "%.0f", t * 100 }')
        IFS='|' read -r u0 h0 p0 u1 h1 p1 <<<"${BATCH[accounts:$w]:-}"
        echo "| $label | ${tps:-FAIL} | ${rows:-FAIL} | $(ratio "$rows" "$single") | $(awk -v a="$u0" -v b="$u1" 'BEGIN { if (b != "") print b - a; else print "n/a" }') | $(awk -v a="$u0" -v b="$u1" -v c="$h0" -v d="$h1" 'BEGIN { if (b != "" && b > a) printf "%.0f%%", 100 * (d - c) / (b - a); else print "n/a" }') | ${p0:-?} -> ${p1:-?} |"
    done
    echo
    if [ "$BATCH_POOL" -gt 0 ]; then
        local ps
        ps=$(bfield pool_single 1)
        tps=$(bfield pool_b100 1)
        rows=$(awk -v t="$tps" 'BEGIN { if (t != "") printf "%.0f", t * 100 }')
        echo "The large pool: the same two workloads uniform over $BATCH_POOL other accounts, where two batches of"
        echo "100 (~190 distinct accounts each) have $(awk -v p="$BATCH_POOL" 'BEGIN { printf "%.2f", 190 * 190 / p }') accounts in common on average (share one with"
        echo "probability $(awk -v p="$BATCH_POOL" 'BEGIN { printf "%.0f%%", 100 * (1 - exp(-190 * 190 / p)) }'), so a batch shares ~$(awk -v p="$BATCH_POOL" -v c="$BATCH_CLIENTS" 'BEGIN { printf "%.1f", (c - 1) * 190 * 190 / p }') accounts with the $((BATCH_CLIENTS - 1)) others in flight;"
        echo "on the $BATCH_ACCOUNTS accounts: ~$((190 * 190 / BATCH_ACCOUNTS)) with each, always, so there they run one after another): the"
        echo "engine's throughput with a much shorter convoy (batches on disjoint accounts: the 'own accounts' rows"
        echo "above). Not the target's workload."
        echo
        echo "| workload (large pool) | rows per call | calls/s | rows/s | / single transfer() on the pool |"
        echo "|:---------|--------------:|--------:|-------:|--------------------:|"
        echo "| single transfer(), $BATCH_POOL accounts | 1 | ${ps:-FAIL} | ${ps:-FAIL} | 1.00 |"
        echo "| post_batch, uniform transfers, $BATCH_POOL accounts | 100 | ${tps:-FAIL} | ${rows:-FAIL} | $(ratio "$rows" "$ps") |"
        echo
    fi
    echo "| $BATCH_BULK transfers in post_batch calls of 1,000 | seconds | us/transfer | / $((BATCH_BULK / 1000)) transactions |"
    echo "|:---|---:|---:|---:|"
    echo "| $((BATCH_BULK / 1000)) transactions of one call | ${BATCH[bulk_many]:-FAIL} | $(awk -v t="${BATCH[bulk_many]:-}" -v n="$BATCH_BULK" 'BEGIN { if (t + 0 > 0) printf "%.0f", t * 1e6 / n; else print "n/a" }') | 1.00 |"
    echo "| one transaction of $((BATCH_BULK / 1000)) calls | ${BATCH[bulk_one]:-FAIL} | $(awk -v t="${BATCH[bulk_one]:-}" -v n="$BATCH_BULK" 'BEGIN { if (t + 0 > 0) printf "%.0f", t * 1e6 / n; else print "n/a" }') | $(ratio "${BATCH[bulk_one]:-}" "${BATCH[bulk_many]:-}") |"
    echo
}

{
    echo "## creditledger benchmark"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $mem RAM, PostgreSQL $pgversion, commit $commit."
    echo "shared_buffers = 1GB, synchronous_commit = on (default), same settings for all runs; pgbench runs on the same machine."
    [ "$PARTS" = "ledger credit audit bulk batch" ] || echo "Only the $PARTS part (BENCH_ONLY=$BENCH_ONLY)."
    echo
    if want ledger; then report_ledger; fi
    if want credit; then report_credit; fi
    if want audit; then report_audit; fi
    if want bulk; then report_bulk; fi
    if want batch; then report_batch; fi
    echo "Server log (WARNING and above, whole benchmark, by SQLSTATE): ${SERVER_LOG:-nothing}."
    echo
    echo "Correctness after the load:"
    echo
    printf '%s\n' "${CHECKS[@]}"
    [ "$RUN_FAILURES" -eq 0 ] || { echo; echo "**$RUN_FAILURES pgbench run(s) failed** (see ${LOGDIR#"$SRC"/}/)."; }
} >"$RESULTS"

echo
cat "$RESULTS"
echo
log "saved to ${RESULTS#"$SRC"/}"

# The credit engine's table (credit_engine.sh, its own cluster) after a full run.
if [ -z "${BENCH_ONLY:-}" ]; then
    bash "$SRC/test/bench/credit_engine.sh" || RUN_FAILURES=$((RUN_FAILURES + 1))
    bash "$SRC/test/bench/lending.sh" || RUN_FAILURES=$((RUN_FAILURES + 1))
fi

[ "$RUN_FAILURES" -eq 0 ] && [ "$CHECK_FAILURES" -eq 0 ]
