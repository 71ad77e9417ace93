import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { load } from 'js-yaml';

import {
  buildCellClusterRoleBinding,
  buildCellClusterRoles,
  buildCellRoleBinding,
  cellRulesByScope,
} from '../../../src/builders/cell-rbac.js';
import {
  buildCellIdentityPolicy,
  CELL_REPORTED_STATUS_FIELDS,
  OPERATOR_CELL_STATUS_FIELDS,
} from '../../../src/builders/cell-identity-policy.js';
import { CELL_RULES, policyRules } from '../../../src/builders/rbac-rules.js';
import { colony } from '../../fixtures/objects.js';

describe('cell RBAC', () => {
  const col = colony();

  it('grants exactly CELL_RULES, split by scope', () => {
    const { namespaced, cluster } = cellRulesByScope();
    expect([...namespaced, ...cluster]).toHaveLength(CELL_RULES.length);
    expect(new Set([...namespaced, ...cluster])).toEqual(new Set(policyRules(CELL_RULES)));
    expect(cluster.flatMap((r) => r.resources)).toEqual(['tokenreviews', 'nodes']);
    const roles = buildCellClusterRoles();
    expect(roles.map((r) => r.rules)).toEqual([namespaced, cluster]);
  });

  it('binds the colony cell service account only', () => {
    const rb = buildCellRoleBinding(col);
    const crb = buildCellClusterRoleBinding(col);
    for (const b of [rb, crb]) {
      expect(b.subjects).toEqual([
        { kind: 'ServiceAccount', name: 'lottery-cell', namespace: col.metadata.namespace },
      ]);
    }
    expect(rb.metadata!.namespace).toBe(col.metadata.namespace);
    expect(rb.metadata!.ownerReferences![0]!.uid).toBe(col.metadata.uid);
    expect(crb.metadata!.ownerReferences).toBeUndefined();
    expect(crb.metadata!.labels!['celula.io/colony-uid']).toBe(col.metadata.uid);
    expect(crb.metadata!.name!.length).toBeLessThanOrEqual(63);
  });
});

describe('cell identity policy', () => {
  it('names every Cell status field of the CRD as operator-owned or cell-reported', () => {
    const crd = load(readFileSync('crds/cells.celula.io.yaml', 'utf8')) as {
      spec: {
        versions: Array<{ schema: { openAPIV3Schema: { properties: { status: { properties: object } } } } }>;
      };
    };
    const fields = Object.keys(crd.spec.versions[0]!.schema.openAPIV3Schema.properties.status.properties);
    // Every field is classified (a new operator field must be listed, or a cell could change it).
    // joinKey and keyProof are the join protocol's contract; the CRD gains them with it.
    const classified = new Set<string>([...OPERATOR_CELL_STATUS_FIELDS, ...CELL_REPORTED_STATUS_FIELDS]);
    expect(fields.filter((f) => !classified.has(f))).toEqual([]);
    expect(CELL_REPORTED_STATUS_FIELDS).toEqual(['publicKey', 'fingerprint', 'keyProof', 'joinKey']);
  });

  it('matches every principal, the exempt operator included, on Cells and Cell status', () => {
    const p = buildCellIdentityPolicy({ exempt: ['system:serviceaccount:celula-system:celula-operator'] });
    expect(p.spec!.matchConstraints!.resourceRules).toEqual([
      {
        apiGroups: ['celula.io'],
        apiVersions: ['*'],
        operations: ['CREATE', 'UPDATE'],
        resources: ['cells'],
      },
      { apiGroups: ['celula.io'], apiVersions: ['*'], operations: ['UPDATE'], resources: ['cells/status'] },
    ]);
    // No match condition: no "pod-bound" precondition lets unbound tokens or admins slip by, and the
    // operator is matched too (it may not touch what a cell reports about itself).
    expect(p.spec!.matchConditions).toBeUndefined();
    expect(p.spec!.variables).toEqual([
      {
        name: 'exempt',
        expression: "request.userInfo.username in ['system:serviceaccount:celula-system:celula-operator']",
      },
    ]);
    expect(p.spec!.failurePolicy).toBe('Fail');
  });

  it.each([
    [[], /must name the operator/],
    [['celula-admin'], /not a service account username/],
  ])('refuses exempt %j', (exempt, err) => {
    expect(() => buildCellIdentityPolicy({ exempt })).toThrow(err);
  });
});
