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

/** What a source says happened to the object it reports (test doubles may say nothing). */
export interface Change<T> {
  type: 'added' | 'modified' | 'deleted';
  /** The object as it was before a modification. */
  old?: T;
}

export type ChangeHandler<T> = (obj: T, change?: Change<T>) => void;

/** Anything with onChange: an Informer, or a test double. */
export interface EventSource<T> {
  onChange(handler: ChangeHandler<T>): void;
}

/**
 * Whether a modification (old → new) changed something the reconciler reads. Only modifications
 * are filtered: an addition, a deletion or a change reported without its old object always counts.
 */
export type Predicate<T> = (old: T, obj: T) => boolean;

/**
 * A predicate from a projection: the modification counts when the projection of the new object
 * differs from the old one's (compared as JSON, so the projection must be plain data).
 */
export function projectionChanged<T>(project: (obj: T) => unknown): Predicate<T> {
  return (old, obj) => JSON.stringify(project(old)) !== JSON.stringify(project(obj));
}

/** Whether `change` passes `predicate` (see Predicate). */
export function passes<T>(obj: T, change: Change<T> | undefined, predicate?: Predicate<T>): boolean {
  if (!predicate || change?.type !== 'modified' || change.old === undefined) return true;
  return predicate(change.old, obj);
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

  /** Enqueues the keys `map` returns for every change `source` reports that passes `predicate`. */
  watch<T>(source: EventSource<T>, map: KeyMapper<T>, predicate?: Predicate<T>): this {
    source.onChange((obj, change) => {
      const relevant = passes(obj, change, predicate);
      this.metrics.events.inc({ controller: this.name, result: relevant ? 'enqueued' : 'filtered' });
      if (!relevant) return;
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
