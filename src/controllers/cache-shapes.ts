// What the operator's caches keep of each object (runtime/informer.ts `transform`; managedFields are
// dropped by every informer anyway). Each shape keeps exactly what some reader in src/controllers
// reads, so a field added to a reader must be added here too (test/unit/controllers/cache-shapes.test.ts
// runs the reconcilers on shaped objects). The rest — a node's image list and heartbeat times, a
// pod's container specs, env and volumes, annotations nobody reads — is dropped before caching:
// per-object figures are in docs/architecture.md.
import type { V1Lease, V1Node, V1ObjectMeta, V1Pod } from '@kubernetes/client-node';
import type { CacheShape } from '../runtime/manager.js';

/** The operator's own annotations (node hardening failures); every other annotation is dropped. */
const OWN_ANNOTATION_PREFIX = 'celula.io/';

type Meta = V1ObjectMeta & Record<string, unknown>;

/** Metadata without annotations (or with only ours, when `own`). */
function leanMeta(meta: Meta | undefined, own = false): V1ObjectMeta | undefined {
  if (!meta) return meta;
  const rest = { ...meta };
  delete rest.managedFields;
  delete rest.annotations;
  const annotations = meta.annotations;
  if (!own || !annotations) return rest;
  const kept = Object.entries(annotations).filter(([k]) => k.startsWith(OWN_ANNOTATION_PREFIX));
  return kept.length ? { ...rest, annotations: Object.fromEntries(kept) } : rest;
}

/** A named shape; what it keeps is a partial object of the same type (typed loosely, like the wire JSON). */
function shape<T extends object>(name: string, keep: (obj: T) => object): CacheShape {
  return { name, keep: (obj) => keep(obj as T) };
}

/**
 * Cell pods (cell controller): identity, owner, labels, node, deletion; phase, IP, start time,
 * conditions and container states (proof of death: a terminated container).
 */
export const CELL_POD_SHAPE = shape<V1Pod>('cell-pod', (p) => ({
  apiVersion: p.apiVersion,
  kind: p.kind,
  metadata: leanMeta(p.metadata as Meta),
  spec: p.spec && { nodeName: p.spec.nodeName },
  status: p.status && {
    phase: p.status.phase,
    podIP: p.status.podIP,
    startTime: p.status.startTime,
    conditions: p.status.conditions?.map(({ type, status, lastTransitionTime }) => ({
      type,
      status,
      lastTransitionTime,
    })),
    containerStatuses: p.status.containerStatuses?.map(({ name, ready, restartCount, state }) => ({
      name,
      ready,
      restartCount,
      state,
    })),
  },
}));

/**
 * Every bound pod (lock-down targets; a node's load for placement): identity, labels, owner, node,
 * phase, and what each container requests (no env, command, volumes, probes).
 */
export const BOUND_POD_SHAPE = shape<V1Pod>('bound-pod', (p) => ({
  apiVersion: p.apiVersion,
  kind: p.kind,
  metadata: leanMeta(p.metadata as Meta),
  spec: p.spec && {
    nodeName: p.spec.nodeName,
    priority: p.spec.priority,
    overhead: p.spec.overhead,
    containers: p.spec.containers.map(({ name, resources }) => ({ name, resources })),
    initContainers: p.spec.initContainers?.map(({ name, resources }) => ({ name, resources })),
  },
  status: p.status && { phase: p.status.phase },
}));

/**
 * Nodes: labels, the operator's annotations, spec (taints, unschedulable), conditions without their
 * heartbeat times, capacity and allocatable. Not the image list, addresses, node info or volumes.
 */
export const NODE_SHAPE = shape<V1Node>('node', (n) => ({
  apiVersion: n.apiVersion,
  kind: n.kind,
  metadata: leanMeta(n.metadata as Meta, true),
  spec: n.spec,
  status: n.status && {
    conditions: n.status.conditions?.map(({ type, status, reason, message, lastTransitionTime }) => ({
      type,
      status,
      reason,
      message,
      lastTransitionTime,
    })),
    capacity: n.status.capacity,
    allocatable: n.status.allocatable,
  },
}));

/** Node Leases: identity and the renewal (time, duration, holder). */
export const LEASE_SHAPE = shape<V1Lease>('node-lease', (l) => ({
  apiVersion: l.apiVersion,
  kind: l.kind,
  metadata: leanMeta(l.metadata as Meta),
  spec: l.spec && {
    holderIdentity: l.spec.holderIdentity,
    leaseDurationSeconds: l.spec.leaseDurationSeconds,
    acquireTime: l.spec.acquireTime,
    renewTime: l.spec.renewTime,
  },
}));

/** Colonies and Cells: everything but annotations (nobody reads them; kubectl's last-applied is big). */
export const NO_ANNOTATIONS_SHAPE = shape<{ metadata?: Meta }>('no-annotations', (o) => ({
  ...o,
  metadata: leanMeta(o.metadata),
}));
