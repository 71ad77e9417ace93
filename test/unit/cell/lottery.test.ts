import { describe, expect, it } from '@jest/globals';

import { draw, verifyPayout, winnerOf, type DrawInput } from '../../../examples/lottery/lottery.js';
import { ALGORITHMS } from '../../../src/api/types.js';
import { programKeyOf } from '../../../src/cell/program.js';
import { ColonySecret } from '../../../src/cell/secret.js';

const input: DrawInput = {
  drawId: '2025-07-01',
  beacon: 'a1'.repeat(32),
  pot: '1.5 BTC',
  tickets: [
    { id: 't1', payoutAddress: 'addr-1' },
    { id: 't2', payoutAddress: 'addr-2' },
    { id: 't3', payoutAddress: 'addr-3' },
  ],
};

describe.each(ALGORITHMS)('lottery on a %s colony', (algorithm) => {
  const key = programKeyOf(ColonySecret.generate(algorithm));

  it('signs a payout anyone can verify with the colony public key', () => {
    const signed = draw(key, input);
    expect(signed.statement.winningTicket).toBe(winnerOf(input).id);
    expect(verifyPayout(signed, key.publicKey, input)).toBe(true);
  });

  it.each<[string, (s: ReturnType<typeof draw>) => ReturnType<typeof draw>, DrawInput]>([
    [
      'redirected payout address',
      (s) => ({ ...s, statement: { ...s.statement, payoutAddress: 'evil' } }),
      input,
    ],
    ['changed amount', (s) => ({ ...s, statement: { ...s.statement, amount: '100 BTC' } }), input],
    ['other inputs', (s) => s, { ...input, beacon: 'b2'.repeat(32) }],
    [
      'signature of another colony',
      (s) => ({ ...s, signature: draw(programKeyOf(ColonySecret.generate(algorithm)), input).signature }),
      input,
    ],
  ])('refuses %s', (_n, mutate, inp) => {
    expect(verifyPayout(mutate(draw(key, input)), key.publicKey, inp)).toBe(false);
  });

  it('refuses bad inputs', () => {
    expect(() => winnerOf({ ...input, tickets: [] })).toThrow(/no tickets/);
    expect(() => winnerOf({ ...input, beacon: 'xyz' })).toThrow(/beacon/);
  });
});
