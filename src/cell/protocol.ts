// The join handshake (docs/protocol.md) as pure functions over explicit messages.
// No I/O here: server.ts and client.ts move the messages; admission.ts runs the checks.
//
//   joiner                                   peer (holds the secret)
//   hello {colonyUID, eJ, nJ}          ──▶
//                                      ◀──   challenge {sid, eP, nP, sig_colony(transcript)}
//   (verify sig against Colony.status.publicKey; else stop: the token is never sent)
//   proof {sid, AEAD_k(token)}         ──▶   k = HKDF(X25519(eJ, eP), salt = H(transcript))
//                                            verify token + pod, claim JTI
//                                      ◀──   sealed {sid, HPKE(eJ; alg || secret; info, aad = H(transcript))}
//   (open; rebuild; derived public key must equal Colony.status.publicKey)
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  randomBytes,
  type KeyObject,
} from 'node:crypto';

import type { Algorithm } from '../api/types.js';
import { clip, JoinRefused } from './errors.js';
import { hpkeOpen, hpkeSeal, x25519PublicKey } from './hpke.js';
import {
  NONCE_BYTES,
  SESSION_ID_BYTES,
  X25519_BYTES,
  type ChallengeMessage,
  type HelloMessage,
  type ProofMessage,
  type SealedMessage,
} from './messages.js';
import { ColonySecret } from './secret.js';
import { samePublicKey, verifyWithIdentity, X25519_SPKI, type PublicIdentity } from '../api/identity.js';

const TRANSCRIPT_LABEL = 'celula/join/v1';
const CHALLENGE_LABEL = Buffer.from('celula/join/v1/challenge\0');
const PROOF_LABEL = Buffer.from('celula/join/v1/proof');
const SEAL_LABEL = Buffer.from('celula/join/v1/seal\0');
const GCM_IV = 12;
const GCM_TAG = 16;
const ALG_IDS: Record<Algorithm, number> = { ed25519: 1, secp256k1: 2, 'aes-256': 3 };

export interface TranscriptParts {
  colonyUID: string;
  algorithm: Algorithm;
  joinerPub: Buffer;
  joinerNonce: Buffer;
  peerPub: Buffer;
  peerNonce: Buffer;
  sessionId: Buffer;
}

/** Length-prefixed concatenation: no two different part lists give the same bytes. */
export function transcript(t: TranscriptParts): Buffer {
  const parts = [
    Buffer.from(TRANSCRIPT_LABEL),
    Buffer.from(t.colonyUID, 'utf8'),
    Buffer.from(t.algorithm, 'utf8'),
    t.joinerPub,
    t.joinerNonce,
    t.peerPub,
    t.peerNonce,
    t.sessionId,
  ];
  return Buffer.concat(
    parts.flatMap((p) => {
      const len = Buffer.alloc(4);
      len.writeUInt32BE(p.length);
      return [len, p];
    }),
  );
}

export function transcriptHash(t: TranscriptParts): Buffer {
  return createHash('sha256').update(transcript(t)).digest();
}

function challengeSignedBytes(th: Buffer): Buffer {
  return Buffer.concat([CHALLENGE_LABEL, th]);
}

function rawX25519Public(key: KeyObject): Buffer {
  const spki = createPublicKey(key).export({ format: 'der', type: 'spki' });
  return Buffer.from(spki.subarray(X25519_SPKI.length));
}

/** The proof key both sides derive: HKDF-SHA256(X25519(eJ, eP), salt = H(transcript)). */
function proofKey(ours: KeyObject, theirsRaw: Buffer, th: Buffer): Buffer {
  let shared: Buffer;
  try {
    shared = diffieHellman({ privateKey: ours, publicKey: x25519PublicKey(theirsRaw) });
  } catch {
    throw new JoinRefused('bad-request', 'ephemeral public key is not a usable X25519 key');
  }
  const key = Buffer.alloc(32);
  key.set(new Uint8Array(hkdfSync('sha256', shared, th, PROOF_LABEL, 32)));
  shared.fill(0);
  return key;
}

// ---------------------------------------------------------------- joiner side

/**
 * The joiner's X25519 join key: ONE per process, used for every join attempt with every peer (nonces
 * and sessions stay fresh per attempt). Its digest is published in the cell's own Cell status before
 * the first hello; peers seal the secret only to the key whose digest is published there.
 */
export interface JoinKey {
  privateKey: KeyObject;
  publicKey: Buffer;
  /** `sha256:<hex>` of the raw 32-byte public key: the value of Cell.status.joinKey. */
  digest: string;
}

/** `sha256:<hex>` of a raw 32-byte X25519 public key (the form of Cell.status.joinKey). */
export function joinKeyDigest(rawPublicKey: Buffer): string {
  return `sha256:${createHash('sha256').update(rawPublicKey).digest('hex')}`;
}

export function createJoinKey(): JoinKey {
  const { privateKey } = generateKeyPairSync('x25519');
  const publicKey = rawX25519Public(privateKey);
  return { privateKey, publicKey, digest: joinKeyDigest(publicKey) };
}

export interface JoinerState {
  colonyUID: string;
  ephemeral: KeyObject;
  ephemeralPub: Buffer;
  nonce: Buffer;
}

export interface JoinerSession {
  state: JoinerState;
  sessionId: string;
  algorithm: Algorithm;
  th: Buffer;
  proofKey: Buffer;
}

/** A hello with a fresh nonce for `key` (default: a fresh key, for tests and one-shot tools). */
export function createHello(
  colonyUID: string,
  key: JoinKey = createJoinKey(),
): { hello: HelloMessage; joiner: JoinerState } {
  const joiner: JoinerState = {
    colonyUID,
    ephemeral: key.privateKey,
    ephemeralPub: key.publicKey,
    nonce: randomBytes(NONCE_BYTES),
  };
  const hello: HelloMessage = {
    v: 1,
    colonyUID,
    ephemeralPub: joiner.ephemeralPub.toString('base64'),
    nonce: joiner.nonce.toString('base64'),
  };
  return { hello, joiner };
}

/**
 * Check that the peer holds the colony key: its signature over the transcript (which contains
 * our fresh key and nonce) must verify with the expected colony public key. On failure the
 * joiner stops here and never sends its token.
 */
export function verifyChallenge(
  joiner: JoinerState,
  challenge: ChallengeMessage,
  expected: PublicIdentity,
): JoinerSession {
  const parts: TranscriptParts = {
    colonyUID: joiner.colonyUID,
    algorithm: expected.algorithm,
    joinerPub: joiner.ephemeralPub,
    joinerNonce: joiner.nonce,
    peerPub: Buffer.from(challenge.ephemeralPub, 'base64'),
    peerNonce: Buffer.from(challenge.nonce, 'base64'),
    sessionId: Buffer.from(challenge.sessionId, 'base64'),
  };
  const th = transcriptHash(parts);
  const signature = Buffer.from(challenge.signature, 'base64');
  if (!verifyWithIdentity(expected, challengeSignedBytes(th), signature)) {
    throw new JoinRefused('peer-not-authentic', 'peer signature does not verify with the colony public key');
  }
  return {
    state: joiner,
    sessionId: challenge.sessionId,
    algorithm: expected.algorithm,
    th,
    proofKey: proofKey(joiner.ephemeral, parts.peerPub, th),
  };
}

export function createProof(session: JoinerSession, token: string): ProofMessage {
  const iv = randomBytes(GCM_IV);
  const cipher = createCipheriv('aes-256-gcm', session.proofKey, iv).setAAD(session.th);
  const body = Buffer.concat([cipher.update(token, 'utf8'), cipher.final()]);
  const box = Buffer.concat([iv, body, cipher.getAuthTag()]);
  return { v: 1, sessionId: session.sessionId, tokenBox: box.toString('base64') };
}

/** Open the peer's sealed secret; the result must match the expected colony public key. */
export async function openSealed(
  session: JoinerSession,
  sealed: SealedMessage,
  expected: PublicIdentity,
): Promise<ColonySecret> {
  if (sealed.sessionId !== session.sessionId) {
    throw new JoinRefused('seal-invalid', 'sealed message is for another session');
  }
  const info = Buffer.concat([SEAL_LABEL, session.th]);
  let plain: Buffer;
  try {
    const box = { enc: Buffer.from(sealed.enc, 'base64'), ct: Buffer.from(sealed.ciphertext, 'base64') };
    plain = await hpkeOpen(session.state.ephemeral, box, info, session.th);
  } catch {
    throw new JoinRefused(
      'seal-invalid',
      'sealed secret does not open under this session (tampered or misdirected)',
    );
  }
  try {
    return rebuild(plain, expected);
  } finally {
    plain.fill(0);
  }
}

function rebuild(plain: Buffer, expected: PublicIdentity): ColonySecret {
  if (plain.length !== 33 || plain[0] !== ALG_IDS[expected.algorithm]) {
    throw new JoinRefused('seal-invalid', `sealed secret is not a ${expected.algorithm} secret`);
  }
  let secret: ColonySecret;
  try {
    secret = ColonySecret.fromBytes(expected.algorithm, plain.subarray(1));
  } catch {
    throw new JoinRefused('seal-invalid', 'sealed secret is not a valid key');
  }
  if (!samePublicKey(secret.identity, expected)) {
    const got = secret.fingerprint;
    secret.zero();
    throw new JoinRefused('public-key-mismatch', `received secret has fingerprint ${got}, not the colony's`);
  }
  return secret;
}

// ---------------------------------------------------------------- peer side

export interface PeerSession {
  id: string;
  colonyUID: string;
  th: Buffer;
  proofKey: Buffer;
  joinerPub: Buffer;
  createdAt: number;
  /** The TCP source address that opened the session (IPv4-mapped IPv6 unmapped); proofs must come from it. */
  remoteAddress: string;
}

/** Where and when a hello arrived: the session remembers the TCP source address. */
export interface HelloOrigin {
  now: number;
  /** IPv4-mapped IPv6 already unmapped (checks.ts normalizeAddress). */
  remoteAddress: string;
}

export function acceptHello(
  hello: HelloMessage,
  secret: ColonySecret,
  colonyUID: string,
  origin: HelloOrigin,
): { challenge: ChallengeMessage; session: PeerSession } {
  if (hello.colonyUID !== colonyUID) {
    throw new JoinRefused(
      'wrong-colony',
      `this cell serves colony uid ${colonyUID}, not ${clip(hello.colonyUID)}`,
    );
  }
  const { privateKey } = generateKeyPairSync('x25519');
  const parts: TranscriptParts = {
    colonyUID,
    algorithm: secret.algorithm,
    joinerPub: Buffer.from(hello.ephemeralPub, 'base64'),
    joinerNonce: Buffer.from(hello.nonce, 'base64'),
    peerPub: rawX25519Public(privateKey),
    peerNonce: randomBytes(NONCE_BYTES),
    sessionId: randomBytes(SESSION_ID_BYTES),
  };
  if (parts.joinerPub.length !== X25519_BYTES) throw new JoinRefused('bad-request', 'bad ephemeral key');
  const th = transcriptHash(parts);
  const session: PeerSession = {
    id: parts.sessionId.toString('base64'),
    colonyUID,
    th,
    proofKey: proofKey(privateKey, parts.joinerPub, th),
    joinerPub: parts.joinerPub,
    createdAt: origin.now,
    remoteAddress: origin.remoteAddress,
  };
  const challenge: ChallengeMessage = {
    v: 1,
    sessionId: session.id,
    ephemeralPub: parts.peerPub.toString('base64'),
    nonce: parts.peerNonce.toString('base64'),
    signature: secret.sign(challengeSignedBytes(th)).toString('base64'),
  };
  return { challenge, session };
}

/** Decrypt the joiner's token. It is the joiner's credential (never the colony secret). */
export function openProof(session: PeerSession, proof: ProofMessage): string {
  const box = Buffer.from(proof.tokenBox, 'base64');
  try {
    const iv = box.subarray(0, GCM_IV);
    const tag = box.subarray(box.length - GCM_TAG);
    const decipher = createDecipheriv('aes-256-gcm', session.proofKey, iv).setAAD(session.th).setAuthTag(tag);
    const plain = Buffer.concat([
      decipher.update(box.subarray(GCM_IV, box.length - GCM_TAG)),
      decipher.final(),
    ]);
    const token = plain.toString('utf8');
    plain.fill(0);
    return token;
  } catch {
    throw new JoinRefused('proof-undecryptable', 'proof does not decrypt under this session');
  } finally {
    session.proofKey.fill(0);
  }
}

/** Seal the secret to the verified joiner's ephemeral key, bound to the transcript hash. */
export async function sealSecret(session: PeerSession, secret: ColonySecret): Promise<SealedMessage> {
  const plain = Buffer.alloc(33);
  plain[0] = ALG_IDS[secret.algorithm];
  ColonySecret.withRawBytes(secret, (raw) => raw.copy(plain, 1));
  try {
    const info = Buffer.concat([SEAL_LABEL, session.th]);
    const box = await hpkeSeal(session.joinerPub, plain, info, session.th);
    return {
      v: 1,
      sessionId: session.id,
      enc: Buffer.from(box.enc).toString('base64'),
      ciphertext: Buffer.from(box.ct).toString('base64'),
    };
  } finally {
    plain.fill(0);
  }
}
