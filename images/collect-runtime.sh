#!/usr/bin/env bash
# Runs inside the local builder base (images/runtime-base.Dockerfile): assembles under $1 the
# minimal root filesystem of the runtime base. Nothing here runs in the final image.
set -euo pipefail

OUT="${1:?usage: collect-runtime.sh OUT_DIR}"
NODE=/usr/local/bin/node
NONROOT_ID=65532

log() { printf 'collect-runtime: %s\n' "$*" >&2; }

# The shared objects the dynamic loader maps for node (absolute paths only; skips the vDSO).
node_libraries() {
  ldd "$NODE" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'
}

copy_node() {
  install -D -m 0755 "$NODE" "$OUT/nodejs/bin/node"
  local lib
  for lib in $(node_libraries); do
    cp -L --parents "$lib" "$OUT/"
    log "library $lib"
  done
}

copy_data() {
  cp -L --parents /etc/ssl/certs/ca-certificates.crt "$OUT/"
  cp -a --parents /usr/share/zoneinfo "$OUT/"
  cp -L --parents /etc/os-release "$OUT/"
  printf 'hosts: files dns\n' >"$OUT/etc/nsswitch.conf"
}

write_users() {
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%s:%s:nonroot:/home/nonroot:/sbin/nologin\n' \
    "$NONROOT_ID" "$NONROOT_ID" >"$OUT/etc/passwd"
  printf 'root:x:0:\nnonroot:x:%s:\n' "$NONROOT_ID" >"$OUT/etc/group"
  install -d -m 0700 "$OUT/root"
  install -d -m 0700 -o "$NONROOT_ID" -g "$NONROOT_ID" "$OUT/home/nonroot"
  install -d -m 1777 "$OUT/tmp"
}

# The loader resolves every library, and nothing that could run a command came along.
check() {
  local missing
  missing="$(ldd "$NODE" | grep 'not found' || true)"
  [[ -z "$missing" ]] || { log "unresolved libraries: $missing"; return 1; }
  if find "$OUT" -name sh -o -name bash -o -name dash -o -name busybox -o -name apt -o -name dpkg | grep -q .; then
    log "a shell or package manager was collected"; return 1
  fi
}

main() {
  rm -rf "$OUT"
  mkdir -p "$OUT/etc"
  copy_node
  copy_data
  write_users
  check
  log "runtime rootfs: $(du -sh "$OUT" | cut -f1)"
}

main
