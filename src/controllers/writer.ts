// The colony and cell controllers' writes (context.ts Writer) on the one write client
// (src/runtime/write.ts): kinds mapped to API versions, Colony/Cell to their status subresources.
import {
  API_VERSION,
  CELL_PLURAL,
  COLONY_PLURAL,
  GROUP,
  VERSION,
  type Cell,
  type Colony,
} from '../api/types.js';
import type { StatusResource, WriteClient } from '../runtime/write.js';
import type { EventRef, Kind, Writer } from './context.js';

const API_VERSIONS: Record<Kind, string> = {
  Colony: API_VERSION,
  Cell: API_VERSION,
  Pod: 'v1',
  ServiceAccount: 'v1',
  ClusterRoleBinding: 'rbac.authorization.k8s.io/v1',
};

const STATUS: Record<'Colony' | 'Cell', StatusResource> = {
  Colony: { group: GROUP, version: VERSION, plural: COLONY_PLURAL },
  Cell: { group: GROUP, version: VERSION, plural: CELL_PLURAL },
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

/** The colony and cell controllers' writes (the Writer port) on the one write client. */
export class ApiWriter implements Writer {
  constructor(private readonly client: WriteClient) {}

  async apply(obj: { apiVersion?: string; kind?: string; metadata?: object }, force = false): Promise<void> {
    await this.client.apply(obj, force);
  }

  /** Deletes by name; with a uid, only that incarnation (a precondition). Already gone is fine. */
  async delete(kind: Kind, namespace: string, name: string, uid?: string): Promise<void> {
    await this.client.delete({ apiVersion: API_VERSIONS[kind], kind, namespace, name }, uid);
  }

  async patchStatus(
    kind: 'Colony' | 'Cell',
    current: Colony | Cell,
    status: object,
    keep: readonly string[] = [],
  ): Promise<boolean> {
    return this.client.patchStatus(STATUS[kind], current, (live) => keptStatus(status, live, keep));
  }

  latest<T extends Colony | Cell>(kind: 'Colony' | 'Cell', cached: T): T {
    return this.client.latest(STATUS[kind], cached);
  }

  async event(ref: EventRef, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const regarding = {
      apiVersion: API_VERSION,
      kind: ref.kind,
      namespace: ref.namespace,
      name: ref.name,
      uid: ref.uid,
    };
    await this.client.event(regarding, type, reason, message);
  }
}
