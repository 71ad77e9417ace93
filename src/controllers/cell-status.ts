// A Cell's status rebuilt from its pod and node. Pure: the caller passes the clock.
//
// Evidence, not suspicion (docs/floor.md): a holder (a cell that proved it holds the secret) turns
// Dead only on proof that its memory is gone — the kubelet reported the container terminated, the
// pod is gone or was replaced, the Node object was deleted, or the node carries the out-of-service
// fencing taint. Silence (a stale Lease, a node not Ready, readiness failing, a pod being deleted but
// not yet confirmed gone) makes a holder Unreachable, and hearing it again makes it Alive. A cell that
// holds nothing yet (Pending, Starting, Joining) on a silent node is Dead at once: it has nothing to lose.
import type { V1Lease, V1Node, V1Pod } from '@kubernetes/client-node';
import type { Cell, CellPhase, CellStatus } from '../api/types.js';
import { readyStatus } from './guard.js';
import { provedHolder } from './holders.js';
import { judgeLease } from './node-lease.js';

/** The standard fencing taint: the node is shut down and its workloads are gone (KEP-2268). */
export const OUT_OF_SERVICE_TAINT = 'node.kubernetes.io/out-of-service';

export interface CellWorld {
  cell: Cell;
  /** The colony's recorded public key: who reported it (or was Alive since) is a holder. */
  colonyKey?: string;
  /** The pod named after the cell, if one exists and this cell controls it. */
  pod?: V1Pod;
  /** A pod with the cell's name that this cell does not control (never adopted). */
  foreignPod?: boolean;
  node?: V1Node;
  /** The node's heartbeat Lease (kube-node-lease/<node>), if any: a stale one is silence. */
  lease?: V1Lease;
  /** `--node-loss-after` in seconds; undefined = three renew intervals of the Lease. */
  nodeLossAfter?: number;
  /** Silence counts only from here (the operator's start, leadership, API server back). */
  observingSince?: Date;
  /** Set while silence is a control-plane fault (mass disruption, API unreachable): no suspicion. */
  excuse?: string;
  now: Date;
}

interface Observation {
  phase: CellPhase;
  reason: string;
  message: string;
}

/** Silence of the cell's node: suspicion (or an excused one), never proof. */
type Hearing =
  | { kind: 'heard' }
  | { kind: 'silent'; reason: string; message: string }
  | { kind: 'excused'; message: string };

/** When the pod became Ready (ISO time, '' if unknown), or undefined when it is not Ready. */
function podReady(pod: V1Pod): string | undefined {
  const c = pod.status?.conditions?.find((x) => x.type === 'Ready' && x.status === 'True');
  return c ? (c.lastTransitionTime ? new Date(c.lastTransitionTime).toISOString() : '') : undefined;
}

function terminated(pod: V1Pod): { exitCode: number; reason?: string } | undefined {
  return pod.status?.containerStatuses?.find((s) => s.state?.terminated)?.state?.terminated;
}

function terminatedMessage(pod: V1Pod): string {
  const t = terminated(pod);
  return t ? `container exited ${t.exitCode}${t.reason ? ` (${t.reason})` : ''}` : 'pod ended';
}

const dead = (reason: string, message: string): Observation => ({ phase: 'Dead', reason, message });

/** The pod the cell had is gone or another took its name: proof (the kubelet confirmed, or fencing). */
function incarnationDeath(cell: Cell, pod: V1Pod | undefined): Observation | undefined {
  const podUID = cell.status?.podUID;
  if (!podUID) return undefined;
  if (!pod) return dead('PodVanished', `pod ${podUID} no longer exists`);
  if (pod.metadata?.uid !== podUID) return dead('PodReplaced', `pod ${podUID} was replaced by another`);
  return undefined;
}

/** Proof from the pod: gone, replaced, or its container terminated as the kubelet reported. */
function podProof(cell: Cell, pod: V1Pod | undefined): Observation | undefined {
  const gone = incarnationDeath(cell, pod);
  if (gone || !pod) return gone;
  const p = pod.status?.phase;
  // restartPolicy Never: a terminated container never runs again, so its memory is gone.
  if (p === 'Failed' || p === 'Succeeded' || terminated(pod)) return dead('PodEnded', terminatedMessage(pod));
  return undefined;
}

/** Proof from the node: the Node object is gone, or it carries the out-of-service fencing taint. */
function nodeProof(w: CellWorld): Observation | undefined {
  const { cell, node } = w;
  if (!node) return dead('NodeGone', `node ${cell.spec.node} no longer exists`);
  if (node.spec?.taints?.some((t) => t.key === OUT_OF_SERVICE_TAINT))
    return dead('NodeOutOfService', `node ${cell.spec.node} is fenced (${OUT_OF_SERVICE_TAINT})`);
  return undefined;
}

function proof(w: CellWorld): Observation | undefined {
  return podProof(w.cell, w.pod) ?? (w.pod ? nodeProof(w) : undefined);
}

/**
 * Whether the cell's node is heard. A stale Lease or Ready Unknown (the control plane stopped hearing
 * the node) is excused during a control-plane fault; Ready False is the node's own word and is not.
 */
export function hearNode(w: CellWorld): Hearing {
  const name = w.cell.spec.node;
  if (!w.node) return { kind: 'heard' };
  if (readyStatus(w.node) === 'False')
    return { kind: 'silent', reason: 'NodeNotReady', message: `node ${name} reports itself not Ready` };
  const lease = judgeLease(w.lease, w.now, w.nodeLossAfter, w.observingSince);
  const silence =
    lease.kind === 'lost'
      ? { reason: 'LeaseExpired', message: lease.message }
      : readyStatus(w.node) === 'Unknown'
        ? { reason: 'NodeUnreachable', message: `the control plane cannot hear node ${name} (Ready Unknown)` }
        : undefined;
  if (!silence) return { kind: 'heard' };
  if (w.excuse) return { kind: 'excused', message: `${silence.message}; not suspected: ${w.excuse}` };
  return { kind: 'silent', ...silence };
}

const unreachable = (reason: string, message: string): Observation => ({
  phase: 'Unreachable',
  reason,
  message,
});

const HOLDS: Observation = { phase: 'Alive', reason: 'HoldsSecret', message: 'the cell holds the secret' };

/** Excused silence changes nothing: the holder keeps what it was (no write per cell in a fault). */
function excused(w: CellWorld, pod: V1Pod, message: string): Observation {
  const old = w.cell.status ?? {};
  if (old.phase === 'Alive' || old.phase === 'Unreachable')
    return { phase: old.phase, reason: old.reason ?? HOLDS.reason, message: old.message ?? '' };
  return podReady(pod) !== undefined ? HOLDS : { ...HOLDS, message };
}

/** A holder whose pod exists and no proof of death: Alive when heard, Unreachable otherwise. */
function observeHolder(w: CellWorld, pod: V1Pod, hearing: Hearing): Observation {
  if (hearing.kind === 'silent') return unreachable(hearing.reason, `${hearing.message}; still a holder`);
  if (hearing.kind === 'excused') return excused(w, pod, hearing.message);
  if (pod.metadata?.deletionTimestamp)
    return unreachable(
      'PodTerminating',
      'the pod is being deleted; the holder ends when the kubelet confirms',
    );
  if (podReady(pod) !== undefined) return HOLDS;
  // Reported the key but never Ready yet: finishing its join, not a holder gone quiet.
  if (!w.cell.status?.aliveAt)
    return {
      phase: 'Joining',
      reason: 'Joining',
      message: 'the cell reported the colony key; waiting for readiness',
    };
  return unreachable(
    'NotReady',
    'the holder does not answer its readiness probe (stalled or busy); still a holder',
  );
}

/** A cell that holds nothing yet: it may be declared dead on suspicion and replaced. */
function observeNewcomer(w: CellWorld, pod: V1Pod, hearing: Hearing): Observation {
  if (hearing.kind === 'silent')
    return dead('NodeLost', `${hearing.message}; the cell held no secret yet, so it is replaced`);
  if (pod.metadata?.deletionTimestamp) return dead('PodDeleted', 'pod is being deleted');
  if (podReady(pod) !== undefined) return HOLDS;
  if (pod.status?.phase === 'Running') {
    return w.cell.spec.genesis
      ? { phase: 'Starting', reason: 'Seeding', message: 'the genesis cell is generating the secret' }
      : { phase: 'Joining', reason: 'Joining', message: 'the cell is obtaining the secret from a peer' };
  }
  return { phase: 'Starting', reason: 'PodStarting', message: 'the pod is starting' };
}

function observe(w: CellWorld): Observation {
  const found = proof(w);
  if (found) return found;
  const { cell, pod } = w;
  if (w.foreignPod) {
    return {
      phase: 'Pending',
      reason: 'PodNameTaken',
      message: `a pod named ${cell.metadata.name} exists that this cell does not own`,
    };
  }
  if (!pod) return { phase: 'Pending', reason: 'PodCreating', message: 'creating the cell pod' };
  const hearing = hearNode(w);
  return provedHolder(cell, w.colonyKey) ? observeHolder(w, pod, hearing) : observeNewcomer(w, pod, hearing);
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

/** Set only while Unreachable: since when the holder has not been heard. */
function unreachableSince(w: CellWorld, old: CellStatus, phase: CellPhase): Partial<CellStatus> {
  return phase === 'Unreachable' ? { unreachableSince: old.unreachableSince ?? w.now.toISOString() } : {};
}

function podRef(pod: V1Pod | undefined, phase: CellPhase): Partial<CellStatus> {
  return pod && phase !== 'Dead' ? { pod: pod.metadata?.name, podUID: pod.metadata?.uid } : {};
}

/** Reason of a holder heard again after being Unreachable (kept while it stays Alive). */
export const HEARD_AGAIN = 'HeardAgain';

/**
 * A holder heard again after being Unreachable says so for the rest of its life: its liveness
 * evidence is the weakest (a machine that rebooted may renew its Lease before its kubelet reports the
 * dead container), so it is the first to be retired when the colony has a surplus (colony-plan.ts).
 */
function heardAgain(old: CellStatus, o: Observation): Observation {
  if (o.phase !== 'Alive' || (old.phase !== 'Unreachable' && old.reason !== HEARD_AGAIN)) return o;
  return {
    phase: 'Alive',
    reason: HEARD_AGAIN,
    message: 'the holder is heard again after being unreachable',
  };
}

/** The new status; a Dead cell is never revived, and first-seen timestamps are kept. */
export function cellStatus(w: CellWorld): CellStatus {
  const old = w.cell.status ?? {};
  if (old.phase === 'Dead') return old;
  const o = heardAgain(old, observe(w));
  const kept = { ...old };
  delete kept.unreachableSince;
  return {
    ...kept,
    phase: o.phase,
    reason: o.reason,
    message: o.message,
    node: w.cell.spec.node,
    observedGeneration: w.cell.metadata.generation,
    ...podRef(w.pod, o.phase),
    ...timestamps(w, old, o.phase),
    ...unreachableSince(w, old, o.phase),
  };
}
