import { describe, expect, it } from '@jest/globals';
import type { V1Node } from '@kubernetes/client-node';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HARDENED_TAINT, LABELS } from '../../../src/api/types.js';
import {
  buildHardeningJob,
  buildHijackConfigMap,
  digestPrefix,
  FAILED_ANNOTATIONS,
  failedNodePatch,
  hardenedNodePatch,
  hardeningJobName,
  HARDENING_PROGRAM,
  hijackConfigMapName,
  hijackScript,
  isHardenedLabelValue,
  parseHardeningReport,
} from '../../../src/builders/hardening.js';
import { colony, node } from '../../fixtures/objects.js';

const script = hijackScript('#!/usr/bin/env bash\necho hi\n');
const n1: V1Node = node('n1', (n) => {
  n.metadata!.uid = 'node-uid';
  n.metadata!.resourceVersion = '42';
});

function job(nodeLeaseSeconds?: number): ReturnType<typeof buildHardeningJob> {
  return buildHardeningJob({
    node: n1,
    script,
    namespace: 'celula-system',
    image: 'img@sha256:x',
    colony: colony(),
    nodeLeaseSeconds,
  });
}

describe('hardening builders', () => {
  it("passes the hardened kubelet's Lease duration to the Job only when one is chosen", () => {
    const env = (j: ReturnType<typeof job>): unknown => j.spec!.template.spec!.containers[0]!.env;
    expect(env(job(10))).toEqual([
      { name: 'HIJACK_SHA256', value: script.sha256 },
      { name: 'HIJACK_NODE_LEASE_SECONDS', value: '10' },
    ]);
    expect(env(job())).toEqual([{ name: 'HIJACK_SHA256', value: script.sha256 }]);
  });

  it('names the ConfigMap by digest and makes it immutable', () => {
    const cm = buildHijackConfigMap(script, 'celula-system');
    expect(cm.metadata?.name).toBe(`celula-hijack-${script.sha256.slice(0, 12)}`);
    expect(cm.immutable).toBe(true);
    expect(cm.data?.['hijack.sh']).toBe(script.content);
    expect(script.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(digestPrefix(script.sha256)).toHaveLength(12);
  });

  it('bounds Job names to 63 characters, deterministically', () => {
    expect(hardeningJobName('n1')).toBe('celula-harden-n1');
    const long = `node-${'x'.repeat(80)}.example.com`;
    expect(hardeningJobName(long)).toHaveLength(63);
    expect(hardeningJobName(long)).toBe(hardeningJobName(long));
    expect(hardeningJobName(long)).not.toBe(hardeningJobName(`${long}2`));
  });

  it('pins the privileged Job to its node with nothing more than it needs', () => {
    const j = job();
    const pod = j.spec!.template.spec!;
    expect(j.metadata?.namespace).toBe('celula-system');
    expect(j.metadata?.ownerReferences).toEqual([
      { apiVersion: 'v1', kind: 'Node', name: 'n1', uid: 'node-uid' },
    ]);
    expect(j.spec?.backoffLimit).toBe(0);
    expect(j.spec?.activeDeadlineSeconds).toBeGreaterThan(0);
    expect(pod.nodeName).toBe('n1');
    expect(pod.affinity).toBeUndefined();
    expect(pod.hostPID).toBe(true);
    expect(pod.hostNetwork).toBeUndefined();
    expect(pod.hostIPC).toBeUndefined();
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.restartPolicy).toBe('Never');
    expect(pod.tolerations).toBeUndefined();
    expect(pod.volumes?.every((v) => v.hostPath === undefined)).toBe(true);
    expect(pod.volumes?.[0]?.configMap?.name).toBe(hijackConfigMapName(script));
    const c = pod.containers[0]!;
    expect(c.securityContext?.privileged).toBe(true);
    expect(c.terminationMessagePolicy).toBe('File');
    expect(c.env).toEqual([{ name: 'HIJACK_SHA256', value: script.sha256 }]);
    expect(c.image).toBe('img@sha256:x');
  });

  it('copies only the cell-runtime label of the requesting colony onto the pod', () => {
    const col = colony((c) => {
      c.metadata.labels = { 'celula.io/cell-runtime': 'local', other: 'x' };
    });
    const j = buildHardeningJob({ node: n1, script, namespace: 'ns', image: 'i', colony: col });
    expect(j.spec?.template.metadata?.labels).toEqual({
      'app.kubernetes.io/managed-by': 'celula-operator',
      'celula.io/component': 'hardening',
      'celula.io/cell-runtime': 'local',
    });
    expect(j.metadata?.annotations?.['celula.io/requested-by']).toBe('ns/lottery');
  });

  it('labels and taints a hardened node, keeping other taints, under its resourceVersion', () => {
    const tainted = node('n2', (n) => {
      n.metadata!.resourceVersion = '7';
      n.spec!.taints = [{ key: 'other', effect: 'NoSchedule' }];
    });
    expect(hardenedNodePatch(tainted, script.sha256)).toEqual({
      metadata: {
        resourceVersion: '7',
        labels: { [LABELS.hardened]: script.sha256.slice(0, 12) },
        annotations: {
          [FAILED_ANNOTATIONS.reason]: null,
          [FAILED_ANNOTATIONS.at]: null,
          [FAILED_ANNOTATIONS.job]: null,
        },
      },
      spec: {
        taints: [
          { key: 'other', effect: 'NoSchedule' },
          { key: HARDENED_TAINT, value: 'true', effect: 'NoSchedule' },
        ],
      },
    });
  });

  it('records a failure with a bounded reason', () => {
    const patch = failedNodePatch('x'.repeat(1000), new Date('2026-01-01T00:00:00Z'), 'job-uid') as {
      metadata: { annotations: Record<string, string> };
    };
    expect(patch.metadata.annotations[FAILED_ANNOTATIONS.reason]!.length).toBeLessThanOrEqual(240);
    expect(patch.metadata.annotations[FAILED_ANNOTATIONS.at]).toBe('2026-01-01T00:00:00.000Z');
    expect(patch.metadata.annotations[FAILED_ANNOTATIONS.job]).toBe('job-uid');
  });

  it.each([
    [undefined, undefined],
    ['', undefined],
    ['not json', undefined],
    ['{"pass":[]}', undefined],
    [
      '{"v":1,"sha256":"ab","context":"host","pass":["a"],"fail":[],"na":["b"]}',
      { sha256: 'ab', context: 'host', pass: ['a'], fail: [], na: ['b'], error: undefined },
    ],
    ['{"v":1,"error":"boom"}', { pass: [], fail: [], na: [], error: 'boom' }],
  ])('parses the termination message %j', (message, want) => {
    expect(parseHardeningReport(message)).toEqual(want);
  });
});

/** Runs the Job's program with a fake nsenter (runs the command here) and a fake hijack.sh. */
function runProgram(
  fakeScript: string,
  expectSha: string,
): { status: number | null; message: string; stdout: string } {
  const dir = mkdtempSync(join(tmpdir(), 'harden-'));
  try {
    mkdirSync(join(dir, 'bin'));
    writeFileSync(
      join(dir, 'bin/nsenter'),
      '#!/bin/sh\nwhile [ "$1" != -- ]; do shift; done\nshift\nexec "$@"\n',
    );
    chmodSync(join(dir, 'bin/nsenter'), 0o755);
    writeFileSync(join(dir, 'hijack.sh'), fakeScript);
    const r = spawnSync('/bin/sh', ['-c', HARDENING_PROGRAM], {
      encoding: 'utf8',
      env: {
        PATH: `${dir}/bin:/usr/bin:/bin`,
        HIJACK_SHA256: expectSha,
        HIJACK_SCRIPT: join(dir, 'hijack.sh'),
        HIJACK_HOST_DIR: join(dir, 'host'),
        TERMINATION_LOG: join(dir, 'termination-log'),
      },
    });
    return {
      status: r.status,
      message: readFileSync(join(dir, 'termination-log'), 'utf8'),
      stdout: r.stdout,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The stderr of the Job's program run with a fake hijack.sh (nsenter faked as in runProgram). */
function spawnArgs(fakeScript: string, extraEnv: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'harden-args-'));
  try {
    mkdirSync(join(dir, 'bin'));
    writeFileSync(
      join(dir, 'bin/nsenter'),
      '#!/bin/sh\nwhile [ "$1" != -- ]; do shift; done\nshift\nexec "$@"\n',
    );
    chmodSync(join(dir, 'bin/nsenter'), 0o755);
    writeFileSync(join(dir, 'hijack.sh'), fakeScript);
    return spawnSync('/bin/sh', ['-c', HARDENING_PROGRAM], {
      encoding: 'utf8',
      env: {
        PATH: `${dir}/bin:/usr/bin:/bin`,
        HIJACK_SHA256: hijackScript(fakeScript).sha256,
        HIJACK_SCRIPT: join(dir, 'hijack.sh'),
        HIJACK_HOST_DIR: join(dir, 'host'),
        TERMINATION_LOG: join(dir, 'termination-log'),
        ...extraEnv,
      },
    }).stderr;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A real `hijack.sh --check` report, against an almost empty tree (nothing live is touched). */
function realReport(): string {
  const root = mkdtempSync(join(tmpdir(), 'hijack-root-'));
  try {
    mkdirSync(join(root, 'etc'));
    writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/bash\n');
    writeFileSync(join(root, 'etc/shadow'), 'root:!*:1::::::\n');
    return spawnSync('bash', ['hijack/hijack.sh', '--check', '--root', root], { encoding: 'utf8' }).stdout;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

describe('the hardening Job program', () => {
  it('summarizes a real --check report into the termination message, with its exit code', () => {
    const report = realReport();
    const fake = `#!/bin/bash\nif [ "\${1:-}" = --check ]; then cat <<'REPORT'\n${report}REPORT\nexit 1; fi\nexit 0\n`;
    const { status, message, stdout } = runProgram(fake, hijackScript(fake).sha256);
    expect(status).toBe(1);
    expect(stdout).toContain('"protections"');
    expect(message.length).toBeLessThan(4096);
    const parsed = parseHardeningReport(message)!;
    const full = JSON.parse(report) as {
      script_sha256: string;
      kernel_context: string;
      protections: Array<{ id: string; status: string }>;
    };
    const ids = (s: string): string[] => full.protections.filter((p) => p.status === s).map((p) => p.id);
    expect(parsed).toEqual({
      sha256: full.script_sha256,
      context: full.kernel_context,
      pass: ids('pass'),
      fail: ids('fail'),
      na: ids('not-applicable'),
      error: undefined,
    });
    expect(parsed.fail.length).toBeGreaterThan(0);
  });

  it('refuses a script whose digest is not the expected one', () => {
    const { status, message } = runProgram('#!/bin/bash\nexit 0\n', 'f'.repeat(64));
    expect(status).toBe(3);
    expect(parseHardeningReport(message)?.error).toMatch(/digest/);
  });

  it('gives both hijack.sh runs --node-lease-seconds when HIJACK_NODE_LEASE_SECONDS is set, and none otherwise', () => {
    // The fake prints its arguments to stderr, so the program's own output is untouched.
    const fake =
      '#!/bin/bash\necho "args: $*" >&2\nif [ "${1:-}" = --check ]; then echo \'{}\'; fi\nexit 0\n';
    const args = (env: Record<string, string>): string[] => {
      const r = spawnArgs(fake, env);
      return r.split('\n').filter((l) => l.startsWith('args: '));
    };
    expect(args({ HIJACK_NODE_LEASE_SECONDS: '10' })).toEqual([
      'args: --apply-kernel --node-lease-seconds=10',
      'args: --check --node-lease-seconds=10',
    ]);
    expect(args({})).toEqual(['args: --apply-kernel', 'args: --check']);
  });

  it('reports a hijack.sh that fails to run', () => {
    const fake = '#!/bin/bash\nexit 2\n';
    const { status, message } = runProgram(fake, hijackScript(fake).sha256);
    expect(status).toBe(3);
    expect(parseHardeningReport(message)?.error).toBe('hijack.sh exited 2');
  });
});

describe('isHardenedLabelValue', () => {
  it.each([
    ['what digestPrefix writes', digestPrefix(script.sha256), true],
    ['another 12-hex digest prefix', '0123456789ab', true],
    ['absent', undefined, false],
    ['empty', '', false],
    ['true', 'true', false],
    ['false', 'false', false],
    ['11 hex', '0123456789a', false],
    ['13 hex', '0123456789abc', false],
    ['upper-case hex', '0123456789AB', false],
    ['the whole sha256', script.sha256, false],
    ['12 characters, not hex', 'hardened-now', false],
  ] as [string, string | undefined, boolean][])('%s → %s', (_d, value, expected) => {
    expect(isHardenedLabelValue(value)).toBe(expected);
  });
});
