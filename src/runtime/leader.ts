// Leader election on a coordination.k8s.io/v1 Lease (the client-go algorithm, simplified):
// - expiry is judged on the local monotonic clock from when *we* last saw the lease record change, never
//   from the holder's renewTime, so clock skew between replicas does not matter;
// - writes use replace with the read resourceVersion, so two candidates cannot both win;
// - a leader that cannot renew within renewDeadline stops leading (callback) before the lease
//   can expire for others; on shutdown the leader releases the lease (holder cleared) so a standby
//   takes over at once;
// - leading is a fact with an expiry, not a flag: isLeader() is true only within renewDeadline of
//   the start of the last successful renewal, on a monotonic clock. A replica that was stalled
//   (SIGSTOP, a long GC pause, a starved CPU) past its deadline acts on nothing when it resumes,
//   before its loop has even noticed: a standby can only take over leaseDuration after it *saw* that
//   renewal, which is later still, so two replicas never act at once (leaseDuration > renewDeadline).
import { V1MicroTime, type CoordinationV1Api, type V1Lease, type V1LeaseSpec } from '@kubernetes/client-node';
import type { Logger } from '../observability/logger.js';
import { sleep, systemClock, type Clock } from './clock.js';
import { describeError, isNotFound } from '../observability/errors.js';

export interface LeaseRecord {
  holder: string;
  leaseDurationMs: number;
  renewTime: string;
  transitions: number;
}

export interface Observation {
  record: LeaseRecord | undefined;
  /** Local clock time when `record` was first seen in its current form. */
  observedAt: number;
}

export type LeaseDecision = 'renew' | 'acquire' | 'wait';

/** Pure: what a candidate should do given what it observed. */
export function decideLease(obs: Observation, identity: string, now: number): LeaseDecision {
  const r = obs.record;
  if (!r || r.holder === '') return 'acquire';
  if (r.holder === identity) return 'renew';
  return now >= obs.observedAt + r.leaseDurationMs ? 'acquire' : 'wait';
}

/** Pure: the next observation after reading `record` at `now`. */
export function observe(prev: Observation, record: LeaseRecord | undefined, now: number): Observation {
  return sameRecord(prev.record, record) ? prev : { record, observedAt: now };
}

function sameRecord(a: LeaseRecord | undefined, b: LeaseRecord | undefined): boolean {
  if (!a || !b) return a === b;
  return a.holder === b.holder && a.renewTime === b.renewTime && a.transitions === b.transitions;
}

export function leaseRecord(lease: V1Lease | undefined): LeaseRecord | undefined {
  const s = lease?.spec;
  if (!s) return undefined;
  return {
    holder: s.holderIdentity ?? '',
    leaseDurationMs: (s.leaseDurationSeconds ?? 15) * 1000,
    renewTime: s.renewTime ? new Date(s.renewTime).toISOString() : '',
    transitions: s.leaseTransitions ?? 0,
  };
}

export interface LeaseClient {
  get(namespace: string, name: string): Promise<V1Lease | undefined>;
  create(namespace: string, lease: V1Lease): Promise<V1Lease>;
  replace(namespace: string, name: string, lease: V1Lease): Promise<V1Lease>;
}

export function coordinationLeaseClient(api: CoordinationV1Api): LeaseClient {
  return {
    get: async (namespace, name) => {
      try {
        return await api.readNamespacedLease({ namespace, name });
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    },
    create: (namespace, body) => api.createNamespacedLease({ namespace, body }),
    replace: (namespace, name, body) => api.replaceNamespacedLease({ namespace, name, body }),
  };
}

export interface LeaderElectorOptions {
  client: LeaseClient;
  namespace: string;
  name: string;
  identity: string;
  /** Defaults follow client-go: 15 s lease, 10 s renew deadline, 2 s retry period. */
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  onStartedLeading: () => void;
  onStoppedLeading: () => void;
  logger?: Logger;
  clock?: Clock;
}

export class LeaderElector {
  private obs: Observation = { record: undefined, observedAt: 0 };
  private current: V1Lease | undefined;
  private leading = false;
  /** elapsed() when the last successful acquire/renew began. */
  private lastRenewMono = 0;
  private stopped = false;
  private loop: Promise<void> | undefined;
  private readonly o: Required<Omit<LeaderElectorOptions, 'logger'>> & { logger?: Logger };

  constructor(opts: LeaderElectorOptions) {
    this.o = {
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      clock: systemClock,
      ...opts,
    };
  }

  /** Leading, and the last renewal began less than renewDeadline ago (fails closed). */
  isLeader(): boolean {
    return this.leading && this.elapsed() - this.lastRenewMono < this.o.renewDeadlineMs;
  }

  /** Monotonic milliseconds: wall-clock steps must not extend a leadership (tests: their clock). */
  private elapsed(): number {
    return this.o.clock === systemClock ? performance.now() : this.o.clock.now();
  }

  /** Starts campaigning in the background; never rejects. */
  start(): void {
    this.loop ??= this.run();
  }

  /** Stops campaigning and releases the lease if held. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
    if (this.leading) await this.release();
  }

  /** One election step (exposed for tests): read, decide, write. Returns whether we lead after it. */
  async tryAcquireOrRenew(): Promise<boolean> {
    const { client, namespace, name, identity, clock } = this.o;
    const now = clock.now();
    const startedMono = this.elapsed();
    if (await this.renewAsLastWritten(now, startedMono)) return true;
    try {
      this.current = await client.get(namespace, name);
      this.obs = observe(this.obs, leaseRecord(this.current), startedMono);
      const decision = decideLease(this.obs, identity, startedMono);
      if (decision === 'wait') return false;
      this.wrote(await this.write(decision, now), startedMono);
      return true;
    } catch (err) {
      this.o.logger?.debug({ err: describeError(err) }, 'lease acquire/renew failed');
      return false;
    }
  }

  /**
   * The leader's renewal in one request, as client-go does: replace the Lease guarded by the
   * resourceVersion of our own last write, without reading it first. Anyone else's write since then
   * makes it a 409 (then the read-decide-write step runs). Half the requests and half the latency
   * per renewal: on an API server that answers slowly (saturated, throttled), the difference between
   * renewing within the deadline and losing leadership.
   */
  private async renewAsLastWritten(now: number, startedMono: number): Promise<boolean> {
    // Only over a record that is ours as last known (our write, or a read that showed us holding):
    // after a read showed another holder, renewing "as last written" would take their Lease.
    const c = this.current;
    if (!this.leading || !c?.metadata?.resourceVersion || c.spec?.holderIdentity !== this.o.identity)
      return false;
    try {
      this.wrote(await this.write('renew', now), startedMono);
      return true;
    } catch (err) {
      this.o.logger?.debug({ err: describeError(err) }, 'lease renewal as last written failed; reading it');
      return false;
    }
  }

  /** Our write landed: it is the record we know, and we lead from when the step began. */
  private wrote(lease: V1Lease, startedMono: number): void {
    this.current = lease;
    this.obs = observe(this.obs, leaseRecord(lease), startedMono);
    this.lastRenewMono = startedMono;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const ok = await this.tryAcquireOrRenew();
      this.transition(ok);
      await sleep(this.o.clock, this.o.retryPeriodMs);
    }
  }

  private transition(ok: boolean): void {
    if (ok && !this.leading) {
      this.leading = true;
      this.o.logger?.info({ lease: this.o.name, identity: this.o.identity }, 'became leader');
      this.o.onStartedLeading();
    } else if (!ok && this.leading && this.elapsed() - this.lastRenewMono >= this.o.renewDeadlineMs) {
      this.leading = false;
      this.o.logger?.warn({ lease: this.o.name }, 'lost leadership (renew deadline passed)');
      this.o.onStoppedLeading();
    }
  }

  private async write(decision: 'renew' | 'acquire', now: number): Promise<V1Lease> {
    const { client, namespace, name, identity, leaseDurationMs } = this.o;
    const spec = nextLeaseSpec(this.current?.spec, { identity, leaseDurationMs, now });
    if (!this.current) return client.create(namespace, { metadata: { name, namespace }, spec });
    this.o.logger?.debug({ decision }, 'writing lease');
    return client.replace(namespace, name, { metadata: this.current.metadata, spec });
  }

  private async release(): Promise<void> {
    const { client, namespace, name, logger } = this.o;
    try {
      const lease = await client.get(namespace, name);
      if (!lease?.spec || lease.spec.holderIdentity !== this.o.identity) return;
      const spec = {
        ...lease.spec,
        holderIdentity: undefined,
        leaseDurationSeconds: 1,
        renewTime: new V1MicroTime(this.o.clock.now()),
      };
      await client.replace(namespace, name, { metadata: lease.metadata, spec });
      logger?.info({ lease: name }, 'released lease');
    } catch (err) {
      logger?.warn({ err: describeError(err) }, 'lease release failed; it will expire');
    } finally {
      this.leading = false;
      this.o.onStoppedLeading();
    }
  }
}

/** Pure: the lease spec a candidate writes to acquire or renew. Transitions count holder changes. */
export function nextLeaseSpec(
  prev: V1LeaseSpec | undefined,
  me: { identity: string; leaseDurationMs: number; now: number },
): V1LeaseSpec {
  const time = new V1MicroTime(me.now);
  const prevHolder = prev?.holderIdentity ?? '';
  const takeover = prevHolder !== me.identity;
  return {
    holderIdentity: me.identity,
    leaseDurationSeconds: Math.ceil(me.leaseDurationMs / 1000),
    acquireTime: takeover ? time : (prev?.acquireTime ?? time),
    renewTime: time,
    leaseTransitions: (prev?.leaseTransitions ?? 0) + (takeover && prevHolder !== '' ? 1 : 0),
  };
}
