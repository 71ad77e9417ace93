// Memory hygiene for the process that holds the secret.
//
// What pure Node can and cannot do (honestly):
// - prctl(PR_SET_DUMPABLE, 0) and setrlimit(RLIMIT_CORE, 0) are not reachable from Node without a
//   native addon; Node has no process.setrlimit. So core dumps and ptrace are closed off outside
//   the process: hijack.sh sets kernel.core_pattern to discard dumps, fs.suid_dumpable=0,
//   kernel.yama.ptrace_scope=3, and the pod runs non-root with drop ALL (no CAP_SYS_PTRACE) and
//   no exec/attach/debug (admission policies + kubelet handlers off).
// - We can check and report: /proc/self/limits ("Max core file size") and core_pattern, so a cell
//   on a node where dumps would be written says so in its log.
// - Node cannot mlock(2) (no binding, no native addon here): the secret's pages can be swapped out
//   like any other. So a cell refuses to hold the secret where swap is on (/proc/swaps lists a
//   device) or core dumps may be written, when its colony requires hardened nodes (on `existing`
//   nodes too); on an unhardened (development) colony it warns instead (memoryHygiene below).
// - Node's SIGUSR1 opens the inspector (which reads the whole heap): cells start with
//   --disable-sigusr1 and refuse any --inspect* flag and any NODE_OPTIONS.
// - We wipe the secret on SIGTERM/SIGINT and on exit, then exit. KeyObjects inside OpenSSL cannot
//   be wiped from JS; the process exiting returns that memory to the kernel, which zeroes pages
//   before reuse.
import { readFileSync } from 'node:fs';

import type { Logger } from '../observability/logger.js';

export interface DumpReport {
  /** Soft limit of RLIMIT_CORE as reported by /proc/self/limits ("0", "unlimited", …). */
  coreLimit: string | undefined;
  corePattern: string | undefined;
  /** True when we can tell dumps are off (limit 0, or the pattern discards them). */
  dumpsOff: boolean;
}

function readOr(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Pure: interpret /proc/self/limits and core_pattern contents. */
export function interpretDumpState(limits: string | undefined, pattern: string | undefined): DumpReport {
  const line = limits?.split('\n').find((l) => l.startsWith('Max core file size'));
  const coreLimit = line?.slice('Max core file size'.length).trim().split(/\s+/)[0];
  const corePattern = pattern?.trim();
  const discarding =
    corePattern === '|/bin/false' || corePattern === '|/bin/true' || corePattern === '/dev/null';
  return { coreLimit, corePattern, dumpsOff: coreLimit === '0' || discarding };
}

export function dumpReport(): DumpReport {
  return interpretDumpState(readOr('/proc/self/limits'), readOr('/proc/sys/kernel/core_pattern'));
}

/** Pure: true when /proc/swaps lists at least one active swap area (its first line is a header). */
export function swapActive(procSwaps: string | undefined): boolean {
  if (procSwaps === undefined) return false;
  return procSwaps
    .split('\n')
    .slice(1)
    .some((l) => l.trim() !== '');
}

/** What the memory-hygiene gate looks at; gathered by hygieneInputs(), injected in tests. */
export interface HygieneInputs {
  execArgv: readonly string[];
  nodeOptions: string | undefined;
  dump: DumpReport;
  /** Contents of /proc/swaps (undefined when unreadable: treated as unknown, i.e. not proven off). */
  procSwaps: string | undefined;
}

/** Pure: every reason this process may not hold the secret; empty when its memory stays in memory. */
export function memoryHygieneProblems(i: HygieneInputs): string[] {
  const inspect = i.execArgv.filter((a) => /^--inspect/.test(a) || a.startsWith('--debug'));
  const checks: [boolean, string][] = [
    [
      !i.execArgv.includes('--disable-sigusr1'),
      'node was not started with --disable-sigusr1 (SIGUSR1 opens the inspector)',
    ],
    [inspect.length > 0, `node was started with inspector flags: ${inspect.join(' ')}`],
    [(i.nodeOptions ?? '') !== '', 'NODE_OPTIONS is set (it could load code or open the inspector)'],
    [
      !i.dump.dumpsOff,
      `core dumps may be written (core limit ${i.dump.coreLimit ?? '?'}, pattern ${i.dump.corePattern ?? '?'})`,
    ],
    [i.procSwaps === undefined, '/proc/swaps is unreadable: swap cannot be shown to be off'],
    [swapActive(i.procSwaps), 'swap is on: Node cannot mlock, so the secret could be written to swap'],
  ];
  return checks.filter(([bad]) => bad).map(([, why]) => why);
}

export function hygieneInputs(): HygieneInputs {
  return {
    execArgv: process.execArgv,
    nodeOptions: process.env.NODE_OPTIONS,
    dump: dumpReport(),
    procSwaps: readOr('/proc/swaps'),
  };
}

export interface Wipeable {
  zero(): void;
}

/**
 * Wipe every holder on SIGTERM/SIGINT (then exit 0) and on process exit. Returns an uninstall
 * function (for tests). `exit` is injectable for tests.
 */
export function installSecretHygiene(
  holders: () => Wipeable[],
  logger?: Logger,
  exit: (code: number) => void = (code) => process.exit(code),
): () => void {
  const report = dumpReport();
  if (!report.dumpsOff) {
    logger?.warn(
      { coreLimit: report.coreLimit, corePattern: report.corePattern },
      'core dumps may be enabled on this node; hijack.sh turns them off',
    );
  }
  const wipe = (): void => {
    for (const h of holders()) h.zero();
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    wipe();
    logger?.info({ signal }, 'secret wiped; exiting');
    exit(0);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.on('exit', wipe);
  return () => {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    process.off('exit', wipe);
  };
}
