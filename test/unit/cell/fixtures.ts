// Test doubles for the Kubernetes lookups only (TokenReview, pod/cell/node GETs). The crypto and
// HTTP in the tests that use them are real.
import { randomUUID } from 'node:crypto';

import { API_VERSION, JOIN_AUDIENCE, LABELS } from '../../../src/api/types.js';
import type { PodInspector, TokenVerifier } from '../../../src/cell/admission.js';
import type { CellView, ColonyContext, PodFacts, PodView, TokenFacts } from '../../../src/cell/checks.js';
import { JoinRefused } from '../../../src/cell/errors.js';

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

export function goodCell(
  name = 'lottery-cell-1',
  uid = 'cell-uid-1',
  colony: ColonyContext = COLONY,
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
    spec: { colony: colony.name },
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

export const HARDENED_LABELS = { [LABELS.hardened]: 'true' };

/** A small in-memory "cluster": tokens → facts, pods → facts. */
export class FakeCluster implements TokenVerifier, PodInspector {
  readonly tokens = new Map<string, TokenFacts>();
  readonly pods = new Map<string, PodFacts>();
  readonly verified: string[] = [];

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

  /** Register a well-formed joining cell; returns its token. Mutate the returned facts to break it. */
  addJoiner(i: number): { token: string; facts: PodFacts; tokenFacts: TokenFacts } {
    const name = `lottery-cell-${i}`;
    const podUid = `pod-uid-${i}`;
    const cellUid = `cell-uid-${i}`;
    const token = `eyJ.fake-token-${i}-${randomUUID()}`;
    const tokenFacts = goodToken(name, podUid);
    const facts: PodFacts = {
      pod: goodPod(name, podUid, cellUid),
      cell: goodCell(name, cellUid),
      nodeLabels: { ...HARDENED_LABELS },
    };
    this.tokens.set(token, tokenFacts);
    this.pods.set(`${COLONY.namespace}/${name}`, facts);
    return { token, facts, tokenFacts };
  }
}
