#!/usr/bin/env bash
# How long a post_batch holds its account locks, alone and under load.
#
#     PGBIN=/path/to/bin bash test/bench/batch_lock_hold.sh
#                    (as root; the extension installed in PGBIN's tree)
#
# post_batch logs at DEBUG1, per call, the time from its first lock (the
# pending rows, then the accounts, ascending) to the end of its work:
#   "creditledger: post_batch of N items held M account locks for X ms"
# (the locks are then held on until the commit, whose WAL flush is not in
# X).  A throwaway cluster (lib.sh) gets test/bench/batch_setup.sql with
# ACCOUNTS (default 1000) funded accounts; then, for each client count of
# CLIENTS (default "1 16"), HOLD_SECONDS (default 10) of pgbench running
# batch_uniform.sql (N, default 100, uniform transfers per call) with
# log_min_messages = debug1 for that database.  Prints, per client count,
# calls/s and the lock hold time's mean, median and 90th percentile.
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/lib.sh"

ACCOUNTS=${ACCOUNTS:-1000}
CLIENTS=${CLIENTS:-1 16}
SECONDS_EACH=${HOLD_SECONDS:-10}
N=${N:-100}

scratch_dir batch-lock-hold; dir=$SCRATCH
start_cluster "$dir" "$(free_port)" "creditledger.database = ''" "max_connections = 40" \
    "max_locks_per_transaction = 256" "shared_buffers = 256MB" "log_line_prefix = '%m [%p] '"
as_pg "$PGBIN/createdb" lockhold
log "setup: test/bench/batch_setup.sql, $ACCOUNTS accounts"
as_pg "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -v naccounts="$ACCOUNTS" -v fund=1000000000 -v npool=0 \
    -d lockhold -f "$SRC/test/bench/batch_setup.sql" >/dev/null
IFS='|' read -r lo hi <<<"$(as_pg "$PGBIN/psql" -X -Atq -d lockhold -c \
    "SELECT min(account_id), max(account_id) FROM creditledger.accounts WHERE code LIKE 'bb-acct-%'")"
as_pg "$PGBIN/psql" -X -q -d lockhold -c "ALTER DATABASE lockhold SET log_min_messages = debug1" >/dev/null

printf '%-8s %9s %8s %10s %10s %10s %9s\n' clients "calls/s" calls "mean ms" "median ms" "p90 ms" accounts
for c in $CLIENTS; do
    log_start=$(wc -l <"$dir/server.log")
    tps=$(as_pg "$PGBIN/pgbench" -n -c "$c" -j "$c" -T "$SECONDS_EACH" -f "$SRC/test/bench/batch_uniform.sql" \
        -D lo="$lo" -D naccounts="$ACCOUNTS" -D n="$N" -D hot=0 lockhold 2>&1 |
        awk '/^tps/ { print $3; exit }')
    tail -n +"$((log_start + 1))" "$dir/server.log" |
        sed -n 's/.*post_batch of [0-9]* items held \([0-9]*\) account locks for \([0-9.]*\) ms.*/\2 \1/p' |
        sort -n | awk -v c="$c" -v tps="$tps" '
            { t[NR] = $1; sum += $1; accs += $2 }
            END {
                if (NR == 0) { printf "%-8s %9s %8d (no log lines)\n", c, tps, 0; exit }
                p = int(NR * 0.9 + 0.5); if (p < 1) p = 1
                printf "%-8s %9.1f %8d %10.2f %10.2f %10.2f %9.0f\n", c, tps, NR, sum / NR,
                    t[int((NR + 1) / 2)], t[p], accs / NR
            }'
done
exit 0
