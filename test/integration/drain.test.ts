// Issue 9, acceptance 3, on the real control plane with real cell processes: `kubectl drain` (the real
// kubectl) of a node with a holder completes only after a replacement holds the secret.
//
// How it goes (docs/floor.md "Voluntary disruption"): drain cordons the node → the operator surges a
// replacement on another eligible node (a cell on a cordoned node is not counted) → the colony's
// PodDisruptionBudget (minAvailable = replicas Ready cells; Ready = holds the secret) refuses the
// drain's evictions (HTTP 429, kubectl retries every 5 s) until the replacement is Ready → the holder
// on the drained node goes, by the eviction or by the operator retiring it (whichever comes first;
// the operator retires it only while replicas other heard holders remain) → the pod is deleted
// (the local kubelet kills the process on the deletionTimestamp, kwok's pod-delete stage removes
// the object, as a kubelet would after the container stopped) → drain returns.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { PolicyV1Api, type V1Pod } from '@kubernetes/client-node';
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import type { Cell } from '../../src/api/types.js';
import { disruptionBudgetName } from '../../src/builders/disruption-budget.js';
import { Informer } from '../../src/runtime/informer.js';
import { cacheDir } from '../cluster/controlplane.js';
import { conditionOf, poolName } from '../support/colonies.js';
import { COLONY, startRealColony, type RealColony } from '../support/real-colony.js';
import { clusterInfo, waitFor } from './support/cluster.js';

const KUBECTL = path.join(cacheDir(), 'bin', 'kubectl');
const POOL = poolName('drain');
const NODES = [0, 1, 2, 3].map((i) => `${POOL}-n${i}`);
const REPLICAS = 3;

let rc: RealColony;

beforeAll(async () => {
  rc = await startRealColony({
    name: 'drain',
    pool: POOL,
    nodes: NODES,
    replicas: REPLICAS,
    minReplicas: 2,
    digestChar: 'd',
    nodeLossAfter: 5,
  });
}, 180_000);

afterAll(async () => {
  await rc?.stop();
});

interface Run {
  code: number;
  out: string;
  startedAt: number;
  endedAt: number;
}

function kubectl(args: string[], timeoutMs: number): Promise<Run> {
  const startedAt = Date.now();
  return new Promise((resolve) => {
    execFile(
      KUBECTL,
      ['--kubeconfig', clusterInfo().kubeconfig, ...args],
      { timeout: timeoutMs },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, out: `${stdout}${stderr}`, startedAt, endedAt: Date.now() });
      },
    );
  });
}

/** When things were first seen, by watch (milliseconds, this machine's clock). */
interface Seen {
  alive: Map<string, number>;
  deleting: Map<string, number>;
  gone: Map<string, number>;
  exited: Map<string, number>;
}

/** Watches the namespace's cells and pods and the local cell processes until stopped. */
async function watchNamespace(): Promise<{ seen: Seen; stop: () => Promise<void> }> {
  const seen: Seen = { alive: new Map(), deleting: new Map(), gone: new Map(), exited: new Map() };
  const first = (m: Map<string, number>, k: string): void => void (m.has(k) || m.set(k, Date.now()));
  const cells = new Informer<Cell>({
    kubeConfig: rc.kc,
    path: `/apis/celula.io/v1alpha1/namespaces/${rc.ns}/cells`,
  });
  const pods = new Informer<V1Pod>({ kubeConfig: rc.kc, path: `/api/v1/namespaces/${rc.ns}/pods` });
  cells.onChange((c) => {
    if (c.status?.phase === 'Alive') first(seen.alive, c.metadata.name ?? '');
  });
  pods.onChange((p) => {
    const name = p.metadata?.name ?? '';
    if (p.metadata?.deletionTimestamp) first(seen.deleting, name);
    if (!pods.get(rc.ns, name)) {
      first(seen.deleting, name);
      first(seen.gone, name);
    }
  });
  const poll = setInterval(() => {
    for (const c of rc.kubelet.cells()) if (c.exitCode !== undefined) first(seen.exited, c.pod);
  }, 50);
  cells.start();
  pods.start();
  await Promise.all([cells.waitForSync(30_000), pods.waitForSync(30_000)]);
  return {
    seen,
    stop: async () => {
      clearInterval(poll);
      await Promise.all([cells.stop(), pods.stop()]);
    },
  };
}

describe('kubectl drain of a node with a holder (issue 9, acceptance 3)', () => {
  let fingerprint = '';
  let before: Cell[] = [];
  const policy = (): PolicyV1Api => rc.kc.makeApiClient(PolicyV1Api);

  it('seeds three holders and a PodDisruptionBudget that allows no eviction at replicas', async () => {
    const { colony, cells } = await rc.waitReady(REPLICAS, 120_000);
    fingerprint = colony.status?.fingerprint ?? '';
    expect(fingerprint).not.toBe('');
    before = cells;
    const name = disruptionBudgetName(COLONY);
    const pdb = await waitFor(
      async () => {
        const p = await policy().readNamespacedPodDisruptionBudget({ name, namespace: rc.ns });
        const s = p.status;
        return s?.currentHealthy === REPLICAS && s.disruptionsAllowed === 0 ? p : undefined;
      },
      'the disruption controller counts 3 healthy cells and allows 0 disruptions',
      30_000,
      250,
    );
    expect(pdb.spec?.minAvailable).toBe(REPLICAS);
    expect(pdb.status?.expectedPods).toBe(REPLICAS);
  });

  it('completes only after a replacement holds the secret; same fingerprint; Ready afterwards', async () => {
    const victim = before.find((c) => !c.spec.genesis) ?? before[0]!;
    const node = victim.spec.node;
    const pod = victim.status?.pod ?? '';
    const watch = await watchNamespace();
    const drain = await kubectl(
      ['drain', node, '--ignore-daemonsets', '--delete-emptydir-data', '--timeout=120s'],
      150_000,
    );
    const back = await rc.waitReady(REPLICAS, 60_000);
    await watch.stop();
    const { seen } = watch;
    const old = new Set(before.map((c) => c.metadata.name));
    const replacement = back.cells.find((c) => !old.has(c.metadata.name));
    const t = (ms: number | undefined): string =>
      ms === undefined ? 'never' : `+${((ms - drain.startedAt) / 1000).toFixed(3)} s`;
    const refusals = drain.out.match(/would violate the pod's disruption budget/g)?.length ?? 0;
    const survivor = (await rc.cells()).find((c) => c.metadata.name === victim.metadata.name);
    process.stdout.write(
      `drain: node ${node} holder ${victim.metadata.name}; kubectl drain started ${new Date(drain.startedAt).toISOString()}\n` +
        `drain: evictions refused by the PodDisruptionBudget: ${refusals}\n` +
        `drain: replacement ${replacement?.metadata.name} on ${replacement?.spec.node} seen Alive ${t(seen.alive.get(replacement?.metadata.name ?? ''))} (status.aliveAt ${replacement?.status?.aliveAt})\n` +
        `drain: drained pod ${pod} deletion seen ${t(seen.deleting.get(pod))}, process exited ${t(seen.exited.get(pod))}, object gone ${t(seen.gone.get(pod))}; ` +
        `its cell ${survivor ? `${survivor.status?.phase} (${survivor.status?.reason})` : 'retired by the operator'}\n` +
        `drain: kubectl drain exited ${drain.code} ${t(drain.endedAt)}\n`,
    );
    expect(drain.code).toBe(0);
    expect(drain.out).toContain(`node/${node} drained`);
    // The budget made the drain wait: its first evictions were refused.
    expect(refusals).toBeGreaterThan(0);
    expect(replacement).toBeDefined();
    expect(replacement!.spec.node).not.toBe(node);
    const aliveSeen = seen.alive.get(replacement!.metadata.name ?? '');
    const deletionSeen = seen.deleting.get(pod);
    const exitSeen = seen.exited.get(pod);
    expect(aliveSeen).toBeDefined();
    expect(deletionSeen).toBeDefined();
    expect(exitSeen).toBeDefined();
    // The order: a replacement holds the secret, then the drained holder's pod is deleted and its
    // process ends, then drain completes.
    expect(aliveSeen!).toBeLessThan(deletionSeen!);
    expect(aliveSeen!).toBeLessThan(exitSeen!);
    expect(Date.parse(replacement!.status!.aliveAt!)).toBeLessThanOrEqual(deletionSeen!);
    expect(deletionSeen!).toBeLessThanOrEqual(drain.endedAt);
    // The same secret: the colony's fingerprint and what every process reports.
    expect(back.colony.status?.fingerprint).toBe(fingerprint);
    const ids = await Promise.all(back.cells.map((c) => rc.identity(c.status!.pod!)));
    expect(new Set(ids)).toEqual(new Set([fingerprint]));
    expect(back.cells.map((c) => c.spec.node)).not.toContain(node);
    expect(conditionOf(back.colony, 'Lost')?.status).toBe('False');
    // Never below the floor: every other original holder stayed alive throughout.
    const others = before.filter((c) => c.metadata.name !== victim.metadata.name);
    for (const c of others) expect(seen.deleting.has(c.status?.pod ?? '')).toBe(false);
  }, 240_000);
});
