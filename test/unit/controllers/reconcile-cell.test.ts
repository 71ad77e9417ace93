// reconcileCell on an in-memory world (test/support/memory-context.ts): every transition of a holder
// (heard → unreachable → heard; proven dead by each proof), what is never deleted on suspicion, the
// live Lease read, and the mass-disruption guard.
import { describe, expect, it } from '@jest/globals';
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import type { Cell, CellStatus, Colony } from '../../../src/api/types.js';
import { controllerRef } from '../../../src/builders/owner.js';
import { reconcileCell } from '../../../src/controllers/cell.js';
import { OUT_OF_SERVICE_TAINT } from '../../../src/controllers/cell-status.js';
import { cell, colony, failed, lease, node, notReady, pod, ready, running } from '../../fixtures/objects.js';
import { memoryContext, type MemoryContext } from '../../support/memory-context.js';

const T0 = new Date('2026-01-01T00:10:00Z');
const KEY = 'PK';

interface Setup {
  /** Cells (index → node), all holders unless `newcomer`. */
  nodes?: string[];
  /** Lease age in seconds per node (default 1: fresh). */
  leaseAge?: Record<string, number>;
  newcomer?: boolean;
  observingSince?: Date;
  podMods?: Array<(p: V1Pod) => void>;
}

interface Built extends MemoryContext {
  col: Colony;
  cells: Cell[];
  key: (i: number) => string;
  status: (i: number) => CellStatus | undefined;
}

const holderStatus = (c: Cell): CellStatus => ({
  phase: 'Alive',
  reason: 'HoldsSecret',
  message: 'the cell holds the secret',
  publicKey: KEY,
  fingerprint: 'FP',
  pod: c.metadata.name,
  podUID: `pod-uid-${c.metadata.name}`,
  node: c.spec.node,
  aliveAt: '2026-01-01T00:00:02.000Z',
  startedAt: '2026-01-01T00:00:01.000Z',
  observedGeneration: 1,
});

function ownedPod(c: Cell, ...mods: Array<(p: V1Pod) => void>): V1Pod {
  return pod(c, ready, (p) => (p.metadata!.ownerReferences = [controllerRef(c)]), ...mods);
}

function build(s: Setup = {}): Built {
  const m = memoryContext({ now: T0, observingSince: s.observingSince });
  const col = colony((c) => (c.status = { publicKey: KEY, fingerprint: 'FP', genesisCell: 'lottery-0' }));
  m.world.colonies.put(col);
  const names = s.nodes ?? ['n1', 'n2', 'n3'];
  const cells = names.map((n, i) => {
    const c = cell(col, i, n, undefined, i === 0);
    c.status = s.newcomer
      ? { phase: 'Joining', pod: c.metadata.name, podUID: `pod-uid-${c.metadata.name}`, node: n }
      : holderStatus(c);
    m.world.cells.put(c);
    m.world.pods.put(ownedPod(c, ...(s.newcomer ? [running, ownerOf(c)] : (s.podMods ?? []))));
    m.world.nodes.put(node(n));
    m.world.nodeLeases.put(lease(n, T0, s.leaseAge?.[n] ?? 1));
    return c;
  });
  const key = (i: number): string => `ns/lottery-${i}`;
  const status = (i: number): CellStatus | undefined => m.world.cells.get('ns', `lottery-${i}`)?.status;
  return { ...m, col, cells, key, status };
}

const ownerOf =
  (c: Cell) =>
  (p: V1Pod): void => {
    p.metadata!.ownerReferences = [controllerRef(c)];
  };

const podDeletes = (b: Built): string[] =>
  b.writer
    .of('delete')
    .filter((d) => d.kind === 'Pod')
    .map((d) => d.name);
const events = (b: Built): string[] => b.writer.of('event').map((e) => `${e.type}:${e.reason}`);

describe('reconcileCell: quiet while nothing changes', () => {
  it('a holder that stays silent is written once, not on every reconcile', async () => {
    const b = build({ leaseAge: { n1: 31 } });
    await reconcileCell(b.ctx, b.key(0));
    for (let i = 0; i < 3; i++) {
      b.clock.advance(2_000);
      await reconcileCell(b.ctx, b.key(0));
    }
    expect(b.writer.writes.filter((w) => w.op === 'status')).toHaveLength(1);
    expect(b.status(0)).toMatchObject({ phase: 'Unreachable', reason: 'LeaseExpired' });
  });
});

describe('reconcileCell: a holder is never ended by suspicion', () => {
  it('holder → Unreachable on a stale Lease (confirmed live) → Alive when heard again; its pod is never deleted', async () => {
    const b = build({ leaseAge: { n1: 31 } });
    await reconcileCell(b.ctx, b.key(0));
    expect(b.world.liveReads).toContain('lease/n1');
    expect(b.status(0)).toMatchObject({
      phase: 'Unreachable',
      reason: 'LeaseExpired',
      unreachableSince: T0.toISOString(),
      publicKey: KEY,
    });
    expect(podDeletes(b)).toEqual([]);
    expect(events(b)).toEqual(['Warning:HolderUnreachable']);

    // Still silent a minute later: still Unreachable (since unchanged), still no delete.
    b.clock.advance(60_000);
    await reconcileCell(b.ctx, b.key(0));
    expect(b.status(0)).toMatchObject({ phase: 'Unreachable', unreachableSince: T0.toISOString() });
    expect(podDeletes(b)).toEqual([]);

    // Heard again: a fresh renewal.
    b.world.nodeLeases.put(lease('n1', b.clock.now(), 1));
    const result = await reconcileCell(b.ctx, b.key(0));
    expect(b.status(0)).toMatchObject({ phase: 'Alive', reason: 'HeardAgain' });
    expect(b.status(0)).not.toHaveProperty('unreachableSince');
    expect(events(b)).toEqual(['Warning:HolderUnreachable', 'Normal:HolderHeard']);
    expect(result.requeueAfter).toBeGreaterThan(0);
  });

  it('a stale Lease in the cache that is fresh when read live is no suspicion (the watch lagged)', async () => {
    const b = build({ leaseAge: { n1: 31 } });
    b.world.liveLeases.set('n1', lease('n1', T0, 2));
    const result = await reconcileCell(b.ctx, b.key(0));
    expect(b.world.liveReads).toEqual(['lease/n1']);
    expect(b.writer.writes).toEqual([]);
    // The node's liveness timer judged the lagging cache, not this Lease: the cell re-checks itself
    // just after the live one would go stale (30 s threshold − 2 s of age, plus a margin).
    expect(result).toEqual({ requeueAfter: 28_100 });
  });

  it('a fresh Lease in the cache schedules nothing per cell: the node liveness timer wakes its cells', async () => {
    const b = build({ leaseAge: { n1: 5 } });
    const result = await reconcileCell(b.ctx, b.key(0));
    expect(b.world.liveReads).toEqual([]);
    expect(result).toEqual({});
  });

  it('an API server that does not answer the live read is a control-plane fault: no suspicion', async () => {
    const b = build({ leaseAge: { n1: 31 } });
    b.world.apiDown = true;
    const result = await reconcileCell(b.ctx, b.key(0));
    expect(b.writer.writes).toEqual([]);
    expect(result).toEqual({ requeueAfter: 2000 });
    // Silence now counts from the failed read: the same Lease is not stale right after.
    expect(b.ctx.guard.observingSince().getTime()).toBe(T0.getTime());
    b.world.apiDown = false;
    b.clock.advance(5000);
    await reconcileCell(b.ctx, b.key(0));
    expect(b.status(0)?.phase).toBe('Alive');
  });

  it('a readiness flap (stalled holder) is Unreachable NotReady, then Alive; never Dead', async () => {
    const b = build();
    b.world.pods.put(ownedPod(b.cells[0]!, running));
    await reconcileCell(b.ctx, b.key(0));
    expect(b.status(0)).toMatchObject({ phase: 'Unreachable', reason: 'NotReady' });
    b.world.pods.put(ownedPod(b.cells[0]!));
    await reconcileCell(b.ctx, b.key(0));
    expect(b.status(0)).toMatchObject({ phase: 'Alive' });
    expect(podDeletes(b)).toEqual([]);
  });

  it('a pod being deleted while its node is unreachable is not proof: Unreachable PodTerminating', async () => {
    const b = build({ leaseAge: { n1: 120 } });
    b.world.pods.put(ownedPod(b.cells[0]!, (p) => (p.metadata!.deletionTimestamp = T0)));
    b.world.nodes.put(node('n1', notReady));
    await reconcileCell(b.ctx, b.key(0));
    expect(b.status(0)?.phase).toBe('Unreachable');
    expect(b.status(0)?.phase).not.toBe('Dead');
  });

  it('a holder on a node that says NotReady itself is Unreachable, not Dead', async () => {
    const b = build();
    b.world.nodes.put(
      node('n1', (n: V1Node) => (n.status = { conditions: [{ type: 'Ready', status: 'False' }] })),
    );
    await reconcileCell(b.ctx, b.key(0));
    expect(b.status(0)).toMatchObject({ phase: 'Unreachable', reason: 'NodeNotReady' });
    expect(podDeletes(b)).toEqual([]);
  });
});

describe('reconcileCell: a holder ends on proof', () => {
  const proofs: Array<{ name: string; arrange: (b: Built) => void; reason: string; deletesPod: boolean }> = [
    {
      name: 'the kubelet reported the container terminated (pod Failed)',
      arrange: (b) => b.world.pods.put(pod(b.cells[0]!, failed, ownerOf(b.cells[0]!))),
      reason: 'PodEnded',
      deletesPod: true,
    },
    {
      name: 'the pod is gone (cache and live read agree)',
      arrange: (b) => b.world.pods.remove('ns', 'lottery-0'),
      reason: 'PodVanished',
      deletesPod: false,
    },
    {
      name: 'the pod uid changed',
      arrange: (b) => b.world.pods.put(ownedPod(b.cells[0]!, (p) => (p.metadata!.uid = 'another'))),
      reason: 'PodReplaced',
      // The stray incarnation holds nothing of this cell's memory; it goes too.
      deletesPod: true,
    },
    {
      name: 'the Node object was deleted (cache and live read agree)',
      arrange: (b) => b.world.nodes.remove(undefined, 'n1'),
      reason: 'NodeGone',
      deletesPod: true,
    },
    {
      name: 'the node carries the out-of-service fencing taint',
      arrange: (b) =>
        b.world.nodes.put(
          node(
            'n1',
            notReady,
            (n) => (n.spec!.taints = [{ key: OUT_OF_SERVICE_TAINT, effect: 'NoExecute' }]),
          ),
        ),
      reason: 'NodeOutOfService',
      deletesPod: true,
    },
  ];

  it.each(proofs)('$name → Dead ($reason)', async (p) => {
    const b = build();
    p.arrange(b);
    await reconcileCell(b.ctx, b.key(0));
    expect(b.status(0)).toMatchObject({ phase: 'Dead', reason: p.reason, diedAt: T0.toISOString() });
    expect(podDeletes(b)).toEqual(p.deletesPod ? ['lottery-0'] : []);
    expect(events(b)).toEqual([`Warning:${p.reason}`]);
  });

  it('a pod missing from the cache but present when read live is no proof', async () => {
    const b = build();
    const livePod = b.world.pods.get('ns', 'lottery-0');
    b.world.pods.remove('ns', 'lottery-0');
    b.world.livePods.set('ns/lottery-0', livePod);
    await reconcileCell(b.ctx, b.key(0));
    expect(b.world.liveReads).toContain('pod/ns/lottery-0');
    expect(b.status(0)?.phase).toBe('Alive');
  });

  it('a node missing from the cache but present when read live is no proof', async () => {
    const b = build();
    b.world.liveNodes.set('n1', node('n1'));
    b.world.nodes.remove(undefined, 'n1');
    await reconcileCell(b.ctx, b.key(0));
    expect(b.status(0)?.phase).toBe('Alive');
  });

  it("a holder's own pod (its recorded uid) stripped of its ownerReferences is still its pod: no death", async () => {
    // `kubectl patch pod --type=json -p '[{"op":"remove","path":"/metadata/ownerReferences"}]'`
    const b = build({ podMods: [(p) => delete p.metadata!.ownerReferences] });
    await reconcileCell(b.ctx, b.key(0));
    expect(b.status(0)).toMatchObject({ phase: 'Alive' });
    expect(podDeletes(b)).toEqual([]);
    // Another pod of the cell's name (another uid, not the cell's): the recorded one is gone (names are unique).
    const squatter = pod(b.cells[1]!, ready, (p) => (p.metadata!.uid = 'someone-else'));
    b.world.pods.put(squatter);
    b.world.livePods.set('ns/lottery-1', squatter);
    await reconcileCell(b.ctx, b.key(1));
    expect(b.status(1)).toMatchObject({ phase: 'Dead', reason: 'PodVanished' });
  });

  it('a Dead cell is never revived', async () => {
    const b = build();
    b.world.pods.put(pod(b.cells[0]!, failed, ownerOf(b.cells[0]!)));
    await reconcileCell(b.ctx, b.key(0));
    b.world.pods.put(ownedPod(b.cells[0]!));
    await reconcileCell(b.ctx, b.key(0));
    expect(b.status(0)?.phase).toBe('Dead');
  });
});

describe('reconcileCell: cells that hold nothing yet', () => {
  it('a joiner on a silent node is Dead (NodeLost) and its pod deleted: it held nothing', async () => {
    const b = build({ newcomer: true, leaseAge: { n1: 31 } });
    await reconcileCell(b.ctx, b.key(0));
    expect(b.status(0)).toMatchObject({ phase: 'Dead', reason: 'NodeLost' });
    expect(podDeletes(b)).toEqual(['lottery-0']);
  });
});

describe('reconcileCell: the mass-disruption guard', () => {
  it('every node hosting cells silent at once: no holder is suspected, nothing written, re-checked soon', async () => {
    const b = build({ leaseAge: { n1: 45, n2: 45, n3: 45 } });
    for (const i of [0, 1, 2]) {
      const result = await reconcileCell(b.ctx, b.key(i));
      expect(result).toEqual({ requeueAfter: 2000 });
    }
    expect(b.writer.writes).toEqual([]);
    expect(b.world.liveReads.filter((r) => r.startsWith('lease/'))).toEqual([]);
    expect(b.ctx.guard.verdict(b.ctx, T0).fault).toMatch(/3 of 3 nodes hosting cells are silent/);
  });

  it('the same silence also spares cells that hold nothing yet', async () => {
    const b = build({ newcomer: true, leaseAge: { n1: 45, n2: 45, n3: 45 } });
    await reconcileCell(b.ctx, b.key(1));
    expect(b.status(1)?.phase).toBe('Joining');
    expect(podDeletes(b)).toEqual([]);
  });

  it('one silent node of three is node loss, not a fault', async () => {
    const b = build({ leaseAge: { n1: 45 } });
    await reconcileCell(b.ctx, b.key(0));
    expect(b.status(0)?.phase).toBe('Unreachable');
  });

  it('right after the operator starts, a Lease is stale only after a full threshold of its own observation', async () => {
    const b = build({ leaseAge: { n1: 300 }, observingSince: new Date(T0.getTime() - 10_000) });
    const result = await reconcileCell(b.ctx, b.key(0));
    expect(b.writer.writes).toEqual([]);
    // No re-check of its own: the node's liveness timer wakes the node's cells when 30 s of
    // observation have passed (test/unit/controllers/node-liveness.test.ts).
    expect(result).toEqual({});
    b.clock.advance(21_000);
    await reconcileCell(b.ctx, b.key(0));
    expect(b.status(0)?.phase).toBe('Unreachable');
  });

  it('regaining the lease restarts the observation window', async () => {
    const b = build({ leaseAge: { n1: 300 } });
    b.ctx.guard.restart(T0, 'this replica gained the leader lease');
    await reconcileCell(b.ctx, b.key(0));
    expect(b.writer.writes).toEqual([]);
  });
});
