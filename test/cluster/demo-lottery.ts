// `npm run demo:lottery`: the lottery story on the local control plane and a real Bitcoin node.
// A fresh control plane with 4 simulated nodes, the operator and a local kubelet (as `npm run demo`),
// then examples/lottery/colony.yaml (its program run from dist/ instead of an image); btcd --regtest
// mines coins to the colony's address; a draw is paid and confirmed; a cell is killed and replaced;
// a second draw is paid from the same address by the replacement. Each step is printed.
// `npm run demo:down` stops everything (btcd included).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  KubernetesObjectApi,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { p2tr, p2wpkh } from '@scure/btc-signer';
import { pubECDSA, pubSchnorr, randomPrivateKeyBytes } from '@scure/btc-signer/utils.js';
import yaml from 'js-yaml';

import { bitcoinNetworkParams } from '../../src/api/bitcoin.js';
import {
  COLONY_PLURAL,
  DEFAULT_PROGRAM_PORT,
  GROUP,
  MANAGER,
  VERSION,
  type Colony,
} from '../../src/api/types.js';
import { CELL_RUNTIME_LABEL } from '../../src/builders/pod.js';
import { OPERATOR_NAME } from '../../src/builders/rbac-rules.js';
import {
  DEFAULT_OPERATOR_NAMESPACE,
  installOperatorPrerequisites,
  OPERATOR_NODE_FLAGS,
} from '../../src/install.js';
import { applyObject } from '../../src/runtime/apply.js';
import {
  auditPayout,
  winnerOf,
  type DrawInput,
  type Payout,
  type Ticket,
} from '../../examples/lottery/lottery.js';
import { Btcd, COINBASE_MATURITY, type RegtestUtxo } from '../support/btcd.js';
import { up } from './cli.js';
import type { ControlPlane } from './controlplane.js';
import { spawnComponent } from './procs.js';

const NAMESPACE = 'celula-lottery';
const NODES = 4;
const TIMEOUT_MS = 180_000;
const REGTEST = bitcoinNetworkParams('regtest');
const t0 = Date.now();

const say = (line: string): void => {
  process.stdout.write(`${line}\n`);
};
const step = (n: number, line: string): void =>
  say(`\n[${((Date.now() - t0) / 1000).toFixed(1)} s] ${n}/8 ${line}`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function repoRoot(): string {
  const up2 = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
  return path.basename(up2) === 'dist' ? path.dirname(up2) : up2;
}

/** examples/lottery/colony.yaml, its program taken from dist/ (the demo runs cells as local processes). */
function lotteryColony(root: string): Colony {
  const colony = yaml.load(readFileSync(path.join(root, 'examples/lottery/colony.yaml'), 'utf8')) as Colony;
  colony.metadata = { ...colony.metadata, namespace: NAMESPACE, labels: { [CELL_RUNTIME_LABEL]: 'local' } };
  colony.spec.program = {
    module: path.join(root, 'dist/examples/lottery/program.js'),
    port: DEFAULT_PROGRAM_PORT,
  };
  return colony;
}

interface Cluster {
  cp: ControlPlane;
  admin: KubeConfig;
  custom: CustomObjectsApi;
  core: CoreV1Api;
}

async function startCluster(root: string): Promise<Cluster> {
  step(1, 'starting a fresh local control plane with 4 simulated nodes…');
  const cp = await up({ fresh: true, nodes: NODES });
  const admin = new KubeConfig();
  admin.loadFromFile(cp.adminKubeconfig);
  await installOperatorPrerequisites(admin);
  const objects = KubernetesObjectApi.makeApiClient(admin);
  await applyObject(
    objects,
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE } },
    { fieldManager: MANAGER },
  );
  const operatorKubeconfig = await cp.kubeconfigForServiceAccount(
    DEFAULT_OPERATOR_NAMESPACE,
    OPERATOR_NAME,
    undefined,
    86_400,
  );

  step(
    2,
    'starting the operator (its own service account) and a local kubelet that runs cells as processes…',
  );
  const node = process.execPath;
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
    name: 'celula-lottery-kubelet',
    bin: node,
    args: [
      path.join(root, 'dist/test/cluster/demo-kubelet.js'),
      cp.adminKubeconfig,
      cp.server,
      cp.caFile,
      NAMESPACE,
      cp.stateDir,
    ],
    stateDir: cp.stateDir,
  });

  step(3, 'applying examples/lottery/colony.yaml (secp256k1, the lottery program, regtest)…');
  await applyObject(objects, lotteryColony(root) as KubernetesObject, { fieldManager: MANAGER });
  return { cp, admin, custom: admin.makeApiClient(CustomObjectsApi), core: admin.makeApiClient(CoreV1Api) };
}

async function readColony(c: Cluster): Promise<Colony> {
  return (await c.custom.getNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace: NAMESPACE,
    plural: COLONY_PLURAL,
    name: 'lottery',
  })) as Colony;
}

/** The colony Ready with 3 heard holders (each holds the secret and its program is ready). */
async function waitReady(c: Cluster, what: string): Promise<Colony> {
  const deadline = Date.now() + TIMEOUT_MS;
  let last: Colony | undefined;
  while (Date.now() < deadline) {
    last = await readColony(c);
    const ready = last.status?.conditions?.find((x) => x.type === 'Ready')?.status === 'True';
    if (ready && last.status?.alive === 3 && last.status.bitcoinAddress) return last;
    await sleep(500);
  }
  throw new Error(
    `demo: ${what}: colony not Ready with 3 holders after ${TIMEOUT_MS / 1000} s (alive=${last?.status?.alive ?? '?'})`,
  );
}

/** The program URL of each Ready cell pod (its pod IP, a loopback address here, on the program port). */
async function programUrls(c: Cluster): Promise<Map<string, string>> {
  const pods = await c.core.listNamespacedPod({
    namespace: NAMESPACE,
    labelSelector: 'celula.io/colony=lottery',
  });
  const urls = new Map<string, string>();
  for (const p of pods.items) {
    const ready = p.status?.conditions?.find((x) => x.type === 'Ready')?.status === 'True';
    if (ready && p.status?.podIP)
      urls.set(p.metadata!.name!, `http://${p.status.podIP}:${DEFAULT_PROGRAM_PORT}`);
  }
  return urls;
}

function tickets(): Ticket[] {
  return [
    { id: 'alice', address: p2wpkh(pubECDSA(randomPrivateKeyBytes()), REGTEST).address },
    { id: 'bob', address: p2tr(pubSchnorr(randomPrivateKeyBytes()), undefined, REGTEST).address },
    { id: 'carol', address: p2wpkh(pubECDSA(randomPrivateKeyBytes()), REGTEST).address },
    { id: 'dave', address: p2tr(pubSchnorr(randomPrivateKeyBytes()), undefined, REGTEST).address },
  ];
}

async function postDraw(url: string, draw: DrawInput): Promise<Payout> {
  const res = await fetch(`${url}/draw`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(draw),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`demo: POST ${url}/draw: ${res.status} ${text}`);
  return JSON.parse(text) as Payout;
}

/** The draw and its payout as files, for examples/lottery/audit.ts (public data, nothing secret). */
function keep(dir: string, draw: DrawInput, payout: Payout): { drawFile: string; payoutFile: string } {
  mkdirSync(dir, { recursive: true });
  const drawFile = path.join(dir, `${draw.drawId}.draw.json`);
  const payoutFile = path.join(dir, `${draw.drawId}.payout.json`);
  writeFileSync(drawFile, `${JSON.stringify(draw, null, 2)}\n`);
  writeFileSync(payoutFile, `${JSON.stringify(payout, null, 2)}\n`);
  return { drawFile, payoutFile };
}

/** One draw: sent to `cell`, audited with public data, broadcast, mined, the winner's output checked. */
async function drawAndPay(
  btcd: Btcd,
  colony: Colony,
  cell: [string, string],
  draw: DrawInput,
): Promise<{ drawFile: string; payoutFile: string }> {
  const winner = winnerOf(draw);
  say(
    `   tickets: ${draw.tickets.map((t) => t.id).join(', ')}; beacon (tip block hash) ${draw.beacon.slice(0, 16)}…`,
  );
  say(`   anyone recomputes the winner from tickets + beacon: ${winner.id} (${winner.address})`);
  const payout = await postDraw(cell[1], draw);
  say(
    `   cell ${cell[0]} signed tx ${payout.statement.txid}: ${payout.statement.payoutSats} sats to ${payout.statement.winningTicket}`,
  );
  const problems = auditPayout(payout, colony.status!.publicKey!, 'regtest', draw);
  if (problems.length > 0) throw new Error(`demo: the audit failed: ${problems.join('; ')}`);
  say('   audited with public data only (colony public key, tickets, beacon, UTXOs): OK');
  const files = keep(path.join(btcd.stateDir, 'lottery'), draw, payout);
  const txid = await btcd.rpc<string>('sendrawtransaction', payout.tx);
  await btcd.generate(1);
  const out = await btcd.txOut(txid, 0);
  const to = out?.scriptPubKey.address ?? out?.scriptPubKey.addresses?.[0];
  if (out?.confirmations !== 1 || to !== winner.address)
    throw new Error(`demo: payout ${txid} not confirmed to the winner`);
  say(`   btcd accepted it (sendrawtransaction), mined a block: ${out.value} BTC confirmed at ${to}`);
  return files;
}

async function killACell(c: Cluster): Promise<string> {
  const urls = await programUrls(c);
  const [victim] = [...urls.keys()].sort();
  if (!victim) throw new Error('demo: no Ready cell to kill');
  await c.core.deleteNamespacedPod({ name: victim, namespace: NAMESPACE, gracePeriodSeconds: 0 });
  say(`   deleted pod ${victim}: its process is killed, its memory (and the secret in it) gone`);
  return victim;
}

async function newCell(c: Cluster, before: Set<string>): Promise<[string, string]> {
  const deadline = Date.now() + TIMEOUT_MS;
  while (Date.now() < deadline) {
    const fresh = [...(await programUrls(c)).entries()].find(([pod]) => !before.has(pod));
    if (fresh) return fresh;
    await sleep(500);
  }
  throw new Error('demo: no replacement cell became Ready');
}

function drawOf(id: string, beacon: string, pot: RegtestUtxo): DrawInput {
  return { drawId: id, tickets: tickets(), beacon, utxos: [pot], feeSats: '10000' };
}

export async function runLotteryDemo(): Promise<void> {
  const root = repoRoot();
  const c = await startCluster(root);
  say('   waiting for the genesis cell to create the key and two cells to join, each loading the program…');
  const colony = await waitReady(c, 'first start');
  const address = colony.status!.bitcoinAddress!;
  say(`   colony Ready: public key ${colony.status!.publicKey}`);
  say(`   its Bitcoin address (P2TR, from the public key only): ${address}`);

  step(
    4,
    'starting btcd --regtest on loopback, mining 102 blocks to the colony address (coinbases mature after 100)…',
  );
  const btcd = await Btcd.start({ miningAddress: address, stateDir: c.cp.stateDir });
  await btcd.generate(2 + COINBASE_MATURITY);
  const pots = [await btcd.coinbaseAt(1), await btcd.coinbaseAt(2)];
  say(`   the colony owns ${pots.length} spendable coinbases of ${Number(pots[0]!.sats) / 1e8} BTC`);

  step(5, 'draw #1: tickets and a public beacon in, a signed payout out…');
  const cells = await programUrls(c);
  const first = [...cells.entries()].sort()[0]!;
  const tip1 = await btcd.rpc<string>('getblockhash', await btcd.rpc<number>('getblockcount'));
  const files = await drawAndPay(btcd, colony, first, drawOf('demo-1', tip1, pots[0]!));

  step(6, 'killing a cell…');
  const before = new Set(cells.keys());
  await killACell(c);

  step(7, 'the operator replaces it; the new cell joins from a live peer and loads the program…');
  const again = await waitReady(c, 'after the kill');
  const replacement = await newCell(c, before);
  say(
    `   new cell ${replacement[0]} Ready; address unchanged: ${again.status!.bitcoinAddress === address ? 'yes' : 'NO'}`,
  );
  if (again.status!.bitcoinAddress !== address) throw new Error('demo: the colony address changed');

  step(8, `draw #2, sent to the new cell ${replacement[0]}, paid from the same address…`);
  const tip2 = await btcd.rpc<string>('getblockhash', await btcd.rpc<number>('getblockcount'));
  await drawAndPay(btcd, again, replacement, drawOf('demo-2', tip2, pots[1]!));

  say(`\nDone in ${((Date.now() - t0) / 1000).toFixed(1)} s. Look around:`);
  say(`  export KUBECONFIG=${c.cp.adminKubeconfig}`);
  say(
    `  ${path.join(c.cp.state.binDir, 'kubectl')} get colony lottery -n ${NAMESPACE} -o jsonpath='{.status.bitcoinAddress}'`,
  );
  say(`  ${btcd.btcctl()} getblockcount`);
  say(
    `  node dist/examples/lottery/audit.js ${colony.status!.publicKey} regtest ${files.drawFile} ${files.payoutFile}`,
  );
  say(
    `  logs: ${path.join(c.cp.stateDir, 'logs')}/ (celula-operator.log, celula-lottery-kubelet.log, btcd.log)`,
  );
  say('Stop everything: npm run demo:down');
}

runLotteryDemo().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
