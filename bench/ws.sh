#!/usr/bin/env bash
# Realtime benchmarks of herald (docs/performance.md): each scenario starts the
# release server on a fresh data directory, runs bench/wsload.c against it,
# prints a table and, where it has curves, writes a gnuplot plot to docs/perf/.
#
#   bench/ws.sh SCENARIO [wsload options, which override the scenario's]
#
# smoke       200 connections, 4 chats of 50, 8 senders, 3 s; exits non-zero if any message
#             was lost, duplicated or reordered, or a connection failed (make test calls it).
# fanout      10,000 connections, 100 chats x 100, 100 senders at 2,000 messages/s (the
#             first published scenario, kept for its history).
# saturation  1,000 connections, 10 chats x 100, 100 senders as fast as acks allow.
# idle        19,000 idle connections opened in stages (1k, 5k, 10k, 19k): server RSS and
#             bytes per connection after each stage, connect rate. Plot: idle-memory.svg.
# fanout1k    1 chat of 1,000 members, 100-byte texts: saturation (10 senders, acks
#             window 8), then latency at 10/50/80 % of it, at 500,000 deliveries/s and one
#             message at a time (1 sender, 20/s); the same against Mosquitto (QoS 0 and 1)
#             in the same run when it is installed (scripts/setup.sh bench); prints the
#             ratios. Plot: fanout-latency.svg (latency against delivered messages/s).
# fanout19    19 chats of 1,000 (19,000 connections, the most one server process holds):
#             saturation, 19 senders.
# ingest      durable ingest over /ws: 1,000 senders, each alone in its chat, as fast as
#             acks (sent after the fsync of the group commit) allow; then REST createmessage
#             with wrk (bench/run.sh).
# storm       19,000 connections (190 chats x 100, 190 senders at 1,000 messages/s); the
#             server is killed (SIGKILL) 3 s in and restarted on the same port and data;
#             every client comes back with its last pos, unacknowledged sends are repeated
#             with their client_id; exits non-zero on any loss or duplicate.
# growth      latency, memory and CPU per delivery from 1k to 19k connections (chats of
#             100, 50,000 deliveries/s) and from 10 to 10,000 members per chat (10,000
#             connections, 50,000 deliveries/s). Plots: growth-connections.svg, growth-members.svg.
# all         idle, fanout1k, fanout19, ingest, storm, growth.
#
# HERALD_BIN / HERALD_WSLOAD override the binaries (default: the release build);
# HERALD_BENCH_OUT the directory for data files (default build/bench). Every run is
# bounded in time, uses loopback only and stops by itself.
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
out=${HERALD_BENCH_OUT:-build/bench}
plots=docs/perf
mkdir -p "$out"
build=$(git rev-parse --short HEAD 2>/dev/null || echo dev)

pid=
dir=
mqpid=
mqdir=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	[ -n "$dir" ] && [ -f "$dir/pid" ] && kill "$(cat "$dir/pid")" 2>/dev/null
	[ -n "$dir" ] && rm -rf "$dir"
	[ -n "$mqpid" ] && kill "$mqpid" 2>/dev/null && wait "$mqpid" 2>/dev/null
	[ -n "$mqdir" ] && rm -rf "$mqdir"
	pid= dir= mqpid= mqdir=
}
trap cleanup EXIT

# kv LINE KEY: the value of KEY=… in a wsload key=value line.
kv() { sed -E "s/.*[ :]$2=([^ ]*).*/\\1/" <<<"$1"; }

# start_server [LISTEN]: a server on a fresh (or the current) data directory; sets pid, url, token.
start_server() {
	local listen=${1:-127.0.0.1:0} demo=--demo
	[ -n "${1:-}" ] && demo=
	[ -n "$dir" ] || dir=$(mktemp -d)
	HERALD_LOG_LEVEL=warn "$bin" serve --data "$dir" --listen "$listen" $demo \
		>>"$dir/demo.out" 2>>"$dir/server.log" &
	pid=$!
	echo "$pid" >"$dir/pid"
	for _ in $(seq 200); do
		[ "$(grep -c '"event":"listening"' "$dir/server.log" 2>/dev/null)" -ge "${2:-1}" ] && break
		sleep 0.05
	done
	url=$(grep '"event":"listening"' "$dir/server.log" | tail -n 1 | sed -E 's/.*"url":"([^"]+)".*/\1/')
	token=$(sed -n 's/^demo API token: //p' "$dir/demo.out" | head -n 1)
	[ -n "$url" ] && [ -n "$token" ] || { echo "ws.sh: the server did not start" >&2; cat "$dir/server.log" >&2; return 1; }
}

stop_server() {
	local rc=0
	if [ -f "$dir/pid" ]; then
		pid=$(cat "$dir/pid")
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || rc=$?
	fi
	rm -rf "$dir"
	pid= dir=
	return "$rc"
}

# run NAME WSLOAD-OPTIONS...: one wsload run on its own server; the key=value line goes to $last.
last=
run() {
	local name=$1 rc=0 log
	shift
	start_server
	echo "== $name: $(nproc) cores, client and server on one machine, build $build, open files $(ulimit -n), load average $(cut -d" " -f1-3 /proc/loadavg)"
	log=$(mktemp)
	"$load" --url "$url" --token "$token" --server-pid "$pid" --sources "$sources" "$@" | tee "$log" || rc=$?
	last=$(grep '^wsload: proto=' "$log" || true)
	grep '^wsload-' "$log" >"$out/last-extra.txt" || true
	rm -f "$log"
	stop_server || rc=1
	if [ "$rc" -ne 0 ]; then
		echo "ws.sh: $name failed" >&2
	fi
	return "$rc"
}

# Mosquitto on a free loopback port (sets mqpid, mqport); 1 if it is not installed.
start_mosquitto() {
	command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || return 1
	local m
	m=$(command -v mosquitto || echo /usr/sbin/mosquitto)
	mqdir=$(mktemp -d)
	for _ in 1 2 3 4 5; do
		mqport=$((20000 + RANDOM % 20000))
		printf 'listener %s 127.0.0.1\nallow_anonymous true\nmax_connections -1\nset_tcp_nodelay true\npersistence false\nlog_dest none\nmax_queued_messages 100000\n' \
			"$mqport" >"$mqdir/m.conf"
		"$m" -c "$mqdir/m.conf" >"$mqdir/log" 2>&1 &
		mqpid=$!
		sleep 0.3
		kill -0 "$mqpid" 2>/dev/null && return 0
	done
	return 1
}

stop_mosquitto() {
	[ -n "$mqpid" ] && kill "$mqpid" 2>/dev/null && wait "$mqpid" 2>/dev/null
	rm -rf "$mqdir"
	mqpid= mqdir=
}

# mqrun NAME WSLOAD-OPTIONS...: the same against a fresh Mosquitto.
mqrun() {
	local name=$1 rc=0 log
	shift
	start_mosquitto || { echo "ws.sh: mosquitto is not installed (scripts/setup.sh bench)" >&2; last=; return 0; }
	echo "== $name: Mosquitto $("$(command -v mosquitto || echo /usr/sbin/mosquitto)" -h 2>/dev/null | sed -n 's/^mosquitto version //p'), same machine"
	log=$(mktemp)
	# Mosquitto listens with a backlog of 100: fewer handshakes at a time, or SYNs are dropped
	"$load" --url "mqtt://127.0.0.1:$mqport" --server-pid "$mqpid" --sources "$sources" --connect-parallel 64 "$@" |
		tee "$log" || rc=$?
	last=$(grep '^wsload: proto=' "$log" || true)
	rm -f "$log"
	stop_mosquitto
	return "$rc"
}

have_gnuplot() {
	command -v gnuplot >/dev/null 2>&1 || { echo "ws.sh: gnuplot is missing (scripts/setup.sh bench): no plot" >&2; return 1; }
}

# ---- scenarios -------------------------------------------------------------------------------

smoke() {
	run smoke --users 200 --chats 4 --members 50 --senders 8 --rate 400 --window 8 \
		--warmup 1 --duration 2 "$@"
}
fanout() {
	run fanout --users 10000 --chats 100 --members 100 --senders 100 --rate 2000 --window 16 \
		--warmup 5 --duration 20 "$@"
}
saturation() {
	run saturation --users 1000 --chats 10 --members 100 --senders 100 --rate 0 --window 4 \
		--warmup 3 --duration 10 "$@"
}

idle() {
	local data=$out/idle.dat
	run idle --users 19000 --chats 190 --members 100 --senders 0 --steps 1000,5000,10000,19000 \
		--warmup 0 --duration 1 "$@"
	echo "# connections server_rss_mib bytes_per_conn marginal_bytes_per_conn connect_per_s" >"$data"
	grep '^wsload-step:' "$out/last-extra.txt" | while read -r l; do
		echo "$(kv "$l" connections) $(awk -v k="$(kv "$l" server_rss_kb)" 'BEGIN{printf "%.1f", k/1024}') $(kv "$l" bytes_per_conn) $(kv "$l" marginal_bytes_per_conn) $(kv "$l" connect_per_s)"
	done >>"$data"
	echo
	echo "idle connections (build $build):"
	column -t "$data"
	have_gnuplot || return 0
	gnuplot <<-EOF
		set terminal svg size 720,420 dynamic font "sans,11"
		set output "$plots/idle-memory.svg"
		set title "herald: server memory with idle WebSocket connections (build $build)"
		set xlabel "connections"
		set ylabel "server RSS (MiB)"
		set y2label "bytes per connection"
		set ytics nomirror
		set y2tics
		set yrange [0:*]
		set y2range [0:*]
		set key left top
		set grid
		plot "$data" using 1:2 with linespoints lw 2 title "RSS", \
		     "$data" using 1:4 axes x1y2 with linespoints lw 2 title "marginal bytes / connection"
	EOF
	echo "plot: $plots/idle-memory.svg"
}

# The latency table of fanout1k: label, then the wsload line's figures.
row() {
	printf '%-28s %10s %12s %8s %8s %8s %8s %8s %6s\n' "$1" "$(kv "$2" sent_per_s)" "$(kv "$2" delivered_per_s)" \
		"$(kv "$2" p50_ms)" "$(kv "$2" p90_ms)" "$(kv "$2" p99_ms)" "$(kv "$2" p999_ms)" "$(kv "$2" max_ms)" \
		"$(kv "$2" result)"
}

fanout1k() {
	local common=(--users 1000 --chats 1 --members 1000 --payload 100 --warmup 2 --duration 6)
	local data=$out/fanout1k.dat table=$out/fanout1k.txt sat mq0 mq1 rate h m
	local -a hl=() ml=()
	local fails=0
	run "fanout1k saturation" "${common[@]}" --senders 10 --rate 0 --window 8 "$@" || fails=$((fails + 1))
	sat=$last
	h=$(kv "$sat" sent_per_s)
	for pct in 10 50 80; do
		rate=$(awk -v s="$h" -v p="$pct" 'BEGIN{r=int(s*p/100); if (r<10) r=10; print r}')
		run "fanout1k at $pct % ($rate/s)" "${common[@]}" --senders 10 --rate "$rate" --window 64 "$@" ||
			fails=$((fails + 1))
		hl+=("$last")
	done
	run "fanout1k one at a time (20/s)" "${common[@]}" --senders 1 --rate 20 --window 8 "$@" || fails=$((fails + 1))
	hl+=("$last")
	# half of the issue's 1,000,000 deliveries/s target
	run "fanout1k at 500,000 deliveries/s" "${common[@]}" --senders 10 --rate 500 --window 64 "$@" ||
		fails=$((fails + 1))
	hl+=("$last")
	mqrun "mosquitto QoS 0 saturation" "${common[@]}" --senders 10 --rate 0 --window 8 --qos 0 || fails=$((fails + 1))
	mq0=$last
	if [ -n "$mq0" ]; then
		m=$(kv "$mq0" sent_per_s)
		for pct in 10 50 80; do
			rate=$(awk -v s="$m" -v p="$pct" 'BEGIN{r=int(s*p/100); if (r<10) r=10; print r}')
			mqrun "mosquitto QoS 0 at $pct % ($rate/s)" "${common[@]}" --senders 10 --rate "$rate" --window 64 \
				--qos 0 || fails=$((fails + 1))
			ml+=("$last")
		done
		mqrun "mosquitto QoS 0 one at a time (20/s)" "${common[@]}" --senders 1 --rate 20 --window 8 --qos 0 ||
			fails=$((fails + 1))
		ml+=("$last")
		mqrun "mosquitto QoS 1 saturation" "${common[@]}" --senders 10 --rate 0 --window 8 --qos 1 ||
			fails=$((fails + 1))
		mq1=$last
	fi
	{
		echo "fan-out, 1 chat x 1,000 members, 100-byte texts, build $build ($(nproc) cores, all on one machine)"
		printf '%-28s %10s %12s %8s %8s %8s %8s %8s %6s\n' run "msgs/s" "deliveries/s" p50 p90 p99 p99.9 max result
		row "herald saturation" "$sat"
		row "herald 10 %" "${hl[0]}"
		row "herald 50 %" "${hl[1]}"
		row "herald 80 %" "${hl[2]}"
		row "herald 1 msg at a time" "${hl[3]}"
		row "herald 500k deliveries/s" "${hl[4]}"
		if [ -n "$mq0" ]; then
			row "mosquitto q0 saturation" "$mq0"
			row "mosquitto q0 10 %" "${ml[0]}"
			row "mosquitto q0 50 %" "${ml[1]}"
			row "mosquitto q0 80 %" "${ml[2]}"
			row "mosquitto q0 1 at a time" "${ml[3]}"
			row "mosquitto q1 saturation" "$mq1"
			awk -v h="$(kv "$sat" delivered_per_s)" -v q0="$(kv "$mq0" delivered_per_s)" -v q1="$(kv "$mq1" delivered_per_s)" \
				'BEGIN{printf "ratio herald / mosquitto at saturation: %.2f (QoS 0), %.2f (QoS 1 against herald'"'"'s durable acks)\n", h/q0, h/q1}'
			echo "memory per connection: herald $(kv "$sat" server_bytes_per_conn) bytes, mosquitto $(kv "$mq0" server_bytes_per_conn) bytes"
		fi
	} | tee "$table"
	[ "$fails" -eq 0 ] || echo "ws.sh: fanout1k: $fails run(s) failed" >&2
	# latency against delivered messages/s, one block per system (gnuplot index 0 and 1)
	{
		echo "# herald: deliveries_per_s p50_ms p99_ms"
		for l in "${hl[3]}" "${hl[0]}" "${hl[4]}" "${hl[1]}" "${hl[2]}"; do
			echo "$(kv "$l" delivered_per_s) $(kv "$l" p50_ms) $(kv "$l" p99_ms)"
		done | sort -n
		printf '\n\n# mosquitto QoS 0: deliveries_per_s p50_ms p99_ms\n'
		if [ -n "$mq0" ]; then
			for l in "${ml[3]}" "${ml[0]}" "${ml[1]}" "${ml[2]}"; do
				echo "$(kv "$l" delivered_per_s) $(kv "$l" p50_ms) $(kv "$l" p99_ms)"
			done | sort -n
		fi
	} >"$data"
	have_gnuplot || return $((fails > 0))
	gnuplot <<-EOF
		set terminal svg size 720,420 dynamic font "sans,11"
		set output "$plots/fanout-latency.svg"
		set title "1 chat x 1,000 members, 100-byte texts: latency to every member (build $build)"
		set xlabel "delivered messages/s (log)"
		set ylabel "ms (log)"
		set logscale xy
		set key left top
		set grid
		plot "$data" index 0 using 1:2 with linespoints lw 2 title "herald p50", \
		     "" index 0 using 1:3 with linespoints lw 2 title "herald p99", \
		     "" index 1 using 1:2 with linespoints lw 2 dt 2 title "mosquitto QoS 0 p50", \
		     "" index 1 using 1:3 with linespoints lw 2 dt 2 title "mosquitto QoS 0 p99"
	EOF
	echo "plot: $plots/fanout-latency.svg"
	[ "$fails" -eq 0 ] || { echo "ws.sh: fanout1k: $fails run(s) failed" >&2; return 1; }
}

fanout19() {
	run "fanout19 saturation" --users 19000 --chats 19 --members 1000 --senders 19 --rate 0 --window 8 \
		--payload 100 --warmup 3 --duration 8 "$@"
}

ingest() {
	run "ingest over /ws" --users 1000 --chats 1000 --members 1 --senders 1000 --rate 0 --window 4 \
		--warmup 2 --duration 8 "$@"
	echo "durable ingest over /ws: $(kv "$last" sent_per_s) messages/s acknowledged after fsync," \
		"ack p50 $(kv "$last" ack_p50_ms) ms, p99 $(kv "$last" ack_p99_ms) ms, $(kv "$last" result)"
	if command -v wrk >/dev/null 2>&1; then
		HERALD_LOG_LEVEL=warn bench/run.sh createmessage --duration 8
	else
		echo "ws.sh: wrk is missing: REST createmessage skipped (scripts/setup.sh bench)" >&2
	fi
}

storm() {
	local rc=0 log watcher
	start_server
	echo "== storm: $(nproc) cores, build $build, open files $(ulimit -n), load average $(cut -d" " -f1-3 /proc/loadavg)"
	local listen=${url#http://} first=$pid
	# The restarter: when the server dies, start it again on the same port and data.
	(
		while kill -0 "$pid" 2>/dev/null; do sleep 0.02; done
		start_server "$listen" 2 >/dev/null
		wait
	) &
	watcher=$!
	log=$(mktemp)
	"$load" --url "$url" --token "$token" --server-pid "$pid" --sources "$sources" \
		--users 19000 --chats 190 --members 100 --senders 190 --rate 1000 --window 16 \
		--warmup 1 --duration 8 --storm-at 3 "$@" | tee "$log" || rc=$?
	last=$(grep '^wsload-storm:' "$log" || true)
	rm -f "$log"
	# a server that was never killed must not be restarted by the watcher
	[ "$(cat "$dir/pid")" = "$first" ] && kill "$watcher" 2>/dev/null
	kill -TERM "$(cat "$dir/pid")" 2>/dev/null || true
	wait "$watcher" 2>/dev/null || true
	rm -rf "$dir"
	pid= dir=
	echo "storm: $last"
	return "$rc"
}

growth() {
	local dc=$out/growth-connections.dat dm=$out/growth-members.dat n m chats rate
	echo "# connections p50_ms p99_ms bytes_per_conn server_us_per_delivery delivered_per_s" >"$dc"
	for n in 1000 5000 10000 19000; do
		chats=$((n / 100))
		rate=500 # 50,000 deliveries/s
		run "growth: $n connections" --users "$n" --chats "$chats" --members 100 --senders "$chats" \
			--rate "$rate" --window 64 --warmup 2 --duration 5 "$@"
		echo "$n $(kv "$last" p50_ms) $(kv "$last" p99_ms) $(kv "$last" server_bytes_per_conn) $(awk -v c="$(kv "$last" server_cores)" -v d="$(kv "$last" delivered_per_s)" 'BEGIN{printf "%.3f", (d > 0 ? c * 1e6 / d : 0)}') $(kv "$last" delivered_per_s)" >>"$dc"
	done
	echo "# members p50_ms p99_ms bytes_per_conn server_us_per_delivery delivered_per_s" >"$dm"
	for m in 10 100 1000 10000; do
		chats=$((10000 / m))
		rate=$((50000 / m))
		run "growth: $m members per chat" --users 10000 --chats "$chats" --members "$m" \
			--senders "$((chats < 100 ? chats : 100))" --rate "$rate" --window 64 --warmup 2 --duration 5 "$@"
		echo "$m $(kv "$last" p50_ms) $(kv "$last" p99_ms) $(kv "$last" server_bytes_per_conn) $(awk -v c="$(kv "$last" server_cores)" -v d="$(kv "$last" delivered_per_s)" 'BEGIN{printf "%.3f", (d > 0 ? c * 1e6 / d : 0)}') $(kv "$last" delivered_per_s)" >>"$dm"
	done
	echo
	echo "growth with connections (chats of 100, 50,000 deliveries/s offered), build $build:"
	column -t "$dc"
	echo "growth with members per chat (10,000 connections, 50,000 deliveries/s offered):"
	column -t "$dm"
	have_gnuplot || return 0
	for f in connections members; do
		local d=$out/growth-$f.dat x="connections" t="from 1,000 to 19,000 connections (chats of 100)"
		[ "$f" = members ] && x="members per chat" t="from 10 to 10,000 members per chat (10,000 connections)"
		gnuplot <<-EOF
			set terminal svg size 720,620 dynamic font "sans,11"
			set output "$plots/growth-$f.svg"
			set multiplot layout 2,1 title "herald at 50,000 deliveries/s: $t (build $build)"
			set logscale x
			set xrange [$([ "$f" = members ] && echo "5:20000" || echo "700:27000")]
			set grid
			set key left top
			set ylabel "latency (ms)"
			set yrange [0:*]
			plot "$d" using 1:2 with linespoints lw 2 title "p50", \
			     "$d" using 1:3 with linespoints lw 2 title "p99"
			set xlabel "$x"
			set key left bottom
			set ylabel "server CPU per delivery (µs)"
			set y2label "server memory per connection (bytes)"
			set ytics nomirror
			set y2tics
			set y2range [0:*]
			plot "$d" using 1:5 with linespoints lw 2 title "CPU µs / delivery", \
			     "$d" using 1:4 axes x1y2 with linespoints lw 2 title "bytes / connection (from zero)"
			unset multiplot
		EOF
		echo "plot: $plots/growth-$f.svg"
	done
}

case "$mode" in
all)
	idle "$@"
	fanout1k "$@"
	fanout19 "$@"
	ingest "$@"
	storm "$@"
	growth "$@"
	;;
smoke | fanout | saturation | idle | fanout1k | fanout19 | ingest | storm | growth) "$mode" "$@" ;;
*)
	echo "usage: bench/ws.sh [smoke|fanout|saturation|idle|fanout1k|fanout19|ingest|storm|growth|all] [wsload options]" >&2
	exit 2
	;;
esac
