#!/usr/bin/env bash
# Builds (or reuses) the Debian bookworm test image for hijack.sh tests.
# Sourced by run.sh; every function has one job. Needs root (debootstrap, dockerd).
set -euo pipefail

HIJACK_CACHE="${CELULA_CACHE:-${HOME:-/root}/.cache/celula}/hijack"
HIJACK_SUITE="bookworm"
HIJACK_PACKAGES="systemd,systemd-sysv,dbus,openssh-server,procps,passwd,login,util-linux,iproute2"

log_setup() { printf 'setup: %s\n' "$*" >&2; }

# shellcheck source-path=SCRIPTDIR source=../../scripts/lib/debian.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/debian.sh"

ensure_packages() {
  local missing=()
  command -v dockerd >/dev/null || missing+=(docker.io)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  command -v shellcheck >/dev/null || missing+=(shellcheck)
  [[ ${#missing[@]} -eq 0 ]] && return 0
  log_setup "installing ${missing[*]}"
  apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2
}

ensure_dockerd() {
  if docker info >/dev/null 2>&1; then return 0; fi
  mkdir -p "$HIJACK_CACHE"
  log_setup "starting dockerd (log: $HIJACK_CACHE/dockerd.log)"
  nohup dockerd >"$HIJACK_CACHE/dockerd.log" 2>&1 &
  
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && return 0
    sleep 1
  done
  log_setup "dockerd did not come up in 60s; see $HIJACK_CACHE/dockerd.log"
  return 1
}

base_key() { printf '%s %s\n' "$HIJACK_SUITE" "$HIJACK_PACKAGES" | sha256sum | cut -c1-12; }

# debootstrap tarball, cached by suite + package list.
ensure_rootfs_tarball() {
  local tarball
  tarball="$HIJACK_CACHE/rootfs-$HIJACK_SUITE-$(base_key).tar"
  if [[ -s "$tarball" ]]; then printf '%s\n' "$tarball"; return 0; fi
  local dir="$HIJACK_CACHE/rootfs.tmp" start=$SECONDS
  rm -rf "$dir"; mkdir -p "$dir"
  log_setup "debootstrap $HIJACK_SUITE from $(apt_mirror) (first run only; several minutes)"
  debootstrap --variant=minbase --include="$HIJACK_PACKAGES" "$HIJACK_SUITE" "$dir" "$(apt_mirror)" \
    >"$HIJACK_CACHE/debootstrap.log" 2>&1 || { tail -n 30 "$HIJACK_CACHE/debootstrap.log" >&2; return 1; }
  rm -rf "$dir/var/cache/apt/archives/"*.deb "$dir/var/lib/apt/lists/"*
  tar -C "$dir" --numeric-owner -cf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
  rm -rf "$dir"
  log_setup "debootstrap + tarball took $((SECONDS - start))s"
  printf '%s\n' "$tarball"
}

image_key() { { base_key; cat "$(dirname "${BASH_SOURCE[0]}")/customize.sh"; } | sha256sum | cut -c1-12; }

# ensure_test_image: one builder at a time (CI prepares the image in the background while the
# control plane builds; a test run that starts meanwhile waits for it instead of building it twice).
ensure_test_image() {
  local lock
  mkdir -p "$HIJACK_CACHE"
  exec {lock}>"$HIJACK_CACHE/.image.lock"
  flock "$lock"
  build_test_image
  exec {lock}>&-
}

# Test image = debootstrap base + customize.sh, committed and saved to the cache.
build_test_image() {
  local tag saved
  tag="celula-hijack-test:$(image_key)"
  saved="$HIJACK_CACHE/image-$(image_key).tar"
  if docker image inspect "$tag" >/dev/null 2>&1; then printf '%s\n' "$tag"; return 0; fi
  if [[ -s "$saved" ]]; then
    docker load -i "$saved" >&2
    printf '%s\n' "$tag"; return 0
  fi
  local tarball base cid
  base="celula-hijack-base:$(base_key)"
  tarball="$(ensure_rootfs_tarball)"
  docker image inspect "$base" >/dev/null 2>&1 || docker import "$tarball" "$base" >&2
  cid="$(docker run -d "$base" sleep infinity)"
  docker cp "$(dirname "${BASH_SOURCE[0]}")/customize.sh" "$cid:/tmp/customize.sh"
  docker exec "$cid" bash /tmp/customize.sh >&2
  docker exec "$cid" rm -f /tmp/customize.sh
  docker stop -t 1 "$cid" >/dev/null
  docker commit "$cid" "$tag" >/dev/null
  docker rm "$cid" >/dev/null
  docker save -o "$saved.tmp" "$tag" && mv "$saved.tmp" "$saved"
  printf '%s\n' "$tag"
}

# Run directly (bash hijack/test/image.sh), it only prepares the test image: CI does that in the
# background while the control plane builds, so the hijack tier starts warm.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  ensure_packages
  ensure_dockerd
  ensure_test_image >/dev/null
fi
