#!/usr/bin/env bash
# The whole Atlas demo on a fresh Debian machine: install what is needed, stand up
# the local world (no Docker), kill the us region under a transfer workload, let
# it fail over and come back, verify that no money was lost or created, and say
# where the report is. The demo world lives in .atlas/demo (its own ports), so it
# never touches a world you started yourself.
set -euo pipefail
cd "$(dirname "$0")/.."

bold() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

bash scripts/setup.sh

demo_dir="$PWD/.atlas/demo"
mkdir -p "$demo_dir"
export ATLAS_CONFIG="$demo_dir/atlas.yaml"
cat > "$ATLAS_CONFIG" <<YAML
# written by scripts/demo.sh
driver: local
regions:
  - {name: us, awsRegion: us-east-1, locality: "region=us-east-1,zone=us-east-1a", role: primary}
  - {name: eu, awsRegion: eu-central-1, locality: "region=eu-central-1,zone=eu-central-1a", role: secondary}
  - {name: witness, awsRegion: us-west-2, locality: "region=us-west-2,zone=us-west-2a", role: witness}
local:
  baseDir: .
  basePort: ${ATLAS_DEMO_BASE_PORT:-24100}
YAML

atlas() { node bin/run.js "$@"; }

bold 'a fresh demo world: stopping and removing the previous one, if any'
atlas down --purge --yes >/dev/null

bold 'atlas up: etcd + Patroni/PostgreSQL per region, moto for S3/SQS/IAM, ledger schema'
atlas up

bold 'atlas status'
atlas status

run_dir="$demo_dir/runs/demo-$(date -u +%Y%m%dT%H%M%SZ)"
bold 'atlas blast-radius --region us: kill every process of us under load, restore it, verify'
status=0
atlas blast-radius --region us --mode kill --duration "${ATLAS_DEMO_DURATION:-20s}" --run-dir "$run_dir" --audit || status=$?

bold 'atlas verify --ledger-balance: the ledger checked once more, on its own'
atlas verify --ledger-balance --run-dir "$run_dir" --audit || status=$?

bold 'atlas status after the round'
atlas status

echo
echo "report:   $run_dir/report.md (and report.json; also in the us audit bucket under reports/)"
echo "picture:  $run_dir/report.svg (a page with it: $run_dir/report.html)"
echo "world:    still running; stop it with: ATLAS_CONFIG=$ATLAS_CONFIG node bin/run.js down --purge --yes"
exit "$status"
