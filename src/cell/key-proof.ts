// Proof of possession of a colony key (the cell's half: signing; the format and the operator's check
// are in src/api/identity.ts): the cell that reports status.publicKey also reports status.keyProof, a signature by that key over who is reporting it (colony uid, cell name and uid,
// pod uid) and the key itself. Whoever can write a Cell's status but does not hold the private key
// (a forged publicKey) cannot produce it; a proof made for another cell, pod or colony does not verify
// here. The operator records a colony's public key only when verifyKeyProof passes. Pure.
import { keyProofMessage, type KeyProofSubject } from '../api/identity.js';
import type { ColonySecret } from './secret.js';

/** The cell's proof (base64) for its own identity; `subject.publicKey` must be the secret's. */
export function signKeyProof(secret: ColonySecret, subject: Omit<KeyProofSubject, 'publicKey'>): string {
  const message = keyProofMessage({ ...subject, publicKey: secret.publicKey });
  return secret.sign(message).toString('base64');
}
