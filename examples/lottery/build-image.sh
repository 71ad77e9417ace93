#!/usr/bin/env bash
# Builds the lottery image (examples/lottery/Dockerfile) FROM the Celula image: a build context made
# in a temporary directory of exactly the files the Dockerfile copies (the repository's .dockerignore
# is an allow-list for the Celula image only), then `docker build`. Prints the image ID; pin the
# colony's spec.image to the digest your registry gives it after `docker push`.
#   CELULA_IMAGE   the Celula image to build on (default celula:dev, from `npm run images`)
#   BUILD_BASE     a Node 24 image with npm for the compile stage (default node:24-bookworm)
#   LOTTERY_IMAGE  the name to tag (default celula-lottery:dev)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CELULA_IMAGE="${CELULA_IMAGE:-celula:dev}"
BUILD_BASE="${BUILD_BASE:-node:24-bookworm}"
LOTTERY_IMAGE="${LOTTERY_IMAGE:-celula-lottery:dev}"

log() { printf 'lottery-image: %s\n' "$*" >&2; }

# make_context DIR: the files the Dockerfile copies, and nothing else.
make_context() {
  local dir="$1"
  mkdir -p "$dir/examples"
  cp "$ROOT/package.json" "$ROOT/package-lock.json" "$ROOT/tsconfig.json" "$dir/"
  cp -r "$ROOT/src" "$dir/src"
  cp -r "$ROOT/examples/lottery" "$dir/examples/lottery"
  cp "$ROOT/examples/lottery/Dockerfile" "$dir/Dockerfile"
}

main() {
  docker image inspect "$CELULA_IMAGE" >/dev/null 2>&1 || {
    log "no image $CELULA_IMAGE: build it first with \`npm run images\`"
    exit 1
  }
  local ctx
  ctx="$(mktemp -d)"
  # Expanded now: at exit this function's local is gone (set -u would fail on it).
  # shellcheck disable=SC2064
  trap "rm -rf '$ctx'" EXIT
  make_context "$ctx"
  log "building $LOTTERY_IMAGE on $CELULA_IMAGE (compile stage: $BUILD_BASE)"
  nice -n 19 docker build --build-arg "CELULA_IMAGE=$CELULA_IMAGE" --build-arg "BUILD_BASE=$BUILD_BASE" \
    -t "$LOTTERY_IMAGE" "$ctx" >&2
  docker image inspect --format '{{.Id}}' "$LOTTERY_IMAGE"
}

main "$@"
