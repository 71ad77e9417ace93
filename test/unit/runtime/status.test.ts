import { describe, expect, it } from '@jest/globals';
import type { ColonyStatus, Condition } from '../../../src/api/types.js';
import { getCondition, setCondition, toTimestamp } from '../../../src/api/conditions.js';
import {
  deepEqual,
  mergePatch,
  normalizeStatus,
  preserveTransitionTimes,
  statusChanged,
} from '../../../src/runtime/status.js';

const T0 = '2025-01-01T00:00:00Z';
const T1 = new Date('2025-01-01T00:05:00.123Z');

const cond = (type: string, status: Condition['status'], extra: Partial<Condition> = {}): Condition => ({
  type,
  status,
  reason: 'Because',
  message: '',
  lastTransitionTime: T0,
  ...extra,
});

describe('setCondition', () => {
  it('adds a missing condition with now as the transition time', () => {
    const out = setCondition([], { type: 'Ready', status: 'True', reason: 'Up', message: '' }, T1);
    expect(out).toEqual([
      {
        type: 'Ready',
        status: 'True',
        reason: 'Up',
        message: '',
        lastTransitionTime: '2025-01-01T00:05:00Z',
      },
    ]);
  });

  it('keeps the transition time when the status is unchanged but updates reason and message', () => {
    const out = setCondition(
      [cond('Ready', 'True')],
      { type: 'Ready', status: 'True', reason: 'Other', message: 'm' },
      T1,
    );
    expect(out[0]).toEqual(cond('Ready', 'True', { reason: 'Other', message: 'm' }));
  });

  it('moves the transition time when the status flips', () => {
    const out = setCondition(
      [cond('Ready', 'True')],
      { type: 'Ready', status: 'False', reason: 'Down', message: '' },
      T1,
    );
    expect(out[0]?.lastTransitionTime).toBe('2025-01-01T00:05:00Z');
  });

  it('does not mutate its input and keeps order', () => {
    const input = [cond('A', 'True'), cond('B', 'True')];
    const out = setCondition(input, { type: 'A', status: 'False', reason: 'X', message: '' }, T1);
    expect(input[0]?.status).toBe('True');
    expect(out.map((c) => c.type)).toEqual(['A', 'B']);
    expect(getCondition(out, 'B')).toEqual(cond('B', 'True'));
  });

  it('formats timestamps to second precision', () => {
    expect(toTimestamp(T1)).toBe('2025-01-01T00:05:00Z');
  });
});

describe('status changed', () => {
  const current: ColonyStatus = { alive: 3, conditions: [cond('Ready', 'True'), cond('FloorMet', 'True')] };

  it('is unchanged when only freshly computed transition times differ', () => {
    const desired = {
      alive: 3,
      conditions: [
        cond('FloorMet', 'True', { lastTransitionTime: 'later' }),
        cond('Ready', 'True', { lastTransitionTime: 'later' }),
      ],
    };
    expect(statusChanged(current, desired)).toBe(false);
  });

  it('is changed when a count, a reason or a status changes', () => {
    expect(statusChanged(current, { ...current, alive: 2 })).toBe(true);
    expect(
      statusChanged(current, {
        ...current,
        conditions: [cond('Ready', 'True', { reason: 'New' }), cond('FloorMet', 'True')],
      }),
    ).toBe(true);
    expect(
      statusChanged(current, { ...current, conditions: [cond('Ready', 'False'), cond('FloorMet', 'True')] }),
    ).toBe(true);
  });

  it('treats an undefined field like a missing one and a missing status like an empty one', () => {
    expect(statusChanged(current, { ...current, publicKey: undefined })).toBe(false);
    expect(statusChanged(undefined, {})).toBe(false);
    expect(statusChanged(undefined, { alive: 0 })).toBe(true);
  });

  it('normalizeStatus keeps old transition times only for unchanged statuses', () => {
    const out = normalizeStatus(current, {
      conditions: [
        cond('Ready', 'False', { lastTransitionTime: 'now' }),
        cond('FloorMet', 'True', { lastTransitionTime: 'now' }),
      ],
    });
    expect(out.conditions?.map((c) => c.lastTransitionTime)).toEqual(['now', T0]);
    expect(preserveTransitionTimes(undefined, undefined)).toBeUndefined();
  });
});

describe('deepEqual / mergePatch', () => {
  it.each([
    [{ a: 1, b: [1, 2] }, { b: [1, 2], a: 1 }, true],
    [{ a: [1, 2] }, { a: [2, 1] }, false],
    [{ a: null }, { a: {} }, false],
    [{ a: { b: 1 } }, { a: { b: 1, c: 2 } }, false],
  ])('deepEqual(%j, %j) = %s', (a, b, want) => {
    expect(deepEqual(a, b)).toBe(want);
  });

  it('sets changed keys, nulls removed keys, replaces arrays and omits equal ones', () => {
    const from = { a: 1, b: { c: 1, d: 2 }, e: [1], gone: 'x' };
    const to = { a: 1, b: { c: 1, d: 3 }, e: [1, 2], added: true };
    expect(mergePatch(from, to)).toEqual({ b: { d: 3 }, e: [1, 2], gone: null, added: true });
    expect(mergePatch(from, from)).toBeUndefined();
  });
});
