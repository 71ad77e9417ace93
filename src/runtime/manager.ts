// The manager: runs a list of controller descriptors. It owns what every controller would otherwise
// wire for itself: one shared informer per resource (same path and selectors = same informer), the
// leader gate (one implementation, failing closed), the start order (informers start → caches sync →
// controllers start → the election starts), the resync of every controller's keys on gaining
// leadership, readiness (every informer synced) and shutdown (controllers, then the elector, which
// releases its lease, then the informers).
import type { Registry } from 'prom-client';
import type { Logger } from '../observability/logger.js';
import type { Clock } from './clock.js';
import {
  Controller,
  type EventSource,
  type KeyMapper,
  type Predicate,
  type Reconcile,
  type ReconcileResult,
} from './controller.js';
import type { BackoffOptions } from './workqueue.js';

/** What a controller reads: a cache of one resource that reports its changes. */
export interface Cache<T> extends EventSource<T> {
  get(namespace: string | undefined, name: string): T | undefined;
  list(namespace?: string): T[];
  /** Objects with an ownerReference to `uid` (the informer's owner index). */
  listByOwnerUid?(uid: string): T[];
}

/** A cache the manager starts, waits for and stops (an Informer, or a test double). */
export interface SharedInformer<T> extends Cache<T> {
  start(): void;
  stop(): Promise<void>;
  waitForSync(): Promise<void>;
  hasSynced(): boolean;
}

/**
 * What an informer keeps of each object (see informer.ts, `transform`): named, because two specs
 * that keep different fields must not share a cache.
 */
export interface CacheShape {
  name: string;
  keep(obj: object): object;
}

/**
 * One watched resource: a collection path, its selectors and what its cache keeps of each object.
 * Equal specs (path, selectors, shape name) share one informer.
 */
export interface ResourceSpec {
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
  shape?: CacheShape;
}

export type InformerFactory = (spec: ResourceSpec) => SharedInformer<object>;

/** Where a controller gets its informers (the manager's resource registry). */
export interface InformerSource {
  informer<T extends object>(spec: ResourceSpec): SharedInformer<T>;
}

/**
 * A watched informer, how its objects map to this controller's keys, and which modifications
 * matter to it (absent: every one). Additions and deletions always enqueue.
 */
export interface Source {
  readonly informer: EventSource<unknown>;
  readonly map: KeyMapper<unknown>;
  readonly changed?: Predicate<unknown>;
}

/**
 * Pairs an informer with its key mapper and, optionally, the predicate a modification must pass
 * to enqueue (the triple is typed here, erased in the Source list).
 */
export function source<T>(informer: EventSource<T>, map: KeyMapper<T>, changed?: Predicate<T>): Source {
  return { informer, map: map as KeyMapper<unknown>, changed: changed as Predicate<unknown> | undefined };
}

/** Everything the manager needs to run one controller. */
export interface ControllerDescriptor {
  name: string;
  sources: Source[];
  reconcile: Reconcile;
  /** The keys to enqueue on gaining leadership (everything this controller may have missed). */
  resyncKeys(): string[];
  /** Reconcile only while this replica leads (the manager's gate; otherwise a no-op). */
  needsLeader: boolean;
  /** Parallel reconciles (different keys); default 1. */
  concurrency?: number;
  /** Retry backoff of a failed reconcile; default the work queue's (5 ms doubling to 60 s). */
  backoff?: BackoffOptions;
}

/** A leader election the manager starts and stops: LeaderElector, or a test double. */
export interface Elector {
  start(): void;
  stop(): Promise<void>;
  /** Leading now; fails closed (false once the last renewal is too old). */
  isLeader(): boolean;
}

export interface LeadershipHooks {
  onStartedLeading(): void;
  onStoppedLeading(): void;
}

export interface ManagerOptions {
  logger: Logger;
  /** Builds the informer of a resource the first time a controller asks for it. */
  informers: InformerFactory;
  /** Builds the elector with the manager's hooks; absent = no election, this replica always leads. */
  elector?: (hooks: LeadershipHooks) => Elector;
  registry?: Registry;
  /** The controllers' work-queue clock (tests); default the system clock. */
  clock?: Clock;
  /** After the caches synced, before any controller starts. */
  onSynced?: () => void;
  /** On gaining the lease, before every controller's keys are re-enqueued. */
  onGainedLeadership?: () => void;
  /** On losing a lease this replica held (main exits: another replica may act now). */
  onLostLeadership?: () => void;
}

export function resourceKey(spec: ResourceSpec): string {
  const selectors = `labelSelector=${spec.labelSelector ?? ''}&fieldSelector=${spec.fieldSelector ?? ''}`;
  return `${spec.path}?${selectors}${spec.shape ? `&shape=${spec.shape.name}` : ''}`;
}

export class Manager implements InformerSource {
  private readonly shared = new Map<string, SharedInformer<object>>();
  private readonly controllers: Controller[] = [];
  private readonly descriptors = new Map<string, ControllerDescriptor>();
  private elector: Elector | undefined;
  private started = false;
  private leading = false;

  constructor(private readonly opts: ManagerOptions) {}

  /** The one informer of `spec`, made on first request. */
  informer<T extends object>(spec: ResourceSpec): SharedInformer<T> {
    const key = resourceKey(spec);
    let inf = this.shared.get(key);
    if (!inf) {
      if (this.started) throw new Error(`informer ${key} requested after the manager started`);
      inf = this.opts.informers(spec);
      this.shared.set(key, inf);
    }
    return inf as SharedInformer<T>;
  }

  /** Registers a controller; its sources start enqueueing when their informers report. */
  add(d: ControllerDescriptor): this {
    if (this.started) throw new Error(`controller ${d.name} added after the manager started`);
    if (this.descriptors.has(d.name)) throw new Error(`controller ${d.name} added twice`);
    const controller = new Controller({
      name: d.name,
      logger: this.opts.logger,
      registry: this.opts.registry,
      clock: this.opts.clock,
      concurrency: d.concurrency,
      backoff: d.backoff,
      reconcile: d.needsLeader ? this.gated(d.reconcile) : d.reconcile,
    });
    for (const s of d.sources) controller.watch(s.informer, s.map, s.changed);
    this.descriptors.set(d.name, d);
    this.controllers.push(controller);
    return this;
  }

  /**
   * The leader gate, failing closed: false before start; with an election, the elector's answer,
   * which expires with its renewal (a stalled replica resumes as no one); without one, true.
   */
  isLeading(): boolean {
    if (!this.started) return false;
    return this.elector ? this.elector.isLeader() : true;
  }

  /** Informers start → caches sync → controllers start → the election starts (or, without one, resync). */
  async start(): Promise<void> {
    if (this.started) return;
    const informers = [...this.shared.values()];
    informers.forEach((i) => i.start());
    await Promise.all(informers.map((i) => i.waitForSync()));
    this.opts.onSynced?.();
    this.elector = this.opts.elector?.({
      onStartedLeading: () => this.gained(),
      onStoppedLeading: () => this.lost(),
    });
    this.started = true;
    // Controllers run from the start; without the lease their gated reconciles do nothing. Gaining
    // the lease re-enqueues every controller's keys, so nothing that changed meanwhile is missed.
    this.controllers.forEach((c) => c.start());
    if (this.elector) this.elector.start();
    else this.resyncAll();
  }

  /** Enqueues the resync keys of one controller (e.g. every colony when the lock-down changes). */
  resync(name: string): void {
    const d = this.descriptors.get(name);
    const c = this.controllers.find((x) => x.name === name);
    if (!d || !c) throw new Error(`no controller ${name}`);
    for (const key of d.resyncKeys()) c.enqueue(key);
  }

  /** Resolves when no controller has a key queued or in flight (delayed keys do not count). For tests. */
  async idle(): Promise<void> {
    await Promise.all(this.controllers.map((c) => c.queue.idle()));
  }

  /** Every informer has listed (leader or standby: a standby must count as ready). */
  ready(): boolean {
    return [...this.shared.values()].every((i) => i.hasSynced());
  }

  /** Controllers stop (in-flight reconciles finish) → the elector stops and releases → informers stop. */
  async stop(): Promise<void> {
    await Promise.all(this.controllers.map((c) => c.stop()));
    await this.elector?.stop();
    await Promise.all([...this.shared.values()].map((i) => i.stop()));
  }

  private gated(reconcile: Reconcile): Reconcile {
    return async (req): Promise<ReconcileResult | void> => (this.isLeading() ? reconcile(req) : {});
  }

  private resyncAll(): void {
    for (const name of this.descriptors.keys()) this.resync(name);
  }

  private gained(): void {
    this.leading = true;
    this.opts.onGainedLeadership?.();
    this.resyncAll();
  }

  private lost(): void {
    const was = this.leading;
    this.leading = false;
    if (was) this.opts.onLostLeadership?.();
  }
}
