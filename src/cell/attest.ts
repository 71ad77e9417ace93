// /attest: SELF-attestation by a key holder. The statement says "a process holding this colony key
// answered your nonce at this time, and reports these facts about itself". Anyone can verify the
// signature with the colony public key alone, which proves only this: the answer came from a holder of
// the colony key, fresh (your nonce). The reported facts (node, its hardened label, the image digest)
// are what the Kubernetes API said when the cell started — the cell cannot measure its node or its own
// image — so they are only as true as the API and the holder are honest. Nothing here is a hardware or
// TPM measurement; a holder that lies would sign its lie.
import type { Algorithm } from '../api/types.js';
import { type ColonySecret } from './secret.js';
import { parsePublicKey, verifyWithIdentity } from '../api/identity.js';

const ATTEST_LABEL = 'celula/attest/v1\n';

export interface AttestationStatement {
  v: 1;
  colony: string;
  namespace: string;
  colonyUID: string;
  algorithm: Algorithm;
  publicKey: string;
  fingerprint: string;
  /** The Colony's image digest as read from the API at start (reported; not a measurement). */
  reportedImageDigest: string;
  /** The node the API said this cell runs on, at start (reported). */
  reportedNode: string;
  /** That node's hardened label value as the API reported it at start, or null (reported). */
  reportedHardenedLabel: string | null;
  time: string;
  nonce: string;
}

export interface SignedAttestation {
  statement: AttestationStatement;
  /** base64 signature over attestationBytes(statement) with the colony key. */
  signature: string;
}

export type AttestationFacts = Omit<
  AttestationStatement,
  'v' | 'algorithm' | 'publicKey' | 'fingerprint' | 'time' | 'nonce'
>;

/** Canonical bytes: a label, then JSON with keys in sorted order. */
export function attestationBytes(statement: AttestationStatement): Buffer {
  const sorted = Object.fromEntries(Object.entries(statement).sort(([a], [b]) => (a < b ? -1 : 1)));
  return Buffer.from(ATTEST_LABEL + JSON.stringify(sorted), 'utf8');
}

export function signAttestation(
  secret: ColonySecret,
  facts: AttestationFacts,
  nonce: string,
  now: Date = new Date(),
): SignedAttestation {
  const statement: AttestationStatement = {
    v: 1,
    ...facts,
    algorithm: secret.algorithm,
    publicKey: secret.publicKey,
    fingerprint: secret.fingerprint,
    time: now.toISOString(),
    nonce,
  };
  return { statement, signature: secret.sign(attestationBytes(statement)).toString('base64') };
}

/**
 * True when the signature verifies with `publicKey` (`<alg>:<base64>`, as in Colony.status) and the
 * statement names that same key (and, when given, echoes the expected nonce). Never throws.
 */
export function verifyAttestation(
  signed: SignedAttestation,
  publicKey: string,
  expectedNonce?: string,
): boolean {
  try {
    const identity = parsePublicKey(publicKey);
    if (signed.statement.publicKey !== publicKey) return false;
    if (expectedNonce !== undefined && signed.statement.nonce !== expectedNonce) return false;
    const signature = Buffer.from(signed.signature, 'base64');
    return verifyWithIdentity(identity, attestationBytes(signed.statement), signature);
  } catch {
    return false;
  }
}
