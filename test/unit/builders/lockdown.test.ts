import { describe, expect, it } from '@jest/globals';
import yaml from 'js-yaml';
import {
  HASH_ANNOTATION,
  LOCKDOWN_PARAMS,
  MESSAGES,
  POLICY,
  contentHash,
  lockdownParams,
  lockdownPolicies,
  renderLockdownYaml,
  type LockdownObject,
} from '../../../src/builders/lockdown.js';

const opts = { operatorNamespace: 'celula-system', operatorServiceAccount: 'celula-operator' };

function find(objs: LockdownObject[], kind: string, name: string): LockdownObject {
  const o = objs.find((x) => x.kind === kind && x.metadata?.name === name);
  if (!o) throw new Error(`${kind} ${name} not built`);
  return o;
}

describe('lockdownPolicies', () => {
  const objs = lockdownPolicies(opts);
  const policies = objs.filter((o) => o.kind === 'ValidatingAdmissionPolicy');
  const bindings = objs.filter((o) => o.kind === 'ValidatingAdmissionPolicyBinding');

  it('builds one policy and one binding per rule, policies first, each sorted by name', () => {
    const names = Object.values(POLICY).sort();
    expect(policies.map((p) => p.metadata?.name)).toEqual(names);
    expect(bindings.map((b) => b.metadata?.name)).toEqual(names);
    expect(objs.slice(0, names.length)).toEqual(policies);
  });

  it('is deterministic', () => {
    expect(lockdownPolicies(opts)).toEqual(objs);
    expect(renderLockdownYaml(opts)).toEqual(renderLockdownYaml({ ...opts }));
  });

  it('fails closed: failurePolicy Fail, Deny actions, parameterNotFoundAction Deny on parameterised bindings', () => {
    for (const p of policies)
      expect(p.kind === 'ValidatingAdmissionPolicy' && p.spec?.failurePolicy).toBe('Fail');
    for (const b of bindings) {
      if (b.kind !== 'ValidatingAdmissionPolicyBinding') continue;
      expect(b.spec?.validationActions).toEqual(['Deny']);
      const policy = find(objs, 'ValidatingAdmissionPolicy', b.metadata!.name!);
      const parameterised =
        policy.kind === 'ValidatingAdmissionPolicy' && policy.spec?.paramKind !== undefined;
      expect(b.spec?.paramRef).toEqual(
        parameterised ? { name: LOCKDOWN_PARAMS, parameterNotFoundAction: 'Deny' } : undefined,
      );
    }
  });

  it('reads the cluster-scoped LockdownParameters, not a ConfigMap', () => {
    for (const p of policies) {
      if (p.kind !== 'ValidatingAdmissionPolicy') continue;
      const unparameterised = [
        POLICY.paramsGuard,
        POLICY.identityToken,
        POLICY.identityTokenSecret,
        POLICY.identityPod,
        POLICY.hardenedLabel,
        POLICY.colonyStatus,
        POLICY.cellLabels,
      ] as string[];
      expect(p.spec?.paramKind).toEqual(
        unparameterised.includes(p.metadata!.name!)
          ? undefined
          : { apiVersion: 'celula.io/v1alpha1', kind: 'LockdownParameters' },
      );
    }
  });

  it.each([
    [POLICY.podConnect, ['CONNECT'], ['pods/attach', 'pods/exec', 'pods/portforward', 'pods/proxy']],
    [POLICY.nodeProxy, ['CONNECT'], ['nodes/proxy']],
    [POLICY.ephemeral, ['UPDATE'], ['pods/ephemeralcontainers']],
    [POLICY.podSpec, ['UPDATE'], ['pods']],
    [POLICY.podLabels, ['UPDATE'], ['pods']],
    [POLICY.cellLabels, ['UPDATE'], ['pods', 'pods/status']],
    [POLICY.nodePods, ['CREATE'], ['pods']],
    [POLICY.nodeBinding, ['CREATE'], ['pods/binding']],
    [POLICY.paramsGuard, ['CREATE', 'UPDATE', 'DELETE'], ['lockdownparameters'], 'celula.io'],
    [POLICY.identityToken, ['CREATE'], ['serviceaccounts/token']],
    [POLICY.identityTokenSecret, ['CREATE', 'UPDATE'], ['secrets']],
    [POLICY.identityPod, ['CREATE'], ['pods']],
    [POLICY.hardenedLabel, ['CREATE', 'UPDATE'], ['nodes', 'nodes/status']],
    [POLICY.colonyStatus, ['UPDATE'], ['colonies/status'], 'celula.io'],
  ])('%s matches %j on %j (subresources named, no wildcards)', (name, ops, resources, group = '') => {
    const p = find(objs, 'ValidatingAdmissionPolicy', name);
    expect(p.kind === 'ValidatingAdmissionPolicy' && p.spec?.matchConstraints?.resourceRules).toEqual([
      { apiGroups: [group], apiVersions: ['*'], operations: ops, resources },
    ]);
  });

  it('guards the parameters by name, and collection deletes (no name)', () => {
    const guard = find(objs, 'ValidatingAdmissionPolicy', POLICY.paramsGuard);
    const conditions = guard.kind === 'ValidatingAdmissionPolicy' ? guard.spec?.matchConditions : undefined;
    expect(conditions).toEqual([
      {
        name: 'lockdown-params',
        expression: "!has(request.name) || request.name == '' || request.name == 'celula-lockdown'",
      },
    ]);
  });

  it('names the operator service account in the CEL that exempts it', () => {
    const p = find(objs, 'ValidatingAdmissionPolicy', POLICY.nodePods);
    const text = JSON.stringify(p.spec);
    expect(text).toContain("'system:serviceaccount:celula-system:celula-operator'");
    const other = lockdownPolicies({ operatorNamespace: 'ops', operatorServiceAccount: 'op' });
    expect(JSON.stringify(other)).toContain("'system:serviceaccount:ops:op'");
    expect(JSON.stringify(other)).not.toContain('celula-system');
  });

  it('labels every object and annotates the hash of its spec', () => {
    for (const o of objs) {
      expect(o.metadata?.labels?.['app.kubernetes.io/managed-by']).toBe('celula-operator');
      expect(o.metadata?.annotations?.[HASH_ANNOTATION]).toBe(contentHash(o.spec));
    }
  });

  it('keeps the TypeScript message mirrors in step with the CEL message expressions', () => {
    const guard = find(objs, 'ValidatingAdmissionPolicy', POLICY.paramsGuard);
    expect(JSON.stringify(guard.spec)).toContain(MESSAGES.paramsGuard());
    const pods = JSON.stringify(find(objs, 'ValidatingAdmissionPolicy', POLICY.nodePods).spec);
    expect(pods).toContain("only the operator\\\\'s cell pods may be placed on hardened node");
    // The CEL concatenates the namespace where the mirror has it: compare the pieces around it.
    const [before, after] = MESSAGES.colonyNamespacePod('NS').split('NS');
    expect(pods).toContain(`'${before}' + request.namespace + '${after}'`);
    const [b2, a2] = MESSAGES.cellPodUnlocked('NS').split('NS');
    expect(pods).toContain(`'${b2}' + request.namespace + '${a2}'`);
  });

  it('locks pods by their namespace key as well as by name: connect, debug containers, spec', () => {
    for (const name of [POLICY.podConnect, POLICY.ephemeral, POLICY.podSpec]) {
      const text = JSON.stringify(find(objs, 'ValidatingAdmissionPolicy', name).spec);
      expect({
        name,
        ns: text.includes("'ns.' + request.namespace"),
        pod: text.includes("'pod.' + request.namespace"),
      }).toEqual({
        name,
        ns: true,
        pod: true,
      });
    }
  });

  it('leaves pods naming an identity account to identity-pod (one refusal, one message)', () => {
    const pods = find(objs, 'ValidatingAdmissionPolicy', POLICY.nodePods) as LockdownObject & {
      spec: {
        variables: Array<{ name: string; expression: string }>;
        validations: Array<{ expression: string }>;
      };
    };
    const identity = pods.spec.variables.find((v) => v.name === 'identityAccount')?.expression ?? '';
    expect(identity).toContain("object.spec.serviceAccountName.endsWith('-cell')");
    expect(identity).toContain("request.namespace == 'celula-system'");
    expect(pods.spec.validations.map((v) => v.expression)).toContain(
      '!variables.colonyNamespace || variables.byOperator || variables.identityAccount',
    );
  });
});

describe('lockdownParams', () => {
  it('keys colony namespaces with ns.<namespace>, sorted with the rest', () => {
    const p = lockdownParams(
      ['n1'],
      [{ namespace: 'kube-system', name: 'cni' }],
      ['vault', 'lottery', 'vault'],
    );
    expect(Object.keys(p.data ?? {})).toEqual(['node.n1', 'ns.lottery', 'ns.vault', 'pod.kube-system.cni']);
  });

  it('keys hardened nodes and locked pods, sorted and de-duplicated', () => {
    const cm = lockdownParams(
      ['n2', 'n1', 'n1'],
      [
        { namespace: 'b', name: 'p' },
        { namespace: 'a', name: 'lottery-0' },
      ],
    );
    expect(cm.apiVersion).toBe('celula.io/v1alpha1');
    expect(cm.kind).toBe('LockdownParameters');
    expect(cm.metadata?.name).toBe('celula-lockdown');
    expect(cm.metadata?.namespace).toBeUndefined();
    expect(Object.keys(cm.data ?? {})).toEqual(['node.n1', 'node.n2', 'pod.a.lottery-0', 'pod.b.p']);
    expect(cm.metadata?.annotations?.[HASH_ANNOTATION]).toBe(contentHash(cm.data));
  });

  it('gives the same object for the same set in any order', () => {
    expect(lockdownParams(['a', 'b'], [])).toEqual(lockdownParams(['b', 'a'], []));
    expect(lockdownParams(['a'], [])).not.toEqual(lockdownParams(['a', 'b'], []));
  });

  it('produces plain, unambiguous keys for DNS names', () => {
    const cm = lockdownParams(['ip-10-0-0-1.ec2.internal'], [{ namespace: 'ns-1', name: 'x.y-0' }]);
    for (const k of Object.keys(cm.data ?? {})) expect(k).toMatch(/^[-._a-zA-Z0-9]+$/);
  });
});

describe('renderLockdownYaml', () => {
  it('puts the empty lock-down parameters before every binding, and parses back to the builders', () => {
    const docs = yaml.loadAll(renderLockdownYaml(opts)).filter(Boolean) as Array<{ kind: string }>;
    expect(docs[0]).toEqual(JSON.parse(JSON.stringify(lockdownParams([], []))));
    expect(docs[0]?.kind).toBe('LockdownParameters');
    expect(docs.slice(1)).toEqual(JSON.parse(JSON.stringify(lockdownPolicies(opts))));
    expect(renderLockdownYaml(opts).startsWith('# Generated by src/builders/lockdown.ts')).toBe(true);
  });
});
