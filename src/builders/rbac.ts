// The operator's RBAC objects, built from the rules declared in src/builders/rbac-rules.ts.
// Pure; used by the chart generator, the demo and the integration tests (which run the operator
// with exactly these permissions).
import type {
  V1ClusterRole,
  V1ClusterRoleBinding,
  V1Role,
  V1RoleBinding,
  V1ServiceAccount,
} from '@kubernetes/client-node';
import { MANAGER } from '../api/types.js';
import { OPERATOR_NAME, OPERATOR_NAMESPACE_RULES, OPERATOR_RULES, policyRules } from './rbac-rules.js';

const labels = { 'app.kubernetes.io/name': MANAGER, 'app.kubernetes.io/part-of': 'celula' };

export interface OperatorRbac {
  serviceAccount: V1ServiceAccount;
  clusterRole: V1ClusterRole;
  clusterRoleBinding: V1ClusterRoleBinding;
  role: V1Role;
  roleBinding: V1RoleBinding;
}

export function operatorRbac(namespace: string): OperatorRbac {
  const subject = { kind: 'ServiceAccount', name: OPERATOR_NAME, namespace };
  return {
    serviceAccount: {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: OPERATOR_NAME, namespace, labels },
    },
    clusterRole: {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: OPERATOR_NAME, labels },
      rules: policyRules(OPERATOR_RULES),
    },
    clusterRoleBinding: {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: OPERATOR_NAME, labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: OPERATOR_NAME },
      subjects: [subject],
    },
    role: {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: OPERATOR_NAME, namespace, labels },
      rules: policyRules(OPERATOR_NAMESPACE_RULES),
    },
    roleBinding: {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: OPERATOR_NAME, namespace, labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: OPERATOR_NAME },
      subjects: [subject],
    },
  };
}
