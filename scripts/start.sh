#!/usr/bin/env bash
# npm start: the embedded broker (all four services in one process), built first if needed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh >&2
exec node services/embedded/dist/main.js "$@"
