# Shared by the instruction counters (instructions.sh, credit_instructions.sh,
# lending_instructions.sh): source it after lib.sh, with $dir holding a
# stopped cluster's data directory in $dir/data and the caller's function
# `script KIND N` printing N calls of workload KIND as SQL, one per line.

# cg_total KIND N KEEP: total instructions of a single-user backend (the
# library preloaded, no background worker) running `script KIND N` under
# callgrind on a fresh copy of $dir/data; exits on an ERROR in its output.
# KEEP, if not empty, is where the profile is copied.
cg_total() {
    local run=$dir/run out=$dir/cg.out
    rm -rf "$run" "$out"
    cp -a "$dir/data" "$run"
    script "$1" "$2" >"$dir/script.sql"
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
# failed count; with KEEPDIR, the 300-call profile is kept as KEEPDIR/NAME.
cg_per_call() {
    local i1 i3
    i1=$(cg_total "$1" 100 "")
    i3=$(cg_total "$1" 300 "${2:+$2/$3}")
    [ -n "$i1" ] && [ -n "$i3" ] && [ "$i3" -gt "$i1" ] || { echo "no count for $1" >&2; exit 1; }
    echo $(( (i3 - i1) / 200 ))
}
