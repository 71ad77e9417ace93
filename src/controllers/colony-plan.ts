// What a colony needs now, computed from the world: which cells to create (and where), which dead
// cells to clean up, which surplus cells to retire, and the colony's status. Pure: no I/O, the caller
// passes the clock.
//
// Counting (docs/floor.md): holders heard now (Alive) make Ready and FloorMet; Unreachable holders
// are still holders (the colony is never Lost while one exists) but are not counted against
// spec.replicas, so replacements are surged at once; Lost needs every holder proven dead.
// Cells on leaving nodes (cordoned, draining, MaintenancePlanned) are not counted either: they are
// replaced first, and retired first once spec.replicas other heard holders remain.
import type { V1Node } from '@kubernetes/client-node';
import {
  ColonyConditions as C,
  type Cell,
  type Colony,
  type ColonyStatus,
  type Condition,
} from '../api/types.js';
import { setCondition } from '../api/conditions.js';
import { verifyKeyProof } from '../api/identity.js';
import type { CellPlacement } from '../builders/cell.js';
import { cellIndexOf } from '../builders/labels.js';
import type { LockdownState } from './context.js';
import { HEARD_AGAIN } from './cell-status.js';
import { isHeardHolder, isHolder, isUnreachableHolder } from './holders.js';
import { eligibleNodes, leavingReason, spreadValue } from './nodes.js';
import { addLoad, cellRequest, explainShortfall, loadIndex, pickNode, type LoadIndex } from './placement.js';

/** Dead cells kept for their timestamps (join latency, recovery time) before they are deleted. */
export const DEAD_CELL_HISTORY = 5;

export interface ColonyWorld {
  colony: Colony;
  /** Cells this colony controls. */
  cells: readonly Cell[];
  /** Nodes heard from (silent ones, whose Lease went stale, are left out). */
  nodes: readonly V1Node[];
  /** How many nodes were left out as silent (said when cells find no node). */
  silentNodes?: number;
  lockdown: LockdownState;
  /** Breaks of the lock-down since this colony last counted them (however briefly they lasted). */
  lockdownBreaks?: number;
  /** Set while the lock-down does not cover the colony's namespace yet: no cell is made before it does. */
  namespaceWait?: string;
  /** Set while silence is a control-plane fault (mass-disruption guard): nothing is retired. */
  fault?: string;
  /**
   * Living cells per node of every colony (placement.ts loadIndex), asked for only when cells are
   * to be placed; absent: only this colony's cells count.
   */
  load?: () => LoadIndex;
  now: Date;
}

export interface ColonyPlan {
  create: CellPlacement[];
  /** Names of cells to delete (old dead ones). */
  delete: string[];
  /** Names of living surplus cells to retire (deleted with their pods), never below the floor rule. */
  retire: string[];
  status: ColonyStatus;
  /** Set when this reconcile turned the colony Lost: the caller emits a Warning event. */
  becameLost: boolean;
  /** Why cells that are needed cannot be placed, if so. */
  shortfall?: string;
}

const isDead = (c: Cell): boolean => c.status?.phase === 'Dead';
const isAlive = (c: Cell): boolean => c.status?.phase === 'Alive';

/** Whether the cell's node is leaving (cordoned, draining, maintenance planned). */
function onLeavingNode(w: ColonyWorld, c: Cell): boolean {
  const node = w.nodes.find((n) => n.metadata?.name === c.spec.node);
  return node !== undefined && leavingReason(node) !== undefined;
}

/**
 * Living cells on leaving nodes that count now: heard holders and newcomers (an Unreachable holder
 * is not counted anyway). They are replaced elsewhere before they go.
 */
function leavingCells(w: ColonyWorld, key: string | undefined): Cell[] {
  return w.cells.filter((c) => !isDead(c) && !(key && isUnreachableHolder(c, key)) && onLeavingNode(w, c));
}

function conditionTrue(status: ColonyStatus | undefined, type: string): boolean {
  return status?.conditions?.some((c) => c.type === type && c.status === 'True') ?? false;
}

/**
 * The highest cell index ever used: the cells present and the colony's record (retired cells are
 * deleted, so only the record remembers them). A name is never reused: a retired cell's pod may still
 * be terminating under that name, and peers must never take a new cell for an old one.
 */
function lastIndex(w: ColonyWorld, created: readonly CellPlacement[] = []): number {
  const used = [...w.cells.map((c) => cellIndexOf(c.metadata.labels)), ...created.map((p) => p.index)];
  return Math.max(w.colony.status?.lastCellIndex ?? -1, ...used.filter((n) => Number.isFinite(n)));
}

/**
 * Whether the cell proved it holds the key it reports: status.keyProof is a signature by that key over
 * colony uid, cell name and uid, pod uid and the key (src/cell/key-proof.ts). A publicKey written by
 * anyone who does not hold the private key never becomes the colony's identity.
 */
export function provesItsKey(colony: Colony, cell: Cell): boolean {
  const { publicKey, keyProof, podUID } = cell.status ?? {};
  if (!publicKey || !podUID) return false;
  const subject = {
    colonyUID: colony.metadata.uid ?? '',
    cell: cell.metadata.name ?? '',
    cellUID: cell.metadata.uid ?? '',
    podUID,
    publicKey,
  };
  return verifyKeyProof(subject, keyProof);
}

/** The public identity recorded once, from the genesis cell when it is Alive and proved its key. */
function publicIdentity(w: ColonyWorld): Pick<ColonyStatus, 'publicKey' | 'fingerprint' | 'genesisCell'> {
  const old = w.colony.status ?? {};
  if (old.publicKey)
    return { publicKey: old.publicKey, fingerprint: old.fingerprint, genesisCell: old.genesisCell };
  const genesis = w.cells.find((c) => c.spec.genesis && isAlive(c) && provesItsKey(w.colony, c));
  if (!genesis) return {};
  return {
    publicKey: genesis.status?.publicKey,
    fingerprint: genesis.status?.fingerprint,
    genesisCell: genesis.metadata.name,
  };
}

interface Needs {
  count: number;
  genesis: boolean;
  waiting?: string;
}

function needs(w: ColonyWorld, f: Counts & { seeded: boolean; lost: boolean; leaving: number }): Needs {
  const live = w.cells.filter((c) => !isDead(c));
  if (f.lost) return { count: 0, genesis: false, waiting: 'the secret is lost; no cell will be made' };
  if (w.namespaceWait) return { count: 0, genesis: !f.seeded, waiting: w.namespaceWait };
  // Surge: Unreachable holders and cells on leaving nodes are not counted: replacements start at once.
  if (f.seeded)
    return { count: Math.max(0, w.colony.spec.replicas - f.alive - f.joining + f.leaving), genesis: false };
  if (live.some((c) => c.spec.genesis)) return { count: 0, genesis: true, waiting: 'genesis' };
  if (w.lockdown === 'Broken' || w.lockdown === 'Mutated' || w.lockdown === 'Unknown') {
    return {
      count: 0,
      genesis: true,
      waiting:
        w.lockdown === 'Mutated'
          ? 'a mutating webhook or MutatingAdmissionPolicy can change cell pods; the secret is not seeded'
          : 'lock-down admission policies are not confirmed in place; the secret is not seeded',
    };
  }
  return { count: 1, genesis: true };
}

/** Spread values already taken by this colony's living cells (not those on leaving nodes). */
function occupiedSpread(w: ColonyWorld): Set<string> {
  // A cell on a leaving node gives up its spread slot: its replacement may take it (another node of
  // the same zone, say) since the leaving cell goes once the replacement holds the secret.
  return new Set(
    w.cells
      .filter((c) => !isDead(c) && !onLeavingNode(w, c))
      .map((c) => w.nodes.find((node) => node.metadata?.name === c.spec.node))
      .filter((node): node is V1Node => node !== undefined)
      .map((node) => spreadValue(w.colony, node)),
  );
}

/** Each cell on the least loaded eligible node that has room and a free spread slot (placement.ts). */
function place(w: ColonyWorld, n: Needs): { create: CellPlacement[]; shortfall?: string } {
  if (n.count === 0) return { create: [] };
  const occupied = occupiedSpread(w);
  const index = new Map(w.load?.() ?? loadIndex(w.cells, () => w.colony));
  const load = { index, req: cellRequest(w.colony) };
  const eligible = eligibleNodes(w.colony, w.nodes);
  const create: CellPlacement[] = [];
  let next = lastIndex(w) + 1;
  while (create.length < n.count) {
    const node = pickNode(w.colony, eligible, occupied, load);
    if (!node) break;
    const name = node.metadata?.name ?? '';
    occupied.add(spreadValue(w.colony, node));
    addLoad(index, name, load.req);
    create.push({ index: next++, node: name, genesis: n.genesis });
  }
  if (create.length === n.count) return { create };
  const missing = n.count - create.length;
  const why = explainShortfall(w.colony, w.nodes, occupied, { ...load, missing });
  const silent = w.silentNodes ? `; ${w.silentNodes} silent node(s) (stale Lease) not counted` : '';
  return { create, shortfall: `${why}${silent}` };
}

function oldDead(cells: readonly Cell[]): string[] {
  const dead = cells
    .filter(isDead)
    .sort((a, b) => cellIndexOf(b.metadata.labels) - cellIndexOf(a.metadata.labels));
  return dead.slice(DEAD_CELL_HISTORY).map((c) => c.metadata.name ?? '');
}

type Cond = Omit<Condition, 'lastTransitionTime' | 'observedGeneration'>;

/** Holders heard now, holders not heard, and living cells that hold nothing yet. */
interface Counts {
  alive: number;
  unreachable: number;
  joining: number;
}

interface Facts extends Counts {
  /** Heard holders and newcomers on leaving nodes (being replaced). */
  leaving: number;
  seeded: boolean;
  lost: boolean;
  n: Needs;
  shortfall?: string;
}

const heldBy = (f: Counts): string =>
  f.unreachable > 0 ? `${f.alive} heard and ${f.unreachable} unreachable holder(s)` : `${f.alive} holder(s)`;

function secretCondition(f: Facts): Cond {
  if (f.lost)
    return {
      type: C.SecretHeld,
      status: 'False',
      reason: 'SecretLost',
      message: 'every holder is proven dead; the secret is gone',
    };
  if (f.seeded)
    return { type: C.SecretHeld, status: 'True', reason: 'Held', message: `${heldBy(f)} hold the secret` };
  if (f.n.waiting && f.n.waiting !== 'genesis')
    return { type: C.SecretHeld, status: 'False', reason: 'LockdownMissing', message: f.n.waiting };
  return {
    type: C.SecretHeld,
    status: 'False',
    reason: 'WaitingForPublicKey',
    message: 'waiting for the genesis cell to generate the secret and report the colony public key',
  };
}

function readyCounts(w: ColonyWorld, f: Facts): string {
  return (
    `${f.alive}/${w.colony.spec.replicas} holders heard${f.unreachable ? `, ${f.unreachable} unreachable` : ''}` +
    (f.leaving ? `; ${f.leaving} on leaving nodes, being replaced` : '')
  );
}

function readyCondition(w: ColonyWorld, f: Facts, secret: Cond): Cond {
  const counts = readyCounts(w, f);
  if (f.seeded && !f.lost && f.alive >= w.colony.spec.replicas)
    return { type: C.Ready, status: 'True', reason: 'AllCellsAlive', message: counts };
  if (f.shortfall) {
    const message = f.seeded ? `${counts}; ${f.shortfall}` : f.shortfall;
    return { type: C.Ready, status: 'False', reason: 'InsufficientNodes', message };
  }
  if (!f.seeded) return { type: C.Ready, status: 'False', reason: secret.reason, message: secret.message };
  const reason = f.lost ? 'SecretLost' : f.unreachable > 0 ? 'HoldersUnreachable' : 'CellsStarting';
  return { type: C.Ready, status: 'False', reason, message: counts };
}

function floorConditions(w: ColonyWorld, f: Facts): Cond[] {
  const { minReplicas } = w.colony.spec;
  const met = f.alive >= minReplicas;
  const counts = `${f.alive} holder(s) heard${f.unreachable ? ` (${f.unreachable} unreachable)` : ''}`;
  const floor: Cond = {
    type: C.FloorMet,
    status: met ? 'True' : 'False',
    reason: met ? 'FloorMet' : 'BelowFloor',
    message: `${counts}, floor ${minReplicas}`,
  };
  if (f.seeded && !f.lost && !met) {
    return [
      floor,
      {
        type: C.Degraded,
        status: 'True',
        reason: 'BelowFloor',
        message: `${counts}, below the floor of ${minReplicas}; replacing cells`,
      },
    ];
  }
  const calm = f.lost ? 'SecretLost' : 'AtOrAboveFloor';
  return [
    floor,
    {
      type: C.Degraded,
      status: 'False',
      reason: calm,
      message: f.lost ? 'nothing left to degrade' : `floor ${minReplicas}`,
    },
  ];
}

function lostCondition(f: Facts): Cond {
  if (f.lost) {
    return {
      type: C.Lost,
      status: 'True',
      reason: 'AllCellsDied',
      message:
        'every cell that held the secret is proven dead; it cannot be recovered and will not be regenerated',
    };
  }
  const message = !f.seeded
    ? 'not seeded yet'
    : f.alive > 0
      ? 'at least one holder is heard'
      : `no holder is heard but ${f.unreachable} unreachable holder(s) are not proven dead`;
  return { type: C.Lost, status: 'False', reason: 'SecretAlive', message };
}

function unreachableCondition(f: Facts): Cond {
  if (f.unreachable > 0) {
    return {
      type: C.HoldersUnreachable,
      status: 'True',
      reason: 'HoldersUnreachable',
      message: `${f.unreachable} holder(s) cannot be heard (${f.alive} heard); they are kept until heard again or proven dead`,
    };
  }
  return {
    type: C.HoldersUnreachable,
    status: 'False',
    reason: 'AllHoldersHeard',
    message: 'every holder is heard',
  };
}

function placedCondition(f: Facts): Cond {
  if (f.shortfall)
    return { type: C.CellsPlaced, status: 'False', reason: 'NoNodeFits', message: f.shortfall };
  return {
    type: C.CellsPlaced,
    status: 'True',
    reason: 'Placed',
    message: 'every cell the colony needs has a node',
  };
}

function lockdownCondition(state: LockdownState): Cond {
  switch (state) {
    case 'Intact':
      return {
        type: C.LockdownIntact,
        status: 'True',
        reason: 'PoliciesPresent',
        message: 'lock-down admission policies are in place',
      };
    case 'Disabled':
      return {
        type: C.LockdownIntact,
        status: 'False',
        reason: 'LockdownDisabled',
        message: 'the operator runs with --lockdown=false: nothing stops exec into cells (development only)',
      };
    case 'Unknown':
      return {
        type: C.LockdownIntact,
        status: 'Unknown',
        reason: 'Checking',
        message: 'the operator has not yet checked the lock-down admission policies',
      };
    case 'Mutated':
      return {
        type: C.LockdownIntact,
        status: 'False',
        reason: 'MutatingAdmission',
        message:
          'a mutating webhook or MutatingAdmissionPolicy can change cell pods; no colony is seeded until it is removed or excludes cell pods (see the Warning events)',
      };
    default:
      return {
        type: C.LockdownIntact,
        status: 'False',
        reason: 'PoliciesMissing',
        message: 'lock-down admission policies are missing or altered; the operator is restoring them',
      };
  }
}

/**
 * Incidents: times the lock-down went from intact to broken while this colony existed — the breaks
 * the lock-down counted, or (without that count) a break this reconcile sees itself.
 */
function incidents(w: ColonyWorld): number {
  const old = w.colony.status;
  const was = old?.conditions?.find((c) => c.type === C.LockdownIntact)?.status === 'True';
  const broken = w.lockdown === 'Broken' || w.lockdown === 'Mutated';
  const seen = was && broken ? 1 : 0;
  return (old?.lockdownIncidents ?? 0) + Math.max(seen, w.lockdownBreaks ?? 0);
}

function conditions(w: ColonyWorld, f: Facts): Cond[] {
  const secret = secretCondition(f);
  return [
    readyCondition(w, f, secret),
    secret,
    ...floorConditions(w, f),
    lostCondition(f),
    unreachableCondition(f),
    lockdownCondition(w.lockdown),
    placedCondition(f),
  ];
}

function counts(cells: readonly Cell[], key: string | undefined): Counts & { holders: number } {
  const living = cells.filter((c) => !isDead(c));
  // Before the colony has a key nobody holds anything it relies on: Alive cells are simply counted.
  if (!key) {
    const alive = living.filter(isAlive).length;
    return { holders: 0, alive, unreachable: 0, joining: living.length - alive };
  }
  const alive = living.filter((c) => isHeardHolder(c, key)).length;
  const unreachable = living.filter((c) => isUnreachableHolder(c, key)).length;
  // joining: every living cell not Alive or Unreachable (incl. one that reported the key, not yet Ready).
  return {
    holders: living.filter((c) => isHolder(c, key)).length,
    alive,
    unreachable,
    joining: living.length - alive - unreachable,
  };
}

const byIndexDesc = (a: Cell, b: Cell): number =>
  cellIndexOf(b.metadata.labels) - cellIndexOf(a.metadata.labels);

/**
 * Retirement order among heard holders: holders heard again after being Unreachable first (their
 * liveness is the weakest evidence: a rebooted machine can renew its Lease while its pod still shows
 * the old Ready; retiring it costs nothing even if it is a genuine copy, since the others are heard),
 * then the newest.
 */
const retireOrder = (a: Cell, b: Cell): number =>
  Number(b.status?.reason === HEARD_AGAIN) - Number(a.status?.reason === HEARD_AGAIN) || byIndexDesc(a, b);

/** Retires newcomers then heard holders among `staying` (cells not on leaving nodes). */
function retireStaying(w: ColonyWorld, key: string, staying: readonly Cell[], unreachable: number): Cell[] {
  const { replicas } = w.colony.spec;
  const heardAll = staying.filter((x) => isHeardHolder(x, key));
  const newAll = staying.filter((x) => !isHeardHolder(x, key) && !isUnreachableHolder(x, key));
  let excess = heardAll.length + unreachable + newAll.length - replicas;
  if (excess <= 0) return [];
  // Cells still joining go first (at most just-handed a copy): while heard holders plus the
  // remaining joiners reach replicas.
  const spareNewcomers = Math.min(excess, Math.max(0, heardAll.length + newAll.length - replicas));
  const newcomers = [...newAll].sort(byIndexDesc).slice(0, spareNewcomers);
  excess -= newcomers.length;
  // Heard holders: retire only while at least replicas other heard holders remain.
  const spareHeard = Math.min(excess, Math.max(0, heardAll.length - replicas));
  return [...newcomers, ...[...heardAll].sort(retireOrder).slice(0, spareHeard)];
}

/**
 * Cells on leaving nodes go first: a newcomer once the cells elsewhere reach spec.replicas (its
 * replacement is under way and it holds nothing), a heard holder only while at least spec.replicas
 * other heard holders remain (its replacement holds the secret). The operator does this itself
 * rather than wait for an eviction: a cordoned or MaintenancePlanned node may never be drained,
 * and a drain's eviction of a pod already deleted simply finds it gone.
 */
function retireLeaving(
  w: ColonyWorld,
  key: string,
  leaving: readonly Cell[],
  staying: readonly Cell[],
): Cell[] {
  const { replicas } = w.colony.spec;
  const heardCount = w.cells.filter((x) => isHeardHolder(x, key)).length;
  const stayingCount = staying.filter((x) => !isUnreachableHolder(x, key)).length;
  const newcomers = stayingCount >= replicas ? leaving.filter((x) => !isHeardHolder(x, key)) : [];
  const heard = leaving
    .filter((x) => isHeardHolder(x, key))
    .sort(retireOrder)
    .slice(0, Math.max(0, heardCount - replicas));
  return [...[...newcomers].sort(byIndexDesc), ...heard];
}

/**
 * Surplus living cells to retire, down to spec.replicas. Cells on leaving nodes go first (above);
 * then, among the others, cells that hold nothing (newest first), then heard holders, newest first —
 * a holder only while at least spec.replicas other heard holders remain. Unreachable holders are
 * never retired: deleting a pod its node cannot hear about achieves nothing until the node is heard
 * again (then it is a heard holder like any other), and it may be the copy that outlives the others.
 * Nothing is retired during a control-plane fault.
 */
export function surplus(w: ColonyWorld, key: string | undefined): string[] {
  if (!key || w.fault) return [];
  const leaving = leavingCells(w, key);
  const staying = w.cells.filter((x) => !isDead(x) && !leaving.includes(x));
  const unreachable = staying.filter((x) => isUnreachableHolder(x, key)).length;
  const retired = [
    ...retireLeaving(w, key, leaving, staying),
    ...retireStaying(w, key, staying, unreachable),
  ];
  return retired.map((x) => x.metadata.name ?? '');
}

/** Lost needs every holder proven dead after the key was recorded; a holder alive undoes an old Lost. */
/**
 * Lost: a recorded key and no holder of it left. Not while a living cell proves it holds *a* key:
 * then the recorded key is not the one the cells hold (a forged Colony status, written in the moment
 * between an admin deleting the colony-status wall and the operator restoring it), and the secret
 * is not gone.
 */
function isLost(w: ColonyWorld, holders: number): boolean {
  const old = w.colony.status ?? {};
  if (old.publicKey === undefined || holders > 0) return false;
  return !w.cells.some((c) => c.status?.phase !== 'Dead' && provesItsKey(w.colony, c));
}

export function planColony(w: ColonyWorld): ColonyPlan {
  const old = w.colony.status ?? {};
  const identity = publicIdentity(w);
  const seeded = identity.publicKey !== undefined;
  const c = { ...counts(w.cells, identity.publicKey), leaving: leavingCells(w, identity.publicKey).length };
  const wasLost = conditionTrue(old, C.Lost);
  const lost = isLost(w, c.holders);
  const n = needs(w, { ...c, seeded, lost });
  const { create, shortfall } = place(w, n);
  const generation = w.colony.metadata.generation;
  let conds = old.conditions ?? [];
  for (const cond of conditions(w, { ...c, seeded, lost, n, shortfall })) {
    conds = setCondition(conds, { ...cond, observedGeneration: generation }, w.now);
  }
  const status: ColonyStatus = {
    ...old,
    ...identity,
    observedGeneration: generation,
    desired: w.colony.spec.replicas,
    alive: c.alive,
    unreachable: c.unreachable,
    joining: c.joining,
    ...(create.length > 0 || w.cells.length > 0 ? { lastCellIndex: lastIndex(w, create) } : {}),
    lockdownIncidents: incidents(w),
    conditions: conds,
  };
  const retire = lost ? [] : surplus(w, identity.publicKey);
  return { create, delete: oldDead(w.cells), retire, status, becameLost: lost && !wasLost, shortfall };
}
