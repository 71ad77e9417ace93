import { describe, expect, it } from '@jest/globals';
import { buildCellDisruptionBudget, disruptionBudgetName } from '../../../src/builders/disruption-budget.js';
import { cellPodSelector } from '../../../src/builders/network-policy.js';
import { buildCellPod } from '../../../src/builders/pod.js';
import { cell, colony } from '../../fixtures/objects.js';

describe('buildCellDisruptionBudget', () => {
  it('is named after the colony, in its namespace, owned by it', () => {
    const pdb = buildCellDisruptionBudget(colony());
    expect(pdb).toMatchObject({ apiVersion: 'policy/v1', kind: 'PodDisruptionBudget' });
    expect(pdb.metadata).toMatchObject({
      name: 'lottery-cells',
      namespace: 'ns',
      ownerReferences: [{ kind: 'Colony', name: 'lottery', uid: 'colony-uid', controller: true }],
    });
  });

  it.each([1, 3, 5])('keeps spec.replicas=%i cell pods Ready through evictions', (replicas) => {
    const pdb = buildCellDisruptionBudget(colony((c) => (c.spec.replicas = replicas)));
    expect(pdb.spec?.minAvailable).toBe(replicas);
    expect(pdb.spec?.maxUnavailable).toBeUndefined();
    // A stalled holder may be evicted only while the budget is met by Ready cells.
    expect(pdb.spec?.unhealthyPodEvictionPolicy).toBe('IfHealthyBudget');
  });

  it("selects exactly the colony's cell pods (the NetworkPolicy's selector)", () => {
    const col = colony();
    const pdb = buildCellDisruptionBudget(col);
    expect(pdb.spec?.selector).toEqual(cellPodSelector('lottery'));
    const labels = buildCellPod(col, cell(col, 2, 'n1')).metadata?.labels ?? {};
    for (const [k, v] of Object.entries(pdb.spec?.selector?.matchLabels ?? {})) expect(labels[k]).toBe(v);
    for (const e of pdb.spec?.selector?.matchExpressions ?? []) expect(labels).toHaveProperty([e.key]);
  });

  it('shortens long names with a stable hash', () => {
    const long = 'c'.repeat(63);
    expect(disruptionBudgetName(long).length).toBeLessThanOrEqual(63);
    expect(disruptionBudgetName(long)).toBe(disruptionBudgetName(long));
  });

  it.each([
    ['no namespace', (c: ReturnType<typeof colony>) => delete c.metadata.namespace, /metadata.namespace/],
    ['zero replicas', (c: ReturnType<typeof colony>) => (c.spec.replicas = 0), /spec.replicas .* got 0/],
    ['fractional replicas', (c: ReturnType<typeof colony>) => (c.spec.replicas = 1.5), /got 1.5/],
  ])('refuses a colony with %s', (_what, mod, message) => {
    expect(() => buildCellDisruptionBudget(colony(mod))).toThrow(message);
  });
});
