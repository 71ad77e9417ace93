// The operator: a list of controllers and their configuration. The manager (src/runtime/manager.ts)
// runs them: shared informers, the leader gate, start order, resync on leadership, readiness and
// shutdown. Used by src/main.ts and, in process, by integration tests. A new controller is one
// module exporting a descriptor and one line in controllerList().
import { CoordinationV1Api, CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { hostname } from 'node:os';
import { Registry } from 'prom-client';
import {
  CELL_PLURAL,
  DEFAULT_OPERATOR_NAMESPACE,
  GROUP,
  LABELS,
  MANAGER,
  VERSION,
  type Cell,
} from './api/types.js';
import { cellController } from './controllers/cell.js';
import { colonyController } from './controllers/colony.js';
import type { ControllerContext, ControllerDeps, LiveReader } from './controllers/context.js';
import { FloorGuard, MASS_DISRUPTION_DEFAULTS, type MassDisruptionOptions } from './controllers/guard.js';
import { floorMetrics } from './controllers/floor-metrics.js';
import { LEADER_LEASE, OPERATOR_NAME } from './builders/rbac-rules.js';
import { defaultHijackPath, hardeningController, loadHijackScript } from './controllers/node.js';
import { lockdownController, type Lockdown } from './controllers/lockdown-wiring.js';
import { NODE_LEASE_NAMESPACE } from './controllers/node-lease.js';
import { nodeLiveness } from './controllers/node-liveness.js';
import { PlacementLedger } from './controllers/placement.js';
import { caches, type Caches } from './controllers/resources.js';
import { ApiWriter } from './controllers/writer.js';
import type { Logger } from './observability/logger.js';
import { systemClock, type Clock } from './runtime/clock.js';
import { Informer } from './runtime/informer.js';
import { coordinationLeaseClient, LeaderElector } from './runtime/leader.js';
import { isNotFound } from './observability/errors.js';
import { Manager, type ControllerDescriptor, type Elector, type LeadershipHooks } from './runtime/manager.js';
import { TimedKubeConfig } from './runtime/timed-kubeconfig.js';
import { PRIORITY, type Priority, type RateLimit } from './runtime/rate-limit.js';
import { defaultPriority, DEFAULT_WRITE_LIMIT, WriteClient, type WriteRequest } from './runtime/write.js';
import { RetirementGate, retirementWindowMs } from './controllers/retirement.js';

export interface OperatorConfig {
  kubeConfig: KubeConfig;
  logger: Logger;
  /** Watch one namespace only; undefined = all. */
  namespace?: string;
  leaderElect?: boolean;
  leaderNamespace?: string;
  workers?: number;
  registry?: Registry;
  /**
   * The one clock: reconcilers read the time from it, work queues and informers schedule on it.
   * Defaults to the system clock.
   */
  clock?: Clock;
  /**
   * Guard the lock-down admission policies (install, restore, report). Off means development mode:
   * colonies say LockdownDisabled. Default: on.
   */
  lockdown?: boolean;
  /** At most one LockdownTampered event per this many ms (later incidents are summed). Default 60 s. */
  lockdownEventIntervalMs?: number;
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
  /** Client-side limit on the operator's writes (--write-qps, --write-burst); default 50/s, 100 at once. */
  writeLimit?: RateLimit;
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
  const custom = kc.makeApiClient(CustomObjectsApi);
  return {
    lease: (node) =>
      orAbsent(coordination.readNamespacedLease({ name: node, namespace: NODE_LEASE_NAMESPACE })),
    pod: (namespace, name) => orAbsent(core.readNamespacedPod({ name, namespace })),
    node: (name) => orAbsent(core.readNode({ name })),
    cells: async (namespace, colony) => {
      const list = (await custom.listNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace,
        plural: CELL_PLURAL,
        labelSelector: `${LABELS.colony}=${colony}`,
      })) as { items?: Cell[] };
      return list.items ?? [];
    },
  };
}

type Config = OperatorConfig & { registry: Registry; now: () => Date };

/** The elector on the operator's leader Lease; absent without --leader-elect (always leading). */
/** A leader-election request must answer well within the renew deadline (10 s), or be retried. */
const LEASE_REQUEST_TIMEOUT_MS = 4_000;

function electorFor(cfg: Config): ((hooks: LeadershipHooks) => Elector) | undefined {
  if (!cfg.leaderElect) return undefined;
  return (hooks) =>
    new LeaderElector({
      client: coordinationLeaseClient(
        TimedKubeConfig.from(cfg.kubeConfig, LEASE_REQUEST_TIMEOUT_MS).makeApiClient(CoordinationV1Api),
      ),
      namespace: cfg.leaderNamespace ?? DEFAULT_OPERATOR_NAMESPACE,
      name: LEADER_LEASE,
      identity: `${hostname()}-${process.pid}`,
      logger: cfg.logger,
      clock: cfg.clock,
      ...hooks,
    });
}

interface Writes {
  client: WriteClient;
  writer: ApiWriter;
}

function lockdownFor(cfg: Config, m: Manager, c: Caches, w: Writes): Lockdown | undefined {
  if (cfg.lockdown === false) return undefined;
  return lockdownController({
    client: w.client,
    logger: cfg.logger,
    registry: cfg.registry,
    opts: {
      operatorNamespace: cfg.operatorNamespace ?? DEFAULT_OPERATOR_NAMESPACE,
      operatorServiceAccount: OPERATOR_NAME,
    },
    nodes: c.nodes,
    cells: c.cells,
    colonies: c.colonies,
    pods: c.pods,
    informers: m,
    // A lock-down state change, or a new colony namespace locked, re-reconciles every colony (no
    // seeding while it is broken; no cell before its namespace's key).
    onChange: () => m.resync('colony'),
    now: cfg.now,
    eventIntervalMs: cfg.lockdownEventIntervalMs,
  });
}

function hardeningFor(
  cfg: Config,
  m: Manager,
  c: Caches,
  client: WriteClient,
): ControllerDescriptor | undefined {
  if (cfg.hardening === false) return undefined;
  return hardeningController({
    write: client,
    opts: {
      namespace: cfg.operatorNamespace ?? DEFAULT_OPERATOR_NAMESPACE,
      script: loadHijackScript(cfg.hijackPath ?? defaultHijackPath()),
      nodeLeaseSeconds: cfg.hardenedNodeLeaseSeconds,
    },
    colonies: c.colonies,
    nodes: c.nodes,
    informers: m,
    now: cfg.now,
  });
}

/** Kinds the lock-down restores: written before anything else waiting (a hole must close first). */
const LOCKDOWN_KINDS = new Set([
  'ValidatingAdmissionPolicy',
  'ValidatingAdmissionPolicyBinding',
  'LockdownParameters',
]);

/** Which writes go first when the write limit makes them wait: lock-down restores and status, events last. */
export function writePriority(w: WriteRequest): Priority {
  const restore = (w.verb === 'create' || w.verb === 'replace') && LOCKDOWN_KINDS.has(w.kind ?? '');
  return restore ? PRIORITY.high : defaultPriority(w);
}

/** The operator's controllers, in resync order. */
function controllerList(
  deps: ControllerDeps,
  lockdown: Lockdown | undefined,
  hardening: ControllerDescriptor | undefined,
): ControllerDescriptor[] {
  return [colonyController(deps), cellController(deps), lockdown?.controller, hardening].filter(
    (d): d is ControllerDescriptor => d !== undefined,
  );
}

export async function startOperator(config: OperatorConfig): Promise<Operator> {
  const registry = config.registry ?? new Registry();
  const clock = config.clock ?? systemClock;
  const now = (): Date => new Date(clock.now());
  // Every request of this operator ends (a deadline per request; watches are bounded by the informer).
  const cfg: Config = {
    ...config,
    kubeConfig: TimedKubeConfig.from(config.kubeConfig),
    registry,
    now,
    clock,
  };
  const guard = new FloorGuard(cfg.massDisruption ?? MASS_DISRUPTION_DEFAULTS, now());
  const m = new Manager({
    logger: cfg.logger,
    registry,
    clock,
    informers: ({ shape, ...spec }) =>
      new Informer<object>({
        kubeConfig: cfg.kubeConfig,
        logger: cfg.logger,
        clock,
        ...spec,
        transform: shape ? (obj): object => shape.keep(obj) : undefined,
      }),
    elector: electorFor(cfg),
    onSynced: () => {
      cfg.logger.info({ namespace: cfg.namespace ?? '(all)' }, 'caches synced');
      // Silence is counted from when this replica starts leading: what happened before, it did not see.
      guard.restart(now(), 'the operator started');
    },
    onGainedLeadership: () => guard.restart(now(), 'this replica gained the leader lease'),
    onLostLeadership: cfg.onLostLeadership,
  });
  const c = caches(m, cfg.namespace);
  // A node's Lease wakes its cells only when the node's liveness verdict changes (one timer per node).
  const liveness = nodeLiveness({ leases: c.nodeLeases, guard, nodeLossAfter: cfg.nodeLossAfter, clock });
  guard.onRestart(() => liveness.rejudge());
  // One write client, one field manager; every write asks the manager's leader gate first
  // (NotLeaderError when this replica does not lead).
  const client = new WriteClient({
    kubeConfig: cfg.kubeConfig,
    fieldManager: MANAGER,
    now,
    fence: () => m.isLeading(),
    rateLimit: cfg.writeLimit ?? DEFAULT_WRITE_LIMIT,
    priority: writePriority,
    clock,
  });
  const write = new ApiWriter(client);
  const lockdown = lockdownFor(cfg, m, c, { client, writer: write });
  const ctx: ControllerContext = {
    ...c,
    write,
    live: liveReader(cfg.kubeConfig),
    guard,
    metrics: floorMetrics(registry),
    lockdown: () => lockdown?.state() ?? 'Disabled',
    lockdownBreaks: lockdown?.breaks,
    lockdownNamespace: lockdown ? (ns: string): string | undefined => lockdown.namespaceWait(ns) : undefined,
    nodeLossAfter: cfg.nodeLossAfter,
    placements: new PlacementLedger(),
    retirements: new RetirementGate(retirementWindowMs(cfg.nodeLossAfter)),
    now,
    log: cfg.logger,
  };
  const deps: ControllerDeps = { ctx, caches: c, nodeLiveness: liveness, concurrency: cfg.workers ?? 4 };
  for (const d of controllerList(deps, lockdown, hardeningFor(cfg, m, c, client))) m.add(d);
  await m.start();
  return { registry, ready: () => m.ready(), stop: () => m.stop() };
}
