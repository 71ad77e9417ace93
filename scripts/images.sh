#!/usr/bin/env bash
# npm run images: builds the Celula image (operator + cell runtime, ../Dockerfile) on base images
# made on this machine, prints its name, image ID and size, then checks it (non-root, read-only root
# filesystem, no shell, both entry points answer --help). Nothing is pulled from a registry; `npm ci`
# in the builder stages reaches the npm registry on a cold build only (layers are cached).
#
# Bases (docs/operations.md "Images"), cached by their inputs:
#   celula-rootfs:<key>        `debootstrap --variant=minbase` rootfs, `docker import`ed (tarball in
#                              $CELULA_CACHE/images)
#   celula-base-build:<key>    rootfs + Node 24 (the `node` dev dependency's binary) + the host's npm
#   celula-base-runtime:<key>  FROM scratch: node, the libraries ldd lists, CA certificates, tzdata,
#                              passwd/group with user 65532; no shell, no package manager
#
# Host changes: installs docker.io/debootstrap with apt-get if missing (undo: apt-get remove) and
# starts dockerd if it is not running (undo: kill the pid in $CELULA_CACHE/images/dockerd.pid).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${CELULA_CACHE:-${HOME:-/root}/.cache/celula}/images"
IMAGE="${CELULA_IMAGE:-celula:dev}"
SUITE="bookworm"
PACKAGES="ca-certificates,tzdata,libstdc++6"
VERIFY=1
BUILD=1
NICE=(nice -n 19)
# Build containers are children of dockerd, not of this script: nice does not reach them, so they get
# the lowest CPU weight and at most one core (this machine runs timing-sensitive tests alongside).
LIMITS=(--cpu-shares 2 --cpu-period 100000 --cpu-quota 100000)
export DOCKER_BUILDKIT=0 # the legacy builder: no buildx plugin here, and it never pulls with --pull=false

log() { printf 'images: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

usage() {
  cat <<EOF
Usage: npm run images -- [--image NAME] [--no-verify | --verify-only]

Builds the Celula image (operator and cell runtime) on bases made on this machine and prints
"<name> <image ID> <size>". Then runs it as user 65532 with a read-only root filesystem and checks
there is no shell and that both entry points answer --help (skip with --no-verify).

  --image NAME   image name:tag (default: \$CELULA_IMAGE or celula:dev)
  --no-verify    skip the checks
  --verify-only  only check an existing image (no build, no archive)
Environment: CELULA_CACHE (default ~/.cache/celula), CELULA_IMAGE.
EOF
}

parse_args() {
  while (($#)); do
    case "$1" in
      --image)
        [[ $# -ge 2 && -n "$2" ]] || die "--image needs a name, e.g. --image celula:dev"
        IMAGE="$2"
        shift 2
        ;;
      --no-verify) VERIFY=0 && shift ;;
      --verify-only) BUILD=0 && shift ;;
      -h | --help) usage && exit 0 ;;
      *) die "unknown argument '$1' (see --help)" ;;
    esac
  done
  [[ "$IMAGE" =~ ^[a-z0-9][a-z0-9._/-]*(:[A-Za-z0-9_][A-Za-z0-9._-]{0,127})?$ ]] ||
    die "image name '$IMAGE' is not a valid name[:tag]"
}

# --- host ------------------------------------------------------------------------------------------

ensure_packages() {
  local missing=()
  command -v dockerd >/dev/null || missing+=(docker.io)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  ((${#missing[@]} == 0)) && return 0
  log "installing ${missing[*]} (undo: apt-get remove ${missing[*]})"
  apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2
}

ensure_dockerd() {
  docker info >/dev/null 2>&1 && return 0
  mkdir -p "$CACHE"
  log "starting dockerd (log $CACHE/dockerd.log; undo: kill \$(cat $CACHE/dockerd.pid))"
  nohup dockerd >"$CACHE/dockerd.log" 2>&1 &
  echo $! >"$CACHE/dockerd.pid"
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && return 0
    sleep 1
  done
  die "dockerd did not come up in 60s; see $CACHE/dockerd.log"
}

# shellcheck source=scripts/lib/debian.sh
source "$ROOT/scripts/lib/debian.sh"

# --- inputs of the bases ---------------------------------------------------------------------------

# The Node 24 binary the `node` dev dependency ships (npm ci installs it).
node_binary() {
  local bin="$ROOT/node_modules/node/bin/node" version
  [[ -x "$bin" ]] || die "$bin is missing: run npm ci (the 'node' dev dependency ships Node 24)"
  bin="$(readlink -f "$bin")"
  version="$("$bin" --version)"
  [[ "$version" == v24.* ]] || die "$bin is Node $version, want v24"
  printf '%s\n' "$bin"
}

# The npm package of the npm client on this host (copied into the builder base): the one running
# `npm run images` ($npm_execpath), else the one on PATH.
npm_dir() {
  local cli="${npm_execpath:-}" dir
  [[ -n "$cli" ]] || cli="$(command -v npm || true)"
  [[ -n "$cli" ]] || die "npm is not on PATH (the builder base takes the host's npm)"
  dir="$(dirname "$(dirname "$(readlink -f "$cli")")")"
  [[ -f "$dir/bin/npm-cli.js" && -f "$dir/package.json" ]] || die "no npm package at $dir (from $cli)"
  printf '%s\n' "$dir"
}

host_ca() {
  local ca=/etc/ssl/certs/ca-certificates.crt
  [[ -s "$ca" ]] || die "$ca is missing (apt-get install ca-certificates)"
  printf '%s\n' "$ca"
}

short_hash() { sha256sum | cut -c1-12; }

rootfs_key() { printf '%s %s\n' "$SUITE" "$PACKAGES" | short_hash; }

# Sets NODE_BIN, NPM_DIR, HOST_CA (a failure stops the script here, not in a subshell).
resolve_inputs() {
  NODE_BIN="$(node_binary)"
  NPM_DIR="$(npm_dir)"
  HOST_CA="$(host_ca)"
  log "inputs: node $("$NODE_BIN" --version) ($NODE_BIN), npm $(npm_version) ($NPM_DIR), CA bundle $HOST_CA"
}

npm_version() { "$NODE_BIN" -p "require(process.argv[1]).version" "$NPM_DIR/package.json"; }

build_base_key() {
  {
    rootfs_key
    sha256sum "$NODE_BIN" | cut -d' ' -f1
    npm_version
    sha256sum "$HOST_CA" | cut -d' ' -f1
    cat "$ROOT/images/build-base.Dockerfile"
  } | short_hash
}

runtime_base_key() {
  { build_base_key; cat "$ROOT/images/runtime-base.Dockerfile" "$ROOT/images/collect-runtime.sh"; } | short_hash
}

# --- bases -----------------------------------------------------------------------------------------

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

# docker build at the lowest priority, output in a log file (shown when it fails).
quiet_build() {
  local log_file="$1"
  shift
  "${NICE[@]}" docker build --pull=false "${LIMITS[@]}" "$@" >"$log_file" 2>&1 || {
    tail -n 40 "$log_file" >&2
    die "docker build failed (log $log_file)"
  }
}

# debootstrap tarball, cached by suite + package list.
ensure_rootfs_tarball() {
  local tarball dir start=$SECONDS
  tarball="$CACHE/rootfs-$SUITE-$(rootfs_key).tar"
  if [[ -s "$tarball" ]]; then
    printf '%s\n' "$tarball"
    return 0
  fi
  dir="$CACHE/rootfs.tmp"
  rm -rf "$dir" && mkdir -p "$dir"
  log "debootstrap --variant=minbase $SUITE from $(apt_mirror) (first run only)"
  "${NICE[@]}" debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$dir" "$(apt_mirror)" \
    >"$CACHE/debootstrap.log" 2>&1 || {
    tail -n 30 "$CACHE/debootstrap.log" >&2
    die "debootstrap failed (log $CACHE/debootstrap.log)"
  }
  rm -rf "$dir/var/cache/apt/archives/"*.deb "$dir/var/lib/apt/lists/"*
  "${NICE[@]}" tar -C "$dir" --numeric-owner -cf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
  rm -rf "$dir"
  log "debootstrap + tarball took $((SECONDS - start))s"
  printf '%s\n' "$tarball"
}

ensure_rootfs_image() {
  local tag
  tag="celula-rootfs:$(rootfs_key)"
  have_image "$tag" || "${NICE[@]}" docker import "$(ensure_rootfs_tarball)" "$tag" >/dev/null
  printf '%s\n' "$tag"
}

# Builder base: a throwaway context with node, npm and the host CA bundle.
ensure_build_base() {
  local tag ctx rootfs
  tag="celula-base-build:$(build_base_key)"
  if have_image "$tag"; then
    printf '%s\n' "$tag"
    return 0
  fi
  rootfs="$(ensure_rootfs_image)"
  ctx="$(mktemp -d)"
  cp "$NODE_BIN" "$ctx/node"
  cp -r "$NPM_DIR" "$ctx/npm"
  cp "$HOST_CA" "$ctx/host-ca.crt"
  log "building $tag on $rootfs"
  quiet_build "$CACHE/build-base.log" --build-arg "ROOTFS=$rootfs" \
    -f "$ROOT/images/build-base.Dockerfile" -t "$tag" "$ctx"
  rm -rf "$ctx"
  printf '%s\n' "$tag"
}

ensure_runtime_base() {
  local tag build_base
  tag="celula-base-runtime:$(runtime_base_key)"
  if have_image "$tag"; then
    printf '%s\n' "$tag"
    return 0
  fi
  build_base="$(ensure_build_base)"
  log "building $tag from $build_base"
  quiet_build "$CACHE/runtime-base.log" --build-arg "BUILD_BASE=$build_base" \
    -f "$ROOT/images/runtime-base.Dockerfile" -t "$tag" "$ROOT/images"
  printf '%s\n' "$tag"
}

# --- the image -------------------------------------------------------------------------------------

revision() {
  local rev
  rev="$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)"
  [[ -z "$(git -C "$ROOT" status --porcelain -- src package.json package-lock.json tsconfig.json hijack/hijack.sh Dockerfile 2>/dev/null)" ]] ||
    rev="$rev-dirty"
  printf '%s\n' "$rev"
}

build_image() {
  local build_base="$1" runtime_base="$2" version start=$SECONDS
  version="$("$NODE_BIN" -p "require(process.argv[1]).version" "$ROOT/package.json")"
  log "building $IMAGE (version $version, revision $(revision))"
  quiet_build "$CACHE/build.log" \
    --build-arg "BUILD_BASE=$build_base" --build-arg "RUNTIME_BASE=$runtime_base" \
    --build-arg "VERSION=$version" --build-arg "REVISION=$(revision)" \
    --build-arg "SOURCE=$(git -C "$ROOT" remote get-url origin 2>/dev/null || true)" \
    -t "$IMAGE" "$ROOT"
  log "docker build took $((SECONDS - start))s"
}

# The image as an OCI archive for `kind load image-archive`: named by tag and by manifest digest, so a
# Pod pinned to <repo>@<manifest digest> resolves on the node (scripts/oci-layout.ts). Sets ARCHIVE
# and MANIFEST_DIGEST; cached by image ID.
write_oci_archive() {
  local id tmp
  id="$(docker image inspect --format '{{.Id}}' "$IMAGE")"
  ARCHIVE="$CACHE/$(tr ':/' '--' <<<"$IMAGE").oci.tar"
  if [[ -s "$ARCHIVE" && -s "$ARCHIVE.digest" && "$(head -n1 "$ARCHIVE.digest")" == "$id" ]]; then
    MANIFEST_DIGEST="$(sed -n 2p "$ARCHIVE.digest")"
    return 0
  fi
  tmp="$(mktemp -d)"
  mkdir -p "$tmp/saved" "$tmp/oci"
  docker save "$IMAGE" | tar -C "$tmp/saved" -x
  MANIFEST_DIGEST="$("$NODE_BIN" "$ROOT/scripts/oci-layout.ts" "$tmp/saved" "$tmp/oci" "$IMAGE")"
  "${NICE[@]}" tar -C "$tmp/oci" --numeric-owner -cf "$ARCHIVE.tmp" .
  mv "$ARCHIVE.tmp" "$ARCHIVE"
  printf '%s\n%s\n' "$id" "$MANIFEST_DIGEST" >"$ARCHIVE.digest"
  rm -rf "$tmp"
}

# One line per image: name, image ID (sha256 of the image config), size.
report() {
  local name
  for name in "$@"; do
    docker image inspect --format "{{index .RepoTags 0}} {{.Id}} {{.Size}}" "$name" |
      awk '{printf "%s %s %.1f MB\n", $1, $2, $3 / 1000000}'
  done
}

# --- checks ----------------------------------------------------------------------------------------

run_ro() { docker run --rm --read-only --network none "$@"; }

expect() {
  local what="$1"
  shift
  if "$@"; then log "ok: $what"; else die "check failed: $what"; fi
}

runs_non_root() {
  local ids
  ids="$(run_ro --entrypoint node "$IMAGE" -e 'console.log(process.getuid(), process.getgid())')"
  log "uid gid in the container: $ids"
  [[ "$ids" == "65532 65532" ]]
}

# /tmp is writable by the user in the image (mode 1777): only a read-only root fs refuses it.
root_fs_read_only() {
  run_ro --entrypoint node "$IMAGE" -e '
    try { require("fs").writeFileSync("/tmp/probe", "x"); process.exit(1); }
    catch (e) { process.exit(e.code === "EROFS" ? 0 : 1); }'
}

no_shell() {
  local sh
  for sh in /bin/sh /bin/bash /usr/bin/sh /bin/busybox; do
    if run_ro --entrypoint "$sh" "$IMAGE" -c true >/dev/null 2>&1; then
      log "$sh runs in $IMAGE"
      return 1
    fi
  done
}

# Every file of the image by name: no shell, package manager or interpreter other than node.
nothing_to_run_but_node() {
  local cid found
  cid="$(docker create "$IMAGE")"
  found="$(docker export "$cid" | tar -t | grep -E '(^|/)(sh|bash|dash|ash|zsh|busybox|apt|apt-get|dpkg|rpm|npm|npx|yarn|python3?|perl)$' || true)"
  docker rm "$cid" >/dev/null
  [[ -z "$found" ]] || log "found in $IMAGE: $(tr '\n' ' ' <<<"$found")"
  [[ -z "$found" ]]
}

# The help is captured before grep: with pipefail, `cmd | grep -q` fails at random (SIGPIPE).
cell_help() {
  local help
  help=$(run_ro "$IMAGE" --help) && grep -q '^celula-cell' <<<"$help"
}

operator_help() {
  local help
  help=$(run_ro --entrypoint node "$IMAGE" dist/src/main.js --help) && grep -q '^celula-operator' <<<"$help"
}

# The default command is the cell under the flag its memory-hygiene gate requires.
cell_entrypoint() {
  [[ "$(docker image inspect --format '{{json .Config.Entrypoint}}' "$IMAGE")" == '["node","--disable-sigusr1","dist/src/cell/main.js"]' ]]
}

verify() {
  expect "runs as 65532:65532" runs_non_root
  expect "root filesystem is read-only" root_fs_read_only
  expect "no shell (/bin/sh, bash, busybox)" no_shell
  expect "no shell, package manager or interpreter but node among the image's files" nothing_to_run_but_node
  expect "entrypoint is node --disable-sigusr1 dist/src/cell/main.js" cell_entrypoint
  expect "cell runtime --help" cell_help
  expect "operator --help" operator_help
}

main() {
  parse_args "$@"
  mkdir -p "$CACHE"
  ensure_packages
  ensure_dockerd
  if ((!BUILD)); then
    have_image "$IMAGE" || die "no image $IMAGE to verify"
    verify
    return 0
  fi
  resolve_inputs
  local start=$SECONDS build_base runtime_base
  build_base="$(ensure_build_base)"
  runtime_base="$(ensure_runtime_base)"
  build_image "$build_base" "$runtime_base"
  write_oci_archive
  report "$runtime_base" "$IMAGE"
  printf '%s manifest %s archive %s\n' "$IMAGE" "$MANIFEST_DIGEST" "$ARCHIVE"
  ((VERIFY)) && verify
  log "done in $((SECONDS - start))s"
}

main "$@"
