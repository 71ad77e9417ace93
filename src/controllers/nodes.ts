// Which nodes may hold a colony's cells. Pure functions of the node objects.
import type { V1Node, V1Taint } from '@kubernetes/client-node';
import { HARDENED_TAINT, LABELS, type Colony } from '../api/types.js';
import { isHardenedLabelValue } from '../builders/hardening.js';
import { requiresHardenedNodes } from '../builders/provider.js';

export function nodeReady(node: V1Node): boolean {
  return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

export function isHardened(node: V1Node): boolean {
  return isHardenedLabelValue(node.metadata?.labels?.[LABELS.hardened]);
}

/** Cells tolerate only the hardened taint; any other NoSchedule/NoExecute taint keeps them off. */
function blockingTaint(t: V1Taint): boolean {
  return t.key !== HARDENED_TAINT && (t.effect === 'NoSchedule' || t.effect === 'NoExecute');
}

function matchesSelector(node: V1Node, selector: Record<string, string> | undefined): boolean {
  const labels = node.metadata?.labels ?? {};
  return Object.entries(selector ?? {}).every(([k, v]) => labels[k] === v);
}

// Kept here for the controllers' imports; the fact lives in builders so the cell can share it.
export { requiresHardenedNodes };

/**
 * A node condition announcing planned maintenance (a reboot, a host migration, a scale-down) before
 * any drain: set to True by the maintenance tooling (node-problem-detector custom plugin, a cloud's
 * scheduled-events handler, or an administrator patching node status).
 */
export const MAINTENANCE_CONDITION = 'MaintenancePlanned';

/**
 * Why a node is leaving (its cells are replaced first and it gets no new ones), or undefined:
 * cordoned (`spec.unschedulable`, which `kubectl cordon` and `kubectl drain` set) or the
 * MaintenancePlanned condition is True.
 */
export function leavingReason(node: V1Node): string | undefined {
  if (node.spec?.unschedulable) return 'cordoned';
  const planned = node.status?.conditions?.some(
    (c) => c.type === MAINTENANCE_CONDITION && c.status === 'True',
  );
  return planned ? MAINTENANCE_CONDITION : undefined;
}

/** Why a node cannot take any cell at all, or undefined. */
function unusable(node: V1Node): string | undefined {
  if (node.metadata?.deletionTimestamp) return 'being deleted';
  if (!nodeReady(node)) return 'not Ready';
  const leaving = leavingReason(node);
  if (leaving) return leaving === 'cordoned' ? 'unschedulable' : leaving;
  const taint = node.spec?.taints?.find(blockingTaint);
  return taint ? `tainted ${taint.key}:${taint.effect}` : undefined;
}

/** Why a node cannot take a cell of this colony, or undefined when it can. */
export function ineligibility(colony: Colony, node: V1Node): string | undefined {
  const why = unusable(node);
  if (why) return why;
  if (!matchesSelector(node, colony.spec.placement?.nodeSelector)) return 'does not match nodeSelector';
  if (requiresHardenedNodes(colony) && !isHardened(node)) return 'not hardened';
  return undefined;
}

export function eligibleNodes(colony: Colony, nodes: readonly V1Node[]): V1Node[] {
  return nodes
    .filter((n) => ineligibility(colony, n) === undefined)
    .sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
}

/** The value cells are spread by: one live cell per distinct value. */
export function spreadValue(colony: Colony, node: V1Node): string {
  const key = colony.spec.placement?.spreadKey ?? 'kubernetes.io/hostname';
  return (
    node.metadata?.labels?.[key] ?? (key === 'kubernetes.io/hostname' ? (node.metadata?.name ?? '') : '')
  );
}
