#!/usr/bin/env bash
# Realtime fan-out benchmark of herald (docs/performance.md, "Realtime fan-out (team chat)").
#
#   bench/ws.sh [all|fanout|saturation|smoke] [wsload options, which override the scenario's]
#
# fanout      10,000 WebSocket connections, 100 group chats of 100 members, 100 senders
#             posting 2,000 messages/s in total (200,000 deliveries/s); 5 s warmup, 20 s measured.
# saturation  1,000 connections, 10 chats of 100, 100 senders as fast as the acks allow
#             (4 unacknowledged sends each); 3 s warmup, 10 s measured.
# smoke       200 connections, 4 chats of 50, 8 senders, 3 s; exits non-zero if any message
#             was lost, duplicated or reordered, or a connection failed (make test calls it).
# all         fanout, then saturation (the default).
#
# Each scenario starts the server (HERALD_BIN, default the release build) on a fresh data
# directory with HERALD_LOG_LEVEL=warn and the open-file limit raised to the hard limit,
# runs bench/wsload.c (HERALD_WSLOAD) against it, and stops it. The client sockets bind to
# several loopback source addresses so that ephemeral ports do not run out between runs.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-all}
shift || true
bin=${HERALD_BIN:-build/release/herald}
load=${HERALD_WSLOAD:-build/release/bench/wsload}
if [ -z "${HERALD_BIN:-}${HERALD_WSLOAD:-}" ]; then
	make --no-print-directory -s all build/release/bench/wsload
fi
[ -x "$bin" ] || { echo "ws.sh: $bin is missing (make)" >&2; exit 1; }
[ -x "$load" ] || { echo "ws.sh: $load is missing (make build/release/bench/wsload)" >&2; exit 1; }
ulimit -n "$(ulimit -Hn)"
sources=127.0.0.1,127.0.0.2,127.0.0.3,127.0.0.4

pid=
dir=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	[ -n "$dir" ] && rm -rf "$dir"
	pid= dir=
}
trap cleanup EXIT

# run NAME WSLOAD-OPTIONS...: one scenario on its own server.
run() {
	local name=$1 url token rc=0
	shift
	dir=$(mktemp -d)
	HERALD_LOG_LEVEL=warn "$bin" serve --data "$dir" --listen 127.0.0.1:0 --demo \
		>"$dir/demo.out" 2>"$dir/server.log" &
	pid=$!
	for _ in $(seq 100); do
		grep -q '"event":"listening"' "$dir/server.log" 2>/dev/null && break
		sleep 0.1
	done
	url=$(grep '"event":"listening"' "$dir/server.log" | sed -E 's/.*"url":"([^"]+)".*/\1/')
	token=$(sed -n 's/^demo API token: //p' "$dir/demo.out")
	[ -n "$url" ] && [ -n "$token" ] || { echo "ws.sh: the server did not start" >&2; cat "$dir/server.log" >&2; return 1; }
	echo "== $name: $(nproc) cores, client and server on one machine, build $(git rev-parse --short HEAD 2>/dev/null || echo dev), open files $(ulimit -n)"
	"$load" --url "$url" --token "$token" --server-pid "$pid" --sources "$sources" "$@" || rc=$?
	kill -TERM "$pid"
	wait "$pid" || rc=1
	if [ "$rc" -ne 0 ]; then
		echo "ws.sh: $name failed; the end of the server log:" >&2
		tail -n 20 "$dir/server.log" >&2
	fi
	rm -rf "$dir"
	pid= dir=
	return "$rc"
}

fanout() {
	run fanout --users 10000 --chats 100 --members 100 --senders 100 --rate 2000 --window 16 \
		--warmup 5 --duration 20 "$@"
}
saturation() {
	run saturation --users 1000 --chats 10 --members 100 --senders 100 --rate 0 --window 4 \
		--warmup 3 --duration 10 "$@"
}
smoke() {
	run smoke --users 200 --chats 4 --members 50 --senders 8 --rate 400 --window 8 \
		--warmup 1 --duration 2 "$@"
}

case "$mode" in
all)
	fanout "$@"
	saturation "$@"
	;;
fanout | saturation | smoke) "$mode" "$@" ;;
*)
	echo "usage: bench/ws.sh [all|fanout|saturation|smoke] [wsload options]" >&2
	exit 2
	;;
esac
