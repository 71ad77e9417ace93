// Pure status math: did the status change, and what JSON merge patch turns old into new. Generic:
// any status with metav1.Condition-shaped conditions.

type Json = unknown;

/** What status math needs of a condition (metav1.Condition). */
export interface ConditionLike {
  type: string;
  status: string;
  lastTransitionTime?: string;
}

interface WithConditions {
  conditions?: ConditionLike[];
}

/**
 * Carries old transition times over to freshly computed conditions whose status did not change.
 * Use when a reconciler rebuilds the whole list from observed state.
 */
export function preserveTransitionTimes<C extends ConditionLike>(
  old: readonly C[] | undefined,
  fresh: readonly C[] | undefined,
): C[] | undefined {
  if (!fresh) return undefined;
  return fresh.map((c) => {
    const prev = old?.find((o) => o.type === c.type);
    return prev && prev.status === c.status ? { ...c, lastTransitionTime: prev.lastTransitionTime } : c;
  });
}

/**
 * Returns `desired` with condition transition times carried over from `current` for every condition
 * whose status did not change, so recomputing the same state is not a change.
 */
export function normalizeStatus<S extends object>(current: S | undefined, desired: S): S {
  const cur = current as WithConditions | undefined;
  const des = desired as WithConditions;
  if (!Array.isArray(des.conditions)) return desired;
  return { ...desired, conditions: preserveTransitionTimes(cur?.conditions, des.conditions) };
}

/** True when `desired` (after normalizeStatus) differs from `current`. */
export function statusChanged<S extends object>(current: S | undefined, desired: S): boolean {
  return !deepEqual(stripUndefined(current ?? {}), stripUndefined(normalizeStatus(current, desired)));
}

/**
 * Deep equality for JSON values. Object key order is ignored; arrays are ordered, except that
 * `conditions` arrays are compared by condition type (their order carries no meaning).
 */
export function deepEqual(a: Json, b: Json, key?: string): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) return arraysEqual(a, b, key);
  if (!isObject(a) || !isObject(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => Object.hasOwn(b, k) && deepEqual(a[k], b[k], k));
}

function arraysEqual(a: Json, b: Json, key?: string): boolean {
  if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
  if (key === 'conditions') {
    const byType = (x: Json[]): Json[] => [...x].sort((p, q) => typeOf(p).localeCompare(typeOf(q)));
    const sa = byType(a);
    const sb = byType(b);
    return sa.every((v, i) => deepEqual(v, sb[i]));
  }
  return a.every((v, i) => deepEqual(v, b[i]));
}

function typeOf(c: Json): string {
  return isObject(c) && typeof c.type === 'string' ? c.type : '';
}

function isObject(v: Json): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Drops undefined-valued keys (they do not survive JSON anyway). */
export function stripUndefined<T>(v: T): T {
  return JSON.parse(JSON.stringify(v ?? null)) as T;
}

/**
 * RFC 7386 JSON merge patch that turns `from` into `to`: changed keys set, removed keys null,
 * arrays replaced whole. Returns undefined when nothing differs.
 */
export function mergePatch(from: Json, to: Json): Json {
  if (!isObject(from) || !isObject(to)) return deepEqual(from, to) ? undefined : to;
  const patch: Record<string, Json> = {};
  for (const k of Object.keys(from)) {
    if (to[k] === undefined) patch[k] = null;
  }
  for (const [k, v] of Object.entries(to)) {
    const sub = fieldPatch(from, k, v);
    if (sub !== undefined) patch[k] = sub;
  }
  return Object.keys(patch).length > 0 ? patch : undefined;
}

function fieldPatch(from: Record<string, Json>, k: string, v: Json): Json {
  if (v === undefined) return undefined;
  return Object.hasOwn(from, k) ? mergePatch(from[k], v) : v;
}
