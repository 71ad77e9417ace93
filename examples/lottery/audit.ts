#!/usr/bin/env node
// Audit a lottery payout with public data only (examples/lottery/README.md "Verify"):
//   node dist/examples/lottery/audit.js <colony public key> <network> <draw.json> <payout.json>
// The public key is Colony.status.publicKey; draw.json is the published draw (tickets, beacon, UTXOs,
// fee); payout.json is what POST /draw returned. Prints the winner and "OK", or each problem and
// exits 1.
import { readFileSync } from 'node:fs';

import { BITCOIN_NETWORKS, type BitcoinNetwork } from '../../src/api/bitcoin.js';
import { auditPayout, checkDraw, winnerOf, type Payout } from './lottery.js';

const USAGE = 'usage: audit <colony public key> <mainnet|testnet|regtest> <draw.json> <payout.json>';

function readJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as unknown;
  } catch (err) {
    throw new Error(`${file}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

function main(argv: string[]): number {
  const [publicKey, network, drawFile, payoutFile] = argv;
  if (!publicKey || !network || !drawFile || !payoutFile) throw new Error(USAGE);
  if (!(BITCOIN_NETWORKS as readonly string[]).includes(network)) {
    throw new Error(`network must be one of ${BITCOIN_NETWORKS.join(', ')}, not '${network}'`);
  }
  const net = network as BitcoinNetwork;
  const draw = readJson(drawFile);
  const winner = winnerOf(checkDraw(draw, net));
  process.stdout.write(`winner recomputed from tickets + beacon: ${winner.id} (${winner.address})\n`);
  const problems = auditPayout(readJson(payoutFile) as Payout, publicKey, net, draw);
  for (const p of problems) process.stdout.write(`PROBLEM: ${p}\n`);
  if (problems.length === 0)
    process.stdout.write('OK: signed by the colony, for this draw, paying this winner\n');
  return problems.length === 0 ? 0 : 1;
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`audit: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 2;
}
