// The one write client against a recording HTTP server standing in for the API server: every write
// is made as the one field manager, events come from one recorder, deletes carry their uid
// precondition, and a closed fence stops every write before anything is sent.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { KubeConfig } from '@kubernetes/client-node';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FakeClock } from '../../../src/runtime/clock.js';
import { defaultPriority, NotLeaderError, WriteClient } from '../../../src/runtime/write.js';
import { writePriority } from '../../../src/operator.js';

interface Seen {
  method: string;
  path: string;
  query: Record<string, string>;
  contentType: string;
  body: Record<string, unknown> | undefined;
}

const seen: Seen[] = [];
let server: Server;
let kc: KubeConfig;

const DISCOVERY = {
  '/api/v1': {
    kind: 'APIResourceList',
    groupVersion: 'v1',
    resources: [
      { name: 'configmaps', namespaced: true, kind: 'ConfigMap', verbs: [] },
      { name: 'nodes', namespaced: false, kind: 'Node', verbs: [] },
    ],
  },
} as Record<string, object>;

function respond(req: IncomingMessage, res: ServerResponse, text: string): void {
  const url = new URL(req.url ?? '/', 'http://x');
  res.setHeader('Content-Type', 'application/json');
  const discovery = DISCOVERY[url.pathname];
  if (req.method === 'GET' && discovery) return void res.end(JSON.stringify(discovery));
  seen.push({
    method: req.method ?? '',
    path: url.pathname,
    query: Object.fromEntries(url.searchParams),
    contentType: req.headers['content-type'] ?? '',
    body: text ? (JSON.parse(text) as Record<string, unknown>) : undefined,
  });
  if (req.method === 'GET') {
    // A status read: the live object.
    return void res.end(JSON.stringify({ metadata: { namespace: 'ns', name: 'c', resourceVersion: '2' } }));
  }
  if (req.method === 'PATCH' && url.pathname.endsWith('/status')) {
    // A status patch: the object as written, one version on.
    const body = JSON.parse(text) as { metadata: { resourceVersion: string }; status: object };
    const resourceVersion = String(Number(body.metadata.resourceVersion) + 1);
    const name = url.pathname.split('/').at(-2);
    return void res.end(
      JSON.stringify({ metadata: { namespace: 'ns', name, resourceVersion }, status: body.status }),
    );
  }
  res.end(text || '{}');
}

beforeAll(async () => {
  server = createServer((req, res) => {
    let text = '';
    req.on('data', (c: Buffer) => (text += c.toString()));
    req.on('end', () => respond(req, res, text));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: 'u' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

const T = new Date('2026-01-02T03:04:05.000Z');
const client = (fence?: () => boolean): WriteClient =>
  new WriteClient({ kubeConfig: kc, fieldManager: 'the-manager', now: () => T, fence });
const cm = {
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { namespace: 'ns', name: 'cm' },
  data: { a: 'b' },
};

describe('WriteClient', () => {
  it('applies, creates, replaces and patches as the one field manager', async () => {
    seen.length = 0;
    const w = client();
    await w.apply(cm);
    await w.create(cm);
    await w.replace({ ...cm, metadata: { ...cm.metadata, resourceVersion: '7' } });
    await w.patchNode('n1', { metadata: { labels: { x: 'y' } } });
    expect(seen.map((s) => [s.method, s.path, s.query.fieldManager, s.contentType.split(';')[0]])).toEqual([
      ['PATCH', '/api/v1/namespaces/ns/configmaps/cm', 'the-manager', 'application/apply-patch+yaml'],
      ['POST', '/api/v1/namespaces/ns/configmaps', 'the-manager', 'application/json'],
      ['PUT', '/api/v1/namespaces/ns/configmaps/cm', 'the-manager', 'application/json'],
      ['PATCH', '/api/v1/nodes/n1', 'the-manager', 'application/merge-patch+json'],
    ]);
    expect(seen[0]?.query.force).toBe('false');
    expect((seen[2]?.body?.metadata as { resourceVersion?: string }).resourceVersion).toBe('7');
  });

  it('patches a custom resource status as the field manager, with the read resourceVersion', async () => {
    seen.length = 0;
    const current = { metadata: { namespace: 'ns', name: 'c', resourceVersion: '1' }, status: { a: 1 } };
    const changed = await client().patchStatus(
      { group: 'g.io', version: 'v1', plural: 'things' },
      current,
      () => ({ a: 2 }),
    );
    expect(changed).toBe(true);
    expect(seen.map((s) => [s.method, s.path, s.query.fieldManager])).toEqual([
      ['PATCH', '/apis/g.io/v1/namespaces/ns/things/c/status', 'the-manager'],
    ]);
    expect(seen[0]?.body).toEqual({ metadata: { resourceVersion: '1' }, status: { a: 2 } });
  });

  it('does not patch again on a cache that has not yet shown its own last status write', async () => {
    seen.length = 0;
    const w = client();
    const res = { group: 'g.io', version: 'v1', plural: 'things' };
    const stale = { metadata: { namespace: 'ns', name: 'c', resourceVersion: '5' }, status: { a: 1 } };
    expect(await w.patchStatus(res, stale, () => ({ a: 2 }))).toBe(true);
    // The informer has not delivered version 6 yet: the same decision again is no request at all.
    expect(await w.patchStatus(res, stale, () => ({ a: 2 }))).toBe(false);
    // A further change is sent against the version the write left, not the stale cached one.
    expect(await w.patchStatus(res, stale, () => ({ a: 3 }))).toBe(true);
    // The cache caught up (version 7): it is trusted again.
    const caught = { ...stale, metadata: { ...stale.metadata, resourceVersion: '7' }, status: { a: 3 } };
    expect(await w.patchStatus(res, caught, () => ({ a: 3 }))).toBe(false);
    expect(seen.map((s) => [s.method, s.body])).toEqual([
      ['PATCH', { metadata: { resourceVersion: '5' }, status: { a: 2 } }],
      ['PATCH', { metadata: { resourceVersion: '6' }, status: { a: 3 } }],
    ]);
  });

  it('shows a reconciler its own last status write while the cache lags, so a count raised twice is two', async () => {
    seen.length = 0;
    const w = client();
    const res = { group: 'g.io', version: 'v1', plural: 'counts' };
    const stale = { metadata: { namespace: 'ns', name: 'n', resourceVersion: '5' }, status: { n: 0 } };
    // Two incidents, each counted from what the reconciler reads; the informer delivers neither write.
    for (let i = 0; i < 2; i++) {
      const view = w.latest(res, stale);
      expect(await w.patchStatus(res, view, () => ({ n: view.status.n + 1 }))).toBe(true);
    }
    expect(w.latest(res, stale).status).toEqual({ n: 2 });
    expect(seen.map((s) => s.body)).toEqual([
      { metadata: { resourceVersion: '5' }, status: { n: 1 } },
      { metadata: { resourceVersion: '6' }, status: { n: 2 } },
    ]);
    // The cache shows the first write only: still one of this writer's versions, the memo still answers.
    const first = { ...stale, metadata: { ...stale.metadata, resourceVersion: '6' }, status: { n: 1 } };
    expect(w.latest(res, first).status).toEqual({ n: 2 });
    // Another writer's version: the cache is trusted again.
    const other = { ...stale, metadata: { ...stale.metadata, resourceVersion: '9' }, status: { n: 7 } };
    expect(w.latest(res, other)).toBe(other);
    expect(w.latest(res, stale)).toBe(stale);
  });

  it('deletes in the background with a uid precondition', async () => {
    seen.length = 0;
    await client().delete({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'ns', name: 'cm' }, 'uid-1');
    expect(seen[0]).toMatchObject({
      method: 'DELETE',
      path: '/api/v1/namespaces/ns/configmaps/cm',
      query: { propagationPolicy: 'Background' },
      body: { preconditions: { uid: 'uid-1' } },
    });
  });

  it('records events from the field manager, cluster-scoped ones in default', async () => {
    seen.length = 0;
    const w = client();
    await w.event(
      { apiVersion: 'v1', kind: 'Node', name: 'n1', uid: 'u1', namespace: '' },
      'Normal',
      'R',
      'm',
    );
    await w.event(
      { apiVersion: 'g.io/v1', kind: 'Thing', namespace: 'ns', name: 'c', uid: 'u2' },
      'Warning',
      'W',
      'm2',
    );
    expect(seen.map((s) => s.path)).toEqual([
      '/api/v1/namespaces/default/events',
      '/api/v1/namespaces/ns/events',
    ]);
    const [node, thing] = seen.map((s) => s.body ?? {});
    expect(node).toMatchObject({
      involvedObject: { apiVersion: 'v1', kind: 'Node', name: 'n1', uid: 'u1' },
      reason: 'R',
      type: 'Normal',
      source: { component: 'the-manager' },
      reportingComponent: 'the-manager',
      firstTimestamp: T.toISOString(),
      count: 1,
    });
    expect((node?.involvedObject as { namespace?: string }).namespace).toBeUndefined();
    expect(thing).toMatchObject({
      involvedObject: { kind: 'Thing', namespace: 'ns', name: 'c' },
      type: 'Warning',
    });
    const names = [node, thing].map((e) => (e?.metadata as { name: string }).name);
    expect(names[0]).toMatch(/^n1\.[0-9a-f]+$/);
    expect(new Set(names).size).toBe(2);
  });

  it('asks the fence before every write and sends nothing when it is closed', async () => {
    seen.length = 0;
    const w = client(() => false);
    const ref = { apiVersion: 'v1', kind: 'ConfigMap', namespace: 'ns', name: 'cm' };
    const writes: Array<() => Promise<unknown>> = [
      () => w.apply(cm),
      () => w.create(cm),
      () => w.replace(cm),
      () => w.delete(ref, 'u'),
      () => w.patchNode('n1', {}),
      () => w.patchStatus({ group: 'g', version: 'v1', plural: 'p' }, { metadata: {} }, () => ({})),
      () => w.event({ kind: 'Node', name: 'n1' }, 'Normal', 'R', 'm'),
    ];
    for (const write of writes) await expect(write()).rejects.toBeInstanceOf(NotLeaderError);
    expect(seen).toEqual([]);
  });

  it('rate-limits writes client-side; waiting ones go status first, events last, and an unchanged status costs nothing', async () => {
    seen.length = 0;
    const clock = new FakeClock(0);
    const w = new WriteClient({
      kubeConfig: kc,
      fieldManager: 'the-manager',
      now: () => T,
      rateLimit: { qps: 1, burst: 1 },
      clock,
      priority: defaultPriority,
    });
    const status = { group: 'g', version: 'v1', plural: 'p' };
    const live = { metadata: { namespace: 'ns', name: 'c', resourceVersion: '1' }, status: { phase: 'A' } };
    await w.apply(cm); // the burst
    // Unchanged: no request, no token (the next write would otherwise wait a second more).
    expect(await w.patchStatus(status, live, () => ({ phase: 'A' }))).toBe(false);
    const pending = [
      w.event({ kind: 'Node', name: 'n1' }, 'Normal', 'R', 'm'),
      w.patchNode('n1', { metadata: { labels: { x: 'y' } } }),
      w.patchStatus(status, live, () => ({ phase: 'B' })),
    ];
    await new Promise((r) => setImmediate(r));
    expect(w.queued()).toBe(3);
    for (let i = 0; i < 3; i++) {
      clock.advance(1000);
      await new Promise((r) => setTimeout(r, 50));
    }
    await Promise.all(pending);
    expect(seen.map((s) => `${s.method} ${s.path}`)).toEqual([
      'PATCH /api/v1/namespaces/ns/configmaps/cm',
      'PATCH /apis/g/v1/namespaces/ns/p/c/status',
      'PATCH /api/v1/nodes/n1',
      'POST /api/v1/namespaces/default/events',
    ]);
  });

  it('asks the fence again after waiting for the rate limit: a lease lost meanwhile sends nothing', async () => {
    seen.length = 0;
    const clock = new FakeClock(0);
    let leading = true;
    const w = new WriteClient({
      kubeConfig: kc,
      fieldManager: 'the-manager',
      now: () => T,
      fence: () => leading,
      rateLimit: { qps: 1, burst: 1 },
      clock,
    });
    await w.apply(cm);
    const waiting = w.apply(cm);
    leading = false;
    clock.advance(1000);
    await expect(waiting).rejects.toBeInstanceOf(NotLeaderError);
    expect(seen).toHaveLength(1);
  });

  it("the operator's priorities: lock-down restores and status first, events last", () => {
    expect(writePriority({ verb: 'replace', kind: 'ValidatingAdmissionPolicy' })).toBe(0);
    expect(writePriority({ verb: 'create', kind: 'ValidatingAdmissionPolicyBinding' })).toBe(0);
    expect(writePriority({ verb: 'replace', kind: 'LockdownParameters' })).toBe(0);
    expect(writePriority({ verb: 'status', kind: 'Cell' })).toBe(0);
    expect(writePriority({ verb: 'apply', kind: 'Cell' })).toBe(1);
    expect(writePriority({ verb: 'create', kind: 'Job' })).toBe(1);
    expect(writePriority({ verb: 'delete', kind: 'Pod' })).toBe(1);
    expect(writePriority({ verb: 'event', kind: 'Event' })).toBe(2);
  });
});
