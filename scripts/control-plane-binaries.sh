#!/usr/bin/env bash
# Builds the binaries of the control-plane tests from source, through the Go module
# proxy, at pinned versions, into .tools/<component>-<version>/bin. A component whose
# directory is complete is not rebuilt, so a second run costs well under a second.
#
#   kube-apiserver, kube-controller-manager, kube-scheduler  k8s.io/kubernetes  (K8S_VERSION)
#   kwok (simulated nodes and pod lifecycles)                 sigs.k8s.io/kwok   (KWOK_VERSION)
#   etcd                                                      go.etcd.io/etcd    (ETCD_VERSION)
#
# Prints, on stdout, one line per component: NAME=DIRECTORY (the tests read these).
# Environment: CONTROL_PLANE_BUILD_JOBS (go build -p, default 2), GOCACHE/GOMODCACHE as usual.
set -euo pipefail
cd "$(dirname "$0")/.."

# Kubernetes of the minor k3s runs in the k3d world (src/lib/gitops/context.ts:
# rancher/k3s:v1.30.6-k3s1). v1.30.4, not v1.30.6: the module proxy does not serve every
# staging module of v1.30.6 (k8s.io/pod-security-admission and legacy-cloud-providers
# v0.30.6 answer 403), and v1.30.4 is the nearest patch whose modules are all there. kwok of the same Kubernetes minor (its client libraries
# are k8s.io/* v0.30), and the etcd release of that Kubernetes line (Kubernetes 1.30
# supports etcd 3.5 only; Debian 12 ships 3.4).
K8S_VERSION=${K8S_VERSION:-v1.30.4}
KWOK_VERSION=${KWOK_VERSION:-v0.6.1}
ETCD_VERSION=${ETCD_VERSION:-v3.5.15}
JOBS=${CONTROL_PLANE_BUILD_JOBS:-2}

ROOT=$(pwd)
TOOLS="$ROOT/.tools"
BUILD="$TOOLS/build"
log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

command -v go >/dev/null 2>&1 || { log 'go is not installed (https://go.dev/dl/; Go >= 1.22)'; exit 3; }
export GOFLAGS="${GOFLAGS:-} -mod=mod -buildvcs=false"
export CGO_ENABLED=0
export GOTOOLCHAIN=${GOTOOLCHAIN:-local}

# complete DIR BINARY... : every binary present and the stamp written after the last one
complete() {
  local dir=$1; shift
  [ -f "$dir/.complete" ] || return 1
  local b; for b in "$@"; do [ -x "$dir/bin/$b" ] || return 1; done
}

k8s_dir="$TOOLS/k8s-$K8S_VERSION"
if ! complete "$k8s_dir" kube-apiserver kube-controller-manager kube-scheduler; then
  log "building kube-apiserver, kube-controller-manager, kube-scheduler $K8S_VERSION from source (long on a cold Go cache)"
  minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
  staging_version="v0.${K8S_VERSION#v1.}"
  mod="$BUILD/k8s-$K8S_VERSION"
  rm -rf "$mod" && mkdir -p "$mod"
  # k8s.io/kubernetes requires its staging modules at v0.0.0 and replaces them with
  # ./staging/...; a module of our own requires and replaces them at the release tag.
  staging=$(curl -fsSL "${GOPROXY_URL:-https://proxy.golang.org}/k8s.io/kubernetes/@v/$K8S_VERSION.mod" \
    | sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) v0\.0\.0$#\1#p')
  [ -n "$staging" ] || { log "could not read the staging modules of k8s.io/kubernetes $K8S_VERSION"; exit 1; }
  {
    echo 'module atlas.local/control-plane-build'
    echo 'go 1.22.0'
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo 'require ('; for m in $staging; do echo "	$m $staging_version"; done; echo ')'
    echo 'replace ('; for m in $staging; do echo "	$m => $m $staging_version"; done; echo ')'
  } > "$mod/go.mod"
  now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$now"
  done
  rm -rf "$k8s_dir" && mkdir -p "$k8s_dir/bin"
  (cd "$mod" && go build -p "$JOBS" -trimpath -ldflags "$ldflags" -o "$k8s_dir/bin/" \
    k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler)
  echo "$K8S_VERSION" > "$k8s_dir/.complete"
fi

kwok_dir="$TOOLS/kwok-$KWOK_VERSION"
if ! complete "$kwok_dir" kwok; then
  log "building kwok $KWOK_VERSION from source"
  rm -rf "$kwok_dir" && mkdir -p "$kwok_dir/bin"
  # sigs.k8s.io/kwok has no replace directives: go install module@version works
  GOBIN="$kwok_dir/bin" go install -p "$JOBS" -trimpath \
    -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION" \
    "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  echo "$KWOK_VERSION" > "$kwok_dir/.complete"
fi

etcd_dir="$TOOLS/etcd-$ETCD_VERSION"
if ! complete "$etcd_dir" etcd; then
  log "building etcd $ETCD_VERSION from source"
  mod="$BUILD/etcd-$ETCD_VERSION"
  rm -rf "$mod" && mkdir -p "$mod"
  # go.etcd.io/etcd/server/v3 replaces its sibling modules with ../ paths: same approach
  printf 'module atlas.local/etcd-build\ngo 1.21\nrequire go.etcd.io/etcd/server/v3 %s\n' "$ETCD_VERSION" > "$mod/go.mod"
  rm -rf "$etcd_dir" && mkdir -p "$etcd_dir/bin"
  (cd "$mod" && go build -p "$JOBS" -trimpath -ldflags "-s -w" -o "$etcd_dir/bin/etcd" go.etcd.io/etcd/server/v3)
  echo "$ETCD_VERSION" > "$etcd_dir/.complete"
fi

echo "K8S_BIN=$k8s_dir/bin"
echo "KWOK_BIN=$kwok_dir/bin"
echo "ETCD_BIN=$etcd_dir/bin"
