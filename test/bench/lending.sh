#!/usr/bin/env bash
# The lending benchmark (issue 14), one run, side by side, on a throwaway
# cluster with the bench.sh server settings (BENCH_ONLY=lending):
#
#   transfer          transfer_uniform.sql (1000 funded accounts), 16 and 64 clients
#   disburse          lending_disburse.sql: credit_disburse_direct (immediate) on
#                     1000 lines under one hot group line, into the funded
#                     accounts, 16 and 64 clients
#   freeze+disburse   lending_freeze_disburse.sql: credit_freeze, then
#                     credit_disburse of it, one transaction, 16 and 64
#   use_direct        lending_use_direct.sql: the credit half alone
#                     (credit_use_direct on 1000 other lines under the same
#                     group, without receivable accounts), 16 and 64
#
# Order: at each client count the four workloads run in mirrored rounds
# (rounds.sh: transfer, disburse, freeze+disburse, use_direct, then
# use_direct ... transfer, and again), and a workload's rate is the mean
# of its runs, so that the tables' growth cancels out of the ratios.
#
# Target: disburse >= 60% of transfer at 16 and 64 clients (a credit use
# plus a transfer: 50-100% is the plausible range).  Checked after the load:
# the lending rules (credit_used_equals_receivable,
# credit_frozen_covers_disbursements_in_transit), credit_totals and
# verify_chain() find nothing; deadlocks in the server log are counted.
#
# Each run is one checkpoint interval: run_prepare (rounds.sh) ends in a
# CHECKPOINT, after which the first change of every page writes the whole
# page into the WAL, and a disbursement reaches about twice the distinct
# pages a transfer does (the journal index pages of each line's receivable
# account and of the borrowers, the credit journal's of each line).  So the
# length of a run is the checkpoint interval the ratio is measured at, and
# the default is 30 s, the shortest checkpoint_timeout PostgreSQL accepts
# (its default is 5 min, and its default max_wal_size of 1 GB starts one
# after about 540 MB of WAL, every 45 to 90 s at this bench's rates): a
# 10 s run, the engine bench's length, stands for a checkpoint every 10 s,
# more often than any checkpoint_timeout allows and than the defaults make
# (only a max_wal_size cut far below its default would).  BENCH_SECONDS=10
# measures that regime all the same (README, Lending).
#
# Environment: PGBIN, BENCH_SECONDS (default 30), BENCH_ROUNDS (default 4,
# even), BENCH_THREADS (default 2).
# Writes bench-results/lending.md.
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/lib.sh"
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/rounds.sh"

SECS=${BENCH_SECONDS:-30}
THREADS=${BENCH_THREADS:-2}
NLINES=1000
DB=bench
OUT=$SRC/bench-results
mkdir -p "$OUT/lending-logs"
scratch_dir lending; dir=$SCRATCH
cp "$SRC"/test/bench/*.sql "$dir"/ && chown -R "$PGUSER_OS": "$dir"
start_cluster "$dir" "$(free_port)" "${ROUNDS_CONF[@]}"
as_pg "$PGBIN/createdb" "$DB"
q() { as_pg "$PGBIN/psql" -X -qAt -v ON_ERROR_STOP=1 -d "$DB" -c "$1"; }

log "lending bench: setup"
as_pg "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -v naccounts=1000 -v fund=1000000000 \
    -v hotfund=100000000000 -v shards=64 -d "$DB" -f "$dir/setup.sql" >/dev/null
as_pg "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -v nlines=$NLINES -v line_limit=1000000000000 \
    -v group_limit=1000000000000000 -d "$DB" -f "$dir/lending_setup.sql" >/dev/null
read -r ALO AHI <<<"$(q "SELECT min(account_id) || ' ' || max(account_id) FROM creditledger.accounts WHERE code LIKE 'bench-acct-%'")"
read -r LLO LHI <<<"$(q "SELECT min(line_id) || ' ' || max(line_id) FROM creditledger.ledger_credit_lines WHERE code LIKE 'bl-line-%'")"
read -r CLO CHI <<<"$(q "SELECT min(line_id) || ' ' || max(line_id) FROM creditledger.ledger_credit_lines WHERE code LIKE 'bl-credit-%'")"
SLICES=$(q "SELECT hot_slices FROM creditledger.ledger_credit_lines WHERE code = 'bl-group'")

declare -A TPS=() FAILED=()
# run NAME CLIENTS SCRIPT ARGS...: one pgbench run; TPS[NAME:CLIENTS:ROUND]
# (ROUND: 1 .. ROUNDS, 0 for the warm-up); failed transactions add up in
# FAILED[NAME:CLIENTS].
run() {
    local name=$1 c=$2 script=$3 f; shift 3
    f="$OUT/lending-logs/$name-c$c-r$ROUND.log"
    run_prepare
    log "lending bench: $name, $c clients, ${SECS}s, round $ROUND"
    as_pg "$PGBIN/pgbench" -n -M prepared --failures-detailed -c "$c" -j "$THREADS" -T "$SECS" \
        "$@" -f "$dir/$script" "$DB" >"$f" 2>&1 || echo "pgbench exit $?" >>"$f"
    TPS[$name:$c:$ROUND]=$(awk '/^tps = / { printf "%.0f", $3; exit }' "$f")
    wal_end "$name:$c:$ROUND" "${TPS[$name:$c:$ROUND]}" "$SECS"
    FAILED[$name:$c]=$(( ${FAILED[$name:$c]:-0} +
        $(awk -F'[: ]+' '/^number of failed transactions/ { print $5; exit }' "$f" | grep . || echo 0) ))
}
L=(-D llo="$LLO" -D lhi="$LHI" -D alo="$ALO" -D ahi="$AHI")
workload() {
    case $1 in
        transfer) run transfer "$2" transfer_uniform.sql -D lo="$ALO" -D hi="$AHI" -D naccounts=1000 ;;
        disburse) run disburse "$2" lending_disburse.sql "${L[@]}" ;;
        freeze_disburse) run freeze_disburse "$2" lending_freeze_disburse.sql "${L[@]}" ;;
        use_direct) run use_direct "$2" lending_use_direct.sql -D clo="$CLO" -D chi="$CHI" ;;
    esac
}
WORKLOADS=(transfer disburse freeze_disburse use_direct)
# a short warm-up of each, then for each client count every workload in
# turn, and again in the opposite order; a workload's rate is the mean
SECS_SAVED=$SECS; SECS=3; ROUND=0
workload transfer 16; workload disburse 16
SECS=$SECS_SAVED
# at_clients WORKLOAD: the workload at $c clients.
at_clients() { workload "$1" "$c"; }
for c in 16 64; do
    rounds_run at_clients "${WORKLOADS[@]}"
    for w in "${WORKLOADS[@]}"; do rounds_mean $w:$c; done
done

met() { awk -v a="${1:-0}" -v b="${2:-0}" 'BEGIN { if (b > 0 && a >= 0.6 * b) print "met"; else print "NOT met" }'; }
CHECKS=$(q "SELECT coalesce(string_agg(rule || ' ' || status, ', ' ORDER BY rule), '') FROM creditledger.bcp_run(
                ARRAY['credit_used_equals_receivable', 'credit_frozen_covers_disbursements_in_transit',
                      'credit_totals', 'credit_records_consistent'], false)")
VERIFY=$(q "SELECT count(*) FROM creditledger.verify_chain()")
DISBURSED=$(q "SELECT count(*) || ' disbursements, group used ' || (SELECT used FROM creditledger.credit_lines WHERE code = 'bl-group')
                 FROM creditledger.credit_disbursements")
DEADLOCKS=$(grep -c '40P01' "$dir/server.log" || true)

{
    echo "# Lending benchmark ($(date -u '+%Y-%m-%d %H:%M UTC'), ${SECS}s per run, $NLINES lines under one hot group line of $SLICES slices)"
    echo
    echo "Rates: the mean of $ROUNDS runs, every other round in mirrored order (each round's ratio in brackets)."
    echo
    echo "| measure | tps | ratio | target |"
    echo "|---|---|---|---|"
    for c in 16 64; do
        echo "| transfer (uniform), $c clients | ${TPS[transfer:$c]:-?} | | |"
        echo "| credit_disburse_direct (immediate), $c clients | ${TPS[disburse:$c]:-?} | $(pct "${TPS[disburse:$c]:-}" "${TPS[transfer:$c]:-}") of transfer ($(rounds_ratios disburse transfer $c)): $(met "${TPS[disburse:$c]:-}" "${TPS[transfer:$c]:-}") | >= 60% |"
        echo "| credit_freeze + credit_disburse (one transaction), $c clients | ${TPS[freeze_disburse:$c]:-?} | $(pct "${TPS[freeze_disburse:$c]:-}" "${TPS[transfer:$c]:-}") of transfer ($(rounds_ratios freeze_disburse transfer $c)) | |"
        echo "| credit_use_direct alone (the credit half), $c clients | ${TPS[use_direct:$c]:-?} | $(pct "${TPS[use_direct:$c]:-}" "${TPS[transfer:$c]:-}") of transfer ($(rounds_ratios use_direct transfer $c)) | |"
    done
    echo
    echo "WAL per transaction, the mean over the rounds (pg_stat_wal; the share of it that full-page images make, which each run's CHECKPOINT starts afresh):"
    echo
    echo "| workload | 16 clients | 64 clients |"
    echo "|---|---|---|"
    for w in "${WORKLOADS[@]}"; do echo "| $w | $(rounds_wal $w:16) | $(rounds_wal $w:64) |"; done
    echo
    echo "Failed transactions: disburse ${FAILED[disburse:16]:-?}/${FAILED[disburse:64]:-?}, freeze+disburse ${FAILED[freeze_disburse:16]:-?}/${FAILED[freeze_disburse:64]:-?}."
    echo "Checks after the load: $CHECKS; $VERIFY verify_chain problems; $DISBURSED; deadlocks (40P01) in the server log: $DEADLOCKS."
} | tee "$OUT/lending.md"
