// reconcileColony on an in-memory world, voluntary disruption (docs/floor.md "Voluntary disruption"):
// the colony's PodDisruptionBudget, and cells on leaving nodes (cordoned, draining, MaintenancePlanned)
// replaced first and retired first, never below spec.replicas heard holders.
import { describe, expect, it } from '@jest/globals';
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import type { Cell, CellPhase, CellStatus, Colony } from '../../../src/api/types.js';
import { controllerRef } from '../../../src/builders/owner.js';
import { reconcileCell } from '../../../src/controllers/cell.js';
import { reconcileColony } from '../../../src/controllers/colony.js';
import { MAINTENANCE_CONDITION } from '../../../src/controllers/nodes.js';
import { cell, colony, COLONY_KEY, holderIdentity, lease, node, pod, ready } from '../../fixtures/objects.js';
import {
  createdCells as created,
  memoryContext,
  retiredCells as retired,
  type MemoryContext,
} from '../../support/memory-context.js';

const T0 = new Date('2026-01-01T00:10:00Z');
const KEY = COLONY_KEY;
const NODES = ['n1', 'n2', 'n3', 'n4', 'n5'];

type NodeMod = (n: V1Node) => void;
const cordoned: NodeMod = (n) => (n.spec = { ...n.spec, unschedulable: true });
const maintenance: NodeMod = (n) =>
  n.status!.conditions!.push({ type: MAINTENANCE_CONDITION, status: 'True', reason: 'HostReboot' });
const zone =
  (z: string): NodeMod =>
  (n) =>
    (n.metadata!.labels = { ...n.metadata!.labels, 'topology.kubernetes.io/zone': z });

interface Built extends MemoryContext {
  col: () => Colony;
  cond: (type: string) => { status: string; reason: string; message: string } | undefined;
}

function status(c: Cell, phase: CellPhase): CellStatus {
  if (phase === 'Joining') return { phase, podUID: `pod-uid-${c.metadata.name}` };
  return {
    phase,
    ...holderIdentity(c),
    pod: c.metadata.name,
    podUID: `pod-uid-${c.metadata.name}`,
    node: c.spec.node,
    aliveAt: '2026-01-01T00:00:02.000Z',
    ...(phase === 'Unreachable' ? { unreachableSince: T0.toISOString() } : {}),
  };
}

const ownedPod = (c: Cell): V1Pod => pod(c, ready, (p) => (p.metadata!.ownerReferences = [controllerRef(c)]));

interface Setup {
  /** One cell per entry, on n1, n2, … (or on `on[i]`). */
  phases: CellPhase[];
  on?: string[];
  nodeMods?: Record<string, NodeMod[]>;
  leaseAge?: Record<string, number>;
  colonyMods?: Array<(c: Colony) => void>;
  nodes?: string[];
}

/** A seeded colony (replicas 3, floor 2 unless changed). */
function build(s: Setup): Built {
  const m = memoryContext({ now: T0 });
  const col = colony(
    (c) => (c.status = { publicKey: KEY, fingerprint: 'FP', genesisCell: 'lottery-0' }),
    ...(s.colonyMods ?? []),
  );
  m.world.colonies.put(col);
  s.phases.forEach((phase, i) => {
    const c = cell(col, i, s.on?.[i] ?? NODES[i]!, undefined, i === 0);
    c.status = status(c, phase);
    m.world.cells.put(c);
    if (phase !== 'Dead') m.world.pods.put(ownedPod(c));
  });
  for (const n of s.nodes ?? NODES) {
    m.world.nodes.put(node(n, ...(s.nodeMods?.[n] ?? [])));
    m.world.nodeLeases.put(lease(n, T0, s.leaseAge?.[n] ?? 1));
  }
  const current = (): Colony => m.world.colonies.get('ns', 'lottery')!;
  const cond = (type: string): { status: string; reason: string; message: string } | undefined =>
    current().status?.conditions?.find((c) => c.type === type);
  return { ...m, col: current, cond };
}

describe("reconcileColony: the colony's PodDisruptionBudget", () => {
  it('applies it with minAvailable = spec.replicas, once, and again when replicas change', async () => {
    const b = build({ phases: ['Alive', 'Alive', 'Alive'] });
    await reconcileColony(b.ctx, 'ns/lottery');
    const pdbs = (): string[] =>
      b.writer
        .of('apply')
        .filter((a) => a.kind === 'PodDisruptionBudget')
        .map((a) => a.name);
    expect(pdbs()).toEqual(['lottery-cells']);
    expect(b.world.disruptionBudgets.get('ns', 'lottery-cells')?.spec?.minAvailable).toBe(3);
    b.writer.clear();
    await reconcileColony(b.ctx, 'ns/lottery');
    expect(pdbs()).toEqual([]);
    b.world.colonies.put({ ...b.col(), spec: { ...b.col().spec, replicas: 5 } });
    await reconcileColony(b.ctx, 'ns/lottery');
    expect(pdbs()).toEqual(['lottery-cells']);
    expect(b.world.disruptionBudgets.get('ns', 'lottery-cells')?.spec?.minAvailable).toBe(5);
  });
});

interface Row {
  name: string;
  setup: Setup;
  create: string[];
  retire: string[];
}

const rows: Row[] = [
  {
    name: 'a heard holder on a cordoned node: a replacement elsewhere at once, the holder kept meanwhile',
    setup: { phases: ['Alive', 'Alive', 'Alive'], nodeMods: { n2: [cordoned] } },
    create: ['lottery-3@n4'],
    retire: [],
  },
  {
    name: 'a heard holder on a MaintenancePlanned node: replaced the same way',
    setup: { phases: ['Alive', 'Alive', 'Alive'], nodeMods: { n3: [maintenance] } },
    create: ['lottery-3@n4'],
    retire: [],
  },
  {
    name: 'the replacement still joining: no second surge, nothing retired (the leaving holder is one of 3 heard)',
    setup: { phases: ['Alive', 'Alive', 'Alive', 'Joining'], nodeMods: { n2: [cordoned] } },
    create: [],
    retire: [],
  },
  {
    name: 'the replacement holds the secret: the holder on the cordoned node is retired, not the newest',
    setup: { phases: ['Alive', 'Alive', 'Alive', 'Alive'], nodeMods: { n2: [cordoned] } },
    create: [],
    retire: ['lottery-1'],
  },
  {
    name: 'no other eligible node: the leaving holder stays (a drain waits on the budget)',
    setup: { phases: ['Alive', 'Alive', 'Alive'], nodes: ['n1', 'n2', 'n3'], nodeMods: { n2: [cordoned] } },
    create: [],
    retire: [],
  },
  {
    name: 'two nodes cordoned at once: two replacements',
    setup: { phases: ['Alive', 'Alive', 'Alive'], nodeMods: { n1: [cordoned], n2: [cordoned] } },
    create: ['lottery-3@n4', 'lottery-4@n5'],
    retire: [],
  },
  {
    name: 'two cordoned, one replacement holds: one leaving holder goes (newest), 3 heard remain',
    setup: {
      phases: ['Alive', 'Alive', 'Alive', 'Alive', 'Joining'],
      nodeMods: { n1: [cordoned], n2: [cordoned] },
    },
    create: [],
    retire: ['lottery-1'],
  },
  {
    name: 'a leaving holder while another is unreachable: both replaced, the leaving one kept until then',
    setup: {
      phases: ['Alive', 'Unreachable', 'Alive'],
      nodeMods: { n3: [cordoned] },
      leaseAge: { n2: 60 },
    },
    create: ['lottery-3@n4', 'lottery-4@n5'],
    retire: [],
  },
  {
    name: 'an unreachable holder on a cordoned node is never retired, even with replicas heard elsewhere',
    setup: {
      phases: ['Alive', 'Unreachable', 'Alive', 'Alive'],
      nodeMods: { n2: [cordoned] },
      leaseAge: { n2: 60 },
    },
    create: [],
    retire: [],
  },
  {
    name: 'a newcomer on a cordoned node: replaced elsewhere',
    setup: { phases: ['Alive', 'Alive', 'Joining'], nodeMods: { n3: [cordoned] } },
    create: ['lottery-3@n4'],
    retire: [],
  },
  {
    name: 'a newcomer on a cordoned node whose replacement is under way: retired',
    setup: { phases: ['Alive', 'Alive', 'Joining', 'Joining'], nodeMods: { n3: [cordoned] } },
    create: [],
    retire: ['lottery-2'],
  },
  {
    name: 'uncordoned before the replacement held: the surplus newest heard holder goes, as after any surge',
    setup: { phases: ['Alive', 'Alive', 'Alive', 'Alive'] },
    create: [],
    retire: ['lottery-3'],
  },
];

describe('reconcileColony: cells on leaving nodes are replaced first and retired first', () => {
  it.each(rows.map((r) => [r.name, r] as const))('%s', async (_name, row) => {
    const b = build(row.setup);
    const heardBefore = new Set(
      b.world.cells
        .list('ns')
        .filter((c) => c.status?.phase === 'Alive')
        .map((c) => c.metadata.name),
    );
    await reconcileColony(b.ctx, 'ns/lottery');
    expect(created(b)).toEqual(row.create);
    expect(retired(b)).toEqual(row.retire);
    // The operator never deletes a pod itself here: retiring deletes the Cell (its pod goes with it).
    expect(b.writer.of('delete').filter((d) => d.kind === 'Pod')).toEqual([]);
    // Retiring a heard holder never leaves fewer than spec.replicas heard holders.
    const heardAfter = b.world.cells.list('ns').filter((c) => c.status?.phase === 'Alive').length;
    if (row.retire.some((n) => heardBefore.has(n))) expect(heardAfter).toBeGreaterThanOrEqual(3);
  });

  it('says in Ready that cells on leaving nodes are being replaced', async () => {
    const b = build({ phases: ['Alive', 'Alive', 'Alive'], nodeMods: { n2: [cordoned] } });
    await reconcileColony(b.ctx, 'ns/lottery');
    expect(b.cond('Ready')).toMatchObject({ status: 'True' });
    expect(b.cond('Ready')?.message).toMatch(/1 on leaving nodes, being replaced/);
  });

  it('a leaving cell gives up its spread slot: the replacement may take another node of its zone', async () => {
    const b = build({
      phases: ['Alive', 'Alive', 'Alive'],
      colonyMods: [(c) => (c.spec.placement = { spreadKey: 'topology.kubernetes.io/zone' })],
      nodeMods: {
        n1: [zone('a')],
        n2: [zone('b'), cordoned],
        n3: [zone('c')],
        n4: [zone('b')],
        n5: [zone('a')],
      },
    });
    await reconcileColony(b.ctx, 'ns/lottery');
    expect(created(b)).toEqual(['lottery-3@n4']);
  });

  it('retires nothing during a control-plane fault (every node silent at once), leaving or not', async () => {
    const b = build({
      phases: ['Alive', 'Alive', 'Alive', 'Alive'],
      nodeMods: { n2: [cordoned] },
      leaseAge: { n1: 60, n2: 60, n3: 60, n4: 60, n5: 60 },
    });
    await reconcileColony(b.ctx, 'ns/lottery');
    expect(retired(b)).toEqual([]);
  });

  it('end to end: cordon → surge → the replacement holds → the cordoned holder is retired → Ready with 3', async () => {
    const b = build({ phases: ['Alive', 'Alive', 'Alive'] });
    const all = async (): Promise<void> => {
      for (const c of b.world.cells.list('ns')) await reconcileCell(b.ctx, `ns/${c.metadata.name}`);
      await reconcileColony(b.ctx, 'ns/lottery');
    };
    await all();
    expect(created(b)).toEqual([]);
    b.world.nodes.put(node('n2', cordoned));
    await all();
    expect(created(b)).toEqual(['lottery-3@n4']);
    await reconcileCell(b.ctx, 'ns/lottery-3'); // creates its pod
    const replacement = b.world.cells.get('ns', 'lottery-3')!;
    b.world.pods.put(ownedPod(replacement));
    b.world.cells.put({ ...replacement, status: { ...replacement.status, ...holderIdentity(replacement) } });
    await all();
    expect(b.world.cells.get('ns', 'lottery-3')?.status?.phase).toBe('Alive');
    expect(retired(b)).toEqual(['lottery-1']);
    await reconcileColony(b.ctx, 'ns/lottery');
    expect(b.col().status).toMatchObject({ alive: 3, unreachable: 0 });
    expect(b.cond('Ready')).toMatchObject({ status: 'True' });
    expect(
      b.world.cells
        .list('ns')
        .map((c) => c.spec.node)
        .sort(),
    ).toEqual(['n1', 'n3', 'n4']);
  });
});
