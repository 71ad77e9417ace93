// What the operator last wrote to an object's status, kept until its cache shows that write.
//
// A reconcile that runs again before the informer delivers the operator's own status write sees the
// old object: it would compute the status it just wrote, find it "changed", and send a patch guarded
// by the old resourceVersion — a certain 409 Conflict, then a re-read (two wasted requests, each
// time). The memo answers "what does this object look like after my last write?" while the cache
// still shows the version that write replaced; as soon as the cache shows anything else (caught up,
// or another writer), the memo entry is dropped and the cache is trusted again.
import type { KubernetesObject } from '@kubernetes/client-node';

interface Entry {
  /** The cached resourceVersion the write was decided on. */
  base: string;
  /** The resourceVersion and status the write left behind. */
  resourceVersion: string;
  status: object | undefined;
}

type WithStatus = KubernetesObject & { status?: object };

/** Entries beyond this many (objects written whose cache never moved on, e.g. deleted) go oldest first. */
export const STATUS_MEMO_CAP = 4096;

export class StatusMemo {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly cap = STATUS_MEMO_CAP) {}

  /**
   * `cached`, or — while the cache still shows exactly the version the last write replaced — the
   * object as that write left it (its resourceVersion and status over the cached metadata and spec).
   */
  fresher<T extends WithStatus>(key: string, cached: T): T {
    const e = this.entries.get(key);
    if (!e) return cached;
    if (e.base !== cached.metadata?.resourceVersion) {
      this.entries.delete(key);
      return cached;
    }
    return {
      ...cached,
      metadata: { ...cached.metadata, resourceVersion: e.resourceVersion },
      status: e.status,
    };
  }

  /** After a write (or a conflict's re-read): `seen` is the object as the API server returned it. */
  remember(key: string, base: string | undefined, seen: WithStatus): void {
    const resourceVersion = seen.metadata?.resourceVersion;
    this.entries.delete(key);
    if (!base || !resourceVersion || resourceVersion === base) return;
    this.entries.set(key, { base, resourceVersion, status: seen.status });
    if (this.entries.size > this.cap) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
  }

  size(): number {
    return this.entries.size;
  }
}
