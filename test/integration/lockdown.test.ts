// The admission lock-down on the real control plane, driven with the real kubectl: every way into a
// locked pod (a cell pod, any pod of a colony namespace, a pod locked by name on a hardened node) or
// a hardened node, tried as a system:masters admin and as an ordinary user whose RBAC allows each
// action, must be denied with the policy's own message; the same action on a plain pod in a
// namespace without colonies / a plain node must not be (positive controls). Prints a table of
// attempts.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  AdmissionregistrationV1Api,
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubernetesObjectApi,
  RbacAuthorizationV1Api,
  type KubeConfig,
  type V1Pod,
} from '@kubernetes/client-node';
import { GROUP, LABELS, LOCKDOWN_PARAMETERS_PLURAL, MANAGER, VERSION } from '../../src/api/types.js';
import {
  LOCKDOWN_PARAMS,
  MESSAGES,
  POLICY,
  lockdownParams,
  lockdownPolicies,
  type LockdownOptions,
} from '../../src/builders/lockdown.js';
import { lockdownWriter, reconcileLockdown } from '../../src/controllers/lockdown.js';
import { WriteClient } from '../../src/runtime/write.js';
import { removeLockdown } from '../support/operator.js';
import {
  planLockdown,
  type LockdownDesired,
  type ObservedLockdown,
} from '../../src/controllers/lockdown-plan.js';
import { installOperatorPrerequisites } from '../../src/install.js';
import { cacheDir } from '../cluster/controlplane.js';
import {
  clusterInfo,
  controlPlane,
  createNamespace,
  deleteNamespace,
  kubeConfig,
  kubeConfigFromFile,
  waitFor,
} from './support/cluster.js';

const KUBECTL = path.join(cacheDir(), 'bin', 'kubectl');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const tag = process.pid.toString(36);
const HARD = `lk-${tag}-hard`;
const PLAIN = `lk-${tag}-plain`;
const ROLE_LABEL = 'celula.io/lockdown-test-role';
const CELL = 'cell-0';
const CELL_PRIV = 'cell-priv';
const PLAIN_POD = 'plain-0';
/** A pod the operator made in the colony namespace that is not a cell: locked with the namespace. */
const OTHER = 'other-0';
/** A pod already on the hardened node (in a namespace without colonies) before the lock-down: locked by name. */
const LEGACY = 'legacy-0';
const IMAGE = 'registry.example/debug:1';
const PARAMS_ROLE = `celula-lockdown-test-params-${tag}`;
/** The cluster-scoped lock-down parameters, for CustomObjectsApi calls. */
const PARAMS = { group: GROUP, version: VERSION, plural: LOCKDOWN_PARAMETERS_PLURAL };

let kc: KubeConfig;
let core: CoreV1Api;
/** The colony namespace (key ns.<ns>): the cell pod and the operator's other pod. */
let ns: string;
/** A namespace without colonies: plain pods, controls, the legacy pod on the hardened node. */
let plainNs: string;
let opNs: string;
let opts: LockdownOptions;
let adminCfg: string;
let userCfg: string;
let operatorCfg: string;
let desired: LockdownDesired[];

interface Attempt {
  who: string;
  path: string;
  expect: 'denied' | 'allowed';
  result: string;
}
const attempts: Attempt[] = [];

interface Run {
  code: number;
  out: string;
}

function kubectl(kubeconfig: string, args: string[], timeoutMs = 15_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      KUBECTL,
      ['--kubeconfig', kubeconfig, ...args],
      { timeout: timeoutMs },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, out: `${stdout}${stderr}`.trim() });
      },
    );
  });
}

const short = (s: string): string => s.replace(/\s+/g, ' ').slice(0, 140);

/** Runs kubectl and asserts the policy denied it with exactly `message`. */

async function denied(
  who: string,
  what: string,
  cfg: string,
  args: string[],
  message: string,
): Promise<void> {
  const r = await kubectl(cfg, args);
  const ok = r.code !== 0 && r.out.includes(message);
  attempts.push({
    who,
    path: what,
    expect: 'denied',
    result: ok ? 'DENIED by policy' : `NOT denied: ${short(r.out)}`,
  });
  expect({ what, out: r.out, code: r.code !== 0 }).toEqual({
    what,
    out: expect.stringContaining(message),
    code: true,
  });
}

/** Runs kubectl and asserts the lock-down did not deny it (it may still fail later, e.g. at the kubelet). */

async function notDenied(
  who: string,
  what: string,
  cfg: string,
  args: string[],
  mustSucceed = false,
): Promise<void> {
  const r = await kubectl(cfg, args, 10_000);
  // A control that hit a missing object proves nothing: count NotFound as a failed control.
  const byPolicy =
    r.out.includes('celula:') || r.out.includes('ValidatingAdmissionPolicy') || r.out.includes('NotFound');
  const ok = !byPolicy && (!mustSucceed || r.code === 0);
  const outcome = r.code === 0 ? 'succeeded' : `failed past admission: ${short(r.out)}`;
  attempts.push({
    who,
    path: what,
    expect: 'allowed',
    result: ok ? `not denied (${outcome})` : `WRONG: ${short(r.out)}`,
  });
  expect({ what, byPolicy, code: mustSucceed ? r.code : 0 }).toEqual({ what, byPolicy: false, code: 0 });
}

function podManifest(
  name: string,
  spec: Partial<V1Pod['spec']>,
  labels: Record<string, string> = {},
  namespace = plainNs,
): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels },
    spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: IMAGE }], ...spec },
  };
}

const cellLabels = (name: string): Record<string, string> => ({
  [LABELS.managedBy]: MANAGER,
  [LABELS.cell]: name,
  [LABELS.colony]: 'lottery',
});

/** Writes a manifest to a temp file for `kubectl create -f`. */
function manifestFile(obj: object): string {
  const file = path.join(os.tmpdir(), `lockdown-${tag}-${Math.random().toString(36).slice(2)}.json`);
  fs.writeFileSync(file, JSON.stringify(obj));
  return file;
}

async function observe(): Promise<ObservedLockdown> {
  const adm = kc.makeApiClient(AdmissionregistrationV1Api);
  const policies = (await adm.listValidatingAdmissionPolicy()).items;
  const bindings = (await adm.listValidatingAdmissionPolicyBinding()).items;
  const params = (await kc
    .makeApiClient(CustomObjectsApi)
    .getClusterCustomObject({ ...PARAMS, name: LOCKDOWN_PARAMS })
    .catch(() => undefined)) as ObservedLockdown['params'];
  return { policies, bindings, params };
}

async function createAll(objs: object[]): Promise<void> {
  const api = kc.makeApiClient(KubernetesObjectApi);
  for (const o of objs) await api.create(o);
}

async function setupRbac(): Promise<void> {
  const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
  await core.createNamespacedServiceAccount({ namespace: opNs, body: { metadata: { name: MANAGER } } });
  const operator = { kind: 'ServiceAccount', name: MANAGER, namespace: opNs };
  const name = 'celula-operator-pods';
  for (const namespace of [ns, plainNs]) {
    await rbac.createNamespacedRole({
      namespace,
      body: { metadata: { name }, rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['*'] }] },
    });
    await rbac.createNamespacedRoleBinding({
      namespace,
      body: {
        metadata: { name },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
        subjects: [operator],
      },
    });
  }
  // The parameters are cluster-scoped: a ClusterRole, on lockdownparameters only.
  await rbac.createClusterRole({
    body: {
      metadata: { name: PARAMS_ROLE },
      rules: [{ apiGroups: [GROUP], resources: [LOCKDOWN_PARAMETERS_PLURAL], verbs: ['*'] }],
    },
  });
  await rbac.createClusterRoleBinding({
    body: {
      metadata: { name: PARAMS_ROLE },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: PARAMS_ROLE },
      subjects: [operator],
    },
  });
  // An ordinary user (not system:masters) that RBAC lets do every one of the actions tried.
  const broad = `celula-lockdown-test-broad-${tag}`;
  await rbac.createClusterRole({
    body: {
      metadata: { name: broad },
      rules: [
        {
          apiGroups: [''],
          resources: [
            'pods',
            'pods/exec',
            'pods/attach',
            'pods/portforward',
            'pods/proxy',
            'pods/ephemeralcontainers',
            'pods/binding',
            'pods/status',
            'nodes',
            'nodes/proxy',
            'serviceaccounts',
            'serviceaccounts/token',
            'events',
          ],
          verbs: ['*'],
        },
        { apiGroups: ['apps'], resources: ['daemonsets'], verbs: ['*'] },
        { apiGroups: [GROUP], resources: [LOCKDOWN_PARAMETERS_PLURAL], verbs: ['*'] },
      ],
    },
  });
  await rbac.createClusterRoleBinding({
    body: {
      metadata: { name: broad },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: broad },
      subjects: [{ kind: 'User', name: 'mallory', apiGroup: 'rbac.authorization.k8s.io' }],
    },
  });
}

/** Policies take effect through the API server's informers: poll a dry-run that must be denied. */
async function waitEnforced(): Promise<void> {
  const probe = manifestFile(podManifest('probe', { nodeName: HARD }));
  await waitFor(
    async () =>
      (await kubectl(adminCfg, ['create', '--dry-run=server', '-n', plainNs, '-f', probe])).out.includes(
        'celula:',
      ),
    'lock-down policies enforced',
    30_000,
    250,
  );
}

beforeAll(async () => {
  kc = await kubeConfig();
  core = kc.makeApiClient(CoreV1Api);
  // The LockdownParameters CRD (with the rest of the operator's prerequisites): the policies' paramKind.
  await installOperatorPrerequisites(kc);
  await waitFor(
    async () =>
      kc
        .makeApiClient(CustomObjectsApi)
        .listClusterCustomObject(PARAMS)
        .then(() => true)
        .catch(() => false),
    'lockdownparameters served',
  );
  adminCfg = clusterInfo().kubeconfig;
  ns = await createNamespace('lockdown');
  plainNs = await createNamespace('lockdown-plain');
  opNs = await createNamespace('lockdown-op');
  opts = { operatorNamespace: opNs, operatorServiceAccount: MANAGER };
  await setupRbac();
  // Tokens first: minting the operator's token is one of the things the lock-down forbids.
  operatorCfg = await controlPlane().kubeconfigForServiceAccount(opNs, MANAGER);
  userCfg = controlPlane().kubeconfigForUser('mallory');
  await controlPlane().addNode(HARD, {
    labels: { [ROLE_LABEL]: 'hardened' },
    taints: [{ key: 'celula.io/hardened', effect: 'NoSchedule' }],
  });
  await controlPlane().addNode(PLAIN, { labels: { [ROLE_LABEL]: 'plain' } });

  // A pod that was on the node before it was hardened (a DaemonSet pod, say): locked by name.
  await core.createNamespacedPod({ namespace: plainNs, body: podManifest(LEGACY, { nodeName: HARD }) });
  // Parameters first (the operator writes a colony namespace's key BEFORE its first cell), then
  // policies, bindings.
  desired = [lockdownParams([HARD], [{ namespace: plainNs, name: LEGACY }], [ns]), ...lockdownPolicies(opts)];
  // The API server activates policies from its informers' snapshot (refreshed about once a second),
  // so a policy probed as enforced says nothing of a binding created after it. Create the probed
  // binding LAST: when it is active, every object created before it is in the same snapshot.
  const probed = (d: LockdownDesired): boolean =>
    d.kind === 'ValidatingAdmissionPolicyBinding' && d.metadata?.name === POLICY.nodePods;
  await createAll([...desired.filter((d) => !probed(d)), ...desired.filter(probed)]);
  await waitEnforced();

  // The cell pod, created by the operator's service account (not admin).
  const cell = podManifest(
    CELL,
    { nodeName: HARD, containers: [{ name: 'cell', image: IMAGE }] },
    cellLabels(CELL),
    ns,
  );
  const asOperator = kubeConfigFromFile(operatorCfg).makeApiClient(CoreV1Api);
  await asOperator.createNamespacedPod({ namespace: ns, body: cell });
  // Not a cell (no labels, plain node), made by the operator: the only one who may make pods there.
  await asOperator.createNamespacedPod({
    namespace: ns,
    body: podManifest(OTHER, { nodeName: PLAIN }, {}, ns),
  });
  await core.createNamespacedPod({ namespace: plainNs, body: podManifest(PLAIN_POD, { nodeName: PLAIN }) });
  for (const [name, namespace] of [
    [CELL, ns],
    [OTHER, ns],
    [PLAIN_POD, plainNs],
    [LEGACY, plainNs],
  ] as const) {
    await waitFor(
      async () => (await core.readNamespacedPod({ name, namespace })).status?.phase === 'Running',
      `pod ${name} Running`,
    );
  }
}, 180_000);

afterAll(async () => {
  const rows = attempts.map((a) => ({ ...a, result: a.result.slice(0, 110) }));
  console.log(
    `lock-down attempts: ${attempts.length} tried; ${attempts.filter((a) => a.expect === 'denied').length} expected denied, ` +
      `${attempts.filter((a) => a.result.startsWith('DENIED by policy')).length} denied by policy; ` +
      `${attempts.filter((a) => a.expect === 'allowed').length} positive controls, ` +
      `${attempts.filter((a) => a.result.startsWith('not denied')).length} not denied\n` +
      rows.map((r) => `${r.who.padEnd(9)} ${r.expect.padEnd(7)} ${r.path.padEnd(58)} ${r.result}`).join('\n'),
  );
  await removeLockdown();
  const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
  await rbac.deleteClusterRoleBinding({ name: PARAMS_ROLE }).catch(() => undefined);
  await rbac.deleteClusterRole({ name: PARAMS_ROLE }).catch(() => undefined);
  await rbac.deleteClusterRoleBinding({ name: `celula-lockdown-test-broad-${tag}` }).catch(() => undefined);
  await rbac.deleteClusterRole({ name: `celula-lockdown-test-broad-${tag}` }).catch(() => undefined);
  await kc
    .makeApiClient(AppsV1Api)
    .deleteNamespacedDaemonSet({ name: 'everywhere', namespace: plainNs })
    .catch(() => undefined);
  await deleteNamespace(ns);
  await deleteNamespace(plainNs);
  await deleteNamespace(opNs);
  for (const n of [HARD, PLAIN])
    await controlPlane()
      .deleteNode(n)
      .catch(() => undefined);
}, 60_000);

describe('admission lock-down, on the real API server with the real kubectl', () => {
  it('reads back intact: the server-defaulted objects match the builders (no false tamper alarm)', async () => {
    expect(planLockdown(desired, await observe())).toEqual({ intact: true, actions: [], mutators: [] });
  });

  describe.each([
    ['admin', () => adminCfg],
    ['user', () => userCfg],
  ])('as %s', (who, cfg) => {
    const n = (): string[] => ['-n', ns];
    const p = (): string[] => ['-n', plainNs];

    it('denies exec, attach, port-forward and proxy into the cell pod; not into a plain pod', async () => {
      const connect: Array<[string, string, string[]]> = [
        ['exec', 'exec', ['exec', CELL, '-c', 'cell', '--', 'true']],
        ['attach', 'attach', ['attach', CELL, '-c', 'cell']],
        ['port-forward', 'portforward', ['port-forward', `pod/${CELL}`, '18443:8443']],
      ];
      for (const [label, sub, args] of connect) {
        await denied(
          who,
          `kubectl ${label} cell pod`,
          cfg(),
          [...n(), ...args],
          MESSAGES.podConnect(sub, ns, CELL),
        );
      }
      for (const suffix of ['', ':8443', 'https:', 'http:']) {
        const name = suffix.endsWith(':') ? `${suffix}${CELL}:8443` : `${CELL}${suffix}`;
        await denied(
          who,
          `get --raw pods/${name}/proxy/`,
          cfg(),
          ['get', '--raw', `/api/v1/namespaces/${ns}/pods/${name}/proxy/`],
          MESSAGES.podConnect('proxy', ns, CELL),
        );
      }
      await notDenied(who, 'kubectl exec plain pod (control)', cfg(), [
        ...p(),
        'exec',
        PLAIN_POD,
        '--',
        'true',
      ]);
      await notDenied(who, 'get --raw plain pod proxy (control)', cfg(), [
        'get',
        '--raw',
        `/api/v1/namespaces/${plainNs}/pods/${PLAIN_POD}/proxy/`,
      ]);
    });

    it('denies exec into any pod of a colony namespace, and into a pod locked by name', async () => {
      await denied(
        who,
        'kubectl exec non-cell pod in colony namespace',
        cfg(),
        [...n(), 'exec', OTHER, '--', 'true'],
        MESSAGES.podConnect('exec', ns, OTHER),
      );
      await denied(
        who,
        'get --raw non-cell pod proxy in colony namespace',
        cfg(),
        ['get', '--raw', `/api/v1/namespaces/${ns}/pods/${OTHER}:8080/proxy/`],
        MESSAGES.podConnect('proxy', ns, OTHER),
      );
      await denied(
        who,
        'kubectl exec pod already on <hard> (by name)',
        cfg(),
        [...p(), 'exec', LEGACY, '--', 'true'],
        MESSAGES.podConnect('exec', plainNs, LEGACY),
      );
    });

    it('denies an ephemeral debug container in the cell pod; allows it in a plain pod', async () => {
      await denied(
        who,
        'kubectl debug cell pod (ephemeral)',
        cfg(),
        ['debug', CELL, `--image=${IMAGE}`, ...n()],
        MESSAGES.ephemeral(ns, CELL),
      );
      await denied(
        who,
        'kubectl debug non-cell pod in colony namespace',
        cfg(),
        ['debug', OTHER, `--image=${IMAGE}`, ...n()],
        MESSAGES.ephemeral(ns, OTHER),
      );
      await notDenied(
        who,
        'kubectl debug plain pod (control)',
        cfg(),
        ['debug', PLAIN_POD, `--image=${IMAGE}`, ...p()],
        true,
      );
    });

    it('denies changing the cell pod spec (set image)', async () => {
      await denied(
        who,
        'kubectl set image cell pod',
        cfg(),
        ['set', 'image', `pod/${CELL}`, 'cell=registry.example/evil:1', ...n()],
        MESSAGES.podSpec(ns, CELL),
      );
      await denied(
        who,
        'kubectl set image non-cell pod in colony namespace',
        cfg(),
        ['set', 'image', `pod/${OTHER}`, 'main=registry.example/evil:1', ...n()],
        MESSAGES.podSpec(ns, OTHER),
      );
      await notDenied(
        who,
        'kubectl set image plain pod (control)',
        cfg(),
        ['set', 'image', `pod/${PLAIN_POD}`, 'main=registry.example/other:1', ...p()],
        true,
      );
    });

    it('denies node proxy to the hardened node (with and without a port); not to a plain node', async () => {
      for (const name of [HARD, `${HARD}:10250`, `https:${HARD}:10250`]) {
        await denied(
          who,
          `get --raw nodes/${name.replace(HARD, '<hard>')}/proxy/`,
          cfg(),
          ['get', '--raw', `/api/v1/nodes/${name}/proxy/healthz`],
          MESSAGES.nodeProxy(HARD),
        );
      }
      await notDenied(who, 'get --raw nodes/<plain>/proxy (control)', cfg(), [
        'get',
        '--raw',
        `/api/v1/nodes/${PLAIN}/proxy/healthz`,
      ]);
    });

    it('denies kubectl debug node/<hardened> and a privileged pod there; allows them on a plain node', async () => {
      await denied(
        who,
        'kubectl debug node/<hard>',
        cfg(),
        ['debug', `node/${HARD}`, `--image=${IMAGE}`, ...p()],
        MESSAGES.nodePodNotCell(HARD),
      );
      const priv = manifestFile(
        podManifest(`priv-${who}`, {
          nodeName: HARD,
          containers: [{ name: 'c', image: IMAGE, securityContext: { privileged: true } }],
        }),
      );
      await denied(
        who,
        'privileged pod with nodeName <hard>',
        cfg(),
        ['create', '-f', priv],
        MESSAGES.nodePodNotCell(HARD),
      );
      const plain = manifestFile(podManifest(`plain-pod-${who}`, { nodeName: HARD }));
      await denied(
        who,
        'plain pod with nodeName <hard>',
        cfg(),
        ['create', '-f', plain],
        MESSAGES.nodePodNotCell(HARD),
      );
      await notDenied(
        who,
        'kubectl debug node/<plain> (control)',
        cfg(),
        ['debug', `node/${PLAIN}`, `--image=${IMAGE}`, ...p()],
        true,
      );
      const privPlain = manifestFile(
        podManifest(`priv-plain-${who}`, {
          nodeName: PLAIN,
          containers: [{ name: 'c', image: IMAGE, securityContext: { privileged: true } }],
        }),
      );
      await notDenied(
        who,
        'privileged pod with nodeName <plain> (control)',
        cfg(),
        ['create', '-f', privPlain],
        true,
      );
    });

    it('denies binding a pod to the hardened node directly', async () => {
      const name = `unbound-${who}`;
      await core.createNamespacedPod({
        namespace: plainNs,
        body: podManifest(name, { schedulerName: 'nobody' }),
      });
      const binding = manifestFile({
        apiVersion: 'v1',
        kind: 'Binding',
        metadata: { name },
        target: { kind: 'Node', name: HARD },
      });
      await denied(
        who,
        'POST pods/<p>/binding target <hard>',
        cfg(),
        ['create', '--raw', `/api/v1/namespaces/${plainNs}/pods/${name}/binding`, '-f', binding],
        MESSAGES.nodeBinding(HARD),
      );
      const ok = manifestFile({
        apiVersion: 'v1',
        kind: 'Binding',
        metadata: { name },
        target: { kind: 'Node', name: PLAIN },
      });
      await notDenied(
        who,
        'POST pods/<p>/binding target <plain> (control)',
        cfg(),
        ['create', '--raw', `/api/v1/namespaces/${plainNs}/pods/${name}/binding`, '-f', ok],
        true,
      );
    });

    it('denies writing or deleting the parameters and minting the operator token', async () => {
      const params = [`${LOCKDOWN_PARAMETERS_PLURAL}.${GROUP}/${LOCKDOWN_PARAMS}`];
      await denied(
        who,
        'kubectl delete lock-down parameters',
        cfg(),
        ['delete', ...params],
        MESSAGES.paramsGuard(),
      );
      await denied(
        who,
        'kubectl patch lock-down parameters (drop node)',
        cfg(),
        [
          'patch',
          ...params,
          '--type=json',
          '-p',
          JSON.stringify([{ op: 'remove', path: `/data/node.${HARD}` }]),
        ],
        MESSAGES.paramsGuard(),
      );
      await denied(
        who,
        'DELETE collection lockdownparameters',
        cfg(),
        ['delete', '--raw', `/apis/${GROUP}/${VERSION}/${LOCKDOWN_PARAMETERS_PLURAL}`],
        MESSAGES.paramsGuard(),
      );
      const kept = (await kc
        .makeApiClient(CustomObjectsApi)
        .getClusterCustomObject({ ...PARAMS, name: LOCKDOWN_PARAMS })) as { data?: object };
      expect(kept.data).toHaveProperty([`node.${HARD}`]);
      await denied(
        who,
        'kubectl create token <operator SA>',
        cfg(),
        ['create', 'token', MANAGER, '-n', opNs],
        MESSAGES.identityToken(opNs, MANAGER, who === 'admin' ? 'celula-admin' : 'mallory'),
      );
      await notDenied(
        who,
        'kubectl create token default (control)',
        cfg(),
        ['create', 'token', 'default', '-n', opNs],
        true,
      );
    });
  });

  it('denies pods in a colony namespace to everyone but the operator, unlocked cell pods, and host access', async () => {
    for (const [who, cfg] of [
      ['admin', adminCfg],
      ['user', userCfg],
    ] as const) {
      const squat = manifestFile(podManifest(CELL_PRIV, { nodeName: PLAIN }, {}, ns));
      await denied(
        who,
        'pod in a colony namespace (squat a cell name)',
        cfg,
        ['create', '-f', squat],
        MESSAGES.colonyNamespacePod(ns),
      );
    }
    const unlocked = manifestFile(podManifest(CELL_PRIV, { nodeName: PLAIN }, cellLabels(CELL_PRIV)));
    await denied(
      'operator',
      'cell pod in a namespace without its key',
      operatorCfg,
      ['create', '-f', unlocked],
      MESSAGES.cellPodUnlocked(plainNs),
    );
    const priv = manifestFile(
      podManifest(
        CELL_PRIV,
        { nodeName: HARD, hostPID: true, containers: [{ name: 'cell', image: IMAGE }] },
        cellLabels(CELL_PRIV),
        ns,
      ),
    );
    await denied(
      'operator',
      'hostPID cell pod on <hard>',
      operatorCfg,
      ['create', '-f', priv],
      MESSAGES.nodePodHostAccess(HARD),
    );
    const second = manifestFile(
      podManifest(
        CELL_PRIV,
        { nodeName: HARD, containers: [{ name: 'cell', image: IMAGE }] },
        cellLabels(CELL_PRIV),
        ns,
      ),
    );
    await notDenied(
      'operator',
      'another cell pod in the colony namespace (control)',
      operatorCfg,
      ['create', '--dry-run=server', '-f', second],
      true,
    );
  });

  it('freezes the cell labels on every pod and every label in a colony namespace, but for the operator', async () => {
    const merge = (labels: Record<string, string | null>): string => JSON.stringify({ metadata: { labels } });
    for (const [who, cfg] of [
      ['admin', adminCfg],
      ['user', userCfg],
    ] as const) {
      const n = ['-n', ns];
      // A holder's pod out of the operator's label-selected cache: it would never see the pod die.
      await denied(
        who,
        'remove celula.io/cell from the cell pod',
        cfg,
        [...n, 'label', 'pod', CELL, `${LABELS.cell}-`],
        MESSAGES.cellLabels(ns, CELL),
      );
      await denied(
        who,
        'remove managed-by from the cell pod',
        cfg,
        [...n, 'label', 'pod', CELL, `${LABELS.managedBy}-`],
        MESSAGES.cellLabels(ns, CELL),
      );
      await denied(
        who,
        'change the cell pod colony label',
        cfg,
        [...n, 'label', 'pod', CELL, `${LABELS.colony}=other`, '--overwrite'],
        MESSAGES.cellLabels(ns, CELL),
      );
      await denied(
        who,
        'remove celula.io/cell via pods/status',
        cfg,
        [
          ...n,
          'patch',
          'pod',
          CELL,
          '--subresource=status',
          '--type=merge',
          '-p',
          merge({ [LABELS.cell]: null }),
        ],
        MESSAGES.cellLabels(ns, CELL),
      );
      await denied(
        who,
        'add a label to the cell pod (colony namespace)',
        cfg,
        [...n, 'label', 'pod', CELL, 'team=x'],
        MESSAGES.podLabels(ns, CELL),
      );
      await denied(
        who,
        'add a label to a non-cell pod in a colony namespace',
        cfg,
        [...n, 'label', 'pod', OTHER, 'team=x'],
        MESSAGES.podLabels(ns, OTHER),
      );
      // An ordinary pod made to look like a cell: it must not lock (or keep locked) its namespace.
      const p = ['-n', plainNs];
      await denied(
        who,
        'add celula.io/cell to a plain pod elsewhere',
        cfg,
        [...p, 'label', 'pod', PLAIN_POD, `${LABELS.cell}=x`],
        MESSAGES.cellLabels(plainNs, PLAIN_POD),
      );
      await denied(
        who,
        'add celula.io/cell to a plain pod via pods/status',
        cfg,
        [
          ...p,
          'patch',
          'pod',
          PLAIN_POD,
          '--subresource=status',
          '--type=merge',
          '-p',
          merge({ [LABELS.cell]: 'x' }),
        ],
        MESSAGES.cellLabels(plainNs, PLAIN_POD),
      );
      await notDenied(
        who,
        'add and remove an ordinary label on a plain pod (control)',
        cfg,
        [...p, 'label', 'pod', PLAIN_POD, `team-${who}=x`],
        true,
      );
      await notDenied(
        who,
        'remove it again (control)',
        cfg,
        [...p, 'label', 'pod', PLAIN_POD, `team-${who}-`],
        true,
      );
    }
    // Why pods/status is matched: the status strategy resets the spec, not the labels.
    await notDenied('admin', 'add an ordinary label via pods/status (control)', adminCfg, [
      ...['-n', plainNs, 'patch', 'pod', PLAIN_POD, '--subresource=status', '--type=merge'],
      ...['-p', merge({ 'via-status': 'x' })],
    ]);
    const viaStatus = await core.readNamespacedPod({ name: PLAIN_POD, namespace: plainNs });
    expect(viaStatus.metadata?.labels?.['via-status']).toBe('x');
    // The operator may (dry run: the cell pod keeps its labels for the other tests).
    const dry = '--dry-run=server';
    await notDenied(
      'operator',
      'remove celula.io/cell from the cell pod (control)',
      operatorCfg,
      ['-n', ns, 'label', 'pod', CELL, `${LABELS.cell}-`, dry],
      true,
    );
    await notDenied(
      'operator',
      'add a label to the non-cell pod in the colony namespace (control)',
      operatorCfg,
      ['-n', ns, 'label', 'pod', OTHER, 'team=x', dry],
      true,
    );
    await notDenied(
      'operator',
      'add celula.io/cell to a plain pod (control)',
      operatorCfg,
      ['-n', plainNs, 'label', 'pod', PLAIN_POD, `${LABELS.cell}=x`, dry],
      true,
    );
  });

  it('keeps the scheduler from binding a pod there (nodeSelector), for admin and user pods', async () => {
    for (const [who, cfg] of [
      ['admin', adminCfg],
      ['user', userCfg],
    ] as const) {
      const pod = manifestFile(
        podManifest(`sched-${who}`, {
          nodeSelector: { [ROLE_LABEL]: 'hardened' },
          tolerations: [{ operator: 'Exists' }],
        }),
      );
      expect((await kubectl(cfg, ['create', '-f', pod])).code).toBe(0);
      await schedulerRefused(who, `sched-${who}`, `scheduler binds nodeSelector pod to <hard>`);
    }
  });

  it('keeps a DaemonSet tolerating everything off the hardened node (it lands on the plain one)', async () => {
    const apps = kc.makeApiClient(AppsV1Api);
    const labels = { app: 'everywhere' };
    await apps.createNamespacedDaemonSet({
      namespace: plainNs,
      body: {
        metadata: { name: 'everywhere' },
        spec: {
          selector: { matchLabels: labels },
          template: {
            metadata: { labels },
            spec: {
              tolerations: [{ operator: 'Exists' }],
              hostPID: true,
              containers: [{ name: 'agent', image: IMAGE, securityContext: { privileged: true } }],
            },
          },
        },
      },
    });
    const dsPod = (node: string) => async () =>
      (await core.listNamespacedPod({ namespace: plainNs, labelSelector: 'app=everywhere' })).items.find(
        (p) => JSON.stringify(p.spec?.affinity ?? {}).includes(`"${node}"`),
      );
    const onPlain = await waitFor(dsPod(PLAIN), 'DaemonSet pod for the plain node');
    await waitFor(
      async () =>
        (await core.readNamespacedPod({ name: onPlain.metadata!.name!, namespace: plainNs })).spec
          ?.nodeName === PLAIN,
      'DaemonSet pod bound to the plain node',
    );
    attempts.push({
      who: 'ds-ctrl',
      path: 'DaemonSet pod for <plain> (control)',
      expect: 'allowed',
      result: 'not denied (bound)',
    });
    const onHard = await waitFor(dsPod(HARD), 'DaemonSet pod for the hardened node');
    await schedulerRefused('ds-ctrl', onHard.metadata!.name!, 'DaemonSet (tolerates all) pod to <hard>');
  });

  it('lets an admin delete a binding (no admission for policies); the tamper plan sees it and restores it', async () => {
    const adm = kc.makeApiClient(AdmissionregistrationV1Api);
    const del = await kubectl(adminCfg, ['delete', 'validatingadmissionpolicybinding', POLICY.podConnect]);
    attempts.push({
      who: 'admin',
      path: 'delete a lock-down binding',
      expect: 'allowed',
      result:
        del.code === 0 ? 'not denied (succeeded: API server skips admission)' : `failed: ${short(del.out)}`,
    });
    expect(del.code).toBe(0);
    const plan = planLockdown(desired, await observe());
    expect(plan.actions.map((a) => [a.name, a.reason])).toEqual([[POLICY.podConnect, 'Missing']]);
    // Also an edit that would neuter a policy: Warn instead of Deny.
    await adm.patchValidatingAdmissionPolicyBinding({
      name: POLICY.ephemeral,
      body: [{ op: 'replace', path: '/spec/validationActions', value: ['Warn'] }],
    });
    const reports: string[] = [];
    const t0 = Date.now();
    // In the operator observe() reads informer caches; here: read the API, then reconcile.
    const observed = await observe();
    await reconcileLockdown({
      opts,
      targets: () => ({ nodes: [HARD], pods: [{ namespace: plainNs, name: LEGACY }], namespaces: [ns] }),
      observe: () => observed,
      write: lockdownWriter(
        new WriteClient({ kubeConfig: kc, fieldManager: MANAGER, now: () => new Date() }),
      ),
      report: (_p, summary) => void reports.push(summary),
    });
    expect(reports.at(-1)).toContain(`${POLICY.podConnect}: Missing`);
    expect(reports.at(-1)).toContain(`${POLICY.ephemeral}: Changed`);
    expect(planLockdown(desired, await observe()).intact).toBe(true);
    await waitFor(
      async () =>
        (await kubectl(adminCfg, ['exec', CELL, '-n', ns, '--', 'true'])).out.includes(
          MESSAGES.podConnect('exec', ns, CELL),
        ),
      'exec denied again',
    );
    console.log(`restored in ${Date.now() - t0} ms`);
  });

  it('fails closed when the parameters are gone (parameterNotFoundAction: Deny)', async () => {
    const opCustom = kubeConfigFromFile(operatorCfg).makeApiClient(CustomObjectsApi);
    await opCustom.deleteClusterCustomObject({ ...PARAMS, name: LOCKDOWN_PARAMS });
    try {
      const r = await waitFor(async () => {
        const run = await kubectl(adminCfg, ['exec', PLAIN_POD, '-n', plainNs, '--', 'true']);
        return run.out.includes(POLICY.podConnect) ? run : undefined;
      }, 'exec into a plain pod denied while the parameters are missing');
      attempts.push({
        who: 'admin',
        path: 'exec plain pod while parameters deleted',
        expect: 'denied',
        result: `DENIED by policy (${short(r.out).slice(0, 60)})`,
      });
      console.log(`with the parameters missing: ${r.out}`);
    } finally {
      const params = desired.find((d) => d.kind === 'LockdownParameters')!;
      await opCustom.createClusterCustomObject({ ...PARAMS, body: params });
    }
  });
});

/** Waits until the scheduler has tried (event) and asserts the pod is still unbound with the policy's message. */
async function schedulerRefused(who: string, pod: string, what: string): Promise<void> {
  const message = MESSAGES.nodeBinding(HARD);
  const events = async (): Promise<string> =>
    (
      await core.listNamespacedEvent({ namespace: plainNs, fieldSelector: `involvedObject.name=${pod}` })
    ).items
      .map((e) => e.message ?? '')
      .join('\n');
  const seen = await waitFor(
    async () => ((await events()).includes(message) ? true : undefined),
    `scheduler event for ${pod}`,
    30_000,
    500,
  ).catch(() => false);
  await sleep(500);
  const bound = (await core.readNamespacedPod({ name: pod, namespace: plainNs })).spec?.nodeName;
  const ok = seen === true && !bound;
  attempts.push({
    who,
    path: what,
    expect: 'denied',
    result: ok ? 'DENIED by policy' : `NOT denied: node=${bound ?? '-'} events=${short(await events())}`,
  });
  expect({ pod, bound, seen }).toEqual({ pod, bound: undefined, seen: true });
}
