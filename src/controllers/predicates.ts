// Which modifications wake a reconciler (runtime/controller.ts Predicate): a source enqueues on a
// modification only when a field its reconciler reads changed. Additions and deletions always
// enqueue, and so does every key on gaining leadership (manager resync). Each projection below lists
// what the readers read; a reader that starts reading another field adds it here.
import type {
  V1ClusterRoleBinding,
  V1Node,
  V1ObjectMeta,
  V1Pod,
  V1PodDisruptionBudget,
  V1Service,
} from '@kubernetes/client-node';
import { LABELS, type Cell, type Colony } from '../api/types.js';
import { projectionChanged, type Predicate } from '../runtime/controller.js';

const OWN_ANNOTATION_PREFIX = 'celula.io/';

function ownAnnotations(meta: V1ObjectMeta | undefined): [string, string][] {
  return Object.entries(meta?.annotations ?? {}).filter(([k]) => k.startsWith(OWN_ANNOTATION_PREFIX));
}

/** Identity-level metadata every reader may look at: labels, owners, deletion. */
function meta(m: V1ObjectMeta | undefined): unknown[] {
  return [m?.uid, m?.labels, m?.ownerReferences, m?.deletionTimestamp];
}

/**
 * Nodes (cell, colony, node hardening): labels, the operator's annotations, taints, cordon, each
 * condition's status (Ready, MaintenancePlanned), deletion, capacity. Not heartbeat times: a kubelet
 * or kwok rewriting lastHeartbeatTime wakes nobody.
 */
export const nodeChanged: Predicate<V1Node> = projectionChanged((n) => [
  meta(n.metadata),
  ownAnnotations(n.metadata),
  n.spec?.taints,
  n.spec?.unschedulable,
  (n.status?.conditions ?? []).map((c) => [c.type, c.status]),
  n.status?.allocatable,
]);

/**
 * Cell pods (cell controller): identity, labels, owner, deletion, node, phase, IP, start time, the
 * conditions' status and transition time (Ready), each container's readiness and state.
 */
export const cellPodChanged: Predicate<V1Pod> = projectionChanged((p) => [
  meta(p.metadata),
  p.spec?.nodeName,
  p.status?.phase,
  p.status?.podIP,
  p.status?.startTime,
  (p.status?.conditions ?? []).map((c) => [c.type, c.status, c.lastTransitionTime]),
  (p.status?.containerStatuses ?? []).map((s) => [s.name, s.ready, s.restartCount, s.state]),
]);

/**
 * Cells (cell and colony controllers): spec (generation), labels, owner, deletion, and the status,
 * which both read nearly whole (phase, pod, timestamps, the cell's reported key and proof).
 */
export const cellChanged: Predicate<Cell> = projectionChanged((c) => [
  meta(c.metadata),
  c.metadata.generation,
  c.status,
]);

/**
 * Colonies (colony controller): spec (generation), labels, deletion, and the status fields its plan
 * reads back (public key, last cell index, conditions) — the whole status, which it alone writes.
 */
export const colonyChanged: Predicate<Colony> = projectionChanged((c) => [
  meta(c.metadata),
  c.metadata.generation,
  c.status,
]);

/** Colonies as node hardening reads them: spec and deletion only (never their status). */
export const colonySpecChanged: Predicate<Colony> = projectionChanged((c) => [
  meta(c.metadata),
  c.metadata.generation,
]);

/**
 * A colony's children (service account, role binding, network policy): whether they exist and whose
 * they are. Their content is the colony's to apply, not to read.
 */
export const childChanged: Predicate<{ metadata?: V1ObjectMeta }> = projectionChanged((o) => [
  meta(o.metadata),
]);

/** The colony's program Service: who owns it, and the selector and ports its clients depend on. */
export const serviceChanged: Predicate<V1Service> = projectionChanged((v) => [
  meta(v.metadata),
  v.spec?.selector,
  v.spec?.ports,
]);

/** The colony's PodDisruptionBudget: its spec (minAvailable), not the status the disruption controller keeps. */
export const budgetChanged: Predicate<V1PodDisruptionBudget> = projectionChanged((b) => [
  meta(b.metadata),
  b.spec,
]);

/** A cell ClusterRoleBinding: its labels (which colony, which uid). */
export const clusterBindingChanged: Predicate<V1ClusterRoleBinding> = projectionChanged((b) => [
  meta(b.metadata),
]);

/**
 * The lock-down's targets (lockdown.ts lockdownTargets) read a node's hardened label, a bound pod's
 * node and cell label, and only whether a Colony or Cell exists in a namespace (a namespace never
 * changes). Status updates of any of them — node heartbeats, pod and Cell status, thousands a minute
 * at scale — change no target: before these predicates they woke the lock-down pass, which reads
 * every node, pod, Cell and Colony, back to back (a CPU profile at 1,000 nodes and 5,000 cells:
 * ≈ 40 % of the operator's busy time). The lock-down's own objects wake it on every change (a
 * tamper), and it re-checks every 30 s (LOCKDOWN_RESYNC_MS) whatever happens.
 */
export const lockdownNodeChanged: Predicate<V1Node> = projectionChanged((n) => [
  n.metadata?.labels?.[LABELS.hardened],
]);

export const lockdownPodChanged: Predicate<V1Pod> = projectionChanged((p) => [
  p.spec?.nodeName,
  p.metadata?.labels?.[LABELS.cell],
]);

/** Only additions and deletions count (the lock-down reads where a Colony or Cell is, nothing else). */
export const existenceOnly: Predicate<unknown> = () => false;
