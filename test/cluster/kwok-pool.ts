// Many kwok nodes played by ONE kwok process (a "pool"), for scale runs where one process per node
// (ControlPlane.addNode, --manage-single-node) would not fit the machine. The pool's kwok manages
// every node labelled `celula.io/kwok-pool=<pool>` (--manage-nodes-with-label-selector: the API
// server filters the watch). Additive: pool nodes are not recorded under `<state>/nodes`, so
// ControlPlane.addNode / nodeNames / stopHeartbeat know nothing of them; use the functions here.
import * as path from 'node:path';
import { CoreV1Api, PatchStrategy, setHeaderOptions, type V1Node } from '@kubernetes/client-node';
import type { ControlPlane } from './controlplane.js';
import { fakeNode, type NodeOptions } from './kwok.js';
import { sleep, spawnComponent, stopComponent } from './procs.js';

export const KWOK_POOL_LABEL = 'celula.io/kwok-pool';
/** The pool label value of a node taken out of its pool (its heartbeat stopped). */
export const DETACHED_POOL = 'detached';

export interface PoolOptions extends Omit<NodeOptions, 'podCIDR'> {
  /** Index of the first node for nodeNetwork (distinct node objects' pod CIDRs). Default 0. */
  firstIndex?: number;
  /** Node objects created concurrently (default 16). */
  concurrency?: number;
}

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const componentName = (pool: string): string => `kwok-pool-${pool}`;

function poolArgs(cp: ControlPlane, pool: string, leaseSeconds: number): string[] {
  return [
    `--kubeconfig=${path.join(cp.stateDir, 'kwok.kubeconfig')}`,
    `--config=${path.join(cp.stateDir, 'kwok-stages.yaml')}`,
    `--manage-nodes-with-label-selector=${KWOK_POOL_LABEL}=${pool}`,
    `--node-lease-duration-seconds=${leaseSeconds}`,
    '--node-ip=10.254.0.1',
    // Pods kwok plays share this range; cell pods are left to the harness (kwokExcludePodLabel).
    '--cidr=10.200.0.0/16',
  ];
}

async function createAll(core: CoreV1Api, nodes: V1Node[], concurrency: number): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < nodes.length) {
      const body = nodes[next++]!;
      await core.createNode({ body });
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
}

/**
 * Registers `names` as kwok Nodes labelled for `pool` and starts the pool's one kwok process.
 * Resolves when every one of them is Ready (or throws after `timeoutMs`).
 */
export async function addNodePool(
  cp: ControlPlane,
  pool: string,
  names: string[],
  opts: PoolOptions = {},
  timeoutMs = 300_000,
): Promise<void> {
  if (pool === DETACHED_POOL) throw new Error(`pool name "${DETACHED_POOL}" is reserved`);
  const core = cp.kubeConfig().makeApiClient(CoreV1Api);
  const labels = { ...opts.labels, [KWOK_POOL_LABEL]: pool };
  const first = opts.firstIndex ?? 0;
  const nodes = names.map((n, i) => fakeNode(n, first + i, { ...opts, labels }));
  await createAll(core, nodes, opts.concurrency ?? 16);
  const lease = opts.leaseDurationSeconds ?? cp.state.nodeLeaseDurationSeconds;
  spawnComponent({
    name: componentName(pool),
    bin: path.join(cp.state.binDir, 'kwok'),
    args: poolArgs(cp, pool, lease),
    stateDir: cp.stateDir,
  });
  await waitPoolReady(cp, pool, names.length, timeoutMs);
}

const isReady = (n: V1Node): boolean =>
  n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

/** Resolves when `count` nodes of `pool` are Ready. */
export async function waitPoolReady(
  cp: ControlPlane,
  pool: string,
  count: number,
  timeoutMs: number,
): Promise<void> {
  const core = cp.kubeConfig().makeApiClient(CoreV1Api);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const list = await core.listNode({ labelSelector: `${KWOK_POOL_LABEL}=${pool}` });
    const ready = list.items.filter(isReady).length;
    if (ready >= count) return;
    if (Date.now() > deadline)
      throw new Error(`kwok pool ${pool}: ${ready} of ${count} nodes Ready after ${timeoutMs} ms`);
    await sleep(500);
  }
}

/**
 * Takes `node` out of its pool: relabelled `celula.io/kwok-pool=detached`, it leaves the pool kwok's
 * label-selected watch and kwok stops renewing its Lease and status (a machine whose kubelet died).
 * The Node object stays (nothing proves the machine gone).
 */
export async function detachNode(cp: ControlPlane, node: string): Promise<void> {
  const core = cp.kubeConfig().makeApiClient(CoreV1Api);
  await core.patchNode(
    { name: node, body: { metadata: { labels: { [KWOK_POOL_LABEL]: DETACHED_POOL } } } },
    mergePatch,
  );
}

/** Stops the pool's kwok process: every node of the pool stops heartbeating. */
export async function stopPool(cp: ControlPlane, pool: string): Promise<void> {
  await stopComponent(cp.stateDir, componentName(pool), 2000);
}
