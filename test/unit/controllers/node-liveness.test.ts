// Node liveness from the heartbeat Leases: a renewal that leaves the node fresh reports nothing; the
// node's one timer reports it when its Lease goes stale (judged as the reconcilers judge it:
// judgeLease with the guard's observation start); hearing it again, a new Lease and a deleted one
// are reported; a guard restart judges every Lease again.
import { describe, expect, it } from '@jest/globals';
import type { V1Lease } from '@kubernetes/client-node';
import { FloorGuard, MASS_DISRUPTION_DEFAULTS } from '../../../src/controllers/guard.js';
import { nodeLiveness } from '../../../src/controllers/node-liveness.js';
import { FakeClock } from '../../../src/runtime/clock.js';
import type { Change } from '../../../src/runtime/controller.js';
import { lease } from '../../fixtures/objects.js';

const T0 = new Date('2026-01-01T00:00:00Z').getTime();

function rig(opts: { observingSince?: number; nodeLossAfter?: number } = {}) {
  const clock = new FakeClock(T0);
  const guard = new FloorGuard(MASS_DISRUPTION_DEFAULTS, new Date(opts.observingSince ?? T0 - 3_600_000));
  const handlers: Array<(l: V1Lease, c?: Change<V1Lease>) => void> = [];
  const leases = { onChange: (h: (l: V1Lease, c?: Change<V1Lease>) => void) => void handlers.push(h) };
  const liveness = nodeLiveness({ leases, guard, clock, nodeLossAfter: opts.nodeLossAfter });
  guard.onRestart(() => liveness.rejudge());
  const reported: string[] = [];
  liveness.onChange((l) => reported.push(`${l.metadata?.name}+${(clock.now() - T0) / 1000}s`));
  /** The kubelet renews: a Lease renewed now, of `duration` seconds. */
  const renew = (node: string, duration = 40, type: Change<V1Lease>['type'] = 'modified'): void =>
    handlers.forEach((h) => h(lease(node, new Date(clock.now()), 0, duration), { type }));
  return { clock, guard, liveness, reported, renew };
}

describe('nodeLiveness', () => {
  it('a kubelet renewing every 10 s wakes nobody; one that stops is reported 30 s after its last renewal', () => {
    const r = rig();
    r.renew('n1', 40, 'added');
    for (let i = 0; i < 30; i++) {
      r.clock.advance(10_000);
      r.renew('n1');
    }
    // Five minutes of renewals: only the first sight.
    expect(r.reported).toEqual(['n1+0s']);
    expect(r.clock.pending()).toBe(1);
    // The kubelet stops at 300 s: stale after three renew intervals (30 s) plus the 100 ms margin.
    r.clock.advance(60_000);
    expect(r.reported).toEqual(['n1+0s', 'n1+330.1s']);
    expect(r.liveness.verdict('n1')).toBe('lost');
    // Heard again.
    r.renew('n1');
    expect(r.reported).toEqual(['n1+0s', 'n1+330.1s', 'n1+360s']);
  });

  it("follows each Lease's own duration (a hardened node's 10 s Lease) and --node-loss-after", () => {
    const hardened = rig();
    hardened.renew('h1', 10, 'added');
    hardened.clock.advance(8_000);
    expect(hardened.reported).toEqual(['h1+0s', 'h1+7.6s']);
    const flag = rig({ nodeLossAfter: 5 });
    flag.renew('n1', 40, 'added');
    flag.clock.advance(6_000);
    expect(flag.reported).toEqual(['n1+0s', 'n1+5.1s']);
  });

  it('a deleted Lease is reported (its node falls back to the Ready condition)', () => {
    const r = rig();
    r.renew('n1', 40, 'added');
    r.renew('n1', 40, 'deleted');
    expect(r.reported).toEqual(['n1+0s', 'n1+0s']);
    expect(r.clock.pending()).toBe(0);
  });

  it('a guard restart judges again: silence counts from the restart, and the timer follows', () => {
    const r = rig();
    r.renew('n1', 40, 'added');
    r.clock.advance(60_000);
    expect(r.liveness.verdict('n1')).toBe('lost');
    // The API server was unreachable: the operator observes again from now.
    r.guard.restart(new Date(r.clock.now()), 'the API server did not answer');
    expect(r.liveness.verdict('n1')).toBe('fresh');
    // Still silent a full threshold after the restart: reported again then.
    r.clock.advance(31_000);
    expect(r.reported).toEqual(['n1+0s', 'n1+30.1s', 'n1+60s', 'n1+90.1s']);
  });

  it('right after the operator starts, a long-silent Lease is stale only a full threshold later', () => {
    const r = rig({ observingSince: T0 });
    r.renew('n1', 40, 'added');
    expect(r.liveness.verdict('n1')).toBe('fresh');
    r.clock.advance(30_100);
    expect(r.reported).toEqual(['n1+0s', 'n1+30.1s']);
  });
});
