// A cache-backed informer: list, then watch from the list's resourceVersion, for any collection
// path (core, apps, coordination, admissionregistration, custom resources; namespaced or
// cluster-wide) with an optional label/field selector.
//
// Why not client-node's makeInformer/ListWatch: in 2.0.1 it stops for good after any watch error
// other than 410 Gone or a client timeout (it calls the error handlers and returns; the caller must
// restart it), it has no "synced" signal, and it mixes deserialized list items (Dates) with raw watch
// objects (strings). This loop never stops until stop(): every failure (connection refused while the
// API server restarts, 5xx, 410 Gone, a list error) is logged and retried with capped backoff; 410
// (HTTP or in-stream ERROR event) drops the resourceVersion and relists. Objects in the cache are
// the raw wire JSON (timestamps are strings) — type T describes them loosely — less what the cache
// need not keep: metadata.managedFields always (server-side apply's bookkeeping, often the largest
// part of an object, read by no reconciler), and whatever the `transform` drops.
import {
  Watch,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
} from '@kubernetes/client-node';
import type { Logger } from '../observability/logger.js';
import { sleep, systemClock, type Clock } from './clock.js';
import { objectKey, RawClient } from './kube.js';
import { describeError, isGone, statusCode } from '../observability/errors.js';
import { backoffDelay } from './workqueue.js';
import type { Change, ChangeHandler } from './controller.js';

export type ListFn<T> = (
  query: Record<string, string | undefined>,
) => Promise<KubernetesListObject<T & KubernetesObject>>;

/** The subset of client-node's Watch the informer uses (injectable for tests). */
export interface WatchLike {
  watch(
    path: string,
    query: Record<string, string | number | boolean | undefined>,
    cb: (phase: string, obj: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController>;
}

export type Indexer<T> = (obj: T) => string[];

export interface InformerOptions<T> {
  /** Collection path, e.g. /api/v1/pods, /apis/celula.io/v1alpha1/namespaces/ns/colonies. */
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
  kubeConfig?: KubeConfig;
  /** Overrides for tests; default to a raw GET and client-node's Watch on kubeConfig. */
  list?: ListFn<T>;
  watch?: WatchLike;
  logger?: Logger;
  clock?: Clock;
  /** Reconnect backoff: base 250 ms doubling to a 5 s cap (recovery within ~5 s of the server's return). */
  backoff?: { baseMs: number; maxMs: number };
  /**
   * Each watch asks the server to end it after a random [min, max] seconds, and is abandoned if it
   * has not ended 30 s after that: a connection whose server vanished without a word (a black hole,
   * not a refusal) would otherwise look like a quiet resource forever. Default 60–120 s.
   */
  watchTimeoutS?: { min: number; max: number };
  /** Extra indexes for byIndex(name, value). `ownerUid` is always present. */
  indexers?: Record<string, Indexer<T>>;
  /**
   * What to keep of each listed or watched object before it is cached and reported (after
   * managedFields are dropped): the fields the readers never read need not cost memory.
   */
  transform?: (obj: T) => T;
}

export type { ChangeHandler };

interface Meta {
  metadata?: {
    namespace?: string;
    name?: string;
    uid?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    ownerReferences?: Array<{ uid: string }>;
  };
}

export const INFORMER_BACKOFF = { baseMs: 250, maxMs: 5_000 } as const;
export const WATCH_TIMEOUT_S = { min: 60, max: 120 } as const;
/** How long after its requested end a watch that has not ended is taken for a dead connection. */
export const WATCH_GRACE_MS = 30_000;

export const ownerUidIndexer = (obj: Meta): string[] =>
  (obj.metadata?.ownerReferences ?? []).map((r) => r.uid);

/** The object without metadata.managedFields (a shallow copy when it had them). */
export function withoutManagedFields<T extends object>(obj: T): T {
  const meta = (obj as { metadata?: Record<string, unknown> }).metadata;
  if (!meta || !('managedFields' in meta)) return obj;
  const rest = { ...meta };
  delete rest.managedFields;
  return { ...obj, metadata: rest };
}

export class Informer<T extends object> {
  private readonly items = new Map<string, T>();
  private readonly indexes = new Map<string, Map<string, Set<string>>>();
  private readonly indexers: Record<string, Indexer<T>>;
  private readonly handlers: Array<ChangeHandler<T>> = [];
  private readonly listFn: ListFn<T>;
  private readonly watcher: WatchLike;
  private readonly clock: Clock;
  private readonly backoff: { baseMs: number; maxMs: number };
  private readonly log: Logger | undefined;
  private resourceVersion = '';
  private synced = false;
  private syncWaiters: Array<() => void> = [];
  private stopped = true;
  private failures = 0;
  private abort: AbortController | undefined;
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;

  constructor(private readonly opts: InformerOptions<T>) {
    this.listFn = opts.list ?? defaultList<T>(opts);
    this.watcher = opts.watch ?? defaultWatch(opts);
    this.clock = opts.clock ?? systemClock;
    this.backoff = opts.backoff ?? INFORMER_BACKOFF;
    this.log = opts.logger?.child({ informer: opts.path });
    this.indexers = { ownerUid: ownerUidIndexer, ...opts.indexers };
  }

  /** Starts the list/watch loop in the background. Never rejects; errors are retried. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort?.abort();
    this.wake?.();
    await this.loop;
  }

  hasSynced(): boolean {
    return this.synced;
  }

  /** Resolves after the first successful list; rejects after timeoutMs if given. */
  waitForSync(timeoutMs?: number): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.syncWaiters.push(resolve);
      if (timeoutMs !== undefined) {
        this.clock.setTimeout(
          () => reject(new Error(`informer ${this.opts.path} not synced after ${timeoutMs} ms`)),
          timeoutMs,
        );
      }
    });
  }

  /** Handlers get only the object (the new one, or the last known one on delete): map it to keys. */
  onChange(handler: ChangeHandler<T>): void {
    this.handlers.push(handler);
  }

  get(namespace: string | undefined, name: string): T | undefined {
    return this.items.get(namespace ? `${namespace}/${name}` : name);
  }

  list(namespace?: string): T[] {
    const all = [...this.items.values()];
    return namespace ? all.filter((o) => (o as Meta).metadata?.namespace === namespace) : all;
  }

  /** Objects whose labels include every pair of `selector`, optionally in one namespace. */
  listByLabels(selector: Record<string, string>, namespace?: string): T[] {
    const pairs = Object.entries(selector);
    return this.list(namespace).filter((o) =>
      pairs.every(([k, v]) => (o as Meta).metadata?.labels?.[k] === v),
    );
  }

  /** Objects with an ownerReference to `uid`. */
  listByOwnerUid(uid: string): T[] {
    return this.byIndex('ownerUid', uid);
  }

  byIndex(index: string, value: string): T[] {
    const keys = this.indexes.get(index)?.get(value);
    if (!keys) return [];
    return [...keys].map((k) => this.items.get(k)).filter((o): o is T => o !== undefined);
  }

  /** The resourceVersion the next watch resumes from ('' = relist). For tests and debugging. */
  lastResourceVersion(): string {
    return this.resourceVersion;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const err = await this.cycle();
      if (this.stopped) break;
      await this.pause(err);
    }
  }

  /** One list (when needed) + one watch. Returns the error that ended it, or null for a clean end. */
  private async cycle(): Promise<unknown> {
    try {
      if (!this.resourceVersion) await this.relist();
      return await this.watchOnce();
    } catch (err) {
      return err;
    }
  }

  private async pause(err: unknown): Promise<void> {
    if (isGone(err)) this.resourceVersion = '';
    if (err === null || isTimeout(err)) return; // clean close or idle timeout: resume at once
    const delay = backoffDelay(this.failures++, this.backoff.baseMs, this.backoff.maxMs);
    this.log?.warn(
      { err: describeError(err), status: statusCode(err), delayMs: delay },
      'list/watch failed; retrying',
    );
    await new Promise<void>((resolve) => {
      this.wake = resolve;
      void sleep(this.clock, delay).then(resolve);
    });
    this.wake = undefined;
  }

  private async relist(): Promise<void> {
    const list = await this.listFn({
      labelSelector: this.opts.labelSelector,
      fieldSelector: this.opts.fieldSelector,
    });
    const fresh = new Map<string, T>();
    for (const obj of list.items ?? []) fresh.set(objectKey(obj), this.keep(obj));
    for (const [key, old] of this.items) {
      if (!fresh.has(key)) this.remove(key, old);
    }
    for (const obj of fresh.values()) this.upsert(obj);
    this.resourceVersion = list.metadata?.resourceVersion ?? '';
    this.failures = 0;
    this.markSynced();
    this.log?.debug({ count: fresh.size, resourceVersion: this.resourceVersion }, 'listed');
  }

  private watchOnce(): Promise<unknown> {
    const { min, max } = this.opts.watchTimeoutS ?? WATCH_TIMEOUT_S;
    const timeoutSeconds = min + Math.floor(Math.random() * (max - min + 1));
    return new Promise((resolve) => {
      const watchdog = this.clock.setTimeout(
        () => {
          this.log?.warn({ timeoutSeconds }, 'watch did not end when asked: abandoning the connection');
          this.abort?.abort();
          resolve(new Error(`watch ${this.opts.path} silent past its ${timeoutSeconds} s timeout`));
        },
        timeoutSeconds * 1000 + WATCH_GRACE_MS,
      );
      const query = {
        resourceVersion: this.resourceVersion,
        allowWatchBookmarks: true,
        timeoutSeconds,
        labelSelector: this.opts.labelSelector,
        fieldSelector: this.opts.fieldSelector,
      };
      const done = (err: unknown): void => {
        this.clock.clearTimeout(watchdog);
        resolve(err ?? null);
      };
      this.watcher
        .watch(this.opts.path, query, (phase, obj) => this.onEvent(phase, obj), done)
        .then((ac) => {
          this.abort = ac;
          if (this.stopped) ac.abort();
        })
        .catch(done);
    });
  }

  private onEvent(phase: string, raw: unknown): void {
    if (phase === 'ERROR') {
      // A v1.Status; 410 means our resourceVersion is too old: relist.
      if (isGone(raw)) this.resourceVersion = '';
      this.log?.info({ status: statusCode(raw) }, 'watch error event');
      this.abort?.abort();
      return;
    }
    const obj = this.keep(raw as T) as T & Meta;
    const rv = obj.metadata?.resourceVersion;
    if (phase === 'DELETED') this.remove(objectKey(obj), obj);
    else if (phase === 'ADDED' || phase === 'MODIFIED') this.upsert(obj);
    if (rv) this.resourceVersion = rv;
    this.failures = 0;
  }

  private upsert(obj: T): void {
    const key = objectKey(obj);
    const old = this.items.get(key);
    if (old && (old as Meta).metadata?.resourceVersion === (obj as Meta).metadata?.resourceVersion) return;
    if (old) this.unindex(key, old);
    this.items.set(key, obj);
    this.index(key, obj);
    this.notify(obj, old ? { type: 'modified', old } : { type: 'added' });
  }

  /** What the cache keeps of a listed or watched object. */
  private keep(raw: T): T {
    const lean = withoutManagedFields(raw);
    return this.opts.transform ? this.opts.transform(lean) : lean;
  }

  private remove(key: string, last: T): void {
    const old = this.items.get(key);
    if (!old) return;
    this.items.delete(key);
    this.unindex(key, old);
    this.notify(last, { type: 'deleted' });
  }

  private index(key: string, obj: T): void {
    for (const [name, fn] of Object.entries(this.indexers)) {
      const idx = this.indexes.get(name) ?? new Map<string, Set<string>>();
      this.indexes.set(name, idx);
      for (const v of fn(obj)) idx.set(v, (idx.get(v) ?? new Set()).add(key));
    }
  }

  private unindex(key: string, obj: T): void {
    for (const [name, fn] of Object.entries(this.indexers)) {
      const idx = this.indexes.get(name);
      for (const v of fn(obj)) {
        idx?.get(v)?.delete(key);
        if (idx?.get(v)?.size === 0) idx.delete(v);
      }
    }
  }

  private notify(obj: T, change: Change<T>): void {
    for (const h of this.handlers) {
      try {
        h(obj, change);
      } catch (err) {
        this.log?.error({ err: describeError(err) }, 'change handler threw');
      }
    }
  }

  private markSynced(): void {
    if (this.synced) return;
    this.synced = true;
    const waiters = this.syncWaiters;
    this.syncWaiters = [];
    for (const w of waiters) w();
  }
}

function isTimeout(err: unknown): boolean {
  return err instanceof Error && err.name === 'TimeoutError';
}

function requireKubeConfig(opts: { kubeConfig?: KubeConfig; path: string }): KubeConfig {
  if (!opts.kubeConfig) throw new Error(`informer ${opts.path}: kubeConfig or list/watch overrides required`);
  return opts.kubeConfig;
}

function defaultList<T>(opts: InformerOptions<T>): ListFn<T> {
  const client = RawClient.fromKubeConfig(requireKubeConfig(opts));
  return (query) => client.listPath<T & KubernetesObject>(opts.path, query);
}

function defaultWatch<T>(opts: InformerOptions<T>): WatchLike {
  return new Watch(requireKubeConfig(opts));
}
