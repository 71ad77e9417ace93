import { describe, expect, it } from '@jest/globals';
import { ApiException } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import type { Colony, ColonyStatus, Condition } from '../../../src/api/types.js';
import { createLogger } from '../../../src/observability/logger.js';
import { patchStatus, statusPatchBody, type StatusClient } from '../../../src/runtime/apply.js';
import { FakeClock } from '../../../src/runtime/clock.js';
import { Controller, mapToOwner, mapToSelf, type EventSource } from '../../../src/runtime/controller.js';
import { statusCode } from '../../../src/observability/errors.js';

const log = createLogger({ level: 'silent' });

const ready = (status: Condition['status'], t = '2025-01-01T00:00:00Z'): Condition => ({
  type: 'Ready',
  status,
  reason: 'R',
  message: '',
  lastTransitionTime: t,
});

const colony = (rv: string, status?: ColonyStatus): Colony => ({
  metadata: { namespace: 'ns', name: 'c', resourceVersion: rv },
  spec: { image: 'x', replicas: 3, minReplicas: 2, secret: { algorithm: 'ed25519' } },
  status,
});

class FakeStatusClient implements StatusClient<Colony> {
  live: Colony;
  patches: object[] = [];
  conflictsLeft = 0;
  constructor(live: Colony) {
    this.live = live;
  }
  read() {
    return Promise.resolve(this.live);
  }
  patchStatus(_ns: string, _name: string, body: object) {
    this.patches.push(body);
    if (this.conflictsLeft-- > 0) {
      this.live = {
        ...this.live,
        metadata: { ...this.live.metadata, resourceVersion: `${this.live.metadata.resourceVersion}+` },
      };
      return Promise.reject(new ApiException(409, 'Conflict', {}, {}));
    }
    return Promise.resolve({ ...this.live, status: body });
  }
}

describe('patchStatus', () => {
  it('writes nothing when only transition times would churn', async () => {
    const current = colony('5', { alive: 3, conditions: [ready('True')] });
    const client = new FakeStatusClient(current);
    const out = await patchStatus(client, current, { alive: 3, conditions: [ready('True', 'now')] });
    expect(out.changed).toBe(false);
    expect(client.patches).toEqual([]);
  });

  it('sends a merge patch guarded by resourceVersion with only what changed', () => {
    const current = colony('5', { alive: 3, joining: 1, conditions: [ready('True')] });
    expect(statusPatchBody(current, { alive: 2, conditions: [ready('True', 'now')] })).toEqual({
      metadata: { resourceVersion: '5' },
      status: { alive: 2, joining: null },
    });
  });

  it('re-reads and retries on 409 Conflict, a bounded number of times', async () => {
    const current = colony('5', { alive: 3 });
    const client = new FakeStatusClient(current);
    client.conflictsLeft = 2;
    const out = await patchStatus(client, current, { alive: 1 });
    expect(out).toMatchObject({ changed: true, attempts: 3 });
    expect(
      client.patches.map((p) => (p as { metadata: { resourceVersion: string } }).metadata.resourceVersion),
    ).toEqual(['5', '5+', '5++']);
    const stubborn = new FakeStatusClient(current);
    stubborn.conflictsLeft = 10;
    await expect(patchStatus(stubborn, current, { alive: 1 }, 2)).rejects.toThrow('Conflict');
    expect(stubborn.patches).toHaveLength(3);
  });

  it('does not retry other errors', async () => {
    const client = new FakeStatusClient(colony('1'));
    client.patchStatus = () => Promise.reject(new ApiException(422, 'Invalid', {}, {}));
    await expect(patchStatus(client, colony('1'), { alive: 1 })).rejects.toThrow('Invalid');
  });
});

describe('key mapping', () => {
  const owner = (kind: string, controller = true) => ({
    apiVersion: 'celula.io/v1alpha1',
    kind,
    name: 'parent',
    uid: 'u',
    controller,
  });

  it.each([
    ['namespaced self', { metadata: { namespace: 'ns', name: 'a' } }, mapToSelf, 'ns/a'],
    ['cluster-scoped self', { metadata: { name: 'node-1' } }, mapToSelf, 'node-1'],
    [
      'controller owner',
      { metadata: { namespace: 'ns', ownerReferences: [owner('Colony')] } },
      mapToOwner('Colony'),
      'ns/parent',
    ],
    [
      'non-controller owner',
      { metadata: { namespace: 'ns', ownerReferences: [owner('Colony', false)] } },
      mapToOwner('Colony'),
      undefined,
    ],
    [
      'other kind',
      { metadata: { namespace: 'ns', ownerReferences: [owner('Cell')] } },
      mapToOwner('Colony'),
      undefined,
    ],
    [
      'other group',
      { metadata: { namespace: 'ns', ownerReferences: [owner('Colony')] } },
      mapToOwner('Colony', 'apps/v1'),
      undefined,
    ],
  ])('%s', (_name, obj, map, want) => {
    expect((map as (o: unknown) => unknown)(obj)).toEqual(want);
  });
});

describe('Controller', () => {
  function source<T>() {
    let h: ((o: T) => void) | undefined;
    const src: EventSource<T> = { onChange: (fn) => (h = fn) };
    return { src, emit: (o: T) => h?.(o) };
  }

  it('maps events to keys, passes a request with namespace and name, and counts outcomes', async () => {
    const clock = new FakeClock();
    const registry = new Registry();
    const seen: string[] = [];
    let fail = true;
    const c = new Controller({
      name: 'colony',
      logger: log,
      clock,
      registry,
      reconcile: (req) => {
        seen.push(`${req.namespace}|${req.name}`);
        if (fail) return Promise.reject(new Error('boom'));
        return Promise.resolve({ requeueAfter: 1000 });
      },
    });
    const cells = source<{ metadata: { namespace: string; ownerReferences: unknown[] } }>();
    c.watch(cells.src as never, mapToOwner('Colony'));
    expect(await c.process('ns/x')).toBe('error');
    expect(c.queue.numRequeues('ns/x')).toBe(1);
    fail = false;
    expect(await c.process('ns/x')).toBe('requeue');
    expect(c.queue.numRequeues('ns/x')).toBe(0);
    expect(c.queue.delayed()).toBe(1);
    cells.emit({
      metadata: {
        namespace: 'ns',
        ownerReferences: [{ kind: 'Colony', name: 'y', controller: true, apiVersion: 'v' }],
      },
    });
    expect(c.queue.len()).toBe(1);
    c.start();
    await c.queue.idle();
    expect(seen).toEqual(['ns|x', 'ns|x', 'ns|y']);
    const metrics = await registry.getSingleMetricAsString('celula_reconcile_total');
    expect(metrics).toContain('celula_reconcile_total{controller="colony",result="error"} 1');
    expect(metrics).toContain('celula_reconcile_total{controller="colony",result="requeue"} 2');
    await c.stop();
  });
});

describe('statusCode', () => {
  it.each([
    [new ApiException(404, 'x', {}, {}), 404],
    [Object.assign(new Error('Gone'), { statusCode: 410 }), 410],
    [{ kind: 'Status', code: 410 }, 410],
    [Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } }), undefined],
    ['text', undefined],
  ])('%p → %p', (err, code) => {
    expect(statusCode(err)).toBe(code);
  });
});
