// Where the integration run's control plane lives: shared by global setup/teardown and tests.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cacheDir } from '../../cluster/controlplane.js';

/** Env vars the global setup exports to test workers. */
export const ENV_STATE = 'CELULA_TEST_STATE';
export const ENV_KUBECONFIG = 'CELULA_TEST_KUBECONFIG';
export const ENV_SERVER = 'CELULA_TEST_SERVER';

export interface RunInfo {
  stateDir: string;
  kubeconfig: string;
  server: string;
  pid: number;
}

export function runsDir(): string {
  return path.join(cacheDir(), 'test-runs');
}

/** `$CELULA_CACHE/test-runs/current.json`: the same info as the env vars, for tools and debugging. */
export function currentRunFile(): string {
  return path.join(runsDir(), 'current.json');
}

export function writeRunInfo(info: RunInfo): void {
  process.env[ENV_STATE] = info.stateDir;
  process.env[ENV_KUBECONFIG] = info.kubeconfig;
  process.env[ENV_SERVER] = info.server;
  fs.writeFileSync(currentRunFile(), JSON.stringify(info, null, 2));
}

/** The run's info from the env vars (set by global setup), else from current.json. */
export function readRunInfo(): RunInfo {
  const stateDir = process.env[ENV_STATE];
  const kubeconfig = process.env[ENV_KUBECONFIG];
  if (stateDir && kubeconfig) {
    return { stateDir, kubeconfig, server: process.env[ENV_SERVER] ?? '', pid: 0 };
  }
  try {
    return JSON.parse(fs.readFileSync(currentRunFile(), 'utf8')) as RunInfo;
  } catch {
    throw new Error(
      `no integration control plane: ${ENV_STATE}/${ENV_KUBECONFIG} are unset; run the tests through ` +
        'jest --selectProjects integration (its global setup starts the control plane)',
    );
  }
}
