// Who holds the secret, as far as the operator can prove it (docs/floor.md). Pure.
//
// A cell is a holder from the moment it proved it holds the colony's secret until proof that its
// memory is gone (phase Dead). Proof of holding: it reported the colony's public key on its own Cell,
// or it was Alive (Ready: "holds the secret now") once the colony had a key. Before the colony records
// its key nothing is held that anyone relies on: an unseeded genesis cell is not a holder, so a
// suspected one may be replaced (the replacement seeds a key nobody knew before either).
import type { Cell } from '../api/types.js';

/** Whether `cell` ever proved it holds the secret of the colony whose key is `colonyKey`. */
export function provedHolder(cell: Cell, colonyKey: string | undefined): boolean {
  if (!colonyKey) return false;
  const s = cell.status ?? {};
  if (s.publicKey) return s.publicKey === colonyKey;
  return s.phase === 'Alive' || s.phase === 'Unreachable' || Boolean(s.aliveAt);
}

/** A holder now: proved it holds the secret and is not proven dead. */
export function isHolder(cell: Cell, colonyKey: string | undefined): boolean {
  return cell.status?.phase !== 'Dead' && provedHolder(cell, colonyKey);
}

/** A holder the operator hears now (Alive). */
export function isHeardHolder(cell: Cell, colonyKey: string | undefined): boolean {
  return cell.status?.phase === 'Alive' && provedHolder(cell, colonyKey);
}

/** A holder the operator cannot hear now. */
export function isUnreachableHolder(cell: Cell, colonyKey: string | undefined): boolean {
  return cell.status?.phase === 'Unreachable' && provedHolder(cell, colonyKey);
}
