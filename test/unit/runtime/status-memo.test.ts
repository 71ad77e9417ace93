// The status memo: an object's last written status stands in for a cache that has not shown it yet,
// and only for exactly the cached version it replaced.
import { describe, expect, it } from '@jest/globals';
import { StatusMemo } from '../../../src/runtime/status-memo.js';

const obj = (rv: string, a: number) => ({
  metadata: { name: 'c', resourceVersion: rv },
  spec: { s: 1 },
  status: { a },
});

describe('StatusMemo', () => {
  it('answers the written version while the cache shows the one it replaced, then forgets', () => {
    const m = new StatusMemo();
    m.remember('k', '5', obj('6', 2));
    expect(m.fresher('k', obj('5', 1))).toEqual(obj('6', 2));
    expect(m.fresher('k', obj('9', 4))).toEqual(obj('9', 4));
    expect(m.size()).toBe(0);
    expect(m.fresher('k', obj('5', 1))).toEqual(obj('5', 1));
  });

  it('keeps nothing when the write left the cached version (nothing was written) or names no version', () => {
    const m = new StatusMemo();
    m.remember('k', '5', obj('5', 1));
    m.remember('j', undefined, obj('6', 1));
    expect(m.size()).toBe(0);
  });

  it("chains this writer's writes: any version it replaced answers the last, the last answers itself", () => {
    const m = new StatusMemo();
    m.remember('k', '5', obj('6', 2));
    const view = m.fresher('k', obj('5', 1));
    m.remember('k', view.metadata.resourceVersion, obj('7', 3));
    expect(m.fresher('k', obj('5', 1))).toEqual(obj('7', 3));
    expect(m.fresher('k', obj('6', 2))).toEqual(obj('7', 3));
    const caught = obj('7', 3);
    expect(m.fresher('k', caught)).toBe(caught);
    expect(m.size()).toBe(1);
  });

  it('keeps the entry a write started from when that write changed nothing', () => {
    const m = new StatusMemo();
    m.remember('k', '5', obj('6', 2));
    m.remember('k', '6', obj('6', 2));
    expect(m.fresher('k', obj('5', 1))).toEqual(obj('6', 2));
  });

  it('is bounded: the oldest entry goes first', () => {
    const m = new StatusMemo(2);
    m.remember('a', '1', obj('2', 1));
    m.remember('b', '1', obj('2', 1));
    m.remember('c', '1', obj('2', 1));
    expect(m.size()).toBe(2);
    expect(m.fresher('a', obj('1', 0))).toEqual(obj('1', 0));
    expect(m.fresher('c', obj('1', 0))).toEqual(obj('2', 1));
  });

  it('chains the versions a conflict re-read: the cache may show any of them', () => {
    const m = new StatusMemo();
    // Decided on 5, 409, re-read 7 (another writer), written as 8: the cache may show 5, then 7.
    m.remember('k', '5', obj('8', 3), ['7']);
    expect(m.fresher('k', obj('5', 1))).toEqual(obj('8', 3));
    expect(m.fresher('k', obj('7', 2))).toEqual(obj('8', 3));
  });

  it('keeps the first version replaced however many writes follow (a stalled cache keeps showing it)', () => {
    const m = new StatusMemo();
    let from = '1';
    for (let v = 2; v <= 20; v++) {
      m.remember('k', from, obj(String(v), v));
      from = m.fresher('k', obj('1', 0)).metadata.resourceVersion;
    }
    expect(m.fresher('k', obj('1', 0))).toEqual(obj('20', 20));
    expect(m.fresher('k', obj('19', 19))).toEqual(obj('20', 20));
  });

  it('answers the whole object the write returned (a newer spec too), without managedFields', () => {
    const m = new StatusMemo();
    const written = {
      metadata: { name: 'c', resourceVersion: '6', labels: { l: 'new' }, managedFields: [{ manager: 'x' }] },
      spec: { s: 2 },
      status: { a: 2 },
    };
    m.remember('k', '5', written);
    expect(m.fresher('k', obj('5', 1))).toEqual({
      metadata: { name: 'c', resourceVersion: '6', labels: { l: 'new' } },
      spec: { s: 2 },
      status: { a: 2 },
    });
  });
});
