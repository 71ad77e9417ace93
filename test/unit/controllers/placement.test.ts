// Placement: least loaded eligible node with room and a free spread slot; a message naming the
// constraints when nothing fits; the ledger of cells created but not yet cached.
import { describe, expect, it } from '@jest/globals';
import type { V1Node } from '@kubernetes/client-node';
import { parseQuantity } from '../../../src/api/quantity.js';
import type { Colony } from '../../../src/api/types.js';
import { planColony } from '../../../src/controllers/colony-plan.js';
import {
  ASSUMED_TTL_MS,
  cellRequest,
  explainShortfall,
  loadIndex,
  overrun,
  pickNode,
  PlacementLedger,
  type NodeLoad,
} from '../../../src/controllers/placement.js';
import { cell, colony, node, notReady } from '../../fixtures/objects.js';

const now = new Date('2026-01-01T00:00:00Z');

function sized(cpu: string, memory: string, pods: string): (n: V1Node) => void {
  return (n) => (n.status = { ...n.status, allocatable: { cpu, memory, pods } });
}
const zone =
  (z: string) =>
  (n: V1Node): void => {
    n.metadata!.labels = { ...n.metadata!.labels, 'topology.kubernetes.io/zone': z };
  };

const GI = 2 ** 30;
const load = (cells: number, cpu = cells * 0.5, memory = cells * 256 * 2 ** 20): NodeLoad => ({
  cells,
  cpu,
  memory,
});

describe('parseQuantity', () => {
  it.each<[string | number | undefined, number | undefined]>([
    ['500m', 0.5],
    ['16', 16],
    ['1.5', 1.5],
    ['256Mi', 256 * 2 ** 20],
    ['64Gi', 64 * GI],
    ['1G', 1e9],
    ['2k', 2000],
    ['1e3', 1000],
    ['110', 110],
    [110, 110],
    ['100n', 1e-7],
    ['', undefined],
    ['lots', undefined],
    ['12Qi', undefined],
    [undefined, undefined],
  ])('%p → %p', (text, value) => {
    const got = parseQuantity(text);
    if (value === undefined) expect(got).toBeUndefined();
    else expect(got).toBeCloseTo(value, 9);
  });
});

describe('cellRequest', () => {
  it('uses the colony resources, the pod builder defaults otherwise', () => {
    expect(cellRequest(colony())).toEqual({ cpu: 0.5, memory: 256 * 2 ** 20 });
    const big = colony((c) => (c.spec.resources = { cpu: '2', memory: '1Gi' }));
    expect(cellRequest(big)).toEqual({ cpu: 2, memory: GI });
  });
});

describe('pickNode', () => {
  const col = colony();
  const req = cellRequest(col);
  const pick = (nodes: V1Node[], index: Map<string, NodeLoad>, occupied: string[] = []): string | undefined =>
    pickNode(col, nodes, new Set(occupied), { index, req })?.metadata?.name;

  it('prefers the node with the fewest cells of all colonies, whatever its name', () => {
    const nodes = ['n1', 'n2', 'n3'].map((n) => node(n));
    expect(
      pick(
        nodes,
        new Map([
          ['n1', load(3)],
          ['n2', load(1)],
          ['n3', load(2)],
        ]),
      ),
    ).toBe('n2');
  });

  it('on equal cells, the most headroom; on equal headroom, the name (deterministic)', () => {
    const small = node('a-small', sized('2', '4Gi', '110'));
    const large = node('b-large', sized('16', '64Gi', '110'));
    expect(pick([small, large], new Map())).toBe('b-large');
    expect(pick([node('n2'), node('n1')], new Map())).toBe('n1');
  });

  it('skips a node whose spread value this colony already holds', () => {
    expect(pick([node('n1'), node('n2')], new Map(), ['n1'])).toBe('n2');
  });

  it.each<[string, (n: V1Node) => void, NodeLoad, string]>([
    ['pods', sized('16', '64Gi', '3'), load(3, 0, 0), 'pods'],
    ['cpu', sized('2', '64Gi', '110'), load(1, 1.75, 0), 'cpu'],
    ['memory', sized('16', '1Gi', '110'), load(1, 0, 900 * 2 ** 20), 'memory'],
  ])('respects allocatable %s: a full node is skipped even when emptier', (_r, size, full, resource) => {
    const n1 = node('n1', size);
    expect(overrun(n1, full, req)).toBe(resource);
    expect(
      pick(
        [n1, node('n2')],
        new Map([
          ['n1', full],
          ['n2', load(full.cells + 5, 0, 0)],
        ]),
      ),
    ).toBe('n2');
    expect(pick([n1], new Map([['n1', full]]))).toBeUndefined();
  });

  it('a node with no allocatable declared is not limited', () => {
    expect(overrun(node('n1'), load(500), req)).toBeUndefined();
  });
});

describe('planColony placement', () => {
  const zones = [node('a1', zone('a')), node('a2', zone('a')), node('b1', zone('b')), node('c1', zone('c'))];

  it('the genesis cell goes to the least loaded node, not the first by name', () => {
    const plan = planColony({
      colony: colony(),
      cells: [],
      nodes: ['n1', 'n2', 'n3'].map((n) => node(n)),
      lockdown: 'Intact',
      load: () =>
        new Map([
          ['n1', load(5)],
          ['n2', load(4)],
          ['n3', load(6)],
        ]),
      now,
    });
    expect(plan.create).toEqual([{ index: 0, node: 'n2', genesis: true }]);
    expect(plan.status.conditions?.find((c) => c.type === 'CellsPlaced')).toMatchObject({ status: 'True' });
  });

  it('spread by zone: one cell per zone, the least loaded node of a free zone', () => {
    const col = colony(
      (c) => (c.spec.placement = { spreadKey: 'topology.kubernetes.io/zone' }),
      (c) => (c.status = { publicKey: 'PK', fingerprint: 'FP', genesisCell: 'lottery-0' }),
    );
    const g = cell(col, 0, 'b1', 'Alive', true);
    g.status = { ...g.status, publicKey: 'PK' };
    const plan = planColony({
      colony: col,
      cells: [g],
      nodes: zones,
      lockdown: 'Intact',
      load: () =>
        new Map([
          ['a1', load(9)],
          ['a2', load(2)],
          ['b1', load(1)],
          ['c1', load(4)],
        ]),
      now,
    });
    expect(plan.create.map((p) => p.node)).toEqual(['a2', 'c1']);
  });

  it('counts each cell it places in the same plan: replicas spread over the emptiest nodes in turn', () => {
    const col = colony(
      (c) => (c.spec.replicas = 4),
      (c) => (c.status = { publicKey: 'PK', fingerprint: 'FP', genesisCell: 'lottery-0' }),
    );
    const g = cell(col, 0, 'n1', 'Alive', true);
    g.status = { ...g.status, publicKey: 'PK' };
    const plan = planColony({
      colony: col,
      cells: [g],
      nodes: ['n1', 'n2', 'n3', 'n4', 'n5'].map((n) => node(n)),
      lockdown: 'Intact',
      load: () => loadIndex([g], () => col),
      now,
    });
    expect(plan.create.map((p) => p.node)).toEqual(['n2', 'n3', 'n4']);
  });

  it('when nothing fits: CellsPlaced False and Ready InsufficientNodes, naming every constraint', () => {
    const nodes = [
      node('n1', sized('16', '64Gi', '2')),
      node('n2', sized('1', '64Gi', '110')),
      node('n3', notReady),
      node('n4', (n) => (n.spec = { unschedulable: true })),
    ];
    const plan = planColony({
      colony: colony(),
      cells: [],
      nodes,
      lockdown: 'Intact',
      silentNodes: 1,
      load: () =>
        new Map([
          ['n1', load(2, 0, 0)],
          ['n2', load(1, 0.75, 0)],
        ]),
      now,
    });
    expect(plan.create).toEqual([]);
    const placed = plan.status.conditions?.find((c) => c.type === 'CellsPlaced');
    expect(placed).toMatchObject({ status: 'False', reason: 'NoNodeFits' });
    expect(placed?.message).toBe(
      'no Ready node fits 1 more cell(s) (cpu 500m, memory 256Mi each); of 4 node(s): ' +
        '1 not Ready, 1 out of cpu, 1 out of pods, 1 unschedulable; 1 silent node(s) (stale Lease) not counted',
    );
    expect(plan.status.conditions?.find((c) => c.type === 'Ready')).toMatchObject({
      status: 'False',
      reason: 'InsufficientNodes',
      message: placed?.message,
    });
  });

  it('names the spread key when every eligible node already holds a cell of the colony', () => {
    const col = colony((c) => (c.spec.placement = { spreadKey: 'topology.kubernetes.io/zone' }));
    const msg = explainShortfall(col, zones, new Set(['a', 'b', 'c']), {
      index: new Map(),
      req: cellRequest(col),
      missing: 2,
    });
    expect(msg).toBe(
      'no Ready node fits 2 more cell(s) (cpu 500m, memory 256Mi each); of 4 node(s): ' +
        '4 spread slot taken (one cell per topology.kubernetes.io/zone value)',
    );
  });
});

describe('loadIndex', () => {
  it('counts living cells of every colony with their own resources; dead cells free their node', () => {
    const small = colony();
    const big = colony((c) => {
      c.metadata.name = 'vault';
      c.spec.resources = { cpu: '2', memory: '1Gi' };
    });
    const cells = [
      cell(small, 0, 'n1', 'Alive'),
      cell(small, 1, 'n2', 'Dead'),
      cell(big, 0, 'n1', 'Joining'),
      cell(big, 1, 'n2'),
    ];
    const byName: Record<string, Colony> = { lottery: small, vault: big };
    const index = loadIndex(cells, (c) => byName[c.spec.colony]);
    expect(index.get('n1')).toEqual({ cells: 2, cpu: 2.5, memory: 256 * 2 ** 20 + GI });
    expect(index.get('n2')).toEqual({ cells: 1, cpu: 2, memory: GI });
  });
});

describe('PlacementLedger', () => {
  const req = cellRequest(colony());

  it('counts a created cell until the cache shows it, then leaves it to the cache', () => {
    const ledger = new PlacementLedger();
    ledger.assume('ns/a-0', 'n1', req, now);
    const index = new Map<string, NodeLoad>();
    ledger.addPending(index, () => false, now);
    expect(index.get('n1')).toEqual(load(1));
    const again = new Map<string, NodeLoad>();
    ledger.addPending(again, (k) => k === 'ns/a-0', now);
    expect(again.size).toBe(0);
    expect(ledger.size).toBe(0);
  });

  it('forgets a cell whose creation failed, and one the cache never shows after the TTL', () => {
    const ledger = new PlacementLedger();
    ledger.assume('ns/a-0', 'n1', req, now);
    ledger.assume('ns/b-0', 'n2', req, now);
    ledger.forget('ns/a-0');
    const index = new Map<string, NodeLoad>();
    ledger.addPending(index, () => false, new Date(now.getTime() + ASSUMED_TTL_MS + 1));
    expect(index.size).toBe(0);
    expect(ledger.size).toBe(0);
  });
});
