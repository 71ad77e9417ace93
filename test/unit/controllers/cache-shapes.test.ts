// What the caches keep (src/controllers/cache-shapes.ts), on objects read from a real API server
// (test/fixtures/wire/: a cell pod, its Cell and Colony, a kwok node and its Lease, captured from the
// integration control plane with `kubectl get -o json --show-managed-fields`):
// - the readers decide the same on the shaped object as on the whole one (cell status, node
//   eligibility, Lease verdict, the guard's Ready status, the lock-down's targets);
// - the per-object cache cost in bytes (compact JSON) before and after, printed and bounded;
// - the predicates (predicates.ts): a heartbeat changes nothing they read, a readiness flip does.
import { describe, expect, it } from '@jest/globals';
import type { V1Lease, V1Node, V1Pod } from '@kubernetes/client-node';
import { readFileSync } from 'node:fs';
import { LABELS, type Cell, type Colony } from '../../../src/api/types.js';
import {
  BOUND_POD_SHAPE,
  CELL_POD_SHAPE,
  LEASE_SHAPE,
  NO_ANNOTATIONS_SHAPE,
  NODE_SHAPE,
} from '../../../src/controllers/cache-shapes.js';
import { cellStatus } from '../../../src/controllers/cell-status.js';
import { readyStatus } from '../../../src/controllers/guard.js';
import { lockdownTargets } from '../../../src/controllers/lockdown.js';
import { judgeLease } from '../../../src/controllers/node-lease.js';
import { ineligibility, leavingReason } from '../../../src/controllers/nodes.js';
import {
  cellPodChanged,
  existenceOnly,
  lockdownNodeChanged,
  lockdownPodChanged,
  nodeChanged,
} from '../../../src/controllers/predicates.js';
import { withoutManagedFields } from '../../../src/runtime/informer.js';
import type { CacheShape } from '../../../src/runtime/manager.js';

function wire<T>(name: string): T {
  return JSON.parse(readFileSync(new URL(`../../fixtures/wire/${name}.json`, import.meta.url), 'utf8')) as T;
}

/** What an informer caches: managedFields dropped, then the shape. */
const cached = <T extends object>(shape: CacheShape, obj: T): T => shape.keep(withoutManagedFields(obj)) as T;
const bytes = (o: unknown): number => JSON.stringify(o).length;

const pod = wire<V1Pod>('cell-pod');
const node = wire<V1Node>('node');
const lease = wire<V1Lease>('node-lease');
const cell = wire<Cell>('cell');
const colony = wire<Colony>('colony');

describe('cache shapes keep what the readers read', () => {
  it('the cell status is the same from the shaped pod, node and Lease', () => {
    const now = new Date(new Date(lease.spec!.renewTime as unknown as string).getTime() + 1000);
    for (const phase of [undefined, 'Alive', 'Starting'] as const) {
      const c = phase ? { ...cell, status: { ...cell.status, phase } } : cell;
      const world = { cell: c, colonyKey: colony.status?.publicKey, now };
      const whole = cellStatus({ ...world, pod, node, lease });
      const lean = cellStatus({
        ...world,
        pod: cached(CELL_POD_SHAPE, pod),
        node: cached(NODE_SHAPE, node),
        lease: cached(LEASE_SHAPE, lease),
      });
      expect(lean).toEqual(whole);
    }
  });

  it('node eligibility, the guard and the Lease verdict read the same from shaped objects', () => {
    const n = cached(NODE_SHAPE, node);
    expect(ineligibility(colony, n)).toEqual(ineligibility(colony, node));
    expect(leavingReason(n)).toEqual(leavingReason(node));
    expect(readyStatus(n)).toBe(readyStatus(node));
    expect(n.status?.allocatable).toEqual(node.status?.allocatable);
    const now = new Date();
    expect(judgeLease(cached(LEASE_SHAPE, lease), now)).toEqual(judgeLease(lease, now));
    const bound = cached(BOUND_POD_SHAPE, pod);
    expect(lockdownTargets({ nodes: [n], pods: [bound], cells: [], colonies: [] })).toEqual(
      lockdownTargets({ nodes: [node], pods: [pod], cells: [], colonies: [] }),
    );
    expect(bound.spec?.containers.map((c) => c.resources)).toEqual(
      pod.spec?.containers.map((c) => c.resources),
    );
  });

  it("keeps the operator's own node annotations and drops the others", () => {
    const marked = {
      ...node,
      metadata: {
        ...node.metadata,
        annotations: { ...node.metadata?.annotations, 'celula.io/hardening-failed': 'x' },
      },
    };
    expect(cached(NODE_SHAPE, marked).metadata?.annotations).toEqual({ 'celula.io/hardening-failed': 'x' });
  });
});

describe('per-object cache cost', () => {
  it('is a fifth of the wire object for pods, under half for nodes, under 60 % for the rest', () => {
    const rows: Array<[string, object, CacheShape]> = [
      ['cell pod', pod, CELL_POD_SHAPE],
      ['bound pod', pod, BOUND_POD_SHAPE],
      ['node (kwok)', node, NODE_SHAPE],
      ['node Lease', lease, LEASE_SHAPE],
      ['Cell', cell, NO_ANNOTATIONS_SHAPE],
      ['Colony', colony, NO_ANNOTATIONS_SHAPE],
    ];
    const table = rows.map(([what, obj, shape]) => {
      const before = bytes(obj);
      const after = bytes(cached(shape, obj));
      return { what, before, after, kept: `${Math.round((100 * after) / before)}%` };
    });
    console.log(
      ['per-object cache cost, bytes of compact JSON (before → after):']
        .concat(
          table.map(
            (r) =>
              `  ${r.what.padEnd(12)} ${String(r.before).padStart(6)} → ${String(r.after).padStart(5)} (${r.kept})`,
          ),
        )
        .join('\n'),
    );
    const bound: Record<string, number> = { 'cell pod': 0.2, 'bound pod': 0.2, 'node (kwok)': 0.4 };
    for (const r of table) expect(r.after).toBeLessThanOrEqual(r.before * (bound[r.what] ?? 0.6));
  });
});

describe('predicates on real objects', () => {
  it('a node heartbeat (new resourceVersion, new heartbeat times) wakes nobody; a Ready flip or a cordon does', () => {
    const beat: V1Node = {
      ...node,
      metadata: { ...node.metadata, resourceVersion: '999999' },
      status: {
        ...node.status,
        conditions: node.status?.conditions?.map((c) => ({ ...c, lastHeartbeatTime: new Date(Date.now()) })),
      },
    };
    expect(nodeChanged(node, beat)).toBe(false);
    const notReady: V1Node = {
      ...beat,
      status: {
        ...beat.status,
        conditions: beat.status?.conditions?.map((c) =>
          c.type === 'Ready' ? { ...c, status: 'Unknown' } : c,
        ),
      },
    };
    expect(nodeChanged(beat, notReady)).toBe(true);
    expect(nodeChanged(beat, { ...beat, spec: { ...beat.spec, unschedulable: true } })).toBe(true);
  });

  it('a cell pod: a new IP or a terminated container counts; a probe time does not', () => {
    const probed: V1Pod = {
      ...pod,
      metadata: { ...pod.metadata, resourceVersion: '999999' },
      status: {
        ...pod.status,
        conditions: pod.status?.conditions?.map((c) => ({ ...c, lastProbeTime: new Date() })),
      },
    };
    expect(cellPodChanged(pod, probed)).toBe(false);
    expect(cellPodChanged(pod, { ...pod, status: { ...pod.status, podIP: '10.0.0.9' } })).toBe(true);
    const ended: V1Pod = {
      ...pod,
      status: {
        ...pod.status,
        containerStatuses: pod.status?.containerStatuses?.map((s) => ({
          ...s,
          state: { terminated: { exitCode: 137, reason: 'OOMKilled' } },
        })),
      },
    };
    expect(cellPodChanged(pod, ended)).toBe(true);
  });

  it('the lock-down wakes on a hardened label, a pod bound or relabelled; not on a heartbeat or a status', () => {
    const beat: V1Node = { ...node, metadata: { ...node.metadata, resourceVersion: '999999' }, status: {} };
    expect(lockdownNodeChanged(node, beat)).toBe(false);
    const unlabelled: V1Node = {
      ...node,
      metadata: { ...node.metadata, labels: { ...node.metadata?.labels, [LABELS.hardened]: 'false' } },
    };
    expect(lockdownNodeChanged(node, unlabelled)).toBe(true);
    const updated: V1Pod = { ...pod, status: { ...pod.status, podIP: '10.0.0.9', phase: 'Failed' } };
    expect(lockdownPodChanged(pod, updated)).toBe(false);
    expect(lockdownPodChanged(pod, { ...pod, spec: { ...pod.spec!, nodeName: 'elsewhere' } })).toBe(true);
    const relabelled: V1Pod = { ...pod, metadata: { ...pod.metadata, labels: {} } };
    expect(lockdownPodChanged(pod, relabelled)).toBe(true);
    expect(existenceOnly(pod, updated)).toBe(false);
  });
});
