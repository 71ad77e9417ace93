#!/usr/bin/env bash
# The kind cluster Celula's e2e tier runs on: 1 control plane + 3 workers (zones a, b, c), with
# real kubelets and containerd, from a node image built here (test/e2e/build.sh), no registry.
#   cluster.sh up     build what is not cached, create the cluster, wait until every node is Ready
#   cluster.sh down   delete the cluster and undo every host change `up` made
#   cluster.sh smoke  run a pod on a worker that resolves and reaches the API Service (cross-node)
#   cluster.sh load IMAGE...  kind load docker-image into every node
# Idempotent: `up` on a running cluster only waits for Ready; `down` twice is harmless.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=test/e2e/lib.sh
source "$HERE/lib.sh"

KUBECONFIG_FILE="$E2E/kubeconfig"
KIND_CONFIG="$E2E/kind-config.yaml"
KUBECTL="$CP_BIN/kubectl"
WORKERS=3
READY_TIMEOUT="${CELULA_E2E_READY_TIMEOUT:-300s}"
# Kernel settings the kubelet writes at start (it is not network-namespaced): host-wide, so their
# values before `up` are saved once and written back by `down`.
HOST_SYSCTLS=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops
  kernel.keys.root_maxkeys kernel.keys.root_maxbytes net.netfilter.nf_conntrack_max)
SYSCTL_SAVE="$E2E/host-sysctls.saved"
# The docker network kind creates for its nodes (kind leaves it behind on delete).
KIND_NETWORK="kind"

kc() { "$KUBECTL" --kubeconfig "$KUBECONFIG_FILE" "$@"; }

cluster_exists() { "$E2E_BIN/kind" get clusters 2>/dev/null | grep -qx "$CLUSTER_NAME"; }

write_kind_config() {
  local i zones=(a b c)
  {
    cat <<EOF
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
networking:
  # kindnetd is not buildable here: each node's celula-podnet service provides the pod network.
  disableDefaultCNI: true
kubeadmConfigPatches:
  - |
    kind: KubeletConfiguration
    failCgroupV1: false
nodes:
  - role: control-plane
EOF
    for ((i = 0; i < WORKERS; i++)); do
      printf '  - role: worker\n    labels:\n      topology.kubernetes.io/zone: zone-%s\n' "${zones[i]}"
    done
  } >"$KIND_CONFIG"
}

create_cluster() {
  write_kind_config
  log "kind create cluster $CLUSTER_NAME (1 control plane + $WORKERS workers, image $NODE_IMAGE)"
  kind_run create cluster --name "$CLUSTER_NAME" --image "$NODE_IMAGE" --config "$KIND_CONFIG" \
    --kubeconfig "$KUBECONFIG_FILE" --retain >"$E2E_LOGS/kind-create.log" 2>&1 || {
    tail -n 40 "$E2E_LOGS/kind-create.log" >&2
    die "kind create cluster failed (log: $E2E_LOGS/kind-create.log; nodes kept for \`kind export logs\`; npm run e2e:down removes them)"
  }
}

# celula-podnet (node/celula-podnet) lists Nodes, which a kubelet's own credentials may no longer
# do (Kubernetes 1.37: a node reads only its own Node object): it gets a service account token with
# get/list on nodes, dropped into every node container as /etc/celula-podnet/token.
podnet_rbac() {
  kc apply -f - >/dev/null <<EOF
apiVersion: v1
kind: ServiceAccount
metadata: { name: celula-podnet, namespace: kube-system }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: { name: celula-podnet }
rules: [{ apiGroups: [""], resources: [nodes], verbs: [get, list] }]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: { name: celula-podnet }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: celula-podnet }
subjects: [{ kind: ServiceAccount, name: celula-podnet, namespace: kube-system }]
---
apiVersion: v1
kind: Secret
metadata:
  name: celula-podnet-token
  namespace: kube-system
  annotations: { kubernetes.io/service-account.name: celula-podnet }
type: kubernetes.io/service-account-token
EOF
}

# The token, once the token controller has filled the Secret (printed base64, as stored).
podnet_token_b64() {
  local t
  for _ in $(seq 1 60); do
    t="$(kc -n kube-system get secret celula-podnet-token -o jsonpath='{.data.token}' 2>/dev/null || true)"
    [[ -n "$t" ]] && {
      printf '%s' "$t"
      return 0
    }
    sleep 1
  done
  die "the token controller did not fill kube-system/celula-podnet-token in 60 s"
}

install_podnet_token() {
  local b64 node
  podnet_rbac
  b64="$(podnet_token_b64)"
  for node in $("$E2E_BIN/kind" get nodes --name "$CLUSTER_NAME"); do
    base64 -d <<<"$b64" | docker exec -i "$node" sh -c \
      'umask 077 && mkdir -p /etc/celula-podnet && cat >/etc/celula-podnet/token.tmp && mv /etc/celula-podnet/token.tmp /etc/celula-podnet/token'
  done
  log "pod network: token installed on $("$E2E_BIN/kind" get nodes --name "$CLUSTER_NAME" | wc -l) nodes"
}

wait_ready() {
  local want=$((WORKERS + 1)) n
  log "waiting for $want nodes Ready (timeout $READY_TIMEOUT)"
  for _ in $(seq 1 60); do
    n="$(kc get nodes --no-headers 2>/dev/null | wc -l)"
    [[ "$n" -ge "$want" ]] && break
    sleep 2
  done
  kc wait --for=condition=Ready node --all --timeout="$READY_TIMEOUT" >/dev/null || {
    kc get nodes -o wide >&2 || true
    die "nodes not Ready within $READY_TIMEOUT"
  }
  kc get nodes -L topology.kubernetes.io/zone >&2
  # Pods resolve names only once CoreDNS runs (its pods wait for a Ready node).
  kc -n kube-system rollout status deployment/coredns --timeout="$READY_TIMEOUT" >/dev/null \
    || die "CoreDNS not available within $READY_TIMEOUT"
}

# Saved only when no earlier save is pending, so a second `up` keeps the original values.
save_host_sysctls() {
  [[ -f "$SYSCTL_SAVE" ]] && return 0
  sysctl -e "${HOST_SYSCTLS[@]}" | sed 's/ = /=/' >"$SYSCTL_SAVE.tmp"
  mv "$SYSCTL_SAVE.tmp" "$SYSCTL_SAVE"
  log "saved host sysctls the kubelet changes: $(tr '\n' ' ' <"$SYSCTL_SAVE")"
}

restore_host_sysctls() {
  [[ -f "$SYSCTL_SAVE" ]] || return 0
  local line changed=()
  while read -r line; do
    [[ "$(sysctl -n "${line%%=*}")" == "${line#*=}" ]] && continue
    sysctl -q -w "$line"
    changed+=("$line")
  done <"$SYSCTL_SAVE"
  rm -f "$SYSCTL_SAVE"
  log "host sysctls restored: ${changed[*]:-none had changed}"
}

usage_hint() {
  log "kubeconfig: $KUBECONFIG_FILE"
  log "  export KUBECONFIG=$KUBECONFIG_FILE; $KUBECTL get nodes"
  log "  load an image: bash test/e2e/cluster.sh load <image>  (kind load through the docker shim)"
}

up() {
  local start=$SECONDS created
  ensure_dockerd
  bash "$HERE/build.sh" all
  created=$SECONDS
  if cluster_exists; then
    log "cluster $CLUSTER_NAME exists: not recreating"
    kind_run get kubeconfig --name "$CLUSTER_NAME" >"$KUBECONFIG_FILE"
  else
    save_host_sysctls
    create_cluster
  fi
  install_podnet_token
  wait_ready
  log "cluster Ready: $((SECONDS - created)) s to create + Ready, $((SECONDS - start)) s in all"
  usage_hint
}

# Only an empty network that kind created is removed (kind labels nothing; we check it is unused).
remove_kind_network() {
  docker network inspect "$KIND_NETWORK" >/dev/null 2>&1 || return 0
  if [[ "$(docker network inspect -f '{{len .Containers}}' "$KIND_NETWORK")" != 0 ]]; then
    log "docker network $KIND_NETWORK still has containers: left in place"
    return 0
  fi
  docker network rm "$KIND_NETWORK" >/dev/null
  log "removed docker network $KIND_NETWORK"
}

down() {
  ensure_dockerd
  if [[ -x "$E2E_BIN/kind" ]] && cluster_exists; then
    log "kind delete cluster $CLUSTER_NAME"
    kind_run delete cluster --name "$CLUSTER_NAME" >&2
  else
    log "no cluster $CLUSTER_NAME"
  fi
  rm -f "$KUBECONFIG_FILE" "$KIND_CONFIG"
  restore_host_sysctls
  remove_kind_network
  remove_shim
}

# A pod on a worker resolves the API Service by name and gets /readyz through its ClusterIP,
# which crosses nodes (the API server runs on the control plane).
smoke() {
  local pod=celula-e2e-smoke node
  node="$(kc get nodes -l '!node-role.kubernetes.io/control-plane' -o jsonpath='{.items[0].metadata.name}')"
  kc delete pod "$pod" --ignore-not-found --wait >/dev/null
  kc run "$pod" --image="$LOCAL_PATH_HELPER_IMAGE" --image-pull-policy=Never --restart=Never \
    --overrides="{\"spec\":{\"nodeName\":\"$node\"}}" --command -- \
    sh -c 'getent hosts kubernetes.default.svc.cluster.local && curl -sk https://kubernetes.default.svc/readyz' >/dev/null
  local phase=""
  for _ in $(seq 1 60); do
    phase="$(kc get pod "$pod" -o jsonpath='{.status.phase}')"
    [[ "$phase" == Succeeded || "$phase" == Failed ]] && break
    sleep 2
  done
  [[ "$phase" == Succeeded ]] || {
    kc describe pod "$pod" >&2
    kc logs "$pod" >&2 || true
    die "smoke pod on $node ended '$phase', not Succeeded"
  }
  log "smoke pod on $node: $(kc logs "$pod" | tr '\n' ' ')"
  kc delete pod "$pod" --wait=false >/dev/null
}

# load IMAGE...: `kind load docker-image` (it runs `docker exec --privileged`, so it needs the shim).
load() {
  [[ $# -gt 0 ]] || die "usage: cluster.sh load IMAGE..."
  cluster_exists || die "no cluster $CLUSTER_NAME: run npm run e2e:up first"
  kind_run load docker-image --name "$CLUSTER_NAME" "$@" >&2
}

main() {
  local cmd="${1:-}"
  shift || true
  case "$cmd" in
    up) up ;;
    down) down ;;
    smoke) smoke ;;
    load) load "$@" ;;
    *) die "usage: cluster.sh up|down|smoke|load IMAGE... (got '$cmd')" ;;
  esac
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then main "$@"; fi
