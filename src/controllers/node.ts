// The node-hardening reconciler (docs/operations.md "Node hardening"): one key, level-triggered.
// Re-reads colonies, nodes, hardening Jobs and their pods from the caches, plans (node-plan.ts),
// and acts: create the script ConfigMap and a Job per chosen node, label+taint a node whose report
// passed, record a failure (annotations + Warning events) otherwise, delete Jobs whose outcome the
// node shows. A failed write throws (backoff).
import {
  BatchV1Api,
  CoreV1Api,
  PatchStrategy,
  setHeaderOptions,
  type CoreV1Event,
  type KubeConfig,
  type V1ConfigMap,
  type V1Job,
  type V1Node,
  type V1ObjectReference,
  type V1Pod,
} from '@kubernetes/client-node';
import { readFileSync } from 'node:fs';
import { API_VERSION, MANAGER, type Colony } from '../api/types.js';
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
import { isConflict, isNotFound } from '../observability/errors.js';
import type { Reader } from './context.js';
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
  /** Deletes one incarnation of a Job (uid precondition) and its pods; already gone is fine. */
  deleteJob(namespace: string, name: string, uid: string): Promise<void>;
  /** JSON merge patch of a node, as the operator's field manager. */
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

/** The writer on a real API server. */
export function kubeHardeningWriter(kc: KubeConfig, now: () => Date = () => new Date()): HardeningWriter {
  const core = kc.makeApiClient(CoreV1Api);
  const batch = kc.makeApiClient(BatchV1Api);
  const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
  let seq = 0;
  const tolerate =
    (ok: (err: unknown) => boolean) =>
    (err: unknown): void => {
      if (!ok(err)) throw err;
    };
  return {
    ensureConfigMap: async (cm) => {
      const namespace = cm.metadata?.namespace ?? '';
      await core
        .createNamespacedConfigMap({ namespace, body: cm, fieldManager: MANAGER })
        .catch(tolerate(isConflict));
    },
    createJob: async (job) => {
      const namespace = job.metadata?.namespace ?? '';
      await batch
        .createNamespacedJob({ namespace, body: job, fieldManager: MANAGER })
        .catch(tolerate(isConflict));
    },
    deleteJob: async (namespace, name, uid) => {
      const body = { propagationPolicy: 'Background', preconditions: { uid } };
      await batch.deleteNamespacedJob({ namespace, name, body }).catch(tolerate(isNotFound));
    },
    patchNode: async (name, body) => {
      await core.patchNode({ name, body, fieldManager: MANAGER }, mergePatch);
    },
    event: async (regarding, type, reason, message) => {
      const t = now();
      // Events about a Node go to `default`, where kubectl describe node finds them.
      const namespace = regarding.namespace || 'default';
      const body: CoreV1Event = {
        metadata: {
          name: `${regarding.name ?? 'x'}.${t.getTime().toString(16)}${(seq++).toString(16)}`,
          namespace,
        },
        involvedObject: { ...regarding, namespace: regarding.namespace || undefined },
        reason,
        message,
        type,
        source: { component: MANAGER },
        reportingComponent: MANAGER,
        firstTimestamp: t,
        lastTimestamp: t,
        count: 1,
      };
      await core.createNamespacedEvent({ namespace, body });
    },
  };
}

export interface NodeHardeningConfig {
  kubeConfig: KubeConfig;
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
  const write = kubeHardeningWriter(cfg.kubeConfig, cfg.now);
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
      source(cfg.colonies, toKey),
      source(cfg.nodes, toKey),
      source(jobs, toKey),
      source(pods, toKey),
    ],
  };
}
