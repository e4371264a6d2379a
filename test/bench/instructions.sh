#!/usr/bin/env bash
# Instructions per call of the money-hold workloads, counted by callgrind:
# a measure that, unlike tps on a shared machine, does not move with the
# load of other processes (it counts work, not time: lock and WAL-flush
# waits are not in it).
#
#     PGBIN=/path/to/bin bash test/bench/instructions.sh
#                    (as root; the extension installed in PGBIN's tree)
#
# What it does: a throwaway cluster (lib.sh) gets test/bench/setup.sql
# (1000 funded accounts, the split account with 64 sub-accounts) and
# PRELOAD (default 20000) pending transfers, half of them posted, is
# vacuumed and analyzed, and stopped; then, for each workload, a single-user backend (postgres
# --single, the library preloaded, no background worker) runs N calls
# under valgrind --tool=callgrind, each call its own transaction, twice on
# fresh copies of that data directory: with 100 and with 300 calls.
# (Ir(300) - Ir(100)) / 200 is the cost of one call (one pair for
# pending_post) without the backend's start, cache warm-up and exit.
# Accounts and amounts come from a fixed pseudo-random sequence (the same
# in every run), between two distinct accounts of the first 500, as the
# pgbench scripts of the same names do.
#
# Workloads: transfer (transfer_uniform.sql), pending_post
# (transfer_pending + transfer_post), pending (pending_uniform.sql),
# pending_split (pending_out_of.sql from the split account), and, only
# when INSTR_ONLY names it, transfer_split (transfer_out_of.sql: a
# transfer from the split account).
# Prints one line per workload and the two ratios the money-hold targets
# are about.  Needs valgrind (apt-get install valgrind).
# INSTR_KEEP=DIR keeps each workload's 300-call callgrind profile there
# (DIR/KIND.callgrind, for callgrind_annotate --inclusive=yes).
# INSTR_ONLY="KIND ..." measures only those workloads.
# HOTFUND=N funds the split account with N instead of 1e11 (e.g. 38400:
# 600 a sub-account, so that decreases of up to 100 find sub-accounts
# near short and, as the backend drains one, short).
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/lib.sh"
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/callgrind.sh"

cg_setup instructions
split=$(q "SELECT account_id FROM creditledger.accounts WHERE code = 'bench-hot-out-split'")
# History, so that tables and indexes have the size of a ledger in use
# (on near-empty tables the planner's generic plans for the SQL a call
# issues may scan, and a call's cost then grows with every row added):
# PRELOAD pending transfers, half of them posted, half left open, then
# VACUUM ANALYZE.
PRELOAD=${PRELOAD:-20000}
log "preload: $PRELOAD pending transfers (half posted), VACUUM ANALYZE"
as_pg "$PGBIN/psql" -X -q -d postgres -v ON_ERROR_STOP=1 -c "
    SELECT count(creditledger.transfer_pending('pre-p' || i, $lo + i % 500, $lo + (i + 1 + i % 7) % 500, 1))
      FROM generate_series(1, $PRELOAD) AS i;
    SELECT count(creditledger.transfer_post('pre-q' || i, 'pre-p' || i))
      FROM generate_series(1, $PRELOAD, 2) AS i;" >/dev/null
as_pg "$PGBIN/psql" -X -q -d postgres -c "VACUUM ANALYZE" >/dev/null
as_pg "$PGBIN/pg_ctl" -D "$dir/data" -w stop >/dev/null

# script KIND N: N calls of workload KIND, one statement a line.
script() {
    awk -v kind="$1" -v n="$2" -v lo="$lo" -v sp="$split" 'BEGIN {
        srand(42);
        for (i = 0; i < n; i++) {
            a = lo + int(rand() * 500); b = lo + (a - lo + 1 + int(rand() * 499)) % 500;
            amt = 1 + int(rand() * 100);
            if (kind == "transfer")
                printf "SELECT creditledger.transfer(%cis-t%d%c, %d, %d, %d);\n", 39, i, 39, a, b, amt;
            else if (kind == "pending_post") {
                printf "SELECT creditledger.transfer_pending(%cis-p%d%c, %d, %d, %d);\n", 39, i, 39, a, b, amt;
                printf "SELECT creditledger.transfer_post(%cis-q%d%c, %cis-p%d%c);\n", 39, i, 39, 39, i, 39;
            } else if (kind == "pending")
                printf "SELECT creditledger.transfer_pending(%cis-p%d%c, %d, %d, %d);\n", 39, i, 39, a, b, amt;
            else if (kind == "pending_split")
                printf "SELECT creditledger.transfer_pending(%cis-s%d%c, %d, %d, %d);\n", 39, i, 39, sp, b, amt;
            else if (kind == "transfer_split")
                printf "SELECT creditledger.transfer(%cis-x%d%c, %d, %d, %d);\n", 39, i, 39, sp, b, amt;
        }
    }'
}

declare -A per
for kind in ${INSTR_ONLY:-transfer pending_post pending pending_split}; do
    log "$kind: 100 and 300 calls under callgrind"
    per[$kind]=$(cg_per_call "$kind" "${INSTR_KEEP:-}" "$kind.callgrind")
    printf '%-14s %8d instructions per call%s\n' "$kind" "${per[$kind]}" \
        "$([ "$kind" = pending_post ] && echo ' (pending + post)')"
done
[ -z "${INSTR_ONLY:-}" ] || exit 0
awk -v t="${per[transfer]}" -v pp="${per[pending_post]}" -v p="${per[pending]}" \
    -v ps="${per[pending_split]}" 'BEGIN {
    printf "transfer / (pending + post) = %.3f (the tps ratio pending_post / uniform500 were the calls CPU-bound)\n", t / pp;
    printf "pending / pending_split     = %.3f (likewise pending_split / pending_uniform)\n", p / ps;
}'
