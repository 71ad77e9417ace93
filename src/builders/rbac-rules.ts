// The operator's and the cells' RBAC rules, each naming the controller that needs it and why. Built
// into objects by rbac.ts and cell-rbac.ts, rendered into the chart by scripts/generate-chart.ts; a
// test fails when the rendered files drift from these rules.
// No wildcards; subresources spelled out; every unusual rule carries its reason.
import type { V1PolicyRule } from '@kubernetes/client-node';
import { GROUP } from '../api/types.js';

export const OPERATOR_NAME = 'celula-operator';
export const LEADER_LEASE = 'celula-operator-leader';
export const CELL_CLUSTER_ROLE = 'celula-cell';

interface Rule extends V1PolicyRule {
  /** Who needs it and why; rendered as a comment. */
  why: string;
}

/** Cluster-wide rules of the operator (colonies may live in any namespace). */
export const OPERATOR_RULES: Rule[] = [
  {
    why: 'colony controller: watch colonies',
    apiGroups: [GROUP],
    resources: ['colonies'],
    verbs: ['get', 'list', 'watch'],
  },
  {
    why: 'colony controller: the only writer of colony status',
    apiGroups: [GROUP],
    resources: ['colonies/status'],
    verbs: ['get', 'patch', 'update'],
  },
  {
    why: 'colony controller: creates cells by server-side apply (create+patch), deletes dead ones',
    apiGroups: [GROUP],
    resources: ['cells'],
    verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete'],
  },
  {
    why: 'cell controller: mirrors the pod into cell status',
    apiGroups: [GROUP],
    resources: ['cells/status'],
    verbs: ['get', 'patch', 'update'],
  },
  {
    why: 'cell controller: one pod per cell by server-side apply; deletes the pod of a dead cell',
    apiGroups: [''],
    resources: ['pods'],
    verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete'],
  },
  {
    why: "colony controller: the service account whose audience-bound token a colony's cells present when joining",
    apiGroups: [''],
    resources: ['serviceaccounts'],
    verbs: ['get', 'list', 'watch', 'create', 'patch'],
  },
  {
    why: "colony controller: binds each colony's cell service account to the cell roles (RoleBinding owned by the colony)",
    apiGroups: ['rbac.authorization.k8s.io'],
    resources: ['rolebindings'],
    verbs: ['get', 'list', 'watch', 'create', 'patch'],
  },
  {
    why: "colony controller: the cells' cluster-scoped binding (TokenReview, node reads); deleted with the colony",
    apiGroups: ['rbac.authorization.k8s.io'],
    resources: ['clusterrolebindings'],
    verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete'],
  },
  {
    why: 'binding the cell roles needs bind on them (the operator does not hold their permissions itself)',
    apiGroups: ['rbac.authorization.k8s.io'],
    resources: ['clusterroles'],
    resourceNames: ['celula-cell', 'celula-cell-cluster'],
    verbs: ['bind'],
  },
  {
    why: 'placement and loss detection: node readiness and labels',
    apiGroups: [''],
    resources: ['nodes'],
    verbs: ['get', 'list', 'watch'],
  },
  {
    why: "cell controller: node loss in seconds from the kubelets' heartbeat Leases in kube-node-lease (read-only). Cluster-wide because the chart keeps every namespaced object in the release namespace; a Role in kube-node-lease would be narrower. Lease objects hold only holder names and times",
    apiGroups: ['coordination.k8s.io'],
    resources: ['leases'],
    verbs: ['get', 'list', 'watch'],
  },
  {
    why: 'lock-down: watch the admission policies and bindings, create missing ones and restore altered ones',
    apiGroups: ['admissionregistration.k8s.io'],
    resources: ['validatingadmissionpolicies', 'validatingadmissionpolicybindings'],
    verbs: ['get', 'list', 'watch', 'create', 'update'],
  },
  {
    why: 'lock-down: any mutating webhook or MutatingAdmissionPolicy that can change cell pods breaks the lock-down (read-only: the operator never changes them)',
    apiGroups: ['admissionregistration.k8s.io'],
    resources: ['mutatingwebhookconfigurations', 'mutatingadmissionpolicies'],
    verbs: ['list', 'watch'],
  },
  {
    why: 'colony controller: one NetworkPolicy per colony, letting only its own cells reach the cell port (server-side apply: create+patch; owned by the colony)',
    apiGroups: ['networking.k8s.io'],
    resources: ['networkpolicies'],
    verbs: ['get', 'list', 'watch', 'create', 'patch'],
  },
  {
    why: 'colony controller: one PodDisruptionBudget per colony (minAvailable = spec.replicas Ready cells), so a drain evicts a holder only after a replacement holds the secret (server-side apply: create+patch; owned by the colony). The operator never evicts',
    apiGroups: ['policy'],
    resources: ['poddisruptionbudgets'],
    verbs: ['get', 'list', 'watch', 'create', 'patch'],
  },
  {
    why: 'colony controller: one Service per colony that hosts a program, selecting its Ready cells (holders whose program is ready) on the program port (server-side apply: create+patch; owned by the colony)',
    apiGroups: [''],
    resources: ['services'],
    verbs: ['get', 'list', 'watch', 'create', 'patch'],
  },
  {
    why: 'lock-down: the LockdownParameters (hardened nodes, colony namespaces, pods already on hardened nodes) the policies read; the operator is its only writer. Cluster-wide get is also what the API server demands of whoever creates a policy with a paramKind (get on every object of that kind): our own kind, so that is not get on every ConfigMap',
    apiGroups: [GROUP],
    resources: ['lockdownparameters'],
    verbs: ['get', 'list', 'watch', 'create', 'update'],
  },
  {
    why: 'node hardening: the hardened label and taint on a node whose hijack.sh check passed, or the failure annotations (no create/delete/update)',
    apiGroups: [''],
    resources: ['nodes'],
    verbs: ['patch'],
  },
  {
    why: 'events on colonies and cells (Lost, node loss), and one per lock-down incident on the cluster-scoped LockdownParameters (recorded in `default`)',
    apiGroups: [''],
    resources: ['events'],
    verbs: ['create', 'patch'],
  },
];

/** Namespace-scoped rules in the operator's own namespace. */
export const OPERATOR_NAMESPACE_RULES: Rule[] = [
  {
    why: 'node hardening: one-shot Jobs running hijack.sh on a node (the only privileged pods the operator makes), read for their outcome, deleted once recorded, never updated.',
    apiGroups: ['batch'],
    resources: ['jobs'],
    verbs: ['get', 'list', 'watch', 'create', 'delete'],
  },
  {
    why: 'node hardening: the immutable ConfigMap holding hijack.sh, named by its digest (created once, never read back or updated)',
    apiGroups: [''],
    resources: ['configmaps'],
    verbs: ['create'],
  },
  {
    why: 'leader election; create cannot be limited to a name, so it is separate',
    apiGroups: ['coordination.k8s.io'],
    resources: ['leases'],
    verbs: ['create'],
  },
  {
    why: 'leader election on the one lease',
    apiGroups: ['coordination.k8s.io'],
    resources: ['leases'],
    resourceNames: [LEADER_LEASE],
    verbs: ['get', 'update'],
  },
];

/** What a cell process needs: verify a joiner's token and look the joiner up. Bound per colony namespace. */
export const CELL_RULES: Rule[] = [
  {
    why: "verify a joiner's projected token",
    apiGroups: ['authentication.k8s.io'],
    resources: ['tokenreviews'],
    verbs: ['create'],
  },
  {
    why: "check the joiner's pod: owner, image digest, node, security context",
    apiGroups: [''],
    resources: ['pods'],
    verbs: ['get', 'list'],
  },
  {
    why: 'find live peers and check the owner chain',
    apiGroups: [GROUP],
    resources: ['cells', 'colonies'],
    verbs: ['get', 'list'],
  },
  {
    why: "report the cell's public identity (an admission policy limits it to its own cell)",
    apiGroups: [GROUP],
    resources: ['cells/status'],
    verbs: ['patch'],
  },
  {
    why: "check the joiner's node carries the hardened label",
    apiGroups: [''],
    resources: ['nodes'],
    verbs: ['get'],
  },
];

/** The rules without their comments, as the API server takes them. */
export function policyRules(rules: readonly Rule[]): V1PolicyRule[] {
  return rules.map(({ why: _why, ...rule }) => rule);
}
