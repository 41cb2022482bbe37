# scripts/lib/pg.sh — a private PostgreSQL cluster on a unix socket inside a folder.
#
# PostgreSQL refuses to run as root: when we are root the cluster belongs to Debian's
# `postgres` account and every server command runs through runuser. The socket lives in the
# cluster folder, so nothing listens on TCP and two clusters never collide.

lode_pg_bindir() {
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [ -n "$d" ] || { echo "PostgreSQL server binaries not found" >&2; return 1; }
    echo "$d"
}

lode_pg_as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# lode_pg_start DIR: initialise DIR (once) and start the server; sets LODE_PG_DIR and
# LODE_PG_URL (a libpq URI for database "lode").
lode_pg_start() {
    local dir="$1" bin
    bin=$(lode_pg_bindir) || return 1
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if [ "$(id -u)" -eq 0 ]; then
        chown postgres:postgres "$dir"
        # the postgres account must be able to reach the folder
        local p="$dir"
        while [ "$p" != "/" ]; do p=$(dirname "$p"); chmod o+x "$p" 2>/dev/null || true; done
    fi
    chmod 700 "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        lode_pg_as_owner "$bin/initdb" -D "$dir/data" -U lode --auth=trust -E UTF8 \
            --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
            { cat "$dir/initdb.log" >&2; return 1; }
    fi
    if ! lode_pg_as_owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
        lode_pg_as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
            -o "-c listen_addresses='' -c unix_socket_directories='$dir' -c max_connections=200 -c fsync=${LODE_PG_FSYNC:-on}" \
            start >/dev/null || { tail -20 "$dir/server.log" >&2; return 1; }
    fi
    LODE_PG_DIR="$dir"
    lode_pg_as_owner "$bin/psql" -h "$dir" -U lode -d postgres -qAtc \
        "SELECT 1 FROM pg_database WHERE datname='lode'" | grep -q 1 ||
        lode_pg_as_owner "$bin/createdb" -h "$dir" -U lode lode
    # libpq URI with the socket folder as host (percent-encoded)
    LODE_PG_URL="postgresql://lode@$(printf '%s' "$dir" | sed 's|/|%2F|g')/lode"
    export LODE_PG_DIR LODE_PG_URL
}

# lode_pg_stop DIR: stop the server if it runs.
lode_pg_stop() {
    local dir="$1" bin
    bin=$(lode_pg_bindir) || return 0
    [ -f "$dir/data/PG_VERSION" ] || return 0
    lode_pg_as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
}

# lode_pg_throwaway FSYNC: a private cluster in a new temporary folder (LODE_PG_TMP; the cluster
# in $LODE_PG_TMP/pg, LODE_PG_URL set as by lode_pg_start), stopped and removed when the shell
# exits; FSYNC on or off (benchmarks run with it off: they measure statements, not the disk).
lode_pg_throwaway() {
    LODE_PG_TMP=$(mktemp -d /tmp/lode-bench-pg.XXXXXX)
    trap 'lode_pg_stop "$LODE_PG_TMP/pg"; rm -rf "$LODE_PG_TMP"' EXIT
    LODE_PG_FSYNC=$1 lode_pg_start "$LODE_PG_TMP/pg" >/dev/null
}
