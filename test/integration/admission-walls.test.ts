// The identity walls (src/builders/walls.ts) on a real kube-apiserver v1.37.2 that loads the chart's
// static policies (charts/celula/static, KEP-5793) at start, driven with the real kubectl. Its own
// control plane: static policies refuse what the shared test cluster's
// harnesses do as admin (minting the operator's token, creating Cells), so they get a cluster of
// their own (etcd, kube-apiserver, kube-controller-manager). Principals: a namespace `admin` (user), a cluster-admin (system:masters), the cell's
// service account impersonated, a kubelet (system:node:*), the operator (impersonated by the
// cluster-admin: here only as the legitimate writer). Prints a table of attempts.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { KubernetesObjectApi, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { loadCrds } from '../../src/api/crds.js';
import { GROUP, LABELS, MANAGER, VERSION } from '../../src/api/types.js';
import { lockdownParams, lockdownPolicies } from '../../src/builders/lockdown.js';
import { STATIC_POLICY } from '../../src/builders/static-policies.js';
import {
  NODE_HARDENERS_GROUP,
  SEALED_NAMESPACE_LABEL,
  operatorUsername,
  wallMessage,
} from '../../src/builders/walls.js';
import { installOperatorPrerequisites } from '../../src/install.js';
import { applyObject } from '../../src/runtime/apply.js';
import { ControlPlane, cacheDir } from '../cluster/controlplane.js';
import { writeKubeconfig } from '../cluster/kubeconfig.js';

const KUBECTL = path.join(cacheDir(), 'bin', 'kubectl');
const OP = { operatorNamespace: 'celula-system', operatorServiceAccount: MANAGER };
const OPERATOR = operatorUsername(OP);
const NS = 'walls';
const CELL_SA = 'lottery-cell';
const NODE = 'walls-n1';
const IMAGE = 'registry.example/cell:1';
const DIGEST = '0123456789ab';
const ADMIN_USER = 'celula-admin';
const NS_ADMIN = 'nsadmin';

let cp: ControlPlane;
let admin: string;
let nsAdmin: string;
let nodeCfg: string;
const uids: Record<string, string> = {};

interface Run {
  code: number;
  out: string;
}
interface Attempt {
  who: string;
  path: string;
  expect: 'denied' | 'allowed';
  result: string;
}
const attempts: Attempt[] = [];

function kubectl(cfg: string, args: string[], input?: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(
      KUBECTL,
      ['--kubeconfig', cfg, ...args],
      { timeout: 20_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, out: `${stdout}${stderr}`.trim() });
      },
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

const short = (s: string): string => s.replace(/\s+/g, ' ').slice(0, 160);

/** kubectl must fail with `message`, from static policy `policy`. */
/** A merge patch setting (or, with null, removing) one label. */
function labelPatch(key: string, value: string | null): string {
  return JSON.stringify({ metadata: { labels: { [key]: value } } });
}

async function denied(
  who: string,
  what: string,
  cfg: string,
  args: string[],
  policy: string,
  message: string,
): Promise<void> {
  const r = await kubectl(cfg, args);
  const ok = r.code !== 0 && r.out.includes(message) && r.out.includes(`'${policy}'`);
  attempts.push({
    who,
    path: what,
    expect: 'denied',
    result: ok ? `DENIED by ${policy}` : `NOT denied: ${short(r.out)}`,
  });
  expect({ what, code: r.code !== 0, out: r.out }).toEqual({
    what,
    code: true,
    out: expect.stringMatching(new RegExp(`'${policy.replace(/\./g, '\\.')}'[\\s\\S]*${escape(message)}`)),
  });
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

async function allowed(who: string, what: string, cfg: string, args: string[], input?: string): Promise<Run> {
  const r = await kubectl(cfg, args, input);
  attempts.push({
    who,
    path: what,
    expect: 'allowed',
    result: r.code === 0 ? 'allowed' : `WRONG: ${short(r.out)}`,
  });
  expect({ what, code: r.code, out: r.out }).toEqual({ what, code: 0, out: expect.anything() });
  return r;
}

const asOperator = ['--as', OPERATOR];
const statusPatch = (status: object): string[] => [
  'patch',
  'cells.celula.io',
  '--subresource=status',
  '--type=merge',
  '-p',
  JSON.stringify({ status }),
];

function cellPod(name: string): object {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NS, labels: { [LABELS.managedBy]: MANAGER, [LABELS.cell]: name } },
    spec: {
      serviceAccountName: CELL_SA,
      automountServiceAccountToken: false,
      nodeName: NODE,
      containers: [{ name: 'cell', image: IMAGE }],
      // The kubelet (NodeRestriction) may mint only audiences the pod projects: '' is the API's.
      volumes: [{ name: 'api', projected: { sources: [{ serviceAccountToken: { path: 'token' } }] } }],
    },
  };
}

function cell(name: string): object {
  return {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: 'Cell',
    metadata: { name, namespace: NS, labels: { [LABELS.colony]: 'lottery' } },
    spec: { colony: 'lottery', node: NODE },
  };
}

async function apply(kc: KubeConfig, objs: object[]): Promise<void> {
  const api = KubernetesObjectApi.makeApiClient(kc);
  for (const o of objs) await applyObject(api, o as KubernetesObject, { force: true, fieldManager: MANAGER });
}

function rbac(): object[] {
  const writer = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: { name: 'cell-writer', namespace: NS },
    rules: [
      {
        apiGroups: [GROUP],
        resources: ['cells', 'cells/status'],
        verbs: ['get', 'list', 'create', 'patch', 'update'],
      },
    ],
  };
  const bind = (name: string, roleKind: string, role: string, subject: object): object => ({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name, namespace: NS },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: roleKind, name: role },
    subjects: [subject],
  });
  const user = { kind: 'User', name: NS_ADMIN, apiGroup: 'rbac.authorization.k8s.io' };
  return [
    writer,
    bind('nsadmin-admin', 'ClusterRole', 'admin', user),
    // As if the chart aggregated cells into `admin`: the walls, not RBAC, must refuse.
    bind('nsadmin-cells', 'Role', 'cell-writer', user),
    bind('cell-sa-cells', 'Role', 'cell-writer', { kind: 'ServiceAccount', name: CELL_SA, namespace: NS }),
  ];
}

async function setUpObjects(kc: KubeConfig): Promise<void> {
  await installOperatorPrerequisites(kc);
  await apply(kc, [
    {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: NS, labels: { [SEALED_NAMESPACE_LABEL]: 'true' } },
    },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default', namespace: NS } },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: CELL_SA, namespace: NS } },
    { apiVersion: 'v1', kind: 'Node', metadata: { name: NODE } },
    ...rbac(),
  ]);
  // The operator's own role lets it create Cells and pods; impersonating it is the legitimate writer here.
  for (const name of ['lottery-0', 'lottery-1']) {
    await kubectl(admin, [...asOperator, 'create', '-f', '-'], JSON.stringify(cell(name)));
    const r = await kubectl(
      admin,
      [...asOperator, 'create', '-f', '-', '-o', 'jsonpath={.metadata.uid}'],
      JSON.stringify(cellPod(name)),
    );
    if (r.code !== 0) throw new Error(`creating pod ${name} as the operator: ${r.out}`);
    uids[name] = r.out;
    const s = await kubectl(admin, [
      ...asOperator,
      '-n',
      NS,
      ...statusPatch({ phase: 'Joining', pod: name, podUID: r.out }),
      name,
    ]);
    if (s.code !== 0) throw new Error(`writing Cell ${name} status as the operator: ${s.out}`);
  }
}

/** A pod-bound token for `pod`, minted the only way left: by the kubelet of its node. */
async function cellTokenKubeconfig(pod: string): Promise<string> {
  const r = await kubectl(nodeCfg, [
    'create',
    'token',
    CELL_SA,
    '-n',
    NS,
    '--bound-object-kind',
    'Pod',
    '--bound-object-name',
    pod,
    '--bound-object-uid',
    uids[pod]!,
  ]);
  if (r.code !== 0) throw new Error(`the kubelet could not mint a token for ${pod}: ${r.out}`);
  attempts.push({
    who: `system:node:${NODE}`,
    path: `create token ${CELL_SA} bound to its pod ${pod}`,
    expect: 'allowed',
    result: 'allowed',
  });
  return writeKubeconfig(path.join(cp.stateDir, 'kubeconfigs', `cell-${pod}.kubeconfig`), {
    server: cp.server,
    caFile: cp.caFile,
    userName: `cell-${pod}`,
    user: { token: r.out },
    namespace: NS,
  });
}

beforeAll(async () => {
  if (!fs.existsSync(path.join(cacheDir(), 'bin', 'kube-apiserver')))
    throw new Error(
      'kube-apiserver is not built (test/cluster/build.sh): this test needs the real API server',
    );
  cp = await ControlPlane.start({
    stateDir: path.join(cacheDir(), `walls-${process.pid}`),
    // The controller manager aggregates the `admin` ClusterRole (and makes default accounts).
    controllerManager: true,
    scheduler: false,
    staticPolicies: true,
  });
  admin = cp.adminKubeconfig;
  nsAdmin = cp.kubeconfigForUser(NS_ADMIN);
  nodeCfg = cp.kubeconfigForUser(`system:node:${NODE}`, ['system:nodes']);
  await setUpObjects(cp.kubeConfig());
}, 120_000);

afterAll(async () => {
  process.stdout.write(
    `\nadmission walls (static policies loaded), ${attempts.length} attempts:\n` +
      attempts
        .map((a) => `${a.who.padEnd(28)} | ${a.path.padEnd(70)} | ${a.expect.padEnd(7)} | ${a.result}`)
        .join('\n') +
      '\n',
  );
  await cp?.stop();
  if (cp) fs.rmSync(cp.stateDir, { recursive: true, force: true });
});

/** Whether the Cell CRD (crds/) declares a status field (pruned otherwise). */
function cellStatusDeclares(field: string): boolean {
  const crd = loadCrds().find((c) => c.metadata?.name === `cells.${GROUP}`);
  const status = crd?.spec.versions[0]?.schema?.openAPIV3Schema?.properties?.status;
  return status?.properties?.[field] !== undefined;
}

const tokenMsg = (user: string): string =>
  wallMessage('identityToken', { namespace: NS, name: CELL_SA, user });

describe('attack 1: minting a join token for a cell service account', () => {
  it.each([
    ['namespace admin', (): string => nsAdmin, NS_ADMIN],
    ['cluster-admin', (): string => admin, ADMIN_USER],
  ])('%s cannot mint a bound or unbound token for the cell service account', async (who, cfg, user) => {
    await denied(
      who,
      'create token <cell sa> (unbound)',
      cfg(),
      ['create', 'token', CELL_SA, '-n', NS],
      STATIC_POLICY.identityToken,
      tokenMsg(user),
    );
    await denied(
      who,
      'create token <cell sa> --audience celula.io/join bound to a live cell pod',
      cfg(),
      [
        'create',
        'token',
        CELL_SA,
        '-n',
        NS,
        '--audience',
        'celula.io/join',
        '--bound-object-kind',
        'Pod',
        '--bound-object-name',
        'lottery-0',
        '--bound-object-uid',
        uids['lottery-0']!,
      ],
      STATIC_POLICY.identityToken,
      tokenMsg(user),
    );
    await allowed(who, 'create token default (control)', cfg(), ['create', 'token', 'default', '-n', NS]);
  });

  it("cluster-admin cannot mint the operator's token either", async () => {
    await denied(
      'cluster-admin',
      'create token <operator sa>',
      admin,
      ['create', 'token', MANAGER, '-n', OP.operatorNamespace],
      STATIC_POLICY.identityToken,
      wallMessage('identityToken', { namespace: OP.operatorNamespace, name: MANAGER, user: ADMIN_USER }),
    );
  });
});

describe('attack 2b: forged Colony status', () => {
  it('only the operator writes Colony status: a forged key or a forged Lost is refused even to a cluster-admin', async () => {
    const colonyObj = {
      apiVersion: `${GROUP}/${VERSION}`,
      kind: 'Colony',
      metadata: { name: 'forged-status', namespace: NS },
      spec: { image: `registry.example/cell@sha256:${'ab'.repeat(32)}`, secret: { algorithm: 'ed25519' } },
    };
    await allowed(
      'cluster-admin',
      'create a Colony (control)',
      admin,
      ['create', '-f', '-'],
      JSON.stringify(colonyObj),
    );
    const patch = (status: object): string[] => [
      '-n',
      NS,
      'patch',
      'colonies.celula.io',
      'forged-status',
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({ status }),
    ];
    const msg = wallMessage('colonyStatus', { namespace: NS, name: 'forged-status', user: ADMIN_USER });
    await denied(
      'cluster-admin',
      'patch Colony status.publicKey (forged key)',
      admin,
      patch({ publicKey: 'forged' }),
      STATIC_POLICY.colonyStatus,
      msg,
    );
    const lost = {
      conditions: [
        {
          type: 'Lost',
          status: 'True',
          reason: 'AllCellsDied',
          message: 'forged',
          lastTransitionTime: '2026-01-01T00:00:00Z',
        },
      ],
    };
    await denied(
      'cluster-admin',
      'patch Colony status Lost=True (forged loss)',
      admin,
      patch(lost),
      STATIC_POLICY.colonyStatus,
      msg,
    );
    await allowed('operator', 'patch Colony status (control)', admin, [
      ...asOperator,
      ...patch({ lastCellIndex: 0 }),
    ]);
  });
});

describe('attack 2: forged Cell status', () => {
  const args = { namespace: NS, name: 'lottery-0' };

  it('an impersonated cell service account (no pod claims) cannot forge a key or a death', async () => {
    const as = ['--as', `system:serviceaccount:${NS}:${CELL_SA}`, '-n', NS];
    const user = `system:serviceaccount:${NS}:${CELL_SA}`;
    const msg = wallMessage('statusNoPodClaims', { ...args, user });
    await denied(
      'namespace admin as cell sa',
      'patch other Cell status.publicKey',
      nsAdmin,
      [...as, ...statusPatch({ publicKey: 'forged' }), 'lottery-0'],
      STATIC_POLICY.cellWrites,
      msg,
    );
    await denied(
      'namespace admin as cell sa',
      'patch holder Cell status.phase=Dead',
      nsAdmin,
      [...as, ...statusPatch({ phase: 'Dead' }), 'lottery-0'],
      STATIC_POLICY.cellWrites,
      msg,
    );
  });

  it('a namespace admin cannot write Cell status nor create a Cell', async () => {
    await denied(
      'namespace admin',
      'patch Cell status.phase=Dead',
      nsAdmin,
      ['-n', NS, ...statusPatch({ phase: 'Dead' }), 'lottery-0'],
      STATIC_POLICY.cellWrites,
      wallMessage('statusNotCell', { ...args, user: NS_ADMIN }),
    );
    const forged = JSON.stringify({
      ...cell('lottery-9'),
      spec: { colony: 'lottery', node: NODE, genesis: true },
    });
    const r = await kubectl(nsAdmin, ['create', '-f', '-'], forged);
    const msg = wallMessage('cellCreate', { namespace: NS, name: 'lottery-9', user: NS_ADMIN });
    attempts.push({
      who: 'namespace admin',
      path: 'create a genesis Cell',
      expect: 'denied',
      result: r.out.includes(msg) ? `DENIED by ${STATIC_POLICY.cellWrites}` : `NOT denied: ${short(r.out)}`,
    });
    expect(r.out).toContain(msg);
    await denied(
      'namespace admin',
      'relabel a Cell (hide it from its colony)',
      nsAdmin,
      ['-n', NS, 'label', 'cells.celula.io', 'lottery-0', '--overwrite', `${LABELS.colony}=other`],
      STATIC_POLICY.cellWrites,
      wallMessage('cellUpdate', { ...args, user: NS_ADMIN }),
    );
  });

  it('a cluster-admin forging pod claims needs the recorded pod uid', async () => {
    const as = [
      '--as',
      `system:serviceaccount:${NS}:${CELL_SA}`,
      '--as-user-extra',
      'authentication.kubernetes.io/pod-name=lottery-0',
      '--as-user-extra',
      'authentication.kubernetes.io/pod-uid=00000000-0000-0000-0000-000000000000',
      '-n',
      NS,
    ];
    await denied(
      'cluster-admin as cell sa + extras',
      'patch Cell status.publicKey with a wrong pod uid',
      admin,
      [...as, ...statusPatch({ publicKey: 'forged' }), 'lottery-0'],
      STATIC_POLICY.cellWrites,
      wallMessage('statusOtherIncarnation', { ...args, podUID: '00000000-0000-0000-0000-000000000000' }),
    );
  });

  it("a cell's own pod-bound token writes its identity once, and nothing else", async () => {
    const cfg = await cellTokenKubeconfig('lottery-1');
    const own = { namespace: NS, name: 'lottery-1' };
    const who = 'cell lottery-1 (pod token)';
    await denied(
      who,
      'patch another Cell status.publicKey',
      cfg,
      [...statusPatch({ publicKey: 'forged' }), 'lottery-0'],
      STATIC_POLICY.cellWrites,
      wallMessage('statusOtherCell', { ...args, pod: 'lottery-1' }),
    );
    await denied(
      who,
      'patch own Cell status.phase=Alive',
      cfg,
      [...statusPatch({ phase: 'Alive' }), 'lottery-1'],
      STATIC_POLICY.cellWrites,
      wallMessage('statusOperatorFields', own),
    );
    const joinKey = await kubectl(cfg, [...statusPatch({ joinKey: 'jk1' }), 'lottery-1']);
    if (cellStatusDeclares('joinKey')) {
      attempts.push({
        who,
        path: 'write own joinKey (before publicKey)',
        expect: 'allowed',
        result: short(joinKey.out),
      });
      expect(joinKey.code).toBe(0);
    } else {
      // The join protocol's CRD change adds joinKey and keyProof; until then the API server prunes them.
      expect(joinKey.out).toContain('unknown field "status.joinKey"');
    }
    await allowed(who, 'write own publicKey and fingerprint', cfg, [
      ...statusPatch({ publicKey: 'pk1', fingerprint: 'fp1' }),
      'lottery-1',
    ]);
    await allowed(who, 'rewrite the same publicKey (retry)', cfg, [
      ...statusPatch({ publicKey: 'pk1' }),
      'lottery-1',
    ]);
    await denied(
      who,
      'change own publicKey',
      cfg,
      [...statusPatch({ publicKey: 'pk2' }), 'lottery-1'],
      STATIC_POLICY.cellWrites,
      wallMessage('publicKeyOnce', own),
    );
    if (cellStatusDeclares('joinKey'))
      await denied(
        who,
        'change own joinKey',
        cfg,
        [...statusPatch({ joinKey: 'jk2' }), 'lottery-1'],
        STATIC_POLICY.cellWrites,
        wallMessage('joinKeyOnce', own),
      );
  });

  it("the operator writes its own status fields but not a cell's report (impersonating it gains no key)", async () => {
    // lottery-1 reported its joinKey and publicKey above (its own pod's token).
    const who = 'operator (impersonated by cluster-admin)';
    const msg = wallMessage('operatorReported', { namespace: NS, name: 'lottery-1', user: OPERATOR });
    const op = [...asOperator, '-n', NS];
    for (const [what, status] of [
      ['swap the published joinKey for its own', { joinKey: 'attacker' }],
      ['clear the published joinKey', { joinKey: null }],
      ['change the reported publicKey', { publicKey: 'forged' }],
      ['set a keyProof the cell never wrote', { keyProof: 'Zm9yZ2Vk' }],
    ] as const) {
      if (what.includes('joinKey') && !cellStatusDeclares('joinKey')) continue;
      await denied(
        who,
        what,
        admin,
        [...op, ...statusPatch(status), 'lottery-1'],
        STATIC_POLICY.cellWrites,
        msg,
      );
    }
    // lottery-0 reported nothing: the operator may not be the first to set a cell's fields either.
    await denied(
      who,
      'set a joinKey on a Cell whose pod published none',
      admin,
      [...op, ...statusPatch({ joinKey: 'attacker' }), 'lottery-0'],
      STATIC_POLICY.cellWrites,
      wallMessage('operatorReported', { namespace: NS, name: 'lottery-0', user: OPERATOR }),
    );
    await allowed(who, 'write phase and reason (its own fields)', admin, [
      ...op,
      ...statusPatch({ phase: 'Alive', reason: 'Joined' }),
      'lottery-1',
    ]);
  });
});

describe('other credentials and the hardened label', () => {
  const secret = (name: string, sa: string): string =>
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/service-account-token',
      metadata: { name, namespace: NS, annotations: { 'kubernetes.io/service-account.name': sa } },
    });

  it('refuses a legacy token Secret for the cell service account', async () => {
    const r = await kubectl(admin, ['create', '-f', '-'], secret('cell-legacy', CELL_SA));
    const msg = wallMessage('legacyTokenSecret', { namespace: NS, serviceAccount: CELL_SA });
    attempts.push({
      who: 'cluster-admin',
      path: 'create legacy token Secret for <cell sa>',
      expect: 'denied',
      result: r.out.includes(msg)
        ? `DENIED by ${STATIC_POLICY.identityTokenSecret}`
        : `NOT denied: ${short(r.out)}`,
    });
    expect(r.out).toContain(msg);
    await allowed(
      'cluster-admin',
      'create legacy token Secret for default (control)',
      admin,
      ['create', '-f', '-'],
      secret('default-legacy', 'default'),
    );
  });

  it('refuses a pod naming the cell or the operator service account created by anyone but its owner', async () => {
    const pod = { ...cellPod('squat'), metadata: { name: 'squat', namespace: NS } };
    const r = await kubectl(nsAdmin, ['create', '-f', '-'], JSON.stringify(pod));
    const msg = wallMessage('cellPod', { namespace: NS, serviceAccount: CELL_SA, user: NS_ADMIN });
    attempts.push({
      who: 'namespace admin',
      path: 'create a pod running as <cell sa>',
      expect: 'denied',
      result: r.out.includes(msg) ? `DENIED by ${STATIC_POLICY.identityPod}` : `NOT denied: ${short(r.out)}`,
    });
    expect(r.out).toContain(msg);
    const opPod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'op', namespace: OP.operatorNamespace },
      spec: { serviceAccountName: MANAGER, containers: [{ name: 'c', image: IMAGE }] },
    };
    const o = await kubectl(admin, ['create', '-f', '-'], JSON.stringify(opPod));
    const opMsg = wallMessage('operatorPod', {
      namespace: OP.operatorNamespace,
      serviceAccount: MANAGER,
      user: ADMIN_USER,
    });
    attempts.push({
      who: 'cluster-admin',
      path: 'create a pod running as <operator sa>',
      expect: 'denied',
      result: o.out.includes(opMsg)
        ? `DENIED by ${STATIC_POLICY.identityPod}`
        : `NOT denied: ${short(o.out)}`,
    });
    expect(o.out).toContain(opMsg);
  });

  it('lets only the operator set the hardened label, and only to a digest prefix', async () => {
    const label = (v: string): string[] => ['label', 'node', NODE, '--overwrite', `${LABELS.hardened}=${v}`];
    await denied(
      'cluster-admin',
      'label node hardened=<digest>',
      admin,
      label(DIGEST),
      STATIC_POLICY.hardenedLabel,
      wallMessage('hardenedLabelBy', { name: NODE, user: ADMIN_USER }),
    );
    // A status update keeps metadata edits: the label must not come in through nodes/status either.
    await denied(
      'cluster-admin',
      'label node hardened=<digest> through nodes/status',
      admin,
      [
        'patch',
        'node',
        NODE,
        '--subresource=status',
        '--type=merge',
        '-p',
        labelPatch(LABELS.hardened, DIGEST),
      ],
      STATIC_POLICY.hardenedLabel,
      wallMessage('hardenedLabelBy', { name: NODE, user: ADMIN_USER }),
    );
    await denied(
      'operator',
      'label node hardened=true',
      admin,
      [...asOperator, ...label('true')],
      STATIC_POLICY.hardenedLabel,
      wallMessage('hardenedLabelValue', { name: NODE }),
    );
    await allowed('operator', 'label node hardened=<digest>', admin, [...asOperator, ...label(DIGEST)]);
    await denied(
      'cluster-admin',
      'remove the hardened label',
      admin,
      ['label', 'node', NODE, `${LABELS.hardened}-`],
      STATIC_POLICY.hardenedLabel,
      wallMessage('hardenedLabelBy', { name: NODE, user: ADMIN_USER }),
    );
    // Out-of-band hardening (provider: existing): explicitly, through the node-hardeners group.
    const asHardener = [
      '--as',
      ADMIN_USER,
      '--as-group',
      NODE_HARDENERS_GROUP,
      '--as-group',
      'system:masters',
    ];
    await allowed('node hardener', 'remove, then set the hardened label', admin, [
      ...asHardener,
      'label',
      'node',
      NODE,
      `${LABELS.hardened}-`,
    ]);
    await allowed('node hardener', 'label node hardened=<digest>', admin, [...asHardener, ...label(DIGEST)]);
  });
});

describe('acceptance 3: static policies survive a cluster-admin deleting every API-side Celula policy', () => {
  it('still refuses minting a cell token and exec into a cell pod', async () => {
    const kc = cp.kubeConfig();
    await apply(kc, [lockdownParams([], [{ namespace: NS, name: 'lottery-0' }]), ...lockdownPolicies(OP)]);
    const before = await kubectl(admin, ['get', 'validatingadmissionpolicies', '-o', 'name']);
    expect(before.out).toContain('celula-lockdown-pod-connect');
    expect(before.out).toContain('celula-cell-identity');
    // Static policies are not API objects: nothing to list, nothing to delete.
    expect(before.out).not.toContain('static.k8s.io');
    const del = await kubectl(admin, [
      'delete',
      'validatingadmissionpolicybindings,validatingadmissionpolicies',
      '-l',
      `${LABELS.managedBy}=${MANAGER}`,
    ]);
    expect(del.code).toBe(0);
    const after = await kubectl(admin, [
      'get',
      'validatingadmissionpolicies,validatingadmissionpolicybindings',
      '-o',
      'name',
    ]);
    expect(after.out).not.toContain('celula');
    attempts.push({
      who: 'cluster-admin',
      path: 'delete every API-side Celula policy and binding',
      expect: 'allowed',
      result: 'allowed (deleted)',
    });
    const staticDel = await kubectl(admin, [
      'delete',
      'validatingadmissionpolicy',
      STATIC_POLICY.identityToken,
    ]);
    attempts.push({
      who: 'cluster-admin',
      path: 'delete a static policy',
      expect: 'denied',
      result: short(staticDel.out),
    });
    expect(staticDel.out).toContain('NotFound');

    await denied(
      'cluster-admin',
      'create token <cell sa> (API policies gone)',
      admin,
      ['create', 'token', CELL_SA, '-n', NS],
      STATIC_POLICY.identityToken,
      tokenMsg(ADMIN_USER),
    );
    await denied(
      'cluster-admin',
      'exec into a cell pod (API policies gone)',
      admin,
      ['exec', '-n', NS, 'lottery-0', '-c', 'cell', '--', 'true'],
      STATIC_POLICY.sealedConnect,
      wallMessage('sealedConnect', { subresource: 'exec', namespace: NS }),
    );
    await denied(
      'cluster-admin',
      'proxy to a cell pod (API policies gone)',
      admin,
      ['get', '--raw', `/api/v1/namespaces/${NS}/pods/lottery-0:8080/proxy/`],
      STATIC_POLICY.sealedConnect,
      wallMessage('sealedConnect', { subresource: 'proxy', namespace: NS }),
    );
    await denied(
      'cluster-admin',
      'unseal the colony namespace',
      admin,
      ['label', 'namespace', NS, `${SEALED_NAMESPACE_LABEL}-`],
      STATIC_POLICY.sealedLabel,
      wallMessage('sealedLabel', { name: NS }),
    );
    await denied(
      'cluster-admin',
      'unseal the colony namespace through namespaces/status',
      admin,
      [
        'patch',
        'namespace',
        NS,
        '--subresource=status',
        '--type=merge',
        '-p',
        labelPatch(SEALED_NAMESPACE_LABEL, null),
      ],
      STATIC_POLICY.sealedLabel,
      wallMessage('sealedLabel', { name: NS }),
    );
    await denied(
      'cluster-admin',
      'patch Cell status.phase=Dead (API policies gone)',
      admin,
      ['-n', NS, ...statusPatch({ phase: 'Dead' }), 'lottery-0'],
      STATIC_POLICY.cellWrites,
      wallMessage('statusNotCell', { namespace: NS, name: 'lottery-0', user: ADMIN_USER }),
    );
  });
});
