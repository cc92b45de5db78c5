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
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes --pidfile "/tmp/callgate-redis-$port.pid" >/dev/null
    for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
    echo "redis://127.0.0.1:$port"
    ;;
  stop)
    redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
    ;;
esac
