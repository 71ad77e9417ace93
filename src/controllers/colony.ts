// Colony reconciler: fetch → deletion → desired → apply → status → requeue.
// Cells and pods go away with the colony through owner references; no finalizer is needed.
import type { V1ClusterRoleBinding, V1Node, V1Service } from '@kubernetes/client-node';
import { isConditionTrue } from '../api/conditions.js';
import {
  CellKind,
  ColonyConditions,
  LABELS,
  type Cell,
  type Colony,
  type ColonyStatus,
} from '../api/types.js';
import { buildCell, type CellPlacement } from '../builders/cell.js';
import { buildCellDisruptionBudget } from '../builders/disruption-budget.js';
import { buildCellNetworkPolicy } from '../builders/network-policy.js';
import { buildProgramService } from '../builders/program-service.js';
import { colonyBitcoinAddress, DEFAULT_BITCOIN_NETWORK } from '../api/bitcoin.js';
import { cellServiceAccountName } from '../builders/names.js';
import { isControlledBy } from '../builders/owner.js';
import {
  buildCellClusterRoleBinding,
  buildCellRoleBinding,
  buildCellServiceAccount,
  cellClusterRoleBindingName,
  COLONY_NAMESPACE_LABEL,
  COLONY_UID_LABEL,
} from '../builders/cell-rbac.js';
import { mapToOwner, mapToSelf } from '../runtime/controller.js';
import { source, type ControllerDescriptor } from '../runtime/manager.js';
import { secondsBetween } from './cell.js';
import { planColony, type ColonyPlan } from './colony-plan.js';
import { checkRetirements } from './retirement-check.js';
import { CreateExpectations } from './expectations.js';
import {
  eventRef,
  splitKey,
  type ControllerContext,
  type ControllerDeps,
  type ReconcileResult,
} from './context.js';
import { judgeLease, NODE_LEASE_NAMESPACE } from './node-lease.js';
import {
  budgetChanged,
  cellChanged,
  childChanged,
  clusterBindingChanged,
  colonyChanged,
  nodeChanged,
  serviceChanged,
} from './predicates.js';
import { cellRequest, loadIndex, type NodeLoad } from './placement.js';

/**
 * While cells are on their way, look again even if no event arrives: a safety net (every input of
 * the plan wakes the colony when it changes), so it backs off while nothing changes — 10 s after a
 * condition changed, then as long as the colony has been unchanged, up to 5 minutes. A colony
 * whose cells cannot start (no image, no node) costs a reconcile per 5 minutes, not per 10 s.
 */
export const SETTLING_REQUEUE_MS = { min: 10_000, max: 300_000 } as const;

/** The settling re-check: the time since the colony's last condition change, within the bounds. */
export function settlingRecheckMs(status: ColonyStatus, now: Date): number {
  const last = Math.max(
    0,
    ...(status.conditions ?? []).map((c) => new Date(c.lastTransitionTime).getTime()).filter(Number.isFinite),
  );
  const quiet = last > 0 ? now.getTime() - last : 0;
  return Math.min(SETTLING_REQUEUE_MS.max, Math.max(SETTLING_REQUEUE_MS.min, quiet));
}

/** Nodes minus those whose Lease went stale: a replacement never lands on a silent node. */
function liveNodes(ctx: ControllerContext): { live: V1Node[]; silent: number } {
  const now = ctx.now();
  const since = ctx.guard.observingSince();
  const all = ctx.nodes.list();
  const live = all.filter((n) => {
    const lease = ctx.nodeLeases.get(NODE_LEASE_NAMESPACE, n.metadata?.name ?? '');
    return judgeLease(lease, now, ctx.nodeLossAfter, since).kind !== 'lost';
  });
  return { live, silent: all.length - live.length };
}

/** Living cells per node of every colony the operator sees, plus those it created and has not seen yet. */
function clusterLoad(ctx: ControllerContext): Map<string, NodeLoad> {
  const index = loadIndex(ctx.cells.list(), (c) => ctx.colonies.get(c.metadata.namespace, c.spec.colony));
  const inCache = (key: string): boolean => {
    const [ns = '', name = ''] = key.split('/');
    return ctx.cells.get(ns, name) !== undefined;
  };
  ctx.placements?.addPending(index, inCache, ctx.now());
  return index;
}

async function ensureServiceAccount(ctx: ControllerContext, colony: Colony): Promise<void> {
  const name = cellServiceAccountName(colony.metadata.name ?? '');
  const existing = ctx.serviceAccounts.get(colony.metadata.namespace, name);
  if (existing && isControlledBy(existing, colony)) return;
  if (existing)
    throw new Error(`service account ${name} exists and is not owned by colony ${colony.metadata.name}`);
  await ctx.write.apply(buildCellServiceAccount(colony));
}

/**
 * The cells' permissions: a RoleBinding in the colony namespace (owned by the colony) and a
 * ClusterRoleBinding for TokenReviews and node reads (cluster-scoped, so it cannot be owned by the
 * colony: it is deleted when the colony is gone). Applied only when missing from the cache.
 */
async function ensureCellRbac(ctx: ControllerContext, colony: Colony): Promise<void> {
  const rb = buildCellRoleBinding(colony);
  if (!ctx.roleBindings.get(colony.metadata.namespace, rb.metadata?.name ?? '')) await ctx.write.apply(rb);
  const crb = buildCellClusterRoleBinding(colony);
  const existing = ctx.clusterRoleBindings.get(undefined, crb.metadata?.name ?? '');
  if (existing?.metadata?.labels?.[COLONY_UID_LABEL] !== colony.metadata.uid) await ctx.write.apply(crb);
}

/** Applied when missing from the cache (the informer re-enqueues the colony when it is deleted). */
async function ensureNetworkPolicy(ctx: ControllerContext, colony: Colony): Promise<void> {
  const np = buildCellNetworkPolicy(colony);
  if (!ctx.networkPolicies.get(colony.metadata.namespace, np.metadata?.name ?? '')) await ctx.write.apply(np);
}

/**
 * The colony's PodDisruptionBudget: applied when missing from the cache or when its minAvailable no
 * longer matches spec.replicas (the informer re-enqueues the colony when it changes or goes).
 */
async function ensureDisruptionBudget(ctx: ControllerContext, colony: Colony): Promise<void> {
  const pdb = buildCellDisruptionBudget(colony);
  const existing = ctx.disruptionBudgets.get(colony.metadata.namespace, pdb.metadata?.name ?? '');
  if (existing?.spec?.minAvailable !== pdb.spec?.minAvailable) await ctx.write.apply(pdb);
}

async function removeClusterRoleBinding(
  ctx: ControllerContext,
  namespace: string,
  name: string,
): Promise<void> {
  const crbName = cellClusterRoleBindingName({ metadata: { namespace, name } } as Colony);
  if (ctx.clusterRoleBindings.get(undefined, crbName))
    await ctx.write.delete('ClusterRoleBinding', '', crbName);
}

const condTrue = (s: ColonyStatus | undefined, type: string): boolean => isConditionTrue(s?.conditions, type);

/** How long the floor was breached: from FloorMet turning False to now. */
function recordRecovery(ctx: ControllerContext, before: ColonyStatus | undefined): void {
  const breached = before?.conditions?.find((c) => c.type === ColonyConditions.FloorMet)?.lastTransitionTime;
  const seconds = secondsBetween(breached, ctx.now());
  if (seconds !== undefined) ctx.metrics?.floorRestored(seconds);
}

/** Warning events on loss, on holders going unheard and on a floor breach; Normal on recovery. */
async function reportFloor(ctx: ControllerContext, colony: Colony, plan: ColonyPlan): Promise<void> {
  const ref = eventRef(colony, 'Colony');
  const before = colony.status;
  const after = plan.status;
  const msg = (type: string): string => after.conditions?.find((c) => c.type === type)?.message ?? '';
  if (plan.becameLost) {
    await ctx.write.event(
      ref,
      'Warning',
      'SecretLost',
      'every holder is proven dead; the secret is gone and will not be regenerated',
    );
    return;
  }
  const U = ColonyConditions.HoldersUnreachable;
  if (!condTrue(before, U) && condTrue(after, U)) await ctx.write.event(ref, 'Warning', U, msg(U));
  if (!before?.publicKey) return;
  const F = ColonyConditions.FloorMet;
  if (condTrue(before, F) && !condTrue(after, F))
    await ctx.write.event(ref, 'Warning', 'FloorBreached', msg(F));
  if (!condTrue(before, F) && condTrue(after, F)) {
    recordRecovery(ctx, before);
    await ctx.write.event(ref, 'Normal', 'FloorRestored', msg(F));
  }
}

/**
 * A Warning when needed cells find no node, or find none for other constraints than before (node
 * counts alone changing is no news: the condition's message keeps them current).
 */
async function reportPlacement(ctx: ControllerContext, colony: Colony, plan: ColonyPlan): Promise<void> {
  const P = ColonyConditions.CellsPlaced;
  const find = (s: ColonyStatus | undefined): string | undefined =>
    s?.conditions?.find((c) => c.type === P && c.status === 'False')?.message;
  const now = find(plan.status);
  const shape = (m: string | undefined): string | undefined => m?.replace(/\d+/g, '#');
  if (now === undefined || shape(now) === shape(find(colony.status))) return;
  await ctx.write.event(eventRef(colony, 'Colony'), 'Warning', 'FailedPlacement', now);
}

function recordFloor(ctx: ControllerContext, colony: Colony, s: ColonyStatus): void {
  const counts = { alive: s.alive ?? 0, unreachable: s.unreachable ?? 0, joining: s.joining ?? 0 };
  ctx.metrics?.colony(colony.metadata.namespace ?? '', colony.metadata.name ?? '', {
    ...counts,
    minReplicas: colony.spec.minReplicas,
  });
}

/** The planned cells, built, each with the key the placement ledger knows it by. */
function plannedCells(
  colony: Colony,
  plan: ColonyPlan,
): Array<{ placement: CellPlacement; cell: Cell; key: string }> {
  const namespace = colony.metadata.namespace ?? '';
  return plan.create.map((placement) => {
    const cell = buildCell(colony, placement);
    return { placement, cell, key: `${namespace}/${cell.metadata.name ?? ''}` };
  });
}

/**
 * Every planned cell counts as load at once, synchronously after planning and before any await: a
 * colony reconciled meanwhile must not see these nodes as emptier than they are. Returns the undo.
 */
function assumePlacements(ctx: ControllerContext, colony: Colony, plan: ColonyPlan): () => void {
  const cells = plannedCells(colony, plan);
  const req = cellRequest(colony);
  for (const { placement, key } of cells) ctx.placements?.assume(key, placement.node, req, ctx.now());
  return () => {
    for (const { key } of cells) ctx.placements?.forget(key);
  };
}

/**
 * Creates the planned cells (already assumed in the ledger), prunes old dead ones, then retires the
 * surplus the live count confirms — counted last, right before the deletions, so that a loss during
 * the creations is seen. Returns how soon to look again when a holder's retirement was deferred.
 */
async function applyPlan(
  ctx: ControllerContext,
  colony: Colony,
  plan: ColonyPlan,
  cells: readonly Cell[],
): Promise<number | undefined> {
  const namespace = colony.metadata.namespace ?? '';
  const planned = plannedCells(colony, plan);
  for (const [i, { placement, cell }] of planned.entries()) {
    ctx.log.info(
      { cell: cell.metadata.name, node: placement.node, genesis: placement.genesis },
      'creating cell',
    );
    await ctx.write.apply(cell).catch((err: unknown) => {
      for (const rest of planned.slice(i)) ctx.placements?.forget(rest.key);
      throw err;
    });
    ctx.expectations?.expect(colony.metadata.uid ?? '', [cell.metadata.name ?? ''], ctx.now().getTime());
  }
  for (const dead of plan.delete) await ctx.write.delete(CellKind, namespace, dead);
  if (plan.retire.length === 0) return undefined;
  const { retire, waitMs } = await confirmedNow(ctx, colony, cells, plan.retire);
  for (const surplus of retire) {
    ctx.log.info({ cell: surplus }, 'retiring a surplus cell (replicas reached by heard holders)');
    await ctx.write.delete(CellKind, namespace, surplus);
  }
  return waitMs;
}

/** Lock-down breaks this colony has not counted yet, and how to say it has (once its status is written). */
function unCountedBreaks(ctx: ControllerContext, colony: Colony): { count: number; counted: () => void } {
  const tracker = ctx.lockdownBreaks;
  const uid = colony.metadata.uid ?? '';
  if (!tracker) return { count: 0, counted: () => undefined };
  const created = colony.metadata.creationTimestamp;
  const { breaks, mark } = tracker.since(uid, created ? new Date(created).getTime() : undefined);
  return { count: breaks, counted: () => tracker.record(uid, mark) };
}

/** A colony hosting a program: its Service, applied when missing from the cache (issue 13). */
/**
 * The program Service: made when missing, and taken back when its selector or ports were changed
 * (clients of the program must reach the colony's cells and nothing else). A Service of that name
 * made by someone else is not the colony's: it is left alone and the colony says so (a Warning).
 */
async function ensureProgramService(ctx: ControllerContext, colony: Colony): Promise<void> {
  if (colony.spec.program === undefined) return;
  const want = buildProgramService(colony);
  const name = want.metadata?.name ?? '';
  const have = ctx.services.get(colony.metadata.namespace, name);
  if (have && !isControlledBy(have, colony)) {
    const why = `Service ${name} exists and is not this colony's: its clients may not reach its cells; delete it and the colony makes its own`;
    await ctx.write.event(eventRef(colony, 'Colony'), 'Warning', 'ProgramServiceTaken', why);
    return;
  }
  if (!have || !sameService(have, want)) await ctx.write.apply(want, true);
}

/** Same selector and ports: what the program's clients depend on. */
function sameService(have: V1Service, want: V1Service): boolean {
  return (
    JSON.stringify(have.spec?.selector ?? {}) === JSON.stringify(want.spec?.selector ?? {}) &&
    sameServicePorts(have, want)
  );
}

function sameServicePorts(have: V1Service, want: V1Service): boolean {
  const key = (s: V1Service): string =>
    JSON.stringify(
      (s.spec?.ports ?? []).map((p) => [p.name, p.port, String(p.targetPort), p.protocol ?? 'TCP']),
    );
  return key(have) === key(want);
}

/**
 * The colony's Bitcoin address (secp256k1 colonies, issue 13): P2TR of status.publicKey on
 * spec.bitcoin.network (src/api/bitcoin.ts says why P2TR). From public data only.
 */
export function withBitcoinAddress(colony: Colony, status: ColonyStatus): ColonyStatus {
  if (colony.spec.secret.algorithm !== 'secp256k1' || !status.publicKey) return status;
  const network = colony.spec.bitcoin?.network ?? DEFAULT_BITCOIN_NETWORK;
  return { ...status, bitcoinAddress: colonyBitcoinAddress(status.publicKey, network) };
}

/** The colony's own children: cell ServiceAccount and RBAC, NetworkPolicy, PodDisruptionBudget, program Service. */
async function ensureChildren(ctx: ControllerContext, colony: Colony): Promise<void> {
  await ensureServiceAccount(ctx, colony);
  await ensureCellRbac(ctx, colony);
  await ensureNetworkPolicy(ctx, colony);
  await ensureDisruptionBudget(ctx, colony);
  await ensureProgramService(ctx, colony);
}

/** The colony's cells: by the owner index when the reader has one (its own, not the namespace's). */
function ownCells(ctx: ControllerContext, colony: Colony): Cell[] {
  const uid = colony.metadata.uid ?? '';
  const owned = ctx.cells.listByOwnerUid?.(uid) ?? ctx.cells.list(colony.metadata.namespace);
  return owned.filter((c) => isControlledBy(c, colony));
}

/** How soon a colony whose cache is behind its own creations looks again. */
export const CACHE_WAIT_MS = 500;

/** Cells this controller created that its cache does not show yet: planning now would create them again. */
function cacheBehind(ctx: ControllerContext, colony: Colony, cells: readonly Cell[]): boolean {
  const names = new Set(cells.map((c) => c.metadata.name));
  const unseen = ctx.expectations?.unseen(
    colony.metadata.uid ?? '',
    (n) => names.has(n),
    ctx.now().getTime(),
  );
  if (unseen?.length) ctx.log.debug({ unseen }, 'waiting for the cache to show the cells just created');
  return (unseen?.length ?? 0) > 0;
}

/**
 * Before a genesis cell — the one creation that makes a secret, so a second one would make a second
 * secret — the colony's Cells are read live: any the cache does not have (made by a previous leader,
 * or a cache that relisted late) means the cache is behind, and nothing is created.
 */
async function liveCellsUnseen(
  ctx: ControllerContext,
  colony: Colony,
  cells: readonly Cell[],
): Promise<boolean> {
  const cached = new Set(cells.map((c) => c.metadata.name));
  const live = (await ctx.live.cells(colony.metadata.namespace ?? '', colony.metadata.name ?? '')).filter(
    (c) => isControlledBy(c, colony) && !cached.has(c.metadata.name),
  );
  if (live.length > 0)
    ctx.log.info(
      { cells: live.map((c) => c.metadata.name) },
      'the API server has cells of this colony the cache does not show yet: no genesis cell until it does',
    );
  return live.length > 0;
}

export async function reconcileColony(ctx: ControllerContext, key: string): Promise<ReconcileResult> {
  const { namespace, name } = splitKey(key);
  const cached = ctx.colonies.get(namespace, name);
  // Planned from what this operator last wrote, while the cache has not shown it yet.
  const colony = cached && ctx.write.latest('Colony', cached);
  if (!colony) {
    ctx.metrics?.forget(namespace, name);
    await removeClusterRoleBinding(ctx, namespace, name);
    return {};
  }
  if (colony.metadata.deletionTimestamp) return {};

  await ensureChildren(ctx, colony);
  const cells = ownCells(ctx, colony);
  if (cacheBehind(ctx, colony, cells)) return { requeueAfter: CACHE_WAIT_MS };
  const breaks = unCountedBreaks(ctx, colony);
  const nodes = liveNodes(ctx);
  const plan = planColony({
    colony,
    cells,
    nodes: nodes.live,
    silentNodes: nodes.silent,
    lockdown: ctx.lockdown(),
    lockdownBreaks: breaks.count,
    namespaceWait: ctx.lockdownNamespace?.(namespace),
    fault: ctx.guard.verdict(ctx, ctx.now()).fault,
    load: () => clusterLoad(ctx),
    now: ctx.now(),
  });
  const unassume = assumePlacements(ctx, colony, plan);
  if (plan.create.some((p) => p.genesis) && (await liveCellsUnseen(ctx, colony, cells))) {
    unassume();
    return { requeueAfter: CACHE_WAIT_MS };
  }

  const retiring = retirementsDue(ctx, colony, plan);
  const deferredWaitMs = await applyPlan(ctx, colony, { ...plan, retire: retiring.due }, cells);
  recordFloor(ctx, colony, plan.status);
  const changed = await ctx.write.patchStatus('Colony', colony, withBitcoinAddress(colony, plan.status));
  breaks.counted();
  if (changed) {
    await reportFloor(ctx, colony, plan);
    await reportPlacement(ctx, colony, plan);
  }
  return soonest(soonest(nextCheck(ctx, colony, plan), retiring.waitMs), deferredWaitMs);
}

/** A retirement deferred by the live count is looked at again this soon (its window starts anew). */
const RETIREMENT_RECHECK_MS = 5_000;

/** The plan's retirements confirmed over the detection window (retirement.ts), and when the next is due. */
function retirementsDue(
  ctx: ControllerContext,
  colony: Colony,
  plan: ColonyPlan,
): { due: string[]; waitMs?: number } {
  return (
    ctx.retirements?.due(colony.metadata.uid ?? '', plan.retire, ctx.now().getTime()) ?? {
      due: plan.retire,
    }
  );
}

/**
 * Of the due retirements, those a live count of the holders that stay confirms (retirement-check.ts),
 * and — when a holder was kept — how soon to look again.
 */
async function confirmedNow(
  ctx: ControllerContext,
  colony: Colony,
  cells: readonly Cell[],
  due: readonly string[],
): Promise<{ retire: string[]; waitMs?: number }> {
  const checked = await checkRetirements(ctx, colony, cells, due);
  if (checked.deferred.length === 0) return { retire: checked.retire };
  ctx.log.info(
    { deferred: checked.deferred, confirmed: checked.confirmed, replicas: colony.spec.replicas },
    'retirement deferred: too few of the holders that stay were confirmed live',
  );
  return { retire: checked.retire, waitMs: RETIREMENT_RECHECK_MS };
}

/** The earlier of a result's re-check and `waitMs` (a retirement still being confirmed). */
function soonest(r: ReconcileResult, waitMs: number | undefined): ReconcileResult {
  if (waitMs === undefined) return r;
  return { ...r, requeueAfter: Math.min(r.requeueAfter ?? waitMs, waitMs) };
}

/** A settling colony looks again later; a Lost one has nothing to wait for (events still wake it). */
function nextCheck(ctx: ControllerContext, colony: Colony, plan: ColonyPlan): ReconcileResult {
  const lost = isConditionTrue(plan.status.conditions, ColonyConditions.Lost);
  const settling = plan.status.alive !== colony.spec.replicas && !lost;
  return settling ? { requeueAfter: settlingRecheckMs(plan.status, ctx.now()) } : {};
}

/** The colony a cell ClusterRoleBinding belongs to (its labels name it). */
function colonyOfBinding(crb: V1ClusterRoleBinding): string | undefined {
  const l = crb.metadata?.labels ?? {};
  const ns = l[COLONY_NAMESPACE_LABEL];
  const name = l[LABELS.colony];
  return ns && name ? `${ns}/${name}` : undefined;
}

/**
 * The colony controller: one key per colony; changes it reads wake it (predicates.ts): of the
 * colony, its cells and children, any node, and any node's liveness (placement skips silent nodes).
 */
export function colonyController(d: ControllerDeps): ControllerDescriptor {
  const c = d.caches;
  const owner = mapToOwner('Colony');
  const everyColony = (): string[] => c.colonies.list().map(mapToSelf);
  const expectations = d.ctx.expectations ?? new CreateExpectations();
  return {
    name: 'colony',
    needsLeader: true,
    concurrency: d.concurrency,
    reconcile: (req) => reconcileColony({ ...d.ctx, expectations, log: req.log }, req.key),
    resyncKeys: everyColony,
    sources: [
      source(c.colonies, mapToSelf, colonyChanged),
      source(c.cells, owner, cellChanged),
      source(c.serviceAccounts, owner, childChanged),
      source(c.roleBindings, owner, childChanged),
      source(c.networkPolicies, owner, childChanged),
      source(c.disruptionBudgets, owner, budgetChanged),
      source(c.services, owner, serviceChanged),
      source(c.clusterRoleBindings, colonyOfBinding, clusterBindingChanged),
      // Node changes it reads (readiness, labels, taints, cordon, capacity) and a node going silent
      // or being heard again can change placement for every colony.
      source(c.nodes, everyColony, nodeChanged),
      source(d.nodeLiveness, everyColony),
    ],
  };
}
