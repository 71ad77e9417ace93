// Domain separation between the colony's own signatures and its program's (issue 13).
//
// The runtime signs with the colony key: the join challenge ('celula/join/v1/challenge\0' || th,
// src/cell/protocol.ts), the attestation ('celula/attest/v1\n' || JSON, src/cell/attest.ts) and the
// key proof ('celula/key-proof/v1\0' || fields, identity.ts). The user's program signs with the same
// key through ProgramKey.sign, which always signs PROGRAM_SIGN_LABEL || data. The labels differ
// from their 8th byte on, so no message a program can have signed starts with a runtime label: a
// verifier of the runtime's messages never accepts a program signature (and SHA-256 / Ed25519 bind
// the whole message). Pure.
import { parsePublicKey, verifyWithIdentity } from './identity.js';

export const PROGRAM_SIGN_LABEL = Buffer.from('celula/program/v1\0', 'utf8');

/** The bytes a ProgramKey.sign(data) signature covers. */
export function programSignedBytes(data: Uint8Array): Buffer {
  return Buffer.concat([PROGRAM_SIGN_LABEL, data]);
}

/**
 * For anyone outside the colony: true when `signature` is the colony program's signature over
 * `data`, with the colony public key (`<alg>:<base64>`, as in Colony.status). Never throws.
 */
export function verifyProgramSignature(publicKey: string, data: Uint8Array, signature: Uint8Array): boolean {
  try {
    return verifyWithIdentity(parsePublicKey(publicKey), programSignedBytes(data), signature);
  } catch {
    return false;
  }
}
