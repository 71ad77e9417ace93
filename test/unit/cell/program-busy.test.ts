// The program port is open to every source and shares the cell's event loop with the join port and its
// probes: beyond MAX_PROGRAM_IN_FLIGHT requests at once, more are refused at once (503, Retry-After),
// so a flood queues no work and cannot hold a health check past the kubelet's probe timeout.
import { describe, expect, it } from '@jest/globals';
import { defineProgram, type ProgramContext } from '../../../src/cell/program.js';
import { MAX_PROGRAM_IN_FLIGHT, ProgramServer } from '../../../src/cell/program-host.js';

describe('program server under a flood', () => {
  it(`serves ${MAX_PROGRAM_IN_FLIGHT} requests at once and refuses the next with 503 until one ends`, async () => {
    const release: Array<() => void> = [];
    const program = defineProgram({
      name: 'slow',
      routes: {
        'GET /slow': () =>
          new Promise((resolve) => release.push(() => resolve({ status: 200, body: { ok: true } }))),
      },
    });
    const server = new ProgramServer(program, {} as ProgramContext);
    const { port } = await server.listen(0, '127.0.0.1');
    const url = `http://127.0.0.1:${port}/slow`;
    try {
      const held = Array.from({ length: MAX_PROGRAM_IN_FLIGHT }, () => fetch(url));
      while (release.length < MAX_PROGRAM_IN_FLIGHT) await new Promise((r) => setTimeout(r, 10));
      const refused = await fetch(url);
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toBe('1');
      expect(await refused.json()).toEqual({ error: 'busy: too many program requests at once; retry' });
      release.shift()!();
      expect((await held[0]!).status).toBe(200);
      // A slot is free again: the next request is served.
      const next = fetch(url);
      while (release.length < MAX_PROGRAM_IN_FLIGHT) await new Promise((r) => setTimeout(r, 10));
      for (const r of release.splice(0)) r();
      expect((await next).status).toBe(200);
      expect((await Promise.all(held.slice(1))).map((r) => r.status)).toEqual(
        Array<number>(MAX_PROGRAM_IN_FLIGHT - 1).fill(200),
      );
    } finally {
      await server.close();
    }
  });
});
