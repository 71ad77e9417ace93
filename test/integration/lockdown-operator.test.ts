// The operator guards its lock-down: it installs the policies, restores a deleted binding within
// seconds (one Warning event on the parameters, LockdownIntact=False meanwhile, incident counted),
// and seeds no secret while it cannot put them back. Issue 12's acceptance: 100 cells made in colony
// namespaces whose keys exist write nothing to the parameters and raise no incident; the last colony
// of a namespace gone, its key goes.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  AdmissionregistrationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  NetworkingV1Api,
  RbacAuthorizationV1Api,
  type CoreV1Event,
  type KubeConfig,
} from '@kubernetes/client-node';
import {
  CELL_PLURAL,
  COLONY_PLURAL,
  GROUP,
  LABELS,
  LOCKDOWN_PARAMETERS_PLURAL,
  LockdownParametersKind,
  VERSION,
  type Cell,
  type Colony,
  type LockdownParameters,
} from '../../src/api/types.js';
import { COLONY_NAMESPACE_LABEL } from '../../src/builders/cell-rbac.js';
import { LOCKDOWN_PARAMS, POLICY, namespaceKey } from '../../src/builders/lockdown.js';
import { CELL_PORT } from '../../src/builders/pod.js';
import { OPERATOR_NAME } from '../../src/builders/rbac-rules.js';
import { cellsOf, conditionOf, poolColony, poolName, readColony } from '../support/colonies.js';
import { removeLockdown, runOperator, type TestOperator } from '../support/operator.js';
import { controlPlane, createNamespace, deleteNamespace, kubeConfig, waitFor } from './support/cluster.js';

const POOL = poolName('ld');
/** Issue 12's acceptance: this many colonies (one genesis cell each) over this many namespaces. */
const SCALE_COLONIES = 100;
const SCALE_NAMESPACES = 4;
const scaleNs: string[] = [];

let kc: KubeConfig;
let custom: CustomObjectsApi;
let adm: AdmissionregistrationV1Api;
let ns: string;
let op: TestOperator;
/** When this file's operator started: older events are other runs'. */
let opStarted = 0;

const res = () => ({ group: GROUP, version: VERSION, namespace: ns, plural: COLONY_PLURAL });

const colony = (name: string): Colony =>
  poolColony(name, { pool: POOL, replicas: 1, minReplicas: 1, digestChar: 'c' });

const getColony = (name: string): Promise<Colony> => readColony(custom, ns, name);

const condition = conditionOf;

const cells = (name: string): Promise<Cell[]> => cellsOf(custom, ns, name);

beforeAll(async () => {
  kc = await kubeConfig();
  custom = kc.makeApiClient(CustomObjectsApi);
  adm = kc.makeApiClient(AdmissionregistrationV1Api);
  ns = await createNamespace('lockdown-op');
  // Room for every cell of the scale test (100 and the others' at 500m CPU each): placement counts
  // node capacity, and kwok's default 16 CPUs held 32 cells.
  await controlPlane().addNode(`${POOL}-n0`, {
    labels: { 'celula.test/pool': POOL },
    cpu: '64',
    pods: '200',
  });
  // Every incident its own event at once (the rate limit is unit-tested): counts compare exactly.
  opStarted = Date.now();
  op = await runOperator({ lockdown: true, lockdownEventIntervalMs: 0 });
});

afterAll(async () => {
  await op?.stop();
  await removeLockdown();
  const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
  for (const n of scaleNs) {
    // The operator is gone: the colonies' ClusterRoleBindings would outlive the namespace.
    await rbac
      .deleteCollectionClusterRoleBinding({ labelSelector: `${COLONY_NAMESPACE_LABEL}=${n}` })
      .catch(() => undefined);
    await deleteNamespace(n);
  }
  await controlPlane()
    .deleteNode(`${POOL}-n0`)
    .catch(() => undefined);
  if (ns) await deleteNamespace(ns);
});

describe('operator lock-down', () => {
  it('installs every policy and binding, and colonies report LockdownIntact', async () => {
    await waitFor(async () => {
      const bindings = (await adm.listValidatingAdmissionPolicyBinding()).items.map((b) => b.metadata?.name);
      return Object.values(POLICY).every((p) => bindings.includes(p));
    }, 'all bindings installed');
    await custom.createNamespacedCustomObject({ ...res(), body: colony('guarded') });
    const c = await waitFor(async () => {
      const col = await getColony('guarded');
      return condition(col, 'LockdownIntact')?.status === 'True' && col;
    }, 'LockdownIntact=True');
    expect(condition(c, 'LockdownIntact')!.reason).toBe('PoliciesPresent');
    await waitFor(async () => (await cells('guarded')).length === 1, 'genesis cell while intact');
  });

  it("applies the colony's NetworkPolicy: only its own cells reach the cell port", async () => {
    const net = kc.makeApiClient(NetworkingV1Api);
    const np = await waitFor(
      () => net.readNamespacedNetworkPolicy({ namespace: ns, name: 'guarded-cells' }).catch(() => undefined),
      'NetworkPolicy guarded-cells',
    );
    const cellsOfGuarded = {
      matchLabels: { 'app.kubernetes.io/managed-by': 'celula-operator', 'celula.io/colony': 'guarded' },
      matchExpressions: [{ key: 'celula.io/cell', operator: 'Exists' }],
    };
    expect(np.metadata?.ownerReferences?.[0]).toMatchObject({
      kind: 'Colony',
      name: 'guarded',
      controller: true,
    });
    expect(np.spec?.podSelector).toEqual(cellsOfGuarded);
    expect(np.spec?.policyTypes).toEqual(['Ingress']);
    expect(np.spec?.ingress).toEqual([
      { _from: [{ podSelector: cellsOfGuarded }], ports: [{ protocol: 'TCP', port: CELL_PORT }] },
    ]);
  });

  it('restores a binding an admin deleted within 5 s, with a Warning event and the incident counted', async () => {
    const started = Date.now();
    await adm.deleteValidatingAdmissionPolicyBinding({ name: POLICY.podConnect });
    await waitFor(
      async () => (await adm.readValidatingAdmissionPolicyBinding({ name: POLICY.podConnect })).metadata?.uid,
      'binding restored',
      5_000,
      50,
    );
    const restoredMs = Date.now() - started;
    console.log(`lock-down binding restored ${restoredMs} ms after an admin deleted it`);
    expect(restoredMs).toBeLessThan(5_000);

    // One event, about the parameters (cluster-scoped: in `default`), none on the colony.
    const event = await waitFor(async () => {
      const events = await paramsEvents('LockdownTampered', started);
      return events.length > 0 && events;
    }, 'LockdownTampered event');
    expect(event).toHaveLength(1);
    expect(event[0]!.type).toBe('Warning');
    expect(event[0]!.message).toMatch(new RegExp(POLICY.podConnect));
    expect(await colonyEvents(ns, 'LockdownTampered')).toEqual([]);
    const c = await waitFor(async () => {
      const col = await getColony('guarded');
      return (
        (col.status?.lockdownIncidents ?? 0) >= 1 &&
        condition(col, 'LockdownIntact')?.status === 'True' &&
        col
      );
    }, 'incident counted and lock-down intact again');
    expect(c.status!.lockdownIncidents).toBe(1);
    const metrics = await op.operator.registry.getSingleMetricAsString('celula_lockdown_incidents_total');
    expect(metrics).toMatch(/celula_lockdown_incidents_total 1/);
  });

  it('restores a policy an admin deleted within 5 s and counts a second incident', async () => {
    const before = (await getColony('guarded')).status?.lockdownIncidents ?? 0;
    const started = Date.now();
    await adm.deleteValidatingAdmissionPolicy({ name: POLICY.nodeBinding });
    await waitFor(
      async () => (await adm.readValidatingAdmissionPolicy({ name: POLICY.nodeBinding })).metadata?.uid,
      'policy restored',
      5_000,
      50,
    );
    const restoredMs = Date.now() - started;
    console.log(`lock-down policy restored ${restoredMs} ms after an admin deleted it`);
    expect(restoredMs).toBeLessThan(5_000);
    const c = await waitFor(async () => {
      const col = await getColony('guarded');
      return (
        (col.status?.lockdownIncidents ?? 0) > before &&
        condition(col, 'LockdownIntact')?.status === 'True' &&
        col
      );
    }, 'second incident counted, intact again');
    expect(c.status!.lockdownIncidents).toBe(before + 1);
  });

  it('does not seed a new colony while it cannot restore the policies, and proceeds once it can', async () => {
    // Take the operator's power to write bindings away, then remove one: it cannot restore it.
    const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    const role = await rbac.readClusterRole({ name: OPERATOR_NAME });
    const original = structuredClone(role.rules ?? []);
    role.rules = original.map((r) =>
      r.resources?.includes('validatingadmissionpolicybindings')
        ? { ...r, verbs: ['get', 'list', 'watch'] }
        : r,
    );
    await rbac.replaceClusterRole({ name: OPERATOR_NAME, body: role });
    await adm.deleteValidatingAdmissionPolicyBinding({ name: POLICY.nodeProxy });
    await custom.createNamespacedCustomObject({ ...res(), body: colony('blocked') });
    const blocked = await waitFor(async () => {
      const col = await getColony('blocked');
      return condition(col, 'SecretHeld')?.reason === 'LockdownMissing' && col;
    }, 'blocked colony says why');
    expect(condition(blocked, 'SecretHeld')!.message).toMatch(/lock-down/);
    expect(condition(blocked, 'LockdownIntact')).toMatchObject({
      status: 'False',
      reason: 'PoliciesMissing',
    });
    // Long enough that a work-queue backoff doubling to its 60 s cap would wait ≈ 10 s for its next
    // try; the lock-down retries at most 2 s apart (LOCKDOWN_RETRY).
    await new Promise((r) => setTimeout(r, 10_000));
    expect(await cells('blocked')).toHaveLength(0);

    // Give the permission back: the operator restores the binding and the colony seeds.
    const now = await rbac.readClusterRole({ name: OPERATOR_NAME });
    now.rules = original;
    await rbac.replaceClusterRole({ name: OPERATOR_NAME, body: now });
    const restored = Date.now();
    await waitFor(async () => (await cells('blocked')).length === 1, 'genesis cell after restore', 10_000);
    console.log(`genesis cell ${Date.now() - restored} ms after the operator's permission came back`);
    // The colony's status is written after the cells it creates in the same reconcile: wait for it.
    const after = await waitFor(async () => {
      const col = await getColony('blocked');
      return condition(col, 'LockdownIntact')?.status === 'True' && col;
    }, 'LockdownIntact=True after restore');
    expect(condition(after, 'LockdownIntact')).toMatchObject({ status: 'True', reason: 'PoliciesPresent' });
  });
  it('treats a mutating webhook that can change cell pods as a broken lock-down until it is deleted', async () => {
    const name = `celula-test-${ns}`;
    const started = Date.now();
    // Scoped to this test's namespace (the rule ignores namespaceSelector: a colony can be anywhere),
    // failing open to an address nobody serves, so no other test's pods are touched.
    await adm.createMutatingWebhookConfiguration({
      body: {
        metadata: { name },
        webhooks: [
          {
            name: 'inject.celula-test.example',
            admissionReviewVersions: ['v1'],
            sideEffects: 'None',
            failurePolicy: 'Ignore',
            timeoutSeconds: 1,
            clientConfig: { url: 'https://127.0.0.1:9/mutate' },
            namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } },
            rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'] }],
          },
        ],
      },
    });
    try {
      const broken = await waitFor(async () => {
        const col = await getColony('guarded');
        return condition(col, 'LockdownIntact')?.status === 'False' && col;
      }, 'LockdownIntact=False while the webhook exists');
      expect(condition(broken, 'LockdownIntact')?.status).toBe('False');
      const event = await waitFor(
        async () => (await paramsEvents('MutatingAdmission', started)).find((e) => e.message?.includes(name)),
        'MutatingAdmission event',
      );
      expect(await colonyEvents(ns, 'MutatingAdmission')).toEqual([]);
      expect(event.type).toBe('Warning');
      expect(event.message).toContain(`MutatingWebhookConfiguration ${name}`);
      expect(event.message).toContain('CREATE pods');
      // No seeding meanwhile.
      await custom.createNamespacedCustomObject({ ...res(), body: colony('mutated') });
      const unseeded = await waitFor(async () => {
        const col = await getColony('mutated');
        return condition(col, 'SecretHeld')?.reason === 'LockdownMissing' && col;
      }, 'unseeded colony says why');
      // Not "policies missing": the policies are in place; a mutator is what breaks the lock-down.
      expect(condition(unseeded, 'LockdownIntact')).toMatchObject({
        status: 'False',
        reason: 'MutatingAdmission',
      });
      await new Promise((r) => setTimeout(r, 2_000));
      expect(await cells('mutated')).toHaveLength(0);
    } finally {
      await adm.deleteMutatingWebhookConfiguration({ name });
    }
    const intact = await waitFor(async () => {
      const col = await getColony('guarded');
      return condition(col, 'LockdownIntact')?.status === 'True' && col;
    }, 'LockdownIntact=True once the webhook is gone');
    expect(condition(intact, 'LockdownIntact')?.reason).toBe('PoliciesPresent');
  });

  it('makes 100 cells in locked colony namespaces with no write to the parameters and no incident', async () => {
    for (let i = 0; i < SCALE_NAMESPACES; i++) scaleNs.push(await createNamespace(`ld-scale${i}`));
    const names = Array.from({ length: SCALE_COLONIES }, (_, i) => ({
      namespace: scaleNs[i % SCALE_NAMESPACES]!,
      name: `s${i}`,
    }));
    const create = (c: { namespace: string; name: string }): Promise<unknown> =>
      custom.createNamespacedCustomObject({ ...res(), namespace: c.namespace, body: colony(c.name) });
    // The first colony of each namespace: its key is written before its first cell. Four keys
    // written at once are the operator's own writes: no incident either.
    const incidentsAtStart = await incidentCount();
    const first = names.slice(0, SCALE_NAMESPACES);
    for (const c of first) await create(c);
    // Keyed, and settled: the keys of earlier tests' namespaces go only once their last cell pod is
    // gone (seconds under load); that removal is not a write caused by the cells made below.
    const keyed = await waitFor(
      async () => {
        const p = await readParams();
        const want = await colonyNamespaces();
        const have = Object.keys(p.data ?? {}).filter((k) => k.startsWith(namespaceKey('')));
        const settled =
          have.length === want.size && [...want].every((n) => namespaceKey(n) in (p.data ?? {}));
        return scaleNs.every((n) => want.has(n)) && settled && p;
      },
      'namespace keys written, and only those of namespaces with colonies or cell pods',
      60_000,
    );
    await waitFor(async () => (await cellPods()) >= SCALE_NAMESPACES, 'first cells made after their keys');
    const before = {
      resourceVersion: keyed.metadata?.resourceVersion,
      generation: keyed.metadata?.generation,
      incidents: await incidentCount(),
      events: (await paramsEvents('LockdownTampered', opStarted)).length,
    };

    expect(before.incidents).toBe(incidentsAtStart);
    const t0 = Date.now();
    for (const c of names.slice(SCALE_NAMESPACES)) await create(c);
    await waitFor(
      async () => (await cellPods()) >= SCALE_COLONIES,
      `${SCALE_COLONIES} cell pods`,
      240_000,
      1_000,
    );
    const madeMs = Date.now() - t0;
    // Let the lock-down controller look at every new cell and pod (it resyncs on their events).
    await new Promise((r) => setTimeout(r, 3_000));
    const after = await readParams();
    const now = {
      resourceVersion: after.metadata?.resourceVersion,
      generation: after.metadata?.generation,
      incidents: await incidentCount(),
      events: (await paramsEvents('LockdownTampered', opStarted)).length,
    };
    console.log(
      `${SCALE_COLONIES - SCALE_NAMESPACES} colonies' cells made in ${madeMs} ms; parameters ` +
        `${JSON.stringify(before)} -> ${JSON.stringify(now)}; ${Object.keys(after.data ?? {}).length} keys`,
    );
    const said = (await paramsEvents('LockdownTampered', opStarted)).map((e) => e.message);
    console.log(`this operator's incident events:\n${said.join('\n')}`);
    expect(now).toEqual(before);
    // One event per incident (about the parameters), whatever the number of colonies.
    expect(now.events).toBe(now.incidents);
    const colonyWarnings = await Promise.all(scaleNs.map((n) => colonyEvents(n, 'LockdownTampered')));
    expect(colonyWarnings.flat()).toEqual([]);
    const sample = await getColonyIn(names.at(-1)!);
    expect(condition(sample, 'LockdownIntact')?.status).toBe('True');
    expect(sample.status?.lockdownIncidents ?? 0).toBe(0);
  }, 360_000); // 100 colonies on a loaded 2-core CI machine: the cell wait alone allows 240 s

  it('drops a namespace key once its last colony and cell pod are gone (and counts no incident)', async () => {
    const gone = scaleNs[0]!;
    const incidents = await incidentCount();
    await custom.deleteCollectionNamespacedCustomObject({ ...res(), namespace: gone });
    await waitFor(
      async () => !(namespaceKey(gone) in ((await readParams()).data ?? {})),
      `key ${namespaceKey(gone)} removed`,
      120_000,
      500,
    );
    // Removed only after the last cell pod went: none may be left when the key goes.
    expect(await cellPods(gone)).toBe(0);
    expect(namespaceKey(scaleNs[1]!) in ((await readParams()).data ?? {})).toBe(true);
    expect(await incidentCount()).toBe(incidents);
  });
});

const PARAMS = { group: GROUP, version: VERSION, plural: LOCKDOWN_PARAMETERS_PLURAL, name: LOCKDOWN_PARAMS };

async function readParams(): Promise<LockdownParameters> {
  return (await custom.getClusterCustomObject(PARAMS)) as LockdownParameters;
}

async function incidentCount(): Promise<number> {
  const text = await op.operator.registry.getSingleMetricAsString('celula_lockdown_incidents_total');
  const m = /celula_lockdown_incidents_total (\d+)/.exec(text);
  return m ? Number(m[1]) : 0;
}

/** Namespaces that hold a Colony or a cell pod: exactly those the parameters should key. */
async function colonyNamespaces(): Promise<Set<string>> {
  const core = kc.makeApiClient(CoreV1Api);
  const list = async (plural: string): Promise<Colony[]> =>
    (
      (await custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural })) as {
        items: Colony[];
      }
    ).items;
  const [colonies, cells] = await Promise.all([list(COLONY_PLURAL), list(CELL_PLURAL)]);
  const pods = await core.listPodForAllNamespaces({ labelSelector: LABELS.cell });
  return new Set([
    ...[...colonies, ...cells].map((c) => c.metadata.namespace ?? ''),
    ...pods.items.map((p) => p.metadata?.namespace ?? ''),
  ]);
}

/** Cell pods in the scale namespaces (or one of them). */
async function cellPods(only?: string): Promise<number> {
  const core = kc.makeApiClient(CoreV1Api);
  const counts = await Promise.all(
    (only ? [only] : scaleNs).map(
      async (namespace) =>
        (await core.listNamespacedPod({ namespace, labelSelector: LABELS.cell })).items.length,
    ),
  );
  return counts.reduce((a, b) => a + b, 0);
}

/** Events about the lock-down parameters (in `default`: they are cluster-scoped) since `sinceMs`. */
async function paramsEvents(reason: string, sinceMs: number): Promise<CoreV1Event[]> {
  const core = kc.makeApiClient(CoreV1Api);
  const items = (
    await core.listNamespacedEvent({
      namespace: 'default',
      fieldSelector: `involvedObject.kind=${LockdownParametersKind},involvedObject.name=${LOCKDOWN_PARAMS}`,
    })
  ).items;
  return items.filter(
    (e) => e.reason === reason && new Date(e.firstTimestamp ?? e.eventTime ?? 0).getTime() >= sinceMs - 1_000,
  );
}

/** Events with `reason` about colonies in `namespace` (there must be none: one event per incident). */
async function colonyEvents(namespace: string, reason: string): Promise<string[]> {
  const core = kc.makeApiClient(CoreV1Api);
  const items = (await core.listNamespacedEvent({ namespace, fieldSelector: 'involvedObject.kind=Colony' }))
    .items;
  return items.filter((e) => e.reason === reason).map((e) => `${e.involvedObject.name}: ${e.message}`);
}

function getColonyIn(c: { namespace: string; name: string }): Promise<Colony> {
  return readColony(custom, c.namespace, c.name);
}
