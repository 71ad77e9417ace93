// `npm run chaos [-- --incidents N --seed S --faults a,b]`: the system tier's chaos suite (issue 9).
// A fresh local control plane, 8 kwok nodes in 3 zones, two operator replicas (separate processes,
// leader election), three colonies backed by real cell processes; then N incidents in a seeded random
// order (rounds of a shuffled fault list), each: inject, wait for recovery (every colony Ready with
// spec.replicas heard holders, and as many live holder processes) or a timeout, clean up, settle.
// The invariants (test/system/monitor.ts) are checked every 250 ms throughout. See README.md here.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomInt } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { pathToFileURL } from 'node:url';
import { FAULTS, rng, type Fault, type FaultContext } from './faults.js';
import { Monitor, type IncidentStats } from './monitor.js';
import { COLONIES, System } from './system.js';
import { addTo, mergeRows, rowsFromJson, rowsToJson, table, totals, type Rows } from './table.js';
import { LOOPBACK_BLOCK_ENV, shardLoopbackBlock } from '../support/local-kubelet.js';

interface Args {
  incidents: number;
  seed: number;
  faults: Fault[];
  stallAllS: number;
  apiDownS: number;
  nodeGraceS: number;
  recoveryTimeoutS: number;
  /** How long the colonies may take to become Ready before the first incident. */
  readyTimeoutS: number;
  operatorHttp: boolean;
  /** Independent systems run side by side, the incidents split between them (one table). */
  shards: number;
  /** Where a shard writes its table (JSON) for the parent; internal. */
  rowsOut?: string;
}

const HELP = `usage: npm run chaos -- [--incidents N] [--seed S] [--faults a,b,c]
  [--stall-all-s S] [--apiserver-down-s S] [--node-grace-s S] [--recovery-timeout-s S]
  [--ready-timeout-s S]   time for the colonies to become Ready before the first incident
                          (240 s, times the number of shards up to 4: they start together)
  [--operator-http on|off]   off: replicas run without health/metrics listeners
  [--shards K]   K independent systems side by side (own control plane, operators, cells), the
                 incidents split between them, seeds S..S+K-1, one table at the end (default 1)
faults: ${FAULTS.map((f) => f.name).join(', ')}
Short runs (≤ 100 incidents) default to --stall-all-s 25 --apiserver-down-s 20; longer ones to 45 and 60.
Ctrl-C (SIGINT) or SIGTERM ends the run after the current incident and prints the table so far.
`;

function num(flag: string, v: string | undefined, min: number): number {
  const n = Number(v);
  if (v === undefined || !Number.isInteger(n) || n < min)
    throw new Error(`${flag} needs an integer ≥ ${min}, got "${v}"`);
  return n;
}

function onOff(flag: string, v: string | undefined): boolean {
  if (v === 'on' || v === 'off') return v === 'on';
  throw new Error(`${flag} needs on or off, got "${v}"`);
}

function pickFaults(v: string | undefined): Fault[] {
  if (v === undefined) throw new Error('--faults needs a comma-separated list');
  return v.split(',').map((name) => {
    const f = FAULTS.find((x) => x.name === name.trim());
    if (!f)
      throw new Error(`--faults: unknown fault "${name}"; known: ${FAULTS.map((x) => x.name).join(', ')}`);
    return f;
  });
}

export function parseArgs(argv: string[]): Args {
  const flags = new Map<string, string | undefined>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--help' || a === '-h') throw new Error(HELP);
    if (!a.startsWith('--')) throw new Error(`unexpected argument "${a}"\n${HELP}`);
    const [k, inline] = a.slice(2).split('=', 2);
    flags.set(k!, inline ?? argv[++i]);
  }
  const known = [
    'incidents',
    'seed',
    'faults',
    'stall-all-s',
    'apiserver-down-s',
    'node-grace-s',
    'recovery-timeout-s',
    'ready-timeout-s',
    'operator-http',
    'shards',
    'rows-out',
  ];
  for (const k of flags.keys()) if (!known.includes(k)) throw new Error(`unknown flag --${k}\n${HELP}`);
  const incidents = flags.has('incidents') ? num('--incidents', flags.get('incidents'), 1) : 60;
  const short = incidents <= 100;
  const opt = (k: string, dflt: number, min: number): number =>
    flags.has(k) ? num(`--${k}`, flags.get(k), min) : dflt;
  return {
    incidents,
    seed: flags.has('seed') ? num('--seed', flags.get('seed'), 0) : randomInt(1, 2 ** 31 - 1),
    faults: flags.has('faults') ? pickFaults(flags.get('faults')) : FAULTS,
    stallAllS: opt('stall-all-s', short ? 25 : 45, 1),
    apiDownS: opt('apiserver-down-s', short ? 20 : 60, 1),
    nodeGraceS: opt('node-grace-s', 20, 5),
    recoveryTimeoutS: opt('recovery-timeout-s', 180, 10),
    readyTimeoutS: opt('ready-timeout-s', 240 * Math.min(opt('shards', 1, 1), 4), 10),
    operatorHttp: onOff('--operator-http', flags.get('operator-http') ?? 'on'),
    shards: opt('shards', 1, 1),
    ...(flags.has('rows-out') ? { rowsOut: flags.get('rows-out') } : {}),
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Set by the first SIGINT/SIGTERM: the run ends after the current incident and prints its table. */
let interrupted = false;
function stopOnSignal(log: (line: string) => void): void {
  const stop = (signal: string): void => {
    interrupted = true;
    log(`${signal}: ending after the current incident (a second ${signal} stops at once)`);
    process.once(signal, () => process.exit(130));
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
}

/** Every colony Ready, never Lost, spec.replicas heard holders, and as many live holder processes. */
async function recovered(sys: System, mon: Monitor): Promise<boolean> {
  const colonies = await sys.colonies().catch(() => undefined);
  if (!colonies) return false;
  return COLONIES.every((p) => {
    const c = colonies.find((x) => x.metadata.name === p.name);
    const is = (t: string): string | undefined => c?.status?.conditions?.find((x) => x.type === t)?.status;
    return (
      is('Ready') === 'True' &&
      is('Lost') !== 'True' &&
      (c?.status?.alive ?? 0) >= p.replicas &&
      mon.liveHolders(p.name).length >= p.replicas
    );
  });
}

/** Recovered, and nothing left over: no unreachable holder, no joiner, no surplus cell. */
async function settled(sys: System, mon: Monitor): Promise<boolean> {
  if (!(await recovered(sys, mon))) return false;
  const [colonies, cells] = await Promise.all([sys.colonies(), sys.cells()]).catch(() => [[], []]);
  return COLONIES.every((p) => {
    const c = colonies.find((x) => x.metadata.name === p.name);
    const living = cells.filter((x) => x.spec.colony === p.name && x.status?.phase !== 'Dead');
    // The truth too: a retired cell's process lives on until its pod is garbage-collected (seconds);
    // the next fault must not start before, or a retirement decided earlier looks like a wrong kill.
    const procs = sys.kubelet
      .cells()
      .filter((x) => x.exitCode === undefined && mon.colonyOf(x.pod) === p.name);
    return (
      (c?.status?.unreachable ?? 0) === 0 &&
      (c?.status?.joining ?? 0) === 0 &&
      living.length === p.replicas &&
      procs.length === p.replicas &&
      mon.liveHolders(p.name).length === p.replicas
    );
  });
}

/** Settled for 3 s in a row (a late surge or retirement would otherwise overlap the next fault). */
async function steady(ctx: FaultContext, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let since: number | undefined;
  while (Date.now() < deadline) {
    const ok = await settled(ctx.sys, ctx.mon).catch(() => false);
    since = ok ? (since ?? Date.now()) : undefined;
    if (since !== undefined && Date.now() - since >= 3000) return true;
    await sleep(250);
  }
  return false;
}

async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return true;
    await sleep(250);
  }
  return false;
}

async function incident(
  ctx: FaultContext,
  fault: Fault,
  timeoutMs: number,
): Promise<{ stats: IncidentStats; recovery?: number }> {
  const t0 = Date.now();
  ctx.mon.begin(fault.name);
  try {
    await fault.run(ctx);
  } catch (err) {
    ctx.log(
      `  fault ${fault.name} failed to inject fully: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`,
    );
  }
  const ok = await until(() => recovered(ctx.sys, ctx.mon), timeoutMs);
  const recovery = ok ? (Date.now() - t0) / 1000 : undefined;
  const stats = ctx.mon.end();
  for (const undo of ctx.cleanup.splice(0))
    await undo().catch((err: unknown) => ctx.log(`  clean-up failed: ${String(err)}`));
  if (!(await steady(ctx, 90_000))) ctx.log('  not settled after 90 s (going on)');
  return { stats, recovery };
}

type Log = (line: string) => void;

function logger(started: number, prefix = ''): Log {
  return (line) => {
    const at = new Date().toISOString().slice(11, 23);
    process.stdout.write(
      `[${((Date.now() - started) / 1000).toFixed(0).padStart(5)}s ${at}] ${prefix}${line}\n`,
    );
  };
}

/** One system, `args.incidents` incidents in a row; returns the table and the unexpected operator exits. */
async function runSystem(args: Args, log: Log): Promise<{ rows: Rows; operatorExits: number }> {
  log(
    `chaos: seed=${args.seed} incidents=${args.incidents} faults=${args.faults.map((f) => f.name).join(',')}`,
  );
  log(
    `chaos: all-heartbeats stall ${args.stallAllS} s, API server down ${args.apiDownS} s, node-monitor-grace ${args.nodeGraceS} s`,
  );
  const sys = await System.start({ nodeGraceS: args.nodeGraceS, operatorHttp: args.operatorHttp, log });
  let operatorExits = 0;
  sys.superviseOperators((name) => {
    operatorExits += 1;
    log(`  OPERATOR EXITED: replica ${name} exited without the harness stopping it; restarted`);
  });
  const mon = new Monitor(sys, log);
  mon.start();
  const ctx: FaultContext = {
    sys,
    mon,
    rng: rng(args.seed),
    log,
    stallAllS: args.stallAllS,
    apiDownS: args.apiDownS,
    cleanup: [],
  };
  const rows: Rows = new Map();
  try {
    if (!(await steady(ctx, args.readyTimeoutS * 1000)))
      throw new Error(`the colonies did not become Ready in ${args.readyTimeoutS} s (--ready-timeout-s)`);
    log(
      `ready: ${COLONIES.map((c) => `${c.name} (${c.replicas}/${c.minReplicas}) ${mon.fingerprint(c.name) ?? '?'}`).join(', ')}`,
    );
    let order: Fault[] = [];
    for (let i = 1; i <= args.incidents && !interrupted; i++) {
      if (order.length === 0) order = ctx.rng.shuffle(args.faults);
      const fault = order.shift()!;
      log(`incident ${i}/${args.incidents}: ${fault.name}`);
      const { stats, recovery } = await incident(ctx, fault, args.recoveryTimeoutS * 1000);
      log(
        `  ${recovery === undefined ? `NOT RECOVERED in ${args.recoveryTimeoutS} s` : `recovered in ${recovery.toFixed(1)} s`}; below floor ${stats.worstBelowFloorS.toFixed(1)} s`,
      );
      addTo(rows, fault.name, stats, recovery);
    }
  } finally {
    mon.stop();
    const keep = path.join(sys.logsDir(), 'cells.log');
    fs.writeFileSync(keep, sys.kubelet.lines().join('\n'));
    log(`logs: ${sys.logsDir()} (operators: celula-operator-0.log, -1.log; cells: cells.log)`);
    await sys.stop();
  }
  return { rows, operatorExits };
}

/** The arguments of shard `i` of `args.shards`: its share of the incidents, its own seed, the same knobs. */
export function shardArgs(args: Args, i: number, rowsOut: string): string[] {
  const n = Math.floor(args.incidents / args.shards) + (i < args.incidents % args.shards ? 1 : 0);
  return [
    ...['--incidents', String(n), '--seed', String(args.seed + i), '--shards', '1', '--rows-out', rowsOut],
    ...['--faults', args.faults.map((f) => f.name).join(','), '--stall-all-s', String(args.stallAllS)],
    ...['--apiserver-down-s', String(args.apiDownS), '--node-grace-s', String(args.nodeGraceS)],
    ...[
      '--recovery-timeout-s',
      String(args.recoveryTimeoutS),
      '--ready-timeout-s',
      String(args.readyTimeoutS),
    ],
    ...['--operator-http', args.operatorHttp ? 'on' : 'off'],
  ];
}

interface ShardResult {
  code: number;
  rows?: Rows;
  operatorExits: number;
}

function runShard(args: Args, i: number, dir: string, children: ChildProcess[]): Promise<ShardResult> {
  const out = path.join(dir, `shard-${i}.json`);
  // Each shard's cells get their own loopback block (local-kubelet.ts): two random blocks collided
  // once (1 in 150), and one shard's cells could not bind their addresses.
  const env = { ...process.env, [LOOPBACK_BLOCK_ENV]: String(shardLoopbackBlock(i)) };
  const child = spawn(process.execPath, [process.argv[1]!, ...shardArgs(args, i, out)], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env,
  });
  children.push(child);
  readline.createInterface({ input: child.stdout }).on('line', (l) => process.stdout.write(`s${i} ${l}\n`));
  return new Promise((resolve) => {
    // 'close', not 'exit': the shard's last lines (its table) may still be in the pipe at exit.
    child.on('close', (code) => {
      if (!fs.existsSync(out)) return resolve({ code: code ?? 2, operatorExits: 0 });
      const got = JSON.parse(fs.readFileSync(out, 'utf8')) as { operatorExits: number; rows: string };
      resolve({ code: code ?? 2, rows: rowsFromJson(got.rows), operatorExits: got.operatorExits });
    });
  });
}

/** `--shards K`: K chaos runs as child processes, each its own system; one merged table. */
async function runShards(args: Args, started: number): Promise<number> {
  const log = logger(started);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'celula-chaos-'));
  log(
    `chaos: ${args.shards} shards, ${args.incidents} incidents, seeds ${args.seed}..${args.seed + args.shards - 1}`,
  );
  const children: ChildProcess[] = [];
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.on(signal, () => {
      log(`${signal}: passed to every shard (each ends after its current incident)`);
      for (const c of children) c.kill(signal);
    });
  const results = await Promise.all(
    Array.from({ length: args.shards }, (_, i) => runShard(args, i, dir, children)),
  );
  const rows: Rows = new Map();
  for (const r of results) if (r.rows) mergeRows(rows, r.rows);
  const failed = results.flatMap((r, i) => (r.rows ? [] : [`s${i} (exit ${r.code})`]));
  if (failed.length) log(`shards that printed no table: ${failed.join(', ')}`);
  const operatorExits = results.reduce((a, r) => a + r.operatorExits, 0);
  const code = report(rows, { operatorExits, started, seed: `${args.seed} shards=${args.shards}` });
  fs.rmSync(dir, { recursive: true, force: true });
  return failed.length ? 2 : code;
}

/** Prints the table and the two summary lines; the exit code is 1 when an invariant broke. */
function report(rows: Rows, extra: { operatorExits: number; started: number; seed: string }): number {
  const t = totals(rows);
  for (const line of table(rows)) process.stdout.write(`${line}\n`);
  process.stdout.write(
    `chaos fingerprint_changes=${t.fingerprintChanges} timeouts=${t.timeouts} operator_unexpected_exits=${extra.operatorExits} wall_s=${((Date.now() - extra.started) / 1000).toFixed(0)}\n`,
  );
  process.stdout.write(
    `chaos incidents=${t.incidents} secrets_lost=${t.secretsLost} holders_wrongly_killed=${t.wronglyKilled} worst_below_floor_s=${t.worstBelowFloorS.toFixed(1)} seed=${extra.seed}\n`,
  );
  return t.secretsLost + t.wronglyKilled + t.fingerprintChanges > 0 ? 1 : 0;
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const started = Date.now();
  if (args.shards > 1) return runShards(args, started);
  const log = logger(started);
  stopOnSignal(log);
  const { rows, operatorExits } = await runSystem(args, log);
  if (args.rowsOut) fs.writeFileSync(args.rowsOut, JSON.stringify({ operatorExits, rows: rowsToJson(rows) }));
  return report(rows, { operatorExits, started, seed: String(args.seed) });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`chaos: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(2);
    },
  );
}
