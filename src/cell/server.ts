// The cell's HTTP server (node:http, plain HTTP). TLS is not needed for confidentiality or
// authenticity inside the cluster: the join protocol is end-to-end authenticated (colony-key
// signature over a transcript with the joiner's fresh key) and encrypted (token under an
// ECDH-derived session key, secret under HPKE to the joiner's ephemeral key). /identity and /attest
// return public, signed data. A network attacker can only deny service, which TLS would not stop.
//
// Inputs are bounded and validated: body ≤ maxBodyBytes (413), JSON errors (400), strict message
// schemas (400), unknown session (404), expired session (410), hello rate and session/proof
// concurrency limits (429). No handler lets an exception escape.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import type { Logger } from '../observability/logger.js';
import { admitJoiner, type PodInspector, type TokenVerifier } from './admission.js';
import { signAttestation } from './attest.js';
import { imageDigest, type ColonyContext } from './checks.js';
import { JoinRefused } from './errors.js';
import { asObject, b64Field, parseHello, parseProof } from './messages.js';
import { acceptHello, openProof, sealSecret, type PeerSession } from './protocol.js';
import { ReplayGuard } from './replay.js';
import type { ColonySecret } from './secret.js';

export interface ServerLimits {
  maxBodyBytes: number;
  maxSessions: number;
  sessionTtlMs: number;
  hellosPerSecond: number;
  helloBurst: number;
  maxConcurrentProofs: number;
}

export const DEFAULT_LIMITS: ServerLimits = {
  maxBodyBytes: 16 * 1024,
  maxSessions: 64,
  sessionTtlMs: 15_000,
  hellosPerSecond: 50,
  helloBurst: 100,
  maxConcurrentProofs: 16,
};

export interface SelfFacts {
  /** The node this cell runs on, and its hardened label value (null if none). */
  node: string;
  hardened: string | null;
}

export interface CellServerOptions {
  colony: ColonyContext;
  verifier: TokenVerifier;
  inspector: PodInspector;
  self: SelfFacts;
  /** Genesis passes its freshly generated secret; a joiner calls setSecret after joining. */
  secret?: ColonySecret | undefined;
  logger?: Logger | undefined;
  limits?: Partial<ServerLimits> | undefined;
  replay?: ReplayGuard | undefined;
  now?: (() => number) | undefined;
}

interface Reply {
  status: number;
  body: unknown;
}

type Handler = (body: unknown) => Promise<Reply> | Reply;

class BodyTooLarge extends Error {}

function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? '0');
    if (declared > max) {
      reject(new BodyTooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) reject(new BodyTooLarge());
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function parseJson(raw: Buffer): unknown {
  if (raw.length === 0) throw new JoinRefused('bad-request', 'request body is empty; want a JSON object');
  try {
    return JSON.parse(raw.toString('utf8')) as unknown;
  } catch {
    throw new JoinRefused('bad-request', 'request body is not valid JSON');
  }
}

function send(res: ServerResponse, reply: Reply, close = false): void {
  const body = JSON.stringify(reply.body);
  const headers: Record<string, string | number> = {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  };
  if (close) headers.connection = 'close';
  res.writeHead(reply.status, headers);
  res.end(body);
}

function refusalReply(err: JoinRefused): Reply {
  return { status: err.status, body: { error: err.toJSON() } };
}

export class CellServer {
  readonly #opts: CellServerOptions;
  readonly #limits: ServerLimits;
  readonly #sessions = new Map<string, PeerSession>();
  readonly #replay: ReplayGuard;
  readonly #now: () => number;
  readonly #routes: Map<string, Handler>;
  #secret: ColonySecret | undefined;
  #server: Server | undefined;
  #tokens: number;
  #lastRefill: number;
  #proofsInFlight = 0;

  constructor(opts: CellServerOptions) {
    this.#opts = opts;
    this.#limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.#replay = opts.replay ?? new ReplayGuard();
    this.#now = opts.now ?? Date.now;
    this.#secret = opts.secret;
    this.#tokens = this.#limits.helloBurst;
    this.#lastRefill = this.#now();
    this.#routes = new Map<string, Handler>([
      ['GET /healthz', () => ({ status: 200, body: { ok: true } })],
      ['GET /readyz', () => this.#readyz()],
      ['GET /identity', () => this.#identity()],
      ['POST /attest', (b) => this.#attest(b)],
      ['POST /join/hello', (b) => this.#hello(b)],
      ['POST /join/proof', (b) => this.#proof(b)],
    ]);
  }

  get secret(): ColonySecret | undefined {
    return this.#secret;
  }

  get sessionCount(): number {
    return this.#sessions.size;
  }

  setSecret(secret: ColonySecret): void {
    this.#secret = secret;
  }

  listen(port: number, host = '0.0.0.0'): Promise<AddressInfo> {
    const server = createServer((req, res) => {
      this.#handle(req, res).catch((err: unknown) => this.#crashReply(res, err));
    });
    server.requestTimeout = 10_000;
    server.headersTimeout = 5_000;
    server.maxHeadersCount = 50;
    this.#server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve(server.address() as AddressInfo));
    });
  }

  close(): Promise<void> {
    const server = this.#server;
    this.#sessions.clear();
    if (server === undefined) return Promise.resolve();
    server.closeAllConnections();
    return new Promise((resolve) => server.close(() => resolve()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const handler = this.#routes.get(`${req.method ?? ''} ${path}`);
    if (handler === undefined) {
      req.resume();
      send(res, {
        status: 404,
        body: { error: { code: 'not-found', reason: `no route ${req.method ?? ''} ${path}` } },
      });
      return;
    }
    let raw: Buffer;
    try {
      raw = req.method === 'POST' ? await readBody(req, this.#limits.maxBodyBytes) : Buffer.alloc(0);
    } catch {
      const reason = `request body exceeds ${this.#limits.maxBodyBytes} bytes`;
      send(res, refusalReply(new JoinRefused('too-large', reason)), true);
      return;
    }
    send(res, await this.#run(handler, req.method === 'POST' ? raw : undefined));
  }

  async #run(handler: Handler, raw: Buffer | undefined): Promise<Reply> {
    try {
      return await handler(raw === undefined ? undefined : parseJson(raw));
    } catch (err) {
      if (err instanceof JoinRefused) {
        this.#opts.logger?.info({ code: err.code, reason: err.reason }, 'request refused');
        return refusalReply(err);
      }
      this.#opts.logger?.error({ err: err instanceof Error ? err.name : 'unknown' }, 'handler failed');
      return refusalReply(new JoinRefused('internal', 'internal error'));
    }
  }

  #crashReply(res: ServerResponse, err: unknown): void {
    this.#opts.logger?.error({ err: err instanceof Error ? err.name : 'unknown' }, 'request failed');
    if (!res.headersSent) send(res, refusalReply(new JoinRefused('internal', 'internal error')), true);
    else res.destroy();
  }

  #holding(): ColonySecret {
    const secret = this.#secret;
    if (secret === undefined || secret.zeroed)
      throw new JoinRefused('not-ready', 'this cell does not hold the secret');
    return secret;
  }

  #readyz(): Reply {
    const ready = this.#secret !== undefined && !this.#secret.zeroed;
    return { status: ready ? 200 : 503, body: { ready } };
  }

  #identity(): Reply {
    const secret = this.#holding();
    const { colony } = this.#opts;
    return {
      status: 200,
      body: {
        colony: colony.name,
        namespace: colony.namespace,
        colonyUID: colony.uid,
        algorithm: secret.algorithm,
        publicKey: secret.publicKey,
        fingerprint: secret.fingerprint,
      },
    };
  }

  #attest(body: unknown): Reply {
    const o = asObject(body, 'attest request');
    b64Field(o, 'nonce', { min: 16, max: 64 });
    const secret = this.#holding();
    const { colony, self } = this.#opts;
    const facts = {
      colony: colony.name,
      namespace: colony.namespace,
      colonyUID: colony.uid,
      imageDigest: imageDigest(colony.image) ?? 'unpinned',
      node: self.node,
      hardened: self.hardened,
    };
    return { status: 200, body: signAttestation(secret, facts, o.nonce as string, new Date(this.#now())) };
  }

  #takeHelloToken(now: number): boolean {
    const elapsed = Math.max(0, now - this.#lastRefill) / 1000;
    this.#tokens = Math.min(this.#limits.helloBurst, this.#tokens + elapsed * this.#limits.hellosPerSecond);
    this.#lastRefill = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  #sweep(now: number): void {
    for (const [id, s] of this.#sessions) {
      if (now - s.createdAt > this.#limits.sessionTtlMs) this.#sessions.delete(id);
    }
  }

  #hello(body: unknown): Reply {
    const hello = parseHello(body);
    const secret = this.#holding();
    const now = this.#now();
    if (!this.#takeHelloToken(now)) throw new JoinRefused('busy', 'too many join attempts; retry later');
    if (this.#sessions.size >= this.#limits.maxSessions) this.#sweep(now);
    if (this.#sessions.size >= this.#limits.maxSessions)
      throw new JoinRefused('busy', 'too many open join sessions');
    const { challenge, session } = acceptHello(hello, secret, this.#opts.colony.uid, now);
    this.#sessions.set(session.id, session);
    return { status: 200, body: challenge };
  }

  /** Single use: the session is removed before anything else happens. */
  #takeSession(id: string): PeerSession {
    const session = this.#sessions.get(id);
    if (session === undefined) throw new JoinRefused('unknown-session', 'unknown or already used session');
    this.#sessions.delete(id);
    if (this.#now() - session.createdAt > this.#limits.sessionTtlMs) {
      session.proofKey.fill(0);
      throw new JoinRefused(
        'session-expired',
        `session expired (older than ${this.#limits.sessionTtlMs} ms)`,
      );
    }
    return session;
  }

  async #proof(body: unknown): Promise<Reply> {
    const proof = parseProof(body);
    const secret = this.#holding();
    if (this.#proofsInFlight >= this.#limits.maxConcurrentProofs) {
      throw new JoinRefused('busy', 'too many joins in progress; retry later');
    }
    const session = this.#takeSession(proof.sessionId);
    this.#proofsInFlight += 1;
    try {
      const token = openProof(session, proof);
      const admitted = await admitJoiner(token, { ...this.#opts, replay: this.#replay });
      const sealed = await sealSecret(session, secret);
      this.#opts.logger?.info(
        { pod: admitted.token.podName, node: admitted.token.nodeName },
        'secret handed to joiner',
      );
      return { status: 200, body: sealed };
    } finally {
      this.#proofsInFlight -= 1;
    }
  }
}
