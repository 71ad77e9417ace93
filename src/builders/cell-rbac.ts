// RBAC for a colony's cells: exactly CELL_RULES for the colony's cell service account, nothing else.
// Pure builders; the chart installs the two ClusterRoles, the operator applies the two bindings per
// colony.
//
// Why two roles and two bindings: RBAC grants cluster-scoped resources (tokenreviews, nodes) only
// through a ClusterRoleBinding, and a RoleBinding keeps the namespaced rules (pods, cells, colonies,
// cells/status) inside the colony's namespace. The cluster-scoped binding cannot carry an owner
// reference to a namespaced Colony (the garbage collector refuses that), so it carries the colony's
// namespace, name and uid as labels and the operator deletes bindings whose colony is gone.
import type {
  V1ClusterRole,
  V1ClusterRoleBinding,
  V1RoleBinding,
  V1ServiceAccount,
  RbacV1Subject,
} from '@kubernetes/client-node';

import type { Colony } from '../api/types.js';
import { CELL_CLUSTER_ROLE, CELL_RULES, policyRules } from './rbac-rules.js';
import { boundedName, cellServiceAccountName } from './names.js';
import { colonyLabels, managedLabels } from './labels.js';
import { controllerRef } from './owner.js';

/** The ClusterRole with the cluster-scoped half of CELL_RULES (bound per colony by a ClusterRoleBinding). */
export const CELL_CLUSTER_SCOPED_ROLE = `${CELL_CLUSTER_ROLE}-cluster`;
export const COLONY_NAMESPACE_LABEL = 'celula.io/colony-namespace';
export const COLONY_UID_LABEL = 'celula.io/colony-uid';

/** Resources in CELL_RULES that are cluster-scoped. */
const CLUSTER_SCOPED = new Set(['tokenreviews', 'nodes']);

type Rules = ReturnType<typeof policyRules>;

function isClusterScoped(rule: Rules[number]): boolean {
  return (rule.resources ?? []).every((r) => CLUSTER_SCOPED.has(r));
}

/** CELL_RULES split by scope: `namespaced` go to `celula-cell`, `cluster` to `celula-cell-cluster`. */
export function cellRulesByScope(): { namespaced: Rules; cluster: Rules } {
  const rules = policyRules(CELL_RULES);
  return { namespaced: rules.filter((r) => !isClusterScoped(r)), cluster: rules.filter(isClusterScoped) };
}

/** The two ClusterRoles (installed by the chart). */
export function buildCellClusterRoles(): V1ClusterRole[] {
  const { namespaced, cluster } = cellRulesByScope();
  const labels = managedLabels();
  return [
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: CELL_CLUSTER_ROLE, labels },
      rules: namespaced,
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: CELL_CLUSTER_SCOPED_ROLE, labels },
      rules: cluster,
    },
  ];
}

function subject(colony: Colony): RbacV1Subject {
  return {
    kind: 'ServiceAccount',
    name: cellServiceAccountName(colony.metadata.name ?? ''),
    namespace: colony.metadata.namespace,
  };
}

/**
 * The colony's cell service account (owned by the colony): the identity whose audience-bound token
 * a cell presents when joining. No token is mounted.
 */
export function buildCellServiceAccount(colony: Colony): V1ServiceAccount {
  return {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: {
      name: cellServiceAccountName(colony.metadata.name ?? ''),
      namespace: colony.metadata.namespace,
      labels: colonyLabels(colony.metadata.name ?? ''),
      ownerReferences: [controllerRef(colony)],
    },
    automountServiceAccountToken: false,
  };
}

/** RoleBinding in the colony's namespace: the cell SA gets ClusterRole celula-cell there only. */
export function buildCellRoleBinding(colony: Colony): V1RoleBinding {
  const name = cellServiceAccountName(colony.metadata.name ?? '');
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: {
      name,
      namespace: colony.metadata.namespace,
      labels: colonyLabels(colony.metadata.name ?? ''),
      ownerReferences: [controllerRef(colony)],
    },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: CELL_CLUSTER_ROLE },
    subjects: [subject(colony)],
  };
}

/** Deterministic, bounded name of a colony's ClusterRoleBinding. */
export function cellClusterRoleBindingName(colony: Colony): string {
  return boundedName(
    `${CELL_CLUSTER_ROLE}-${colony.metadata.namespace ?? ''}-${colony.metadata.name ?? ''}`,
    'cluster',
  );
}

/** ClusterRoleBinding: the cell SA may create TokenReviews and get nodes. No owner ref (see header). */
export function buildCellClusterRoleBinding(colony: Colony): V1ClusterRoleBinding {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: {
      name: cellClusterRoleBindingName(colony),
      labels: {
        ...colonyLabels(colony.metadata.name ?? ''),
        [COLONY_NAMESPACE_LABEL]: colony.metadata.namespace ?? '',
        [COLONY_UID_LABEL]: colony.metadata.uid ?? '',
      },
    },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: CELL_CLUSTER_SCOPED_ROLE },
    subjects: [subject(colony)],
  };
}
