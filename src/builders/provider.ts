// What a colony's node provider implies, shared by the operator (placement) and the cell (what a
// peer requires of joiners). Pure; lives in builders so the cell never imports the controllers.
import type { Colony } from '../api/types.js';

/** Every provider but `unhardened` (development) requires cells on hardened nodes. */
export function requiresHardenedNodes(colony: Colony): boolean {
  return (colony.spec.nodes?.provider ?? 'adopt') !== 'unhardened';
}
