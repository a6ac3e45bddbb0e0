#!/usr/bin/env bash
# Starts herald for a first look (`make run`): SQLite in ./data, a demo
# tenant created on first start, listening on HERALD_LISTEN or 127.0.0.1:8080.
# The development sign-in (pick a demo user from a list, no password) is on
# here unless HERALD_AUTH_DEV_LOGIN says otherwise: this is a local demo,
# never a production setup.
set -euo pipefail
bin=${1:-build/release/herald}
listen=${HERALD_LISTEN:-127.0.0.1:8080}
data=${HERALD_DATA:-./data}
export HERALD_AUTH_DEV_LOGIN=${HERALD_AUTH_DEV_LOGIN:-true}
url=http://${listen/127.0.0.1/localhost}
cat <<MSG

  herald $("$bin" version | awk '{print $2}') — starting on $url
  data directory: $data (SQLite)

  Open in a browser:
    $url/       the console
                  · company cabinet: the demo INN and cabinet password below
                  · team chat: "development sign-in" lists the demo users
                    (e.g. the dispatcher); on for make run only
    $url/m/     the employee app (phone-sized; sign in with the demo INN, any
                  phone and name — the SMS code lands in $data/sms-outbox.jsonl)
    examples/host-page/  the embeddable chat in a host's own page
  Or the API: curl -s $url/healthz — README.md has a 5-minute tour with curl.
  The demo tenant's INN, password and API token follow (also in $data/demo.txt).
  Stop with Ctrl-C.

MSG
exec "$bin" serve --data "$data" --listen "$listen" --demo
