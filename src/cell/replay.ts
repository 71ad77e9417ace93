// ReplayGuard: remembers each token credential id (JTI) it has served, with bounded memory.
// An entry lives until the token's expiry (or a default TTL no shorter than the longest token
// lifetime we accept). When full of live entries it fails closed: it refuses new joins rather than
// forgetting a JTI that could then be replayed.
//
// A JTI is bound to the join key of the session that first presented it: the same token with the
// same join key is the same joiner trying again (its first attempt refused for a passing reason —
// its pod had no IP yet — or its reply lost), not a replay. Without that, one refused attempt would
// lock a joiner out of this peer until the kubelet rotates its token (~48 min), and out of the colony
// when this peer is its only holder. Nothing is given away: the secret is sealed only to the join
// key the pod published (write-once), so a copy of the token with that key gets nothing it can open.
import { clip, JoinRefused } from './errors.js';

export interface ReplayGuardOptions {
  maxEntries?: number;
  /** How long to remember a JTI whose token has no known expiry. Default 1 hour. */
  defaultTtlMs?: number;
  now?: () => number;
}

export class ReplayGuard {
  readonly #seen = new Map<string, { until: number; joinKey: string | undefined }>();
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

  /**
   * Record a JTI (bound to `joinKey`); a refusal if it was already served with another join key (or
   * none), or the guard is full.
   */
  claim(credentialId: string, expiresAt?: number, joinKey?: string): JoinRefused | undefined {
    const now = this.#now();
    const seen = this.#seen.get(credentialId);
    if (seen !== undefined && seen.until > now) {
      if (joinKey !== undefined && seen.joinKey === joinKey) return undefined;
      return new JoinRefused('replay', `token credential id ${clip(credentialId, 64)} was already used`);
    }
    if (this.#seen.size >= this.#max) this.#purge(now);
    if (this.#seen.size >= this.#max) {
      return new JoinRefused('busy', 'replay guard is full; try again later');
    }
    this.#seen.set(credentialId, { until: Math.max(expiresAt ?? 0, now + this.#ttl), joinKey });
    return undefined;
  }

  #purge(now: number): void {
    for (const [jti, { until }] of this.#seen) {
      if (until <= now) this.#seen.delete(jti);
    }
  }
}
