// The operator guards its lock-down: it installs the policies, restores a deleted binding within
// seconds (Warning event, LockdownIntact=False meanwhile, incident counted), and seeds no secret
// while it cannot put them back.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  AdmissionregistrationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  NetworkingV1Api,
  RbacAuthorizationV1Api,
  type KubeConfig,
} from '@kubernetes/client-node';
import { COLONY_PLURAL, GROUP, VERSION, type Cell, type Colony } from '../../src/api/types.js';
import { POLICY } from '../../src/builders/lockdown.js';
import { CELL_PORT } from '../../src/builders/pod.js';
import { OPERATOR_NAME } from '../../src/builders/rbac-rules.js';
import { cellsOf, conditionOf, poolColony, poolName, readColony } from '../support/colonies.js';
import { removeLockdown, runOperator, type TestOperator } from '../support/operator.js';
import { controlPlane, createNamespace, deleteNamespace, kubeConfig, waitFor } from './support/cluster.js';

const POOL = poolName('ld');

let kc: KubeConfig;
let custom: CustomObjectsApi;
let adm: AdmissionregistrationV1Api;
let ns: string;
let op: TestOperator;

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
  await controlPlane().addNode(`${POOL}-n0`, { labels: { 'celula.test/pool': POOL } });
  op = await runOperator({ lockdown: true });
});

afterAll(async () => {
  await op?.stop();
  await removeLockdown();
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

    const core = kc.makeApiClient(CoreV1Api);
    const event = await waitFor(async () => {
      const events = (await core.listNamespacedEvent({ namespace: ns })).items;
      return events.find((e) => e.reason === 'LockdownTampered' && e.involvedObject.name === 'guarded');
    }, 'LockdownTampered event');
    expect(event.type).toBe('Warning');
    expect(event.message).toMatch(new RegExp(POLICY.podConnect));
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
    await new Promise((r) => setTimeout(r, 2_000));
    expect(await cells('blocked')).toHaveLength(0);

    // Give the permission back: the operator restores the binding and the colony seeds.
    const now = await rbac.readClusterRole({ name: OPERATOR_NAME });
    now.rules = original;
    await rbac.replaceClusterRole({ name: OPERATOR_NAME, body: now });
    await waitFor(async () => (await cells('blocked')).length === 1, 'genesis cell after restore', 30_000);
    // The colony's status is written after the cells it creates in the same reconcile: wait for it.
    const after = await waitFor(async () => {
      const col = await getColony('blocked');
      return condition(col, 'LockdownIntact')?.status === 'True' && col;
    }, 'LockdownIntact=True after restore');
    expect(condition(after, 'LockdownIntact')).toMatchObject({ status: 'True', reason: 'PoliciesPresent' });
  });
  it('treats a mutating webhook that can change cell pods as a broken lock-down until it is deleted', async () => {
    const name = `celula-test-${ns}`;
    const core = kc.makeApiClient(CoreV1Api);
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
      const event = await waitFor(async () => {
        const events = (await core.listNamespacedEvent({ namespace: ns })).items;
        return events.find((e) => e.reason === 'MutatingAdmission' && e.involvedObject.name === 'guarded');
      }, 'MutatingAdmission event');
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
});
