// What the operator last wrote to an object's status, kept until its cache shows that write.
//
// A reconcile that runs again before the informer delivers the operator's own status write sees the
// old object. Two things go wrong if it trusts it: it plans from the old status (a count it already
// raised is raised from the old value again, so the second raise is lost; a "since" it already set is
// set anew), and it sends a patch guarded by the old resourceVersion — a certain 409 Conflict, then a
// re-read. The memo answers "what does this object look like after my last write?" while the cache
// still shows a version that write (or a chain of this writer's writes, or a version it re-read after
// a conflict) replaced; reconcilers read their object through it (WriteClient.latest), and status
// writes start from it. The answer is the whole object the API server returned for the write (its
// spec and metadata too: a conflict's re-read may have brought a newer spec than the cache's). As
// soon as the cache shows anything else (caught up, or another writer), the entry is dropped and
// the cache is trusted.
import type { KubernetesObject } from '@kubernetes/client-node';

interface Entry {
  /** Versions this writer's writes replaced (or re-read), oldest first: the cache may still show any. */
  bases: string[];
  /** The resourceVersion the last write left behind. */
  resourceVersion: string;
  /** The object as the API server returned it for that write (managedFields dropped). */
  object: WithStatus;
}

type WithStatus = KubernetesObject & { status?: object };

/** Entries beyond this many (objects written whose cache never moved on, e.g. deleted) go oldest first. */
export const STATUS_MEMO_CAP = 4096;
/**
 * Versions remembered per object: the first (what a stalled cache keeps showing) and the most recent
 * ones; a cache that shows a version in between that fell out is trusted and, if stale, costs a 409.
 */
const BASES_KEPT = 8;

export class StatusMemo {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly cap = STATUS_MEMO_CAP) {}

  /**
   * `cached`, or — while the cache still shows a version this writer's last writes replaced — the
   * object as the last write left it. An object already answered (it carries the last write's
   * version) is returned as it is.
   */
  fresher<T extends WithStatus>(key: string, cached: T): T {
    const e = this.entries.get(key);
    if (!e) return cached;
    const rv = cached.metadata?.resourceVersion;
    if (rv === e.resourceVersion) return cached;
    if (rv === undefined || !e.bases.includes(rv)) {
      this.entries.delete(key);
      return cached;
    }
    return e.object as T;
  }

  /**
   * After a write: `from` is the version the write started from (as fresher answered it), `reread`
   * the versions read again after conflicts (oldest first), `seen` the object as the API server
   * returned it (the write's result, or the last re-read when it then changed nothing).
   */
  remember(key: string, from: string | undefined, seen: WithStatus, reread: readonly string[] = []): void {
    const resourceVersion = seen.metadata?.resourceVersion;
    const e = this.entries.get(key);
    this.entries.delete(key);
    if (!from || !resourceVersion || resourceVersion === from) {
      // Nothing written: an entry the write started from still stands.
      if (e && from === e.resourceVersion) this.entries.set(key, e);
      return;
    }
    const before = e && from === e.resourceVersion ? e.bases : [];
    const bases = keepFirstAndLast(
      [...new Set([...before, from, ...reread])].filter((v) => v !== resourceVersion),
    );
    this.entries.set(key, { bases, resourceVersion, object: withoutManagedFields(seen) });
    this.trim();
  }

  private trim(): void {
    if (this.entries.size <= this.cap) return;
    const oldest = this.entries.keys().next().value;
    if (oldest !== undefined) this.entries.delete(oldest);
  }

  size(): number {
    return this.entries.size;
  }
}

/** The first version (what a stalled cache keeps showing) and the most recent, BASES_KEPT in all. */
function keepFirstAndLast(bases: string[]): string[] {
  if (bases.length <= BASES_KEPT) return bases;
  return [bases[0] ?? '', ...bases.slice(-(BASES_KEPT - 1))];
}

function withoutManagedFields(o: WithStatus): WithStatus {
  if (!o.metadata?.managedFields) return o;
  const metadata = { ...o.metadata };
  delete metadata.managedFields;
  return { ...o, metadata };
}
