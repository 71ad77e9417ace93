import { describe, expect, it } from '@jest/globals';
import { createLogger } from '../../../src/observability/logger.js';
import { FakeClock } from '../../../src/runtime/clock.js';
import { projectionChanged, type Change, type ReconcileRequest } from '../../../src/runtime/controller.js';
import {
  Manager,
  resourceKey,
  source,
  type ControllerDescriptor,
  type Elector,
  type LeadershipHooks,
  type ManagerOptions,
  type ResourceSpec,
  type SharedInformer,
} from '../../../src/runtime/manager.js';

const log = createLogger({ level: 'silent' });

interface Obj {
  metadata: { namespace?: string; name: string; labels?: Record<string, string> };
  status?: { heartbeat?: string };
}

/** An EventSource double with a hand-released sync; every lifecycle step goes to `events`. */
class FakeInformer implements SharedInformer<Obj> {
  private readonly handlers: Array<(o: Obj, change?: Change<Obj>) => void> = [];
  private synced = false;
  private release: (() => void) | undefined;
  private readonly syncedPromise: Promise<void>;
  items: Obj[] = [];

  constructor(
    readonly spec: ResourceSpec,
    private readonly events: string[],
  ) {
    this.syncedPromise = new Promise((resolve) => (this.release = resolve));
  }
  start() {
    this.events.push(`informer start ${this.spec.path}`);
  }
  stop() {
    this.events.push(`informer stop ${this.spec.path}`);
    return Promise.resolve();
  }
  sync() {
    this.synced = true;
    this.release?.();
  }
  waitForSync() {
    return this.syncedPromise;
  }
  hasSynced() {
    return this.synced;
  }
  onChange(h: (o: Obj, change?: Change<Obj>) => void) {
    this.handlers.push(h);
  }
  emit(o: Obj, change?: Change<Obj>) {
    this.handlers.forEach((h) => h(o, change));
  }
  get(_ns: string | undefined, name: string) {
    return this.items.find((o) => o.metadata.name === name);
  }
  list() {
    return this.items;
  }
}

/** A leader election double: the test decides when leadership is gained, held or lost. */
class FakeElector implements Elector {
  leader = false;
  hooks: LeadershipHooks | undefined;
  constructor(private readonly events: string[]) {}
  start() {
    this.events.push('elector start');
  }
  stop() {
    this.events.push('elector stop');
    return Promise.resolve();
  }
  isLeader() {
    return this.leader;
  }
  gain() {
    this.leader = true;
    this.hooks?.onStartedLeading();
  }
  lose() {
    this.leader = false;
    this.hooks?.onStoppedLeading();
  }
}

interface Rig {
  m: Manager;
  events: string[];
  made: FakeInformer[];
  elector?: FakeElector;
}

function rig(opts: { elect?: boolean } & Partial<ManagerOptions> = {}): Rig {
  const events: string[] = [];
  const made: FakeInformer[] = [];
  const elector = opts.elect ? new FakeElector(events) : undefined;
  const m = new Manager({
    logger: log,
    clock: new FakeClock(),
    informers: (spec) => {
      const inf = new FakeInformer(spec, events);
      made.push(inf);
      return inf;
    },
    elector: elector
      ? (hooks) => {
          events.push('elector made');
          elector.hooks = hooks;
          return elector;
        }
      : undefined,
    onSynced: () => events.push('synced'),
    ...opts,
  });
  return { m, events, made, elector };
}

const PODS: ResourceSpec = { path: '/api/v1/pods', labelSelector: 'a=b' };
const NODES: ResourceSpec = { path: '/api/v1/nodes' };
const obj = (name: string, namespace = 'ns'): Obj => ({ metadata: { namespace, name } });
const selfKey = (o: Obj) => `${o.metadata.namespace}/${o.metadata.name}`;

/** A descriptor recording the keys it reconciles. */
function recorder(
  name: string,
  sources: ControllerDescriptor['sources'],
  opts: { needsLeader?: boolean; resync?: string[]; events?: string[] } = {},
): ControllerDescriptor & { seen: string[] } {
  const seen: string[] = [];
  return {
    name,
    sources,
    needsLeader: opts.needsLeader ?? true,
    resyncKeys: () => opts.resync ?? [],
    reconcile: (req: ReconcileRequest) => {
      seen.push(req.key);
      opts.events?.push(`reconcile ${name} ${req.key}`);
      return Promise.resolve({});
    },
    seen,
  };
}

async function started(r: Rig): Promise<void> {
  const p = r.m.start();
  r.made.forEach((i) => i.sync());
  await p;
}

describe('Manager: shared informers', () => {
  it('makes one informer per resource spec and feeds every controller watching it', async () => {
    const r = rig();
    const podsA = r.m.informer<Obj>(PODS);
    const podsB = r.m.informer<Obj>({ ...PODS });
    const nodes = r.m.informer<Obj>(NODES);
    expect(podsA).toBe(podsB);
    expect(nodes).not.toBe(podsA);
    expect(r.made.map((i) => i.spec.path)).toEqual(['/api/v1/pods', '/api/v1/nodes']);

    const a = recorder('a', [source(podsA, selfKey)], { needsLeader: false });
    const b = recorder('b', [source(podsB, (o) => `b/${o.metadata.name}`)], { needsLeader: false });
    r.m.add(a).add(b);
    await started(r);
    (podsA as unknown as FakeInformer).emit(obj('p1'));
    await r.m.idle();
    expect(a.seen).toEqual(['ns/p1']);
    expect(b.seen).toEqual(['b/p1']);
  });

  it('keeps informers with different cache shapes apart, and equal shapes together', () => {
    const r = rig();
    const keep = (o: object): object => o;
    const lean = r.m.informer<Obj>({ ...PODS, shape: { name: 'lean', keep } });
    expect(r.m.informer<Obj>({ ...PODS, shape: { name: 'lean', keep } })).toBe(lean);
    expect(r.m.informer<Obj>(PODS)).not.toBe(lean);
    expect(resourceKey({ ...PODS, shape: { name: 'lean', keep } })).toContain('shape=lean');
  });

  it('enqueues a modification only when the source predicate says a read field changed', async () => {
    const r = rig();
    const pods = r.m.informer<Obj>(PODS) as unknown as FakeInformer;
    const labelsChanged = projectionChanged<Obj>((o) => o.metadata.labels);
    const filtered = recorder('filtered', [source(pods, selfKey, labelsChanged)], { needsLeader: false });
    const all = recorder('all', [source(pods, selfKey)], { needsLeader: false });
    r.m.add(filtered).add(all);
    await started(r);
    const was = { metadata: { namespace: 'ns', name: 'p', labels: { a: '1' } }, status: { heartbeat: 't1' } };
    const beat = { ...was, status: { heartbeat: 't2' } };
    const relabelled = { ...beat, metadata: { ...beat.metadata, labels: { a: '2' } } };
    pods.emit(beat, { type: 'modified', old: was });
    await r.m.idle();
    expect(filtered.seen).toEqual([]);
    expect(all.seen).toEqual(['ns/p']);
    pods.emit(relabelled, { type: 'modified', old: beat });
    await r.m.idle();
    expect(filtered.seen).toEqual(['ns/p']);
    // Additions and deletions always enqueue.
    pods.emit(relabelled, { type: 'deleted' });
    await r.m.idle();
    pods.emit(relabelled, { type: 'added' });
    await r.m.idle();
    expect(filtered.seen).toEqual(['ns/p', 'ns/p', 'ns/p']);
    // A source that does not say what happened (a test double, a timer) always enqueues.
    filtered.seen.length = 0;
    pods.emit(beat);
    await r.m.idle();
    expect(filtered.seen).toEqual(['ns/p']);
  });

  it('keeps informers with different selectors apart (they list different objects)', () => {
    const r = rig();
    const managed = r.m.informer<Obj>(PODS);
    const bound = r.m.informer<Obj>({ path: '/api/v1/pods', fieldSelector: 'spec.nodeName!=' });
    expect(managed).not.toBe(bound);
    expect(resourceKey(PODS)).not.toBe(resourceKey({ path: '/api/v1/pods' }));
    expect(r.made).toHaveLength(2);
  });

  it('refuses a controller name twice and informers or controllers after start', async () => {
    const r = rig();
    r.m.add(recorder('a', []));
    expect(() => r.m.add(recorder('a', []))).toThrow('controller a added twice');
    await started(r);
    expect(() => r.m.informer(NODES)).toThrow(/requested after the manager started/);
    expect(() => r.m.add(recorder('b', []))).toThrow('controller b added after the manager started');
  });
});

describe('Manager: start order and readiness', () => {
  it('starts informers, waits for every sync, then controllers, then the election', async () => {
    const r = rig({ elect: true });
    const pods = r.m.informer<Obj>(PODS);
    const nodes = r.m.informer<Obj>(NODES);
    const a = recorder('a', [source(pods, selfKey)], { needsLeader: false, events: r.events });
    r.m.add(a);
    const p = r.m.start();
    await Promise.resolve();
    expect(r.events).toEqual(['informer start /api/v1/pods', 'informer start /api/v1/nodes']);
    expect(r.m.ready()).toBe(false);

    (pods as unknown as FakeInformer).sync();
    (pods as unknown as FakeInformer).emit(obj('early'));
    await new Promise((res) => setImmediate(res));
    // One cache synced of two: nothing started, nothing reconciled, not ready.
    expect(r.events).not.toContain('synced');
    expect(a.seen).toEqual([]);
    expect(r.m.ready()).toBe(false);

    (nodes as unknown as FakeInformer).sync();
    await p;
    await r.m.idle();
    expect(r.m.ready()).toBe(true);
    expect(r.events).toEqual([
      'informer start /api/v1/pods',
      'informer start /api/v1/nodes',
      'synced',
      'elector made',
      // Controllers start before the election; the key queued while syncing runs on the next turn
      // of the event loop (every work item does: runtime/workqueue.ts), after the election started.
      'elector start',
      'reconcile a ns/early',
    ]);
  });

  it('stops controllers, then the elector (which releases), then the informers', async () => {
    const r = rig({ elect: true });
    r.m.informer(NODES);
    let inFlight = 0;
    const slow: ControllerDescriptor = {
      name: 'slow',
      sources: [],
      needsLeader: false,
      resyncKeys: () => ['k'],
      reconcile: async () => {
        inFlight++;
        await new Promise((res) => setImmediate(res));
        r.events.push('reconcile finished');
        return {};
      },
    };
    r.m.add(slow);
    await started(r);
    r.events.length = 0;
    r.m.resync('slow');
    await new Promise((res) => setImmediate(res)); // its turn came: in flight when stop() begins
    expect(inFlight).toBe(1);
    await r.m.stop();
    expect(inFlight).toBe(1);
    expect(r.events).toEqual(['reconcile finished', 'elector stop', 'informer stop /api/v1/nodes']);
  });
});

describe('Manager: the leader gate', () => {
  it('is closed before start, and without an election open once started', async () => {
    const r = rig();
    expect(r.m.isLeading()).toBe(false);
    await started(r);
    expect(r.m.isLeading()).toBe(true);
  });

  it('does not call a leader-only reconcile while the elector says no; others still run', async () => {
    const r = rig({ elect: true });
    const pods = r.m.informer<Obj>(PODS);
    const gated = recorder('gated', [source(pods, selfKey)]);
    const free = recorder('free', [source(pods, selfKey)], { needsLeader: false });
    r.m.add(gated).add(free);
    await started(r);
    (pods as unknown as FakeInformer).emit(obj('p'));
    await r.m.idle();
    expect(r.m.isLeading()).toBe(false);
    expect(gated.seen).toEqual([]);
    expect(free.seen).toEqual(['ns/p']);
  });

  it("fails closed: follows the elector's isLeader(), which expires with its renewal", async () => {
    const r = rig({ elect: true });
    const pods = r.m.informer<Obj>(PODS);
    const gated = recorder('gated', [source(pods, selfKey)]);
    r.m.add(gated);
    await started(r);
    r.elector!.gain();
    await r.m.idle();
    (pods as unknown as FakeInformer).emit(obj('while-leading'));
    await r.m.idle();
    expect(gated.seen).toEqual(['ns/while-leading']);
    // The renewal is overdue: the elector has not called onStoppedLeading yet, but isLeader() is false.
    r.elector!.leader = false;
    (pods as unknown as FakeInformer).emit(obj('stalled'));
    await r.m.idle();
    expect(r.m.isLeading()).toBe(false);
    expect(gated.seen).toEqual(['ns/while-leading']);
  });
});

describe('Manager: leadership transitions', () => {
  it("re-enqueues every controller's resync keys on gaining the lease, after the hook", async () => {
    const order: string[] = [];
    const r = rig({ elect: true, onGainedLeadership: () => order.push('gained hook') });
    const a = recorder('a', [], { resync: ['ns/a1', 'ns/a2'], events: order });
    const b = recorder('b', [], { resync: ['single'], events: order });
    r.m.add(a).add(b);
    await started(r);
    await r.m.idle();
    expect(a.seen).toEqual([]);
    r.elector!.gain();
    await r.m.idle();
    expect(a.seen).toEqual(['ns/a1', 'ns/a2']);
    expect(b.seen).toEqual(['single']);
    expect(order[0]).toBe('gained hook');
  });

  it('resyncs at start when there is no election', async () => {
    const r = rig();
    const a = recorder('a', [], { resync: ['ns/x'] });
    r.m.add(a);
    await started(r);
    await r.m.idle();
    expect(a.seen).toEqual(['ns/x']);
  });

  it('resync(name) enqueues that controller only, and names an unknown one', async () => {
    const r = rig();
    const a = recorder('a', [], { resync: ['ns/x'] });
    const b = recorder('b', [], { resync: ['ns/y'] });
    r.m.add(a).add(b);
    await started(r);
    await r.m.idle();
    r.m.resync('a');
    await r.m.idle();
    expect(a.seen).toEqual(['ns/x', 'ns/x']);
    expect(b.seen).toEqual(['ns/y']);
    expect(() => r.m.resync('nope')).toThrow('no controller nope');
  });

  it('calls onLostLeadership only when a held lease is lost', async () => {
    let lost = 0;
    const r = rig({ elect: true, onLostLeadership: () => lost++ });
    await started(r);
    r.elector!.lose();
    expect(lost).toBe(0);
    r.elector!.gain();
    r.elector!.lose();
    expect(lost).toBe(1);
  });
});
