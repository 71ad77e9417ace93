// The 200-colony experiment (issue 12, acceptance 1): what one operator costs at steady state when a
// new user applies many colonies to the demo's control plane.
//   Cluster: the demo's shape (its own state dir $CELULA_CACHE/bench-colonies): etcd, kube-apiserver,
//     kube-controller-manager, kube-scheduler, --nodes kwok nodes (default 4) of 110 pods, 16 CPU,
//     64 GiB each, one kwok process per node, the harness's 8-s node Lease.
//   Operator: its own process (dist/src/main.js) as its service account, default flags (lock-down on),
//     exactly as `npm run demo` starts it.
//   Colonies: --colonies (default 200) × `replicas: --replicas` (default 3), provider unhardened, no
//     cell processes behind them (no celula.io/cell-runtime label: kwok plays the pods; no cell ever
//     reports a key, so each colony stays at its genesis cell).
// Measured: RSS before and after; after --settle-s (default 90) from the last colony created, a
//   --window-s (default 20) window: operator CPU (% of one core, /proc/<pid>/stat), reconciles/s per
//   controller (celula_reconcile_total at both ends); then lock-down incidents
//   (celula_lockdown_incidents_total), LockdownTampered Warning events (sum of their counts), and
//   where each colony's genesis cell was placed.
// Last line: `colonies n=<n> rss_mib=.. cpu_pct=.. cell_reconciles_per_s=.. colony_reconciles_per_s=..
//   false_incidents=.. tamper_events=.. placement=<node:count,...>`.
import * as path from 'node:path';
import { CoreV1Api, CustomObjectsApi, KubeConfig, type CoreV1Event } from '@kubernetes/client-node';

import { CELL_PLURAL, COLONY_PLURAL, GROUP, VERSION, type Cell, type Colony } from '../src/api/types.js';
import { OPERATOR_NAME } from '../src/builders/rbac-rules.js';
import {
  DEFAULT_OPERATOR_NAMESPACE,
  installOperatorPrerequisites,
  OPERATOR_NODE_FLAGS,
} from '../src/install.js';
import { cacheDir, ControlPlane } from '../test/cluster/controlplane.js';
import { freePort, spawnComponent } from '../test/cluster/procs.js';
import { benchFlags } from './args.js';
import { metricSum, procSample, scrape } from './scale-support.js';

const flags = benchFlags('colonies', {
  colonies: { type: 'string', default: '200' },
  replicas: { type: 'string', default: '3' },
  nodes: { type: 'string', default: '4' },
  'settle-s': { type: 'string', default: '90' },
  'window-s': { type: 'string', default: '20' },
});

function whole(name: string, min: number): number {
  const raw = flags[name as keyof typeof flags];
  const v = Number(raw);
  if (!Number.isInteger(v) || v < min)
    throw new Error(`colonies bench: --${name} must be a whole number ≥ ${min}, got ${String(raw)}`);
  return v;
}

const COLONIES = whole('colonies', 1);
const REPLICAS = whole('replicas', 1);
const NODES = whole('nodes', 1);
const SETTLE_S = whole('settle-s', 0);
const WINDOW_S = whole('window-s', 1);
const NS = 'bench-colonies';
const TAMPER_REASON = 'LockdownTampered';

const say = (line: string): void => {
  process.stdout.write(`${line}\n`);
};
const note = (line: string): void => {
  process.stderr.write(`[colonies] ${line}\n`);
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const colonyName = (i: number): string => `c-${String(i).padStart(4, '0')}`;

function repoRoot(): string {
  const up = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
  return path.basename(up) === 'dist' ? path.dirname(up) : up;
}

async function pool<T>(items: T[], concurrency: number, fn: (x: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

/** The operator as the demo starts it; resolves once its /metrics answer (its caches synced). */
async function startOperator(cp: ControlPlane): Promise<{ pid: number; metricsAddr: string }> {
  const kubeconfig = await cp.kubeconfigForServiceAccount(
    DEFAULT_OPERATOR_NAMESPACE,
    OPERATOR_NAME,
    undefined,
    86_400,
  );
  const metricsAddr = `127.0.0.1:${await freePort()}`;
  const rec = spawnComponent({
    name: 'celula-operator',
    bin: process.execPath,
    args: [
      ...OPERATOR_NODE_FLAGS,
      path.join(repoRoot(), 'dist/src/main.js'),
      '--kubeconfig',
      kubeconfig,
      '--metrics-addr',
      metricsAddr,
      '--health-addr',
      `127.0.0.1:${await freePort()}`,
    ],
    stateDir: cp.stateDir,
  });
  const deadline = Date.now() + 120_000;
  for (;;) {
    const text = await scrape(metricsAddr).catch(() => '');
    if (text.includes('celula_reconcile_total')) return { pid: rec.pid, metricsAddr };
    if (Date.now() > deadline)
      throw new Error('colonies bench: the operator did not serve /metrics in 120 s');
    await sleep(250);
  }
}

function colonyBody(name: string): Colony {
  return {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: 'Colony',
    metadata: { name, namespace: NS },
    spec: {
      image: `registry.example/celula-lottery@sha256:${'4f'.repeat(32)}`,
      replicas: REPLICAS,
      minReplicas: Math.max(1, REPLICAS - 1),
      secret: { algorithm: 'ed25519' },
      nodes: { provider: 'unhardened' },
    },
  };
}

async function createColonies(admin: KubeConfig): Promise<void> {
  const custom = admin.makeApiClient(CustomObjectsApi);
  const names = Array.from({ length: COLONIES }, (_, i) => colonyName(i));
  await pool(names, 8, async (name) => {
    await custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: NS,
      plural: COLONY_PLURAL,
      body: colonyBody(name),
    });
  });
}

interface Window {
  cpuPct: number;
  cellPerS: number;
  colonyPerS: number;
}

const reconciles = (text: string, controller: string): number =>
  metricSum(text, 'celula_reconcile_total', `controller="${controller}"`);

/** CPU and reconcile rates over `seconds` (whatever happens meanwhile). */
async function measureWindow(pid: number, metricsAddr: string, seconds: number): Promise<Window> {
  const [p0, m0, t0] = [procSample(pid), await scrape(metricsAddr), Date.now()];
  await sleep(seconds * 1000);
  const [p1, m1, t1] = [procSample(pid), await scrape(metricsAddr), Date.now()];
  const s = (t1 - t0) / 1000;
  return {
    cpuPct: ((p1.cpuTicks - p0.cpuTicks) / 100 / s) * 100,
    cellPerS: (reconciles(m1, 'cell') - reconciles(m0, 'cell')) / s,
    colonyPerS: (reconciles(m1, 'colony') - reconciles(m0, 'colony')) / s,
  };
}

/** LockdownTampered Warning events in every namespace: their objects and the sum of their counts. */
async function tamperEvents(admin: KubeConfig): Promise<{ objects: number; total: number }> {
  const core = admin.makeApiClient(CoreV1Api);
  const list = await core.listEventForAllNamespaces({
    fieldSelector: `reason=${TAMPER_REASON},type=Warning`,
  });
  const count = (e: CoreV1Event): number => Math.max(1, e.count ?? 1, e.series?.count ?? 0);
  return { objects: list.items.length, total: list.items.reduce((s, e) => s + count(e), 0) };
}

/** Genesis cells per node (`node:count`, by node name), and the colonies that have none. */
async function genesisPlacement(
  admin: KubeConfig,
): Promise<{ placement: string; placed: Set<string>; unplaced: number }> {
  const custom = admin.makeApiClient(CustomObjectsApi);
  const cells = (
    (await custom.listNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: NS,
      plural: CELL_PLURAL,
    })) as { items: Cell[] }
  ).items.filter((c) => c.spec.genesis && c.status?.phase !== 'Dead');
  const per = new Map<string, number>();
  for (const c of cells) per.set(c.spec.node, (per.get(c.spec.node) ?? 0) + 1);
  const placement = [...per]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([n, k]) => `${n}:${k}`)
    .join(',');
  const placed = new Set(cells.map((c) => c.spec.colony));
  return { placement: placement || 'none', placed, unplaced: COLONIES - placed.size };
}

/** Why colonies without a genesis cell have none: their Ready condition (reason: message), counted. */
async function unplacedReasons(admin: KubeConfig, placed: ReadonlySet<string>): Promise<string> {
  const custom = admin.makeApiClient(CustomObjectsApi);
  const colonies = (
    (await custom.listNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: NS,
      plural: COLONY_PLURAL,
    })) as { items: Colony[] }
  ).items.filter((c) => !placed.has(c.metadata.name ?? ''));
  const reasons = new Map<string, number>();
  for (const c of colonies) {
    const ready = c.status?.conditions?.find((x) => x.type === 'Ready');
    const why = ready ? `${ready.reason}: ${ready.message}` : 'no status yet';
    reasons.set(why, (reasons.get(why) ?? 0) + 1);
  }
  return [...reasons].map(([m, n]) => `${n} × ${m}`).join('; ') || 'none';
}

async function startCluster(): Promise<ControlPlane> {
  const t = Date.now();
  const cp = await ControlPlane.start({ stateDir: path.join(cacheDir(), 'bench-colonies') });
  for (let i = 0; i < NODES; i++) await cp.addNode(`kwok-node-${i}`);
  note(`control plane and ${NODES} kwok nodes Ready in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  return cp;
}

async function main(): Promise<void> {
  say(
    `colonies bench: ${COLONIES} colonies × replicas ${REPLICAS} on ${NODES} kwok nodes, provider unhardened`,
  );
  const cp = await startCluster();
  const admin = cp.kubeConfig();
  await installOperatorPrerequisites(admin);
  await admin.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: NS } } });
  const { pid, metricsAddr } = await startOperator(cp);
  await sleep(5000);
  say(`operator pid ${pid}: rss ${procSample(pid).rssMiB.toFixed(0)} MiB with no colony`);
  const tc = Date.now();
  await createColonies(admin);
  say(`${COLONIES} colonies created in ${((Date.now() - tc) / 1000).toFixed(1)} s; settling ${SETTLE_S} s`);
  await sleep(SETTLE_S * 1000);
  const w = await measureWindow(pid, metricsAddr, WINDOW_S);
  const rss = procSample(pid).rssMiB;
  const incidents = metricSum(await scrape(metricsAddr), 'celula_lockdown_incidents_total');
  const tamper = await tamperEvents(admin);
  const { placement, placed, unplaced } = await genesisPlacement(admin);
  say(`tamper events: ${tamper.objects} objects, ${tamper.total} occurrences`);
  say(`genesis cells per node: ${placement}; colonies without one: ${unplaced}`);
  say(`why (their Ready condition): ${await unplacedReasons(admin, placed)}`);
  say(
    `colonies n=${COLONIES} rss_mib=${rss.toFixed(0)} cpu_pct=${w.cpuPct.toFixed(1)} cell_reconciles_per_s=${w.cellPerS.toFixed(1)} colony_reconciles_per_s=${w.colonyPerS.toFixed(1)} false_incidents=${incidents} tamper_events=${tamper.total} placement=${placement}`,
  );
  await cp.stop();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`colonies bench: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
