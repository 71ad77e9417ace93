// The node-hardening reconciler (docs/operations.md "Node hardening"): one key, level-triggered.
// Re-reads colonies, nodes, hardening Jobs and their pods from the caches, plans (node-plan.ts),
// and acts: create the script ConfigMap and a Job per chosen node, label+taint a node whose report
// passed, record a failure (annotations + Warning events) otherwise, delete Jobs whose outcome the
// node shows. A failed write throws (backoff).
import type {
  KubernetesObject,
  V1ConfigMap,
  V1Job,
  V1Node,
  V1ObjectReference,
  V1Pod,
} from '@kubernetes/client-node';
import { readFileSync } from 'node:fs';
import { API_VERSION, type Colony } from '../api/types.js';
import {
  buildHardeningJob,
  buildHijackConfigMap,
  DEFAULT_HARDENING_IMAGE,
  digestPrefix,
  failedNodePatch,
  hardenedNodePatch,
  hijackScript,
  type HijackScript,
} from '../builders/hardening.js';
import type { Logger } from '../observability/logger.js';
import type { ReconcileResult } from '../runtime/controller.js';
import { source, type Cache, type ControllerDescriptor, type InformerSource } from '../runtime/manager.js';
import { isConflict } from '../observability/errors.js';
import type { WriteClient } from '../runtime/write.js';
import type { Reader } from './context.js';
import { colonySpecChanged, nodeChanged } from './predicates.js';
import { HARDENING_RESOURCES } from './resources.js';
import { DEFAULT_RETRY_AFTER_MS, describeAction, planHardening, type HardeningAction } from './node-plan.js';

/** The one work-queue key: every hardening decision looks at all adopt colonies and nodes. */
export const HARDENING_KEY = 'node-hardening';

export interface HardeningOptions {
  /** The operator's namespace: Jobs, their pods and the script ConfigMap live there. */
  namespace: string;
  script: HijackScript;
  /** Image of the Job's container (needs sh, sha256sum, sed, tr, nsenter). Pin by digest. */
  image?: string;
  retryAfterMs?: number;
  /** hijack.sh --node-lease-seconds: the hardened kubelet's Lease duration; undefined = its own. */
  nodeLeaseSeconds?: number;
}

export interface HardeningWriter {
  /** Creates the immutable script ConfigMap; already there is fine. */
  ensureConfigMap(cm: V1ConfigMap): Promise<void>;
  /** Creates a Job; already there is fine (the plan saw a stale cache). */
  createJob(job: V1Job): Promise<void>;
  /** Deletes one incarnation of a Job (uid precondition) and, in the background, its pods; already gone is fine. */
  deleteJob(namespace: string, name: string, uid: string): Promise<void>;
  /** JSON merge patch of a node. */
  patchNode(name: string, patch: object): Promise<void>;
  event(
    regarding: V1ObjectReference,
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
  ): Promise<void>;
}

export interface NodeHardeningDeps {
  colonies: Reader<Colony>;
  nodes: Reader<V1Node>;
  jobs: Reader<V1Job>;
  pods: Reader<V1Pod>;
  opts: HardeningOptions;
  write: HardeningWriter;
  now(): Date;
  log: Logger;
}

/** Reads hijack.sh (at operator start); its sha256 is the digest the hardened label carries. */
export function loadHijackScript(path: string): HijackScript {
  return hijackScript(readFileSync(path, 'utf8'));
}

/** hijack/hijack.sh of this checkout, from src/controllers/ or dist/src/controllers/. */
export function defaultHijackPath(): string {
  const fromSrc = new URL('../../hijack/hijack.sh', import.meta.url);
  const fromDist = new URL('../../../hijack/hijack.sh', import.meta.url);
  return import.meta.url.includes('/dist/') ? fromDist.pathname : fromSrc.pathname;
}

function nodeRef(node: V1Node): V1ObjectReference {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    name: node.metadata?.name,
    uid: node.metadata?.uid,
    namespace: '',
  };
}

function colonyRef(deps: NodeHardeningDeps, ns: string, name: string): V1ObjectReference | undefined {
  const colony = deps.colonies.get(ns, name);
  if (!colony) return undefined;
  return { apiVersion: API_VERSION, kind: 'Colony', namespace: ns, name, uid: colony.metadata.uid };
}

async function act(deps: NodeHardeningDeps, action: HardeningAction): Promise<void> {
  const { write, opts } = deps;
  const nodeName = action.type === 'deleteJob' ? '' : (action.node.metadata?.name ?? '');
  switch (action.type) {
    case 'harden':
      await write.ensureConfigMap(buildHijackConfigMap(opts.script, opts.namespace));
      await write.createJob(
        buildHardeningJob({
          node: action.node,
          script: opts.script,
          namespace: opts.namespace,
          image: opts.image ?? DEFAULT_HARDENING_IMAGE,
          nodeLeaseSeconds: opts.nodeLeaseSeconds,
          colony: action.colony,
        }),
      );
      return;
    case 'hardened':
      await write.patchNode(nodeName, hardenedNodePatch(action.node, opts.script.sha256));
      await write.event(
        nodeRef(action.node),
        'Normal',
        'Hardened',
        `hijack.sh ${digestPrefix(opts.script.sha256)} passed its check; labelled and tainted for cells only`,
      );
      return;
    case 'failed':
      await recordFailure(deps, action);
      return;
    case 'deleteJob':
      await write.deleteJob(action.job.namespace, action.job.name, action.job.uid);
  }
}

async function recordFailure(
  deps: NodeHardeningDeps,
  action: Extract<HardeningAction, { type: 'failed' }>,
): Promise<void> {
  const nodeName = action.node.metadata?.name ?? '';
  await deps.write.patchNode(nodeName, failedNodePatch(action.reason, deps.now(), action.job.uid));
  const message = `node ${nodeName} was not hardened (left out; retried later): ${action.reason}`;
  await deps.write.event(nodeRef(action.node), 'Warning', 'HardeningFailed', message);
  const by = action.requestedBy;
  const colony = by ? colonyRef(deps, by.namespace, by.name) : undefined;
  if (colony) await deps.write.event(colony, 'Warning', 'HardeningFailed', message);
}

export async function reconcileNodeHardening(deps: NodeHardeningDeps): Promise<ReconcileResult> {
  const plan = planHardening({
    colonies: deps.colonies.list(),
    nodes: deps.nodes.list(),
    jobs: deps.jobs.list(deps.opts.namespace),
    pods: deps.pods.list(deps.opts.namespace),
    sha256: deps.opts.script.sha256,
    now: deps.now(),
    retryAfterMs: deps.opts.retryAfterMs ?? DEFAULT_RETRY_AFTER_MS,
  });
  for (const action of plan.actions) {
    deps.log.info({ action: action.type }, describeAction(action));
    await act(deps, action);
  }
  return plan.requeueAfter === undefined ? {} : { requeueAfter: plan.requeueAfter };
}

/** The hardening writes on the one write client. */
export function hardeningWriter(client: WriteClient): HardeningWriter {
  const tolerate =
    (ok: (err: unknown) => boolean) =>
    (err: unknown): void => {
      if (!ok(err)) throw err;
    };
  return {
    ensureConfigMap: async (cm) => {
      await client.create(cm as KubernetesObject).catch(tolerate(isConflict));
    },
    createJob: async (job) => {
      await client.create(job as KubernetesObject).catch(tolerate(isConflict));
    },
    deleteJob: (namespace, name, uid) =>
      client.delete({ apiVersion: 'batch/v1', kind: 'Job', namespace, name }, uid),
    patchNode: (name, patch) => client.patchNode(name, patch),
    event: (regarding, type, reason, message) => client.event(regarding, type, reason, message),
  };
}

export interface NodeHardeningConfig {
  /** The one write client (its fence: the leader gate). */
  write: WriteClient;
  opts: HardeningOptions;
  /** Shared with the operator's other controllers. */
  colonies: Cache<Colony>;
  nodes: Cache<V1Node>;
  /** Where its own informers (Jobs and their pods, operator namespace) come from. */
  informers: InformerSource;
  now: () => Date;
}

/** The node-hardening controller: one key; colonies, nodes, its Jobs and their pods wake it. */
export function hardeningController(cfg: NodeHardeningConfig): ControllerDescriptor {
  const ns = cfg.opts.namespace;
  const jobs = cfg.informers.informer<V1Job>(HARDENING_RESOURCES.jobs(ns));
  const pods = cfg.informers.informer<V1Pod>(HARDENING_RESOURCES.hardeningPods(ns));
  const write = hardeningWriter(cfg.write);
  const toKey = (): string => HARDENING_KEY;
  return {
    name: 'node-hardening',
    needsLeader: true,
    concurrency: 1,
    resyncKeys: () => [HARDENING_KEY],
    reconcile: (req) =>
      reconcileNodeHardening({
        colonies: cfg.colonies,
        nodes: cfg.nodes,
        jobs,
        pods,
        opts: cfg.opts,
        write,
        now: cfg.now,
        log: req.log,
      }),
    sources: [
      source(cfg.colonies, toKey, colonySpecChanged),
      source(cfg.nodes, toKey, nodeChanged),
      source(jobs, toKey),
      source(pods, toKey),
    ],
  };
}
