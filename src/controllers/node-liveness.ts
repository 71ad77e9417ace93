// Node liveness from the heartbeat Leases, reported only when it changes. A kubelet renews its Lease
// every few seconds; a renewal that leaves the node fresh changes nothing a reconciler reads, so it
// only moves the node's one timer (runtime/verdicts.ts) to when this Lease would go stale. The cells
// on a node (and the colonies, whose placement skips silent nodes) are woken when its verdict flips:
// the Lease went stale (the timer fired), was heard again, appeared or was deleted.
//
// The verdict is node-lease.ts's judgeLease with the guard's observation start, so what is judged
// here is what the reconcilers judge. When the guard restarts its observation (operator start,
// leadership gained, API server back) every Lease is judged again (the operator wires
// FloorGuard.onRestart to rejudge). Nothing here reads live or excuses silence: the cell
// reconciler still re-reads a stale Lease live and asks the mass-disruption guard before it
// suspects anyone (docs/floor.md).
import type { V1Lease } from '@kubernetes/client-node';
import type { Clock } from '../runtime/clock.js';
import type { EventSource } from '../runtime/controller.js';
import { VerdictSource } from '../runtime/verdicts.js';
import type { FloorGuard } from './guard.js';
import { judgeLease } from './node-lease.js';

export interface NodeLivenessDeps {
  /** The node Leases (kube-node-lease), as cached. */
  leases: EventSource<V1Lease>;
  guard: Pick<FloorGuard, 'observingSince'>;
  /** `--node-loss-after` in seconds; undefined = three renew intervals of each Lease. */
  nodeLossAfter?: number;
  clock: Clock;
}

/** Reports a node's Lease when the node's liveness verdict (fresh, lost, unknown) changes. */
export function nodeLiveness(d: NodeLivenessDeps): VerdictSource<V1Lease> {
  return new VerdictSource<V1Lease>({
    source: d.leases,
    key: (lease) => lease.metadata?.name ?? '',
    clock: d.clock,
    judge: (lease) => {
      const v = judgeLease(lease, new Date(d.clock.now()), d.nodeLossAfter, d.guard.observingSince());
      return v.kind === 'fresh' ? { verdict: v.kind, recheckAfterMs: v.recheckAfterMs } : { verdict: v.kind };
    },
  });
}
