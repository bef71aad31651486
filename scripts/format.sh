#!/usr/bin/env bash
# npm run format: the mechanical reformat. ESLint applies its fixable rules (import order, type
# member order, blank lines, unicorn's rewrites), then Prettier lays out every file it owns
# (.prettierignore). Safe to rerun at any time, for instance after merging a branch; what it
# cannot fix is left for `npm run lint` to report.
set -uo pipefail
cd "$(dirname "$0")/.."

# exit status 1 means problems remain that need a hand; 2 means ESLint itself failed
npx eslint --fix .
status=$?
if [ "$status" -gt 1 ]; then exit "$status"; fi
npx prettier --write --log-level warn .
