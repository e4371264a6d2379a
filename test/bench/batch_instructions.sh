#!/usr/bin/env bash
# Instructions per transfer, single calls against post_batch, counted by
# callgrind (a measure that does not move with the load of other processes:
# it counts work, not time; lock and WAL-flush waits are not in it).
#
#     PGBIN=/path/to/bin bash test/bench/batch_instructions.sh
#                    (as root; the extension installed in PGBIN's tree)
#
# A throwaway cluster (lib.sh) gets test/bench/setup.sql (1000 funded
# accounts) and PRELOAD (default 20000) transfers, is vacuumed and
# analyzed, and stopped; then a single-user backend (postgres --single, no
# background worker) runs each workload under valgrind --tool=callgrind on a
# fresh copy of that data directory, twice, and the difference of the two
# counts divided by the difference in transfers is the cost of one transfer
# without the backend's start, warm-up and exit:
#   transfer  100 / 300 single transfer() calls, each its own transaction;
#   batch     1 / 3 post_batch calls of 100 transfers, each its own
#             transaction (the items are literal JSON: no generation cost);
#   batch1000 1 / 3 post_batch calls of 1,000 transfers;
#   mixed     1 / 3 post_batch calls of 100 items alternating transfer and
#             pending (not in the default list: WORKLOADS=mixed).
# Transfers go between two distinct accounts of the first 500, drawn from a
# fixed pseudo-random sequence (the same in every run).
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/lib.sh"
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/callgrind.sh"

cg_setup batch-instructions
PRELOAD=${PRELOAD:-20000}
log "preload: $PRELOAD transfers, VACUUM ANALYZE"
as_pg "$PGBIN/psql" -X -q -d postgres -v ON_ERROR_STOP=1 -c "
    SELECT count(creditledger.transfer('pre-t' || i, $lo + i % 500, $lo + (i + 1 + i % 7) % 500, 1))
      FROM generate_series(1, $PRELOAD) AS i;" >/dev/null
as_pg "$PGBIN/psql" -X -q -d postgres -c "VACUUM ANALYZE" >/dev/null
as_pg "$PGBIN/pg_ctl" -D "$dir/data" -w stop >/dev/null

# script KIND CALLS SIZE: CALLS statements of workload KIND, one a line
# (SIZE transfers per post_batch call).
script() {
    awk -v kind="$1" -v n="$2" -v size="$3" -v lo="$lo" 'BEGIN {
        srand(42); k = 0;
        for (i = 0; i < n; i++) {
            if (kind == "transfer") {
                a = lo + int(rand() * 500); b = lo + (a - lo + 1 + int(rand() * 499)) % 500;
                printf "SELECT creditledger.transfer(%cis-t%d%c, %d, %d, %d);\n", 39, i, 39, a, b, 1 + int(rand() * 100);
                continue;
            }
            printf "SELECT count(*) FILTER (WHERE sqlstate IS NOT NULL) FROM creditledger.post_batch(%c[", 39;
            for (j = 0; j < size; j++) {
                a = lo + int(rand() * 500); b = lo + (a - lo + 1 + int(rand() * 499)) % 500;
                printf "%s{\"op\": \"%s\", \"voucher\": \"ib-%d\", \"debit\": %d, \"credit\": %d, \"amount\": %d}",
                    (j ? ", " : ""), (kind == "mixed" && j % 2 ? "pending" : "transfer"), k++, a, b,
                    1 + int(rand() * 100);
            }
            printf "]%c);\n", 39;
        }
    }'
}

# irs KIND CALLS SIZE: total instructions of a single-user backend running
# it (cg_total), refusing a count in which any batch item was refused.
irs() {
    local total
    total=$(cg_total "$1" "$2" "${KEEP_PROFILE:+$KEEP_PROFILE.$1.$2}" "$3") || exit 1
    if [ "$1" != transfer ] && grep -q 'count = "[1-9]' "$dir/single.log"; then
        echo "workload $1: items refused" >&2
        exit 1
    fi
    echo "$total"
}

# per_transfer KIND C1 C2 SIZE: (Ir(C2 calls) - Ir(C1 calls)) / transfers between.
per_transfer() {
    local i1 i2
    i1=$(irs "$1" "$2" "$4")
    i2=$(irs "$1" "$3" "$4")
    [ -n "$i1" ] && [ -n "$i2" ] && [ "$i2" -gt "$i1" ] || { echo "no count for $1" >&2; exit 1; }
    echo $(( (i2 - i1) / (($3 - $2) * $4) ))
}

WORKLOADS=${WORKLOADS:-transfer batch batch1000}
declare -A per
for kind in $WORKLOADS; do
    case $kind in
        transfer) per[$kind]=$(per_transfer transfer 100 300 1) ;;
        batch) per[$kind]=$(per_transfer batch 1 3 100) ;;
        batch1000) per[$kind]=$(per_transfer batch 1 3 1000) ;;
        mixed) per[$kind]=$(per_transfer mixed 1 3 100) ;;
    esac
    printf '%-10s %8d instructions per transfer (per item for mixed)\n' "$kind" "${per[$kind]}"
done
if [ -n "${per[transfer]:-}" ]; then
    for kind in batch batch1000; do
        [ -n "${per[$kind]:-}" ] && awk -v t="${per[transfer]}" -v b="${per[$kind]}" -v k="$kind" \
            'BEGIN { printf "transfer / %s = %.2f\n", k, t / b }'
    done
fi
exit 0
