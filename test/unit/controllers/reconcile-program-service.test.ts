// The program Service (issue 13) is the colony's: made when missing, taken back when its selector or
// ports are changed, and a Service of that name made by someone else is reported, not fought over.
import { describe, expect, it } from '@jest/globals';
import type { V1Service } from '@kubernetes/client-node';
import { buildProgramService } from '../../../src/builders/program-service.js';
import { reconcileColony } from '../../../src/controllers/colony.js';
import { colony, lease, node } from '../../fixtures/objects.js';
import { memoryContext, type MemoryContext } from '../../support/memory-context.js';

const T0 = new Date('2026-01-01T00:10:00Z');
const withProgram = colony((c) => (c.spec.program = { module: '/app/program.js', port: 8080 }));

function world(service?: V1Service): MemoryContext {
  const m = memoryContext({ now: T0 });
  m.world.colonies.put(withProgram);
  m.world.nodes.put(node('n1'));
  m.world.nodeLeases.put(lease('n1', T0, 1));
  if (service) m.world.services.put(service);
  return m;
}

const serviceApplies = (m: MemoryContext): number =>
  m.writer.of('apply').filter((a) => a.kind === 'Service').length;

describe('the program Service', () => {
  it('is made when missing, and left alone when it is as built', async () => {
    const m = world();
    await reconcileColony(m.ctx, 'ns/lottery');
    expect(serviceApplies(m)).toBe(1);
    m.writer.writes.length = 0;
    await reconcileColony(m.ctx, 'ns/lottery');
    expect(serviceApplies(m)).toBe(0);
  });

  it('is taken back when someone widened its selector', async () => {
    const edited = buildProgramService(withProgram);
    edited.spec!.selector = { app: 'anything' };
    const m = world(edited);
    await reconcileColony(m.ctx, 'ns/lottery');
    expect(serviceApplies(m)).toBe(1);
  });

  it("is reported, not applied over, when a Service of its name is someone else's", async () => {
    const squatted = buildProgramService(withProgram);
    squatted.metadata!.ownerReferences = [];
    squatted.spec!.selector = { app: 'attacker' };
    const m = world(squatted);
    await reconcileColony(m.ctx, 'ns/lottery');
    expect(serviceApplies(m)).toBe(0);
    expect(m.writer.of('event').map((e) => e.reason)).toContain('ProgramServiceTaken');
  });
});
