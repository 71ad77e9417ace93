// The label freeze (the attacker review's F5 and F6): adding `celula.io/cell` to an ordinary pod made
// its namespace a colony namespace, and removing it from a holder's pod took the pod out of the
// operator's label-selected cache (it would never see that pod die). Two policies now refuse both for
// everyone but the operator: pod-cell-labels (every pod, every namespace, `pods` and `pods/status`,
// parameter-free) and pod-labels-frozen (every label of a pod in a colony namespace). The CEL itself
// runs on the real API server in test/integration/lockdown.test.ts; here, its shape.
import { describe, expect, it } from '@jest/globals';
import type { V1ValidatingAdmissionPolicy } from '@kubernetes/client-node';

import { LABELS } from '../../../src/api/types.js';
import {
  CELL_LABEL_KEYS,
  MESSAGES,
  POLICY,
  lockdownPolicies,
  type LockdownObject,
} from '../../../src/builders/lockdown.js';
import { cellLabels } from '../../../src/builders/labels.js';

const opts = { operatorNamespace: 'celula-system', operatorServiceAccount: 'celula-operator' };
const objs = lockdownPolicies(opts);

function policy(name: string): NonNullable<V1ValidatingAdmissionPolicy['spec']> {
  const o = objs.find(
    (x: LockdownObject) => x.kind === 'ValidatingAdmissionPolicy' && x.metadata?.name === name,
  );
  if (o?.kind !== 'ValidatingAdmissionPolicy' || !o.spec) throw new Error(`policy ${name} not built`);
  return o.spec;
}

describe('pod-cell-labels', () => {
  const spec = policy(POLICY.cellLabels);
  const text = JSON.stringify(spec);

  it('covers pod updates and status updates, in every namespace, without parameters', () => {
    expect(spec.matchConstraints?.resourceRules).toEqual([
      { apiGroups: [''], apiVersions: ['*'], operations: ['UPDATE'], resources: ['pods', 'pods/status'] },
    ]);
    expect(spec.paramKind).toBeUndefined();
    expect(text).not.toContain('params.');
    expect(spec.matchConditions).toBeUndefined();
  });

  it('freezes every label the operator selects cell pods by', () => {
    const selected = Object.keys(cellLabels('lottery', 'lottery-0', 0, true));
    const frozen = [...CELL_LABEL_KEYS, LABELS.managedBy];
    expect([...selected].sort()).toEqual([...frozen].sort());
    for (const key of frozen) {
      expect(text).toContain(`'${key}' in object.metadata.labels`);
      expect(text).toContain(`'${key}' in oldObject.metadata.labels`);
    }
  });

  it('exempts the operator only', () => {
    const [v] = spec.validations ?? [];
    expect(
      v?.expression.startsWith(
        "request.userInfo.username == 'system:serviceaccount:celula-system:celula-operator' || ",
      ),
    ).toBe(true);
    expect(text).not.toContain('system:node');
  });

  it('says what was refused, starting with celula:', () => {
    const [before, after] = MESSAGES.cellLabels('NS', 'P').split('NS/P');
    expect(before).toMatch(/^celula: /);
    expect(spec.validations?.[0]?.messageExpression).toBe(
      `'${before}' + request.namespace + '/' + request.name + '${after}'`,
    );
  });
});

describe('pod-labels-frozen', () => {
  const spec = policy(POLICY.podLabels);

  it('covers pod updates in colony namespaces (the ns.<namespace> key), the operator exempt', () => {
    expect(spec.matchConstraints?.resourceRules?.map((r) => r.resources)).toEqual([['pods']]);
    expect(spec.paramKind).toEqual({ apiVersion: 'celula.io/v1alpha1', kind: 'LockdownParameters' });
    const [v] = spec.validations ?? [];
    expect(v?.expression).toContain("'ns.' + request.namespace");
    expect(v?.expression).toContain('object.metadata.labels != oldObject.metadata.labels');
    expect(v?.expression.startsWith('variables.byOperator || ')).toBe(true);
  });

  it('leaves a cell-label change to pod-cell-labels (one refusal, one message)', () => {
    expect(spec.validations?.[0]?.expression).toContain('variables.cellLabelsChanged || ');
    const cell = spec.variables?.find((v) => v.name === 'cellLabelsChanged')?.expression;
    const [v] = policy(POLICY.cellLabels).validations ?? [];
    expect(v?.expression).toContain(cell);
  });

  it('says what was refused, starting with celula:', () => {
    const [before, after] = MESSAGES.podLabels('NS', 'P').split('NS/P');
    expect(before).toMatch(/^celula: /);
    expect(spec.validations?.[0]?.messageExpression).toBe(
      `'${before}' + request.namespace + '/' + request.name + '${after}'`,
    );
  });
});
