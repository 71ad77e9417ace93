import type { V1ObjectMeta, V1OwnerReference } from '@kubernetes/client-node';

interface Owned {
  apiVersion?: string;
  kind?: string;
  metadata: V1ObjectMeta;
}

/** The controller owner reference that makes `owner` the garbage-collection parent of a child. */
export function controllerRef(owner: Owned): V1OwnerReference {
  const { name, uid } = owner.metadata;
  if (!owner.apiVersion || !owner.kind || !name || !uid) {
    throw new Error(`controllerRef: owner needs apiVersion, kind, metadata.name and metadata.uid`);
  }
  return {
    apiVersion: owner.apiVersion,
    kind: owner.kind,
    name,
    uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** The uid of the object's controller owner, if any. */
export function controllerUID(meta: V1ObjectMeta | undefined): string | undefined {
  return meta?.ownerReferences?.find((r) => r.controller === true)?.uid;
}

/** True when `child` is controlled by `owner` (matching uid): we never adopt what we do not own. */
export function isControlledBy(
  child: { metadata?: V1ObjectMeta },
  owner: { metadata: V1ObjectMeta },
): boolean {
  const uid = owner.metadata.uid;
  return uid !== undefined && controllerUID(child.metadata) === uid;
}
