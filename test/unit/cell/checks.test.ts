import { describe, expect, it } from '@jest/globals';

import { API_VERSION, LABELS } from '../../../src/api/types.js';
import {
  checkAudience,
  checkCredentialId,
  checkHardenedNode,
  checkImage,
  checkNotTerminating,
  checkOwnerChain,
  checkPodIdentity,
  checkSecurityContext,
  checkTokenNamespace,
  imageDigest,
  podChecks,
  type PodView,
  type TokenFacts,
} from '../../../src/cell/checks.js';
import { JoinRefused } from '../../../src/cell/errors.js';
import { ReplayGuard } from '../../../src/cell/replay.js';
import { COLONY, DIGEST, HARDENED_LABELS, IMAGE, goodCell, goodPod, goodToken } from './fixtures.js';

type Mut<T> = (x: T) => void;

function pod(mut: Mut<PodView> = () => undefined): PodView {
  const p = goodPod();
  mut(p);
  return p;
}
function token(mut: Mut<TokenFacts> = () => undefined): TokenFacts {
  const t = goodToken();
  mut(t);
  return t;
}
function expectOutcome(result: JoinRefused | undefined, want: RegExp | undefined): void {
  if (want === undefined) expect(result).toBeUndefined();
  else expect(result?.reason).toMatch(want);
}
const c0 = (p: PodView) => p.spec!.containers[0]!;

describe('checkAudience', () => {
  it.each<[string, string[], RegExp | undefined]>([
    ['join audience', ['celula.io/join'], undefined],
    ['among others', ['api', 'celula.io/join'], undefined],
    [
      'api server audience',
      ['https://kubernetes.default.svc'],
      /token audience is https:\/\/kubernetes.default.svc, want celula.io\/join/,
    ],
    ['no audience', [], /token audience is \(none\)/],
  ])('%s', (_n, audiences, want) => {
    expectOutcome(checkAudience(token((t) => (t.audiences = audiences))), want);
  });
});

describe('checkTokenNamespace', () => {
  it.each<[string, Mut<TokenFacts>, string | undefined, RegExp | undefined]>([
    ['same namespace', () => undefined, undefined, undefined],
    ['other namespace', (t) => (t.namespace = 'evil'), undefined, /namespace evil, colony lives in prod/],
    ['expected service account', () => undefined, 'lottery-cell', undefined],
    [
      'other service account',
      (t) => (t.serviceAccount = 'default'),
      'lottery-cell',
      /service account default/,
    ],
  ])('%s', (_n, mut, sa, want) => {
    expectOutcome(checkTokenNamespace(token(mut), { ...COLONY, serviceAccount: sa }), want);
  });
});

describe('checkCredentialId', () => {
  it.each<[string, string | undefined, RegExp | undefined]>([
    ['present', 'jti-1', undefined],
    ['missing', undefined, /no credential id/],
    ['empty', '', /no credential id/],
  ])('%s', (_n, jti, want) => {
    expectOutcome(checkCredentialId(token((t) => (t.credentialId = jti))), want);
  });
});

describe('checkPodIdentity', () => {
  it.each<[string, Mut<TokenFacts>, Mut<PodView>, RegExp | undefined]>([
    ['matching', () => undefined, () => undefined, undefined],
    [
      'pod uid differs (pod recreated with same name)',
      (t) => (t.podUID = 'old-uid'),
      () => undefined,
      /pod uid is pod-uid-1, token is bound to pod uid old-uid/,
    ],
    ['pod name differs', (t) => (t.podName = 'x'), () => undefined, /is not the token's pod x/],
    [
      'node differs',
      (t) => (t.nodeName = 'node-b'),
      () => undefined,
      /runs on node node-a, token says node-b/,
    ],
    ['no node in token', (t) => (t.nodeName = undefined), () => undefined, undefined],
  ])('%s', (_n, mt, mp, want) => {
    expectOutcome(checkPodIdentity(token(mt), pod(mp)), want);
  });
});

describe('checkNotTerminating', () => {
  it.each<[string, Mut<PodView>, RegExp | undefined]>([
    ['running', () => undefined, undefined],
    ['deleting', (p) => (p.metadata!.deletionTimestamp = new Date()), /pod is terminating/],
    ['failed', (p) => (p.status!.phase = 'Failed'), /phase is Failed/],
    ['succeeded', (p) => (p.status!.phase = 'Succeeded'), /phase is Succeeded/],
  ])('%s', (_n, mp, want) => {
    expectOutcome(checkNotTerminating(pod(mp)), want);
  });
});

describe('checkOwnerChain', () => {
  const otherColony = { ...COLONY, uid: 'other-colony-uid', name: 'other' };
  it.each<[string, Mut<PodView>, ReturnType<typeof goodCell> | undefined, RegExp | undefined]>([
    ['pod → cell → colony', () => undefined, goodCell(), undefined],
    ['no owner', (p) => (p.metadata!.ownerReferences = []), goodCell(), /no controller owner of kind Cell/],
    [
      'owner not controller',
      (p) => (p.metadata!.ownerReferences![0]!.controller = false),
      goodCell(),
      /no controller owner/,
    ],
    [
      'owner of another group',
      (p) => (p.metadata!.ownerReferences![0]!.apiVersion = 'evil.io/v1'),
      goodCell(),
      /no controller owner/,
    ],
    ['cell missing', () => undefined, undefined, /was not found/],
    [
      'cell uid differs (cell recreated)',
      () => undefined,
      goodCell('lottery-cell-1', 'other-uid'),
      /has uid other-uid, pod names uid cell-uid-1/,
    ],
    [
      'cell of another colony',
      () => undefined,
      goodCell('lottery-cell-1', 'cell-uid-1', otherColony),
      /belongs to colony uid other-colony-uid/,
    ],
    [
      'cell in another namespace',
      () => undefined,
      { ...goodCell(), metadata: { ...goodCell().metadata, namespace: 'x' } },
      /belongs to colony/,
    ],
    [
      'cell names another colony',
      () => undefined,
      { ...goodCell(), spec: { colony: 'other' } },
      /names colony other/,
    ],
    [
      'cell owner is not a Colony',
      () => undefined,
      {
        ...goodCell(),
        metadata: {
          ...goodCell().metadata,
          ownerReferences: [
            { apiVersion: API_VERSION, kind: 'Cell', name: 'x', uid: COLONY.uid, controller: true },
          ],
        },
      },
      /colony uid \(none\)/,
    ],
  ])('%s', (_n, mp, cell, want) => {
    expectOutcome(checkOwnerChain(pod(mp), cell, COLONY), want);
  });
});

describe('checkImage', () => {
  const other = `registry.example/lottery@sha256:${'cd'.repeat(32)}`;
  it.each<[string, Mut<PodView>, RegExp | undefined]>([
    ['exact digest', () => undefined, undefined],
    ['imageID as bare digest', (p) => (p.status!.containerStatuses![0]!.imageID = DIGEST), undefined],
    [
      'different digest in spec',
      (p) => (c0(p).image = other),
      /image is registry.example\/lottery@sha256:cdcd/,
    ],
    [
      'tag instead of digest',
      (p) => (c0(p).image = 'registry.example/lottery:latest'),
      /image is registry.example\/lottery:latest/,
    ],
    [
      'runtime reports another digest',
      (p) => (p.status!.containerStatuses![0]!.imageID = other),
      /runs image .*want sha256:abab/,
    ],
    ['no status yet', (p) => (p.status!.containerStatuses = []), /has not reported its image/],
    [
      'sidecar with another image',
      (p) => p.spec!.containers.push({ name: 'side', image: 'busybox' }),
      /container side image is busybox/,
    ],
    [
      'init container with another image',
      (p) => (p.spec!.initContainers = [{ name: 'init', image: 'busybox' }]),
      /container init image is busybox/,
    ],
    [
      'ephemeral container',
      (p) => (p.spec!.ephemeralContainers = [{ name: 'debug' }]),
      /ephemeral containers/,
    ],
    ['no containers', (p) => (p.spec!.containers = []), /no containers/],
  ])('%s', (_n, mp, want) => {
    expectOutcome(checkImage(pod(mp), COLONY), want);
  });

  it('refuses when the colony image itself is not pinned', () => {
    expectOutcome(checkImage(pod(), { ...COLONY, image: 'x:latest' }), /not pinned by digest/);
  });

  it('imageDigest extracts only full sha256 digests', () => {
    expect(imageDigest(IMAGE)).toBe(DIGEST);
    expect(imageDigest('x:latest')).toBeUndefined();
    expect(imageDigest('x@sha256:abc')).toBeUndefined();
  });
});

describe('checkHardenedNode', () => {
  it.each<[string, Record<string, string> | undefined, boolean, RegExp | undefined]>([
    ['hardened, required', HARDENED_LABELS, true, undefined],
    ['missing label, required', {}, true, new RegExp(`node lacks label ${LABELS.hardened}`)],
    ['label false, required', { [LABELS.hardened]: 'false' }, true, /node lacks label/],
    ['label empty, required', { [LABELS.hardened]: '' }, true, /node lacks label/],
    ['node not found', undefined, true, /node of the pod was not found/],
    ['missing label, not required', {}, false, undefined],
  ])('%s', (_n, labels, required, want) => {
    expectOutcome(checkHardenedNode(labels, { ...COLONY, requireHardened: required }), want);
  });
});

describe('checkSecurityContext', () => {
  it.each<[string, Mut<PodView>, RegExp | undefined]>([
    ['restricted', () => undefined, undefined],
    [
      'runAsNonRoot from pod level',
      (p) => {
        p.spec!.securityContext = { runAsNonRoot: true };
        delete c0(p).securityContext!.runAsNonRoot;
      },
      undefined,
    ],
    [
      'seccomp from pod level',
      (p) => {
        p.spec!.securityContext = { seccompProfile: { type: 'RuntimeDefault' } };
        delete c0(p).securityContext!.seccompProfile;
      },
      undefined,
    ],
    ['runAsNonRoot missing', (p) => delete c0(p).securityContext!.runAsNonRoot, /runAsNonRoot is not true/],
    [
      'privilege escalation allowed',
      (p) => (c0(p).securityContext!.allowPrivilegeEscalation = true),
      /allowPrivilegeEscalation is not false/,
    ],
    ['privileged', (p) => (c0(p).securityContext!.privileged = true), /is privileged/],
    [
      'writable root fs',
      (p) => (c0(p).securityContext!.readOnlyRootFilesystem = false),
      /readOnlyRootFilesystem is not true/,
    ],
    ['drops nothing', (p) => (c0(p).securityContext!.capabilities = {}), /does not drop ALL/],
    [
      'adds SYS_PTRACE',
      (p) => (c0(p).securityContext!.capabilities = { drop: ['ALL'], add: ['SYS_PTRACE'] }),
      /adds capabilities/,
    ],
    [
      'unconfined seccomp',
      (p) => (c0(p).securityContext!.seccompProfile = { type: 'Unconfined' }),
      /seccomp profile/,
    ],
    ['no security context', (p) => delete c0(p).securityContext, /runAsNonRoot.*allowPrivilegeEscalation/],
    ['hostPID', (p) => (p.spec!.hostPID = true), /host namespaces: hostPID/],
    [
      'hostNetwork and hostIPC',
      (p) => Object.assign(p.spec!, { hostNetwork: true, hostIPC: true }),
      /hostNetwork, hostIPC/,
    ],
    ['no spec', (p) => delete p.spec, /no spec/],
  ])('%s', (_n, mp, want) => {
    expectOutcome(checkSecurityContext(pod(mp)), want);
  });
});

describe('podChecks', () => {
  it('passes a well-formed joining cell and reports the first failing check', () => {
    const facts = { pod: goodPod(), cell: goodCell(), nodeLabels: HARDENED_LABELS };
    expect(podChecks(goodToken(), facts, COLONY)).toBeUndefined();
    const bad = podChecks(goodToken('lottery-cell-1', 'x'), facts, COLONY);
    expect(bad).toBeInstanceOf(JoinRefused);
    expect(bad?.code).toBe('pod-identity');
  });
});

describe('ReplayGuard', () => {
  it.each<[string, string[], (string | undefined)[]]>([
    ['fresh ids pass', ['a', 'b', 'c'], [undefined, undefined, undefined]],
    ['repeat refused', ['a', 'a'], [undefined, 'replay']],
    ['repeat after others refused', ['a', 'b', 'a'], [undefined, undefined, 'replay']],
  ])('%s', (_n, ids, want) => {
    const g = new ReplayGuard();
    expect(ids.map((id) => g.claim(id)?.code)).toEqual(want);
  });

  it('forgets expired ids, stays bounded, and fails closed when full of live ids', () => {
    let now = 0;
    const g = new ReplayGuard({ maxEntries: 2, defaultTtlMs: 100, now: () => now });
    expect(g.claim('a')).toBeUndefined();
    expect(g.claim('b')).toBeUndefined();
    expect(g.claim('c')?.code).toBe('busy');
    expect(g.claim('a')?.code).toBe('replay');
    now = 101;
    expect(g.claim('c')).toBeUndefined();
    expect(g.size).toBeLessThanOrEqual(2);
  });

  it('remembers until the token expiry when that is later than the default TTL', () => {
    let now = 0;
    const g = new ReplayGuard({ defaultTtlMs: 10, now: () => now });
    g.claim('a', 1000);
    now = 500;
    expect(g.claim('a')?.code).toBe('replay');
  });
});
