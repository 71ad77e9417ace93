import { describe, expect, it } from '@jest/globals';
import type { V1Lease, V1Node, V1Pod } from '@kubernetes/client-node';
import type { CellStatus } from '../../../src/api/types.js';
import { cellStatus, OUT_OF_SERVICE_TAINT } from '../../../src/controllers/cell-status.js';
import { cell, colony, failed, lease, node, notReady, pod, ready, running } from '../../fixtures/objects.js';

const now = new Date('2026-01-01T00:00:10Z');
const col = colony();

/** The colony key of a seeded colony: a cell that reported it (or was Alive) is a holder. */
const KEY = 'PK';
const holder: CellStatus = {
  phase: 'Alive',
  publicKey: KEY,
  podUID: 'pod-uid-lottery-0',
  aliveAt: '2026-01-01T00:00:02.000Z',
};
const selfNotReady = (n: V1Node): void => {
  n.status = { conditions: [{ type: 'Ready', status: 'False' }] };
};

interface Row {
  name: string;
  genesis?: boolean;
  colonyKey?: string;
  excuse?: string;
  observingSince?: Date;
  old?: CellStatus;
  pod?: (c: ReturnType<typeof cell>) => V1Pod | undefined;
  node?: V1Node | undefined;
  lease?: V1Lease;
  nodeLossAfter?: number;
  want: Partial<CellStatus>;
  /** Fields that must not be present at all (cleared from the old status). */
  absent?: Array<keyof CellStatus>;
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
    name: 'node not heard, the cell holds nothing: replaced',
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
    name: 'a cell holding nothing on a node whose Lease stopped: replaced in seconds',
    pod: (c) => pod(c, ready),
    lease: lease('n1', now, 31),
    want: {
      phase: 'Dead',
      reason: 'NodeLost',
      message: `node n1 stopped renewing its Lease: last renewal ${new Date(now.getTime() - 31_000).toISOString()} (threshold 30 s); the cell held no secret yet, so it is replaced`,
      diedAt: now.toISOString(),
    },
  },
  {
    name: 'holder on a node whose Lease stopped: Unreachable, never Dead',
    colonyKey: KEY,
    old: holder,
    pod: (c) => pod(c, ready),
    lease: lease('n1', now, 31),
    want: {
      phase: 'Unreachable',
      reason: 'LeaseExpired',
      unreachableSince: now.toISOString(),
      message: `node n1 stopped renewing its Lease: last renewal ${new Date(now.getTime() - 31_000).toISOString()} (threshold 30 s); still a holder`,
    },
  },
  {
    name: 'holder already unreachable keeps its unreachableSince',
    colonyKey: KEY,
    old: { ...holder, phase: 'Unreachable', unreachableSince: '2026-01-01T00:00:05.000Z' },
    pod: (c) => pod(c, ready),
    node: node('n1', notReady),
    want: { phase: 'Unreachable', reason: 'NodeUnreachable', unreachableSince: '2026-01-01T00:00:05.000Z' },
  },
  {
    name: 'holder heard again: Alive, unreachableSince cleared',
    colonyKey: KEY,
    old: { ...holder, phase: 'Unreachable', unreachableSince: '2026-01-01T00:00:05.000Z' },
    pod: (c) => pod(c, ready),
    lease: lease('n1', now, 1),
    want: { phase: 'Alive', reason: 'HeardAgain' },
    absent: ['unreachableSince'],
  },
  {
    name: 'holder whose readiness fails (stalled): Unreachable NotReady',
    colonyKey: KEY,
    old: holder,
    pod: (c) => pod(c, running),
    want: { phase: 'Unreachable', reason: 'NotReady' },
  },
  {
    name: 'reported the key but never Ready yet: still Joining, not Unreachable',
    colonyKey: KEY,
    old: { phase: 'Joining', publicKey: KEY, podUID: 'pod-uid-lottery-0' },
    pod: (c) => pod(c, running),
    want: { phase: 'Joining', reason: 'Joining' },
  },
  {
    name: 'holder on a node reporting itself NotReady: Unreachable',
    colonyKey: KEY,
    old: holder,
    pod: (c) => pod(c, ready),
    node: node('n1', selfNotReady),
    want: { phase: 'Unreachable', reason: 'NodeNotReady' },
  },
  {
    name: 'holder whose pod is being deleted but not confirmed gone: Unreachable, not Dead',
    colonyKey: KEY,
    old: holder,
    pod: (c) => pod(c, ready, (p) => (p.metadata!.deletionTimestamp = now)),
    want: { phase: 'Unreachable', reason: 'PodTerminating' },
  },
  {
    name: 'holder on a silent node during a control-plane fault: stays Alive, not suspected',
    colonyKey: KEY,
    excuse: '3 of 3 nodes hosting cells are silent at once',
    old: { ...holder, reason: 'HoldsSecret', message: 'the cell holds the secret' },
    pod: (c) => pod(c, running),
    node: node('n1', notReady),
    lease: lease('n1', now, 60),
    want: { phase: 'Alive', reason: 'HoldsSecret', message: 'the cell holds the secret' },
  },
  {
    name: 'a joiner on a silent node during a control-plane fault: not declared dead',
    excuse: 'fault',
    pod: (c) => pod(c, running),
    lease: lease('n1', now, 60),
    want: { phase: 'Joining' },
  },
  {
    name: 'a stale Lease counts only from when the operator began observing',
    colonyKey: KEY,
    old: holder,
    observingSince: new Date(now.getTime() - 10_000),
    pod: (c) => pod(c, ready),
    lease: lease('n1', now, 300),
    want: { phase: 'Alive' },
  },
  {
    name: 'holder proven dead: container terminated (kubelet)',
    colonyKey: KEY,
    old: holder,
    pod: (c) => pod(c, failed),
    lease: lease('n1', now, 60),
    want: { phase: 'Dead', reason: 'PodEnded' },
  },
  {
    name: 'holder proven dead: terminated container status before the phase moved',
    colonyKey: KEY,
    old: holder,
    pod: (c) =>
      pod(c, running, (p) => {
        p.status!.containerStatuses = [
          {
            name: 'cell',
            image: '',
            imageID: '',
            ready: false,
            restartCount: 0,
            state: { terminated: { exitCode: 1 } },
          },
        ];
      }),
    want: { phase: 'Dead', reason: 'PodEnded', message: 'container exited 1' },
  },
  {
    name: 'holder proven dead: pod gone',
    colonyKey: KEY,
    old: holder,
    pod: () => undefined,
    node: node('n1', notReady),
    want: { phase: 'Dead', reason: 'PodVanished' },
  },
  {
    name: 'holder proven dead: pod uid changed',
    colonyKey: KEY,
    old: { ...holder, podUID: 'older' },
    pod: (c) => pod(c, ready),
    want: { phase: 'Dead', reason: 'PodReplaced' },
  },
  {
    name: 'holder proven dead: Node object deleted',
    colonyKey: KEY,
    old: holder,
    pod: (c) => pod(c, ready),
    node: undefined,
    want: { phase: 'Dead', reason: 'NodeGone' },
  },
  {
    name: 'holder proven dead: node fenced with the out-of-service taint',
    colonyKey: KEY,
    old: holder,
    pod: (c) => pod(c, ready),
    node: node(
      'n1',
      notReady,
      (n) => (n.spec!.taints = [{ key: OUT_OF_SERVICE_TAINT, effect: 'NoExecute' }]),
    ),
    want: { phase: 'Dead', reason: 'NodeOutOfService' },
  },
  {
    name: 'a cell reporting another key is not a holder of this colony',
    colonyKey: KEY,
    old: { ...holder, publicKey: 'OTHER' },
    pod: (c) => pod(c, ready),
    lease: lease('n1', now, 31),
    want: { phase: 'Dead', reason: 'NodeLost' },
  },
  {
    name: 'stale Lease with --node-loss-after',
    pod: (c) => pod(c, running),
    lease: lease('n1', now, 3),
    nodeLossAfter: 2,
    want: { phase: 'Dead', reason: 'NodeLost' },
  },
  {
    name: 'fresh Lease but the control plane cannot hear the node: a newcomer is replaced',
    pod: (c) => pod(c, running),
    node: node('n1', notReady),
    lease: lease('n1', now, 1),
    want: {
      phase: 'Dead',
      reason: 'NodeLost',
      message: expect.stringContaining('Ready Unknown') as unknown as string,
    },
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
      colonyKey: r.colonyKey,
      pod: r.pod?.(c),
      node: n,
      lease: r.lease,
      nodeLossAfter: r.nodeLossAfter,
      observingSince: r.observingSince,
      excuse: r.excuse,
      now,
    });
    expect(status).toMatchObject(r.want);
    for (const f of r.absent ?? []) expect(status).not.toHaveProperty(f);
  });

  it('reports a foreign pod with the cell name instead of adopting it', () => {
    const c = cell(col, 0, 'n1');
    expect(cellStatus({ cell: c, foreignPod: true, node: node('n1'), now })).toMatchObject({
      phase: 'Pending',
      reason: 'PodNameTaken',
    });
  });
});
