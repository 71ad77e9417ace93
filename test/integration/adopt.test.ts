// Acceptance 3 of issue 5: a colony with `provider: adopt` on three simulated nodes → a hardening
// Job per chosen node, pinned to it and privileged only there; the test plays the kubelet for the
// Jobs' pods (kwok cannot run hijack.sh: the pods carry the colony's `celula.io/cell-runtime=local`
// label, which kwok's status stages skip) and writes the termination message the real container
// would: a passing report → the node is labelled and tainted; a failing one → left out, with a
// Warning event and annotation saying which protections failed, and not retried in a loop.
// The node-hardening controller runs in process as the operator's service account, with exactly
// the RBAC the chart grants.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  BatchV1Api,
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type V1Job,
  type V1Node,
  type V1Pod,
} from '@kubernetes/client-node';
import { writeFileSync } from 'node:fs';
import {
  COLONY_PLURAL,
  GROUP,
  HARDENED_TAINT,
  LABELS,
  MANAGER,
  VERSION,
  type Colony,
} from '../../src/api/types.js';
import {
  FAILED_ANNOTATIONS,
  HARDENING_ANNOTATIONS,
  HARDENING_SELECTOR,
  digestPrefix,
} from '../../src/builders/hardening.js';
import { REQUIRED_PASS } from '../../src/controllers/node-plan.js';
import { defaultHijackPath, hardeningController, loadHijackScript } from '../../src/controllers/node.js';
import { OPERATOR_NAME } from '../../src/builders/rbac-rules.js';
import { DEFAULT_OPERATOR_NAMESPACE, installOperatorPrerequisites } from '../../src/install.js';
import { createLogger } from '../../src/observability/logger.js';
import { Informer } from '../../src/runtime/informer.js';
import { Manager } from '../../src/runtime/manager.js';
import { WriteClient } from '../../src/runtime/write.js';
import {
  clusterInfo,
  controlPlane,
  createNamespace,
  deleteNamespace,
  kubeConfig,
  serviceAccountKubeConfig,
  waitFor,
} from './support/cluster.js';

const POOL = `adopt-${process.pid.toString(36)}`;
const NODES = [0, 1, 2].map((i) => `${POOL}-n${i}`);
const [PASS_A, PASS_B, FAIL] = NODES as [string, string, string];
const OP_NS = DEFAULT_OPERATOR_NAMESPACE;
const script = loadHijackScript(defaultHijackPath());
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

let core: CoreV1Api;
let batch: BatchV1Api;
let custom: CustomObjectsApi;
let ns: string;
let manager: Manager | undefined;
const logs: string[] = [];
const jobPods = new Map<string, V1Pod>();

async function startHardening(kc: KubeConfig): Promise<void> {
  const destination = { write: (l: string): boolean => logs.push(l) > 0 } as unknown as NodeJS.WritableStream;
  const logger = createLogger({ level: 'debug', destination });
  // No election: the manager's gate is open once it started (this test is the only operator).
  const m = new Manager({
    logger,
    informers: (spec) => new Informer<object>({ kubeConfig: kc, logger, ...spec }),
  });
  manager = m;
  // This test's namespace only: colonies other test files leave behind (default provider: adopt)
  // must not send hardening Jobs to this run's nodes.
  const colonies = m.informer<Colony>({
    path: `/apis/${GROUP}/${VERSION}/namespaces/${ns}/${COLONY_PLURAL}`,
  });
  const nodes = m.informer<V1Node>({ path: '/api/v1/nodes' });
  const write = new WriteClient({
    kubeConfig: kc,
    fieldManager: MANAGER,
    now: () => new Date(),
    fence: () => m.isLeading(),
  });
  m.add(
    hardeningController({
      write,
      opts: { namespace: OP_NS, script, retryAfterMs: 10 * 60_000 },
      colonies,
      nodes,
      informers: m,
      now: () => new Date(),
    }),
  );
  await m.start();
}

function colony(): Colony {
  return {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: 'Colony',
    metadata: { name: 'vault', labels: { 'celula.io/cell-runtime': 'local' } },
    spec: {
      image: `registry.example/vault@sha256:${'c'.repeat(64)}`,
      replicas: 2,
      minReplicas: 1,
      secret: { algorithm: 'ed25519' },
      nodes: { provider: 'adopt' },
      placement: { nodeSelector: { 'celula.test/pool': POOL } },
    },
  };
}

async function ourJobs(): Promise<V1Job[]> {
  const list = await batch.listNamespacedJob({ namespace: OP_NS, labelSelector: HARDENING_SELECTOR });
  return list.items.filter((j) =>
    NODES.includes(j.metadata?.annotations?.[HARDENING_ANNOTATIONS.node] ?? ''),
  );
}

async function podOfNode(node: string): Promise<V1Pod | undefined> {
  const list = await core.listNamespacedPod({ namespace: OP_NS, labelSelector: HARDENING_SELECTOR });
  return list.items.find((p) => p.spec?.nodeName === node);
}

/** What the kubelet would report for the finished container, with the program's termination message. */
async function finishPod(pod: V1Pod, report: object, exitCode: number): Promise<void> {
  const now = new Date().toISOString();
  const body = {
    status: {
      phase: exitCode === 0 ? 'Succeeded' : 'Failed',
      containerStatuses: [
        {
          name: 'hijack',
          image: pod.spec?.containers[0]?.image ?? '',
          imageID: '',
          ready: false,
          restartCount: 0,
          state: {
            terminated: {
              exitCode,
              reason: exitCode === 0 ? 'Completed' : 'Error',
              message: JSON.stringify(report),
              startedAt: now,
              finishedAt: now,
            },
          },
        },
      ],
    },
  };
  await core.patchNamespacedPodStatus({ name: pod.metadata!.name!, namespace: OP_NS, body }, mergePatch);
}

const passing = {
  v: 1,
  sha256: script.sha256,
  context: 'host',
  pass: [...REQUIRED_PASS],
  fail: [],
  na: ['agent.qemu-guest-agent'],
};
const failing = {
  v: 1,
  sha256: script.sha256,
  context: 'host',
  pass: REQUIRED_PASS.filter((id) => id !== 'remote-shell.sshd' && id !== 'kubelet.debugging-handlers'),
  fail: ['remote-shell.sshd', 'kubelet.debugging-handlers'],
  na: [],
};

beforeAll(async () => {
  const admin = await kubeConfig();
  core = admin.makeApiClient(CoreV1Api);
  batch = admin.makeApiClient(BatchV1Api);
  custom = admin.makeApiClient(CustomObjectsApi);
  ns = await createNamespace('adopt');
  await Promise.all(NODES.map((n) => controlPlane().addNode(n, { labels: { 'celula.test/pool': POOL } })));
  await installOperatorPrerequisites(admin);
  await startHardening(await serviceAccountKubeConfig(OP_NS, OPERATOR_NAME));
});

afterAll(async () => {
  await manager?.stop();
  writeFileSync(`${clusterInfo().stateDir}/logs/adopt-test.log`, logs.join(''));
  for (const j of (await ourJobs().catch(() => [])) ?? [])
    await batch
      .deleteNamespacedJob({
        namespace: OP_NS,
        name: j.metadata!.name!,
        body: { propagationPolicy: 'Background' },
      })
      .catch(() => undefined);
  await Promise.all(
    NODES.map((n) =>
      controlPlane()
        .deleteNode(n)
        .catch(() => undefined),
    ),
  );
  if (ns) await deleteNamespace(ns);
});

describe('adopting nodes (provider: adopt)', () => {
  it('creates a hardening Job for each chosen node: replicas + 1 spare', async () => {
    await custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: ns,
      plural: COLONY_PLURAL,
      body: colony(),
    });
    const jobs = await waitFor(async () => {
      const j = await ourJobs();
      return j.length === 3 && j;
    }, 'three hardening Jobs');
    expect(jobs.map((j) => j.spec?.template.spec?.nodeName).sort()).toEqual([...NODES].sort());
    expect(
      jobs.every((j) => j.metadata?.annotations?.[HARDENING_ANNOTATIONS.requestedBy] === `${ns}/vault`),
    ).toBe(true);
  });

  it('pins each Job pod to its node, privileged there and nowhere else', async () => {
    for (const node of NODES) {
      const pod = await waitFor(() => podOfNode(node), `hardening pod on ${node}`);
      jobPods.set(node, pod);
      const spec = pod.spec!;
      expect(spec.nodeName).toBe(node);
      expect(spec.hostPID).toBe(true);
      expect(spec.hostNetwork ?? false).toBe(false);
      expect(spec.hostIPC ?? false).toBe(false);
      expect(spec.automountServiceAccountToken).toBe(false);
      expect((spec.volumes ?? []).some((v) => v.hostPath !== undefined)).toBe(false);
      expect(spec.containers.map((c) => c.securityContext?.privileged)).toEqual([true]);
      expect(pod.metadata?.labels?.['celula.io/cell-runtime']).toBe('local');
      const node$ = await core.readNode({ name: node });
      expect(node$.metadata?.labels?.[LABELS.hardened]).toBeUndefined();
    }
    // No other pod the operator made is privileged (cells are not: see operator/cell tests).
    const managed = await core.listPodForAllNamespaces({
      labelSelector: `${LABELS.managedBy}=celula-operator`,
    });
    const privileged = managed.items.filter((p) =>
      p.spec?.containers.some((c) => c.securityContext?.privileged),
    );
    expect(privileged.every((p) => p.metadata?.labels?.['celula.io/component'] === 'hardening')).toBe(true);
  });

  it('labels and taints the nodes whose report passes', async () => {
    await finishPod(jobPods.get(PASS_A)!, passing, 0);
    await finishPod(jobPods.get(PASS_B)!, passing, 0);
    for (const name of [PASS_A, PASS_B]) {
      const node = await waitFor(async () => {
        const n = await core.readNode({ name });
        return n.metadata?.labels?.[LABELS.hardened] !== undefined && n;
      }, `${name} hardened`);
      expect(node.metadata?.labels?.[LABELS.hardened]).toBe(digestPrefix(script.sha256));
      expect(node.spec?.taints).toContainEqual({ key: HARDENED_TAINT, value: 'true', effect: 'NoSchedule' });
    }
  });

  it('leaves a node whose report fails un-hardened, and says why', async () => {
    await finishPod(jobPods.get(FAIL)!, failing, 1);
    const node = await waitFor(async () => {
      const n = await core.readNode({ name: FAIL });
      return n.metadata?.annotations?.[FAILED_ANNOTATIONS.reason] !== undefined && n;
    }, `${FAIL} failure recorded`);
    expect(node.metadata?.annotations?.[FAILED_ANNOTATIONS.reason]).toMatch(
      /remote-shell\.sshd, kubelet\.debugging-handlers/,
    );
    expect(node.metadata?.labels?.[LABELS.hardened]).toBeUndefined();
    expect((node.spec?.taints ?? []).some((t) => t.key === HARDENED_TAINT)).toBe(false);

    const nodeEvents = await waitFor(async () => {
      const e = await core.listNamespacedEvent({
        namespace: 'default',
        fieldSelector: `involvedObject.name=${FAIL}`,
      });
      return e.items.find((x) => x.reason === 'HardeningFailed');
    }, 'Warning event on the node');
    expect(nodeEvents.type).toBe('Warning');
    expect(nodeEvents.message).toMatch(/remote-shell\.sshd/);
    const colonyEvent = await waitFor(async () => {
      const e = await core.listNamespacedEvent({ namespace: ns, fieldSelector: 'involvedObject.name=vault' });
      return e.items.find((x) => x.reason === 'HardeningFailed');
    }, 'Warning event on the colony');
    expect(colonyEvent.message).toContain(FAIL);
  });

  it('deletes the Jobs once the nodes show their outcome, and does not retry the failure in a loop', async () => {
    await waitFor(async () => (await ourJobs()).length === 0, 'hardening Jobs deleted');
    await new Promise((r) => setTimeout(r, 3000));
    expect(await ourJobs()).toHaveLength(0);
    const events = await core.listNamespacedEvent({
      namespace: 'default',
      fieldSelector: `involvedObject.name=${FAIL}`,
    });
    expect(events.items.filter((x) => x.reason === 'HardeningFailed')).toHaveLength(1);
  });
});
