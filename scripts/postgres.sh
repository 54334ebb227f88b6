#!/usr/bin/env bash
# A throwaway PostgreSQL server on loopback for the tests (and for trying the
# PostgreSQL variant by hand):
#   bash scripts/postgres.sh start   # prints the SQLAlchemy URL on stdout
#   bash scripts/postgres.sh stop    # stops it by PID and removes its data
# Installs the Debian package when no server is on the machine. initdb refuses to
# run as root, so as root it runs as the `postgres` user on a folder that user owns.
set -euo pipefail
PORT="${RAGBENCH_PG_PORT:-54329}"
STATE="${RAGBENCH_PG_DIR:-/tmp/ragbench-pg-$PORT}"
DATA="$STATE/data"

pg_bin() {
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
    if [ -z "$d" ] && command -v pg_ctl >/dev/null; then d=$(dirname "$(command -v pg_ctl)"); fi
    echo "$d"
}

as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start() {
    local bin
    bin=$(pg_bin)
    if [ -z "$bin" ]; then
        echo "installing postgresql (Debian package)…" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null 2>&1 || {
            apt-get update -q >/dev/null 2>&1
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null; }
        bin=$(pg_bin)
    fi
    if [ -f "$DATA/postmaster.pid" ] && kill -0 "$(head -1 "$DATA/postmaster.pid")" 2>/dev/null; then
        echo "postgresql+psycopg://postgres@127.0.0.1:$PORT/postgres"
        return
    fi
    rm -rf "$STATE"
    mkdir -p "$STATE/sock"
    [ "$(id -u)" = 0 ] && chown -R postgres: "$STATE"
    as_owner "$bin/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 --no-locale >/dev/null
    as_owner "$bin/pg_ctl" -D "$DATA" -l "$STATE/server.log" -w -t 60 start \
        -o "-c listen_addresses=127.0.0.1 -p $PORT -k $STATE/sock -c fsync=off \
            -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" >/dev/null
    echo "postgresql+psycopg://postgres@127.0.0.1:$PORT/postgres"
}

stop() {
    [ -f "$DATA/postmaster.pid" ] || { rm -rf "$STATE"; return 0; }
    local pid
    pid=$(head -1 "$DATA/postmaster.pid")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    rm -rf "$STATE"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
