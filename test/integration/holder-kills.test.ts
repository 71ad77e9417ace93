// Issue 9, acceptance 2, on the real control plane with real cell processes: a colony of 5 (floor 3)
// on 8 nodes. Four of its five holders are killed one after another (the machine dies: its heartbeat
// stops and its cell process is SIGKILLed, and its kubelet reports nothing more), each time:
//   suspicion (the holder turns Unreachable, never Dead, from silence) → a replacement is surged at
//   once → the colony is Ready again with five heard holders → the death is proven (the Node deleted,
//   or the out-of-service fencing taint, docs/floor.md) → the holder is Dead, the secret the same.
// The fourth kill leaves no free node: the colony holds the floor with four (InsufficientNodes) until
// a fresh machine joins the pool. Then every holder's machine dies at once: silence alone is a
// control-plane fault (the mass-disruption guard) and never Lost; once every death is proven the
// colony is Lost, and stays Lost.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Cell, Colony } from '../../src/api/types.js';
import { OUT_OF_SERVICE_TAINT } from '../../src/controllers/cell-status.js';
import { conditionOf, poolName } from '../support/colonies.js';
import { startRealColony, type RealColony } from '../support/real-colony.js';
import { controlPlane, waitFor } from './support/cluster.js';

const POOL = poolName('kills');
const NODES = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => `${POOL}-n${i}`);
const REPLICAS = 5;
const FLOOR = 3;
/** --node-loss-after: kwok renews every 2 s (8 s Leases), so 5 s tolerates one late renewal. */
const LOSS_AFTER_S = 5;

let rc: RealColony;

beforeAll(async () => {
  rc = await startRealColony({
    name: 'kills',
    pool: POOL,
    nodes: NODES,
    replicas: REPLICAS,
    minReplicas: FLOOR,
    digestChar: 'e',
    nodeLossAfter: LOSS_AFTER_S,
  });
}, 180_000);

afterAll(async () => {
  await rc?.stop();
});

/** The machine dies: heartbeat stopped, cell processes killed, its kubelet silent from now on. */
async function killMachine(node: string): Promise<void> {
  rc.kubelet.nodeDown(node);
  await controlPlane().stopHeartbeat(node);
}

type Proof = 'delete' | 'taint';

/** Someone entitled says the machine is gone (docs/floor.md "Fencing"). */
async function prove(node: string, how: Proof): Promise<void> {
  if (how === 'delete') {
    await controlPlane().deleteNode(node);
    return;
  }
  const n = await rc.core.readNode({ name: node });
  const taints = [
    ...(n.spec?.taints ?? []),
    { key: OUT_OF_SERVICE_TAINT, value: 'nodeshutdown', effect: 'NoExecute' },
  ];
  await rc.core.patchNode({ name: node, body: [{ op: 'add', path: '/spec/taints', value: taints }] });
}

async function cell(name: string): Promise<Cell | undefined> {
  return (await rc.cells()).find((c) => c.metadata.name === name);
}

async function waitPhase(name: string, phase: string, timeoutMs: number): Promise<Cell> {
  return waitFor(
    async () => {
      const c = await cell(name);
      return c?.status?.phase === phase ? c : undefined;
    },
    `cell ${name} ${phase}`,
    timeoutMs,
    250,
  );
}

async function sameSecret(colony: Colony, cells: Cell[], fingerprint: string): Promise<void> {
  expect(colony.status?.fingerprint).toBe(fingerprint);
  const ids = await Promise.all(cells.map((c) => rc.identity(c.status!.pod!)));
  expect(new Set(ids)).toEqual(new Set([fingerprint]));
  expect(conditionOf(colony, 'Lost')?.status).toBe('False');
}

const secs = (from: number): string => `${((Date.now() - from) / 1000).toFixed(1)} s`;

describe('a colony of 5 (floor 3) on 8 nodes (issue 9, acceptance 2)', () => {
  let fingerprint = '';
  let originals: Cell[] = [];

  it('seeds five holders', async () => {
    const { colony, cells } = await rc.waitReady(REPLICAS, 150_000);
    fingerprint = colony.status?.fingerprint ?? '';
    expect(fingerprint).not.toBe('');
    originals = [...cells].sort((a, b) => (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''));
    await sameSecret(colony, cells, fingerprint);
  });

  const kills: Array<{ proof: Proof }> = [{ proof: 'delete' }, { proof: 'taint' }, { proof: 'delete' }];
  it.each(kills.map((k, i) => [i + 1, k.proof] as const))(
    'kill %i of 4: Unreachable, surged, Ready again with five, then proven dead (%s); the same secret',
    async (_n, how) => {
      const victim = originals.shift()!;
      const name = victim.metadata.name ?? '';
      const node = victim.spec.node;
      const t0 = Date.now();
      await killMachine(node);
      const suspected = await waitPhase(name, 'Unreachable', 30_000);
      const tSuspect = secs(t0);
      expect(suspected.status?.reason).toBe('LeaseExpired');
      const back = await rc.waitReady(REPLICAS, 60_000);
      const tReady = secs(t0);
      // Recovered while the victim was only suspected: it is still a holder, not Dead.
      expect((await cell(name))?.status?.phase).toBe('Unreachable');
      expect(back.colony.status?.unreachable).toBe(1);
      await sameSecret(back.colony, back.cells, fingerprint);
      const t1 = Date.now();
      await prove(node, how);
      const dead = await waitPhase(name, 'Dead', 30_000);
      expect(dead.status?.reason).toMatch(
        how === 'delete' ? /^(NodeGone|PodVanished)$/ : /^NodeOutOfService$/,
      );
      // The colony counts the proven death at its next reconcile: no holder left unheard.
      await waitFor(
        async () => (await rc.colony()).status?.unreachable === 0,
        'colony with no unreachable holder',
        30_000,
        250,
      );
      const after = await rc.waitReady(REPLICAS, 30_000);
      expect(after.colony.status?.unreachable).toBe(0);
      await sameSecret(after.colony, after.cells, fingerprint);
      process.stdout.write(
        `kills: #${_n} ${name} on ${node}: Unreachable after ${tSuspect}, Ready with ${REPLICAS} after ${tReady}; ` +
          `proven (${how}) → Dead (${dead.status?.reason}) ${secs(t1)} later\n`,
      );
    },
    120_000,
  );

  it('kill 4 of 4: no free node, the floor holds with four, Ready again when a fresh machine joins', async () => {
    const victim = originals.shift()!;
    const name = victim.metadata.name ?? '';
    const node = victim.spec.node;
    const t0 = Date.now();
    await killMachine(node);
    await waitPhase(name, 'Unreachable', 30_000);
    await prove(node, 'taint');
    await waitPhase(name, 'Dead', 30_000);
    const short = await waitFor(
      async () => {
        const c = await rc.colony();
        return c.status?.alive === REPLICAS - 1 && conditionOf(c, 'Ready')?.reason === 'InsufficientNodes'
          ? c
          : undefined;
      },
      'four heard holders, Ready=False InsufficientNodes',
      30_000,
      250,
    );
    expect(conditionOf(short, 'FloorMet')?.status).toBe('True');
    expect(conditionOf(short, 'Lost')?.status).toBe('False');
    await rc.addNode(`${POOL}-n8`);
    const back = await rc.waitReady(REPLICAS, 60_000);
    await sameSecret(back.colony, back.cells, fingerprint);
    expect(back.cells.map((c) => c.spec.node)).toContain(`${POOL}-n8`);
    // One original holder is left; the other four were replaced.
    expect(back.cells.filter((c) => originals.some((o) => o.metadata.name === c.metadata.name))).toHaveLength(
      1,
    );
    process.stdout.write(
      `kills: #4 ${name}: floor held with 4 until a fresh node; Ready with 5 after ${secs(t0)}\n`,
    );
  }, 150_000);

  it('every holder dies at once: never Lost from silence, Lost once every death is proven', async () => {
    const holders = (await rc.cells()).filter((c) => c.status?.phase === 'Alive');
    expect(holders).toHaveLength(REPLICAS);
    const nodes = holders.map((c) => c.spec.node);
    await Promise.all(nodes.map(killMachine));
    // Past --node-loss-after with every hosting node silent: a control-plane fault, nobody Lost.
    await new Promise((r) => setTimeout(r, (LOSS_AFTER_S + 3) * 1000));
    const silent = await rc.colony();
    expect(conditionOf(silent, 'Lost')?.status).toBe('False');
    expect(
      (await rc.cells()).filter((c) => c.status?.phase === 'Dead' && nodes.includes(c.spec.node)),
    ).toEqual([]);
    const t0 = Date.now();
    await Promise.all(nodes.map((n) => controlPlane().deleteNode(n)));
    const lost = await waitFor(
      async () => {
        const c = await rc.colony();
        return conditionOf(c, 'Lost')?.status === 'True' ? c : undefined;
      },
      'colony Lost',
      60_000,
      250,
    );
    expect(conditionOf(lost, 'Lost')?.reason).toBe('AllCellsDied');
    expect(conditionOf(lost, 'SecretHeld')?.status).toBe('False');
    const cells = await rc.cells();
    expect(cells.filter((c) => c.status?.phase !== 'Dead')).toEqual([]);
    process.stdout.write(
      `kills: all ${nodes.length} at once: not Lost while only silent; Lost ${secs(t0)} after the proof\n`,
    );
    // Lost stays: nothing is made again.
    await new Promise((r) => setTimeout(r, 3000));
    expect(conditionOf(await rc.colony(), 'Lost')?.status).toBe('True');
    expect((await rc.cells()).filter((c) => c.status?.phase !== 'Dead')).toEqual([]);
  }, 120_000);
});
