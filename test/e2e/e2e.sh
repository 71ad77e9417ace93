#!/usr/bin/env bash
# npm run e2e: Celula on the kind cluster of cluster.sh, as a user runs it: the image built here
# (scripts/images.sh), loaded into every node as an OCI archive, the chart installed with the real
# helm (digest pinned), workers hardened out of band (`nodes.provider: existing`), a colony whose
# cells run the same image, then the faults: exec refused by admission and by the kubelet, a worker
# container stopped (the floor comes back with the same key, time printed), the operator pod deleted,
# helm upgrade, helm uninstall. Each step prints its time; on failure events, operator logs and cell
# pod states are dumped. Leaves the cluster up (npm run e2e:down takes it down).
#   e2e.sh [--keep-release]   --keep-release: skip the final helm uninstall
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
# shellcheck source=test/e2e/lib.sh
source "$HERE/lib.sh"

KUBECONFIG_FILE="$E2E/kubeconfig"
KUBECTL="$CP_BIN/kubectl"
HELM="$CP_BIN/helm"
NS_OP="celula-system"
NS="celula-e2e"
COLONY="lottery"
RELEASE="celula"
ARCHIVE="$CACHE/images/celula-dev.oci.tar"
HARDENED_LABEL="node-restriction.kubernetes.io/celula-hardened"
HARDENERS_GROUP="celula.io:node-hardeners"
NODE_LEASE_SECONDS=10
CELL_CPU="${CELULA_E2E_CELL_CPU:-500m}"
CELL_MEMORY="${CELULA_E2E_CELL_MEMORY:-256Mi}"
TIMES="$E2E_LOGS/e2e-times.txt"
KEEP_RELEASE=0
CURRENT_STEP=""
SUMMARY=()
MANIFEST_DIGEST=""
FINGERPRINT=""
PUBLIC_KEY=""

kc() { "$KUBECTL" --kubeconfig "$KUBECONFIG_FILE" "$@"; }
hl() { "$HELM" --kubeconfig "$KUBECONFIG_FILE" "$@"; }
workers() { kc get nodes -l '!node-role.kubernetes.io/control-plane' -o jsonpath='{.items[*].metadata.name}'; }

# step NAME FUNCTION [ARGS]: run one step, print its time, keep it for the summary.
step() {
  local name="$1" start=$SECONDS took
  shift
  CURRENT_STEP="$name"
  log "==> $name"
  "$@"
  took=$((SECONDS - start))
  log "<== $name: $took s"
  SUMMARY+=("$(printf '%-44s %5d s' "$name" "$took")")
  printf '%s %s %s\n' "$(date -u +%FT%TZ)" "${name// /_}" "$took" >>"$TIMES"
}

# Everything a failed run needs to be understood. Cell pods on hardened nodes serve no logs through
# the API (debugging handlers off), so their containers' logs come from the node's crictl.
dump() {
  log "FAILED in step: $CURRENT_STEP — diagnostics follow"
  kc get nodes -o wide -L "$HARDENED_LABEL" >&2 || true
  kc -n "$NS" get colonies,cells -o wide >&2 || true
  kc -n "$NS" get colony "$COLONY" -o jsonpath='{range .status.conditions[*]}{.type}={.status} {.reason}: {.message}{"\n"}{end}' >&2 || true
  kc -n "$NS" get pods -o wide >&2 || true
  kc -n "$NS" get pods -o jsonpath='{range .items[*]}{.metadata.name} {.status.phase} {.status.containerStatuses[*].state}{"\n"}{end}' >&2 || true
  kc -n "$NS_OP" get pods -o wide >&2 || true
  kc get events -A --sort-by=.lastTimestamp 2>/dev/null | tail -n 60 >&2 || true
  local p
  for p in $(kc -n "$NS_OP" get pods -o name 2>/dev/null); do
    log "--- logs of $p"
    kc -n "$NS_OP" logs "$p" --tail=80 >&2 || true
  done
  for p in $(workers 2>/dev/null); do
    log "--- cell containers on $p (crictl)"
    docker exec "$p" sh -c 'for c in $(crictl ps -a -q --label io.kubernetes.pod.namespace='"$NS"'); do crictl logs --tail 30 "$c" 2>&1; done' >&2 || true
  done
}

on_exit() {
  local rc=$?
  [[ $rc == 0 ]] && return 0
  dump
  log "e2e FAILED (exit $rc) in step: $CURRENT_STEP"
  exit "$rc"
}

# wait_for SECONDS DESCRIPTION COMMAND...: poll COMMAND every second until it succeeds.
wait_for() {
  local limit="$1" what="$2" start=$SECONDS
  shift 2
  until "$@" >/dev/null 2>&1; do
    ((SECONDS - start < limit)) || die "timed out after $limit s waiting for: $what"
    sleep 1
  done
}

# --- 1. cluster, image, chart ------------------------------------------------------------------

cluster_up() { bash "$HERE/cluster.sh" up; }

build_image() {
  PATH="$ROOT/node_modules/.bin:$PATH" nice -n 19 bash "$ROOT/scripts/images.sh"
  [[ -s "$ARCHIVE" && -s "$ARCHIVE.digest" ]] || die "images.sh wrote no $ARCHIVE(.digest)"
  MANIFEST_DIGEST="$(sed -n 2p "$ARCHIVE.digest")"
  [[ "$MANIFEST_DIGEST" =~ ^sha256:[0-9a-f]{64}$ ]] || die "no manifest digest on line 2 of $ARCHIVE.digest"
  log "image celula@$MANIFEST_DIGEST ($(du -m "$ARCHIVE" | cut -f1) MB archive)"
}

# kind load image-archive runs `docker exec --privileged`: through the shim (kind_run).
# Lists are captured before grep: with pipefail, `cmd | grep -q` fails whenever grep exits at its
# match while cmd still writes (SIGPIPE) — ctr writes a line at a time, so it failed at random.
load_image() {
  local n refs
  kind_run load image-archive --name "$CLUSTER_NAME" "$ARCHIVE" >&2
  for n in $("$E2E_BIN/kind" get nodes --name "$CLUSTER_NAME"); do
    refs=$(docker exec "$n" ctr -n k8s.io images ls -q) || die "cannot list the images of node $n"
    grep -qF "@$MANIFEST_DIGEST" <<<"$refs" \
      || die "node $n has no image with digest $MANIFEST_DIGEST after kind load"
  done
  log "every node holds celula@$MANIFEST_DIGEST"
}

# The operator runs on the control plane: no new non-cell pod binds to a hardened node, and all
# three workers are hardened below, so a rescheduled operator pod must have somewhere to go.
write_values() {
  cat >"$E2E/e2e-values.yaml" <<EOF
image:
  repository: celula
  digest: $MANIFEST_DIGEST
  pullPolicy: Never
logLevel: ${1:-info}
nodeSelector:
  node-role.kubernetes.io/control-plane: ''
tolerations:
  - { key: node-role.kubernetes.io/control-plane, operator: Exists, effect: NoSchedule }
EOF
}

operator_available() {
  kc -n "$NS_OP" rollout status deployment/celula-operator --timeout=180s >&2
  kc -n "$NS_OP" wait --for=condition=Available deployment/celula-operator --timeout=60s >&2
}

helm_install() {
  write_values info
  hl upgrade --install "$RELEASE" "$ROOT/charts/celula" -n "$NS_OP" --create-namespace \
    -f "$E2E/e2e-values.yaml" --wait=false >&2
  operator_available
  kc -n "$NS_OP" get pods -o wide >&2
}

# --- 2. hardened workers (provider: existing) ----------------------------------------------------

# What a kind node lets us harden from outside (docker exec; no privileged pod, see README): the
# kubelet's debugging handlers off and the hardened node Lease (as hijack.sh writes them), and core
# dumps off for containers (containerd's LimitCORE, which every container inherits: the base image's
# cri-base.json sets no rlimits). Kernel settings (core_pattern, ptrace_scope, swap) are the host's.
# shellcheck disable=SC2016  # expanded by the node's shell, not here
HARDEN_NODE_SCRIPT='set -eu
cfg=/var/lib/kubelet/config.yaml
sed -i "/^enableDebuggingHandlers:/d; /^nodeLeaseDurationSeconds:/d" "$cfg"
printf "enableDebuggingHandlers: false\nnodeLeaseDurationSeconds: %s\n" "$1" >>"$cfg"
mkdir -p /etc/systemd/system/containerd.service.d
printf "[Service]\nLimitCORE=0\n" >/etc/systemd/system/containerd.service.d/celula-e2e-core.conf
systemctl daemon-reload
systemctl restart containerd
systemctl restart kubelet'

# The label value: 12 hex of the digest of what hardened the node (the script above), the format
# the hardened-label wall accepts (docs/lockdown.md).
hardening_digest() { printf '%s' "$HARDEN_NODE_SCRIPT" | sha256sum | cut -c1-12; }

harden_workers() {
  local n value
  value="$(hardening_digest)"
  for n in $(workers); do
    docker exec "$n" sh -c "$HARDEN_NODE_SCRIPT" harden "$NODE_LEASE_SECONDS"
  done
  kc wait --for=condition=Ready node --all --timeout=120s >&2
  for n in $(workers); do
    # The cluster admin alone may not set or change the label (the hardened-label wall):
    if kc label node "$n" "$HARDENED_LABEL=000000000000" --overwrite >/dev/null 2>"$E2E_LOGS/label.err"; then
      die "the cluster admin labelled $n hardened without the group $HARDENERS_GROUP: the wall is missing"
    fi
    log "label by cluster-admin refused: $(head -c 300 "$E2E_LOGS/label.err")"
    kc label node "$n" "$HARDENED_LABEL=$value" --overwrite \
      --as=celula-e2e-hardener --as-group="$HARDENERS_GROUP" --as-group=system:masters >&2
  done
  kc get nodes -L "$HARDENED_LABEL" >&2
}

# Privileged pods inside a kind node on this VM (what the adopt provider's hardening Job needs). On
# the control plane: it is a node container like the workers, and is never hardened (no new pod may
# bind to a hardened node, so a rerun could not probe a worker).
probe_privileged() {
  local n pod=celula-e2e-privileged-probe
  n="$(kc get nodes -l node-role.kubernetes.io/control-plane -o jsonpath='{.items[0].metadata.name}')"
  kc delete pod "$pod" --ignore-not-found --wait >/dev/null
  kc run "$pod" --image="$LOCAL_PATH_HELPER_IMAGE" --image-pull-policy=Never --restart=Never \
    --overrides="{\"spec\":{\"nodeName\":\"$n\",\"containers\":[{\"name\":\"p\",\"image\":\"$LOCAL_PATH_HELPER_IMAGE\",\"imagePullPolicy\":\"Never\",\"command\":[\"true\"],\"securityContext\":{\"privileged\":true}}]}}" >/dev/null
  sleep 15
  log "privileged pod on $n: $(kc get pod "$pod" -o jsonpath='{.status.phase} {.status.containerStatuses[0].state}')"
  kc delete pod "$pod" --wait=false >/dev/null
}

# --- 3. the colony -------------------------------------------------------------------------------

# examples/colony.yaml with this image (the cell image is the celula image) and provider existing.
# replicas 2 / minReplicas 2 on 3 hardened workers: one worker stays free for the replacement.
# Resources: set explicitly (CELULA_E2E_CELL_CPU/MEMORY); the defaults were raised to the same
# 500m / 256Mi after this suite measured them (src/builders/pod.ts DEFAULT_RESOURCES): a starting cell
# was OOM-killed at 62 MB anon + 39 MB file RSS under 64Mi, and at 100m of a loaded CPU it did not
# answer its liveness probe within 30 s.
apply_colony() {
  kc create namespace "$NS" --dry-run=client -o yaml | kc apply -f - >&2
  sed -e "s|^  image: .*|  image: celula@$MANIFEST_DIGEST|" \
    -e 's|^  replicas: .*|  replicas: 2|' -e 's|^  minReplicas: .*|  minReplicas: 2|' \
    -e 's|provider: unhardened|provider: existing|' "$ROOT/examples/colony.yaml" \
    | cat - <(printf '  resources:\n    cpu: %s\n    memory: %s\n' "$CELL_CPU" "$CELL_MEMORY") \
    | kc -n "$NS" apply -f - >&2
  colony_ready 300
  FINGERPRINT="$(colony_field fingerprint)"
  PUBLIC_KEY="$(colony_field publicKey)"
  [[ -n "$FINGERPRINT" && -n "$PUBLIC_KEY" ]] || die "colony Ready without a public key/fingerprint"
  log "colony $NS/$COLONY Ready: fingerprint $FINGERPRINT public key $PUBLIC_KEY"
  kc -n "$NS" get cells -o wide >&2
}

colony_field() { kc -n "$NS" get colony "$COLONY" -o jsonpath="{.status.$1}"; }
condition() { kc -n "$NS" get colony "$COLONY" -o jsonpath="{.status.conditions[?(@.type==\"$1\")].status}"; }
is_ready() { [[ "$(condition Ready)" == True ]]; }
colony_ready() { wait_for "$1" "colony $NS/$COLONY Ready" is_ready; }

same_key() {
  [[ "$(colony_field fingerprint)" == "$FINGERPRINT" && "$(colony_field publicKey)" == "$PUBLIC_KEY" ]] \
    || die "the colony's key changed: fingerprint $(colony_field fingerprint), was $FINGERPRINT"
}

cell_pod() { kc -n "$NS" get pods -l celula.io/cell --field-selector=status.phase=Running -o jsonpath='{.items[0].metadata.name}'; }

# --- 4. exec refused -----------------------------------------------------------------------------

exec_denied_by_admission() {
  local pod out
  pod="$(cell_pod)"
  [[ -n "$pod" ]] || die "no cell pod in $NS"
  if out="$(kc -n "$NS" exec "$pod" -- node -e 1 2>&1)"; then die "exec into $pod succeeded: $out"; fi
  log "exec into $pod: $out"
  grep -q "celula: exec into locked pod" <<<"$out" || die "exec was refused, but not by the lock-down: $out"
}

celula_bindings() { kc get validatingadmissionpolicybindings -o name | grep -E '/celula-' || true; }
bindings_present() { [[ -n "$(celula_bindings)" ]]; }
no_operator_pods() { [[ -z "$(kc -n "$NS_OP" get pods -o name)" ]]; }

exec_denied_by_kubelet() {
  local pod out node bindings
  pod="$(cell_pod)"
  node="$(kc -n "$NS" get pod "$pod" -o jsonpath='{.spec.nodeName}')"
  kc -n "$NS_OP" scale deployment/celula-operator --replicas=0 >&2
  wait_for 120 "operator pods gone" no_operator_pods
  bindings="$(celula_bindings)"
  log "deleting $(wc -w <<<"$bindings") celula policy bindings"
  # shellcheck disable=SC2086  # one object name per word
  kc delete $bindings >&2
  sleep 3 # the API server's policy set follows its informers (about a second; docs/lockdown.md)
  if out="$(kc -n "$NS" exec "$pod" -- node -e 1 2>&1)"; then die "exec into $pod on $node succeeded with the policies removed: $out"; fi
  log "exec into $pod on $node, no policy bound: $out"
  grep -qi "celula:" <<<"$out" && die "still refused by a celula policy: $out"
  restore_operator
}

restore_operator() {
  kc -n "$NS_OP" scale deployment/celula-operator --replicas=2 >&2
  operator_available
  wait_for 120 "celula bindings restored" bindings_present
  log "operator back; $(celula_bindings | wc -l) celula bindings restored"
  colony_ready 120
  same_key
}

# --- 5. a worker container stops ---------------------------------------------------------------

stop_holder_node() {
  local node start took pod
  pod="$(cell_pod)"
  node="$(kc -n "$NS" get pod "$pod" -o jsonpath='{.spec.nodeName}')"
  log "stopping node container $node (holds $pod)"
  start=$(date +%s.%N)
  docker stop "$node" >&2
  wait_for 60 "colony below Ready" bash -c "! [[ \$('$KUBECTL' --kubeconfig '$KUBECONFIG_FILE' -n '$NS' get colony '$COLONY' -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}') == True ]]"
  log "colony not Ready $(elapsed "$start") s after the stop"
  colony_ready 240
  took="$(elapsed "$start")"
  same_key
  log "NODE LOSS: floor back, Ready with the same key $took s after docker stop $node (simulated tier: bench node-loss p50 ≈ 7.9 s)"
  printf '%s node-loss-ready %s\n' "$(date -u +%FT%TZ)" "$took" >>"$TIMES"
  kc -n "$NS" get cells -o wide >&2
  docker start "$node" >&2
  kc wait --for=condition=Ready node "$node" --timeout=120s >&2
}

elapsed() { awk -v s="$1" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }'; }

# --- 6. operator restart, upgrade, uninstall -------------------------------------------------------

restart_operator() {
  local leader
  leader="$(kc -n "$NS_OP" get lease -o jsonpath='{.items[0].spec.holderIdentity}')"
  log "leader: $leader; deleting every operator pod"
  kc -n "$NS_OP" delete pods -l app.kubernetes.io/name=celula-operator --wait=false >&2
  sleep 2
  operator_available
  colony_ready 120
  same_key
}

helm_upgrade() {
  write_values debug
  hl upgrade "$RELEASE" "$ROOT/charts/celula" -n "$NS_OP" -f "$E2E/e2e-values.yaml" >&2
  local args
  args=$(kc -n "$NS_OP" get deployment celula-operator -o jsonpath='{.spec.template.spec.containers[0].args}')
  grep -q -- '--log-level=debug' <<<"$args" || die "helm upgrade did not change the log level"
  operator_available
  colony_ready 120
  same_key
  hl history "$RELEASE" -n "$NS_OP" >&2
}

# As the README says: stop the operator, delete the lock-down bindings, helm uninstall.
helm_uninstall() {
  kc -n "$NS_OP" scale deploy/celula-operator --replicas=0 >&2
  kc delete validatingadmissionpolicybindings -l celula.io/lockdown=true >&2
  hl uninstall "$RELEASE" -n "$NS_OP" >&2
  log "after uninstall: CRDs $(kc get crd -o name | grep -c celula.io), colonies $(kc get colonies -A --no-headers 2>/dev/null | wc -l), cell pods $(kc -n "$NS" get pods --no-headers 2>/dev/null | wc -l), celula policies $(kc get validatingadmissionpolicies -o name | grep -c celula || true)"
  kc get crd -o name | grep celula.io >&2 || true
  kc -n "$NS" get colonies,cells,pods >&2 || true
}

main() {
  [[ "${1:-}" == --keep-release ]] && KEEP_RELEASE=1
  [[ $# -le 1 && ("${1:-}" == "" || $KEEP_RELEASE == 1) ]] || die "usage: e2e.sh [--keep-release]"
  trap on_exit EXIT
  export KUBECONFIG="$KUBECONFIG_FILE"
  local start=$SECONDS
  step "cluster up" cluster_up
  step "images (npm run images)" build_image
  step "kind load image-archive" load_image
  step "helm install, operator Available" helm_install
  step "privileged pod probe" probe_privileged
  step "harden workers out of band, label" harden_workers
  step "colony Ready (provider existing)" apply_colony
  step "exec refused by admission" exec_denied_by_admission
  step "exec refused by kubelet, no policies" exec_denied_by_kubelet
  step "worker stopped: floor back, same key" stop_holder_node
  step "operator pods deleted: colony Ready" restart_operator
  step "helm upgrade: colony Ready" helm_upgrade
  [[ $KEEP_RELEASE == 1 ]] || step "helm uninstall (README)" helm_uninstall
  log "e2e PASSED in $((SECONDS - start)) s"
  printf '%s\n' "${SUMMARY[@]}" >&2
}

main "$@"
