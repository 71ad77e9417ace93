import { describe, expect, it } from '@jest/globals';
import type { V1ValidatingAdmissionPolicySpec } from '@kubernetes/client-node';
import yaml from 'js-yaml';

import {
  buildCellIdentityPolicy,
  OPERATOR_CELL_STATUS_FIELDS,
} from '../../../src/builders/cell-identity-policy.js';
import { digestPrefix, hijackScript } from '../../../src/builders/hardening.js';
import { POLICY, lockdownPolicies } from '../../../src/builders/lockdown.js';
import { cellServiceAccountName } from '../../../src/builders/names.js';
import {
  DEFAULT_STATIC_IDENTITY,
  STATIC_POLICY,
  STATIC_SUFFIX,
  renderAdmissionConfiguration,
  renderStaticManifest,
  staticPolicyObjects,
} from '../../../src/builders/static-policies.js';
import {
  CELL_REPORTED_FIELDS,
  HARDENED_VALUE_PATTERN,
  MESSAGE_PARTS,
  celMessage,
  wallMessage,
  type MessageKey,
} from '../../../src/builders/walls.js';

import { CELL_REPORTED_FIELDS as OPERATOR_KEEPS } from '../../../src/controllers/cell.js';
import { keptStatus } from '../../../src/controllers/writer.js';
import { statusPatchBody } from '../../../src/runtime/apply.js';

const opts = { operatorNamespace: 'celula-system', operatorServiceAccount: 'celula-operator' };

describe('wall messages: one table, two renderings', () => {
  it.each(Object.keys(MESSAGE_PARTS) as MessageKey[])(
    '%s starts with "celula:" and renders both ways',
    (key) => {
      const parts = MESSAGE_PARTS[key];
      const args = Object.fromEntries(
        parts.filter((p) => typeof p !== 'string').map((p) => [p.name, `<${p.name}>`]),
      );
      const text = wallMessage(key, args);
      expect(text.startsWith('celula: ')).toBe(true);
      // The CEL concatenates exactly the literals of the mirror, in order.
      const cel = celMessage(key);
      for (const p of parts) expect(cel).toContain(typeof p === 'string' ? p.replace(/'/g, "\\'") : p.cel);
    },
  );

  it('renders a message with its values', () => {
    expect(wallMessage('identityToken', { namespace: 'ns', name: 'lottery-cell', user: 'alice' })).toBe(
      'celula: tokens for ns/lottery-cell (a cell or operator service account) are issued only to a kubelet for its own pod; alice may not',
    );
  });

  it('names a missing value', () => {
    expect(() => wallMessage('identityToken', { namespace: 'ns' })).toThrow(
      'message identityToken needs a value for "name"',
    );
  });
});

describe('conventions the walls match on', () => {
  it.each(['lottery', 'a', 'x'.repeat(80)])('cell service account of colony %s ends in -cell', (colony) => {
    expect(cellServiceAccountName(colony).endsWith('-cell')).toBe(true);
  });

  it('the hardened label pattern accepts the hardening digest prefix and nothing looser', () => {
    const re = new RegExp(HARDENED_VALUE_PATTERN);
    expect(re.test(digestPrefix(hijackScript('#!/bin/sh\n').sha256))).toBe(true);
    for (const bad of ['true', '', 'ABCDEF012345', '0123456789abc', '0123456789a'])
      expect(re.test(bad)).toBe(false);
  });
});

describe('API-side identity walls', () => {
  const objs = lockdownPolicies(opts);
  it.each([POLICY.identityToken, POLICY.identityTokenSecret, POLICY.identityPod, POLICY.hardenedLabel])(
    '%s is an unparameterised policy with a binding',
    (name) => {
      const p = objs.find((o) => o.kind === 'ValidatingAdmissionPolicy' && o.metadata?.name === name);
      const b = objs.find((o) => o.kind === 'ValidatingAdmissionPolicyBinding' && o.metadata?.name === name);
      expect(p?.kind === 'ValidatingAdmissionPolicy' && p.spec?.paramKind).toBeUndefined();
      expect(b?.kind === 'ValidatingAdmissionPolicyBinding' && b.spec?.paramRef).toBeUndefined();
    },
  );

  it('the static label walls cover the status subresources, through which labels change too', () => {
    const statics = staticPolicyObjects().filter((o) => o.kind === 'ValidatingAdmissionPolicy');
    const resources = (name: string): string[] =>
      statics
        .filter((o) => o.metadata?.name === name)
        .flatMap((o) => (o.spec as V1ValidatingAdmissionPolicySpec).matchConstraints?.resourceRules ?? [])
        .flatMap((r) => r.resources ?? []);
    expect(resources(STATIC_POLICY.hardenedLabel)).toEqual(['nodes', 'nodes/status']);
    expect(resources(STATIC_POLICY.sealedLabel)).toEqual(['namespaces', 'namespaces/status']);
  });

  it('the token wall names cell accounts by suffix and the operator account exactly', () => {
    const p = objs.find((o) => o.metadata?.name === POLICY.identityToken);
    const json = JSON.stringify(p);
    expect(json).toContain("request.name.endsWith('-cell')");
    expect(json).toContain("request.namespace == 'celula-system' && request.name == 'celula-operator'");
  });
});

describe('static policies', () => {
  const objs = staticPolicyObjects();
  const policies = objs.filter((o) => o.kind === 'ValidatingAdmissionPolicy');
  const bindings = objs.filter((o) => o.kind === 'ValidatingAdmissionPolicyBinding');

  it('obey the API server constraints: names end in .static.k8s.io, no parameters, v1 only', () => {
    expect(policies.map((p) => p.metadata?.name).sort()).toEqual(Object.values(STATIC_POLICY).sort());
    for (const o of objs) {
      expect(o.metadata?.name?.endsWith(STATIC_SUFFIX)).toBe(true);
      expect(o.apiVersion).toBe('admissionregistration.k8s.io/v1');
      expect(JSON.stringify(o)).not.toMatch(/paramKind|paramRef|params\./);
    }
    for (const b of bindings) {
      const spec = (b as { spec: { policyName: string; validationActions: string[] } }).spec;
      expect(policies.map((p) => p.metadata?.name)).toContain(spec.policyName);
      expect(spec.validationActions).toEqual(['Deny']);
    }
  });

  it('scope exec/attach/port-forward/proxy and debug to sealed namespaces only', () => {
    const scoped = bindings
      .filter((b) => JSON.stringify(b).includes('namespaceSelector'))
      .map((b) => b.metadata?.name)
      .sort();
    expect(scoped).toEqual([STATIC_POLICY.sealedConnect, STATIC_POLICY.sealedEphemeral].sort());
  });

  it('bake in the default operator and render deterministically', () => {
    expect(DEFAULT_STATIC_IDENTITY).toEqual(opts);
    const text = renderStaticManifest();
    expect(text).toBe(renderStaticManifest());
    expect(text).toContain('system:serviceaccount:celula-system:celula-operator');
    expect(yaml.loadAll(text).filter(Boolean)).toHaveLength(objs.length);
  });

  it('are loaded through an AdmissionConfiguration with an absolute staticManifestsDir', () => {
    expect(yaml.load(renderAdmissionConfiguration('/etc/kubernetes/celula'))).toEqual({
      apiVersion: 'apiserver.config.k8s.io/v1',
      kind: 'AdmissionConfiguration',
      plugins: [
        {
          name: 'ValidatingAdmissionPolicy',
          configuration: {
            apiVersion: 'apiserver.config.k8s.io/v1',
            kind: 'ValidatingAdmissionPolicyConfiguration',
            staticManifestsDir: '/etc/kubernetes/celula',
          },
        },
      ],
    });
    expect(() => renderAdmissionConfiguration('static')).toThrow('must be an absolute path');
  });
});

describe('cell identity wall: the operator writes no cell-reported field', () => {
  const operator = 'system:serviceaccount:celula-system:celula-operator';
  const api = buildCellIdentityPolicy({ exempt: [operator] }).spec!;
  const operatorRule = api.validations!.find((v) => v.message === 'celula: forbidden (operatorReported)')!;
  const others = api.validations!.filter((v) => v !== operatorRule);

  it('the API and static variants are one builder: same variables and validations', () => {
    const fromStatic = staticPolicyObjects().find((o) => o.metadata?.name === STATIC_POLICY.cellWrites)!;
    const spec = (fromStatic as typeof fromStatic & { spec: typeof api }).spec;
    expect(spec.variables).toEqual(api.variables);
    expect(spec.validations).toEqual(api.validations);
    expect(spec.matchConditions).toBeUndefined();
  });

  it('lets the exempt operator past every check meant for others, and only those', () => {
    expect(others.length).toBeGreaterThan(0);
    for (const v of others) expect(v.expression.startsWith('variables.exempt || (')).toBe(true);
    expect(
      operatorRule.expression.startsWith("!variables.exempt || request.operation != 'UPDATE' || ("),
    ).toBe(true);
  });

  it.each(CELL_REPORTED_FIELDS.map((f) => [f]))(
    'holds the operator to leaving status.%s present or absent, and unchanged',
    (field) => {
      const p = (o: string): string => `(has(${o}.status) && has(${o}.status.${field}))`;
      expect(operatorRule.expression).toContain(`${p('object')} == ${p('oldObject')}`);
      expect(operatorRule.expression).toContain(`object.status.${field} == oldObject.status.${field}`);
    },
  );

  it.each(OPERATOR_CELL_STATUS_FIELDS.map((f) => [f]))(
    'leaves the operator free to write status.%s',
    (field) => {
      expect(operatorRule.expression).not.toContain(`status.${field})`);
      expect(operatorRule.expression).not.toContain(`status.${field} ==`);
    },
  );

  it("is the field list the operator's status writer keeps from the live Cell", () => {
    expect([...OPERATOR_KEEPS].sort()).toEqual([...CELL_REPORTED_FIELDS].sort());
  });

  it('names the operator and the fields in its refusal', () => {
    expect(wallMessage('operatorReported', { namespace: 'ns', name: 'lottery-3', user: operator })).toBe(
      `celula: publicKey, fingerprint, keyProof, joinKey in the status of Cell ns/lottery-3 are what its own pod reported; ${operator} (the operator) may not set, change or clear them`,
    );
  });
});

describe("the operator's Cell status patch never sets, changes or clears a cell-reported field", () => {
  const reported = {
    joinKey: `sha256:${'a'.repeat(64)}`,
    publicKey: 'ed25519:AAAA',
    fingerprint: `sha256:${'b'.repeat(32)}`,
    keyProof: 'cHJvb2Y=',
  };
  const cases: Array<[string, object, object]> = [
    ['none reported yet, desired names none', { phase: 'Joining' }, { phase: 'Alive' }],
    [
      'joinKey reported, desired omits it',
      { phase: 'Joining', joinKey: reported.joinKey },
      { phase: 'Alive' },
    ],
    [
      'all reported, desired omits them',
      { phase: 'Alive', ...reported },
      { phase: 'Dead', reason: 'PodGone' },
    ],
    // A stale or buggy desired status must not reach the API server either.
    [
      'all reported, desired carries stale values',
      { phase: 'Alive', ...reported },
      { phase: 'Dead', joinKey: 'x', publicKey: 'y' },
    ],
    [
      'none reported, desired carries values',
      { phase: 'Joining' },
      { phase: 'Alive', publicKey: 'y', keyProof: 'z' },
    ],
  ];
  it.each(cases)('%s', (_name, liveStatus, desired) => {
    const live = { metadata: { resourceVersion: '7' }, status: liveStatus };
    const body = statusPatchBody(live, keptStatus(desired, live, OPERATOR_KEEPS)) as
      { status: Record<string, unknown> } | undefined;
    expect(body).toBeDefined();
    for (const f of CELL_REPORTED_FIELDS) expect(Object.keys(body!.status)).not.toContain(f);
    expect(body!.status.phase).toBe((desired as { phase: string }).phase);
  });
});
