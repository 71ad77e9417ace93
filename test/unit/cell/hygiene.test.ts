import { describe, expect, it } from '@jest/globals';

import { installSecretHygiene, interpretDumpState } from '../../../src/cell/hygiene.js';
import { ColonySecret } from '../../../src/cell/secret.js';

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
