// Creations the colony controller made and its cache has not shown yet. A reconcile right after a
// create (its own status write wakes it) would otherwise plan from a cache without the new cell and
// create another: after an API server restart the Cells informer relisted 0.2 s after the Colonies
// one, and one colony got four genesis cells in 100 ms (found by the operator integration test).
// The colony waits until every cell it created is in the cache, or the expectation expires (a
// create that never shows up — deleted at once by someone — must not block the colony forever).

export const EXPECTATION_TTL_MS = 30_000;

interface Pending {
  names: Set<string>;
  until: number;
}

export class CreateExpectations {
  readonly #pending = new Map<string, Pending>();

  constructor(private readonly ttlMs = EXPECTATION_TTL_MS) {}

  /** The colony `uid` created cells `names` at `nowMs`. */
  expect(uid: string, names: readonly string[], nowMs: number): void {
    if (names.length === 0) return;
    const old = this.#pending.get(uid);
    const all = new Set([...(old?.names ?? []), ...names]);
    this.#pending.set(uid, { names: all, until: nowMs + this.ttlMs });
  }

  /** The created cells the cache does not show yet; forgets the colony's entry once none are left or it expired. */
  unseen(uid: string, inCache: (name: string) => boolean, nowMs: number): string[] {
    const p = this.#pending.get(uid);
    if (!p) return [];
    const left = [...p.names].filter((n) => !inCache(n));
    if (left.length === 0 || nowMs >= p.until) {
      this.#pending.delete(uid);
      return [];
    }
    return left;
  }

  forget(uid: string): void {
    this.#pending.delete(uid);
  }
}
