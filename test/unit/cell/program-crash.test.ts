// Found by the attacker review (session 3): what a buggy program's reply does to the cell process. ProgramServer used to
// send the reply in the fulfilment handler of `#handle(...).then(send, destroy)`
// (src/cell/program-host.ts): when `send` threw — a body JSON.stringify cannot serialise (a BigInt),
// a route that returns no reply object, a status writeHead refuses — the promise `.then` returned
// rejected with no handler, and Node 24 ended the process (src/ installs no 'unhandledRejection'
// handler). A cell that ends has lost the secret for good (restartPolicy Never; a restarted process
// cannot rejoin), so one request per cell from any client the NetworkPolicy lets reach the program
// port could make a colony Lost. Measured before the fix: each of the three routes ended the host
// with exit code 1. Now the reply is checked inside the route's try (`wire`): a 500, and the process
// keeps running. The server runs in a child process, as in a cell.
import { describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import * as path from 'node:path';

const HOST = path.resolve('test/fixtures/program/buggy-program-host.ts');
const RESOLVE = path.resolve('test/fixtures/program/ts-resolve.mjs');

interface Outcome {
  reply: string;
  exitCode: number | null;
  stderr: string;
}

/** Starts the host, calls `route`, then waits up to 2 s for the process to end (it is killed if not). */
async function hit(route: string): Promise<Outcome> {
  const child = spawn(
    process.execPath,
    ['--experimental-transform-types', '--no-warnings', '--import', RESOLVE, HOST],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const port = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /port (\d+)/.exec(out);
      if (m?.[1]) resolve(m[1]);
    });
    void exited.then(() => reject(new Error(`host ended before listening: ${stderr}`)));
  });
  let reply: string;
  try {
    const res = await fetch(`http://127.0.0.1:${port}${route}`, { signal: AbortSignal.timeout(3_000) });
    reply = `HTTP ${res.status}`;
  } catch (err) {
    reply = `no reply (${err instanceof Error ? err.message : 'error'})`;
  }
  const timer = setTimeout(() => child.kill('SIGKILL'), 2_000);
  const exitCode = await exited;
  clearTimeout(timer);
  return { reply, exitCode, stderr };
}

describe('a buggy program reply is a 500, not the end of the cell process', () => {
  it('control: a well-formed reply is served and the process keeps running', async () => {
    const o = await hit('/ok');
    expect(o.reply).toBe('HTTP 200');
    expect(o.exitCode).toBeNull(); // still running after 2 s: killed by the test
  });

  it.each(['/bigint', '/nothing', '/badstatus'])(
    '%s: the caller gets a 500 and the process keeps running',
    async (route) => {
      const o = await hit(route);
      console.log(`${route}: ${o.reply}; exit code ${o.exitCode} (null: still running after 2 s)`);
      expect(o.reply).toBe('HTTP 500');
      expect(o.exitCode).toBeNull();
      expect(o.stderr).toBe('');
    },
  );
});
