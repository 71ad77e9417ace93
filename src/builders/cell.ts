// Desired Cell objects: pure functions of the colony and the chosen index and node.
import { API_VERSION, CellKind, type Cell, type Colony } from '../api/types.js';
import { cellLabels } from './labels.js';
import { cellName } from './names.js';
import { controllerRef } from './owner.js';

export interface CellPlacement {
  index: number;
  node: string;
  genesis: boolean;
}

export function buildCell(colony: Colony, p: CellPlacement): Cell {
  const colonyName = colony.metadata.name ?? '';
  const name = cellName(colonyName, p.index);
  return {
    apiVersion: API_VERSION,
    kind: CellKind,
    metadata: {
      name,
      namespace: colony.metadata.namespace,
      labels: cellLabels(colonyName, name, p.index, p.genesis),
      ownerReferences: [controllerRef(colony)],
    },
    spec: { colony: colonyName, node: p.node, genesis: p.genesis },
  };
}
