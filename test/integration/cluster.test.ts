// The local control plane itself, against the real binaries: TLS + readyz, RBAC, pod-bound
// TokenRequest/TokenReview, kwok nodes (Ready, heartbeat stop/resume), pods turning Running, the
// kwok label exclusion, and an apiserver restart.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  ApiException,
  AuthenticationV1Api,
  CoordinationV1Api,
  CoreV1Api,
  KubeConfig,
  type V1Pod,
} from '@kubernetes/client-node';
import { httpsGet } from '../cluster/procs.js';
import * as fs from 'node:fs';
import {
  clusterInfo,
  controlPlane,
  createNamespace,
  deleteNamespace,
  kubeConfig,
  userKubeConfig,
  waitFor,
} from './support/cluster.js';

const JOIN = 'celula.io/join';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let kc: KubeConfig;
let core: CoreV1Api;
let ns: string;
const node = `kwok-${process.pid}-a`;

function pod(name: string, labels: Record<string, string> = {}): V1Pod {
  return {
    metadata: { name, labels },
    spec: {
      nodeName: node,
      restartPolicy: 'Never',
      containers: [{ name: 'main', image: 'registry.example/cell:1' }],
    },
  };
}

async function podPhase(name: string): Promise<string | undefined> {
  return (await core.readNamespacedPod({ name, namespace: ns })).status?.phase;
}

async function leaseRenewTime(name: string): Promise<number> {
  const coord = kc.makeApiClient(CoordinationV1Api);
  const lease = await coord.readNamespacedLease({ name, namespace: 'kube-node-lease' });
  const t = lease.spec?.renewTime;
  if (!t) throw new Error(`lease ${name} has no renewTime`);
  return new Date(t).getTime();
}

beforeAll(async () => {
  kc = await kubeConfig();
  core = kc.makeApiClient(CoreV1Api);
  ns = await createNamespace('cluster');
  await controlPlane().addNode(node, { labels: { 'celula.io/test': 'yes' } });
});

afterAll(async () => {
  await deleteNamespace(ns);
  await controlPlane().deleteNode(node);
});

describe('local control plane', () => {
  it('serves /readyz over TLS to a client cert', async () => {
    const info = clusterInfo();
    const dir = `${info.stateDir}/pki`;
    const res = await httpsGet({
      url: `${info.server}/readyz`,
      ca: fs.readFileSync(`${dir}/ca.crt`),
      cert: fs.readFileSync(`${dir}/admin.crt`),
      key: fs.readFileSync(`${dir}/admin.key`),
    });
    expect(res).toEqual({ status: 200, body: 'ok' });
  });

  it('authorizes with RBAC: an ordinary user cannot list secrets', async () => {
    const user = (await userKubeConfig('mallory', ['developers'])).makeApiClient(CoreV1Api);
    const err = await user.listNamespacedSecret({ namespace: ns }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ApiException);
    expect((err as ApiException<unknown>).code).toBe(403);
    // Authenticated as mallory (not anonymous), and denied by authorization.
    expect(JSON.stringify((err as ApiException<unknown>).body)).toContain('mallory');
  });

  it('issues pod-bound tokens for celula.io/join that TokenReview resolves to the pod', async () => {
    const created = await core.createNamespacedPod({ namespace: ns, body: pod('token-holder') });
    const tr = await core.createNamespacedServiceAccountToken({
      name: 'default',
      namespace: ns,
      body: {
        spec: {
          audiences: [JOIN],
          expirationSeconds: 600,
          boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'token-holder', uid: created.metadata!.uid },
        },
      },
    });
    const auth = kc.makeApiClient(AuthenticationV1Api);
    const review = await auth.createTokenReview({
      body: { spec: { token: tr.status!.token!, audiences: [JOIN] } },
    });
    expect(review.status?.authenticated).toBe(true);
    expect(review.status?.audiences).toEqual([JOIN]);
    expect(review.status?.user?.username).toBe(`system:serviceaccount:${ns}:default`);
    const extra = review.status?.user?.extra ?? {};
    expect(extra['authentication.kubernetes.io/pod-name']).toEqual(['token-holder']);
    expect(extra['authentication.kubernetes.io/pod-uid']).toEqual([created.metadata!.uid]);
    expect(extra['authentication.kubernetes.io/node-name']).toEqual([node]);
    expect(extra['authentication.kubernetes.io/credential-id']?.[0]).toMatch(/^JTI=/);

    // A join token is not an API credential (celula.io/join is not an --api-audiences entry).
    const asJoiner = new KubeConfig();
    asJoiner.loadFromOptions({
      clusters: [{ name: 'c', server: clusterInfo().server, caFile: `${clusterInfo().stateDir}/pki/ca.crt` }],
      users: [{ name: 'u', token: tr.status!.token! }],
      contexts: [{ name: 'c', cluster: 'c', user: 'u' }],
      currentContext: 'c',
    });
    const denied = await asJoiner
      .makeApiClient(CoreV1Api)
      .listNamespacedPod({ namespace: ns })
      .then(
        () => 0,
        (e: ApiException<unknown>) => e.code,
      );
    expect(denied).toBe(401);

    // A token for another audience is not accepted as a join token.
    const other = await core.createNamespacedServiceAccountToken({
      name: 'default',
      namespace: ns,
      body: { spec: { audiences: ['someone-else'], expirationSeconds: 600 } },
    });
    const rejected = await auth.createTokenReview({
      body: { spec: { token: other.status!.token!, audiences: [JOIN] } },
    });
    expect(rejected.status?.authenticated).toBeFalsy();
  });

  it('registers kwok nodes that become Ready', async () => {
    const n = await core.readNode({ name: node });
    expect(n.metadata?.labels?.['celula.io/test']).toBe('yes');
    expect(n.metadata?.annotations?.['kwok.x-k8s.io/node']).toBe('fake');
    expect(n.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    expect(n.status?.allocatable?.cpu).toBeDefined();
  });

  it('runs pods bound to a kwok node', async () => {
    await core.createNamespacedPod({ namespace: ns, body: pod('runner') });
    await waitFor(async () => (await podPhase('runner')) === 'Running', 'pod runner Running');
    const p = await core.readNamespacedPod({ name: 'runner', namespace: ns });
    expect(p.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    expect(p.status?.podIP).toBeDefined();
  });

  it('leaves pods labelled celula.io/cell-runtime=local to the test harness', async () => {
    await core.createNamespacedPod({
      namespace: ns,
      body: pod('harness', { 'celula.io/cell-runtime': 'local' }),
    });
    await core.createNamespacedPod({ namespace: ns, body: pod('sibling') });
    await waitFor(async () => (await podPhase('sibling')) === 'Running', 'pod sibling Running');
    await sleep(1000);
    expect(await podPhase('harness')).toBe('Pending');
    // kwok still completes deletion of such pods (there is no kubelet to do it).
    await core.deleteNamespacedPod({ name: 'harness', namespace: ns });
    await waitFor(
      () =>
        core.readNamespacedPod({ name: 'harness', namespace: ns }).then(
          () => false,
          (e: ApiException<unknown>) => e.code === 404,
        ),
      'pod harness deleted',
    );
  });

  it('stops and resumes a node heartbeat (its Lease)', async () => {
    const cp = controlPlane();
    const renewEveryMs = (cp.state.nodeLeaseDurationSeconds * 1000) / 4;
    const first = await leaseRenewTime(node);
    await waitFor(async () => (await leaseRenewTime(node)) > first, 'lease renewal', renewEveryMs * 3);

    await cp.stopHeartbeat(node);
    expect(cp.heartbeating(node)).toBe(false);
    const frozen = await leaseRenewTime(node);
    await sleep(renewEveryMs * 2);
    expect(await leaseRenewTime(node)).toBe(frozen);

    await cp.resumeHeartbeat(node);
    await waitFor(
      async () => (await leaseRenewTime(node)) > frozen,
      'lease renewal after resume',
      renewEveryMs * 3,
    );
  });

  it('restarts the apiserver on the same address', async () => {
    const cp = controlPlane();
    await cp.restartApiServer();
    expect(await cp.apiServerReady()).toBe(true);
    const list = await core.listNamespacedPod({ namespace: ns });
    expect(list.items.map((p) => p.metadata?.name)).toContain('runner');
  });
});
