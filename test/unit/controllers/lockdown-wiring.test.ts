import { describe, expect, it } from '@jest/globals';
import {
  INCIDENT_EVENT_INTERVAL_MS,
  IncidentEvents,
  LockdownBreaks,
  namespaceWaiter,
} from '../../../src/controllers/lockdown-wiring.js';

describe('IncidentEvents (one Warning event per incident, rate-limited)', () => {
  it('says the first incident at once and holds the next ones until the interval has passed', () => {
    const ev = new IncidentEvents(INCIDENT_EVENT_INTERVAL_MS);
    const t0 = 1_000_000;
    expect(ev.offer(t0, 'ValidatingAdmissionPolicyBinding a: Missing')).toBe(
      'lock-down admission policies were removed or changed; restored: ValidatingAdmissionPolicyBinding a: Missing',
    );
    expect(ev.offer(t0 + 1_000, 'b: Missing')).toBeUndefined();
    expect(ev.offer(t0 + 2_000, 'c: Changed')).toBeUndefined();
    expect(ev.flush(t0 + INCIDENT_EVENT_INTERVAL_MS - 1)).toBeUndefined();
    // The two held incidents become one event, naming the count and the last summary.
    expect(ev.flush(t0 + INCIDENT_EVENT_INTERVAL_MS)).toBe('2 lock-down incidents; restored: c: Changed');
    expect(ev.flush(t0 + 10 * INCIDENT_EVENT_INTERVAL_MS)).toBeUndefined();
  });

  it('gives n incidents spread wider than the interval n events, and a burst of n at most two', () => {
    const spread = new IncidentEvents(100);
    const said = [0, 100, 200, 300].map((t) => spread.offer(t, 'x')).filter((m) => m !== undefined);
    expect(said).toHaveLength(4);
    const burst = new IncidentEvents(100);
    const now = [0, 1, 2, 3, 4].map((t) => burst.offer(t, 'x')).filter((m) => m !== undefined);
    expect([...now, burst.flush(150)].filter((m) => m !== undefined)).toHaveLength(2);
  });
});

describe('namespaceWaiter (no cell before its namespace key is in the observed parameters)', () => {
  it('waits while the key is missing, not once it is there, and never in kube-* namespaces', () => {
    let data: Record<string, string> | undefined = { 'node.n1': '' };
    const wait = namespaceWaiter(() => (data === undefined ? undefined : { data }));
    expect(wait('vault')).toBe('waiting for the lock-down to cover namespace vault (ns.vault)');
    data = { 'node.n1': '', 'ns.vault': '' };
    expect(wait('vault')).toBeUndefined();
    expect(wait('kube-system')).toMatch(/^colonies are not run in kube-system/);
    expect(namespaceWaiter(() => ({ data: { 'ns.ops': '' } }), 'ops')('ops')).toMatch(
      /^colonies are not run in ops/,
    );
    data = undefined;
    expect(wait('vault')).toMatch(/waiting/);
  });
});

describe('LockdownBreaks (incidents per colony)', () => {
  it('gives a colony first seen only the breaks since it was created, then those since it recorded', () => {
    const b = new LockdownBreaks();
    for (const t of [100, 200, 300, 400, 500]) b.add(t);
    // Created after all five: none is its (issue 12: new colonies reported every earlier incident).
    expect(b.since('new', 600)).toEqual({ breaks: 0, mark: 5 });
    expect(b.since('mid', 250)).toEqual({ breaks: 3, mark: 5 });
    b.record('mid', 5);
    b.add(700);
    expect(b.since('mid', 250)).toEqual({ breaks: 1, mark: 6 });
    // Unknown creation time: every break this operator saw.
    expect(b.since('old')).toEqual({ breaks: 6, mark: 6 });
  });
});
