// Issue 9, acceptance 1, on the real control plane: the operator never destroys holders it merely
// cannot hear. Real cell processes (test/support/local-kubelet.ts plays their kubelet) on kwok nodes:
//   1. every node's heartbeat stops ~45 s (kwok killed: Leases freeze, the node lifecycle controller
//      turns the nodes Ready=Unknown and their pods NotReady at 40 s) while the cells keep running →
//      no holder killed, the colony never Lost, the same fingerprint, Ready again after heartbeats resume;
//   2. every cell process stalls 4 s (SIGSTOP) → readiness fails, the colony is never Lost, Ready again.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { LABELS, type Cell, type Colony } from '../../src/api/types.js';
import { CELL_RUNTIME_LABEL } from '../../src/builders/pod.js';
import {
  cellsOf,
  colonyResource,
  conditionOf,
  deletePoolNodes,
  poolColony,
  poolName,
  POOL_LABEL,
  readColony,
} from '../support/colonies.js';
import { LocalKubelet } from '../support/local-kubelet.js';
import { runOperator, type TestOperator } from '../support/operator.js';
import {
  clusterInfo,
  controlPlane,
  createNamespace,
  deleteNamespace,
  kubeConfig,
  kubeConfigFromFile,
  waitFor,
} from './support/cluster.js';

const POOL = poolName('floor');
const NODES = [0, 1, 2].map((i) => `${POOL}-n${i}`);
const COLONY = 'vault';
/** --node-loss-after: kwok renews every 2 s; a single lost node would be suspected in 5 s. */
const LOSS_AFTER_S = 5;

let kc: KubeConfig;
let custom: CustomObjectsApi;
let core: CoreV1Api;
let ns: string;
let op: TestOperator | undefined;
let kubelet: LocalKubelet | undefined;

function buildDist(): void {
  spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], {
    stdio: 'ignore',
  });
  if (!existsSync('dist/src/cell/main.js'))
    throw new Error('dist/src/cell/main.js is missing: the build failed');
}

const nodeConfigs = new Map<string, KubeConfig>();
/** The node's own identity (a kubelet requests its pods' tokens with it). */
function nodeIdentity(node: string): KubeConfig {
  let c = nodeConfigs.get(node);
  if (!c) {
    c = kubeConfigFromFile(controlPlane().kubeconfigForUser(`system:node:${node}`, ['system:nodes']));
    nodeConfigs.set(node, c);
  }
  return c;
}

const cells = (): Promise<Cell[]> => cellsOf(custom, ns, COLONY);
const colony = (): Promise<Colony> => readColony(custom, ns, COLONY);

async function identity(pod: string): Promise<string> {
  const res = await fetch(`${kubelet!.url(pod)}/identity`);
  return ((await res.json()) as { fingerprint: string }).fingerprint;
}

/** Resolves when the colony is Ready with `n` heard holders that reported the colony's fingerprint. */
async function waitReady(n: number, timeoutMs: number): Promise<{ colony: Colony; cells: Cell[] }> {
  return waitFor(
    async () => {
      const c = await colony();
      const alive = (await cells()).filter((x) => x.status?.phase === 'Alive' && x.status.fingerprint);
      const ready = conditionOf(c, 'Ready')?.status === 'True' && c.status?.alive === n;
      return ready && alive.length === n ? { colony: c, cells: alive } : undefined;
    },
    `colony Ready with ${n} heard holders`,
    timeoutMs,
    250,
  );
}

interface Watch {
  deadCells: Set<string>;
  lostSeen: boolean;
  deletedPods: Set<string>;
  unreachableSeen: number;
  readyFalseSeen: boolean;
}

/** Samples the colony, its cells and pods until `stop()` is called; records every bad sign. */
function watchFloor(): { stop: () => Promise<Watch> } {
  const seen: Watch = {
    deadCells: new Set(),
    lostSeen: false,
    deletedPods: new Set(),
    unreachableSeen: 0,
    readyFalseSeen: false,
  };
  let running = true;
  const loop = (async (): Promise<void> => {
    while (running) {
      const [c, cs, pods] = await Promise.all([colony(), cells(), core.listNamespacedPod({ namespace: ns })]);
      if (conditionOf(c, 'Lost')?.status === 'True') seen.lostSeen = true;
      if (conditionOf(c, 'Ready')?.status !== 'True') seen.readyFalseSeen = true;
      seen.unreachableSeen = Math.max(seen.unreachableSeen, c.status?.unreachable ?? 0);
      for (const x of cs) if (x.status?.phase === 'Dead') seen.deadCells.add(x.metadata.name ?? '');
      for (const p of pods.items)
        if (p.metadata?.deletionTimestamp) seen.deletedPods.add(p.metadata.name ?? '');
      await new Promise((r) => setTimeout(r, 500));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return seen;
    },
  };
}

beforeAll(async () => {
  buildDist();
  kc = await kubeConfig();
  custom = kc.makeApiClient(CustomObjectsApi);
  core = kc.makeApiClient(CoreV1Api);
  ns = await createNamespace('floor');
  await Promise.all(
    NODES.map((n) =>
      controlPlane().addNode(n, { labels: { [POOL_LABEL]: POOL, [LABELS.hardened]: 'abc123def456' } }),
    ),
  );
  op = await runOperator({ namespace: ns, nodeLossAfter: LOSS_AFTER_S });
  const info = clusterInfo();
  kubelet = new LocalKubelet({
    admin: kc,
    server: info.server,
    caFile: controlPlane().caFile,
    namespace: ns,
    tokenIdentity: nodeIdentity,
  });
  await kubelet.start();
  const body = poolColony(COLONY, { pool: POOL, replicas: 3, minReplicas: 2, digestChar: 'f' });
  body.metadata.labels = { [CELL_RUNTIME_LABEL]: 'local' };
  body.spec.nodes = { provider: 'existing' };
  await custom.createNamespacedCustomObject({ ...colonyResource(ns), body });
}, 180_000);

afterAll(async () => {
  for (const n of NODES)
    await controlPlane()
      .resumeHeartbeat(n)
      .catch(() => undefined);
  kubelet?.stallAll(false);
  await kubelet?.stop();
  await op?.stop();
  if (op) writeFileSync(`${clusterInfo().stateDir}/logs/operator-floor.log`, op.logs.join(''));
  await deletePoolNodes(NODES);
  if (ns) await deleteNamespace(ns);
});

describe('the floor holds through faults that kill nothing (issue 9, acceptance 1)', () => {
  let fingerprint = '';
  let holders: string[] = [];

  it('seeds a colony of three holders', async () => {
    const { colony: c, cells: alive } = await waitReady(3, 120_000);
    fingerprint = c.status?.fingerprint ?? '';
    expect(fingerprint).not.toBe('');
    holders = alive.map((x) => x.metadata.name ?? '').sort();
    const ids = await Promise.all(alive.map((x) => identity(x.status!.pod!)));
    expect(new Set(ids)).toEqual(new Set([fingerprint]));
  });

  it('every heartbeat stalled ~45 s with cells running: no holder killed, never Lost, Ready again, same key', async () => {
    const watch = watchFloor();
    const t0 = Date.now();
    await Promise.all(NODES.map((n) => controlPlane().stopHeartbeat(n)));
    // Past the controller-manager's 40 s grace: nodes turn Ready=Unknown and pods NotReady.
    await waitFor(
      async () => {
        const nodes = await Promise.all(NODES.map((name) => core.readNode({ name })));
        return nodes.every(
          (n) => n.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'Unknown',
        );
      },
      'every pool node Ready=Unknown',
      60_000,
      500,
    );
    const stalledFor = Date.now() - t0;
    await new Promise((r) => setTimeout(r, Math.max(0, 45_000 - stalledFor)));
    await Promise.all(NODES.map((n) => controlPlane().resumeHeartbeat(n)));
    const resumed = Date.now();
    const back = await waitReady(3, 90_000);
    const seen = await watch.stop();
    process.stdout.write(
      `floor: heartbeats stalled ${((resumed - t0) / 1000).toFixed(1)} s; Ready again ` +
        `${((Date.now() - resumed) / 1000).toFixed(1)} s after they resumed; ` +
        `dead=${seen.deadCells.size} deletedPods=${seen.deletedPods.size} lost=${seen.lostSeen} ` +
        `maxUnreachable=${seen.unreachableSeen}\n`,
    );
    expect([...seen.deadCells]).toEqual([]);
    expect([...seen.deletedPods]).toEqual([]);
    expect(seen.lostSeen).toBe(false);
    expect(back.cells.map((x) => x.metadata.name ?? '').sort()).toEqual(holders);
    expect(back.colony.status?.fingerprint).toBe(fingerprint);
    const ids = await Promise.all(back.cells.map((x) => identity(x.status!.pod!)));
    expect(new Set(ids)).toEqual(new Set([fingerprint]));
    expect(kubelet!.cells().filter((c) => c.exitCode !== undefined)).toEqual([]);
  });

  it('every cell stalled 4 s (SIGSTOP): never Lost, no holder killed, Ready again with the same key', async () => {
    const watch = watchFloor();
    kubelet!.stallAll(true);
    await new Promise((r) => setTimeout(r, 4000));
    kubelet!.stallAll(false);
    const back = await waitReady(3, 60_000);
    const seen = await watch.stop();
    process.stdout.write(
      `floor: cells stalled 4 s; readiness dropped=${seen.readyFalseSeen} maxUnreachable=${seen.unreachableSeen} ` +
        `dead=${seen.deadCells.size} lost=${seen.lostSeen}\n`,
    );
    expect(seen.lostSeen).toBe(false);
    expect([...seen.deadCells]).toEqual([]);
    expect([...seen.deletedPods]).toEqual([]);
    expect(back.cells.map((x) => x.metadata.name ?? '').sort()).toEqual(holders);
    expect(back.colony.status?.fingerprint).toBe(fingerprint);
    expect(conditionOf(back.colony, 'Lost')?.status).toBe('False');
    expect(conditionOf(back.colony, 'HoldersUnreachable')?.status).toBe('False');
  });
});
