// The public side of a colony's identity, shared by the cell (which holds the secret,
// src/cell/secret.ts) and the operator (which checks what cells report): the `<alg>:<base64>`
// public key format, its fingerprint, signature verification with the public key alone, and the
// key proof (what a cell signs to show it holds the key it reports; src/cell/key-proof.ts signs).
// Pure; no secret ever reaches this file.
import { createHash, createPublicKey, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { ALGORITHMS, type Algorithm } from './types.js';

// DER prefixes (SubjectPublicKeyInfo headers) in front of a raw public key: RFC 8410 for Ed25519 and
// X25519 (the colony's derived decryption key), SEC1 for secp256k1.
export const ED25519_SPKI = Buffer.from('302a300506032b6570032100', 'hex');
export const X25519_SPKI = Buffer.from('302a300506032b656e032100', 'hex');
export const SECP256K1_SPKI = Buffer.from('3036301006072a8648ce3d020106052b8104000a032200', 'hex');

/** Public identity of a colony: what goes into Colony.status.publicKey (as `<alg>:<base64>`). */
export interface PublicIdentity {
  algorithm: Algorithm;
  /** ed25519 and aes-256: raw 32-byte Ed25519 key; secp256k1: 33-byte compressed SEC1 point. */
  key: Buffer;
}

/** `prefix || raw` in a fresh Buffer (for a private key, the caller wipes it after use). */
export function wrapDer(prefix: Buffer, raw: Buffer): Buffer {
  const der = Buffer.alloc(prefix.length + raw.length);
  prefix.copy(der, 0);
  raw.copy(der, prefix.length);
  return der;
}

export function isAlgorithm(value: unknown): value is Algorithm {
  return typeof value === 'string' && (ALGORITHMS as readonly string[]).includes(value);
}

export function publicKeyObject(identity: PublicIdentity): KeyObject {
  const prefix = identity.algorithm === 'secp256k1' ? SECP256K1_SPKI : ED25519_SPKI;
  return createPublicKey({ key: wrapDer(prefix, identity.key), format: 'der', type: 'spki' });
}

/** Verify a colony signature with the public identity alone. Never throws on bad input. */
export function verifyWithIdentity(
  identity: PublicIdentity,
  data: Uint8Array,
  signature: Uint8Array,
): boolean {
  try {
    const key = publicKeyObject(identity);
    if (identity.algorithm === 'secp256k1') {
      return cryptoVerify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, signature);
    }
    return cryptoVerify(null, data, key, signature);
  } catch {
    return false;
  }
}

export function encodePublicKey(identity: PublicIdentity): string {
  return `${identity.algorithm}:${identity.key.toString('base64')}`;
}

/** Parse `<alg>:<base64>`; throws Error with a clear message on anything malformed. */
export function parsePublicKey(text: string): PublicIdentity {
  const sep = text.indexOf(':');
  const algorithm = text.slice(0, sep);
  if (sep < 0 || !isAlgorithm(algorithm)) {
    throw new Error(`public key must look like '<algorithm>:<base64>' with a known algorithm`);
  }
  const key = Buffer.from(text.slice(sep + 1), 'base64');
  const want = algorithm === 'secp256k1' ? 33 : 32;
  if (key.length !== want || key.toString('base64') !== text.slice(sep + 1)) {
    throw new Error(`${algorithm} public key must be ${want} bytes of canonical base64`);
  }
  if (algorithm === 'secp256k1' && key[0] !== 2 && key[0] !== 3) {
    throw new Error('secp256k1 public key must be a compressed SEC1 point');
  }
  return { algorithm, key };
}

/** `sha256:` + the first 16 bytes (32 hex digits) of SHA-256 over the raw public key. */
export function fingerprintOf(identity: PublicIdentity): string {
  return `sha256:${createHash('sha256').update(identity.key).digest('hex').slice(0, 32)}`;
}

export function samePublicKey(a: PublicIdentity, b: PublicIdentity): boolean {
  return a.algorithm === b.algorithm && a.key.equals(b.key);
}

const KEY_PROOF_LABEL = Buffer.from('celula/key-proof/v1\0');

export interface KeyProofSubject {
  colonyUID: string;
  cell: string;
  /** The Cell's uid. When unknown to the prover, leave it undefined on BOTH sides (it is then omitted). */
  cellUID?: string | undefined;
  podUID: string;
  /** `<alg>:<base64>` as in Cell.status.publicKey. */
  publicKey: string;
}

function lengthPrefixed(value: string): Buffer {
  const bytes = Buffer.from(value, 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32BE(bytes.length);
  return Buffer.concat([len, bytes]);
}

/**
 * The signed bytes: the label, then each field length-prefixed (u32 BE): colony uid, cell name,
 * cell uid (omitted entirely when undefined), pod uid, publicKey.
 */
export function keyProofMessage(s: KeyProofSubject): Buffer {
  const fields = [
    s.colonyUID,
    s.cell,
    ...(s.cellUID === undefined ? [] : [s.cellUID]),
    s.podUID,
    s.publicKey,
  ];
  return Buffer.concat([KEY_PROOF_LABEL, ...fields.map(lengthPrefixed)]);
}

/** True when `proof` (base64) is a signature by subject.publicKey over keyProofMessage(subject). Never throws. */
export function verifyKeyProof(subject: KeyProofSubject, proof: string | undefined): boolean {
  if (proof === undefined || proof === '' || !/^[A-Za-z0-9+/]+={0,2}$/.test(proof)) return false;
  try {
    const identity = parsePublicKey(subject.publicKey);
    return verifyWithIdentity(identity, keyProofMessage(subject), Buffer.from(proof, 'base64'));
  } catch {
    return false;
  }
}
