// The lottery from the original Celula idea, on a real chain: tickets and a public randomness beacon
// in; the winner, recomputable by anyone from those public inputs; out, a Bitcoin transaction paying
// the pot (the colony's UTXOs, minus a bounded fee) to the winner, signed inside the cell with the
// colony key through the narrow ProgramKey (Taproot key path, BIP340 Schnorr, src/cell/secret.ts).
//
// Deterministic: the same draw gives the same signed transaction, byte for byte, from every cell
// (canonical input order, fixed version and locktime, BIP340 with fixed aux randomness), so a request
// may land on any cell behind the colony's Service.
//
// Transactions are built and serialized by @scure/btc-signer (audited); this file only decides what
// to spend and whom to pay. Trust assumptions: examples/lottery/README.md.
import { createHash } from 'node:crypto';
import { schnorr } from '@noble/curves/secp256k1.js';
import { Address, OutScript, SigHash, Transaction } from '@scure/btc-signer';
import { tagSchnorr } from '@scure/btc-signer/utils.js';

import { bitcoinNetworkParams, colonyPayment, type BitcoinNetwork } from '../../src/api/bitcoin.js';
import type { ProgramKey } from '../../src/cell/secret.js';

export interface Ticket {
  id: string;
  /** The ticket holder's Bitcoin address (on the colony's network). */
  address: string;
}

/** One of the colony's unspent outputs (anyone lists them from the chain by the colony's address). */
export interface Utxo {
  txid: string;
  vout: number;
  /** Satoshis, as a decimal string. */
  sats: string;
}

export interface DrawInput {
  drawId: string;
  tickets: Ticket[];
  /** Public randomness fixed after ticket sales closed (e.g. a later block hash), 32 bytes of hex. */
  beacon: string;
  /** The pot: the colony's UTXOs this draw pays out, all of them to the winner. */
  utxos: Utxo[];
  /** Miner fee in satoshis (decimal string), at most MAX_FEE_SATS and at most 1% of the pot. */
  feeSats: string;
}

export interface PayoutStatement {
  v: 2;
  drawId: string;
  /** SHA-256 of the canonical draw input (drawInputHash): commits to tickets, beacon and pot. */
  inputsHash: string;
  winningTicket: string;
  winnerAddress: string;
  network: BitcoinNetwork;
  colonyAddress: string;
  potSats: string;
  feeSats: string;
  payoutSats: string;
  txid: string;
  colonyPublicKey: string;
}

export interface Payout {
  statement: PayoutStatement;
  /**
   * BIP340 signature (hex) by the colony address's own key (ProgramKey.signTaproot) over
   * statementDigest(statement): deterministic like the transaction, checked with the address's key.
   */
  statementSignature: string;
  /** The signed transaction, hex: ready for sendrawtransaction. */
  tx: string;
}

export const MAX_TICKETS = 1000;
export const MAX_UTXOS = 50;
export const MAX_FEE_SATS = 100_000n;
/** Below this a P2TR output is dust to Bitcoin Core's default relay policy. */
export const DUST_SATS = 330n;
/** BIP340 tagged-hash tag of the statement: never a TapSighash, whose tag differs. */
const STATEMENT_TAG = 'celula/example/lottery/payout/v2';

/** A caller's mistake, named precisely (the program answers it with a 422). */
export class DrawError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DrawError';
  }
}

const HEX32 = /^[0-9a-f]{64}$/;
const SATS = /^(0|[1-9][0-9]{0,15})$/;
const ID = /^[A-Za-z0-9._:-]{1,64}$/;

function sats(value: unknown, what: string): bigint {
  if (typeof value !== 'string' || !SATS.test(value))
    throw new DrawError(`${what} must be satoshis as a decimal string`);
  return BigInt(value);
}

function checkTickets(tickets: unknown, network: BitcoinNetwork): Ticket[] {
  if (!Array.isArray(tickets) || tickets.length === 0 || tickets.length > MAX_TICKETS) {
    throw new DrawError(`tickets must be a list of 1..${MAX_TICKETS} tickets`);
  }
  const decode = Address(bitcoinNetworkParams(network));
  const seen = new Set<string>();
  return tickets.map((t: Partial<Ticket>, i) => {
    if (typeof t.id !== 'string' || !ID.test(t.id))
      throw new DrawError(`tickets[${i}].id must match ${ID.source}`);
    if (seen.has(t.id)) throw new DrawError(`tickets[${i}].id '${t.id}' is not unique`);
    seen.add(t.id);
    try {
      decode.decode(String(t.address));
    } catch {
      throw new DrawError(`tickets[${i}].address is not a ${network} Bitcoin address`);
    }
    return { id: t.id, address: String(t.address) };
  });
}

function checkUtxos(utxos: unknown): Utxo[] {
  if (!Array.isArray(utxos) || utxos.length === 0 || utxos.length > MAX_UTXOS) {
    throw new DrawError(`utxos must be a list of 1..${MAX_UTXOS} outputs of the colony's address`);
  }
  const list = utxos.map((u: Partial<Utxo>, i) => {
    if (typeof u.txid !== 'string' || !HEX32.test(u.txid))
      throw new DrawError(`utxos[${i}].txid must be 64 hex digits`);
    if (!Number.isInteger(u.vout) || (u.vout as number) < 0 || (u.vout as number) > 0xffff) {
      throw new DrawError(`utxos[${i}].vout must be an integer in 0..65535`);
    }
    return { txid: u.txid, vout: u.vout as number, sats: sats(u.sats, `utxos[${i}].sats`).toString() };
  });
  // Canonical order: the same set of outputs gives the same transaction whatever order it came in.
  list.sort((a, b) => (a.txid === b.txid ? a.vout - b.vout : a.txid < b.txid ? -1 : 1));
  for (let i = 1; i < list.length; i++) {
    if (list[i]!.txid === list[i - 1]!.txid && list[i]!.vout === list[i - 1]!.vout) {
      throw new DrawError(`utxos lists ${list[i]!.txid}:${list[i]!.vout} twice`);
    }
  }
  return list;
}

/** The draw input checked and in canonical form; throws DrawError naming the first problem. */
export function checkDraw(input: unknown, network: BitcoinNetwork): DrawInput {
  if (typeof input !== 'object' || input === null) throw new DrawError('the draw must be a JSON object');
  const o = input as Partial<DrawInput>;
  if (typeof o.drawId !== 'string' || !ID.test(o.drawId))
    throw new DrawError(`drawId must match ${ID.source}`);
  if (typeof o.beacon !== 'string' || !HEX32.test(o.beacon))
    throw new DrawError('beacon must be 32 bytes of lowercase hex');
  return {
    drawId: o.drawId,
    tickets: checkTickets(o.tickets, network),
    beacon: o.beacon,
    utxos: checkUtxos(o.utxos),
    feeSats: sats(o.feeSats, 'feeSats').toString(),
  };
}

/** SHA-256 of the canonical JSON of a checked draw: what the statement commits to. */
export function drawInputHash(d: DrawInput): Buffer {
  const canonical = JSON.stringify([
    d.drawId,
    d.beacon,
    d.tickets.map((t) => [t.id, t.address]),
    d.utxos.map((u) => [u.txid, u.vout, u.sats]),
    d.feeSats,
  ]);
  return createHash('sha256').update(canonical).digest();
}

/**
 * Anyone can recompute the winner: SHA-256 over the beacon and the ordered ticket ids, as a 256-bit
 * number, modulo the number of tickets (the bias is below 2^-240 for up to MAX_TICKETS tickets).
 */
export function winnerOf(d: Pick<DrawInput, 'drawId' | 'beacon' | 'tickets'>): Ticket {
  const h = createHash('sha256')
    .update(JSON.stringify(['celula-lottery-v2', d.drawId, d.beacon, d.tickets.map((t) => t.id)]))
    .digest();
  const index = Number(BigInt(`0x${h.toString('hex')}`) % BigInt(d.tickets.length));
  const winner = d.tickets[index];
  if (winner === undefined) throw new DrawError('no winner');
  return winner;
}

/** The 32 bytes the statement signature covers: a BIP340 tagged hash of the statement's sorted JSON. */
export function statementDigest(s: PayoutStatement): Uint8Array {
  const sorted = Object.fromEntries(Object.entries(s).sort(([a], [b]) => (a < b ? -1 : 1)));
  return tagSchnorr(STATEMENT_TAG, Buffer.from(JSON.stringify(sorted), 'utf8'));
}

function amounts(d: DrawInput): { pot: bigint; fee: bigint; payout: bigint } {
  const pot = d.utxos.reduce((sum, u) => sum + BigInt(u.sats), 0n);
  const fee = BigInt(d.feeSats);
  if (fee > MAX_FEE_SATS || fee * 100n > pot) {
    throw new DrawError(`feeSats ${fee} is above the cap (${MAX_FEE_SATS} and 1% of the pot ${pot})`);
  }
  const payout = pot - fee;
  if (payout < DUST_SATS) throw new DrawError(`the payout (${payout} sats) would be dust (< ${DUST_SATS})`);
  return { pot, fee, payout };
}

/** The unsigned payout: every UTXO of the colony's P2TR address in, one output to the winner. */
function payoutTransaction(
  d: DrawInput,
  colony: ReturnType<typeof colonyPayment>,
  winner: Ticket,
  network: BitcoinNetwork,
): Transaction {
  const { payout } = amounts(d);
  const tx = new Transaction({ version: 2, lockTime: 0 });
  for (const u of d.utxos) {
    tx.addInput({
      txid: u.txid,
      index: u.vout,
      witnessUtxo: { script: colony.script, amount: BigInt(u.sats) },
      tapInternalKey: colony.internalKey,
    });
  }
  tx.addOutput({
    script: OutScript.encode(Address(bitcoinNetworkParams(network)).decode(winner.address)),
    amount: payout,
  });
  return tx;
}

/** The colony's program: sign the payout of this draw (secp256k1 colonies). */
export function draw(key: ProgramKey, network: BitcoinNetwork, raw: unknown): Payout {
  const d = checkDraw(raw, network);
  const colony = colonyPayment(key.publicKey, network);
  const winner = winnerOf(d);
  const tx = payoutTransaction(d, colony, winner, network);
  const scripts = d.utxos.map(() => colony.script);
  const values = d.utxos.map((u) => BigInt(u.sats));
  for (let i = 0; i < d.utxos.length; i++) {
    const sighash = tx.preimageWitnessV1(i, scripts, SigHash.DEFAULT, values);
    tx.updateInput(i, { tapKeySig: key.signTaproot(sighash) });
  }
  tx.finalize();
  const { pot, fee, payout } = amounts(d);
  const statement: PayoutStatement = {
    v: 2,
    drawId: d.drawId,
    inputsHash: drawInputHash(d).toString('hex'),
    winningTicket: winner.id,
    winnerAddress: winner.address,
    network,
    colonyAddress: colony.address,
    potSats: pot.toString(),
    feeSats: fee.toString(),
    payoutSats: payout.toString(),
    txid: tx.id,
    colonyPublicKey: key.publicKey,
  };
  return {
    statement,
    statementSignature: key.signTaproot(statementDigest(statement)).toString('hex'),
    tx: tx.hex,
  };
}

/**
 * What anyone checks with public data only: the statement is signed by the key of the colony's
 * address (from the colony public key in Colony.status), it matches the published draw (inputs hash, winner recomputed), and the
 * transaction pays exactly the statement's amount to the winner and spends only the listed UTXOs.
 * Returns the problems found (empty: the payout checks out).
 */
export function auditPayout(
  payout: Payout,
  colonyPublicKey: string,
  network: BitcoinNetwork,
  raw: unknown,
): string[] {
  const d = checkDraw(raw, network);
  const s = payout.statement;
  const problems: string[] = [];
  const expect = (ok: boolean, what: string): void => {
    if (!ok) problems.push(what);
  };
  expect(s.colonyPublicKey === colonyPublicKey, 'the statement names another colony key');
  const colony = colonyPayment(colonyPublicKey, network);
  expect(
    schnorr.verify(Buffer.from(payout.statementSignature, 'hex'), statementDigest(s), colony.tweakedPubkey),
    "the statement signature does not verify with the colony address's key",
  );
  expect(s.inputsHash === drawInputHash(d).toString('hex'), 'the statement is for other draw inputs');
  const winner = winnerOf(d);
  expect(
    s.winningTicket === winner.id && s.winnerAddress === winner.address,
    'the statement names another winner than the recomputed one',
  );
  const tx = Transaction.fromRaw(Buffer.from(payout.tx, 'hex'));
  expect(tx.id === s.txid, 'the transaction is not the one the statement names');
  expect(tx.outputsLength === 1, 'the transaction has more than one output');
  const out = tx.getOutput(0);
  const winnerScript = OutScript.encode(Address(bitcoinNetworkParams(network)).decode(winner.address));
  expect(
    out.amount === BigInt(s.payoutSats) && Buffer.from(out.script ?? []).equals(Buffer.from(winnerScript)),
    'the output does not pay the payout to the winner',
  );
  const spent = Array.from({ length: tx.inputsLength }, (_, i) => tx.getInput(i)).map(
    (i) => `${Buffer.from(i.txid ?? []).toString('hex')}:${i.index}`,
  );
  expect(
    JSON.stringify(spent) === JSON.stringify(d.utxos.map((u) => `${u.txid}:${u.vout}`)),
    'the transaction spends other outputs than the draw lists',
  );
  return problems;
}
