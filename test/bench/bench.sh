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
#   2. test/bench/setup.sql: the extension, 1000 funded accounts, the plain
#      table of the bare INSERT baseline;
#   3. a short warm-up of every workload, then for each client count every
#      workload in turn (baseline first), so all see the same machine state;
#      a CHECKPOINT before each run so no run inherits another's dirty buffers;
#   4. correctness after the load: verify_chain() finds nothing, balances are
#      conserved, each balance equals its chain head, every transfer has two
#      legs, no committed transfer was lost;
#   5. prints a markdown table (tps, ratio to the baseline) and the target
#      line, and saves it to bench-results/latest.md (pgbench logs alongside
#      in bench-results/logs/).
#
# Benchmarks are not tests: missing the target is reported, not an error.
# The exit status is non-zero only if a pgbench run failed or a correctness
# check did not hold.
#
# Environment:
#   BENCH_SECONDS  length of each measured run (default 20)
#   BENCH_WARMUP   length of each warm-up run (default 5; 0 = none)
#   BENCH_CLIENTS  client counts (default "1 16 64")
#   BENCH_THREADS  pgbench -j (default 2; capped at the client count)
#
# Adding a workload: write test/bench/NAME.sql (pgbench script; variables
# :lo, :hi, :naccounts are passed with -D), add setup it needs to setup.sql,
# and add a line to WORKLOADS below. Ledger workloads that post exactly one
# transfer per pgbench transaction with a voucher 'bench-...' should use the
# kind "transfer", so the lost-transfer check counts them.
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

NACCOUNTS=1000
FUND=1000000000            # opening balance of each account (minor units)
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

die() { echo "bench: $*" >&2; exit 1; }

# q SQL: one query in the bench database, unaligned tuples-only output.
q() { as_pg "$PSQL" -X -qAt -v ON_ERROR_STOP=1 -d "$DB" -c "$1"; }

# wl_field WORKLOAD N: the Nth |-separated field of a WORKLOADS entry.
wl_field() { local IFS='|' f; read -r -a f <<<"$1"; echo "${f[$2 - 1]}"; }

# run_workload NAME SCRIPT CLIENTS [SECONDS [LOGTAG]]
#   One pgbench run of SCRIPT (file name in test/bench) with CLIENTS clients.
#   Prints the tps (without initial connection time) on stdout; the full
#   pgbench output goes to bench-results/logs/[LOGTAG]NAME-cCLIENTS.log.
#   Returns non-zero (and shows the log's tail on stderr) if pgbench failed,
#   a client aborted or any transaction failed.
run_workload() {
    local name=$1 script=$2 clients=$3 secs=${4:-$BENCH_SECONDS} tag=${5:-}
    local threads=$((clients < BENCH_THREADS ? clients : BENCH_THREADS))
    local logf="$LOGDIR/${tag}${name}-c${clients}.log" rc=0 tps failed
    local walq="SELECT wal_bytes, wal_fpi FROM pg_stat_wal" wal0 wal1
    q "CHECKPOINT" >/dev/null
    wal0=$(q "$walq" || true)
    as_pg "$PGBENCH" -n -M prepared -c "$clients" -j "$threads" -T "$secs" \
        -D lo="$LO" -D hi="$HI" -D naccounts="$NACCOUNTS" \
        -f "$SCRIPTS/$script" "$DB" >"$logf" 2>&1 || rc=$?
    wal1=$(q "$walq" || true)
    # WAL written during the run (whole cluster: the run is all that happens).
    echo "wal: $wal0 $wal1" >>"$logf"
    tps=$(awk '/^tps = / { print $3; exit }' "$logf")
    failed=$(awk -F'[: ]+' '/^number of failed transactions/ { print $5; exit }' "$logf")
    if [ "$rc" -ne 0 ] || [ -z "$tps" ] || [ "${failed:-0}" != 0 ]; then
        {
            echo "bench: $name with $clients clients failed (pgbench exit $rc," \
                "failed transactions ${failed:-?}); from $logf:"
            grep -E 'ERROR|aborted|FATAL|DETAIL|HINT' "$logf" | sort | uniq -c | sort -rn | head -n 10
            grep -E '^(number of|tps)' "$logf"
        } >&2
        return 1
    fi
    printf '%.0f\n' "$tps"
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
    for f in "$LOGDIR/$1"-c*.log "$LOGDIR/warmup-$1"-c*.log; do
        [ -f "$f" ] || continue
        c=$(awk -F': ' '/^number of transactions actually processed/ { split($2, a, "/"); print a[1]; exit }' "$f")
        n=$((n + ${c:-0}))
    done
    echo "$n"
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

log "setup: extension, $NACCOUNTS funded accounts, baseline table"
as_pg "$PSQL" -X -q -v ON_ERROR_STOP=1 -v naccounts="$NACCOUNTS" -v fund="$FUND" \
    -d "$DB" -f "$SCRIPTS/setup.sql" >/dev/null \
    || die "setup.sql failed"

IFS='|' read -r LO HI NACC <<<"$(q "SELECT min(account_id), max(account_id), count(*)
    FROM creditledger.accounts WHERE code LIKE 'bench-acct-%'")"
[ "$NACC" = "$NACCOUNTS" ] && [ $((HI - LO + 1)) = "$NACCOUNTS" ] \
    || die "expected $NACCOUNTS accounts with contiguous ids, got $NACC in [$LO, $HI]"

TOTAL_BEFORE=$(q "SELECT coalesce(sum(balance), 0) FROM creditledger.accounts")
FUNDED_BEFORE=$(q "SELECT sum(balance) FROM creditledger.accounts WHERE code LIKE 'bench-acct-%'")
TRANSFERS_BEFORE=$(q "SELECT count(*) FROM creditledger.transfers WHERE voucher LIKE 'bench-%'")
[ "$FUNDED_BEFORE" = $((NACCOUNTS * FUND)) ] \
    || die "accounts hold $FUNDED_BEFORE after funding, expected $((NACCOUNTS * FUND))"

#--------------------------------------------------------------------------
# The runs
#--------------------------------------------------------------------------

declare -A TPS=()
RUN_FAILURES=0

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

#--------------------------------------------------------------------------
# Correctness after the load
#--------------------------------------------------------------------------

log "checking the ledger after the load"
CHECKS=()
CHECK_FAILURES=0
check() {   # check OK? TEXT
    if [ "$1" = ok ]; then CHECKS+=("- ok: $2"); else
        CHECKS+=("- **FAILED**: $2"); CHECK_FAILURES=$((CHECK_FAILURES + 1)); fi
}
sqlcheck() {   # sqlcheck SQL -> value, or "error" (and the error on stderr)
    q "$1" || echo error
}

problems=$(sqlcheck "SELECT count(*) FROM creditledger.verify_chain()")
[ "$problems" = 0 ] && s=ok || s=bad
check $s "verify_chain(): $problems problem rows (expected 0)"
if [ "$problems" != 0 ] && [ "$problems" != error ]; then
    q "SELECT account_id, sub_account, version, problem FROM creditledger.verify_chain() LIMIT 5" \
        | sed 's/^/    /' >&2 || true
fi

total=$(sqlcheck "SELECT coalesce(sum(balance), 0) FROM creditledger.accounts")
[ "$total" = "$TOTAL_BEFORE" ] && s=ok || s=bad
check $s "sum of all balances: $total (before the load: $TOTAL_BEFORE)"

funded=$(sqlcheck "SELECT sum(balance) FROM creditledger.accounts WHERE code LIKE 'bench-acct-%'")
[ "$funded" = "$FUNDED_BEFORE" ] && s=ok || s=bad
check $s "sum over the $NACCOUNTS bench accounts: $funded (before: $FUNDED_BEFORE)"

below=$(sqlcheck "SELECT count(*) FROM creditledger.accounts
                   WHERE min_balance IS NOT NULL AND balance < min_balance")
[ "$below" = 0 ] && s=ok || s=bad
check $s "accounts below their floor: $below"

heads=$(sqlcheck "SELECT count(*) FROM creditledger.accounts a
    LEFT JOIN LATERAL (SELECT j.balance_after FROM creditledger.journal j
                        WHERE j.account_id = a.account_id AND j.sub_account = 0
                        ORDER BY j.version DESC LIMIT 1) h ON true
    WHERE a.hot_mode = 'none' AND a.balance IS DISTINCT FROM coalesce(h.balance_after, 0)")
[ "$heads" = 0 ] && s=ok || s=bad
check $s "accounts whose balance differs from their chain head's balance_after: $heads"

IFS='|' read -r ntransfers nlegs <<<"$(sqlcheck "SELECT (SELECT count(*) FROM creditledger.transfers
                                                   WHERE kind = 'transfer'),
                                                  (SELECT count(*) FROM creditledger.journal)")"
s=bad
if [ -n "${nlegs:-}" ] && [ "$nlegs" = $((ntransfers * 2)) ]; then s=ok; fi
check $s "journal entries: ${nlegs:-?} for ${ntransfers:-?} transfers (expected 2 each)"

# pgbench counts the transactions it saw complete; a run cut off by -T may
# leave up to one in-flight call per client that still commits.
expected=0 slack=0
for w in "${WORKLOADS[@]}"; do
    [ "$(wl_field "$w" 4)" = transfer ] || continue
    expected=$((expected + $(processed "$(wl_field "$w" 1)")))
    slack=$((slack + TARGET_CLIENTS))
    for c in $BENCH_CLIENTS; do slack=$((slack + c)); done
done
committed=$(sqlcheck "SELECT count(*) FROM creditledger.transfers WHERE voucher LIKE 'bench-%'")
if [ "$committed" != error ]; then
    committed=$((committed - TRANSFERS_BEFORE))
    [ "$committed" -ge "$expected" ] && [ "$committed" -le $((expected + slack)) ] && s=ok || s=bad
else
    s=bad
fi
check $s "committed benchmark transfers: $committed (pgbench counted $expected, + at most $slack cut off by -T)"

# Diagnostics (information, not checks): how the account rows were updated.
HOT_INFO=$(q "SELECT string_agg(format('%s: %s updates, %s%% HOT', relname, n_tup_upd,
                  CASE WHEN n_tup_upd > 0 THEN round(100.0 * n_tup_hot_upd / n_tup_upd) ELSE 0 END),
                  '; ' ORDER BY relname)
              FROM pg_stat_user_tables WHERE schemaname = 'creditledger' AND n_tup_upd > 0" || true)

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
    awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'
}

{
    echo "## creditledger benchmark"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $mem RAM, PostgreSQL $pgversion, commit $commit."
    echo "pgbench -M prepared -T $BENCH_SECONDS -j $BENCH_THREADS (capped at the client count), warm-up ${BENCH_WARMUP}s;"
    echo "$NACCOUNTS funded accounts; shared_buffers = 1GB, synchronous_commit = on (default), same settings for all;"
    echo "runs interleaved per client count (baseline first), CHECKPOINT before each. pgbench runs on the same machine."
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
    echo "Correctness after the load:"
    echo
    printf '%s\n' "${CHECKS[@]}"
    [ "$RUN_FAILURES" -eq 0 ] || { echo; echo "**$RUN_FAILURES pgbench run(s) failed** (see bench-results/logs/)."; }
} >"$RESULTS"

echo
cat "$RESULTS"
echo
log "saved to ${RESULTS#"$SRC"/}"

[ "$RUN_FAILURES" -eq 0 ] && [ "$CHECK_FAILURES" -eq 0 ]
