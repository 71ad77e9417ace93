// Stops every process of this run's control plane (including kwok nodes and apiserver restarts
// that test files started: they are found through the state dir's pid files) and drops etcd data.
// Logs stay in the state dir until the next run's setup removes it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { stopStateDir } from '../cluster/controlplane.js';
import { ENV_STATE } from './support/run.js';

export default async function globalTeardown(): Promise<void> {
  const stateDir = process.env[ENV_STATE];
  if (!stateDir) return;
  await stopStateDir(stateDir);
  fs.rmSync(path.join(stateDir, 'etcd'), { recursive: true, force: true });
}
