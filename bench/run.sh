#!/usr/bin/env bash
# Entry point of the bench (issue 8), for `make bench`:
#   bash bench/run.sh                  full run: the table of bench/README.md (~10 minutes)
#   BENCH_QUICK=1 bash bench/run.sh    short runs (under 2 minutes)
#   BENCH_PROFILE=1 bash bench/run.sh  CPU profile of the verify path under load
# It installs what it needs itself: the bench's own npm package (bench/node_modules,
# never the main package) and redis-server (Debian) when missing. The server must be
# built (dist/src/server.js): `make bench` depends on `build`.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"

STAMP="$HERE/node_modules/.installed-stamp"
if [ ! -f "$STAMP" ] || [ "$HERE/package.json" -nt "$STAMP" ] || [ "$HERE/package-lock.json" -nt "$STAMP" ]; then
  echo "bench: installing the bench's own packages (bench/node_modules)" >&2
  (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error)
  touch "$STAMP"
fi

if ! command -v redis-server >/dev/null 2>&1 && [ ! -x /usr/bin/redis-server ]; then
  echo "bench: installing redis-server (Debian package) for the Express + Redis session peer" >&2
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
  # policy-rc.d on this machine keeps the package from starting a system service;
  # the bench starts its own redis-server on 127.0.0.1 under a temp dir and stops it by PID.
  if ! { $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; }; then
    echo "bench: could not install redis-server; the Express + Redis peer will be skipped" >&2
  fi
fi

if [ ! -f "$ROOT/dist/src/server.js" ]; then
  if [ -d "$ROOT/node_modules" ]; then
    echo "bench: building the server (npx tsc -p tsconfig.json)" >&2
    (cd "$ROOT" && npx tsc -p tsconfig.json)
  else
    echo "bench: dist/src/server.js is missing and the main package is not installed: run 'make build' first" >&2
    exit 2
  fi
fi

# The runner (and with it the load generator) on core 1; it pins every server to core 0.
if command -v taskset >/dev/null 2>&1 && [ "$(nproc)" -ge 2 ]; then
  exec taskset -c 1 node "$HERE/run.mjs" "$@"
fi
exec node "$HERE/run.mjs" "$@"
