// The cell's configuration: environment set by the pod builder (src/builders/pod.ts), plus a few
// overrides for local runs. Pure: parseCellEnv(env) → CellConfig or a UsageError.
//
// Nothing secret is ever in the environment: the join token is a file path (CELULA_JOIN_TOKEN), the
// API credential is the standard service-account mount (or $KUBECONFIG, a file, in local runs).
// The colony's image, uid check and hardened-node requirement are read from the Colony object through
// the API, not from env, so a tampered pod env cannot loosen what a peer checks.
import { isIP } from 'node:net';
import type { LevelWithSilent } from 'pino';

import { ALGORITHMS, type Algorithm } from '../api/types.js';

export const HELP = `celula-cell — the cell runtime: holds a colony's secret in memory and hands it to verified peers

Usage: celula-cell [--help]

Configuration is read from the environment (the operator's pod builder sets it):
  CELULA_COLONY       colony name (required)
  CELULA_COLONY_UID   colony uid (required; the Colony read from the API must match it)
  CELULA_CELL         this cell's name (required)
  CELULA_ALGORITHM    ${ALGORITHMS.join(' | ')} (required)
  CELULA_GENESIS      true: generate the colony's secret; false: join from live peers
  CELULA_PORT         port to serve on (default 8443)
  CELULA_LISTEN       address to bind (default 0.0.0.0; local runs bind a loopback address)
  CELULA_JOIN_TOKEN   path of the projected token with audience celula.io/join (required to join)
  CELULA_JOIN_TIMEOUT_MS   per-peer handshake timeout (default 5000)
  POD_NAME, POD_NAMESPACE, POD_UID, NODE_NAME   from the downward API (required)
  POD_IP              the pod's IP (downward API status.podIP; required to join): join connections
                      are bound to it, because peers accept joins only from the joiner pod's IPs
  KUBECONFIG          API credential file for local runs; default: the in-cluster service account
  LOG_LEVEL           trace | debug | info | warn | error | silent (default info)

Endpoints: GET /healthz, GET /readyz (200 = holds the secret and the program, if any, is ready),
GET /identity, POST /attest, POST /join/hello, POST /join/proof. See docs/protocol.md.
The user's program (Colony spec.program, read from the API) is loaded after the secret is held and
served on its own port (spec.program.port, default 8080).
`;

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface CellConfig {
  colony: string;
  colonyUID: string;
  cell: string;
  algorithm: Algorithm;
  genesis: boolean;
  port: number;
  listen: string;
  joinTokenFile: string;
  joinTimeoutMs: number;
  podName: string;
  namespace: string;
  podUID: string;
  nodeName: string;
  /** The pod IP join connections are bound to; empty for a genesis cell that never joins. */
  podIP: string;
  logLevel: LevelWithSilent;
}

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

function required(env: NodeJS.ProcessEnv, name: string): string {
  const v = env[name];
  if (v === undefined || v === '') throw new UsageError(`${name} is required`);
  return v;
}

function intIn(env: NodeJS.ProcessEnv, name: string, fallback: number, [min, max]: [number, number]): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new UsageError(`${name} must be an integer in ${min}..${max}`);
  return n;
}

function oneOf<T extends string>(
  env: NodeJS.ProcessEnv,
  name: string,
  allowed: readonly T[],
  fallback?: T,
): T {
  const raw = env[name] ?? fallback;
  if (raw === undefined || raw === '') throw new UsageError(`${name} is required`);
  if (!(allowed as readonly string[]).includes(raw))
    throw new UsageError(`${name} must be one of ${allowed.join(', ')}`);
  return raw as T;
}

function bool(env: NodeJS.ProcessEnv, name: string): boolean {
  return oneOf(env, name, ['true', 'false'] as const, 'false') === 'true';
}

export function parseCellEnv(env: NodeJS.ProcessEnv): CellConfig {
  const genesis = bool(env, 'CELULA_GENESIS');
  const joinTokenFile = env.CELULA_JOIN_TOKEN ?? '';
  if (!genesis && joinTokenFile === '')
    throw new UsageError('CELULA_JOIN_TOKEN is required for a joining cell');
  const podIP = env.POD_IP ?? '';
  if (!genesis && podIP === '') throw new UsageError('POD_IP is required for a joining cell');
  if (podIP !== '' && isIP(podIP) === 0) throw new UsageError('POD_IP must be an IPv4 or IPv6 address');
  return {
    colony: required(env, 'CELULA_COLONY'),
    colonyUID: required(env, 'CELULA_COLONY_UID'),
    cell: required(env, 'CELULA_CELL'),
    algorithm: oneOf(env, 'CELULA_ALGORITHM', ALGORITHMS),
    genesis,
    port: intIn(env, 'CELULA_PORT', 8443, [1, 65535]),
    listen: env.CELULA_LISTEN ?? '0.0.0.0',
    joinTokenFile,
    joinTimeoutMs: intIn(env, 'CELULA_JOIN_TIMEOUT_MS', 5000, [100, 60_000]),
    podName: required(env, 'POD_NAME'),
    namespace: required(env, 'POD_NAMESPACE'),
    podUID: required(env, 'POD_UID'),
    nodeName: required(env, 'NODE_NAME'),
    podIP,
    logLevel: oneOf(env, 'LOG_LEVEL', LEVELS, 'info'),
  };
}
