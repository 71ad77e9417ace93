import { describe, expect, it } from '@jest/globals';
import type { V1Job, V1Node, V1Pod } from '@kubernetes/client-node';
import { buildHardeningJob, FAILED_ANNOTATIONS, hijackScript } from '../../../src/builders/hardening.js';
import {
  judgeReport,
  planHardening,
  REQUIRED_PASS,
  RUNNING_REQUEUE_MS,
  type HardeningWorld,
} from '../../../src/controllers/node-plan.js';
import { colony, hardened, node, notReady } from '../../fixtures/objects.js';

const script = hijackScript('#!/bin/bash\n');
const SHA = script.sha256;
const NOW = new Date('2026-01-01T12:00:00Z');
const RETRY = 600_000;

const adopt = (replicas: number, selector?: Record<string, string>) =>
  colony((c) => {
    c.spec.replicas = replicas;
    c.spec.nodes = { provider: 'adopt' };
    if (selector) c.spec.placement = { nodeSelector: selector };
  });

const pool = (n: V1Node): void => {
  n.metadata!.labels = { ...n.metadata!.labels, pool: 'p' };
};
const failedAt =
  (at: string, jobUid = 'old') =>
  (n: V1Node): void => {
    n.metadata!.annotations = { [FAILED_ANNOTATIONS.at]: at, [FAILED_ANNOTATIONS.job]: jobUid };
  };
const withUid = (n: V1Node): void => {
  n.metadata!.uid = `uid-${n.metadata!.name}`;
};

function jobFor(n: V1Node, status?: V1Job['status']): V1Job {
  const j = buildHardeningJob({ node: n, script, namespace: 'celula-system', image: 'i', colony: adopt(1) });
  j.metadata!.uid = `job-${n.metadata!.name}`;
  j.status = status;
  return j;
}
const complete = { conditions: [{ type: 'Complete', status: 'True' }] } as V1Job['status'];
const failedJob = {
  conditions: [{ type: 'Failed', status: 'True', reason: 'DeadlineExceeded', message: 'too slow' }],
} as V1Job['status'];

function podOf(j: V1Job, message: string | undefined, phase = 'Succeeded'): V1Pod {
  return {
    metadata: {
      name: `${j.metadata!.name}-x`,
      namespace: 'celula-system',
      ownerReferences: [
        { apiVersion: 'batch/v1', kind: 'Job', name: j.metadata!.name!, uid: j.metadata!.uid! },
      ],
    },
    status: {
      phase,
      containerStatuses: [
        {
          name: 'hijack',
          image: '',
          imageID: '',
          ready: false,
          restartCount: 0,
          state: { terminated: { exitCode: 0, message } },
        },
      ],
    },
  };
}

const passing = JSON.stringify({
  v: 1,
  sha256: SHA,
  context: 'host',
  pass: [...REQUIRED_PASS],
  fail: [],
  na: ['agent.x'],
});
const failing = JSON.stringify({
  v: 1,
  sha256: SHA,
  context: 'host',
  pass: [],
  fail: ['remote-shell.sshd', 'kubelet.flags'],
  na: [],
});

function world(parts: Partial<HardeningWorld>): HardeningWorld {
  return {
    colonies: [],
    nodes: [],
    jobs: [],
    pods: [],
    sha256: SHA,
    now: NOW,
    retryAfterMs: RETRY,
    ...parts,
  };
}

const summary = (w: HardeningWorld): string[] =>
  planHardening(w).actions.map((a) => {
    switch (a.type) {
      case 'harden':
        return `harden ${a.node.metadata!.name}`;
      case 'hardened':
        return `hardened ${a.node.metadata!.name}`;
      case 'failed':
        return `failed ${a.node.metadata!.name}: ${a.reason}`;
      case 'deleteJob':
        return `delete ${a.job.name}`;
    }
  });

const n = (name: string, ...mods: Array<(n: V1Node) => void>): V1Node => node(name, pool, withUid, ...mods);

describe('planHardening: choosing nodes', () => {
  const table: Array<[string, Partial<HardeningWorld>, string[]]> = [
    ['no adopt colony: nothing', { colonies: [colony()], nodes: [n('a')] }, []],
    [
      'replicas + 1 nodes, in name order',
      { colonies: [adopt(2)], nodes: [n('d'), n('c'), n('b'), n('a')] },
      ['harden a', 'harden b', 'harden c'],
    ],
    [
      'hardened nodes count',
      { colonies: [adopt(2)], nodes: [n('a', hardened), n('b'), n('c')] },
      ['harden b', 'harden c'],
    ],
    [
      'enough hardened: nothing',
      { colonies: [adopt(1)], nodes: [n('a', hardened), n('b', hardened), n('c')] },
      [],
    ],
    [
      'skips not Ready, unschedulable, tainted, unmatched',
      {
        colonies: [adopt(0, { pool: 'p' })],
        nodes: [
          n('a', notReady),
          n('b', (x) => (x.spec!.unschedulable = true)),
          n('c', (x) => (x.spec!.taints = [{ key: 'k', effect: 'NoExecute' }])),
          node('d'),
          n('e'),
        ],
      },
      ['harden e'],
    ],
    [
      'a node being hardened counts and gets no second Job',
      { colonies: [adopt(1)], nodes: [n('a'), n('b'), n('c')], jobs: [jobFor(n('a'))] },
      ['harden b'],
    ],
    [
      'a failure within the backoff is skipped',
      { colonies: [adopt(0)], nodes: [n('a', failedAt('2026-01-01T11:55:00Z')), n('b')] },
      ['harden b'],
    ],
    [
      'a failure past the backoff is retried',
      { colonies: [adopt(0)], nodes: [n('a', failedAt('2026-01-01T11:00:00Z')), n('b')] },
      ['harden a'],
    ],
    [
      'two colonies share chosen nodes',
      {
        colonies: [adopt(1), { ...adopt(1), metadata: { name: 'b', namespace: 'ns', uid: 'u2' } }],
        nodes: [n('a'), n('b'), n('c')],
      },
      ['harden a', 'harden b'],
    ],
    [
      'a colony being deleted asks for nothing',
      {
        colonies: [{ ...adopt(1), metadata: { ...adopt(1).metadata, deletionTimestamp: NOW } }],
        nodes: [n('a')],
      },
      [],
    ],
  ];
  it.each(table)('%s', (_name, parts, want) => {
    expect(summary(world(parts))).toEqual(want);
  });

  it('requeues while Jobs run, and at the end of a backoff', () => {
    expect(planHardening(world({ colonies: [adopt(0)], nodes: [n('a')] })).requeueAfter).toBe(
      RUNNING_REQUEUE_MS,
    );
    const backoff = planHardening(
      world({ colonies: [adopt(0)], nodes: [n('a', failedAt('2026-01-01T11:59:00Z'))] }),
    );
    expect(backoff.actions).toEqual([]);
    expect(backoff.requeueAfter).toBe(9 * 60_000);
    expect(
      planHardening(world({ colonies: [adopt(0)], nodes: [n('a', hardened)] })).requeueAfter,
    ).toBeUndefined();
  });
});

describe('planHardening: reading outcomes', () => {
  const a = n('a');
  const table: Array<[string, V1Node, V1Job['status'], string | undefined, string, string[]]> = [
    ['running: wait', a, {}, undefined, 'Running', []],
    ['passing report: hardened', a, complete, passing, 'Succeeded', ['hardened a']],
    [
      'failing report: failed with the ids',
      a,
      failedJob,
      failing,
      'Failed',
      ['failed a: protections failed: remote-shell.sshd, kubelet.flags'],
    ],
    [
      'no message: failed from the Job condition',
      a,
      failedJob,
      undefined,
      'Failed',
      ['failed a: Job failed (DeadlineExceeded) too slow'],
    ],
    [
      'complete without a report: failed',
      a,
      complete,
      undefined,
      'Succeeded',
      ['failed a: no readable --check report in the termination message'],
    ],
    [
      'passing report but the Job failed: failed',
      a,
      failedJob,
      passing,
      'Failed',
      ['failed a: Job failed although its report passed'],
    ],
    [
      'outcome on the node already: delete the Job',
      n('a', hardened),
      complete,
      passing,
      'Succeeded',
      ['delete celula-harden-a'],
    ],
    [
      'failure recorded for this Job: delete it',
      n('a', failedAt('2026-01-01T11:59:00Z', 'job-a')),
      failedJob,
      failing,
      'Failed',
      ['delete celula-harden-a'],
    ],
  ];
  it.each(table)('%s', (...[, nd, status, message, phase, want]) => {
    const j = jobFor(nd, status);
    expect(summary(world({ nodes: [nd], jobs: [j], pods: [podOf(j, message, phase)] }))).toEqual(want);
  });

  it('deletes a Job whose node is gone', () => {
    expect(summary(world({ jobs: [jobFor(n('gone'))] }))).toEqual(['delete celula-harden-gone']);
  });

  it('names the requesting colony on a failure', () => {
    const j = jobFor(a, failedJob);
    const [action] = planHardening(
      world({ nodes: [a], jobs: [j], pods: [podOf(j, failing, 'Failed')] }),
    ).actions;
    expect(action).toMatchObject({
      type: 'failed',
      requestedBy: { namespace: 'ns', name: 'lottery' },
      job: { uid: 'job-a' },
    });
  });
});

describe('judgeReport (strict)', () => {
  const base = {
    sha256: SHA,
    context: 'host',
    pass: [...REQUIRED_PASS] as string[],
    fail: [] as string[],
    na: [] as string[],
  };
  it.each([
    ['all required pass', base, true],
    ['another script', { ...base, sha256: 'other' }, false],
    ['prefix context', { ...base, context: 'prefix' }, false],
    ['container context', { ...base, context: 'container' }, false],
    ['any fail', { ...base, fail: ['sysctl.kernel.sysrq'] }, false],
    [
      'a required one only not-applicable',
      {
        ...base,
        pass: base.pass.filter((id) => id !== 'kubelet.debugging-handlers'),
        na: ['kubelet.debugging-handlers'],
      },
      false,
    ],
    ['an error', { ...base, error: 'boom' }, false],
  ])('%s', (_name, report, ok) => {
    expect(judgeReport(report, SHA).ok).toBe(ok);
  });
  it('rejects a missing report', () => {
    expect(judgeReport(undefined, SHA)).toEqual({
      ok: false,
      reason: expect.stringMatching(/no readable/) as unknown,
    });
  });
});
