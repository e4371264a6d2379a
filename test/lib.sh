# Shared shell helpers for make demo / test / bench (sourced, not run).
#
# Owns: installing build and test dependencies, building and installing the
# extension, and starting/stopping throwaway clusters.  PostgreSQL refuses to
# run as root, so clusters run as the postgres OS user in a directory that
# user owns, on a non-default port, with the unix socket in that directory.
# A cluster started here is always stopped by the EXIT trap; nothing here
# touches a cluster it did not start.

PGVER=${PGVER:-15}
# PGBIN may point at another (relocated) installation of the same major version.
PGBIN=${PGBIN:-/usr/lib/postgresql/$PGVER/bin}
PG_CONFIG=$PGBIN/pg_config
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PGUSER_OS=postgres

# Packages the commands need; installed with apt-get when missing.
# prometheus provides promtool, prometheus-postgres-exporter the exporter and
# curl the scrape: test/t/003_monitoring.pl checks monitoring/ with them.
# libdbd-pg-perl gives test/t/005_model.pl its concurrent sessions; openssl
# is make bench's SHA-256 baseline.
DEPS="postgresql-$PGVER postgresql-server-dev-$PGVER postgresql-contrib
      libipc-run-perl libdbd-pg-perl make gcc openssl
      prometheus prometheus-postgres-exporter curl"

log() { printf '==> %s\n' "$*"; }

# as_pg CMD...: run a command as the postgres OS user.
as_pg() { runuser -u "$PGUSER_OS" -- "$@"; }

# ensure_deps: apt-get install whatever of DEPS is missing (idempotent).
ensure_deps() {
    local missing=() p
    for p in $DEPS; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
            || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        # Packages must not start services (a PostgreSQL main cluster, a
        # Prometheus server): policy-rc.d says no for the install's duration.
        local policy=/usr/sbin/policy-rc.d own_policy=""
        if [ ! -e "$policy" ]; then
            printf '#!/bin/sh\nexit 101\n' >"$policy"
            chmod +x "$policy"
            own_policy=1
        fi
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
        if [ -n "$own_policy" ]; then rm -f "$policy"; fi
    fi
    id "$PGUSER_OS" >/dev/null 2>&1 || { echo "no $PGUSER_OS OS user" >&2; exit 1; }
}

# build_install [make args...]: build and install the extension (as root).
build_install() {
    log "building and installing creditledger"
    make -C "$SRC" -s PG_CONFIG="$PG_CONFIG" "$@" all >/dev/null
    make -C "$SRC" -s PG_CONFIG="$PG_CONFIG" "$@" install >/dev/null
}

# scratch_dir NAME: make a fresh directory owned by postgres, removed on
# exit, and leave its path in SCRATCH (not echoed: a $(...) subshell would
# lose the cleanup registration).
scratch_dir() {
    SCRATCH=$(mktemp -d "/tmp/creditledger-$1.XXXXXX")
    chown "$PGUSER_OS": "$SCRATCH"
    chmod 755 "$SCRATCH"
    CLEANUP_DIRS="${CLEANUP_DIRS:-} $SCRATCH"
}

# free_port: a TCP port on loopback nobody listens on (from 54330 up).
free_port() {
    local p=54330
    while (echo >"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done
    echo "$p"
}

# start_cluster DIR PORT [extra postgresql.conf lines...]: initdb + start.
start_cluster() {
    local dir=$1 port=$2; shift 2
    as_pg "$PGBIN/initdb" -D "$dir/data" -U postgres -A trust --no-sync >/dev/null
    {
        echo "port = $port"
        echo "listen_addresses = '127.0.0.1'"
        echo "unix_socket_directories = '$dir'"
        echo "shared_preload_libraries = 'creditledger'"
        for line in "$@"; do echo "$line"; done
    } >>"$dir/data/postgresql.conf"
    as_pg "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start >/dev/null
    CLEANUP_CLUSTERS="${CLEANUP_CLUSTERS:-} $dir/data"
    export PGHOST=$dir PGPORT=$port PGUSER=postgres
}

# cleanup: stop clusters we started, remove scratch directories.
cleanup() {
    local d
    for d in ${CLEANUP_CLUSTERS:-}; do
        [ -f "$d/postmaster.pid" ] && as_pg "$PGBIN/pg_ctl" -D "$d" -m immediate -w stop >/dev/null 2>&1
    done
    for d in ${CLEANUP_DIRS:-}; do
        [ -n "${KEEP_SCRATCH:-}" ] || rm -rf "$d"
    done
}
trap cleanup EXIT
