// What integration tests import to use the run's control plane (started by global-setup.ts).
// Everything goes through the state dir (pid files, kubeconfigs), so it works from any test file.
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { ControlPlane } from '../../cluster/controlplane.js';
import { readRunInfo } from './run.js';
import type { RunInfo } from './run.js';

export type { NodeOptions } from '../../cluster/controlplane.js';
export { ControlPlane } from '../../cluster/controlplane.js';
export { ENV_KUBECONFIG, ENV_SERVER, ENV_STATE } from './run.js';

let attached: ControlPlane | undefined;

/** State dir, admin kubeconfig path and server URL of the run's control plane. */
export function clusterInfo(): RunInfo {
  return readRunInfo();
}

/**
 * The run's ControlPlane: addNode / stopHeartbeat / resumeHeartbeat / deleteNode /
 * restartApiServer / kubeconfigForUser / kubeconfigForServiceAccount all work from test files.
 */
export function controlPlane(): ControlPlane {
  attached ??= ControlPlane.attach(readRunInfo().stateDir);
  return attached;
}

/** A KubeConfig loaded from a kubeconfig file. */
export function kubeConfigFromFile(file: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(file);
  return kc;
}

/** The admin (system:masters) KubeConfig. */
export function kubeConfig(): Promise<KubeConfig> {
  return Promise.resolve(kubeConfigFromFile(readRunInfo().kubeconfig));
}

/** A KubeConfig for user `name` in `groups` (client cert signed by the cluster CA). */
export function userKubeConfig(name: string, groups: string[] = []): Promise<KubeConfig> {
  return Promise.resolve(kubeConfigFromFile(controlPlane().kubeconfigForUser(name, groups)));
}

/** A KubeConfig for ServiceAccount `ns/sa`, with a token from the TokenRequest API. */
export async function serviceAccountKubeConfig(
  ns: string,
  sa: string,
  audiences?: string[],
): Promise<KubeConfig> {
  return kubeConfigFromFile(await controlPlane().kubeconfigForServiceAccount(ns, sa, audiences));
}

let nsSeq = 0;

/** A namespace name not used before in this run: `<prefix>-<pid>-<time>-<n>` (≤ 63 chars). */
export function uniqueNamespace(prefix = 'test'): string {
  const suffix = `${process.pid.toString(36)}-${Date.now().toString(36)}-${(nsSeq++).toString(36)}`;
  const head = prefix
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .slice(0, 62 - suffix.length);
  return `${head}-${suffix}`;
}

/** Polls `check` until it returns a value other than undefined/false; throws after timeoutMs. */
export async function waitFor<T>(
  check: () => Promise<T | undefined | false> | T | undefined | false,
  what: string,
  timeoutMs = 20_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const detail = lastError instanceof Error ? `; last error: ${lastError.message}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * Creates a fresh namespace (uniqueNamespace(prefix)) and waits for its `default` ServiceAccount,
 * so pods can be created in it right away. Returns its name.
 */
export async function createNamespace(prefix = 'test'): Promise<string> {
  const name = uniqueNamespace(prefix);
  const core = (await kubeConfig()).makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name } } });
  await waitFor(
    () => core.readNamespacedServiceAccount({ name: 'default', namespace: name }).then(() => true),
    `ServiceAccount ${name}/default`,
  );
  return name;
}

/** Deletes a namespace (does not wait for it to be gone). */
export async function deleteNamespace(name: string): Promise<void> {
  const core = (await kubeConfig()).makeApiClient(CoreV1Api);
  await core.deleteNamespace({ name }).catch(() => undefined);
}
