#!/usr/bin/env bash
# Shared settings and helpers for test/e2e/{build,cluster}.sh (sourced, not run).
# Everything built or written lives under $E2E (default ~/.cache/celula/e2e), never in the repo.
# shellcheck disable=SC2034  # settings used by the scripts that source this file
set -euo pipefail

KIND_VERSION="v0.33.0"
K8S_VERSION="v1.37.2"
STAGING_VERSION="v0.37.2"
CONTAINERD_VERSION="v2.4.2"
RUNC_VERSION="v1.5.2"
CNI_VERSION="v1.9.1"
CRICTL_VERSION="v1.36.0"
COREDNS_VERSION="v1.14.6"
LOCAL_PATH_VERSION="v0.0.30"
DEBIAN_SUITE="bookworm"

# Image names kind v0.33.0 / kubeadm v1.37.2 expect inside the node image.
REG="registry.k8s.io"
PAUSE_IMAGE="$REG/pause:3.10.2"
ETCD_IMAGE="$REG/etcd:3.7.0-0"
COREDNS_IMAGE="$REG/coredns/coredns:$COREDNS_VERSION"
KINDNETD_IMAGE="docker.io/kindest/kindnetd:v20260820-69b56db7"
LOCAL_PATH_IMAGE="docker.io/kindest/local-path-provisioner:v20260820-69b56db7"
LOCAL_PATH_HELPER_IMAGE="docker.io/kindest/local-path-helper:v20260131-7181c60a"
NODE_IMAGE="celula/kind-node:$K8S_VERSION"
CLUSTER_NAME="${CELULA_E2E_CLUSTER:-celula-e2e}"

CACHE="${CELULA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/celula}"
E2E="$CACHE/e2e"
E2E_BIN="$E2E/bin"
E2E_WORK="$E2E/build"
E2E_LOGS="$E2E/logs"
E2E_IMAGES="$E2E/images"
# Control-plane binaries test/cluster/build.sh already made (same Kubernetes version).
CP_BIN="$CACHE/bin"
mkdir -p "$E2E_BIN" "$E2E_WORK" "$E2E_LOGS" "$E2E_IMAGES"

log() { printf '[e2e] %s\n' "$*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}

# have NAME VERSION: true when $E2E_BIN/NAME was built at VERSION.
have() { [[ -e "$E2E_BIN/$1" && "$(cat "$E2E_BIN/.$1.version" 2>/dev/null)" == "$2" ]]; }
stamp() { printf '%s\n' "$2" >"$E2E_BIN/.$1.version"; }

# fail COMPONENT LOGFILE: say which component failed and show the tail of its log.
fail() {
  log "FAILED: $1 (log: $2)"
  tail -n 30 "$2" >&2 || true
  exit 1
}

# wrapper DIR: a fresh throwaway module to build a dependency's main package from.
wrapper() {
  rm -rf "$1"
  mkdir -p "$1"
  (cd "$1" && go mod init celula.local/build >/dev/null 2>&1)
}

# timed NAME CMD...: run CMD, then log how long it took (cold builds are reported this way).
timed() {
  local name="$1" start=$SECONDS
  shift
  "$@"
  log "$name: $((SECONDS - start)) s"
  printf '%s %s\n' "$name" "$((SECONDS - start))" >>"$E2E_LOGS/times.txt"
}

# Docker must answer; start dockerd the way the hijack tests do when it does not.
ensure_dockerd() {
  docker info >/dev/null 2>&1 && return 0
  command -v dockerd >/dev/null || die "dockerd not installed (apt-get install docker.io)"
  log "starting dockerd (log: $E2E_LOGS/dockerd.log)"
  nohup dockerd >"$E2E_LOGS/dockerd.log" 2>&1 &
  local _
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && return 0
    sleep 1
  done
  die "dockerd did not come up in 60 s; see $E2E_LOGS/dockerd.log"
}
