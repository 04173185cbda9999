#!/usr/bin/env bash
# The whole test suite: setup, type checks, then every vitest file (real git-annex, real servers).
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
npm run --silent typecheck || exit 1
results=$(mktemp)
npx vitest run --reporter=default --reporter=json --outputFile.json="$results" "$@"
rc=$?
node scripts/test-summary.mjs "$results" || rc=1
rm -f "$results"
exit $rc
