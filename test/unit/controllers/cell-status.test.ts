import { describe, expect, it } from '@jest/globals';
import type { V1Lease, V1Node, V1Pod } from '@kubernetes/client-node';
import type { CellStatus } from '../../../src/api/types.js';
import { cellStatus } from '../../../src/controllers/cell-status.js';
import { cell, colony, failed, lease, node, notReady, pod, ready, running } from '../../fixtures/objects.js';

const now = new Date('2026-01-01T00:00:10Z');
const col = colony();

interface Row {
  name: string;
  genesis?: boolean;
  old?: CellStatus;
  pod?: (c: ReturnType<typeof cell>) => V1Pod | undefined;
  node?: V1Node | undefined;
  lease?: V1Lease;
  nodeLossAfter?: number;
  want: Partial<CellStatus>;
}

const rows: Row[] = [
  { name: 'no pod yet', pod: () => undefined, want: { phase: 'Pending', reason: 'PodCreating' } },
  { name: 'pod pending', pod: (c) => pod(c), want: { phase: 'Starting', reason: 'PodStarting' } },
  {
    name: 'genesis running',
    genesis: true,
    pod: (c) => pod(c, running),
    want: { phase: 'Starting', reason: 'Seeding' },
  },
  { name: 'joiner running', pod: (c) => pod(c, running), want: { phase: 'Joining' } },
  {
    name: 'ready',
    pod: (c) => pod(c, ready),
    want: { phase: 'Alive', aliveAt: '2026-01-01T00:00:02.000Z', startedAt: '2026-01-01T00:00:01.000Z' },
  },
  {
    name: 'pod failed',
    pod: (c) => pod(c, failed),
    want: { phase: 'Dead', reason: 'PodEnded', message: expect.stringContaining('137') as unknown as string },
  },
  {
    name: 'pod vanished',
    old: { phase: 'Alive', podUID: 'pod-uid-lottery-0' },
    pod: () => undefined,
    want: { phase: 'Dead', reason: 'PodVanished', diedAt: now.toISOString() },
  },
  {
    name: 'pod replaced',
    old: { phase: 'Alive', podUID: 'old' },
    pod: (c) => pod(c, ready),
    want: { phase: 'Dead', reason: 'PodReplaced' },
  },
  {
    name: 'node lost',
    pod: (c) => pod(c, ready),
    node: node('n1', notReady),
    want: { phase: 'Dead', reason: 'NodeLost' },
  },
  {
    name: 'node gone',
    pod: (c) => pod(c, ready),
    node: undefined,
    want: { phase: 'Dead', reason: 'NodeGone' },
  },
  {
    name: 'node Ready, Lease fresh',
    pod: (c) => pod(c, ready),
    lease: lease('n1', now, 5),
    want: { phase: 'Alive', reason: 'HoldsSecret' },
  },
  {
    name: 'node still Ready but its Lease stopped: lost in seconds',
    pod: (c) => pod(c, ready),
    lease: lease('n1', now, 31),
    want: {
      phase: 'Dead',
      reason: 'NodeLost',
      message: 'node n1 stopped renewing its Lease 31.0 s ago (threshold 30 s)',
      diedAt: now.toISOString(),
    },
  },
  {
    name: 'stale Lease with --node-loss-after',
    pod: (c) => pod(c, running),
    lease: lease('n1', now, 3),
    nodeLossAfter: 2,
    want: { phase: 'Dead', reason: 'NodeLost' },
  },
  {
    name: 'fresh Lease but node not Ready: still lost',
    pod: (c) => pod(c, ready),
    node: node('n1', notReady),
    lease: lease('n1', now, 1),
    want: { phase: 'Dead', reason: 'NodeLost', message: 'node n1 is not Ready' },
  },
  {
    name: 'stale Lease before the pod exists: nothing to lose yet',
    pod: () => undefined,
    lease: lease('n1', now, 60),
    want: { phase: 'Pending', reason: 'PodCreating' },
  },
  {
    name: 'dead stays dead',
    old: { phase: 'Dead', reason: 'PodEnded' },
    pod: (c) => pod(c, ready),
    want: { phase: 'Dead', reason: 'PodEnded' },
  },
];

describe('cellStatus', () => {
  it.each(rows)('$name', (r) => {
    const c = cell(col, 0, 'n1', undefined, r.genesis ?? false);
    if (r.old) c.status = r.old;
    const n = 'node' in r ? r.node : node('n1');
    const status = cellStatus({
      cell: c,
      pod: r.pod?.(c),
      node: n,
      lease: r.lease,
      nodeLossAfter: r.nodeLossAfter,
      now,
    });
    expect(status).toMatchObject(r.want);
  });

  it('reports a foreign pod with the cell name instead of adopting it', () => {
    const c = cell(col, 0, 'n1');
    expect(cellStatus({ cell: c, foreignPod: true, node: node('n1'), now })).toMatchObject({
      phase: 'Pending',
      reason: 'PodNameTaken',
    });
  });
});
