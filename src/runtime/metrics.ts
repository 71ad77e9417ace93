// Runtime metrics: prefixed celula_, labels limited to {controller} and {controller, result}.
import { Counter, Gauge, Histogram, register as defaultRegistry, type Registry } from 'prom-client';

export type ReconcileOutcome = 'success' | 'requeue' | 'error';

export interface RuntimeMetrics {
  reconciles: Counter<'controller' | 'result'>;
  duration: Histogram<'controller'>;
  depth: Gauge<'controller'>;
  events: Counter<'controller' | 'result'>;
}

const cache = new WeakMap<Registry, RuntimeMetrics>();

/** One set of metrics per registry (prom-client refuses to register a name twice). */
export function runtimeMetrics(registry: Registry = defaultRegistry): RuntimeMetrics {
  const hit = cache.get(registry);
  if (hit) return hit;
  const registers = [registry];
  const m: RuntimeMetrics = {
    reconciles: new Counter({
      name: 'celula_reconcile_total',
      help: 'Reconciles by controller and result (success, requeue, error).',
      labelNames: ['controller', 'result'],
      registers,
    }),
    duration: new Histogram({
      name: 'celula_reconcile_duration_seconds',
      help: 'Reconcile duration by controller.',
      labelNames: ['controller'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    depth: new Gauge({
      name: 'celula_workqueue_depth',
      help: 'Keys ready to be reconciled, by controller.',
      labelNames: ['controller'],
      registers,
    }),
    events: new Counter({
      name: 'celula_watch_events_total',
      help: "Changes reported to a controller's sources, by result: enqueued, or filtered (nothing it reads changed).",
      labelNames: ['controller', 'result'],
      registers,
    }),
  };
  cache.set(registry, m);
  return m;
}
