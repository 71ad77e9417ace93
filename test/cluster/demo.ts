// `npm run demo`: Celula end to end on the local control plane, with nothing of your own.
// A fresh control plane with 4 simulated nodes; the CRDs, namespace and RBAC; the operator running
// in the background as its own service account; a local "kubelet" that runs every cell as a real
// cell process on loopback; then examples/colony.yaml. It prints what to look at and how to stop.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CustomObjectsApi,
  KubeConfig,
  KubernetesObjectApi,
  type KubernetesObject,
} from '@kubernetes/client-node';
import yaml from 'js-yaml';
import { COLONY_PLURAL, GROUP, MANAGER, VERSION, type Colony } from '../../src/api/types.js';
import { CELL_RUNTIME_LABEL } from '../../src/builders/pod.js';
import { OPERATOR_NAME } from '../../src/builders/rbac-rules.js';
import {
  DEFAULT_OPERATOR_NAMESPACE,
  installOperatorPrerequisites,
  OPERATOR_NODE_FLAGS,
} from '../../src/install.js';
import { applyObject } from '../../src/runtime/apply.js';
import { up } from './cli.js';
import { spawnComponent } from './procs.js';

export const DEMO_NAMESPACE = 'celula-demo';
const NODES = 4;
const TIMEOUT_MS = 120_000;

const say = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

/** The repository root, from test/cluster/ (sources) or dist/test/cluster/ (compiled). */
function repoRoot(): string {
  const up2 = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
  return path.basename(up2) === 'dist' ? path.dirname(up2) : up2;
}

function exampleColony(root: string): Colony {
  const colony = yaml.load(readFileSync(path.join(root, 'examples', 'colony.yaml'), 'utf8')) as Colony;
  // Cells of this colony run as local processes (the demo kubelet), not in containers.
  colony.metadata = {
    ...colony.metadata,
    namespace: DEMO_NAMESPACE,
    labels: { ...colony.metadata.labels, [CELL_RUNTIME_LABEL]: 'local' },
  };
  return colony;
}

async function waitForColony(kc: KubeConfig, name: string): Promise<Colony> {
  const api = kc.makeApiClient(CustomObjectsApi);
  const deadline = Date.now() + TIMEOUT_MS;
  let last: Colony | undefined;
  while (Date.now() < deadline) {
    last = (await api.getNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: DEMO_NAMESPACE,
      plural: COLONY_PLURAL,
      name,
    })) as Colony;
    const ready = last.status?.conditions?.find((c) => c.type === 'Ready');
    if (ready?.status === 'True') return last;
    await new Promise((r) => setTimeout(r, 500));
  }
  const why = last?.status?.conditions?.map((c) => `${c.type}=${c.status} (${c.message})`).join('; ');
  throw new Error(`demo: colony ${name} not Ready after ${TIMEOUT_MS / 1000} s: ${why ?? 'no status'}`);
}

export async function runDemo(): Promise<void> {
  const root = repoRoot();
  const node = process.execPath;
  say('1/5 starting a fresh local control plane with 4 simulated nodes…');
  const cp = await up({ fresh: true, nodes: NODES });
  const admin = new KubeConfig();
  admin.loadFromFile(cp.adminKubeconfig);

  say('2/5 installing CRDs, the operator namespace, service account and RBAC…');
  await installOperatorPrerequisites(admin);
  const objects = KubernetesObjectApi.makeApiClient(admin);
  await applyObject(
    objects,
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: DEMO_NAMESPACE } },
    { fieldManager: MANAGER },
  );
  const operatorKubeconfig = await cp.kubeconfigForServiceAccount(
    DEFAULT_OPERATOR_NAMESPACE,
    OPERATOR_NAME,
    undefined,
    86_400,
  );

  say('3/5 starting the operator (as its own service account) and the local cell kubelet…');
  spawnComponent({
    name: 'celula-operator',
    bin: node,
    args: [
      ...OPERATOR_NODE_FLAGS,
      path.join(root, 'dist/src/main.js'),
      '--kubeconfig',
      operatorKubeconfig,
      '--metrics-addr',
      '127.0.0.1:9464',
      '--health-addr',
      '127.0.0.1:9465',
    ],
    stateDir: cp.stateDir,
  });
  spawnComponent({
    name: 'celula-demo-kubelet',
    bin: node,
    args: [
      path.join(root, 'dist/test/cluster/demo-kubelet.js'),
      cp.adminKubeconfig,
      cp.server,
      cp.caFile,
      DEMO_NAMESPACE,
      cp.stateDir,
    ],
    stateDir: cp.stateDir,
  });

  say('4/5 applying examples/colony.yaml…');
  const colony = exampleColony(root);
  await applyObject(objects, colony as KubernetesObject, { fieldManager: MANAGER });

  say('5/5 waiting for the genesis cell to seed the secret and two more cells to join…');
  const ready = await waitForColony(admin, colony.metadata.name ?? 'lottery');
  const kubectl = path.join(cp.state.binDir, 'kubectl');
  say('');
  say(
    execFileSync(
      kubectl,
      ['--kubeconfig', cp.adminKubeconfig, 'get', 'colonies,cells', '-n', DEMO_NAMESPACE, '-o', 'wide'],
      { encoding: 'utf8' },
    ),
  );
  say(`The colony's public key: ${ready.status?.publicKey ?? '?'}`);
  say("No process, log, file or Kubernetes object holds the secret; only the cells' memory does.");
  say('');
  say('Look around:');
  say(`  export KUBECONFIG=${cp.adminKubeconfig}`);
  say(
    `  ${kubectl} get colonies,cells -n ${DEMO_NAMESPACE} -w      # kill a cell process and watch it replaced`,
  );
  say(`  ${kubectl} describe colony ${colony.metadata.name} -n ${DEMO_NAMESPACE}`);
  say(
    `  ${kubectl} exec -n ${DEMO_NAMESPACE} ${ready.status?.genesisCell ?? '<cell>'} -- sh   # refused by the lock-down, even for admin`,
  );
  say(`  curl -s 127.0.0.1:9464/metrics | grep ^celula_          # operator metrics`);
  say(`  logs: ${path.join(cp.stateDir, 'logs')}/celula-operator.log, celula-demo-kubelet.log`);
  say('Stop everything: npm run demo:down');
}
