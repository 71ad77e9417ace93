// Tamper detection for the admission lock-down (docs/lockdown.md). Pure: given the desired objects
// (src/builders/lockdown.ts) and what the informers observe, say which objects are missing or
// changed and must be restored, and whether the lock-down is intact right now.
//
// What is compared: a policy's or binding's `spec`, the lock-down parameters' `data` (exactly: a key
// removed unlocks a pod or node; a key added is not ours either). Metadata is noise (resourceVersion,
// managedFields, someone's label), except that the content-hash annotation is not trusted: an
// edited spec with the old annotation still counts as changed. The API server fills defaults into
// specs (matchPolicy: Equivalent, empty selectors, scope: '*'); those are not changes. Anything else
// an observed spec has beyond the desired one is (an added excludeResourceRules or matchConditions
// narrows a policy to nothing).
import type { LockdownParameters } from '../api/types.js';
import type { LockdownObject } from '../builders/lockdown.js';

export type LockdownKind =
  'ValidatingAdmissionPolicy' | 'ValidatingAdmissionPolicyBinding' | 'LockdownParameters';
export type LockdownDesired = LockdownObject | LockdownParameters;

export interface ObservedObject {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string; deletionTimestamp?: unknown };
  spec?: unknown;
  data?: unknown;
}

/** What the informers hold (all cluster-scoped: policies, bindings; the parameters, if any). */
export interface ObservedLockdown {
  policies: ObservedObject[];
  bindings: ObservedObject[];
  params: ObservedObject | undefined;
}

/**
 * Missing and Changed break the lock-down. Outdated is the operator's own pending update: the
 * parameters still hold exactly what was last confirmed intact, and the targets have moved since
 * (a new cell, a new hardened node). Restored the same way, but not a tamper.
 */
export type DriftReason = 'Missing' | 'Changed' | 'Outdated';

export interface LockdownAction {
  kind: LockdownKind;
  name: string;
  namespace?: string;
  reason: DriftReason;
  /** The object to create (Missing) or to put back whole (Changed: replace, not merge/apply). */
  desired: LockdownDesired;
  /** resourceVersion of the observed object for a Changed replace. */
  resourceVersion?: string;
}

export interface LockdownPlan {
  intact: boolean;
  actions: LockdownAction[];
}

/** Values the API server defaults into admission specs when they are absent. */
const SERVER_DEFAULTS: Record<string, unknown> = { matchPolicy: 'Equivalent', scope: '*' };

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** An extra observed field that means the same as its absence. */
function isDefaultNoise(key: string, value: unknown): boolean {
  if (value === undefined || value === null) return true;
  if (key in SERVER_DEFAULTS) return SERVER_DEFAULTS[key] === value;
  if (Array.isArray(value)) return value.length === 0;
  if (isPlainObject(value)) return Object.entries(value).every(([k, v]) => isDefaultNoise(k, v));
  return false;
}

function arraysMatch(desired: unknown[], observed: unknown): boolean {
  if (!Array.isArray(observed) || observed.length !== desired.length) return false;
  return desired.every((d, i) => specMatches(d, observed[i]));
}

function objectsMatch(desired: Record<string, unknown>, observed: unknown): boolean {
  if (!isPlainObject(observed)) return false;
  const keys = new Set([...Object.keys(desired), ...Object.keys(observed)]);
  for (const key of keys) {
    const d = desired[key];
    const ok = d === undefined ? isDefaultNoise(key, observed[key]) : specMatches(d, observed[key]);
    if (!ok) return false;
  }
  return true;
}

/** Deep equality of a desired spec and an observed one, tolerating server-filled defaults only. */
export function specMatches(desired: unknown, observed: unknown): boolean {
  if (Array.isArray(desired)) return arraysMatch(desired, observed);
  if (isPlainObject(desired)) return objectsMatch(desired, observed);
  return desired === observed;
}

/** The parameters' data: exact key set and values (an absent data map equals an empty one). */
export function dataMatches(desired: unknown, observed: unknown): boolean {
  const d = isPlainObject(desired) ? desired : {};
  const o = isPlainObject(observed) ? observed : {};
  const keys = Object.keys(d);
  return keys.length === Object.keys(o).length && keys.every((k) => k in o && o[k] === d[k]);
}

function findObserved(desired: LockdownDesired, observed: ObservedLockdown): ObservedObject | undefined {
  const name = desired.metadata?.name;
  const pool =
    desired.kind === 'ValidatingAdmissionPolicy'
      ? observed.policies
      : desired.kind === 'ValidatingAdmissionPolicyBinding'
        ? observed.bindings
        : observed.params
          ? [observed.params]
          : [];
  return pool.find((o) => o.metadata?.name === name && o.metadata?.namespace === desired.metadata?.namespace);
}

function contentMatches(desired: LockdownDesired, found: ObservedObject): boolean {
  if (desired.kind === 'LockdownParameters') return dataMatches(desired.data, found.data);
  return specMatches(desired.spec, found.spec);
}

function actionBase(desired: LockdownDesired): Omit<LockdownAction, 'reason'> {
  const namespace = desired.metadata?.namespace;
  return {
    kind: desired.kind,
    name: desired.metadata?.name ?? '',
    ...(namespace ? { namespace } : {}),
    desired,
  };
}

function changeReason(desired: LockdownDesired, found: ObservedObject, confirmed: unknown): DriftReason {
  const ours = desired.kind === 'LockdownParameters' && confirmed !== undefined;
  return ours && dataMatches(confirmed, found.data) ? 'Outdated' : 'Changed';
}

function actionFor(
  desired: LockdownDesired,
  found: ObservedObject | undefined,
  confirmed: unknown,
): LockdownAction | undefined {
  const base = actionBase(desired);
  // Being deleted counts as missing: it is gone as soon as its finalizers (if any) are.
  if (!found || found.metadata?.deletionTimestamp) return { ...base, reason: 'Missing' };
  if (contentMatches(desired, found)) return undefined;
  const rv = found.metadata?.resourceVersion;
  return { ...base, reason: changeReason(desired, found, confirmed), ...(rv ? { resourceVersion: rv } : {}) };
}

/** Order of restoration: parameters first, then policies, then bindings (a binding without its policy is inert). */
const ORDER: Record<LockdownKind, number> = {
  LockdownParameters: 0,
  ValidatingAdmissionPolicy: 1,
  ValidatingAdmissionPolicyBinding: 2,
};

/**
 * Which desired objects must be (re)created or put back. `intact` is true when every desired object
 * is present and unchanged, save parameters that are merely Outdated: `confirmedParams` is the data
 * of the parameters as last seen intact (the operator's own last confirmed write), so a pending
 * update of ours is not mistaken for tampering. Objects observed beyond the desired set are ignored
 * (not ours to delete).
 */
export function planLockdown(
  desired: LockdownDesired[],
  observed: ObservedLockdown,
  confirmedParams?: Record<string, string>,
): LockdownPlan {
  const actions = desired
    .map((d) => actionFor(d, findObserved(d, observed), confirmedParams))
    .filter((a): a is LockdownAction => a !== undefined)
    .sort((a, b) => ORDER[a.kind] - ORDER[b.kind] || a.name.localeCompare(b.name));
  return { intact: actions.every((a) => a.reason === 'Outdated'), actions };
}

/** One line per action, for the Warning event and the log. */
export function describePlan(plan: LockdownPlan): string {
  if (plan.actions.length === 0) return 'lock-down intact';
  return plan.actions
    .map((a) => `${a.kind} ${a.namespace ? `${a.namespace}/` : ''}${a.name}: ${a.reason}`)
    .join('; ');
}
