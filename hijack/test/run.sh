#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# shellcheck disable=SC2016 # commands run inside the container are single-quoted on purpose
# hijack.sh against real systems: a Debian bookworm container (debootstrap, imported into docker)
# with sshd running, login users, an insecure kubelet config, runtime CLIs and a guest agent.
# Needs root (apt-get, debootstrap, dockerd). Containers run unprivileged: /proc/sys is read-only
# there, and hijack.sh is never given --apply-kernel on this machine, so the host kernel is untouched.
# Prints "hijack: N passed, N failed" and exits nonzero on any failure.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
HIJACK_DIR="$(dirname "$HERE")"
SCRIPT="$HIJACK_DIR/hijack.sh"
# shellcheck source=image.sh
source "$HERE/image.sh"

PASSED=0
FAILED=0
CONTAINERS=()
T0=$SECONDS

ok() { PASSED=$((PASSED + 1)); printf 'ok   %s\n' "$1"; }
not_ok() { FAILED=$((FAILED + 1)); printf 'FAIL %s%s\n' "$1" "${2:+: $2}"; }
# expect NAME CMD...: CMD succeeds.
expect() { local name="$1"; shift; if "$@" >/dev/null 2>&1; then ok "$name"; else not_ok "$name"; fi; }
# expect_not NAME CMD...: CMD fails.
expect_not() { local name="$1"; shift; if "$@" >/dev/null 2>&1; then not_ok "$name"; else ok "$name"; fi; }
expect_eq() { if [[ "$2" == "$3" ]]; then ok "$1"; else not_ok "$1" "got '$2', want '$3'"; fi; }

cleanup() {
  local c
  for c in "${CONTAINERS[@]}"; do docker rm -f "$c" >/dev/null 2>&1 || true; done
}
trap cleanup EXIT

# ---------------------------------------------------------------- container helpers

start_node() { # start_node NAME: container from the test image, sshd running in it (caller registers it for cleanup)
  local name="celula-hijack-$1-$$"
  docker run -d --init --name "$name" --hostname "$1" "$IMAGE" sleep infinity >/dev/null
  docker exec -d "$name" /usr/sbin/sshd -D
  docker exec "$name" mkdir -p /opt/celula
  docker cp "$SCRIPT" "$name:/opt/celula/hijack.sh"
  wait_for_sshd "$name"
  printf '%s\n' "$name"
}

wait_for_sshd() {
  local _
  for _ in $(seq 1 50); do sshd_banner "$1" && return 0; sleep 0.2; done
  return 0
}

# sshd_banner NAME: a TCP connection to port 22 gets an SSH banner (from the host to the container's
# IP when the bridge is reachable, else from inside the container).
sshd_banner() {
  local ip banner
  ip="$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$1")"
  if [[ -n "$ip" ]]; then
    banner="$(timeout 3 bash -c "exec 3<>/dev/tcp/$ip/22 && head -c 7 <&3" 2>/dev/null)" || banner=""
  else
    banner="$(docker exec "$1" timeout 3 bash -c 'exec 3<>/dev/tcp/127.0.0.1/22 && head -c 7 <&3' 2>/dev/null)" || banner=""
  fi
  [[ "$banner" == SSH-2.0 ]]
}

in_node() { docker exec "$@"; }

# fingerprint NAME: metadata of every file outside pseudo filesystems plus contents of /etc and friends.
fingerprint() {
  # shellcheck disable=SC2016
  docker exec "$1" bash -c '
    find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /tmp \) -prune -o \
      -printf "%p %m %U %G %s %T@ %l\n" | sort | sha256sum
    find /etc /var/lib/kubelet /usr/local/bin /usr/bin /usr/sbin /run -xdev -type f -print0 |
      sort -z | xargs -0 sha256sum | sha256sum'
}

# status_of JSON ID: the status of one protection in a --check report.
status_of() {
  grep -F "\"id\": \"$2\"," <<<"$1" | sed -E 's/.*"status": "([^"]+)".*/\1/'
}

changed_count() { sed -nE 's/^hijack: summary: changed=([0-9]+).*/\1/p' <<<"$1"; }

# ---------------------------------------------------------------- tests

test_shellcheck() {
  local f files=()
  while IFS= read -r f; do files+=("$f"); done < <(find "$HIJACK_DIR" -name '*.sh' -type f | sort)
  for f in "${files[@]}"; do expect "shellcheck ${f#"$HIJACK_DIR"/}" shellcheck -x "$f"; done
}

test_guards_on_host() {
  local tree rc=0
  tree="$(mktemp -d)"
  bash "$SCRIPT" --root "$tree" --apply-kernel >/dev/null 2>&1 || rc=$?
  expect_eq "--apply-kernel with a root prefix is refused (exit 2)" "$rc" 2
  expect_eq "refused run wrote nothing under the root" "$(find "$tree" -mindepth 1 | wc -l)" 0
  rc=0; bash "$SCRIPT" --bogus >/dev/null 2>&1 || rc=$?
  expect_eq "unknown argument is refused (exit 2)" "$rc" 2
  local bad err
  for bad in abc 3 301 -5 99999 ''; do
    rc=0; err="$(bash "$SCRIPT" --check --root "$tree" --node-lease-seconds "$bad" 2>&1 >/dev/null)" || rc=$?
    expect_eq "--node-lease-seconds '$bad' is refused (exit 2)" "$rc" 2
    expect "--node-lease-seconds '$bad': the error names the option" grep -q 'error: --node-lease-seconds' <<<"$err"
  done
  rm -rf "$tree"
}

test_apply() {
  local node out rc=0 check before after sum
  node="$(start_node apply)"
  CONTAINERS+=("$node")
  expect "before: sshd accepts TCP connections" sshd_banner "$node"
  expect "before: alice has a usable password (passwd -S: P)" bash -c "docker exec $node passwd -S alice | grep -q ' P '"
  check="$(in_node "$node" bash /opt/celula/hijack.sh --check 2>/dev/null)" || true
  expect_eq "before: --check: kubelet.container-checkpoint fails" "$(status_of "$check" kubelet.container-checkpoint)" fail
  expect_eq "before: --check: kubelet.flags fails" "$(status_of "$check" kubelet.flags)" fail

  out="$(in_node "$node" bash /opt/celula/hijack.sh 2>&1)" || rc=$?
  printf '%s\n' "$out" >"$HIJACK_CACHE/last-apply.log"
  expect_eq "hijack.sh exits 0" "$rc" 0
  expect "every step is logged" bash -c "grep -c '^hijack: step ' <<<\"\$1\" | grep -qx 7" _ "$out"
  expect_not "after: sshd no longer accepts TCP connections" sshd_banner "$node"
  expect_not "after: sshd binary is gone" in_node "$node" test -e /usr/sbin/sshd
  expect "after: ssh.service masked" bash -c "[[ \$(docker exec $node readlink /etc/systemd/system/ssh.service) == /dev/null ]]"
  expect "after: getty@ and serial-getty@ masked, enablement links gone" in_node "$node" bash -c \
    '[[ $(readlink /etc/systemd/system/getty@.service) == /dev/null && $(readlink /etc/systemd/system/serial-getty@.service) == /dev/null && -z $(ls /etc/systemd/system/getty.target.wants) ]]'
  expect "after: every /etc/shadow entry locked (!)" in_node "$node" bash -c '! awk -F: "\$2 !~ /^!/" /etc/shadow | grep -q .'
  expect "after: passwd -S alice, bob (empty password) and root say L" in_node "$node" bash -c \
    'for u in alice bob root; do passwd -S $u | grep -q " L " || exit 1; done'
  expect "after: alice's shell is nologin" bash -c "docker exec $node getent passwd alice | grep -q ':/usr/sbin/nologin$'"
  expect "after: /etc/shadow keeps mode 640 root:shadow" bash -c "[[ \$(docker exec $node stat -c '%a %U %G' /etc/shadow) == '640 root shadow' ]]"
  for kv in 'enableDebuggingHandlers: false' '  mode: Webhook' '    enabled: false' 'readOnlyPort: 0' 'clusterDomain: cluster.local' '- 10.96.0.10' \
    '  ContainerCheckpoint: false' '  RotateKubeletServerCertificate: true'; do
    expect "after: kubelet config has '$kv'" in_node "$node" grep -qxF -- "$kv" /var/lib/kubelet/config.yaml
  done
  expect "after: kubelet flag overrides removed, other flags kept" in_node "$node" grep -qx 'KUBELET_EXTRA_ARGS="--node-ip=10.0.0.5"' /etc/default/kubelet
  expect "after: --feature-gates turns ContainerCheckpoint off, other gates kept" in_node "$node" grep -qF \
    -- '--feature-gates=ContainerCheckpoint=false,RotateKubeletServerCertificate=true' /etc/systemd/system/kubelet.service.d/20-gates.conf
  expect_not "after: crictl, ctr, nerdctl removed" in_node "$node" bash -c 'ls /usr/local/bin/crictl /usr/bin/ctr /usr/local/bin/nerdctl 2>/dev/null | grep -q .'
  expect "after: containerd.sock is 600 root:root" bash -c "[[ \$(docker exec $node stat -c '%a %U %G' /run/containerd/containerd.sock) == '600 root root' ]]"
  expect "after: qemu-guest-agent masked" bash -c "[[ \$(docker exec $node readlink /etc/systemd/system/qemu-guest-agent.service) == /dev/null ]]"
  expect_not "after: no swap lines in fstab" in_node "$node" awk '$3 == "swap" { found = 1 } END { exit !found }' /etc/fstab
  expect "after: sysctl file persisted" in_node "$node" grep -qx 'kernel.yama.ptrace_scope = 3' /etc/sysctl.d/99-celula-hijack.conf
  expect "after: limits.d hard core 0 for root" in_node "$node" grep -qE '^root +hard +core +0$' /etc/security/limits.d/99-celula-hijack.conf

  rc=0; check="$(in_node "$node" bash /opt/celula/hijack.sh --check 2>/dev/null)" || rc=$?
  printf '%s\n' "$check" >"$HIJACK_CACHE/last-check.json"
  expect_eq "--check exits nonzero in a container (kernel pieces fail)" "$rc" 1
  local id
  for id in remote-shell.sshd remote-shell.getty accounts.passwords accounts.shells agent.qemu-guest-agent \
    kubelet.debugging-handlers kubelet.anonymous-auth kubelet.authorization-webhook kubelet.read-only-port \
    kubelet.container-checkpoint kubelet.flags runtime.cli runtime.socket kernel.core-limits manifest; do
    expect_eq "--check: $id" "$(status_of "$check" "$id")" pass
  done
  for id in kernel.swap kernel.lockdown sysctl.kernel.yama.ptrace_scope sysctl.kernel.kexec_load_disabled \
    sysctl.kernel.sysrq sysctl.kernel.unprivileged_bpf_disabled sysctl.kernel.kptr_restrict \
    sysctl.kernel.dmesg_restrict sysctl.kernel.core_pattern sysctl.fs.suid_dumpable; do
    expect_eq "--check: $id fails in a container" "$(status_of "$check" "$id")" fail
  done
  expect_eq "--check: absent agent is not-applicable" "$(status_of "$check" agent.amazon-ssm-agent)" not-applicable
  expect "--check: every protection has id, status, detail" bash -c \
    "! grep -E '^ +\\{' <<<\"\$1\" | grep -vE '^ +\\{\"id\": \"[^\"]+\", \"status\": \"(pass|fail|not-applicable)\", \"detail\": \".*\"\\},?$' | grep -q ." _ "$check"
  sum="$(sha256sum "$SCRIPT" | cut -d' ' -f1)"
  expect "manifest holds the script's sha256" in_node "$node" grep -qF "\"script_sha256\": \"$sum\"" /etc/celula/hijack-manifest.json

  before="$(fingerprint "$node")"
  rc=0; out="$(in_node "$node" bash /opt/celula/hijack.sh 2>&1)" || rc=$?
  after="$(fingerprint "$node")"
  expect_eq "second run exits 0" "$rc" 0
  expect_eq "second run: changed=0" "$(changed_count "$out")" 0
  expect_eq "second run: file tree unchanged" "$after" "$before"

  rc=0; in_node "$node" bash /opt/celula/hijack.sh --apply-kernel >/dev/null 2>&1 || rc=$?
  expect_eq "--apply-kernel inside a container is refused (exit 2)" "$rc" 2
  expect_eq "refused --apply-kernel changed nothing" "$(fingerprint "$node")" "$before"
}

test_dry_run() {
  local node out rc=0 before after
  node="$(start_node dryrun)"
  CONTAINERS+=("$node")
  before="$(fingerprint "$node")"
  out="$(in_node "$node" bash /opt/celula/hijack.sh --dry-run 2>&1)" || rc=$?
  after="$(fingerprint "$node")"
  expect_eq "--dry-run exits 0" "$rc" 0
  expect_eq "--dry-run: file tree unchanged" "$after" "$before"
  expect "--dry-run: says what it would do" grep -q 'would: remove /usr/sbin/sshd' <<<"$out"
  expect "--dry-run: counts would-be changes" test "$(changed_count "$out")" -gt 0
  expect "--dry-run: sshd still accepts TCP connections" sshd_banner "$node"
}

# A kubelet config without featureGates gets the block added; one with the gate set by hand to true
# in the config only fails --check until hijack.sh runs.
test_feature_gates_absent() {
  local node check rc=0
  node="$(start_node gates)"
  CONTAINERS+=("$node")
  in_node "$node" sed -i '/^featureGates:/,$d' /var/lib/kubelet/config.yaml
  expect_not "before: no featureGates in the kubelet config" in_node "$node" grep -q '^featureGates:' /var/lib/kubelet/config.yaml
  check="$(in_node "$node" bash /opt/celula/hijack.sh --check 2>/dev/null)" || true
  expect "before: --check says the gate is unset" grep -qF 'featureGates.ContainerCheckpoint is <unset>, want false' <<<"$check"
  in_node "$node" bash /opt/celula/hijack.sh >/dev/null 2>&1 || rc=$?
  expect_eq "hijack.sh exits 0 without featureGates" "$rc" 0
  expect "after: featureGates block added with ContainerCheckpoint: false" in_node "$node" bash -c \
    'grep -A1 -x "featureGates:" /var/lib/kubelet/config.yaml | grep -qx "  ContainerCheckpoint: false"'
  check="$(in_node "$node" bash /opt/celula/hijack.sh --check 2>/dev/null)" || true
  expect_eq "after: --check: kubelet.container-checkpoint" "$(status_of "$check" kubelet.container-checkpoint)" pass
}

# --node-lease-seconds N sets the kubelet's nodeLeaseDurationSeconds (the operator's hardening Job
# passes it); --check reports the value, and with the option requires it.
test_node_lease() {
  local node check rc=0 out
  node="$(start_node lease)"
  CONTAINERS+=("$node")
  check="$(in_node "$node" bash /opt/celula/hijack.sh --check 2>/dev/null)" || true
  expect_eq "before: --check reports the lease (not requested): pass" "$(status_of "$check" kubelet.node-lease)" pass
  expect "before: --check says it is unset (kubelet default 40)" grep -qF 'nodeLeaseDurationSeconds: <unset> (kubelet default 40) (not requested)' <<<"$check"
  check="$(in_node "$node" bash /opt/celula/hijack.sh --check --node-lease-seconds 10 2>/dev/null)" || true
  expect_eq "before: --check --node-lease-seconds 10: fail" "$(status_of "$check" kubelet.node-lease)" fail
  in_node "$node" bash /opt/celula/hijack.sh --node-lease-seconds 10 >/dev/null 2>&1 || rc=$?
  expect_eq "hijack.sh --node-lease-seconds 10 exits 0" "$rc" 0
  expect "after: kubelet config has 'nodeLeaseDurationSeconds: 10'" in_node "$node" grep -qx 'nodeLeaseDurationSeconds: 10' /var/lib/kubelet/config.yaml
  check="$(in_node "$node" bash /opt/celula/hijack.sh --check --node-lease-seconds 10 2>/dev/null)" || true
  expect_eq "after: --check --node-lease-seconds 10: pass" "$(status_of "$check" kubelet.node-lease)" pass
  check="$(in_node "$node" bash /opt/celula/hijack.sh --check 2>/dev/null)" || true
  expect "after: --check without the option reports 10" grep -qF '"detail": "nodeLeaseDurationSeconds: 10 (not requested)"' <<<"$check"
  rc=0; out="$(in_node "$node" bash /opt/celula/hijack.sh --node-lease-seconds=10 2>&1)" || rc=$?
  expect_eq "second run with the same lease: changed=0" "$(changed_count "$out")" 0
  rc=0; in_node "$node" bash /opt/celula/hijack.sh --node-lease-seconds 12 >/dev/null 2>&1 || rc=$?
  expect "a new value replaces the old one" in_node "$node" grep -qx 'nodeLeaseDurationSeconds: 12' /var/lib/kubelet/config.yaml
  expect_eq "the key appears once" "$(in_node "$node" grep -c '^nodeLeaseDurationSeconds:' /var/lib/kubelet/config.yaml)" 1
}

main() {
  local t
  t=$SECONDS; ensure_packages; ensure_dockerd; printf 'timing: packages+dockerd %ss\n' $((SECONDS - t))
  t=$SECONDS; IMAGE="$(ensure_test_image)"; printf 'timing: test image %ss (%s)\n' $((SECONDS - t)) "$IMAGE"
  t=$SECONDS; test_shellcheck; test_guards_on_host; printf 'timing: shellcheck+guards %ss\n' $((SECONDS - t))
  t=$SECONDS; test_apply; printf 'timing: apply tests %ss\n' $((SECONDS - t))
  t=$SECONDS; test_dry_run; printf 'timing: dry-run tests %ss\n' $((SECONDS - t))
  t=$SECONDS; test_feature_gates_absent; printf 'timing: feature-gate tests %ss\n' $((SECONDS - t))
  t=$SECONDS; test_node_lease; printf 'timing: node-lease tests %ss\n' $((SECONDS - t))
  printf 'timing: total %ss\n' $((SECONDS - T0))
  printf 'hijack: %s passed, %s failed\n' "$PASSED" "$FAILED"
  [[ "$FAILED" == 0 ]]
}

main "$@"
