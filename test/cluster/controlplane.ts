// The local control plane: real etcd, kube-apiserver (TLS, RBAC, Node authorizer, NodeRestriction,
// service-account tokens), kube-controller-manager, kube-scheduler, and kwok nodes (one kwok
// process per node). Everything it starts is recorded under its state dir, so any process can
// attach to a running cluster (ControlPlane.attach) and control or stop it.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import type { AuthenticationV1TokenRequest } from '@kubernetes/client-node';
import { DEFAULT_EXCLUDED_POD_LABEL, fakeNode, nodeNetwork, writeStageConfig } from './kwok.js';
import type { NodeOptions, PodLabel } from './kwok.js';
import { writeKubeconfig } from './kubeconfig.js';
import { ensureClientCert, ensurePki, issueClientCert } from './pki.js';
import type { Pki } from './pki.js';
import {
  freePort,
  httpsGet,
  isAlive,
  killAllSync,
  listPids,
  logTail,
  readPid,
  sleep,
  spawnComponent,
  stopComponent,
  waitUntil,
} from './procs.js';

export type { NodeOptions, PodLabel } from './kwok.js';

export const SERVICE_ACCOUNT_ISSUER = 'https://kubernetes.default.svc.cluster.local';
export const JOIN_AUDIENCE = 'celula.io/join';
const CORE_BINARIES = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok'];

export interface ControlPlaneOptions {
  /** Where PKI, etcd data, logs, pids and kubeconfigs live. Default `$CELULA_CACHE/cluster`. */
  stateDir?: string;
  /** Start kube-controller-manager (default true). */
  controllerManager?: boolean;
  /** Start kube-scheduler (default true). */
  scheduler?: boolean;
  /** kwok leaves pods with this label alone (default celula.io/cell-runtime=local; null: none). */
  kwokExcludePodLabel?: PodLabel | null;
  /** The lease duration kwok writes; it renews every quarter of it (default 8 s: renew every 2 s). */
  nodeLeaseDurationSeconds?: number;
  /** kube-controller-manager --node-monitor-grace-period (default 40s). */
  nodeMonitorGracePeriod?: string;
  /** kube-controller-manager --node-monitor-period (default 2s; Kubernetes' own default is 5s). */
  nodeMonitorPeriod?: string;
  /**
   * --api-audiences (default: the issuer only). celula.io/join must NOT be an API audience: a peer
   * that receives a joiner's join token could otherwise call the API as the joiner. TokenReview
   * with spec.audiences [celula.io/join] still authenticates join tokens.
   */
  apiAudiences?: string[];
  /**
   * Static admission policies (KEP-5793): `true` loads the chart's generated manifests
   * (charts/celula/static), a string loads that absolute directory, through
   * --admission-control-config-file (ValidatingAdmissionPolicy staticManifestsDir). Default: none.
   * They refuse what a test harness usually does as admin (minting the operator's or a cell's
   * token, creating Cells and cell pods), so only clusters that act like a production one use them.
   */
  staticPolicies?: boolean | string;
  /** Kill the cluster when this process exits or gets SIGINT/SIGTERM/SIGHUP (default true). */
  stopOnExit?: boolean;
  /**
   * With stopOnExit: also on SIGINT/SIGTERM/SIGHUP (default true). False for a harness that handles
   * the signals itself (the chaos suite ends its incident, prints its table, then stops the cluster).
   */
  stopOnSignal?: boolean;
  /** Timeout for each component to become healthy (default 60 s). */
  readyTimeoutMs?: number;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

/** What `<state>/cluster.json` records: enough to attach from another process. */
export interface ClusterState {
  version: 1;
  stateDir: string;
  binDir: string;
  server: string;
  adminKubeconfig: string;
  ports: { etcd: number; etcdPeer: number; apiserver: number; controllerManager: number; scheduler: number };
  controllerManager: boolean;
  scheduler: boolean;
  nodeLeaseDurationSeconds: number;
  nodeMonitorGracePeriod: string;
  /** Absent in older state files: 2s. */
  nodeMonitorPeriod?: string;
  apiAudiences: string[];
  /** The API server's staticManifestsDir, or null (older state files: absent). */
  staticManifestsDir?: string | null;
  readyTimeoutMs: number;
  ownerPid: number;
  createdAt: string;
}

interface NodeRecord {
  name: string;
  index: number;
  /** The node's pod CIDR when addNode was given one (else nodeNetwork's). */
  podCIDR?: string;
  /** kwok --node-lease-duration-seconds for this node; absent: the cluster's. */
  leaseDurationSeconds?: number;
}

export function cacheDir(): string {
  const base = process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache');
  return process.env.CELULA_CACHE ?? path.join(base, 'celula');
}

export function defaultStateDir(): string {
  return path.join(cacheDir(), 'cluster');
}

/** The repository root (where package.json is), found from this file. */
function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'test', 'cluster', 'build.sh'))) {
    const up = path.dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
  return dir;
}

/** Builds missing binaries with build.sh (idempotent; serialized by a lock file). */
export function ensureBinaries(
  log: (l: string) => void = () => undefined,
  needed: string[] = CORE_BINARIES,
): string {
  const bin = path.join(cacheDir(), 'bin');
  const stages = path.join(cacheDir(), 'kwok-stages.yaml');
  const missing = needed.filter((b) => !fs.existsSync(path.join(bin, b)));
  if (missing.length === 0 && fs.existsSync(stages)) return bin;
  log(
    `building control-plane binaries (missing: ${missing.join(', ') || 'kwok-stages.yaml'}); see test/cluster/build.sh`,
  );
  fs.mkdirSync(cacheDir(), { recursive: true });
  const script = path.join(repoRoot(), 'test', 'cluster', 'build.sh');
  const res = spawnSync('flock', [path.join(cacheDir(), 'build.lock'), 'bash', script], {
    stdio: ['ignore', 'inherit', 'pipe'],
    encoding: 'utf8',
  });
  if (res.status !== 0) {
    const tail = (res.stderr ?? String(res.error)).trimEnd().split('\n').slice(-30).join('\n');
    throw new Error(`building the control-plane binaries failed (test/cluster/build.sh):\n${tail}`);
  }
  return bin;
}

/** A component failed to start or to become healthy; the message carries its log's tail. */
export class ComponentError extends Error {
  readonly component: string;
  /** The component's process was gone during start-up (not merely slow). */
  readonly exitedAtStart: boolean;

  constructor(component: string, reason: string, stateDir: string, exitedAtStart = false) {
    const log = path.join(stateDir, 'logs', `${component}.log`);
    super(`${component} ${reason}; last lines of ${log}:\n${logTail(stateDir, component)}`);
    this.name = 'ComponentError';
    this.component = component;
    this.exitedAtStart = exitedAtStart;
  }
}

function etcdArgs(s: ClusterState): string[] {
  const client = `http://127.0.0.1:${s.ports.etcd}`;
  const peer = `http://127.0.0.1:${s.ports.etcdPeer}`;
  return [
    '--name=celula',
    `--data-dir=${path.join(s.stateDir, 'etcd')}`,
    `--listen-client-urls=${client}`,
    `--advertise-client-urls=${client}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=celula=${peer}`,
    '--unsafe-no-fsync=true',
    '--log-level=warn',
  ];
}

/** The chart's static admission policies (generated by `npm run generate`). */
export function chartStaticManifestsDir(): string {
  return path.join(repoRoot(), 'charts', 'celula', 'static');
}

function staticManifestsDir(opt: ControlPlaneOptions['staticPolicies']): string | null {
  if (opt === undefined || opt === false) return null;
  const dir = opt === true ? chartStaticManifestsDir() : opt;
  if (!path.isAbsolute(dir)) throw new Error(`staticPolicies must be an absolute directory, got "${dir}"`);
  return dir;
}

/**
 * --admission-control-config-file loading `dir` as the ValidatingAdmissionPolicy plugin's
 * staticManifestsDir (schema: k8s.io/apiserver v0.37.2 policyconfig/v1).
 */
function admissionConfigArgs(s: ClusterState): string[] {
  if (!s.staticManifestsDir) return [];
  const file = path.join(s.stateDir, 'admission-config.yaml');
  const config = [
    'apiVersion: apiserver.config.k8s.io/v1',
    'kind: AdmissionConfiguration',
    'plugins:',
    '  - name: ValidatingAdmissionPolicy',
    '    configuration:',
    '      apiVersion: apiserver.config.k8s.io/v1',
    '      kind: ValidatingAdmissionPolicyConfiguration',
    `      staticManifestsDir: ${JSON.stringify(s.staticManifestsDir)}`,
    '',
  ].join('\n');
  fs.writeFileSync(file, config);
  return [`--admission-control-config-file=${file}`];
}

function apiserverArgs(s: ClusterState, pki: Pki): string[] {
  return [
    ...admissionConfigArgs(s),
    `--etcd-servers=http://127.0.0.1:${s.ports.etcd}`,
    '--bind-address=127.0.0.1',
    `--secure-port=${s.ports.apiserver}`,
    '--advertise-address=127.0.0.1',
    '--endpoint-reconciler-type=none',
    `--cert-dir=${path.join(s.stateDir, 'pki')}`,
    `--tls-cert-file=${pki.apiserver.cert}`,
    `--tls-private-key-file=${pki.apiserver.key}`,
    `--client-ca-file=${pki.ca.cert}`,
    '--authorization-mode=Node,RBAC',
    '--enable-admission-plugins=NodeRestriction',
    `--service-account-issuer=${SERVICE_ACCOUNT_ISSUER}`,
    `--service-account-key-file=${pki.serviceAccount.pub}`,
    `--service-account-signing-key-file=${pki.serviceAccount.key}`,
    `--api-audiences=${s.apiAudiences.join(',')}`,
    '--service-cluster-ip-range=10.96.0.0/16',
    '--allow-privileged=true',
    '--profiling=false',
  ];
}

function controllerManagerArgs(s: ClusterState, pki: Pki): string[] {
  return [
    `--kubeconfig=${path.join(s.stateDir, 'controller-manager.kubeconfig')}`,
    '--bind-address=127.0.0.1',
    `--secure-port=${s.ports.controllerManager}`,
    '--leader-elect=false',
    '--controllers=*',
    '--use-service-account-credentials=true',
    `--service-account-private-key-file=${pki.serviceAccount.key}`,
    `--root-ca-file=${pki.ca.cert}`,
    `--cluster-signing-cert-file=${pki.ca.cert}`,
    `--cluster-signing-key-file=${pki.ca.key}`,
    '--service-cluster-ip-range=10.96.0.0/16',
    `--node-monitor-grace-period=${s.nodeMonitorGracePeriod}`,
    `--node-monitor-period=${s.nodeMonitorPeriod ?? '2s'}`,
    '--profiling=false',
  ];
}

function schedulerArgs(s: ClusterState): string[] {
  return [
    `--kubeconfig=${path.join(s.stateDir, 'scheduler.kubeconfig')}`,
    '--bind-address=127.0.0.1',
    `--secure-port=${s.ports.scheduler}`,
    '--leader-elect=false',
    '--profiling=false',
  ];
}

function kwokArgs(s: ClusterState, node: NodeRecord): string[] {
  const net = nodeNetwork(node.index);
  return [
    `--kubeconfig=${path.join(s.stateDir, 'kwok.kubeconfig')}`,
    `--config=${path.join(s.stateDir, 'kwok-stages.yaml')}`,
    `--manage-single-node=${node.name}`,
    `--node-lease-duration-seconds=${node.leaseDurationSeconds ?? s.nodeLeaseDurationSeconds}`,
    `--node-ip=${net.nodeIP}`,
    `--cidr=${node.podCIDR ?? net.podCIDR}`,
  ];
}

const stateFile = (dir: string): string => path.join(dir, 'cluster.json');
const nodesDir = (dir: string): string => path.join(dir, 'nodes');

/** Pre-start state: ports chosen, options fixed. */
async function planState(opts: ControlPlaneOptions, stateDir: string, binDir: string): Promise<ClusterState> {
  const [etcd, etcdPeer, apiserver, controllerManager, scheduler] = await Promise.all(
    [0, 1, 2, 3, 4].map(() => freePort()),
  );
  const ports = {
    etcd: etcd!,
    etcdPeer: etcdPeer!,
    apiserver: apiserver!,
    controllerManager: controllerManager!,
    scheduler: scheduler!,
  };
  return {
    version: 1,
    stateDir,
    binDir,
    server: `https://127.0.0.1:${ports.apiserver}`,
    adminKubeconfig: path.join(stateDir, 'admin.kubeconfig'),
    ports,
    controllerManager: opts.controllerManager ?? true,
    scheduler: opts.scheduler ?? true,
    nodeLeaseDurationSeconds: opts.nodeLeaseDurationSeconds ?? 8,
    nodeMonitorGracePeriod: opts.nodeMonitorGracePeriod ?? '40s',
    nodeMonitorPeriod: opts.nodeMonitorPeriod ?? '2s',
    apiAudiences: opts.apiAudiences ?? [SERVICE_ACCOUNT_ISSUER],
    staticManifestsDir: staticManifestsDir(opts.staticPolicies),
    readyTimeoutMs: opts.readyTimeoutMs ?? 60_000,
    ownerPid: process.pid,
    createdAt: new Date().toISOString(),
  };
}

/** Identities with a kubeconfig in the state dir: file name, user, groups. */
const IDENTITIES: Array<[string, string, string[]]> = [
  ['admin', 'celula-admin', ['system:masters']],
  ['controller-manager', 'system:kube-controller-manager', []],
  ['scheduler', 'system:kube-scheduler', []],
  ['kwok', 'celula-kwok', ['system:masters']],
];

function writeIdentityKubeconfigs(s: ClusterState, pki: Pki): void {
  for (const [file, user, groups] of IDENTITIES) {
    const cert = ensureClientCert(pki, file, user, groups);
    writeKubeconfig(path.join(s.stateDir, `${file}.kubeconfig`), {
      server: s.server,
      caFile: pki.ca.cert,
      userName: user,
      user: cert,
    });
  }
}

/**
 * Copies a PKI (CA, serving cert, identity certs, SA keys) generated once under the cache into a
 * new state dir: each cluster is throwaway, and skipping key generation keeps startup fast.
 */
function seedPki(target: string): void {
  const shared = path.join(cacheDir(), 'pki');
  if (!fs.existsSync(path.join(shared, 'complete'))) {
    // Made aside and renamed into place: concurrent first runs must not mix two CAs.
    const tmp = `${shared}.tmp-${process.pid}`;
    fs.rmSync(tmp, { recursive: true, force: true });
    const pki = ensurePki(tmp);
    for (const [file, user, groups] of IDENTITIES) ensureClientCert(pki, file, user, groups);
    fs.writeFileSync(path.join(tmp, 'complete'), '');
    fs.rmSync(shared, { recursive: true, force: true });
    try {
      fs.renameSync(tmp, shared);
    } catch {
      fs.rmSync(tmp, { recursive: true, force: true }); // another process won the race
    }
  }
  fs.cpSync(shared, target, { recursive: true });
}

const exitHandlers = new Map<string, () => void>();

function installExitHandlers(stateDir: string, signals: boolean): void {
  if (exitHandlers.has(stateDir)) return;
  const onExit = (): void => killAllSync(stateDir);
  const onSignal = (sig: NodeJS.Signals): void => {
    removeExitHandlers(stateDir);
    killAllSync(stateDir);
    process.kill(process.pid, sig);
  };
  process.on('exit', onExit);
  if (signals) for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(sig, onSignal);
  exitHandlers.set(stateDir, () => {
    process.off('exit', onExit);
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(sig, onSignal);
  });
}

function removeExitHandlers(stateDir: string): void {
  exitHandlers.get(stateDir)?.();
  exitHandlers.delete(stateDir);
}

export class ControlPlane {
  readonly state: ClusterState;
  private readonly pki: Pki;

  // (No parameter properties here: this file must also load under Node's type stripping.)
  private constructor(state: ClusterState) {
    this.state = state;
    this.pki = ensurePki(path.join(state.stateDir, 'pki'));
  }

  get stateDir(): string {
    return this.state.stateDir;
  }
  get server(): string {
    return this.state.server;
  }
  /** Path of the admin (system:masters) kubeconfig. */
  get adminKubeconfig(): string {
    return this.state.adminKubeconfig;
  }
  get caFile(): string {
    return this.pki.ca.cert;
  }

  /**
   * Starts a fresh cluster in `stateDir` (anything there is stopped and wiped first). On failure,
   * stops what it started and throws an Error naming the component, with its log's tail.
   */
  static async start(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
    const log = opts.log ?? ((): void => undefined);
    try {
      return await ControlPlane.startOnce(opts, log);
    } catch (err) {
      // A component that died at once, before its first log line (seen once in CI, two chaos shards
      // starting side by side on a loaded machine; its exit status is now in its log): one more try,
      // on new ports, with the first failure said. Not ready in time, or a second failure, is an error.
      if (!(err instanceof ComponentError) || !err.exitedAtStart) throw err;
      log(`${err.message}
starting the control plane once more, on new ports`);
      return ControlPlane.startOnce(opts, log);
    }
  }

  private static async startOnce(opts: ControlPlaneOptions, log: (l: string) => void): Promise<ControlPlane> {
    const needed = ['etcd', 'kube-apiserver', 'kwok'];
    if (opts.controllerManager ?? true) needed.push('kube-controller-manager');
    if (opts.scheduler ?? true) needed.push('kube-scheduler');
    const binDir = ensureBinaries(log, needed);
    const stateDir = path.resolve(opts.stateDir ?? defaultStateDir());
    await stopStateDir(stateDir);
    fs.rmSync(stateDir, { recursive: true, force: true });
    fs.mkdirSync(nodesDir(stateDir), { recursive: true });
    const state = await planState(opts, stateDir, binDir);
    seedPki(path.join(stateDir, 'pki'));
    const cp = new ControlPlane(state);
    writeIdentityKubeconfigs(state, cp.pki);
    const exclude =
      opts.kwokExcludePodLabel === undefined ? DEFAULT_EXCLUDED_POD_LABEL : opts.kwokExcludePodLabel;
    writeStageConfig(
      path.join(cacheDir(), 'kwok-stages.yaml'),
      path.join(stateDir, 'kwok-stages.yaml'),
      exclude,
    );
    fs.writeFileSync(stateFile(stateDir), JSON.stringify(state, null, 2));
    if (opts.stopOnExit ?? true) installExitHandlers(stateDir, opts.stopOnSignal ?? true);
    try {
      await cp.boot(log);
    } catch (err) {
      await cp.stop();
      throw err;
    }
    return cp;
  }

  /** A handle on a cluster started (possibly by another process) in `stateDir`. */
  static attach(stateDir: string = defaultStateDir()): ControlPlane {
    let state: ClusterState;
    try {
      state = JSON.parse(fs.readFileSync(stateFile(stateDir), 'utf8')) as ClusterState;
    } catch {
      throw new Error(`no cluster recorded in ${stateDir} (missing cluster.json); start one first`);
    }
    return new ControlPlane(state);
  }

  private async boot(log: (l: string) => void): Promise<void> {
    const t0 = Date.now();
    this.spawn('etcd', etcdArgs(this.state));
    this.spawn('kube-apiserver', apiserverArgs(this.state, this.pki));
    await this.waitApiServerReady();
    log(`kube-apiserver ready in ${Date.now() - t0} ms`);
    const waits: Array<Promise<void>> = [];
    if (this.state.controllerManager) {
      this.spawn('kube-controller-manager', controllerManagerArgs(this.state, this.pki));
      waits.push(this.waitHealthz('kube-controller-manager', this.state.ports.controllerManager));
    }
    if (this.state.scheduler) {
      this.spawn('kube-scheduler', schedulerArgs(this.state));
      waits.push(this.waitHealthz('kube-scheduler', this.state.ports.scheduler));
    }
    await Promise.all(waits);
    log(`controllers healthy in ${Date.now() - t0} ms`);
    if (this.state.controllerManager) await this.waitDefaultServiceAccount();
    log(`control plane ready in ${Date.now() - t0} ms`);
  }

  private spawn(name: string, args: string[]): void {
    const bin = path.join(this.state.binDir, name.startsWith('kwok-') ? 'kwok' : name);
    spawnComponent({ name, bin, args, stateDir: this.stateDir });
  }

  /** Throws a ComponentError when a recorded component has exited. */
  private assertRunning(names: string[]): void {
    for (const name of names) {
      const rec = readPid(this.stateDir, name);
      if (!rec || !isAlive(rec)) throw new ComponentError(name, 'exited during startup', this.stateDir, true);
    }
  }

  private adminProbe(pathname: string): Parameters<typeof httpsGet>[0] {
    const admin = path.join(this.pki.dir, 'admin');
    return {
      url: `${this.server}${pathname}`,
      ca: fs.readFileSync(this.pki.ca.cert),
      cert: fs.readFileSync(`${admin}.crt`),
      key: fs.readFileSync(`${admin}.key`),
    };
  }

  /** GET /readyz as admin: true when the apiserver answers ok. */
  async apiServerReady(): Promise<boolean> {
    const res = await httpsGet(this.adminProbe('/readyz'));
    return res.status === 200 && res.body.trim() === 'ok';
  }

  private async waitApiServerReady(): Promise<void> {
    let last = '';
    await waitUntil(
      async () => {
        this.assertRunning(['etcd', 'kube-apiserver']);
        const res = await httpsGet(this.adminProbe('/readyz'));
        last = `${res.status} ${res.body.slice(0, 500)}`;
        return res.status === 200;
      },
      this.state.readyTimeoutMs,
      () =>
        new ComponentError(
          'kube-apiserver',
          `not ready after ${this.state.readyTimeoutMs} ms (last /readyz: ${last})`,
          this.stateDir,
        ),
      50,
    );
  }

  private async waitHealthz(name: string, port: number): Promise<void> {
    await waitUntil(
      async () => {
        this.assertRunning([name]);
        const res = await httpsGet({ url: `https://127.0.0.1:${port}/healthz`, insecure: true });
        return res.status === 200;
      },
      this.state.readyTimeoutMs,
      () => new ComponentError(name, `not healthy after ${this.state.readyTimeoutMs} ms`, this.stateDir),
      100,
    );
  }

  private async waitDefaultServiceAccount(): Promise<void> {
    const core = this.kubeConfig().makeApiClient(CoreV1Api);
    await waitUntil(
      async () => {
        this.assertRunning(['kube-controller-manager']);
        return core.readNamespacedServiceAccount({ name: 'default', namespace: 'default' }).then(
          () => true,
          () => false,
        );
      },
      this.state.readyTimeoutMs,
      () =>
        new ComponentError(
          'kube-controller-manager',
          'did not create the default ServiceAccount',
          this.stateDir,
        ),
      100,
    );
  }

  /** True when etcd, the apiserver (and enabled controllers) run and /readyz is ok. */
  async healthy(): Promise<boolean> {
    const names = ['etcd', 'kube-apiserver'];
    if (this.state.controllerManager) names.push('kube-controller-manager');
    if (this.state.scheduler) names.push('kube-scheduler');
    const running = names.every((n) => {
      const rec = readPid(this.stateDir, n);
      return rec !== undefined && isAlive(rec);
    });
    return running && (await this.apiServerReady());
  }

  /** A client-node KubeConfig for the admin identity. */
  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromFile(this.adminKubeconfig);
    return kc;
  }

  /**
   * Stops kube-apiserver (SIGTERM, SIGKILL after 1 s) and starts it again with the same flags and
   * port; resolves when it is ready. Clients see their watches dropped.
   */
  async restartApiServer(): Promise<void> {
    // Its graceful shutdown lingers ~5 s on open watches; after 1 s a SIGKILL (a crash) it is.
    await stopComponent(this.stateDir, 'kube-apiserver', 1000);
    this.spawn('kube-apiserver', apiserverArgs(this.state, this.pki));
    await this.waitApiServerReady();
  }

  /** Stops kube-apiserver (SIGKILL after 1 s) and leaves it down until startApiServer. */
  async stopApiServer(): Promise<void> {
    await stopComponent(this.stateDir, 'kube-apiserver', 1000);
  }

  /** Starts kube-apiserver again with the same flags and port; resolves when it is ready. */
  async startApiServer(): Promise<void> {
    this.spawn('kube-apiserver', apiserverArgs(this.state, this.pki));
    await this.waitApiServerReady();
  }

  /**
   * Stops etcd (SIGTERM, SIGKILL after 1 s), keeps it down `downMs`, and starts it again on the same
   * data dir and ports; resolves when the API server is ready again.
   */
  async restartEtcd(downMs = 0): Promise<void> {
    await stopComponent(this.stateDir, 'etcd', 1000);
    await sleep(downMs);
    this.spawn('etcd', etcdArgs(this.state));
    await this.waitApiServerReady();
  }

  /**
   * Compacts etcd's history up to its current revision (etcd's JSON gateway), so a watch that resumes
   * from an older resourceVersion after the API server restarts gets 410 Gone. Returns the revision.
   */
  async compactEtcd(): Promise<number> {
    const base = `http://127.0.0.1:${this.state.ports.etcd}/v3/kv`;
    const post = async (op: string, body: object): Promise<{ header?: { revision?: string } }> => {
      const res = await fetch(`${base}/${op}`, { method: 'POST', body: JSON.stringify(body) });
      if (!res.ok) throw new Error(`etcd ${op}: HTTP ${res.status} ${await res.text()}`);
      return (await res.json()) as { header?: { revision?: string } };
    };
    const revision = Number(
      (await post('range', { key: Buffer.from('/').toString('base64') })).header?.revision,
    );
    if (!Number.isFinite(revision) || revision <= 0) throw new Error('etcd range returned no revision');
    await post('compaction', { revision: String(revision), physical: true });
    return revision;
  }

  /**
   * A kubeconfig authenticating as ServiceAccount `ns/sa` with a token from the TokenRequest API
   * (default audiences: the apiserver's). Returns its path.
   */
  async kubeconfigForServiceAccount(
    ns: string,
    sa: string,
    audiences?: string[],
    expirationSeconds = 3600,
  ): Promise<string> {
    const core = this.kubeConfig().makeApiClient(CoreV1Api);
    const body: AuthenticationV1TokenRequest = { spec: { audiences: audiences ?? [], expirationSeconds } };
    const res = await core.createNamespacedServiceAccountToken({ name: sa, namespace: ns, body });
    const token = res.status?.token;
    if (!token) throw new Error(`TokenRequest for ${ns}/${sa} returned no token`);
    const file = path.join(this.kubeconfigDir(), `sa-${ns}-${sa}.kubeconfig`);
    return writeKubeconfig(file, {
      server: this.server,
      caFile: this.caFile,
      userName: `system:serviceaccount:${ns}:${sa}`,
      user: { token },
      namespace: ns,
    });
  }

  /** A kubeconfig authenticating as user `name` in `groups` with a client cert the CA signs. */
  kubeconfigForUser(name: string, groups: string[] = []): string {
    const safe = name.replace(/[^a-zA-Z0-9._-]/g, '_');
    const certDir = this.kubeconfigDir();
    const cert = issueClientCert({ dir: certDir, ca: this.pki.ca }, `user-${safe}`, name, groups);
    const file = path.join(certDir, `user-${safe}.kubeconfig`);
    return writeKubeconfig(file, { server: this.server, caFile: this.caFile, userName: name, user: cert });
  }

  /**
   * Each node's own identity (system:node:<node>, a client cert), made on first use: a kubelet
   * mints its pods' tokens with it (the lock-down lets only kubelets mint cell tokens).
   */
  nodeIdentities(): (node: string) => KubeConfig {
    const cache = new Map<string, KubeConfig>();
    return (node) => {
      let kc = cache.get(node);
      if (!kc) {
        kc = new KubeConfig();
        kc.loadFromFile(this.kubeconfigForUser(`system:node:${node}`, ['system:nodes']));
        cache.set(node, kc);
      }
      return kc;
    };
  }

  private kubeconfigDir(): string {
    const dir = path.join(this.stateDir, 'kubeconfigs');
    fs.mkdirSync(dir, { recursive: true });
    return dir;
  }

  private nodeRecord(name: string): NodeRecord | undefined {
    try {
      return JSON.parse(
        fs.readFileSync(path.join(nodesDir(this.stateDir), `${name}.json`), 'utf8'),
      ) as NodeRecord;
    } catch {
      return undefined;
    }
  }

  /** Names of the kwok nodes this cluster manages. */
  nodeNames(): string[] {
    try {
      return fs
        .readdirSync(nodesDir(this.stateDir))
        .filter((f) => f.endsWith('.json'))
        .map((f) => f.slice(0, -5))
        .sort();
    } catch {
      return [];
    }
  }

  private nextNodeIndex(): number {
    const used = this.nodeNames().map((n) => this.nodeRecord(n)?.index ?? 0);
    return used.length === 0 ? 0 : Math.max(...used) + 1;
  }

  /**
   * Registers a kwok Node and starts its kwok process (its "kubelet": status and Lease heartbeat).
   * Resolves when the node is Ready (unless `wait` is false).
   */
  async addNode(name: string, opts: NodeOptions & { wait?: boolean } = {}): Promise<void> {
    if (this.nodeRecord(name)) throw new Error(`node ${name} already exists in this cluster`);
    const record: NodeRecord = { name, index: this.nextNodeIndex(), podCIDR: opts.podCIDR };
    if (opts.leaseDurationSeconds !== undefined) record.leaseDurationSeconds = opts.leaseDurationSeconds;
    const core = this.kubeConfig().makeApiClient(CoreV1Api);
    await core.createNode({ body: fakeNode(name, record.index, opts) });
    fs.writeFileSync(path.join(nodesDir(this.stateDir), `${name}.json`), JSON.stringify(record));
    this.spawn(`kwok-${name}`, kwokArgs(this.state, record));
    if (opts.wait ?? true) await this.waitNodeReady(name);
  }

  /** Resolves when node `name` has condition Ready=True. */
  async waitNodeReady(name: string, timeoutMs = 30_000): Promise<void> {
    const core = this.kubeConfig().makeApiClient(CoreV1Api);
    await waitUntil(
      async () => {
        this.assertRunning([`kwok-${name}`]);
        const node = await core.readNode({ name });
        return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
      },
      timeoutMs,
      () => new ComponentError(`kwok-${name}`, `node ${name} not Ready after ${timeoutMs} ms`, this.stateDir),
      100,
    );
  }

  /** Kills the node's kwok process: its Lease and status stop being renewed (the node is "lost"). */
  async stopHeartbeat(name: string): Promise<void> {
    if (!this.nodeRecord(name)) throw new Error(`unknown node ${name}`);
    await stopComponent(this.stateDir, `kwok-${name}`, 2000);
  }

  /** Starts the node's kwok process again (no-op when it runs). */
  async resumeHeartbeat(name: string): Promise<void> {
    const record = this.nodeRecord(name);
    if (!record) throw new Error(`unknown node ${name}`);
    const rec = readPid(this.stateDir, `kwok-${name}`);
    if (rec && isAlive(rec)) return;
    this.spawn(`kwok-${name}`, kwokArgs(this.state, record));
    await sleep(0);
  }

  /** True while the node's kwok process runs. */
  heartbeating(name: string): boolean {
    const rec = readPid(this.stateDir, `kwok-${name}`);
    return rec !== undefined && isAlive(rec);
  }

  /** Stops the node's kwok and deletes the Node object (its pods are left to pod GC). */
  async deleteNode(name: string): Promise<void> {
    await stopComponent(this.stateDir, `kwok-${name}`, 2000);
    const core = this.kubeConfig().makeApiClient(CoreV1Api);
    await core.deleteNode({ name }).catch((err: { code?: number }) => {
      if (err.code !== 404) throw err;
    });
    fs.rmSync(path.join(nodesDir(this.stateDir), `${name}.json`), { force: true });
  }

  /** Stops every process recorded in the state dir (also ones other processes started). */
  async stop(): Promise<void> {
    removeExitHandlers(this.stateDir);
    await stopStateDir(this.stateDir);
  }
}

/**
 * Stops every process recorded in `stateDir`: kwok nodes and controllers first, then the
 * apiserver, then etcd. Idempotent; unknown or dead pids are skipped.
 */
export async function stopStateDir(stateDir: string): Promise<void> {
  const names = [...listPids(stateDir).keys()];
  const rank = (n: string): number => (n === 'etcd' ? 2 : n === 'kube-apiserver' ? 1 : 0);
  for (const r of [0, 1, 2]) {
    await Promise.all(names.filter((n) => rank(n) === r).map((n) => stopComponent(stateDir, n)));
  }
}
