// Runs the lock-down reconciler inside the operator: its informers, its single-key controller, and
// the report that turns a plan into the operator-wide lock-down state (read by the colony
// reconciler: no seeding while it is broken), a metric, and Warning events on every colony.
import type { KubeConfig, V1Node, V1Pod } from '@kubernetes/client-node';
import { Counter, type Registry } from 'prom-client';
import { API_VERSION, LOCKDOWN_PARAMETERS_PLURAL, type Cell, type Colony } from '../api/types.js';
import { LOCKDOWN_PARAMS, type LockdownOptions } from '../builders/lockdown.js';
import type { Logger } from '../observability/logger.js';
import { Controller } from '../runtime/controller.js';
import { describeError } from '../runtime/kube.js';
import { Informer } from '../runtime/informer.js';
import type { ObservedObject, LockdownPlan } from './lockdown-plan.js';
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
  // Every pod bound to a node: pods already on a hardened node are locked too.
  const pods = new Informer<V1Pod>({ ...common, path: '/api/v1/pods', fieldSelector: 'spec.nodeName!=' });
  const incidents = incidentCounter(d.registry);
  const writer = kubeLockdownWriter(d.kubeConfig);
  let state: LockdownState = 'Unknown';
  // The parameters as last confirmed intact: our own updates of them are not incidents.
  const memory: { confirmedParams?: Record<string, string> } = {};

  const report = async (plan: LockdownPlan, summary: string): Promise<void> => {
    const next: LockdownState = plan.intact ? 'Intact' : 'Broken';
    const wasIntact = state === 'Intact';
    if (next === state) return;
    state = next;
    d.onChange();
    if (next === 'Intact') {
      d.logger.info('lock-down intact');
      return;
    }
    d.logger.warn({ summary }, 'lock-down policies missing or altered; restoring');
    if (!wasIntact) return; // first look at start-up: installing, not an incident
    incidents.inc();
    // Events are best effort: one colony whose namespace is terminating must not stop the others'
    // events, nor the restoration that follows this report.
    const message = `lock-down admission policies were removed or changed; restoring: ${summary}`;
    await Promise.all(
      d.colonies
        .list()
        .map((colony) =>
          d.write
            .event(eventRef(colony, 'Colony'), 'Warning', 'LockdownTampered', message)
            .catch((err: unknown) =>
              d.logger.warn({ err: describeError(err), colony: colony.metadata.name }, 'event not recorded'),
            ),
        ),
    );
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
        observe: () => ({ policies: policies.list(), bindings: bindings.list(), params: params.list()[0] }),
        write: writer,
        report,
        memory,
      });
    },
  });
  const key = (): string => LOCKDOWN_KEY;
  for (const source of [policies, bindings, params, pods, d.nodes, d.cells] as Array<Informer<object>>)
    controller.watch(source, key);
  return {
    state: () => state,
    informers: [policies, bindings, params, pods] as Array<Informer<object>>,
    controller,
  };
}
