#!/usr/bin/env bash
# Builds everything the kind e2e cluster needs, with no container registry:
#   1. binaries from Go modules at pinned versions (kind, kubelet/kubeadm/kube-proxy, containerd,
#      runc, CNI plugins, crictl, CoreDNS, local-path-provisioner) and pause from its C source;
#   2. component images (docker, from local bases only) and the release tarball kind reads;
#   3. the kind base image (debootstrap rootfs + our unit files) and the node image.
# Idempotent: each step is skipped when its output (stamped with its version/inputs) is cached.
# Every CPU-heavy step runs under nice -n 19.
# Usage: build.sh [binaries|dockerd|rootfs|images|node|all]   (dockerd: start it if it is not running)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=test/e2e/lib.sh
source "$HERE/lib.sh"

export GOFLAGS="${GOFLAGS:--buildvcs=false}"
NICE=(nice -n 19)

# The control-plane build's Kubernetes module list (test/cluster/build.sh writes it): programs that
# share modules with Kubernetes are aligned to it (go_align) and so reuse its compiled packages.
K8S_MODULES="$CACHE/build/kubernetes.modules"

# go_build NAME VERSION OUTDIR PKG@VERSION... : builds main packages in a throwaway module.
# Callers may set `tags`, `cgo` (0/1), `ldf` (extra -ldflags), `align` (1: go_align to K8S_MODULES)
# and `main` (a main.go to build instead of the packages) as locals before calling.
go_build() {
  local name="$1" version="$2" out="$3"
  shift 3
  [[ -e "$out" ]] && have "$name" "$version" && {
    log "$name $version: cached"
    return 0
  }
  local dir="$E2E_WORK/$name" logf="$E2E_LOGS/build-$name.log" pkgs=() p
  for p in "$@"; do pkgs+=("${p%@*}"); done
  log "$name $version: building ${pkgs[*]} (log: $logf)"
  go_wrapper "$dir"
  [[ -z "${main:-}" ]] || pkgs=(.)
  (
    cd "$dir"
    [[ -z "${main:-}" ]] || printf '%s\n' "$main" >main.go
    go get "$@"
    [[ "${align:-0}" == 0 ]] || go_align "$K8S_MODULES" "$@"
    CGO_ENABLED="${cgo:-0}" "${NICE[@]}" go build -trimpath -tags "${tags:-}" \
      -ldflags "-s -w ${ldf:-}" -o "$out" "${pkgs[@]}"
  ) >"$logf" 2>&1 || fail "$name" "$logf"
  stamp "$name" "$version"
}

build_kind() {
  go_build kind "$KIND_VERSION" "$E2E_BIN/kind" "sigs.k8s.io/kind@$KIND_VERSION"
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
  go_wrapper "$dir"
  (
    cd "$dir"
    go_k8s_module "$K8S_VERSION" "$STAGING_VERSION"
    go get "${pkgs[@]/%/@$K8S_VERSION}"
    CGO_ENABLED=0 "${NICE[@]}" go build -trimpath -ldflags "-s -w $(k8s_ldflags)" -o "$E2E_BIN/" "${pkgs[@]}"
  ) >"$logf" 2>&1 || fail kubernetes "$logf"
  touch "$E2E_BIN/kube-node"
  stamp kube-node "$K8S_VERSION"
}

# containerd, ctr and the shim, static (cgo off, like the shim upstream): with cgo on, the standard
# library's net and os/user differ and no package could come from the Kubernetes build's cache.
build_containerd() {
  local m="github.com/containerd/containerd/v2" tags="no_btrfs no_devmapper no_zfs no_aufs" align=1
  local ldf="-X $m/version.Version=$CONTAINERD_VERSION -X $m/version.Package=$m"
  mkdir -p "$E2E_BIN/containerd.d"
  go_build containerd "$CONTAINERD_VERSION-static" "$E2E_BIN/containerd.d/" "$m/cmd/containerd@$CONTAINERD_VERSION" \
    "$m/cmd/ctr@$CONTAINERD_VERSION" "$m/cmd/containerd-shim-runc-v2@$CONTAINERD_VERSION"
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
  local align=1 ldf="-X sigs.k8s.io/cri-tools/pkg/version.Version=$CRICTL_VERSION"
  go_build crictl "$CRICTL_VERSION" "$E2E_BIN/crictl" "sigs.k8s.io/cri-tools/cmd/crictl@$CRICTL_VERSION"
}

# CoreDNS with the plugins kubeadm's Corefile uses (errors, health, ready, kubernetes, prometheus,
# forward, cache, loop, reload, loadbalance) and log/whoami, not the cloud and tracing ones: its
# default main imports every plugin, and the AWS, Azure, Google and Datadog SDKs were most of its build.
COREDNS_MAIN='package main

import (
	_ "github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
	_ "github.com/coredns/coredns/plugin/whoami"
)

func main() { coremain.Run() }'

build_coredns() {
  local align=1 main="$COREDNS_MAIN"
  go_build coredns "$COREDNS_VERSION-kubeadm-plugins" "$E2E_BIN/coredns" "github.com/coredns/coredns@$COREDNS_VERSION"
}

build_local_path() {
  local align=1
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
  [[ -s "$K8S_MODULES" ]] || die "$K8S_MODULES missing: run npm run cluster:build first"
  timed kind build_kind
  timed pause build_pause
  timed cni build_cni
  timed runc build_runc
  # These reuse the packages the control-plane build compiled (go_align): Kubernetes' own first.
  timed kubelet+kubeadm+kube-proxy build_node_kubernetes
  timed crictl build_crictl
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
  # One builder at a time (CI makes the rootfs in the background while other steps may ask for it).
  local lock
  exec {lock}>"$E2E/.rootfs.lock"
  flock "$lock"
  if ! docker image inspect "$ROOTFS_IMAGE" >/dev/null 2>&1; then
    timed debootstrap rootfs_tarball
    log "docker import rootfs as $ROOTFS_IMAGE"
    "${NICE[@]}" docker import "$(rootfs_tarball_path)" "$ROOTFS_IMAGE" >/dev/null
  fi
  exec {lock}>&-
}

# ---------------------------------------------------------------------------------------------
# Component images: docker builds from local bases only (FROM scratch or the debootstrap rootfs)

# docker_build TAG CONTEXT: the legacy builder never pulls; FROM names a local image or scratch.
docker_build() {
  DOCKER_BUILDKIT=0 "${NICE[@]}" docker build -q -t "$1" "$2" >/dev/null 2>"$E2E_LOGS/docker-build.err" \
    || fail "docker build $1" "$E2E_LOGS/docker-build.err"
}

# context NAME FILE...: a fresh build context holding FILEs, with the Dockerfile read from stdin.
context() {
  local dir="$E2E_WORK/ctx-$1"
  shift
  rm -rf "$dir"
  mkdir -p "$dir"
  [[ $# -eq 0 ]] || cp -L "$@" "$dir/"
  cat >"$dir/Dockerfile"
  printf '%s\n' "$dir"
}

# static_image TAG BINARY: one static binary in /usr/local/bin on an empty image.
static_image() {
  local name dir
  name="$(basename "$2")"
  dir="$(context "$name" "$2" <<DOCKERFILE
FROM scratch
COPY $name /usr/local/bin/$name
ENV PATH=/usr/local/bin:/usr/bin:/bin
ENTRYPOINT ["/usr/local/bin/$name"]
DOCKERFILE
)"
  docker_build "$1" "$dir"
}

# rootfs_binary_image TAG BINARY: a binary on the Debian rootfs (kube-proxy needs iptables, conntrack).
rootfs_binary_image() {
  local name dir
  name="$(basename "$2")"
  dir="$(context "$name" "$2" <<DOCKERFILE
FROM $ROOTFS_IMAGE
COPY $name /usr/local/bin/$name
ENTRYPOINT ["/usr/local/bin/$name"]
DOCKERFILE
)"
  docker_build "$1" "$dir"
}

pause_image() {
  local dir
  dir="$(context pause "$E2E_BIN/pause" <<'DOCKERFILE'
FROM scratch
COPY pause /pause
USER 65535:65535
ENTRYPOINT ["/pause"]
DOCKERFILE
)"
  docker_build "$PAUSE_IMAGE" "$dir"
}

coredns_image() {
  local dir
  dir="$(context coredns "$E2E_BIN/coredns" <<'DOCKERFILE'
FROM scratch
COPY coredns /coredns
EXPOSE 53 53/udp
ENTRYPOINT ["/coredns"]
DOCKERFILE
)"
  docker_build "$COREDNS_IMAGE" "$dir"
}

# local-path-helper runs `sh -c` scripts: the Debian rootfs has a shell.
local_path_helper_image() {
  local dir
  dir="$(context local-path-helper <<<"FROM $ROOTFS_IMAGE")"
  docker_build "$LOCAL_PATH_HELPER_IMAGE" "$dir"
}

# kindnetd is not on the Go module proxy; clusters here use disableDefaultCNI + celula-podnet.
# `kind build node-image` still insists on the name, so it gets an image that says so and cannot run.
kindnetd_placeholder_image() {
  local dir note="$E2E_WORK/KINDNETD-NOT-BUILT"
  printf 'kindnetd is not built here; the cluster uses disableDefaultCNI and celula-podnet.\n' >"$note"
  dir="$(context kindnetd "$note" <<'DOCKERFILE'
FROM scratch
COPY KINDNETD-NOT-BUILT /KINDNETD-NOT-BUILT
ENTRYPOINT ["/kindnetd-is-not-built-here"]
DOCKERFILE
)"
  docker_build "$KINDNETD_IMAGE" "$dir"
}

kube_images() {
  local n
  for n in kube-apiserver kube-controller-manager kube-scheduler; do
    static_image "$REG/$n:$K8S_VERSION" "$CP_BIN/$n"
  done
  rootfs_binary_image "$REG/kube-proxy:$K8S_VERSION" "$E2E_BIN/kube-proxy"
}

extra_images() {
  static_image "$ETCD_IMAGE" "$CP_BIN/etcd"
  pause_image
  coredns_image
  static_image "$LOCAL_PATH_IMAGE" "$E2E_BIN/local-path-provisioner"
  local_path_helper_image
  kindnetd_placeholder_image
}

images() {
  rootfs_image
  log "component images: building (docker, no pull)"
  kube_images
  extra_images
}

# ---------------------------------------------------------------------------------------------
# Release tarball for `kind build node-image --type file`

# kind pulls (`ctr content fetch`) every image the node needs unless it finds the name in an image
# tar's metadata: it reads the FIRST of `manifest.json` / `repositories` in the tar, and for
# manifest.json only the first entry's RepoTags. So each tar gets a `repositories` file listing
# every image it holds, fully qualified, as its first member. containerd's importer ignores that
# file and names each image from its own manifest.json entry, so no image carries another's name.
QUALIFY='def q: if (split("/")[0] | test("[.:]")) and contains("/") then .
  elif contains("/") then "docker.io/" + . else "docker.io/library/" + . end;'

# save_image_tar OUT IMAGE...: docker save, names fully qualified, `repositories` first.
save_image_tar() {
  local out="$1" dir="$E2E_WORK/save" rest
  shift
  rm -rf "$dir"
  mkdir -p "$dir"
  docker save "$@" | tar -x -C "$dir"
  jq "$QUALIFY map(.RepoTags |= map(q))" "$dir/manifest.json" >"$dir/manifest.new"
  mv "$dir/manifest.new" "$dir/manifest.json"
  jq 'reduce (.[] | .Config as $c | .RepoTags[] | capture("^(?<r>.+):(?<t>[^:/]+)$") | . + {c: $c})
    as $x ({}; .[$x.r][$x.t] = ($x.c | sub("^blobs/sha256/"; "") | sub("\\.json$"; "")))' \
    "$dir/manifest.json" >"$dir/repositories"
  rest="$(cd "$dir" && find . -mindepth 1 -maxdepth 1 ! -name repositories ! -name manifest.json -printf '%P\n')"
  # shellcheck disable=SC2086  # member names from docker save contain no spaces
  tar -C "$dir" -cf "$out" repositories manifest.json $rest
  rm -rf "$dir"
}

EXTRA_IMAGES=() # set in release_tarball
release_tarball() {
  local root="$E2E_WORK/release" bin n
  bin="$root/kubernetes/server/bin"
  EXTRA_IMAGES=("$ETCD_IMAGE" "$PAUSE_IMAGE" "$COREDNS_IMAGE" "$LOCAL_PATH_IMAGE"
    "$LOCAL_PATH_HELPER_IMAGE" "$KINDNETD_IMAGE")
  rm -rf "$root"
  mkdir -p "$bin"
  printf '%s\n' "$K8S_VERSION" >"$root/kubernetes/version"
  cp "$E2E_BIN/kubeadm" "$E2E_BIN/kubelet" "$CP_BIN/kubectl" "$bin/"
  save_image_tar "$bin/kube-apiserver.tar" "$REG/kube-apiserver:$K8S_VERSION" "${EXTRA_IMAGES[@]}"
  for n in kube-controller-manager kube-scheduler kube-proxy; do
    save_image_tar "$bin/$n.tar" "$REG/$n:$K8S_VERSION"
  done
  log "release tarball: packing $RELEASE_TARBALL"
  tar -C "$root" -cf - kubernetes | "${NICE[@]}" gzip -1 >"$RELEASE_TARBALL.tmp"
  mv "$RELEASE_TARBALL.tmp" "$RELEASE_TARBALL"
  rm -rf "$root"
}

# ---------------------------------------------------------------------------------------------
# kind base image: the Debian rootfs + containerd, runc, crictl, CNI plugins and our node files

NODE_FILES="$HERE/node"

base_context() {
  local dir
  dir="$(context base "$E2E_BIN/containerd.d/containerd" "$E2E_BIN/containerd.d/ctr" \
    "$E2E_BIN/containerd.d/containerd-shim-runc-v2" "$E2E_BIN/runc" "$E2E_BIN/crictl" "$NODE_FILES"/* <<DOCKERFILE
FROM $ROOTFS_IMAGE
COPY containerd ctr containerd-shim-runc-v2 crictl entrypoint celula-podnet /usr/local/bin/
COPY runc /usr/local/sbin/runc
COPY cni/ /opt/cni/bin/
COPY containerd.toml /etc/containerd/config.toml
COPY crictl.yaml /etc/crictl.yaml
COPY kubelet.default /etc/default/kubelet
COPY sysctl.conf /etc/sysctl.d/10-celula-node.conf
COPY containerd.service kubelet.service kubelet.slice celula-podnet.service /etc/systemd/system/
RUN chmod 0755 /usr/local/bin/* /usr/local/sbin/runc /opt/cni/bin/* \\
 && ctr oci spec | jq 'del(.process.rlimits)' >/etc/containerd/cri-base.json \\
 && rm -f /lib/systemd/system/sysinit.target.wants/systemd-tmpfiles-setup.service \\
    /lib/systemd/system/multi-user.target.wants/* /etc/systemd/system/*.wants/* \\
    /lib/systemd/system/local-fs.target.wants/* /lib/systemd/system/sockets.target.wants/*udev* \\
    /lib/systemd/system/sockets.target.wants/*initctl* /lib/systemd/system/basic.target.wants/* \\
 && echo ReadKMsg=no >>/etc/systemd/journald.conf \\
 && systemctl enable containerd.service kubelet.service celula-podnet.service \\
 && systemctl mask systemd-binfmt.service \\
 && mkdir -p /etc/kubernetes/manifests /kind /etc/cni/net.d \\
 && containerd --version && runc --version && crictl --version
ENV container=docker
STOPSIGNAL SIGRTMIN+3
ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]
DOCKERFILE
)"
  cp -r "$E2E_BIN/cni" "$dir/cni"
  printf '%s\n' "$dir"
}

# The base image's tag is a digest of everything that goes into it.
base_key() {
  { rootfs_key; cat "$E2E_BIN"/.containerd*.version "$E2E_BIN"/.runc.version "$E2E_BIN"/.crictl.version \
    "$E2E_BIN"/.cni.version; cat "$NODE_FILES"/*; } | sha256sum | cut -c1-12
}

BASE_IMAGE="" # set by base_image
base_image() {
  BASE_IMAGE="celula-e2e/kind-base:$(base_key)"
  docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 && return 0
  log "base image: building $BASE_IMAGE"
  docker_build "$BASE_IMAGE" "$(base_context)"
}

# ---------------------------------------------------------------------------------------------
# Node image: `kind build node-image --type file`, nothing fetched

RELEASE_TARBALL="$E2E/kubernetes-server-linux-amd64.tar.gz"
NODE_STAMP="$E2E/.node-image.key"

# Everything the node image is made of: versions of every binary, these scripts, the node files.
node_key() {
  {
    rootfs_key
    cat "$E2E_BIN"/.*.version "$CP_BIN"/.etcd.version "$CP_BIN"/.kube-*.version
    cat "$HERE"/lib.sh "$HERE"/build.sh "$NODE_FILES"/*
  } | sha256sum | cut -c1-16
}

node_cached() {
  docker image inspect "$NODE_IMAGE" >/dev/null 2>&1 && [[ "$(cat "$NODE_STAMP" 2>/dev/null)" == "$1" ]]
}

node_image() {
  local tmp="$E2E_WORK/kind-tmp" logf="$E2E_LOGS/node-image.log"
  timed release-tarball release_tarball
  log "node image: kind build node-image --type file (log: $logf)"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  # kind extracts the tarball under TMPDIR and leaves it there: keep it in the cache, then remove it.
  TMPDIR="$tmp" kind_run build node-image --type file "$RELEASE_TARBALL" --base-image "$BASE_IMAGE" \
    --image "$NODE_IMAGE" >"$logf" 2>&1 || fail "node image" "$logf"
  rm -rf "$tmp"
}

node() {
  local key
  key="$(node_key)"
  if node_cached "$key"; then
    log "node image $NODE_IMAGE: cached"
    return 0
  fi
  images
  timed base-image base_image
  timed node-image node_image
  printf '%s\n' "$key" >"$NODE_STAMP"
  log "node image $NODE_IMAGE: $(docker image inspect -f '{{.Size}}' "$NODE_IMAGE" | awk '{printf "%.0f MB", $1/1e6}')"
}

main() {
  local what="${1:-all}" start=$SECONDS
  case "$what" in
    binaries) binaries ;;
    dockerd) ensure_dockerd ;;
    rootfs) ensure_dockerd && rootfs_image ;;
    images) ensure_dockerd && images ;;
    node) ensure_dockerd && node ;;
    all) binaries && ensure_dockerd && node ;;
    *) die "unknown step '$what' (expected binaries, dockerd, rootfs, images, node or all)" ;;
  esac
  log "build.sh $what: done in $((SECONDS - start)) s"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then main "$@"; fi
