// One PodDisruptionBudget per colony (docs/floor.md "Voluntary disruption"): an eviction (kubectl
// drain, a cluster autoscaler scale-down, a node upgrade) may take a cell pod only while at least
// spec.replicas other cell pods are Ready. A cell pod is Ready exactly when its process holds the
// colony's secret (its /readyz), so a drained node's holder is evicted only after a replacement
// holds the secret. Pure: a function of the Colony.
//
// Why minAvailable = spec.replicas and not minReplicas: the floor is what the colony must never go
// below by accident; a voluntary disruption is planned, so it waits for the surge that keeps the
// colony at full strength. Why the default unhealthyPodEvictionPolicy (IfHealthyBudget): a holder
// that is stalled (not Ready) is still a holder; it may be evicted only while the budget is met by
// Ready cells, never with AlwaysAllow. The operator's own deletions do not go through evictions:
// it retires a holder only while spec.replicas other heard holders remain (colony-plan.ts).
import type { V1PodDisruptionBudget } from '@kubernetes/client-node';
import type { Colony } from '../api/types.js';
import { colonyLabels } from './labels.js';
import { boundedName } from './names.js';
import { cellPodSelector } from './network-policy.js';
import { controllerRef } from './owner.js';

/** `<colony>-cells`, shortened with a hash when it would not fit 63 characters. */
export function disruptionBudgetName(colony: string): string {
  return boundedName(colony, 'cells');
}

export function buildCellDisruptionBudget(colony: Colony): V1PodDisruptionBudget {
  const name = colony.metadata.name;
  if (!name || !colony.metadata.namespace) {
    throw new Error('buildCellDisruptionBudget: the colony needs metadata.name and metadata.namespace');
  }
  const replicas = colony.spec.replicas;
  if (!Number.isInteger(replicas) || replicas < 1) {
    throw new Error(`buildCellDisruptionBudget: spec.replicas must be a positive integer, got ${replicas}`);
  }
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: {
      name: disruptionBudgetName(name),
      namespace: colony.metadata.namespace,
      labels: colonyLabels(name),
      ownerReferences: [controllerRef(colony)],
    },
    spec: {
      // An integer (not a percentage): the disruption controller then needs no scale subresource
      // on the pods' controller (a Cell has none).
      minAvailable: replicas,
      selector: cellPodSelector(name),
      unhealthyPodEvictionPolicy: 'IfHealthyBudget',
    },
  };
}
