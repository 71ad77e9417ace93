#!/usr/bin/env bash
# Builds the local control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
# kubectl, kwok, helm) from upstream Go modules at pinned versions into $CELULA_CACHE/bin.
# Idempotent: a component whose binary (stamped with its version) exists is not rebuilt.
# Nothing is written inside the repository.
set -euo pipefail

K8S_VERSION="v1.37.2"
STAGING_VERSION="v0.37.2"
ETCD_VERSION="v3.6.16"
KWOK_VERSION="v0.8.0"
HELM_VERSION="v3.22.0"

CACHE="${CELULA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/celula}"
BIN="$CACHE/bin"
WORK="$CACHE/build"
LOGS="$CACHE/logs"
mkdir -p "$BIN" "$WORK" "$LOGS"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
export CGO_ENABLED=0

log() { printf '[build] %s\n' "$*" >&2; }

# have NAME VERSION: true when $BIN/NAME was built at VERSION.
have() { [[ -x "$BIN/$1" && "$(cat "$BIN/.$1.version" 2>/dev/null)" == "$2" ]]; }
stamp() { printf '%s\n' "$2" >"$BIN/.$1.version"; }

# fail COMPONENT LOGFILE: say which component failed and show the tail of its log.
fail() {
  log "FAILED: $1 (log: $2)"
  tail -n 30 "$2" >&2 || true
  exit 1
}

# shellcheck source=scripts/lib/go-build.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/go-build.sh"

# The Kubernetes build's module list ("path version"): the other programs are aligned to it.
K8S_MODULES="$WORK/kubernetes.modules"

# k8s_module DIR: the wrapper module the Kubernetes binaries are built in, and its module list.
k8s_module() {
  go_wrapper "$1"
  (cd "$1" && go_k8s_module "$K8S_VERSION" "$STAGING_VERSION" && go get "${K8S_PKGS[@]/%/@$K8S_VERSION}")
  go_modules_file "$1" "$K8S_MODULES"
}

K8S_NAMES=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
K8S_PKGS=("${K8S_NAMES[@]/#/k8s.io/kubernetes/cmd/}")

build_kubernetes() {
  local missing=0 n dir="$WORK/kubernetes" logf="$LOGS/build-kubernetes.log"
  for n in "${K8S_NAMES[@]}"; do have "$n" "$K8S_VERSION" || missing=1; done
  if [[ $missing == 0 ]]; then
    log "kubernetes $K8S_VERSION: cached"
    [[ -s "$K8S_MODULES" ]] || k8s_module "$dir" >"$logf" 2>&1 || fail kubernetes "$logf"
    return
  fi
  log "kubernetes $K8S_VERSION: building ${K8S_NAMES[*]} (cold: 15–20 min on 2 cores)"
  {
    k8s_module "$dir"
    cd "$dir"
    local ldf="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION"
    ldf+=" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37"
    ldf+=" -X k8s.io/component-base/version.gitTreeState=clean"
    ldf+=" -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION"
    go build -trimpath -ldflags "$ldf" -o "$BIN/" "${K8S_PKGS[@]}"
  } >"$logf" 2>&1 || fail kubernetes "$logf"
  for n in "${K8S_NAMES[@]}"; do stamp "$n" "$K8S_VERSION"; done
}

# build_one NAME PACKAGE VERSION [align]: a single main package from its module; with "align", its
# modules shared with Kubernetes are raised to the Kubernetes build's versions (go_align).
build_one() {
  local name="$1" pkg="$2" version="$3" align="${4:-}"
  have "$name" "$version" && { log "$name $version: cached"; return; }
  local dir="$WORK/$name" logf="$LOGS/build-$name.log"
  log "$name $version: building $pkg"
  go_wrapper "$dir"
  {
    cd "$dir"
    go get "$pkg@$version"
    [[ -z "$align" ]] || go_align "$K8S_MODULES" "$pkg@$version"
    go build -trimpath -ldflags "-s -w" -o "$BIN/$name" "$pkg"
  } >"$logf" 2>&1 || fail "$name" "$logf"
  stamp "$name" "$version"
}

# kwok needs Stage configs; they ship in its module source.
kwok_stages() {
  local out="$CACHE/kwok-stages.yaml" dir
  [[ -s "$out" && "$(cat "$CACHE/.kwok-stages.version" 2>/dev/null)" == "$KWOK_VERSION" ]] && return
  dir="$(cd "$WORK/kwok" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)"
  local f first=1
  : >"$out"
  for f in "$dir"/kustomize/stage/node/fast/*.yaml "$dir"/kustomize/stage/node/heartbeat-with-lease/*.yaml \
    "$dir"/kustomize/stage/pod/fast/*.yaml; do
    [[ "$(basename "$f")" == kustomization.yaml ]] && continue
    [[ $first == 1 ]] || printf -- '---\n' >>"$out"
    first=0
    cat "$f" >>"$out"
  done
  printf '%s\n' "$KWOK_VERSION" >"$CACHE/.kwok-stages.version"
}

main() {
  local start=$SECONDS
  # Kubernetes first: kwok and helm reuse its compiled packages. etcd is not aligned (the Kubernetes
  # module list names etcd 3.7 modules; the control plane runs etcd $ETCD_VERSION as pinned).
  build_kubernetes
  build_one etcd go.etcd.io/etcd/server/v3 "$ETCD_VERSION"
  build_one kwok sigs.k8s.io/kwok/cmd/kwok "$KWOK_VERSION" align
  kwok_stages
  build_one helm helm.sh/helm/v3/cmd/helm "$HELM_VERSION" align
  log "done in $((SECONDS - start)) s; binaries in $BIN"
}

main "$@"
