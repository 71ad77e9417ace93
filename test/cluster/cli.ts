// celula local cluster CLI: `up` (idempotent; last stdout line is KUBECONFIG=<path>), `down`, `demo`.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ControlPlane, defaultStateDir, stopStateDir } from './controlplane.js';
import { runDemo } from './demo.js';

const HELP = `usage: node dist/test/cluster/cli.js <command> [options]

commands:
  up      start the local control plane (or reuse the recorded one when it is healthy);
          the last line printed is KUBECONFIG=<path of the admin kubeconfig>
  down    stop every process recorded in the state dir (idempotent)
  demo    run the demo
  help    this text

options:
  --state <dir>     state dir (default: $CELULA_CACHE/cluster = ${defaultStateDir()})
  --nodes <n>       up: ensure kwok nodes kwok-node-0..n-1 exist (default 0)
  --no-controller-manager, --no-scheduler
                    up: do not start that component
  --fresh           up: always start a new cluster (stops and wipes the recorded one)
`;

export interface UpOptions {
  stateDir?: string;
  nodes?: number;
  controllerManager?: boolean;
  scheduler?: boolean;
  fresh?: boolean;
  log?: (line: string) => void;
}

const stderrLog = (line: string): void => {
  process.stderr.write(`[cluster] ${line}\n`);
};

/** Reuses the recorded cluster when it is healthy, else starts a new one; adds missing nodes. */
export async function up(opts: UpOptions = {}): Promise<ControlPlane> {
  const stateDir = path.resolve(opts.stateDir ?? defaultStateDir());
  const log = opts.log ?? stderrLog;
  let cp = opts.fresh ? undefined : await reuse(stateDir);
  if (cp) log(`reusing the cluster in ${stateDir} (${cp.server})`);
  cp ??= await ControlPlane.start({
    stateDir,
    controllerManager: opts.controllerManager,
    scheduler: opts.scheduler,
    stopOnExit: false,
    log,
  });
  for (let i = 0; i < (opts.nodes ?? 0); i++) await ensureNode(cp, `kwok-node-${i}`);
  return cp;
}

async function reuse(stateDir: string): Promise<ControlPlane | undefined> {
  if (!fs.existsSync(path.join(stateDir, 'cluster.json'))) return undefined;
  const cp = ControlPlane.attach(stateDir);
  return (await cp.healthy()) ? cp : undefined;
}

async function ensureNode(cp: ControlPlane, name: string): Promise<void> {
  if (!cp.nodeNames().includes(name)) return cp.addNode(name);
  if (cp.heartbeating(name)) return;
  await cp.resumeHeartbeat(name);
  await cp.waitNodeReady(name);
}

/** Stops everything recorded in the state dir. Idempotent. */
export async function down(stateDir: string = defaultStateDir()): Promise<void> {
  await stopStateDir(path.resolve(stateDir));
}

interface ParsedArgs {
  command: string;
  up: UpOptions;
}

function parseArgs(argv: string[]): ParsedArgs {
  const out: ParsedArgs = { command: 'help', up: {} };
  const rest = [...argv];
  const flags: Record<string, () => void> = {
    '--state': () => (out.up.stateDir = rest.shift()),
    '--nodes': () => (out.up.nodes = Number(rest.shift())),
    '--no-controller-manager': () => (out.up.controllerManager = false),
    '--no-scheduler': () => (out.up.scheduler = false),
    '--fresh': () => (out.up.fresh = true),
    '--help': () => (out.command = 'help'),
    '-h': () => (out.command = 'help'),
  };
  let seenCommand = false;
  while (rest.length > 0) {
    const arg = rest.shift()!;
    const flag = flags[arg];
    if (flag) flag();
    else if (!seenCommand && !arg.startsWith('-')) [out.command, seenCommand] = [arg, true];
    else throw new Error(`unknown argument ${arg}\n\n${HELP}`);
  }
  if (out.up.nodes !== undefined && !(Number.isInteger(out.up.nodes) && out.up.nodes >= 0)) {
    throw new Error('--nodes needs a non-negative integer');
  }
  return out;
}

export async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  switch (args.command) {
    case 'up': {
      const cp = await up(args.up);
      process.stdout.write(`KUBECONFIG=${cp.adminKubeconfig}\n`);
      return 0;
    }
    case 'down':
      await down(args.up.stateDir);
      stderrLog('stopped');
      return 0;
    case 'demo':
      await runDemo();
      return 0;
    case 'help':
      process.stdout.write(HELP);
      return 0;
    default:
      process.stderr.write(`unknown command ${args.command}\n\n${HELP}`);
      return 2;
  }
}

const invoked =
  process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href;
if (invoked) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
