#!/usr/bin/env bash
# Instructions per call of the credit engine's workloads (issue 12), next to
# one uniform transfer, counted by callgrind as test/bench/instructions.sh
# counts the money-hold workloads: a measure that, unlike tps on a shared
# machine, does not move with the load of other processes (it counts work,
# not time: lock and WAL-flush waits are not in it).
#
#     PGBIN=/path/to/bin bash test/bench/credit_instructions.sh
#                    (as root; the extension installed in PGBIN's tree)
#
# What it does: a throwaway cluster (lib.sh) gets test/bench/setup.sql
# (1000 funded accounts) and test/bench/engine_setup.sql (the credit
# engine bench's lines: 1000 with no parent, 1000 under one hot parent
# with the default slice count, 1000 under customer -> hot group -> hot
# product), then PRELOAD (default 20000) freezes spread over those lines,
# half of them released, and as many transfers, is vacuumed and analyzed,
# and stopped; then, for each workload, a single-user backend (postgres
# --single, the library preloaded, no background worker) runs N calls
# under valgrind --tool=callgrind, each statement its own transaction,
# twice on fresh copies of that data directory: with 100 and with 300
# calls.  (Ir(300) - Ir(100)) / 200 is the cost of one call without the
# backend's start, cache warm-up and exit.  Lines, accounts and amounts
# come from a fixed pseudo-random sequence (the same in every run).
#
# Workloads (the rows of test/bench/credit_engine.sh):
#   transfer   one transfer() between two of the first 500 accounts
#   freeze     one credit_freeze on a line with no parent
#   free       credit_freeze + credit_unfreeze (two transactions), no parent
#   hot        the same under the hot parent
#   chain      the same under customer -> hot group -> hot product
# Prints one line per workload and the ratios the issue's targets are
# about (transfer / freeze would be the tps ratio freeze / transfer were
# the calls CPU-bound).  CALLGRIND_KEEP=DIR keeps the 300-call profiles
# there (DIR/cg.KIND.out, the 100-call ones beside: cg.KIND.out.100) for
# callgrind_annotate.  ONLY="freeze free"
# restricts the workloads.  Needs valgrind.
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/lib.sh"
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/callgrind.sh"

cg_setup credit-instructions
log "setup: engine_setup.sql"
as_pg "$PGBIN/psql" -X -q -d postgres -v ON_ERROR_STOP=1 -v nlines=1000 -v line_limit=1000000000000 \
    -v parent_limit=1000000000000000 -v race_limit=5000 -f "$SRC/test/bench/engine_setup.sql" >/dev/null
first() { q "SELECT min(line_id) FROM creditledger.ledger_credit_lines WHERE code ~ '^$1-[0-9]+\$'"; }
free=$(first be-free); hot=$(first be-hot); chain=$(first be-chain)

# History, so that tables and indexes have the size of a ledger in use:
# PRELOAD freezes over the three groups of lines (100 per transaction),
# every other one released, and PRELOAD transfers; then VACUUM ANALYZE.
PRELOAD=${PRELOAD:-20000}
log "preload: $PRELOAD freezes (half released) and $PRELOAD transfers, VACUUM ANALYZE"
awk -v n="$PRELOAD" -v free="$free" -v hot="$hot" -v chain="$chain" -v lo="$lo" 'BEGIN {
    for (b = 0; b < n; b += 100) {
        base = (b / 100) % 3 == 0 ? free : ((b / 100) % 3 == 1 ? hot : chain);
        printf "SELECT count(creditledger.credit_freeze(%d + i %% 1000, 1 + i %% 50, %cpre-f%c || i)) FROM generate_series(%d, %d) AS i;\n", base, 39, 39, b, b + 99;
        printf "SELECT count(creditledger.credit_unfreeze(%cpre-f%c || i, %cpre-u%c || i)) FROM generate_series(%d, %d, 2) AS i;\n", 39, 39, 39, 39, b, b + 99;
        printf "SELECT count(creditledger.transfer(%cpre-t%c || i, %d + i %% 500, %d + (i + 1 + i %% 7) %% 500, 1)) FROM generate_series(%d, %d) AS i;\n", 39, 39, lo, lo, b, b + 99;
    }
}' >"$dir/preload.sql"
as_pg "$PGBIN/psql" -X -q -d postgres -v ON_ERROR_STOP=1 -f "$dir/preload.sql" >/dev/null
q "VACUUM ANALYZE" >/dev/null
as_pg "$PGBIN/pg_ctl" -D "$dir/data" -w stop >/dev/null

# script KIND N: N calls of workload KIND, one statement a line.
script() {
    awk -v kind="$1" -v n="$2" -v lo="$lo" -v free="$free" -v hot="$hot" -v chain="$chain" 'BEGIN {
        srand(42);
        for (i = 0; i < n; i++) {
            a = lo + int(rand() * 500); b = lo + (a - lo + 1 + int(rand() * 499)) % 500;
            amt = 1 + int(rand() * 100);
            k = int(rand() * 1000);
            if (kind == "transfer")
                printf "SELECT creditledger.transfer(%cis-t%d%c, %d, %d, %d);\n", 39, i, 39, a, b, amt;
            else if (kind == "freeze")
                printf "SELECT creditledger.credit_freeze(%d, %d, %cis-f%d%c);\n", free + k, amt, 39, i, 39;
            else {
                line = (kind == "free" ? free : (kind == "hot" ? hot : chain)) + k;
                printf "SELECT creditledger.credit_freeze(%d, %d, %cis-f%d%c);\n", line, amt, 39, i, 39;
                printf "SELECT creditledger.credit_unfreeze(%cis-f%d%c, %cis-u%d%c);\n", 39, i, 39, 39, i, 39;
            }
        }
    }'
}

declare -A per
for kind in ${ONLY:-transfer freeze free hot chain}; do
    log "$kind: 100 and 300 calls under callgrind"
    per[$kind]=$(cg_per_call "$kind" "${CALLGRIND_KEEP:-}" "cg.$kind.out")
    printf '%-9s %8d instructions per call%s\n' "$kind" "${per[$kind]}" \
        "$(case $kind in free|hot|chain) echo ' (freeze + unfreeze)';; esac)"
done
awk -v t="${per[transfer]:-0}" -v f="${per[freeze]:-0}" -v fr="${per[free]:-0}" \
    -v h="${per[hot]:-0}" -v c="${per[chain]:-0}" 'BEGIN {
    if (t > 0 && f > 0) printf "transfer / freeze = %.3f (target of the tps ratio freeze / transfer: >= 0.80)\n", t / f;
    if (fr > 0 && h > 0) printf "free / hot        = %.3f (target of hot / free: >= 0.90)\n", fr / h;
    if (fr > 0 && c > 0) printf "free / chain      = %.3f (target of chain / free: >= 0.75)\n", fr / c;
}'
