// Pure parts of the cell's Kubernetes side: TokenReview → TokenFacts, peer selection, env parsing.
import { describe, expect, it } from '@jest/globals';

import type { Cell } from '../../../src/api/types.js';
import { parseCellEnv, UsageError } from '../../../src/cell/config.js';
import { JoinRefused } from '../../../src/cell/errors.js';
import { jwtExpiry, liveCells, podAddress, tokenFactsFromReview } from '../../../src/cell/kube.js';

const extra = {
  'authentication.kubernetes.io/pod-name': ['lottery-1'],
  'authentication.kubernetes.io/pod-uid': ['pod-uid-1'],
  'authentication.kubernetes.io/node-name': ['node-a'],
  'authentication.kubernetes.io/credential-id': ['JTI=abc'],
};
const user = { username: 'system:serviceaccount:ns:lottery-cell', extra };

describe('tokenFactsFromReview', () => {
  it('maps an authenticated pod-bound review', () => {
    expect(tokenFactsFromReview({ authenticated: true, user, audiences: ['celula.io/join'] }, 5)).toEqual({
      namespace: 'ns',
      serviceAccount: 'lottery-cell',
      podName: 'lottery-1',
      podUID: 'pod-uid-1',
      nodeName: 'node-a',
      credentialId: 'JTI=abc',
      audiences: ['celula.io/join'],
      expiresAt: 5,
    });
  });

  it.each([
    ['unauthenticated', { authenticated: false, error: 'invalid bearer token' }, 'token-rejected'],
    [
      'wrong audience',
      {
        authenticated: false,
        error: 'token audiences ["x"] is invalid for the target audiences ["celula.io/join"]',
      },
      'audience',
    ],
    ['not a service account', { authenticated: true, user: { username: 'alice', extra } }, 'token-rejected'],
    [
      'not pod-bound',
      { authenticated: true, user: { username: user.username, extra: {} } },
      'token-rejected',
    ],
  ])('refuses %s', (_name, status, code) => {
    let err: unknown;
    try {
      tokenFactsFromReview(status);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(JoinRefused);
    expect((err as JoinRefused).code).toBe(code);
  });

  it('reads a JWT expiry without trusting anything else', () => {
    const payload = Buffer.from(JSON.stringify({ exp: 1700000000 })).toString('base64url');
    expect(jwtExpiry(`h.${payload}.s`)).toBe(1700000000000);
    expect(jwtExpiry('garbage')).toBeUndefined();
  });
});

describe('peer discovery', () => {
  const cell = (name: string, phase: string, uid = 'col-uid', aliveAt = '2026-01-01T00:00:00Z'): Cell => ({
    metadata: {
      name,
      ownerReferences: [
        { apiVersion: 'celula.io/v1alpha1', kind: 'Colony', name: 'c', uid, controller: true },
      ],
    },
    spec: { colony: 'c', node: 'n', genesis: false },
    status: { phase: phase as 'Alive', aliveAt, podUID: `${name}-uid` },
  });

  it('keeps Alive cells of this colony other than self, oldest first', () => {
    const cells = [
      cell('b', 'Alive', 'col-uid', '2026-01-02T00:00:00Z'),
      cell('a', 'Alive'),
      cell('self', 'Alive'),
      cell('d', 'Dead'),
      cell('x', 'Alive', 'other'),
    ];
    expect(liveCells(cells, 'col-uid', 'self').map((c) => c.metadata.name)).toEqual(['a', 'b']);
  });

  it('uses only the recorded, Running incarnation of a pod', () => {
    const pod = { metadata: { uid: 'u' }, status: { phase: 'Running', podIP: '10.0.0.1' } };
    expect(podAddress(pod, 'u')).toBe('10.0.0.1');
    expect(podAddress(pod, 'other')).toBeUndefined();
    expect(podAddress({ ...pod, status: { phase: 'Failed', podIP: '10.0.0.1' } }, 'u')).toBeUndefined();
    expect(podAddress(undefined, 'u')).toBeUndefined();
  });
});

describe('parseCellEnv', () => {
  const env = {
    CELULA_COLONY: 'c',
    CELULA_COLONY_UID: 'u',
    CELULA_CELL: 'c-1',
    CELULA_ALGORITHM: 'ed25519',
    CELULA_GENESIS: 'false',
    CELULA_JOIN_TOKEN: '/t',
    POD_NAME: 'c-1',
    POD_NAMESPACE: 'ns',
    POD_UID: 'pu',
    NODE_NAME: 'n',
    POD_IP: '10.0.0.9',
  };

  it('reads the pod builder env with defaults', () => {
    expect(parseCellEnv(env)).toMatchObject({
      genesis: false,
      podIP: '10.0.0.9',
      port: 8443,
      listen: '0.0.0.0',
      joinTimeoutMs: 5000,
      logLevel: 'info',
    });
  });

  it.each([
    ['a bad algorithm', { CELULA_ALGORITHM: 'rsa' }],
    ['a missing colony uid', { CELULA_COLONY_UID: '' }],
    ['a joiner without a token path', { CELULA_JOIN_TOKEN: '' }],
    ['a bad port', { CELULA_PORT: '70000' }],
    ['a bad genesis flag', { CELULA_GENESIS: 'yes' }],
  ])('rejects %s', (_name, patch) => {
    expect(() => parseCellEnv({ ...env, ...patch })).toThrow(UsageError);
  });

  it.each<[string, Record<string, string>, RegExp]>([
    ['a joiner without a pod IP', { POD_IP: '' }, /POD_IP is required for a joining cell/],
    ['a pod IP that is not an address', { POD_IP: '10.0.0' }, /POD_IP must be an IPv4 or IPv6 address/],
  ])('rejects %s with a clear message', (_name, patch, message) => {
    expect(() => parseCellEnv({ ...env, ...patch })).toThrow(message);
  });

  it('a genesis cell needs no pod IP; an IPv6 pod IP is accepted', () => {
    expect(parseCellEnv({ ...env, CELULA_GENESIS: 'true', POD_IP: '' }).podIP).toBe('');
    expect(parseCellEnv({ ...env, POD_IP: 'fd00::9' }).podIP).toBe('fd00::9');
  });
});
