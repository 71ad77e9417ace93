// The lock-down reconciler (docs/lockdown.md): one key, level-triggered. Re-reads the world (desired
// from the builders and the locked targets; observed from the informers), restores what the plan
// says, and reports whether the lock-down was intact. The lead wires it: informers on
// validatingadmissionpolicies, validatingadmissionpolicybindings (no label selector: a removed
// label must not look like a deletion) and the LockdownParameters (field selector on its name),
// plus nodes and pods for the targets, all enqueue LOCKDOWN_KEY.
import type { KubernetesObject, V1Node, V1Pod } from '@kubernetes/client-node';
import { DEFAULT_OPERATOR_NAMESPACE, LABELS, type Cell } from '../api/types.js';
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

export interface LockdownDeps {
  opts: LockdownOptions;
  /** Hardened node names and the pods to lock (cells, and any other pod on a hardened node). */
  targets(): { nodes: string[]; pods: PodRef[] };
  observe(): ObservedLockdown;
  write: LockdownWriter;
  /** Called with every plan: the lead sets LockdownIntact on colonies, raises the Warning event, counts incidents. */
  report(plan: LockdownPlan, summary: string): Promise<void>;
  /**
   * Kept across passes by the caller: the parameters' data as last seen intact, so that the
   * operator's own update (a new cell's key) is Outdated, not a tamper (lockdown-plan.ts).
   */
  memory?: { confirmedParams?: Record<string, string> };
}

/**
 * What to lock, from the caches: hardened nodes (isHardenedLabelValue); every Cell's pod (a cell pod is
 * named after its Cell, so its key exists BEFORE the pod is created); any pod carrying the cell
 * label; and every other pod bound to a hardened node (pre-existing DaemonSet pods there).
 */
export function lockdownTargets(world: { nodes: V1Node[]; pods: V1Pod[]; cells: Cell[] }): {
  nodes: string[];
  pods: PodRef[];
} {
  const nodes = world.nodes
    .filter((n) => isHardenedLabelValue(n.metadata?.labels?.[LABELS.hardened]))
    .map((n) => n.metadata?.name ?? '')
    .filter((n) => n !== '');
  const hardened = new Set(nodes);
  const ref = (m: { namespace?: string; name?: string } | undefined): PodRef => ({
    namespace: m?.namespace ?? '',
    name: m?.name ?? '',
  });
  const pods = [
    ...world.cells.map((c) => ref(c.metadata)),
    ...world.pods
      .filter((p) => p.metadata?.labels?.[LABELS.cell] !== undefined || hardened.has(p.spec?.nodeName ?? ''))
      .map((p) => ref(p.metadata)),
  ].filter((p) => p.namespace !== '' && p.name !== '');
  return { nodes, pods };
}

export function desiredLockdown(
  opts: LockdownOptions,
  targets: { nodes: string[]; pods: PodRef[] },
): LockdownDesired[] {
  return [lockdownParams(targets.nodes, targets.pods), ...lockdownPolicies(opts)];
}

async function restore(write: LockdownWriter, action: LockdownAction): Promise<void> {
  // 409 AlreadyExists / Conflict: the informer lagged a create or an update; the next pass (soon:
  // the plan had actions) compares again.
  const lagged = (err: unknown): void => {
    if (!isConflict(err)) throw err;
  };
  if (action.reason === 'Missing' || action.resourceVersion === undefined) {
    await write.create(action.desired).catch(lagged);
    return;
  }
  await write.replace(action.desired, action.resourceVersion).catch(lagged);
}

/**
 * Plans, reports, then restores in order (parameters, policies, bindings). A failed write throws
 * (backoff); a plan with actions requeues soon to confirm the restoration landed.
 */
export async function reconcileLockdown(deps: LockdownDeps): Promise<ReconcileResult> {
  const desired = desiredLockdown(deps.opts, deps.targets());
  const plan = planLockdown(desired, deps.observe(), deps.memory?.confirmedParams);
  await deps.report(plan, describePlan(plan));
  for (const action of plan.actions) await restore(deps.write, action);
  if (deps.memory && plan.actions.length === 0) deps.memory.confirmedParams = paramsData(desired);
  return { requeueAfter: plan.actions.length === 0 ? LOCKDOWN_RESYNC_MS : 1_000 };
}

function paramsData(desired: LockdownDesired[]): Record<string, string> | undefined {
  const params = desired.find((d) => d.kind === 'LockdownParameters');
  return params?.kind === 'LockdownParameters' ? (params.data ?? {}) : undefined;
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
