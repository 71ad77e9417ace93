// Review (session 3): the node-liveness timer (node-liveness.ts → VerdictSource) schedules one timer
// per node Lease at "when this Lease would go stale": (leaseDurationSeconds × 0.75) s after the last
// renewal, from the Lease itself (unless --node-loss-after is set). Node's setTimeout takes at most
// 2^31-1 ms (24.8 days); a longer delay is set to 1 ms (TimeoutOverflowWarning). A Lease with a
// large leaseDurationSeconds — written by its kubelet (system:node:<n> may update its own Lease) or
// an admin — makes the timer fire every millisecond, judge the Lease fresh again, and re-arm with
// the same overflowing delay: a busy loop in the operator's event loop (before this session the Lease
// was judged only in reconciles). Measured before the fix: 352-431 timers in 500 ms, each with a
// TimeoutOverflowWarning on stderr. VerdictSource now clamps the delay to MAX_TIMER_MS. Measured
// with the real system clock.
import { describe, expect, it } from '@jest/globals';
import type { V1Lease } from '@kubernetes/client-node';

import { nodeLiveness } from '../../../src/controllers/node-liveness.js';
import { systemClock, type Clock } from '../../../src/runtime/clock.js';
import { MAX_TIMER_MS } from '../../../src/runtime/verdicts.js';
import type { ChangeHandler, EventSource } from '../../../src/runtime/controller.js';

class OneLease implements EventSource<V1Lease> {
  handlers: Array<ChangeHandler<V1Lease>> = [];
  onChange(h: ChangeHandler<V1Lease>): void {
    this.handlers.push(h);
  }
  emit(lease: V1Lease): void {
    for (const h of this.handlers) h(lease, { type: 'added' });
  }
}

function lease(durationS: number): V1Lease {
  return {
    metadata: { name: 'node-a', namespace: 'kube-node-lease' },
    spec: { holderIdentity: 'node-a', leaseDurationSeconds: durationS, renewTime: new Date() },
  };
}

/** Timers the liveness source arms in `ms` of real time for one Lease of `durationS`. */
async function timersArmed(durationS: number, ms: number): Promise<{ armed: number; delays: number[] }> {
  let armed = 0;
  const delays: number[] = [];
  const counting: Clock = {
    now: systemClock.now,
    setTimeout: (fn, delay) => {
      armed += 1;
      if (delays.length < 3) delays.push(delay);
      return systemClock.setTimeout(fn, delay);
    },
    clearTimeout: systemClock.clearTimeout,
  };
  const leases = new OneLease();
  nodeLiveness({ leases, guard: { observingSince: () => new Date(0) }, clock: counting });
  const warn = process.emitWarning;
  process.emitWarning = (): void => undefined; // TimeoutOverflowWarning, once per re-arm
  try {
    leases.emit(lease(durationS));
    await new Promise((r) => setTimeout(r, ms));
  } finally {
    process.emitWarning = warn;
  }
  // Stop the loop: a deletion cancels the node's timer.
  for (const h of leases.handlers) h(lease(durationS), { type: 'deleted' });
  return { armed, delays };
}

describe('node liveness timer with a large Lease duration', () => {
  it('a 40 s Lease and a 2^31-1 s Lease each arm one timer (the delay clamped to what Node takes)', async () => {
    const normal = await timersArmed(40, 500);
    const huge = await timersArmed(2_147_483_647, 500);
    console.log(
      `in 500 ms: leaseDurationSeconds 40 → ${normal.armed} timer(s) (delay ${normal.delays[0]} ms); ` +
        `2147483647 → ${huge.armed} timer(s) (delay ${huge.delays[0]} ms)`,
    );
    expect(normal.armed).toBe(1);
    expect(huge.delays[0]).toBe(MAX_TIMER_MS);
    expect(huge.armed).toBe(1);
  });
});
