#!/usr/bin/env bash
# The company cabinet's queries over many messages (docs/performance.md).
#
#   bench/cabinet.sh [--messages 50000]
#
# Starts the release build with the demo tenant, stops it, adds N messages to
# its three employees' inboxes (with a device each and one delivery per
# message: sent, delivered, read or failed in turn) straight into SQLite, starts
# it again, signs in to the cabinet and times each query (the median of 5
# runs, curl's total time on the same machine). Prints one line per query.
set -euo pipefail
cd "$(dirname "$0")/.."
n=50000
while [ $# -gt 0 ]; do
	case "$1" in
	--messages) n=$2; shift 2 ;;
	*) echo "unknown option $1" >&2; exit 2 ;;
	esac
done
bin=${HERALD_BIN:-build/release/herald}
[ -x "$bin" ] || make --no-print-directory all
command -v sqlite3 >/dev/null || { echo "bench: sqlite3 is missing" >&2; exit 1; }

dir=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; rm -rf "$dir"' EXIT
start() {
	"$bin" serve --data "$dir" --listen 127.0.0.1:0 --demo >"$dir/demo.out" 2>"$dir/server.log" &
	pid=$!
	for _ in $(seq 100); do
		grep -q '"event":"listening"' "$dir/server.log" 2>/dev/null && break
		sleep 0.1
	done
	url=$(grep '"event":"listening"' "$dir/server.log" | tail -n 1 | sed -E 's/.*"url":"([^"]+)".*/\1/')
}
start
kill "$pid"
wait "$pid" || true
now=$(($(date +%s) * 1000))
sqlite3 "$dir/herald.db" <<SQL
INSERT INTO devices(tenant_id, user_id, kind, token, created_at, updated_at)
  SELECT tenant_id, id, 'fcm', 'bench-' || id, $now, $now FROM users;
WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < $n),
  inbox(rn, id) AS (SELECT row_number() OVER (ORDER BY id) - 1, id FROM chats WHERE kind = 'inbox')
INSERT INTO messages(tenant_id, chat_id, seq, kind, title, body, created_at)
  SELECT 1, inbox.id, 1000 + i, 'notification', 'Title ' || (i % 97), 'Text of message ' || i,
         $now - i * 60000 FROM k JOIN inbox ON inbox.rn = k.i % 3;
INSERT INTO deliveries(tenant_id, message_id, user_id, device_id, status, next_try_at, queued_at, sent_at,
                       delivered_at, read_at, failed_at, attempts)
  SELECT 1, m.id, c.owner_id, d.id,
         CASE m.id % 4 WHEN 0 THEN 'sent' WHEN 1 THEN 'delivered' WHEN 2 THEN 'read' ELSE 'failed' END,
         m.created_at, m.created_at, m.created_at + 200,
         CASE WHEN m.id % 4 IN (1, 2) THEN m.created_at + 900 END,
         CASE WHEN m.id % 4 = 2 THEN m.created_at + 5000 END,
         CASE WHEN m.id % 4 = 3 THEN m.created_at + 300 END, 1
  FROM messages m JOIN chats c ON c.id = m.chat_id JOIN devices d ON d.user_id = c.owner_id
  WHERE m.seq >= 1000;
SQL
start
token=$(curl -s -X POST "$url/api/v2/cabinet/login" -d '{"inn":"7700000001","password":"demo-password"}' |
	sed -E 's/.*"token":"([^"]+)".*/\1/')
staff=$(sed -n 's/^demo employee: staffid \([0-9]*\),.*/\1/p' "$dir/demo.out" | head -n 1)
echo "cabinet: $n messages (+3 demo), release build, median of 5"
for q in "messages" "messages?status=read" "messages?sort=status&order=desc" "messages?sort=employee" \
	"messages?sort=title&order=asc&offset=$((n - 50))" "messages?employee=$staff&from=$(date -u +%F)" \
	"messages?format=csv" "stats" "stats?from=$(date -u -d '-365 days' +%F)" "employees"; do
	times=$(for _ in 1 2 3 4 5; do
		curl -s -o "$dir/body" -w '%{time_total}\n' -H "Authorization: Bearer $token" "$url/api/v2/cabinet/$q"
	done | sort -n | sed -n 3p)
	printf '  %-60s %6.0f ms  %8d bytes\n' "GET /api/v2/cabinet/$q" "$(echo "$times * 1000" | bc -l)" "$(wc -c <"$dir/body")"
done
