// Cell reconciler: one pod per Cell, pinned to the cell's node; status mirrored from pod and node.
// A dead cell's pod is deleted (its memory is gone anyway); the cell stays for its timestamps until
// the colony prunes it.
import type { V1Lease, V1Pod } from '@kubernetes/client-node';
import type { Cell, CellStatus, Colony } from '../api/types.js';
import { buildCellPod } from '../builders/pod.js';
import { isControlledBy } from '../builders/owner.js';
import { cellStatus } from './cell-status.js';
import { eventRef, splitKey, type ControllerContext, type ReconcileResult } from './context.js';
import { judgeLease, NODE_LEASE_NAMESPACE } from './node-lease.js';

/** Status fields the cell process reports for itself; the operator never writes them. */
export const CELL_REPORTED_FIELDS = ['publicKey', 'fingerprint', 'joinKey', 'keyProof'] as const;

/** The pod named after the cell, split into ours (controlled by the cell) or someone else's. */
function podOf(ctx: ControllerContext, cell: Cell): { pod?: V1Pod; foreign: boolean } {
  const found = ctx.pods.get(cell.metadata.namespace, cell.metadata.name ?? '');
  if (!found) return { foreign: false };
  return isControlledBy(found, cell) ? { pod: found, foreign: false } : { foreign: true };
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

async function reportDeath(ctx: ControllerContext, cell: Cell, status: CellStatus): Promise<void> {
  await ctx.write.event(
    eventRef(cell, 'Cell'),
    'Warning',
    status.reason ?? 'Died',
    status.message ?? 'cell died',
  );
}

/**
 * A stopped Lease makes no event, so time drives detection: a cell with a pod on a node whose Lease
 * is fresh is re-checked just after that Lease would go stale (each renewal re-enqueues it earlier).
 */
function leaseRecheck(
  ctx: ControllerContext,
  lease: V1Lease | undefined,
  status: CellStatus,
): ReconcileResult {
  if (status.phase === 'Dead' || !status.podUID) return {};
  const verdict = judgeLease(lease, ctx.now(), ctx.nodeLossAfter);
  return verdict.kind === 'fresh' ? { requeueAfter: verdict.recheckAfterMs } : {};
}

export async function reconcileCell(ctx: ControllerContext, key: string): Promise<ReconcileResult> {
  const { namespace, name } = splitKey(key);
  const cell = ctx.cells.get(namespace, name);
  if (!cell || cell.metadata.deletionTimestamp) return {};
  const colony = ctx.colonies.get(namespace, cell.spec.colony);
  if (!colony || !isControlledBy(cell, colony)) return {}; // orphan: the garbage collector takes it

  const { pod, foreign } = podOf(ctx, cell);
  const node = ctx.nodes.get(undefined, cell.spec.node);
  const lease = ctx.nodeLeases.get(NODE_LEASE_NAMESPACE, cell.spec.node);
  const now = ctx.now();
  const status = cellStatus({
    cell,
    pod,
    foreignPod: foreign,
    node,
    lease,
    nodeLossAfter: ctx.nodeLossAfter,
    now,
  });
  const dead = status.phase === 'Dead';
  await converge(ctx, colony, cell, { pod, foreign, dead });

  const changed = await ctx.write.patchStatus('Cell', cell, status, CELL_REPORTED_FIELDS);
  if (changed && dead && cell.status?.phase !== 'Dead') await reportDeath(ctx, cell, status);
  return leaseRecheck(ctx, lease, status);
}
