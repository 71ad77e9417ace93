// Where a new cell goes: among the nodes eligible for its colony, with a free spread slot and room
// for one more cell (pods, CPU, memory against the node's allocatable), the least loaded — fewest
// living cells of all colonies, then the most headroom — and by name on a tie. When nothing fits,
// a message naming each constraint that ruled nodes out. Pure, except PlacementLedger (below).
//
// Load is what the operator itself knows: the living cells of every colony in its caches, plus the
// cells it has just created that its cache has not shown yet (the ledger). Pods of other workloads
// are not counted: a hardened node is tainted so that only cells (and DaemonSets that tolerate every
// taint) run there, and on other nodes the kubelet still refuses a pod that does not fit.
import type { V1Node } from '@kubernetes/client-node';
import type { Cell, Colony } from '../api/types.js';
import { parseQuantity } from '../api/quantity.js';
import { DEFAULT_RESOURCES } from '../builders/pod.js';
import { ineligibility, requiresHardenedNodes, spreadValue } from './nodes.js';

/** What one cell asks of its node: CPU in cores, memory in bytes (requests = limits). */
export interface CellRequest {
  cpu: number;
  memory: number;
}

/** What the cells on one node ask, summed. */
export interface NodeLoad {
  cells: number;
  cpu: number;
  memory: number;
}

export type LoadIndex = ReadonlyMap<string, NodeLoad>;

const EMPTY: NodeLoad = { cells: 0, cpu: 0, memory: 0 };

export function cellRequest(colony: Colony | undefined): CellRequest {
  const res = { ...DEFAULT_RESOURCES, ...colony?.spec.resources };
  return { cpu: parseQuantity(res.cpu) ?? 0, memory: parseQuantity(res.memory) ?? 0 };
}

export function addLoad(index: Map<string, NodeLoad>, node: string, req: CellRequest): void {
  const l = index.get(node) ?? EMPTY;
  index.set(node, { cells: l.cells + 1, cpu: l.cpu + req.cpu, memory: l.memory + req.memory });
}

/**
 * Load per node from living cells (any colony). `colonyOf` finds a cell's colony (for its resources);
 * a cell whose colony is gone counts with the default resources.
 */
export function loadIndex(
  cells: readonly Cell[],
  colonyOf: (cell: Cell) => Colony | undefined,
): Map<string, NodeLoad> {
  const index = new Map<string, NodeLoad>();
  const requests = new Map<string, CellRequest>();
  for (const c of cells) {
    if (c.status?.phase === 'Dead' || !c.spec.node) continue;
    const key = `${c.metadata.namespace ?? ''}/${c.spec.colony}`;
    let req = requests.get(key);
    if (!req) requests.set(key, (req = cellRequest(colonyOf(c))));
    addLoad(index, c.spec.node, req);
  }
  return index;
}

type Resource = 'pods' | 'cpu' | 'memory';
const RESOURCES: readonly Resource[] = ['pods', 'cpu', 'memory'];

function allocatable(node: V1Node, r: Resource): number | undefined {
  const a = node.status?.allocatable ?? node.status?.capacity;
  return parseQuantity(a?.[r]);
}

function used(load: NodeLoad, r: Resource): number {
  return r === 'pods' ? load.cells : load[r];
}

function asked(req: CellRequest, r: Resource): number {
  return r === 'pods' ? 1 : req[r];
}

/** The first resource a cell would overrun on this node, or undefined when it fits. */
export function overrun(node: V1Node, load: NodeLoad, req: CellRequest): Resource | undefined {
  return RESOURCES.find((r) => {
    const total = allocatable(node, r);
    return total !== undefined && used(load, r) + asked(req, r) > total + 1e-9;
  });
}

/** The smallest share of allocatable left after placing the cell (1 when nothing is declared). */
function headroom(node: V1Node, load: NodeLoad, req: CellRequest): number {
  const shares = RESOURCES.map((r) => {
    const total = allocatable(node, r);
    return total ? (total - used(load, r) - asked(req, r)) / total : 1;
  });
  return Math.min(...shares);
}

export interface Candidate {
  node: V1Node;
  name: string;
  load: NodeLoad;
  headroom: number;
}

/** Fewest cells, then most headroom, then name: a total, deterministic order. */
export const byLoad = (a: Candidate, b: Candidate): number =>
  a.load.cells - b.load.cells || b.headroom - a.headroom || a.name.localeCompare(b.name);

/**
 * The node for one more cell: eligible nodes (already filtered, any order) whose spread value is not
 * `occupied` and that have room, least loaded first. Undefined when none.
 */
export function pickNode(
  colony: Colony,
  eligible: readonly V1Node[],
  occupied: ReadonlySet<string>,
  load: { index: LoadIndex; req: CellRequest },
): V1Node | undefined {
  const fits: Candidate[] = [];
  for (const node of eligible) {
    if (occupied.has(spreadValue(colony, node))) continue;
    const name = node.metadata?.name ?? '';
    const l = load.index.get(name) ?? EMPTY;
    if (overrun(node, l, load.req)) continue;
    fits.push({ node, name, load: l, headroom: headroom(node, l, load.req) });
  }
  return fits.sort(byLoad)[0]?.node;
}

const cpuText = (cores: number): string => (cores < 1 ? `${Math.round(cores * 1000)}m` : `${cores}`);
const memText = (bytes: number): string => `${Math.round(bytes / 2 ** 20)}Mi`;

function count(reasons: Map<string, number>, why: string): void {
  reasons.set(why, (reasons.get(why) ?? 0) + 1);
}

/** Why each node of the cluster cannot take the next cell, grouped: `2 not Ready, 4 out of cpu`. */
function ruledOut(
  colony: Colony,
  nodes: readonly V1Node[],
  occupied: ReadonlySet<string>,
  load: { index: LoadIndex; req: CellRequest },
): Map<string, number> {
  const reasons = new Map<string, number>();
  const key = colony.spec.placement?.spreadKey ?? 'kubernetes.io/hostname';
  for (const node of nodes) {
    const why = ineligibility(colony, node);
    if (why) {
      count(reasons, why);
      continue;
    }
    if (occupied.has(spreadValue(colony, node))) {
      count(reasons, `spread slot taken (one cell per ${key} value)`);
      continue;
    }
    const r = overrun(node, load.index.get(node.metadata?.name ?? '') ?? EMPTY, load.req);
    if (r) count(reasons, `out of ${r}`);
  }
  return reasons;
}

/**
 * What the colony's Ready/CellsPlaced conditions and its FailedPlacement event say when `missing`
 * cells found no node: the cell's size and each constraint with the number of nodes it ruled out.
 */
export function explainShortfall(
  colony: Colony,
  nodes: readonly V1Node[],
  occupied: ReadonlySet<string>,
  load: { index: LoadIndex; req: CellRequest; missing: number },
): string {
  const kind = requiresHardenedNodes(colony) ? 'hardened, Ready' : 'Ready';
  const size = `cpu ${cpuText(load.req.cpu)}, memory ${memText(load.req.memory)}`;
  const reasons = [...ruledOut(colony, nodes, occupied, load)]
    .sort(([a, x], [b, y]) => y - x || a.localeCompare(b))
    .map(([why, n]) => `${n} ${why}`);
  const detail = nodes.length === 0 ? 'no usable node' : `of ${nodes.length} node(s): ${reasons.join(', ')}`;
  return `no ${kind} node fits ${load.missing} more cell(s) (${size} each); ${detail}`;
}

/** How long a created cell counts from the ledger before the cache must show it. */
export const ASSUMED_TTL_MS = 30_000;

/**
 * Cells created but not yet in the operator's cache. Without it, colonies reconciled back to back
 * (or concurrently) all see the same least-loaded node and pile onto it until the watch catches up.
 * The kube-scheduler keeps "assumed pods" for the same reason.
 */
export class PlacementLedger {
  readonly #assumed = new Map<string, { node: string; req: CellRequest; at: number }>();

  /** `key` = namespace/name of the cell being created on `node`. */
  assume(key: string, node: string, req: CellRequest, now: Date): void {
    this.#assumed.set(key, { node, req, at: now.getTime() });
  }

  forget(key: string): void {
    this.#assumed.delete(key);
  }

  /**
   * Adds to `index` the assumed cells `inCache` does not show yet; drops those it shows and those
   * older than the TTL.
   */
  addPending(index: Map<string, NodeLoad>, inCache: (key: string) => boolean, now: Date): void {
    for (const [key, a] of this.#assumed) {
      if (inCache(key) || now.getTime() - a.at > ASSUMED_TTL_MS) this.#assumed.delete(key);
      else addLoad(index, a.node, a.req);
    }
  }

  get size(): number {
    return this.#assumed.size;
  }
}
