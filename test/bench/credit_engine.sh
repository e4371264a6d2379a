#!/usr/bin/env bash
# The credit engine's benchmark (issue 12), one run, side by side, on a
# throwaway cluster with the bench.sh server settings:
#
#   transfer      transfer_uniform.sql (1000 funded accounts), 16 and 64 clients
#   freeze        credit_freeze_only.sql on 1000 lines with no parent (be-fz:
#                 not the pair baseline's, since its holds stay open), 16 and 64
#   free          credit_freeze_unfreeze.sql, lines with no parent, 64 clients
#   hot           the same under one hot parent, DEFAULT slice count, 64
#   chain         the same under customer -> hot group -> hot product, 64
#   race hot      credit_race.sql: 64 clients freeze 1..10 under one hot parent
#                 (default slices) of limit BENCH_RACE_LIMIT, nothing released
#   race plain    the same under a plain parent
#
# Order: the throughput workloads run in mirrored rounds (rounds.sh:
# transfer, freeze, freeze, transfer, ... at each client count; free, hot,
# chain, chain, hot, free, ...), and a workload's rate is the mean of its
# runs; every run adds rows (holds, journal entries, dead versions), and
# the mirrored schedule cancels that growth out of the ratios.
# Each round's ratio is in the report too.
#
# Targets: freeze >= 80% of transfer (16 and 64); hot >= 90% of free; chain
# >= 75% of free; each race: final frozen <= limit and > limit - 10 (within
# one freeze), no refused freeze that would have fitted at the end.
# Also checked: every line's frozen = its subtree's open holds, a hot line's
# slices plus its row hold exactly its available, verify_chain() is clean.
#
# Environment: PGBIN, BENCH_SECONDS (default 10), BENCH_ROUNDS (default 4,
# even), BENCH_RACE_LIMIT (default 5000: filled within the first seconds),
# BENCH_THREADS (default 2).  Writes bench-results/engine.md.
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/lib.sh"
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/rounds.sh"

SECS=${BENCH_SECONDS:-10}
THREADS=${BENCH_THREADS:-2}
RACE_LIMIT=${BENCH_RACE_LIMIT:-5000}
NLINES=1000
DB=bench
OUT=$SRC/bench-results
mkdir -p "$OUT/engine-logs"
scratch_dir engine; dir=$SCRATCH
cp "$SRC"/test/bench/*.sql "$dir"/ && chown -R "$PGUSER_OS": "$dir"
start_cluster "$dir" "$(free_port)" "${ROUNDS_CONF[@]}"
as_pg "$PGBIN/createdb" "$DB"
q() { as_pg "$PGBIN/psql" -X -qAt -v ON_ERROR_STOP=1 -d "$DB" -c "$1"; }

log "engine bench: setup"
as_pg "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -v naccounts=1000 -v fund=1000000000 \
    -v hotfund=100000000000 -v shards=64 -d "$DB" -f "$dir/setup.sql" >/dev/null
as_pg "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -v nlines=$NLINES -v line_limit=1000000000000 \
    -v parent_limit=1000000000000000 -v race_limit="$RACE_LIMIT" -d "$DB" -f "$dir/engine_setup.sql" >/dev/null
range() { q "SELECT min(line_id) || ' ' || max(line_id) FROM creditledger.ledger_credit_lines WHERE code ~ '^$1-[0-9]+\$'"; }
read -r ALO AHI <<<"$(q "SELECT min(account_id) || ' ' || max(account_id) FROM creditledger.accounts WHERE code LIKE 'bench-acct-%'")"
SLICES=$(q "SELECT hot_slices FROM creditledger.ledger_credit_lines WHERE code = 'be-hot-parent'")

declare -A TPS=()
RUN=0
# run NAME CLIENTS SCRIPT ARGS...: one pgbench run; TPS[NAME:CLIENTS] (and,
# when ROUND is set, TPS[NAME:CLIENTS:ROUND]).
run() {
    local name=$1 c=$2 script=$3 f t; shift 3
    RUN=$((RUN + 1)); f="$OUT/engine-logs/$name-c$c${ROUND:+-r$ROUND}.log"
    run_prepare
    log "engine bench: $name, $c clients, ${SECS}s${ROUND:+, round $ROUND}"
    as_pg "$PGBIN/pgbench" -n -M prepared --failures-detailed -c "$c" -j "$THREADS" -T "$SECS" \
        -D run=$RUN "$@" -f "$dir/$script" "$DB" >"$f" 2>&1 || echo "pgbench exit $?" >>"$f"
    t=$(awk '/^tps = / { printf "%.0f", $3; exit }' "$f")
    TPS[$name:$c]=$t
    if [ -n "${ROUND:-}" ]; then TPS[$name:$c:$ROUND]=$t; wal_end "$name:$c:$ROUND" "$t" "$SECS"; fi
    echo "failed: $(awk -F'[: ]+' '/^number of failed transactions/ { print $5; exit }' "$f")," \
         "aborted: $(grep -c 'aborted in command' "$f" || true)" >>"$f"
}
lines() { local r; r=$(range "$1"); echo "-D lo=${r% *} -D hi=${r#* }"; }
transfer_run() { run transfer "$1" transfer_uniform.sql -D lo="$ALO" -D hi="$AHI" -D naccounts=1000; }
# shellcheck disable=SC2046
freeze_only() { run freeze "$1" credit_freeze_only.sql $(lines be-fz); }
# shellcheck disable=SC2046
pair() { run "$1" 64 credit_freeze_unfreeze.sql $(lines "be-$1"); }

# at_clients WORKLOAD: transfer or freeze at $c clients.
at_clients() { if [ "$1" = transfer ]; then transfer_run "$c"; else freeze_only "$c"; fi; }

for c in 16 64; do
    rounds_run at_clients transfer freeze
    rounds_mean transfer:$c; rounds_mean freeze:$c
done
rounds_run pair free hot chain
for w in free hot chain; do rounds_mean $w:64; done
ROUND=
# shellcheck disable=SC2046
run race_hot 64 credit_race.sql $(lines be-race-hot) -D maxamount=10
# shellcheck disable=SC2046
run race_plain 64 credit_race.sql $(lines be-race-plain) -D maxamount=10

race() {
    q "SELECT frozen || '|' || limit_amount FROM creditledger.credit_lines WHERE code = '$1'"
}
IFS='|' read -r RH RL <<<"$(race be-race-hot-parent)"
IFS='|' read -r RP _ <<<"$(race be-race-plain-parent)"
bound() { if [ "$1" -le "$2" ] && [ "$1" -gt $(($2 - 10)) ]; then echo met; else echo "NOT met"; fi; }
CHECKS=$(q "
  WITH RECURSIVE down(top, id) AS (
      SELECT line_id, line_id FROM creditledger.ledger_credit_lines
      UNION SELECT d.top, k.child_id FROM creditledger.credit_line_links k JOIN down d ON k.parent_id = d.id)
  , open_holds(line_id, remaining) AS (
      SELECT line_id, sum(remaining) FROM creditledger.ledger_credit_holds
       WHERE status = 'open' GROUP BY line_id)
  , under(top, remaining) AS (
      SELECT d.top, sum(o.remaining) FROM down d JOIN open_holds o ON o.line_id = d.id GROUP BY d.top)
  SELECT (SELECT count(*) FROM creditledger.credit_lines l LEFT JOIN under u ON u.top = l.line_id
           WHERE l.frozen <> coalesce(u.remaining, 0)) || ' lines off their holds, ' ||
         (SELECT count(*) FROM creditledger.credit_lines l WHERE l.hot_slices > 0
             AND l.available <> (SELECT sum(headroom) FROM creditledger.credit_line_slices s
                                  WHERE s.line_id = l.line_id)) || ' hot lines whose slices differ from available, ' ||
         (SELECT count(*) FROM creditledger.credit_lines WHERE available < 0) || ' lines over their limit, ' ||
         (SELECT count(*) FROM creditledger.verify_chain()) || ' verify_chain problems'")
DEADLOCKS=$(grep -c '40P01' "$dir/server.log" || true)

{
    echo "# Credit engine benchmark ($(date -u '+%Y-%m-%d %H:%M UTC'), ${SECS}s per run, default slice count $SLICES)"
    echo
    echo "Throughput rows: the mean of $ROUNDS runs, every other round in mirrored order (each round's ratio in brackets)."
    echo
    echo "| measure | tps | ratio | target |"
    echo "|---|---|---|---|"
    for c in 16 64; do
        echo "| transfer (uniform), $c clients | ${TPS[transfer:$c]:-?} | | |"
        echo "| credit_freeze, no parent, $c clients | ${TPS[freeze:$c]:-?} | $(pct "${TPS[freeze:$c]:-}" "${TPS[transfer:$c]:-}") of transfer ($(rounds_ratios freeze transfer $c)) | >= 80% |"
    done
    echo "| freeze+unfreeze, no parent, 64 clients | ${TPS[free:64]:-?} | | |"
    echo "| freeze+unfreeze under one hot parent ($SLICES slices), 64 | ${TPS[hot:64]:-?} | $(pct "${TPS[hot:64]:-}" "${TPS[free:64]:-}") of no parent ($(rounds_ratios hot free 64)) | >= 90% |"
    echo "| freeze+unfreeze, customer -> hot group -> hot product, 64 | ${TPS[chain:64]:-?} | $(pct "${TPS[chain:64]:-}" "${TPS[free:64]:-}") of no parent ($(rounds_ratios chain free 64)) | >= 75% |"
    echo "| race, hot parent (limit $RL), 64 clients | ${TPS[race_hot:64]:-?} attempts/s | final frozen $RH: $(bound "$RH" "$RL") | <= limit, within one freeze (10) |"
    echo "| race, plain parent (limit $RL), 64 clients | ${TPS[race_plain:64]:-?} attempts/s | final frozen $RP: $(bound "$RP" "$RL") | same |"
    echo
    echo "WAL per pgbench transaction (a freeze; a freeze+unfreeze pair for free, hot and chain), the mean over the rounds (pg_stat_wal; the share of it that full-page images make, which each run's CHECKPOINT starts afresh): transfer $(rounds_wal transfer:16) / $(rounds_wal transfer:64) at 16 / 64 clients, freeze $(rounds_wal freeze:16) / $(rounds_wal freeze:64); at 64 clients free $(rounds_wal free:64), hot $(rounds_wal hot:64), chain $(rounds_wal chain:64)."
    echo
    echo "Checks after the load: $CHECKS; deadlocks (40P01) in the server log: $DEADLOCKS."
} | tee "$OUT/engine.md"
