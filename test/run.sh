#!/usr/bin/env bash
# Entry point of `make demo`, `make test` and `make bench` (see Makefile).
#
# demo:  deps, build, install, throwaway cluster with the library preloaded,
#        test/demo.sql through psql, stop.
# test:  deps, build with -Werror, install, then PGXS installcheck (pg_regress,
#        isolation, TAP; each against its own temporary instance) run as the
#        postgres OS user in a scratch copy of the tree.  Exits non-zero on any
#        failure and prints the diffs.
# bench: deps, build, install, test/bench/bench.sh on a throwaway cluster.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

cmd=${1:?usage: run.sh demo|test|bench}
ensure_deps

case "$cmd" in
demo)
    build_install
    scratch_dir demo; dir=$SCRATCH
    start_cluster "$dir" "$(free_port)"
    log "running test/demo.sql"
    as_pg psql -X -q -v ON_ERROR_STOP=1 -d postgres -f "$SRC/test/demo.sql"
    ;;
test)
    build_install WERROR=1
    scratch_dir test; work=$SCRATCH
    mkdir "$work/src"
    tar -C "$SRC" -cf - --exclude=.git --exclude='*.o' --exclude='*.so' --exclude='*.bc' \
        --exclude=./results --exclude=./output_iso --exclude=./tmp_check \
        --exclude=./tmp_check_iso --exclude=./log . | tar -C "$work/src" -xf -
    chown -R "$PGUSER_OS": "$work"
    log "running pg_regress, isolation and TAP tests as $PGUSER_OS"
    status=0
    as_pg make -C "$work/src" -s PG_CONFIG="$PG_CONFIG" installcheck || status=$?
    if [ "$status" -ne 0 ]; then
        for f in "$work"/src/regression.diffs "$work"/src/output_iso/regression.diffs; do
            [ -f "$f" ] && { echo "---- $f"; cat "$f"; }
        done
        for f in "$work"/src/tmp_check/log/regress_log_*; do
            [ -f "$f" ] && { echo "---- $f (tail)"; tail -n 60 "$f"; }
        done
        echo "make test: FAILED" >&2
        exit "$status"
    fi
    log "all tests passed"
    ;;
bench)
    build_install
    bash "$SRC/test/bench/bench.sh"
    ;;
*)
    echo "unknown command $cmd" >&2; exit 2 ;;
esac
