// VerdictSource: reports an object only when its verdict changes, including by itself with time
// (one timer per key, reset by each report), and judges everything again on demand.
import { describe, expect, it } from '@jest/globals';
import { FakeClock } from '../../../src/runtime/clock.js';
import type { Change } from '../../../src/runtime/controller.js';
import { VerdictSource } from '../../../src/runtime/verdicts.js';

interface Beat {
  name: string;
  /** When it was last heard (ms on the clock). */
  at: number;
}

/** A heartbeat is fresh for 1000 ms after `at`. */
function rig() {
  const clock = new FakeClock(0);
  const handlers: Array<(o: Beat, c?: Change<Beat>) => void> = [];
  let judged = 0;
  // Silence counts only from `since` (like the guard's observation start).
  const state = { since: 0 };
  const upstream = { onChange: (h: (o: Beat, c?: Change<Beat>) => void) => void handlers.push(h) };
  const verdicts = new VerdictSource<Beat>({
    source: upstream,
    key: (b) => b.name,
    clock,
    judge: (b) => {
      judged++;
      if (!b) return { verdict: 'gone' };
      const age = clock.now() - Math.max(b.at, state.since);
      return age < 1000 ? { verdict: 'fresh', recheckAfterMs: 1000 - age } : { verdict: 'stale' };
    },
  });
  const reported: string[] = [];
  verdicts.onChange((b) => reported.push(`${b.name}@${clock.now()}`));
  const emit = (b: Beat, type: Change<Beat>['type'] = 'modified'): void =>
    handlers.forEach((h) => h(b, { type }));
  return { clock, verdicts, reported, emit, state, judged: () => judged };
}

describe('VerdictSource', () => {
  it('reports the first sight, then nothing while renewals keep the verdict, then the flip when time runs out', () => {
    const r = rig();
    r.emit({ name: 'n1', at: 0 }, 'added');
    expect(r.reported).toEqual(['n1@0']);
    for (let t = 250; t <= 2000; t += 250) {
      r.clock.advance(250);
      r.emit({ name: 'n1', at: t });
    }
    expect(r.reported).toEqual(['n1@0']);
    // One timer for the key, however many renewals there were.
    expect(r.verdicts.timers()).toBe(1);
    expect(r.clock.pending()).toBe(1);
    // Renewals stop at 2000: stale at 3000, reported then, with no timer left.
    r.clock.advance(5000);
    expect(r.reported).toEqual(['n1@0', 'n1@3000']);
    expect(r.verdicts.verdict('n1')).toBe('stale');
    expect(r.clock.pending()).toBe(0);
    // Heard again: a flip, reported at once.
    r.emit({ name: 'n1', at: r.clock.now() });
    expect(r.reported).toEqual(['n1@0', 'n1@3000', 'n1@7000']);
  });

  it('reports a deletion (its verdict ends) and forgets its timer', () => {
    const r = rig();
    r.emit({ name: 'n1', at: 0 }, 'added');
    r.emit({ name: 'n1', at: 0 }, 'deleted');
    expect(r.reported).toEqual(['n1@0', 'n1@0']);
    expect(r.verdicts.verdict('n1')).toBeUndefined();
    expect(r.clock.pending()).toBe(0);
  });

  it('keeps keys apart: one stale key does not report another', () => {
    const r = rig();
    r.emit({ name: 'a', at: 0 }, 'added');
    r.emit({ name: 'b', at: 0 }, 'added');
    r.clock.advance(600);
    r.emit({ name: 'b', at: 600 });
    r.clock.advance(500);
    expect(r.reported).toEqual(['a@0', 'b@0', 'a@1000']);
    expect(r.verdicts.verdict('b')).toBe('fresh');
  });

  it('rejudge() judges every key now: a change outside the object (when silence counts from) is reported', () => {
    const r = rig();
    r.emit({ name: 'a', at: 0 }, 'added');
    r.clock.advance(2000);
    expect(r.verdicts.verdict('a')).toBe('stale');
    r.state.since = r.clock.now();
    const before = r.judged();
    r.verdicts.rejudge();
    expect(r.judged()).toBe(before + 1);
    expect(r.verdicts.verdict('a')).toBe('fresh');
    // Stale again a full second after `since`, by its timer.
    r.clock.advance(1000);
    expect(r.reported).toEqual(['a@0', 'a@1000', 'a@2000', 'a@3000']);
  });
});
