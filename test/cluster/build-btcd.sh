#!/usr/bin/env bash
# Builds btcd (a full Bitcoin node in Go) and btcctl, its RPC client, from the Go module proxy at a
# pinned version into $CELULA_CACHE/bin, like test/cluster/build.sh builds the control plane. The
# lottery test and demo run `btcd --regtest` on loopback (test/support/btcd.ts).
# Idempotent: a binary stamped with its version is not rebuilt (cold: ≈ 20 s on 2 cores).
# Nothing is written inside the repository.
set -euo pipefail

BTCD_VERSION="v0.26.2"

CACHE="${CELULA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/celula}"
BIN="$CACHE/bin"
WORK="$CACHE/build"
LOGS="$CACHE/logs"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
export CGO_ENABLED=0

log() { printf '[build-btcd] %s\n' "$*" >&2; }

# have NAME VERSION: true when $BIN/NAME was built at VERSION.
have() { [[ -x "$BIN/$1" && "$(cat "$BIN/.$1.version" 2>/dev/null)" == "$2" ]]; }
stamp() { printf '%s\n' "$2" >"$BIN/.$1.version"; }

# fail LOGFILE: say that the build failed and show the tail of its log.
fail() {
  log "FAILED (log: $1)"
  tail -n 30 "$1" >&2 || true
  exit 1
}

# build_btcd: btcd and btcctl from one throwaway wrapper module (they share the btcd module).
build_btcd() {
  if have btcd "$BTCD_VERSION" && have btcctl "$BTCD_VERSION"; then
    log "btcd $BTCD_VERSION: cached"
    return
  fi
  local dir="$WORK/btcd" logf="$LOGS/build-btcd.log"
  log "btcd $BTCD_VERSION: building btcd and btcctl"
  rm -rf "$dir"
  mkdir -p "$dir"
  {
    cd "$dir"
    go mod init celula.local/build
    go get "github.com/btcsuite/btcd@$BTCD_VERSION"
    go build -trimpath -ldflags "-s -w" -o "$BIN/btcd" github.com/btcsuite/btcd
    go build -trimpath -ldflags "-s -w" -o "$BIN/btcctl" github.com/btcsuite/btcd/cmd/btcctl
  } >"$logf" 2>&1 || fail "$logf"
  stamp btcd "$BTCD_VERSION"
  stamp btcctl "$BTCD_VERSION"
}

main() {
  local start=$SECONDS
  mkdir -p "$BIN" "$WORK" "$LOGS"
  build_btcd
  log "done in $((SECONDS - start)) s; binaries in $BIN"
}

main "$@"
