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

# wrapper DIR: a fresh throwaway module to build a dependency's main package from.
wrapper() {
  rm -rf "$1"; mkdir -p "$1"
  (cd "$1" && go mod init celula.local/build >/dev/null 2>&1)
}

build_kubernetes() {
  local names=(kube-apiserver kube-controller-manager kube-scheduler kubectl) missing=0 n
  for n in "${names[@]}"; do have "$n" "$K8S_VERSION" || missing=1; done
  [[ $missing == 0 ]] && { log "kubernetes $K8S_VERSION: cached"; return; }
  local dir="$WORK/kubernetes" logf="$LOGS/build-kubernetes.log"
  log "kubernetes $K8S_VERSION: building ${names[*]} (cold: ~13 min on 2 cores)"
  wrapper "$dir"
  {
    cd "$dir"
    local modfile
    modfile="$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
    # k8s.io/kubernetes replaces its staging modules with local paths; point them at the published ones.
    go mod edit -require="k8s.io/kubernetes@$K8S_VERSION"
    grep -oE '^\s+k8s\.io/[a-z0-9-]+ => \./staging' "$modfile" | awk '{print $1}' | while read -r m; do
      go mod edit -replace="$m=$m@$STAGING_VERSION"
    done
    local pkgs=() ldf
    for n in "${names[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$n"); done
    go get "${pkgs[@]/%/@$K8S_VERSION}"
    ldf="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION"
    ldf+=" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37"
    ldf+=" -X k8s.io/component-base/version.gitTreeState=clean"
    ldf+=" -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION"
    go build -trimpath -ldflags "$ldf" -o "$BIN/" "${pkgs[@]}"
  } >"$logf" 2>&1 || fail kubernetes "$logf"
  for n in "${names[@]}"; do stamp "$n" "$K8S_VERSION"; done
}

# build_one NAME PACKAGE VERSION: a single main package from its module.
build_one() {
  local name="$1" pkg="$2" version="$3"
  have "$name" "$version" && { log "$name $version: cached"; return; }
  local dir="$WORK/$name" logf="$LOGS/build-$name.log"
  log "$name $version: building $pkg"
  wrapper "$dir"
  {
    cd "$dir"
    go get "$pkg@$version"
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
  build_one etcd go.etcd.io/etcd/server/v3 "$ETCD_VERSION"
  build_one kwok sigs.k8s.io/kwok/cmd/kwok "$KWOK_VERSION"
  kwok_stages
  build_kubernetes
  build_one helm helm.sh/helm/v3/cmd/helm "$HELM_VERSION"
  log "done in $((SECONDS - start)) s; binaries in $BIN"
}

main "$@"
