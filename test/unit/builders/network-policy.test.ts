import { describe, expect, it } from '@jest/globals';
import {
  buildCellNetworkPolicy,
  cellPodSelector,
  networkPolicyName,
} from '../../../src/builders/network-policy.js';
import { buildCellPod, CELL_PORT } from '../../../src/builders/pod.js';
import { cell, colony } from '../../fixtures/objects.js';

/** Does a label selector (matchLabels, In/Exists/DoesNotExist) select these labels? */
function selects(
  sel: ReturnType<typeof cellPodSelector>,
  labels: Record<string, string> | undefined,
): boolean {
  const l = labels ?? {};
  const byLabels = Object.entries(sel.matchLabels ?? {}).every(([k, v]) => l[k] === v);
  const byExprs = (sel.matchExpressions ?? []).every((e) =>
    e.operator === 'Exists'
      ? e.key in l
      : e.operator === 'In'
        ? (e.values ?? []).includes(l[e.key] ?? '')
        : false,
  );
  return byLabels && byExprs;
}

describe('buildCellNetworkPolicy', () => {
  const col = colony();
  const np = buildCellNetworkPolicy(col);

  it('is named after the colony, in its namespace, owned by it', () => {
    expect(np.metadata).toMatchObject({
      name: 'lottery-cells',
      namespace: 'ns',
      ownerReferences: [{ kind: 'Colony', name: 'lottery', uid: 'colony-uid', controller: true }],
    });
  });

  it('admits ingress to the cell port only, only from the colony own cell pods, and leaves egress open', () => {
    // `_from` is client-node's model name for the wire's `from` (its serializer maps it on apply).
    expect(np.spec).toEqual({
      podSelector: cellPodSelector('lottery'),
      policyTypes: ['Ingress'],
      ingress: [
        {
          _from: [{ podSelector: cellPodSelector('lottery') }],
          ports: [{ protocol: 'TCP', port: CELL_PORT }],
        },
      ],
    });
  });

  const rows = [
    [
      'a cell pod of the colony',
      buildCellPod(col, cell(col, 1, 'n1', undefined, false)).metadata?.labels,
      true,
    ],
    ['its genesis cell pod', buildCellPod(col, cell(col, 0, 'n1', undefined, true)).metadata?.labels, true],
    [
      'a cell pod of another colony in the namespace',
      (() => {
        const other = colony((c) => (c.metadata.name = 'other'));
        return buildCellPod(other, cell(other, 0, 'n1', undefined, false)).metadata?.labels;
      })(),
      false,
    ],
    ['a pod with only the colony label', { 'celula.io/colony': 'lottery' }, false],
    ['an unlabelled pod', {}, false],
  ] as [string, Record<string, string> | undefined, boolean][];
  it.each(rows.map(([d, l, e]) => [d, e, l] as const))('its selector on %s → %s', (_d, expected, labels) => {
    expect(selects(cellPodSelector('lottery'), labels)).toBe(expected);
  });

  it('keeps long colony names within 63 characters, and stable', () => {
    const long = 'c'.repeat(63);
    expect(networkPolicyName(long).length).toBeLessThanOrEqual(63);
    expect(networkPolicyName(long)).toBe(networkPolicyName(long));
    expect(networkPolicyName(long)).not.toBe(networkPolicyName(`${'c'.repeat(62)}d`));
  });

  it('refuses a colony without a name or namespace, saying so', () => {
    expect(() => buildCellNetworkPolicy(colony((c) => delete c.metadata.namespace))).toThrow(
      'the colony needs metadata.name and metadata.namespace',
    );
  });
});
