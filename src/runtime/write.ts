// The one write client: every write the operator makes goes through here, as one field manager,
// after asking one fence (the leader gate). Server-side apply, create and replace (for objects kept
// whole, e.g. restored policies), status patches sent only when changed, a node merge patch, deletes
// with a uid precondition, and the one event recorder. Generic: the field manager, the fence and the
// clock are given. Every write first takes a token from one client-side rate limit (a token bucket,
// rate-limit.ts): when writes must wait, the caller's priority orders them (by default status writes
// first, events last).
import {
  CoreV1Api,
  CustomObjectsApi,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
  type CoreV1Event,
  type KubeConfig,
  type KubernetesObject,
  type V1ObjectReference,
} from '@kubernetes/client-node';
import { isNotFound } from '../observability/errors.js';
import { applyObject, customStatusClient, patchStatus, type StatusClient } from './apply.js';
import type { Clock } from './clock.js';
import { PRIORITY, PriorityTokenBucket, type Priority, type RateLimit } from './rate-limit.js';
import { StatusMemo } from './status-memo.js';

/** A write attempted while this replica does not (or no longer) hold the leader lease. */
export class NotLeaderError extends Error {
  constructor() {
    super('not written: this replica is not the leader (its lease renewal is overdue or lost)');
    this.name = 'NotLeaderError';
  }
}

/** An object by name: enough to delete it. */
export interface ObjectRef {
  apiVersion: string;
  kind: string;
  namespace?: string;
  name: string;
}

/** A custom resource's status subresource. */
export interface StatusResource {
  group: string;
  version: string;
  plural: string;
}

type WithStatus = KubernetesObject & { status?: object };

/** A write as the priority function sees it: the verb and the kind of object written. */
export interface WriteRequest {
  verb: 'apply' | 'create' | 'replace' | 'delete' | 'status' | 'patchNode' | 'event';
  kind?: string;
}

/** Status writes first, events last, the rest in between. */
export function defaultPriority(w: WriteRequest): Priority {
  if (w.verb === 'status') return PRIORITY.high;
  return w.verb === 'event' ? PRIORITY.low : PRIORITY.normal;
}

/** The default client-side write limit (flags --write-qps, --write-burst). */
export const DEFAULT_WRITE_LIMIT: RateLimit = { qps: 50, burst: 100 };

export interface WriteClientOptions {
  kubeConfig: KubeConfig;
  /** Every write is made as this field manager; events name it as their source. */
  fieldManager: string;
  /** Event timestamps. */
  now: () => Date;
  /**
   * Asked before every write: a replica that resumes from a stall with a reconcile in flight must
   * not finish it on a cache and a lease that are no longer its own. Default: always write.
   */
  fence?: () => boolean;
  /** Client-side write limit; default DEFAULT_WRITE_LIMIT. */
  rateLimit?: RateLimit;
  /** Which writes go first when writes must wait; default defaultPriority. */
  priority?: (w: WriteRequest) => Priority;
  /** The rate limit's clock (tests). */
  clock?: Clock;
}

export class WriteClient {
  private readonly objects: KubernetesObjectApi;
  private readonly core: CoreV1Api;
  private readonly custom: CustomObjectsApi;
  private readonly statusClients = new Map<string, StatusClient<WithStatus>>();
  private readonly fence: () => boolean;
  private readonly bucket: PriorityTokenBucket;
  private readonly priority: (w: WriteRequest) => Priority;
  private readonly memo = new StatusMemo();
  private eventSeq = 0;

  constructor(private readonly opts: WriteClientOptions) {
    this.objects = KubernetesObjectApi.makeApiClient(opts.kubeConfig);
    this.core = opts.kubeConfig.makeApiClient(CoreV1Api);
    this.custom = opts.kubeConfig.makeApiClient(CustomObjectsApi);
    this.fence = opts.fence ?? ((): boolean => true);
    this.bucket = new PriorityTokenBucket(opts.rateLimit ?? DEFAULT_WRITE_LIMIT, opts.clock);
    this.priority = opts.priority ?? defaultPriority;
  }

  /** Writes waiting for the rate limit now. */
  queued(): number {
    return this.bucket.queued();
  }

  /**
   * The fence, then a token of the rate limit, then the fence again: a replica that lost the lease
   * while its write waited sends nothing.
   */
  private async admit(w: WriteRequest): Promise<void> {
    if (!this.fence()) throw new NotLeaderError();
    await this.bucket.acquire(this.priority(w));
    if (!this.fence()) throw new NotLeaderError();
  }

  /** Server-side apply of a full desired object; `force` takes over fields another manager owns. */
  async apply(obj: { apiVersion?: string; kind?: string; metadata?: object }, force = false): Promise<void> {
    await this.admit({ verb: 'apply', kind: obj.kind });
    await applyObject(this.objects, obj, { fieldManager: this.opts.fieldManager, force });
  }

  /** Creates an object; 409 AlreadyExists propagates (the caller knows whether that is fine). */
  async create(obj: KubernetesObject): Promise<void> {
    await this.admit({ verb: 'create', kind: obj.kind });
    await this.objects.create(obj, undefined, undefined, this.opts.fieldManager);
  }

  /** Replaces an object whole (PUT); `obj.metadata.resourceVersion` guards against a lost update. */
  async replace(obj: KubernetesObject): Promise<void> {
    await this.admit({ verb: 'replace', kind: obj.kind });
    await this.objects.replace(obj, undefined, undefined, this.opts.fieldManager);
  }

  /** Deletes by name, in the background; with a uid, only that incarnation. Already gone is fine. */
  async delete(ref: ObjectRef, uid?: string): Promise<void> {
    const spec = {
      apiVersion: ref.apiVersion,
      kind: ref.kind,
      metadata: { name: ref.name, namespace: ref.namespace },
    };
    const body = uid ? { preconditions: { uid } } : undefined;
    await this.admit({ verb: 'delete', kind: ref.kind });
    try {
      await this.objects.delete(spec, undefined, undefined, undefined, undefined, 'Background', body);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  /**
   * Writes the status `desired(live)` computes only when it differs from the live one (see
   * runtime/apply.ts patchStatus: resourceVersion-guarded, re-read and retried on conflict).
   * Returns true when written. While the cache has not yet delivered this client's last write to the
   * same object, `current` is taken as that write left it (status-memo.ts): no patch bound to fail.
   */
  async patchStatus<T extends WithStatus>(
    res: StatusResource,
    current: T,
    desired: (live: T) => object,
  ): Promise<boolean> {
    if (!this.fence()) throw new NotLeaderError();
    const inner = this.statusClient(res) as StatusClient<T>;
    // A token only for a patch actually sent: an unchanged status costs no request and no token.
    const client: StatusClient<T> = {
      read: (namespace, name) => inner.read(namespace, name),
      patchStatus: async (namespace, name, patch) => {
        await this.admit({ verb: 'status', kind: current.kind });
        return inner.patchStatus(namespace, name, patch);
      },
    };
    const key = memoKey(res, current);
    const from = this.memo.fresher(key, current);
    const result = await patchStatus(client, from, desired);
    this.memo.remember(key, from.metadata?.resourceVersion, result.object, result.reread);
    return result.changed;
  }

  /**
   * `cached`, or the object as this client's last status write left it while the cache has not shown
   * that write yet (status-memo.ts): what a reconciler plans from, so a status it derives from the
   * old one (a count, a "since") builds on what it last wrote, not on what the cache still shows.
   */
  latest<T extends WithStatus>(res: StatusResource, cached: T): T {
    return this.memo.fresher(memoKey(res, cached), cached);
  }

  /** JSON merge patch of a node. */
  async patchNode(name: string, patch: object): Promise<void> {
    await this.admit({ verb: 'patchNode', kind: 'Node' });
    const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
    await this.core.patchNode({ name, body: patch, fieldManager: this.opts.fieldManager }, mergePatch);
  }

  /** An event about `regarding`, in its namespace (cluster-scoped objects: `default`, where kubectl describe finds them). */
  async event(
    regarding: V1ObjectReference,
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
  ): Promise<void> {
    await this.admit({ verb: 'event', kind: 'Event' });
    const t = this.opts.now();
    const namespace = regarding.namespace || 'default';
    const component = this.opts.fieldManager;
    const body: CoreV1Event = {
      metadata: {
        name: `${regarding.name ?? 'x'}.${t.getTime().toString(16)}${(this.eventSeq++).toString(16)}`,
        namespace,
      },
      involvedObject: { ...regarding, namespace: regarding.namespace || undefined },
      reason,
      message,
      type,
      source: { component },
      reportingComponent: component,
      firstTimestamp: t,
      lastTimestamp: t,
      count: 1,
    };
    await this.core.createNamespacedEvent({ namespace, body });
  }

  private statusClient(res: StatusResource): StatusClient<WithStatus> {
    const key = `${res.plural}.${res.group}/${res.version}`;
    let client = this.statusClients.get(key);
    if (!client) {
      client = customStatusClient<WithStatus>(this.custom, { ...res, fieldManager: this.opts.fieldManager });
      this.statusClients.set(key, client);
    }
    return client;
  }
}

function memoKey(res: StatusResource, o: KubernetesObject): string {
  return `${res.plural}.${res.group}/${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
}
