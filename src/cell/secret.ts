// The colony's secret, held in memory only.
//
// Rules this file keeps:
// - the secret lives in one Buffer allocated with Buffer.alloc (never from the shared pool), is
//   never turned into a string, and is wiped by zero();
// - JSON.stringify, util.inspect, String() and template literals of a ColonySecret print a redacted
//   marker with the (public) fingerprint only;
// - the user's program gets a ProgramKey facade (sign / verify / derive / encrypt / decrypt / open),
//   never the ColonySecret itself and never the raw bytes.
//
// Honest limits: node:crypto KeyObjects copy key material into OpenSSL memory that JavaScript
// cannot wipe; zero() wipes our Buffer and drops the KeyObject references, and the process exits
// right after (see hygiene.ts). V8 may also have copied the bytes during a GC move of a Buffer's
// backing store (external backing stores are not moved, which is why we use Buffers).
import {
  createCipheriv,
  createDecipheriv,
  createECDH,
  createPrivateKey,
  createPublicKey,
  hkdfSync,
  randomFillSync,
  sign as cryptoSign,
  type KeyObject,
} from 'node:crypto';
import { inspect } from 'node:util';
import { signSchnorr, taprootTweakPrivKey } from '@scure/btc-signer/utils.js';

import {
  ED25519_SPKI,
  encodePublicKey,
  fingerprintOf,
  verifyWithIdentity,
  wrapDer,
  X25519_SPKI,
  type PublicIdentity,
} from '../api/identity.js';
import type { Algorithm } from '../api/types.js';

export const SECRET_BYTES = 32;
const HKDF_SALT = Buffer.from('celula/v1', 'utf8');
export const IDENTITY_LABEL = 'celula/identity';
const AEAD_LABEL = 'celula/aead';
const DECRYPT_LABEL = 'celula/decrypt';
const PROGRAM_LABEL_PREFIX = 'celula/program/';
const GCM_IV = 12;
/** BIP340 auxiliary randomness: fixed, so every cell signs the same digest to the same signature. */
const TAPROOT_AUX = new Uint8Array(32);
const GCM_TAG = 16;

// DER prefixes: the fixed ASN.1 headers in front of a raw key (RFC 8410 for Ed25519/X25519,
// RFC 5915 / SEC1 for secp256k1). Building DER keeps the secret out of strings (JWK would be base64).
const ED25519_PKCS8 = Buffer.from('302e020100300506032b657004220420', 'hex');
const X25519_PKCS8 = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SECP256K1_PKCS8 = Buffer.from(
  '303e020100301006072a8648ce3d020106052b8104000a042730250201010420',
  'hex',
);
const SECP256K1_ORDER = Buffer.from(
  'fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141',
  'hex',
);

const REDACTED = '[ColonySecret redacted]';

/** AES-256-GCM box: iv (12) || ciphertext || tag (16). */
export type SymmetricBox = Buffer;

/** HPKE box sealed to the colony's derived X25519 decryption key (see sealToColony in hpke.ts). */
export interface HpkeBox {
  enc: Uint8Array;
  ct: Uint8Array;
}

/**
 * The narrow interface the user's program gets. It never yields the root secret.
 * - sign/verify: with the colony key (Ed25519; ECDSA-secp256k1/SHA-256, 64-byte r||s; for aes-256
 *   colonies, the Ed25519 identity key derived from the secret), always over
 *   programSignedBytes(data) = 'celula/program/v1\0' || data (src/api/program-signature.ts): the
 *   runtime's own signed messages (join challenge, attestation, key proof) start with other labels,
 *   so no program signature is ever one the runtime's verifiers accept.
 * - signTaproot (secp256k1 colonies only): BIP340 Schnorr over a 32-byte digest (a Taproot sighash)
 *   with the BIP86-tweaked key of the colony's P2TR address. Another algorithm and another key than
 *   the runtime's ECDSA, which no runtime verifier accepts. Deterministic (fixed aux randomness).
 * - derive(label): HKDF-SHA256(secret, salt 'celula/v1', info 'celula/program/<label>'); a fresh
 *   Buffer the program owns (and should zero). Distinct labels give independent keys.
 * - encrypt/decrypt: AES-256-GCM under a subkey derived with label 'celula/aead' (all algorithms;
 *   this is the natural use of an aes-256 colony).
 * - open: HPKE (RFC 9180, X25519/HKDF-SHA256/AES-256-GCM) to the colony's derived X25519 key, whose
 *   public half is decryptionPublicKey: anyone can seal a message only the colony can read.
 */
export interface ProgramKey {
  readonly algorithm: Algorithm;
  readonly publicKey: string;
  readonly fingerprint: string;
  readonly decryptionPublicKey: Buffer;
  sign(data: Uint8Array): Buffer;
  verify(data: Uint8Array, signature: Uint8Array): boolean;
  signTaproot(digest: Uint8Array): Buffer;
  derive(label: string, length?: number): Buffer;
  encrypt(plaintext: Uint8Array, aad?: Uint8Array): SymmetricBox;
  decrypt(box: Uint8Array, aad?: Uint8Array): Buffer;
  open(box: HpkeBox, info?: Uint8Array, aad?: Uint8Array): Promise<Buffer>;
}

/** Build a private KeyObject from raw bytes through a DER buffer that is wiped right after. */
function privateKeyFromRaw(prefix: Buffer, raw: Buffer): KeyObject {
  const der = wrapDer(prefix, raw);
  try {
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  } finally {
    der.fill(0);
  }
}

function hkdf(ikm: Buffer, label: string, length: number): Buffer {
  const out = Buffer.alloc(length);
  const derived = new Uint8Array(hkdfSync('sha256', ikm, HKDF_SALT, Buffer.from(label), length));
  out.set(derived);
  derived.fill(0);
  return out;
}

function isValidSecp256k1Scalar(k: Buffer): boolean {
  return !k.every((b) => b === 0) && Buffer.compare(k, SECP256K1_ORDER) < 0;
}

interface KeyMaterial {
  signing: KeyObject;
  publicKey: Buffer;
}

function ed25519Material(seed: Buffer): KeyMaterial {
  const signing = privateKeyFromRaw(ED25519_PKCS8, seed);
  const spki = createPublicKey(signing).export({ format: 'der', type: 'spki' });
  return { signing, publicKey: Buffer.from(spki.subarray(ED25519_SPKI.length)) };
}

function secp256k1Material(scalar: Buffer): KeyMaterial {
  if (!isValidSecp256k1Scalar(scalar)) throw new Error('secp256k1 scalar out of range');
  const signing = privateKeyFromRaw(SECP256K1_PKCS8, scalar);
  const ecdh = createECDH('secp256k1');
  ecdh.setPrivateKey(scalar);
  return { signing, publicKey: ecdh.getPublicKey(null, 'compressed') };
}

function materialFor(algorithm: Algorithm, bytes: Buffer): KeyMaterial {
  if (algorithm === 'secp256k1') return secp256k1Material(bytes);
  if (algorithm === 'ed25519') return ed25519Material(bytes);
  // aes-256: the secret is a symmetric key; the colony's identity is an Ed25519 key derived from
  // it (HKDF label 'celula/identity'), so peers can still prove possession by signature.
  const seed = hkdf(bytes, IDENTITY_LABEL, SECRET_BYTES);
  try {
    return ed25519Material(seed);
  } finally {
    seed.fill(0);
  }
}

function x25519FromSecret(bytes: Buffer): { privateKey: KeyObject; publicKey: Buffer } {
  const raw = hkdf(bytes, DECRYPT_LABEL, SECRET_BYTES);
  try {
    const privateKey = privateKeyFromRaw(X25519_PKCS8, raw);
    const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
    return { privateKey, publicKey: Buffer.from(spki.subarray(X25519_SPKI.length)) };
  } finally {
    raw.fill(0);
  }
}

export class ColonySecret {
  readonly algorithm: Algorithm;
  readonly #bytes: Buffer;
  #signing: KeyObject | undefined;
  readonly #identity: PublicIdentity;
  readonly #fingerprint: string;
  #zeroed = false;

  private constructor(algorithm: Algorithm, bytes: Buffer) {
    this.algorithm = algorithm;
    this.#bytes = bytes;
    const material = materialFor(algorithm, bytes);
    this.#signing = material.signing;
    this.#identity = { algorithm, key: material.publicKey };
    this.#fingerprint = fingerprintOf(this.#identity);
  }

  /** Generate a fresh secret (genesis cell only). */
  static generate(algorithm: Algorithm): ColonySecret {
    const bytes = Buffer.alloc(SECRET_BYTES);
    for (;;) {
      randomFillSync(bytes);
      if (algorithm !== 'secp256k1' || isValidSecp256k1Scalar(bytes)) break;
    }
    return new ColonySecret(algorithm, bytes);
  }

  /** Rebuild from bytes received in a join. Copies them; the caller wipes its own copy. */
  static fromBytes(algorithm: Algorithm, raw: Uint8Array): ColonySecret {
    if (raw.length !== SECRET_BYTES) throw new Error(`secret must be ${SECRET_BYTES} bytes`);
    const bytes = Buffer.alloc(SECRET_BYTES);
    bytes.set(raw);
    return new ColonySecret(algorithm, bytes);
  }

  /**
   * Lend the raw bytes to fn (used only by the join protocol to seal them to a verified joiner).
   * The program never sees a ColonySecret, only its ProgramKey, so it cannot call this.
   */
  static withRawBytes<T>(secret: ColonySecret, fn: (raw: Buffer) => T): T {
    secret.#assertLive();
    return fn(secret.#bytes);
  }

  get identity(): PublicIdentity {
    return { algorithm: this.#identity.algorithm, key: Buffer.from(this.#identity.key) };
  }

  get publicKey(): string {
    return encodePublicKey(this.#identity);
  }

  get fingerprint(): string {
    return this.#fingerprint;
  }

  get zeroed(): boolean {
    return this.#zeroed;
  }

  sign(data: Uint8Array): Buffer {
    const key = this.#assertLive();
    if (this.algorithm === 'secp256k1') {
      return cryptoSign('sha256', data, { key, dsaEncoding: 'ieee-p1363' });
    }
    return cryptoSign(null, data, key);
  }

  verify(data: Uint8Array, signature: Uint8Array): boolean {
    return verifyWithIdentity(this.#identity, data, signature);
  }

  /**
   * BIP340 Schnorr signature over a 32-byte digest with the BIP86 key-path tweak of this key (the
   * colony's P2TR output key, no script tree). secp256k1 only. The tweaked scalar is a copy wiped
   * right after; @noble/curves holds it as a bigint meanwhile, which JavaScript cannot wipe (the same
   * limit as OpenSSL's copy inside a KeyObject).
   */
  signTaproot(digest: Uint8Array): Buffer {
    this.#assertLive();
    if (this.algorithm !== 'secp256k1') throw new Error('signTaproot needs a secp256k1 colony');
    if (digest.length !== 32) throw new Error('signTaproot signs a 32-byte digest (a Taproot sighash)');
    const tweaked = taprootTweakPrivKey(this.#bytes);
    try {
      return Buffer.from(signSchnorr(digest, tweaked, TAPROOT_AUX));
    } finally {
      tweaked.fill(0);
    }
  }

  /** HKDF-SHA256 subkey for the program; never the root secret. */
  derive(label: string, length = SECRET_BYTES): Buffer {
    this.#assertLive();
    if (label.length === 0 || length < 16 || length > 64) {
      throw new Error('derive needs a non-empty label and 16..64 bytes');
    }
    return hkdf(this.#bytes, PROGRAM_LABEL_PREFIX + label, length);
  }

  encrypt(plaintext: Uint8Array, aad: Uint8Array = new Uint8Array(0)): SymmetricBox {
    const key = this.#aeadKey();
    try {
      const iv = Buffer.alloc(GCM_IV);
      randomFillSync(iv);
      const cipher = createCipheriv('aes-256-gcm', key, iv).setAAD(aad);
      const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
      return Buffer.concat([iv, body, cipher.getAuthTag()]);
    } finally {
      key.fill(0);
    }
  }

  decrypt(box: Uint8Array, aad: Uint8Array = new Uint8Array(0)): Buffer {
    if (box.length < GCM_IV + GCM_TAG) throw new Error('ciphertext too short');
    const key = this.#aeadKey();
    try {
      const iv = box.subarray(0, GCM_IV);
      const tag = box.subarray(box.length - GCM_TAG);
      const decipher = createDecipheriv('aes-256-gcm', key, iv).setAAD(aad).setAuthTag(tag);
      return Buffer.concat([decipher.update(box.subarray(GCM_IV, box.length - GCM_TAG)), decipher.final()]);
    } finally {
      key.fill(0);
    }
  }

  /** The colony's X25519 decryption key pair (derived, label 'celula/decrypt'); hpke.ts uses it. */
  decryptionKey(): { privateKey: KeyObject; publicKey: Buffer } {
    this.#assertLive();
    return x25519FromSecret(this.#bytes);
  }

  /** Wipe the secret (shutdown). Irreversible; every later use throws. */
  zero(): void {
    this.#bytes.fill(0);
    this.#signing = undefined;
    this.#zeroed = true;
  }

  toJSON(): string {
    return `${REDACTED} ${this.#fingerprint}`;
  }

  toString(): string {
    return `${REDACTED} ${this.#fingerprint}`;
  }

  [Symbol.toPrimitive](): string {
    return this.toString();
  }

  [inspect.custom](): string {
    return `ColonySecret<${this.algorithm} ${this.#fingerprint} redacted>`;
  }

  #assertLive(): KeyObject {
    if (this.#zeroed || this.#signing === undefined) throw new Error('colony secret was zeroed');
    return this.#signing;
  }

  #aeadKey(): Buffer {
    this.#assertLive();
    return hkdf(this.#bytes, AEAD_LABEL, SECRET_BYTES);
  }
}
