// The Helm chart (charts/celula) with the real helm binary and the real API server: `helm lint`
// passes, `helm template` renders, and every rendered object is accepted by the API server in a
// server-side dry run. Nothing but the CRDs and a scratch namespace is created for real: the
// lock-down bindings are cluster-wide and would refuse other tests' actions in the shared cluster.
// helm and kubectl come from $CELULA_CACHE/bin (test/cluster/build.sh builds them when missing);
// a missing binary fails the test, it is never skipped.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import yaml from 'js-yaml';
import { CRD_NAMES } from '../../src/api/crds.js';
import { OPERATOR_NODE_FLAGS } from '../../src/install.js';
import { ensureBinaries } from '../cluster/controlplane.js';
import { repoRoot } from '../../scripts/generate-chart.js';
import { clusterInfo, deleteNamespace, uniqueNamespace } from './support/cluster.js';

const CHART = path.join(repoRoot(), 'charts', 'celula');
const DIGEST = `sha256:${'a'.repeat(64)}`;
const NS = uniqueNamespace('helm');

interface Run {
  code: number;
  out: string;
  err: string;
}

let bin: string;
let kubeconfig: string;
let helmHome: string;

function run(cmd: string, args: string[], stdin?: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(
      path.join(bin, cmd),
      args,
      {
        timeout: 60_000,
        maxBuffer: 16 << 20,
        env: {
          ...process.env,
          HELM_CACHE_HOME: path.join(helmHome, 'cache'),
          HELM_CONFIG_HOME: path.join(helmHome, 'config'),
          HELM_DATA_HOME: path.join(helmHome, 'data'),
        },
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, out: stdout, err: stderr });
      },
    );
    if (stdin !== undefined) child.stdin?.end(stdin);
  });
}

async function ok(cmd: string, args: string[], stdin?: string): Promise<string> {
  const r = await run(cmd, args, stdin);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.code}):\n${r.err}${r.out}`);
  return r.out;
}

const kubectl = (args: string[], stdin?: string): Promise<string> =>
  ok('kubectl', ['--kubeconfig', kubeconfig, ...args], stdin);

type Doc = { kind: string; metadata: { name: string; namespace?: string } };

function docs(text: string): Doc[] {
  return (yaml.loadAll(text) as Array<Doc | null>).filter((d): d is Doc => d !== null && d !== undefined);
}

beforeAll(async () => {
  // Builds helm/kubectl when missing and throws when that fails.
  bin = ensureBinaries((l) => process.stderr.write(`${l}\n`), ['helm', 'kubectl']);
  kubeconfig = clusterInfo().kubeconfig;
  helmHome = mkdtempSync(path.join(os.tmpdir(), 'celula-helm-'));
  await kubectl(['create', 'namespace', NS]);
  // Pod Security Admission warns about workloads whose pod template breaks the profile.
  await kubectl(['label', 'namespace', NS, 'pod-security.kubernetes.io/warn=restricted']);
});

afterAll(async () => {
  await deleteNamespace(NS);
  if (helmHome) rmSync(helmHome, { recursive: true, force: true });
});

describe('charts/celula', () => {
  it('passes helm lint (strict) with a digest', async () => {
    const out = await ok('helm', ['lint', '--strict', CHART, '--set', `image.digest=${DIGEST}`]);
    expect(out).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
  });

  it('refuses to render without a digest, or with a tag-like one', async () => {
    const none = await run('helm', ['template', 'celula', CHART]);
    expect(none.code).not.toBe(0);
    expect(none.err).toMatch(/image\.digest is required/);
    const bad = await run('helm', ['template', 'celula', CHART, '--set', 'image.digest=latest']);
    expect(bad.code).not.toBe(0);
    expect(bad.err).toMatch(/image\.digest must be sha256/);
  });

  it('renders objects the API server accepts (server-side dry run; CRDs applied first)', async () => {
    // Helm installs crds/ before templates; do the same. The CRDs are the same as crds/ (checked by
    // test/unit/chart.test.ts), which other tests install too, so applying them for real is harmless.
    await kubectl(['apply', '--server-side', '--force-conflicts', '-f', path.join(CHART, 'crds')]);
    await kubectl([
      'wait',
      '--for=condition=Established',
      '--timeout=30s',
      ...CRD_NAMES.map((n) => `crd/${n}`),
    ]);

    const rendered = await ok('helm', [
      'template',
      'celula',
      CHART,
      '-n',
      NS,
      '--set',
      `image.digest=${DIGEST}`,
    ]);
    const objects = docs(rendered);
    const kinds = objects.map((d) => d.kind);
    for (const k of [
      'Deployment',
      'ServiceAccount',
      'ClusterRole',
      'LockdownParameters',
      'ValidatingAdmissionPolicyBinding',
    ])
      expect(kinds).toContain(k);
    for (const d of objects.filter((o) => o.metadata.namespace !== undefined))
      expect(d.metadata.namespace).toBe(NS);
    expect(rendered).not.toContain('{{');
    expect(rendered).toContain(`system:serviceaccount:${NS}:celula-operator`);
    // The operator runs with the V8 flags every local launcher uses (the memory the docs measured).
    const deployment = objects.find((o) => o.kind === 'Deployment') as unknown as {
      spec: { template: { spec: { containers: Array<{ command: string[] }> } } };
    };
    expect(deployment.spec.template.spec.containers[0]?.command).toEqual([
      'node',
      ...OPERATOR_NODE_FLAGS,
      'dist/src/main.js',
    ]);

    const r = await run(
      'kubectl',
      ['--kubeconfig', kubeconfig, 'apply', '--dry-run=server', '-f', '-'],
      rendered,
    );
    if (r.code !== 0) throw new Error(`kubectl apply --dry-run=server refused the chart:\n${r.err}${r.out}`);
    // The operator Deployment meets Pod Security "restricted" (no warning from the admission plugin).
    expect(r.err).not.toMatch(/would violate PodSecurity/);
    const out = r.out;
    // One line per object, each marked as a server dry run.
    const lines = out.trim().split('\n');
    expect(lines).toHaveLength(objects.length);
    for (const l of lines) expect(l).toMatch(/\(server dry run\)$/);
  });

  it('helm install --dry-run=server renders against the live cluster', async () => {
    const out = await ok('helm', [
      'install',
      'celula',
      CHART,
      '--kubeconfig',
      kubeconfig,
      '-n',
      NS,
      '--dry-run=server',
      // Other test files install the same cluster-scoped objects without Helm's ownership labels.
      '--take-ownership',
      '--set',
      `image.digest=${DIGEST}`,
    ]);
    expect(out).toMatch(/STATUS: pending-install/);
    expect(out).toContain(`Celula 0.1.0 is installed in namespace ${NS}`);
  });
});
