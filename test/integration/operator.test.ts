// The operator against the real control plane, running as its own service account:
// Colony → genesis Cell → pod bound to a node in a PSS-restricted namespace; status explains the
// wait for the public key; deletion cascades; a restarted API server does not stop reconciliation;
// the service account's permissions are exactly the declared ones; genesis cells of many colonies
// spread across the nodes.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CoreV1Api, CustomObjectsApi, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { COLONY_PLURAL, GROUP, LABELS, VERSION, type Cell, type Colony } from '../../src/api/types.js';
import { OPERATOR_NAME } from '../../src/builders/rbac-rules.js';
import {
  addPoolNodes,
  cellsOf,
  deletePoolNodes,
  poolColony,
  poolName,
  readColony,
} from '../support/colonies.js';
import { runOperator, type TestOperator } from '../support/operator.js';
import {
  clusterInfo,
  controlPlane,
  createNamespace,
  deleteNamespace,
  kubeConfig,
  waitFor,
} from './support/cluster.js';

const POOL = poolName('op');
const NODES = [0, 1, 2, 3].map((i) => `${POOL}-n${i}`);

let kc: KubeConfig;
let core: CoreV1Api;
let custom: CustomObjectsApi;
let ns: string;
let op: TestOperator;

const res = (plural: string) => ({ group: GROUP, version: VERSION, namespace: ns, plural });

const colony = (name: string, replicas = 3): Colony =>
  poolColony(name, { pool: POOL, replicas, minReplicas: 2 });

const cells = (colonyName: string): Promise<Cell[]> => cellsOf(custom, ns, colonyName);

const getColony = (name: string): Promise<Colony> => readColony(custom, ns, name);

async function pods(colonyName: string): Promise<V1Pod[]> {
  return (await core.listNamespacedPod({ namespace: ns, labelSelector: `${LABELS.colony}=${colonyName}` }))
    .items;
}

function kubectl(args: string[], kubeconfig = clusterInfo().kubeconfig): string {
  const bin = `${controlPlane().state.binDir}/kubectl`;
  return execFileSync(bin, ['--kubeconfig', kubeconfig, ...args], { encoding: 'utf8' });
}

beforeAll(async () => {
  kc = await kubeConfig();
  core = kc.makeApiClient(CoreV1Api);
  custom = kc.makeApiClient(CustomObjectsApi);
  ns = await createNamespace('operator');
  const n = await core.readNamespace({ name: ns });
  n.metadata!.labels = { ...n.metadata!.labels, 'pod-security.kubernetes.io/enforce': 'restricted' };
  await core.replaceNamespace({ name: ns, body: n });
  await addPoolNodes(POOL, NODES);
  op = await runOperator({ leaderElect: true });
});

afterAll(async () => {
  await op?.stop();
  if (op) writeFileSync(`${clusterInfo().stateDir}/logs/operator-test.log`, op.logs.join(''));
  await deletePoolNodes(NODES);
  if (ns) await deleteNamespace(ns);
});

describe('operator', () => {
  it('enforces Pod Security restricted in the test namespace', async () => {
    const n = await core.readNamespace({ name: ns });
    expect(n.metadata?.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
  });

  it('creates one genesis cell with a bound pod and says it waits for the public key', async () => {
    await custom.createNamespacedCustomObject({ ...res(COLONY_PLURAL), body: colony('lottery') });
    const [genesis] = await waitFor(async () => {
      const c = await cells('lottery');
      return c.length > 0 && c;
    }, 'genesis cell');
    expect(genesis!.spec.genesis).toBe(true);
    expect(NODES).toContain(genesis!.spec.node);

    const pod = await waitFor(
      async () => (await pods('lottery')).find((p) => p.status?.phase === 'Running'),
      'genesis pod running',
    );
    expect(pod.spec?.nodeName).toBe(genesis!.spec.node);
    expect(pod.metadata?.ownerReferences?.[0]).toMatchObject({
      kind: 'Cell',
      name: genesis!.metadata.name,
      controller: true,
    });

    const col = await waitFor(async () => {
      const c = await getColony('lottery');
      return c.status?.conditions?.some((x) => x.type === 'SecretHeld') && c;
    }, 'colony status');
    const held = col.status!.conditions!.find((c) => c.type === 'SecretHeld')!;
    expect(held).toMatchObject({ status: 'False', reason: 'WaitingForPublicKey' });
    expect(held.message).toMatch(/public key/);
    expect(col.status!.conditions!.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False' });
    expect(col.status!.observedGeneration).toBe(col.metadata.generation);
    expect(col.status!.publicKey).toBeUndefined();

    // No other cell is made while there is no public key.
    await new Promise((r) => setTimeout(r, 1500));
    expect(await cells('lottery')).toHaveLength(1);
  });

  it('shows printer columns in kubectl get colonies,cells', async () => {
    // The simulated kubelet reports the pod ready, so the cell counts as alive; no key yet, so not Ready.
    // The colony's count follows the cell's phase by one reconcile: wait for it, then read the columns.
    await waitFor(async () => (await getColony('lottery')).status?.alive === 1, 'colony status.alive 1');
    const out = kubectl(['get', 'colonies,cells', '-n', ns]);
    expect(out).toMatch(/NAME\s+DESIRED\s+ALIVE\s+READY\s+FINGERPRINT\s+AGE/);
    expect(out).toMatch(/colony\.celula\.io\/lottery\s+3\s+1\s+False/);
    expect(out).toMatch(/NAME\s+COLONY\s+NODE\s+PHASE\s+GENESIS\s+AGE/);
    expect(out).toMatch(/cell\.celula\.io\/lottery-0\s+lottery\s+\S+\s+\w+\s+true/);
  });

  it('documents every spec field in kubectl explain', () => {
    const out = kubectl(['explain', 'colony.spec', '--recursive=false']);
    for (const field of [
      'image',
      'replicas',
      'minReplicas',
      'secret',
      'placement',
      'nodes',
      'resources',
      'args',
    ]) {
      expect(out).toMatch(new RegExp(`^\\s+${field}\\s`, 'm'));
    }
    expect(kubectl(['explain', 'colony.spec.image'])).toMatch(/digest/i);
  });

  it('keeps reconciling after the API server restarts (dropped watches)', async () => {
    await controlPlane().restartApiServer();
    await custom.createNamespacedCustomObject({ ...res(COLONY_PLURAL), body: colony('after-restart', 2) });
    const made = await waitFor(
      async () => {
        const c = await cells('after-restart');
        return c.length === 1 && c[0];
      },
      'cell of a colony created after the API server restart',
      30_000,
    );
    expect(made.spec.genesis).toBe(true);
    await waitFor(async () => (await pods('after-restart')).length === 1, 'pod after restart', 30_000);
  });

  it('removes cells and pods when the colony is deleted', async () => {
    await custom.deleteNamespacedCustomObject({ ...res(COLONY_PLURAL), name: 'lottery' });
    await waitFor(
      async () => (await cells('lottery')).length === 0 && (await pods('lottery')).length === 0,
      'cascade delete',
      60_000,
    );
  });

  it('spreads the genesis cells of many colonies across the nodes (issue 12)', async () => {
    const names = Array.from({ length: 12 }, (_, i) => `spread-${i}`);
    // Cells already there (after-restart's genesis cell) count as load like any other colony's.
    const before = (await Promise.all(['lottery', 'after-restart'].map(cells))).flat();
    await Promise.all(
      names.map((name) => custom.createNamespacedCustomObject({ ...res(COLONY_PLURAL), body: colony(name) })),
    );
    const genesis = await waitFor(async () => {
      const all = await Promise.all(names.map(async (n) => (await cells(n)).find((c) => c.spec.genesis)));
      return all.every((c) => c !== undefined) && all;
    }, 'a genesis cell for each of the 12 colonies');
    const living = [...before, ...genesis].filter((c) => c.status?.phase !== 'Dead');
    const perNode = NODES.map((n) => living.filter((c) => c.spec.node === n).length);
    // 12 colonies created at once on 4 nodes: as even as the cells already there allow, not 12 on
    // the first node.
    expect(perNode.reduce((a, b) => a + b, 0)).toBe(living.length);
    expect(Math.max(...perNode) - Math.min(...perNode)).toBeLessThanOrEqual(1);
    await Promise.all(
      names.map((name) => custom.deleteNamespacedCustomObject({ ...res(COLONY_PLURAL), name })),
    );
  });

  it("grants the operator's service account exactly the declared permissions, no wildcard", () => {
    const out = kubectl([
      'auth',
      'can-i',
      '--list',
      `--as=system:serviceaccount:celula-system:${OPERATOR_NAME}`,
      '-n',
      'celula-system',
    ]);
    const rows = out
      .split('\n')
      .slice(1)
      .filter((l) => l.trim());
    expect(rows.some((r) => /(^|\s)\*(\s|\.|$)|\[\*\]/.test(r))).toBe(false);
    const text = rows.join('\n');
    for (const r of [
      'colonies.celula.io',
      'colonies.celula.io/status',
      'cells.celula.io',
      'cells.celula.io/status',
      'pods',
      'serviceaccounts',
      'nodes',
      'events',
      'leases.coordination.k8s.io',
    ]) {
      expect(text).toMatch(new RegExp(`^${r.replace(/\./g, '\\.')}\\s`, 'm'));
    }
    expect(text).not.toMatch(/^secrets\s/m);
    expect(text).not.toMatch(/^pods\/exec\s/m);
    // can-i answers "no" (and exits 1) for what the operator must not do.
    for (const verb of [
      ['get', 'secrets'],
      ['create', 'pods', '--subresource=exec'],
      ['delete', 'nodes'],
      ['update', 'clusterroles'],
    ]) {
      const r = spawnSync(
        `${controlPlane().state.binDir}/kubectl`,
        [
          '--kubeconfig',
          clusterInfo().kubeconfig,
          'auth',
          'can-i',
          ...verb,
          '-A',
          `--as=system:serviceaccount:celula-system:${OPERATOR_NAME}`,
        ],
        { encoding: 'utf8' },
      );
      expect(`${verb.join(' ')}: ${r.stdout.trim()}`).toBe(`${verb.join(' ')}: no`);
    }
  });
});
