// Assembles the operator: informers (the cache reconcilers read), controllers (one per kind), the
// writer, and optional leader election. Used by src/main.ts and, in process, by integration tests.
import {
  CoordinationV1Api,
  CoreV1Api,
  type KubeConfig,
  type V1ClusterRoleBinding,
  type V1Lease,
  type V1Node,
  type V1Pod,
  type V1NetworkPolicy,
  type V1PodDisruptionBudget,
  type V1RoleBinding,
  type V1ServiceAccount,
} from '@kubernetes/client-node';
import { hostname } from 'node:os';
import { Registry } from 'prom-client';
import {
  CELL_PLURAL,
  COLONY_PLURAL,
  DEFAULT_OPERATOR_NAMESPACE,
  GROUP,
  LABELS,
  MANAGER,
  VERSION,
  type Cell,
  type Colony,
} from './api/types.js';
import { reconcileCell } from './controllers/cell.js';
import { reconcileColony } from './controllers/colony.js';
import type { ControllerContext, LiveReader } from './controllers/context.js';
import { FloorGuard, MASS_DISRUPTION_DEFAULTS, type MassDisruptionOptions } from './controllers/guard.js';
import { floorMetrics } from './controllers/floor-metrics.js';
import { LEADER_LEASE, OPERATOR_NAME } from './controllers/rbac.js';
import { COLONY_NAMESPACE_LABEL } from './builders/cell-rbac.js';
import {
  defaultHijackPath,
  HARDENING_KEY,
  loadHijackScript,
  nodeHardening,
  type NodeHardening,
} from './controllers/node.js';
import { startLockdown, type Lockdown } from './controllers/lockdown-wiring.js';
import { LOCKDOWN_KEY } from './controllers/lockdown.js';
import { NODE_LEASE_NAMESPACE } from './controllers/node-lease.js';
import { ApiWriter } from './controllers/writer.js';
import type { Logger } from './observability/logger.js';
import { Controller, mapToOwner, mapToSelf } from './runtime/controller.js';
import { Informer } from './runtime/informer.js';
import { coordinationLeaseClient, LeaderElector } from './runtime/leader.js';
import { isNotFound } from './runtime/kube.js';
import { TimedKubeConfig } from './runtime/timed-kubeconfig.js';

export interface OperatorConfig {
  kubeConfig: KubeConfig;
  logger: Logger;
  /** Watch one namespace only; undefined = all. */
  namespace?: string;
  leaderElect?: boolean;
  leaderNamespace?: string;
  workers?: number;
  registry?: Registry;
  /** Injected clock for reconcilers; defaults to the wall clock. */
  now?: () => Date;
  /**
   * Guard the lock-down admission policies (install, restore, report). Off means development mode:
   * colonies say LockdownDisabled. Default: on.
   */
  lockdown?: boolean;
  /** Namespace and service account of the operator, named in the policies. */
  operatorNamespace?: string;
  /**
   * Harden nodes for `provider: adopt` colonies (one-shot privileged Job running hijack.sh on each
   * chosen node). Default: on. The script is read from `hijackPath` (default: the repository's).
   */
  hardening?: boolean;
  hijackPath?: string;
  /** nodeLeaseDurationSeconds the hardening step sets in hardened kubelets; undefined = theirs. */
  hardenedNodeLeaseSeconds?: number;
  /**
   * Seconds after a node's last Lease renewal before its cells are declared dead (NodeLost).
   * Default: three renew intervals of the Lease (0.75 × leaseDurationSeconds; 30 s for a kubelet).
   */
  nodeLossAfter?: number;
  /**
   * The mass-disruption guard: when more than `fraction` of the nodes hosting cells (at least
   * `minNodes` of them) are silent at once, silence is a control-plane fault and no holder is
   * suspected. Default: 0.5 and 3 (docs/floor.md).
   */
  massDisruption?: MassDisruptionOptions;
  /** Called when this replica loses the leader lease (main exits: another replica may act now). */
  onLostLeadership?: () => void;
}

export interface Operator {
  /** True once every informer has listed (leader or standby). */
  ready(): boolean;
  readonly registry: Registry;
  stop(): Promise<void>;
}

/** 404 → undefined; any other error propagates (the caller must not take it for absence). */
async function orAbsent<T>(read: Promise<T>): Promise<T | undefined> {
  try {
    return await read;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** Reads that bypass the informers' caches (src/controllers/context.ts LiveReader). */
function liveReader(kc: KubeConfig): LiveReader {
  const core = kc.makeApiClient(CoreV1Api);
  const coordination = kc.makeApiClient(CoordinationV1Api);
  return {
    lease: (node) =>
      orAbsent(coordination.readNamespacedLease({ name: node, namespace: NODE_LEASE_NAMESPACE })),
    pod: (namespace, name) => orAbsent(core.readNamespacedPod({ name, namespace })),
    node: (name) => orAbsent(core.readNode({ name })),
  };
}

function collection(group: string, plural: string, namespace?: string): string {
  const base = group === '' ? '/api/v1' : `/apis/${group}`;
  return namespace ? `${base}/namespaces/${namespace}/${plural}` : `${base}/${plural}`;
}

const MANAGED = `${LABELS.managedBy}=${MANAGER}`;

interface Informers {
  colonies: Informer<Colony>;
  cells: Informer<Cell>;
  pods: Informer<V1Pod>;
  serviceAccounts: Informer<V1ServiceAccount>;
  roleBindings: Informer<V1RoleBinding>;
  networkPolicies: Informer<V1NetworkPolicy>;
  disruptionBudgets: Informer<V1PodDisruptionBudget>;
  clusterRoleBindings: Informer<V1ClusterRoleBinding>;
  nodes: Informer<V1Node>;
  nodeLeases: Informer<V1Lease>;
}

interface Lifecycle {
  start(): void;
  stop(): Promise<void>;
  waitForSync(): Promise<void>;
  hasSynced(): boolean;
}

function informers(cfg: OperatorConfig): Informers {
  const ns = cfg.namespace;
  const common = { kubeConfig: cfg.kubeConfig, logger: cfg.logger };
  return {
    colonies: new Informer<Colony>({ ...common, path: collection(`${GROUP}/${VERSION}`, COLONY_PLURAL, ns) }),
    cells: new Informer<Cell>({ ...common, path: collection(`${GROUP}/${VERSION}`, CELL_PLURAL, ns) }),
    pods: new Informer<V1Pod>({ ...common, path: collection('', 'pods', ns), labelSelector: MANAGED }),
    serviceAccounts: new Informer<V1ServiceAccount>({
      ...common,
      path: collection('', 'serviceaccounts', ns),
      labelSelector: MANAGED,
    }),
    roleBindings: new Informer<V1RoleBinding>({
      ...common,
      path: collection('rbac.authorization.k8s.io/v1', 'rolebindings', ns),
      labelSelector: MANAGED,
    }),
    networkPolicies: new Informer<V1NetworkPolicy>({
      ...common,
      path: collection('networking.k8s.io/v1', 'networkpolicies', ns),
      labelSelector: MANAGED,
    }),
    disruptionBudgets: new Informer<V1PodDisruptionBudget>({
      ...common,
      path: collection('policy/v1', 'poddisruptionbudgets', ns),
      labelSelector: MANAGED,
    }),
    clusterRoleBindings: new Informer<V1ClusterRoleBinding>({
      ...common,
      path: collection('rbac.authorization.k8s.io/v1', 'clusterrolebindings'),
      labelSelector: MANAGED,
    }),
    nodes: new Informer<V1Node>({ ...common, path: collection('', 'nodes') }),
    // Node heartbeats: a Lease that stops being renewed is node loss in seconds (src/controllers/node-lease.ts).
    nodeLeases: new Informer<V1Lease>({
      ...common,
      path: collection('coordination.k8s.io/v1', 'leases', NODE_LEASE_NAMESPACE),
    }),
  };
}

/** Reconciles run only while this replica leads (always, without leader election). */
interface Gate {
  isLeading: () => boolean;
}

/** The colony a cell ClusterRoleBinding belongs to (its labels name it). */
function colonyOfBinding(crb: V1ClusterRoleBinding): string | undefined {
  const l = crb.metadata?.labels ?? {};
  const ns = l[COLONY_NAMESPACE_LABEL];
  const name = l[LABELS.colony];
  return ns && name ? `${ns}/${name}` : undefined;
}

function resync(inf: Informers, ctrls: Controller[]): void {
  const [colony, cell, ...singletons] = ctrls;
  inf.colonies.list().forEach((c) => colony?.enqueue(mapToSelf(c)));
  inf.cells.list().forEach((c) => cell?.enqueue(mapToSelf(c)));
  for (const c of singletons) c.enqueue(c.name === 'lockdown' ? LOCKDOWN_KEY : HARDENING_KEY);
}

function controllers(cfg: OperatorConfig, inf: Informers, ctx: ControllerContext, gate: Gate): Controller[] {
  const common = { logger: cfg.logger, concurrency: cfg.workers ?? 4, registry: cfg.registry };
  const colony = new Controller({
    ...common,
    name: 'colony',
    reconcile: async (req) => (gate.isLeading() ? reconcileColony({ ...ctx, log: req.log }, req.key) : {}),
  });
  colony
    .watch(inf.colonies, mapToSelf)
    .watch(inf.cells, mapToOwner('Colony'))
    .watch(inf.serviceAccounts, mapToOwner('Colony'))
    .watch(inf.roleBindings, mapToOwner('Colony'))
    .watch(inf.networkPolicies, mapToOwner('Colony'))
    .watch(inf.disruptionBudgets, mapToOwner('Colony'))
    .watch(inf.clusterRoleBindings, (crb) => colonyOfBinding(crb))
    // Node changes (readiness, labels, taints) can change placement for every colony.
    .watch(inf.nodes, () => inf.colonies.list().map(mapToSelf));

  const cell = new Controller({
    ...common,
    name: 'cell',
    reconcile: async (req) => (gate.isLeading() ? reconcileCell({ ...ctx, log: req.log }, req.key) : {}),
  });
  // A node or its Lease changed: re-check the cells on that node (a Lease is named after its node).
  const cellsOn = (o: { metadata?: { name?: string } }): string[] =>
    inf.cells
      .list()
      .filter((c) => c.spec.node === o.metadata?.name)
      .map(mapToSelf);
  cell
    .watch(inf.cells, mapToSelf)
    .watch(inf.pods, mapToOwner('Cell'))
    .watch(inf.nodes, cellsOn)
    .watch(inf.nodeLeases, cellsOn);
  return [colony, cell];
}

function lockdownFor(
  cfg: OperatorConfig & { registry: Registry },
  inf: Informers,
  write: ApiWriter,
  hooks: { isLeading: () => boolean; onChange: () => void },
): Lockdown | undefined {
  if (cfg.lockdown === false) return undefined;
  return startLockdown({
    kubeConfig: cfg.kubeConfig,
    logger: cfg.logger,
    registry: cfg.registry,
    opts: {
      operatorNamespace: cfg.operatorNamespace ?? DEFAULT_OPERATOR_NAMESPACE,
      operatorServiceAccount: OPERATOR_NAME,
    },
    nodes: inf.nodes,
    cells: inf.cells,
    colonies: inf.colonies,
    write,
    ...hooks,
  });
}

function hardeningFor(
  cfg: OperatorConfig & { registry: Registry },
  inf: Informers,
  isLeading: () => boolean,
): NodeHardening | undefined {
  if (cfg.hardening === false) return undefined;
  return nodeHardening({
    kubeConfig: cfg.kubeConfig,
    logger: cfg.logger,
    registry: cfg.registry,
    now: cfg.now,
    opts: {
      namespace: cfg.operatorNamespace ?? DEFAULT_OPERATOR_NAMESPACE,
      script: loadHijackScript(cfg.hijackPath ?? defaultHijackPath()),
      nodeLeaseSeconds: cfg.hardenedNodeLeaseSeconds,
    },
    colonies: inf.colonies,
    nodes: inf.nodes,
    isLeading,
  });
}

/**
 * Appends the single-key controllers (lock-down, hardening) and their informers. Order matters to
 * resync(): colony, cell, then these.
 */
function addSingletons(
  ctrls: Controller[],
  informers: Lifecycle[],
  parts: Array<{ controller: Controller; informers: Array<Informer<object>> } | undefined>,
): Lifecycle[] {
  for (const part of parts) {
    if (!part) continue;
    ctrls.push(part.controller);
    informers.push(...part.informers);
  }
  return informers;
}

interface Election {
  leading: boolean;
  elector?: LeaderElector;
}

function elect(cfg: OperatorConfig, onGained: () => void): Election {
  const e: Election = { leading: !cfg.leaderElect };
  if (!cfg.leaderElect) return e;
  e.elector = new LeaderElector({
    client: coordinationLeaseClient(
      TimedKubeConfig.from(cfg.kubeConfig, LEASE_REQUEST_TIMEOUT_MS).makeApiClient(CoordinationV1Api),
    ),
    namespace: cfg.leaderNamespace ?? DEFAULT_OPERATOR_NAMESPACE,
    name: LEADER_LEASE,
    identity: `${hostname()}-${process.pid}`,
    logger: cfg.logger,
    onStartedLeading: () => {
      e.leading = true;
      onGained();
    },
    onStoppedLeading: () => {
      const was = e.leading;
      e.leading = false;
      if (was) cfg.onLostLeadership?.();
    },
  });
  return e;
}

/** A leader-election request must answer well within the renew deadline (10 s), or be retried. */
const LEASE_REQUEST_TIMEOUT_MS = 4_000;

export async function startOperator(config: OperatorConfig): Promise<Operator> {
  // Every request of this operator ends (a deadline per request; watches bound by the informer).
  const cfg = { ...config, kubeConfig: TimedKubeConfig.from(config.kubeConfig) };
  const registry = cfg.registry ?? new Registry();
  const now = cfg.now ?? ((): Date => new Date());
  const inf = informers({ ...cfg, registry });
  const gate: Gate = { isLeading: () => false };
  const write = new ApiWriter(cfg.kubeConfig, now, () => gate.isLeading());
  const lockdown = lockdownFor({ ...cfg, registry }, inf, write, {
    isLeading: () => gate.isLeading(),
    onChange: () => inf.colonies.list().forEach((c) => ctrls[0]?.enqueue(mapToSelf(c))),
  });
  const guard = new FloorGuard(cfg.massDisruption ?? MASS_DISRUPTION_DEFAULTS, now());
  const ctx: ControllerContext = {
    ...inf,
    write,
    live: liveReader(cfg.kubeConfig),
    guard,
    metrics: floorMetrics(registry),
    lockdown: () => lockdown?.state() ?? 'Disabled',
    nodeLossAfter: cfg.nodeLossAfter,
    now,
    log: cfg.logger,
  };
  const ctrls = controllers({ ...cfg, registry }, inf, ctx, gate);
  const hardening = hardeningFor({ ...cfg, registry }, inf, () => gate.isLeading());
  const all = addSingletons(ctrls, Object.values(inf) as Lifecycle[], [lockdown, hardening]);
  all.forEach((i) => i.start());
  await Promise.all(all.map((i) => i.waitForSync()));
  cfg.logger.info({ namespace: cfg.namespace ?? '(all)' }, 'caches synced');

  // Controllers run from the start; without the lease their reconciles do nothing. Gaining the
  // lease re-enqueues every object, so nothing that changed meanwhile is missed.
  // Silence is counted from when this replica starts leading: what happened before, it did not see.
  guard.restart(now(), 'the operator started');
  const election = elect(cfg, () => {
    guard.restart(now(), 'this replica gained the leader lease');
    resync(inf, ctrls);
  });
  // Fails closed: the elector's answer expires with its renewal (a stalled replica resumes as no one).
  gate.isLeading = () => (election.elector ? election.elector.isLeader() : election.leading);
  ctrls.forEach((c) => c.start());
  if (election.elector) election.elector.start();
  else resync(inf, ctrls);

  return {
    registry,
    // Ready = caches synced, leader or standby: a standby must count as ready or a rolling update
    // of a two-replica Deployment never finishes.
    ready: () => all.every((i) => i.hasSynced()),
    stop: async () => {
      await Promise.all(ctrls.map((c) => c.stop()));
      await election.elector?.stop();
      await Promise.all(all.map((i) => i.stop()));
    },
  };
}
