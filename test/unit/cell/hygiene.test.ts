import { describe, expect, it } from '@jest/globals';
import { Writable } from 'node:stream';

import {
  installSecretHygiene,
  interpretDumpState,
  memoryHygieneProblems,
  swapActive,
  type HygieneInputs,
} from '../../../src/cell/hygiene.js';
import { FatalCellError, hardenedValue, memoryGate } from '../../../src/cell/run.js';
import { ColonySecret } from '../../../src/cell/secret.js';
import { createLogger } from '../../../src/observability/logger.js';

const limits = (v: string) =>
  `Limit Soft Limit Hard Limit Units\nMax core file size        ${v}            unlimited            bytes\n`;

describe('interpretDumpState', () => {
  it.each<[string, string | undefined, string | undefined, boolean]>([
    ['core limit 0', limits('0'), 'core', true],
    ['unlimited, pattern discards', limits('unlimited'), '|/bin/false\n', true],
    ['unlimited, file pattern', limits('unlimited'), 'core', false],
    ['unreadable', undefined, undefined, false],
  ])('%s', (_n, l, p, off) => {
    expect(interpretDumpState(l, p).dumpsOff).toBe(off);
  });
});

it('SIGTERM wipes the secret and exits', () => {
  const secret = ColonySecret.generate('ed25519');
  const codes: number[] = [];
  const uninstall = installSecretHygiene(
    () => [secret],
    undefined,
    (c) => codes.push(c),
  );
  process.emit('SIGTERM', 'SIGTERM');
  uninstall();
  expect(secret.zeroed).toBe(true);
  expect(codes).toEqual([0]);
});

const SWAPS_HEADER = 'Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n';

describe('swapActive', () => {
  it.each<[string, string | undefined, boolean]>([
    ['header only', SWAPS_HEADER, false],
    ['header, trailing blank line', `${SWAPS_HEADER}\n`, false],
    ['one swap file', `${SWAPS_HEADER}/swapfile  file  2097148  0  -2\n`, true],
    ['zram device', `${SWAPS_HEADER}/dev/zram0 partition 4194300 0 100\n`, true],
    ['unreadable', undefined, false],
  ])('%s', (_n, text, on) => {
    expect(swapActive(text)).toBe(on);
  });
});

describe('memoryHygieneProblems', () => {
  const good: HygieneInputs = {
    execArgv: ['--disable-sigusr1'],
    nodeOptions: undefined,
    dump: interpretDumpState(limits('0'), 'core'),
    procSwaps: SWAPS_HEADER,
  };
  it.each<[string, Partial<HygieneInputs>, RegExp[]]>([
    ['everything in order', {}, []],
    ['empty NODE_OPTIONS is fine', { nodeOptions: '' }, []],
    ['no --disable-sigusr1', { execArgv: [] }, [/--disable-sigusr1/]],
    [
      '--inspect',
      { execArgv: ['--disable-sigusr1', '--inspect=0.0.0.0:9229'] },
      [/inspector flags: --inspect=0.0.0.0:9229/],
    ],
    ['--inspect-brk', { execArgv: ['--disable-sigusr1', '--inspect-brk'] }, [/--inspect-brk/]],
    ['NODE_OPTIONS set', { nodeOptions: '--require /tmp/x.js' }, [/NODE_OPTIONS is set/]],
    [
      'core dumps possible',
      { dump: interpretDumpState(limits('unlimited'), 'core') },
      [/core dumps may be written/],
    ],
    ['swap on', { procSwaps: `${SWAPS_HEADER}/swapfile file 1 0 -2\n` }, [/swap is on: Node cannot mlock/]],
    ['swap unknown', { procSwaps: undefined }, [/\/proc\/swaps is unreadable/]],
    [
      'several at once',
      { execArgv: ['--inspect'], nodeOptions: '--inspect' },
      [/--disable-sigusr1/, /inspector flags/, /NODE_OPTIONS/],
    ],
  ])('%s', (_n, patch, want) => {
    const problems = memoryHygieneProblems({ ...good, ...patch });
    expect(problems).toHaveLength(want.length);
    want.forEach((re, i) => expect(problems[i]).toMatch(re));
  });
});

describe('memoryGate', () => {
  const bad: HygieneInputs = {
    execArgv: [],
    nodeOptions: undefined,
    dump: interpretDumpState(limits('0'), 'core'),
    procSwaps: SWAPS_HEADER,
  };
  it('refuses to hold the secret on a colony that requires hardened nodes', () => {
    expect(() => memoryGate(true, bad, createLogger({ level: 'silent' }))).toThrow(FatalCellError);
    expect(() => memoryGate(true, bad, createLogger({ level: 'silent' }))).toThrow(
      /may not hold the colony secret: node was not started with --disable-sigusr1/,
    );
  });

  it('only warns on an unhardened (development) colony', () => {
    const lines: string[] = [];
    const logger = createLogger({
      level: 'warn',
      destination: new Writable({
        write(chunk: Buffer, _e, cb): void {
          lines.push(chunk.toString());
          cb();
        },
      }),
    });
    expect(() => memoryGate(false, bad, logger)).not.toThrow();
    expect(lines.join('')).toMatch(/memory hygiene is not met/);
  });
});

describe('hardenedValue', () => {
  it.each<[string | undefined, boolean]>([
    ['abc123def456', true],
    ['true', false],
    ['sha256:abc', false],
    ['ABC123DEF456', false],
    ['', false],
    ['false', false],
    [undefined, false],
  ])('%s → %s', (v, want) => {
    expect(hardenedValue(v)).toBe(want);
  });
});
