// Deterministic names for the objects the operator makes. No randomness, no clock:
// the same colony and index always give the same name, so a stale cache re-applies rather than
// duplicates. Names that would overflow get a short hash suffix.
import { createHash } from 'node:crypto';

/** Cell and pod names appear in label values, so they must fit 63 characters. */
export const MAX_LABEL_VALUE = 63;

function shortHash(s: string): string {
  return createHash('sha256').update(s).digest('hex').slice(0, 8);
}

/** `base-suffix`, shortened with a hash of the full name when longer than `max`. */
export function boundedName(base: string, suffix: string, max = MAX_LABEL_VALUE): string {
  const full = `${base}-${suffix}`;
  if (full.length <= max) return full;
  const tail = `-${shortHash(full)}-${suffix}`;
  return `${base.slice(0, max - tail.length).replace(/[-.]+$/, '')}${tail}`;
}

export function cellName(colony: string, index: number): string {
  return boundedName(colony, String(index));
}

/**
 * Every cell service account's name ends in `-cell` (boundedName keeps the suffix): the admission
 * walls recognise cell accounts by it, since a policy cannot read a TokenRequest's service account.
 */
export const CELL_SERVICE_ACCOUNT_SUFFIX = 'cell';

/** The service account whose projected token a colony's cells present when joining. */
export function cellServiceAccountName(colony: string): string {
  return boundedName(colony, CELL_SERVICE_ACCOUNT_SUFFIX);
}
