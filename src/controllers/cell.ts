// Cell reconciler: one pod per Cell, pinned to the cell's node; status mirrored from pod and node.
// A Dead cell's pod is deleted (proof says its memory is gone anyway); the pod of an Unreachable
// holder is never deleted here (only the colony retires a holder, and only above the floor: see
// docs/floor.md). The cell stays for its timestamps until the colony prunes it.
import type { V1Lease, V1Node, V1Pod } from '@kubernetes/client-node';
import type { Cell, CellStatus, Colony } from '../api/types.js';
import { buildCellPod } from '../builders/pod.js';
import { isControlledBy } from '../builders/owner.js';
import { mapToOwner, mapToSelf } from '../runtime/controller.js';
import { source, type ControllerDescriptor } from '../runtime/manager.js';
import { cellStatus, type CellWorld } from './cell-status.js';
import {
  eventRef,
  splitKey,
  type ControllerContext,
  type ControllerDeps,
  type ReconcileResult,
} from './context.js';
import { isHolder } from './holders.js';
import { judgeLease, NODE_LEASE_NAMESPACE } from './node-lease.js';
import { cellChanged, cellPodChanged, nodeChanged } from './predicates.js';

/** Status fields the cell process reports for itself; the operator never writes them. */
export const CELL_REPORTED_FIELDS = ['publicKey', 'fingerprint', 'joinKey', 'keyProof'] as const;

/** While silence is excused (a control-plane fault), look again this soon. */
const EXCUSED_RECHECK_MS = 2000;

/**
 * The pod named after the cell, split into ours or someone else's. Ours: controlled by the cell, or the
 * very incarnation the cell recorded (its uid) whatever its ownerReferences say now — removing them
 * (anyone who may patch pods can) must not make a running holder look gone.
 */
function podOf(pod: V1Pod | undefined, cell: Cell): { pod?: V1Pod; foreign: boolean } {
  if (!pod) return { foreign: false };
  const recorded = cell.status?.podUID !== undefined && pod.metadata?.uid === cell.status.podUID;
  return recorded || isControlledBy(pod, cell) ? { pod, foreign: false } : { foreign: true };
}

/** Creates the pod of a living cell that never had one; deletes the pod of a dead one. */
async function converge(
  ctx: ControllerContext,
  colony: Colony,
  cell: Cell,
  w: { pod?: V1Pod; foreign: boolean; dead: boolean },
): Promise<void> {
  if (w.dead) {
    if (w.pod && !w.pod.metadata?.deletionTimestamp) await deletePod(ctx, cell, w.pod);
    return;
  }
  const neverHadPod = !w.pod && !w.foreign && !cell.status?.podUID;
  if (neverHadPod) await ctx.write.apply(buildCellPod(colony, cell));
}

async function deletePod(ctx: ControllerContext, cell: Cell, pod: V1Pod): Promise<void> {
  await ctx.write.delete('Pod', cell.metadata.namespace ?? '', cell.metadata.name ?? '', pod.metadata?.uid);
}

/** The event a phase change makes: Warning on death and on suspicion, Normal when heard again. */
function transitionEvent(
  was: string | undefined,
  status: CellStatus,
): { type: 'Normal' | 'Warning'; reason: string; message: string } | undefined {
  if (was === status.phase) return undefined;
  if (status.phase === 'Dead')
    return { type: 'Warning', reason: status.reason ?? 'Died', message: status.message ?? '' };
  if (status.phase === 'Unreachable')
    return { type: 'Warning', reason: 'HolderUnreachable', message: `${status.reason}: ${status.message}` };
  if (was === 'Unreachable' && status.phase === 'Alive')
    return { type: 'Normal', reason: 'HolderHeard', message: 'the holder is heard again' };
  return undefined;
}

async function reportTransition(ctx: ControllerContext, cell: Cell, status: CellStatus): Promise<void> {
  const e = transitionEvent(cell.status?.phase, status);
  if (!e) return;
  if (status.phase === 'Dead') ctx.metrics?.cellDied(e.reason);
  await ctx.write.event(eventRef(cell, 'Cell'), e.type, e.reason, e.message);
}

/** Seconds from `from` to `to` (ISO strings or Dates), or undefined when either is unknown. */
export function secondsBetween(
  from: Date | string | undefined,
  to: Date | string | undefined,
): number | undefined {
  if (from === undefined || to === undefined) return undefined;
  const s = (new Date(to).getTime() - new Date(from).getTime()) / 1000;
  return Number.isFinite(s) && s >= 0 ? s : undefined;
}

/** The first time a cell holds the secret: how long it took from the Cell's creation. */
function recordJoin(ctx: ControllerContext, cell: Cell, status: CellStatus): void {
  if (cell.status?.aliveAt || !status.aliveAt) return;
  const seconds = secondsBetween(cell.metadata.creationTimestamp, status.aliveAt);
  if (seconds !== undefined) ctx.metrics?.joined(seconds);
}

/**
 * A stopped Lease makes no event, so time drives detection. For the cached Lease, the node's one
 * timer does it (node-liveness.ts: the cells on a node are woken when its Lease goes stale). A Lease
 * that was stale in the cache but fresh when read live is not what that timer judged (the cache
 * lags): this cell re-checks itself just after the live Lease would go stale.
 */
function recheck(ctx: ControllerContext, heard: Heard, w: CellWorld, status: CellStatus): ReconcileResult {
  if (status.phase === 'Dead' || !status.podUID) return {};
  if (w.excuse) return { requeueAfter: EXCUSED_RECHECK_MS };
  if (!heard.live) return {};
  const verdict = judgeLease(heard.lease, ctx.now(), ctx.nodeLossAfter, w.observingSince);
  return verdict.kind === 'fresh' ? { requeueAfter: verdict.recheckAfterMs } : {};
}

/** The live object when the cache says it is gone: absence is proof only if the API server agrees. */
async function confirmAbsent<T>(
  cached: T | undefined,
  read: () => Promise<T | undefined>,
): Promise<T | undefined> {
  return cached ?? (await read());
}

interface Heard {
  lease?: V1Lease;
  excuse?: string;
  /** The Lease was read live (the cached one was stale). */
  live?: boolean;
}

/**
 * Before acting on a stale Lease, read it live (the cache may lag a dropped watch), as Kubernetes
 * 1.36+ does for node Leases. An API server that does not answer is a control-plane fault.
 */
async function liveLease(ctx: ControllerContext, node: string, cached: V1Lease | undefined): Promise<Heard> {
  const now = ctx.now();
  const since = ctx.guard.observingSince();
  const excuse = ctx.guard.verdict(ctx, now).fault;
  if (excuse) return { lease: cached, excuse };
  if (judgeLease(cached, now, ctx.nodeLossAfter, since).kind !== 'lost') return { lease: cached };
  try {
    return { lease: await ctx.live.lease(node), live: true };
  } catch (err) {
    ctx.guard.restart(ctx.now(), 'the API server did not answer');
    ctx.log.warn(
      { err: err instanceof Error ? err.message : String(err), node },
      'live read of a stale node Lease failed; not suspecting',
    );
    return { lease: cached, excuse: 'the API server did not answer a live read of the Lease' };
  }
}

interface Seen {
  pod: V1Pod | undefined;
  node: V1Node | undefined;
}

/** Pod and node as the cache has them; for a holder, an absence is confirmed by a live read. */
async function observed(ctx: ControllerContext, cell: Cell, holder: boolean): Promise<Seen> {
  const ns = cell.metadata.namespace ?? '';
  const name = cell.metadata.name ?? '';
  const pod = ctx.pods.get(ns, name);
  const node = ctx.nodes.get(undefined, cell.spec.node);
  if (!holder) return { pod, node };
  return {
    pod: cell.status?.podUID ? await confirmAbsent(pod, () => ctx.live.pod(ns, name)) : pod,
    node: await confirmAbsent(node, () => ctx.live.node(cell.spec.node)),
  };
}

export async function reconcileCell(ctx: ControllerContext, key: string): Promise<ReconcileResult> {
  const { namespace, name } = splitKey(key);
  const cached = ctx.cells.get(namespace, name);
  // Judged from what this operator last wrote, while the cache has not shown it yet.
  const cell = cached && ctx.write.latest('Cell', cached);
  if (!cell || cell.metadata.deletionTimestamp) return {};
  const colony = ctx.colonies.get(namespace, cell.spec.colony);
  if (!colony || !isControlledBy(cell, colony)) return {}; // orphan: the garbage collector takes it

  const colonyKey = colony.status?.publicKey;
  const seen = await observed(ctx, cell, isHolder(cell, colonyKey));
  const { pod, foreign } = podOf(seen.pod, cell);
  const heard = await liveLease(
    ctx,
    cell.spec.node,
    ctx.nodeLeases.get(NODE_LEASE_NAMESPACE, cell.spec.node),
  );
  const w: CellWorld = {
    cell,
    colonyKey,
    pod,
    foreignPod: foreign,
    node: seen.node,
    lease: heard.lease,
    nodeLossAfter: ctx.nodeLossAfter,
    observingSince: ctx.guard.observingSince(),
    excuse: heard.excuse,
    now: ctx.now(),
  };
  const status = cellStatus(w);
  const dead = status.phase === 'Dead';
  await converge(ctx, colony, cell, { pod, foreign, dead });

  const changed = await ctx.write.patchStatus('Cell', cell, status, CELL_REPORTED_FIELDS);
  if (changed) {
    recordJoin(ctx, cell, status);
    await reportTransition(ctx, cell, status);
  }
  return recheck(ctx, heard, w, status);
}

/**
 * The cell controller: one key per cell; changes it reads wake it (predicates.ts): of the cell, its
 * pod, its node, and its node's liveness (a Lease renewal that leaves the node fresh wakes nobody).
 */
export function cellController(d: ControllerDeps): ControllerDescriptor {
  const c = d.caches;
  // A node or its liveness changed: re-check the cells on that node (a Lease is named after its node).
  const cellsOn = (o: { metadata?: { name?: string } }): string[] =>
    c.cells
      .list()
      .filter((cell) => cell.spec.node === o.metadata?.name)
      .map(mapToSelf);
  return {
    name: 'cell',
    needsLeader: true,
    concurrency: d.concurrency,
    reconcile: (req) => reconcileCell({ ...d.ctx, log: req.log }, req.key),
    resyncKeys: () => c.cells.list().map(mapToSelf),
    sources: [
      source(c.cells, mapToSelf, cellChanged),
      source(c.pods, mapToOwner('Cell'), cellPodChanged),
      source(c.nodes, cellsOn, nodeChanged),
      source(d.nodeLiveness, cellsOn),
    ],
  };
}
