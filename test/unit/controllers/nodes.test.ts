// "Hardened" has one meaning for placement: the label value hijack.sh's digest prefix (isHardenedLabelValue).
import { describe, expect, it } from '@jest/globals';
import { LABELS } from '../../../src/api/types.js';
import {
  ineligibility,
  isHardened,
  leavingReason,
  MAINTENANCE_CONDITION,
} from '../../../src/controllers/nodes.js';
import { colony, node } from '../../fixtures/objects.js';

const labelled = (value: string): ReturnType<typeof node> =>
  node('n1', (n) => (n.metadata!.labels = { ...n.metadata!.labels, [LABELS.hardened]: value }));

describe('isHardened', () => {
  it.each([
    ['a digest prefix', 'abc123def456', true],
    ['true', 'true', false],
    ['false', 'false', false],
    ['empty', '', false],
    ['any other text', 'yes-really', false],
  ] as [string, string, boolean][])('label %s → %s', (_d, value, expected) => {
    expect(isHardened(labelled(value))).toBe(expected);
  });

  it('is false without the label', () => {
    expect(isHardened(node('n1'))).toBe(false);
  });
});

describe('ineligibility', () => {
  const adopt = colony((c) => (c.spec.nodes = { provider: 'adopt' }));
  it.each([
    ['a digest prefix', 'abc123def456', undefined],
    ['true (forged by hand)', 'true', 'not hardened'],
    ['empty', '', 'not hardened'],
  ] as [string, string, string | undefined][])(
    'for a hardened colony, a node labelled %s',
    (_d, value, why) => {
      expect(ineligibility(adopt, labelled(value))).toBe(why);
    },
  );

  it('does not ask an unhardened colony for the label', () => {
    expect(ineligibility(colony(), node('n1'))).toBeUndefined();
  });
});

describe('leavingReason (cordoned, draining or maintenance planned)', () => {
  const maintenance = (status: string) => (n: ReturnType<typeof node>) =>
    n.status!.conditions!.push({ type: MAINTENANCE_CONDITION, status });
  it.each([
    ['a Ready schedulable node', node('n1'), undefined, undefined],
    [
      'a cordoned node (kubectl cordon / drain)',
      node('n1', (n) => (n.spec = { unschedulable: true })),
      'cordoned',
      'unschedulable',
    ],
    ['MaintenancePlanned=True', node('n1', maintenance('True')), 'MaintenancePlanned', 'MaintenancePlanned'],
    ['MaintenancePlanned=False', node('n1', maintenance('False')), undefined, undefined],
    ['MaintenancePlanned=Unknown', node('n1', maintenance('Unknown')), undefined, undefined],
  ] as [string, ReturnType<typeof node>, string | undefined, string | undefined][])(
    '%s → leaving %s, ineligible %s',
    (_d, n, leaving, why) => {
      expect(leavingReason(n)).toBe(leaving);
      expect(ineligibility(colony(), n)).toBe(why);
    },
  );
});
