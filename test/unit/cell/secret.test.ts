import { describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { inspect } from 'node:util';

import { ALGORITHMS } from '../../../src/api/types.js';
import { programKeyOf, sealToColony } from '../../../src/cell/program.js';
import { ColonySecret } from '../../../src/cell/secret.js';
import {
  encodePublicKey,
  fingerprintOf,
  parsePublicKey,
  verifyWithIdentity,
} from '../../../src/api/identity.js';

function rawOf(secret: ColonySecret): Buffer {
  return ColonySecret.withRawBytes(secret, (b) => Buffer.from(b));
}

describe.each(ALGORITHMS)('ColonySecret %s', (algorithm) => {
  it('generates a 32-byte secret with a parseable public key and fingerprint', () => {
    const s = ColonySecret.generate(algorithm);
    const id = parsePublicKey(s.publicKey);
    expect(id.algorithm).toBe(algorithm);
    expect(id.key.length).toBe(algorithm === 'secp256k1' ? 33 : 32);
    expect(s.fingerprint).toMatch(/^sha256:[0-9a-f]{32}$/);
    expect(s.fingerprint).toBe(`sha256:${createHash('sha256').update(id.key).digest('hex').slice(0, 32)}`);
    expect(rawOf(s).length).toBe(32);
  });

  it('rebuilds the same identity from the same bytes and a different one from others', () => {
    const a = ColonySecret.generate(algorithm);
    const b = ColonySecret.fromBytes(algorithm, rawOf(a));
    expect(b.publicKey).toBe(a.publicKey);
    expect(ColonySecret.generate(algorithm).publicKey).not.toBe(a.publicKey);
  });

  it('signs and verifies with the public identity alone; rejects tampering', () => {
    const s = ColonySecret.generate(algorithm);
    const msg = Buffer.from('draw 42');
    const sig = s.sign(msg);
    expect(sig.length).toBe(64);
    expect(verifyWithIdentity(parsePublicKey(s.publicKey), msg, sig)).toBe(true);
    expect(verifyWithIdentity(parsePublicKey(s.publicKey), Buffer.from('draw 43'), sig)).toBe(false);
    expect(verifyWithIdentity(parsePublicKey(ColonySecret.generate(algorithm).publicKey), msg, sig)).toBe(
      false,
    );
  });

  it('derives deterministic, label-separated keys that are never the root secret', () => {
    const s = ColonySecret.generate(algorithm);
    const k1 = s.derive('payout');
    expect(k1.equals(s.derive('payout'))).toBe(true);
    expect(k1.equals(s.derive('other'))).toBe(false);
    expect(k1.equals(rawOf(s))).toBe(false);
    expect(ColonySecret.fromBytes(algorithm, rawOf(s)).derive('payout').equals(k1)).toBe(true);
    expect(() => s.derive('')).toThrow(/label/);
  });

  it('encrypts/decrypts with AES-256-GCM and refuses tampered boxes', () => {
    const s = ColonySecret.generate(algorithm);
    const box = s.encrypt(Buffer.from('state'), Buffer.from('aad'));
    expect(s.decrypt(box, Buffer.from('aad')).toString()).toBe('state');
    const bad = Buffer.from(box);
    bad[bad.length - 1] = (bad[bad.length - 1] ?? 0) ^ 1;
    expect(() => s.decrypt(bad, Buffer.from('aad'))).toThrow();
    expect(() => s.decrypt(box, Buffer.from('other'))).toThrow();
  });

  it('opens HPKE boxes sealed to the colony decryption key through the ProgramKey', async () => {
    const key = programKeyOf(ColonySecret.generate(algorithm));
    const box = await sealToColony(key.decryptionPublicKey, Buffer.from('ticket'), Buffer.from('i'));
    expect((await key.open(box, Buffer.from('i'))).toString()).toBe('ticket');
    await expect(key.open(box, Buffer.from('j'))).rejects.toThrow();
  });

  it('never leaks the secret through JSON, inspect, String or the ProgramKey', () => {
    const s = ColonySecret.generate(algorithm);
    const raw = rawOf(s);
    const forms = [raw.toString('hex'), raw.toString('base64'), raw.toString('base64url')];
    const key = programKeyOf(s);
    const outputs = [
      JSON.stringify(s),
      JSON.stringify({ s }),
      inspect(s, { showHidden: true, depth: 10 }),
      String(s),
      // eslint-disable-next-line @typescript-eslint/restrict-template-expressions -- the point of the test
      `${s}`,
      JSON.stringify(key),
      inspect(key, { showHidden: true, depth: 10 }),
      Object.keys(s).join(','),
    ];
    for (const out of outputs) {
      for (const f of forms) expect(out).not.toContain(f);
    }
    expect(JSON.stringify(s)).toContain('redacted');
    expect(inspect(s)).toContain('redacted');
    expect(Object.isFrozen(key)).toBe(true);
  });

  it('zero() wipes the bytes and every later use throws', () => {
    const s = ColonySecret.generate(algorithm);
    let held: Buffer | undefined;
    ColonySecret.withRawBytes(s, (b) => {
      held = b;
    });
    s.zero();
    expect(held!.every((x) => x === 0)).toBe(true);
    expect(s.zeroed).toBe(true);
    expect(() => s.sign(Buffer.from('x'))).toThrow(/zeroed/);
    expect(() => s.derive('x')).toThrow(/zeroed/);
  });
});

describe('aes-256 identity', () => {
  it('is an Ed25519 key derived from the secret (label celula/identity)', () => {
    const s = ColonySecret.generate('aes-256');
    const ed = ColonySecret.fromBytes('ed25519', rawOf(s));
    expect(parsePublicKey(s.publicKey).key.equals(parsePublicKey(ed.publicKey).key)).toBe(false);
    expect(parsePublicKey(s.publicKey).key.length).toBe(32);
  });
});

describe('parsePublicKey', () => {
  it.each([
    ['', /algorithm/],
    ['rsa:AAAA', /algorithm/],
    ['ed25519:AAAA', /32 bytes/],
    [`secp256k1:${Buffer.alloc(33, 4).toString('base64')}`, /compressed/],
    [`ed25519:${Buffer.alloc(32).toString('base64')}x`, /base64/],
  ])('rejects %j', (text, re) => {
    expect(() => parsePublicKey(text)).toThrow(re);
  });

  it('round-trips', () => {
    const id = parsePublicKey(ColonySecret.generate('secp256k1').publicKey);
    expect(parsePublicKey(encodePublicKey(id))).toEqual(id);
    expect(fingerprintOf(id)).toMatch(/^sha256:/);
  });
});
