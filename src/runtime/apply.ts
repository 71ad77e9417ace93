// Writes: server-side apply with one field manager, and status patches that are sent only when the
// status changed, guarded by resourceVersion (409 Conflict → re-read → retry, bounded).
import {
  PatchStrategy,
  setHeaderOptions,
  type CustomObjectsApi,
  type KubernetesObject,
  type KubernetesObjectApi,
} from '@kubernetes/client-node';
import { isConflict } from '../observability/errors.js';
import { mergePatch, normalizeStatus, statusChanged } from './status.js';

export interface ApplyOptions {
  /** The field manager the apply is made as (the operator: MANAGER in src/api/types.ts). */
  fieldManager: string;
  /**
   * Take over fields another manager owns. Off by default. Turn it on only for objects the operator
   * alone may define, after checking it owns them (controller ownerReference) or that they are
   * operator-installed singletons — e.g. restoring a lock-down admission policy someone edited.
   */
  force?: boolean;
  dryRun?: boolean;
}

/**
 * Server-side apply of a full desired object (apiVersion, kind, metadata.name[/namespace] required)
 * as `opts.fieldManager`. KubernetesObjectApi.patch sends Content-Type
 * application/apply-patch+yaml when given PatchStrategy.ServerSideApply (the JSON body is valid YAML).
 */
export async function applyObject<T extends KubernetesObject>(
  api: KubernetesObjectApi,
  desired: T,
  opts: ApplyOptions,
): Promise<T> {
  const dryRun = opts.dryRun ? 'All' : undefined;
  return api.patch<T>(
    desired,
    undefined,
    dryRun,
    opts.fieldManager,
    opts.force ?? false,
    PatchStrategy.ServerSideApply,
  );
}

/** What patchStatus needs: read the live object, and merge-patch its status subresource. */
export interface StatusClient<T> {
  read(namespace: string, name: string): Promise<T>;
  /** JSON merge patch of the /status subresource. */
  patchStatus(namespace: string, name: string, patch: object): Promise<T>;
}

interface WithStatus<S> {
  metadata?: { namespace?: string; name?: string; resourceVersion?: string };
  status?: S;
}

export interface PatchStatusResult<T> {
  changed: boolean;
  object: T;
  attempts: number;
  /** The resourceVersions read again after conflicts, oldest first (the cache may still show any). */
  reread: string[];
}

export const STATUS_CONFLICT_RETRIES = 3;

/**
 * Writes `desired` as the status of `current` only when it differs (conditions keep their
 * lastTransitionTime when their status did not change). The merge patch carries
 * metadata.resourceVersion, so a concurrent writer yields 409; then the object is re-read and the
 * desired status (recomputed against it when `desired` is a function) is compared and patched
 * again, at most `retries` more times.
 */
export async function patchStatus<T extends WithStatus<object>>(
  client: StatusClient<T>,
  current: T,
  desired: NonNullable<T['status']> | ((live: T) => NonNullable<T['status']>),
  retries = STATUS_CONFLICT_RETRIES,
): Promise<PatchStatusResult<T>> {
  const { namespace, name } = nameOf(current);
  let live = current;
  const reread: string[] = [];
  for (let attempt = 1; ; attempt++) {
    // A function recomputes the status against each live read, so fields another writer owns
    // (e.g. the identity a cell reports for itself) are carried over rather than erased.
    const body = statusPatchBody(live, typeof desired === 'function' ? desired(live) : desired);
    if (!body) return { changed: false, object: live, attempts: attempt, reread };
    try {
      const object = await client.patchStatus(namespace, name, body);
      return { changed: true, object, attempts: attempt, reread };
    } catch (err) {
      if (!isConflict(err) || attempt > retries) throw err;
      live = await client.read(namespace, name);
      const rv = live.metadata?.resourceVersion;
      if (rv) reread.push(rv);
    }
  }
}

function nameOf(obj: WithStatus<unknown>): { namespace: string; name: string } {
  return { namespace: obj.metadata?.namespace ?? '', name: obj.metadata?.name ?? '' };
}

/** The merge patch for `desired` over `live`'s status (with resourceVersion), or undefined if unchanged. */
export function statusPatchBody<S extends object>(live: WithStatus<S>, desired: S): object | undefined {
  if (!statusChanged(live.status, desired)) return undefined;
  const normalized = normalizeStatus(live.status, desired);
  const status = mergePatch(live.status ?? {}, normalized) ?? {};
  return { metadata: { resourceVersion: live.metadata?.resourceVersion }, status };
}

/** A StatusClient for a namespaced custom resource (e.g. colonies, cells) via CustomObjectsApi. */
export function customStatusClient<T>(
  api: CustomObjectsApi,
  res: { group: string; version: string; plural: string; fieldManager: string },
): StatusClient<T> {
  const { fieldManager, ...resource } = res;
  // client-node 2.x picks application/json-patch+json for custom-object patches by default;
  // this middleware overrides the Content-Type to a JSON merge patch.
  const mergePatchOptions = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
  return {
    read: async (namespace, name) =>
      (await api.getNamespacedCustomObjectStatus({ ...resource, namespace, name })) as T,
    patchStatus: async (namespace, name, body) =>
      (await api.patchNamespacedCustomObjectStatus(
        { ...resource, namespace, name, body, fieldManager },
        mergePatchOptions,
      )) as T,
  };
}
