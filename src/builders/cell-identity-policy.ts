// The ValidatingAdmissionPolicy that keeps Cells and Cell status the operator's, except a cell's own
// identity write (docs/lockdown.md "Cells and Cell status"). Installed with the cell
// roles (chart, install.ts) and, where the API server loads manifests, as a static copy
// (static-policies.ts). Pure builders; the CEL and its messages live in walls.ts (cellWritesWall).
//
// Whom it matches: EVERY principal creating or updating cells, or updating cells/status, the operator
// included. The operator's service account (`exempt`) may create and change Cells and every status
// field except the four a cell reports about itself (CELL_REPORTED_STATUS_FIELDS): those it may not
// set, change or clear, so whoever impersonates the operator cannot swap a joiner's published join
// key (or a holder's recorded key) for its own. Admins, users, other service accounts: no Cell creation, no
// spec or label change, no status write. A cell's service account (`<colony>-cell`) may write
// cells/status only with the pod claims of a pod-bound token (request.userInfo.extra pod-name and
// pod-uid), only its own Cell (name == pod name), only the incarnation the Cell records
// (status.podUID == pod-uid, which must be set), and only CELL_REPORTED_STATUS_FIELDS: publicKey,
// fingerprint and keyProof once (unset to a value; an identical rewrite passes so a retry after a
// lost reply succeeds), joinKey once and only while publicKey is unset. Everything else in status
// (OPERATOR_CELL_STATUS_FIELDS) must stay as it is. DELETE is not matched (availability, not
// confidentiality: docs/lockdown.md).
//
// Impersonation: admission sees the impersonated user. A namespace admin may impersonate the cell's
// service account but not set userInfo.extra (that needs `impersonate` on `userextras/…`), so the
// pod-claim and podUID checks refuse it; a cluster-admin can forge extras (docs/lockdown.md).
import type {
  V1ValidatingAdmissionPolicy,
  V1ValidatingAdmissionPolicyBinding,
} from '@kubernetes/client-node';

import { managedLabels } from './labels.js';
import { CELL_REPORTED_FIELDS, cellWritesWall } from './walls.js';

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
/** What a cell reports about itself (each once; joinKey only before publicKey). */
export const CELL_REPORTED_STATUS_FIELDS = CELL_REPORTED_FIELDS;

export interface CellIdentityPolicyOptions {
  /**
   * Usernames that write Cells as the operator: the operator's service account
   * (system:serviceaccount:<ns>:<name>). The first one is the operator; more are for test harnesses
   * that run the operator under another identity. They too may not touch the cell-reported fields.
   */
  exempt: string[];
  name?: string;
}

/** The policy's definition (also rendered as a static manifest by static-policies.ts). */
export function cellIdentityWall(
  exempt: string[],
  name = CELL_IDENTITY_POLICY,
): ReturnType<typeof cellWritesWall> {
  const [first] = exempt;
  if (first === undefined)
    throw new Error('cell identity policy: exempt must name the operator service account');
  const m = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(first);
  if (!m) throw new Error(`cell identity policy: exempt[0] "${first}" is not a service account username`);
  return cellWritesWall(
    { operatorNamespace: m[1]!, operatorServiceAccount: m[2]! },
    name,
    OPERATOR_CELL_STATUS_FIELDS,
    exempt,
  );
}

export function buildCellIdentityPolicy(opts: CellIdentityPolicyOptions): V1ValidatingAdmissionPolicy {
  const wall = cellIdentityWall(opts.exempt, opts.name);
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicy',
    metadata: { name: wall.name, labels: managedLabels() },
    spec: {
      failurePolicy: 'Fail',
      matchConstraints: { resourceRules: wall.rules },
      variables: wall.variables,
      validations: wall.validations,
    },
  };
}

export function buildCellIdentityPolicyBinding(
  name = CELL_IDENTITY_POLICY,
): V1ValidatingAdmissionPolicyBinding {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicyBinding',
    metadata: { name, labels: managedLabels() },
    spec: { policyName: name, validationActions: ['Deny'] },
  };
}
