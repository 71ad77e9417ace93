// Node loss in seconds: the operator watches the kubelets' heartbeat Leases (kube-node-lease). When a
// node's kwok stops (its Lease freezes, the Node stays Ready for the controller-manager's 40 s grace),
// the genesis cell on it turns Dead (NodeLost, the message gives the Lease's age) within seconds and
// a new genesis cell is created on another node. Prints the measured detection time.
//
// That genesis cell holds nothing anyone relies on (kwok pods never report a key, so the colony is
// never seeded): a cell that holds nothing may be replaced on suspicion. A holder on a silent node is
// Unreachable, never Dead (docs/floor.md; test/integration/floor.test.ts).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  type V1Node,
} from '@kubernetes/client-node';
import { writeFileSync } from 'node:fs';
import { COLONY_PLURAL, GROUP, VERSION, type Cell, type Colony } from '../../src/api/types.js';
import { NODE_LEASE_NAMESPACE } from '../../src/controllers/node-lease.js';
import { addPoolNodes, cellsOf, deletePoolNodes, poolColony, poolName } from '../support/colonies.js';
import { runOperator, type TestOperator } from '../support/operator.js';
import {
  clusterInfo,
  controlPlane,
  createNamespace,
  deleteNamespace,
  kubeConfig,
  waitFor,
} from './support/cluster.js';

const POOL = poolName('nl');
const NODES = [0, 1, 2].map((i) => `${POOL}-n${i}`);
/** --node-loss-after for this test: kwok renews every 2 s, so 5 s tolerates one late renewal. */
const LOSS_AFTER_S = 5;

let kc: KubeConfig;
let core: CoreV1Api;
let custom: CustomObjectsApi;
let leases: CoordinationV1Api;
let ns: string;
let op: TestOperator;

const res = (plural: string) => ({ group: GROUP, version: VERSION, namespace: ns, plural });

const colony = (name: string): Colony =>
  poolColony(name, { pool: POOL, replicas: 2, minReplicas: 1, digestChar: 'c' });

const cells = (colonyName: string): Promise<Cell[]> => cellsOf(custom, ns, colonyName);

const ready = (n: V1Node): boolean =>
  n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

beforeAll(async () => {
  kc = await kubeConfig();
  core = kc.makeApiClient(CoreV1Api);
  custom = kc.makeApiClient(CustomObjectsApi);
  leases = kc.makeApiClient(CoordinationV1Api);
  ns = await createNamespace('node-loss');
  await addPoolNodes(POOL, NODES);
  op = await runOperator({ namespace: ns, nodeLossAfter: LOSS_AFTER_S });
});

afterAll(async () => {
  await op?.stop();
  if (op) writeFileSync(`${clusterInfo().stateDir}/logs/operator-node-loss.log`, op.logs.join(''));
  await deletePoolNodes(NODES);
  if (ns) await deleteNamespace(ns);
});

describe('node loss from the node Lease', () => {
  it('kills the genesis cell of a node whose Lease stopped within seconds and makes a new one elsewhere', async () => {
    await custom.createNamespacedCustomObject({ ...res(COLONY_PLURAL), body: colony('lottery') });
    // kwok makes the pod Ready: the genesis cell is Alive (no key is ever reported, so it stays the only cell).
    const genesis = await waitFor(
      async () => (await cells('lottery')).find((c) => c.spec.genesis && c.status?.phase === 'Alive'),
      'genesis cell Alive',
      30_000,
    );
    const lost = genesis.spec.node;
    expect(NODES).toContain(lost);

    const stopAt = Date.now();
    await controlPlane().stopHeartbeat(lost);
    const frozen = await leases.readNamespacedLease({ name: lost, namespace: NODE_LEASE_NAMESPACE });
    const lastRenewal = new Date(frozen.spec?.renewTime as unknown as string).getTime();

    const dead = await waitFor(
      async () => {
        const c = (await cells('lottery')).find((x) => x.metadata.name === genesis.metadata.name);
        return c?.status?.phase === 'Dead' && c;
      },
      'genesis cell Dead',
      30_000,
    );
    const seenAt = Date.now();
    // Far before the controller-manager's grace period: the Node still says Ready.
    const node = await core.readNode({ name: lost });
    expect(ready(node)).toBe(true);
    expect(dead.status?.reason).toBe('NodeLost');
    expect(dead.status?.message).toMatch(
      new RegExp(`node ${lost} stopped renewing its Lease: last renewal `),
    );

    const diedAt = new Date(dead.status?.diedAt ?? '').getTime();
    console.log(
      `node-loss detection (--node-loss-after ${LOSS_AFTER_S}s): ` +
        `${((diedAt - lastRenewal) / 1000).toFixed(1)} s after the last Lease renewal, ` +
        `${((diedAt - stopAt) / 1000).toFixed(1)} s after stopping the node's kwok ` +
        `(test saw it ${((seenAt - stopAt) / 1000).toFixed(1)} s after); Node still Ready: ${ready(node)}`,
    );
    expect(diedAt - lastRenewal).toBeGreaterThanOrEqual(LOSS_AFTER_S * 1000);
    expect(seenAt - stopAt).toBeLessThan(20_000);

    // Surge: a new genesis cell on another node, never on the lost one; the dead cell is not revived.
    const replacement = await waitFor(
      async () =>
        (await cells('lottery')).find(
          (c) => c.spec.genesis && c.metadata.name !== genesis.metadata.name && c.status?.phase !== 'Dead',
        ),
      'replacement genesis cell',
      20_000,
    );
    expect(replacement.spec.node).not.toBe(lost);
    expect(NODES).toContain(replacement.spec.node);
    await waitFor(
      async () =>
        (await cells('lottery')).find((c) => c.metadata.name === replacement.metadata.name)?.status?.phase ===
        'Alive',
      'replacement genesis cell Alive',
      30_000,
    );
    const again = (await cells('lottery')).find((c) => c.metadata.name === genesis.metadata.name);
    expect(again === undefined || again.status?.phase === 'Dead').toBe(true);
  });
});
