// A source that reports an object only when a verdict about it changes, including a verdict that
// changes by itself with time (a heartbeat that goes stale). It wraps another source: each reported
// object is judged, and reported downstream only when its verdict differs from the last one; a
// judgement may name when the verdict could next change by itself, and one timer per object (on the
// injected clock) judges it again then. So a heartbeat renewed every few seconds costs one judgement
// and one timer reset per renewal, and a reconcile only when it goes stale or is heard again.
import type { Clock, TimerHandle } from './clock.js';
import type { Change, ChangeHandler, EventSource } from './controller.js';

/**
 * The longest delay a Node timer takes (2^31-1 ms, 24.8 days): a longer one fires after 1 ms. A
 * verdict that could change only later (a Lease whose leaseDurationSeconds is huge: its node chooses
 * it) is judged again then, instead of every millisecond.
 */
export const MAX_TIMER_MS = 2_147_483_647;

export interface Judgement {
  /** The verdict; a change of it is reported. */
  verdict: string;
  /** When (ms from now) the verdict could change with no new report; absent: only on a report. */
  recheckAfterMs?: number;
}

export interface VerdictSourceOptions<T> {
  /** What to judge: every object it reports (a deletion ends its verdict). */
  source: EventSource<T>;
  /** One verdict (and one timer) per key, e.g. the object's name. */
  key(obj: T): string;
  /** The verdict now; `undefined` for a deleted object. */
  judge(obj: T | undefined): Judgement;
  clock: Clock;
}

interface Seen<T> {
  obj: T;
  verdict: string;
  timer?: { handle: TimerHandle };
}

export class VerdictSource<T> implements EventSource<T> {
  private readonly seen = new Map<string, Seen<T>>();
  private readonly handlers: Array<ChangeHandler<T>> = [];

  constructor(private readonly opts: VerdictSourceOptions<T>) {
    opts.source.onChange((obj, change) => this.observe(obj, change));
  }

  onChange(handler: ChangeHandler<T>): void {
    this.handlers.push(handler);
  }

  /** The last verdict of `key`, if its object is known. */
  verdict(key: string): string | undefined {
    return this.seen.get(key)?.verdict;
  }

  /** Timers pending (one per object whose verdict may change by itself). */
  timers(): number {
    return [...this.seen.values()].filter((s) => s.timer !== undefined).length;
  }

  /**
   * Judges every known object again now (the judge's inputs other than the object changed, e.g.
   * the time from which silence is counted): reports the flips and resets the timers.
   */
  rejudge(): void {
    for (const key of [...this.seen.keys()]) this.fire(key);
  }

  private observe(obj: T, change: Change<T> | undefined): void {
    const key = this.opts.key(obj);
    const before = this.seen.get(key);
    this.cancel(before);
    const deleted = change?.type === 'deleted';
    const j = this.opts.judge(deleted ? undefined : obj);
    if (deleted) this.seen.delete(key);
    else this.seen.set(key, { obj, verdict: j.verdict, timer: this.schedule(key, j) });
    if (before?.verdict !== j.verdict) this.notify(obj, change);
  }

  private fire(key: string): void {
    const entry = this.seen.get(key);
    if (!entry) return;
    this.cancel(entry);
    const j = this.opts.judge(entry.obj);
    entry.timer = this.schedule(key, j);
    if (j.verdict === entry.verdict) return;
    entry.verdict = j.verdict;
    this.notify(entry.obj, { type: 'modified' });
  }

  private schedule(key: string, j: Judgement): { handle: TimerHandle } | undefined {
    if (j.recheckAfterMs === undefined) return undefined;
    const ms = Math.min(MAX_TIMER_MS, Math.max(0, j.recheckAfterMs));
    return { handle: this.opts.clock.setTimeout(() => this.fire(key), ms) };
  }

  private cancel(entry: Seen<T> | undefined): void {
    if (entry?.timer === undefined) return;
    this.opts.clock.clearTimeout(entry.timer.handle);
    entry.timer = undefined;
  }

  private notify(obj: T, change: Change<T> | undefined): void {
    for (const h of this.handlers) h(obj, change);
  }
}
