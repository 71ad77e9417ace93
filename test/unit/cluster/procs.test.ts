// The local control plane's process records (test/cluster/procs.ts): how a component ended is in its log.
import { describe, expect, it } from '@jest/globals';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { isAlive, spawnComponent } from '../../cluster/procs.js';

const until = async (check: () => boolean, ms: number): Promise<boolean> => {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return check();
};

describe('spawnComponent', () => {
  it('records in its log how the component ended, and isAlive says it is gone', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'celula-procs-'));
    try {
      const rec = spawnComponent({ name: 'quitter', bin: '/bin/sh', args: ['-c', 'exit 3'], stateDir: dir });
      const log = path.join(dir, 'logs', 'quitter.log');
      expect(await until(() => fs.readFileSync(log, 'utf8').includes('exited:'), 5000)).toBe(true);
      expect(fs.readFileSync(log, 'utf8')).toMatch(/==== \S+ exited: code 3 signal null\n$/);
      expect(isAlive(rec)).toBe(false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('isAlive: a running component is alive; killed, its log says by which signal', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'celula-procs-'));
    try {
      const rec = spawnComponent({ name: 'sleeper', bin: '/bin/sleep', args: ['30'], stateDir: dir });
      expect(isAlive(rec)).toBe(true);
      process.kill(rec.pid, 'SIGKILL');
      const log = path.join(dir, 'logs', 'sleeper.log');
      expect(await until(() => fs.readFileSync(log, 'utf8').includes('exited:'), 5000)).toBe(true);
      expect(fs.readFileSync(log, 'utf8')).toContain('exited: code null signal SIGKILL');
      expect(isAlive(rec)).toBe(false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
