// Runs the lock-down reconciler inside the operator: its informers, its single-key controller, and
// the report that turns a plan into the operator-wide lock-down state (read by the colony
// reconciler: no seeding while it is broken), a metric, and Warning events on every colony. It also
// watches every MutatingWebhookConfiguration and MutatingAdmissionPolicy: one that can change cell
// pods breaks the lock-down (lockdown-plan.ts, mutatorsOfCellPods) until it is gone.
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import { Counter, type Registry } from 'prom-client';
import type { Cell, Colony } from '../api/types.js';
import type { LockdownOptions } from '../builders/lockdown.js';
import type { Logger } from '../observability/logger.js';
import { describeError } from '../observability/errors.js';
import { source, type Cache, type ControllerDescriptor, type InformerSource } from '../runtime/manager.js';
import type { WriteClient } from '../runtime/write.js';
import {
  describeMutator,
  policiesTampered,
  type LockdownPlan,
  type MutatorFinding,
  type ObservedObject,
} from './lockdown-plan.js';
import { LOCKDOWN_KEY, lockdownTargets, lockdownWriter, reconcileLockdown } from './lockdown.js';
import { eventRef, type LockdownState, type Writer } from './context.js';
import { LOCKDOWN_RESOURCES } from './resources.js';

export interface LockdownDeps {
  /** The one write client (restores the policies); `write` is the same client for colony events. */
  client: WriteClient;
  logger: Logger;
  registry: Registry;
  opts: LockdownOptions;
  /** Shared caches (targets: hardened nodes and cells; colonies: where Warning events go). */
  nodes: Cache<V1Node>;
  cells: Cache<Cell>;
  colonies: Cache<Colony>;
  /** Where the lock-down's own informers come from (the manager's registry). */
  informers: InformerSource;
  write: Writer;
  /** Called when the state changes, so colonies are re-reconciled. */
  onChange: () => void;
}

export interface Lockdown {
  state(): LockdownState;
  /** Every break of the lock-down (intact → broken or mutated), however fast it was restored. */
  breaks: LockdownBreaks;
  controller: ControllerDescriptor;
}

function incidentCounter(registry: Registry): Counter {
  const name = 'celula_lockdown_incidents_total';
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Counter;
  return new Counter({
    name,
    help: 'Times the lock-down admission policies were found missing or altered.',
    registers: [registry],
  });
}

/** A Warning event on every colony; best effort (a terminating namespace must not stop the others). */
async function warnColonies(d: LockdownDeps, reason: string, message: string): Promise<void> {
  await Promise.all(
    d.colonies
      .list()
      .map((colony) =>
        d.write
          .event(eventRef(colony, 'Colony'), 'Warning', reason, message)
          .catch((err: unknown) =>
            d.logger.warn({ err: describeError(err), colony: colony.metadata.name }, 'event not recorded'),
          ),
      ),
  );
}

/**
 * Says once per mutator (kind/name) that it breaks the lock-down, also at start-up: it is not ours
 * to restore, someone must remove it. Forgets the ones that are gone, so a return is said again.
 */
function mutatorAnnouncer(d: LockdownDeps): (found: MutatorFinding[]) => Promise<void> {
  const said = new Set<string>();
  return async (found) => {
    const now = new Set(found.map((m) => `${m.kind}/${m.name}`));
    for (const key of [...said]) if (!now.has(key)) said.delete(key);
    for (const m of found.filter((f) => !said.has(`${f.kind}/${f.name}`))) {
      said.add(`${m.kind}/${m.name}`);
      d.logger.warn({ kind: m.kind, name: m.name, why: m.why }, 'mutating admission can change cell pods');
      const message = `${describeMutator(m)}: lock-down broken, no colony is seeded until it is removed or provably excludes cell pods`;
      await warnColonies(d, 'MutatingAdmission', message);
    }
  };
}

/**
 * Counts the lock-down's breaks so each colony can count its incidents without having to look at
 * the right moment: a restore takes about a second, less than a colony reconcile may wait. Each
 * colony takes the breaks since it last recorded them (in memory: after an operator restart nothing
 * older is counted again).
 */
export class LockdownBreaks {
  private total = 0;
  private readonly recorded = new Map<string, number>();

  add(): void {
    this.total += 1;
  }

  /** Breaks since the colony `uid` last recorded; `mark` is what to record once its status is written. */
  since(uid: string): { breaks: number; mark: number } {
    return { breaks: this.total - (this.recorded.get(uid) ?? 0), mark: this.total };
  }

  record(uid: string, mark: number): void {
    this.recorded.set(uid, mark);
  }
}

/** Reports a plan: the state, the metric, the events (see the header). */
function reporter(
  d: LockdownDeps,
  state: { now: LockdownState; breaks: LockdownBreaks },
): (plan: LockdownPlan, summary: string) => Promise<void> {
  const incidents = incidentCounter(d.registry);
  const announceMutators = mutatorAnnouncer(d);
  return async (plan, summary) => {
    await announceMutators(plan.mutators);
    const next: LockdownState = plan.intact ? 'Intact' : policiesTampered(plan) ? 'Broken' : 'Mutated';
    const wasIntact = state.now === 'Intact';
    if (next === state.now) return;
    state.now = next;
    if (wasIntact) state.breaks.add();
    d.onChange();
    if (next === 'Intact') {
      d.logger.info('lock-down intact');
      return;
    }
    d.logger.warn({ summary }, 'lock-down broken');
    // First look at start-up: installing, not an incident. A mutator alone was announced above.
    if (!wasIntact || !policiesTampered(plan)) return;
    incidents.inc();
    const message = `lock-down admission policies were removed or changed; restoring: ${summary}`;
    await warnColonies(d, 'LockdownTampered', message);
  };
}

/** The lock-down controller: one key; its own informers, nodes and cells wake it. */
export function lockdownController(d: LockdownDeps): Lockdown {
  const r = LOCKDOWN_RESOURCES;
  const own = {
    policies: d.informers.informer<ObservedObject>(r.policies()),
    bindings: d.informers.informer<ObservedObject>(r.bindings()),
    params: d.informers.informer<ObservedObject>(r.params()),
    mutatingWebhooks: d.informers.informer<ObservedObject>(r.mutatingWebhooks()),
    mutatingPolicies: d.informers.informer<ObservedObject>(r.mutatingPolicies()),
    pods: d.informers.informer<V1Pod>(r.boundPods()),
  };
  const writer = lockdownWriter(d.client);
  const state = { now: 'Unknown' as LockdownState, breaks: new LockdownBreaks() };
  // The parameters as last confirmed intact: our own updates of them are not incidents.
  const memory: { confirmedParams?: Record<string, string> } = {};
  const report = reporter(d, state);
  const key = (): string => LOCKDOWN_KEY;
  const controller: ControllerDescriptor = {
    name: 'lockdown',
    needsLeader: true,
    concurrency: 1,
    resyncKeys: () => [LOCKDOWN_KEY],
    reconcile: () =>
      reconcileLockdown({
        opts: d.opts,
        targets: () =>
          lockdownTargets({ nodes: d.nodes.list(), pods: own.pods.list(), cells: d.cells.list() }),
        observe: () => ({
          policies: own.policies.list(),
          bindings: own.bindings.list(),
          params: own.params.list()[0],
          mutatingWebhooks: own.mutatingWebhooks.list(),
          mutatingPolicies: own.mutatingPolicies.list(),
        }),
        write: writer,
        report,
        memory,
      }),
    sources: [...Object.values(own), d.nodes, d.cells].map((s) => source(s as Cache<object>, key)),
  };
  return { state: () => state.now, breaks: state.breaks, controller };
}
