// Tools of the red-team suite (test/integration/redteam.test.ts): the real kubectl as any principal,
// a one-line summary of what the API server answered, a kubeconfig for a bearer token, and joins
// through the project's own join client (src/cell/client.ts).
import { execFile } from 'node:child_process';
import { request, type RequestOptions } from 'node:https';
import * as path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';

import { JoinFailed, joinColony } from '../../src/cell/client.js';
import type { JoinKey } from '../../src/cell/protocol.js';
import { cacheDir } from '../cluster/controlplane.js';
import { writeKubeconfig } from '../cluster/kubeconfig.js';

export const KUBECTL = path.join(cacheDir(), 'bin', 'kubectl');

export interface Run {
  code: number;
  out: string;
}

/** kubectl with `cfg`; never throws: exit code and stdout+stderr. */
export function kubectl(cfg: string, args: string[], input?: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(
      KUBECTL,
      ['--kubeconfig', cfg, '--request-timeout=15s', ...args],
      { timeout: 20_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, out: `${stdout}${stderr}`.trim() });
      },
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

export function clipText(s: string, max = 150): string {
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
}

/**
 * Who refused and why, in one line: `VAP <policy>: <message>` for an admission policy,
 * `RBAC: <what>` for an authorizer denial, else the API server's text without kubectl's prefix.
 */
export function refusal(out: string): string {
  const vap = /ValidatingAdmissionPolicy '([^']+)' with binding '[^']+' denied request: (.*)/.exec(out);
  if (vap) return clipText(`VAP ${vap[1]}: ${vap[2]}`);
  const rbac = /is forbidden: (User "[^"]+" cannot .*)/.exec(out);
  if (rbac) return clipText(`RBAC: ${rbac[1]}`);
  const line = out.split('\n').find((l) => /^(Error|error)/.test(l)) ?? out;
  return clipText(line.replace(/^Error from server \([^)]*\): |^error: /, ''));
}

export interface ApiCall {
  method: 'GET' | 'PATCH' | 'POST';
  path: string;
  body?: unknown;
  /** Extra headers: Content-Type of a patch, Impersonate-* of an impersonating principal. */
  headers?: Record<string, string>;
}

/**
 * One API request with `cfg`'s credentials, exactly as written (kubectl would GET first, which
 * needs a permission the attacker may lack and hides the admission answer). Never throws: `code` 0
 * on success, else the HTTP status, and `out` the Status message (what kubectl would print).
 */
export async function apiCall(cfg: string, call: ApiCall): Promise<Run> {
  const kc = new KubeConfig();
  kc.loadFromFile(cfg);
  const url = new URL(`${kc.getCurrentCluster()!.server}${call.path}`);
  const opts: RequestOptions = {
    method: call.method,
    headers: { Accept: 'application/json', ...call.headers },
  };
  await kc.applyToHTTPSOptions(opts);
  const body = call.body === undefined ? undefined : JSON.stringify(call.body);
  return new Promise((resolve) => {
    const req = request(url, { ...opts, timeout: 15_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const status = res.statusCode ?? 0;
        const ok = status >= 200 && status < 300;
        resolve({ code: ok ? 0 : status, out: ok ? text : statusMessage(text) });
      });
    });
    req.on('error', (err) => resolve({ code: -1, out: `error: ${err.message}` }));
    req.end(body);
  });
}

function statusMessage(text: string): string {
  try {
    return (JSON.parse(text) as { message?: string }).message ?? text;
  } catch {
    return text;
  }
}

/** Impersonation headers (what `kubectl --as --as-group --as-user-extra` sends). */
export function impersonate(
  user: string,
  groups: string[] = [],
  extra: Record<string, string> = {},
): Record<string, string> {
  const h: Record<string, string> = { 'Impersonate-User': user };
  if (groups[0] !== undefined) h['Impersonate-Group'] = groups[0];
  for (const [k, v] of Object.entries(extra)) h[`Impersonate-Extra-${encodeURIComponent(k)}`] = v;
  return h;
}

/** A kubeconfig (file) that authenticates with a bearer token. */
export function tokenKubeconfig(
  file: string,
  o: { server: string; caFile: string; token: string; namespace?: string },
): string {
  return writeKubeconfig(file, {
    server: o.server,
    caFile: o.caFile,
    userName: 'bearer',
    user: { token: o.token },
    namespace: o.namespace,
  });
}

export interface JoinOutcome {
  /** The peer sealed the colony secret to the caller (it was zeroed at once). */
  obtained: boolean;
  /** `<refusal code>: <reason>` or the fingerprint of what was obtained. */
  detail: string;
}

export interface JoinTry {
  peer: string;
  colonyUID: string;
  publicKey: string;
  token: string;
  localAddress?: string;
  joinKey?: JoinKey;
}

/** One join through the project's client against one peer; a secret obtained is zeroed at once. */
export async function tryJoin(t: JoinTry): Promise<JoinOutcome> {
  try {
    const { secret } = await joinColony({
      peers: [t.peer],
      colonyUID: t.colonyUID,
      expectedPublicKey: t.publicKey,
      token: () => t.token,
      localAddress: t.localAddress,
      joinKey: t.joinKey,
    });
    const detail = `SECRET OBTAINED (fingerprint ${secret.fingerprint})`;
    secret.zero();
    return { obtained: true, detail };
  } catch (err) {
    if (!(err instanceof JoinFailed)) throw err;
    const a = err.attempts[0];
    return { obtained: false, detail: a ? `${a.code}: ${a.reason}` : 'no attempt' };
  }
}
