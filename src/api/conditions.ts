// Condition helpers. lastTransitionTime moves only when a condition's status changes
// (metav1.Condition semantics), so a reconcile that recomputes the same status writes nothing.
// Carrying transition times over a rebuilt list is generic: preserveTransitionTimes in
// src/runtime/status.ts.
import type { Condition } from './types.js';

/** A condition as a reconciler computes it: the transition time is filled in by setCondition. */
export type ConditionInput = Omit<Condition, 'lastTransitionTime'> & { lastTransitionTime?: string };

/**
 * Returns a new list with `cond` set. If a condition of that type exists with the same status, its
 * lastTransitionTime is kept (reason, message and observedGeneration still update); otherwise the
 * transition time is `cond.lastTransitionTime ?? now`. The order of existing conditions is kept.
 */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  cond: ConditionInput,
  now: Date | string,
): Condition[] {
  const list = [...(conditions ?? [])];
  const i = list.findIndex((c) => c.type === cond.type);
  const old = i >= 0 ? list[i] : undefined;
  const lastTransitionTime =
    old && old.status === cond.status
      ? old.lastTransitionTime
      : (cond.lastTransitionTime ?? toTimestamp(now));
  const next: Condition = { ...cond, lastTransitionTime };
  if (i >= 0) list[i] = next;
  else list.push(next);
  return list;
}

export function getCondition(
  conditions: readonly Condition[] | undefined,
  type: string,
): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

export function isConditionTrue(conditions: readonly Condition[] | undefined, type: string): boolean {
  return getCondition(conditions, type)?.status === 'True';
}

/** Kubernetes timestamps are RFC 3339 with second precision. */
export function toTimestamp(now: Date | string): string {
  const d = typeof now === 'string' ? new Date(now) : now;
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
