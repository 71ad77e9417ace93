// The joiner's side: try peers in turn, each with a timeout, until one hands over the secret.
// The token is fetched and sent only after the peer has proved it holds the colony key.
import type { Logger } from '../observability/logger.js';
import { clip, isRefusalCode, JoinRefused, type RefusalCode } from './errors.js';
import { parseChallenge, parseSealed } from './messages.js';
import { createHello, createProof, openSealed, verifyChallenge } from './protocol.js';
import { parsePublicKey, type ColonySecret, type PublicIdentity } from './secret.js';

export interface JoinOptions {
  /** Base URLs of live peers, e.g. http://10.1.2.3:8080 (from the colony's Alive cells). */
  peers: string[];
  colonyUID: string;
  /** Colony.status.publicKey (`<alg>:<base64>`). */
  expectedPublicKey: string;
  /** Returns the projected token (audience celula.io/join); read fresh per attempt. */
  token: () => Promise<string> | string;
  /** Per-peer timeout for the whole handshake. Default 5000 ms. */
  timeoutMs?: number;
  logger?: Logger;
}

export interface JoinAttempt {
  peer: string;
  code: RefusalCode;
  reason: string;
}

export class JoinFailed extends Error {
  readonly attempts: JoinAttempt[];

  constructor(attempts: JoinAttempt[]) {
    const summary = attempts.map((a) => `${a.peer}: ${a.code}: ${a.reason}`).join('; ');
    super(`join failed with every peer${attempts.length === 0 ? ' (no peers)' : ''}: ${summary}`);
    this.name = 'JoinFailed';
    this.attempts = attempts;
  }
}

async function postJson(url: string, body: unknown, signal: AbortSignal): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal,
      redirect: 'error',
    });
  } catch {
    throw new JoinRefused('peer-unreachable', signal.aborted ? 'peer timed out' : 'peer unreachable');
  }
  const text = await res.text().catch(() => '');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text) as unknown;
  } catch {
    throw new JoinRefused('peer-unreachable', `peer answered ${res.status} without JSON`);
  }
  if (!res.ok) throw peerRefusal(res.status, parsed);
  return parsed;
}

function peerRefusal(status: number, body: unknown): JoinRefused {
  const error = (body as { error?: { code?: unknown; reason?: unknown } } | null)?.error;
  const code = isRefusalCode(error?.code) ? error.code : 'peer-unreachable';
  return new JoinRefused(code, `peer refused (${status}): ${clip(error?.reason ?? 'no reason')}`);
}

async function joinOne(peer: string, opts: JoinOptions, expected: PublicIdentity): Promise<ColonySecret> {
  const signal = AbortSignal.timeout(opts.timeoutMs ?? 5000);
  const base = peer.replace(/\/+$/, '');
  const { hello, joiner } = createHello(opts.colonyUID);
  const challenge = parseChallenge(await postJson(`${base}/join/hello`, hello, signal));
  const session = verifyChallenge(joiner, challenge, expected); // throws before any token is read
  const proof = createProof(session, await opts.token());
  const sealed = parseSealed(await postJson(`${base}/join/proof`, proof, signal));
  return openSealed(session, sealed, expected);
}

/** Join the colony through the first peer that succeeds; JoinFailed lists every refusal. */
export async function joinColony(opts: JoinOptions): Promise<{ secret: ColonySecret; peer: string }> {
  const expected = parsePublicKey(opts.expectedPublicKey);
  const attempts: JoinAttempt[] = [];
  for (const peer of opts.peers) {
    try {
      const secret = await joinOne(peer, opts, expected);
      opts.logger?.info({ peer, fingerprint: secret.fingerprint }, 'joined colony');
      return { secret, peer };
    } catch (err) {
      const refusal = err instanceof JoinRefused ? err : new JoinRefused('internal', 'unexpected failure');
      attempts.push({ peer, code: refusal.code, reason: refusal.reason });
      opts.logger?.warn({ peer, code: refusal.code, reason: refusal.reason }, 'join attempt failed');
    }
  }
  throw new JoinFailed(attempts);
}
