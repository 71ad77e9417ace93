// reconcileColony (and, end to end, reconcileCell) on an in-memory world: surge on suspicion, retire
// surplus when suspects come back, never Lost while a holder is unreachable, Lost only on proof, and
// the floor's events.
import { describe, expect, it } from '@jest/globals';
import type { V1Pod } from '@kubernetes/client-node';
import type { Cell, CellPhase, CellStatus, Colony } from '../../../src/api/types.js';
import { controllerRef } from '../../../src/builders/owner.js';
import { signKeyProof } from '../../../src/cell/key-proof.js';
import { ColonySecret } from '../../../src/cell/secret.js';
import { reconcileCell } from '../../../src/controllers/cell.js';
import { reconcileColony } from '../../../src/controllers/colony.js';
import { floorMetrics } from '../../../src/controllers/floor-metrics.js';
import { Registry } from 'prom-client';
import {
  cell,
  colony,
  COLONY_KEY,
  failed,
  holderIdentity,
  lease,
  node,
  pod,
  ready,
} from '../../fixtures/objects.js';
import {
  createdCells as created,
  memoryContext,
  retiredCells as retired,
  type MemoryContext,
} from '../../support/memory-context.js';
import {
  RETIREMENT_MARGIN_MS,
  RetirementGate,
  retirementWindowMs,
} from '../../../src/controllers/retirement.js';

const T0 = new Date('2026-01-01T00:10:00Z');
const KEY = COLONY_KEY;
const NODES = ['n1', 'n2', 'n3', 'n4', 'n5'];

interface Built extends MemoryContext {
  col: () => Colony;
  cond: (type: string) => { status: string; reason: string; message: string } | undefined;
}

function holderStatus(c: Cell, phase: CellPhase): CellStatus {
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

function ownedPod(c: Cell, ...mods: Array<(p: V1Pod) => void>): V1Pod {
  return pod(c, ready, (p) => (p.metadata!.ownerReferences = [controllerRef(c)]), ...mods);
}

/** A seeded colony (replicas 3, floor 2) with one cell per phase given, on n1, n2, … */
function build(phases: CellPhase[], leaseAge: Record<string, number> = {}): Built {
  const m = memoryContext({ now: T0 });
  const col = colony(
    (c) =>
      (c.status = {
        publicKey: KEY,
        fingerprint: 'FP',
        genesisCell: 'lottery-0',
        conditions: [
          {
            type: 'FloorMet',
            status: 'True',
            reason: 'FloorMet',
            message: '',
            lastTransitionTime: '2026-01-01T00:00:00Z',
          },
        ],
      }),
  );
  m.world.colonies.put(col);
  phases.forEach((phase, i) => {
    const c = cell(col, i, NODES[i]!, undefined, i === 0);
    c.status = phase === 'Joining' ? { phase, podUID: `pod-uid-${c.metadata.name}` } : holderStatus(c, phase);
    m.world.cells.put(c);
    if (phase !== 'Dead') m.world.pods.put(ownedPod(c));
  });
  for (const n of NODES) {
    m.world.nodes.put(node(n));
    m.world.nodeLeases.put(lease(n, T0, leaseAge[n] ?? 1));
  }
  const current = (): Colony => m.world.colonies.get('ns', 'lottery')!;
  const cond = (type: string): { status: string; reason: string; message: string } | undefined =>
    current().status?.conditions?.find((c) => c.type === type);
  return { ...m, col: current, cond };
}

const events = (b: Built): string[] => b.writer.of('event').map((e) => `${e.type}:${e.reason}`);

describe('reconcileColony: surge first', () => {
  it('an unreachable holder gets a replacement at once, on a node that is neither silent nor occupied', async () => {
    const b = build(['Alive', 'Unreachable', 'Alive'], { n2: 60 });
    await reconcileColony(b.ctx, 'ns/lottery');
    expect(created(b)).toEqual(['lottery-3@n4']);
    expect(b.col().status).toMatchObject({ alive: 2, unreachable: 1, joining: 0 });
    expect(b.cond('HoldersUnreachable')).toMatchObject({ status: 'True' });
    expect(b.cond('Lost')).toMatchObject({ status: 'False' });
    expect(b.cond('FloorMet')).toMatchObject({ status: 'True' });
    expect(events(b)).toEqual(['Warning:HoldersUnreachable']);
    expect(retired(b)).toEqual([]);
  });

  it('the joiner counts against replicas: no second surge while it joins', async () => {
    const b = build(['Alive', 'Unreachable', 'Alive', 'Joining'], { n2: 60 });
    await reconcileColony(b.ctx, 'ns/lottery');
    expect(created(b)).toEqual([]);
    expect(retired(b)).toEqual([]);
  });

  it('a new holder and the unreachable one: the unreachable holder is kept, not retired', async () => {
    const b = build(['Alive', 'Unreachable', 'Alive', 'Alive'], { n2: 60 });
    await reconcileColony(b.ctx, 'ns/lottery');
    expect(retired(b)).toEqual([]);
    expect(b.writer.of('delete').filter((d) => d.kind === 'Pod')).toEqual([]);
  });

  it('when the suspect is heard again the surplus is retired, newest first, down to replicas', async () => {
    const b = build(['Alive', 'Alive', 'Alive', 'Alive']);
    await reconcileColony(b.ctx, 'ns/lottery');
    expect(retired(b)).toEqual(['lottery-3']);
    expect(b.cond('HoldersUnreachable')).toMatchObject({ status: 'False' });
  });
});

describe('reconcileColony: a retirement is confirmed over the detection window', () => {
  it('retires a surplus holder only after it stayed surplus for the whole window, re-checking then', async () => {
    const b = build(['Alive', 'Alive', 'Alive', 'Alive']);
    b.ctx.retirements = new RetirementGate(10_000);
    const first = await reconcileColony(b.ctx, 'ns/lottery');
    expect(retired(b)).toEqual([]);
    expect(first.requeueAfter).toBe(10_000);
    b.clock.advance(9_000);
    expect((await reconcileColony(b.ctx, 'ns/lottery')).requeueAfter).toBe(1_000);
    expect(retired(b)).toEqual([]);
    b.clock.advance(1_000);
    await reconcileColony(b.ctx, 'ns/lottery');
    expect(retired(b)).toEqual(['lottery-3']);
  });

  it('forgets a candidate as soon as the picture changes: a holder found gone meanwhile keeps the surplus', async () => {
    // Four heard holders (one surplus) — then, inside the window, the node of another turns out to
    // have died (its cell Unreachable): nothing is surplus any more and nothing is retired, then or later.
    const b = build(['Alive', 'Alive', 'Alive', 'Alive']);
    b.ctx.retirements = new RetirementGate(10_000);
    await reconcileColony(b.ctx, 'ns/lottery');
    const victim = b.world.cells.get('ns', 'lottery-1')!;
    b.world.cells.put({ ...victim, status: { ...victim.status, phase: 'Unreachable' } });
    b.clock.advance(10_000);
    await reconcileColony(b.ctx, 'ns/lottery');
    expect(retired(b)).toEqual([]);
    // Heard again: a new window starts (the old clock was forgotten).
    b.world.cells.put({ ...victim, status: { ...victim.status, phase: 'Alive' } });
    b.clock.advance(1_000);
    await reconcileColony(b.ctx, 'ns/lottery');
    expect(retired(b)).toEqual([]);
    b.clock.advance(10_000);
    await reconcileColony(b.ctx, 'ns/lottery');
    expect(retired(b)).toHaveLength(1);
  });
});

describe('reconcileColony: a holder is retired only on a live count of the holders that stay', () => {
  // Four heard holders, replicas 3: lottery-3 is surplus. The caches are frozen (a watch stalled
  // while open): only the live reads can show what changed.
  it('a staying holder whose pod the API server no longer has: no holder retired until the count holds', async () => {
    const b = build(['Alive', 'Alive', 'Alive', 'Alive']);
    b.world.livePods.set('ns/lottery-1', undefined);
    const r = await reconcileColony(b.ctx, 'ns/lottery');
    expect(retired(b)).toEqual([]);
    expect(r.requeueAfter).toBeLessThanOrEqual(5_000);
    expect(b.world.liveReads).toEqual(expect.arrayContaining(['cells/ns/lottery', 'pod/ns/lottery-1']));
    b.world.livePods.delete('ns/lottery-1');
    await reconcileColony(b.ctx, 'ns/lottery');
    expect(retired(b)).toEqual(['lottery-3']);
  });

  it('a staying holder whose process exited, or whose Cell was deleted, does not count', async () => {
    const b = build(['Alive', 'Alive', 'Alive', 'Alive']);
    const c2 = b.world.cells.get('ns', 'lottery-2')!;
    b.world.livePods.set('ns/lottery-2', ownedPod(c2, failed));
    await reconcileColony(b.ctx, 'ns/lottery');
    expect(retired(b)).toEqual([]);
    b.world.livePods.delete('ns/lottery-2');
    const others = b.world.cells.list('ns').filter((c) => c.metadata.name !== 'lottery-0');
    b.world.liveCells.set('ns/lottery', others);
    await reconcileColony(b.ctx, 'ns/lottery');
    expect(retired(b)).toEqual([]);
    // A Cell of that name made anew (another uid) is not the holder counted either.
    const c0 = b.world.cells.get('ns', 'lottery-0')!;
    b.world.liveCells.set('ns/lottery', [...others, { ...c0, metadata: { ...c0.metadata, uid: 'other' } }]);
    await reconcileColony(b.ctx, 'ns/lottery');
    expect(retired(b)).toEqual([]);
  });

  it('a staying holder the live Cell shows Unreachable, or whose node stopped renewing, does not count', async () => {
    // The cell controller reads Leases live and wrote lottery-1 Unreachable; this colony's stalled
    // watch still shows it Alive, and its pod still reads Running and Ready (its node is dead).
    const b = build(['Alive', 'Alive', 'Alive', 'Alive']);
    const c1 = b.world.cells.get('ns', 'lottery-1')!;
    const rest = b.world.cells.list('ns').filter((c) => c.metadata.name !== 'lottery-1');
    b.world.liveCells.set('ns/lottery', [...rest, { ...c1, status: { ...c1.status, phase: 'Unreachable' } }]);
    await reconcileColony(b.ctx, 'ns/lottery');
    expect(retired(b)).toEqual([]);
    // Its Cell still says Alive (the cell controller has not run yet), but its node's Lease, read live, is stale.
    b.world.liveCells.delete('ns/lottery');
    b.world.liveLeases.set('n2', lease('n2', T0, 60));
    await reconcileColony(b.ctx, 'ns/lottery');
    expect(retired(b)).toEqual([]);
    expect(b.world.liveReads).toContain('lease/n2');
    b.world.liveLeases.delete('n2');
    await reconcileColony(b.ctx, 'ns/lottery');
    expect(retired(b)).toEqual(['lottery-3']);
  });

  it('a staying holder whose live status does not prove the key does not count (a node credential can write, not sign)', async () => {
    // What a stolen node credential can do: mint lottery-1's pod token, write its Cell status with the
    // colony's public key and a made-up proof, and report its pod Running and Ready.
    const b = build(['Alive', 'Alive', 'Alive', 'Alive']);
    const c1 = b.world.cells.get('ns', 'lottery-1')!;
    const rest = b.world.cells.list('ns').filter((c) => c.metadata.name !== 'lottery-1');
    const other = ColonySecret.generate('ed25519');
    const forged = signKeyProof(other, {
      colonyUID: 'colony-uid',
      cell: 'lottery-1',
      cellUID: c1.metadata.uid,
      podUID: c1.status!.podUID!,
    });
    for (const keyProof of [undefined, forged]) {
      b.world.liveCells.set('ns/lottery', [...rest, { ...c1, status: { ...c1.status, keyProof } }]);
      await reconcileColony(b.ctx, 'ns/lottery');
      expect(retired(b)).toEqual([]);
    }
    // The proof it signed for another pod uid is no proof for this one either.
    const elsewhere = { ...c1.status, podUID: 'pod-uid-other' };
    b.world.liveCells.set('ns/lottery', [...rest, { ...c1, status: elsewhere }]);
    b.world.livePods.set(
      'ns/lottery-1',
      ownedPod(c1, (p) => (p.metadata!.uid = 'pod-uid-other')),
    );
    await reconcileColony(b.ctx, 'ns/lottery');
    expect(retired(b)).toEqual([]);
    b.world.liveCells.delete('ns/lottery');
    b.world.livePods.delete('ns/lottery-1');
    await reconcileColony(b.ctx, 'ns/lottery');
    expect(retired(b)).toEqual(['lottery-3']);
  });

  it('a staying holder whose Cell recorded no pod uid does not count (any pod of that name is not proof)', async () => {
    const b = build(['Alive', 'Alive', 'Alive', 'Alive']);
    const c2 = b.world.cells.get('ns', 'lottery-2')!;
    const noUid = { ...c2.status };
    delete noUid.podUID;
    const rest = b.world.cells.list('ns').filter((c) => c.metadata.name !== 'lottery-2');
    b.world.liveCells.set('ns/lottery', [...rest, { ...c2, status: noUid }]);
    await reconcileColony(b.ctx, 'ns/lottery');
    expect(retired(b)).toEqual([]);
  });

  it('an API server that does not answer confirms nothing: no holder retired; a newcomer still goes', async () => {
    const b = build(['Alive', 'Alive', 'Alive', 'Alive']);
    b.world.apiDown = true;
    await reconcileColony(b.ctx, 'ns/lottery');
    expect(retired(b)).toEqual([]);
    const n = build(['Alive', 'Alive', 'Alive', 'Joining']);
    n.world.apiDown = true;
    await reconcileColony(n.ctx, 'ns/lottery');
    expect(retired(n)).toEqual(['lottery-3']);
  });
});

describe('RetirementGate', () => {
  it('counts the window per cell from when it was first planned, per colony', () => {
    const g = new RetirementGate(1_000);
    expect(g.due('c1', ['a'], 0)).toEqual({ due: [], waitMs: 1_000 });
    expect(g.due('c2', ['a'], 500)).toEqual({ due: [], waitMs: 1_000 });
    expect(g.due('c1', ['a', 'b'], 600)).toEqual({ due: [], waitMs: 400 });
    expect(g.due('c1', ['a', 'b'], 1_000)).toEqual({ due: ['a'], waitMs: 600 });
    expect(g.due('c1', [], 1_100)).toEqual({ due: [] });
    expect(g.due('c1', ['b'], 1_200)).toEqual({ due: [], waitMs: 1_000 });
  });

  it('waits the node-loss threshold plus a margin (a kubelet default Lease when the flag is unset)', () => {
    expect(retirementWindowMs(8)).toBe(8_000 + RETIREMENT_MARGIN_MS);
    expect(retirementWindowMs(undefined)).toBe(40_000 + RETIREMENT_MARGIN_MS);
  });
});

describe('reconcileColony: floor metrics', () => {
  it('exports heard, unreachable and joining cells per colony against the floor, and deaths by proof', async () => {
    const b = build(['Alive', 'Unreachable', 'Joining'], { n2: 60 });
    const registry = new Registry();
    b.ctx.metrics = floorMetrics(registry);
    await reconcileColony(b.ctx, 'ns/lottery');
    const text = await registry.metrics();
    expect(text).toContain('celula_colony_cells{namespace="ns",colony="lottery",state="heard"} 1');
    expect(text).toContain('celula_colony_cells{namespace="ns",colony="lottery",state="unreachable"} 1');
    expect(text).toContain('celula_colony_cells{namespace="ns",colony="lottery",state="joining"} 1');
    expect(text).toContain('celula_colony_floor{namespace="ns",colony="lottery"} 2');
    b.world.pods.put(
      ownedPod(b.world.cells.get('ns', 'lottery-0')!, (p) => (p.status = { phase: 'Failed' })),
    );
    await reconcileCell(b.ctx, 'ns/lottery-0');
    expect(await registry.metrics()).toContain('celula_cell_deaths_total{reason="PodEnded"} 1');
  });
});

describe('floor latency metrics', () => {
  it('observes a join (Cell created → holds the secret) and a floor recovery (breached → met again)', async () => {
    const b = build(['Alive', 'Joining', 'Joining']);
    const registry = new Registry();
    b.ctx.metrics = floorMetrics(registry);
    await reconcileColony(b.ctx, 'ns/lottery'); // one heard holder, floor 2: breached
    expect(b.cond('FloorMet')).toMatchObject({ status: 'False' });
    b.clock.advance(4_000);
    const joiner = b.world.cells.get('ns', 'lottery-1')!;
    joiner.metadata.creationTimestamp = new Date(T0.getTime() - 3_000);
    b.world.cells.put(joiner);
    const readyAt = b.clock.now().toISOString();
    b.world.pods.put(
      ownedPod(joiner, (p) => {
        p.status = {
          phase: 'Running',
          conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: new Date(readyAt) }],
        };
      }),
    );
    await reconcileCell(b.ctx, 'ns/lottery-1');
    await reconcileColony(b.ctx, 'ns/lottery');
    expect(b.cond('FloorMet')).toMatchObject({ status: 'True' });
    const text = await registry.metrics();
    expect(text).toContain('celula_cell_join_seconds_count 1');
    expect(text).toContain('celula_cell_join_seconds_sum 7');
    expect(text).toContain('celula_colony_floor_recovery_seconds_count 1');
    expect(text).toContain('celula_colony_floor_recovery_seconds_sum 4');
  });
});

describe('reconcileColony: Lost only on proof', () => {
  it('every holder unreachable: never Lost, floor breached, replacements surged where nodes allow', async () => {
    const b = build(['Unreachable', 'Unreachable', 'Unreachable'], { n1: 60, n2: 60, n3: 60 });
    await reconcileColony(b.ctx, 'ns/lottery');
    expect(b.cond('Lost')).toMatchObject({ status: 'False', reason: 'SecretAlive' });
    expect(b.cond('SecretHeld')).toMatchObject({ status: 'True' });
    expect(b.cond('Degraded')).toMatchObject({ status: 'True' });
    expect(b.cond('Ready')).toMatchObject({ status: 'False' });
    expect(created(b)).toEqual(['lottery-3@n4', 'lottery-4@n5']);
    // The third replacement has nowhere to go (n1–n3 are silent): the colony says so.
    expect(events(b)).toEqual([
      'Warning:HoldersUnreachable',
      'Warning:FloorBreached',
      'Warning:FailedPlacement',
    ]);
    expect(b.cond('CellsPlaced')).toMatchObject({ status: 'False', reason: 'NoNodeFits' });
  });

  it('every holder proven dead: Lost, a Warning, and nothing is made again', async () => {
    const b = build(['Dead', 'Dead', 'Dead']);
    await reconcileColony(b.ctx, 'ns/lottery');
    expect(b.cond('Lost')).toMatchObject({ status: 'True', reason: 'AllCellsDied' });
    expect(created(b)).toEqual([]);
    expect(events(b)).toEqual(['Warning:SecretLost']);
    b.writer.clear();
    await reconcileColony(b.ctx, 'ns/lottery');
    expect(b.writer.writes).toEqual([]);
  });

  it('retires nothing during a control-plane fault (every node silent at once)', async () => {
    const b = build(['Alive', 'Alive', 'Alive', 'Alive'], { n1: 60, n2: 60, n3: 60, n4: 60, n5: 60 });
    await reconcileColony(b.ctx, 'ns/lottery');
    expect(retired(b)).toEqual([]);
  });
});

describe('cell and colony reconcilers together', () => {
  const reconcileAll = async (b: Built): Promise<void> => {
    for (const c of b.world.cells.list('ns')) await reconcileCell(b.ctx, `ns/${c.metadata.name}`);
    await reconcileColony(b.ctx, 'ns/lottery');
  };

  it('holder silent → Unreachable and a surge → replacement holds → suspect heard → the suspect retired as surplus; no holder pod deleted', async () => {
    const b = build(['Alive', 'Alive', 'Alive']);
    b.world.nodeLeases.put(lease('n2', T0, 31));
    await reconcileAll(b);
    expect(b.world.cells.get('ns', 'lottery-1')?.status?.phase).toBe('Unreachable');
    expect(created(b)).toEqual(['lottery-3@n4']);

    // The replacement's pod is created by its cell reconcile, then holds the secret.
    await reconcileCell(b.ctx, 'ns/lottery-3');
    const replacement = b.world.cells.get('ns', 'lottery-3')!;
    expect(b.world.pods.get('ns', 'lottery-3')).toBeDefined();
    b.world.pods.put(ownedPod(replacement));
    b.world.cells.put({ ...replacement, status: { ...replacement.status, ...holderIdentity(replacement) } });
    await reconcileAll(b);
    expect(b.world.cells.get('ns', 'lottery-3')?.status?.phase).toBe('Alive');
    expect(b.col().status).toMatchObject({ alive: 3, unreachable: 1 });
    expect(b.cond('Ready')).toMatchObject({ status: 'True' });

    // The suspect's node renews again: four heard holders. The one heard again is retired first (its
    // liveness is the weakest evidence), not the replacement whose readiness is fresh.
    b.clock.advance(5000);
    for (const n of NODES) b.world.nodeLeases.put(lease(n, b.clock.now(), 1));
    await reconcileCell(b.ctx, 'ns/lottery-1');
    expect(b.world.cells.get('ns', 'lottery-1')?.status).toMatchObject({
      phase: 'Alive',
      reason: 'HeardAgain',
    });
    await reconcileAll(b);
    expect(retired(b)).toEqual(['lottery-1']);
    expect(b.writer.of('delete').filter((d) => d.kind === 'Pod')).toEqual([]);
    // Counts are what was observed; the next reconcile sees the retired cell gone.
    await reconcileColony(b.ctx, 'ns/lottery');
    expect(b.col().status).toMatchObject({ alive: 3, unreachable: 0 });
    expect(b.cond('Ready')).toMatchObject({ status: 'True' });
  });
});
