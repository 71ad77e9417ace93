// The invariants, checked every 250 ms against the truth the harness owns (every cell process is its
// child) and against what the API says:
//   - secrets lost: a colony says Lost=True while one of its holder processes still runs, or every
//     holder process of a colony is gone (must be 0);
//   - holders wrongly killed: a holder process died that the harness did not kill, and fewer than
//     spec.replicas other holders of its colony were alive at that moment (so it was not the
//     documented retirement of a surplus holder: docs/floor.md) (must be 0);
//   - fingerprint changes: a colony's status.fingerprint, or a holder's /identity, differs from the
//     colony's first fingerprint (must be 0);
//   - time below the floor: how long a colony had fewer live holder processes (copies of the secret)
//     than spec.minReplicas; and, from the operator's view, how long FloorMet was not True.
import type { Colony } from '../../src/api/types.js';
import type { LocalCell } from '../support/local-kubelet.js';
import { COLONIES, type ColonyPlan, type System } from './system.js';

export interface IncidentStats {
  secretsLost: number;
  wronglyKilled: number;
  fingerprintChanges: number;
  retired: number;
  /** Worst contiguous time with live holders < minReplicas, seconds (any colony). */
  worstBelowFloorS: number;
  /** Worst contiguous time with FloorMet != True as the operator reported it, seconds. */
  worstFloorUnmetS: number;
  notes: string[];
}

interface Proc {
  cell: LocalCell;
  colony?: string;
  holder: boolean;
  dead: boolean;
  lastProbe: number;
  /** How many of the process's output lines #fromLogs has read. */
  scanned: number;
}

/** The line a cell prints the moment it holds the secret (src/cell/run.ts). */
const HOLDING_MSG = 'holding the colony secret; ready';

/**
 * A surplus holder the operator retires while the harness kills another holder of the colony at the
 * same moment is a race the operator cannot see: holders killed this recently still count as
 * "other holders" when judging a retirement (and the overlap is logged).
 */
const REACTION_MS = 3000;

const emptyStats = (): IncidentStats => ({
  secretsLost: 0,
  wronglyKilled: 0,
  fingerprintChanges: 0,
  retired: 0,
  worstBelowFloorS: 0,
  worstFloorUnmetS: 0,
  notes: [],
});

const cond = (c: Colony, type: string): string | undefined =>
  c.status?.conditions?.find((x) => x.type === type)?.status;

const plan = (colony: string): ColonyPlan | undefined => COLONIES.find((p) => p.name === colony);

export class Monitor {
  readonly #sys: System;
  readonly #log: (line: string) => void;
  readonly #procs = new Map<string, Proc>();
  readonly #fingerprints = new Map<string, string>();
  readonly #harnessKilled = new Set<string>();
  readonly #stalled = new Set<string>();
  readonly #belowSince = new Map<string, number>();
  readonly #unmetSince = new Map<string, number>();
  readonly #lostCounted = new Set<string>();
  readonly #recentKills: Array<{ colony: string; at: number }> = [];
  #stats = emptyStats();
  #incident = '';
  #timer: NodeJS.Timeout | undefined;
  #ticking = false;
  #reading = false;
  /** The last colonies the API returned (kept while the API is unreachable). */
  colonies: Colony[] = [];
  apiOk = false;

  constructor(sys: System, log: (line: string) => void) {
    this.#sys = sys;
    this.#log = log;
  }

  start(): void {
    this.#timer = setInterval(() => void this.#tick(), 250);
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** Starts counting for a new incident. */
  begin(incident: string): void {
    this.#incident = incident;
    this.#stats = emptyStats();
    this.#belowSince.clear();
    this.#unmetSince.clear();
    this.#lostCounted.clear();
  }

  /** Ends the incident's counting and returns its figures. */
  end(): IncidentStats {
    const now = Date.now();
    for (const since of this.#belowSince.values())
      this.#stats.worstBelowFloorS = Math.max(this.#stats.worstBelowFloorS, (now - since) / 1000);
    for (const since of this.#unmetSince.values())
      this.#stats.worstFloorUnmetS = Math.max(this.#stats.worstFloorUnmetS, (now - since) / 1000);
    return this.#stats;
  }

  /** The harness is about to kill (or evict) these pods' processes: their deaths are its own. */
  harnessKills(pods: string[]): void {
    for (const p of pods) this.#harnessKilled.add(p);
    for (const p of this.#procs.values())
      if (pods.includes(p.cell.pod) && p.holder)
        this.#recentKills.push({ colony: p.colony ?? '', at: Date.now() });
  }

  /** Holders of `colony` the harness killed within the operator's reaction time (it cannot know yet). */
  #justKilled(colony: string): number {
    const since = Date.now() - REACTION_MS;
    return this.#recentKills.filter((k) => k.colony === colony && k.at >= since).length;
  }

  /** Stalled processes are not probed (they hold, but cannot answer). */
  setStalled(pods: string[], stalled: boolean): void {
    for (const p of pods) {
      if (stalled) this.#stalled.add(p);
      else this.#stalled.delete(p);
    }
  }

  /** Live holder processes (alive, proven holder), optionally of one colony. */
  liveHolders(colony?: string): LocalCell[] {
    return [...this.#procs.values()]
      .filter((p) => p.holder && !p.dead && p.cell.exitCode === undefined)
      .filter((p) => colony === undefined || p.colony === colony)
      .map((p) => p.cell);
  }

  colonyOf(pod: string): string | undefined {
    return COLONIES.find((c) => pod.startsWith(`${c.name}-`))?.name;
  }

  fingerprint(colony: string): string | undefined {
    return this.#fingerprints.get(colony);
  }

  async #tick(): Promise<void> {
    if (this.#ticking) return;
    this.#ticking = true;
    try {
      this.#track();
      await this.#probe();
      if (!this.#reading) {
        this.#reading = true;
        void this.#readColonies().finally(() => (this.#reading = false));
      }
      this.#checkFloor();
    } finally {
      this.#ticking = false;
    }
  }

  /** New processes are tracked; exits of holders are judged. */
  #track(): void {
    for (const cell of this.#sys.kubelet.cells()) {
      const key = `${cell.pod}/${cell.uid}`;
      let p = this.#procs.get(key);
      if (!p) {
        p = { cell, colony: this.colonyOf(cell.pod), holder: false, dead: false, lastProbe: 0, scanned: 0 };
        this.#procs.set(key, p);
      }
    }
    // A process that became a holder since its last probe (≤ 500 ms ago) is one already: its own
    // output says so. Without this, a holder heard by the operator a moment before it retired a
    // surplus cell would be missing from the count that judges the retirement.
    for (const p of this.#procs.values()) if (!p.holder) this.#fromLogs(p);
    for (const p of this.#procs.values()) {
      const cell = p.cell;
      if (p.dead || cell.exitCode === undefined) continue;
      p.dead = true;
      if (p.holder) this.#judgeDeath(p);
    }
  }

  /** Reads the process's new output lines for its own "holding the secret" line. */
  #fromLogs(p: Proc): void {
    const lines = p.cell.lines;
    for (; p.scanned < lines.length; p.scanned++) {
      const line = lines[p.scanned]!;
      if (!line.includes(HOLDING_MSG)) continue;
      let rec: { msg?: string; colony?: string; fingerprint?: string };
      try {
        rec = JSON.parse(line) as typeof rec;
      } catch {
        continue;
      }
      if (rec.msg !== HOLDING_MSG || !rec.colony || !rec.fingerprint) continue;
      p.holder = true;
      p.colony = rec.colony;
      this.#checkFingerprint(rec.colony, rec.fingerprint, `holder ${p.cell.pod} (its log)`);
      return;
    }
  }

  #judgeDeath(p: Proc): void {
    const pod = p.cell.pod;
    if (this.#harnessKilled.has(pod)) return;
    const colony = p.colony ?? '?';
    const others = this.liveHolders(colony).length;
    const raced = this.#justKilled(colony);
    const replicas = plan(colony)?.replicas ?? Infinity;
    if (others + raced >= replicas) {
      this.#stats.retired += 1;
      const race = raced > 0 ? ` + ${raced} the harness killed < ${REACTION_MS / 1000} s ago` : '';
      this.#log(
        `  retired surplus holder ${pod} (${others} other live holders${race}, replicas ${replicas})`,
      );
      return;
    }
    this.#stats.wronglyKilled += 1;
    const tail = p.cell.lines.slice(-5).join(' | ');
    const note =
      `HOLDER WRONGLY KILLED during ${this.#incident}: ${pod} on ${p.cell.node} exit=${String(p.cell.exitCode)} ` +
      `with only ${others} other live holders of ${colony} (replicas ${replicas}); last lines: ${tail}`;
    this.#stats.notes.push(note);
    this.#log(`  ${note}`);
  }

  /** Asks every running, unstalled, not-yet-proven cell for its identity (at most every 500 ms). */
  async #probe(): Promise<void> {
    const now = Date.now();
    const due = [...this.#procs.values()].filter(
      (p) => !p.dead && !p.holder && !this.#stalled.has(p.cell.pod) && now - p.lastProbe >= 500,
    );
    await Promise.all(due.map((p) => this.#identity(p, now)));
  }

  async #identity(p: Proc, now: number): Promise<void> {
    p.lastProbe = now;
    const body = await fetch(`http://${p.cell.ip}:${p.cell.port}/identity`, {
      signal: AbortSignal.timeout(400),
    })
      .then((r) =>
        r.status === 200 ? (r.json() as Promise<{ colony?: string; fingerprint?: string }>) : undefined,
      )
      .catch(() => undefined);
    if (!body?.fingerprint || !body.colony) return;
    p.holder = true;
    p.colony = body.colony;
    this.#checkFingerprint(body.colony, body.fingerprint, `holder ${p.cell.pod}`);
  }

  #checkFingerprint(colony: string, fp: string, who: string): void {
    const first = this.#fingerprints.get(colony);
    if (first === undefined) {
      this.#fingerprints.set(colony, fp);
      return;
    }
    if (first === fp) return;
    this.#stats.fingerprintChanges += 1;
    const note = `FINGERPRINT CHANGED during ${this.#incident}: ${who} of ${colony} reports ${fp}, first ${first}`;
    this.#stats.notes.push(note);
    this.#log(`  ${note}`);
  }

  async #readColonies(): Promise<void> {
    const timeout = new Promise<undefined>((r) => setTimeout(() => r(undefined), 1500));
    const list = await Promise.race([this.#sys.colonies().catch(() => undefined), timeout]);
    this.apiOk = list !== undefined;
    if (!list) return;
    this.colonies = list;
    for (const c of list) {
      const name = c.metadata.name ?? '';
      if (c.status?.fingerprint) this.#checkFingerprint(name, c.status.fingerprint, 'status.fingerprint');
      if (cond(c, 'Lost') === 'True') this.#lost(name, 'the colony says Lost=True');
      this.#span(this.#unmetSince, name, cond(c, 'FloorMet') !== 'True', 'worstFloorUnmetS');
    }
  }

  #lost(colony: string, why: string): void {
    const live = this.liveHolders(colony);
    if (this.#lostCounted.has(colony)) return;
    if (why.includes('Lost=True') && live.length === 0) return; // proven: no holder process lives
    this.#lostCounted.add(colony);
    this.#stats.secretsLost += 1;
    const note =
      `SECRET LOST during ${this.#incident}: ${colony}: ${why} while ${live.length} holder processes ` +
      `live (${live.map((c) => c.pod).join(', ')})`;
    this.#stats.notes.push(note);
    this.#log(`  ${note}`);
  }

  #checkFloor(): void {
    for (const p of COLONIES) {
      if (!this.#fingerprints.has(p.name)) continue; // not seeded yet
      const live = this.liveHolders(p.name).length;
      if (live === 0) this.#lost(p.name, 'every holder process is gone');
      this.#span(this.#belowSince, p.name, live < p.minReplicas, 'worstBelowFloorS');
    }
  }

  #span(
    since: Map<string, number>,
    colony: string,
    below: boolean,
    field: 'worstBelowFloorS' | 'worstFloorUnmetS',
  ): void {
    const start = since.get(colony);
    if (below && start === undefined) since.set(colony, Date.now());
    if (below || start === undefined) return;
    since.delete(colony);
    this.#stats[field] = Math.max(this.#stats[field], (Date.now() - start) / 1000);
  }
}
