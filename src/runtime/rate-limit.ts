// A client-side token bucket with priorities, for the one write client: at most `burst` requests at
// once, refilled at `qps` per second. Requests that must wait are served highest priority first, and
// in arrival order within a priority; a low-priority request never delays a higher one that arrives
// after it (events wait behind status writes and restores). Generic: the caller names priorities.
import { systemClock, type Clock } from './clock.js';

/** 0 is served first. */
export type Priority = 0 | 1 | 2;
export const PRIORITY = { high: 0, normal: 1, low: 2 } as const;

export interface RateLimit {
  /** Sustained requests per second (> 0). */
  qps: number;
  /** Requests allowed at once after a quiet spell (>= 1). */
  burst: number;
}

/** Checks a rate limit's figures; a clear error names the bad one. */
export function validateRateLimit(limit: RateLimit): RateLimit {
  if (!Number.isFinite(limit.qps) || limit.qps <= 0)
    throw new Error(`write rate limit: qps must be a number above 0, got ${limit.qps}`);
  if (!Number.isInteger(limit.burst) || limit.burst < 1)
    throw new Error(`write rate limit: burst must be an integer of at least 1, got ${limit.burst}`);
  return limit;
}

export class PriorityTokenBucket {
  private tokens: number;
  private last: number;
  private readonly waiting: Array<Array<() => void>> = [[], [], []];
  /** A timer is set for the next token. */
  private armed = false;
  private readonly clock: Clock;
  private readonly limit: RateLimit;

  constructor(limit: RateLimit, clock: Clock = systemClock) {
    this.limit = validateRateLimit(limit);
    this.clock = clock;
    this.tokens = limit.burst;
    this.last = clock.now();
  }

  /** Resolves when a request of `priority` may be sent (at once while tokens remain). */
  acquire(priority: Priority): Promise<void> {
    this.refill();
    if (this.queued() === 0 && this.tokens >= 1) {
      this.tokens -= 1;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.waiting[priority]!.push(resolve);
      this.schedule();
    });
  }

  /** Requests waiting for a token. */
  queued(): number {
    return this.waiting.reduce((n, q) => n + q.length, 0);
  }

  private refill(): void {
    const now = this.clock.now();
    const earned = ((now - this.last) / 1000) * this.limit.qps;
    this.tokens = Math.min(this.limit.burst, this.tokens + earned);
    this.last = now;
  }

  private release(): void {
    this.armed = false;
    this.refill();
    for (;;) {
      const next = this.waiting.find((q) => q.length > 0);
      if (!next || this.tokens < 1) break;
      this.tokens -= 1;
      next.shift()!();
    }
    this.schedule();
  }

  /** One timer, for when the next token is earned, while anyone waits. */
  private schedule(): void {
    if (this.armed || this.queued() === 0) return;
    const ms = Math.max(0, ((1 - this.tokens) / this.limit.qps) * 1000);
    this.armed = true;
    this.clock.setTimeout(() => this.release(), Math.ceil(ms));
  }
}
