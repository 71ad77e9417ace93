#!/usr/bin/env bash
# Lints the users' CI workflows (.github/workflows/) with actionlint, built from its Go module at a
# pinned version into $CELULA_CACHE/bin (cold ≈ 1 min on 2 cores, then cached). Run by .ci/run.
# Nothing is written inside the repository.
set -euo pipefail

ACTIONLINT_VERSION="v1.7.12"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${CELULA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/celula}"
BIN="$CACHE/bin"

log() { printf '[actionlint] %s\n' "$*" >&2; }

ensure_actionlint() {
  if [[ -x "$BIN/actionlint" && "$(cat "$BIN/.actionlint.version" 2>/dev/null)" == "$ACTIONLINT_VERSION" ]]; then
    return 0
  fi
  command -v go >/dev/null || {
    log "go not on PATH: actionlint is built from its Go module"
    exit 1
  }
  log "building actionlint $ACTIONLINT_VERSION from its Go module into $BIN"
  mkdir -p "$BIN"
  GOBIN="$BIN" GOFLAGS=-buildvcs=false CGO_ENABLED=0 nice -n 19 \
    go install "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION"
  printf '%s\n' "$ACTIONLINT_VERSION" >"$BIN/.actionlint.version"
}

main() {
  ensure_actionlint
  cd "$ROOT"
  local workflows=(.github/workflows/*.yml)
  "$BIN/actionlint" "${workflows[@]}"
  log "${workflows[*]}: clean (actionlint $ACTIONLINT_VERSION)"
}

main "$@"
