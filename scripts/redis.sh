#!/usr/bin/env bash
# A throwaway Redis server on loopback, the Celery broker of the tests (and for
# trying scale-out by hand):
#   bash scripts/redis.sh start   # prints the broker URL on stdout
#   bash scripts/redis.sh stop    # stops it by PID and removes its state folder
# Installs the Debian package when no server is on the machine. Nothing is
# persisted (no RDB snapshots, no AOF): the database, not the broker, holds the
# state of every job, so a lost queue is rebuilt from it.
#   RAGBENCH_REDIS_PORT   port (default 63790)
#   RAGBENCH_REDIS_DIR    state folder: pid file and log (default /tmp/ragbench-redis-PORT)
set -euo pipefail
PORT="${RAGBENCH_REDIS_PORT:-63790}"
STATE="${RAGBENCH_REDIS_DIR:-/tmp/ragbench-redis-$PORT}"
PIDFILE="$STATE/redis.pid"
URL="redis://127.0.0.1:$PORT/0"

redis_bin() {
    command -v redis-server 2>/dev/null || { [ -x /usr/bin/redis-server ] && echo /usr/bin/redis-server; } || true
}

running() {
    [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null
}

# PING over a plain TCP socket (bash's /dev/tcp), so no redis-cli is needed.
answers() {
    (
        exec 3<>"/dev/tcp/127.0.0.1/$PORT" || exit 1
        printf 'PING\r\n' >&3
        read -r -t 1 reply <&3 || exit 1
        [ "${reply%$'\r'}" = "+PONG" ]
    ) 2>/dev/null
}

start() {
    local bin pid
    bin=$(redis_bin)
    if [ -z "$bin" ]; then
        echo "installing redis-server (Debian package)…" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server >/dev/null 2>&1 || {
            apt-get update -q >/dev/null 2>&1
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server >/dev/null; }
        bin=$(redis_bin)
        [ -n "$bin" ] || { echo "redis-server is not installed and could not be" >&2; exit 1; }
    fi
    if running && answers; then
        echo "$URL"
        return
    fi
    rm -rf "$STATE"
    mkdir -p "$STATE"
    "$bin" --bind 127.0.0.1 --port "$PORT" --daemonize no --save '' --appendonly no \
        --dir "$STATE" --logfile "$STATE/redis.log" </dev/null >/dev/null 2>&1 &
    pid=$!
    echo "$pid" >"$PIDFILE"
    # Ready only once *this* server says so: a PING could be answered by another
    # server already on the port while ours failed to bind.
    for _ in $(seq 1 100); do
        if grep -q "Ready to accept connections" "$STATE/redis.log" 2>/dev/null \
                && kill -0 "$pid" 2>/dev/null; then
            echo "$URL"
            return
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    echo "redis-server did not start on 127.0.0.1:$PORT; its log:" >&2
    cat "$STATE/redis.log" >&2 2>/dev/null || true
    kill -KILL "$pid" 2>/dev/null || true
    exit 1
}

stop() {
    [ -f "$PIDFILE" ] || { rm -rf "$STATE"; return 0; }
    local pid
    pid=$(cat "$PIDFILE")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$pid" 2>/dev/null || true
    rm -rf "$STATE"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
