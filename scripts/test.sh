#!/usr/bin/env bash
# npm test: installs what is missing, builds, runs every test (unit, contract, end-to-end, interop),
# and ends with one summary line "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-tools.sh || exit 1
bash scripts/ensure-deps.sh || exit 1
npx biome check . --diagnostic-level=error || { echo "lint/format errors: run npm run format, then fix what remains"; exit 1; }
report=$(mktemp)
npx vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@"
status=$?
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed` + (skipped ? `, ${skipped} skipped` : ""));
' "$report" 2>/dev/null || echo "tests: 0 passed, 1 failed"
rm -f "$report"
exit $status
