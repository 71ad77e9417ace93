// ReplayGuard: remembers each token credential id (JTI) it has served, with bounded memory.
// An entry lives until the token's expiry (or a default TTL no shorter than the longest token
// lifetime we accept). When full of live entries it fails closed: it refuses new joins rather than
// forgetting a JTI that could then be replayed.
import { clip, JoinRefused } from './errors.js';

export interface ReplayGuardOptions {
  maxEntries?: number;
  /** How long to remember a JTI whose token has no known expiry. Default 1 hour. */
  defaultTtlMs?: number;
  now?: () => number;
}

export class ReplayGuard {
  readonly #seen = new Map<string, number>();
  readonly #max: number;
  readonly #ttl: number;
  readonly #now: () => number;

  constructor(opts: ReplayGuardOptions = {}) {
    this.#max = opts.maxEntries ?? 10_000;
    this.#ttl = opts.defaultTtlMs ?? 3_600_000;
    this.#now = opts.now ?? Date.now;
  }

  get size(): number {
    return this.#seen.size;
  }

  /** Record a JTI; a refusal if it was already served or the guard is full. */
  claim(credentialId: string, expiresAt?: number): JoinRefused | undefined {
    const now = this.#now();
    const until = this.#seen.get(credentialId);
    if (until !== undefined && until > now) {
      return new JoinRefused('replay', `token credential id ${clip(credentialId, 64)} was already used`);
    }
    if (this.#seen.size >= this.#max) this.#purge(now);
    if (this.#seen.size >= this.#max) {
      return new JoinRefused('busy', 'replay guard is full; try again later');
    }
    this.#seen.set(credentialId, Math.max(expiresAt ?? 0, now + this.#ttl));
    return undefined;
  }

  #purge(now: number): void {
    for (const [jti, until] of this.#seen) {
      if (until <= now) this.#seen.delete(jti);
    }
  }
}
