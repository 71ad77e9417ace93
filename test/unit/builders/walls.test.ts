import { describe, expect, it } from '@jest/globals';
import yaml from 'js-yaml';

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
  HARDENED_VALUE_PATTERN,
  MESSAGE_PARTS,
  celMessage,
  wallMessage,
  type MessageKey,
} from '../../../src/builders/walls.js';

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
