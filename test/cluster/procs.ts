// Process plumbing for the local control plane: spawn detached process groups with logs in the
// state dir, record their pids on disk (so another process can stop them), probe ports and health.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as net from 'node:net';
import * as path from 'node:path';

/** What a pid file records; `bin` guards against killing an unrelated process that reused the pid. */
export interface PidRecord {
  pid: number;
  bin: string;
  args: string[];
  startedAt: string;
}

export interface SpawnSpec {
  /** Component name: names the log file (`<state>/logs/<name>.log`) and pid file. */
  name: string;
  bin: string;
  args: string[];
  stateDir: string;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function pidDir(stateDir: string): string {
  return path.join(stateDir, 'pids');
}

export function logPath(stateDir: string, name: string): string {
  return path.join(stateDir, 'logs', `${name}.log`);
}

/** The last `lines` lines of a component's log, for error messages. */
export function logTail(stateDir: string, name: string, lines = 25): string {
  try {
    const text = fs.readFileSync(logPath(stateDir, name), 'utf8');
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * Starts a component in its own process group (detached, stdio to its log file, unref'd so the
 * caller may exit) and records its pid. The process outlives the caller until stopped.
 */
export function spawnComponent(spec: SpawnSpec): PidRecord {
  fs.mkdirSync(path.join(spec.stateDir, 'logs'), { recursive: true });
  fs.mkdirSync(pidDir(spec.stateDir), { recursive: true });
  const fd = fs.openSync(logPath(spec.stateDir, spec.name), 'a');
  fs.writeSync(fd, `\n==== ${new Date().toISOString()} ${spec.bin} ${spec.args.join(' ')}\n`);
  try {
    const child = spawn(spec.bin, spec.args, { detached: true, stdio: ['ignore', fd, fd] });
    if (child.pid === undefined) throw new Error(`cannot spawn ${spec.bin}`);
    child.on('error', () => undefined);
    // How it ended, in its log, while the process that started it lives (a kill leaves no line of its own).
    const logFile = logPath(spec.stateDir, spec.name);
    child.on('exit', (code, signal) => {
      try {
        fs.appendFileSync(
          logFile,
          `==== ${new Date().toISOString()} exited: code ${code} signal ${signal}\n`,
        );
      } catch {
        // The state dir is gone (stopped and wiped): nothing to record.
      }
    });
    child.unref();
    const rec: PidRecord = {
      pid: child.pid,
      bin: spec.bin,
      args: spec.args,
      startedAt: new Date().toISOString(),
    };
    fs.writeFileSync(path.join(pidDir(spec.stateDir), `${spec.name}.pid`), JSON.stringify(rec));
    return rec;
  } finally {
    fs.closeSync(fd);
  }
}

export function readPid(stateDir: string, name: string): PidRecord | undefined {
  try {
    const file = path.join(pidDir(stateDir), `${name}.pid`);
    return JSON.parse(fs.readFileSync(file, 'utf8')) as PidRecord;
  } catch {
    return undefined;
  }
}

/** All recorded components of a state dir, by name. */
export function listPids(stateDir: string): Map<string, PidRecord> {
  const out = new Map<string, PidRecord>();
  let files: string[];
  try {
    files = fs.readdirSync(pidDir(stateDir));
  } catch {
    return out;
  }
  for (const f of files.filter((x) => x.endsWith('.pid'))) {
    const name = f.slice(0, -'.pid'.length);
    const rec = readPid(stateDir, name);
    if (rec) out.set(name, rec);
  }
  return out;
}

/** True when the recorded process still runs (not a zombie) and is still the binary we started. */
export function isAlive(rec: PidRecord): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${rec.pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (state === 'Z' || state === 'X') return false;
    const cmdline = fs.readFileSync(`/proc/${rec.pid}/cmdline`, 'utf8');
    // Empty for a process whose new arguments are not in place yet (still inside execve; a guess at
    // a CI flake, not seen here): counted as ours. A zombie was ruled out above.
    if (cmdline === '') return true;
    return (cmdline.split('\0')[0] ?? '') === rec.bin;
  } catch {
    return false;
  }
}

function signalGroup(rec: PidRecord, sig: NodeJS.Signals): void {
  try {
    process.kill(-rec.pid, sig);
  } catch {
    try {
      process.kill(rec.pid, sig);
    } catch {
      // already gone
    }
  }
}

/** SIGTERM the process group, SIGKILL it after `graceMs`; resolves when it is gone. */
export async function stopProcess(rec: PidRecord, graceMs = 5000): Promise<void> {
  if (!isAlive(rec)) return;
  signalGroup(rec, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (isAlive(rec) && Date.now() < deadline) await sleep(50);
  if (isAlive(rec)) signalGroup(rec, 'SIGKILL');
  while (isAlive(rec)) await sleep(20);
}

/** Stops one recorded component and removes its pid file. */
export async function stopComponent(stateDir: string, name: string, graceMs?: number): Promise<void> {
  const rec = readPid(stateDir, name);
  if (rec) await stopProcess(rec, graceMs);
  fs.rmSync(path.join(pidDir(stateDir), `${name}.pid`), { force: true });
}

/** Synchronous last resort (exit and signal handlers): SIGKILL every recorded process group. */
export function killAllSync(stateDir: string): void {
  for (const rec of listPids(stateDir).values()) {
    if (isAlive(rec)) signalGroup(rec, 'SIGKILL');
  }
}

/** A currently free loopback TCP port. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface TlsProbe {
  url: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  /** For components that serve a self-signed cert (controller-manager, scheduler). */
  insecure?: boolean;
}

/** GET a URL over TLS; resolves with status and body, never rejects (status 0 on errors). */
export function httpsGet(probe: TlsProbe, timeoutMs = 2000): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = https.get(
      probe.url,
      {
        ca: probe.ca,
        cert: probe.cert,
        key: probe.key,
        rejectUnauthorized: !probe.insecure,
        timeout: timeoutMs,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ status: 0, body: String(e) }));
  });
}

/** Polls `check` until it returns true; throws `onTimeout()` after `timeoutMs`. */
export async function waitUntil(
  check: () => Promise<boolean> | boolean,
  timeoutMs: number,
  onTimeout: () => Error,
  intervalMs = 100,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw onTimeout();
    await sleep(intervalMs);
  }
}
