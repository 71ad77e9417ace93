// Starts ONE real control plane (etcd, kube-apiserver, controller-manager, scheduler; no nodes)
// for the whole integration run, in a fresh state dir, and exports how to reach it:
// CELULA_TEST_STATE, CELULA_TEST_KUBECONFIG, CELULA_TEST_SERVER (and test-runs/current.json).
// Throws when it cannot start: integration tests never skip.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ControlPlane, stopStateDir } from '../cluster/controlplane.js';
import { runsDir, writeRunInfo } from './support/run.js';

/** Stops and removes the state of earlier runs whose jest process is gone. */
async function reapStaleRuns(): Promise<void> {
  let entries: string[];
  try {
    entries = fs.readdirSync(runsDir());
  } catch {
    return;
  }
  for (const entry of entries) {
    const dir = path.join(runsDir(), entry);
    if (!fs.statSync(dir).isDirectory()) continue;
    if (ownerAlive(dir)) continue;
    await stopStateDir(dir);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function ownerAlive(dir: string): boolean {
  try {
    const state = JSON.parse(fs.readFileSync(path.join(dir, 'cluster.json'), 'utf8')) as { ownerPid: number };
    if (state.ownerPid === process.pid) return false;
    const stat = fs.readFileSync(`/proc/${state.ownerPid}/stat`, 'utf8');
    return !/^\S+ \(.*\) [ZX]/s.test(stat);
  } catch {
    return false;
  }
}

export default async function globalSetup(): Promise<void> {
  fs.mkdirSync(runsDir(), { recursive: true });
  await reapStaleRuns();
  const stateDir = path.join(runsDir(), `${new Date().toISOString().replace(/[:.]/g, '-')}-${process.pid}`);
  const t0 = Date.now();
  const cp = await ControlPlane.start({ stateDir, stopOnExit: true });
  process.stderr.write(
    `\n[integration] control plane up in ${Date.now() - t0} ms: ${cp.server} (state ${stateDir})\n`,
  );
  writeRunInfo({ stateDir, kubeconfig: cp.adminKubeconfig, server: cp.server, pid: process.pid });
}
