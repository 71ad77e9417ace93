// Wire messages of the join protocol and their strict validation. Every field is checked for type
// and exact size before any crypto runs; anything else is a 400 with a clear message.
import { clip, JoinRefused } from './errors.js';

export const PROTOCOL_VERSION = 1;
export const X25519_BYTES = 32;
export const NONCE_BYTES = 32;
export const SESSION_ID_BYTES = 16;
/** Upper bound for an encrypted token (projected tokens are ~1-2 KiB). */
export const MAX_TOKEN_BOX_BYTES = 8192;
const UID_RE = /^[A-Za-z0-9][A-Za-z0-9-]{0,63}$/;
const B64_RE = /^[A-Za-z0-9+/]*={0,2}$/;

/** joiner → peer */
export interface HelloMessage {
  v: 1;
  colonyUID: string;
  ephemeralPub: string;
  nonce: string;
}
/** peer → joiner: the peer's half of the transcript, signed with the colony key. */
export interface ChallengeMessage {
  v: 1;
  sessionId: string;
  ephemeralPub: string;
  nonce: string;
  signature: string;
}
/** joiner → peer: the joiner's token, AES-256-GCM under a key only this session has. */
export interface ProofMessage {
  v: 1;
  sessionId: string;
  tokenBox: string;
}
/** peer → joiner: the secret, HPKE-sealed to the joiner's ephemeral key, bound to the transcript. */
export interface SealedMessage {
  v: 1;
  sessionId: string;
  enc: string;
  ciphertext: string;
}

type Obj = Record<string, unknown>;

function bad(reason: string): JoinRefused {
  return new JoinRefused('bad-request', reason);
}

export function asObject(body: unknown, what: string): Obj {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw bad(`${what} must be a JSON object`);
  }
  return body as Obj;
}

function requireVersion(o: Obj, what: string): void {
  if (o.v !== PROTOCOL_VERSION) throw bad(`${what}.v must be ${PROTOCOL_VERSION}, got ${clip(o.v, 20)}`);
}

export interface B64Size {
  exact?: number;
  min?: number;
  max?: number;
}

function isCanonicalB64(value: unknown, maxChars: number): value is string {
  return (
    typeof value === 'string' && value.length <= maxChars && value.length % 4 === 0 && B64_RE.test(value)
  );
}

/** Decode a canonical base64 field with size bounds. */
export function b64Field(o: Obj, field: string, size: B64Size): Buffer {
  const min = size.exact ?? size.min ?? 0;
  const max = size.exact ?? size.max ?? 0;
  const value = o[field];
  if (!isCanonicalB64(value, Math.ceil(max / 3) * 4)) {
    throw bad(`${field} must be a base64 string of ${describe(size)}`);
  }
  const bytes = Buffer.from(value, 'base64');
  if (bytes.length < min || bytes.length > max) {
    throw bad(`${field} must decode to ${describe(size)}, got ${bytes.length} bytes`);
  }
  return bytes;
}

function describe(size: B64Size): string {
  return size.exact !== undefined ? `${size.exact} bytes` : `${size.min ?? 0}..${size.max ?? 0} bytes`;
}

export function uidField(o: Obj, field: string): string {
  const value = o[field];
  if (typeof value !== 'string' || !UID_RE.test(value)) throw bad(`${field} must be a Kubernetes uid`);
  return value;
}

export function parseHello(body: unknown): HelloMessage {
  const o = asObject(body, 'hello');
  requireVersion(o, 'hello');
  const colonyUID = uidField(o, 'colonyUID');
  b64Field(o, 'ephemeralPub', { exact: X25519_BYTES });
  b64Field(o, 'nonce', { exact: NONCE_BYTES });
  return { v: 1, colonyUID, ephemeralPub: o.ephemeralPub as string, nonce: o.nonce as string };
}

export function parseChallenge(body: unknown): ChallengeMessage {
  const o = asObject(body, 'challenge');
  requireVersion(o, 'challenge');
  b64Field(o, 'sessionId', { exact: SESSION_ID_BYTES });
  b64Field(o, 'ephemeralPub', { exact: X25519_BYTES });
  b64Field(o, 'nonce', { exact: NONCE_BYTES });
  b64Field(o, 'signature', { exact: 64 });
  return {
    v: 1,
    sessionId: o.sessionId as string,
    ephemeralPub: o.ephemeralPub as string,
    nonce: o.nonce as string,
    signature: o.signature as string,
  };
}

export function parseProof(body: unknown): ProofMessage {
  const o = asObject(body, 'proof');
  requireVersion(o, 'proof');
  b64Field(o, 'sessionId', { exact: SESSION_ID_BYTES });
  b64Field(o, 'tokenBox', { min: 12 + 16 + 1, max: MAX_TOKEN_BOX_BYTES });
  return { v: 1, sessionId: o.sessionId as string, tokenBox: o.tokenBox as string };
}

export function parseSealed(body: unknown): SealedMessage {
  const o = asObject(body, 'sealed');
  requireVersion(o, 'sealed');
  b64Field(o, 'sessionId', { exact: SESSION_ID_BYTES });
  b64Field(o, 'enc', { exact: X25519_BYTES });
  b64Field(o, 'ciphertext', { exact: 1 + 32 + 16 });
  return { v: 1, sessionId: o.sessionId as string, enc: o.enc as string, ciphertext: o.ciphertext as string };
}
