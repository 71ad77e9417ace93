#!/usr/bin/env bash
# hijack.sh — isolate a Kubernetes node so that no human can reach a cell's memory (docs/operations.md "Node hardening").
#
#   hijack.sh [--dry-run] [--root DIR] [--kubelet-config PATH] [--manifest PATH] [--apply-kernel]
#             [--node-lease-seconds N]
#   hijack.sh --check [--root DIR] [--kubelet-config PATH] [--manifest PATH] [--node-lease-seconds N]
#
# There is no undo, by design. See hijack/README.md for what each step does and why.
# Live kernel changes (sysctl writes, swapoff, lockdown) happen only with --apply-kernel, only at
# root `/`, and never inside a container (a container shares its host's kernel).
set -euo pipefail
shopt -s nullglob

readonly HIJACK_VERSION=1
SCRIPT_PATH="$(readlink -f "${BASH_SOURCE[0]}")"
readonly SCRIPT_PATH

ROOT="${HIJACK_ROOT:-/}"
MODE=apply
DRY_RUN=0
APPLY_KERNEL=0
KUBELET_CONFIG="${HIJACK_KUBELET_CONFIG:-/var/lib/kubelet/config.yaml}"
MANIFEST="${HIJACK_MANIFEST:-/etc/celula/hijack-manifest.json}"
# The kubelet's nodeLeaseDurationSeconds (it renews its Lease every quarter of it): a shorter Lease
# lets the operator suspect a dead node sooner. Empty = leave the kubelet's own setting (default 40).
NODE_LEASE_SECONDS="${HIJACK_NODE_LEASE_SECONDS:-}"
readonly NODE_LEASE_MIN=4 NODE_LEASE_MAX=300
readonly SYSCTL_FILE=/etc/sysctl.d/99-celula-hijack.conf
readonly LIMITS_FILE=/etc/security/limits.d/99-celula-hijack.conf
readonly COREDUMP_FILE=/etc/systemd/coredump.conf.d/50-celula-hijack.conf
readonly SYSTEMCONF_FILE=/etc/systemd/system.conf.d/50-celula-hijack.conf
readonly CONTAINERD_DROPIN=/etc/systemd/system/containerd.service.d/50-celula-hijack.conf
readonly LOCKDOWN_UNIT=celula-lockdown.service
CHANGED=0
NEED_RELOAD=0
KUBELET_TOUCHED=0
TMP_DIR=""

readonly SYSCTLS=(
  "kernel.core_pattern=|/bin/false"
  "fs.suid_dumpable=0"
  "kernel.yama.ptrace_scope=3"
  "kernel.kexec_load_disabled=1"
  "kernel.sysrq=0"
  "kernel.unprivileged_bpf_disabled=1"
  "kernel.kptr_restrict=2"
  "kernel.dmesg_restrict=1"
)
readonly SSH_UNITS=(ssh.service ssh.socket sshd.service sshd.socket ssh@.service sshd@.service dropbear.service)
readonly SSH_BINARIES=(/usr/sbin/sshd /sbin/sshd /usr/local/sbin/sshd /usr/sbin/dropbear /usr/local/sbin/dropbear)
readonly GETTY_UNITS=(getty.target getty@.service autovt@.service serial-getty@.service console-getty.service
  container-getty@.service debug-shell.service)
readonly SHELL_EXES=(sshd dropbear agetty getty mingetty)
# id|units|binaries — remote command agents: each can run commands or push logins from outside.
readonly AGENTS=(
  "google-guest-agent|google-guest-agent.service google-guest-agent-manager.service|/usr/bin/google_guest_agent /usr/bin/google_guest_agent_manager"
  "google-osconfig-agent|google-osconfig-agent.service|/usr/bin/google_osconfig_agent"
  "google-startup-scripts|google-startup-scripts.service google-shutdown-scripts.service|/usr/bin/google_metadata_script_runner"
  "amazon-ssm-agent|amazon-ssm-agent.service snap.amazon-ssm-agent.amazon-ssm-agent.service|/usr/bin/amazon-ssm-agent /snap/amazon-ssm-agent/current/amazon-ssm-agent"
  "azure-walinuxagent|walinuxagent.service waagent.service|/usr/sbin/waagent"
  "qemu-guest-agent|qemu-guest-agent.service|/usr/sbin/qemu-ga /usr/bin/qemu-ga"
  "oracle-cloud-agent|oracle-cloud-agent.service|/usr/bin/oracle-cloud-agent"
  "aliyun-cloud-assistant|aliyun.service|/usr/local/share/assist-daemon/assist_daemon"
  "tencent-tat-agent|tat_agent.service|/usr/local/qcloud/tat_agent/tat_agent"
  "digitalocean-droplet-agent|droplet-agent.service|/opt/digitalocean/bin/droplet-agent"
)
readonly RUNTIME_CLIS=(crictl ctr nerdctl docker)
readonly BIN_DIRS=(/usr/bin /usr/local/bin /bin /usr/sbin /usr/local/sbin /sbin /opt/bin /home/kubernetes/bin)
readonly RUNTIME_SOCKETS=(/run/containerd/containerd.sock /run/containerd/containerd.sock.ttrpc
  /var/run/containerd/containerd.sock /run/crio/crio.sock /var/run/crio/crio.sock /run/docker.sock
  /var/run/docker.sock /run/cri-dockerd.sock)
readonly UNIT_DIRS=(/etc/systemd/system /run/systemd/system /lib/systemd/system /usr/lib/systemd/system)
readonly KUBELET_FLAG_FILES=(/etc/default/kubelet /etc/sysconfig/kubelet /var/lib/kubelet/kubeadm-flags.env
  /etc/systemd/system/kubelet.service /lib/systemd/system/kubelet.service /usr/lib/systemd/system/kubelet.service)
readonly KUBELET_FLAG_DIRS=(/etc/systemd/system/kubelet.service.d /lib/systemd/system/kubelet.service.d
  /usr/lib/systemd/system/kubelet.service.d)
readonly KUBELET_SETTINGS=(
  "debugging-handlers|enableDebuggingHandlers|false"
  "anonymous-auth|authentication.anonymous.enabled|false"
  "authorization-webhook|authorization.mode|Webhook"
  "read-only-port|readOnlyPort|0"
  # The kubelet checkpoint API (POST /checkpoint/...) dumps a container's memory to the node's disk;
  # beta and on by default since 1.30. Pod-level checkpoints (KEP-5823) have no kubelet gate in 1.37.
  "container-checkpoint|featureGates.ContainerCheckpoint|false"
)

# ---------------------------------------------------------------- logging, paths, actions

# Logging must not fail: run over SSH, the script outlives its terminal when it kills sshd.
log() { printf 'hijack: %s\n' "$*" >&2 2>/dev/null || true; }
die() { log "error: $*"; exit 2; }

usage() {
  sed -n '2,10p' "$SCRIPT_PATH" | sed 's/^# \{0,1\}//'
}

# p PATH: PATH inside the target root.
p() { if [[ "$ROOT" == / ]]; then printf '%s' "$1"; else printf '%s%s' "$ROOT" "$1"; fi; }

is_live() { [[ "$ROOT" == / ]]; }
systemd_running() { is_live && [[ -d /run/systemd/system ]]; }

in_container() {
  [[ -f /.dockerenv || -f /run/.containerenv || -n "${container:-}" ]] && return 0
  if command -v systemd-detect-virt >/dev/null && systemd-detect-virt --container --quiet; then return 0; fi
  grep -qE '/(docker|kubepods|containerd|lxc|libpod)' /proc/1/cgroup 2>/dev/null
}

kernel_live_allowed() { [[ "$APPLY_KERNEL" == 1 ]] && is_live && ! in_container; }

# Refuses any write whose real location is outside the target root (absolute symlinks in a tree).
guard_path() {
  local real
  real="$(realpath -m "$(dirname "$1")")"
  [[ "$ROOT" == / || "$real" == "$ROOT" || "$real" == "$ROOT"/* ]] || die "refusing to touch $1: resolves outside $ROOT"
}

# act DESCRIPTION CMD...: run CMD (or, with --dry-run, only say so); counts one change.
act() {
  local desc="$1"; shift
  CHANGED=$((CHANGED + 1))
  if [[ "$DRY_RUN" == 1 ]]; then log "  would: $desc"; return 0; fi
  log "  do: $desc"
  "$@"
}

install_content() { # install_content DEST MODE TMPFILE
  mkdir -p "$(dirname "$1")"
  local staged
  staged="$(mktemp "$1.hijack.XXXXXX")"
  cat "$3" >"$staged"
  chmod "$2" "$staged"
  mv -f "$staged" "$1"
}

# write_file PATH MODE CONTENT: PATH (in the target) holds exactly CONTENT and MODE.
write_file() {
  local dest tmp
  dest="$(p "$1")"; guard_path "$dest"
  tmp="$TMP_DIR/write"; printf '%s\n' "$3" >"$tmp"
  if [[ -f "$dest" && ! -L "$dest" ]] && cmp -s "$dest" "$tmp" && [[ "$(stat -c %a "$dest")" == "${2#0}" ]]; then
    return 0
  fi
  act "write $1" install_content "$dest" "$2" "$tmp"
}

replace_preserving() { # replace_preserving DEST TMPFILE: new content, same owner and mode
  local staged
  staged="$(mktemp "$1.hijack.XXXXXX")"
  cat "$2" >"$staged"
  chmod --reference="$1" "$staged"
  chown --reference="$1" "$staged"
  mv -f "$staged" "$1"
}

# filter_file PATH DESCRIPTION CMD...: replace PATH's content by CMD's output (stdin = file) if it differs.
filter_file() {
  local path="$1" desc="$2" dest tmp
  shift 2
  dest="$(p "$path")"
  [[ -f "$dest" ]] || return 0
  guard_path "$dest"
  tmp="$TMP_DIR/filter"
  "$@" <"$dest" >"$tmp"
  cmp -s "$dest" "$tmp" && return 0
  act "$desc" replace_preserving "$dest" "$tmp"
}

remove_path() { # remove_path PATH (in target)
  local dest
  dest="$(p "$1")"
  [[ -e "$dest" || -L "$dest" ]] || return 0
  guard_path "$dest"
  act "remove $1" rm -f "$dest"
}

# ---------------------------------------------------------------- systemd units and processes

unit_masked() { [[ "$(readlink "$(p "/etc/systemd/system/$1")" 2>/dev/null)" == /dev/null ]]; }

unit_present() {
  local dir
  for dir in "${UNIT_DIRS[@]}"; do [[ -e "$(p "$dir/$1")" || -L "$(p "$dir/$1")" ]] && return 0; done
  return 1
}

# Enablement links (…/*.wants/UNIT, template instances too) left in /etc.
unit_links() {
  local pattern="$1" link
  [[ "$pattern" == *@.* ]] && pattern="${pattern%%@.*}@*.${pattern##*.}"
  local etc
  etc="$(p /etc/systemd/system)"
  # shellcheck disable=SC2231 # $pattern is a glob on purpose
  for link in "$etc"/*.wants/$pattern "$etc"/*.requires/$pattern; do
    printf '%s\n' "${link#"${ROOT%/}"}"
  done
}

mask_unit() {
  local unit="$1" link
  if ! unit_masked "$unit"; then
    guard_path "$(p "/etc/systemd/system/$unit")"
    act "mask $unit" ln -sfn /dev/null "$(p "/etc/systemd/system/$unit")"
    NEED_RELOAD=1
  fi
  while IFS= read -r link; do [[ -n "$link" ]] && remove_path "$link"; done < <(unit_links "$unit")
  return 0
}

systemd_reload() {
  systemd_running || return 0
  [[ "$NEED_RELOAD" == 1 ]] || return 0
  act "systemctl daemon-reload" systemctl daemon-reload
  NEED_RELOAD=0
}

stop_unit() { # stop_unit UNIT: stop a (template's) running instances when systemd runs here
  local pattern="$1"
  systemd_running || return 0
  [[ "$pattern" == *@.* ]] && pattern="${pattern%%@.*}@*.${pattern##*.}"
  [[ -n "$(systemctl list-units --no-legend --state=active "$pattern" 2>/dev/null)" ]] || return 0
  act "systemctl stop $pattern" systemctl stop "$pattern"
}

# PIDs (this system only) whose executable's name is one of the arguments.
pids_of_exes() {
  is_live || return 0
  local dir exe name want
  for dir in /proc/[0-9]*; do
    exe="$(readlink "$dir/exe" 2>/dev/null)" || continue
    exe="${exe% (deleted)}"; name="${exe##*/}"
    for want in "$@"; do [[ "$name" == "$want" ]] && printf '%s\n' "${dir#/proc/}"; done
  done
}

kill_pids() {
  local pid
  for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
  sleep 1
  for pid in "$@"; do kill -KILL "$pid" 2>/dev/null || true; done
}

kill_exes() {
  local pids
  mapfile -t pids < <(pids_of_exes "$@")
  [[ ${#pids[@]} -gt 0 ]] || return 0
  act "kill ${*} (pids ${pids[*]})" kill_pids "${pids[@]}"
}

# ---------------------------------------------------------------- report

R_ID=(); R_STATUS=(); R_DETAIL=()
report() { R_ID+=("$1"); R_STATUS+=("$2"); R_DETAIL+=("$3"); }

json_str() {
  local s="$1"
  s="${s//\\/\\\\}"; s="${s//\"/\\\"}"; s="${s//$'\n'/\\n}"; s="${s//$'\t'/\\t}"; s="${s//$'\r'/\\r}"
  printf '"%s"' "$s"
}

# report_json [SKIP_ID]: the protections array.
report_json() {
  local i first=1
  printf '['
  for i in "${!R_ID[@]}"; do
    [[ "${R_ID[$i]}" == "${1:-}" ]] && continue
    [[ "$first" == 1 ]] || printf ','
    first=0
    printf '\n    {"id": %s, "status": %s, "detail": %s}' "$(json_str "${R_ID[$i]}")" \
      "$(json_str "${R_STATUS[$i]}")" "$(json_str "${R_DETAIL[$i]}")"
  done
  printf '\n  ]'
}

count_status() { local s n=0; for s in "${R_STATUS[@]}"; do [[ "$s" == "$1" ]] && n=$((n + 1)); done; echo "$n"; }

script_sha256() { sha256sum "$SCRIPT_PATH" | cut -d' ' -f1; }

# ---------------------------------------------------------------- step: remote shells

missing_masks() { local u; for u in "$@"; do unit_masked "$u" || printf '%s ' "$u"; done; }

check_remote_shells() {
  local bad="" b
  for b in "${SSH_BINARIES[@]}"; do [[ -e "$(p "$b")" ]] && bad+="binary $b present; "; done
  [[ -n "$(missing_masks "${SSH_UNITS[@]}")" ]] && bad+="not masked: $(missing_masks "${SSH_UNITS[@]}"); "
  [[ -n "$(pids_of_exes sshd dropbear)" ]] && bad+="sshd/dropbear running; "
  if [[ -n "$bad" ]]; then report remote-shell.sshd fail "$bad"; else
    report remote-shell.sshd pass "sshd/dropbear binaries absent, units masked$(is_live && echo ', none running')"
  fi
  bad=""
  [[ -n "$(missing_masks "${GETTY_UNITS[@]}")" ]] && bad+="not masked: $(missing_masks "${GETTY_UNITS[@]}"); "
  [[ -n "$(unit_links getty@.service; unit_links serial-getty@.service)" ]] && bad+="getty enablement links left; "
  [[ -n "$(pids_of_exes agetty getty mingetty)" ]] && bad+="getty running; "
  if [[ -n "$bad" ]]; then report remote-shell.getty fail "$bad"; else
    report remote-shell.getty pass "getty, serial-getty, console-getty, debug-shell masked$(is_live && echo ', none running')"
  fi
}

step_remote_shells() {
  log "step remote-shells: sshd, gettys, serial console"
  local u b
  for u in "${SSH_UNITS[@]}" "${GETTY_UNITS[@]}"; do mask_unit "$u"; done
  systemd_reload
  for u in "${SSH_UNITS[@]}" "${GETTY_UNITS[@]}"; do stop_unit "$u"; done
  for b in "${SSH_BINARIES[@]}"; do remove_path "$b"; done
  kill_exes "${SHELL_EXES[@]}"
}

# ---------------------------------------------------------------- step: accounts

nologin_shell() {
  local s
  for s in /usr/sbin/nologin /sbin/nologin /bin/false; do [[ -x "$(p "$s")" ]] && { echo "$s"; return; }; done
  echo /usr/sbin/nologin
}

login_shells() { # login shells listed by the target, one per line, plus the usual names
  if [[ -f "$(p /etc/shells)" ]]; then grep -v '^#' "$(p /etc/shells)" || true; fi
  printf '%s\n' /bin/sh /bin/bash /bin/dash /bin/zsh /bin/ksh /bin/rbash /usr/bin/bash /usr/bin/sh
}

# shellcheck disable=SC2016
readonly AWK_LOCK_SHADOW='BEGIN { FS = OFS = ":" } NF > 1 && $2 !~ /^!/ { $2 = "!" $2 } { print }'
# shellcheck disable=SC2016
readonly AWK_LOCK_PASSWD='BEGIN { FS = OFS = ":"; n = split(shells, s, "\n"); for (i = 1; i <= n; i++) login[s[i]] = 1 }
NF >= 7 && $2 != "x" && $2 !~ /^[!*]/ { $2 = "!" $2 }
NF >= 7 && $1 != "root" && ($7 == "" || ($7 in login)) { $7 = nologin }
{ print }'

check_accounts() {
  local open="" shells=""
  if [[ -f "$(p /etc/shadow)" ]]; then
    open="$(awk -F: 'NF > 1 && $2 !~ /^!/ { printf "%s ", $1 }' "$(p /etc/shadow)")"
  fi
  open+="$(awk -F: 'NF >= 7 && $2 != "x" && $2 !~ /^[!*]/ { printf "%s(passwd) ", $1 }' "$(p /etc/passwd)")"
  if [[ -n "$open" ]]; then report accounts.passwords fail "usable passwords: $open"; else
    report accounts.passwords pass "every account's password is locked (!), root included"
  fi
  shells="$(awk -F: -v shells="$(login_shells)" 'BEGIN { n = split(shells, s, "\n"); for (i = 1; i <= n; i++) login[s[i]] = 1 }
    NF >= 7 && $1 != "root" && ($7 == "" || ($7 in login)) { printf "%s ", $1 }' "$(p /etc/passwd)")"
  if [[ -n "$shells" ]]; then report accounts.shells fail "login shells: $shells"; else
    report accounts.shells pass "no account but root has a login shell (root: password locked)"
  fi
}

step_accounts() {
  log "step accounts: lock every password, nologin shells"
  filter_file /etc/shadow "lock passwords in /etc/shadow" awk "$AWK_LOCK_SHADOW"
  filter_file /etc/passwd "lock /etc/passwd passwords, set nologin shells" \
    awk -v shells="$(login_shells)" -v nologin="$(nologin_shell)" "$AWK_LOCK_PASSWD"
}

# ---------------------------------------------------------------- step: remote agents

agent_present() { # agent_present UNITS BINARIES
  local u b
  for u in $1; do unit_present "$u" && return 0; done
  for b in $2; do [[ -e "$(p "$b")" ]] && return 0; done
  return 1
}

agent_exes() { local b; for b in $1; do printf '%s ' "${b##*/}"; done; }

check_agents() {
  local entry id units bins bad
  for entry in "${AGENTS[@]}"; do
    IFS='|' read -r id units bins <<<"$entry"
    if ! agent_present "$units" "$bins"; then report "agent.$id" not-applicable "not installed"; continue; fi
    bad=""
    # shellcheck disable=SC2086
    [[ -n "$(missing_masks $units)" ]] && bad+="not masked: $(missing_masks $units); "
    # shellcheck disable=SC2046
    [[ -n "$(pids_of_exes $(agent_exes "$bins"))" ]] && bad+="running; "
    if [[ -n "$bad" ]]; then report "agent.$id" fail "$bad"; else report "agent.$id" pass "units masked: $units"; fi
  done
}

step_agents() {
  log "step agents: remote command agents off"
  local entry id units bins u
  for entry in "${AGENTS[@]}"; do
    IFS='|' read -r id units bins <<<"$entry"
    if ! agent_present "$units" "$bins"; then log "  $id: not installed"; continue; fi
    for u in $units; do mask_unit "$u"; done
    systemd_reload
    for u in $units; do stop_unit "$u"; done
    # shellcheck disable=SC2046
    kill_exes $(agent_exes "$bins")
  done
}

# ---------------------------------------------------------------- step: kubelet

# yaml_edit MODE PATH [VALUE] < file: get (prints value, exit 1 if absent) or set (prints new file)
# of a dotted key path in a single-document block-style YAML mapping, as kubelet configs are.
# shellcheck disable=SC2016
readonly AWK_YAML='
function ind(s) { match(s, /^ */); return RLENGTH }
function strip(v) { sub(/[ \t]+#.*$/, "", v); sub(/[ \t]+$/, "", v); gsub(/^["\047]|["\047]$/, "", v); return v }
BEGIN { n = split(path, want, "."); d = 0; found = 0; deepest = 0; pline[0] = 0; pind[0] = -1 }
{ line[NR] = $0 }
/^[ \t]*(#.*)?$/ { next }
/^(---|\.\.\.)/ { if (NR > 1 && $0 ~ /^---/) { print "multi-document YAML is not supported" > "/dev/stderr"; bad = 1 } next }
/^ *- / || /^ *-$/ { next }
{
  k = ind($0)
  if (!match($0, /^ *[A-Za-z0-9_.\/"-]+:( |$)/)) { print "unsupported YAML line " NR ": " $0 > "/dev/stderr"; bad = 1; next }
  key = substr($0, k + 1); sub(/:( .*)?$/, "", key); gsub(/"/, "", key)
  val = $0; sub(/^ *[^:]+:[ ]?/, "", val)
  while (d > 0 && kind[d] >= k) d--
  d++; kind[d] = k; kkey[d] = key
  for (j = 1; j <= d && j <= n; j++) if (kkey[j] != want[j]) break
  if (j <= d) next
  if (d == n) { found = NR; fval = strip(val); next }
  if (strip(val) != "") { print "key " key " has an inline value; not a block mapping" > "/dev/stderr"; bad = 1 }
  deepest = d; pline[d] = NR; pind[d] = k
}
END {
  if (bad) exit 3
  if (mode == "get") { if (found) { print fval; exit 0 } exit 1 }
  if (found) { k = ind(line[found]); line[found] = substr(line[found], 1, k) want[n] ": " value; at = 0 }
  else {
    # insert the missing part under the deepest existing ancestor, after its block
    at = NR; cind = 0
    if (deepest > 0) {
      at = pline[deepest]; cind = pind[deepest] + 2
      for (i = pline[deepest] + 1; i <= NR; i++) {
        if (line[i] ~ /^[ \t]*(#.*)?$/) continue
        if (ind(line[i]) <= pind[deepest]) break
        if (at == pline[deepest]) cind = ind(line[i])
        at = i
      }
    }
    step = (deepest > 0 ? cind - pind[deepest] : 2)
    ins = ""
    for (j = deepest + 1; j <= n; j++) {
      pad = sprintf("%" (cind + (j - deepest - 1) * step) "s", "")
      ins = ins pad want[j] ":" (j == n ? " " value : "") (j < n ? "\n" : "")
    }
  }
  for (i = 1; i <= NR; i++) { print line[i]; if (!found && i == at) print ins }
  if (!found && at == 0) print ins
}'

yaml_get() { awk -v mode=get -v path="$1" "$AWK_YAML" "$2"; }
yaml_set() { awk -v mode=set -v path="$1" -v value="$2" "$AWK_YAML"; }

kubelet_present() {
  [[ -f "$(p "$KUBELET_CONFIG")" ]] || unit_present kubelet.service || [[ -e "$(p /usr/bin/kubelet)" || -e "$(p /usr/local/bin/kubelet)" ]]
}

kubelet_flag_files() {
  local f
  for f in "${KUBELET_FLAG_FILES[@]}"; do [[ -f "$(p "$f")" ]] && printf '%s\n' "$f"; done
  local d
  for d in "${KUBELET_FLAG_DIRS[@]}"; do
    for f in "$(p "$d")"/*.conf; do printf '%s\n' "${f#"${ROOT%/}"}"; done
  done
}

readonly KUBELET_FLAG_RE='--(anonymous-auth|enable-debugging-handlers|authorization-mode|read-only-port)([= ]|$)|ContainerCheckpoint=[Tt]rue'

kubelet_stale() { # running kubelet started before its config last changed (this system only)
  local pid start mtime
  pid="$(pids_of_exes kubelet | head -n1)"
  [[ -n "$pid" && -f "$(p "$KUBELET_CONFIG")" ]] || return 1
  start=$(($(date +%s) - $(ps -o etimes= -p "$pid" | tr -d ' ')))
  mtime="$(stat -c %Y "$(p "$KUBELET_CONFIG")")"
  [[ "$start" -lt "$mtime" ]]
}

# kubelet.node-lease: what the config says (the kubelet's default is 40 s when unset). With
# --node-lease-seconds N it must say N; without, it is reported as it is.
check_node_lease() {
  local have
  if [[ ! -f "$(p "$KUBELET_CONFIG")" ]]; then report kubelet.node-lease fail "kubelet present but no config at $KUBELET_CONFIG"; return 0; fi
  have="$(yaml_get nodeLeaseDurationSeconds "$(p "$KUBELET_CONFIG")" 2>/dev/null)" || have="<unset> (kubelet default 40)"
  if [[ -z "$NODE_LEASE_SECONDS" ]]; then report kubelet.node-lease pass "nodeLeaseDurationSeconds: $have (not requested)"
  elif [[ "$have" == "$NODE_LEASE_SECONDS" ]]; then report kubelet.node-lease pass "nodeLeaseDurationSeconds: $have"
  else report kubelet.node-lease fail "nodeLeaseDurationSeconds is $have, want $NODE_LEASE_SECONDS"; fi
}

check_kubelet() {
  local entry id key want have f flags=""
  if ! kubelet_present; then
    for entry in "${KUBELET_SETTINGS[@]}" node-lease flags running-config; do report "kubelet.${entry%%|*}" not-applicable "no kubelet here"; done
    return 0
  fi
  for entry in "${KUBELET_SETTINGS[@]}"; do
    IFS='|' read -r id key want <<<"$entry"
    if [[ ! -f "$(p "$KUBELET_CONFIG")" ]]; then report "kubelet.$id" fail "kubelet present but no config at $KUBELET_CONFIG"; continue; fi
    have="$(yaml_get "$key" "$(p "$KUBELET_CONFIG")" 2>&1)" || have="<unset>"
    if [[ "$have" == "$want" ]]; then report "kubelet.$id" pass "$key: $want"; else
      report "kubelet.$id" fail "$key is $have, want $want"
    fi
  done
  check_node_lease
  while IFS= read -r f; do grep -qE -- "$KUBELET_FLAG_RE" "$(p "$f")" && flags+="$f "; done < <(kubelet_flag_files)
  if [[ -n "$flags" ]]; then report kubelet.flags fail "command-line flags override the config in: $flags"; else
    report kubelet.flags pass "no overriding kubelet flags"
  fi
  if ! is_live || [[ -z "$(pids_of_exes kubelet)" ]]; then report kubelet.running-config not-applicable "no running kubelet seen from here"
  elif kubelet_stale; then report kubelet.running-config fail "kubelet started before its config changed; restart it"
  else report kubelet.running-config pass "running kubelet started after its config last changed"; fi
}

# shellcheck disable=SC2016
readonly SED_KUBELET_FLAGS='s/[[:space:]]?--(anonymous-auth|enable-debugging-handlers)(=[^[:space:]"'\'']*)?//g
s/[[:space:]]?--(authorization-mode|read-only-port)(=|[[:space:]]+)[^[:space:]"'\'']*//g
s/ContainerCheckpoint=[Tt]rue/ContainerCheckpoint=false/g'

step_kubelet() {
  log "step kubelet: debugging handlers off, anonymous auth off, Webhook authz, read-only port 0, checkpoints off"
  if ! kubelet_present; then log "  no kubelet here"; return 0; fi
  local before=$CHANGED entry id key want f
  if [[ -f "$(p "$KUBELET_CONFIG")" ]]; then
    local settings=("${KUBELET_SETTINGS[@]}")
    [[ -z "$NODE_LEASE_SECONDS" ]] || settings+=("node-lease|nodeLeaseDurationSeconds|$NODE_LEASE_SECONDS")
    for entry in "${settings[@]}"; do
      IFS='|' read -r id key want <<<"$entry"
      [[ "$(yaml_get "$key" "$(p "$KUBELET_CONFIG")" 2>/dev/null)" == "$want" ]] && continue
      yaml_get "$key" "$(p "$KUBELET_CONFIG")" >/dev/null 2>"$TMP_DIR/yaml.err" || [[ $? == 1 ]] ||
        die "cannot edit $KUBELET_CONFIG: $(cat "$TMP_DIR/yaml.err")"
      filter_file "$KUBELET_CONFIG" "set $key: $want in $KUBELET_CONFIG" yaml_set "$key" "$want"
    done
  else
    log "  WARN: kubelet present but no config at $KUBELET_CONFIG (use --kubelet-config)"
  fi
  while IFS= read -r f; do
    filter_file "$f" "remove overriding kubelet flags from $f" sed -E "$SED_KUBELET_FLAGS"
  done < <(kubelet_flag_files)
  [[ $CHANGED -gt $before ]] && NEED_RELOAD=1 && KUBELET_TOUCHED=1
  restart_kubelet
}

restart_kubelet() {
  if ! systemd_running; then
    [[ "$KUBELET_TOUCHED" == 1 ]] && log "  kubelet restart skipped: systemd is not running here"
    return 0
  fi
  if [[ "$KUBELET_TOUCHED" == 1 ]] || kubelet_stale; then
    systemd_reload
    act "systemctl restart kubelet" systemctl restart kubelet.service
  fi
}

# ---------------------------------------------------------------- step: container runtime

check_runtime() {
  local cli dir found="" s bad="" seen=""
  for cli in "${RUNTIME_CLIS[@]}"; do
    for dir in "${BIN_DIRS[@]}"; do [[ -e "$(p "$dir/$cli")" ]] && found+="$dir/$cli "; done
  done
  if [[ -n "$found" ]]; then report runtime.cli fail "present: $found"; else
    report runtime.cli pass "no ${RUNTIME_CLIS[*]} in ${BIN_DIRS[*]}"
  fi
  for s in "${RUNTIME_SOCKETS[@]}"; do
    [[ -e "$(p "$s")" ]] || continue
    seen+="$s "
    [[ "$(stat -L -c '%a %u %g' "$(p "$s")")" == "600 0 0" ]] || bad+="$s is $(stat -L -c '%a %U:%G' "$(p "$s")"); "
  done
  if unit_present containerd.service && [[ ! -f "$(p "$CONTAINERD_DROPIN")" ]]; then bad+="no $CONTAINERD_DROPIN; "; fi
  if [[ -n "$bad" ]]; then report runtime.socket fail "$bad"
  elif [[ -z "$seen" ]]; then report runtime.socket not-applicable "no runtime socket present"
  else report runtime.socket pass "0600 root:root: $seen"; fi
}

step_runtime() {
  log "step runtime: remove runtime CLIs, runtime socket root-only"
  local cli dir s
  for cli in "${RUNTIME_CLIS[@]}"; do for dir in "${BIN_DIRS[@]}"; do remove_path "$dir/$cli"; done; done
  for s in "${RUNTIME_SOCKETS[@]}"; do
    [[ -e "$(p "$s")" ]] || continue
    guard_path "$(p "$s")"
    [[ "$(stat -L -c '%a %u %g' "$(p "$s")")" == "600 0 0" ]] ||
      act "chmod 0600, chown root:root $s" chown_socket "$(p "$s")"
  done
  if unit_present containerd.service; then
    write_file "$CONTAINERD_DROPIN" 0644 "# Written by celula hijack.sh: containerd recreates its socket on restart.
[Service]
ExecStartPost=/bin/chmod 0600 /run/containerd/containerd.sock
ExecStartPost=/bin/chown root:root /run/containerd/containerd.sock"
  fi
}

chown_socket() { chown root:root "$1" && chmod 0600 "$1"; }

# ---------------------------------------------------------------- step: kernel

sysctl_file_content() {
  local kv
  echo "# Written by celula hijack.sh (docs/operations.md "Node hardening"). No undo by design."
  for kv in "${SYSCTLS[@]}"; do printf '%s = %s\n' "${kv%%=*}" "${kv#*=}"; done
}

sysctl_persisted() { grep -qxF "$1 = $2" "$(p "$SYSCTL_FILE")" 2>/dev/null; }
proc_sys_path() { printf '/proc/sys/%s' "${1//.//}"; }

# kernel_context: "prefix", "container" or "host" — whose kernel a live value would belong to.
kernel_context() { if ! is_live; then echo prefix; elif in_container; then echo container; else echo host; fi; }

# report_kernel ID PERSISTED(0|1) LIVE_OK(0|1|na) LIVE_DESC
report_kernel() {
  local id="$1" persisted="$2" live="$3" desc="$4"
  case "$(kernel_context)" in
    prefix)
      if [[ "$persisted" == 1 ]]; then report "$id" not-applicable "persisted in $ROOT; the live kernel is not this tree's"
      else report "$id" fail "not persisted in $ROOT"; fi ;;
    container) report "$id" fail "in a container: the kernel is the host's ($desc); run hijack.sh on the host" ;;
    host)
      if [[ "$live" == na ]]; then report "$id" not-applicable "$desc"
      elif [[ "$persisted" == 1 && "$live" == 1 ]]; then report "$id" pass "$desc, persisted"
      else report "$id" fail "$desc; persisted: $([[ "$persisted" == 1 ]] && echo yes || echo no)"; fi ;;
  esac
}

check_sysctls() {
  local kv key want have persisted live
  for kv in "${SYSCTLS[@]}"; do
    key="${kv%%=*}"; want="${kv#*=}"; persisted=0; live=0
    sysctl_persisted "$key" "$want" && persisted=1
    if [[ -r "$(proc_sys_path "$key")" ]]; then
      have="$(cat "$(proc_sys_path "$key")")"
      [[ "$have" == "$want" ]] && live=1
      report_kernel "sysctl.$key" "$persisted" "$live" "live $key = $have, want $want"
    else
      report_kernel "sysctl.$key" "$persisted" na "kernel has no $key"
    fi
  done
}

fstab_swap_lines() { awk '$0 !~ /^[ \t]*#/ && $3 == "swap"' "$(p /etc/fstab)" 2>/dev/null; }
live_swaps() { awk 'NR > 1' /proc/swaps 2>/dev/null; }

check_swap() {
  local persisted=0 live=0
  [[ -z "$(fstab_swap_lines)" ]] && unit_masked swap.target && persisted=1
  [[ -z "$(live_swaps)" ]] && live=1
  report_kernel kernel.swap "$persisted" "$live" "active swaps: $(live_swaps | wc -l)"
}

readonly LIMITS_CONTENT="# Written by celula hijack.sh: no core dumps (root needs its own line).
*    soft core 0
*    hard core 0
root soft core 0
root hard core 0"
readonly COREDUMP_CONTENT="[Coredump]
Storage=none
ProcessSizeMax=0"
readonly SYSTEMCONF_CONTENT="[Manager]
DefaultLimitCORE=0"

check_core_limits() {
  local bad="" f
  for f in "$LIMITS_FILE" "$COREDUMP_FILE" "$SYSTEMCONF_FILE"; do [[ -f "$(p "$f")" ]] || bad+="$f missing; "; done
  if [[ -n "$bad" ]]; then report kernel.core-limits fail "$bad"; else
    report kernel.core-limits pass "core size 0 (limits.d, systemd DefaultLimitCORE), systemd-coredump Storage=none"
  fi
}

lockdown_state() { cat /sys/kernel/security/lockdown 2>/dev/null; }

check_lockdown() {
  local persisted=0 state
  [[ -f "$(p "/etc/systemd/system/$LOCKDOWN_UNIT")" ]] && persisted=1
  state="$(lockdown_state)" || state=""
  if [[ -z "$state" ]]; then report_kernel kernel.lockdown "$persisted" na "kernel offers no lockdown LSM"
  elif [[ "$state" == *"[confidentiality]"* ]]; then report_kernel kernel.lockdown "$persisted" 1 "lockdown: $state"
  else report_kernel kernel.lockdown "$persisted" 0 "lockdown: $state"; fi
}

readonly LOCKDOWN_UNIT_CONTENT="[Unit]
Description=Celula hijack: kernel lockdown confidentiality (lockdown does not persist across boots)
DefaultDependencies=no
ConditionPathExists=/sys/kernel/security/lockdown
Before=sysinit.target

[Service]
Type=oneshot
ExecStart=/bin/sh -c 'echo confidentiality > /sys/kernel/security/lockdown'

[Install]
WantedBy=sysinit.target"

step_kernel_files() {
  write_file "$SYSCTL_FILE" 0644 "$(sysctl_file_content)"
  write_file "$LIMITS_FILE" 0644 "$LIMITS_CONTENT"
  write_file "$COREDUMP_FILE" 0644 "$COREDUMP_CONTENT"
  write_file "$SYSTEMCONF_FILE" 0644 "$SYSTEMCONF_CONTENT"
  # shellcheck disable=SC2016
  filter_file /etc/fstab "remove swap lines from /etc/fstab" awk '$0 ~ /^[ \t]*#/ || $3 != "swap"'
  mask_unit swap.target
  write_file "/etc/systemd/system/$LOCKDOWN_UNIT" 0644 "$LOCKDOWN_UNIT_CONTENT"
  local wants="/etc/systemd/system/sysinit.target.wants/$LOCKDOWN_UNIT"
  if [[ "$(readlink "$(p "$wants")" 2>/dev/null)" != "/etc/systemd/system/$LOCKDOWN_UNIT" ]]; then
    guard_path "$(p "$wants")"
    act "enable $LOCKDOWN_UNIT" link_unit "$(p "$wants")" "/etc/systemd/system/$LOCKDOWN_UNIT"
  fi
}

link_unit() { mkdir -p "$(dirname "$1")" && ln -sfn "$2" "$1"; }

step_kernel_live() {
  local kv key want path
  [[ -n "$(live_swaps)" ]] && act "swapoff -a" swapoff -a
  for kv in "${SYSCTLS[@]}"; do
    key="${kv%%=*}"; want="${kv#*=}"; path="$(proc_sys_path "$key")"
    [[ -e "$path" ]] || { log "  kernel has no $key"; continue; }
    [[ "$(cat "$path")" == "$want" ]] || act "sysctl $key=$want" write_proc "$path" "$want"
  done
  local state
  state="$(lockdown_state)" || state=""
  if [[ -z "$state" ]]; then log "  kernel offers no lockdown LSM"
  elif [[ "$state" != *"[confidentiality]"* ]]; then
    act "lockdown confidentiality" write_proc /sys/kernel/security/lockdown confidentiality
  fi
}

write_proc() { printf '%s\n' "$2" >"$1"; }

step_kernel() {
  log "step kernel: swap off, core dumps off, sysctls, lockdown"
  step_kernel_files
  systemd_reload
  if kernel_live_allowed; then step_kernel_live
  else log "  live kernel: skipped ($(kernel_context); --apply-kernel $([[ "$APPLY_KERNEL" == 1 ]] && echo given || echo not given)); persisted only"; fi
}

# ---------------------------------------------------------------- manifest, check, main

check_manifest() {
  local m
  m="$(p "$MANIFEST")"
  if [[ ! -f "$m" ]]; then report manifest fail "no manifest at $MANIFEST"; return 0; fi
  if grep -qF "\"script_sha256\": \"$(script_sha256)\"" "$m"; then report manifest pass "$MANIFEST written by this script ($(script_sha256))"
  else report manifest fail "$MANIFEST was written by another version of hijack.sh"; fi
}

run_checks() {
  R_ID=(); R_STATUS=(); R_DETAIL=()
  check_remote_shells
  check_accounts
  check_agents
  check_kubelet
  check_runtime
  check_swap
  check_core_limits
  check_sysctls
  check_lockdown
  check_manifest
}

manifest_content() {
  printf '{\n  "tool": "celula-hijack",\n  "version": %s,\n  "script_sha256": "%s",\n' "$HIJACK_VERSION" "$(script_sha256)"
  printf '  "kubelet_config": %s,\n  "kernel_context": "%s",\n' "$(json_str "$KUBELET_CONFIG")" "$(kernel_context)"
  printf '  "apply_kernel": %s,\n  "undo": "none, by design",\n' "$([[ "$APPLY_KERNEL" == 1 ]] && echo true || echo false)"
  printf '  "protections": %s\n}' "$(report_json manifest)"
}

step_manifest() {
  log "step manifest: $MANIFEST"
  if [[ "$DRY_RUN" == 1 ]]; then
    [[ "$CHANGED" -gt 0 || ! -f "$(p "$MANIFEST")" ]] && act "write $MANIFEST" true
    return 0
  fi
  run_checks
  write_file "$MANIFEST" 0644 "$(manifest_content)"
}

print_check() {
  printf '{\n  "script_sha256": "%s",\n  "root": %s,\n  "kernel_context": "%s",\n' \
    "$(script_sha256)" "$(json_str "$ROOT")" "$(kernel_context)"
  printf '  "summary": {"pass": %s, "fail": %s, "not-applicable": %s},\n' \
    "$(count_status pass)" "$(count_status fail)" "$(count_status not-applicable)"
  printf '  "protections": %s\n}\n' "$(report_json)"
}

parse_args() {
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --check) MODE=check ;;
      --dry-run) DRY_RUN=1 ;;
      --apply-kernel) APPLY_KERNEL=1 ;;
      --root) [[ $# -ge 2 ]] || die "--root needs a directory"; ROOT="$2"; shift ;;
      --root=*) ROOT="${1#*=}" ;;
      --kubelet-config) [[ $# -ge 2 ]] || die "--kubelet-config needs a path"; KUBELET_CONFIG="$2"; shift ;;
      --manifest) [[ $# -ge 2 ]] || die "--manifest needs a path"; MANIFEST="$2"; shift ;;
      --node-lease-seconds) [[ $# -ge 2 && -n "$2" ]] || die "--node-lease-seconds needs a number of seconds"; NODE_LEASE_SECONDS="$2"; shift ;;
      --node-lease-seconds=?*) NODE_LEASE_SECONDS="${1#*=}" ;;
      --node-lease-seconds=) die "--node-lease-seconds needs a number of seconds" ;;
      -h | --help) usage; exit 0 ;;
      *) die "unknown argument: $1 (see --help)" ;;
    esac
    shift
  done
}

validate_args() {
  [[ -d "$ROOT" ]] || die "root $ROOT is not a directory"
  ROOT="$(realpath "$ROOT")"
  [[ "$KUBELET_CONFIG" == /* && "$MANIFEST" == /* ]] || die "--kubelet-config and --manifest take absolute paths (inside the root)"
  [[ "$APPLY_KERNEL" == 0 || "$MODE" == apply ]] || die "--apply-kernel only applies without --check"
  if [[ -n "$NODE_LEASE_SECONDS" ]]; then
    local ok=0
    if [[ "$NODE_LEASE_SECONDS" =~ ^[0-9]{1,4}$ ]]; then
      ((10#$NODE_LEASE_SECONDS >= NODE_LEASE_MIN && 10#$NODE_LEASE_SECONDS <= NODE_LEASE_MAX)) && ok=1
    fi
    [[ "$ok" == 1 ]] || die "--node-lease-seconds must be a whole number of seconds from $NODE_LEASE_MIN to $NODE_LEASE_MAX, got '$NODE_LEASE_SECONDS'"
    NODE_LEASE_SECONDS=$((10#$NODE_LEASE_SECONDS))
  fi
  if [[ "$APPLY_KERNEL" == 1 ]]; then
    is_live || die "refusing --apply-kernel with root $ROOT: the running kernel is not that tree's"
    ! in_container || die "refusing --apply-kernel inside a container: its kernel is the host's"
  fi
  [[ "$MODE" == check || "$DRY_RUN" == 1 || "$(id -u)" == 0 ]] || die "must run as root"
}

main() {
  parse_args "$@"
  validate_args
  TMP_DIR="$(mktemp -d)"
  trap 'rm -rf "$TMP_DIR"' EXIT
  if [[ "$MODE" == check ]]; then
    run_checks
    print_check
    [[ "$(count_status fail)" == 0 ]]
    return
  fi
  trap "" HUP # killing sshd may hang up our own session; finish the run regardless
  log "start: root=$ROOT dry_run=$DRY_RUN apply_kernel=$APPLY_KERNEL kernel_context=$(kernel_context) sha256=$(script_sha256)"
  step_remote_shells
  step_accounts
  step_agents
  step_kubelet
  step_runtime
  step_kernel
  step_manifest
  if [[ "$DRY_RUN" == 0 ]]; then
    run_checks
    local failed
    failed="$(count_status fail)"
    [[ "$failed" == 0 ]] || log "WARN: $failed protection(s) do not hold: $(for i in "${!R_ID[@]}"; do [[ "${R_STATUS[$i]}" == fail ]] && printf '%s ' "${R_ID[$i]}"; done)"
  fi
  log "summary: changed=$CHANGED dry_run=$DRY_RUN"
}

main "$@"
