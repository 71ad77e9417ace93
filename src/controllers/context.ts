// What reconcilers need from the world: cache-backed readers and a writer. The operator wires these
// to informers and the API server (src/operator.ts); reconcilers never list from the API directly.
import type {
  V1ClusterRoleBinding,
  V1Lease,
  V1Node,
  V1Pod,
  V1NetworkPolicy,
  V1PodDisruptionBudget,
  V1Service,
  V1RoleBinding,
  V1ServiceAccount,
} from '@kubernetes/client-node';
import type { Cell, Colony } from '../api/types.js';
import type { Logger } from '../observability/logger.js';
import type { EventSource } from '../runtime/controller.js';
import type { CreateExpectations } from './expectations.js';
import type { FloorMetrics } from './floor-metrics.js';
import type { FloorGuard } from './guard.js';
import type { PlacementLedger } from './placement.js';
import type { Caches } from './resources.js';
import type { RetirementGate } from './retirement.js';

export interface Reader<T> {
  get(namespace: string | undefined, name: string): T | undefined;
  list(namespace?: string): T[];
  /** Objects with an ownerReference to `uid` (an index; readers without one scan list()). */
  listByOwnerUid?(uid: string): T[];
}

export type Kind = 'Colony' | 'Cell' | 'Pod' | 'ServiceAccount' | 'ClusterRoleBinding';

export interface EventRef {
  kind: 'Colony' | 'Cell';
  namespace: string;
  name: string;
  uid: string;
}

export interface Writer {
  /** Server-side apply with the operator's field manager. */
  /** Server-side apply; `force` takes back fields another manager changed (a child edited by hand). */
  apply(obj: { apiVersion?: string; kind?: string; metadata?: object }, force?: boolean): Promise<void>;
  delete(kind: Kind, namespace: string, name: string, uid?: string): Promise<void>;
  /**
   * Patches status only when it changed, with optimistic locking. Returns true when written.
   * Top-level status fields listed in `keep` belong to another writer: their live values are kept.
   */
  patchStatus(
    kind: 'Colony' | 'Cell',
    current: Colony | Cell,
    status: object,
    keep?: readonly string[],
  ): Promise<boolean>;
  event(ref: EventRef, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void>;
  /**
   * The object as this writer's last status write left it, while the cache still shows the version
   * that write replaced (runtime/status-memo.ts); else `cached`. Reconcilers plan from it.
   */
  latest<T extends Colony | Cell>(kind: 'Colony' | 'Cell', cached: T): T;
}

/**
 * Reads that bypass the cache, for the few decisions that must not rest on a cache that may lag: a
 * stale node Lease before suspecting its node, a vanished pod or node before calling it proof.
 * Each returns undefined when the object does not exist (404) and throws on any other failure.
 */
export interface LiveReader {
  lease(node: string): Promise<V1Lease | undefined>;
  pod(namespace: string, name: string): Promise<V1Pod | undefined>;
  node(name: string): Promise<V1Node | undefined>;
  /** The colony's Cells as the API server has them now (by the colony label), before a genesis cell is made. */
  cells(namespace: string, colony: string): Promise<Cell[]>;
}

/**
 * Intact: policies in place. Broken: missing or altered, being restored. Mutated: the policies are in
 * place but a mutating webhook or MutatingAdmissionPolicy can change cell pods (not ours to remove). Unknown: not checked yet
 * (start-up). Disabled: the operator runs without lock-down (development only).
 */
export type LockdownState = 'Intact' | 'Broken' | 'Mutated' | 'Unknown' | 'Disabled';

export interface ControllerContext {
  colonies: Reader<Colony>;
  cells: Reader<Cell>;
  pods: Reader<V1Pod>;
  nodes: Reader<V1Node>;
  /** Node heartbeat Leases (namespace kube-node-lease, one per node, named after it). */
  nodeLeases: Reader<V1Lease>;
  serviceAccounts: Reader<V1ServiceAccount>;
  roleBindings: Reader<V1RoleBinding>;
  networkPolicies: Reader<V1NetworkPolicy>;
  /** The colonies' PodDisruptionBudgets (label-selected: ours only). */
  disruptionBudgets: Reader<V1PodDisruptionBudget>;
  /** The colonies' program Services (label-selected: ours only). */
  services: Reader<V1Service>;
  clusterRoleBindings: Reader<V1ClusterRoleBinding>;
  write: Writer;
  live: LiveReader;
  /** The mass-disruption guard: when silence is a control-plane fault rather than suspicion. */
  guard: FloorGuard;
  /** Floor gauges and death counts; absent in tests that do not look at metrics. */
  metrics?: FloorMetrics;
  /** State of the lock-down admission policies (kept by the lock-down controller). */
  lockdown(): LockdownState;
  /** Cells the colony controller created and its cache has not shown yet (expectations.ts). */
  expectations?: CreateExpectations;
  /** Breaks of the lock-down each colony has not counted yet (absent: counted by sampling only). */
  lockdownBreaks?: {
    /** `createdMs`: the colony's creation time, for a colony not seen before (no older break is its). */
    since(uid: string, createdMs?: number): { breaks: number; mark: number };
    record(uid: string, mark: number): void;
  };
  /**
   * Why cells of a colony in `namespace` must wait (the lock-down does not cover the namespace yet),
   * or undefined when they may be made. Absent: no lock-down (--lockdown=false, tests).
   */
  lockdownNamespace?(namespace: string): string | undefined;
  /** Two-phase retirement of surplus cells (retirement.ts); absent: retired as soon as planned. */
  retirements?: RetirementGate;
  /** Cells created but not yet cached, counted as load when placing (absent: the cache alone). */
  placements?: PlacementLedger;
  /** `--node-loss-after` in seconds; undefined = three renew intervals of each node's Lease. */
  nodeLossAfter?: number;
  now(): Date;
  log: Logger;
}

/** What the colony and cell controller descriptors are built from. */
export interface ControllerDeps {
  ctx: ControllerContext;
  /** The same caches as ctx's readers, as event sources. */
  caches: Caches;
  /** Node Leases reported only when their node's liveness verdict changes (node-liveness.ts). */
  nodeLiveness: EventSource<V1Lease>;
  /** Parallel reconciles. */
  concurrency?: number;
}

export type { ReconcileResult } from '../runtime/controller.js';
export { splitKey } from '../runtime/kube.js';

export function eventRef(obj: Colony | Cell, kind: 'Colony' | 'Cell'): EventRef {
  return {
    kind,
    namespace: obj.metadata.namespace ?? '',
    name: obj.metadata.name ?? '',
    uid: obj.metadata.uid ?? '',
  };
}
