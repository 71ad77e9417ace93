// kwok support: the Stage config each node's kwok process plays, and the fake Node objects.
import * as fs from 'node:fs';
import yaml from 'js-yaml';
import type { V1Node, V1Taint } from '@kubernetes/client-node';

/** Pods with this label are left alone by kwok's pod stages: a test harness drives their status. */
export interface PodLabel {
  key: string;
  value: string;
}

export const DEFAULT_EXCLUDED_POD_LABEL: PodLabel = { key: 'celula.io/cell-runtime', value: 'local' };
export const KWOK_NODE_ANNOTATION = 'kwok.x-k8s.io/node';

interface StageDoc {
  kind?: string;
  metadata?: { name?: string };
  spec?: {
    resourceRef?: { kind?: string };
    selector?: { matchExpressions?: Array<Record<string, unknown>> };
  };
}

/** kwok's pod stages that would change a pod's status; pod-delete stays (deletion must finish). */
const STATUS_STAGES = new Set(['pod-ready', 'pod-complete']);

/**
 * Writes the Stage config for kwok: upstream node/fast, node/heartbeat-with-lease and pod/fast,
 * with the status-changing pod stages made to skip pods that carry `exclude` (kwok's jq selector:
 * NotIn matches when the label is absent).
 */
export function writeStageConfig(source: string, target: string, exclude: PodLabel | null): void {
  const docs = yaml.loadAll(fs.readFileSync(source, 'utf8')) as StageDoc[];
  for (const doc of docs) {
    const isPodStatusStage =
      doc.spec?.resourceRef?.kind === 'Pod' && STATUS_STAGES.has(doc.metadata?.name ?? '');
    if (!exclude || !isPodStatusStage || !doc.spec) continue;
    doc.spec.selector ??= {};
    doc.spec.selector.matchExpressions ??= [];
    doc.spec.selector.matchExpressions.push({
      key: `.metadata.labels[${JSON.stringify(exclude.key)}]`,
      operator: 'NotIn',
      values: [exclude.value],
    });
  }
  fs.writeFileSync(target, docs.map((d) => yaml.dump(d)).join('---\n'));
}

export interface NodeOptions {
  labels?: Record<string, string>;
  taints?: V1Taint[];
  cpu?: string;
  memory?: string;
  pods?: string;
  /**
   * spec.podCIDR(s) of the node (also kwok's --cidr for the pods it plays), instead of the
   * 10.x.y.0/24 of nodeNetwork; e.g. a loopback range for cells on loopback (test/support/local-kubelet.ts).
   */
  podCIDR?: string;
  /**
   * This node's Lease duration (kwok --node-lease-duration-seconds; renewed every quarter of it),
   * as a kubelet's nodeLeaseDurationSeconds. Default: the cluster's nodeLeaseDurationSeconds.
   */
  leaseDurationSeconds?: number;
}

/** Addresses kwok gives node number `index` (distinct pod CIDRs so pod IPs don't collide). */
export function nodeNetwork(index: number): { nodeIP: string; podCIDR: string } {
  const hi = Math.floor(index / 250);
  const lo = (index % 250) + 1;
  return { nodeIP: `10.255.${hi}.${lo}`, podCIDR: `10.${100 + hi}.${lo}.0/24` };
}

/** The Node object kwok will manage (as a kubelet would register it). */
export function fakeNode(name: string, index: number, opts: NodeOptions = {}): V1Node {
  const capacity = { cpu: opts.cpu ?? '16', memory: opts.memory ?? '64Gi', pods: opts.pods ?? '110' };
  const podCIDR = opts.podCIDR ?? nodeNetwork(index).podCIDR;
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      annotations: { [KWOK_NODE_ANNOTATION]: 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
      labels: {
        'kubernetes.io/hostname': name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        type: 'kwok',
        ...opts.labels,
      },
    },
    spec: { podCIDR, podCIDRs: [podCIDR], taints: opts.taints },
    status: { capacity, allocatable: capacity, phase: 'Pending' },
  };
}
