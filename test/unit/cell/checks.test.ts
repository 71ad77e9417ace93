import { describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';

import { API_VERSION, LABELS } from '../../../src/api/types.js';
import { expectedSpec } from '../../../src/cell/admission.js';
import {
  calibratePodNetwork,
  checkNodePodCIDR,
  cidrBlockList,
  nodePodCIDRs,
  checkAudience,
  checkJoinerState,
  checkJoinKey,
  checkPodSpec,
  checkSourceAddress,
  normalizeAddress,
  type CellView,
  type PodFacts,
  type SessionFacts,
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
import { createJoinKey, joinKeyDigest } from '../../../src/cell/protocol.js';
import { ReplayGuard } from '../../../src/cell/replay.js';
import {
  builtPod,
  COLONY,
  COLONY_OBJECT,
  DIGEST,
  goodCell,
  goodPod,
  goodToken,
  HARDENED_LABELS,
  IMAGE,
  JOINER_IP,
} from './fixtures.js';

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
  const key = createJoinKey();
  const session: SessionFacts = { remoteAddress: JOINER_IP, joinKey: key.digest };
  const facts = (): PodFacts => {
    const cell = goodCell('lottery-cell-1', 'cell-uid-1', COLONY, 'pod-uid-1', key.digest);
    const pod = builtPod();
    return { pod, cell, nodeLabels: HARDENED_LABELS, expectedSpec: expectedSpec(COLONY_OBJECT, cell) };
  };

  it('passes a joining cell built by the operator and reports the first failing check', () => {
    expect(podChecks(goodToken(), facts(), COLONY, session)).toBeUndefined();
    const bad = podChecks(goodToken('lottery-cell-1', 'x'), facts(), COLONY, session);
    expect(bad).toBeInstanceOf(JoinRefused);
    expect(bad?.code).toBe('pod-identity');
  });

  // The documented order (docs/protocol.md): each row breaks two checks; the earlier one must win.
  it.each<[string, (f: PodFacts, s: SessionFacts) => void, string]>([
    [
      'source address before owner chain',
      (f, s) => {
        s.remoteAddress = '10.9.9.9';
        f.pod.metadata!.ownerReferences = [];
      },
      'source-address',
    ],
    ['image before spec', (f) => (f.pod.spec!.containers[0]!.image = `x@sha256:${'1'.repeat(64)}`), 'image'],
    [
      'hardened node before joiner state',
      (f) => {
        f.nodeLabels = {};
        f.cell!.status!.phase = 'Alive';
      },
      'node-not-hardened',
    ],
    [
      'spec before joiner state',
      (f) => {
        (f.pod.spec!.containers[0] as { args?: string[] }).args = ['--inspect'];
        f.cell!.status!.phase = 'Alive';
      },
      'spec-mismatch',
    ],
    [
      'joiner state before join key',
      (f, s) => {
        f.cell!.status!.publicKey = 'ed25519:AAAA';
        s.joinKey = 'sha256:' + '0'.repeat(64);
      },
      'not-a-joiner',
    ],
    ['join key last', (_f, s) => (s.joinKey = 'sha256:' + '0'.repeat(64)), 'join-key'],
  ])('%s', (_n, breakIt, code) => {
    const f = facts();
    const s = { ...session };
    breakIt(f, s);
    expect(podChecks(goodToken(), f, COLONY, s)?.code).toBe(code);
  });

  // The node-pod-cidr check runs right after the source address (only where the peer enforces it).
  const enforcing = { ...COLONY, podIPsFromNodeCIDRs: true };
  it.each<[string, (f: PodFacts, s: SessionFacts) => void, string | undefined]>([
    ['joiner inside its node CIDR passes', (f) => (f.nodePodCIDRs = ['127.0.0.0/24']), undefined],
    [
      'source address before node pod CIDR',
      (f, s) => {
        f.nodePodCIDRs = ['10.1.2.0/24'];
        s.remoteAddress = '10.9.9.9';
      },
      'source-address',
    ],
    [
      'node pod CIDR before owner chain',
      (f) => {
        f.nodePodCIDRs = ['10.1.2.0/24'];
        f.pod.metadata!.ownerReferences = [];
      },
      'node-pod-cidr',
    ],
  ])('%s', (_n, breakIt, code) => {
    const f = facts();
    const s = { ...session };
    breakIt(f, s);
    expect(podChecks(goodToken(), f, enforcing, s)?.code).toBe(code);
  });

  it('a peer that does not enforce it ignores the node CIDR', () => {
    const f = { ...facts(), nodePodCIDRs: ['10.1.2.0/24'] };
    expect(podChecks(goodToken(), f, { ...COLONY, podIPsFromNodeCIDRs: false }, session)).toBeUndefined();
  });
});

describe('checkNodePodCIDR', () => {
  const enforcing = { ...COLONY, podIPsFromNodeCIDRs: true };
  const podAt = (ips: string[]): PodView => ({
    ...builtPod(),
    status: { podIP: ips[0], podIPs: ips.map((ip) => ({ ip })) },
  });
  it.each<[string, PodView, string[] | undefined, string, RegExp | undefined]>([
    [
      'IPv4 pod and source in the node CIDR',
      podAt(['10.244.1.7']),
      ['10.244.1.0/24'],
      '10.244.1.7',
      undefined,
    ],
    ['IPv4-mapped source', podAt(['10.244.1.7']), ['10.244.1.0/24'], '::ffff:10.244.1.7', undefined],
    ['podCIDR of another size', podAt(['10.8.3.200']), ['10.8.0.0/16'], '10.8.3.200', undefined],
    [
      'dual stack: each IP in its family CIDR',
      podAt(['10.244.1.7', 'fd00:10:244:1::7']),
      ['10.244.1.0/24', 'fd00:10:244:1::/64'],
      'FD00:10:244:1::7',
      undefined,
    ],
    [
      'rewritten status.podIP outside the node CIDR',
      podAt(['127.0.0.1']),
      ['127.20.1.0/24'],
      '127.0.0.1',
      /pod IP 127.0.0.1 is not in node node-a's podCIDRs 127.20.1.0\/24 \(status.podIP rewritten\?\)/,
    ],
    [
      'dual stack with one IP outside',
      podAt(['10.244.1.7', 'fd00:99::7']),
      ['10.244.1.0/24', 'fd00:10:244:1::/64'],
      '10.244.1.7',
      /pod IP fd00:99::7 is not in/,
    ],
    [
      'source outside the CIDR (the pod IPs inside)',
      podAt(['10.244.1.7']),
      ['10.244.1.0/24'],
      '10.244.2.7',
      /connection comes from 10.244.2.7, not from node node-a's podCIDRs 10.244.1.0\/24/,
    ],
    ['unknown source', podAt(['10.244.1.7']), ['10.244.1.0/24'], '', /connection comes from \(unknown\)/],
    [
      'node not found',
      podAt(['10.244.1.7']),
      undefined,
      '10.244.1.7',
      /node node-a of the pod was not found/,
    ],
    ['node without podCIDRs', podAt(['10.244.1.7']), [], '10.244.1.7', /node node-a has no spec.podCIDRs/],
    [
      'a malformed node CIDR',
      podAt(['10.244.1.7']),
      ['10.244.1.0/33'],
      '10.244.1.7',
      /"10.244.1.0\/33" is not an IPv4 or IPv6 CIDR/,
    ],
  ])('%s', (_n, pod, cidrs, from, want) => {
    const r = checkNodePodCIDR(pod, cidrs, enforcing, from);
    expectOutcome(r, want);
    if (want) expect(r?.code).toBe('node-pod-cidr');
  });

  it('is not checked where the peer could not calibrate it', () => {
    expect(checkNodePodCIDR(podAt(['127.0.0.1']), ['10.0.0.0/24'], COLONY, '127.0.0.1')).toBeUndefined();
    expect(
      checkNodePodCIDR(podAt(['127.0.0.1']), [], { ...COLONY, podIPsFromNodeCIDRs: false }, '1.2.3.4'),
    ).toBeUndefined();
  });
});

describe('calibratePodNetwork (the peer, once at start)', () => {
  it.each<[string, string, string[] | undefined, boolean, RegExp]>([
    [
      'own IP in own node CIDR',
      '10.244.1.7',
      ['10.244.1.0/24'],
      true,
      /10.244.1.7 lies in node n1 podCIDRs 10.244.1.0\/24/,
    ],
    ['own IPv6 IP in the v6 CIDR', 'fd00::7', ['10.244.1.0/24', 'fd00::/64'], true, /lies in/],
    [
      'own IP outside (a CNI with its own IPAM)',
      '192.168.7.9',
      ['10.244.1.0/24'],
      false,
      /is not in node n1 podCIDRs.*CNI assigns/,
    ],
    ['node without podCIDRs', '10.244.1.7', [], false, /node n1 has no spec.podCIDRs/],
    ['node not found', '10.244.1.7', undefined, false, /node n1 was not found/],
    ['no POD_IP', '', ['10.244.1.0/24'], false, /no POD_IP/],
    ['malformed CIDR', '10.244.1.7', ['nonsense'], false, /"nonsense" is not an IPv4 or IPv6 CIDR/],
  ])('%s', (_n, ip, cidrs, enforce, why) => {
    const r = calibratePodNetwork(ip, 'n1', cidrs);
    expect(r.podIPsFromNodeCIDRs).toBe(enforce);
    expect(r.why).toMatch(why);
  });
});

describe('nodePodCIDRs and cidrBlockList', () => {
  it.each<[string, { podCIDR?: string; podCIDRs?: string[] } | undefined, string[]]>([
    [
      'podCIDRs wins',
      { podCIDR: '10.0.0.0/24', podCIDRs: ['10.0.0.0/24', 'fd00::/64'] },
      ['10.0.0.0/24', 'fd00::/64'],
    ],
    ['podCIDR alone', { podCIDR: '10.0.0.0/24' }, ['10.0.0.0/24']],
    ['empty podCIDRs falls back', { podCIDR: '10.0.0.0/24', podCIDRs: [] }, ['10.0.0.0/24']],
    ['none', {}, []],
    ['no spec', undefined, []],
  ])('%s', (_n, spec, want) => {
    expect(nodePodCIDRs(spec)).toEqual(want);
  });

  it.each(['10.0.0.0', '10.0.0.0/', '10.0.0.0/x', 'fd00::/129', '10.0.0.0/24/1', 'host/24', ''])(
    'refuses %j',
    (cidr) => {
      expect(() => cidrBlockList([cidr])).toThrow('is not an IPv4 or IPv6 CIDR');
    },
  );

  it('contains exactly its range', () => {
    const list = cidrBlockList(['127.20.1.0/24']);
    expect(list.check('127.20.1.255', 'ipv4')).toBe(true);
    expect(list.check('127.20.2.0', 'ipv4')).toBe(false);
    expect(list.check('127.0.0.1', 'ipv4')).toBe(false);
  });
});

describe('normalizeAddress and checkSourceAddress', () => {
  const podWith = (ips: string[], podIP?: string): PodView => ({
    ...builtPod(),
    status: { podIP, podIPs: ips.map((ip) => ({ ip })) },
  });
  it.each<[string, PodView, string, RegExp | undefined]>([
    ['IPv4 from the pod IP', podWith(['10.0.0.5']), '10.0.0.5', undefined],
    ['IPv4-mapped IPv6 equals IPv4', podWith(['10.0.0.5']), '::ffff:10.0.0.5', undefined],
    ['second IP of a dual-stack pod', podWith(['10.0.0.5', 'fd00::5']), 'FD00::5', undefined],
    ['podIP only (no podIPs)', podWith([], '10.0.0.6'), '10.0.0.6', undefined],
    [
      'another address',
      podWith(['10.0.0.5']),
      '10.0.0.7',
      /comes from 10.0.0.7, not from the pod's IPs 10.0.0.5/,
    ],
    ['mapped other address', podWith(['10.0.0.5']), '::ffff:10.0.0.8', /comes from 10.0.0.8/],
    ['pod without an IP', podWith([]), '10.0.0.5', /pod has no IP yet/],
    ['unknown source', podWith(['10.0.0.5']), '', /comes from \(unknown\)/],
  ])('%s', (_n, pod, from, want) => {
    expectOutcome(checkSourceAddress(pod, from), want);
  });

  it.each([
    ['::ffff:1.2.3.4', '1.2.3.4'],
    ['1.2.3.4', '1.2.3.4'],
    ['::FFFF:127.0.0.1', '127.0.0.1'],
    ['fe80::1', 'fe80::1'],
    ['::ffff:abcd', '::ffff:abcd'],
  ])('%s → %s', (a, want) => {
    expect(normalizeAddress(a)).toBe(want);
  });
});

describe('checkJoinerState', () => {
  const cell = (edit: (c: CellView) => void = () => undefined): CellView => {
    const c = goodCell();
    edit(c);
    return c;
  };
  it.each<[string, CellView | undefined, RegExp | undefined]>([
    ['a joining cell of this pod', cell(), undefined],
    ['phase Pending', cell((c) => (c.status!.phase = 'Pending')), undefined],
    ['no Cell', undefined, /the pod has no Cell/],
    ['Alive', cell((c) => (c.status!.phase = 'Alive')), /lottery-cell-1 is Alive/],
    ['Dead', cell((c) => (c.status!.phase = 'Dead')), /is Dead/],
    [
      'already reported a key',
      cell((c) => (c.status!.publicKey = 'ed25519:AA')),
      /already reported a public key/,
    ],
    [
      'another incarnation',
      cell((c) => (c.status!.podUID = 'p0')),
      /records pod uid p0, the token is for pod-uid-1/,
    ],
    ['no pod recorded yet', cell((c) => delete c.status!.podUID), /records pod uid \(none\)/],
    ['being deleted', cell((c) => (c.metadata!.deletionTimestamp = '2024-01-01T00:00:00Z')), /being deleted/],
  ])('%s', (_n, c, want) => {
    expectOutcome(checkJoinerState(goodToken(), c), want);
  });
});

describe('checkJoinKey', () => {
  const key = createJoinKey();
  const other = createJoinKey();
  it.each<[string, string | undefined, string, RegExp | undefined]>([
    ['the published key', key.digest, key.digest, undefined],
    ['no key published', undefined, key.digest, /has published no join key/],
    [
      'another key than published',
      key.digest,
      other.digest,
      /is not the join key Cell lottery-cell-1 published/,
    ],
  ])('%s', (_n, published, used, want) => {
    const cell = goodCell('lottery-cell-1', 'cell-uid-1', COLONY, 'pod-uid-1', published);
    expectOutcome(checkJoinKey(cell, { remoteAddress: JOINER_IP, joinKey: used }), want);
  });

  it('the digest is sha256 over the raw 32-byte X25519 key', () => {
    expect(key.publicKey).toHaveLength(32);
    expect(key.digest).toBe(`sha256:${createHash('sha256').update(key.publicKey).digest('hex')}`);
    expect(joinKeyDigest(key.publicKey)).toBe(key.digest);
  });
});

describe('checkPodSpec', () => {
  const expected = expectedSpec(COLONY_OBJECT, goodCell());
  type C = { env?: { name: string; value?: string; valueFrom?: object }[]; [k: string]: unknown };
  const c0 = (p: PodView): C => p.spec!.containers[0] as unknown as C;
  const spec = (p: PodView): Record<string, unknown> => p.spec as unknown as Record<string, unknown>;
  const edited = (edit: (p: PodView) => void): PodView => {
    const p = builtPod();
    edit(p);
    return p;
  };
  it.each<[string, (p: PodView) => void, RegExp | undefined]>([
    ['the built pod', () => undefined, undefined],
    [
      'API defaults (terminationMessagePath, fieldRef apiVersion, defaultMode, probe defaults, pull policy)',
      (p) => {
        Object.assign(c0(p), { terminationMessagePath: '/dev/termination-log', imagePullPolicy: 'Always' });
        for (const e of c0(p).env!) {
          const ref = (e.valueFrom as { fieldRef?: Record<string, unknown> } | undefined)?.fieldRef;
          if (ref) ref.apiVersion = 'v1';
        }
        const vol = (spec(p).volumes as { projected: Record<string, unknown> }[])[0]!;
        vol.projected.defaultMode = 420;
        Object.assign(c0(p).readinessProbe as object, { successThreshold: 1 });
        Object.assign(spec(p), {
          dnsPolicy: 'ClusterFirst',
          schedulerName: 'default-scheduler',
          priority: 0,
        });
        Object.assign(spec(p), { tolerations: [], hostNetwork: false, serviceAccount: 'lottery-cell' });
      },
      undefined,
    ],
    [
      'extra env NODE_OPTIONS (names the variable, never its value)',
      (p) => c0(p).env!.push({ name: 'NODE_OPTIONS', value: '--inspect=0.0.0.0:9229' }),
      /^pod spec.containers\[cell\].env\[NODE_OPTIONS\] is not in the pod the operator builds[^9]*$/,
    ],
    [
      'changed env value',
      (p) => (c0(p).env!.find((e) => e.name === 'CELULA_GENESIS')!.value = 'true'),
      /spec.containers\[cell\].env\[CELULA_GENESIS\].value differs/,
    ],
    [
      'missing env',
      (p) => (c0(p).env = c0(p).env!.filter((e) => e.name !== 'POD_IP')),
      /env\[POD_IP\] is missing/,
    ],
    ['command set', (p) => (c0(p).command = ['sh', '-c', 'x']), /spec.containers\[cell\].command is set/],
    ['args changed', (p) => (c0(p).args = ['--x']), /spec.containers\[cell\].args is set/],
    [
      'extra volume',
      (p) => (spec(p).volumes as object[]).push({ name: 'host', hostPath: { path: '/' } }),
      /spec.volumes\[host\] is not in/,
    ],
    [
      'extra volume mount',
      (p) => (c0(p).volumeMounts as object[]).push({ name: 'x', mountPath: '/x' }),
      /volumeMounts\[x\]/,
    ],
    ['service account', (p) => (spec(p).serviceAccountName = 'other'), /spec.serviceAccountName differs/],
    [
      'automount token',
      (p) => (spec(p).automountServiceAccountToken = true),
      /automountServiceAccountToken differs/,
    ],
    ['shareProcessNamespace', (p) => (spec(p).shareProcessNamespace = true), /shareProcessNamespace is set/],
    ['runtimeClassName', (p) => (spec(p).runtimeClassName = 'gvisor-debug'), /runtimeClassName is set/],
    ['hostPID', (p) => (spec(p).hostPID = true), /spec.hostPID is set/],
    [
      'pod securityContext',
      (p) => ((spec(p).securityContext as Record<string, unknown>).runAsUser = 0),
      /securityContext.runAsUser differs/,
    ],
    [
      'container SC field dropped',
      (p) => delete (c0(p).securityContext as Record<string, unknown>).allowPrivilegeEscalation,
      /allowPrivilegeEscalation differs/,
    ],
    [
      'init container',
      (p) => (spec(p).initContainers = [{ name: 'init', image: IMAGE }]),
      /spec.initContainers is set/,
    ],
    [
      'sidecar',
      (p) => p.spec!.containers.push({ name: 'side', image: IMAGE }),
      /spec.containers\[side\] is not in/,
    ],
    [
      'ephemeral container',
      (p) => (p.spec!.ephemeralContainers = [{ name: 'debug' }]),
      /ephemeralContainers is set/,
    ],
    [
      'resources',
      (p) => ((c0(p).resources as { limits: Record<string, string> }).limits.memory = '8Gi'),
      /resources.limits.memory differs/,
    ],
    ['stdin', (p) => (c0(p).stdin = true), /stdin is set/],
    ['workingDir', (p) => (c0(p).workingDir = '/tmp'), /workingDir is set/],
    [
      'lifecycle hook',
      (p) => (c0(p).lifecycle = { postStart: { exec: { command: ['x'] } } }),
      /lifecycle is set/,
    ],
    [
      'exec probe',
      (p) => (c0(p).readinessProbe = { exec: { command: ['x'] } }),
      /readinessProbe.exec is set/,
    ],
    [
      'a liveness probe added',
      (p) => (c0(p).livenessProbe = { tcpSocket: { port: 1 } }),
      /livenessProbe is set/,
    ],
    ['env reordered', (p) => c0(p).env!.reverse(), /env has entries duplicated or in another order/],
    ['no spec', (p) => delete p.spec, /pod spec is missing/],
  ])('%s', (_n, edit, want) => {
    expectOutcome(checkPodSpec(edited(edit), expected), want);
  });

  it('refuses when the expected spec is unknown', () => {
    expect(checkPodSpec(builtPod(), undefined)?.code).toBe('spec-mismatch');
  });

  it('compares resources with the fresh Colony: a changed colony makes the old pod differ', () => {
    const fresh = structuredClone(COLONY_OBJECT);
    fresh.spec.resources = { memory: '128Mi' };
    expect(checkPodSpec(builtPod(), expectedSpec(fresh, goodCell()))?.reason).toMatch(
      /resources.limits.memory differs/,
    );
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

  it('lets the same joiner retry with its own join key, and nobody else (another key or none)', () => {
    const g = new ReplayGuard();
    expect(g.claim('a', undefined, 'sha256:k1')).toBeUndefined();
    expect(g.claim('a', undefined, 'sha256:k1')).toBeUndefined(); // its first attempt was refused: a retry
    expect(g.claim('a', undefined, 'sha256:k2')?.code).toBe('replay');
    expect(g.claim('a')?.code).toBe('replay');
    expect(g.claim('b')).toBeUndefined();
    expect(g.claim('b', undefined, 'sha256:k1')?.code).toBe('replay'); // first seen without a key
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
