// The lock-down reconciler (docs/lockdown.md): one key, level-triggered. Re-reads the world (desired
// from the builders and the locked targets; observed from the informers), restores what the plan
// says, and reports whether the lock-down was intact. The lead wires it: informers on
// validatingadmissionpolicies, validatingadmissionpolicybindings (no label selector: a removed
// label must not look like a deletion) and the LockdownParameters (field selector on its name),
// plus nodes and pods for the targets, all enqueue LOCKDOWN_KEY.
import type { KubernetesObject, V1Node, V1Pod } from '@kubernetes/client-node';
import { DEFAULT_OPERATOR_NAMESPACE, LABELS, type Cell, type Colony } from '../api/types.js';
import { isHardenedLabelValue } from '../builders/hardening.js';
import { lockdownParams, lockdownPolicies, type LockdownOptions, type PodRef } from '../builders/lockdown.js';
import { isConflict, statusCode } from '../observability/errors.js';
import type { ReconcileResult } from '../runtime/controller.js';
import type { WriteClient } from '../runtime/write.js';
import {
  describePlan,
  planLockdown,
  type LockdownAction,
  type LockdownDesired,
  type LockdownPlan,
} from './lockdown-plan.js';
import type { ObservedLockdown } from './lockdown-plan.js';

export const LOCKDOWN_KEY = `${DEFAULT_OPERATOR_NAMESPACE}/lockdown`;
/** Re-check even without events: a missed watch event must not leave a hole for long. */
export const LOCKDOWN_RESYNC_MS = 30_000;

/** Creates a missing object; replaces a changed one whole (PUT), dropping fields anyone added. */
export interface LockdownWriter {
  create(obj: LockdownDesired): Promise<void>;
  replace(obj: LockdownDesired, resourceVersion: string): Promise<void>;
}

/** What the lock-down protects: hardened nodes, colony namespaces, and pods locked by name. */
export interface LockdownTargets {
  nodes: string[];
  /** Non-cell pods already on a hardened node (outside colony namespaces). */
  pods: PodRef[];
  /** Namespaces holding a Colony or a Cell, or already locked and holding a cell pod: locked whole. */
  namespaces: string[];
}

export interface LockdownDeps {
  opts: LockdownOptions;
  targets(): LockdownTargets;
  observe(): ObservedLockdown;
  write: LockdownWriter;
  /**
   * Called with every plan, before any restore: sets the lock-down state (LockdownIntact on colonies)
   * and counts incidents. Synchronous on purpose: its Warning event is sent in the background, so a
   * restore never waits behind an event (the lowest write priority) on a busy operator.
   */
  report(plan: LockdownPlan, summary: string): void;
  /**
   * Kept across passes by the caller: the parameters' data as last seen intact, and as last written
   * by this operator, so that its own update (a new colony namespace, a hardened node) is Outdated,
   * not a tamper, even while the informer still shows an older write of ours (lockdown-plan.ts).
   */
  memory?: LockdownMemory;
}

export interface LockdownMemory {
  confirmedParams?: Record<string, string>;
  /** The data of this operator's last few writes, newest last (OWN_WRITES_KEPT). */
  writtenParams?: Array<Record<string, string>>;
}

/**
 * How many of its own parameter writes the operator recognises: the informer may show any of its
 * recent writes while the targets keep moving (four colony namespaces made at once: each pass writes
 * again before the previous write is seen). An edit that puts back one of them is restored all the
 * same, without an incident.
 */
export const OWN_WRITES_KEPT = 8;

/**
 * Namespaces where colonies are refused: locking one would stop its own controllers from creating
 * pods (only the operator creates pods in a colony namespace). The kube-* namespaces, and the
 * operator's own (its hardening Jobs' pods are the Job controller's).
 */
export function reservedNamespace(namespace: string, operatorNamespace?: string): boolean {
  return namespace.startsWith('kube-') || namespace === operatorNamespace;
}

type Meta = { namespace?: string; name?: string } | undefined;

/**
 * What to lock, from the caches: hardened nodes (isHardenedLabelValue); every namespace holding a
 * Colony or a Cell (the key is there as soon as the Colony is, before its first cell), and every
 * namespace already locked (`world.locked`: the keys in force) that still holds a pod with the cell
 * label (kept until its last cell pod is gone: the garbage collector deletes Cells before their
 * pods). A cell-labelled pod alone never locks a new namespace: whoever may label one pod must not
 * lock a whole namespace (the cell-labels policy freezes those labels too). Then every other pod
 * bound to a hardened node outside those namespaces (pre-existing DaemonSet pods there: hardened
 * nodes take no new non-cell pods, so this set does not change with cells). Reserved namespaces
 * (kube-*, the operator's) are never locked: their colonies wait (namespaceWait in lockdown-wiring.ts).
 */
export function lockdownTargets(
  world: { nodes: V1Node[]; pods: V1Pod[]; cells: Cell[]; colonies: Colony[]; locked?: Iterable<string> },
  operatorNamespace?: string,
): LockdownTargets {
  const nodes = world.nodes
    .filter((n) => isHardenedLabelValue(n.metadata?.labels?.[LABELS.hardened]))
    .map((n) => n.metadata?.name ?? '')
    .filter((n) => n !== '');
  const hardened = new Set(nodes);
  const namespaces = [...colonyNamespaces(world)]
    .filter((ns) => ns !== '' && !reservedNamespace(ns, operatorNamespace))
    .sort();
  const locked = new Set(namespaces);
  const pods = world.pods
    .filter((p) => hardened.has(p.spec?.nodeName ?? '') && !locked.has(p.metadata?.namespace ?? ''))
    .map((p) => ({ namespace: p.metadata?.namespace ?? '', name: p.metadata?.name ?? '' }))
    .filter((p) => p.namespace !== '' && p.name !== '');
  return { nodes, pods, namespaces };
}

/** Namespaces of Colonies and Cells, and the already locked ones that still hold a cell pod. */
function colonyNamespaces(world: {
  pods: V1Pod[];
  cells: Cell[];
  colonies: Colony[];
  locked?: Iterable<string>;
}): Set<string> {
  const holders: Meta[] = [...world.colonies, ...world.cells].map((o) => o.metadata);
  const out = new Set(holders.map((m) => m?.namespace ?? ''));
  const locked = new Set(world.locked ?? []);
  for (const p of world.pods) {
    const ns = p.metadata?.namespace ?? '';
    if (locked.has(ns) && p.metadata?.labels?.[LABELS.cell] !== undefined) out.add(ns);
  }
  return out;
}

export function desiredLockdown(opts: LockdownOptions, targets: LockdownTargets): LockdownDesired[] {
  return [lockdownParams(targets.nodes, targets.pods, targets.namespaces), ...lockdownPolicies(opts)];
}

/** Creates or replaces one object; false when the informer lagged (409: compared again soon). */
async function restore(write: LockdownWriter, action: LockdownAction): Promise<boolean> {
  const lagged = (err: unknown): boolean => {
    if (!isConflict(err)) throw err;
    return false;
  };
  const missing = action.reason === 'Missing' || action.resourceVersion === undefined;
  const written = missing
    ? write.create(action.desired)
    : write.replace(action.desired, action.resourceVersion ?? '');
  return written.then(() => true, lagged);
}

/**
 * Plans, reports (the state change, synchronously; no event is awaited), then restores in order
 * (parameters, policies, bindings). A failed write throws
 * (backoff); a plan with actions requeues soon to confirm the restoration landed.
 */
export async function reconcileLockdown(deps: LockdownDeps): Promise<ReconcileResult> {
  const desired = desiredLockdown(deps.opts, deps.targets());
  const plan = planLockdown(desired, deps.observe(), ownParams(deps.memory));
  deps.report(plan, describePlan(plan));
  for (const action of plan.actions) {
    const wrote = await restore(deps.write, action);
    if (wrote && deps.memory && action.desired.kind === 'LockdownParameters')
      remember(deps.memory, action.desired.data ?? {});
  }
  if (deps.memory && plan.actions.length === 0) deps.memory.confirmedParams = paramsData(desired);
  return { requeueAfter: plan.actions.length === 0 ? LOCKDOWN_RESYNC_MS : 1_000 };
}

function paramsData(desired: LockdownDesired[]): Record<string, string> | undefined {
  const params = desired.find((d) => d.kind === 'LockdownParameters');
  return params?.kind === 'LockdownParameters' ? (params.data ?? {}) : undefined;
}

function remember(memory: LockdownMemory, data: Record<string, string>): void {
  memory.writtenParams = [...(memory.writtenParams ?? []), data].slice(-OWN_WRITES_KEPT);
}

/** The parameters' contents this operator wrote or confirmed: observed as such, they are ours. */
function ownParams(memory: LockdownMemory | undefined): Array<Record<string, string>> {
  if (!memory) return [];
  const confirmed = memory.confirmedParams ? [memory.confirmedParams] : [];
  return [...confirmed, ...(memory.writtenParams ?? [])];
}

/** The lock-down's writes on the one write client; a replaced object deleted meanwhile is recreated. */
export function lockdownWriter(client: Pick<WriteClient, 'create' | 'replace'>): LockdownWriter {
  return {
    create: (obj) => client.create(obj),
    replace: async (obj, resourceVersion) => {
      const body = { ...obj, metadata: { ...obj.metadata, resourceVersion } } as KubernetesObject;
      await client.replace(body).catch((err: unknown) => {
        // Deleted between observe and replace: recreate.
        if (statusCode(err) === 404) return client.create(obj);
        throw err;
      });
    },
  };
}
