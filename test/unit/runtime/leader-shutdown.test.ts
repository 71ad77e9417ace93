import { describe, expect, it } from '@jest/globals';
import { ApiException, type V1Lease } from '@kubernetes/client-node';
import { createLogger } from '../../../src/observability/logger.js';
import { FakeClock } from '../../../src/runtime/clock.js';
import {
  decideLease,
  LeaderElector,
  nextLeaseSpec,
  observe,
  type LeaseClient,
  type LeaseRecord,
} from '../../../src/runtime/leader.js';
import { GracefulShutdown } from '../../../src/runtime/shutdown.js';

const rec = (holder: string, renewTime = 't1'): LeaseRecord => ({
  holder,
  leaseDurationMs: 15_000,
  renewTime,
  transitions: 0,
});

describe('decideLease', () => {
  it.each([
    ['no lease', undefined, [0, 1000], 'acquire'],
    ['released lease', rec(''), [0, 1000], 'acquire'],
    ['ours', rec('me'), [0, 1000], 'renew'],
    ['theirs, fresh', rec('other'), [0, 14_999], 'wait'],
    ['theirs, expired', rec('other'), [0, 15_000], 'acquire'],
  ] as const)('%s', (_n, record, [observedAt, now], want) => {
    expect(decideLease({ record, observedAt }, 'me', now)).toBe(want);
  });

  it('judges expiry from when the record last changed locally, not from renewTime', () => {
    let obs = observe({ record: undefined, observedAt: 0 }, rec('other', 't1'), 1000);
    obs = observe(obs, rec('other', 't1'), 10_000); // unchanged: keeps observedAt
    expect(obs.observedAt).toBe(1000);
    expect(decideLease(obs, 'me', 16_000)).toBe('acquire');
    obs = observe(obs, rec('other', 't2'), 16_000); // renewed: clock restarts
    expect(decideLease(obs, 'me', 16_001)).toBe('wait');
  });

  it('nextLeaseSpec counts transitions only when a different holder is replaced', () => {
    const first = nextLeaseSpec(undefined, { identity: 'a', leaseDurationMs: 15_000, now: 0 });
    expect(first).toMatchObject({ holderIdentity: 'a', leaseDurationSeconds: 15, leaseTransitions: 0 });
    const renew = nextLeaseSpec(first, { identity: 'a', leaseDurationMs: 15_000, now: 5 });
    expect(renew.leaseTransitions).toBe(0);
    expect(renew.acquireTime).toBe(first.acquireTime);
    const takeover = nextLeaseSpec(renew, { identity: 'b', leaseDurationMs: 15_000, now: 9 });
    expect(takeover.leaseTransitions).toBe(1);
    expect(takeover.renewTime?.toISOString()).toMatch(/\.\d{6}Z$/); // MicroTime wire format
  });
});

/** An in-memory Lease store with resourceVersion checks, like the API server. */
function leaseStore() {
  let lease: V1Lease | undefined;
  let rv = 0;
  let down = false;
  const conflict = () => new ApiException(409, 'Conflict', {}, {});
  const client: LeaseClient = {
    get: () => (down ? Promise.reject(new Error('ECONNREFUSED')) : Promise.resolve(structuredClone(lease))),
    create: (_ns, body) => {
      if (down) return Promise.reject(new Error('ECONNREFUSED'));
      if (lease) return Promise.reject(conflict());
      lease = { ...body, metadata: { ...body.metadata, resourceVersion: String(++rv) } };
      return Promise.resolve(structuredClone(lease));
    },
    replace: (_ns, _name, body) => {
      if (down) return Promise.reject(new Error('ECONNREFUSED'));
      if (body.metadata?.resourceVersion !== lease?.metadata?.resourceVersion)
        return Promise.reject(conflict());
      lease = { ...body, metadata: { ...body.metadata, resourceVersion: String(++rv) } };
      return Promise.resolve(structuredClone(lease));
    },
  };
  return { client, holder: () => lease?.spec?.holderIdentity, setDown: (d: boolean) => (down = d) };
}

describe('LeaderElector', () => {
  const log = createLogger({ level: 'silent' });

  it('one of two candidates leads; the other takes over only after the lease expires', async () => {
    const clock = new FakeClock(1_000_000);
    const store = leaseStore();
    const events: string[] = [];
    const mk = (id: string) =>
      new LeaderElector({
        client: store.client,
        namespace: 'ns',
        name: 'celula',
        identity: id,
        clock,
        logger: log,
        onStartedLeading: () => events.push(`${id}+`),
        onStoppedLeading: () => events.push(`${id}-`),
      });
    const a = mk('a');
    const b = mk('b');
    expect(await a.tryAcquireOrRenew()).toBe(true);
    expect(await b.tryAcquireOrRenew()).toBe(false);
    clock.advance(14_000);
    expect(await b.tryAcquireOrRenew()).toBe(false);
    clock.advance(1_000);
    expect(await b.tryAcquireOrRenew()).toBe(true);
    expect(store.holder()).toBe('b');
    expect(await a.tryAcquireOrRenew()).toBe(false); // a sees b's fresh record
  });

  it('stops leading after the renew deadline when the API is unreachable, and releases on stop', async () => {
    const clock = new FakeClock(0);
    const store = leaseStore();
    const events: string[] = [];
    const el = new LeaderElector({
      client: store.client,
      namespace: 'ns',
      name: 'celula',
      identity: 'a',
      clock,
      logger: log,
      retryPeriodMs: 2_000,
      renewDeadlineMs: 10_000,
      onStartedLeading: () => events.push('start'),
      onStoppedLeading: () => events.push('stop'),
    });
    el.start();
    await flushFor(clock, 0);
    expect(el.isLeader()).toBe(true);
    store.setDown(true);
    await flushFor(clock, 8_000);
    expect(el.isLeader()).toBe(true);
    await flushFor(clock, 4_000);
    expect(el.isLeader()).toBe(false);
    expect(events).toEqual(['start', 'stop']);
    store.setDown(false);
    await flushFor(clock, 2_000);
    expect(el.isLeader()).toBe(true);
    const stopping = el.stop();
    await flushFor(clock, 2_000);
    await stopping;
    expect(store.holder()).toBeUndefined();
    expect(events).toEqual(['start', 'stop', 'start', 'stop']);
  });
});

describe('LeaderElector renewal', () => {
  const log = createLogger({ level: 'silent' });

  it('renews in one request (no read) while its last write stands; a takeover since is seen, not overwritten', async () => {
    const clock = new FakeClock(1_000_000);
    const store = leaseStore();
    const calls: string[] = [];
    const counted: LeaseClient = {
      get: (ns, n) => (calls.push('get'), store.client.get(ns, n)),
      create: (ns, l) => (calls.push('create'), store.client.create(ns, l)),
      replace: (ns, n, l) => (calls.push('replace'), store.client.replace(ns, n, l)),
    };
    const events: string[] = [];
    const a = new LeaderElector({
      client: counted,
      namespace: 'ns',
      name: 'celula',
      identity: 'a',
      clock,
      logger: log,
      onStartedLeading: () => events.push('a+'),
      onStoppedLeading: () => events.push('a-'),
    });
    a.start();
    await flushFor(clock, 0);
    expect(a.isLeader()).toBe(true);
    calls.length = 0;
    await flushFor(clock, 2_000);
    await flushFor(clock, 2_000);
    expect(calls).toEqual(['replace', 'replace']);
    // Another candidate writes the Lease (as after a takeover): the guarded replace fails, a read
    // follows, and a fresh record held by someone else is waited on, never overwritten.
    const lease = (await store.client.get('ns', 'celula'))!;
    await store.client.replace('ns', 'celula', { ...lease, spec: { ...lease.spec, holderIdentity: 'b' } });
    calls.length = 0;
    await flushFor(clock, 2_000);
    // The guarded replace fails, then the step reads; later steps only read (the record is no longer
    // ours) and wait: b's Lease is never replaced.
    expect(calls.slice(0, 2)).toEqual(['replace', 'get']);
    calls.length = 0;
    await flushFor(clock, 4_000);
    expect(calls.length).toBeGreaterThan(0);
    expect(calls.filter((c) => c !== 'get')).toEqual([]);
    expect(store.holder()).toBe('b');
    const stopping = a.stop();
    await flushFor(clock, 2_000);
    await stopping;
    expect(store.holder()).toBe('b');
  });
});

describe('LeaderElector fencing', () => {
  it('stops answering "leader" the moment its renewal is overdue, before its loop notices (a stall)', async () => {
    const clock = new FakeClock(0);
    const store = leaseStore();
    const events: string[] = [];
    const a = new LeaderElector({
      client: store.client,
      namespace: 'ns',
      name: 'celula',
      identity: 'a',
      clock,
      logger: createLogger({ level: 'silent' }),
      renewDeadlineMs: 10_000,
      onStartedLeading: () => events.push('a+'),
      onStoppedLeading: () => events.push('a-'),
    });
    a.start();
    await flushFor(clock, 0);
    expect(a.isLeader()).toBe(true);
    clock.advance(9_000); // frozen 9 s (no microtask runs, only time passes): still within the deadline
    expect(a.isLeader()).toBe(true);
    clock.advance(11_000); // frozen 20 s in all
    expect(a.isLeader()).toBe(false);
    expect(events).toEqual(['a+']); // its loop has not run: the answer alone fails closed
    // It resumes; with no one else on the lease its next step renews, and it leads again.
    await flushFor(clock, 2_000);
    expect(a.isLeader()).toBe(true);
    expect(events).toEqual(['a+']);
    const stopping = a.stop();
    await flushFor(clock, 2_000);
    await stopping;
  });
});

async function flushFor(clock: FakeClock, ms: number) {
  for (let t = 0; t <= ms; t += 500) {
    for (let i = 0; i < 10; i++) await Promise.resolve();
    clock.advance(500);
  }
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

describe('GracefulShutdown', () => {
  it('runs steps in order once on the first signal, skips failing steps and exits 0', async () => {
    const handlers = new Map<string, (s: NodeJS.Signals) => void>();
    const emitter = {
      once: (s: string, h: (s: NodeJS.Signals) => void) => handlers.set(s, h),
      removeListener: () => emitter,
    } as never;
    const order: string[] = [];
    const codes: number[] = [];
    const sd = new GracefulShutdown({
      logger: createLogger({ level: 'silent' }),
      emitter,
      exit: (c) => codes.push(c),
    })
      .add('informers', () => Promise.resolve(void order.push('informers')))
      .add('broken', () => Promise.reject(new Error('x')))
      .add('lease', () => Promise.resolve(void order.push('lease')))
      .install();
    handlers.get('SIGTERM')!('SIGTERM');
    await sd.run('again');
    await new Promise((r) => setImmediate(r));
    expect(order).toEqual(['informers', 'lease']);
    expect(codes).toEqual([0]);
  });
});
