// Runs the lock-down reconciler inside the operator: its informers, its single-key controller, and
// the report that turns a plan into the operator-wide lock-down state (read by the colony
// reconciler: no seeding while it is broken), a metric, and Warning events on every colony. It also
// watches every MutatingWebhookConfiguration and MutatingAdmissionPolicy: one that can change cell
// pods breaks the lock-down (lockdown-plan.ts, mutatorsOfCellPods) until it is gone.
import type { KubeConfig, V1Node, V1Pod } from '@kubernetes/client-node';
import { Counter, type Registry } from 'prom-client';
import { API_VERSION, LOCKDOWN_PARAMETERS_PLURAL, type Cell, type Colony } from '../api/types.js';
import { LOCKDOWN_PARAMS, type LockdownOptions } from '../builders/lockdown.js';
import type { Logger } from '../observability/logger.js';
import { Controller } from '../runtime/controller.js';
import { describeError } from '../runtime/kube.js';
import { Informer } from '../runtime/informer.js';
import {
  describeMutator,
  policiesTampered,
  type LockdownPlan,
  type MutatorFinding,
  type ObservedObject,
} from './lockdown-plan.js';
import { kubeLockdownWriter, LOCKDOWN_KEY, lockdownTargets, reconcileLockdown } from './lockdown.js';
import { eventRef, type LockdownState, type Writer } from './context.js';

export interface LockdownDeps {
  kubeConfig: KubeConfig;
  logger: Logger;
  registry: Registry;
  opts: LockdownOptions;
  nodes: Informer<V1Node>;
  cells: Informer<Cell>;
  colonies: Informer<Colony>;
  write: Writer;
  /** Reconcile only while this replica leads. */
  isLeading: () => boolean;
  /** Called when the state changes, so colonies are re-reconciled. */
  onChange: () => void;
}

export interface Lockdown {
  state(): LockdownState;
  informers: Array<Informer<object>>;
  controller: Controller;
}

const ADMISSION = '/apis/admissionregistration.k8s.io/v1';

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

export function startLockdown(d: LockdownDeps): Lockdown {
  const common = { kubeConfig: d.kubeConfig, logger: d.logger };
  // No label selector on policies and bindings: removing our label must not look like a deletion.
  const policies = new Informer<ObservedObject>({
    ...common,
    path: `${ADMISSION}/validatingadmissionpolicies`,
  });
  const bindings = new Informer<ObservedObject>({
    ...common,
    path: `${ADMISSION}/validatingadmissionpolicybindings`,
  });
  const params = new Informer<ObservedObject>({
    ...common,
    path: `/apis/${API_VERSION}/${LOCKDOWN_PARAMETERS_PLURAL}`,
    fieldSelector: `metadata.name=${LOCKDOWN_PARAMS}`,
  });
  // Every mutating admission object: which can reach cell pods is judged in lockdown-plan.ts.
  // MutatingAdmissionPolicy is admissionregistration.k8s.io/v1 (GA, on by default since 1.36).
  const mutatingWebhooks = new Informer<ObservedObject>({
    ...common,
    path: `${ADMISSION}/mutatingwebhookconfigurations`,
  });
  const mutatingPolicies = new Informer<ObservedObject>({
    ...common,
    path: `${ADMISSION}/mutatingadmissionpolicies`,
  });
  // Every pod bound to a node: pods already on a hardened node are locked too.
  const pods = new Informer<V1Pod>({ ...common, path: '/api/v1/pods', fieldSelector: 'spec.nodeName!=' });
  const incidents = incidentCounter(d.registry);
  const writer = kubeLockdownWriter(d.kubeConfig);
  let state: LockdownState = 'Unknown';
  // The parameters as last confirmed intact: our own updates of them are not incidents.
  const memory: { confirmedParams?: Record<string, string> } = {};

  const announceMutators = mutatorAnnouncer(d);

  const report = async (plan: LockdownPlan, summary: string): Promise<void> => {
    await announceMutators(plan.mutators);
    const next: LockdownState = plan.intact ? 'Intact' : policiesTampered(plan) ? 'Broken' : 'Mutated';
    const wasIntact = state === 'Intact';
    if (next === state) return;
    state = next;
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

  const controller = new Controller({
    name: 'lockdown',
    logger: d.logger,
    registry: d.registry,
    concurrency: 1,
    reconcile: async () => {
      if (!d.isLeading()) return {};
      return reconcileLockdown({
        opts: d.opts,
        targets: () => lockdownTargets({ nodes: d.nodes.list(), pods: pods.list(), cells: d.cells.list() }),
        observe: () => ({
          policies: policies.list(),
          bindings: bindings.list(),
          params: params.list()[0],
          mutatingWebhooks: mutatingWebhooks.list(),
          mutatingPolicies: mutatingPolicies.list(),
        }),
        write: writer,
        report,
        memory,
      });
    },
  });
  const key = (): string => LOCKDOWN_KEY;
  const own = [policies, bindings, params, mutatingWebhooks, mutatingPolicies, pods] as Array<
    Informer<object>
  >;
  for (const source of [...own, d.nodes, d.cells] as Array<Informer<object>>) controller.watch(source, key);
  return {
    state: () => state,
    informers: own,
    controller,
  };
}
