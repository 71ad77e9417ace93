// Shared by the integration tests that run the operator: a colony confined to a pool of this
// file's simulated nodes (other files' nodes never receive its cells), and reads of colonies and
// their cells.
import type { CustomObjectsApi } from '@kubernetes/client-node';
import {
  CELL_PLURAL,
  COLONY_PLURAL,
  GROUP,
  LABELS,
  VERSION,
  type Cell,
  type Colony,
  type Condition,
} from '../../src/api/types.js';
import { controlPlane } from '../integration/support/cluster.js';

export const POOL_LABEL = 'celula.test/pool';

/** A pool name unique to this jest worker and file prefix. */
export function poolName(prefix: string): string {
  return `${prefix}-${process.pid.toString(36)}`;
}

export interface PoolColonyOptions {
  pool: string;
  replicas: number;
  minReplicas: number;
  /** The digest's hex character (distinct per file keeps images apart). */
  digestChar?: string;
}

/** An unhardened ed25519 colony whose cells may only go to nodes of `pool`. */
export function poolColony(name: string, o: PoolColonyOptions): Colony {
  return {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: 'Colony',
    metadata: { name },
    spec: {
      image: `registry.example/lottery@sha256:${(o.digestChar ?? 'b').repeat(64)}`,
      replicas: o.replicas,
      minReplicas: o.minReplicas,
      secret: { algorithm: 'ed25519' },
      nodes: { provider: 'unhardened' },
      placement: { nodeSelector: { [POOL_LABEL]: o.pool } },
    },
  };
}

export async function addPoolNodes(pool: string, nodes: string[]): Promise<void> {
  await Promise.all(nodes.map((n) => controlPlane().addNode(n, { labels: { [POOL_LABEL]: pool } })));
}

export async function deletePoolNodes(nodes: string[]): Promise<void> {
  await Promise.all(
    nodes.map((n) =>
      controlPlane()
        .deleteNode(n)
        .catch(() => undefined),
    ),
  );
}

export function colonyResource(namespace: string): {
  group: string;
  version: string;
  namespace: string;
  plural: string;
} {
  return { group: GROUP, version: VERSION, namespace, plural: COLONY_PLURAL };
}

export async function readColony(custom: CustomObjectsApi, namespace: string, name: string): Promise<Colony> {
  return (await custom.getNamespacedCustomObject({ ...colonyResource(namespace), name })) as Colony;
}

export async function cellsOf(custom: CustomObjectsApi, namespace: string, colony: string): Promise<Cell[]> {
  const list = (await custom.listNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace,
    plural: CELL_PLURAL,
    labelSelector: `${LABELS.colony}=${colony}`,
  })) as { items: Cell[] };
  return list.items;
}

export function conditionOf(c: Colony, type: string): Condition | undefined {
  return c.status?.conditions?.find((x) => x.type === type);
}
