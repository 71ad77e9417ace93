// The operator's writes to the API server: server-side apply, guarded deletes, status patches that
// are sent only when changed, and events.
import {
  CoreV1Api,
  CustomObjectsApi,
  KubernetesObjectApi,
  type CoreV1Event,
  type KubeConfig,
} from '@kubernetes/client-node';
import {
  API_VERSION,
  CELL_PLURAL,
  COLONY_PLURAL,
  GROUP,
  MANAGER,
  VERSION,
  type Cell,
  type Colony,
} from '../api/types.js';
import { applyObject, customStatusClient, patchStatus, type StatusClient } from '../runtime/apply.js';
import { isNotFound } from '../observability/errors.js';
import type { EventRef, Kind, Writer } from './context.js';

const API_VERSIONS: Record<Kind, string> = {
  Colony: API_VERSION,
  Cell: API_VERSION,
  Pod: 'v1',
  ServiceAccount: 'v1',
  ClusterRoleBinding: 'rbac.authorization.k8s.io/v1',
};

/**
 * Pure: `status` with the `keep` fields taken from the live object as they are (absent stays
 * absent), so the merge patch against the live status never sets, changes or clears them. The
 * cell-identity wall refuses any operator write that would (the cell-reported fields).
 */
export function keptStatus(
  status: object,
  live: { status?: object | undefined },
  keep: readonly string[],
): object {
  const liveStatus = (live.status ?? {}) as Record<string, unknown>;
  const out: Record<string, unknown> = { ...status };
  for (const k of keep) out[k] = liveStatus[k];
  return out;
}

/** A write attempted while this replica does not (or no longer) hold the leader lease. */
export class NotLeaderError extends Error {
  constructor() {
    super('not written: this replica is not the leader (its lease renewal is overdue or lost)');
    this.name = 'NotLeaderError';
  }
}

export class ApiWriter implements Writer {
  private readonly objects: KubernetesObjectApi;
  private readonly core: CoreV1Api;
  private readonly status: Record<'Colony' | 'Cell', StatusClient<Colony | Cell>>;
  private eventSeq = 0;

  /**
   * `fence` is asked before every write: a replica that resumes from a stall with a reconcile in
   * flight must not finish it on a cache and a lease that are no longer its own.
   */
  constructor(
    kc: KubeConfig,
    private readonly now: () => Date,
    private readonly fence: () => boolean = () => true,
  ) {
    this.objects = KubernetesObjectApi.makeApiClient(kc);
    this.core = kc.makeApiClient(CoreV1Api);
    const custom = kc.makeApiClient(CustomObjectsApi);
    this.status = {
      Colony: customStatusClient(custom, {
        group: GROUP,
        version: VERSION,
        plural: COLONY_PLURAL,
        fieldManager: MANAGER,
      }),
      Cell: customStatusClient(custom, {
        group: GROUP,
        version: VERSION,
        plural: CELL_PLURAL,
        fieldManager: MANAGER,
      }),
    };
  }

  private fenced(): void {
    if (!this.fence()) throw new NotLeaderError();
  }

  async apply(obj: { apiVersion?: string; kind?: string; metadata?: object }): Promise<void> {
    this.fenced();
    await applyObject(this.objects, obj, { fieldManager: MANAGER });
  }

  /** Deletes by name; with a uid, only that incarnation (a precondition). Already gone is fine. */
  async delete(kind: Kind, namespace: string, name: string, uid?: string): Promise<void> {
    const spec = { apiVersion: API_VERSIONS[kind], kind, metadata: { name, namespace } };
    const body = uid ? { preconditions: { uid } } : undefined;
    this.fenced();
    try {
      await this.objects.delete(spec, undefined, undefined, undefined, undefined, 'Background', body);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  async patchStatus(
    kind: 'Colony' | 'Cell',
    current: Colony | Cell,
    status: object,
    keep: readonly string[] = [],
  ): Promise<boolean> {
    const desired = (live: Colony | Cell): object => keptStatus(status, live, keep);
    this.fenced();
    const result = await patchStatus(this.status[kind], current, desired);
    return result.changed;
  }

  async event(ref: EventRef, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    this.fenced();
    const now = this.now();
    const body: CoreV1Event = {
      metadata: {
        name: `${ref.name}.${now.getTime().toString(16)}${(this.eventSeq++).toString(16)}`,
        namespace: ref.namespace,
      },
      involvedObject: {
        apiVersion: API_VERSION,
        kind: ref.kind,
        namespace: ref.namespace,
        name: ref.name,
        uid: ref.uid,
      },
      reason,
      message,
      type,
      source: { component: MANAGER },
      reportingComponent: MANAGER,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    };
    await this.core.createNamespacedEvent({ namespace: ref.namespace, body });
  }
}
