// The fault injectors. Each `run` injects its fault and heals what the fault itself heals (a
// partition ends, the API server comes back); lasting damage (a deleted node, a cordon) is undone by
// the clean-up it registers, after the system has recovered. Targets are chosen with the seeded
// random source, and never so that a fault itself destroys every copy of a colony's secret.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { LocalCell } from '../support/local-kubelet.js';
import type { Monitor } from './monitor.js';
import { COLONIES, NODE_ZONES, OPERATORS, ZONES, type System } from './system.js';

const run = promisify(execFile);

export interface Rng {
  next(): number;
  int(lo: number, hi: number): number;
  pick<T>(xs: T[]): T;
  shuffle<T>(xs: T[]): T[];
}

/** mulberry32: small, fast, good enough to make a run repeatable from its seed. */
export function rng(seed: number): Rng {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (lo: number, hi: number): number => lo + Math.floor(next() * (hi - lo + 1));
  return {
    next,
    int,
    pick: (xs) => xs[int(0, xs.length - 1)]!,
    shuffle: (xs) => {
      const out = [...xs];
      for (let i = out.length - 1; i > 0; i--) {
        const j = int(0, i);
        [out[i], out[j]] = [out[j]!, out[i]!];
      }
      return out;
    },
  };
}

export interface FaultContext {
  sys: System;
  mon: Monitor;
  rng: Rng;
  log: (line: string) => void;
  /** Every node's heartbeat stall, seconds. */
  stallAllS: number;
  /** API server outage, seconds. */
  apiDownS: number;
  /** Undone after recovery, in order. */
  cleanup: Array<() => Promise<void>>;
}

export interface Fault {
  name: string;
  what: string;
  run(ctx: FaultContext): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(probe: () => T | undefined, timeoutMs: number): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = probe();
    if (v !== undefined) return v;
    await sleep(100);
  }
  return undefined;
}

const liveCellsOn = (ctx: FaultContext, nodes: string[]): LocalCell[] =>
  ctx.sys.kubelet.cells().filter((c) => c.exitCode === undefined && nodes.includes(c.node));

/** True when killing every holder on `nodes` leaves each colony at least one live holder. */
function safeToLose(ctx: FaultContext, nodes: string[]): boolean {
  return COLONIES.every((p) => ctx.mon.liveHolders(p.name).some((c) => !nodes.includes(c.node)));
}

/** Up to `k` live nodes, holders' nodes first (seeded), that are safe to lose together. */
function pickNodes(ctx: FaultContext, k: number): string[] {
  const live = ctx.sys.cp.nodeNames().filter((n) => ctx.sys.cp.heartbeating(n));
  const withHolders = new Set(ctx.mon.liveHolders().map((c) => c.node));
  const order = [
    ...ctx.rng.shuffle(live.filter((n) => withHolders.has(n))),
    ...ctx.rng.shuffle(live.filter((n) => !withHolders.has(n))),
  ];
  const chosen: string[] = [];
  for (const n of order) if (chosen.length < k && safeToLose(ctx, [...chosen, n])) chosen.push(n);
  return chosen;
}

/** A machine dies: its processes die unreported, then the Node object is deleted (proof). */
async function killNodes(ctx: FaultContext, nodes: string[]): Promise<void> {
  const cells = liveCellsOn(ctx, nodes);
  ctx.log(`  killing nodes ${nodes.join(', ')} (${cells.map((c) => c.pod).join(', ') || 'no cells'})`);
  ctx.mon.harnessKills(cells.map((c) => c.pod));
  for (const n of nodes) ctx.sys.kubelet.partition(n, true);
  for (const c of cells) ctx.sys.kubelet.kill(c.pod);
  await Promise.all(nodes.map((n) => ctx.sys.cp.deleteNode(n)));
  for (const n of nodes) {
    ctx.cleanup.push(async () => {
      ctx.sys.kubelet.partition(n, false);
      await ctx.sys.addNode(n, ctx.sys.zoneOf(n), true);
    });
  }
}

/** Kills one live holder of `colony` (a crash), if it is not its last one. */
function crashHolder(ctx: FaultContext, colony: string, exclude: string[] = []): LocalCell | undefined {
  const holders = ctx.mon.liveHolders(colony).filter((c) => !exclude.includes(c.pod));
  if (ctx.mon.liveHolders(colony).length < 2 || holders.length === 0) return undefined;
  const victim = ctx.rng.pick(holders);
  ctx.log(`  crashing holder ${victim.pod} of ${colony}`);
  ctx.mon.harnessKills([victim.pod]);
  ctx.sys.kubelet.kill(victim.pod);
  return victim;
}

/** Waits (≤ 30 s) for a new cell process of `colony` that is not a holder yet: a joiner. */
function joinerOf(ctx: FaultContext, colony: string, known: Set<string>): Promise<LocalCell | undefined> {
  return waitFor(
    () =>
      ctx.sys.kubelet
        .cells()
        .find((c) => c.exitCode === undefined && !known.has(c.pod) && ctx.mon.colonyOf(c.pod) === colony),
    30_000,
  );
}

const podsNow = (ctx: FaultContext): Set<string> => new Set(ctx.sys.kubelet.cells().map((c) => c.pod));

async function leaderOrNone(ctx: FaultContext): Promise<string | undefined> {
  for (let i = 0; i < 100; i++) {
    const l = await ctx.sys.leader().catch(() => undefined);
    if (l) return l;
    await sleep(200);
  }
  return undefined;
}

/** Stops the leading operator replica with `signal`, then starts it again (as a standby). */
async function bounceLeader(ctx: FaultContext, signal: 'SIGKILL' | 'SIGTERM'): Promise<void> {
  const leader = (await leaderOrNone(ctx)) ?? OPERATORS[0]!;
  ctx.log(`  ${signal === 'SIGKILL' ? 'crashing' : 'stopping'} operator leader ${leader}`);
  await ctx.sys.bounceOperator(leader, signal);
}

const nodeKill: Fault = {
  name: 'node-kill',
  what: 'one node dies: its cell processes are killed unreported, then its Node object is deleted',
  run: (ctx) => killNodes(ctx, pickNodes(ctx, 1)),
};

const twoNodes: Fault = {
  name: 'two-nodes',
  what: 'two nodes die at once (processes killed, Node objects deleted)',
  run: (ctx) => killNodes(ctx, pickNodes(ctx, 2)),
};

const zoneKill: Fault = {
  name: 'zone-kill',
  what: 'every node of one zone dies at once (a zone safe to lose: each colony keeps a holder)',
  run: async (ctx) => {
    const live = (z: string): string[] =>
      NODE_ZONES.filter(([n, zz]) => zz === z && ctx.sys.cp.heartbeating(n)).map(([n]) => n);
    const zone = ctx.rng.shuffle(ZONES).find((z) => live(z).length > 0 && safeToLose(ctx, live(z)));
    if (!zone) {
      ctx.log('  no zone is safe to lose (a colony has every holder in one zone): killing one node');
      return killNodes(ctx, pickNodes(ctx, 1));
    }
    ctx.log(`  zone ${zone}`);
    await killNodes(ctx, live(zone));
  },
};

const partition: Fault = {
  name: 'partition',
  what: 'one node cut off from the API server 8-15 s (heartbeat and status stop, cells keep running), then back',
  run: async (ctx) => {
    const [node] = pickNodes(ctx, 1);
    if (!node) return;
    const s = ctx.rng.int(8, 15);
    ctx.log(`  partitioning ${node} for ${s} s`);
    ctx.sys.kubelet.partition(node, true);
    await ctx.sys.cp.stopHeartbeat(node);
    await sleep(s * 1000);
    await ctx.sys.cp.resumeHeartbeat(node);
    ctx.sys.kubelet.partition(node, false);
  },
};

const allHeartbeats: Fault = {
  name: 'all-heartbeats',
  what: "every node's heartbeat and status reports stall at once (cells keep running), then resume",
  run: async (ctx) => {
    const nodes = ctx.sys.cp.nodeNames();
    ctx.log(`  every heartbeat stalled for ${ctx.stallAllS} s`);
    for (const n of nodes) ctx.sys.kubelet.partition(n, true);
    await Promise.all(nodes.map((n) => ctx.sys.cp.stopHeartbeat(n)));
    await sleep(ctx.stallAllS * 1000);
    await Promise.all(nodes.map((n) => ctx.sys.cp.resumeHeartbeat(n)));
    for (const n of nodes) ctx.sys.kubelet.partition(n, false);
  },
};

const cellStall: Fault = {
  name: 'cell-stall',
  what: 'every cell of one colony (or of all) SIGSTOPped 3-8 s, then SIGCONT',
  run: async (ctx) => {
    const colony = ctx.rng.next() < 0.3 ? undefined : ctx.rng.pick(COLONIES).name;
    const pods = ctx.sys.kubelet
      .cells()
      .filter((c) => c.exitCode === undefined && (colony === undefined || ctx.mon.colonyOf(c.pod) === colony))
      .map((c) => c.pod);
    const s = ctx.rng.int(3, 8);
    ctx.log(`  SIGSTOP ${pods.length} cells (${colony ?? 'every colony'}) for ${s} s`);
    ctx.mon.setStalled(pods, true);
    ctx.sys.kubelet.stall(pods, true);
    await sleep(s * 1000);
    ctx.sys.kubelet.stall(pods, false);
    ctx.mon.setStalled(pods, false);
  },
};

const apiDown: Fault = {
  name: 'apiserver-down',
  what: 'kube-apiserver killed and kept down, then started again',
  run: async (ctx) => {
    ctx.log(`  API server down ${ctx.apiDownS} s`);
    await ctx.sys.cp.stopApiServer();
    await sleep(ctx.apiDownS * 1000);
    await ctx.sys.cp.startApiServer();
  },
};

const etcdRestart: Fault = {
  name: 'etcd-restart',
  what: 'etcd stopped 1-5 s and started again on the same data',
  run: async (ctx) => {
    const s = ctx.rng.int(1, 5);
    ctx.log(`  etcd down ${s} s`);
    await ctx.sys.cp.restartEtcd(s * 1000);
  },
};

const watchDrop: Fault = {
  name: 'watch-410',
  what: 'etcd compacted to its head, then the API server restarted: every watch drops and resumes into 410 Gone',
  run: async (ctx) => {
    const rev = await ctx.sys.cp.compactEtcd();
    ctx.log(`  etcd compacted at revision ${rev}; restarting the API server`);
    await ctx.sys.cp.restartApiServer();
  },
};

const operatorCrashMidJoin: Fault = {
  name: 'operator-crash-mid-join',
  what: 'a holder crashes; while its replacement is joining, the leading operator is SIGKILLed (then restarted)',
  run: async (ctx) => {
    const colony = ctx.rng.pick(COLONIES).name;
    const known = podsNow(ctx);
    if (!crashHolder(ctx, colony)) return;
    const joiner = await joinerOf(ctx, colony, known);
    ctx.log(`  joiner ${joiner?.pod ?? '(none seen in 30 s)'}`);
    await bounceLeader(ctx, 'SIGKILL');
  },
};

const leaderChange: Fault = {
  name: 'leader-change',
  what: 'the leading operator replica is stopped (SIGTERM: it releases the lease); the standby takes over',
  run: (ctx) => bounceLeader(ctx, 'SIGTERM'),
};

const operatorStall: Fault = {
  name: 'operator-stall',
  what:
    'the leading operator replica freezes (SIGSTOP) past its lease; meanwhile a holder crashes and the ' +
    'standby takes over; the old leader resumes (SIGCONT) on a stale cache and must act on nothing',
  run: async (ctx) => {
    const leader = await leaderOrNone(ctx);
    const pid = leader === undefined ? undefined : ctx.sys.operatorPid(leader);
    if (pid === undefined) return ctx.log('  no leader to freeze');
    const s = ctx.rng.int(18, 24);
    ctx.log(`  freezing operator leader ${leader} for ${s} s`);
    const thaw = (): void => {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        // already gone
      }
    };
    ctx.cleanup.push(() => Promise.resolve(thaw()));
    process.kill(pid, 'SIGSTOP');
    const crashAt = ctx.rng.int(2000, 8000);
    await sleep(crashAt);
    crashHolder(ctx, ctx.rng.pick(COLONIES).name);
    await sleep(s * 1000 - crashAt);
    thaw();
  },
};

const cellCrashHandoff: Fault = {
  name: 'cell-crash-handoff',
  what: 'a holder crashes; while its replacement joins, the joiner or another holder (never the last) crashes too',
  run: async (ctx) => {
    const colony = ctx.rng.pick(COLONIES).name;
    const known = podsNow(ctx);
    const first = crashHolder(ctx, colony);
    if (!first) return;
    const joiner = await joinerOf(ctx, colony, known);
    if (!joiner) return;
    await sleep(ctx.rng.int(0, 1500));
    if (ctx.rng.next() < 0.5 && joiner.exitCode === undefined) {
      ctx.log(`  crashing joiner ${joiner.pod}`);
      ctx.mon.harnessKills([joiner.pod]);
      ctx.sys.kubelet.kill(joiner.pod);
      return;
    }
    crashHolder(ctx, colony, [first.pod]);
  },
};

const cellCrash: Fault = {
  name: 'cell-crash',
  what: 'one holder process crashes (SIGKILL); the pod turns Failed',
  run: async (ctx) => {
    crashHolder(ctx, ctx.rng.pick(COLONIES).name);
    await Promise.resolve();
  },
};

const drain: Fault = {
  name: 'node-drain',
  what: 'kubectl drain of a node with holders (cordon + evictions), uncordoned after recovery',
  run: async (ctx) => {
    const [node] = pickNodes(ctx, 1);
    if (!node) return;
    const cells = liveCellsOn(ctx, [node]);
    ctx.log(`  draining ${node} (${cells.map((c) => c.pod).join(', ') || 'no cells'})`);
    ctx.mon.harnessKills(cells.map((c) => c.pod));
    ctx.cleanup.push(async () => {
      await run(ctx.sys.kubectl(['uncordon', node])[0]!, ctx.sys.kubectl(['uncordon', node]).slice(1));
    });
    const args = [
      'drain',
      node,
      '--ignore-daemonsets',
      '--delete-emptydir-data',
      '--force',
      '--timeout=120s',
    ];
    const [bin, ...rest] = ctx.sys.kubectl(args);
    const res = await run(bin!, rest).catch((err: { stderr?: string }) => ({
      stdout: '',
      stderr: err.stderr ?? '',
    }));
    ctx.log(`  drain: ${(res.stderr || res.stdout).trim().split('\n').slice(-1)[0] ?? ''}`);
  },
};

const readiness: Fault = {
  name: 'readiness-fail',
  what: "readiness probes of one colony's cells (all or some) fail 5-10 s while the processes run",
  run: async (ctx) => {
    const colony = ctx.rng.pick(COLONIES).name;
    const all = ctx.sys.kubelet
      .cells()
      .filter((c) => c.exitCode === undefined && ctx.mon.colonyOf(c.pod) === colony);
    const pods =
      ctx.rng.next() < 0.5
        ? all.map((c) => c.pod)
        : all.slice(0, ctx.rng.int(1, all.length)).map((c) => c.pod);
    const s = ctx.rng.int(5, 10);
    ctx.log(`  readiness of ${pods.join(', ')} fails for ${s} s`);
    ctx.sys.kubelet.failProbes(pods, true);
    await sleep(s * 1000);
    ctx.sys.kubelet.failProbes(pods, false);
  },
};

export const FAULTS: Fault[] = [
  nodeKill,
  twoNodes,
  zoneKill,
  partition,
  allHeartbeats,
  cellStall,
  apiDown,
  etcdRestart,
  watchDrop,
  operatorCrashMidJoin,
  leaderChange,
  operatorStall,
  cellCrashHandoff,
  cellCrash,
  drain,
  readiness,
];
