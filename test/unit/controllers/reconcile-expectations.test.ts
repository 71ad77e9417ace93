// The colony controller never plans from a cache that has not caught up with its own creations, and
// never makes a genesis cell while the API server has cells of the colony its cache does not show:
// a second genesis cell would be a second secret (src/controllers/expectations.ts).
import { describe, expect, it } from '@jest/globals';
import { CACHE_WAIT_MS, reconcileColony } from '../../../src/controllers/colony.js';
import { CreateExpectations, EXPECTATION_TTL_MS } from '../../../src/controllers/expectations.js';
import { cell, colony, lease, node } from '../../fixtures/objects.js';
import { createdCells as created, memoryContext, type MemoryContext } from '../../support/memory-context.js';

const T0 = new Date('2026-01-01T00:10:00Z');

function fresh(): MemoryContext & { reconcile: () => ReturnType<typeof reconcileColony> } {
  const m = memoryContext({ now: T0 });
  m.world.colonies.put(colony());
  for (const n of ['n1', 'n2', 'n3']) {
    m.world.nodes.put(node(n));
    m.world.nodeLeases.put(lease(n, T0, 1));
  }
  const ctx = { ...m.ctx, expectations: new CreateExpectations() };
  return { ...m, reconcile: () => reconcileColony(ctx, 'ns/lottery') };
}

describe('colony reconcile with a cache behind its own creations', () => {
  it('makes one genesis cell while the cache does not show it, then goes on when it does', async () => {
    const m = fresh();
    m.writer.lagging.add('Cell');
    await m.reconcile();
    expect(created(m)).toEqual(['lottery-0@n1']);
    // Its own status write wakes it again before the Cells informer has the new cell.
    for (let i = 0; i < 3; i++) expect(await m.reconcile()).toEqual({ requeueAfter: CACHE_WAIT_MS });
    expect(created(m)).toEqual(['lottery-0@n1']);
    m.writer.catchUp();
    await m.reconcile();
    expect(created(m)).toEqual(['lottery-0@n1']);
  });

  it('gives up waiting for a creation that never shows (deleted at once) after the expectation expires', async () => {
    const m = fresh();
    m.writer.lagging.add('Cell');
    await m.reconcile();
    m.writer.heldBack.length = 0; // someone deleted it before the cache ever saw it
    m.world.liveCells.set('ns/lottery', []);
    m.clock.advance(EXPECTATION_TTL_MS);
    for (const n of ['n1', 'n2', 'n3']) m.world.nodeLeases.put(lease(n, m.clock.now(), 1));
    await m.reconcile();
    expect(created(m).map((c) => c.split('@')[0])).toEqual(['lottery-0', 'lottery-1']);
  });

  it('reads the colony cells live before a genesis cell, and makes none while the API server has cells the cache lacks', async () => {
    const m = fresh();
    const other = cell(m.world.colonies.get('ns', 'lottery')!, 0, 'n2', undefined, true);
    m.world.liveCells.set('ns/lottery', [other]);
    expect(await m.reconcile()).toEqual({ requeueAfter: CACHE_WAIT_MS });
    expect(created(m)).toEqual([]);
    expect(m.world.liveReads).toContain('cells/ns/lottery');
    // The cache catches up: the genesis cell is there, none is made.
    m.world.cells.put(other);
    m.world.liveCells.delete('ns/lottery');
    await m.reconcile();
    expect(created(m)).toEqual([]);
  });

  it('reads live only when it is about to make a genesis cell, not on every reconcile', async () => {
    const m = fresh();
    for (let i = 0; i < 4; i++) await m.reconcile();
    expect(created(m)).toEqual(['lottery-0@n1']);
    expect(m.world.liveReads.filter((r) => r.startsWith('cells/'))).toEqual(['cells/ns/lottery']);
  });
});
