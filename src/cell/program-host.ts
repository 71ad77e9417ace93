// Hosting the user's program (issue 13): load its module after the cell holds the secret, call its
// onReady with the narrow ProgramContext, then serve its routes on their own port (the join port
// serves only the runtime's routes and stays internal to the colony).
//
// The HTTP side is the runtime's, not the program's: bodies are bounded (413), JSON is parsed here
// (400), unknown routes are 404, a ProgramError is the program's own 4xx with its message, and any
// other exception is a 500 whose body and log line carry only the error's name — a program's error
// text never reaches a log line or a caller unless the program says so with ProgramError.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isAbsolute } from 'node:path';
import { pathToFileURL } from 'node:url';

import type { Logger } from '../observability/logger.js';
import {
  isProgram,
  ProgramError,
  type Program,
  type ProgramContext,
  type ProgramRequest,
} from './program.js';

export const PROGRAM_MAX_BODY_BYTES = 64 * 1024;

interface Reply {
  status: number;
  body: unknown;
}

class HttpRefusal extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Import the program module (an absolute path in the image) and return its default export. */
export async function loadProgram(modulePath: string): Promise<Program> {
  if (!isAbsolute(modulePath))
    throw new Error(`the program module must be an absolute path, not '${modulePath}'`);
  let mod: { default?: unknown };
  try {
    mod = (await import(pathToFileURL(modulePath).href)) as { default?: unknown };
  } catch (err) {
    const why = err instanceof Error ? `${err.name}: ${err.message}` : 'unknown error';
    throw new Error(`cannot import the program module ${modulePath}: ${why}`, { cause: err });
  }
  if (!isProgram(mod.default)) {
    throw new Error(
      `the program module ${modulePath} must export default defineProgram({ name, routes, onReady })`,
    );
  }
  return mod.default;
}

function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    if (Number(req.headers['content-length'] ?? '0') > max) {
      reject(new HttpRefusal(413, `request body exceeds ${max} bytes`));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) reject(new HttpRefusal(413, `request body exceeds ${max} bytes`));
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function parseJson(raw: Buffer): unknown {
  if (raw.length === 0) throw new HttpRefusal(400, 'request body is empty; want JSON');
  try {
    return JSON.parse(raw.toString('utf8')) as unknown;
  } catch {
    throw new HttpRefusal(400, 'request body is not valid JSON');
  }
}

/** What goes on the wire: a status Node accepts and the JSON text of the body. */
interface Wire {
  status: number;
  text: string;
}

/**
 * The program's reply as it will be sent. A reply that is not `{ status: 200..599, body }` with a
 * JSON-serialisable body (a BigInt, a cycle, no reply at all) is the program's error: thrown here,
 * inside the route's try, it becomes a 500 — never an exception after the route returned, which
 * would be an unhandled rejection and end the cell (and the secret it holds).
 */
function wire(reply: Reply | undefined): Wire {
  const status = reply?.status;
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 200 || status > 599) {
    throw new Error('the program replied without a status code in 200..599');
  }
  return { status, text: JSON.stringify(reply?.body) ?? 'null' };
}

function send(res: ServerResponse, reply: Wire): void {
  const body = reply.text;
  res.writeHead(reply.status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(body);
}

const errorReply = (status: number, message: string): Wire => wire({ status, body: { error: message } });

/**
 * Program requests handled at once; more are refused at once with 503 and Retry-After. The program
 * shares the cell's event loop with the join port and its health checks: a flood of valid but costly
 * requests (anyone can reach the program port) must not delay a probe until the kubelet kills a
 * holder (found by the attacker review: 8 callers of maximal lottery draws pushed /healthz to 5 s).
 */
export const MAX_PROGRAM_IN_FLIGHT = 4;

export class ProgramServer {
  readonly #program: Program;
  readonly #ctx: ProgramContext;
  readonly #log: Logger | undefined;
  readonly #maxInFlight: number;
  #inFlight = 0;
  #server: Server | undefined;

  constructor(program: Program, ctx: ProgramContext, logger?: Logger, maxInFlight = MAX_PROGRAM_IN_FLIGHT) {
    this.#program = program;
    this.#ctx = ctx;
    this.#log = logger;
    this.#maxInFlight = maxInFlight;
  }

  listen(port: number, host: string): Promise<AddressInfo> {
    const server = createServer((req, res) => {
      if (this.#inFlight >= this.#maxInFlight) {
        res.setHeader('retry-after', '1');
        send(res, errorReply(503, 'busy: too many program requests at once; retry'));
        return;
      }
      this.#inFlight += 1;
      this.#handle(req, res)
        .then((reply) => send(res, reply))
        .catch(() => res.destroy())
        .finally(() => (this.#inFlight -= 1));
    });
    server.requestTimeout = 10_000;
    server.headersTimeout = 5_000;
    this.#server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve(server.address() as AddressInfo));
    });
  }

  address(): AddressInfo {
    const a = this.#server?.address();
    if (a === undefined || a === null || typeof a === 'string')
      throw new Error('the program server is not listening');
    return a;
  }

  close(): Promise<void> {
    const server = this.#server;
    if (server === undefined) return Promise.resolve();
    server.closeAllConnections();
    return new Promise((resolve) => server.close(() => resolve()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<Wire> {
    const method = req.method ?? '';
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const handler = this.#program.routes[`${method} ${path}`];
    if (handler === undefined) {
      req.resume();
      return errorReply(404, `no route ${method} ${path}`);
    }
    try {
      const request = await requestOf(req, path);
      return wire(await handler(request, this.#ctx));
    } catch (err) {
      return this.#failure(err, res, `${method} ${path}`);
    }
  }

  #failure(err: unknown, res: ServerResponse, route: string): Wire {
    if (err instanceof HttpRefusal || err instanceof ProgramError) {
      if (err.status === 413) res.setHeader('connection', 'close');
      return errorReply(err.status, err.message);
    }
    this.#log?.error({ err: err instanceof Error ? err.name : 'unknown', route }, 'program route failed');
    return errorReply(500, 'internal program error');
  }
}

/** Routes are 'GET /x' or 'POST /x' only (defineProgram checks), so a handler implies one of them. */
async function requestOf(req: IncomingMessage, path: string): Promise<ProgramRequest> {
  if (req.method === 'POST') {
    return { method: 'POST', path, body: parseJson(await readBody(req, PROGRAM_MAX_BODY_BYTES)) };
  }
  req.resume();
  return { method: 'GET', path, body: undefined };
}

/** Load the program, run its onReady, serve its routes: the program is ready when this resolves. */
export async function startProgram(
  modulePath: string,
  ctx: ProgramContext,
  where: { port: number; host: string },
  logger?: Logger,
): Promise<{ server: ProgramServer; address: AddressInfo; name: string }> {
  const program = await loadProgram(modulePath);
  await program.onReady?.(ctx);
  const server = new ProgramServer(program, ctx, logger);
  const address = await server.listen(where.port, where.host);
  return { server, address, name: program.name };
}
