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

const suite = new CipherSuite({
  kem: new DhkemX25519HkdfSha256(),
  kdf: new HkdfSha256(),
  aead: new Aes256Gcm(),
});

export const HPKE_ENC_BYTES = 32;
export const HPKE_TAG_BYTES = 16;

export interface HpkeSealed {
  enc: Uint8Array;
  ct: Uint8Array;
}

function arrayBufferOf(bytes: Uint8Array): ArrayBuffer {
  const copy = new ArrayBuffer(bytes.byteLength);
  new Uint8Array(copy).set(bytes);
  return copy;
}

/** Seal plaintext to a raw 32-byte X25519 public key. */
export async function hpkeSeal(
  recipientPublicKey: Uint8Array,
  plaintext: Uint8Array,
  info: Uint8Array,
  aad: Uint8Array,
): Promise<HpkeSealed> {
  const pk = await suite.kem.deserializePublicKey(arrayBufferOf(recipientPublicKey));
  const sealed = await suite.seal(
    { recipientPublicKey: pk, info: arrayBufferOf(info) },
    arrayBufferOf(plaintext),
    arrayBufferOf(aad),
  );
  return { enc: new Uint8Array(sealed.enc), ct: new Uint8Array(sealed.ct) };
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
