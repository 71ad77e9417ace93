// The joiner's side: try peers in turn, each with a timeout, until one hands over the secret.
// The token is fetched and sent only after the peer has proved it holds the colony key.
//
// One join key per process (JoinOptions.joinKey): its digest is what the cell published in its Cell
// status, and the peer seals only to it. Connections are plain node:http, bound to the pod's own IP
// (localAddress) because peers accept joins only from the joiner pod's IPs; no redirects are followed,
// answers are bounded in size, and every request shares the per-peer deadline.
import { request } from 'node:http';

import type { Logger } from '../observability/logger.js';
import { clip, isRefusalCode, JoinRefused, type RefusalCode } from './errors.js';
import { parseChallenge, parseSealed } from './messages.js';
import {
  createHello,
  createJoinKey,
  createProof,
  openSealed,
  verifyChallenge,
  type JoinKey,
} from './protocol.js';
import { type ColonySecret } from './secret.js';
import { parsePublicKey, type PublicIdentity } from '../api/identity.js';

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
  /** The process's join key (published in the Cell status); default a fresh one (tests, tools). */
  joinKey?: JoinKey;
  /** Local address to bind outgoing connections to: the pod IP (peers require it). */
  localAddress?: string;
  logger?: Logger;
}

/** Largest answer a peer legitimately sends (a challenge or a sealed secret is < 1 KiB). */
export const MAX_ANSWER_BYTES = 64 * 1024;

export interface PostOptions {
  signal: AbortSignal;
  localAddress?: string | undefined;
}

interface RawAnswer {
  status: number;
  text: string;
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

function unreachable(signal: AbortSignal, why: string): JoinRefused {
  return new JoinRefused('peer-unreachable', signal.aborted ? 'peer timed out' : why);
}

/** One POST over node:http: bounded answer, no redirects, aborted by `signal`. */
function rawPost(url: string, payload: string, opts: PostOptions): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      localAddress: opts.localAddress,
      signal: opts.signal,
      agent: false,
    });
    req.on('error', (err: NodeJS.ErrnoException) =>
      reject(unreachable(opts.signal, `peer unreachable (${err.code ?? 'error'})`)),
    );
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size <= MAX_ANSWER_BYTES) chunks.push(chunk);
        else res.destroy(new Error('too large'));
      });
      res.on('error', () =>
        reject(unreachable(opts.signal, `peer answer exceeds ${MAX_ANSWER_BYTES} bytes`)),
      );
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
      );
    });
    req.end(payload);
  });
}

/** POST a JSON message to a peer; the parsed answer, or the peer's refusal as JoinRefused. */
export async function postJson(url: string, body: unknown, opts: PostOptions): Promise<unknown> {
  const res = await rawPost(url, JSON.stringify(body), opts);
  if (res.status >= 300 && res.status < 400) {
    throw new JoinRefused('peer-unreachable', `peer answered a redirect (${res.status}); not followed`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(res.text) as unknown;
  } catch {
    throw new JoinRefused('peer-unreachable', `peer answered ${res.status} without JSON`);
  }
  if (res.status < 200 || res.status >= 300) throw peerRefusal(res.status, parsed);
  return parsed;
}

function peerRefusal(status: number, body: unknown): JoinRefused {
  const error = (body as { error?: { code?: unknown; reason?: unknown } } | null)?.error;
  const code = isRefusalCode(error?.code) ? error.code : 'peer-unreachable';
  return new JoinRefused(code, `peer refused (${status}): ${clip(error?.reason ?? 'no reason')}`);
}

async function joinOne(peer: string, opts: JoinOptions, expected: PublicIdentity): Promise<ColonySecret> {
  const post = { signal: AbortSignal.timeout(opts.timeoutMs ?? 5000), localAddress: opts.localAddress };
  const base = peer.replace(/\/+$/, '');
  const { hello, joiner } = createHello(opts.colonyUID, opts.joinKey);
  const challenge = parseChallenge(await postJson(`${base}/join/hello`, hello, post));
  const session = verifyChallenge(joiner, challenge, expected); // throws before any token is read
  const proof = createProof(session, await opts.token());
  const sealed = parseSealed(await postJson(`${base}/join/proof`, proof, post));
  return openSealed(session, sealed, expected);
}

/** Join the colony through the first peer that succeeds; JoinFailed lists every refusal. */
export async function joinColony(opts: JoinOptions): Promise<{ secret: ColonySecret; peer: string }> {
  const expected = parsePublicKey(opts.expectedPublicKey);
  const withKey = { ...opts, joinKey: opts.joinKey ?? createJoinKey() };
  const attempts: JoinAttempt[] = [];
  for (const peer of opts.peers) {
    try {
      const secret = await joinOne(peer, withKey, expected);
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
