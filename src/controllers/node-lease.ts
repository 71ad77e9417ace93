// Node loss from the node's heartbeat Lease (kube-node-lease), in seconds rather than the
// controller-manager's grace period (40 s) plus eviction (300 s). Pure: the caller passes the clock.
//
// A kubelet renews its Lease every leaseDurationSeconds / 4 (10 s of a 40 s lease). The default
// threshold is three renew intervals (0.75 × leaseDurationSeconds: 30 s for a real kubelet): two
// renewals in a row may be late or lost without a suspicion, and a dead node is still caught well
// under a minute. The Lease's renewTime is written with the node's clock, so clock skew between node
// and operator adds to (or takes from) the threshold: nodes must run NTP.
import type { V1Lease } from '@kubernetes/client-node';

/** The namespace where kubelets keep one Lease per node, named after the node. */
export const NODE_LEASE_NAMESPACE = 'kube-node-lease';

/** Renew intervals a Lease may miss before its node is suspected (kubelet: 4 per lease duration). */
export const MISSED_RENEWALS = 3;
const RENEWALS_PER_DURATION = 4;
/** A kubelet's lease duration when the Lease does not say (kubelet default). */
const DEFAULT_LEASE_DURATION_S = 40;
/** Re-check a little after the deadline, so a renewal racing the deadline is seen. */
const RECHECK_MARGIN_MS = 100;

export type LeaseVerdict =
  /** No usable Lease (none, deleted, never renewed): the caller falls back to the Ready condition. */
  | { kind: 'unknown' }
  /** Renewed recently; re-check after `recheckAfterMs` if nothing happens meanwhile. */
  | { kind: 'fresh'; recheckAfterMs: number }
  | { kind: 'lost'; message: string };

/** The threshold in ms: the operator's `--node-loss-after` or three renew intervals of this Lease. */
export function lossThresholdMs(lease: V1Lease, nodeLossAfterSeconds?: number): number {
  if (nodeLossAfterSeconds !== undefined) return nodeLossAfterSeconds * 1000;
  const duration = lease.spec?.leaseDurationSeconds ?? DEFAULT_LEASE_DURATION_S;
  return ((duration * MISSED_RENEWALS) / RENEWALS_PER_DURATION) * 1000;
}

function lastRenewal(lease: V1Lease): number | undefined {
  const t = lease.spec?.renewTime ?? lease.spec?.acquireTime;
  if (t === undefined || t === null) return undefined;
  const ms = new Date(t).getTime();
  return Number.isNaN(ms) ? undefined : ms;
}

/**
 * Whether the node holding this Lease is suspected lost at `now`. `observingSince` is when the
 * operator began (again) to observe the world (start, leadership gained, API server back): silence
 * counts only from then, because time the operator did not watch proves nothing — the same rule
 * Kubernetes' node lifecycle controller applies by timing Leases with its own observations.
 */
export function judgeLease(
  lease: V1Lease | undefined,
  now: Date,
  nodeLossAfterSeconds?: number,
  observingSince?: Date,
): LeaseVerdict {
  if (!lease || lease.metadata?.deletionTimestamp) return { kind: 'unknown' };
  const renewed = lastRenewal(lease);
  if (renewed === undefined) return { kind: 'unknown' };
  const threshold = lossThresholdMs(lease, nodeLossAfterSeconds);
  // A renewal "in the future" (node clock ahead) counts as fresh, never as negative age.
  const age = Math.max(0, now.getTime() - Math.max(renewed, observingSince?.getTime() ?? 0));
  if (age > threshold) {
    const node = lease.metadata?.name ?? '?';
    // Stable while the Lease stays silent (no age that changes every reconcile): a status message
    // that changed each time would make every reconcile a write, and each write another reconcile.
    return {
      kind: 'lost',
      message: `node ${node} stopped renewing its Lease: last renewal ${new Date(renewed).toISOString()} (threshold ${threshold / 1000} s)`,
    };
  }
  return { kind: 'fresh', recheckAfterMs: threshold - age + RECHECK_MARGIN_MS };
}
