// Scale (issues 9 and 12, "Benchmarks" / "Scale"): what one operator costs with N nodes and C
// colonies of 5 cells, busy and idle, and what one lost node costs it.
//   Cluster: its own control plane (state dir $CELULA_CACHE/bench-scale): etcd, kube-apiserver,
//     kube-controller-manager (Kubernetes' node lifecycle, pod GC, PDB controller); no scheduler
//     (cell pods are bound by the operator). N kwok nodes played by ONE kwok process per pool of
//     --pool-size nodes (test/cluster/kwok-pool.ts), each renewing a --lease-seconds Lease (default
//     40 s: a kubelet's default). Nodes carry the hardened label (provider `existing`; --provider
//     unhardened for the development provider).
//   Operator: its own process (dist/src/main.js) as its service account, default flags. Lock-down
//     is ON: the binary has no flag to turn it off, so this is what a user runs. Its API traffic
//     goes through a counting TLS proxy in this process (bench/scale-support.ts CountingProxy):
//     every request it makes is counted by verb and resource; its RSS and CPU come from
//     /proc/<pid>/status and /proc/<pid>/stat, its reconcile counts from its /metrics.
//   Cells: SIMULATED by bench/scale-support.ts SimKubelet (5,000 real cell processes do not fit on
//     2 cores). How a simulated cell reports its identity: its node's identity (system:node:<node>)
//     mints a token bound to its pod, and with that token the cell writes its Cell status as a real
//     cell does (joinKey, publicKey, fingerprint and a real key proof signed by the colony's one
//     real ed25519 key, held in this process); then, as admin, the pod status a kubelet reports.
//     Keep-alive connections per identity, so the bench's own CPU stays small next to the operator's.
// Phases: RSS at 0 colonies; create 100 colonies (replicas 5, minReplicas 3), wait all Ready, RSS;
// create the rest, wait all Ready, RSS (steady_s = the two creation phases' times to all-Ready, the
// sampling pause between them excluded); a --quiet-s window with nothing changing (qps_steady =
// the operator's requests per second in it, watches counted when opened; idle CPU; reconciles);
// lose the node hosting the most cells (its kwok stops heartbeating it; its cells' pods keep
// "running") until every colony is Ready again plus 10 s: writes_per_incident = the operator's
// writes in that window, less the quiet window's write rate, per affected cell; the node comes back
// (writes printed); delete --delete colonies and time until their cells and pods are gone.
// Also printed: the CPU seconds of every process (this one, the operator, API server, etcd, kwok,
// controller-manager) while growing, and over the whole run.
// Last line: `scale nodes=<n> cells=<n> steady_s=<s> rss_mib=<n> cpu_idle_pct=<n> qps_steady=<n>
//   writes_per_incident=<n> false_incidents=<n>` (false_incidents: celula_lockdown_incidents_total,
//   all false since nothing here tampers).
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
  KubeConfig,
  type V1Pod,
} from '@kubernetes/client-node';

import {
  CELL_PLURAL,
  COLONY_PLURAL,
  GROUP,
  LABELS,
  VERSION,
  type Cell,
  type Colony,
} from '../src/api/types.js';
import { CELL_RUNTIME_LABEL } from '../src/builders/pod.js';
import { OPERATOR_NAME } from '../src/builders/rbac-rules.js';
import {
  DEFAULT_OPERATOR_NAMESPACE,
  installOperatorPrerequisites,
  OPERATOR_NODE_FLAGS,
} from '../src/install.js';
import { cacheDir, ControlPlane } from '../test/cluster/controlplane.js';
import { writeKubeconfig } from '../test/cluster/kubeconfig.js';
import { addNodePool, detachNode, KWOK_POOL_LABEL } from '../test/cluster/kwok-pool.js';
import type { Informer } from '../src/runtime/informer.js';
import { freePort, spawnComponent } from '../test/cluster/procs.js';
import {
  CountingProxy,
  cpuByProcess,
  cpuShares,
  diffCounts,
  isWrite,
  metricSum,
  procSample,
  scrape,
  SimKubelet,
  topCounts,
  total,
  type Counts,
} from './scale-support.js';
import { benchFlags } from './args.js';

const flags = benchFlags('scale', {
  nodes: { type: 'string', default: '1000' },
  colonies: { type: 'string', default: '1000' },
  'pool-size': { type: 'string', default: '1000' },
  'lease-seconds': { type: 'string', default: '40' },
  provider: { type: 'string', default: 'existing' },
  'quiet-s': { type: 'string', default: '60' },
  delete: { type: 'string', default: '100' },
  // Per phase. At the default size on 2 cores the growth to 1,000 colonies alone takes ≈ 40 min.
  'timeout-s': { type: 'string', default: '3600' },
  // The V8 flags the operator runs with: the chart's (OPERATOR_NODE_FLAGS) unless given ('' = none).
  'node-flags': { type: 'string', default: OPERATOR_NODE_FLAGS.join(' ') },
});
const NODE_FLAGS = flags['node-flags'].split(' ').filter((f) => f !== '');
const NODES = Number(flags.nodes);
const COLONIES = Number(flags.colonies);
const POOL_SIZE = Number(flags['pool-size']);
const LEASE_S = Number(flags['lease-seconds']);
const PROVIDER = flags.provider as 'existing' | 'unhardened';
const QUIET_S = Number(flags['quiet-s']);
const DELETE = Math.min(Number(flags.delete), COLONIES);
const TIMEOUT_MS = Number(flags['timeout-s']) * 1000;
for (const [k, v] of Object.entries({ NODES, COLONIES, POOL_SIZE, LEASE_S, QUIET_S, DELETE }))
  if (!Number.isInteger(v) || v < 0) throw new Error(`scale bench: ${k} must be a whole number, got ${v}`);
if (PROVIDER !== 'existing' && PROVIDER !== 'unhardened')
  throw new Error(`scale bench: --provider must be existing or unhardened, got ${flags.provider}`);

const REPLICAS = 5;
const MIN_REPLICAS = 3;
const FIRST_BATCH = Math.min(100, COLONIES);
const NS = 'bench-scale';
const HARDENED_VALUE = '0123456789ab'; // a 12-lowercase-hex digest prefix: what hardened means
const TAIL_MS = 10_000;

const say = (line: string): void => {
  process.stdout.write(`${line}\n`);
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const secs = (ms: number): string => (ms / 1000).toFixed(1);
const mib = (n: number): string => n.toFixed(0);
const colonyName = (i: number): string => `c-${String(i).padStart(4, '0')}`;
const nodeName = (i: number): string => `n-${String(i).padStart(4, '0')}`;

async function until(check: () => boolean, timeoutMs: number, what: string): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (check()) return Date.now();
    if (Date.now() > deadline)
      throw new Error(`scale bench: timed out after ${secs(timeoutMs)} s waiting for ${what}`);
    await sleep(250);
  }
}

async function pool<T>(items: T[], concurrency: number, fn: (x: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

const ready = (c: Colony): boolean =>
  c.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True') ?? false;

interface Bench {
  cp: ControlPlane;
  admin: KubeConfig;
  proxy: CountingProxy;
  sim: SimKubelet;
  cells: Informer<Cell>;
  pid: number;
  metricsAddr: string;
}

// ---------------------------------------------------------------- setup

async function startNodes(cp: ControlPlane): Promise<void> {
  const labels: Record<string, string> = PROVIDER === 'existing' ? { [LABELS.hardened]: HARDENED_VALUE } : {};
  for (let first = 0, p = 0; first < NODES; first += POOL_SIZE, p++) {
    const names = Array.from({ length: Math.min(POOL_SIZE, NODES - first) }, (_, i) => nodeName(first + i));
    await addNodePool(cp, `p${p}`, names, { labels, leaseDurationSeconds: LEASE_S, firstIndex: first });
  }
}

/** The operator's kubeconfig: its service account's token, the proxy as server. */
async function operatorKubeconfig(cp: ControlPlane, proxyURL: string): Promise<string> {
  const core = cp.kubeConfig().makeApiClient(CoreV1Api);
  const res = await core.createNamespacedServiceAccountToken({
    name: OPERATOR_NAME,
    namespace: DEFAULT_OPERATOR_NAMESPACE,
    body: { spec: { audiences: [], expirationSeconds: 86_400 } },
  });
  const token = res.status?.token;
  if (!token) throw new Error('scale bench: TokenRequest for the operator returned no token');
  return writeKubeconfig(path.join(cp.stateDir, 'operator-via-proxy.kubeconfig'), {
    server: proxyURL,
    caFile: cp.caFile,
    userName: `system:serviceaccount:${DEFAULT_OPERATOR_NAMESPACE}:${OPERATOR_NAME}`,
    user: { token },
    namespace: DEFAULT_OPERATOR_NAMESPACE,
  });
}

function repoRoot(): string {
  const here = path.dirname(new URL(import.meta.url).pathname);
  const up = path.resolve(here, '..');
  return path.basename(up) === 'dist' ? path.dirname(up) : up;
}

async function startOperator(
  cp: ControlPlane,
  proxyURL: string,
): Promise<{ pid: number; metricsAddr: string }> {
  const kubeconfig = await operatorKubeconfig(cp, proxyURL);
  const metricsAddr = `127.0.0.1:${await freePort()}`;
  const rec = spawnComponent({
    name: 'celula-operator',
    bin: process.execPath,
    args: [
      ...NODE_FLAGS,
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
  // Its /metrics answers once its caches synced.
  const deadline = Date.now() + 120_000;
  while (
    !(await scrape(metricsAddr).then(
      (t) => t.includes('celula_reconcile_total'),
      () => false,
    ))
  ) {
    if (Date.now() > deadline) throw new Error('scale bench: the operator did not serve /metrics in 120 s');
    await sleep(250);
  }
  return { pid: rec.pid, metricsAddr };
}

async function setUp(t0: number): Promise<Bench> {
  const cp = await ControlPlane.start({
    stateDir: path.join(cacheDir(), 'bench-scale'),
    scheduler: false,
    nodeLeaseDurationSeconds: LEASE_S,
  });
  say(`control plane up in ${secs(Date.now() - t0)} s (state: ${cp.stateDir})`);
  const admin = cp.kubeConfig();
  await admin.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: NS } } });
  const tn = Date.now();
  await startNodes(cp);
  say(
    `${NODES} nodes Ready in ${secs(Date.now() - tn)} s (${Math.ceil(NODES / POOL_SIZE)} kwok process(es), lease ${LEASE_S} s)`,
  );
  await installOperatorPrerequisites(admin);
  const proxy = new CountingProxy(cp.server, cp.caFile);
  const pki = path.join(cp.stateDir, 'pki');
  const proxyURL = await proxy.start(path.join(pki, 'apiserver.crt'), path.join(pki, 'apiserver.key'));
  const sim = new SimKubelet({ admin, namespace: NS, server: cp.server, nodeIdentity: cp.nodeIdentities() });
  await sim.start();
  // The bench reads cells through the simulation's informer: one watch, not two.
  const cells = sim.cells;
  const to = Date.now();
  const { pid, metricsAddr } = await startOperator(cp, proxyURL);
  say(
    `operator pid ${pid} serving /metrics in ${secs(Date.now() - to)} s (lock-down on, leader election on, provider ${PROVIDER})`,
  );
  return { cp, admin, proxy, sim, cells, pid, metricsAddr };
}

// ---------------------------------------------------------------- colonies

function colonyBody(name: string): Colony {
  return {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: 'Colony',
    metadata: { name, namespace: NS, labels: { [CELL_RUNTIME_LABEL]: 'local' } },
    spec: {
      image: `registry.example/vault@sha256:${'e'.repeat(64)}`,
      replicas: REPLICAS,
      minReplicas: MIN_REPLICAS,
      secret: { algorithm: 'ed25519' },
      nodes: { provider: PROVIDER },
    },
  };
}

async function createColonies(b: Bench, from: number, to: number): Promise<void> {
  const custom = b.admin.makeApiClient(CustomObjectsApi);
  const names = Array.from({ length: to - from }, (_, i) => colonyName(from + i));
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

const readyCount = (b: Bench): number => b.sim.colonies.list().filter(ready).length;

/** Creates colonies [from, to) and resolves with ms until all `to` colonies are Ready. */
async function grow(b: Bench, from: number, to: number): Promise<number> {
  const t = Date.now();
  let last = t;
  await createColonies(b, from, to);
  await until(
    () => {
      const n = readyCount(b);
      if (Date.now() - last > 15_000) {
        last = Date.now();
        const cells = b.cells.list().length;
        say(
          `  ${secs(last - t)} s: ${n}/${to} colonies Ready, ${cells} cells, rss ${mib(procSample(b.pid).rssMiB)} MiB, sim ${b.sim.writes} writes ${b.sim.errors} errors ${b.sim.reReported} re-reported Ready ${b.sim.lastError}`,
        );
      }
      return n >= to;
    },
    TIMEOUT_MS,
    `${to} colonies Ready`,
  );
  return Date.now() - t;
}

// ---------------------------------------------------------------- figures

interface Window {
  counts: Counts;
  ms: number;
  cpuPct: number;
  metrics: string;
}

/** Operator requests, CPU and reconciles over `ms` with nothing changing. */
async function quietWindow(b: Bench, ms: number): Promise<Window & { metricsBefore: string }> {
  const [c0, p0, m0, t0] = [b.proxy.snapshot(), procSample(b.pid), await scrape(b.metricsAddr), Date.now()];
  await sleep(ms);
  const [c1, p1, m1, t1] = [b.proxy.snapshot(), procSample(b.pid), await scrape(b.metricsAddr), Date.now()];
  const cpuPct = ((p1.cpuTicks - p0.cpuTicks) / 100 / ((t1 - t0) / 1000)) * 100;
  return { counts: diffCounts(c1, c0), ms: t1 - t0, cpuPct, metrics: m1, metricsBefore: m0 };
}

function reconcileRates(w: Window & { metricsBefore: string }): string {
  return ['colony', 'cell', 'lockdown', 'hardening']
    .map((c) => {
      const f = `controller="${c}"`;
      const n =
        metricSum(w.metrics, 'celula_reconcile_total', f) -
        metricSum(w.metricsBefore, 'celula_reconcile_total', f);
      return `${c}=${(n / (w.ms / 1000)).toFixed(1)}/s`;
    })
    .join(' ');
}

/** Serialized size of what the operator's informers cache, per kind (JSON bytes; the heap holds more). */
async function cacheSizes(b: Bench): Promise<string> {
  const core = b.admin.makeApiClient(CoreV1Api);
  const custom = b.admin.makeApiClient(CustomObjectsApi);
  const managed = `${LABELS.managedBy}=celula-operator`;
  const kinds: Array<[string, () => Promise<{ items: unknown[] }>]> = [
    ['pods', () => core.listPodForAllNamespaces({ labelSelector: managed })],
    [
      'cells',
      () =>
        custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: CELL_PLURAL }) as Promise<{
          items: unknown[];
        }>,
    ],
    [
      'colonies',
      () =>
        custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: COLONY_PLURAL }) as Promise<{
          items: unknown[];
        }>,
    ],
    ['nodes', () => core.listNode()],
    [
      'leases',
      () => b.admin.makeApiClient(CoordinationV1Api).listNamespacedLease({ namespace: 'kube-node-lease' }),
    ],
    ['serviceaccounts', () => core.listServiceAccountForAllNamespaces({ labelSelector: managed })],
  ];
  const out: string[] = [];
  for (const [name, list] of kinds) {
    const items = (await list()).items;
    const bytes = items.reduce<number>((s, o) => s + JSON.stringify(o).length, 0);
    const managedFields = items.reduce<number>(
      (s, o) =>
        s +
        JSON.stringify((o as { metadata?: { managedFields?: unknown } }).metadata?.managedFields ?? [])
          .length,
      0,
    );
    out.push(
      `${name}: ${items.length} × ${items.length ? Math.round(bytes / items.length) : 0} B (managedFields ${items.length ? Math.round(managedFields / items.length) : 0} B)`,
    );
  }
  return out.join('; ');
}

// ---------------------------------------------------------------- incident

const living = (c: Cell): boolean => c.status?.phase !== 'Dead';

function busiestNode(b: Bench): { node: string; cells: Cell[]; nodesUsed: number } {
  const by = new Map<string, Cell[]>();
  for (const c of b.cells.list().filter(living)) by.set(c.spec.node, [...(by.get(c.spec.node) ?? []), c]);
  const [node, cells] = [...by].sort((x, y) => y[1].length - x[1].length)[0] ?? ['', []];
  return { node, cells, nodesUsed: by.size };
}

async function loseNode(b: Bench, baselineWritesPerS: number): Promise<number> {
  const { node, cells, nodesUsed } = busiestNode(b);
  const affected = new Set(cells.map((c) => c.metadata.name ?? ''));
  say(
    `cells sit on ${nodesUsed} of ${NODES} nodes; losing ${node}, which hosts ${cells.length} cells (of ${affected.size ? new Set(cells.map((c) => c.spec.colony)).size : 0} colonies)`,
  );
  const c0 = b.proxy.snapshot();
  const t0 = Date.now();
  b.proxy.record();
  b.sim.lose(node);
  await detachNode(b.cp, node);
  const seen = (): boolean =>
    b.cells
      .list()
      .filter((c) => affected.has(c.metadata.name ?? ''))
      .every((c) => c.status?.phase !== 'Alive');
  const tSeen = await until(seen, TIMEOUT_MS, `the ${affected.size} cells on ${node} to be not Alive`);
  say(`  ${secs(tSeen - t0)} s: every cell on ${node} is Unreachable or Dead`);
  const tReady = await until(() => readyCount(b) >= COLONIES, TIMEOUT_MS, 'every colony Ready again');
  say(`  ${secs(tReady - t0)} s: every colony Ready again (replacements holding the secret)`);
  await sleep(TAIL_MS);
  const d = diffCounts(b.proxy.snapshot(), c0);
  const ms = Date.now() - t0;
  const writes = total(d, isWrite) - baselineWritesPerS * (ms / 1000);
  say(
    `  operator writes in the ${secs(ms)} s incident window: ${total(d, isWrite)} (${topCounts(new Map([...d].filter(([k]) => isWrite(k))))}); reads/watches: ${topCounts(new Map([...d].filter(([k]) => !isWrite(k))), 6)}`,
  );
  const journal = path.join(b.cp.stateDir, 'incident-writes.log');
  fs.writeFileSync(journal, `${b.proxy.recorded().join('\n')}\n`);
  say(`  every write of the window, with its body: ${journal}`);
  await returnNode(b, node);
  return affected.size ? writes / affected.size : NaN;
}

/** The machine comes back: its heartbeat resumes; surplus holders are retired down to replicas. */
async function returnNode(b: Bench, node: string): Promise<void> {
  const c0 = b.proxy.snapshot();
  const t0 = Date.now();
  const core = b.admin.makeApiClient(CoreV1Api);
  await core.patchNode(
    { name: node, body: { metadata: { labels: { [KWOK_POOL_LABEL]: 'p0' } } } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
  b.sim.restore(node);
  const settled = (): boolean => {
    const per = new Map<string, number>();
    for (const c of b.cells.list().filter(living)) per.set(c.spec.colony, (per.get(c.spec.colony) ?? 0) + 1);
    return [...per.values()].every((n) => n === REPLICAS) && readyCount(b) >= COLONIES;
  };
  const t = await until(settled, 90_000, 'surplus cells retired after the node came back').catch(
    (e: Error) => {
      say(`  ${e.message}`);
      return NaN;
    },
  );
  const d = diffCounts(b.proxy.snapshot(), c0);
  say(
    `  node back: ${Number.isNaN(t) ? 'not settled in 90' : secs(t - t0)} s until every colony has exactly ${REPLICAS} living cells; operator writes ${total(d, isWrite)} (${topCounts(new Map([...d].filter(([k]) => isWrite(k))), 8)})`,
  );
}

async function deleteColonies(b: Bench): Promise<number> {
  const custom = b.admin.makeApiClient(CustomObjectsApi);
  const names = new Set(Array.from({ length: DELETE }, (_, i) => colonyName(COLONIES - DELETE + i)));
  const t0 = Date.now();
  await pool([...names], 8, async (name) => {
    await custom.deleteNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: NS,
      plural: COLONY_PLURAL,
      name,
    });
  });
  const gone = (): boolean =>
    !b.sim.colonies.list().some((c) => names.has(c.metadata.name ?? '')) &&
    !b.cells.list().some((c) => names.has(c.spec.colony)) &&
    !b.sim.pods.list().some((p: V1Pod) => names.has(p.metadata?.labels?.[LABELS.colony] ?? ''));
  return (await until(gone, TIMEOUT_MS, `${DELETE} colonies, their cells and pods gone`)) - t0;
}

// ---------------------------------------------------------------- main

/** The operator's V8 heap as its own /metrics says (prom-client's default metrics), in MiB. */
async function heap(b: Bench): Promise<string> {
  const text = await scrape(b.metricsAddr);
  const m = (name: string): string => mib(metricSum(text, `celula_process_nodejs_${name}`) / 2 ** 20);
  return `heap used ${m('heap_size_used_bytes')} of ${m('heap_size_total_bytes')} MiB, external ${m('external_memory_bytes')} MiB (node flags: ${NODE_FLAGS.join(' ') || 'none'})`;
}

/** Grows to all colonies (first batch, RSS, the rest); the CPU of every process meanwhile. */
async function growAll(b: Bench): Promise<{ steadyMs: number; rss: number[] }> {
  const cpu0 = cpuByProcess(b.cp.stateDir);
  const t0 = Date.now();
  const ms1 = await grow(b, 0, FIRST_BATCH);
  const cpu1 = cpuByProcess(b.cp.stateDir);
  const t1 = Date.now();
  await sleep(5000);
  const rss100 = procSample(b.pid).rssMiB;
  say(`rss colonies=${FIRST_BATCH}: ${mib(rss100)} MiB (all Ready in ${secs(ms1)} s); ${await heap(b)}`);
  // Where the creation phases spent CPU: the bench's own simulation vs the operator vs the control plane.
  say(`cpu while growing (first batch): ${cpuShares(cpu0, cpu1, t1 - t0)}`);
  const cpu2 = cpuByProcess(b.cp.stateDir);
  const t2 = Date.now();
  const ms2 = COLONIES > FIRST_BATCH ? await grow(b, FIRST_BATCH, COLONIES) : 0;
  const rssN = procSample(b.pid).rssMiB;
  if (COLONIES > FIRST_BATCH) {
    const perColonyKiB = ((rssN - rss100) / (COLONIES - FIRST_BATCH)) * 1024;
    say(
      `rss colonies=${COLONIES}: ${mib(rssN)} MiB (second batch all Ready in ${secs(ms2)} s); ${perColonyKiB.toFixed(0)} KiB per colony; ${await heap(b)}`,
    );
  }
  const cpu3 = cpuByProcess(b.cp.stateDir);
  if (COLONIES > FIRST_BATCH) say(`cpu while growing (the rest): ${cpuShares(cpu2, cpu3, Date.now() - t2)}`);
  return { steadyMs: ms1 + ms2, rss: [rss100, rssN] };
}

async function main(): Promise<void> {
  const t0 = Date.now();
  say(
    `scale bench: ${NODES} nodes, ${COLONIES} colonies × ${REPLICAS} (minReplicas ${MIN_REPLICAS}), provider ${PROVIDER}`,
  );
  const b = await setUp(t0);
  const cpuStart = cpuByProcess(b.cp.stateDir);
  await sleep(5000);
  const rss0 = procSample(b.pid).rssMiB;
  say(`rss colonies=0: ${mib(rss0)} MiB; ${await heap(b)}`);
  const { steadyMs } = await growAll(b);

  say(
    `simulated cells: ${b.sim.writes} writes, ${b.sim.errors} retried, ${b.sim.reReported} pods reported Ready again after their node's heartbeat lapsed`,
  );
  await sleep(10_000); // let the last status writes land before the quiet window
  const w = await quietWindow(b, QUIET_S * 1000);
  const qps = total(w.counts) / (w.ms / 1000);
  const writesPerS = total(w.counts, isWrite) / (w.ms / 1000);
  const rss = procSample(b.pid);
  say(
    `quiet ${secs(w.ms)} s: operator requests ${total(w.counts)} (${qps.toFixed(2)}/s; writes ${writesPerS.toFixed(2)}/s): ${topCounts(w.counts)}`,
  );
  say(
    `quiet: cpu ${w.cpuPct.toFixed(1)} % of a core; reconciles ${reconcileRates(w)}; rss ${mib(rss.rssMiB)} MiB (peak ${mib(rss.hwmMiB)} MiB); ${await heap(b)}`,
  );
  say(`cache (JSON per object as the API serves it): ${await cacheSizes(b)}`);
  const writesPerIncident = await loseNode(b, writesPerS);
  const delMs = await deleteColonies(b);
  say(`${DELETE} colonies deleted: cells and pods gone in ${secs(delMs)} s`);
  // Nobody tampers with anything in this bench: every incident the operator counts is false.
  const falseIncidents = metricSum(await scrape(b.metricsAddr), 'celula_lockdown_incidents_total');
  say(`cpu over the whole run: ${cpuShares(cpuStart, cpuByProcess(b.cp.stateDir), Date.now() - t0)}`);
  say(`wall time ${secs(Date.now() - t0)} s`);
  say(`scale rss_peak_mib=${mib(procSample(b.pid).hwmMiB)} delete_s=${secs(delMs)}`);
  say(
    `scale nodes=${NODES} cells=${COLONIES * REPLICAS} steady_s=${secs(steadyMs)} rss_mib=${mib(rss.rssMiB)} cpu_idle_pct=${w.cpuPct.toFixed(1)} qps_steady=${qps.toFixed(1)} writes_per_incident=${writesPerIncident.toFixed(1)} false_incidents=${falseIncidents}`,
  );
  b.proxy.stop();
  await b.sim.stop();
  await b.cp.stop();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`scale bench: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
