// A Cell's status rebuilt from its pod and node. Pure: the caller passes the clock.
import type { V1Lease, V1Node, V1Pod } from '@kubernetes/client-node';
import type { Cell, CellPhase, CellStatus } from '../api/types.js';
import { judgeLease } from './node-lease.js';
import { nodeReady } from './nodes.js';

export interface CellWorld {
  cell: Cell;
  /** The pod named after the cell, if one exists and this cell controls it. */
  pod?: V1Pod;
  /** A pod with the cell's name that this cell does not control (never adopted). */
  foreignPod?: boolean;
  node?: V1Node;
  /** The node's heartbeat Lease (kube-node-lease/<node>), if any: a stale one means node lost. */
  lease?: V1Lease;
  /** `--node-loss-after` in seconds; undefined = three renew intervals of the Lease. */
  nodeLossAfter?: number;
  now: Date;
}

interface Observation {
  phase: CellPhase;
  reason: string;
  message: string;
}

/** When the pod became Ready (ISO time, '' if unknown), or undefined when it is not Ready. */
function podReady(pod: V1Pod): string | undefined {
  const c = pod.status?.conditions?.find((x) => x.type === 'Ready' && x.status === 'True');
  return c ? (c.lastTransitionTime ? new Date(c.lastTransitionTime).toISOString() : '') : undefined;
}

function terminatedMessage(pod: V1Pod): string {
  const t = pod.status?.containerStatuses?.[0]?.state?.terminated;
  return t ? `container exited ${t.exitCode}${t.reason ? ` (${t.reason})` : ''}` : 'pod ended';
}

/** The pod the cell had is gone or another took its name. */
function incarnationDeath(cell: Cell, pod: V1Pod | undefined): Observation | undefined {
  const podUID = cell.status?.podUID;
  if (!podUID) return undefined;
  if (!pod) return { phase: 'Dead', reason: 'PodVanished', message: `pod ${podUID} no longer exists` };
  if (pod.metadata?.uid !== podUID)
    return { phase: 'Dead', reason: 'PodReplaced', message: `pod ${podUID} was replaced by another` };
  return undefined;
}

/** Reasons the pod (not the node) says the cell's memory is gone, or undefined. */
function podDeath(cell: Cell, pod: V1Pod | undefined): Observation | undefined {
  const gone = incarnationDeath(cell, pod);
  if (gone || !pod) return gone;
  if (pod.metadata?.deletionTimestamp)
    return { phase: 'Dead', reason: 'PodDeleted', message: 'pod is being deleted' };
  const p = pod.status?.phase;
  if (p === 'Failed' || p === 'Succeeded')
    return { phase: 'Dead', reason: 'PodEnded', message: terminatedMessage(pod) };
  return undefined;
}

/**
 * A cell whose pod exists dies with its node: gone, its Lease stale (seconds), or not Ready (the
 * controller-manager's grace period; the only signal when the node has no Lease).
 */
function nodeDeath(w: CellWorld): Observation | undefined {
  const { cell, node } = w;
  if (!node) return { phase: 'Dead', reason: 'NodeGone', message: `node ${cell.spec.node} no longer exists` };
  const lease = judgeLease(w.lease, w.now, w.nodeLossAfter);
  if (lease.kind === 'lost') return { phase: 'Dead', reason: 'NodeLost', message: lease.message };
  if (!nodeReady(node))
    return { phase: 'Dead', reason: 'NodeLost', message: `node ${cell.spec.node} is not Ready` };
  return undefined;
}

function death(w: CellWorld): Observation | undefined {
  return podDeath(w.cell, w.pod) ?? (w.pod ? nodeDeath(w) : undefined);
}

function observe(w: CellWorld): Observation {
  const dead = death(w);
  if (dead) return dead;
  const { cell, pod } = w;
  if (w.foreignPod) {
    return {
      phase: 'Pending',
      reason: 'PodNameTaken',
      message: `a pod named ${cell.metadata.name} exists that this cell does not own`,
    };
  }
  if (!pod) return { phase: 'Pending', reason: 'PodCreating', message: 'creating the cell pod' };
  if (podReady(pod) !== undefined)
    return { phase: 'Alive', reason: 'HoldsSecret', message: 'the cell holds the secret' };
  if (pod.status?.phase === 'Running') {
    return cell.spec.genesis
      ? { phase: 'Starting', reason: 'Seeding', message: 'the genesis cell is generating the secret' }
      : { phase: 'Joining', reason: 'Joining', message: 'the cell is obtaining the secret from a peer' };
  }
  return { phase: 'Starting', reason: 'PodStarting', message: 'the pod is starting' };
}

/** First-seen timestamps: kept once set; diedAt is when death was first observed. */
function timestamps(w: CellWorld, old: CellStatus, phase: CellPhase): Partial<CellStatus> {
  const t: Partial<CellStatus> = {};
  const started = w.pod?.status?.startTime;
  if (!old.startedAt && started) t.startedAt = new Date(started).toISOString();
  if (!old.aliveAt && phase === 'Alive') t.aliveAt = (w.pod && podReady(w.pod)) || w.now.toISOString();
  if (phase === 'Dead') t.diedAt = w.now.toISOString();
  return t;
}

function podRef(pod: V1Pod | undefined, phase: CellPhase): Partial<CellStatus> {
  return pod && phase !== 'Dead' ? { pod: pod.metadata?.name, podUID: pod.metadata?.uid } : {};
}

/** The new status; a Dead cell is never revived, and first-seen timestamps are kept. */
export function cellStatus(w: CellWorld): CellStatus {
  const old = w.cell.status ?? {};
  if (old.phase === 'Dead') return old;
  const o = observe(w);
  return {
    ...old,
    phase: o.phase,
    reason: o.reason,
    message: o.message,
    node: w.cell.spec.node,
    observedGeneration: w.cell.metadata.generation,
    ...podRef(w.pod, o.phase),
    ...timestamps(w, old, o.phase),
  };
}
