// Runs the operator in process for a test, as its own service account with exactly the RBAC the
// chart grants (src/builders/rbac-rules.ts), never as admin.
import type { KubeConfig } from '@kubernetes/client-node';
import { DEFAULT_OPERATOR_NAMESPACE, installOperatorPrerequisites } from '../../src/install.js';
import { createLogger } from '../../src/observability/logger.js';
import { OPERATOR_NAME } from '../../src/builders/rbac-rules.js';
import { startOperator, type Operator } from '../../src/operator.js';
import { AdmissionregistrationV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { GROUP, LOCKDOWN_PARAMETERS_PLURAL, VERSION } from '../../src/api/types.js';
import { LOCKDOWN_PARAMS, POLICY } from '../../src/builders/lockdown.js';
import { statusCode } from '../../src/observability/errors.js';
import { kubeConfig, serviceAccountKubeConfig, waitFor } from '../integration/support/cluster.js';
import type { LevelWithSilent } from 'pino';

export interface TestOperator {
  operator: Operator;
  /** The operator's own credentials (service account token). */
  kubeConfig: KubeConfig;
  logs: string[];
  stop(): Promise<void>;
}

/**
 * Removes the cluster-wide lock-down (bindings first: with the guard bound only the operator could
 * touch the parameters). Tests that run the operator with lock-down call it when they finish.
 */
export async function removeLockdown(): Promise<void> {
  const kc = await kubeConfig();
  const adm = kc.makeApiClient(AdmissionregistrationV1Api);
  for (const name of Object.values(POLICY)) {
    await adm.deleteValidatingAdmissionPolicyBinding({ name }).catch(() => undefined);
    await adm.deleteValidatingAdmissionPolicy({ name }).catch(() => undefined);
  }
  // The API server applies a removed binding about a second later: until then the guard still
  // refuses deleting the parameters, so retry until they are gone.
  const custom = kc.makeApiClient(CustomObjectsApi);
  const params = {
    group: GROUP,
    version: VERSION,
    plural: LOCKDOWN_PARAMETERS_PLURAL,
    name: LOCKDOWN_PARAMS,
  };
  await waitFor(
    () =>
      custom.deleteClusterCustomObject(params).then(
        () => true,
        (err: unknown) => statusCode(err) === 404,
      ),
    'lock-down parameters deleted',
    15_000,
    250,
  );
}

export async function runOperator(
  opts: {
    namespace?: string;
    leaderElect?: boolean;
    level?: LevelWithSilent;
    lockdown?: boolean;
    /** Rate limit of LockdownTampered events (ms); default the operator's. */
    lockdownEventIntervalMs?: number;
    /** `--node-loss-after` in seconds; default: derived from each node's Lease. */
    nodeLossAfter?: number;
  } = {},
): Promise<TestOperator> {
  await installOperatorPrerequisites(await kubeConfig());
  const kc = await serviceAccountKubeConfig(DEFAULT_OPERATOR_NAMESPACE, OPERATOR_NAME);
  const logs: string[] = [];
  const destination = {
    write: (line: string): boolean => logs.push(line) > 0,
  } as unknown as NodeJS.WritableStream;
  const logger = createLogger({ level: opts.level ?? 'debug', destination });
  const operator = await startOperator({
    kubeConfig: kc,
    logger,
    namespace: opts.namespace,
    leaderElect: opts.leaderElect ?? false,
    leaderNamespace: DEFAULT_OPERATOR_NAMESPACE,
    // Cluster-wide policies outlive a test file's operator: only tests that clean up turn this on.
    lockdown: opts.lockdown ?? false,
    lockdownEventIntervalMs: opts.lockdownEventIntervalMs,
    // Hardening Jobs only for provider: adopt colonies; adopt.test.ts drives its own.
    hardening: false,
    nodeLossAfter: opts.nodeLossAfter,
  });
  return { operator, kubeConfig: kc, logs, stop: () => operator.stop() };
}
