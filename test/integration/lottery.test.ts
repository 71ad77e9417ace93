// Issue 13, acceptance 1, on the real control plane with real cell processes and a real Bitcoin node:
// a secp256k1 colony of 3 hosts the lottery program (spec.program). Its Bitcoin address is in its
// status; btcd --regtest mines coins to it; the same draw sent to each cell's program port returns the
// same signed payout; btcd accepts the transaction (it checks every script and signature), a block
// confirms it and the winner's output is there. The program Service selects the Ready cells.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { p2tr, p2wpkh } from '@scure/btc-signer';
import { pubECDSA, pubSchnorr, randomPrivateKeyBytes } from '@scure/btc-signer/utils.js';
import * as path from 'node:path';

import { bitcoinNetworkParams, colonyBitcoinAddress } from '../../src/api/bitcoin.js';
import { DEFAULT_PROGRAM_PORT, type Colony } from '../../src/api/types.js';
import { programServiceName } from '../../src/builders/program-service.js';
import { auditPayout, winnerOf, type DrawInput, type Payout } from '../../examples/lottery/lottery.js';
import { Btcd, COINBASE_MATURITY } from '../support/btcd.js';
import { poolName } from '../support/colonies.js';
import { startRealColony, type RealColony } from '../support/real-colony.js';
import { clusterInfo } from './support/cluster.js';

const POOL = poolName('lottery');
const NODES = [0, 1, 2].map((i) => `${POOL}-n${i}`);
const REGTEST = bitcoinNetworkParams('regtest');

let rc: RealColony;
let btcd: Btcd | undefined;

function lotteryColony(body: Colony): void {
  body.spec.secret = { algorithm: 'secp256k1' };
  body.spec.program = { module: path.resolve('dist/examples/lottery/program.js') };
  body.spec.bitcoin = { network: 'regtest' };
}

/** A cell's program URL: its pod IP (the local kubelet's loopback address) on the program port. */
function programUrl(pod: string): string {
  const cell = rc.kubelet.cell(pod);
  if (!cell) throw new Error(`no local cell for ${pod}`);
  return `http://${cell.ip}:${DEFAULT_PROGRAM_PORT}`;
}

async function postDraw(pod: string, body: DrawInput): Promise<Payout> {
  const res = await fetch(`${programUrl(pod)}/draw`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`POST /draw on ${pod}: ${res.status} ${text}`);
  return JSON.parse(text) as Payout;
}

beforeAll(async () => {
  rc = await startRealColony({
    name: 'lottery',
    pool: POOL,
    nodes: NODES,
    replicas: 3,
    minReplicas: 2,
    digestChar: '7',
    nodeLossAfter: 5,
    customize: lotteryColony,
  });
}, 180_000);

afterAll(async () => {
  await btcd?.stop();
  await rc?.stop();
});

describe('the lottery colony on a real chain', () => {
  let colony: Colony;
  let pods: string[];

  it('becomes Ready with 3 holders whose program is ready, and shows its Bitcoin address', async () => {
    const ready = await rc.waitReady(3, 150_000);
    colony = ready.colony;
    pods = ready.cells.map((c) => c.status!.pod!);
    const address = colony.status?.bitcoinAddress;
    expect(address).toBe(colonyBitcoinAddress(colony.status!.publicKey!, 'regtest'));
    expect(address).toMatch(/^bcrt1p/);
    for (const pod of pods) {
      const res = (await (await fetch(`${programUrl(pod)}/address`)).json()) as { address: string };
      expect(res.address).toBe(address);
    }
  }, 180_000);

  // The Service's EndpointSlices stay empty here: the local kubelet gives pods loopback IPs, which
  // the API refuses in an EndpointSlice (the controller-manager logs it). What the Service selects is
  // checked instead: exactly the colony's cell pods, and they are Ready (holders whose program is).
  it('the program Service selects exactly the colony cells, Ready, on the named program port', async () => {
    const service = await rc.core.readNamespacedService({
      name: programServiceName(colony.metadata.name!),
      namespace: rc.ns,
    });
    expect(service.metadata?.ownerReferences?.[0]?.uid).toBe(colony.metadata.uid);
    expect(service.spec?.ports?.[0]).toMatchObject({ port: 80, targetPort: 'program' });
    const selector = Object.entries(service.spec?.selector ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    const selected = await rc.core.listNamespacedPod({ namespace: rc.ns, labelSelector: selector });
    expect(selected.items.map((p) => p.metadata!.name).sort()).toEqual([...pods].sort());
    for (const p of selected.items) {
      expect(p.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
      expect(p.spec?.containers[0]?.ports?.find((x) => x.name === 'program')?.containerPort).toBe(
        DEFAULT_PROGRAM_PORT,
      );
    }
  });

  it('pays the winner: same signed payout from every cell, accepted and confirmed by btcd', async () => {
    const address = colony.status!.bitcoinAddress!;
    btcd = await Btcd.start({
      miningAddress: address,
      stateDir: path.join(clusterInfo().stateDir, `btcd-${process.pid}`),
    });
    await btcd.generate(2 + COINBASE_MATURITY);
    const pot = [await btcd.coinbaseAt(1), await btcd.coinbaseAt(2)];
    const tip = await btcd.rpc<number>('getblockcount');
    const tickets = [
      { id: 'alice', address: p2wpkh(pubECDSA(randomPrivateKeyBytes()), REGTEST).address },
      { id: 'bob', address: p2tr(pubSchnorr(randomPrivateKeyBytes()), undefined, REGTEST).address },
      { id: 'carol', address: p2wpkh(pubECDSA(randomPrivateKeyBytes()), REGTEST).address },
    ];
    // The beacon: the hash of the chain's tip, fixed after the tickets were sold.
    const draw: DrawInput = {
      drawId: 'regtest-1',
      tickets,
      beacon: await btcd.rpc<string>('getblockhash', tip),
      utxos: pot,
      feeSats: '10000',
    };
    const payouts = await Promise.all(pods.map((p) => postDraw(p, draw)));
    for (const p of payouts.slice(1)) expect(p).toEqual(payouts[0]);
    const payout = payouts[0]!;
    expect(auditPayout(payout, colony.status!.publicKey!, 'regtest', draw)).toEqual([]);

    const txid = await btcd.rpc<string>('sendrawtransaction', payout.tx);
    expect(txid).toBe(payout.statement.txid);
    await btcd.generate(1);
    const out = await btcd.txOut(txid, 0);
    const winner = winnerOf(draw);
    expect(out?.confirmations).toBe(1);
    expect(Math.round((out?.value ?? 0) * 1e8)).toBe(Number(payout.statement.payoutSats));
    expect(out?.scriptPubKey.address ?? out?.scriptPubKey.addresses?.[0]).toBe(winner.address);
    // The pot is spent: the coinbases are no longer unspent outputs.
    for (const u of pot) expect(await btcd.txOut(u.txid, u.vout)).toBeNull();
  }, 120_000);
});
