// The integration run's control plane: started once by global-setup.ts, stopped by
// global-teardown.ts, found by tests through env vars (or test-runs/current.json).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ControlPlane, cacheDir, stopStateDir } from '../../cluster/controlplane.js';

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

function writeRunInfo(info: RunInfo): void {
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

/** True when the jest process that owns the state dir still runs. */
function ownerAlive(dir: string): boolean {
  try {
    const state = JSON.parse(fs.readFileSync(path.join(dir, 'cluster.json'), 'utf8')) as {
      ownerPid: number;
    };
    if (state.ownerPid === process.pid) return false;
    const stat = fs.readFileSync(`/proc/${state.ownerPid}/stat`, 'utf8');
    return !/^\S+ \(.*\) [ZX]/s.test(stat);
  } catch {
    return false;
  }
}

/** Stops and removes the state of earlier runs whose jest process is gone. */
async function reapStaleRuns(): Promise<void> {
  for (const entry of fs.readdirSync(runsDir())) {
    const dir = path.join(runsDir(), entry);
    if (!fs.statSync(dir).isDirectory() || ownerAlive(dir)) continue;
    await stopStateDir(dir);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Starts the run's control plane (fresh state dir, no nodes) and exports how to reach it. */
export async function startRun(): Promise<void> {
  fs.mkdirSync(runsDir(), { recursive: true });
  await reapStaleRuns();
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const stateDir = path.join(runsDir(), `${stamp}-${process.pid}`);
  const t0 = Date.now();
  const cp = await ControlPlane.start({ stateDir, stopOnExit: true });
  process.stderr.write(
    `\n[integration] control plane up in ${Date.now() - t0} ms: ${cp.server} (state ${stateDir})\n`,
  );
  writeRunInfo({ stateDir, kubeconfig: cp.adminKubeconfig, server: cp.server, pid: process.pid });
}

/** Stops every process recorded in the run's state dir and drops etcd data (logs stay). */
export async function stopRun(): Promise<void> {
  const stateDir = process.env[ENV_STATE];
  if (!stateDir) return;
  await stopStateDir(stateDir);
  fs.rmSync(path.join(stateDir, 'etcd'), { recursive: true, force: true });
}
