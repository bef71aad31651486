#!/usr/bin/env bash
# The whole test suite: installs what it needs, builds, then runs every unit and
# integration test (real PostgreSQL, etcd, Patroni and moto, started by the tests) and
# the control-plane tests (three Kubernetes control planes built from source).
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit $?

out=$(mktemp)
trap 'rm -f "$out"' EXIT
npx tsc --noEmit -p tsconfig.json || exit $?
# dependency direction (dependency-cruiser), dead code (knip), ESLint and Prettier
npm run --silent lint || exit $?
# checkov over terraform/, every region's manifests, the Dockerfile and the workflows; npm audit
bash scripts/scan.sh || exit $?
npx mocha --timeout 120000 'test/unit/**/*.test.ts' 'test/integration/**/*.test.ts' 'test/control-plane/**/*.test.ts' "$@" 2>&1 | tee "$out"
status=${PIPESTATUS[0]}

passed=$(grep -Eo '^ +[0-9]+ passing' "$out" | grep -Eo '[0-9]+' | tail -1)
failed=$(grep -Eo '^ +[0-9]+ failing' "$out" | grep -Eo '[0-9]+' | tail -1)
skipped=$(grep -Eo '^ +[0-9]+ pending' "$out" | grep -Eo '[0-9]+' | tail -1)
echo "${passed:-0} passed, ${failed:-0} failed, ${skipped:-0} skipped"
if [ "${passed:-0}" -eq 0 ] && [ "$status" -eq 0 ]; then
  echo 'no test ran' >&2
  exit 1
fi
exit "$status"
