// The lottery from the original Celula idea, written against the narrow ProgramKey interface only.
//
// Observable condition → signed payout statement. The draw is computed from public inputs (the
// tickets and a public randomness beacon, e.g. a future block hash fixed before the draw), so anyone
// can recompute the winner; what only the colony can do is sign the payout with the colony key —
// the key of the payout address — and nobody, operators included, can sign a different one.
import { createHash } from 'node:crypto';

import type { ProgramKey } from '../../src/cell/secret.js';
import { verifyProgramSignature } from '../../src/api/program-signature.js';

export interface Ticket {
  id: string;
  payoutAddress: string;
}

export interface DrawInput {
  drawId: string;
  tickets: Ticket[];
  /** Public randomness, hex, fixed after ticket sales closed. */
  beacon: string;
  pot: string;
}

export interface PayoutStatement {
  v: 1;
  drawId: string;
  inputsHash: string;
  winningTicket: string;
  payoutAddress: string;
  amount: string;
  colonyPublicKey: string;
}

export interface SignedPayout {
  statement: PayoutStatement;
  signature: string;
}

const LABEL = 'celula/example/lottery/payout/v1\n';

function inputsHash(input: DrawInput): Buffer {
  const canonical = JSON.stringify([
    input.drawId,
    input.beacon,
    input.pot,
    input.tickets.map((t) => [t.id, t.payoutAddress]),
  ]);
  return createHash('sha256').update(canonical).digest();
}

function payoutBytes(s: PayoutStatement): Buffer {
  return Buffer.from(
    LABEL +
      JSON.stringify([
        s.v,
        s.drawId,
        s.inputsHash,
        s.winningTicket,
        s.payoutAddress,
        s.amount,
        s.colonyPublicKey,
      ]),
  );
}

/** Anyone can recompute the winner from the public inputs. */
export function winnerOf(input: DrawInput): Ticket {
  if (input.tickets.length === 0) throw new Error('no tickets');
  if (!/^[0-9a-f]{64}$/.test(input.beacon)) throw new Error('beacon must be 32 bytes of hex');
  const h = inputsHash(input);
  const index = Number(h.readBigUInt64BE(0) % BigInt(input.tickets.length));
  const winner = input.tickets[index];
  if (winner === undefined) throw new Error('no winner');
  return winner;
}

/** The colony's program: sign the payout for this draw. */
export function draw(key: ProgramKey, input: DrawInput): SignedPayout {
  const winner = winnerOf(input);
  const statement: PayoutStatement = {
    v: 1,
    drawId: input.drawId,
    inputsHash: inputsHash(input).toString('hex'),
    winningTicket: winner.id,
    payoutAddress: winner.payoutAddress,
    amount: input.pot,
    colonyPublicKey: key.publicKey,
  };
  return { statement, signature: key.sign(payoutBytes(statement)).toString('base64') };
}

/** Verify a payout with the colony public key, and that it matches the public inputs. */
export function verifyPayout(signed: SignedPayout, colonyPublicKey: string, input: DrawInput): boolean {
  const s = signed.statement;
  const winner = winnerOf(input);
  const consistent =
    s.colonyPublicKey === colonyPublicKey &&
    s.drawId === input.drawId &&
    s.inputsHash === inputsHash(input).toString('hex') &&
    s.winningTicket === winner.id &&
    s.payoutAddress === winner.payoutAddress &&
    s.amount === input.pot;
  return (
    consistent &&
    verifyProgramSignature(colonyPublicKey, payoutBytes(s), Buffer.from(signed.signature, 'base64'))
  );
}
