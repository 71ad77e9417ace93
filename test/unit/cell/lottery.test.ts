// The lottery example (issue 13): the winner is a public function of the draw; the payout is a real
// Bitcoin transaction (Taproot key path, BIP340) signed through the ProgramKey; the same draw gives the
// same signed bytes from every cell; anyone audits it with public data; bad draws get clear errors.
import { describe, expect, it } from '@jest/globals';
import { schnorr } from '@noble/curves/secp256k1.js';
import { p2tr, p2wpkh, SigHash, Transaction } from '@scure/btc-signer';
import { pubECDSA, pubSchnorr, randomPrivateKeyBytes } from '@scure/btc-signer/utils.js';

import { bitcoinNetworkParams, colonyPayment } from '../../../src/api/bitcoin.js';
import { programKeyOf } from '../../../src/cell/program.js';
import { ColonySecret } from '../../../src/cell/secret.js';
import { auditPayout, draw, winnerOf, type DrawInput } from '../../../examples/lottery/lottery.js';
import program from '../../../examples/lottery/program.js';
import { programContext } from '../../../src/cell/run.js';
import { COLONY_OBJECT } from './fixtures.js';

const REGTEST = bitcoinNetworkParams('regtest');
const p2wpkhAddress = (): string => p2wpkh(pubECDSA(randomPrivateKeyBytes()), REGTEST).address;
const p2trAddress = (): string => p2tr(pubSchnorr(randomPrivateKeyBytes()), undefined, REGTEST).address;

const input: DrawInput = {
  drawId: 'draw-2026-12-01',
  beacon: 'a1'.repeat(32),
  tickets: [
    { id: 't1', address: p2wpkhAddress() },
    { id: 't2', address: p2trAddress() },
    { id: 't3', address: p2wpkhAddress() },
  ],
  utxos: [
    { txid: 'bb'.repeat(32), vout: 1, sats: '2500000000' },
    { txid: 'aa'.repeat(32), vout: 0, sats: '5000000000' },
  ],
  feeSats: '2000',
};

function cellKeys(): ReturnType<typeof programKeyOf>[] {
  const genesis = ColonySecret.generate('secp256k1');
  const raw = ColonySecret.withRawBytes(genesis, (b) => Buffer.from(b));
  const joiners = [ColonySecret.fromBytes('secp256k1', raw), ColonySecret.fromBytes('secp256k1', raw)];
  raw.fill(0);
  return [genesis, ...joiners].map(programKeyOf);
}

describe('the lottery payout', () => {
  const keys = cellKeys();
  const key = keys[0]!;
  const payout = draw(key, 'regtest', input);

  it('pays the recomputed winner the pot minus the fee, from the colony address', () => {
    const winner = winnerOf(input);
    expect(payout.statement).toMatchObject({
      winningTicket: winner.id,
      winnerAddress: winner.address,
      potSats: '7500000000',
      feeSats: '2000',
      payoutSats: '7499998000',
      colonyAddress: colonyPayment(key.publicKey, 'regtest').address,
    });
    expect(auditPayout(payout, key.publicKey, 'regtest', input)).toEqual([]);
  });

  it('is the same signed transaction from every cell, whatever the order of the UTXOs', () => {
    const shuffled = { ...input, utxos: [...input.utxos].reverse() };
    for (const k of keys) expect(draw(k, 'regtest', shuffled)).toEqual(payout);
  });

  it('carries BIP340 signatures by the tweaked colony key over each input sighash', () => {
    const tx = Transaction.fromRaw(Buffer.from(payout.tx, 'hex'));
    const colony = colonyPayment(key.publicKey, 'regtest');
    const values = [5000000000n, 2500000000n]; // canonical order: txid aa… first
    for (let i = 0; i < tx.inputsLength; i++) {
      const sighash = tx.preimageWitnessV1(i, [colony.script, colony.script], SigHash.DEFAULT, values);
      const witness = tx.getInput(i).finalScriptWitness!;
      expect(witness).toHaveLength(1);
      expect(schnorr.verify(witness[0]!, sighash, colony.tweakedPubkey)).toBe(true);
    }
  });

  it('the winner depends on the beacon and anyone recomputes it', () => {
    const winners = new Set(
      Array.from(
        { length: 40 },
        (_, i) => winnerOf({ ...input, beacon: i.toString(16).padStart(64, '0') }).id,
      ),
    );
    expect(winners.size).toBe(3);
    expect(winnerOf(input)).toEqual(winnerOf(structuredClone(input)));
  });

  it.each<[string, (p: typeof payout) => typeof payout, DrawInput, RegExp]>([
    [
      'another winner in the statement',
      (p) => ({ ...p, statement: { ...p.statement, winningTicket: 'tX' } }),
      input,
      /another winner/,
    ],
    ['a statement for other inputs', (p) => p, { ...input, beacon: 'b2'.repeat(32) }, /other draw inputs/],
    [
      'a transaction of another draw',
      (p) => ({ ...p, tx: draw(key, 'regtest', { ...input, feeSats: '1000' }).tx }),
      input,
      /not the one the statement names/,
    ],
    [
      'a statement signed by another colony',
      (p) => ({ ...p, statementSignature: draw(cellKeys()[0]!, 'regtest', input).statementSignature }),
      input,
      /does not verify/,
    ],
  ])('the audit catches %s', (_what, tamper, published, problem) => {
    expect(auditPayout(tamper(payout), key.publicKey, 'regtest', published).join('; ')).toMatch(problem);
  });
});

describe('bad draws are refused with the problem named', () => {
  const key = cellKeys()[0]!;
  it.each<[string, object, RegExp]>([
    ['a short beacon', { ...input, beacon: 'ab' }, /beacon must be 32 bytes/],
    ['no tickets', { ...input, tickets: [] }, /tickets must be a list of 1\.\.1000/],
    [
      'a duplicate ticket',
      { ...input, tickets: [input.tickets[0], input.tickets[0]] },
      /tickets\[1\]\.id 't1' is not unique/,
    ],
    [
      'a mainnet address on regtest',
      {
        ...input,
        tickets: [{ id: 'm', address: 'bc1p5cyxnuxmeuwuvkwfem96lqzszd02n6xdcjrs20cac6yqjjwudpxqkedrcr' }],
      },
      /tickets\[0\]\.address is not a regtest Bitcoin address/,
    ],
    [
      'a fee above 1% of the pot',
      { ...input, feeSats: '99999', utxos: [{ txid: 'aa'.repeat(32), vout: 0, sats: '100000' }] },
      /above the cap/,
    ],
    [
      'a dust payout',
      { ...input, feeSats: '0', utxos: [{ txid: 'aa'.repeat(32), vout: 0, sats: '300' }] },
      /would be dust/,
    ],
    ['a UTXO listed twice', { ...input, utxos: [input.utxos[0], input.utxos[0]] }, /lists b+:1 twice/],
    ['amounts as numbers', { ...input, feeSats: 2000 }, /feeSats must be satoshis as a decimal string/],
  ])('%s', (_what, bad, message) => {
    expect(() => draw(key, 'regtest', bad)).toThrow(message);
  });
});

describe('the lottery program', () => {
  it('refuses to become ready on a colony without a Bitcoin key', () => {
    const ctx = programContext(COLONY_OBJECT, ColonySecret.generate('ed25519'));
    expect(() => program.onReady?.(ctx)).toThrow(/needs a secp256k1 colony/);
  });

  it('answers a bad draw with a 422 naming the problem', async () => {
    const colony = {
      ...COLONY_OBJECT,
      spec: {
        ...COLONY_OBJECT.spec,
        secret: { algorithm: 'secp256k1' as const },
        bitcoin: { network: 'regtest' as const },
      },
    };
    const ctx = programContext(colony, ColonySecret.generate('secp256k1'));
    const route = program.routes['POST /draw']!;
    await expect(
      Promise.resolve().then(() =>
        route({ method: 'POST', path: '/draw', body: { ...input, beacon: 'x' } }, ctx),
      ),
    ).rejects.toMatchObject({
      status: 422,
      message: expect.stringMatching(/beacon/),
    });
    const ok = await route({ method: 'POST', path: '/draw', body: input }, ctx);
    expect(ok.status).toBe(200);
  });
});
