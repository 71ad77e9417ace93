// Test doubles for the Kubernetes lookups only (TokenReview, pod/cell/node GETs). The crypto and
// HTTP in the tests that use them are real.
import { randomUUID } from 'node:crypto';

import { API_VERSION, JOIN_AUDIENCE, LABELS, type Cell, type Colony } from '../../../src/api/types.js';
import { buildCellPod } from '../../../src/builders/pod.js';
import type { ColonySource, PodInspector, TokenVerifier } from '../../../src/cell/admission.js';
import type { CellView, ColonyContext, PodFacts, PodView, TokenFacts } from '../../../src/cell/checks.js';
import { JoinRefused } from '../../../src/cell/errors.js';
import { createJoinKey, type JoinKey } from '../../../src/cell/protocol.js';

export const DIGEST = `sha256:${'ab'.repeat(32)}`;
export const IMAGE = `registry.example/lottery@${DIGEST}`;

export const COLONY: ColonyContext = {
  name: 'lottery',
  namespace: 'prod',
  uid: '6f1c2a4e-0000-4000-8000-000000000001',
  image: IMAGE,
  requireHardened: true,
  hardenedLabel: LABELS.hardened,
};

/** The Colony object behind COLONY (a peer reads it fresh for each admission). */
export const COLONY_OBJECT: Colony = {
  apiVersion: API_VERSION,
  kind: 'Colony',
  metadata: { name: COLONY.name, namespace: COLONY.namespace, uid: COLONY.uid },
  spec: {
    image: IMAGE,
    replicas: 3,
    minReplicas: 2,
    secret: { algorithm: 'ed25519' },
    nodes: { provider: 'existing' },
  },
};

/** Where the unit tests' joiners connect from (the HTTP tests run on loopback). */
export const JOINER_IP = '127.0.0.1';

/** A joiner's pod exactly as the operator builds it for COLONY_OBJECT, running on node-a. */
export function builtPod(name = 'lottery-cell-1', uid = 'pod-uid-1', cellUid = 'cell-uid-1'): PodView {
  const cell = { apiVersion: API_VERSION, kind: 'Cell', ...goodCell(name, cellUid, COLONY, uid) } as Cell;
  const pod = buildCellPod(COLONY_OBJECT, cell);
  pod.metadata = { ...pod.metadata, uid };
  pod.status = {
    phase: 'Running',
    podIP: JOINER_IP,
    podIPs: [{ ip: JOINER_IP }],
    containerStatuses: [
      { name: 'cell', image: IMAGE, imageID: `registry.example/lottery@${DIGEST}` } as never,
    ],
  };
  return pod;
}

export function goodPod(name = 'lottery-cell-1', uid = 'pod-uid-1', cellUid = 'cell-uid-1'): PodView {
  const sc = {
    runAsNonRoot: true,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  };
  return {
    metadata: {
      name,
      namespace: COLONY.namespace,
      uid,
      ownerReferences: [{ apiVersion: API_VERSION, kind: 'Cell', name, uid: cellUid, controller: true }],
    },
    spec: { nodeName: 'node-a', containers: [{ name: 'cell', image: IMAGE, securityContext: sc }] },
    status: {
      phase: 'Running',
      containerStatuses: [{ name: 'cell', imageID: `registry.example/lottery@${DIGEST}` }],
    },
  };
}

/** A joining Cell (phase Joining, no public key yet) whose incarnation is pod `podUID`. */
export function goodCell(
  name = 'lottery-cell-1',
  uid = 'cell-uid-1',
  colony: ColonyContext = COLONY,
  podUID = 'pod-uid-1',
  joinKey?: string,
): CellView {
  return {
    metadata: {
      name,
      namespace: colony.namespace,
      uid,
      ownerReferences: [
        { apiVersion: API_VERSION, kind: 'Colony', name: colony.name, uid: colony.uid, controller: true },
      ],
    },
    spec: { colony: colony.name, node: 'node-a', genesis: false },
    status: { phase: 'Joining', podUID, ...(joinKey === undefined ? {} : { joinKey }) },
  };
}

export function goodToken(podName = 'lottery-cell-1', podUID = 'pod-uid-1'): TokenFacts {
  return {
    podName,
    podUID,
    nodeName: 'node-a',
    credentialId: `jti-${randomUUID()}`,
    namespace: COLONY.namespace,
    serviceAccount: 'lottery-cell',
    audiences: [JOIN_AUDIENCE],
  };
}

export const HARDENED_LABELS = { [LABELS.hardened]: 'abc123def456' };

/** A small in-memory "cluster": tokens → facts, pods → facts, and the Colony. */
export class FakeCluster implements TokenVerifier, PodInspector, ColonySource {
  readonly tokens = new Map<string, TokenFacts>();
  readonly pods = new Map<string, PodFacts>();
  readonly verified: string[] = [];
  /** token → the join key its joiner published. */
  readonly keys = new Map<string, JoinKey>();
  colonyObject: Colony = structuredClone(COLONY_OBJECT);

  colony(): Promise<Colony> {
    return Promise.resolve(structuredClone(this.colonyObject));
  }

  verify(token: string): Promise<TokenFacts> {
    this.verified.push(token);
    const facts = this.tokens.get(token);
    if (facts === undefined)
      return Promise.reject(new JoinRefused('token-rejected', 'token is not authenticated'));
    return Promise.resolve(structuredClone(facts));
  }

  inspect(namespace: string, podName: string): Promise<PodFacts | undefined> {
    const facts = this.pods.get(`${namespace}/${podName}`);
    return Promise.resolve(facts === undefined ? undefined : structuredClone(facts));
  }

  /**
   * Register a well-formed joining cell that published `key` (default a fresh one) as its join key;
   * returns its token and key. Mutate the returned facts to break it.
   */
  addJoiner(
    i: number,
    key: JoinKey = createJoinKey(),
  ): { token: string; facts: PodFacts; tokenFacts: TokenFacts; key: JoinKey } {
    const name = `lottery-cell-${i}`;
    const podUid = `pod-uid-${i}`;
    const cellUid = `cell-uid-${i}`;
    const token = `eyJ.fake-token-${i}-${randomUUID()}`;
    const tokenFacts = goodToken(name, podUid);
    const facts: PodFacts = {
      pod: builtPod(name, podUid, cellUid),
      cell: goodCell(name, cellUid, COLONY, podUid, key.digest),
      nodeLabels: { ...HARDENED_LABELS },
    };
    this.tokens.set(token, tokenFacts);
    this.keys.set(token, key);
    this.pods.set(`${COLONY.namespace}/${name}`, facts);
    return { token, facts, tokenFacts, key };
  }
}
