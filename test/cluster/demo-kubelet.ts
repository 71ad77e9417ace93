// Long-running "kubelet" for the demo's cell pods: runs each cell as a local process on loopback
// (test/support/local-kubelet.ts). Started in the background by the demo and stopped by
// `npm run demo:down` with the rest of the local cluster.
import { KubeConfig } from '@kubernetes/client-node';
import { LocalKubelet } from '../support/local-kubelet.js';
import { ControlPlane } from './controlplane.js';

async function main(): Promise<void> {
  const [kubeconfig, server, caFile, namespace, stateDir] = process.argv.slice(2);
  if (!kubeconfig || !server || !caFile || !namespace || !stateDir) {
    throw new Error('usage: demo-kubelet <admin kubeconfig> <server> <ca file> <namespace> <state dir>');
  }
  const admin = new KubeConfig();
  admin.loadFromFile(kubeconfig);
  const tokenIdentity = ControlPlane.attach(stateDir).nodeIdentities();
  const kubelet = new LocalKubelet({ admin, server, caFile, namespace, tokenIdentity });
  await kubelet.start();
  process.stdout.write(`demo kubelet: running cells of namespace ${namespace} on loopback\n`);
  const stop = (): void => void kubelet.stop().finally(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`demo kubelet: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
