// Issue 12 acceptance 4, in the reconcile tier: genesis cells of many colonies spread across nodes
// (reconcileColony on an in-memory world), capacity respected, and "nothing fits" said in the
// colony's status and a Warning event.
import { describe, expect, it } from '@jest/globals';
import type { V1Node } from '@kubernetes/client-node';
import type { Cell, Colony } from '../../../src/api/types.js';
import type { Reader } from '../../../src/controllers/context.js';
import { reconcileColony } from '../../../src/controllers/colony.js';
import { colony, lease, node } from '../../fixtures/objects.js';
import { memoryContext, type MemoryContext } from '../../support/memory-context.js';

const T0 = new Date('2026-01-01T00:10:00Z');
const NODES = ['kwok-node-0', 'kwok-node-1', 'kwok-node-2', 'kwok-node-3'];

/** The demo's nodes: 110 pods, 16 CPU, 64 GiB each. */
const demoNode = (name: string): V1Node =>
  node(name, (n) => (n.status = { ...n.status, allocatable: { cpu: '16', memory: '64Gi', pods: '110' } }));

function world(colonies: number, cpu = '100m'): MemoryContext {
  const m = memoryContext({ now: T0 });
  for (const n of NODES) {
    m.world.nodes.put(demoNode(n));
    m.world.nodeLeases.put(lease(n, T0, 1));
  }
  for (let i = 0; i < colonies; i++) {
    m.world.colonies.put(
      colony((c) => {
        c.metadata.name = `c-${String(i).padStart(4, '0')}`;
        c.metadata.uid = `uid-c-${i}`;
        c.spec.resources = { cpu, memory: '64Mi' };
      }),
    );
  }
  return m;
}

async function reconcileAll(m: MemoryContext): Promise<void> {
  for (const c of m.world.colonies.list()) await reconcileColony(m.ctx, `ns/${c.metadata.name}`);
}

/** Genesis cells per node, in node order. */
function perNode(m: MemoryContext): Record<string, number> {
  const out: Record<string, number> = Object.fromEntries(NODES.map((n) => [n, 0]));
  for (const c of m.world.cells.list('ns'))
    if (c.spec.genesis) out[c.spec.node] = (out[c.spec.node] ?? 0) + 1;
  return out;
}

const condOf = (c: Colony, type: string) => c.status?.conditions?.find((x) => x.type === type);

describe('genesis cells of many colonies spread across nodes', () => {
  it('200 colonies on the demo’s 4 nodes: 50 genesis cells each, not 200 on the first', async () => {
    const m = world(200);
    await reconcileAll(m);
    expect(perNode(m)).toEqual({
      'kwok-node-0': 50,
      'kwok-node-1': 50,
      'kwok-node-2': 50,
      'kwok-node-3': 50,
    });
    expect(m.writer.of('event').filter((e) => e.reason === 'FailedPlacement')).toEqual([]);
  });

  it('the spread holds while the cache lags behind the operator’s own creations (the ledger)', async () => {
    const m = world(40);
    // A cell cache that never shows what the operator creates: only the ledger knows.
    const frozen: Reader<Cell> = { get: () => undefined, list: () => [] };
    const ctx = { ...m.ctx, cells: frozen };
    for (const c of m.world.colonies.list()) await reconcileColony(ctx, `ns/${c.metadata.name}`);
    expect(perNode(m)).toEqual({
      'kwok-node-0': 10,
      'kwok-node-1': 10,
      'kwok-node-2': 10,
      'kwok-node-3': 10,
    });
  });

  it('and while colonies are reconciled concurrently (the ledger counts a plan before its first write)', async () => {
    const m = world(40);
    const frozen: Reader<Cell> = { get: () => undefined, list: () => [] };
    const ctx = { ...m.ctx, cells: frozen };
    await Promise.all(m.world.colonies.list().map((c) => reconcileColony(ctx, `ns/${c.metadata.name}`)));
    expect(perNode(m)).toEqual({
      'kwok-node-0': 10,
      'kwok-node-1': 10,
      'kwok-node-2': 10,
      'kwok-node-3': 10,
    });
  });

  it('counts other colonies’ cells already on the nodes (load of all colonies, not only its own)', async () => {
    const m = world(12);
    const [first, ...rest] = m.world.colonies.list();
    // 8 cells of another namespace's colony land on nodes 0 and 1: newcomers go to 2 and 3 first.
    await reconcileColony(m.ctx, `ns/${first!.metadata.name}`);
    const busy = m.world.cells.list()[0]!;
    for (let i = 0; i < 8; i++)
      m.world.cells.put({
        ...busy,
        metadata: { ...busy.metadata, name: `other-${i}`, namespace: 'other', uid: `o-${i}` },
        spec: { ...busy.spec, colony: 'other', node: NODES[i % 2]! },
      });
    for (const c of rest) await reconcileColony(m.ctx, `ns/${c.metadata.name}`);
    // 12 genesis cells + 8 foreign cells = 5 per node: ours go to nodes 2 and 3 until they catch up.
    expect(perNode(m)).toEqual({ 'kwok-node-0': 1, 'kwok-node-1': 1, 'kwok-node-2': 5, 'kwok-node-3': 5 });
  });

  it('when the nodes are full, the rest say so: CellsPlaced False naming cpu, one Warning each, no cell', async () => {
    // 500m cells: 32 fit on a 16-CPU node, 128 on the four.
    const m = world(130, '500m');
    await reconcileAll(m);
    expect(perNode(m)).toEqual({
      'kwok-node-0': 32,
      'kwok-node-1': 32,
      'kwok-node-2': 32,
      'kwok-node-3': 32,
    });
    const unplaced = m.world.colonies.list().filter((c) => condOf(c, 'CellsPlaced')?.status === 'False');
    expect(unplaced.map((c) => c.metadata.name)).toEqual(['c-0128', 'c-0129']);
    const message =
      'no Ready node fits 1 more cell(s) (cpu 500m, memory 64Mi each); of 4 node(s): 4 out of cpu';
    for (const c of unplaced) {
      expect(condOf(c, 'CellsPlaced')).toMatchObject({ reason: 'NoNodeFits', message });
      expect(condOf(c, 'Ready')).toMatchObject({ status: 'False', reason: 'InsufficientNodes', message });
    }
    const warnings = m.writer.of('event').filter((e) => e.reason === 'FailedPlacement');
    expect(warnings.map((e) => `${e.name}: ${e.message}`)).toEqual([
      `c-0128: ${message}`,
      `c-0129: ${message}`,
    ]);
    // Reconciled again with nothing changed: no second Warning, no cell.
    m.writer.clear();
    await reconcileAll(m);
    expect(m.writer.writes.filter((w) => w.op === 'event' || w.op === 'apply')).toEqual([]);
  });
});
