// Stops every process of this run's control plane (including kwok nodes and apiserver restarts
// that test files started: they are found through the state dir's pid files) and drops etcd data.
// Logs stay in the state dir until the next run's setup removes it. The `.js` → `.ts` resolve
// hook that the dynamic import needs was registered by global-setup.ts in this same process.
export default async function globalTeardown(): Promise<void> {
  if (!process.env.CELULA_TEST_STATE) return;
  const { stopRun } = await import('./support/run.js');
  await stopRun();
}
