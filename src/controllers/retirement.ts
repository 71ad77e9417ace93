// Two-phase retirement of surplus cells. The colony plan picks surplus holders from what the caches
// say now, and a holder whose node died a moment ago still looks heard until its Lease goes stale
// (--node-loss-after). Retiring on that picture can leave fewer than spec.replicas holders (the
// chaos suite caught it: two nodes killed, three surplus holders retired 3–8 s later, all counted on
// the dead nodes' cells). So a cell is retired only once it has been surplus continuously for the
// detection window: any death before the decision is known by then, the plan changes, and a cell
// that is no longer surplus is forgotten (its clock starts again if it becomes surplus again).
// In memory: an operator that restarts waits a full window again (the safe direction).

/** Margin added to the node-loss threshold: the liveness timer, the cell and colony reconciles. */
export const RETIREMENT_MARGIN_MS = 5_000;

/** A kubelet's default Lease duration: the threshold when --node-loss-after is not set. */
const DEFAULT_LEASE_S = 40;

/** The confirmation window for `--node-loss-after` seconds (undefined: a kubelet's default Lease). */
export function retirementWindowMs(nodeLossAfterSeconds: number | undefined): number {
  return (nodeLossAfterSeconds ?? DEFAULT_LEASE_S) * 1000 + RETIREMENT_MARGIN_MS;
}

export class RetirementGate {
  readonly #since = new Map<string, Map<string, number>>();

  constructor(readonly windowMs: number) {}

  /**
   * Of the cells `colony`'s plan would retire now, those surplus for the whole window (retire them),
   * and how long until the next one is (requeue then). Cells no longer planned are forgotten.
   */
  due(colony: string, planned: readonly string[], nowMs: number): { due: string[]; waitMs?: number } {
    const before = this.#since.get(colony);
    const since = new Map<string, number>();
    const due: string[] = [];
    let waitMs: number | undefined;
    for (const name of planned) {
      const first = before?.get(name) ?? nowMs;
      const left = first + this.windowMs - nowMs;
      if (left <= 0) {
        due.push(name);
        continue;
      }
      since.set(name, first);
      waitMs = Math.min(waitMs ?? left, left);
    }
    if (since.size > 0) this.#since.set(colony, since);
    else this.#since.delete(colony);
    return waitMs === undefined ? { due } : { due, waitMs };
  }
}
