// What a colony needs now, computed from the world: which cells to create (and where), which dead
// cells to clean up, and the colony's status. Pure: no I/O, the caller passes the clock.
import type { V1Node } from '@kubernetes/client-node';
import {
  ColonyConditions as C,
  type Cell,
  type Colony,
  type ColonyStatus,
  type Condition,
} from '../api/types.js';
import { setCondition } from '../api/conditions.js';
import type { CellPlacement } from '../builders/cell.js';
import { cellIndexOf } from '../builders/labels.js';
import type { LockdownState } from './context.js';
import { eligibleNodes, requiresHardenedNodes, spreadValue } from './nodes.js';

/** Dead cells kept for their timestamps (join latency, recovery time) before they are deleted. */
export const DEAD_CELL_HISTORY = 5;

export interface ColonyWorld {
  colony: Colony;
  /** Cells this colony controls. */
  cells: readonly Cell[];
  nodes: readonly V1Node[];
  lockdown: LockdownState;
  now: Date;
}

export interface ColonyPlan {
  create: CellPlacement[];
  /** Names of cells to delete (old dead ones). */
  delete: string[];
  status: ColonyStatus;
  /** Set when this reconcile turned the colony Lost: the caller emits a Warning event. */
  becameLost: boolean;
  /** Why cells that are needed cannot be placed, if so. */
  shortfall?: string;
}

const isDead = (c: Cell): boolean => c.status?.phase === 'Dead';
const isAlive = (c: Cell): boolean => c.status?.phase === 'Alive';

function conditionTrue(status: ColonyStatus | undefined, type: string): boolean {
  return status?.conditions?.some((c) => c.type === type && c.status === 'True') ?? false;
}

function nextIndex(cells: readonly Cell[]): number {
  const used = cells.map((c) => cellIndexOf(c.metadata.labels)).filter((n) => Number.isFinite(n));
  return used.length === 0 ? 0 : Math.max(...used) + 1;
}

/** The public identity recorded once, from the genesis cell when it is Alive. */
function publicIdentity(w: ColonyWorld): Pick<ColonyStatus, 'publicKey' | 'fingerprint' | 'genesisCell'> {
  const old = w.colony.status ?? {};
  if (old.publicKey)
    return { publicKey: old.publicKey, fingerprint: old.fingerprint, genesisCell: old.genesisCell };
  const genesis = w.cells.find((c) => c.spec.genesis && isAlive(c) && c.status?.publicKey);
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

function needs(w: ColonyWorld, seeded: boolean, lost: boolean): Needs {
  const live = w.cells.filter((c) => !isDead(c));
  if (lost) return { count: 0, genesis: false, waiting: 'the secret is lost; no cell will be made' };
  if (seeded) return { count: Math.max(0, w.colony.spec.replicas - live.length), genesis: false };
  if (live.some((c) => c.spec.genesis)) return { count: 0, genesis: true, waiting: 'genesis' };
  if (w.lockdown === 'Broken' || w.lockdown === 'Unknown') {
    return {
      count: 0,
      genesis: true,
      waiting: 'lock-down admission policies are not confirmed in place; the secret is not seeded',
    };
  }
  return { count: 1, genesis: true };
}

function place(w: ColonyWorld, n: Needs): { create: CellPlacement[]; shortfall?: string } {
  if (n.count === 0) return { create: [] };
  const occupied = new Set(
    w.cells
      .filter((c) => !isDead(c))
      .map((c) => w.nodes.find((node) => node.metadata?.name === c.spec.node))
      .filter((node): node is V1Node => node !== undefined)
      .map((node) => spreadValue(w.colony, node)),
  );
  const create: CellPlacement[] = [];
  let index = nextIndex(w.cells);
  for (const node of eligibleNodes(w.colony, w.nodes)) {
    if (create.length === n.count) break;
    const key = spreadValue(w.colony, node);
    if (occupied.has(key)) continue;
    occupied.add(key);
    create.push({ index: index++, node: node.metadata?.name ?? '', genesis: n.genesis });
  }
  if (create.length === n.count) return { create };
  const kind = requiresHardenedNodes(w.colony) ? 'hardened, Ready' : 'Ready';
  return {
    create,
    shortfall: `need ${n.count} more ${kind} node(s) with a free spread slot; found ${create.length}`,
  };
}

function oldDead(cells: readonly Cell[]): string[] {
  const dead = cells
    .filter(isDead)
    .sort((a, b) => cellIndexOf(b.metadata.labels) - cellIndexOf(a.metadata.labels));
  return dead.slice(DEAD_CELL_HISTORY).map((c) => c.metadata.name ?? '');
}

type Cond = Omit<Condition, 'lastTransitionTime' | 'observedGeneration'>;

function secretCondition(seeded: boolean, lost: boolean, alive: number, waiting?: string): Cond {
  if (lost)
    return {
      type: C.SecretHeld,
      status: 'False',
      reason: 'SecretLost',
      message: 'every cell died; the secret is gone',
    };
  if (seeded)
    return {
      type: C.SecretHeld,
      status: 'True',
      reason: 'Held',
      message: `${alive} cell(s) hold the secret`,
    };
  if (waiting && waiting !== 'genesis')
    return { type: C.SecretHeld, status: 'False', reason: 'LockdownMissing', message: waiting };
  return {
    type: C.SecretHeld,
    status: 'False',
    reason: 'WaitingForPublicKey',
    message: 'waiting for the genesis cell to generate the secret and report the colony public key',
  };
}

interface Facts {
  seeded: boolean;
  lost: boolean;
  alive: number;
  n: Needs;
  shortfall?: string;
}

function readyCondition(w: ColonyWorld, f: Facts, secret: Cond): Cond {
  const { replicas } = w.colony.spec;
  const counts = `${f.alive}/${replicas} cells alive`;
  if (f.seeded && !f.lost && f.alive >= replicas)
    return { type: C.Ready, status: 'True', reason: 'AllCellsAlive', message: counts };
  if (!f.seeded) return { type: C.Ready, status: 'False', reason: secret.reason, message: secret.message };
  if (f.shortfall)
    return { type: C.Ready, status: 'False', reason: 'InsufficientNodes', message: f.shortfall };
  return { type: C.Ready, status: 'False', reason: f.lost ? 'SecretLost' : 'CellsStarting', message: counts };
}

function floorConditions(w: ColonyWorld, f: Facts): Cond[] {
  const { minReplicas } = w.colony.spec;
  const met = f.alive >= minReplicas;
  const floor: Cond = {
    type: C.FloorMet,
    status: met ? 'True' : 'False',
    reason: met ? 'FloorMet' : 'BelowFloor',
    message: `${f.alive} alive, floor ${minReplicas}`,
  };
  if (f.seeded && !f.lost && !met) {
    return [
      floor,
      {
        type: C.Degraded,
        status: 'True',
        reason: 'BelowFloor',
        message: `${f.alive} alive, below the floor of ${minReplicas}; replacing cells`,
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
      message: 'every cell holding the secret died; it cannot be recovered and will not be regenerated',
    };
  }
  return {
    type: C.Lost,
    status: 'False',
    reason: 'SecretAlive',
    message: f.seeded ? 'at least one cell holds the secret' : 'not seeded yet',
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
    default:
      return {
        type: C.LockdownIntact,
        status: 'False',
        reason: 'PoliciesMissing',
        message: 'lock-down admission policies are missing or altered; the operator is restoring them',
      };
  }
}

/** Incidents: times this colony saw the lock-down go from intact to broken. */
function incidents(w: ColonyWorld): number {
  const old = w.colony.status;
  const was = old?.conditions?.find((c) => c.type === C.LockdownIntact)?.status === 'True';
  return (old?.lockdownIncidents ?? 0) + (was && w.lockdown === 'Broken' ? 1 : 0);
}

function conditions(w: ColonyWorld, f: Facts): Cond[] {
  const secret = secretCondition(f.seeded, f.lost, f.alive, f.n.waiting);
  return [
    readyCondition(w, f, secret),
    secret,
    ...floorConditions(w, f),
    lostCondition(f),
    lockdownCondition(w.lockdown),
  ];
}

export function planColony(w: ColonyWorld): ColonyPlan {
  const old = w.colony.status ?? {};
  const identity = publicIdentity(w);
  const seeded = identity.publicKey !== undefined;
  const alive = w.cells.filter(isAlive).length;
  const wasLost = conditionTrue(old, C.Lost);
  const lost = wasLost || (seeded && alive === 0 && old.publicKey !== undefined);
  const n = needs(w, seeded, lost);
  const { create, shortfall } = place(w, n);
  const generation = w.colony.metadata.generation;
  let conds = old.conditions ?? [];
  for (const c of conditions(w, { seeded, lost, alive, n, shortfall })) {
    conds = setCondition(conds, { ...c, observedGeneration: generation }, w.now);
  }
  const status: ColonyStatus = {
    ...old,
    ...identity,
    observedGeneration: generation,
    desired: w.colony.spec.replicas,
    alive,
    joining: w.cells.filter((c) => !isDead(c) && !isAlive(c)).length,
    lockdownIncidents: incidents(w),
    conditions: conds,
  };
  return { create, delete: oldDead(w.cells), status, becameLost: lost && !wasLost, shortfall };
}
