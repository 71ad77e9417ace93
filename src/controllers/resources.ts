// Every resource the operator watches, declared in one place. The manager (src/runtime/manager.ts)
// makes one informer per spec: controllers that ask for the same spec share it.
//
// Pods are watched three ways, and on purpose not through one informer, because each selector
// decides what is listed and cached:
// - `pods`: pods labelled managed-by celula and carrying the cell label, in the watched namespace (or
//   all): cell pods only (not the hardening Jobs' pods), read by the cell controller from the moment
//   they are created, before they are scheduled;
// - `boundPods`: every pod bound to a node, in every namespace (field selector spec.nodeName!=): the
//   lock-down locks every pod already on a hardened node, not only ours;
// - `hardeningPods`: the hardening Jobs' pods in the operator namespace (hardening selector).
// One informer for all three would cache every pod of the cluster for the cell controller, would
// widen its view beyond --namespace, and the lock-down's field selector would hide the cell
// controller's pods until they are bound.
//
// Each spec also says what its cache keeps of an object (cache-shapes.ts): managedFields never,
// annotations only where read, and for pods, nodes and Leases only the fields the readers read.
import type {
  V1ClusterRoleBinding,
  V1Lease,
  V1NetworkPolicy,
  V1Node,
  V1Pod,
  V1PodDisruptionBudget,
  V1Service,
  V1RoleBinding,
  V1ServiceAccount,
} from '@kubernetes/client-node';
import {
  API_VERSION,
  CELL_PLURAL,
  COLONY_PLURAL,
  LABELS,
  LOCKDOWN_PARAMETERS_PLURAL,
  MANAGER,
  type Cell,
  type Colony,
} from '../api/types.js';
import { HARDENING_SELECTOR } from '../builders/hardening.js';
import { LOCKDOWN_PARAMS } from '../builders/lockdown.js';
import type { Cache, InformerSource, ResourceSpec } from '../runtime/manager.js';
import {
  BOUND_POD_SHAPE,
  CELL_POD_SHAPE,
  LEASE_SHAPE,
  NO_ANNOTATIONS_SHAPE,
  NODE_SHAPE,
} from './cache-shapes.js';
import { NODE_LEASE_NAMESPACE } from './node-lease.js';

function collection(group: string, plural: string, namespace?: string): string {
  const base = group === '' ? '/api/v1' : `/apis/${group}`;
  return namespace ? `${base}/namespaces/${namespace}/${plural}` : `${base}/${plural}`;
}

const MANAGED = `${LABELS.managedBy}=${MANAGER}`;
/** Cell pods: ours, and carrying the cell label (an existence requirement). */
const CELL_PODS = `${MANAGED},${LABELS.cell}`;
const ADMISSION = 'admissionregistration.k8s.io/v1';

/** The resources of the colony and cell controllers; `namespace` undefined = every namespace. */
export const RESOURCES = {
  colonies: (ns?: string): ResourceSpec => ({
    path: collection(API_VERSION, COLONY_PLURAL, ns),
    shape: NO_ANNOTATIONS_SHAPE,
  }),
  cells: (ns?: string): ResourceSpec => ({
    path: collection(API_VERSION, CELL_PLURAL, ns),
    shape: NO_ANNOTATIONS_SHAPE,
  }),
  pods: (ns?: string): ResourceSpec => ({
    path: collection('', 'pods', ns),
    labelSelector: CELL_PODS,
    shape: CELL_POD_SHAPE,
  }),
  serviceAccounts: (ns?: string): ResourceSpec => ({
    path: collection('', 'serviceaccounts', ns),
    labelSelector: MANAGED,
  }),
  roleBindings: (ns?: string): ResourceSpec => ({
    path: collection('rbac.authorization.k8s.io/v1', 'rolebindings', ns),
    labelSelector: MANAGED,
  }),
  networkPolicies: (ns?: string): ResourceSpec => ({
    path: collection('networking.k8s.io/v1', 'networkpolicies', ns),
    labelSelector: MANAGED,
  }),
  disruptionBudgets: (ns?: string): ResourceSpec => ({
    path: collection('policy/v1', 'poddisruptionbudgets', ns),
    labelSelector: MANAGED,
  }),
  services: (ns?: string): ResourceSpec => ({
    path: collection('', 'services', ns),
    labelSelector: MANAGED,
  }),
  clusterRoleBindings: (): ResourceSpec => ({
    path: collection('rbac.authorization.k8s.io/v1', 'clusterrolebindings'),
    labelSelector: MANAGED,
  }),
  nodes: (): ResourceSpec => ({ path: collection('', 'nodes'), shape: NODE_SHAPE }),
  // Node heartbeats: a Lease that stops being renewed is node loss in seconds (node-lease.ts). The
  // namespace holds only node Leases (one per node, named after it): no narrower selector exists.
  nodeLeases: (): ResourceSpec => ({
    path: collection('coordination.k8s.io/v1', 'leases', NODE_LEASE_NAMESPACE),
    shape: LEASE_SHAPE,
  }),
} as const;

/**
 * The lock-down's own resources. No label selector on policies and bindings: removing our label
 * must not look like a deletion. Every mutating admission object: which can reach cell pods is
 * judged in lockdown-plan.ts (MutatingAdmissionPolicy is admissionregistration.k8s.io/v1, GA and on
 * by default since 1.36).
 */
export const LOCKDOWN_RESOURCES = {
  policies: (): ResourceSpec => ({ path: collection(ADMISSION, 'validatingadmissionpolicies') }),
  bindings: (): ResourceSpec => ({ path: collection(ADMISSION, 'validatingadmissionpolicybindings') }),
  params: (): ResourceSpec => ({
    path: collection(API_VERSION, LOCKDOWN_PARAMETERS_PLURAL),
    fieldSelector: `metadata.name=${LOCKDOWN_PARAMS}`,
  }),
  mutatingWebhooks: (): ResourceSpec => ({ path: collection(ADMISSION, 'mutatingwebhookconfigurations') }),
  mutatingPolicies: (): ResourceSpec => ({ path: collection(ADMISSION, 'mutatingadmissionpolicies') }),
  // Every pod bound to a node: pods already on a hardened node are locked too.
  boundPods: (): ResourceSpec => ({
    path: collection('', 'pods'),
    fieldSelector: 'spec.nodeName!=',
    shape: BOUND_POD_SHAPE,
  }),
} as const;

/** Node hardening's own resources: its Jobs and their pods, in the operator namespace. */
export const HARDENING_RESOURCES = {
  jobs: (ns: string): ResourceSpec => ({
    path: collection('batch/v1', 'jobs', ns),
    labelSelector: HARDENING_SELECTOR,
  }),
  hardeningPods: (ns: string): ResourceSpec => ({
    path: collection('', 'pods', ns),
    labelSelector: HARDENING_SELECTOR,
  }),
} as const;

/** The caches the colony and cell controllers read (and the others share). */
export interface Caches {
  colonies: Cache<Colony>;
  cells: Cache<Cell>;
  pods: Cache<V1Pod>;
  serviceAccounts: Cache<V1ServiceAccount>;
  roleBindings: Cache<V1RoleBinding>;
  networkPolicies: Cache<V1NetworkPolicy>;
  disruptionBudgets: Cache<V1PodDisruptionBudget>;
  /** The colonies' program Services (issue 13). */
  services: Cache<V1Service>;
  clusterRoleBindings: Cache<V1ClusterRoleBinding>;
  nodes: Cache<V1Node>;
  nodeLeases: Cache<V1Lease>;
}

/** The shared caches, from the manager's registry; `namespace` undefined = every namespace. */
export function caches(src: InformerSource, namespace?: string): Caches {
  const r = RESOURCES;
  return {
    colonies: src.informer<Colony>(r.colonies(namespace)),
    cells: src.informer<Cell>(r.cells(namespace)),
    pods: src.informer<V1Pod>(r.pods(namespace)),
    serviceAccounts: src.informer<V1ServiceAccount>(r.serviceAccounts(namespace)),
    roleBindings: src.informer<V1RoleBinding>(r.roleBindings(namespace)),
    networkPolicies: src.informer<V1NetworkPolicy>(r.networkPolicies(namespace)),
    disruptionBudgets: src.informer<V1PodDisruptionBudget>(r.disruptionBudgets(namespace)),
    services: src.informer<V1Service>(r.services(namespace)),
    clusterRoleBindings: src.informer<V1ClusterRoleBinding>(r.clusterRoleBindings()),
    nodes: src.informer<V1Node>(r.nodes()),
    nodeLeases: src.informer<V1Lease>(r.nodeLeases()),
  };
}
