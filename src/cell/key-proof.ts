// Proof of possession of a colony key: the cell that reports status.publicKey also reports
// status.keyProof, a signature by that key over who is reporting it (colony uid, cell name and uid,
// pod uid) and the key itself. Whoever can write a Cell's status but does not hold the private key
// (a forged publicKey) cannot produce it; a proof made for another cell, pod or colony does not verify
// here. The operator records a colony's public key only when verifyKeyProof passes. Pure.
import type { ColonySecret } from './secret.js';
import { parsePublicKey, verifyWithIdentity } from './secret.js';

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

/** The cell's proof (base64) for its own identity; `subject.publicKey` must be the secret's. */
export function signKeyProof(secret: ColonySecret, subject: Omit<KeyProofSubject, 'publicKey'>): string {
  const message = keyProofMessage({ ...subject, publicKey: secret.publicKey });
  return secret.sign(message).toString('base64');
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
