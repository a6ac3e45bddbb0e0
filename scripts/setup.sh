#!/usr/bin/env bash
# Installs what herald needs and is missing, from Debian's packages (and npm for
# the test suite's own packages). Idempotent, and quick when all is present:
# it asks dpkg first and calls apt-get only for what is missing.
#
#   scripts/setup.sh run    build and run the server
#   scripts/setup.sh test   also the test tools (cmocka, valgrind, node, …)
#   scripts/setup.sh bench  also the benchmark peers and plotting (mosquitto,
#                           gnuplot, wrk, linux-perf); make test never needs them
set -euo pipefail
mode=${1:-run}
cd "$(dirname "$0")/.."

# nodejs and npm build the web apps (web/, Vite); Debian 12's Node 18 is enough.
run_pkgs=(build-essential pkg-config libuv1-dev libhttp-parser-dev libjansson-dev libsqlite3-dev
          libsodium-dev libssl-dev libcurl4-openssl-dev ca-certificates curl nodejs npm)
# chromium and fonts: the browser tests (tests/browser) and readable screenshots.
test_pkgs=(libcmocka-dev valgrind clang-format sqlite3 wrk procps chromium fonts-dejavu-core fonts-noto-core)
bench_pkgs=(mosquitto gnuplot-nox wrk sqlite3 procps)

want=("${run_pkgs[@]}")
[ "$mode" = test ] && want+=("${test_pkgs[@]}")
[ "$mode" = bench ] && want+=("${bench_pkgs[@]}")

missing=()
for p in "${want[@]}"; do
	# nodejs/npm may come from elsewhere than Debian (a newer node is fine).
	case "$p" in
	nodejs) command -v node >/dev/null 2>&1 && continue ;;
	npm) command -v npm >/dev/null 2>&1 && continue ;;
	esac
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
	echo "setup: installing ${missing[*]}"
	sudo=""
	[ "$(id -u)" -ne 0 ] && sudo="sudo"
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq
	$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The test suites' npm packages (exact versions from the committed lock files).
if [ "$mode" = test ]; then
	for suite in tests/blackbox tests/browser; do
		[ -f "$suite/package-lock.json" ] || continue
		if [ ! -d "$suite/node_modules" ] || [ "$suite/package-lock.json" -nt "$suite/node_modules" ]; then
			echo "setup: npm ci in $suite"
			(cd "$suite" && npm ci --no-audit --no-fund --loglevel=error)
			touch "$suite/node_modules"
		fi
	done
fi
exit 0
