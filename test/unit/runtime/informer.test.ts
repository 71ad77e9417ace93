import { describe, expect, it } from '@jest/globals';
import { FakeClock } from '../../../src/runtime/clock.js';
import { Informer, WATCH_GRACE_MS, type WatchLike } from '../../../src/runtime/informer.js';

interface Obj {
  metadata: {
    namespace?: string;
    name: string;
    uid?: string;
    resourceVersion: string;
    labels?: Record<string, string>;
    ownerReferences?: Array<{ uid: string; kind: string; name: string; apiVersion: string }>;
  };
}

const obj = (ns: string, name: string, rv: string, extra: Partial<Obj['metadata']> = {}): Obj => ({
  metadata: { namespace: ns, name, resourceVersion: rv, ...extra },
});

// Backoff here is 1–2 ms of real time; 30 ms lets a retry happen.
const flush = () => new Promise((r) => setTimeout(r, 30));

/** A scripted API: list results and watch sessions the test drives by hand. */
function fakeApi(lists: Array<Obj[] | Error>) {
  const listCalls: string[] = [];
  const sessions: Array<{
    rv: string;
    timeoutSeconds: unknown;
    aborted: () => boolean;
    emit: (t: string, o: unknown) => void;
    end: (err: unknown) => void;
  }> = [];
  let listIndex = 0;
  const list = () => {
    const next = lists[Math.min(listIndex++, lists.length - 1)]!;
    listCalls.push(String(listIndex));
    if (next instanceof Error) return Promise.reject(next);
    return Promise.resolve({ metadata: { resourceVersion: `list-${listIndex}` }, items: next });
  };
  const watch: WatchLike = {
    watch(_path, query, cb, done) {
      const ac = new AbortController();
      let ended = false;
      const end = (err: unknown) => {
        if (!ended) {
          ended = true;
          done(err);
        }
      };
      ac.signal.addEventListener('abort', () => end(new Error('aborted')));
      sessions.push({
        rv: String(query.resourceVersion),
        timeoutSeconds: query.timeoutSeconds,
        aborted: () => ac.signal.aborted,
        emit: cb,
        end,
      });
      return Promise.resolve(ac);
    },
  };
  return { list, watch, listCalls, sessions };
}

const quickBackoff = { baseMs: 1, maxMs: 2 };

describe('Informer', () => {
  it('lists, syncs, then applies watch events to the cache and indexes', async () => {
    const api = fakeApi([[obj('ns', 'a', '1', { labels: { app: 'x' } })]]);
    const inf = new Informer<Obj>({
      path: '/api/v1/pods',
      list: api.list,
      watch: api.watch,
      backoff: quickBackoff,
    });
    const seen: string[] = [];
    inf.onChange((o) => seen.push(`${o.metadata.name}@${o.metadata.resourceVersion}`));
    inf.start();
    await inf.waitForSync(1000);
    await flush();
    expect(inf.hasSynced()).toBe(true);
    expect(api.sessions[0]?.rv).toBe('list-1');
    const owner = [{ uid: 'u1', kind: 'Colony', name: 'c', apiVersion: 'celula.io/v1alpha1' }];
    api.sessions[0]!.emit('ADDED', obj('ns', 'b', '2', { ownerReferences: owner }));
    api.sessions[0]!.emit('MODIFIED', obj('ns', 'a', '3', { labels: { app: 'y' } }));
    api.sessions[0]!.emit('DELETED', obj('ns', 'a', '4'));
    expect(inf.get('ns', 'a')).toBeUndefined();
    expect(inf.get('ns', 'b')?.metadata.resourceVersion).toBe('2');
    expect(inf.listByOwnerUid('u1').map((o) => o.metadata.name)).toEqual(['b']);
    expect(inf.listByLabels({ app: 'y' })).toEqual([]);
    expect(inf.list('other')).toEqual([]);
    expect(seen).toEqual(['a@1', 'b@2', 'a@3', 'a@4']);
    expect(inf.lastResourceVersion()).toBe('4');
    await inf.stop();
  });

  it('resumes the watch from the last resourceVersion after a connection error, without relisting', async () => {
    const api = fakeApi([[obj('ns', 'a', '1')]]);
    const inf = new Informer<Obj>({ path: '/p', list: api.list, watch: api.watch, backoff: quickBackoff });
    inf.start();
    await flush();
    api.sessions[0]!.emit('MODIFIED', obj('ns', 'a', '7'));
    const refused = Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
    api.sessions[0]!.end(refused);
    await flush();
    expect(api.sessions).toHaveLength(2);
    expect(api.sessions[1]?.rv).toBe('7');
    expect(api.listCalls).toHaveLength(1);
    await inf.stop();
  });

  it('asks the server to end each watch, and abandons one that stays silent past that (a dead connection)', async () => {
    const clock = new FakeClock(0);
    const api = fakeApi([[obj('ns', 'a', '1')]]);
    // The fake's watches never end or err by themselves: what a black-holed connection looks like.
    const inf = new Informer<Obj>({
      path: '/p',
      list: api.list,
      watch: api.watch,
      clock,
      backoff: quickBackoff,
      watchTimeoutS: { min: 10, max: 10 },
    });
    inf.start();
    await flush();
    expect(api.sessions).toHaveLength(1);
    expect(api.sessions[0]?.timeoutSeconds).toBe(10);
    clock.advance(10_000 + WATCH_GRACE_MS - 1);
    await flush();
    expect(api.sessions).toHaveLength(1);
    clock.advance(1); // the watchdog: abandon (abort) and watch again from the same resourceVersion
    await flush();
    clock.advance(5); // the retry backoff runs on the same clock
    await flush();
    expect(api.sessions[0]?.aborted()).toBe(true);
    expect(api.sessions).toHaveLength(2);
    expect(api.sessions[1]?.rv).toBe('list-1');
    expect(api.listCalls).toHaveLength(1);
    await inf.stop();
  });

  it('relists after 410 Gone (HTTP or in-stream) and reports deletions missed meanwhile', async () => {
    const api = fakeApi([
      [obj('ns', 'a', '1'), obj('ns', 'b', '1')],
      [obj('ns', 'b', '1')],
      [obj('ns', 'b', '9')],
    ]);
    const inf = new Informer<Obj>({ path: '/p', list: api.list, watch: api.watch, backoff: quickBackoff });
    const seen: string[] = [];
    inf.onChange((o) => seen.push(o.metadata.name));
    inf.start();
    await flush();
    api.sessions[0]!.end(Object.assign(new Error('Gone'), { statusCode: 410 }));
    await flush();
    expect(api.listCalls).toHaveLength(2);
    expect(inf.get('ns', 'a')).toBeUndefined();
    expect(seen).toEqual(['a', 'b', 'a']);
    api.sessions[1]!.emit('ERROR', { kind: 'Status', code: 410, reason: 'Expired' });
    await flush();
    expect(api.listCalls).toHaveLength(3);
    expect(inf.get('ns', 'b')?.metadata.resourceVersion).toBe('9');
    await inf.stop();
  });

  it('keeps retrying a failing list and never rejects; waitForSync resolves once it works', async () => {
    const api = fakeApi([new Error('connect ECONNREFUSED'), new Error('503'), [obj('ns', 'a', '1')]]);
    const inf = new Informer<Obj>({ path: '/p', list: api.list, watch: api.watch, backoff: quickBackoff });
    inf.start();
    await inf.waitForSync(5000);
    expect(api.listCalls.length).toBe(3);
    expect(inf.list().map((o) => o.metadata.name)).toEqual(['a']);
    await inf.stop();
  });

  it('says what happened: added, modified with the object as it was, deleted', async () => {
    const api = fakeApi([[obj('ns', 'a', '1', { labels: { app: 'x' } })]]);
    const inf = new Informer<Obj>({ path: '/p', list: api.list, watch: api.watch });
    const seen: string[] = [];
    inf.onChange((o, change) =>
      seen.push(
        `${change?.type} ${o.metadata.name}@${o.metadata.resourceVersion} was ${change?.old?.metadata.labels?.app}`,
      ),
    );
    inf.start();
    await inf.waitForSync();
    await flush();
    api.sessions[0]!.emit('MODIFIED', obj('ns', 'a', '2', { labels: { app: 'y' } }));
    api.sessions[0]!.emit('DELETED', obj('ns', 'a', '3'));
    expect(seen).toEqual(['added a@1 was undefined', 'modified a@2 was x', 'deleted a@3 was undefined']);
    await inf.stop();
  });

  it('caches objects without managedFields, then as its transform shapes them', async () => {
    const fat = (rv: string): Obj & { spec: { big: string; kept: string } } => ({
      ...obj('ns', 'a', rv, { managedFields: [{ manager: 'kubelet' }] } as Partial<Obj['metadata']>),
      spec: { big: 'x'.repeat(1000), kept: 'k' },
    });
    const api = fakeApi([[fat('1')]]);
    const plain = new Informer<Obj>({ path: '/p', list: api.list, watch: api.watch });
    const shaped = new Informer<Obj & { spec?: object }>({
      path: '/p',
      list: api.list,
      watch: api.watch,
      transform: (o) => ({ metadata: o.metadata, spec: { kept: (o.spec as { kept: string }).kept } }),
    });
    const reported: unknown[] = [];
    shaped.onChange((o) => reported.push(o));
    plain.start();
    shaped.start();
    await Promise.all([plain.waitForSync(), shaped.waitForSync()]);
    await flush();
    expect(plain.get('ns', 'a')).not.toHaveProperty('metadata.managedFields');
    expect(plain.get('ns', 'a')).toHaveProperty('spec.big');
    for (const session of api.sessions) session.emit('MODIFIED', fat('2'));
    expect(shaped.get('ns', 'a')).toEqual({
      metadata: { namespace: 'ns', name: 'a', resourceVersion: '2' },
      spec: { kept: 'k' },
    });
    // Handlers get the shaped object too.
    expect(reported).toEqual([
      { metadata: { namespace: 'ns', name: 'a', resourceVersion: '1' }, spec: { kept: 'k' } },
      { metadata: { namespace: 'ns', name: 'a', resourceVersion: '2' }, spec: { kept: 'k' } },
    ]);
    await Promise.all([plain.stop(), shaped.stop()]);
  });

  it('isolates a throwing change handler', async () => {
    const api = fakeApi([[obj('ns', 'a', '1')]]);
    const inf = new Informer<Obj>({ path: '/p', list: api.list, watch: api.watch });
    const seen: string[] = [];
    inf.onChange(() => {
      throw new Error('bad mapper');
    });
    inf.onChange((o) => seen.push(o.metadata.name));
    inf.start();
    await inf.waitForSync();
    expect(seen).toEqual(['a']);
    await inf.stop();
  });
});
