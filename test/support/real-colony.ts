// A colony of real cell processes on a pool of kwok nodes, for the integration tests of the floor
// under voluntary and involuntary disruption (drain.test.ts, holder-kills.test.ts): the operator in
// process (its own service account), the local kubelet playing the cells' kubelet with each node's
// identity, and reads of the colony, its cells and the cells' own /identity.
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
  POOL_LABEL,
  readColony,
} from './colonies.js';
import { LocalKubelet } from './local-kubelet.js';
import { runOperator, type TestOperator } from './operator.js';
import {
  clusterInfo,
  controlPlane,
  createNamespace,
  deleteNamespace,
  kubeConfig,
  kubeConfigFromFile,
  waitFor,
} from '../integration/support/cluster.js';

/** Compiles dist/ (the cell processes run dist/src/cell/main.js); fails loudly when it cannot. */
export function buildDist(): void {
  spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], {
    stdio: 'ignore',
  });
  if (!existsSync('dist/src/cell/main.js'))
    throw new Error('dist/src/cell/main.js is missing: the build failed');
}

const nodeConfigs = new Map<string, KubeConfig>();
/** The node's own identity (a kubelet requests its pods' tokens with it). */
export function nodeIdentity(node: string): KubeConfig {
  let c = nodeConfigs.get(node);
  if (!c) {
    c = kubeConfigFromFile(controlPlane().kubeconfigForUser(`system:node:${node}`, ['system:nodes']));
    nodeConfigs.set(node, c);
  }
  return c;
}

export interface RealColonyOptions {
  /** Namespace prefix and operator log name. */
  name: string;
  pool: string;
  nodes: string[];
  replicas: number;
  minReplicas: number;
  digestChar: string;
  /** --node-loss-after in seconds. */
  nodeLossAfter: number;
  /** Changes to the Colony before it is created (e.g. its algorithm and program). */
  customize?: (body: Colony) => void;
}

export interface RealColony {
  kc: KubeConfig;
  custom: CustomObjectsApi;
  core: CoreV1Api;
  ns: string;
  colonyName: string;
  op: TestOperator;
  kubelet: LocalKubelet;
  colony(): Promise<Colony>;
  cells(): Promise<Cell[]>;
  /** The fingerprint a cell's process reports on /identity. */
  identity(pod: string): Promise<string>;
  /** Resolves when the colony is Ready with `n` heard holders that reported a fingerprint. */
  waitReady(n: number, timeoutMs: number): Promise<{ colony: Colony; cells: Cell[] }>;
  /** Adds a fresh pool node (a repaired or new machine). */
  addNode(node: string): Promise<void>;
  stop(): Promise<void>;
}

export const COLONY = 'vault';

/**
 * The hardened label as the hardening step writes it: a prefix of hijack.sh's digest (placement and
 * the cells accept only that shape; `true` is what a hand-made forgery would say).
 */
export const HARDENED_VALUE = 'abc123def456';

async function start(o: RealColonyOptions, kc: KubeConfig, ns: string): Promise<RealColony> {
  const custom = kc.makeApiClient(CustomObjectsApi);
  const addNode = (n: string): Promise<void> =>
    controlPlane().addNode(n, { labels: { [POOL_LABEL]: o.pool, [LABELS.hardened]: HARDENED_VALUE } });
  await Promise.all(o.nodes.map(addNode));
  const op = await runOperator({ namespace: ns, nodeLossAfter: o.nodeLossAfter });
  const kubelet = new LocalKubelet({
    admin: kc,
    server: clusterInfo().server,
    caFile: controlPlane().caFile,
    namespace: ns,
    tokenIdentity: nodeIdentity,
  });
  await kubelet.start();
  const body = poolColony(COLONY, o);
  body.metadata.labels = { [CELL_RUNTIME_LABEL]: 'local' };
  body.spec.nodes = { provider: 'existing' };
  o.customize?.(body);
  await custom.createNamespacedCustomObject({ ...colonyResource(ns), body });
  const cells = (): Promise<Cell[]> => cellsOf(custom, ns, COLONY);
  const colony = (): Promise<Colony> => readColony(custom, ns, COLONY);
  const added: string[] = [];
  return {
    kc,
    custom,
    core: kc.makeApiClient(CoreV1Api),
    ns,
    colonyName: COLONY,
    op,
    kubelet,
    colony,
    cells,
    identity: async (pod) => {
      const res = await fetch(`${kubelet.url(pod)}/identity`);
      return ((await res.json()) as { fingerprint: string }).fingerprint;
    },
    waitReady: (n, timeoutMs) =>
      waitFor(
        async () => {
          const c = await colony();
          const alive = (await cells()).filter((x) => x.status?.phase === 'Alive' && x.status.fingerprint);
          const ready = conditionOf(c, 'Ready')?.status === 'True' && c.status?.alive === n;
          return ready && alive.length === n ? { colony: c, cells: alive } : undefined;
        },
        `colony Ready with ${n} heard holders`,
        timeoutMs,
        250,
      ),
    addNode: async (n) => {
      added.push(n);
      await addNode(n);
    },
    stop: async () => {
      await kubelet.stop();
      await op.stop();
      writeFileSync(`${clusterInfo().stateDir}/logs/operator-${o.name}.log`, op.logs.join(''));
      await deletePoolNodes([...o.nodes, ...added]);
      await deleteNamespace(ns);
    },
  };
}

/** Pool nodes, the operator, the local kubelet and the colony (not yet Ready). */
export async function startRealColony(o: RealColonyOptions): Promise<RealColony> {
  buildDist();
  const kc = await kubeConfig();
  const ns = await createNamespace(o.name);
  return start(o, kc, ns);
}
