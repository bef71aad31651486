#!/usr/bin/env bash
# Security scan (npm run scan; part of npm test): checkov over terraform/, the
# manifests every region runs (rendered with `atlas render`, templated per
# region as Argo CD does, plus atlas up's SQL Jobs), the Dockerfile and the
# GitHub workflows; then `npm audit --omit=dev`. Zero failed checks: every
# suppression sits next to what it suppresses, with its reason (terraform:
# `# checkov:skip=ID: reason`; charts: `checkov.io/skipN: ID=reason` annotations).
# Needs the CLI built (npm run build) and checkov in .tools/ (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

CHECKOV_VERSION=$(sed -n 's/^CHECKOV_VERSION=//p' scripts/setup.sh)
checkov=".tools/checkov-$CHECKOV_VERSION/bin/checkov"
if [ ! -x "$checkov" ]; then
  echo "scan: $checkov is missing: run scripts/setup.sh" >&2
  exit 3
fi
helm=.tools/bin/helm
command -v "$helm" >/dev/null 2>&1 || helm=helm

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/rendered" "$work/manifests"

# what `atlas render` writes for the default configuration, then every chart with
# every region's values, as Argo CD templates them into the atlas namespace
node bin/run.js render --quiet --out "$work/rendered" >/dev/null
for values in "$work"/rendered/values/*/*.yaml; do
  chart=$(basename "$(dirname "$values")")
  region=$(basename "$values" .yaml)
  "$helm" template "$chart" "charts/$chart" --namespace atlas -f "$values" >"$work/manifests/$chart-$region.yaml"
done
# the SQL Jobs atlas up runs in the primary region (a placeholder script: the real one holds a password),
# and the restore Job of a k3d `atlas restore` (run once: no retry)
node --input-type=module -e '
  const {sqlJobManifest, cockroachImage} = await import("./dist/lib/world/k3d/sql-job.js")
  process.stdout.write(sqlJobManifest({name: "atlas-ledger-schema", sql: "-- scanned", image: await cockroachImage()}))
' >"$work/manifests/sql-job.yaml"
node --input-type=module -e '
  const {restoreJobManifests} = await import("./dist/lib/backup/k3d.js")
  const {cockroachImage} = await import("./dist/lib/world/k3d/sql-job.js")
  process.stdout.write(restoreJobManifests({names: {restore: "atlas-restore", drop: "atlas-restore-drop"}, restoreSql: ["-- scanned"], dropSql: ["-- scanned"], image: await cockroachImage()}).restore)
' >"$work/manifests/restore-job.yaml"
ls "$work/manifests" | sed 's/^/scan: manifest /' >&2

status=0
scan() {
  echo "scan: checkov $*" >&2
  "$checkov" --quiet --compact --skip-download "$@" || status=1
}
scan --framework terraform -d terraform
scan --framework kubernetes -d "$work/manifests"
scan --framework dockerfile -f Dockerfile
scan --framework github_actions -d .github/workflows
if [ "$status" -ne 0 ]; then
  echo 'scan: checkov found failed checks (above): fix them, or suppress each next to what it suppresses, with its reason' >&2
  exit 1
fi

# runtime dependencies only: what the ledger image and the CLI ship. An advisory
# of high or critical severity fails the scan. A registry (or mirror) that does
# not answer the audit endpoint cannot say whether there are any: that is
# reported, not failed, here and under CI alike; a real finding always fails.
audit_json=$(npm audit --omit=dev --json 2>"$work/audit.err") || true
verdict=$(node scripts/audit-verdict.mjs "$audit_json" "$(cat "$work/audit.err")")
case "$verdict" in
  ok*) echo "npm audit: ${verdict#ok }" >&2 ;;
  fail*)
    npm audit --omit=dev --audit-level=high >&2 || true
    echo "npm audit: ${verdict#fail } advisories in runtime dependencies: update them (npm audit fix --omit=dev)" >&2
    exit 1 ;;
  *) echo "npm audit: advisories NOT checked: ${verdict#unchecked }" >&2 ;;
esac
