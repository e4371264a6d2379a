# Shared by the instruction counters (instructions.sh, credit_instructions.sh,
# lending_instructions.sh, batch_instructions.sh): source it after lib.sh.
# cg_setup starts the counter's cluster; cg_total and cg_per_call then
# need $dir holding that cluster, stopped, in $dir/data and the caller's
# function `script KIND N` printing N calls of workload KIND as SQL, one
# per line.

# cg_setup NAME: check valgrind, start a throwaway cluster in a scratch
# directory ($dir) with no database for the worker, define q SQL (one
# statement in database postgres, unaligned), load test/bench/setup.sql
# (1000 funded accounts; HOTFUND, default 100000000000, on the hot ones)
# and set lo to the first funded account's id.
cg_setup() {
    command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }
    command -v callgrind_annotate >/dev/null || { echo "callgrind_annotate is not installed" >&2; exit 1; }
    scratch_dir "$1"; dir=$SCRATCH
    start_cluster "$dir" "$(free_port)" "creditledger.database = ''"
    q() { as_pg "$PGBIN/psql" -X -Atq -v ON_ERROR_STOP=1 -d postgres -c "$1"; }
    log "setup: test/bench/setup.sql"
    as_pg "$PGBIN/psql" -X -q -d postgres -v ON_ERROR_STOP=1 -v naccounts=1000 -v fund=1000000000 \
        -v hotfund="${HOTFUND:-100000000000}" -v shards=64 -f "$SRC/test/bench/setup.sql" >/dev/null
    lo=$(q "SELECT min(account_id) FROM creditledger.accounts WHERE code LIKE 'bench-acct-%'")
}

# cg_total KIND N KEEP [ARG...]: total instructions of a single-user
# backend (the library preloaded, no background worker) running `script
# KIND N ARG...` under callgrind on a fresh copy of $dir/data; exits on an
# ERROR in its output (left in $dir/single.log for further checks). KEEP,
# if not empty, is where the profile is copied.
cg_total() {
    local run=$dir/run out=$dir/cg.out
    rm -rf "$run" "$out"
    cp -a "$dir/data" "$run"
    script "$1" "$2" "${@:4}" >"$dir/script.sql"
    [ "$(grep -c '^SELECT' "$dir/script.sql")" -ge "$2" ] || { echo "no script for $1" >&2; exit 1; }
    as_pg valgrind --tool=callgrind --callgrind-out-file="$out" \
        "$PGBIN/postgres" --single -D "$run" -c creditledger.database= postgres \
        <"$dir/script.sql" >"$dir/single.log" 2>&1
    if grep -q ERROR "$dir/single.log"; then
        grep -m 3 ERROR "$dir/single.log" >&2
        echo "workload $1 failed" >&2
        exit 1
    fi
    if [ -n "$3" ]; then
        mkdir -p "$(dirname "$3")" && cp "$out" "$3"
    fi
    callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }'
}

# cg_per_call KIND KEEPDIR NAME: (Ir(300) - Ir(100)) / 200, or exit on a
# failed count; with KEEPDIR, the 300-call profile is kept as KEEPDIR/NAME
# and the 100-call one as KEEPDIR/NAME.100 (their difference is 200 calls).
cg_per_call() {
    local i1 i3
    i1=$(cg_total "$1" 100 "${2:+$2/$3.100}")
    i3=$(cg_total "$1" 300 "${2:+$2/$3}")
    [ -n "$i1" ] && [ -n "$i3" ] && [ "$i3" -gt "$i1" ] || { echo "no count for $1" >&2; exit 1; }
    echo $(( (i3 - i1) / 200 ))
}
