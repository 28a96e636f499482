#!/usr/bin/env bash
# Installs npm dependencies when they are missing, then builds the workspace (turbo caches what is unchanged).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules/.bin ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm install --no-audit --no-fund --loglevel=error
fi
npx turbo run build --output-logs=errors-only
