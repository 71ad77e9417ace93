// The cell's Kubernetes side: the TokenVerifier (TokenReview) and PodInspector (pod, Cell, node) the
// join admission needs, peer discovery (live cells of the colony), and the identity reporter (the
// cell writes its public key and fingerprint into its own Cell's status).
//
// Every call runs with the cell's API credential (the default-audience projected token mounted at
// the standard service-account path), never with the join token: the join token is only ever a
// TokenReview's subject. Errors carry names, uids and HTTP codes, never token bytes.
import {
  AuthenticationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1Node,
  type V1Pod,
  type V1TokenReviewStatus,
} from '@kubernetes/client-node';

import {
  API_VERSION,
  CELL_PLURAL,
  CellKind,
  COLONY_PLURAL,
  GROUP,
  JOIN_AUDIENCE,
  LABELS,
  VERSION,
  type Cell,
  type Colony,
} from '../api/types.js';
import { cellServiceAccountName } from '../builders/names.js';
import { requiresHardenedNodes } from '../builders/provider.js';
import type { Logger } from '../observability/logger.js';
import { isNotFound, statusCode } from '../observability/errors.js';
import type { PodInspector, TokenVerifier } from './admission.js';
import {
  colonyCode,
  nodePodCIDRs,
  type CellView,
  type ColonyContext,
  type PodFacts,
  type TokenFacts,
} from './checks.js';
import { clip, JoinRefused } from './errors.js';

/** The field manager of everything a cell writes (only its own Cell's identity). */
export const CELL_FIELD_MANAGER = 'celula-cell';

/** Keys of a pod-bound service-account token's user.extra (TokenReview / userInfo). */
export const EXTRA = {
  podName: 'authentication.kubernetes.io/pod-name',
  podUID: 'authentication.kubernetes.io/pod-uid',
  nodeName: 'authentication.kubernetes.io/node-name',
  credentialId: 'authentication.kubernetes.io/credential-id',
} as const;

const SA_PREFIX = 'system:serviceaccount:';

/** A KubeConfig from $KUBECONFIG when set (local runs), else the in-cluster service-account files. */
export function loadCellKubeConfig(env: NodeJS.ProcessEnv = process.env): KubeConfig {
  const kc = new KubeConfig();
  const file = env.KUBECONFIG;
  if (file !== undefined && file !== '') kc.loadFromFile(file);
  else kc.loadFromCluster();
  return kc;
}

function firstExtra(extra: Record<string, string[]> | undefined, key: string): string | undefined {
  const v = extra?.[key]?.[0];
  return v === undefined || v === '' ? undefined : v;
}

/** `exp` of a JWT (ms since epoch), read without verifying: only the replay guard's memory uses it. */
export function jwtExpiry(token: string): number | undefined {
  const payload = token.split('.')[1];
  if (payload === undefined) return undefined;
  try {
    const exp = (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { exp?: unknown }).exp;
    return typeof exp === 'number' && Number.isFinite(exp) ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

function unauthenticated(status: V1TokenReviewStatus | undefined): JoinRefused {
  const error = status?.error ?? '';
  if (/audience/i.test(error)) {
    return new JoinRefused('audience', `token is not valid for audience ${JOIN_AUDIENCE}`);
  }
  return new JoinRefused(
    'token-rejected',
    `TokenReview did not authenticate the token: ${clip(error || 'no reason given')}`,
  );
}

/**
 * Pure: the facts of an authenticated TokenReview. Throws JoinRefused for an unauthenticated review,
 * a non-service-account user, or a token that is not bound to a pod.
 */
function serviceAccountOf(username: string): { namespace: string; serviceAccount: string } {
  const parts = username.startsWith(SA_PREFIX) ? username.slice(SA_PREFIX.length).split(':') : [];
  const [namespace, serviceAccount] = parts;
  if (parts.length !== 2 || !namespace || !serviceAccount) {
    return refuse('token-rejected', `token belongs to ${clip(username)}, not a service account`);
  }
  return { namespace, serviceAccount };
}

/**
 * Pure: the facts of an authenticated TokenReview. Throws JoinRefused for an unauthenticated review,
 * a non-service-account user, or a token that is not bound to a pod.
 */
export function tokenFactsFromReview(
  status: V1TokenReviewStatus | undefined,
  expiresAt?: number,
): TokenFacts {
  if (status?.authenticated !== true) throw unauthenticated(status);
  const account = serviceAccountOf(status.user?.username ?? '');
  const extra = status.user?.extra;
  const podName = firstExtra(extra, EXTRA.podName);
  const podUID = firstExtra(extra, EXTRA.podUID);
  if (podName === undefined || podUID === undefined) {
    return refuse('token-rejected', 'token is not bound to a pod');
  }
  return {
    ...account,
    podName,
    podUID,
    nodeName: firstExtra(extra, EXTRA.nodeName),
    credentialId: firstExtra(extra, EXTRA.credentialId),
    audiences: status.audiences ?? [],
    expiresAt,
  };
}

function refuse(code: 'token-rejected', reason: string): never {
  throw new JoinRefused(code, reason);
}

/** TokenReview with spec.audiences [celula.io/join]: the API server checks signature, audience, expiry and binding. */
export class TokenReviewVerifier implements TokenVerifier {
  readonly #api: AuthenticationV1Api;

  constructor(kc: KubeConfig) {
    this.#api = kc.makeApiClient(AuthenticationV1Api);
  }

  async verify(token: string): Promise<TokenFacts> {
    const review = await this.#api.createTokenReview({
      body: {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenReview',
        spec: { token, audiences: [JOIN_AUDIENCE] },
      },
    });
    return tokenFactsFromReview(review.status, jwtExpiry(token));
  }
}

function ignoreNotFound<T>(p: Promise<T>): Promise<T | undefined> {
  return p.catch((err: unknown) => {
    if (isNotFound(err)) return undefined;
    throw err;
  });
}

/** What the checks read of the joiner's node (both undefined when the node was not found). */
function nodeFacts(node: V1Node | undefined): Pick<PodFacts, 'nodeLabels' | 'nodePodCIDRs'> {
  if (node === undefined) return { nodeLabels: undefined, nodePodCIDRs: undefined };
  return { nodeLabels: node.metadata?.labels ?? {}, nodePodCIDRs: nodePodCIDRs(node.spec) };
}

/** Reads the joiner's pod, the Cell that controls it, and its node's labels and pod CIDRs. */
export class ApiPodInspector implements PodInspector {
  readonly #core: CoreV1Api;
  readonly #custom: CustomObjectsApi;

  constructor(kc: KubeConfig) {
    this.#core = kc.makeApiClient(CoreV1Api);
    this.#custom = kc.makeApiClient(CustomObjectsApi);
  }

  async inspect(namespace: string, podName: string): Promise<PodFacts | undefined> {
    const pod = await ignoreNotFound(this.#core.readNamespacedPod({ name: podName, namespace }));
    if (pod === undefined) return undefined;
    const owner = pod.metadata?.ownerReferences?.find(
      (r) => r.controller === true && r.kind === CellKind && r.apiVersion === API_VERSION,
    );
    const node = pod.spec?.nodeName;
    const [cell, nodeObj] = await Promise.all([
      owner ? ignoreNotFound(this.#getCell(namespace, owner.name)) : Promise.resolve(undefined),
      node ? ignoreNotFound(this.#core.readNode({ name: node })) : Promise.resolve(undefined),
    ]);
    return { pod, cell: cell as CellView | undefined, ...nodeFacts(nodeObj) };
  }

  #getCell(namespace: string, name: string): Promise<Cell> {
    return this.#custom.getNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace,
      plural: CELL_PLURAL,
      name,
    }) as Promise<Cell>;
  }
}

/** The colony as a peer checks joiners against it: everything from the Colony object itself. */
export function colonyContext(colony: Colony): ColonyContext {
  const name = colony.metadata.name ?? '';
  return {
    name,
    namespace: colony.metadata.namespace ?? '',
    uid: colony.metadata.uid ?? '',
    image: colony.spec.image,
    code: colonyCode(colony),
    requireHardened: requiresHardenedNodes(colony),
    hardenedLabel: LABELS.hardened,
    serviceAccount: cellServiceAccountName(name),
  };
}

function isControlledBy(meta: Cell['metadata'], uid: string): boolean {
  return (meta.ownerReferences ?? []).some((r) => r.controller === true && r.uid === uid);
}

/** Pure: the IP of a Running, not terminating pod that is the given incarnation; else undefined. */
export function podAddress(pod: V1Pod | undefined, uid: string | undefined): string | undefined {
  if (pod?.metadata?.uid === undefined || pod.metadata.uid !== uid) return undefined;
  if (pod.status?.phase !== 'Running' || pod.metadata.deletionTimestamp) return undefined;
  return pod.status.podIP ?? undefined;
}

/** Pure: the Alive cells of the colony other than `self`, oldest alive first. */
export function liveCells(cells: Cell[], colonyUID: string, self: string): Cell[] {
  return cells
    .filter(
      (c) => c.status?.phase === 'Alive' && c.metadata.name !== self && isControlledBy(c.metadata, colonyUID),
    )
    .sort((a, b) => (a.status?.aliveAt ?? '').localeCompare(b.status?.aliveAt ?? ''));
}

export interface CellApiOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  colony: string;
  cell: string;
  logger?: Logger | undefined;
}

/** The cell's reads of its colony and peers, and its one write (its own identity). */
export class CellApi {
  readonly #opts: CellApiOptions;
  readonly #core: CoreV1Api;
  readonly #custom: CustomObjectsApi;

  constructor(opts: CellApiOptions) {
    this.#opts = opts;
    this.#core = opts.kubeConfig.makeApiClient(CoreV1Api);
    this.#custom = opts.kubeConfig.makeApiClient(CustomObjectsApi);
  }

  async colony(): Promise<Colony> {
    const { namespace, colony } = this.#opts;
    return (await this.#custom.getNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace,
      plural: COLONY_PLURAL,
      name: colony,
    })) as Colony;
  }

  /** This cell's own Cell object (its uid goes into the key proof). */
  async ownCell(): Promise<Cell> {
    const { namespace, cell } = this.#opts;
    return (await this.#custom.getNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace,
      plural: CELL_PLURAL,
      name: cell,
    })) as Cell;
  }

  /** Labels of a node; undefined when the node does not exist (other errors are thrown). */
  async nodeLabels(name: string): Promise<Record<string, string> | undefined> {
    return (await this.node(name))?.labels;
  }

  /** A node's labels and pod CIDRs; undefined when the node does not exist (other errors are thrown). */
  async node(name: string): Promise<{ labels: Record<string, string>; podCIDRs: string[] } | undefined> {
    const node = await ignoreNotFound(this.#core.readNode({ name }));
    return node ? { labels: node.metadata?.labels ?? {}, podCIDRs: nodePodCIDRs(node.spec) } : undefined;
  }

  /** Base URLs of the colony's live cells (phase Alive, pod Running with an IP), oldest first. */
  async peers(colonyUID: string, port: number): Promise<string[]> {
    const { namespace, colony, cell } = this.#opts;
    const list = (await this.#custom.listNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace,
      plural: CELL_PLURAL,
      labelSelector: `${LABELS.colony}=${colony}`,
    })) as { items?: Cell[] };
    const urls: string[] = [];
    for (const c of liveCells(list.items ?? [], colonyUID, cell)) {
      const ip = await this.#podIP(c);
      if (ip !== undefined) urls.push(`http://${ip}:${port}`);
    }
    return urls;
  }

  async #podIP(cell: Cell): Promise<string | undefined> {
    const name = cell.status?.pod ?? cell.metadata.name ?? '';
    const pod = await ignoreNotFound(this.#core.readNamespacedPod({ name, namespace: this.#opts.namespace }));
    return podAddress(pod, cell.status?.podUID);
  }

  /**
   * Publishes the digest of this process's join key in its own Cell's status, before its first hello
   * (write-once; the cell-identity admission policy allows it while status.publicKey is unset).
   * Returns the join key the stored Cell holds after the write, as the API server answered it.
   */
  async publishJoinKey(joinKey: string): Promise<string | undefined> {
    return (await this.#patchOwnStatus({ joinKey }))?.status?.joinKey;
  }

  /**
   * Merge-patches this cell's own status with its public identity and the proof that it holds the key
   * (field manager celula-cell). The cell-identity admission policy allows exactly this write, once.
   */
  async reportIdentity(identity: {
    publicKey: string;
    fingerprint: string;
    keyProof: string;
  }): Promise<void> {
    await this.#patchOwnStatus(identity);
  }

  async #patchOwnStatus(status: Record<string, string>): Promise<Cell | undefined> {
    const { namespace, cell } = this.#opts;
    return (await this.#custom.patchNamespacedCustomObjectStatus(
      {
        group: GROUP,
        version: VERSION,
        namespace,
        plural: CELL_PLURAL,
        name: cell,
        body: { status },
        fieldManager: CELL_FIELD_MANAGER,
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    )) as Cell | undefined;
  }
}

/** Short description of an API error for logs: HTTP code and message, nothing from request bodies. */
export function apiErrorSummary(err: unknown): string {
  const code = statusCode(err);
  const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
  return code === undefined ? clip(message) : `HTTP ${code}: ${clip(message)}`;
}
