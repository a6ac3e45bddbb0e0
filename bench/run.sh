#!/usr/bin/env bash
# Benchmarks of herald (see docs/performance.md for the figures and how to read them).
#
#   bench/run.sh [createmessage] [--duration 10] [--connections 64]
#
# createmessage: durable POST /api/v1/createmessage over keep-alive with wrk
# (each request is acknowledged only after its group commit is fsync'd), on a
# fresh data directory, against the release build. Prints requests/s and the
# latency percentiles, then checks that the database holds every message the
# server acknowledged.
set -euo pipefail
cd "$(dirname "$0")/.."
scenario=${1:-createmessage}
duration=10
conns=64
shift || true
while [ $# -gt 0 ]; do
	case "$1" in
	--duration) duration=$2; shift 2 ;;
	--connections) conns=$2; shift 2 ;;
	*) echo "unknown option $1" >&2; exit 2 ;;
	esac
done
bin=${HERALD_BIN:-build/release/herald}
[ -x "$bin" ] || make --no-print-directory all
command -v wrk >/dev/null || { echo "bench: wrk is missing (apt-get install wrk)" >&2; exit 1; }

dir=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
HERALD_LOG_LEVEL=${HERALD_LOG_LEVEL:-info} "$bin" serve --data "$dir" --listen 127.0.0.1:0 --demo \
	>"$dir/demo.out" 2>"$dir/server.log" &
pid=$!
for _ in $(seq 100); do
	grep -q '"event":"listening"' "$dir/server.log" 2>/dev/null && break
	sleep 0.1
done
url=$(grep '"event":"listening"' "$dir/server.log" | sed -E 's/.*"url":"([^"]+)".*/\1/')
export HERALD_TOKEN=$(sed -n 's/^demo API token: //p' "$dir/demo.out")
export HERALD_INN=$(sed -n 's/^demo tenant: INN \([0-9]*\),.*/\1/p' "$dir/demo.out")
export HERALD_STAFF=$(sed -n 's/^demo employee: staffid \([0-9]*\),.*/\1/p' "$dir/demo.out" | head -n 1)

case "$scenario" in
createmessage)
	echo "createmessage: wrk -t1 -c$conns -d${duration}s, $(nproc) cores, log level ${HERALD_LOG_LEVEL:-info}"
	wrk -t1 -c"$conns" -d"${duration}s" --latency -s bench/createmessage.lua "$url" | tail -n 1
	kill -TERM $pid
	wait $pid
	count=$(sqlite3 "$dir/herald.db" "select count(*) from messages where kind='notification'")
	echo "messages in the database: $count (3 of them are the demo's welcome messages)"
	echo "access-log lines: $(grep -c "\"event\":\"request\"" "$dir/server.log" || true)"
	;;
*)
	echo "unknown scenario $scenario" >&2
	exit 2
	;;
esac
