// What the operator last wrote to an object's status, kept until its cache shows that write.
//
// A reconcile that runs again before the informer delivers the operator's own status write sees the
// old object. Two things go wrong if it trusts it: it plans from the old status (a count it already
// raised is raised from the old value again, so the second raise is lost; a "since" it already set is
// set anew), and it sends a patch guarded by the old resourceVersion — a certain 409 Conflict, then a
// re-read. The memo answers "what does this object look like after my last write?" while the cache
// still shows a version that write (or a chain of this writer's writes) replaced; reconcilers read
// their object through it (WriteClient.latest), and status writes start from it. As soon as the cache
// shows anything else (caught up, or another writer), the entry is dropped and the cache is trusted.
import type { KubernetesObject } from '@kubernetes/client-node';

interface Entry {
  /** Cached resourceVersions this writer's writes replaced, oldest first: the cache may still show any. */
  bases: string[];
  /** The resourceVersion and status the last write left behind. */
  resourceVersion: string;
  status: object | undefined;
}

type WithStatus = KubernetesObject & { status?: object };

/** Entries beyond this many (objects written whose cache never moved on, e.g. deleted) go oldest first. */
export const STATUS_MEMO_CAP = 4096;
/** Versions remembered per object: a cache further behind than this many own writes is re-read. */
const BASES_KEPT = 8;

export class StatusMemo {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly cap = STATUS_MEMO_CAP) {}

  /**
   * `cached`, or — while the cache still shows a version this writer's last writes replaced — the
   * object as the last write left it (its resourceVersion and status over the cached metadata and
   * spec). An object already answered (it carries the last write's version) is returned as it is.
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
    return {
      ...cached,
      metadata: { ...cached.metadata, resourceVersion: e.resourceVersion },
      status: e.status,
    };
  }

  /**
   * After a write (or a conflict's re-read): `from` is the version the write was decided on (as
   * fresher answered it), `seen` the object as the API server returned it.
   */
  remember(key: string, from: string | undefined, seen: WithStatus): void {
    const resourceVersion = seen.metadata?.resourceVersion;
    const e = this.entries.get(key);
    this.entries.delete(key);
    if (!from || !resourceVersion || resourceVersion === from) {
      // Nothing written: an entry the write started from still stands.
      if (e && from === e.resourceVersion) this.entries.set(key, e);
      return;
    }
    const chained = e && from === e.resourceVersion ? [...e.bases, from] : [from];
    this.entries.set(key, { bases: chained.slice(-BASES_KEPT), resourceVersion, status: seen.status });
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
