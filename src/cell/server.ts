// The cell's HTTP server (node:http, plain HTTP). TLS is not needed for confidentiality or
// authenticity inside the cluster: the join protocol is end-to-end authenticated (colony-key
// signature over a transcript with the joiner's fresh key) and encrypted (token under an
// ECDH-derived session key, secret under HPKE to the joiner's ephemeral key). /identity and /attest
// return public, signed data. A network attacker can only deny service, which TLS would not stop.
//
// Inputs are bounded and validated: body ≤ maxBodyBytes (413), JSON errors (400), strict message
// schemas (400), unknown session (404), expired session (410), hello rate (global and per source
// address) and session/proof concurrency limits (429). A session is bound to the TCP source address
// that opened it: a proof from any other address is refused, and admission requires that address to
// be one of the joiner pod's IPs. No handler lets an exception escape.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import type { Logger } from '../observability/logger.js';
import { admitJoiner, type ColonySource, type PodInspector, type TokenVerifier } from './admission.js';
import { signAttestation } from './attest.js';
import { imageDigest, normalizeAddress, type ColonyContext } from './checks.js';
import { JoinRefused } from './errors.js';
import { asObject, b64Field, parseHello, parseProof } from './messages.js';
import { acceptHello, joinKeyDigest, openProof, sealSecret, type PeerSession } from './protocol.js';
import { ReplayGuard } from './replay.js';
import type { ColonySecret } from './secret.js';

export interface ServerLimits {
  maxBodyBytes: number;
  maxSessions: number;
  sessionTtlMs: number;
  hellosPerSecond: number;
  helloBurst: number;
  /** Per TCP source address, on top of the global rate. */
  sourceHellosPerSecond: number;
  sourceHelloBurst: number;
  /** Open sessions one source address may hold at once. */
  maxSessionsPerSource: number;
  /** Source addresses whose rate the server remembers (bounded; idle ones are forgotten first). */
  maxSources: number;
  maxConcurrentProofs: number;
}

export const DEFAULT_LIMITS: ServerLimits = {
  maxBodyBytes: 16 * 1024,
  maxSessions: 64,
  // A session without a proof lives 5 s: a joiner sends its proof right after the challenge.
  sessionTtlMs: 5_000,
  hellosPerSecond: 50,
  helloBurst: 100,
  sourceHellosPerSecond: 2,
  sourceHelloBurst: 5,
  maxSessionsPerSource: 4,
  maxSources: 1024,
  maxConcurrentProofs: 16,
};

/**
 * What the Kubernetes API reported about this cell's node when the cell started. Reported, not
 * measured: a cell cannot measure its node, and /attest signs these facts as reported.
 */
export interface SelfFacts {
  node: string;
  /** The node's hardened label value (null if none), as read from the API at start. */
  hardened: string | null;
}

export interface CellServerOptions {
  /** The colony as read at start; requirements never loosen (admission.ts currentContext). */
  colony: ColonyContext;
  /** Reads the Colony fresh for each admission. */
  colonySource: ColonySource;
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

/** The request's TCP source address (IPv4-mapped IPv6 unmapped). */
type Handler = (body: unknown, remote: string) => Promise<Reply> | Reply;

interface Bucket {
  tokens: number;
  last: number;
}

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
  readonly #global: Bucket;
  readonly #sources = new Map<string, Bucket>();
  #proofsInFlight = 0;
  /** True while a program is expected and not ready yet: readiness waits for it (issue 13). */
  #programPending = false;

  constructor(opts: CellServerOptions) {
    this.#opts = opts;
    this.#limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.#replay = opts.replay ?? new ReplayGuard();
    this.#now = opts.now ?? Date.now;
    this.#secret = opts.secret;
    this.#global = { tokens: this.#limits.helloBurst, last: this.#now() };
    this.#routes = new Map<string, Handler>([
      ['GET /healthz', () => ({ status: 200, body: { ok: true } })],
      ['GET /readyz', () => this.#readyz()],
      ['GET /identity', () => this.#identity()],
      ['POST /attest', (b) => this.#attest(b)],
      ['POST /join/hello', (b, remote) => this.#hello(b, remote)],
      ['POST /join/proof', (b, remote) => this.#proof(b, remote)],
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

  /** This cell hosts a program: /readyz answers 200 only once programReady() is called. */
  expectProgram(): void {
    this.#programPending = true;
  }

  programReady(): void {
    this.#programPending = false;
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
    const remote = normalizeAddress(req.socket.remoteAddress ?? '');
    send(res, await this.#run(handler, req.method === 'POST' ? raw : undefined, remote));
  }

  async #run(handler: Handler, raw: Buffer | undefined, remote: string): Promise<Reply> {
    try {
      return await handler(raw === undefined ? undefined : parseJson(raw), remote);
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
    const holds = this.#secret !== undefined && !this.#secret.zeroed;
    const ready = holds && !this.#programPending;
    return {
      status: ready ? 200 : 503,
      body: { ready, holdsSecret: holds, programReady: !this.#programPending },
    };
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
      reportedImageDigest: imageDigest(colony.image) ?? 'unpinned',
      reportedNode: self.node,
      reportedHardenedLabel: self.hardened,
    };
    return { status: 200, body: signAttestation(secret, facts, o.nonce as string, new Date(this.#now())) };
  }

  /** Refill `b` to `now`; true (and one token spent) when a token was available. */
  static #take(b: Bucket, now: number, rate: number, burst: number): boolean {
    b.tokens = Math.min(burst, b.tokens + (Math.max(0, now - b.last) / 1000) * rate);
    b.last = now;
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  /** The source's bucket; undefined when the table is full of sources that are not idle. */
  #sourceBucket(remote: string, now: number): Bucket | undefined {
    const known = this.#sources.get(remote);
    if (known !== undefined) return known;
    const { sourceHelloBurst: burst, sourceHellosPerSecond: rate, maxSources } = this.#limits;
    if (this.#sources.size >= maxSources) {
      // Forget sources whose bucket has refilled completely: they are indistinguishable from new ones.
      for (const [addr, b] of this.#sources) {
        if (b.tokens + ((now - b.last) / 1000) * rate >= burst) this.#sources.delete(addr);
      }
    }
    if (this.#sources.size >= maxSources) return undefined;
    const fresh = { tokens: burst, last: now };
    this.#sources.set(remote, fresh);
    return fresh;
  }

  #admitHello(remote: string, now: number): void {
    const l = this.#limits;
    const bucket = this.#sourceBucket(remote, now);
    if (bucket === undefined || !CellServer.#take(bucket, now, l.sourceHellosPerSecond, l.sourceHelloBurst)) {
      throw new JoinRefused('busy', 'too many join attempts from this address; retry later');
    }
    if (!CellServer.#take(this.#global, now, l.hellosPerSecond, l.helloBurst)) {
      throw new JoinRefused('busy', 'too many join attempts; retry later');
    }
    if (this.#sessions.size >= l.maxSessions) this.#sweep(now);
    if (this.#sessions.size >= l.maxSessions) throw new JoinRefused('busy', 'too many open join sessions');
    const mine = [...this.#sessions.values()].filter((s) => s.remoteAddress === remote).length;
    if (mine >= l.maxSessionsPerSource) {
      throw new JoinRefused('busy', 'too many open join sessions from this address');
    }
  }

  #sweep(now: number): void {
    for (const [id, s] of this.#sessions) {
      if (now - s.createdAt > this.#limits.sessionTtlMs) {
        s.proofKey.fill(0);
        this.#sessions.delete(id);
      }
    }
  }

  #hello(body: unknown, remote: string): Reply {
    const hello = parseHello(body);
    const secret = this.#holding();
    const now = this.#now();
    this.#sweep(now);
    this.#admitHello(remote, now);
    const { challenge, session } = acceptHello(hello, secret, this.#opts.colony.uid, {
      now,
      remoteAddress: remote,
    });
    this.#sessions.set(session.id, session);
    return { status: 200, body: challenge };
  }

  /**
   * Single use: the session is removed before anything else happens — but only by the address that
   * opened it (anyone else learns nothing and cannot burn it).
   */
  #takeSession(id: string, remote: string): PeerSession {
    const session = this.#sessions.get(id);
    if (session === undefined) throw new JoinRefused('unknown-session', 'unknown or already used session');
    if (session.remoteAddress !== remote) {
      throw new JoinRefused('source-address', 'the session was opened from another address');
    }
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

  async #proof(body: unknown, remote: string): Promise<Reply> {
    const proof = parseProof(body);
    const secret = this.#holding();
    if (this.#proofsInFlight >= this.#limits.maxConcurrentProofs) {
      throw new JoinRefused('busy', 'too many joins in progress; retry later');
    }
    const session = this.#takeSession(proof.sessionId, remote);
    this.#proofsInFlight += 1;
    try {
      const token = openProof(session, proof);
      const facts = { remoteAddress: session.remoteAddress, joinKey: joinKeyDigest(session.joinerPub) };
      const admitted = await admitJoiner(token, facts, { ...this.#opts, replay: this.#replay });
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
