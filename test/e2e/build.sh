#!/usr/bin/env bash
# Builds everything the kind e2e cluster needs, with no container registry:
#   1. binaries from Go modules at pinned versions (kind, kubelet/kubeadm/kube-proxy, containerd,
#      runc, CNI plugins, crictl, CoreDNS, local-path-provisioner) and pause from its C source;
#   2. component images (docker, from local bases only) and the release tarball kind reads;
#   3. the kind base image (debootstrap rootfs + our unit files) and the node image.
# Idempotent: each step is skipped when its output (stamped with its version/inputs) is cached.
# Every CPU-heavy step runs under nice -n 19. Usage: build.sh [binaries|images|node|all]
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=test/e2e/lib.sh
source "$HERE/lib.sh"

export GOFLAGS="${GOFLAGS:--buildvcs=false}"
NICE=(nice -n 19)

# go_build NAME VERSION OUTDIR PKG@VERSION... : builds main packages in a throwaway module.
# Callers may set `tags`, `cgo` (0/1) and `ldf` (extra -ldflags) as locals before calling.
go_build() {
  local name="$1" version="$2" out="$3"
  shift 3
  have "$name" "$version" && {
    log "$name $version: cached"
    return 0
  }
  local dir="$E2E_WORK/$name" logf="$E2E_LOGS/build-$name.log" pkgs=() p
  for p in "$@"; do pkgs+=("${p%@*}"); done
  log "$name $version: building ${pkgs[*]} (log: $logf)"
  wrapper "$dir"
  (
    cd "$dir"
    go get "$@"
    CGO_ENABLED="${cgo:-0}" "${NICE[@]}" go build -trimpath -tags "${tags:-}" \
      -ldflags "-s -w ${ldf:-}" -o "$out" "${pkgs[@]}"
  ) >"$logf" 2>&1 || fail "$name" "$logf"
  stamp "$name" "$version"
}

build_kind() {
  go_build kind "$KIND_VERSION" "$E2E_BIN/kind" "sigs.k8s.io/kind@$KIND_VERSION"
}

# k8s.io/kubernetes replaces its staging modules with ./staging paths; point them at the published ones.
staging_replaces() {
  local modfile m
  modfile="$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  go mod edit -require="k8s.io/kubernetes@$K8S_VERSION"
  grep -oE '^\s+k8s\.io/[a-z0-9-]+ => \./staging' "$modfile" | awk '{print $1}' | while read -r m; do
    go mod edit -replace="$m=$m@$STAGING_VERSION"
  done
}

k8s_ldflags() {
  local v="-X k8s.io/component-base/version.gitVersion=$K8S_VERSION"
  v+=" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37"
  v+=" -X k8s.io/component-base/version.gitTreeState=clean"
  printf '%s -X k8s.io/client-go/pkg/version.gitVersion=%s' "$v" "$K8S_VERSION"
}

build_node_kubernetes() {
  have kube-node "$K8S_VERSION" && {
    log "kubelet/kubeadm/kube-proxy $K8S_VERSION: cached"
    return 0
  }
  local dir="$E2E_WORK/kubernetes" logf="$E2E_LOGS/build-kubernetes.log" pkgs=() n
  for n in kubelet kubeadm kube-proxy; do pkgs+=("k8s.io/kubernetes/cmd/$n"); done
  log "kubelet/kubeadm/kube-proxy $K8S_VERSION: building (log: $logf)"
  wrapper "$dir"
  (
    cd "$dir"
    staging_replaces
    go get "${pkgs[@]/%/@$K8S_VERSION}"
    CGO_ENABLED=0 "${NICE[@]}" go build -trimpath -ldflags "-s -w $(k8s_ldflags)" -o "$E2E_BIN/" "${pkgs[@]}"
  ) >"$logf" 2>&1 || fail kubernetes "$logf"
  touch "$E2E_BIN/kube-node"
  stamp kube-node "$K8S_VERSION"
}

build_containerd() {
  local m="github.com/containerd/containerd/v2" cgo=1 tags="no_btrfs no_devmapper no_zfs no_aufs"
  local ldf="-X $m/version.Version=$CONTAINERD_VERSION -X $m/version.Package=$m"
  mkdir -p "$E2E_BIN/containerd.d"
  go_build containerd "$CONTAINERD_VERSION" "$E2E_BIN/containerd.d/" \
    "$m/cmd/containerd@$CONTAINERD_VERSION" "$m/cmd/ctr@$CONTAINERD_VERSION"
  # The shim is static upstream too (it must not depend on the node's libc).
  cgo=0
  go_build containerd-shim "$CONTAINERD_VERSION" "$E2E_BIN/containerd.d/" \
    "$m/cmd/containerd-shim-runc-v2@$CONTAINERD_VERSION"
}

build_runc() {
  local cgo=1 tags="seccomp" ldf="-X main.version=${RUNC_VERSION#v}"
  go_build runc "$RUNC_VERSION" "$E2E_BIN/runc" "github.com/opencontainers/runc@$RUNC_VERSION"
}

build_cni() {
  local m="github.com/containernetworking/plugins" p pkgs=()
  local ldf="-X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=$CNI_VERSION"
  for p in main/ptp main/bridge main/loopback ipam/host-local meta/portmap; do
    pkgs+=("$m/plugins/$p@$CNI_VERSION")
  done
  mkdir -p "$E2E_BIN/cni"
  go_build cni "$CNI_VERSION" "$E2E_BIN/cni/" "${pkgs[@]}"
}

build_crictl() {
  local ldf="-X sigs.k8s.io/cri-tools/pkg/version.Version=$CRICTL_VERSION"
  go_build crictl "$CRICTL_VERSION" "$E2E_BIN/crictl" "sigs.k8s.io/cri-tools/cmd/crictl@$CRICTL_VERSION"
}

build_coredns() {
  go_build coredns "$COREDNS_VERSION" "$E2E_BIN/coredns" "github.com/coredns/coredns@$COREDNS_VERSION"
}

build_local_path() {
  go_build local-path-provisioner "$LOCAL_PATH_VERSION" "$E2E_BIN/local-path-provisioner" \
    "github.com/rancher/local-path-provisioner@$LOCAL_PATH_VERSION"
}

# pause: the C source ships in the k8s.io/kubernetes module zip (build/pause/linux/pause.c).
build_pause() {
  have pause "$K8S_VERSION" && return 0
  local src
  src="$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')"
  [[ -f "$src/build/pause/linux/pause.c" ]] || die "pause.c not found in $src"
  log "pause: gcc -static $src/build/pause/linux/pause.c"
  gcc -Os -static -DVERSION="${PAUSE_IMAGE##*:}" -o "$E2E_BIN/pause" "$src/build/pause/linux/pause.c"
  strip "$E2E_BIN/pause"
  stamp pause "$K8S_VERSION"
}

binaries() {
  command -v go >/dev/null || die "go not on PATH"
  [[ -f /usr/include/seccomp.h ]] || die "runc needs libseccomp-dev (apt-get install libseccomp-dev)"
  local f
  for f in etcd kube-apiserver kube-controller-manager kube-scheduler kubectl; do
    [[ -x "$CP_BIN/$f" ]] || die "$CP_BIN/$f missing: run npm run cluster:build first"
  done
  timed kind build_kind
  timed pause build_pause
  timed cni build_cni
  timed runc build_runc
  timed crictl build_crictl
  timed kubelet+kubeadm+kube-proxy build_node_kubernetes
  timed containerd build_containerd
  timed local-path-provisioner build_local_path
  timed coredns build_coredns
}

# ---------------------------------------------------------------------------------------------
# Debian root filesystem (node base, kube-proxy and local-path-helper images)

ROOTFS_PACKAGES="systemd,systemd-sysv,dbus,conntrack,iptables,nftables,iproute2,ethtool,util-linux"
ROOTFS_PACKAGES+=",mount,kmod,libseccomp2,pigz,fuse-overlayfs,e2fsprogs,bash,ca-certificates,curl,jq,procps"

rootfs_key() { printf '%s %s\n' "$DEBIAN_SUITE" "$ROOTFS_PACKAGES" | sha256sum | cut -c1-12; }

# apt mirror configured on this machine, Debian's default otherwise.
apt_mirror() {
  local uri
  uri="$(grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -n1 || true)"
  [[ -n "$uri" ]] || uri="$(awk '$1 == "deb" && $2 ~ /debian\/?$/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)"
  printf '%s\n' "${uri:-http://deb.debian.org/debian}"
}

rootfs_tarball_path() { printf '%s/rootfs-%s-%s.tar\n' "$E2E" "$DEBIAN_SUITE" "$(rootfs_key)"; }

# debootstrap --variant=minbase, packed as a tar (cached by suite + package list).
rootfs_tarball() {
  local tarball dir="$E2E_WORK/rootfs" logf="$E2E_LOGS/debootstrap.log"
  tarball="$(rootfs_tarball_path)"
  [[ -s "$tarball" ]] && return 0
  command -v debootstrap >/dev/null || die "debootstrap not installed (apt-get install debootstrap)"
  log "debootstrap $DEBIAN_SUITE from $(apt_mirror) (log: $logf)"
  rm -rf "$dir"
  mkdir -p "$dir"
  "${NICE[@]}" debootstrap --variant=minbase --include="$ROOTFS_PACKAGES" "$DEBIAN_SUITE" "$dir" "$(apt_mirror)" \
    >"$logf" 2>&1 || fail debootstrap "$logf"
  rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
  "${NICE[@]}" tar -C "$dir" --numeric-owner -cf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
  rm -rf "$dir"
}

ROOTFS_IMAGE="" # set by rootfs_image
rootfs_image() {
  ROOTFS_IMAGE="celula-e2e/rootfs:$(rootfs_key)"
  docker image inspect "$ROOTFS_IMAGE" >/dev/null 2>&1 && return 0
  timed debootstrap rootfs_tarball
  log "docker import rootfs as $ROOTFS_IMAGE"
  "${NICE[@]}" docker import "$(rootfs_tarball_path)" "$ROOTFS_IMAGE" >/dev/null
}

main() {
  local what="${1:-all}" start=$SECONDS
  case "$what" in
    binaries) binaries ;;
    rootfs) ensure_dockerd && rootfs_image ;;
    all) binaries ;;
    *) die "unknown step '$what' (expected binaries, images, node or all)" ;;
  esac
  log "build.sh $what: done in $((SECONDS - start)) s"
}

main "$@"
