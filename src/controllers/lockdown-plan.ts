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
//
// Mutating admission is a hole the validating policies cannot close alone: a MutatingWebhookConfiguration
// or MutatingAdmissionPolicy that can change a cell pod (its command, env, volumes, image) changes
// the code that receives the secret without touching any Celula object. Any such object breaks the
// lock-down (mutatorsOfCellPods below).
import { LABELS, MANAGER, type LockdownParameters } from '../api/types.js';
import type { LockdownObject } from '../builders/lockdown.js';
import { CELL_RUNTIME_LABEL } from '../builders/pod.js';

export type LockdownKind =
  'ValidatingAdmissionPolicy' | 'ValidatingAdmissionPolicyBinding' | 'LockdownParameters';
export type LockdownDesired = LockdownObject | LockdownParameters;

export interface ObservedObject {
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    deletionTimestamp?: unknown;
  };
  spec?: unknown;
  data?: unknown;
  /** A MutatingWebhookConfiguration's webhooks. */
  webhooks?: unknown;
}

/**
 * What the informers hold (all cluster-scoped: policies, bindings; the parameters, if any; every
 * MutatingWebhookConfiguration and MutatingAdmissionPolicy, when the operator watches them).
 */
export interface ObservedLockdown {
  policies: ObservedObject[];
  bindings: ObservedObject[];
  params: ObservedObject | undefined;
  mutatingWebhooks?: ObservedObject[];
  mutatingPolicies?: ObservedObject[];
}

/**
 * Missing and Changed break the lock-down. Outdated is the operator's own pending update: the
 * parameters hold exactly what it last confirmed intact or last wrote, and the targets have moved
 * since (a new colony namespace, a new hardened node). Restored the same way, but not a tamper.
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

export type MutatorKind = 'MutatingWebhookConfiguration' | 'MutatingAdmissionPolicy';

/** A mutating admission object that can change cell pods, and how. */
export interface MutatorFinding {
  kind: MutatorKind;
  name: string;
  why: string;
}

export interface LockdownPlan {
  /** Every desired object in place (save our own Outdated parameters) and no mutator of cell pods. */
  intact: boolean;
  actions: LockdownAction[];
  mutators: MutatorFinding[];
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

/** Parameters holding what this operator wrote or last confirmed are its own pending update. */
function changeReason(desired: LockdownDesired, found: ObservedObject, own: readonly unknown[]): DriftReason {
  if (desired.kind !== 'LockdownParameters') return 'Changed';
  return own.some((data) => dataMatches(data, found.data)) ? 'Outdated' : 'Changed';
}

function actionFor(
  desired: LockdownDesired,
  found: ObservedObject | undefined,
  own: readonly unknown[],
): LockdownAction | undefined {
  const base = actionBase(desired);
  // Being deleted counts as missing: it is gone as soon as its finalizers (if any) are.
  if (!found || found.metadata?.deletionTimestamp) return { ...base, reason: 'Missing' };
  if (contentMatches(desired, found)) return undefined;
  const rv = found.metadata?.resourceVersion;
  return { ...base, reason: changeReason(desired, found, own), ...(rv ? { resourceVersion: rv } : {}) };
}

/** Order of restoration: parameters first, then policies, then bindings (a binding without its policy is inert). */
const ORDER: Record<LockdownKind, number> = {
  LockdownParameters: 0,
  ValidatingAdmissionPolicy: 1,
  ValidatingAdmissionPolicyBinding: 2,
};

/**
 * Which desired objects must be (re)created or put back. `intact` is true when every desired object
 * is present and unchanged, save parameters that are merely Outdated: `ownParams` are the data the
 * operator last saw intact and last wrote itself (a write the informer has not caught up with, or
 * one it has while the targets moved again), so a pending update of ours is not mistaken for
 * tampering. Objects observed beyond the desired set are ignored (not ours to delete).
 */
export function planLockdown(
  desired: LockdownDesired[],
  observed: ObservedLockdown,
  ownParams: Record<string, string> | ReadonlyArray<Record<string, string>> = [],
): LockdownPlan {
  const own = Array.isArray(ownParams) ? ownParams : [ownParams];
  const actions = desired
    .map((d) => actionFor(d, findObserved(d, observed), own))
    .filter((a): a is LockdownAction => a !== undefined)
    .sort((a, b) => ORDER[a.kind] - ORDER[b.kind] || a.name.localeCompare(b.name));
  const mutators = mutatorsOfCellPods(observed.mutatingWebhooks ?? [], observed.mutatingPolicies ?? []);
  return {
    intact: actions.every((a) => a.reason === 'Outdated') && mutators.length === 0,
    actions,
    mutators,
  };
}

/** True when the plan found our own policies removed or changed (not only Outdated parameters). */
export function policiesTampered(plan: LockdownPlan): boolean {
  return plan.actions.some((a) => a.reason !== 'Outdated');
}

export function describeMutator(m: MutatorFinding): string {
  return `${m.kind} ${m.name}: ${m.why}`;
}

/** One line per action and per mutator, for the Warning event and the log. */
export function describePlan(plan: LockdownPlan): string {
  if (plan.actions.length === 0 && plan.mutators.length === 0) return 'lock-down intact';
  return [
    ...plan.actions.map((a) => `${a.kind} ${a.namespace ? `${a.namespace}/` : ''}${a.name}: ${a.reason}`),
    ...plan.mutators.map(describeMutator),
  ].join('; ');
}

// ---- Mutating admission that can reach cell pods ----
//
// The rule (conservative: when in doubt, it matches). A mutating webhook, or a
// MutatingAdmissionPolicy's matchConstraints, can change cell pods when one of its rules covers
// CREATE or UPDATE of `pods` or `pods/ephemeralcontainers` in the core group ('' or '*'; any
// apiVersions, since matchPolicy Equivalent reaches v1 from any; scope '*', 'Namespaced' or unset),
// is not taken back by an excludeResourceRules entry (policies), and its objectSelector can be
// satisfied by a cell pod's labels. Not considered, so never a reason to exclude: namespaceSelector
// (a colony may be made in any namespace, and namespace labels change), matchConditions (CEL; not
// provable here), a policy's bindings (a policy without one is inert, but a binding can be added at
// any time by whoever made the policy), failurePolicy, reinvocation.

interface RuleLike {
  apiGroups?: unknown;
  operations?: unknown;
  resources?: unknown;
  scope?: unknown;
}

interface SelectorLike {
  matchLabels?: unknown;
  matchExpressions?: unknown;
}

interface Requirement {
  key: string;
  operator: string;
  values: string[];
}

/** (operation, resource) pairs through which an admission object could change a cell pod. */
const CELL_POD_TARGETS: ReadonlyArray<readonly [string, string]> = [
  ['CREATE', 'pods'],
  ['UPDATE', 'pods'],
  ['UPDATE', 'pods/ephemeralcontainers'],
];

/** Labels every cell pod carries (src/builders/labels.ts), with their only values when fixed. */
const CELL_POD_LABELS: Record<string, readonly string[] | 'any'> = {
  [LABELS.managedBy]: [MANAGER],
  [LABELS.colony]: 'any',
  [LABELS.cell]: 'any',
  [LABELS.cellIndex]: 'any',
  [LABELS.genesis]: ['true', 'false'],
};
/** Labels some cell pods carry (copied from their Colony), any value. */
const OPTIONAL_CELL_POD_LABELS = new Set<string>([CELL_RUNTIME_LABEL]);

const strings = (v: unknown): string[] =>
  Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];

/**
 * The API server's resource matching (admission rules): the part before '/' is the resource ('*' any),
 * the part after it the subresource ('*' any, including none; absent: none).
 */
function resourceCovers(entry: string, target: string): boolean {
  const [er, es = ''] = entry.split('/', 2);
  const [tr, ts = ''] = target.split('/', 2);
  return (er === '*' || er === tr) && (es === '*' || es === ts);
}

function ruleCovers(rule: RuleLike, op: string, resource: string): boolean {
  const groups = strings(rule.apiGroups);
  const ops = strings(rule.operations);
  const scope = rule.scope;
  return (
    (groups.includes('') || groups.includes('*')) &&
    (ops.includes(op) || ops.includes('*')) &&
    strings(rule.resources).some((r) => resourceCovers(r, resource)) &&
    (scope === undefined || scope === null || scope === '*' || scope === 'Namespaced')
  );
}

const asRules = (v: unknown): RuleLike[] =>
  Array.isArray(v) ? v.filter((r): r is RuleLike => isPlainObject(r)) : [];

/** The first cell-pod target the rules cover and the exclusions do not, as "CREATE pods". */
function coveredTarget(rules: unknown, excluded: unknown): string | undefined {
  const hit = CELL_POD_TARGETS.find(
    ([op, res]) =>
      asRules(rules).some((r) => ruleCovers(r, op, res)) &&
      !asRules(excluded).some((r) => ruleCovers(r, op, res)),
  );
  return hit ? `${hit[0]} ${hit[1]}` : undefined;
}

function requirements(selector: SelectorLike): Requirement[] {
  const labels = isPlainObject(selector.matchLabels) ? selector.matchLabels : {};
  const fromLabels = Object.entries(labels).map(([key, v]) => ({
    key,
    operator: 'In',
    values: [String(v)],
  }));
  const exprs = Array.isArray(selector.matchExpressions) ? selector.matchExpressions : [];
  const fromExprs = exprs.filter(isPlainObject).map((e) => ({
    key: String(e.key),
    operator: String(e.operator),
    values: strings(e.values),
  }));
  return [...fromLabels, ...fromExprs];
}

/** What cell pods can carry under one key: never, any value, or one of a few fixed values. */
function cellPodValues(key: string): 'never' | 'any' | readonly string[] {
  const known = CELL_POD_LABELS[key];
  if (known !== undefined) return known;
  return OPTIONAL_CELL_POD_LABELS.has(key) ? 'any' : 'never';
}

/** Can some cell pod satisfy this one requirement? (An unknown operator: assume yes.) */
function satisfiable(r: Requirement): boolean {
  const values = cellPodValues(r.key);
  const always = r.key in CELL_POD_LABELS;
  if (r.operator === 'Exists') return values !== 'never';
  if (r.operator === 'DoesNotExist') return !always;
  if (values === 'never' || values === 'any') {
    // In needs the key; NotIn is met by a pod without it or with another value.
    return r.operator !== 'In' || values === 'any';
  }
  if (r.operator === 'In') return values.some((v) => r.values.includes(v));
  if (r.operator === 'NotIn') return values.some((v) => !r.values.includes(v));
  return true;
}

/** Provably matches no cell pod: one of its requirements no cell pod's labels can meet. */
export function selectorExcludesCellPods(selector: unknown): boolean {
  if (!isPlainObject(selector)) return false;
  return requirements(selector).some((r) => !satisfiable(r));
}

function webhookFinding(config: ObservedObject): MutatorFinding | undefined {
  const webhooks = Array.isArray(config.webhooks) ? config.webhooks.filter(isPlainObject) : [];
  for (const w of webhooks) {
    const target = coveredTarget(w.rules, undefined);
    if (target === undefined || selectorExcludesCellPods(w.objectSelector)) continue;
    const why = `webhook ${String(w.name)} can mutate cell pods (${target})`;
    return { kind: 'MutatingWebhookConfiguration', name: config.metadata?.name ?? '', why };
  }
  return undefined;
}

function policyFinding(policy: ObservedObject): MutatorFinding | undefined {
  const spec = isPlainObject(policy.spec) ? policy.spec : {};
  const mc = isPlainObject(spec.matchConstraints) ? spec.matchConstraints : {};
  const target = coveredTarget(mc.resourceRules, mc.excludeResourceRules);
  if (target === undefined || selectorExcludesCellPods(mc.objectSelector)) return undefined;
  const why = `policy can mutate cell pods (${target})`;
  return { kind: 'MutatingAdmissionPolicy', name: policy.metadata?.name ?? '', why };
}

/**
 * Every MutatingWebhookConfiguration and MutatingAdmissionPolicy that can change cell pods (the
 * rule above), in name order. Objects being deleted still count until they are gone.
 */
export function mutatorsOfCellPods(
  webhookConfigs: readonly ObservedObject[],
  policies: readonly ObservedObject[],
): MutatorFinding[] {
  return [...webhookConfigs.map(webhookFinding), ...policies.map(policyFinding)]
    .filter((f): f is MutatorFinding => f !== undefined)
    .sort((a, b) => a.kind.localeCompare(b.kind) || a.name.localeCompare(b.name));
}
