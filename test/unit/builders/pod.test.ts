import { describe, expect, it } from '@jest/globals';
import { JOIN_AUDIENCE, LABELS } from '../../../src/api/types.js';
import { buildCellPod } from '../../../src/builders/pod.js';
import { boundedName, cellName } from '../../../src/builders/names.js';
import { cell, colony, DIGEST } from '../../fixtures/objects.js';

describe('buildCellPod', () => {
  const col = colony();
  const c = cell(col, 0, 'node-a', undefined, true);
  const pod = buildCellPod(col, c);
  const ctr = pod.spec!.containers[0]!;

  it('pins the pod to the cell node and never restarts it', () => {
    expect(pod.metadata!.name).toBe('lottery-0');
    expect(pod.spec!.nodeName).toBe('node-a');
    expect(pod.spec!.restartPolicy).toBe('Never');
    expect(ctr.image).toBe(DIGEST);
  });

  it('is owned by its Cell as controller', () => {
    expect(pod.metadata!.ownerReferences).toEqual([
      expect.objectContaining({ kind: 'Cell', name: 'lottery-0', uid: 'cell-uid-0', controller: true }),
    ]);
    expect(pod.metadata!.labels![LABELS.colony]).toBe('lottery');
    expect(pod.metadata!.labels![LABELS.genesis]).toBe('true');
  });

  it('meets Pod Security restricted with a read-only root filesystem', () => {
    expect(pod.spec!.securityContext).toMatchObject({
      runAsNonRoot: true,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(ctr.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      privileged: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'] },
    });
    expect(pod.spec!.hostNetwork).toBeUndefined();
    expect(pod.spec!.hostPID).toBeUndefined();
  });

  it('mounts the join-audience token and, separately, a default-audience API token (no automount)', () => {
    expect(pod.spec!.automountServiceAccountToken).toBe(false);
    const vol = (name: string) => pod.spec!.volumes!.find((v) => v.name === name)?.projected?.sources ?? [];
    expect(vol('join-token')).toEqual([
      { serviceAccountToken: expect.objectContaining({ audience: JOIN_AUDIENCE }) },
    ]);
    const api = vol('kube-api-access');
    expect(api.map((s) => s.serviceAccountToken?.audience)).toEqual([undefined, undefined, undefined]);
    expect(api.filter((s) => s.serviceAccountToken)).toHaveLength(1);
    expect(ctr.volumeMounts!.map((m) => [m.mountPath, m.readOnly])).toEqual([
      ['/var/run/secrets/celula.io/join', true],
      ['/var/run/secrets/kubernetes.io/serviceaccount', true],
    ]);
    expect(pod.spec!.volumes!.every((v) => v.secret === undefined && v.hostPath === undefined)).toBe(true);
  });

  it('copies the celula.io/cell-runtime label from the colony (and nothing else of its labels)', () => {
    expect(pod.metadata!.labels!['celula.io/cell-runtime']).toBeUndefined();
    const local = colony((x) => (x.metadata.labels = { 'celula.io/cell-runtime': 'local', team: 'a' }));
    const labels = buildCellPod(local, cell(local, 0, 'node-a', undefined, true)).metadata!.labels!;
    expect(labels['celula.io/cell-runtime']).toBe('local');
    expect(labels.team).toBeUndefined();
  });

  it('has Guaranteed resources (requests equal limits)', () => {
    expect(ctr.resources!.requests).toEqual(ctr.resources!.limits);
    expect(ctr.resources!.limits).toEqual({ cpu: '500m', memory: '256Mi' });
    const big = buildCellPod(
      colony((x) => (x.spec.resources = { memory: '1Gi' })),
      c,
    );
    expect(big.spec!.containers[0]!.resources!.limits).toEqual({ cpu: '500m', memory: '1Gi' });
  });

  it('tolerates an unreachable or not-ready node without a time limit (no eviction on suspicion)', () => {
    for (const key of ['node.kubernetes.io/unreachable', 'node.kubernetes.io/not-ready']) {
      const t = pod.spec!.tolerations!.filter((x) => x.key === key);
      expect(t).toEqual([{ key, operator: 'Exists', effect: 'NoExecute' }]);
    }
  });

  it('has a readiness probe and no liveness probe (a stalled holder is a suspect, never killed by its kubelet)', () => {
    const container = pod.spec!.containers[0]!;
    expect(container.readinessProbe?.httpGet?.path).toBe('/readyz');
    expect(container.livenessProbe).toBeUndefined();
    expect(container.startupProbe).toBeUndefined();
  });

  it('is deterministic', () => {
    expect(buildCellPod(col, c)).toEqual(pod);
  });
});

describe('names', () => {
  it.each([
    ['lottery', 0, 'lottery-0'],
    ['a'.repeat(70), 12, expect.stringMatching(/^a+-[0-9a-f]{8}-12$/)],
  ])('cellName(%s, %d)', (col, i, want) => {
    const name = cellName(col, i);
    expect(name).toEqual(want);
    expect(name.length).toBeLessThanOrEqual(63);
  });

  it('keeps distinct long names distinct', () => {
    expect(boundedName('x'.repeat(80), '1')).not.toBe(boundedName(`${'x'.repeat(79)}y`, '1'));
  });
});
