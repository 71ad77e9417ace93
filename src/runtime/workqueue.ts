// A keyed, de-duplicating work queue (the shape of client-go's workqueue):
// - a key added while it waits is stored once;
// - a key is never processed by two workers at once: a key added while it is being processed is
//   marked dirty and queued again when that processing ends;
// - addAfter(key, ms) delays a key (the earliest pending delay wins);
// - addRateLimited(key) delays it by a per-key capped exponential backoff; forget(key) resets it;
// - shutdown() stops intake, drops what is waiting and resolves when in-flight work has finished.
//   Dropping is safe because reconcilers are level-triggered: the next leader relists everything.
import { systemClock, type Clock, type TimerHandle } from './clock.js';

/**
 * Per-key backoff: delay = min(baseMs * 2^failures, maxMs).
 * Defaults: 5 ms base, 60 s cap (reached after 14 consecutive failures). The cap is a minute, not
 * client-go's 1000 s, because recovery time after node loss is the figure Celula is judged on: a
 * colony whose reconcile failed for a while must still be retried at least once a minute.
 */
export interface BackoffOptions {
  baseMs?: number;
  maxMs?: number;
}

export const DEFAULT_BACKOFF = { baseMs: 5, maxMs: 60_000 } as const;

export class ExponentialBackoff {
  private readonly failures = new Map<string, number>();
  readonly baseMs: number;
  readonly maxMs: number;

  constructor(opts: BackoffOptions = {}) {
    this.baseMs = opts.baseMs ?? DEFAULT_BACKOFF.baseMs;
    this.maxMs = opts.maxMs ?? DEFAULT_BACKOFF.maxMs;
  }

  /** The delay for this key's next retry; counts one more failure. */
  when(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    return backoffDelay(n, this.baseMs, this.maxMs);
  }

  numRequeues(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  forget(key: string): void {
    this.failures.delete(key);
  }
}

/** min(base * 2^attempt, max), safe against overflow for large attempt counts. */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number): number {
  if (attempt >= 52) return maxMs;
  return Math.min(baseMs * 2 ** attempt, maxMs);
}

export type Worker = (key: string) => Promise<void>;

export interface WorkQueueOptions {
  /** Keys processed at the same time (distinct keys only). Default 1. */
  concurrency?: number;
  backoff?: BackoffOptions;
  clock?: Clock;
  /** Called whenever depth changes (for a gauge). */
  onDepth?: (depth: number) => void;
}

export class WorkQueue {
  private readonly queue = new Set<string>(); // insertion-ordered: FIFO
  private readonly processing = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly waiting = new Map<string, { at: number; handle: TimerHandle }>();
  private readonly limiter: ExponentialBackoff;
  private readonly clock: Clock;
  private readonly concurrency: number;
  private readonly onDepth: ((depth: number) => void) | undefined;
  private worker: Worker | undefined;
  private closed = false;
  private idleWaiters: Array<() => void> = [];

  constructor(opts: WorkQueueOptions = {}) {
    this.concurrency = Math.max(1, opts.concurrency ?? 1);
    this.limiter = new ExponentialBackoff(opts.backoff);
    this.clock = opts.clock ?? systemClock;
    this.onDepth = opts.onDepth;
  }

  /** Starts processing with `worker`. A worker that throws gets its key re-added rate-limited. */
  start(worker: Worker): void {
    this.worker = worker;
    this.pump();
  }

  add(key: string): void {
    if (this.closed) return;
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queue.has(key)) return;
    this.queue.add(key);
    this.onDepth?.(this.queue.size);
    this.pump();
  }

  /** Adds `key` after `ms`; if the key already waits for an earlier time, that time is kept. */
  addAfter(key: string, ms: number): void {
    if (this.closed) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const at = this.clock.now() + ms;
    const existing = this.waiting.get(key);
    if (existing && existing.at <= at) return;
    if (existing) this.clock.clearTimeout(existing.handle);
    const handle = this.clock.setTimeout(() => {
      this.waiting.delete(key);
      this.add(key);
    }, ms);
    this.waiting.set(key, { at, handle });
  }

  /** Adds `key` after its backoff delay and returns that delay. */
  addRateLimited(key: string): number {
    const delay = this.limiter.when(key);
    this.addAfter(key, delay);
    return delay;
  }

  /** Resets the key's backoff (call after a successful reconcile). */
  forget(key: string): void {
    this.limiter.forget(key);
  }

  numRequeues(key: string): number {
    return this.limiter.numRequeues(key);
  }

  /** Keys ready to be processed (excludes delayed and in-flight keys). */
  len(): number {
    return this.queue.size;
  }

  /** Keys waiting on addAfter/addRateLimited. */
  delayed(): number {
    return this.waiting.size;
  }

  isShuttingDown(): boolean {
    return this.closed;
  }

  /** Stops intake, drops queued and delayed keys, resolves when in-flight work is done. */
  async shutdown(): Promise<void> {
    this.closed = true;
    this.queue.clear();
    this.dirty.clear();
    for (const { handle } of this.waiting.values()) this.clock.clearTimeout(handle);
    this.waiting.clear();
    this.onDepth?.(0);
    if (this.processing.size === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  /** Resolves when nothing is queued or in flight (delayed keys do not count). For tests. */
  async idle(): Promise<void> {
    if (this.queue.size === 0 && this.processing.size === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private pump(): void {
    while (this.worker && !this.closed && this.processing.size < this.concurrency) {
      const key = this.queue.values().next().value;
      if (key === undefined) return;
      this.queue.delete(key);
      this.onDepth?.(this.queue.size);
      this.processing.add(key);
      void this.process(this.worker, key);
    }
  }

  private async process(worker: Worker, key: string): Promise<void> {
    try {
      // Each item starts in a macrotask of its own. A reconcile that decides from caches and writes
      // nothing never awaits real I/O, so without this a queue of such items drains in one chain of
      // microtasks and the event loop never turns: no socket is read, no timer runs — the leader
      // Lease is not renewed. Seen at 1,000 nodes: a 25-s burst of colony reconciles, leadership lost.
      await yieldToEventLoop();
      // Shut down during that turn: no reconcile starts after shutdown() (its writes would be fenced).
      if (this.closed) return;
      await worker(key);
    } catch {
      this.addRateLimited(key);
    } finally {
      this.processing.delete(key);
      if (this.dirty.delete(key)) this.add(key);
      this.pump();
      this.notifyIdle();
    }
  }

  private notifyIdle(): void {
    const idle = this.processing.size === 0 && (this.closed || this.queue.size === 0);
    if (!idle) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}

/** Resolves after the event loop has turned once (I/O callbacks and due timers run first). */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
