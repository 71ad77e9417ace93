import { LABELS, MANAGER } from '../api/types.js';

/** Every object the operator makes carries this label (informers select on it). */
export function managedLabels(): Record<string, string> {
  return { [LABELS.managedBy]: MANAGER };
}

export function colonyLabels(colony: string): Record<string, string> {
  return { ...managedLabels(), [LABELS.colony]: colony };
}

export function cellLabels(
  colony: string,
  cell: string,
  index: number,
  genesis: boolean,
): Record<string, string> {
  return {
    ...colonyLabels(colony),
    [LABELS.cell]: cell,
    [LABELS.cellIndex]: String(index),
    [LABELS.genesis]: String(genesis),
  };
}

/** Index a cell was created with, read from its label; NaN when absent or malformed. */
export function cellIndexOf(labels: Record<string, string> | undefined): number {
  const raw = labels?.[LABELS.cellIndex];
  return raw !== undefined && /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
}
