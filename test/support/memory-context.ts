// An in-memory ControllerContext for reconcile tests: array-backed readers (the informers' caches),
// a live reader that can disagree with them (a cache that lags, an API server that does not answer),
// a writer that records every write and applies it to the world so the next reconcile sees it, and a
// fake clock. No API server, no timers: a reconcile is a pure function of this world.
import type {
  V1ClusterRoleBinding,
  V1Lease,
  V1Node,
  V1Pod,
  V1NetworkPolicy,
  V1PodDisruptionBudget,
  V1Service,
  V1RoleBinding,
  V1ServiceAccount,
} from '@kubernetes/client-node';
import { LABELS, type Cell, type Colony } from '../../src/api/types.js';
import type {
  ControllerContext,
  EventRef,
  Kind,
  LiveReader,
  LockdownState,
  Reader,
  Writer,
} from '../../src/controllers/context.js';
import {
  FloorGuard,
  MASS_DISRUPTION_DEFAULTS,
  type MassDisruptionOptions,
} from '../../src/controllers/guard.js';
import { PlacementLedger } from '../../src/controllers/placement.js';
import { createLogger } from '../../src/observability/logger.js';

type Obj = { metadata?: { namespace?: string; name?: string; uid?: string } };

const keyOf = (ns: string | undefined, name: string): string => `${ns ?? ''}/${name}`;

/** A cache: a list of objects, looked up by namespace and name. */
export class MemoryReader<T extends Obj> implements Reader<T> {
  constructor(public items: T[] = []) {}

  get(namespace: string | undefined, name: string): T | undefined {
    return this.items.find(
      (o) => keyOf(o.metadata?.namespace, o.metadata?.name ?? '') === keyOf(namespace, name),
    );
  }

  list(namespace?: string): T[] {
    return this.items.filter((o) => namespace === undefined || o.metadata?.namespace === namespace);
  }

  /** Adds or replaces (by namespace/name). */
  put(obj: T): void {
    this.remove(obj.metadata?.namespace, obj.metadata?.name ?? '');
    this.items.push(obj);
  }

  remove(namespace: string | undefined, name: string): void {
    this.items = this.items.filter(
      (o) => keyOf(o.metadata?.namespace, o.metadata?.name ?? '') !== keyOf(namespace, name),
    );
  }
}

export type Write =
  | { op: 'apply'; kind: string; name: string; node?: string }
  | { op: 'delete'; kind: Kind; namespace: string; name: string; uid?: string }
  | { op: 'status'; kind: 'Colony' | 'Cell'; name: string; status: Record<string, unknown> }
  | { op: 'event'; type: 'Normal' | 'Warning'; reason: string; message: string; name: string };

/** Records every write and applies it to the world (create, delete, status) like the API would. */
export class RecordingWriter implements Writer {
  readonly writes: Write[] = [];

  /** Kinds whose created objects the cache does not show yet (a lagging informer); they wait in `heldBack`. */
  readonly lagging = new Set<string>();
  readonly heldBack: Array<Obj & { kind?: string }> = [];

  constructor(private readonly world: MemoryWorld) {}

  async apply(obj: { apiVersion?: string; kind?: string; metadata?: object }): Promise<void> {
    const meta = (obj.metadata ?? {}) as { name?: string; namespace?: string; uid?: string };
    const kind = obj.kind ?? '';
    const node = kind === 'Cell' ? (obj as Cell).spec.node : undefined;
    this.writes.push({ op: 'apply', kind, name: meta.name ?? '', node });
    const created = { ...obj, metadata: { uid: `uid-${meta.name}`, ...meta } };
    if (this.lagging.has(kind)) this.heldBack.push({ ...created, kind });
    else this.world.readerFor(kind)?.put(created);
    await Promise.resolve();
  }

  /** The lagging cache catches up: every held-back object shows. */
  catchUp(): void {
    for (const o of this.heldBack.splice(0)) this.world.readerFor(o.kind ?? '')?.put(o);
  }

  async delete(kind: Kind, namespace: string, name: string, uid?: string): Promise<void> {
    this.writes.push({ op: 'delete', kind, namespace, name, uid });
    this.world.readerFor(kind)?.remove(namespace || undefined, name);
    await Promise.resolve();
  }

  /** The memory world shows every write at once: the cached object is the latest. */
  latest<T extends Colony | Cell>(_kind: 'Colony' | 'Cell', cached: T): T {
    return cached;
  }

  async patchStatus(
    kind: 'Colony' | 'Cell',
    current: Colony | Cell,
    status: object,
    keep: readonly string[] = [],
  ): Promise<boolean> {
    const reader = kind === 'Colony' ? this.world.colonies : this.world.cells;
    const live = reader.get(current.metadata.namespace, current.metadata.name ?? '') ?? current;
    const liveStatus = (live.status ?? {}) as Record<string, unknown>;
    const next: Record<string, unknown> = { ...status };
    for (const k of keep) if (liveStatus[k] !== undefined) next[k] = liveStatus[k];
    for (const k of Object.keys(next)) if (next[k] === undefined) delete next[k];
    if (JSON.stringify(sorted(next)) === JSON.stringify(sorted(liveStatus))) return false;
    this.writes.push({ op: 'status', kind, name: current.metadata.name ?? '', status: next });
    reader.put({ ...live, status: next } as never);
    return Promise.resolve(true);
  }

  async event(ref: EventRef, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    this.writes.push({ op: 'event', type, reason, message, name: ref.name });
    await Promise.resolve();
  }

  /** The writes of one kind of operation, in order. */
  of<O extends Write['op']>(op: O): Array<Extract<Write, { op: O }>> {
    return this.writes.filter((w): w is Extract<Write, { op: O }> => w.op === op);
  }

  clear(): void {
    this.writes.length = 0;
  }
}

function sorted(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
}

export class FakeClock {
  constructor(public t: Date) {}

  now = (): Date => new Date(this.t.getTime());

  advance(ms: number): void {
    this.t = new Date(this.t.getTime() + ms);
  }
}

/**
 * The world's objects. The live reader reads the same objects unless a test overrides what the API
 * server would answer (`liveLeases`), or makes it fail (`apiDown`).
 */
export class MemoryWorld {
  colonies = new MemoryReader<Colony>();
  cells = new MemoryReader<Cell>();
  pods = new MemoryReader<V1Pod>();
  nodes = new MemoryReader<V1Node>();
  nodeLeases = new MemoryReader<V1Lease>();
  serviceAccounts = new MemoryReader<V1ServiceAccount>();
  roleBindings = new MemoryReader<V1RoleBinding>();
  networkPolicies = new MemoryReader<V1NetworkPolicy>();
  disruptionBudgets = new MemoryReader<V1PodDisruptionBudget>();
  services = new MemoryReader<V1Service>();
  clusterRoleBindings = new MemoryReader<V1ClusterRoleBinding>();
  /** What a live GET of a Lease returns when it differs from the cache (a lagging watch). */
  liveLeases = new Map<string, V1Lease | undefined>();
  /** Live reads of pods and nodes that differ from the cache (the cache missed an update). */
  livePods = new Map<string, V1Pod | undefined>();
  liveNodes = new Map<string, V1Node | undefined>();
  /** Live Cells of a colony (`namespace/colony`) when they differ from the cache (a cache behind). */
  liveCells = new Map<string, Cell[] | undefined>();
  /** Every live read throws (the API server does not answer). */
  apiDown = false;
  /** Live reads made, e.g. `lease/n1`. */
  readonly liveReads: string[] = [];

  readerFor(kind: string): MemoryReader<Obj> | undefined {
    const byKind: Record<string, MemoryReader<Obj>> = {
      Colony: this.colonies,
      Cell: this.cells,
      Pod: this.pods,
      ServiceAccount: this.serviceAccounts,
      RoleBinding: this.roleBindings,
      NetworkPolicy: this.networkPolicies,
      PodDisruptionBudget: this.disruptionBudgets,
      Service: this.services,
      ClusterRoleBinding: this.clusterRoleBindings,
    };
    return byKind[kind];
  }

  live(): LiveReader {
    const read = async <T>(
      what: string,
      override: Map<string, T | undefined>,
      key: string,
      cached: () => T | undefined,
    ): Promise<T | undefined> => {
      this.liveReads.push(`${what}/${key}`);
      await Promise.resolve();
      if (this.apiDown) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
      return override.has(key) ? override.get(key) : cached();
    };
    return {
      lease: (node) =>
        read('lease', this.liveLeases, node, () => this.nodeLeases.get('kube-node-lease', node)),
      pod: (ns, name) => read('pod', this.livePods, `${ns}/${name}`, () => this.pods.get(ns, name)),
      node: (name) => read('node', this.liveNodes, name, () => this.nodes.get(undefined, name)),
      cells: async (ns, colony) =>
        (await read('cells', this.liveCells, `${ns}/${colony}`, () =>
          this.cells.list(ns).filter((c) => c.metadata.labels?.[LABELS.colony] === colony),
        )) ?? [],
    };
  }
}

export interface MemoryContextOptions {
  now: Date;
  /** When the operator began observing (start, leadership); default: an hour before `now`. */
  observingSince?: Date;
  nodeLossAfter?: number;
  massDisruption?: MassDisruptionOptions;
  lockdown?: LockdownState;
}

export interface MemoryContext {
  ctx: ControllerContext;
  world: MemoryWorld;
  writer: RecordingWriter;
  clock: FakeClock;
}

export function memoryContext(o: MemoryContextOptions): MemoryContext {
  const world = new MemoryWorld();
  const writer = new RecordingWriter(world);
  const clock = new FakeClock(o.now);
  const since = o.observingSince ?? new Date(o.now.getTime() - 3_600_000);
  const guard = new FloorGuard(o.massDisruption ?? MASS_DISRUPTION_DEFAULTS, since);
  const ctx: ControllerContext = {
    colonies: world.colonies,
    cells: world.cells,
    pods: world.pods,
    nodes: world.nodes,
    nodeLeases: world.nodeLeases,
    serviceAccounts: world.serviceAccounts,
    roleBindings: world.roleBindings,
    networkPolicies: world.networkPolicies,
    disruptionBudgets: world.disruptionBudgets,
    services: world.services,
    clusterRoleBindings: world.clusterRoleBindings,
    write: writer,
    live: world.live(),
    guard,
    lockdown: () => o.lockdown ?? 'Intact',
    nodeLossAfter: o.nodeLossAfter,
    placements: new PlacementLedger(),
    now: clock.now,
    log: createLogger({ level: 'silent' }),
  };
  return { ctx, world, writer, clock };
}

/** Cells the recorded writes created, as `name@node`. */
export const createdCells = (m: Pick<MemoryContext, 'writer'>): string[] =>
  m.writer
    .of('apply')
    .filter((a) => a.kind === 'Cell')
    .map((a) => `${a.name}@${a.node}`);

/** Cells the recorded writes deleted (retired). */
export const retiredCells = (m: Pick<MemoryContext, 'writer'>): string[] =>
  m.writer
    .of('delete')
    .filter((d) => d.kind === 'Cell')
    .map((d) => d.name);
