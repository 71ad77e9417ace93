// JoinRefused: every way a join can fail, with a stable code and a human reason.
// Reasons are built from public facts only (names, uids, digests, labels): never secret bytes and
// never token bytes.

export const REFUSAL_STATUS = {
  'bad-request': 400,
  'too-large': 413,
  'wrong-colony': 403,
  'colony-changed': 403,
  'unknown-session': 404,
  'session-expired': 410,
  busy: 429,
  'not-ready': 503,
  'peer-not-authentic': 502,
  'proof-undecryptable': 400,
  'token-rejected': 403,
  audience: 403,
  replay: 403,
  namespace: 403,
  'pod-not-found': 403,
  'pod-identity': 403,
  terminating: 403,
  'not-a-cell': 403,
  image: 403,
  'node-not-hardened': 403,
  'security-context': 403,
  'source-address': 403,
  'node-pod-cidr': 403,
  'spec-mismatch': 403,
  'not-a-joiner': 403,
  'join-key': 403,
  'seal-invalid': 502,
  'public-key-mismatch': 502,
  'peer-unreachable': 502,
  internal: 500,
} as const;

export type RefusalCode = keyof typeof REFUSAL_STATUS;

export class JoinRefused extends Error {
  readonly code: RefusalCode;
  readonly reason: string;

  constructor(code: RefusalCode, reason: string) {
    super(`join refused (${code}): ${reason}`);
    this.name = 'JoinRefused';
    this.code = code;
    this.reason = reason;
  }

  get status(): number {
    return REFUSAL_STATUS[this.code];
  }

  toJSON(): { code: RefusalCode; reason: string } {
    return { code: this.code, reason: this.reason };
  }
}

export function isRefusalCode(value: unknown): value is RefusalCode {
  return typeof value === 'string' && Object.hasOwn(REFUSAL_STATUS, value);
}

/** Clip untrusted text before it goes into a reason (no control characters, bounded length). */
export function clip(value: unknown, max = 120): string {
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/[\u0000-\u001f\u007f]/g, '?');
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
}
