import { describe, expect, it } from '@jest/globals';
import type { V1Lease } from '@kubernetes/client-node';
import { judgeLease, lossThresholdMs, type LeaseVerdict } from '../../../src/controllers/node-lease.js';
import { lease } from '../../fixtures/objects.js';

const now = new Date('2026-01-01T00:01:00Z');

interface Row {
  name: string;
  lease: V1Lease | undefined;
  /** --node-loss-after, seconds */
  after?: number;
  want: LeaseVerdict | { kind: 'lost'; message: string | RegExp };
}

const deleted = (l: V1Lease): V1Lease => ({ ...l, metadata: { ...l.metadata, deletionTimestamp: now } });
const unrenewed: V1Lease = { metadata: { name: 'n1' }, spec: { holderIdentity: 'n1' } };
const acquiredOnly: V1Lease = {
  metadata: { name: 'n1' },
  spec: { leaseDurationSeconds: 40, acquireTime: new Date(now.getTime() - 31_000) },
};

const rows: Row[] = [
  { name: 'no Lease: fall back to Ready', lease: undefined, want: { kind: 'unknown' } },
  {
    name: 'Lease being deleted: fall back to Ready',
    lease: deleted(lease('n1', now, 60)),
    want: { kind: 'unknown' },
  },
  { name: 'never renewed: fall back to Ready', lease: unrenewed, want: { kind: 'unknown' } },
  {
    name: 'kubelet (40 s): just renewed, re-check after 30 s',
    lease: lease('n1', now, 0),
    want: { kind: 'fresh', recheckAfterMs: 30_100 },
  },
  {
    name: 'kubelet (40 s): one renewal late (20 s) is not a suspicion',
    lease: lease('n1', now, 20),
    want: { kind: 'fresh', recheckAfterMs: 10_100 },
  },
  {
    name: 'kubelet (40 s): exactly at the threshold is still fresh',
    lease: lease('n1', now, 30),
    want: { kind: 'fresh', recheckAfterMs: 100 },
  },
  {
    name: 'kubelet (40 s): three renewals missed → lost',
    lease: lease('n1', now, 31),
    want: {
      kind: 'lost',
      message:
        /node n1 stopped renewing its Lease: last renewal 2026-01-01T00:00:29\.000Z \(threshold 30 s\)/,
    },
  },
  {
    name: 'kwok (8 s lease): 6 s threshold',
    lease: lease('n1', now, 7, 8),
    want: { kind: 'lost', message: /threshold 6 s/ },
  },
  {
    name: '--node-loss-after overrides the derived threshold',
    lease: lease('n1', now, 5),
    after: 4,
    want: { kind: 'lost', message: /last renewal 2026-01-01T00:00:55\.000Z \(threshold 4 s\)/ },
  },
  {
    name: '--node-loss-after longer than the lease duration',
    lease: lease('n1', now, 50),
    after: 60,
    want: { kind: 'fresh', recheckAfterMs: 10_100 },
  },
  {
    name: 'renewal in the future (node clock ahead) counts as fresh',
    lease: lease('n1', now, -5),
    want: { kind: 'fresh', recheckAfterMs: 30_100 },
  },
  {
    name: 'acquireTime stands in for a missing renewTime',
    lease: acquiredOnly,
    want: { kind: 'lost', message: /last renewal 2026-01-01T00:00:29\.000Z/ },
  },
  {
    name: 'renewTime as the raw wire string (informer cache)',
    lease: {
      metadata: { name: 'n1' },
      spec: { leaseDurationSeconds: 40, renewTime: '2026-01-01T00:00:50.000000Z' as unknown as Date },
    },
    want: { kind: 'fresh', recheckAfterMs: 20_100 },
  },
];

describe('judgeLease', () => {
  it.each(rows)('$name', (r) => {
    const got = judgeLease(r.lease, now, r.after);
    if (r.want.kind === 'lost' && 'message' in r.want) {
      expect(got.kind).toBe('lost');
      expect(got.kind === 'lost' && got.message).toMatch(r.want.message);
    } else expect(got).toEqual(r.want);
  });
});

describe('lossThresholdMs', () => {
  it('is three renew intervals (0.75 × leaseDurationSeconds) unless overridden', () => {
    expect(lossThresholdMs(lease('n', now, 0, 40))).toBe(30_000);
    expect(lossThresholdMs(lease('n', now, 0, 8))).toBe(6_000);
    expect(lossThresholdMs({ spec: {} })).toBe(30_000);
    expect(lossThresholdMs(lease('n', now, 0, 40), 12)).toBe(12_000);
  });
});
