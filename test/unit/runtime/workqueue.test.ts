import { describe, expect, it } from '@jest/globals';
import { FakeClock } from '../../../src/runtime/clock.js';
import { backoffDelay, ExponentialBackoff, WorkQueue } from '../../../src/runtime/workqueue.js';

/** A worker whose calls the test resolves by hand. */
function manualWorker() {
  const calls: string[] = [];
  const pending = new Map<string, Array<(err?: Error) => void>>();
  let active = 0;
  let maxActive = 0;
  const perKeyActive = new Map<string, number>();
  let overlap = false;
  const worker = (key: string): Promise<void> => {
    calls.push(key);
    active++;
    maxActive = Math.max(maxActive, active);
    perKeyActive.set(key, (perKeyActive.get(key) ?? 0) + 1);
    if (perKeyActive.get(key)! > 1) overlap = true;
    return new Promise<void>((resolve, reject) => {
      const list = pending.get(key) ?? [];
      list.push((err) => {
        active--;
        perKeyActive.set(key, perKeyActive.get(key)! - 1);
        if (err) reject(err);
        else resolve();
      });
      pending.set(key, list);
    });
  };
  const finish = async (key: string, err?: Error) => {
    const fn = pending.get(key)?.shift();
    if (!fn) throw new Error(`${key} is not in flight`);
    fn(err);
    await flush();
  };
  return { worker, calls, finish, stats: () => ({ maxActive, overlap }) };
}

/** Lets queued work run: each item starts on a turn of the event loop of its own. */
const flush = async () => {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
};

describe('WorkQueue', () => {
  it('lets the event loop turn between items: a timer runs amid a long burst of synchronous work', async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    for (let i = 0; i < 200; i++) q.add(`ns/k${i}`);
    const order: string[] = [];
    // A reconcile that decides from caches and awaits nothing real (here: 2 ms of CPU each).
    q.start((k) => {
      const until = performance.now() + 2;
      while (performance.now() < until);
      order.push(k);
      return Promise.resolve();
    });
    const timer = new Promise<number>((r) => setTimeout(() => r(order.length), 0));
    const ranAfter = await timer;
    await q.idle();
    expect(order).toHaveLength(200);
    // The timer (a Lease renewal, a socket read) did not wait for the 200 items (≈ 400 ms) to finish.
    expect(ranAfter).toBeLessThan(10);
  });

  it('stores a key added many times while queued once', async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    q.add('ns/a');
    q.add('ns/a');
    q.add('ns/b');
    q.add('ns/a');
    expect(q.len()).toBe(2);
    const seen: string[] = [];
    q.start((k) => {
      seen.push(k);
      return Promise.resolve();
    });
    await q.idle();
    expect(seen).toEqual(['ns/a', 'ns/b']);
  });

  it('never processes one key concurrently; a re-add during processing runs once afterwards', async () => {
    const w = manualWorker();
    const q = new WorkQueue({ concurrency: 4, clock: new FakeClock() });
    q.start(w.worker);
    q.add('ns/a');
    await flush();
    q.add('ns/a');
    q.add('ns/a');
    q.add('ns/b');
    await flush();
    expect(w.calls).toEqual(['ns/a', 'ns/b']);
    await w.finish('ns/a');
    expect(w.calls).toEqual(['ns/a', 'ns/b', 'ns/a']);
    await w.finish('ns/a');
    await w.finish('ns/b');
    await q.idle();
    expect(w.calls).toHaveLength(3);
    expect(w.stats().overlap).toBe(false);
  });

  it('honours the concurrency limit across distinct keys', async () => {
    const w = manualWorker();
    const q = new WorkQueue({ concurrency: 2, clock: new FakeClock() });
    q.start(w.worker);
    for (const k of ['a', 'b', 'c', 'd']) q.add(k);
    await flush();
    expect(w.calls).toEqual(['a', 'b']);
    await w.finish('a');
    expect(w.calls).toEqual(['a', 'b', 'c']);
    await w.finish('b');
    await w.finish('c');
    await w.finish('d');
    expect(w.stats().maxActive).toBe(2);
  });

  it('addAfter delays a key and keeps the earliest pending time', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    const seen: string[] = [];
    q.start((k) => {
      seen.push(`${k}@${clock.now()}`);
      return Promise.resolve();
    });
    q.addAfter('a', 1000);
    q.addAfter('a', 5000); // later: ignored
    q.addAfter('b', 3000);
    q.addAfter('b', 2000); // earlier: wins
    expect(q.delayed()).toBe(2);
    clock.advance(999);
    await flush();
    expect(seen).toEqual([]);
    clock.advance(1);
    await flush();
    expect(seen).toEqual(['a@1000']);
    clock.advance(999);
    await flush();
    expect(seen).toEqual(['a@1000']);
    clock.advance(1);
    await flush();
    expect(seen).toEqual(['a@1000', 'b@2000']);
    clock.advance(5000);
    await flush();
    expect(seen).toEqual(['a@1000', 'b@2000']);
    expect(q.delayed()).toBe(0);
  });

  it('retries a throwing worker with capped exponential backoff and forget() resets it', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock, backoff: { baseMs: 10, maxMs: 100 } });
    const times: number[] = [];
    let fail = true;
    q.start(() => {
      times.push(clock.now());
      return fail ? Promise.reject(new Error('transient')) : Promise.resolve();
    });
    q.add('k');
    for (let ms = 0; ms < 600; ms++) {
      await flush();
      clock.advance(1);
    }
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    expect(gaps.slice(0, 6)).toEqual([10, 20, 40, 80, 100, 100]);
    expect(Math.max(...gaps)).toBe(100);
    expect(q.numRequeues('k')).toBeGreaterThan(4);
    q.forget('k');
    expect(q.numRequeues('k')).toBe(0);
    fail = false;
  });

  it('shutdown drops waiting work, refuses new keys and waits for in-flight work', async () => {
    const clock = new FakeClock();
    const w = manualWorker();
    const q = new WorkQueue({ clock });
    q.start(w.worker);
    q.add('a');
    q.add('b');
    q.addAfter('c', 100);
    await flush();
    let done = false;
    const stopping = q.shutdown().then(() => {
      done = true;
    });
    await flush();
    expect(done).toBe(false);
    expect(clock.pending()).toBe(0);
    q.add('d');
    await w.finish('a');
    await stopping;
    expect(done).toBe(true);
    expect(w.calls).toEqual(['a']);
    expect(q.isShuttingDown()).toBe(true);
  });
});

describe('backoff', () => {
  it.each([
    [0, 5],
    [1, 10],
    [10, 5120],
    [13, 40960],
    [14, 60_000],
    [1000, 60_000],
  ])('attempt %i waits %i ms with the defaults', (attempt, ms) => {
    expect(backoffDelay(attempt, 5, 60_000)).toBe(ms);
  });

  it('starts no item taken just before shutdown (it waited for its turn of the event loop)', async () => {
    const calls: string[] = [];
    const q = new WorkQueue({ clock: new FakeClock() });
    q.start((key) => {
      calls.push(key);
      return Promise.resolve();
    });
    q.add('a');
    await q.shutdown();
    await flush();
    expect(calls).toEqual([]);
  });

  it('counts failures per key', () => {
    const b = new ExponentialBackoff();
    expect([b.when('a'), b.when('a'), b.when('b')]).toEqual([5, 10, 5]);
    b.forget('a');
    expect(b.when('a')).toBe(5);
  });
});
