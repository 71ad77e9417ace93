// The operator binary (dist/src/main.js) as a Deployment runs it, with the API server unreachable:
// it must stay up (health answering, readiness failing) until it can sync, never exit silently.
// Found by the chaos suite (test/system): the runtime's timers are unref'd, so once the API server's
// sockets closed nothing kept Node's event loop alive and every replica exited without a log line.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

const HEALTH = '127.0.0.1:19475';
const METRICS = '127.0.0.1:19474';
let child: ChildProcess | undefined;
let exited: number | null | undefined;
const output: string[] = [];

/** A kubeconfig naming an API server nobody listens on. */
function unreachableKubeconfig(): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'celula-op-')), 'kubeconfig');
  writeFileSync(
    file,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]',
      'users: [{name: u, user: {token: not-a-token}}]',
      'contexts: [{name: c, context: {cluster: c, user: u}}]',
      'current-context: c',
    ].join('\n'),
  );
  return file;
}

async function status(url: string): Promise<number> {
  const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
  return res.status;
}

beforeAll(() => {
  spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], {
    stdio: 'ignore',
  });
  if (!existsSync('dist/src/main.js')) throw new Error('dist/src/main.js is missing: the build failed');
  const args = ['dist/src/main.js', '--kubeconfig', unreachableKubeconfig(), '--health-addr', HEALTH];
  child = spawn(process.execPath, [...args, '--metrics-addr', METRICS], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (b: Buffer) => output.push(b.toString('utf8')));
  child.stderr?.on('data', (b: Buffer) => output.push(b.toString('utf8')));
  child.on('exit', (code) => (exited = code));
});

afterAll(() => {
  child?.kill('SIGTERM');
});

describe('the operator process with the API server unreachable', () => {
  it('stays up, answers /healthz, is not ready, and says it is waiting', async () => {
    // Up to 30 s for the process to listen (a loaded machine starts Node slowly), and 5 s more up.
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && exited === undefined) {
      if ((await status(`http://${HEALTH}/healthz`).catch(() => 0)) === 200) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    await new Promise((r) => setTimeout(r, 5000));
    expect({ exited, output: exited === undefined ? '' : output.join('') }).toEqual({
      exited: undefined,
      output: '',
    });
    expect(await status(`http://${HEALTH}/healthz`)).toBe(200);
    expect(await status(`http://${HEALTH}/readyz`)).toBe(503);
    expect(await status(`http://${METRICS}/metrics`)).toBe(200);
    expect(output.join('')).toContain('waiting for the caches to sync');
  }, 60_000);
});
