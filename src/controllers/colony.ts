// Colony reconciler: fetch → deletion → desired → apply → status → requeue (STYLE §2).
// Cells and pods go away with the colony through owner references; no finalizer is needed.
import { CellKind, type Colony } from '../api/types.js';
import { buildCell } from '../builders/cell.js';
import { colonyLabels } from '../builders/labels.js';
import { cellServiceAccountName } from '../builders/names.js';
import { controllerRef, isControlledBy } from '../builders/owner.js';
import { planColony } from './colony-plan.js';
import { eventRef, splitKey, type ControllerContext, type ReconcileResult } from './context.js';

/** While cells are on their way, look again even if no event arrives. */
const SETTLING_REQUEUE_MS = 10_000;

async function ensureServiceAccount(ctx: ControllerContext, colony: Colony): Promise<void> {
  const name = cellServiceAccountName(colony.metadata.name ?? '');
  const existing = ctx.serviceAccounts.get(colony.metadata.namespace, name);
  if (existing && isControlledBy(existing, colony)) return;
  if (existing)
    throw new Error(`service account ${name} exists and is not owned by colony ${colony.metadata.name}`);
  await ctx.write.apply({
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: {
      name,
      namespace: colony.metadata.namespace,
      labels: colonyLabels(colony.metadata.name ?? ''),
      ownerReferences: [controllerRef(colony)],
    },
    automountServiceAccountToken: false,
  } as object);
}

export async function reconcileColony(ctx: ControllerContext, key: string): Promise<ReconcileResult> {
  const { namespace, name } = splitKey(key);
  const colony = ctx.colonies.get(namespace, name);
  if (!colony || colony.metadata.deletionTimestamp) return {};

  await ensureServiceAccount(ctx, colony);
  const cells = ctx.cells.list(namespace).filter((c) => isControlledBy(c, colony));
  const plan = planColony({
    colony,
    cells,
    nodes: ctx.nodes.list(),
    lockdown: ctx.lockdown(),
    now: ctx.now(),
  });

  for (const placement of plan.create) {
    const cell = buildCell(colony, placement);
    ctx.log.info(
      { cell: cell.metadata.name, node: placement.node, genesis: placement.genesis },
      'creating cell',
    );
    await ctx.write.apply(cell);
  }
  for (const dead of plan.delete) await ctx.write.delete(CellKind, namespace, dead);

  await ctx.write.patchStatus('Colony', colony, plan.status);
  if (plan.becameLost) {
    await ctx.write.event(
      eventRef(colony, 'Colony'),
      'Warning',
      'SecretLost',
      'every cell died; the secret is gone and will not be regenerated',
    );
  }
  const settling = plan.status.alive !== colony.spec.replicas && !plan.becameLost;
  return settling ? { requeueAfter: SETTLING_REQUEUE_MS } : {};
}
