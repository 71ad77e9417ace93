// HPKE (RFC 9180) base mode, suite DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / AES-256-GCM, from
// the vetted @hpke/core library (pure WebCrypto; works on Node 24). Node 24's node:crypto has a
// KEM primitive (crypto.encapsulate/decapsulate) but no full HPKE (key schedule + AEAD context), so
// we do not assemble one by hand.
//
// Recipient keys are handed to the library as a CryptoKeyPair converted from node:crypto
// KeyObjects: given a bare private key, the library would derive the public half by exporting the
// private key as JWK (a base64 string of the key), which we avoid.
import { Aes256Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from '@hpke/core';
import { createPublicKey, type KeyObject } from 'node:crypto';
import { X25519_SPKI } from '../api/identity.js';

const suite = new CipherSuite({
  kem: new DhkemX25519HkdfSha256(),
  kdf: new HkdfSha256(),
  aead: new Aes256Gcm(),
});

export interface HpkeSealed {
  enc: Uint8Array;
  ct: Uint8Array;
}

function arrayBufferOf(bytes: Uint8Array): ArrayBuffer {
  const copy = new ArrayBuffer(bytes.byteLength);
  new Uint8Array(copy).set(bytes);
  return copy;
}

/** A node:crypto X25519 public KeyObject from its raw 32 bytes. */
export function x25519PublicKey(raw: Uint8Array): KeyObject {
  if (raw.length !== 32) throw new Error('X25519 public key must be 32 bytes');
  const der = Buffer.concat([X25519_SPKI, raw]);
  return createPublicKey({ key: der, format: 'der', type: 'spki' });
}

/** Seal plaintext to a raw 32-byte X25519 public key. */
export async function hpkeSeal(
  recipientPublicKey: Uint8Array,
  plaintext: Uint8Array,
  info: Uint8Array,
  aad: Uint8Array,
): Promise<HpkeSealed> {
  const pk = x25519PublicKey(recipientPublicKey).toCryptoKey('X25519', true, []);
  const pt = arrayBufferOf(plaintext);
  try {
    const sealed = await suite.seal(
      { recipientPublicKey: pk, info: arrayBufferOf(info) },
      pt,
      arrayBufferOf(aad),
    );
    return { enc: new Uint8Array(sealed.enc), ct: new Uint8Array(sealed.ct) };
  } finally {
    new Uint8Array(pt).fill(0);
  }
}

/**
 * Open a box with an X25519 private KeyObject. Returns a Buffer (allocated, not pooled) the caller
 * must wipe; the library's intermediate plaintext ArrayBuffer is wiped here.
 */
export async function hpkeOpen(
  recipient: KeyObject,
  box: HpkeSealed,
  info: Uint8Array,
  aad: Uint8Array,
): Promise<Buffer> {
  const recipientKey = {
    privateKey: recipient.toCryptoKey('X25519', false, ['deriveBits']),
    publicKey: createPublicKey(recipient).toCryptoKey('X25519', true, []),
  };
  const plain = new Uint8Array(
    await suite.open(
      { recipientKey, enc: arrayBufferOf(box.enc), info: arrayBufferOf(info) },
      arrayBufferOf(box.ct),
      arrayBufferOf(aad),
    ),
  );
  const out = Buffer.alloc(plain.length);
  out.set(plain);
  plain.fill(0);
  return out;
}
