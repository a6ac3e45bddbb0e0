#!/usr/bin/env bash
# Starts herald for a first look (`make run`): SQLite in ./data, a demo
# tenant created on first start, listening on HERALD_LISTEN or 127.0.0.1:8080.
set -euo pipefail
bin=${1:-build/release/herald}
listen=${HERALD_LISTEN:-127.0.0.1:8080}
data=${HERALD_DATA:-./data}
cat <<MSG

  herald $("$bin" version | awk '{print $2}') — starting on http://${listen/127.0.0.1/localhost}
  data directory: $data (SQLite)

  Open http://${listen/127.0.0.1/localhost}/ in a browser, or try the API:
    curl -s http://$listen/healthz
  The demo tenant's INN, password and API token follow (also in $data/demo.txt).
  README.md has a 5-minute tour with curl; docs/api-v1.md the whole API. Stop with Ctrl-C.

MSG
exec "$bin" serve --data "$data" --listen "$listen" --demo
