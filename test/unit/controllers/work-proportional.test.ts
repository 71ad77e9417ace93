// Work proportional to change, counted at the unit level: the colony and cell controllers' real
// sources (their key mappers, predicates and the node-liveness timers) fed the steady-state event
// stream of the issue-12 experiment — 200 colonies × 3 cells on 4 nodes, nothing changing — on a
// fake clock. Counted: keys each source enqueues. "Before" is the same stream through the same key
// mappers with no predicate and the raw Lease informer as the source (what every source did
// before); it leaves out the per-cell Lease re-check the cell reconciler used to schedule, so the
// real "before" was higher still.
import { describe, expect, it } from '@jest/globals';
import type { V1Lease, V1Node } from '@kubernetes/client-node';
import type { Cell, Colony } from '../../../src/api/types.js';
import { cellController } from '../../../src/controllers/cell.js';
import { colonyController } from '../../../src/controllers/colony.js';
import type { ControllerContext } from '../../../src/controllers/context.js';
import { FloorGuard, MASS_DISRUPTION_DEFAULTS } from '../../../src/controllers/guard.js';
import { nodeLiveness } from '../../../src/controllers/node-liveness.js';
import type { Caches } from '../../../src/controllers/resources.js';
import { FakeClock } from '../../../src/runtime/clock.js';
import { passes, type Change, type ChangeHandler } from '../../../src/runtime/controller.js';
import type { Cache, ControllerDescriptor } from '../../../src/runtime/manager.js';
import { cell, colony, lease, node } from '../../fixtures/objects.js';

type Obj = { metadata?: { namespace?: string; name?: string; ownerReferences?: Array<{ uid: string }> } };

/** A cache the test fills and whose changes it reports by hand. */
class FakeCache<T extends Obj> implements Cache<T> {
  readonly items = new Map<string, T>();
  private readonly handlers: Array<ChangeHandler<T>> = [];
  onChange(h: ChangeHandler<T>): void {
    this.handlers.push(h);
  }
  get(ns: string | undefined, name: string): T | undefined {
    return this.items.get(`${ns ?? ''}/${name}`);
  }
  list(): T[] {
    return [...this.items.values()];
  }
  listByOwnerUid(uid: string): T[] {
    return this.list().filter((o) => o.metadata?.ownerReferences?.some((r) => r.uid === uid));
  }
  /** Stores `obj` and reports it (added, or modified with the object it replaced). */
  put(obj: T): void {
    const key = `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
    const old = this.items.get(key);
    this.items.set(key, obj);
    const change: Change<T> = old ? { type: 'modified', old } : { type: 'added' };
    this.handlers.forEach((h) => h(obj, change));
  }
}

const COLONIES = 200;
const NODES = ['n0', 'n1', 'n2', 'n3'];
const LEASE_S = 40; // renewed every 10 s, stale after 30 s (three missed renewals)
const NODE_HEARTBEAT_S = 40; // assumed: a node status heartbeat (new lastHeartbeatTime) per node per 40 s
const STEADY_S = 300;

function world() {
  const clock = new FakeClock(Date.parse('2026-01-01T00:00:00Z'));
  const now = (): Date => new Date(clock.now());
  const c = {
    colonies: new FakeCache<Colony>(),
    cells: new FakeCache<Cell>(),
    pods: new FakeCache(),
    serviceAccounts: new FakeCache(),
    roleBindings: new FakeCache(),
    networkPolicies: new FakeCache(),
    disruptionBudgets: new FakeCache(),
    services: new FakeCache(),
    clusterRoleBindings: new FakeCache(),
    nodes: new FakeCache<V1Node>(),
    nodeLeases: new FakeCache<V1Lease>(),
  };
  const guard = new FloorGuard(MASS_DISRUPTION_DEFAULTS, new Date(clock.now() - 3_600_000));
  const liveness = nodeLiveness({ leases: c.nodeLeases, guard, clock });
  const deps = {
    ctx: { now } as unknown as ControllerContext,
    caches: c as unknown as Caches,
    nodeLiveness: liveness,
  };
  for (const n of NODES) {
    c.nodes.put(node(n));
    c.nodeLeases.put(lease(n, now(), 0, LEASE_S));
  }
  for (let i = 0; i < COLONIES; i++) {
    const col = colony((x) => {
      x.metadata = { ...x.metadata, name: `c${i}`, uid: `uid-${i}` };
    });
    c.colonies.put(col);
    for (let j = 0; j < 3; j++)
      c.cells.put(cell(col, j, NODES[(i + j) % NODES.length]!, 'Starting', j === 0));
  }
  return { clock, now, c, deps };
}

/**
 * Counts the keys a controller's sources enqueue: with its predicates, and as before (no predicate;
 * the cell controller watched the raw Leases, the colony controller no Lease at all).
 */
function count(d: ControllerDescriptor, raw: { leases?: Cache<V1Lease>; liveness: unknown }) {
  const n = { after: 0, before: 0 };
  const size = (k: string | string[] | undefined): number =>
    k === undefined ? 0 : Array.isArray(k) ? k.length : 1;
  for (const s of d.sources) {
    s.informer.onChange((obj, change) => {
      if (passes(obj, change, s.changed)) n.after += size(s.map(obj));
    });
    // Before: every change of the same informer, and every Lease change for the liveness source.
    const before = s.informer === raw.liveness ? raw.leases : s.informer;
    before?.onChange((obj) => (n.before += size(s.map(obj))));
  }
  return n;
}

describe('work proportional to change (200 colonies × 3 cells, 4 nodes, nothing changing)', () => {
  it('renewals and heartbeats enqueue nothing; a node that goes silent wakes its cells and the colonies once', () => {
    const w = world();
    const cells = count(cellController(w.deps), { leases: w.c.nodeLeases, liveness: w.deps.nodeLiveness });
    const colonies = count(colonyController(w.deps), { liveness: w.deps.nodeLiveness });
    for (let t = 1; t <= STEADY_S; t++) {
      w.clock.advance(1000);
      for (const n of NODES) {
        if (t % (LEASE_S / 4) === 0) w.c.nodeLeases.put(lease(n, w.now(), 0, LEASE_S));
        if (t % NODE_HEARTBEAT_S === 0) {
          const beat = node(n);
          beat.status!.conditions![0]!.lastHeartbeatTime = w.now();
          beat.metadata!.resourceVersion = String(t);
          w.c.nodes.put(beat);
        }
      }
    }
    const perS = (x: number): string => (x / STEADY_S).toFixed(1);
    console.log(
      `steady ${STEADY_S} s: cell keys enqueued/s before ${perS(cells.before)}, after ${perS(cells.after)}; ` +
        `colony keys/s before ${perS(colonies.before)}, after ${perS(colonies.after)}`,
    );
    expect(cells.after).toBe(0);
    expect(colonies.after).toBe(0);
    expect(cells.before).toBeGreaterThan(0);

    // n3 stops renewing: 30 s later (+0.1 s margin) its cells are woken once, and every colony once.
    const before = { cells: cells.after, colonies: colonies.after };
    for (let t = 1; t <= 60; t++) {
      w.clock.advance(1000);
      for (const n of NODES.slice(0, 3)) if (t % 10 === 0) w.c.nodeLeases.put(lease(n, w.now(), 0, LEASE_S));
    }
    const onN3 = w.c.cells.list().filter((x) => x.spec.node === 'n3').length;
    expect(cells.after - before.cells).toBe(onN3);
    expect(colonies.after - before.colonies).toBe(COLONIES);
  });
});
