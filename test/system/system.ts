// The system under chaos: a fresh local control plane (etcd, kube-apiserver, controller-manager,
// scheduler), kwok nodes across zones, two operator replicas as separate processes with leader
// election (as the chart runs them, each as the operator's service account), and the local kubelet
// that runs every cell pod as a real cell process on loopback (test/support/local-kubelet.ts).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { CELL_PLURAL, GROUP, LABELS, MANAGER, VERSION, type Cell, type Colony } from '../../src/api/types.js';
import { CELL_RUNTIME_LABEL } from '../../src/builders/pod.js';
import { LEADER_LEASE, OPERATOR_NAME } from '../../src/builders/rbac-rules.js';
import {
  DEFAULT_OPERATOR_NAMESPACE,
  installOperatorPrerequisites,
  OPERATOR_NODE_FLAGS,
} from '../../src/install.js';
import { applyObject } from '../../src/runtime/apply.js';
import { cacheDir, ControlPlane } from '../cluster/controlplane.js';
import { freePort, isAlive, readPid, spawnComponent, stopComponent } from '../cluster/procs.js';
import { LocalKubelet } from '../support/local-kubelet.js';

export const NAMESPACE = 'chaos';
export const ZONE_LABEL = 'topology.kubernetes.io/zone';
export const ZONES = ['zone-a', 'zone-b', 'zone-c'];
/** 8 nodes: 3 + 3 + 2 across the zones. */
export const NODE_ZONES: Array<[string, string]> = [
  ['chaos-a1', 'zone-a'],
  ['chaos-a2', 'zone-a'],
  ['chaos-a3', 'zone-a'],
  ['chaos-b1', 'zone-b'],
  ['chaos-b2', 'zone-b'],
  ['chaos-b3', 'zone-b'],
  ['chaos-c1', 'zone-c'],
  ['chaos-c2', 'zone-c'],
];
/**
 * The hardened label's value: a script digest prefix (12 hex, isHardenedLabelValue), as if the nodes
 * had been hardened out of band (provider: existing).
 */
export const HARDENED_VALUE = 'abc123def456';
/** --node-loss-after for the operators: kwok renews its 8 s Lease every 2 s. */
export const NODE_LOSS_AFTER_S = 5;
export const OPERATORS = ['celula-operator-0', 'celula-operator-1'];

export interface ColonyPlan {
  name: string;
  replicas: number;
  minReplicas: number;
  provider: 'existing' | 'unhardened';
}

/** Three colonies: replicas 3, 4, 5 (12 cells on 8 nodes), both providers. */
export const COLONIES: ColonyPlan[] = [
  { name: 'vault', replicas: 3, minReplicas: 2, provider: 'existing' },
  { name: 'ledger', replicas: 4, minReplicas: 2, provider: 'unhardened' },
  { name: 'mint', replicas: 5, minReplicas: 3, provider: 'existing' },
];

export interface SystemOptions {
  /** kube-controller-manager --node-monitor-grace-period, seconds. */
  nodeGraceS: number;
  /**
   * Give each operator replica its health and metrics listeners (as the chart does). Off
   * (`--metrics-addr 0 --health-addr 0`) reproduces a replica exiting during an API server outage.
   */
  operatorHttp: boolean;
  log: (line: string) => void;
}

/** The repository root, from test/system/ (sources) or dist/test/system/ (compiled). */
export function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return dir;
}

function colonyBody(p: ColonyPlan): Colony {
  return {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: 'Colony',
    metadata: { name: p.name, namespace: NAMESPACE, labels: { [CELL_RUNTIME_LABEL]: 'local' } },
    spec: {
      image: `registry.example/chaos@sha256:${'c'.repeat(64)}`,
      replicas: p.replicas,
      minReplicas: p.minReplicas,
      secret: { algorithm: 'ed25519' },
      nodes: { provider: p.provider },
    },
  };
}

export class System {
  readonly cp: ControlPlane;
  readonly admin: KubeConfig;
  readonly core: CoreV1Api;
  readonly custom: CustomObjectsApi;
  readonly kubelet: LocalKubelet;
  readonly #root: string;
  readonly #operatorKubeconfig: string;
  readonly #nodeConfigs = new Map<string, KubeConfig>();
  readonly #bouncing = new Set<string>();
  readonly #ports = new Map<string, [number, number]>();
  #supervisor: NodeJS.Timeout | undefined;

  private constructor(cp: ControlPlane, operatorKubeconfig: string, root: string) {
    this.cp = cp;
    this.#root = root;
    this.#operatorKubeconfig = operatorKubeconfig;
    this.admin = cp.kubeConfig();
    this.core = this.admin.makeApiClient(CoreV1Api);
    this.custom = this.admin.makeApiClient(CustomObjectsApi);
    this.kubelet = new LocalKubelet({
      admin: this.admin,
      server: cp.server,
      caFile: cp.caFile,
      namespace: NAMESPACE,
      tokenIdentity: (node) => this.#nodeIdentity(node),
      cellMain: path.join(root, 'dist/src/cell/main.js'),
    });
  }

  static async start(opts: SystemOptions): Promise<System> {
    const root = repoRoot();
    const cp = await ControlPlane.start({
      stateDir: path.join(cacheDir(), `chaos-${process.pid}`),
      nodeMonitorGracePeriod: `${opts.nodeGraceS}s`,
      // SIGINT/SIGTERM end the run after the current incident (chaos.ts), then stop() stops the
      // cluster; the exit handler still stops it if the process exits any other way.
      stopOnSignal: false,
      log: (l) => opts.log(`cluster: ${l}`),
    });
    const admin = cp.kubeConfig();
    await installOperatorPrerequisites(admin);
    const objects = KubernetesObjectApi.makeApiClient(admin);
    await applyObject(
      objects,
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE } },
      { fieldManager: MANAGER },
    );
    const sa = await cp.kubeconfigForServiceAccount(
      DEFAULT_OPERATOR_NAMESPACE,
      OPERATOR_NAME,
      undefined,
      86_400,
    );
    const sys = new System(cp, sa, root);
    if (opts.operatorHttp)
      for (const name of OPERATORS) sys.#ports.set(name, [await freePort(), await freePort()]);
    // One at a time: a node's kwok network (pod CIDR) comes from the nodes recorded before it.
    for (const [n, z] of NODE_ZONES) await sys.addNode(n, z);
    for (const name of OPERATORS) sys.startOperator(name);
    // The cells are this process's children: an exit must not leave them running. SIGINT/SIGTERM
    // belong to the run (chaos.ts: end after the current incident, then stop()); killing the cells
    // on them made every holder die at once, counted as secrets lost. A hang-up ends everything.
    process.on('exit', () => sys.killCellsSync());
    process.once('SIGHUP', () => process.exit(129));
    await sys.kubelet.start();
    for (const c of COLONIES)
      await applyObject(objects, colonyBody(c) as KubernetesObject, { fieldManager: MANAGER });
    return sys;
  }

  #nodeIdentity(node: string): KubeConfig {
    let kc = this.#nodeConfigs.get(node);
    if (!kc) {
      kc = new KubeConfig();
      kc.loadFromFile(this.cp.kubeconfigForUser(`system:node:${node}`, ['system:nodes']));
      this.#nodeConfigs.set(node, kc);
    }
    return kc;
  }

  /**
   * Adds (or re-adds, after deleteNode) a hardened kwok node in `zone`. Once the lock-down is in
   * place only the operator may set the hardened label (admin is refused), so a re-added node is
   * labelled with the operator's credentials, as its hardening would.
   */
  async addNode(name: string, zone: string, lockedDown = false): Promise<void> {
    const hardened: Record<string, string> = lockedDown ? {} : { [LABELS.hardened]: HARDENED_VALUE };
    await this.cp.addNode(name, { labels: { [ZONE_LABEL]: zone, ...hardened } });
    if (!lockedDown) return;
    const asOperator = new KubeConfig();
    asOperator.loadFromFile(this.#operatorKubeconfig);
    await asOperator
      .makeApiClient(CoreV1Api)
      .patchNode(
        { name, body: { metadata: { labels: { [LABELS.hardened]: HARDENED_VALUE } } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
  }

  zoneOf(node: string): string {
    return NODE_ZONES.find(([n]) => n === node)?.[1] ?? '?';
  }

  /** Starts operator replica `name` (a separate process, leader election on). */
  startOperator(name: string): void {
    spawnComponent({
      name,
      bin: process.execPath,
      args: [
        ...OPERATOR_NODE_FLAGS,
        path.join(this.#root, 'dist/src/main.js'),
        '--kubeconfig',
        this.#operatorKubeconfig,
        '--namespace',
        NAMESPACE,
        '--leader-elect',
        'true',
        '--node-loss-after',
        String(NODE_LOSS_AFTER_S),
        '--metrics-addr',
        this.#addr(name, 0),
        '--health-addr',
        this.#addr(name, 1),
      ],
      stateDir: this.cp.stateDir,
    });
  }

  #addr(name: string, i: 0 | 1): string {
    const port = this.#ports.get(name)?.[i];
    return port === undefined ? '0' : `127.0.0.1:${port}`;
  }

  operatorPid(name: string): number | undefined {
    const rec = readPid(this.cp.stateDir, name);
    return rec && isAlive(rec) ? rec.pid : undefined;
  }

  /**
   * Stops operator replica `name` with SIGKILL (a crash) or SIGTERM (graceful: it releases the
   * lease), then starts it again (as its Deployment would; not counted as an unexpected exit).
   */
  async bounceOperator(name: string, signal: 'SIGKILL' | 'SIGTERM'): Promise<void> {
    this.#bouncing.add(name);
    try {
      const pid = this.operatorPid(name);
      if (pid !== undefined && signal === 'SIGKILL') process.kill(pid, 'SIGKILL');
      await stopComponent(this.cp.stateDir, name, 5000);
      await new Promise((r) => setTimeout(r, 1000));
      this.startOperator(name);
    } finally {
      this.#bouncing.delete(name);
    }
  }

  /**
   * Plays the operator's Deployment: a replica that exits without the harness stopping it (e.g. it
   * lost the leader lease, or crashed) is started again within a second, and `onExit` hears of it.
   */
  superviseOperators(onExit: (name: string) => void): void {
    this.#supervisor = setInterval(() => {
      for (const name of OPERATORS) {
        if (this.#bouncing.has(name) || this.operatorPid(name) !== undefined) continue;
        onExit(name);
        this.startOperator(name);
      }
    }, 1000);
  }

  /** The replica holding the leader Lease (by its identity `<host>-<pid>`), if any. */
  async leader(): Promise<string | undefined> {
    const leases = this.admin.makeApiClient(CoordinationV1Api);
    const lease = await leases.readNamespacedLease({
      name: LEADER_LEASE,
      namespace: DEFAULT_OPERATOR_NAMESPACE,
    });
    const holder = lease.spec?.holderIdentity ?? '';
    return OPERATORS.find((n) => {
      const pid = this.operatorPid(n);
      return pid !== undefined && holder.endsWith(`-${pid}`);
    });
  }

  async colonies(): Promise<Colony[]> {
    const list = (await this.custom.listNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: NAMESPACE,
      plural: 'colonies',
    })) as { items: Colony[] };
    return list.items;
  }

  async cells(): Promise<Cell[]> {
    const list = (await this.custom.listNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: NAMESPACE,
      plural: CELL_PLURAL,
    })) as { items: Cell[] };
    return list.items;
  }

  kubectl(args: string[]): string[] {
    return [path.join(this.cp.state.binDir, 'kubectl'), '--kubeconfig', this.cp.adminKubeconfig, ...args];
  }

  logsDir(): string {
    return path.join(this.cp.stateDir, 'logs');
  }

  killCellsSync(): void {
    for (const c of this.kubelet.cells()) if (c.exitCode === undefined) c.process.kill('SIGKILL');
  }

  async stop(): Promise<void> {
    clearInterval(this.#supervisor);
    for (const n of this.cp.nodeNames()) this.kubelet.partition(n, false);
    this.kubelet.stallAll(false);
    await this.kubelet.stop();
    await this.cp.stop();
  }
}
