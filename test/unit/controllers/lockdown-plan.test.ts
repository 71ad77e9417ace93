/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-return --
   the tamper table edits raw wire JSON, the way a `kubectl edit` would. */
import { describe, expect, it } from '@jest/globals';
import type { Cell, Colony } from '../../../src/api/types.js';
import { lockdownParams, lockdownPolicies } from '../../../src/builders/lockdown.js';
import {
  dataMatches,
  describePlan,
  mutatorsOfCellPods,
  planLockdown,
  policiesTampered,
  selectorExcludesCellPods,
  specMatches,
  type LockdownDesired,
  type ObservedLockdown,
} from '../../../src/controllers/lockdown-plan.js';
import {
  LOCKDOWN_RESYNC_MS,
  OWN_WRITES_KEPT,
  desiredLockdown,
  lockdownTargets,
  reconcileLockdown,
  reservedNamespace,
  type LockdownMemory,
  type LockdownWriter,
} from '../../../src/controllers/lockdown.js';

const opts = { operatorNamespace: 'celula-system', operatorServiceAccount: 'celula-operator' };
const params = lockdownParams(['n1'], [{ namespace: 'kube-system', name: 'cni-0' }], ['ns']);
const desired: LockdownDesired[] = [params, ...lockdownPolicies(opts)];

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

/** What the API server hands back: the desired objects with metadata noise and defaults filled in. */
function served(): ObservedLockdown {
  const withNoise = (o: LockdownDesired, i: number): any => {
    const c = clone(o) as any;
    c.metadata = { ...c.metadata, resourceVersion: String(100 + i), uid: `u${i}`, managedFields: [{}] };
    if (c.kind === 'ValidatingAdmissionPolicy') {
      c.spec.matchConstraints.matchPolicy = 'Equivalent';
      c.spec.matchConstraints.namespaceSelector = {};
      c.spec.matchConstraints.objectSelector = {};
      c.spec.matchConstraints.resourceRules = c.spec.matchConstraints.resourceRules.map((r: object) => ({
        ...r,
        scope: '*',
      }));
      c.status = { observedGeneration: 1 };
    }
    return c;
  };
  const all = desired.map(withNoise);
  return {
    params: all.find((o) => o.kind === 'LockdownParameters'),
    policies: all.filter((o) => o.kind === 'ValidatingAdmissionPolicy'),
    bindings: all.filter((o) => o.kind === 'ValidatingAdmissionPolicyBinding'),
  };
}

/** The object of the tamper tests' usual target, found by name (not by its place in the sorted list). */
const ephemeral = <T extends { metadata?: { name?: string } }>(objs: T[]): T =>
  objs.find((o) => o.metadata?.name === 'celula-lockdown-ephemeral-containers')!;

describe('planLockdown', () => {
  it('is intact when everything is there, ignoring metadata noise and server defaults', () => {
    expect(planLockdown(desired, served())).toEqual({ intact: true, actions: [], mutators: [] });
    expect(describePlan(planLockdown(desired, served()))).toBe('lock-down intact');
  });

  it('recreates everything, parameters first, when nothing is there', () => {
    const plan = planLockdown(desired, { policies: [], bindings: [], params: undefined });
    expect(plan.intact).toBe(false);
    expect(plan.actions).toHaveLength(desired.length);
    expect(plan.actions.every((a) => a.reason === 'Missing')).toBe(true);
    expect(plan.actions[0]).toEqual({
      kind: 'LockdownParameters',
      name: 'celula-lockdown',
      reason: 'Missing',
      desired: params,
    });
    const kinds = plan.actions.map((a) => a.kind);
    expect(kinds.lastIndexOf('ValidatingAdmissionPolicy')).toBeLessThan(
      kinds.indexOf('ValidatingAdmissionPolicyBinding'),
    );
  });

  it('calls parameters Outdated, not tampered, when they still hold what was last confirmed', () => {
    const confirmed = { ...params.data };
    const grown = lockdownParams(['n1'], [{ namespace: 'kube-system', name: 'cni-0' }], ['ns', 'ns2']);
    const plan = planLockdown([grown, ...desired.slice(1)], served(), confirmed);
    expect(plan).toEqual({
      intact: true,
      actions: [
        {
          kind: 'LockdownParameters',
          name: 'celula-lockdown',
          reason: 'Outdated',
          desired: grown,
          resourceVersion: '100',
        },
      ],
      mutators: [],
    });
    // Without the memory (first look), or when someone else changed them, it is a change.
    expect(planLockdown([grown, ...desired.slice(1)], served()).actions[0]?.reason).toBe('Changed');
    const edited = served();
    (edited.params as any).data = { 'node.n1': '' };
    const tampered = planLockdown([grown, ...desired.slice(1)], edited, confirmed);
    expect({ intact: tampered.intact, reason: tampered.actions[0]?.reason }).toEqual({
      intact: false,
      reason: 'Changed',
    });
  });

  type Tamper = [string, (o: ObservedLockdown) => void, string, 'Missing' | 'Changed'];
  const table: Tamper[] = [
    [
      'a deleted binding',
      (o) => o.bindings.splice(o.bindings.indexOf(ephemeral(o.bindings)), 1),
      'celula-lockdown-ephemeral-containers',
      'Missing',
    ],
    [
      'a deleted policy',
      (o) =>
        o.policies.splice(
          o.policies.findIndex((p: any) => p.metadata.name === 'celula-lockdown-hardened-node-binding'),
          1,
        ),
      'celula-lockdown-hardened-node-binding',
      'Missing',
    ],
    [
      'a binding being deleted',
      (o) => ((ephemeral(o.bindings) as any).metadata.deletionTimestamp = 't'),
      'celula-lockdown-ephemeral-containers',
      'Missing',
    ],
    ['deleted lock-down parameters', (o) => (o.params = undefined), 'celula-lockdown', 'Missing'],
    [
      'a binding switched to Warn',
      (o) => ((ephemeral(o.bindings) as any).spec.validationActions = ['Warn']),
      'celula-lockdown-ephemeral-containers',
      'Changed',
    ],
    [
      'a binding paramRef switched to Allow',
      (o) => ((ephemeral(o.bindings) as any).spec.paramRef.parameterNotFoundAction = 'Allow'),
      'celula-lockdown-ephemeral-containers',
      'Changed',
    ],
    [
      'a binding narrowed by matchResources',
      (o) =>
        ((ephemeral(o.bindings) as any).spec.matchResources = {
          namespaceSelector: { matchLabels: { none: 'x' } },
        }),
      'celula-lockdown-ephemeral-containers',
      'Changed',
    ],
    [
      'a policy validation rewritten to true',
      (o) => ((ephemeral(o.policies) as any).spec.validations[0].expression = 'true'),
      'celula-lockdown-ephemeral-containers',
      'Changed',
    ],
    [
      'a policy given an excluding rule',
      (o) =>
        ((ephemeral(o.policies) as any).spec.matchConstraints.excludeResourceRules = [
          { resources: ['pods/ephemeralcontainers'] },
        ]),
      'celula-lockdown-ephemeral-containers',
      'Changed',
    ],
    [
      'a policy given a never-true matchCondition',
      (o) => ((ephemeral(o.policies) as any).spec.matchConditions = [{ name: 'x', expression: 'false' }]),
      'celula-lockdown-ephemeral-containers',
      'Changed',
    ],
    [
      'a policy switched to Ignore',
      (o) => ((ephemeral(o.policies) as any).spec.failurePolicy = 'Ignore'),
      'celula-lockdown-ephemeral-containers',
      'Changed',
    ],
    [
      'a rule with a subresource dropped',
      (o) =>
        (
          o.policies.find((p: any) => p.metadata.name === 'celula-lockdown-pod-connect') as any
        ).spec.matchConstraints.resourceRules[0].resources.pop(),
      'celula-lockdown-pod-connect',
      'Changed',
    ],
    [
      'a node key removed from the parameters',
      (o) => delete (o.params as any).data['node.n1'],
      'celula-lockdown',
      'Changed',
    ],
    [
      'a key added to the parameters',
      (o) => ((o.params as any).data['node.x'] = ''),
      'celula-lockdown',
      'Changed',
    ],
  ];
  it.each(table)('detects %s', (_what, tamper, name, reason) => {
    const observed = served();
    tamper(observed);
    const plan = planLockdown(desired, observed);
    expect(plan.intact).toBe(false);
    expect(plan.actions.map((a) => [a.name, a.reason])).toEqual([[name, reason]]);
    const action = plan.actions[0]!;
    expect(action.desired.metadata?.name).toBe(name);
    if (reason === 'Changed') expect(action.resourceVersion).toMatch(/^\d+$/);
    expect(describePlan(plan)).toContain(`${name}: ${reason}`);
  });

  it('does not trust the hash annotation: an edited spec with the old annotation is changed', () => {
    const observed = served();
    (observed.policies[0] as any).spec.validations = [];
    expect(planLockdown(desired, observed).intact).toBe(false);
  });

  it('ignores a relabelled object and objects it does not want', () => {
    const observed = served();
    (observed.policies[0] as any).metadata.labels = { someone: 'else' };
    observed.policies.push({ metadata: { name: 'unrelated' }, spec: {} });
    expect(planLockdown(desired, observed).intact).toBe(true);
  });
});

// ---- Mutating admission that can reach cell pods ----

const podRule = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  apiGroups: [''],
  apiVersions: ['v1'],
  operations: ['CREATE'],
  resources: ['pods'],
  ...over,
});

/** A MutatingWebhookConfiguration with one webhook, as the API server returns it. */
const mwc = (name: string, webhook: Record<string, unknown>): any => ({
  metadata: { name, resourceVersion: '7' },
  webhooks: [{ name: `${name}.example.com`, namespaceSelector: {}, objectSelector: {}, ...webhook }],
});

/** A MutatingAdmissionPolicy with these matchConstraints. */
const map = (name: string, matchConstraints: Record<string, unknown>): any => ({
  metadata: { name },
  spec: { matchConstraints: { matchPolicy: 'Equivalent', ...matchConstraints }, mutations: [] },
});

describe('mutatorsOfCellPods', () => {
  type Row = [string, Record<string, unknown>, boolean];
  // [description, the webhook (rules, objectSelector, ...), can it change cell pods?]
  const webhooks: Row[] = [
    ['CREATE pods in the core group', { rules: [podRule()] }, true],
    ['UPDATE pods', { rules: [podRule({ operations: ['UPDATE'] })] }, true],
    ['every operation', { rules: [podRule({ operations: ['*'] })] }, true],
    ['every group and resource', { rules: [podRule({ apiGroups: ['*'], resources: ['*'] })] }, true],
    ['every resource and subresource', { rules: [podRule({ resources: ['*/*'] })] }, true],
    [
      'UPDATE of ephemeral containers',
      { rules: [podRule({ operations: ['UPDATE'], resources: ['pods/ephemeralcontainers'] })] },
      true,
    ],
    ['pods/* on UPDATE', { rules: [podRule({ operations: ['UPDATE'], resources: ['pods/*'] })] }, true],
    [
      'pods/* on CREATE (a "*" subresource includes none)',
      { rules: [podRule({ resources: ['pods/*'] })] },
      true,
    ],
    ['scope Namespaced', { rules: [podRule({ scope: 'Namespaced' })] }, true],
    ['another apiVersion (Equivalent reaches v1)', { rules: [podRule({ apiVersions: ['v2'] })] }, true],
    [
      'a namespaceSelector (not proof)',
      { rules: [podRule()], namespaceSelector: { matchLabels: { a: 'b' } } },
      true,
    ],
    [
      'matchConditions (not proof)',
      { rules: [podRule()], matchConditions: [{ name: 'x', expression: 'false' }] },
      true,
    ],
    [
      'an objectSelector cell pods can meet',
      {
        rules: [podRule()],
        objectSelector: { matchLabels: { 'app.kubernetes.io/managed-by': 'celula-operator' } },
      },
      true,
    ],
    [
      'an objectSelector on a label cell pods may carry',
      {
        rules: [podRule()],
        objectSelector: { matchExpressions: [{ key: 'celula.io/cell-runtime', operator: 'Exists' }] },
      },
      true,
    ],
    [
      'NotIn on the colony name (other colonies still match)',
      {
        rules: [podRule()],
        objectSelector: { matchExpressions: [{ key: 'celula.io/colony', operator: 'NotIn', values: ['a'] }] },
      },
      true,
    ],
    ['DELETE only', { rules: [podRule({ operations: ['DELETE'] })] }, false],
    ['CONNECT only', { rules: [podRule({ operations: ['CONNECT'] })] }, false],
    ['another group', { rules: [podRule({ apiGroups: ['apps'] })] }, false],
    ['deployments', { rules: [podRule({ resources: ['deployments'] })] }, false],
    ['pods/status only', { rules: [podRule({ operations: ['UPDATE'], resources: ['pods/status'] })] }, false],
    [
      '"*" is no subresource: not ephemeral containers',
      { rules: [podRule({ operations: ['UPDATE'], resources: ['*/status'] })] },
      false,
    ],
    ['cluster scope only', { rules: [podRule({ scope: 'Cluster' })] }, false],
    ['no rules', { rules: [] }, false],
    [
      'an objectSelector on a label cell pods never carry',
      { rules: [podRule()], objectSelector: { matchLabels: { 'sidecar.example/inject': 'true' } } },
      false,
    ],
    [
      'another manager',
      { rules: [podRule()], objectSelector: { matchLabels: { 'app.kubernetes.io/managed-by': 'helm' } } },
      false,
    ],
    [
      'DoesNotExist on the cell label',
      {
        rules: [podRule()],
        objectSelector: { matchExpressions: [{ key: 'celula.io/cell', operator: 'DoesNotExist' }] },
      },
      false,
    ],
    [
      'NotIn our manager',
      {
        rules: [podRule()],
        objectSelector: {
          matchExpressions: [
            { key: 'app.kubernetes.io/managed-by', operator: 'NotIn', values: ['celula-operator'] },
          ],
        },
      },
      false,
    ],
    [
      'genesis In a value it never has',
      {
        rules: [podRule()],
        objectSelector: {
          matchExpressions: [{ key: 'celula.io/genesis', operator: 'In', values: ['maybe'] }],
        },
      },
      false,
    ],
  ];

  it.each(webhooks.map(([d, w, m]) => [d, m, w] as const))('a webhook on %s → %s', (_d, matches, webhook) => {
    const found = mutatorsOfCellPods([mwc('inject', webhook)], []);
    expect(found.map((f) => f.name)).toEqual(matches ? ['inject'] : []);
  });

  it('names the webhook and the path in the finding', () => {
    expect(mutatorsOfCellPods([mwc('inject', { rules: [podRule()] })], [])).toEqual([
      {
        kind: 'MutatingWebhookConfiguration',
        name: 'inject',
        why: 'webhook inject.example.com can mutate cell pods (CREATE pods)',
      },
    ]);
  });

  it('finds a configuration when any one of its webhooks matches', () => {
    const config = mwc('two', { rules: [podRule({ resources: ['services'] })] });
    config.webhooks.push({ name: 'second.example.com', rules: [podRule({ operations: ['*'] })] });
    expect(mutatorsOfCellPods([config], [])[0]?.why).toBe(
      'webhook second.example.com can mutate cell pods (CREATE pods)',
    );
  });

  // [description, matchConstraints, can it change cell pods?]
  const policies: Row[] = [
    ['CREATE pods', { resourceRules: [podRule()] }, true],
    [
      'every resource',
      { resourceRules: [podRule({ apiGroups: ['*'], resources: ['*'], operations: ['*'] })] },
      true,
    ],
    [
      'CREATE and UPDATE pods, UPDATE excluded',
      {
        resourceRules: [podRule({ operations: ['CREATE', 'UPDATE'] })],
        excludeResourceRules: [podRule({ operations: ['UPDATE'] })],
      },
      true,
    ],
    [
      'deployments only',
      { resourceRules: [podRule({ apiGroups: ['apps'], resources: ['deployments'] })] },
      false,
    ],
    [
      'pods, all excluded',
      {
        resourceRules: [podRule({ operations: ['*'] })],
        excludeResourceRules: [podRule({ operations: ['*'], resources: ['pods', 'pods/*'] })],
      },
      false,
    ],
    [
      'pods, but only objects cell pods are not',
      { resourceRules: [podRule()], objectSelector: { matchLabels: { team: 'web' } } },
      false,
    ],
    ['no matchConstraints', {}, false],
  ];

  it.each(policies.map(([d, c, m]) => [d, m, c] as const))(
    'a MutatingAdmissionPolicy on %s → %s',
    (_d, matches, constraints) => {
      const found = mutatorsOfCellPods([], [map('mutate', constraints)]);
      expect(found).toEqual(
        matches
          ? [{ kind: 'MutatingAdmissionPolicy', name: 'mutate', why: expect.stringContaining('cell pods') }]
          : [],
      );
    },
  );

  it('lists webhooks and policies together, by kind then name', () => {
    const found = mutatorsOfCellPods(
      [mwc('zeta', { rules: [podRule()] }), mwc('alpha', { rules: [podRule()] })],
      [map('mid', { resourceRules: [podRule()] })],
    );
    expect(found.map((f) => `${f.kind}/${f.name}`)).toEqual([
      'MutatingAdmissionPolicy/mid',
      'MutatingWebhookConfiguration/alpha',
      'MutatingWebhookConfiguration/zeta',
    ]);
  });

  it('makes the plan broken, with nothing to restore and no tamper, and says why', () => {
    const observed = { ...served(), mutatingWebhooks: [mwc('inject', { rules: [podRule()] })] };
    const plan = planLockdown(desired, observed);
    expect({ intact: plan.intact, actions: plan.actions, tampered: policiesTampered(plan) }).toEqual({
      intact: false,
      actions: [],
      tampered: false,
    });
    expect(describePlan(plan)).toBe(
      'MutatingWebhookConfiguration inject: webhook inject.example.com can mutate cell pods (CREATE pods)',
    );
    const harmless = {
      ...served(),
      mutatingWebhooks: [mwc('inject', { rules: [podRule({ operations: ['DELETE'] })] })],
    };
    expect(planLockdown(desired, harmless).intact).toBe(true);
  });

  it.each([
    [undefined, false],
    [{}, false],
    [{ matchLabels: {} }, false],
    [{ matchExpressions: [{ key: 'celula.io/colony', operator: 'In', values: ['lottery'] }] }, false],
    [{ matchExpressions: [{ key: 'celula.io/colony', operator: 'DoesNotExist' }] }, true],
    [{ matchExpressions: [{ key: 'celula.io/cell-runtime', operator: 'DoesNotExist' }] }, false],
    [{ matchExpressions: [{ key: 'celula.io/genesis', operator: 'NotIn', values: ['true'] }] }, false],
    [
      { matchExpressions: [{ key: 'celula.io/genesis', operator: 'NotIn', values: ['true', 'false'] }] },
      true,
    ],
    [{ matchExpressions: [{ key: 'x', operator: 'NotIn', values: ['y'] }] }, false],
    [{ matchExpressions: [{ key: 'x', operator: 'Gt', values: ['1'] }] }, false],
  ] as [unknown, boolean][])('selectorExcludesCellPods(%j) → %s', (selector, excludes) => {
    expect(selectorExcludesCellPods(selector)).toBe(excludes);
  });
});

describe('specMatches / dataMatches', () => {
  it.each([
    [{ a: 1 }, { a: 1, matchPolicy: 'Equivalent' }, true],
    [{ a: 1 }, { a: 1, matchPolicy: 'Exact' }, false],
    [{ a: 1 }, { a: 1, namespaceSelector: {} }, true],
    [{ a: 1 }, { a: 1, namespaceSelector: { matchLabels: { x: 'y' } } }, false],
    [{ a: [1, 2] }, { a: [1] }, false],
    [{ a: [1] }, { a: [1], b: [] }, true],
    [{ a: 'x' }, { a: 'y' }, false],
    [{ a: 'x' }, undefined, false],
  ])('specMatches(%j, %j) = %s', (d, o, want) => expect(specMatches(d, o)).toBe(want));

  it.each([
    [{}, undefined, true],
    [{ k: '' }, { k: '' }, true],
    [{ k: '' }, {}, false],
    [{}, { k: '' }, false],
    [{ k: '' }, { k: 'x' }, false],
  ])('dataMatches(%j, %j) = %s', (d, o, want) => expect(dataMatches(d, o)).toBe(want));
});

describe('reconcileLockdown', () => {
  function fakeWriter() {
    const calls: string[] = [];
    const write: LockdownWriter = {
      create: (o) => Promise.resolve(void calls.push(`create ${o.kind} ${o.metadata?.name}`)),
      replace: (o, rv) => Promise.resolve(void calls.push(`replace ${o.kind} ${o.metadata?.name} @${rv}`)),
    };
    return { calls, write };
  }
  const targets = () => ({
    nodes: ['n1'],
    pods: [{ namespace: 'kube-system', name: 'cni-0' }],
    namespaces: ['ns'],
  });

  it('reports intact, writes nothing and resyncs slowly when nothing drifted', async () => {
    const { calls, write } = fakeWriter();
    const reports: boolean[] = [];
    const res = await reconcileLockdown({
      opts,
      targets,
      observe: served,
      write,
      report: (p) => void reports.push(p.intact),
    });
    expect({ calls, reports, res }).toEqual({
      calls: [],
      reports: [true],
      res: { requeueAfter: LOCKDOWN_RESYNC_MS },
    });
  });

  it('reports, then recreates a deleted binding and replaces an edited policy, checking back soon', async () => {
    const { calls, write } = fakeWriter();
    const observed = served();
    observed.bindings.splice(observed.bindings.indexOf(ephemeral(observed.bindings)), 1);
    (ephemeral(observed.policies) as any).spec.failurePolicy = 'Ignore';
    const summaries: string[] = [];
    const res = await reconcileLockdown({
      opts,
      targets,
      observe: () => observed,
      write,
      report: (_p, s) => void summaries.push(s),
    });
    expect(summaries).toEqual([
      'ValidatingAdmissionPolicy celula-lockdown-ephemeral-containers: Changed; ' +
        'ValidatingAdmissionPolicyBinding celula-lockdown-ephemeral-containers: Missing',
    ]);
    expect(calls).toEqual([
      'replace ValidatingAdmissionPolicy celula-lockdown-ephemeral-containers @102',
      'create ValidatingAdmissionPolicyBinding celula-lockdown-ephemeral-containers',
    ]);
    expect(res.requeueAfter).toBeLessThan(LOCKDOWN_RESYNC_MS);
  });

  it('remembers the parameters it saw intact, so its own update of them is no incident', async () => {
    const { calls, write } = fakeWriter();
    const memory: LockdownMemory = {};
    const reports: boolean[] = [];
    const base = {
      opts,
      observe: served,
      write,
      memory,
      report: (p: { intact: boolean }) => void reports.push(p.intact),
    };
    await reconcileLockdown({ ...base, targets });
    expect(memory.confirmedParams).toEqual(params.data);
    const grown = () => ({ ...targets(), namespaces: ['ns', 'ns2'] });
    const res = await reconcileLockdown({ ...base, targets: grown });
    expect({ calls, reports }).toEqual({
      calls: ['replace LockdownParameters celula-lockdown @100'],
      reports: [true, true],
    });
    expect(res.requeueAfter).toBeLessThan(LOCKDOWN_RESYNC_MS);
    expect(memory.confirmedParams).toEqual(params.data);
    expect(memory.writtenParams).toEqual([{ ...params.data, 'ns.ns2': '' }]);
  });

  it('knows its own writes when the informer shows an older one while the targets moved again (no false incident)', async () => {
    // The race behind issue 12's false incidents: the operator writes ns2, then ns2+ns3 before the
    // informer has shown the first write; then the informer shows the FIRST write while ns4 appears.
    // The observed data is neither what was confirmed, nor the last write, nor what is desired.
    const { calls, write } = fakeWriter();
    const memory: LockdownMemory = {};
    const reports: boolean[] = [];
    const report = (p: { intact: boolean }): void => void reports.push(p.intact);
    const withNs =
      (...ns: string[]) =>
      () => ({ ...targets(), namespaces: ['ns', ...ns] });
    const base = { opts, write, memory, report };
    await reconcileLockdown({ ...base, observe: served, targets });
    await reconcileLockdown({ ...base, observe: served, targets: withNs('ns2') });
    await reconcileLockdown({ ...base, observe: served, targets: withNs('ns2', 'ns3') });
    const firstWrite = served();
    (firstWrite.params as any).data = { ...params.data, 'ns.ns2': '' };
    (firstWrite.params as any).metadata.resourceVersion = '200';
    await reconcileLockdown({ ...base, observe: () => firstWrite, targets: withNs('ns2', 'ns3', 'ns4') });
    expect({ calls, reports }).toEqual({
      calls: [
        'replace LockdownParameters celula-lockdown @100',
        'replace LockdownParameters celula-lockdown @100',
        'replace LockdownParameters celula-lockdown @200',
      ],
      reports: [true, true, true, true],
    });
    // Someone else's data (a key removed) is still a change.
    const edited = served();
    (edited.params as any).data = { 'node.n1': '' };
    const plan = planLockdown(desiredLockdown(opts, withNs('ns2', 'ns3')()), edited, [
      memory.confirmedParams!,
      ...memory.writtenParams!,
    ]);
    expect({ intact: plan.intact, reason: plan.actions[0]?.reason }).toEqual({
      intact: false,
      reason: 'Changed',
    });
  });

  it(`remembers only its last ${OWN_WRITES_KEPT} writes`, async () => {
    const { write } = fakeWriter();
    const memory: LockdownMemory = {};
    for (let i = 0; i < OWN_WRITES_KEPT + 3; i++) {
      const t = () => ({ ...targets(), namespaces: ['ns', `x${i}`] });
      await reconcileLockdown({
        opts,
        observe: served,
        write,
        memory,
        report: () => undefined,
        targets: t,
      });
    }
    expect(memory.writtenParams).toHaveLength(OWN_WRITES_KEPT);
    expect(memory.writtenParams!.at(-1)).toHaveProperty([`ns.x${OWN_WRITES_KEPT + 2}`]);
  });

  it('does not remember a write that lost a race (409): the informer lagged, nothing was written', async () => {
    const memory: LockdownMemory = {};
    const conflict = Object.assign(new Error('conflict'), { code: 409 });
    const write: LockdownWriter = {
      create: () => Promise.resolve(),
      replace: () => Promise.reject(conflict),
    };
    const grown = () => ({ ...targets(), namespaces: ['ns', 'ns2'] });
    await reconcileLockdown({
      opts,
      observe: served,
      write,
      memory,
      report: () => undefined,
      targets: grown,
    });
    expect(memory.writtenParams).toBeUndefined();
  });

  it('tolerates AlreadyExists on create (stale cache) but throws other write errors', async () => {
    const observed = served();
    observed.params = undefined;
    const conflict = Object.assign(new Error('exists'), { code: 409 });
    const base = { opts, targets, observe: () => observed, report: () => undefined };
    const ok: LockdownWriter = { create: () => Promise.reject(conflict), replace: () => Promise.resolve() };
    await expect(reconcileLockdown({ ...base, write: ok })).resolves.toBeDefined();
    const boom: LockdownWriter = {
      create: () => Promise.reject(new Error('boom')),
      replace: () => Promise.resolve(),
    };
    await expect(reconcileLockdown({ ...base, write: boom })).rejects.toThrow('boom');
  });
});

describe('lockdownTargets', () => {
  const none = { cells: [], pods: [], colonies: [] };
  it.each([
    ['a digest prefix', 'abc123def456', ['h1']],
    ['true (set by hand)', 'true', []],
    ['empty', '', []],
    ['a short hex value', 'abc123', []],
  ] as [string, string, string[]][])('locks a node labelled %s only if hardened', (_d, value, expected) => {
    const labels = { 'node-restriction.kubernetes.io/celula-hardened': value };
    const t = lockdownTargets({ ...none, nodes: [{ metadata: { name: 'h1', labels } }] });
    expect(t.nodes).toEqual(expected);
  });

  it('locks hardened nodes, colony namespaces (colonies, Cells; kept for cell pods) and other pods on a hardened node', () => {
    const hardenedLabel = { 'node-restriction.kubernetes.io/celula-hardened': 'abc123def456' };
    const t = lockdownTargets({
      nodes: [{ metadata: { name: 'h1', labels: hardenedLabel } }, { metadata: { name: 'plain' } }],
      colonies: [{ metadata: { namespace: 'ns', name: 'lottery' } } as Colony],
      // A Cell left after its Colony went (garbage collection in progress): its namespace stays locked.
      cells: [{ metadata: { namespace: 'leaving', name: 'old-1' } } as Cell],
      pods: [
        {
          metadata: { namespace: 'ns', name: 'lottery-0', labels: { 'celula.io/cell': 'lottery-0' } },
          spec: { nodeName: 'h1', containers: [] },
        },
        // The last cell pod of a locked namespace whose Colony and Cells are gone: still locked.
        {
          metadata: { namespace: 'draining', name: 'x-0', labels: { 'celula.io/cell': 'x-0' } },
          spec: { nodeName: 'plain', containers: [] },
        },
        { metadata: { namespace: 'kube-system', name: 'cni-x' }, spec: { nodeName: 'h1', containers: [] } },
        { metadata: { namespace: 'ns', name: 'old-agent' }, spec: { nodeName: 'h1', containers: [] } },
        { metadata: { namespace: 'default', name: 'web' }, spec: { nodeName: 'plain', containers: [] } },
        { metadata: { namespace: 'default', name: 'pending' }, spec: { containers: [] } },
      ],
      // The keys in force: `draining` was a colony namespace.
      locked: ['draining', 'ns'],
    });
    expect(t).toEqual({
      nodes: ['h1'],
      namespaces: ['draining', 'leaving', 'ns'],
      // Pods in a colony namespace are covered by its key: no per-pod key, none per cell.
      pods: [{ namespace: 'kube-system', name: 'cni-x' }],
    });
    const params = lockdownParams(t.nodes, t.pods, t.namespaces);
    expect(Object.keys(params.data ?? {})).toEqual([
      'node.h1',
      'ns.draining',
      'ns.leaving',
      'ns.ns',
      'pod.kube-system.cni-x',
    ]);
  });

  it('gives the same parameters however many cells a colony namespace holds', () => {
    const colonies = [{ metadata: { namespace: 'ns', name: 'a' } } as Colony];
    const cells = (n: number): Cell[] =>
      Array.from({ length: n }, (_, i) => ({ metadata: { namespace: 'ns', name: `a-${i}` } }) as Cell);
    const params = (n: number) => {
      const t = lockdownTargets({ nodes: [], pods: [], colonies, cells: cells(n) });
      return lockdownParams(t.nodes, t.pods, t.namespaces);
    };
    expect(params(100)).toEqual(params(0));
    expect(params(0).data).toEqual({ 'ns.ns': '' });
  });

  it("never locks a reserved namespace (kube-*, the operator's), even with a colony in it", () => {
    const t = lockdownTargets({
      nodes: [],
      pods: [],
      cells: [],
      colonies: [{ metadata: { namespace: 'kube-system', name: 'x' } } as Colony],
    });
    expect(t.namespaces).toEqual([]);
    expect(reservedNamespace('kube-system')).toBe(true);
    expect(reservedNamespace('kubernetes-apps')).toBe(false);
    // The operator's namespace: its hardening Jobs' pods come from the Job controller.
    const inOperatorNs = {
      nodes: [],
      pods: [],
      cells: [],
      colonies: [{ metadata: { namespace: 'ops', name: 'x' } } as Colony],
    };
    expect(lockdownTargets(inOperatorNs, 'ops').namespaces).toEqual([]);
    expect(lockdownTargets(inOperatorNs, 'celula-system').namespaces).toEqual(['ops']);
  });
});
