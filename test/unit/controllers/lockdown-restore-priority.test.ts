// A lock-down restore under the write rate limit (the attacker review's F3). Restores are high
// priority in the operator's write client (writePriority, src/operator.ts) and events the lowest;
// PriorityTokenBucket serves strictly by priority. reconcileLockdown used to await the report's
// LockdownTampered event before restoring, so on a busy operator (normal-priority writes always
// waiting) the restore waited behind its own event for a minute. Now the state change and the
// incident count come first, the event is sent in the background, and the restore goes at once.
import { describe, expect, it } from '@jest/globals';

import { PRIORITY } from '../../../src/runtime/rate-limit.js';
import { harness, settle, type Harness } from './lockdown-harness.js';

/** An admin deletes the pod-connect binding (exec into every cell pod is admitted again). */
function deleteConnectBinding(h: Harness): void {
  const bindings = h.src.cache('/validatingadmissionpolicybindings');
  bindings.items = bindings.items.filter(
    (b) => (b as { metadata?: { name?: string } }).metadata?.name !== 'celula-lockdown-pod-connect',
  );
}

/** `workers` reconcilers that each keep one normal-priority write waiting (a busy operator). */
function busyOperator(h: Harness, workers: number): { stop: () => void; writes: () => number } {
  let running = true;
  let writes = 0;
  for (let i = 0; i < workers; i++) {
    void (async (): Promise<void> => {
      while (running) {
        await h.bucket.acquire(PRIORITY.normal);
        writes += 1;
      }
    })();
  }
  return { stop: () => (running = false), writes: () => writes };
}

/** Drives fake time in 20 ms steps until `done` or `ms` have passed; returns the time taken. */
async function drive(h: Harness, ms: number, done: () => boolean): Promise<number> {
  const start = h.clock.now();
  while (!done() && h.clock.now() - start < ms) {
    h.clock.advance(20);
    await settle();
  }
  return h.clock.now() - start;
}

const restored = (h: Harness): boolean =>
  h.log.some((l) => l.includes('create ValidatingAdmissionPolicyBinding celula-lockdown-pod-connect'));

async function incidents(h: Harness): Promise<number> {
  const metric = await h.registry.getSingleMetric('celula_lockdown_incidents_total')?.get();
  return metric?.values[0]?.value ?? Number.NaN;
}

describe('lock-down restore under the write rate limit', () => {
  it('an idle operator restores a deleted binding at once and says so in one event', async () => {
    const h = harness();
    await h.reconcile(); // Unknown → Intact
    deleteConnectBinding(h);
    const pass = h.reconcile();
    const took = await drive(h, 5_000, () => restored(h) && h.log.some((l) => l.includes('event')));
    await pass;
    expect(took).toBeLessThan(1_000);
    expect(h.log.filter((l) => l.includes('event LockdownTampered'))).toHaveLength(1);
  });

  it('a busy operator restores first; its event waits, the restore does not', async () => {
    const h = harness();
    await h.reconcile();
    const load = busyOperator(h, 8);
    await drive(h, 3_000, () => false); // the burst is spent; 8 writes always waiting
    deleteConnectBinding(h);
    const pass = h.reconcile();
    // The state change and the incident count happen before any restore, synchronously.
    expect(h.lockdown.state()).toBe('Broken');
    expect(await incidents(h)).toBe(1);
    const took = await drive(h, 60_000, () => restored(h));
    await pass; // the pass ends without its event having been sent
    const eventSentUnderLoad = h.log.some((l) => l.includes('event'));
    load.stop();
    await drive(h, 5_000, () => h.log.some((l) => l.includes('event')));
    expect(took).toBeLessThan(1_000);
    expect(h.log[0]).toMatch(/create ValidatingAdmissionPolicyBinding celula-lockdown-pod-connect$/);
    expect(eventSentUnderLoad).toBe(false);
    expect(h.log.at(-1)).toMatch(/event LockdownTampered$/);
  });

  it('a failed event is logged, not thrown: the restore still lands', async () => {
    const h = harness({ eventFails: true });
    await h.reconcile();
    deleteConnectBinding(h);
    const pass = h.reconcile();
    await drive(h, 5_000, () => restored(h));
    await expect(pass).resolves.toEqual({ requeueAfter: 1_000 });
    await drive(h, 1_000, () => false);
    expect(restored(h)).toBe(true);
    expect(h.log.some((l) => l.includes('event'))).toBe(false);
  });
});
