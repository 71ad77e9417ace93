// Node loss, side by side on one simulated cluster (issue 9, "Benchmarks"): how long until a
// workload of 5 is whole again after the machine under one replica dies.
//   (a) a Celula colony (replicas 5, minReplicas 3) on 7 hardened kwok nodes, real cell processes
//       (test/support/local-kubelet.ts), the operator as its own process (dist/src/main.js) with its
//       default flags: ≥ 30 rounds killing the node of one holder, ≥ 5 rounds killing two at once.
//       A kill is what a dying machine does: the node's kwok (its kubelet: Lease and status) stops
//       and its cell processes are SIGKILLed, with nothing reported for them (the kubelet died too).
//       Measured from the kill until 5 cells other than the killed ones are Alive (Ready) holding
//       the colony's fingerprint (then checked on each new cell's /identity). Then the machine comes
//       back (rebooted): its kubelet reports the dead containers terminated, its heartbeat resumes,
//       and the next round waits for the colony to be steady (5 heard, 0 unreachable, 0 joining).
//   (b) a Deployment of 5 and (c) a StatefulSet of 5 (kwok pods, default tolerations, required
//       hostname anti-affinity so one node holds one replica), each on its own pool of 6 nodes:
//       kill one replica's node, measure until 5 Ready replicas on live nodes, `not-restored` after
//       K8S_TIMEOUT_S. They run concurrently with the Celula rounds (disjoint nodes and namespaces).
// The control plane runs kube-controller-manager with Kubernetes' defaults for node monitoring
// (--node-monitor-grace-period 50s, --node-monitor-period 5s, eviction after the 300 s default
// tolerations); ordinary nodes renew a 40 s Lease (a kubelet's default), hardened nodes a shorter
// one (HARDENED_LEASE_S, as the hardening step configures their kubelet).
// Percentiles are nearest-rank over the measured samples (p99 of 30 samples is the largest).
// Last line: `node-loss celula_p50=<s> celula_p99=<s> two_nodes_p99=<s> deployment=<s> statefulset=<s|not-restored>`.
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  type V1Node,
  type V1Pod,
  type V1PodTemplateSpec,
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
import { Informer } from '../src/runtime/informer.js';
import { cacheDir, ControlPlane } from '../test/cluster/controlplane.js';
import { freePort, spawnComponent } from '../test/cluster/procs.js';
import { LocalKubelet } from '../test/support/local-kubelet.js';

const ONE_NODE_ROUNDS = Number(process.env.ROUNDS ?? 30);
const TWO_NODE_ROUNDS = Number(process.env.TWO_NODE_ROUNDS ?? 5);
/** How long (b) and (c) get before they count as not restored. */
const K8S_TIMEOUT_S = Number(process.env.K8S_TIMEOUT_S ?? 600);
/** A kubelet's default nodeLeaseDurationSeconds (renewed every 10 s): ordinary nodes. */
const KUBELET_LEASE_S = 40;
/** Hardened nodes' nodeLeaseDurationSeconds (renewed every quarter of it). */
const HARDENED_LEASE_S = Number(process.env.HARDENED_LEASE_S ?? 10);
const SEED = Number(process.env.SEED ?? Date.now() % 1_000_000);
/** SKIP_K8S=1: only the Celula rounds (a quick check; (b) and (c) print `skipped`). */
const RUN_K8S = process.env.SKIP_K8S !== '1';

const REPLICAS = 5;
const MIN_REPLICAS = 3;
const CELULA_NODES = 7; // 5 holders + 2 free spread slots for the surge of a two-node loss
const K8S_NODES = 6; // 5 replicas + 1 free node for the replacement
const CELULA_NS = 'bench-celula';
const K8S_NS = 'bench-k8s';
const COLONY = 'vault';
const POOL_LABEL = 'celula.bench/pool';
const HARDENED_VALUE = '0123456789ab'; // a 12-lowercase-hex digest prefix: what hardened means
const ROUND_TIMEOUT_MS = 180_000;
const NODE_LEASE_NS = 'kube-node-lease';

const say = (line: string): void => {
  process.stdout.write(`${line}\n`);
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const secs = (ms: number): string => (ms / 1000).toFixed(1);

/** Repository root from dist/bench/ (compiled) or bench/ (sources). */
function repoRoot(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const up = path.resolve(here, '..');
  return path.basename(up) === 'dist' ? path.dirname(up) : up;
}

/** mulberry32: a seeded PRNG so a run's choices can be replayed with SEED. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = prng(SEED);

function shuffle<T>(xs: T[]): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** Nearest-rank percentile: the smallest sample with at least p % of the samples at or below it. */
function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

/** First time (ms) each key was observed; informers mark, rounds read. */
class Timeline {
  readonly #first = new Map<string, number>();
  mark(key: string): void {
    if (!this.#first.has(key)) this.#first.set(key, Date.now());
  }
  at(key: string): number | undefined {
    return this.#first.get(key);
  }
  /** Seconds from t0 to the key, or '-' when never seen. */
  since(t0: number, key: string): string {
    const t = this.at(key);
    return t === undefined ? '-' : secs(t - t0);
  }
}

/** Polls `check` (cheap: informer caches) every 50 ms; resolves with the time it first held. */
async function until(check: () => boolean, timeoutMs: number, what: string): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (check()) return Date.now();
    if (Date.now() > deadline)
      throw new Error(`node-loss bench: timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

const podReady = (p: V1Pod): boolean =>
  !p.metadata?.deletionTimestamp &&
  (p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false);

interface Bench {
  cp: ControlPlane;
  admin: KubeConfig;
  kubelet: LocalKubelet;
  cells: Informer<Cell>;
  colonies: Informer<Colony>;
  pods: Informer<V1Pod>;
  /** The cell pods (their status is what the local kubelet reports). */
  cellPods: Informer<V1Pod>;
  nodes: Informer<V1Node>;
  timeline: Timeline;
  metricsPort: number;
}

// ---------------------------------------------------------------- cluster and workloads

async function addNodes(
  cp: ControlPlane,
  prefix: string,
  n: number,
  labels: Record<string, string>,
  lease: number,
): Promise<void> {
  await Promise.all(
    Array.from({ length: n }, (_, i) =>
      cp.addNode(`${prefix}-${i}`, { labels, leaseDurationSeconds: lease }),
    ),
  );
}

function nodeIdentities(cp: ControlPlane): (node: string) => KubeConfig {
  const cache = new Map<string, KubeConfig>();
  return (node) => {
    let kc = cache.get(node);
    if (!kc) {
      kc = new KubeConfig();
      kc.loadFromFile(cp.kubeconfigForUser(`system:node:${node}`, ['system:nodes']));
      cache.set(node, kc);
    }
    return kc;
  };
}

/** The operator as its own process, as its own service account, with its default flags. */
async function startOperatorProcess(
  cp: ControlPlane,
  admin: KubeConfig,
): Promise<{ args: string[]; metricsPort: number }> {
  await installOperatorPrerequisites(admin);
  const kubeconfig = await cp.kubeconfigForServiceAccount(
    DEFAULT_OPERATOR_NAMESPACE,
    OPERATOR_NAME,
    undefined,
    86_400,
  );
  const [metricsPort, healthPort] = [await freePort(), await freePort()];
  const args = [
    '--kubeconfig',
    kubeconfig,
    '--metrics-addr',
    `127.0.0.1:${metricsPort}`,
    '--health-addr',
    `127.0.0.1:${healthPort}`,
  ];
  spawnComponent({
    name: 'celula-operator',
    bin: process.execPath,
    args: [...OPERATOR_NODE_FLAGS, path.join(repoRoot(), 'dist/src/main.js'), ...args],
    stateDir: cp.stateDir,
  });
  return { args: args.slice(2), metricsPort };
}

function colonyBody(): Colony {
  return {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: 'Colony',
    metadata: { name: COLONY, namespace: CELULA_NS, labels: { [CELL_RUNTIME_LABEL]: 'local' } },
    spec: {
      image: `registry.example/vault@sha256:${'e'.repeat(64)}`,
      replicas: REPLICAS,
      minReplicas: MIN_REPLICAS,
      secret: { algorithm: 'ed25519' },
      nodes: { provider: 'existing' },
      placement: { nodeSelector: { [POOL_LABEL]: 'celula' } },
    },
  };
}

/** A plain pod template: Kubernetes' defaults except one replica per node (anti-affinity) on `pool`. */
function podTemplate(app: string, pool: string): V1PodTemplateSpec {
  return {
    metadata: { labels: { app } },
    spec: {
      nodeSelector: { [POOL_LABEL]: pool },
      affinity: {
        podAntiAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: [
            { labelSelector: { matchLabels: { app } }, topologyKey: 'kubernetes.io/hostname' },
          ],
        },
      },
      containers: [{ name: app, image: `registry.example/${app}:1` }],
    },
  };
}

async function createK8sWorkloads(admin: KubeConfig): Promise<void> {
  const apps = admin.makeApiClient(AppsV1Api);
  const core = admin.makeApiClient(CoreV1Api);
  const selector = (app: string) => ({ matchLabels: { app } });
  await apps.createNamespacedDeployment({
    namespace: K8S_NS,
    body: {
      metadata: { name: 'web' },
      spec: { replicas: REPLICAS, selector: selector('web'), template: podTemplate('web', 'deploy') },
    },
  });
  await core.createNamespacedService({
    namespace: K8S_NS,
    body: {
      metadata: { name: 'db' },
      spec: { clusterIP: 'None', selector: { app: 'db' }, ports: [{ port: 80 }] },
    },
  });
  await apps.createNamespacedStatefulSet({
    namespace: K8S_NS,
    body: {
      metadata: { name: 'db' },
      spec: {
        replicas: REPLICAS,
        serviceName: 'db',
        selector: selector('db'),
        template: podTemplate('db', 'sts'),
      },
    },
  });
}

function startInformers(
  admin: KubeConfig,
  timeline: Timeline,
): Pick<Bench, 'cells' | 'colonies' | 'pods' | 'cellPods' | 'nodes'> {
  const cells = new Informer<Cell>({
    kubeConfig: admin,
    path: `/apis/${GROUP}/${VERSION}/namespaces/${CELULA_NS}/${CELL_PLURAL}`,
  });
  const colonies = new Informer<Colony>({
    kubeConfig: admin,
    path: `/apis/${GROUP}/${VERSION}/namespaces/${CELULA_NS}/${COLONY_PLURAL}`,
  });
  const pods = new Informer<V1Pod>({ kubeConfig: admin, path: `/api/v1/namespaces/${K8S_NS}/pods` });
  const cellPods = new Informer<V1Pod>({ kubeConfig: admin, path: `/api/v1/namespaces/${CELULA_NS}/pods` });
  const nodes = new Informer<V1Node>({ kubeConfig: admin, path: '/api/v1/nodes' });
  cellPods.onChange((p) => {
    const name = p.metadata?.name ?? '';
    if (p.status?.phase === 'Running') timeline.mark(`cellpod/${name}/running`);
    if (podReady(p)) timeline.mark(`cellpod/${name}/ready`);
  });
  cells.onChange((c) => {
    timeline.mark(`cell/${c.metadata.name}/seen`);
    timeline.mark(`cell/${c.metadata.name}/${c.status?.phase ?? 'none'}`);
  });
  pods.onChange((p) => {
    const name = p.metadata?.name ?? '';
    timeline.mark(`pod/${name}/${p.metadata?.uid}/seen`);
    if (p.metadata?.deletionTimestamp) timeline.mark(`pod/${name}/deleting`);
    if (podReady(p)) timeline.mark(`pod/${name}/${p.metadata?.uid}/ready`);
  });
  nodes.onChange((n) => {
    const ready = n.status?.conditions?.find((c) => c.type === 'Ready')?.status;
    if (ready && ready !== 'True') timeline.mark(`node/${n.metadata?.name}/ready-${ready}`);
    for (const t of n.spec?.taints ?? []) timeline.mark(`node/${n.metadata?.name}/taint/${t.key}`);
  });
  for (const i of [cells, colonies, pods, cellPods, nodes]) i.start();
  return { cells, colonies, pods, cellPods, nodes };
}

async function setUp(t0: number): Promise<{ bench: Bench; operatorFlags: string[] }> {
  const cp = await ControlPlane.start({
    stateDir: path.join(cacheDir(), 'bench-node-loss'),
    nodeLeaseDurationSeconds: KUBELET_LEASE_S,
    // Kubernetes' own defaults (the harness otherwise uses 40s / 2s).
    nodeMonitorGracePeriod: '50s',
    nodeMonitorPeriod: '5s',
  });
  say(`control plane up in ${secs(Date.now() - t0)} s (state: ${cp.stateDir})`);
  const admin = cp.kubeConfig();
  const core = admin.makeApiClient(CoreV1Api);
  for (const name of [CELULA_NS, K8S_NS]) await core.createNamespace({ body: { metadata: { name } } });
  // Hardened nodes get their label before the operator runs: its lock-down lets only it set the label.
  await Promise.all([
    addNodes(
      cp,
      'hard',
      CELULA_NODES,
      { [POOL_LABEL]: 'celula', [LABELS.hardened]: HARDENED_VALUE },
      HARDENED_LEASE_S,
    ),
    addNodes(cp, 'deploy', RUN_K8S ? K8S_NODES : 0, { [POOL_LABEL]: 'deploy' }, KUBELET_LEASE_S),
    addNodes(cp, 'sts', RUN_K8S ? K8S_NODES : 0, { [POOL_LABEL]: 'sts' }, KUBELET_LEASE_S),
  ]);
  const { args, metricsPort } = await startOperatorProcess(cp, admin);
  const kubelet = new LocalKubelet({
    admin,
    server: cp.server,
    caFile: cp.caFile,
    namespace: CELULA_NS,
    tokenIdentity: nodeIdentities(cp),
    cellMain: path.join(repoRoot(), 'dist/src/cell/main.js'),
  });
  await kubelet.start();
  const timeline = new Timeline();
  const informers = startInformers(admin, timeline);
  await Promise.all(
    [informers.cells, informers.colonies, informers.pods, informers.cellPods, informers.nodes].map((i) =>
      i.waitForSync(30_000),
    ),
  );
  const custom = admin.makeApiClient(CustomObjectsApi);
  await custom.createNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace: CELULA_NS,
    plural: COLONY_PLURAL,
    body: colonyBody(),
  });
  if (RUN_K8S) await createK8sWorkloads(admin);
  return { bench: { cp, admin, kubelet, timeline, metricsPort, ...informers }, operatorFlags: args };
}

// ---------------------------------------------------------------- (a) Celula

function colony(b: Bench): Colony | undefined {
  return b.colonies.get(CELULA_NS, COLONY);
}

/** Alive cells that reported the colony's fingerprint, not among `excluded`. */
function heardHolders(b: Bench, excluded: Set<string> = new Set()): Cell[] {
  const fp = colony(b)?.status?.fingerprint;
  return b.cells
    .list()
    .filter(
      (c) =>
        !excluded.has(c.metadata.name ?? '') &&
        c.status?.phase === 'Alive' &&
        !!fp &&
        c.status.fingerprint === fp,
    );
}

/** The colony is steady: Ready, 5 heard holders, none unreachable or joining. */
function steady(b: Bench): boolean {
  const c = colony(b);
  const ready = c?.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True') ?? false;
  const s = c?.status;
  return (
    ready && s?.alive === REPLICAS && !s.unreachable && !s.joining && heardHolders(b).length === REPLICAS
  );
}

/** Each cell's own /identity must say the colony's fingerprint. */
async function checkIdentities(b: Bench, cells: Cell[]): Promise<void> {
  const fp = colony(b)?.status?.fingerprint;
  for (const c of cells) {
    const res = await fetch(`${b.kubelet.url(c.status?.pod ?? '')}/identity`);
    const id = ((await res.json()) as { fingerprint?: string }).fingerprint;
    if (id !== fp)
      throw new Error(`node-loss bench: cell ${c.metadata.name} reports ${id}, the colony ${fp}`);
  }
}

/** Seconds between the node's last Lease renewal and the kill (where in its renew cycle it died). */
async function leaseAge(b: Bench, node: string, t0: number): Promise<string> {
  const lease = await b.admin
    .makeApiClient(CoordinationV1Api)
    .readNamespacedLease({ name: node, namespace: NODE_LEASE_NS });
  const renewed = new Date(lease.spec?.renewTime as unknown as string).getTime();
  return secs(t0 - renewed);
}

/** Kills the machines under `count` random holders; returns the measured seconds and a breakdown. */
async function celulaRound(b: Bench, count: number, label: string): Promise<number> {
  const victims: Cell[] = [];
  for (const c of shuffle(heardHolders(b))) {
    if (victims.length < count && !victims.some((v) => v.spec.node === c.spec.node)) victims.push(c);
  }
  const nodes = victims.map((c) => c.spec.node ?? '');
  const killed = new Set(victims.map((c) => c.metadata.name ?? ''));
  const before = new Set(b.cells.list().map((c) => c.metadata.name ?? ''));
  const t0 = Date.now();
  for (const n of nodes) b.kubelet.loseNode(n);
  await Promise.all(nodes.map((n) => b.cp.stopHeartbeat(n)));
  const ages = await Promise.all(nodes.map((n) => leaseAge(b, n, t0)));
  const done = await until(
    () => heardHolders(b, killed).length >= REPLICAS,
    ROUND_TIMEOUT_MS,
    `${label}: ${REPLICAS} holders`,
  );
  const fresh = heardHolders(b, killed).filter((c) => !before.has(c.metadata.name ?? ''));
  await checkIdentities(b, heardHolders(b, killed));
  say(
    `${label} ${secs(done - t0)} s  ${breakdown(b, t0, [...killed], fresh)} nodes=${nodes.join(',')} lease_age_at_kill=${ages.join(',')}`,
  );
  await restore(b, nodes, killed);
  return (done - t0) / 1000;
}

/** Where the time went: when the killed holders turned Unreachable, the replacements appeared, ran, joined. */
function breakdown(b: Bench, t0: number, killed: string[], fresh: Cell[]): string {
  const last = (keys: string[]): string => {
    const ts = keys.map((k) => b.timeline.at(k));
    return ts.some((t) => t === undefined) ? '-' : secs(Math.max(...(ts as number[])) - t0);
  };
  const names = fresh.map((c) => c.metadata.name ?? '');
  const pods = fresh.map((c) => c.status?.pod ?? c.metadata.name ?? '');
  return [
    `unreachable=${last(killed.map((n) => `cell/${n}/Unreachable`))}`,
    `created=${last(names.map((n) => `cell/${n}/seen`))}`,
    `pod_running=${last(pods.map((n) => `cellpod/${n}/running`))}`,
    `joining=${last(names.map((n) => `cell/${n}/Joining`))}`,
    `pod_ready=${last(pods.map((n) => `cellpod/${n}/ready`))}`,
    `alive=${last(names.map((n) => `cell/${n}/Alive`))}`,
    `new=${names.join(',')}`,
  ].join(' ');
}

/** The machines come back: their kubelets report the dead containers, then their heartbeat resumes. */
async function restore(b: Bench, nodes: string[], killed: Set<string>): Promise<void> {
  // Resume only once the operator has the proof: a heartbeat first would show the stale Ready pods
  // as heard holders for a moment (a surplus it would retire).
  const proven = (): boolean =>
    [...killed].every((n) => b.timeline.at(`cell/${n}/Dead`) !== undefined || !b.cells.get(CELULA_NS, n));
  for (let attempt = 1; ; attempt++) {
    for (const n of nodes) b.kubelet.restoreNode(n);
    const ok = await until(proven, 15_000, 'killed cells Dead').then(
      () => true,
      () => false,
    );
    if (ok) break;
    say(`  restore attempt ${attempt}: killed cells not Dead after 15 s: ${restoreDiagnosis(b, killed)}`);
    if (attempt === 4)
      throw new Error(`node-loss bench: killed cells never proven Dead: ${restoreDiagnosis(b, killed)}`);
  }
  await Promise.all(nodes.map((n) => b.cp.resumeHeartbeat(n)));
  await Promise.all(nodes.map((n) => b.cp.waitNodeReady(n)));
  await until(() => steady(b), ROUND_TIMEOUT_MS, 'colony steady after restore');
}

/** What the Cell, its pod and the local kubelet say about each killed cell (for a stuck restore). */
function restoreDiagnosis(b: Bench, killed: Set<string>): string {
  const parts = [...killed].map((n) => {
    const c = b.cells.get(CELULA_NS, n);
    const pod = b.cellPods.get(CELULA_NS, c?.status?.pod ?? n);
    const local = b.kubelet.cell(c?.status?.pod ?? n);
    return (
      `${n}: cell ${c?.status?.phase ?? 'absent'} (${c?.status?.reason ?? ''}: ${c?.status?.message ?? ''}), ` +
      `pod ${pod?.status?.phase ?? 'absent'} uid ${pod?.metadata?.uid} deleting=${!!pod?.metadata?.deletionTimestamp}, ` +
      `local process uid ${local?.uid} exit=${local?.exitCode}`
    );
  });
  const errors = b.kubelet
    .lines()
    .filter((l) => l.startsWith('local-kubelet:'))
    .slice(-3);
  return `${parts.join('; ')}; kubelet errors: ${errors.join(' | ') || 'none'}`;
}

// ---------------------------------------------------------------- (b), (c) Kubernetes

/** Kills the node of one replica of `app`; seconds until 5 Ready replicas on live nodes, or undefined. */
async function k8sLoss(b: Bench, app: string): Promise<number | undefined> {
  const replicas = (): V1Pod[] => b.pods.list().filter((p) => p.metadata?.labels?.app === app);
  await until(
    () => replicas().filter(podReady).length >= REPLICAS,
    180_000,
    `${app}: ${REPLICAS} Ready replicas`,
  );
  const victim = shuffle(replicas().filter(podReady))[0]!;
  const node = victim.spec?.nodeName ?? '';
  const tolerations = (victim.spec?.tolerations ?? []).map(
    (t) => `${t.key}:${t.effect}:${t.tolerationSeconds ?? '∞'}s`,
  );
  say(
    `${app}: killing node ${node} under pod ${victim.metadata?.name}; its tolerations: ${tolerations.join(' ')}`,
  );
  const t0 = Date.now();
  await b.cp.stopHeartbeat(node);
  const restored = () =>
    replicas().filter((p) => podReady(p) && p.spec?.nodeName !== node).length >= REPLICAS;
  const done = await until(restored, K8S_TIMEOUT_S * 1000, `${app} restored`).catch(() => undefined);
  const tl = b.timeline;
  const seenAt = (p: V1Pod): number => tl.at(`pod/${p.metadata?.name}/${p.metadata?.uid}/seen`) ?? 0;
  const fresh = replicas().filter((p) => seenAt(p) > t0);
  const created = fresh.map((p) => `${p.metadata?.name}@${secs(seenAt(p) - t0)}`);
  say(
    `${app}: ${done === undefined ? `not-restored after ${K8S_TIMEOUT_S} s` : `${secs(done - t0)} s`}  ` +
      `node Ready=Unknown at ${tl.since(t0, `node/${node}/ready-Unknown`)} s, ` +
      `unreachable taint at ${tl.since(t0, `node/${node}/taint/node.kubernetes.io/unreachable`)} s, ` +
      `pod ${victim.metadata?.name} deleting at ${tl.since(t0, `pod/${victim.metadata?.name}/deleting`)} s, ` +
      `replacement created ${created.join(',') || 'never'}; pod on ${node} now: ${replicas().find((p) => p.spec?.nodeName === node)?.metadata?.deletionTimestamp ? 'Terminating' : 'present'}`,
  );
  return done === undefined ? undefined : (done - t0) / 1000;
}

async function operatorMetrics(b: Bench): Promise<string[]> {
  const text = await fetch(`http://127.0.0.1:${b.metricsPort}/metrics`)
    .then((r) => r.text())
    .catch(() => '');
  return text.split('\n').filter((l) => /^celula_(cell_deaths_total|colony_cells)/.test(l));
}

// ---------------------------------------------------------------- main

async function celulaRounds(b: Bench): Promise<{ one: number[]; two: number[] }> {
  const one: number[] = [];
  const two: number[] = [];
  for (let i = 1; i <= ONE_NODE_ROUNDS; i++)
    one.push(await celulaRound(b, 1, `celula one-node #${String(i).padStart(2, '0')}`));
  for (let i = 1; i <= TWO_NODE_ROUNDS; i++) two.push(await celulaRound(b, 2, `celula two-nodes #${i}`));
  return { one, two };
}

async function main(): Promise<void> {
  const t0 = Date.now();
  say(
    `node-loss bench: seed=${SEED} hardened-node lease=${HARDENED_LEASE_S}s (renew every ${HARDENED_LEASE_S / 4}s), ` +
      `ordinary-node lease=${KUBELET_LEASE_S}s (kubelet default), kube-controller-manager ` +
      `--node-monitor-grace-period=50s --node-monitor-period=5s (defaults), k8s timeout=${K8S_TIMEOUT_S}s`,
  );
  const { bench: b, operatorFlags } = await setUp(t0);
  say(`operator: own process, dist/src/main.js ${operatorFlags.join(' ')} (every other flag default)`);
  await until(() => steady(b), 300_000, `colony ${COLONY} Ready with ${REPLICAS} holders`);
  say(`colony ready at ${secs(Date.now() - t0)} s with fingerprint ${colony(b)?.status?.fingerprint}`);
  const k8s = RUN_K8S
    ? Promise.all([k8sLoss(b, 'web'), k8sLoss(b, 'db')])
    : Promise.resolve([undefined, undefined]);
  const celula = await celulaRounds(b);
  const [deployment, statefulset] = await k8s;
  for (const line of await operatorMetrics(b)) say(`operator metric: ${line}`);
  await b.kubelet.stop();
  for (const i of [b.cells, b.colonies, b.pods, b.cellPods, b.nodes]) await i.stop();
  await b.cp.stop();
  const f = (n: number): string => n.toFixed(1);
  say(
    `celula one-node samples (s, sorted): ${[...celula.one]
      .sort((x, y) => x - y)
      .map(f)
      .join(' ')}`,
  );
  say(
    `celula two-nodes samples (s, sorted): ${[...celula.two]
      .sort((x, y) => x - y)
      .map(f)
      .join(' ')}`,
  );
  say(
    `percentiles: nearest-rank; one-node n=${celula.one.length}, two-nodes n=${celula.two.length}; total run ${secs(Date.now() - t0)} s`,
  );
  const k = (s: number | undefined): string =>
    !RUN_K8S ? 'skipped' : s === undefined ? 'not-restored' : f(s);
  say(
    `node-loss celula_p50=${f(percentile(celula.one, 50))} celula_p99=${f(percentile(celula.one, 99))} ` +
      `two_nodes_p99=${f(percentile(celula.two, 99))} deployment=${k(deployment)} statefulset=${k(statefulset)}`,
  );
}

await main();
