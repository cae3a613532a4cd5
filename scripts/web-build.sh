#!/bin/sh
# Bundles the dashboard and portal into OUT with esbuild: installs the npm
# packages of web/package-lock.json first when they are missing or stale
# (npm ci: exactly the locked versions, no download of anything else).
set -eu
out=$1
cd "$(dirname "$0")/../web"
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error
fi
node build.mjs "$out"
