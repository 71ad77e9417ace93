// Runs the lock-down reconciler inside the operator: its informers, its single-key controller, and
// the report that turns a plan into the operator-wide lock-down state (read by the colony
// reconciler: no seeding while it is broken), a metric, and ONE Warning event per incident, on the
// lock-down parameters (cluster-scoped: the event is in `default`, where `kubectl describe
// lockdownparameters celula-lockdown` finds it), rate-limited, never one per colony. It also watches
// every MutatingWebhookConfiguration and MutatingAdmissionPolicy: one that can change cell pods
// breaks the lock-down (lockdown-plan.ts, mutatorsOfCellPods) until it is gone. And it tells the
// colony reconciler whether a namespace's key is in place yet (no cell before it is).
import type { V1Node, V1ObjectReference, V1Pod } from '@kubernetes/client-node';
import { Counter, type Registry } from 'prom-client';
import { API_VERSION, LockdownParametersKind, type Cell, type Colony } from '../api/types.js';
import { LOCKDOWN_PARAMS, namespaceKey, type LockdownOptions } from '../builders/lockdown.js';
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
import {
  LOCKDOWN_KEY,
  lockdownTargets,
  lockdownWriter,
  reconcileLockdown,
  reservedNamespace,
  type LockdownMemory,
} from './lockdown.js';
import type { LockdownState } from './context.js';
import { existenceOnly, lockdownNodeChanged, lockdownPodChanged } from './predicates.js';
import { LOCKDOWN_RESOURCES } from './resources.js';

/** At most one LockdownTampered event per this long; incidents in between are summed into the next. */
export const INCIDENT_EVENT_INTERVAL_MS = 60_000;

export interface LockdownDeps {
  /** The one write client: restores the policies, records the events. */
  client: Pick<WriteClient, 'create' | 'replace' | 'event'>;
  logger: Logger;
  registry: Registry;
  opts: LockdownOptions;
  /** Shared caches: hardened nodes; colonies, cells and cell pods (the colony namespaces). */
  nodes: Cache<V1Node>;
  cells: Cache<Cell>;
  colonies: Cache<Colony>;
  pods: Cache<V1Pod>;
  /** Where the lock-down's own informers come from (the manager's registry). */
  informers: InformerSource;
  /** Called when the state changes or a namespace key appears, so colonies are re-reconciled. */
  onChange: () => void;
  /** Event timestamps and the rate limit's clock; default: the system clock. */
  now?: () => Date;
  /** At most one LockdownTampered event per this long; default INCIDENT_EVENT_INTERVAL_MS. */
  eventIntervalMs?: number;
}

export interface Lockdown {
  state(): LockdownState;
  /** Every break of the lock-down (intact → broken or mutated), however fast it was restored. */
  breaks: LockdownBreaks;
  /**
   * Why a colony in `namespace` may not have cells yet (its key is not in the observed parameters;
   * a reserved namespace never gets one), or undefined when the namespace is locked.
   */
  namespaceWait(namespace: string): string | undefined;
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

/**
 * Rate limit for incident events: the first incident is said at once; later ones within `interval`
 * are held and summed into one event once the interval has passed (flush, called on every pass).
 */
export class IncidentEvents {
  private last = Number.NEGATIVE_INFINITY;
  private held = 0;
  private heldSummary = '';

  constructor(private readonly interval: number) {}

  /** An incident at `now` (ms): the message to record now, or undefined when held. */
  offer(now: number, summary: string): string | undefined {
    this.held += 1;
    this.heldSummary = summary;
    return this.flush(now);
  }

  /** The held incidents' message once the interval has passed since the last event; else undefined. */
  flush(now: number): string | undefined {
    if (this.held === 0 || now - this.last < this.interval) return undefined;
    const n = this.held;
    const summary = this.heldSummary;
    this.held = 0;
    this.last = now;
    const what =
      n === 1 ? 'lock-down admission policies were removed or changed' : `${n} lock-down incidents`;
    return `${what}; restored: ${summary}`;
  }
}

/**
 * One event about the lock-down parameters, fire-and-forget: events are the write client's lowest
 * priority, so a busy operator would hold the caller behind its own event (a restore waited a whole
 * minute under load). Never awaited; an event that cannot be recorded is logged.
 */
function recordEvent(d: LockdownDeps, uid: string | undefined, reason: string, message: string): void {
  const regarding: V1ObjectReference = {
    apiVersion: API_VERSION,
    kind: LockdownParametersKind,
    name: LOCKDOWN_PARAMS,
    ...(uid ? { uid } : {}),
  };
  void Promise.resolve()
    .then(() => d.client.event(regarding, 'Warning', reason, message))
    .catch((err: unknown) => d.logger.warn({ err: describeError(err), reason }, 'event not recorded'));
}

/**
 * Says once per mutator (kind/name) that it breaks the lock-down, also at start-up: it is not ours
 * to restore, someone must remove it. Forgets the ones that are gone, so a return is said again.
 */
function mutatorAnnouncer(d: LockdownDeps, uid: () => string | undefined): (found: MutatorFinding[]) => void {
  const said = new Set<string>();
  return (found) => {
    const now = new Set(found.map((m) => `${m.kind}/${m.name}`));
    for (const key of [...said]) if (!now.has(key)) said.delete(key);
    for (const m of found.filter((f) => !said.has(`${f.kind}/${f.name}`))) {
      said.add(`${m.kind}/${m.name}`);
      d.logger.warn({ kind: m.kind, name: m.name, why: m.why }, 'mutating admission can change cell pods');
      const message = `${describeMutator(m)}: lock-down broken, no colony is seeded until it is removed or provably excludes cell pods`;
      recordEvent(d, uid(), 'MutatingAdmission', message);
    }
  };
}

/**
 * Counts the lock-down's breaks so each colony can count its incidents without having to look at
 * the right moment: a restore takes about a second, less than a colony reconcile may wait. Each
 * colony takes the breaks since it last recorded them (in memory: after an operator restart nothing
 * older is counted again); a colony not seen yet takes only the breaks since it was created (a new
 * colony has had no incident; issue 12: colonies made after five incidents reported five).
 */
export class LockdownBreaks {
  /** When each break happened (ms), oldest first. Breaks are rare; the oldest go past MAX_KEPT. */
  private readonly times: number[] = [];
  private dropped = 0;
  private readonly recorded = new Map<string, number>();
  private static readonly MAX_KEPT = 1_000;

  add(at: number): void {
    this.times.push(at);
    if (this.times.length > LockdownBreaks.MAX_KEPT) {
      this.times.shift();
      this.dropped += 1;
    }
  }

  private get total(): number {
    return this.dropped + this.times.length;
  }

  /**
   * Breaks since the colony `uid` last recorded (or, first seen, since `createdMs`); `mark` is what
   * to record once its status is written.
   */
  since(uid: string, createdMs?: number): { breaks: number; mark: number } {
    const total = this.total;
    const last = this.recorded.get(uid);
    if (last !== undefined) return { breaks: total - last, mark: total };
    if (createdMs === undefined || Number.isNaN(createdMs)) return { breaks: total, mark: total };
    return { breaks: this.times.filter((t) => t >= createdMs).length, mark: total };
  }

  record(uid: string, mark: number): void {
    this.recorded.set(uid, mark);
  }
}

interface ReportState {
  now: LockdownState;
  breaks: LockdownBreaks;
  events: IncidentEvents;
}

/** Reports a plan: the state, the metric, the (rate-limited) event; see the header. */
function reporter(
  d: LockdownDeps,
  state: ReportState,
  uid: () => string | undefined,
): (plan: LockdownPlan, summary: string) => void {
  const incidents = incidentCounter(d.registry);
  const announceMutators = mutatorAnnouncer(d, uid);
  const clock = (): number => (d.now ?? ((): Date => new Date()))().getTime();
  const say = (message: string | undefined): void => {
    if (message !== undefined) recordEvent(d, uid(), 'LockdownTampered', message);
  };
  // Synchronous: the state and the incident count change before the restores, the events are sent
  // in the background (recordEvent), so no restore waits for one.
  return (plan, summary) => {
    announceMutators(plan.mutators);
    say(state.events.flush(clock()));
    const next: LockdownState = plan.intact ? 'Intact' : policiesTampered(plan) ? 'Broken' : 'Mutated';
    const wasIntact = state.now === 'Intact';
    if (next === state.now) return;
    state.now = next;
    if (wasIntact) state.breaks.add(clock());
    d.onChange();
    if (next === 'Intact') {
      d.logger.info('lock-down intact');
      return;
    }
    d.logger.warn({ summary }, 'lock-down broken');
    // First look at start-up: installing, not an incident. A mutator alone was announced above.
    if (!wasIntact || !policiesTampered(plan)) return;
    incidents.inc();
    say(state.events.offer(clock(), summary));
  };
}

/** The namespaces the observed parameters lock (`ns.<namespace>` keys). */
function lockedNamespaces(params: ObservedObject | undefined): Set<string> {
  const data = params?.data;
  if (data === null || typeof data !== 'object') return new Set();
  return new Set(
    Object.keys(data)
      .filter((k) => k.startsWith('ns.'))
      .map((k) => k.slice(3)),
  );
}

/** The colony reconciler's question: may this namespace have cells yet? */
export function namespaceWaiter(
  params: () => ObservedObject | undefined,
  operatorNamespace?: string,
): (namespace: string) => string | undefined {
  return (namespace) => {
    if (reservedNamespace(namespace, operatorNamespace))
      return `colonies are not run in ${namespace}: a colony namespace takes pods from the operator only, which would stop that namespace's own controllers`;
    const data = params()?.data;
    const has = data !== null && typeof data === 'object' && namespaceKey(namespace) in data;
    return has
      ? undefined
      : `waiting for the lock-down to cover namespace ${namespace} (${namespaceKey(namespace)})`;
  };
}

/** Calls `onChange` when the observed parameters lock a namespace they did not before. */
function namespaceWatch(onChange: () => void): (params: ObservedObject | undefined) => void {
  let known = new Set<string>();
  return (params) => {
    const now = lockedNamespaces(params);
    const grew = [...now].some((ns) => !known.has(ns));
    known = now;
    if (grew) onChange();
  };
}

/**
 * A restore that fails (403 while someone took the operator's permission, 5xx) is retried at most
 * 2 s apart, not the work queue's 60 s: one key, so this is at most one failed write every 2 s, and
 * the lock-down is back (and new colonies seed) within 2 s of the cause going away.
 */
export const LOCKDOWN_RETRY = { baseMs: 50, maxMs: 2_000 } as const;

/** The lock-down controller: one key; its own informers, nodes, colonies and cells wake it. */
export function lockdownController(d: LockdownDeps): Lockdown {
  const r = LOCKDOWN_RESOURCES;
  const own = {
    policies: d.informers.informer<ObservedObject>(r.policies()),
    bindings: d.informers.informer<ObservedObject>(r.bindings()),
    params: d.informers.informer<ObservedObject>(r.params()),
    mutatingWebhooks: d.informers.informer<ObservedObject>(r.mutatingWebhooks()),
    mutatingPolicies: d.informers.informer<ObservedObject>(r.mutatingPolicies()),
  };
  const boundPods = d.informers.informer<V1Pod>(r.boundPods());
  const params = (): ObservedObject | undefined => own.params.list()[0];
  const writer = lockdownWriter(d.client);
  const state: ReportState = {
    now: 'Unknown',
    breaks: new LockdownBreaks(),
    events: new IncidentEvents(d.eventIntervalMs ?? INCIDENT_EVENT_INTERVAL_MS),
  };
  // The parameters as last confirmed intact and last written: our own updates are not incidents.
  const memory: LockdownMemory = {};
  const report = reporter(d, state, () => params()?.metadata?.uid);
  const watchNamespaces = namespaceWatch(d.onChange);
  /** The colony namespaces of the last pass (lockdownTargets keeps them while cell pods remain). */
  let lastNamespaces: string[] = [];
  const key = (): string => LOCKDOWN_KEY;
  const controller: ControllerDescriptor = {
    name: 'lockdown',
    needsLeader: true,
    concurrency: 1,
    backoff: LOCKDOWN_RETRY,
    resyncKeys: () => [LOCKDOWN_KEY],
    reconcile: () => {
      watchNamespaces(params());
      return reconcileLockdown({
        opts: d.opts,
        targets: () => {
          const targets = lockdownTargets(
            {
              nodes: d.nodes.list(),
              pods: [...boundPods.list(), ...d.pods.list()],
              cells: d.cells.list(),
              colonies: d.colonies.list(),
              // Kept while cell pods remain: the keys in force and the ones this operator last wanted.
              locked: [...lockedNamespaces(params()), ...lastNamespaces],
            },
            d.opts.operatorNamespace,
          );
          lastNamespaces = targets.namespaces;
          return targets;
        },
        observe: () => ({
          policies: own.policies.list(),
          bindings: own.bindings.list(),
          params: params(),
          mutatingWebhooks: own.mutatingWebhooks.list(),
          mutatingPolicies: own.mutatingPolicies.list(),
        }),
        write: writer,
        report,
        memory,
      });
    },
    // Cell pods are also bound pods (boundPods): d.pods is read, not a separate wake-up. Nodes, pods,
    // Cells and Colonies wake it only on what its targets read (predicates.ts).
    sources: [
      // The lock-down's own objects: any change to one may be a tamper, so every change wakes it.
      ...Object.values(own).map((s) => source(s as Cache<object>, key)),
      source(boundPods, key, lockdownPodChanged),
      source(d.nodes, key, lockdownNodeChanged),
      source(d.cells, key, existenceOnly),
      source(d.colonies, key, existenceOnly),
    ],
  };
  return {
    state: () => state.now,
    breaks: state.breaks,
    namespaceWait: namespaceWaiter(params, d.opts.operatorNamespace),
    controller,
  };
}
