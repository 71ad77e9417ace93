// Installs what the operator needs into a cluster without Helm: CRDs, the operator namespace,
// service account and RBAC. Used by the local demo and the integration tests; the Helm chart ships
// the same objects (rendered from the same builders).
import {
  ApiextensionsV1Api,
  KubernetesObjectApi,
  type KubeConfig,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { loadCrds } from './api/crds.js';
import { DEFAULT_OPERATOR_NAMESPACE, MANAGER } from './api/types.js';
import { buildCellClusterRoles } from './builders/cell-rbac.js';
import { buildCellIdentityPolicy, buildCellIdentityPolicyBinding } from './builders/cell-identity-policy.js';
import { operatorRbac } from './builders/rbac.js';
import { OPERATOR_NAME } from './builders/rbac-rules.js';
import { applyObject } from './runtime/apply.js';

export { DEFAULT_OPERATOR_NAMESPACE };

/**
 * V8 flags for the operator process: the chart's `nodeFlags` default, and what the demo, the chaos
 * suite and the benches run (`--node-flags` tries others). A heap snapshot showed the live heap
 * small (≈ 50 MiB with 500 cells, most of it client-node's own code) and the RSS made of garbage V8
 * had not yet collected: a 2 MiB young generation and V8's memory-saving mode keep the RSS near the
 * live heap. No heap limit: one below a large fleet's live heap would crash the operator rather
 * than slim it (docs/operations.md "Memory and writes at scale").
 */
export const OPERATOR_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2', '--optimize-for-size'];

async function waitEstablished(kc: KubeConfig, names: string[], timeoutMs = 30_000): Promise<void> {
  const ext = kc.makeApiClient(ApiextensionsV1Api);
  const deadline = Date.now() + timeoutMs;
  for (const name of names) {
    for (;;) {
      const crd = await ext.readCustomResourceDefinition({ name });
      if (crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break;
      if (Date.now() > deadline) throw new Error(`CRD ${name} not Established after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** Applies CRDs, namespace, service account, roles and bindings (idempotent, server-side apply). */
export async function installOperatorPrerequisites(
  kc: KubeConfig,
  namespace = DEFAULT_OPERATOR_NAMESPACE,
): Promise<void> {
  const api = KubernetesObjectApi.makeApiClient(kc);
  const crds = loadCrds();
  for (const crd of crds)
    await applyObject(
      api,
      { ...crd, apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition' },
      { force: true, fieldManager: MANAGER },
    );
  await waitEstablished(
    kc,
    crds.map((c) => c.metadata?.name ?? ''),
  );
  await applyObject(
    api,
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } },
    { fieldManager: MANAGER },
  );
  // The roles the operator binds each colony's cells to, and the policy that lets a cell write only
  // its own identity into its own Cell's status.
  const cellObjects: object[] = [
    ...buildCellClusterRoles(),
    buildCellIdentityPolicy({ exempt: [`system:serviceaccount:${namespace}:${OPERATOR_NAME}`] }),
    buildCellIdentityPolicyBinding(),
  ];
  for (const obj of cellObjects)
    await applyObject(api, obj as KubernetesObject, { force: true, fieldManager: MANAGER });
  for (const obj of Object.values(operatorRbac(namespace)))
    await applyObject(api, obj as KubernetesObject, { force: true, fieldManager: MANAGER });
}
