# rounds.sh: the mirrored rounds of the credit engine's and the lending
# benches (credit_engine.sh, lending.sh), sourced by both, with what each of
# their runs starts from and the WAL each run writes.  A workload's rate is
# the mean of ROUNDS runs (BENCH_ROUNDS, default 4, even), every other
# round in the opposite order: every run grows the tables and indexes the
# next one meets, and in a mirrored schedule the compared workloads have
# the same mean position, so that growth cancels out of their ratio; more
# rounds average out more of the machine's run-to-run swings.  The caller
# keeps its rates in the associative array TPS, one round's as
# TPS[NAME:CLIENTS:ROUND], and defines q, a query on the bench database.

# ROUNDS_CONF: the server settings of both benches' clusters: bench.sh's
# (shared_buffers, a WAL size and checkpoint_timeout at which checkpoints
# come only where run_prepare asks), with autovacuum off (run_prepare).
ROUNDS_CONF=(
    "shared_buffers = 1GB" "max_connections = 200" "max_wal_size = 8GB" "min_wal_size = 1GB"
    "checkpoint_timeout = 30min" "checkpoint_completion_target = 0.9" "work_mem = 16MB"
    "log_min_messages = warning" "log_line_prefix = '%m [%p] %e '" "creditledger.database = ''"
    "autovacuum = off"
)

ROUNDS=${BENCH_ROUNDS:-4}
[ $((ROUNDS % 2)) = 0 ] && [ "$ROUNDS" -ge 2 ] ||
    { echo "BENCH_ROUNDS must be even and at least 2, not '$ROUNDS'" >&2; exit 2; }

# rounds_run CMD WORKLOAD...: ROUNDS rounds of "CMD WORKLOAD" for each
# workload, in the given order in odd rounds and the opposite one in even
# rounds, with ROUND set to the round's number (1 .. ROUNDS).
rounds_run() {
    local cmd=$1 i; shift
    for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
        if [ $((ROUND % 2)) = 1 ]; then
            for ((i = 1; i <= $#; i++)); do "$cmd" "${!i}"; done
        else
            for ((i = $#; i >= 1; i--)); do "$cmd" "${!i}"; done
        fi
    done
}

# rounds_mean NAME:CLIENTS: the mean of its rounds' rates into TPS[NAME:CLIENTS].
rounds_mean() {
    TPS[$1]=$(for ((r = 1; r <= ROUNDS; r++)); do echo "${TPS[$1:$r]:-0}"; done |
              awk '{ s += $1 } END { printf "%.0f", s / NR }')
}

# pct A B: A as a percentage of B ("n/a" without B).
pct() { awk -v a="${1:-0}" -v b="${2:-0}" 'BEGIN { if (b > 0) printf "%.0f%%", 100 * a / b; else print "n/a" }'; }

# rounds_ratios NAME BASE CLIENTS: each round's ratio of NAME to BASE, "a / b / ...".
rounds_ratios() {
    local r out=""
    for ((r = 1; r <= ROUNDS; r++)); do
        out+="${out:+ / }$(pct "${TPS[$1:$3:$r]:-}" "${TPS[$2:$3:$r]:-}")"
    done
    echo "$out"
}

# run_prepare: what every run of these benches starts from, whatever ran
# before it: a VACUUM ANALYZE (the clusters run with autovacuum = off, so
# that no vacuum of a grown table lands inside one run and not in another:
# on two cores one worker takes half the machine; this does autovacuum's
# work between the runs, outside the measured window, and keeps the
# planner's statistics as fresh), a CHECKPOINT (no dirty buffers and no
# checkpoint left over from the previous run), and pg_stat_wal zeroed for
# wal_end.
run_prepare() {
    q "VACUUM (ANALYZE)" >/dev/null
    q "CHECKPOINT" >/dev/null
    q "SELECT pg_catalog.pg_stat_reset_shared('wal')" >/dev/null
}

# WAL per run (pg_stat_wal, zeroed by run_prepare): wal_end
# NAME:CLIENTS:ROUND TPS SECONDS keeps the run's WAL bytes per transaction
# in WALB[...] and the share of them that full-page images make (at 8,192
# bytes each, an upper bound: an image leaves out its page's hole) in
# FPI[...].  They explain a ratio: a workload that touches more distinct
# pages after each CHECKPOINT writes more images, and at 64 clients the
# commit's WAL flush is what most sessions wait on.
declare -A WALB=() FPI=()
wal_end() {
    local st
    st=$(q "SELECT wal_bytes || ' ' || wal_fpi FROM pg_catalog.pg_stat_wal")
    WALB[$1]=$(awk -v b="${st% *}" -v t="${2:-0}" -v s="$3" 'BEGIN { if (t > 0) printf "%.0f", b / (t * s); else print 0 }')
    FPI[$1]=$(awk -v b="${st% *}" -v f="${st#* }" 'BEGIN { if (b > 0) printf "%.0f", 100 * f * 8192 / b; else print 0 }')
}

# rounds_wal NAME:CLIENTS: "B bytes (F% images)", the means over the rounds.
rounds_wal() {
    local r b=0 f=0
    for ((r = 1; r <= ROUNDS; r++)); do
        b=$((b + ${WALB[$1:$r]:-0})); f=$((f + ${FPI[$1:$r]:-0}))
    done
    echo "$((b / ROUNDS)) bytes ($((f / ROUNDS))% images)"
}
