#!/usr/bin/env bash
# Starts (or stops) a throwaway Redis on loopback for the test suite; installs it when missing.
# usage: scripts/redis-local.sh start|stop [port]   — prints the URL on start.
set -euo pipefail
action=${1:?start|stop}
port=${2:-56379}
if ! command -v redis-server >/dev/null 2>&1; then
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
fi
case "$action" in
  start)
    log="/tmp/callgate-redis-$port.log"
    # A daemonized redis-server exits 0 even when its child cannot listen: wait for PING, try once more, else fail.
    for attempt in 1 2; do
      redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
        --pidfile "/tmp/callgate-redis-$port.pid" --logfile "$log" >/dev/null
      for _ in $(seq 50); do
        if [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ]; then echo "redis://127.0.0.1:$port"; exit 0; fi
        sleep 0.1
      done
      echo "redis on port $port did not answer (attempt $attempt):" >&2
      tail -n 20 "$log" >&2 || true
    done
    exit 1
    ;;
  stop)
    redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
    ;;
esac
