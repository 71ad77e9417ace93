// What makes a namespace a colony namespace (the attacker review's F6): a Colony or a Cell in it. A
// pod carrying the cell label only keeps an already locked namespace locked (a colony's last cell
// pods outlive its Cells while the garbage collector works), it never locks a new one: whoever may
// label one pod must not stop a whole namespace's Deployments from making pods. The label itself is
// frozen by the pod-cell-labels policy (test/unit/builders/lockdown-labels.test.ts).
import { describe, expect, it } from '@jest/globals';
import type { V1Pod } from '@kubernetes/client-node';

import { LABELS, type Colony } from '../../../src/api/types.js';
import { lockdownParams } from '../../../src/builders/lockdown.js';
import { lockdownTargets } from '../../../src/controllers/lockdown.js';
import { colony } from '../../fixtures/objects.js';
import { harness, observeParams } from './lockdown-harness.js';

function pod(namespace: string, name: string, labels: Record<string, string> = {}): V1Pod {
  return { metadata: { namespace, name, labels }, spec: { containers: [], nodeName: 'worker-1' } };
}

const cellPod = (namespace: string, name: string): V1Pod =>
  pod(namespace, name, { [LABELS.cell]: name, [LABELS.managedBy]: 'celula-operator' });

const inVault = (name: string): Colony =>
  colony((c) => {
    c.metadata = { ...c.metadata, name, namespace: 'vault', uid: `${name}-uid` };
  });

describe('lockdownTargets: colony namespaces', () => {
  it('a cell label on an ordinary pod locks nothing (no Colony, no Cell, namespace not locked)', () => {
    const relabelled = pod('calico-system', 'calico-node-abcde', {
      'k8s-app': 'calico-node',
      [LABELS.cell]: 'x',
    });
    const t = lockdownTargets({ nodes: [], pods: [relabelled], cells: [], colonies: [] }, 'celula-system');
    const data = lockdownParams(t.nodes, t.pods, t.namespaces).data ?? {};
    expect(t.namespaces).toEqual([]);
    expect(Object.keys(data)).not.toContain('ns.calico-system');
  });

  it('locks a namespace with a Colony, and keeps a locked one while a cell pod is left', () => {
    const world = { nodes: [], cells: [], colonies: [inVault('a')], pods: [] };
    expect(lockdownTargets(world, 'celula-system').namespaces).toEqual(['vault']);
    // The Colony and its Cells are gone, one cell pod is still terminating: the key stays.
    const draining = { ...world, colonies: [], pods: [cellPod('vault', 'a-0')], locked: ['vault'] };
    expect(lockdownTargets(draining, 'celula-system').namespaces).toEqual(['vault']);
    // The same pod in a namespace that was not locked: nothing.
    expect(lockdownTargets({ ...draining, locked: [] }, 'celula-system').namespaces).toEqual([]);
    // The last cell pod gone: the key goes.
    expect(lockdownTargets({ ...draining, pods: [] }, 'celula-system').namespaces).toEqual([]);
  });

  it('a locked namespace with only ordinary pods left is unlocked (only cell pods keep the key)', () => {
    const t = lockdownTargets(
      { nodes: [], cells: [], colonies: [], pods: [pod('vault', 'web-1')], locked: ['vault'] },
      'celula-system',
    );
    expect(t.namespaces).toEqual([]);
  });

  it('never keeps a reserved namespace', () => {
    const t = lockdownTargets(
      { nodes: [], cells: [], colonies: [], pods: [cellPod('kube-system', 'x')], locked: ['kube-system'] },
      'celula-system',
    );
    expect(t.namespaces).toEqual([]);
  });
});

describe('the lock-down controller keeps a namespace while its cell pods remain', () => {
  it('keeps ns.vault after the last Colony goes while a cell pod is left, then drops it', async () => {
    const h = harness();
    await h.reconcile(); // Intact, nothing to lock
    h.colonies.items = [inVault('a')];
    await h.reconcile(); // writes ns.vault
    expect(h.paramWrites.at(-1)).toEqual({ 'ns.vault': '' });
    observeParams(h, { 'ns.vault': '' }, '2'); // the write comes back
    await h.reconcile();
    const writes = h.paramWrites.length;
    h.colonies.items = [];
    h.pods.items = [cellPod('vault', 'a-0')]; // terminating cell pod
    await h.reconcile();
    expect(h.paramWrites).toHaveLength(writes); // the key is kept: nothing written
    h.pods.items = [];
    await h.reconcile();
    expect(h.paramWrites.at(-1)).toEqual({});
  });

  it('does not lock a namespace for a relabelled pod the informer shows', async () => {
    const h = harness();
    await h.reconcile();
    h.pods.items = [pod('calico-system', 'calico-node-abcde', { [LABELS.cell]: 'x' })];
    h.src.cache('/pods').items = h.pods.items;
    await h.reconcile();
    expect(h.paramWrites).toEqual([]);
    expect(h.lockdown.state()).toBe('Intact');
  });
});
