#!/usr/bin/env bash
# Builds the web apps into web/dist (`make` calls it when a source changed):
# npm ci when web/node_modules is missing or older than the lock file, the
# Vite build, then a .br and .gz sibling of every compressible file for
# herald serve to send to clients that accept them.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	echo "build-web: node and npm are needed to build the web apps: run scripts/setup.sh run (or make run)" >&2
	exit 1
fi
if [ ! -d web/node_modules ] || [ web/package-lock.json -nt web/node_modules ]; then
	echo "build-web: npm ci in web"
	(cd web && npm ci --no-audit --no-fund --loglevel=error)
	touch web/node_modules
fi
(cd web && npm run --silent build)
node scripts/compress-web.mjs web/dist
touch web/dist/.built
