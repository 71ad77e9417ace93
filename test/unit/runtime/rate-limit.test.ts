// The write client's token bucket: a burst at once, then `qps`; waiting requests go highest priority
// first and in arrival order within one; bad figures are refused with the figure named.
import { describe, expect, it } from '@jest/globals';
import { FakeClock } from '../../../src/runtime/clock.js';
import { PRIORITY, PriorityTokenBucket, validateRateLimit } from '../../../src/runtime/rate-limit.js';

/** Lets resolved acquisitions run their continuations. */
const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('PriorityTokenBucket', () => {
  it('lets a burst through at once, then one request per 1/qps seconds', async () => {
    const clock = new FakeClock(0);
    const bucket = new PriorityTokenBucket({ qps: 10, burst: 3 }, clock);
    const done: number[] = [];
    for (let i = 0; i < 6; i++) void bucket.acquire(PRIORITY.normal).then(() => done.push(i));
    await settle();
    expect(done).toEqual([0, 1, 2]);
    expect(bucket.queued()).toBe(3);
    clock.advance(100);
    await settle();
    expect(done).toEqual([0, 1, 2, 3]);
    clock.advance(200);
    await settle();
    expect(done).toEqual([0, 1, 2, 3, 4, 5]);
    expect(clock.pending()).toBe(0);
    // A quiet spell refills the burst, never beyond it.
    clock.advance(10_000);
    for (let i = 6; i < 10; i++) void bucket.acquire(PRIORITY.normal).then(() => done.push(i));
    await settle();
    expect(done).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('serves waiting requests by priority (status and restores before writes, events last), FIFO within one', async () => {
    const clock = new FakeClock(0);
    const bucket = new PriorityTokenBucket({ qps: 1, burst: 1 }, clock);
    const order: string[] = [];
    const take = (name: string, p: 0 | 1 | 2): void => void bucket.acquire(p).then(() => order.push(name));
    take('first', PRIORITY.normal);
    take('event-1', PRIORITY.low);
    take('apply-1', PRIORITY.normal);
    take('status-1', PRIORITY.high);
    take('event-2', PRIORITY.low);
    take('status-2', PRIORITY.high);
    take('apply-2', PRIORITY.normal);
    for (let i = 0; i < 7; i++) {
      await settle();
      clock.advance(1000);
    }
    await settle();
    expect(order).toEqual(['first', 'status-1', 'status-2', 'apply-1', 'apply-2', 'event-1', 'event-2']);
  });

  it('a request arriving while others wait queues behind them, even with a token earned meanwhile', async () => {
    const clock = new FakeClock(0);
    const bucket = new PriorityTokenBucket({ qps: 1, burst: 1 }, clock);
    const order: string[] = [];
    void bucket.acquire(PRIORITY.normal).then(() => order.push('a'));
    void bucket.acquire(PRIORITY.low).then(() => order.push('b'));
    await settle();
    void bucket.acquire(PRIORITY.low).then(() => order.push('c'));
    clock.advance(1000);
    await settle();
    clock.advance(1000);
    await settle();
    expect(order).toEqual(['a', 'b', 'c']);
  });

  it('refuses a limit that would never let anything through, naming the figure', () => {
    expect(() => validateRateLimit({ qps: 0, burst: 1 })).toThrow(/qps must be a number above 0, got 0/);
    expect(() => validateRateLimit({ qps: Number.NaN, burst: 1 })).toThrow(/qps/);
    expect(() => validateRateLimit({ qps: 5, burst: 0 })).toThrow(
      /burst must be an integer of at least 1, got 0/,
    );
    expect(() => new PriorityTokenBucket({ qps: 5, burst: 1.5 })).toThrow(/burst/);
  });
});
