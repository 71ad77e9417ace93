// What the node-hardening reconciler should do, as a pure function of the world it observed
// (colonies, nodes, hardening Jobs and their pods, the script digest, the time). Table-tested.
//
// 1. Each finished hardening Job is judged from its pod's termination message: a passing report
//    (strict: see judgeReport) marks the node hardened; anything else records a failure on the node
//    (annotations naming the Job's uid). The Job is deleted only in a later pass, once the cached
//    node shows the label or the record: there is never a moment where neither the Job nor the
//    outcome is visible, so a lagging cache cannot start a second Job. A Job whose node is gone is deleted.
// 2. For each colony with provider `adopt` (in namespace/name order), if fewer than replicas + 1
//    (one spare for a surge) usable nodes matching its nodeSelector are hardened or being
//    hardened, the missing number of candidates get a Job: Ready, schedulable, untainted, matching,
//    not hardened, no Job yet, no failure within the retry backoff; in name order.
import type { V1Job, V1Node, V1Pod } from '@kubernetes/client-node';
import type { Colony } from '../api/types.js';
import {
  FAILED_ANNOTATIONS,
  HARDENING_ANNOTATIONS,
  parseHardeningReport,
  type HardeningReport,
} from '../builders/hardening.js';
import { ineligibility, isHardened } from './nodes.js';

/** Protections that must be `pass` (not merely not-applicable) on a node that runs a kubelet. */
export const REQUIRED_PASS = [
  'remote-shell.sshd',
  'remote-shell.getty',
  'accounts.passwords',
  'accounts.shells',
  'kubelet.debugging-handlers',
  'kubelet.anonymous-auth',
  'kubelet.authorization-webhook',
  'kubelet.read-only-port',
  'kubelet.container-checkpoint',
  'kubelet.flags',
  'kubelet.running-config',
  'runtime.cli',
  'runtime.socket',
  'kernel.core-limits',
  'manifest',
] as const;

/** A failed node is not tried again before this (no hot loop); another candidate is chosen meanwhile. */
export const DEFAULT_RETRY_AFTER_MS = 10 * 60_000;
/** Look again while Jobs run, even without events. */
export const RUNNING_REQUEUE_MS = 15_000;

export interface HardeningWorld {
  colonies: readonly Colony[];
  nodes: readonly V1Node[];
  /** Hardening Jobs (label-selected) in the operator namespace. */
  jobs: readonly V1Job[];
  /** Their pods. */
  pods: readonly V1Pod[];
  sha256: string;
  now: Date;
  retryAfterMs: number;
}

export interface JobRef {
  namespace: string;
  name: string;
  uid: string;
}

export interface ColonyRef {
  namespace: string;
  name: string;
}

export type HardeningAction =
  | { type: 'harden'; node: V1Node; colony: Colony }
  | { type: 'hardened'; node: V1Node; job: JobRef }
  | { type: 'failed'; node: V1Node; job: JobRef; reason: string; requestedBy?: ColonyRef }
  | { type: 'deleteJob'; job: JobRef; why: string };

export interface HardeningPlan {
  actions: HardeningAction[];
  requeueAfter?: number;
}

export type Verdict = { ok: true } | { ok: false; reason: string };

/**
 * Strict: the report is this script's, ran on the host (not a container, not a prefix), nothing
 * failed, and every REQUIRED_PASS protection passed. Not-applicable is accepted only for the rest
 * (absent cloud agents, kernel features the kernel lacks).
 */
export function judgeReport(report: HardeningReport | undefined, sha256: string): Verdict {
  if (!report) return { ok: false, reason: 'no readable --check report in the termination message' };
  if (report.error) return { ok: false, reason: `hijack.sh could not run: ${report.error}` };
  if (report.sha256 !== sha256)
    return { ok: false, reason: `report from script ${report.sha256 ?? '?'}, expected ${sha256}` };
  if (report.context !== 'host')
    return { ok: false, reason: `kernel context ${report.context ?? '?'}, expected host` };
  if (report.fail.length > 0) return { ok: false, reason: `protections failed: ${report.fail.join(', ')}` };
  const missing = REQUIRED_PASS.filter((id) => !report.pass.includes(id));
  if (missing.length > 0) return { ok: false, reason: `protections not passing: ${missing.join(', ')}` };
  return { ok: true };
}

function condition(job: V1Job, type: string): { reason?: string; message?: string } | undefined {
  return job.status?.conditions?.find((c) => c.type === type && c.status === 'True');
}

function terminationMessage(pod: V1Pod): string | undefined {
  return pod.status?.containerStatuses?.find((s) => s.state?.terminated)?.state?.terminated?.message;
}

function jobPods(job: V1Job, pods: readonly V1Pod[]): V1Pod[] {
  const uid = job.metadata?.uid;
  return pods.filter((p) => p.metadata?.ownerReferences?.some((r) => r.uid === uid));
}

function failedJobVerdict(failed: { reason?: string; message?: string }): Verdict {
  return { ok: false, reason: `Job failed (${failed.reason ?? 'unknown'}) ${failed.message ?? ''}`.trim() };
}

/** Running (undefined), or the verdict of a finished Job. */
export function jobVerdict(job: V1Job, pods: readonly V1Pod[], sha256: string): Verdict | undefined {
  const complete = condition(job, 'Complete');
  const failed = condition(job, 'Failed');
  if (!complete && !failed) return undefined;
  const message = jobPods(job, pods)
    .map(terminationMessage)
    .find((m) => m !== undefined);
  if (message === undefined && failed) return failedJobVerdict(failed);
  const verdict = judgeReport(parseHardeningReport(message), sha256);
  if (!verdict.ok || complete) return verdict;
  return { ok: false, reason: 'Job failed although its report passed' };
}

function jobRef(job: V1Job): JobRef {
  const m = job.metadata;
  return { namespace: m?.namespace ?? '', name: m?.name ?? '', uid: m?.uid ?? '' };
}

function requestedBy(job: V1Job): ColonyRef | undefined {
  const v = job.metadata?.annotations?.[HARDENING_ANNOTATIONS.requestedBy];
  const i = v?.indexOf('/') ?? -1;
  return v && i > 0 ? { namespace: v.slice(0, i), name: v.slice(i + 1) } : undefined;
}

export function jobNode(job: V1Job): string {
  return job.spec?.template?.spec?.nodeName ?? job.metadata?.annotations?.[HARDENING_ANNOTATIONS.node] ?? '';
}

function resultAction(job: V1Job, node: V1Node, verdict: Verdict): HardeningAction {
  if (isHardened(node)) return { type: 'deleteJob', job: jobRef(job), why: 'node hardened' };
  if (node.metadata?.annotations?.[FAILED_ANNOTATIONS.job] === job.metadata?.uid)
    return { type: 'deleteJob', job: jobRef(job), why: 'failure recorded on the node' };
  if (verdict.ok) return { type: 'hardened', node, job: jobRef(job) };
  return { type: 'failed', node, job: jobRef(job), reason: verdict.reason, requestedBy: requestedBy(job) };
}

/** Actions for existing Jobs, and whether any is still running. */
function planJobs(
  world: HardeningWorld,
  byName: Map<string, V1Node>,
): { actions: HardeningAction[]; running: boolean } {
  const actions: HardeningAction[] = [];
  let running = false;
  for (const job of world.jobs) {
    if (job.metadata?.deletionTimestamp) continue;
    const node = byName.get(jobNode(job));
    if (!node) {
      actions.push({ type: 'deleteJob', job: jobRef(job), why: `node ${jobNode(job)} is gone` });
      continue;
    }
    const verdict = jobVerdict(job, world.pods, world.sha256);
    if (verdict) actions.push(resultAction(job, node, verdict));
    else running = true;
  }
  return { actions, running };
}

/** When a recorded failure stops blocking a retry (ms since epoch), or undefined when none is recorded. */
export function retryAt(node: V1Node, retryAfterMs: number): number | undefined {
  const at = Date.parse(node.metadata?.annotations?.[FAILED_ANNOTATIONS.at] ?? '');
  return Number.isNaN(at) ? undefined : at + retryAfterMs;
}

function asUnhardened(colony: Colony): Colony {
  return { ...colony, spec: { ...colony.spec, nodes: { provider: 'unhardened' } } };
}

/** Usable for the colony (Ready, schedulable, no blocking taint, matches nodeSelector), hardened or not. */
function usableFor(colony: Colony, node: V1Node): boolean {
  return ineligibility(asUnhardened(colony), node) === undefined;
}

export function adopting(colony: Colony): boolean {
  return (colony.spec.nodes?.provider ?? 'adopt') === 'adopt' && !colony.metadata.deletionTimestamp;
}

interface Selection {
  busy: Set<string>;
  now: number;
  retryAfterMs: number;
  /** Earliest time a backed-off candidate becomes eligible again. */
  nextRetry?: number;
}

function candidate(colony: Colony, node: V1Node, sel: Selection): boolean {
  if (isHardened(node) || sel.busy.has(node.metadata?.name ?? '') || !usableFor(colony, node)) return false;
  const retry = retryAt(node, sel.retryAfterMs);
  if (retry === undefined || retry <= sel.now) return true;
  sel.nextRetry = Math.min(sel.nextRetry ?? retry, retry);
  return false;
}

function chooseFor(colony: Colony, nodes: readonly V1Node[], sel: Selection): V1Node[] {
  const have = nodes.filter(
    (n) => usableFor(colony, n) && (isHardened(n) || sel.busy.has(n.metadata?.name ?? '')),
  ).length;
  const missing = colony.spec.replicas + 1 - have;
  if (missing <= 0) return [];
  const chosen = nodes.filter((n) => candidate(colony, n, sel)).slice(0, missing);
  chosen.forEach((n) => sel.busy.add(n.metadata?.name ?? ''));
  return chosen;
}

const byKey = (a: Colony, b: Colony): number =>
  `${a.metadata.namespace ?? ''}/${a.metadata.name ?? ''}`.localeCompare(
    `${b.metadata.namespace ?? ''}/${b.metadata.name ?? ''}`,
  );

export function planHardening(world: HardeningWorld): HardeningPlan {
  const nodes = [...world.nodes].sort((a, b) =>
    (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''),
  );
  const byName = new Map(nodes.map((n) => [n.metadata?.name ?? '', n]));
  const jobs = planJobs(world, byName);
  // A node with any Job (running, or finished and being recorded now) gets no second one.
  const sel: Selection = {
    busy: new Set(world.jobs.map(jobNode)),
    now: world.now.getTime(),
    retryAfterMs: world.retryAfterMs,
  };
  const harden: HardeningAction[] = [];
  for (const colony of [...world.colonies].filter(adopting).sort(byKey)) {
    for (const node of chooseFor(colony, nodes, sel)) harden.push({ type: 'harden', node, colony });
  }
  const actions = [...jobs.actions, ...harden];
  const waits = [
    jobs.running || harden.length > 0 ? RUNNING_REQUEUE_MS : undefined,
    sel.nextRetry === undefined ? undefined : Math.max(1_000, sel.nextRetry - sel.now),
  ].filter((x): x is number => x !== undefined);
  return { actions, requeueAfter: waits.length > 0 ? Math.min(...waits) : undefined };
}

const nameOf = (o: { metadata?: { namespace?: string; name?: string } }): string =>
  [o.metadata?.namespace, o.metadata?.name].filter(Boolean).join('/');

/** One line per action, for the reconcile log. */
export function describeAction(a: HardeningAction): string {
  switch (a.type) {
    case 'harden':
      return `harden ${nameOf(a.node)} for colony ${nameOf(a.colony)}`;
    case 'hardened':
      return `${nameOf(a.node)} hardened`;
    case 'failed':
      return `${nameOf(a.node)} not hardened: ${a.reason}`;
    case 'deleteJob':
      return `delete Job ${a.job.name}: ${a.why}`;
  }
}
