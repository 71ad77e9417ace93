// A Cell's status rebuilt from its pod and node. Pure: the caller passes the clock.
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import type { Cell, CellPhase, CellStatus } from '../api/types.js';
import { nodeReady } from './nodes.js';

export interface CellWorld {
  cell: Cell;
  /** The pod named after the cell, if one exists and this cell controls it. */
  pod?: V1Pod;
  /** A pod with the cell's name that this cell does not control (never adopted). */
  foreignPod?: boolean;
  node?: V1Node;
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

/** Reasons the cell's memory is gone for good, or undefined. */
function death(w: CellWorld): Observation | undefined {
  const { cell, pod, node } = w;
  const podUID = cell.status?.podUID;
  if (!pod) {
    return podUID ? { phase: 'Dead', reason: 'PodVanished', message: `pod ${podUID} no longer exists` } : undefined;
  }
  if (podUID && pod.metadata?.uid !== podUID) {
    return { phase: 'Dead', reason: 'PodReplaced', message: `pod ${podUID} was replaced by another` };
  }
  if (pod.metadata?.deletionTimestamp) return { phase: 'Dead', reason: 'PodDeleted', message: 'pod is being deleted' };
  const p = pod.status?.phase;
  if (p === 'Failed' || p === 'Succeeded') return { phase: 'Dead', reason: 'PodEnded', message: terminatedMessage(pod) };
  if (!node) return { phase: 'Dead', reason: 'NodeGone', message: `node ${cell.spec.node} no longer exists` };
  if (!nodeReady(node)) return { phase: 'Dead', reason: 'NodeLost', message: `node ${cell.spec.node} is not Ready` };
  return undefined;
}

function observe(w: CellWorld): Observation {
  const dead = death(w);
  if (dead) return dead;
  const { cell, pod } = w;
  if (w.foreignPod) {
    return { phase: 'Pending', reason: 'PodNameTaken', message: `a pod named ${cell.metadata.name} exists that this cell does not own` };
  }
  if (!pod) return { phase: 'Pending', reason: 'PodCreating', message: 'creating the cell pod' };
  if (podReady(pod) !== undefined) return { phase: 'Alive', reason: 'HoldsSecret', message: 'the cell holds the secret' };
  if (pod.status?.phase === 'Running') {
    return cell.spec.genesis
      ? { phase: 'Starting', reason: 'Seeding', message: 'the genesis cell is generating the secret' }
      : { phase: 'Joining', reason: 'Joining', message: 'the cell is obtaining the secret from a peer' };
  }
  return { phase: 'Starting', reason: 'PodStarting', message: 'the pod is starting' };
}

/** The new status; a Dead cell is never revived, and first-seen timestamps are kept. */
export function cellStatus(w: CellWorld): CellStatus {
  const old = w.cell.status ?? {};
  if (old.phase === 'Dead') return old;
  const o = observe(w);
  const readyAt = w.pod ? podReady(w.pod) : undefined;
  const status: CellStatus = {
    ...old,
    phase: o.phase,
    reason: o.reason,
    message: o.message,
    node: w.cell.spec.node,
    observedGeneration: w.cell.metadata.generation,
  };
  if (w.pod && o.phase !== 'Dead') {
    status.pod = w.pod.metadata?.name;
    status.podUID = w.pod.metadata?.uid;
  }
  const started = w.pod?.status?.startTime;
  if (!old.startedAt && started) status.startedAt = new Date(started).toISOString();
  if (!old.aliveAt && o.phase === 'Alive') status.aliveAt = readyAt || w.now.toISOString();
  if (o.phase === 'Dead') status.diedAt = w.now.toISOString();
  return status;
}
