// A controller: a name, a reconcile(key) function, a keyed work queue and event sources that map
// changed objects to keys. Handlers only enqueue `namespace/name`; reconcile re-reads the world.
import type { Registry } from 'prom-client';
import type { Logger } from '../observability/logger.js';
import type { Clock } from './clock.js';
import { systemClock } from './clock.js';
import { objectKey, splitKey } from './kube.js';
import { describeError } from '../observability/errors.js';
import { runtimeMetrics, type ReconcileOutcome, type RuntimeMetrics } from './metrics.js';
import { WorkQueue, type BackoffOptions } from './workqueue.js';

export interface ReconcileResult {
  requeueAfter?: number;
}

export interface ReconcileRequest {
  key: string;
  namespace: string;
  name: string;
  /** Child logger bound to {controller, namespace, name}. */
  log: Logger;
}

/** Returns a result (requeueAfter > 0 schedules a re-check) or throws (retried with backoff). */
export type Reconcile = (req: ReconcileRequest) => Promise<ReconcileResult | void>;

/** Maps a changed object to the keys to reconcile (none, one or many). */
export type KeyMapper<T> = (obj: T) => string | string[] | undefined;

/** Anything with onChange: an Informer, or a test double. */
export interface EventSource<T> {
  onChange(handler: (obj: T) => void): void;
}

export interface ControllerOptions {
  name: string;
  reconcile: Reconcile;
  logger: Logger;
  concurrency?: number;
  backoff?: BackoffOptions;
  clock?: Clock;
  registry?: Registry;
}

interface Owned {
  metadata?: {
    namespace?: string;
    ownerReferences?: Array<{ apiVersion: string; kind: string; name: string; controller?: boolean }>;
  };
}

/** Enqueue the object itself. */
export const mapToSelf = (obj: { metadata?: { namespace?: string; name?: string } }): string =>
  objectKey(obj);

/**
 * Enqueue the object's controller owner of `kind` (and apiVersion group, if given), in the object's
 * namespace. Objects without such an owner map to nothing.
 */
export function mapToOwner(kind: string, apiVersion?: string): KeyMapper<Owned> {
  return (obj) => {
    const ref = obj.metadata?.ownerReferences?.find(
      (r) => r.controller === true && r.kind === kind && (!apiVersion || r.apiVersion === apiVersion),
    );
    if (!ref) return undefined;
    const ns = obj.metadata?.namespace;
    return ns ? `${ns}/${ref.name}` : ref.name;
  };
}

export class Controller {
  readonly name: string;
  readonly queue: WorkQueue;
  private readonly reconcileFn: Reconcile;
  private readonly log: Logger;
  private readonly metrics: RuntimeMetrics;
  private readonly clock: Clock;

  constructor(opts: ControllerOptions) {
    this.name = opts.name;
    this.reconcileFn = opts.reconcile;
    this.log = opts.logger.child({ controller: opts.name });
    this.metrics = runtimeMetrics(opts.registry);
    this.clock = opts.clock ?? systemClock;
    this.queue = new WorkQueue({
      concurrency: opts.concurrency,
      backoff: opts.backoff,
      clock: this.clock,
      onDepth: (d) => this.metrics.depth.set({ controller: this.name }, d),
    });
  }

  /** Enqueues the keys `map` returns for every change `source` reports. */
  watch<T>(source: EventSource<T>, map: KeyMapper<T>): this {
    source.onChange((obj) => {
      const keys = map(obj);
      for (const key of keys === undefined ? [] : Array.isArray(keys) ? keys : [keys]) {
        if (key) this.queue.add(key);
      }
    });
    return this;
  }

  enqueue(key: string): void {
    this.queue.add(key);
  }

  start(): void {
    this.queue.start(async (key) => {
      await this.process(key);
    });
    this.log.info('controller started');
  }

  /** Stops intake and waits for in-flight reconciles. */
  async stop(): Promise<void> {
    await this.queue.shutdown();
    this.log.info('controller stopped');
  }

  /** Runs one reconcile; never throws (errors become a rate-limited requeue). */
  async process(key: string): Promise<ReconcileOutcome> {
    const { namespace, name } = splitKey(key);
    const log = this.log.child({ namespace, name });
    const started = this.clock.now();
    let outcome: ReconcileOutcome;
    try {
      const result = await this.reconcileFn({ key, namespace, name, log });
      outcome = this.afterSuccess(key, result ?? {});
    } catch (err) {
      const delayMs = this.queue.addRateLimited(key);
      log.warn({ err: describeError(err), retryInMs: delayMs }, 'reconcile failed');
      outcome = 'error';
    }
    this.metrics.reconciles.inc({ controller: this.name, result: outcome });
    this.metrics.duration.observe({ controller: this.name }, (this.clock.now() - started) / 1000);
    return outcome;
  }

  private afterSuccess(key: string, result: ReconcileResult): ReconcileOutcome {
    this.queue.forget(key);
    if (result.requeueAfter !== undefined && result.requeueAfter > 0) {
      this.queue.addAfter(key, result.requeueAfter);
      return 'requeue';
    }
    return 'success';
  }
}
