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

run_pkgs=(build-essential pkg-config libuv1-dev libhttp-parser-dev libjansson-dev libsqlite3-dev
          libsodium-dev libssl-dev libcurl4-openssl-dev ca-certificates curl)
test_pkgs=(libcmocka-dev valgrind clang-format nodejs npm sqlite3 wrk procps)
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

# The black-box suite's npm packages (exact versions from the committed lock file).
if [ "$mode" = test ] && [ -f tests/blackbox/package-lock.json ]; then
	if [ ! -d tests/blackbox/node_modules ] || [ tests/blackbox/package-lock.json -nt tests/blackbox/node_modules ]; then
		echo "setup: npm ci in tests/blackbox"
		(cd tests/blackbox && npm ci --no-audit --no-fund --loglevel=error)
		touch tests/blackbox/node_modules
	fi
fi
exit 0
