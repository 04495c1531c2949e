#!/usr/bin/env bash
# Start/stop the development ClickHouse (chdb behind ClickHouse's HTTP interface).
#   deploy/dev/clickhouse.sh start|stop|status [--port 8123] [--data DIR]
# The server runs in the background with a pidfile and a log next to its data;
# `start` returns once GET /ping answers, `stop` sends SIGTERM and waits.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cmd="${1:-}"
[ $# -gt 0 ] && shift
port=8123
data="${LUNETTES_CLICKHOUSE_DATA:-$here/../../.clickhouse-dev}"
while [ $# -gt 0 ]; do
  case "$1" in
    --port) port="$2"; shift 2 ;;
    --data) data="$2"; shift 2 ;;
    *) echo "clickhouse.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$data"
data="$(cd "$data" && pwd)"
pidfile="$data/server-$port.pid"
log="$data/server-$port.log"

running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }
ping() { curl -fsS "http://127.0.0.1:$port/ping" >/dev/null 2>&1; }

case "$cmd" in
  start)
    if running; then echo "already running (pid $(cat "$pidfile")) on port $port"; exit 0; fi
    python3 -c 'import chdb' 2>/dev/null || { echo "chdb not installed: pip install chdb-core" >&2; exit 1; }
    nohup python3 "$here/clickhouse_server.py" --port "$port" --data "$data" >"$log" 2>&1 &
    echo $! >"$pidfile"
    for _ in $(seq 1 300); do
      if ping; then echo "clickhouse dev server on http://127.0.0.1:$port (pid $(cat "$pidfile"), data $data)"; exit 0; fi
      if ! running; then echo "server exited at start; log:" >&2; cat "$log" >&2; rm -f "$pidfile"; exit 1; fi
      sleep 0.1
    done
    echo "server did not answer /ping within 30 s; log: $log" >&2; exit 1 ;;
  stop)
    if ! running; then echo "not running"; rm -f "$pidfile"; exit 0; fi
    pid="$(cat "$pidfile")"; kill -TERM "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; echo "stopped"; exit 0; }; sleep 0.1; done
    echo "pid $pid did not stop within 10 s" >&2; exit 1 ;;
  status)
    if running && ping; then echo "running (pid $(cat "$pidfile")) on port $port"; exit 0; fi
    echo "not running"; exit 3 ;;
  *) echo "usage: $0 start|stop|status [--port 8123] [--data DIR]" >&2; exit 2 ;;
esac
