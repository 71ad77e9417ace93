import { describe, expect, it } from '@jest/globals';

import { ALGORITHMS } from '../../../src/api/types.js';
import { signKeyProof } from '../../../src/cell/key-proof.js';
import { keyProofMessage, verifyKeyProof, type KeyProofSubject } from '../../../src/api/identity.js';
import { ColonySecret } from '../../../src/cell/secret.js';

const WHO = { colonyUID: 'colony-uid-1', cell: 'lottery-abc12', cellUID: 'cell-uid-1', podUID: 'pod-uid-1' };

describe.each(ALGORITHMS)('key proof (%s)', (algorithm) => {
  const secret = ColonySecret.generate(algorithm);
  const other = ColonySecret.generate(algorithm);
  const proof = signKeyProof(secret, WHO);
  const subject: KeyProofSubject = { ...WHO, publicKey: secret.publicKey };

  it.each<[string, KeyProofSubject, string | undefined, boolean]>([
    ['valid', subject, proof, true],
    ['wrong pod uid', { ...subject, podUID: 'pod-uid-2' }, proof, false],
    ['wrong colony', { ...subject, colonyUID: 'colony-uid-2' }, proof, false],
    ['wrong cell', { ...subject, cell: 'lottery-zzz99' }, proof, false],
    ['wrong cell uid', { ...subject, cellUID: 'cell-uid-2' }, proof, false],
    ['cell uid omitted on one side only', { ...subject, cellUID: undefined }, proof, false],
    [
      'forged key: the proof names another public key',
      { ...subject, publicKey: other.publicKey },
      proof,
      false,
    ],
    ["another key's signature over the same subject", subject, signKeyProof(other, WHO), false],
    ['missing proof', subject, undefined, false],
    ['empty proof', subject, '', false],
    ['not base64', subject, '!!!!', false],
    ['truncated', subject, proof.slice(0, 20), false],
    ['garbage public key', { ...subject, publicKey: 'rsa:AAAA' }, proof, false],
  ])('%s → %s', (_n, s, p, want) => {
    expect(verifyKeyProof(s, p)).toBe(want);
  });

  it('verifies when the cell uid is omitted on both sides', () => {
    const withoutUid = { colonyUID: WHO.colonyUID, cell: WHO.cell, podUID: WHO.podUID };
    const p = signKeyProof(secret, withoutUid);
    expect(verifyKeyProof({ ...withoutUid, publicKey: secret.publicKey }, p)).toBe(true);
    expect(verifyKeyProof({ ...withoutUid, cellUID: WHO.cellUID, publicKey: secret.publicKey }, p)).toBe(
      false,
    );
  });
});

describe('keyProofMessage', () => {
  it('is domain-separated and length-prefixed: shifting bytes between fields changes it', () => {
    const m = keyProofMessage({ ...WHO, publicKey: 'ed25519:AA' });
    expect(m.subarray(0, 20).toString('latin1')).toBe('celula/key-proof/v1\0');
    expect(m.readUInt32BE(20)).toBe(WHO.colonyUID.length);
    const a = keyProofMessage({ colonyUID: 'ab', cell: 'c', podUID: 'p', publicKey: 'k' });
    const b = keyProofMessage({ colonyUID: 'a', cell: 'bc', podUID: 'p', publicKey: 'k' });
    expect(a.equals(b)).toBe(false);
  });
});
