// One NetworkPolicy per colony (docs/operations.md "Network policy"): only the colony's own cells
// reach its cells, and only on the cell port. It protects the joins' availability (a pod elsewhere
// cannot open join sessions on a peer and exhaust its limits); it authenticates nothing: join
// admission does that. Pure: a function of the Colony.
//
// Why no egress rule: a cell dials out to its peers (allowed here as their ingress) and to the API
// server (TokenReview, pod and node reads), whose address and port differ per cluster; restricting
// egress would add nothing to the secret's safety, since a cell never sends it but over the
// end-to-end encrypted join to a joiner that passed admission.
import type { V1LabelSelector, V1NetworkPolicy, V1NetworkPolicyIngressRule } from '@kubernetes/client-node';
import { LABELS, type Colony } from '../api/types.js';
import { colonyLabels } from './labels.js';
import { boundedName } from './names.js';
import { controllerRef } from './owner.js';
import { CELL_PORT } from './pod.js';
import { programPort } from './program-service.js';

/** `<colony>-cells`, shortened with a hash when it would not fit 63 characters. */
export function networkPolicyName(colony: string): string {
  return boundedName(colony, 'cells');
}

/** The colony's cell pods: its colony label, our manager label, and a cell label. */
export function cellPodSelector(colony: string): V1LabelSelector {
  return {
    matchLabels: colonyLabels(colony),
    matchExpressions: [{ key: LABELS.cell, operator: 'Exists' }],
  };
}

/**
 * A colony hosting a program (issue 13) is reached by its clients on the program port, from
 * anywhere: who may call the program is the program's business (and a cluster admin's, with another
 * NetworkPolicy); the join port stays reachable from the colony's own cells only.
 */
function programIngress(colony: Colony): V1NetworkPolicyIngressRule[] {
  const port = programPort(colony);
  return port === undefined ? [] : [{ ports: [{ protocol: 'TCP', port }] }];
}

export function buildCellNetworkPolicy(colony: Colony): V1NetworkPolicy {
  const name = colony.metadata.name;
  if (!name || !colony.metadata.namespace) {
    throw new Error('buildCellNetworkPolicy: the colony needs metadata.name and metadata.namespace');
  }
  const cells = cellPodSelector(name);
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: {
      name: networkPolicyName(name),
      namespace: colony.metadata.namespace,
      labels: colonyLabels(name),
      ownerReferences: [controllerRef(colony)],
    },
    spec: {
      podSelector: cells,
      // Ingress only: every other ingress to the selected pods is denied (kubelet probes come from
      // the node, which most CNIs always allow; see docs/operations.md).
      policyTypes: ['Ingress'],
      // A podSelector without a namespaceSelector means pods of the policy's own namespace. `_from`
      // is client-node's model name for `from` (KubernetesObjectApi serializes it by kind).
      ingress: [
        { _from: [{ podSelector: cells }], ports: [{ protocol: 'TCP', port: CELL_PORT }] },
        ...programIngress(colony),
      ],
    },
  };
}
