// The last look before retiring a holder: a live count of the holders that stay.
//
// Retiring a holder is the one deletion of a living copy the operator decides on its own, and it is
// decided on caches. The two-phase window (retirement.ts) covers a cache that lags by less than the
// detection window; it does not cover a watch that stalls while staying open (a cache that stops
// moving with no error to see): a holder whose process exited, whose pod was deleted, or whose Cell
// was deleted would still count as heard, for as long as the stall lasts. So before any holder is
// retired, the holders that stay are counted from the API server itself: each one's Cell (same uid,
// not being deleted, a heard holder by its live status — the cell controller writes Unreachable from
// a live Lease read even while this colony's watch is stalled — whose key proof verifies), its pod
// (the uid the live Cell recorded, Running, Ready, not being deleted) and its node's Lease (not
// stale: a dead node's pod still reads Running and Ready until the node lifecycle controller acts,
// and forever while it is down). Only if at least spec.replicas of them are confirmed is any holder retired; else none is,
// this time (newcomers, which hold nothing, still go). An API server that does not answer confirms
// nothing. The check runs right before the deletions (colony.ts applyPlan), after the cells the
// plan creates, so a loss during those creations is seen.
// Cost: one list of the colony's Cells, and one pod and one Lease read and one signature check per
// staying holder, per retirement decision (rare: a surplus exists only after a surge).
import type { V1Pod } from '@kubernetes/client-node';

import type { Cell, Colony } from '../api/types.js';
import type { ControllerContext } from './context.js';
import { provesItsKey } from './colony-plan.js';
import { isHeardHolder } from './holders.js';
import { judgeLease } from './node-lease.js';

export interface RetirementCheck {
  /** What may be retired now: `retire` less its holders when too few staying holders are confirmed. */
  retire: string[];
  /** Holders kept this time (the count fell short, or the API server did not answer). */
  deferred: string[];
  /** Staying holders confirmed live (undefined when no holder was to be retired). */
  confirmed?: number;
}

/** A pod that is, by the API server's word now, the running Ready pod `cell` recorded. */
function podHolds(pod: V1Pod | undefined, cell: Cell): boolean {
  if (!pod || pod.metadata?.deletionTimestamp) return false;
  const recorded = cell.status?.podUID;
  return recorded !== undefined && recorded !== '' && pod.metadata?.uid === recorded && runningReady(pod);
}

function runningReady(pod: V1Pod): boolean {
  const s = pod.status;
  if (s?.phase !== 'Running' || s.containerStatuses?.some((c) => c.state?.terminated)) return false;
  return s.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/** Staying heard holders the API server confirms now (Cell and pod read live). */
async function confirmStaying(ctx: ControllerContext, colony: Colony, staying: Cell[]): Promise<number> {
  const ns = colony.metadata.namespace ?? '';
  const live = new Map(
    (await ctx.live.cells(ns, colony.metadata.name ?? '')).map((c) => [c.metadata.name ?? '', c]),
  );
  const key = colony.status?.publicKey;
  const confirmed = await Promise.all(
    staying.map(async (cell) => {
      const name = cell.metadata.name ?? '';
      const now = live.get(name);
      if (!now || now.metadata.uid !== cell.metadata.uid || now.metadata.deletionTimestamp) return false;
      // And its key proof (a signature by the colony key over this Cell and the pod it recorded): a
      // node credential can mint a pod's token and write its Cell's status, and its kubelet's word
      // that the pod is Ready, but it cannot sign for the secret it does not hold.
      if (!isHeardHolder(now, key) || !provesItsKey(colony, now)) return false;
      const [pod, lease] = await Promise.all([ctx.live.pod(ns, name), ctx.live.lease(now.spec.node)]);
      // The Lease judged from its own renewal (no start-up grace): a stale one is proof enough
      // against counting; a node with no Lease is judged by its pod alone.
      return podHolds(pod, now) && judgeLease(lease, ctx.now(), ctx.nodeLossAfter).kind !== 'lost';
    }),
  );
  return confirmed.filter(Boolean).length;
}

/**
 * Of the cells due for retirement, those that may go now: every one, when no holder is among them or
 * at least spec.replicas of the heard holders that stay are confirmed live; else all but the holders.
 */
export async function checkRetirements(
  ctx: ControllerContext,
  colony: Colony,
  cells: readonly Cell[],
  retire: readonly string[],
): Promise<RetirementCheck> {
  const key = colony.status?.publicKey;
  const leaving = new Set(retire);
  const holders = cells.filter((c) => leaving.has(c.metadata.name ?? '') && isHeardHolder(c, key));
  if (holders.length === 0) return { retire: [...retire], deferred: [] };
  const staying = cells.filter((c) => !leaving.has(c.metadata.name ?? '') && isHeardHolder(c, key));
  let confirmed = 0;
  if (staying.length >= colony.spec.replicas) {
    try {
      confirmed = await confirmStaying(ctx, colony, staying);
    } catch (err) {
      ctx.log.warn(
        { err: err instanceof Error ? err.message : String(err) },
        'live count before a retirement failed; no holder retired',
      );
    }
  }
  if (confirmed >= colony.spec.replicas) return { retire: [...retire], deferred: [], confirmed };
  const deferred = holders.map((c) => c.metadata.name ?? '');
  return { retire: retire.filter((n) => !deferred.includes(n)), deferred, confirmed };
}
