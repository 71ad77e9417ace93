// A ValidatingAdmissionPolicy that lets a cell's token write only its own Cell's public identity,
// once (DESIGN §4.4). Installed with the lock-down policies (chart); pure builders.
//
// Whom it matches: any service account whose token is bound to a pod — request.userInfo.extra then
// carries authentication.kubernetes.io/pod-name and pod-uid (TokenReview / authentication fill them
// for pod-bound projected tokens) — except the operator itself, whose pod-bound token must keep
// writing cell status. Everyone such a token belongs to may, on cells/status:
//   - write only the Cell named like its pod (cell pods are named after their Cell), in its own
//     namespace, and only the incarnation the Cell records (status.podUID, once the operator set it);
//   - change only status.publicKey and status.fingerprint, and only from unset (first write; an
//     identical re-write is allowed so a retry after a lost reply succeeds).
// A policy cannot stop a cluster-admin removing it; the operator watches its policies (lock-down).
import type {
  V1ValidatingAdmissionPolicy,
  V1ValidatingAdmissionPolicyBinding,
  V1Validation,
} from '@kubernetes/client-node';

import { GROUP, LABELS, MANAGER } from '../api/types.js';

export const CELL_IDENTITY_POLICY = 'celula-cell-identity';

/** Cell status fields only the operator writes; a cell's token must leave them exactly as they are. */
export const OPERATOR_CELL_STATUS_FIELDS = [
  'phase',
  'pod',
  'podUID',
  'node',
  'startedAt',
  'aliveAt',
  'diedAt',
  'unreachableSince',
  'reason',
  'message',
  'observedGeneration',
] as const;
/** What a cell reports about itself. */
export const CELL_REPORTED_STATUS_FIELDS = ['publicKey', 'fingerprint'] as const;

const EXTRA = "request.userInfo.extra['authentication.kubernetes.io/pod-name']";
const EXTRA_UID = "request.userInfo.extra['authentication.kubernetes.io/pod-uid']";

function unchanged(field: string): string {
  return (
    `(has(object.status.${field}) == has(oldObject.status.${field})) && ` +
    `(!has(object.status.${field}) || object.status.${field} == oldObject.status.${field})`
  );
}

function firstWrite(field: string): string {
  return (
    `!has(oldObject.status.${field}) || ` +
    `(has(object.status.${field}) && object.status.${field} == oldObject.status.${field})`
  );
}

function validations(): V1Validation[] {
  return [
    {
      expression: "request.userInfo.username.startsWith('system:serviceaccount:' + request.namespace + ':')",
      message: 'a cell may write only Cells in its own namespace',
      reason: 'Forbidden',
    },
    {
      expression: `${EXTRA}.size() == 1 && request.name == ${EXTRA}[0]`,
      messageExpression: `'a cell may write only its own Cell: the token of pod ' + ${EXTRA}.join(',') + ' may not write Cell ' + request.name`,
      reason: 'Forbidden',
    },
    {
      expression: 'has(object.status) && has(oldObject.status)',
      message: 'the Cell has no status yet; the operator writes it first',
      reason: 'Forbidden',
    },
    {
      expression: `!has(oldObject.status.podUID) || (${EXTRA_UID}.size() == 1 && oldObject.status.podUID == ${EXTRA_UID}[0])`,
      message: 'the token belongs to another incarnation of this Cell (status.podUID differs)',
      reason: 'Forbidden',
    },
    {
      expression: OPERATOR_CELL_STATUS_FIELDS.map(unchanged).join(' && '),
      message: `a cell may change only ${CELL_REPORTED_STATUS_FIELDS.join(' and ')} in its status`,
      reason: 'Forbidden',
    },
    ...CELL_REPORTED_STATUS_FIELDS.map((f): V1Validation => ({
      expression: firstWrite(f),
      message: `status.${f} is written once; a cell may not change it`,
      reason: 'Forbidden',
    })),
  ];
}

export interface CellIdentityPolicyOptions {
  /** Usernames exempt from the policy: the operator's service account (system:serviceaccount:<ns>:<name>). */
  exempt: string[];
  name?: string;
}

export function buildCellIdentityPolicy(opts: CellIdentityPolicyOptions): V1ValidatingAdmissionPolicy {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicy',
    metadata: { name: opts.name ?? CELL_IDENTITY_POLICY, labels: { [LABELS.managedBy]: MANAGER } },
    spec: {
      failurePolicy: 'Fail',
      matchConstraints: {
        resourceRules: [
          { apiGroups: [GROUP], apiVersions: ['*'], operations: ['UPDATE'], resources: ['cells/status'] },
        ],
      },
      matchConditions: [
        {
          name: 'pod-bound-service-account',
          expression:
            "request.userInfo.username.startsWith('system:serviceaccount:') && " +
            "'authentication.kubernetes.io/pod-name' in request.userInfo.extra",
        },
        {
          name: 'not-exempt',
          expression: `!(request.userInfo.username in ${JSON.stringify(opts.exempt)})`,
        },
      ],
      validations: validations(),
    },
  };
}

export function buildCellIdentityPolicyBinding(
  name = CELL_IDENTITY_POLICY,
): V1ValidatingAdmissionPolicyBinding {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicyBinding',
    metadata: { name, labels: { [LABELS.managedBy]: MANAGER } },
    spec: { policyName: name, validationActions: ['Deny'] },
  };
}
