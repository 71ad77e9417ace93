// The identity walls (docs/lockdown.md, "Credentials for a cell's or the operator's identity"):
// parameter-free ValidatingAdmissionPolicy definitions that keep every credential of a cell's or the
// operator's service account with the pod it belongs to, keep Cells and Cell status written only by
// the operator (and a cell's own identity write), keep the hardened node label the operator's, and
// seal colony namespaces against exec/attach/port-forward/proxy/debug. Pure builders.
//
// Parameter-free on purpose: the same definitions are served through the API (lockdown.ts, restored by
// the operator) and as static manifests loaded by the API server at start (static-policies.ts), which
// may not use paramKind/paramRef and which no API client can delete.
//
// Every denial message is written once, in MESSAGE_PARTS: a list of literal text and named CEL
// values. celMessage() turns it into the policy's messageExpression; wallMessage() into the text the
// API server answers (tests and docs use that mirror).
import type {
  V1LabelSelector,
  V1MatchCondition,
  V1NamedRuleWithOperations,
  V1Validation,
  V1Variable,
} from '@kubernetes/client-node';

import { GROUP, LABELS } from '../api/types.js';
import { CELL_SERVICE_ACCOUNT_SUFFIX } from './names.js';

/** Who the operator is (its service account), as the lock-down builders take it. */
export interface IdentityOptions {
  operatorNamespace: string;
  operatorServiceAccount: string;
}

/** A policy before it becomes an object: lockdown.ts and static-policies.ts render it. */
export interface WallDef {
  name: string;
  rules: V1NamedRuleWithOperations[];
  matchConditions?: V1MatchCondition[];
  variables?: V1Variable[];
  validations: V1Validation[];
  /** Restricts the binding to namespaces with these labels (bindings' matchResources). */
  namespaceSelector?: V1LabelSelector;
}

/**
 * Label that seals a namespace dedicated to colonies: no exec, attach, port-forward, proxy or
 * ephemeral container into any of its pods, for anyone (static policy). Once set it cannot be
 * removed or changed (only the namespace deleted).
 */
export const SEALED_NAMESPACE_LABEL = 'celula.io/sealed';
export const SEALED_NAMESPACE_VALUE = 'true';
/** The hardened label's value: the hex digest prefix of hijack.sh (src/builders/hardening.ts digestPrefix). */
export const HARDENED_VALUE_PATTERN = '^[0-9a-f]{12}$';
/** Creates pods for Deployments: the only principal that may start the operator's pods. */
export const REPLICASET_CONTROLLERS = [
  'system:serviceaccount:kube-system:replicaset-controller',
  // Clusters whose controller manager runs without --use-service-account-credentials.
  'system:kube-controller-manager',
];
export const LEGACY_TOKEN_TYPE = 'kubernetes.io/service-account-token';
export const LEGACY_TOKEN_SA_ANNOTATION = 'kubernetes.io/service-account.name';
/** Cell status fields a cell writes itself (once), the rest is the operator's. */
export const CELL_WRITE_ONCE_FIELDS = ['publicKey', 'fingerprint', 'keyProof'] as const;
/** Written once, and only before publicKey: the joiner's ephemeral key hash (docs/protocol.md). */
export const CELL_JOIN_KEY_FIELD = 'joinKey';
/** Everything a cell reports about itself: nobody else, the operator included, sets or changes it. */
export const CELL_REPORTED_FIELDS = [...CELL_WRITE_ONCE_FIELDS, CELL_JOIN_KEY_FIELD] as const;

const POD_NAME_CLAIM = 'authentication.kubernetes.io/pod-name';
const POD_UID_CLAIM = 'authentication.kubernetes.io/pod-uid';

/** A CEL string literal. */
export function lit(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** A named value in a message: `cel` computes it in the policy, `name` is its argument in the mirror. */
export interface Arg {
  name: string;
  cel: string;
}
export type Part = string | Arg;

// userInfo.extra is absent (not empty) for a principal without extras: reading it errors.
const HAS_EXTRA = 'has(request.userInfo.extra)';
const hasClaim = (key: string): string => `(${HAS_EXTRA} && ${lit(key)} in request.userInfo.extra)`;
const claim = (key: string): string =>
  `(${hasClaim(key)} ? request.userInfo.extra[${lit(key)}].join(',') : '')`;

const USER: Arg = { name: 'user', cel: 'request.userInfo.username' };
const NS: Arg = { name: 'namespace', cel: 'request.namespace' };
const NAME: Arg = { name: 'name', cel: 'request.name' };
const POD_SA: Arg = { name: 'serviceAccount', cel: 'object.spec.serviceAccountName' };
const SECRET_SA: Arg = {
  name: 'serviceAccount',
  cel: `object.metadata.annotations[${lit(LEGACY_TOKEN_SA_ANNOTATION)}]`,
};
const POD_CLAIM: Arg = { name: 'pod', cel: claim(POD_NAME_CLAIM) };
const UID_CLAIM: Arg = { name: 'podUID', cel: claim(POD_UID_CLAIM) };
const SUBRESOURCE: Arg = { name: 'subresource', cel: 'request.subResource' };

const writeOnce = (field: string): Part[] => [
  `celula: status.${field} of Cell `,
  NS,
  '/',
  NAME,
  ' is written once; a cell may not change it',
];

/**
 * The group whose members may set the hardened label besides the operator: the out-of-band hardening
 * of `nodes.provider: existing` (a node hardened by its image or a provisioning system, not by the
 * operator's Job). Nobody is in it by default; a cluster owner grants it to a provisioner's identity,
 * or an admin acts through it explicitly and on the audit record:
 * `kubectl label node <n> <label>=<digest> --as=<you> --as-group=celula.io:node-hardeners`.
 */
export const NODE_HARDENERS_GROUP = 'celula.io:node-hardeners';

/** Every denial message of the walls, once. */
export const MESSAGE_PARTS = {
  identityToken: [
    'celula: tokens for ',
    NS,
    '/',
    NAME,
    ' (a cell or operator service account) are issued only to a kubelet for its own pod; ',
    USER,
    ' may not',
  ],
  legacyTokenSecret: [
    'celula: a service-account-token Secret for ',
    NS,
    '/',
    SECRET_SA,
    ' (a cell or operator service account) is forbidden for everyone',
  ],
  cellPod: [
    'celula: only the operator creates pods running as cell service account ',
    NS,
    '/',
    POD_SA,
    '; ',
    USER,
    ' may not',
  ],
  operatorPod: [
    'celula: only the ReplicaSet controller creates pods running as the operator service account ',
    NS,
    '/',
    POD_SA,
    '; ',
    USER,
    ' may not',
  ],
  cellCreate: ['celula: only the operator creates Cells; ', USER, ' may not create Cell ', NS, '/', NAME],
  cellUpdate: [
    'celula: only the operator changes the spec or labels of Cell ',
    NS,
    '/',
    NAME,
    '; ',
    USER,
    ' may not',
  ],
  statusNotCell: [
    "celula: only the operator and the Cell's own pod write the status of Cell ",
    NS,
    '/',
    NAME,
    '; ',
    USER,
    ' may not',
  ],
  statusNoPodClaims: [
    'celula: ',
    USER,
    " carries no pod claims; only a token of the Cell's own pod writes the status of Cell ",
    NS,
    '/',
    NAME,
  ],
  statusOtherCell: [
    'celula: the token of pod ',
    POD_CLAIM,
    ' may not write the status of Cell ',
    NS,
    '/',
    NAME,
  ],
  statusOtherIncarnation: [
    'celula: the token of pod uid ',
    UID_CLAIM,
    ' is not the incarnation Cell ',
    NS,
    '/',
    NAME,
    ' records (status.podUID differs or is unset)',
  ],
  statusOperatorFields: [
    `celula: a cell may change only ${CELL_REPORTED_FIELDS.join(', ')} in the status of Cell `,
    NS,
    '/',
    NAME,
  ],
  publicKeyOnce: writeOnce('publicKey'),
  fingerprintOnce: writeOnce('fingerprint'),
  keyProofOnce: writeOnce('keyProof'),
  joinKeyOnce: [
    'celula: status.joinKey of Cell ',
    NS,
    '/',
    NAME,
    ' is written once, and only before status.publicKey',
  ],
  operatorReported: [
    `celula: ${CELL_REPORTED_FIELDS.join(', ')} in the status of Cell `,
    NS,
    '/',
    NAME,
    ' are what its own pod reported; ',
    USER,
    ' (the operator) may not set, change or clear them',
  ],
  hardenedLabelBy: [
    `celula: only the operator or the group ${NODE_HARDENERS_GROUP} sets, changes or removes the label ${LABELS.hardened} on node `,
    NAME,
    '; ',
    USER,
    ' may not',
  ],
  hardenedLabelValue: [
    `celula: the label ${LABELS.hardened} on node `,
    NAME,
    ' must be the hardening script digest prefix (12 lowercase hex digits)',
  ],
  colonyStatus: [
    'celula: the status of Colony ',
    NS,
    '/',
    NAME,
    ' is written only by the operator; ',
    USER,
    ' may not',
  ],
  sealedConnect: [
    'celula: ',
    SUBRESOURCE,
    ' into pods of sealed namespace ',
    NS,
    ' is forbidden for everyone',
  ],
  sealedEphemeral: [
    'celula: ephemeral (debug) containers in pods of sealed namespace ',
    NS,
    ' are forbidden for everyone',
  ],
  sealedLabel: [
    `celula: the label ${SEALED_NAMESPACE_LABEL} of namespace `,
    NAME,
    ' cannot be removed or changed',
  ],
} satisfies Record<string, Part[]>;

export type MessageKey = keyof typeof MESSAGE_PARTS;

/** The messageExpression: literals and CEL values concatenated. */
export function celMessage(key: MessageKey): string {
  return MESSAGE_PARTS[key].map((p) => (typeof p === 'string' ? lit(p) : `string(${p.cel})`)).join(' + ');
}

/** The text the API server answers for `key`, given its named values (the TypeScript mirror). */
export function wallMessage(key: MessageKey, args: Record<string, string>): string {
  return MESSAGE_PARTS[key]
    .map((p) => {
      if (typeof p === 'string') return p;
      const v = args[p.name];
      if (v === undefined) throw new Error(`message ${key} needs a value for "${p.name}"`);
      return v;
    })
    .join('');
}

export function wallDeny(expression: string, key: MessageKey): V1Validation {
  // `message` is what the API server says if the messageExpression itself fails.
  return {
    expression,
    messageExpression: celMessage(key),
    message: `celula: forbidden (${key})`,
    reason: 'Forbidden',
  };
}

export function rule(operations: string[], resources: string[], group = ''): V1NamedRuleWithOperations {
  return { apiGroups: [group], apiVersions: ['*'], operations, resources };
}

export function operatorUsername(opts: IdentityOptions): string {
  return `system:serviceaccount:${opts.operatorNamespace}:${opts.operatorServiceAccount}`;
}

const isOperator = (opts: IdentityOptions): string =>
  `request.userInfo.username == ${lit(operatorUsername(opts))}`;

const isHardener = (opts: IdentityOptions): string =>
  `${isOperator(opts)} || ${lit(NODE_HARDENERS_GROUP)} in request.userInfo.groups`;

/** CEL: does service account `ns`/`name` belong to a cell? (names end in `-cell`: names.ts) */
export function cellServiceAccountCel(name: string): string {
  return `${name}.endsWith(${lit(`-${CELL_SERVICE_ACCOUNT_SUFFIX}`)})`;
}

function operatorServiceAccountCel(opts: IdentityOptions, ns: string, name: string): string {
  return `(${ns} == ${lit(opts.operatorNamespace)} && ${name} == ${lit(opts.operatorServiceAccount)})`;
}

/** CEL: a cell account (any namespace) or the operator's (in its namespace): the identity walls' domain. */
export function identityServiceAccountCel(opts: IdentityOptions, ns: string, name: string): string {
  return `(${cellServiceAccountCel(name)} || ${operatorServiceAccountCel(opts, ns, name)})`;
}

/** TokenRequest for a cell's or the operator's account: kubelets only (NodeRestriction: own pods). */
export function identityTokenWall(opts: IdentityOptions, name: string): WallDef {
  return {
    name,
    rules: [rule(['CREATE'], ['serviceaccounts/token'])],
    matchConditions: [
      {
        name: 'identity-service-account',
        expression: identityServiceAccountCel(opts, 'request.namespace', 'request.name'),
      },
    ],
    validations: [wallDeny("request.userInfo.username.startsWith('system:node:')", 'identityToken')],
  };
}

/** Legacy long-lived token Secrets for a cell's or the operator's account: nobody. */
export function legacyTokenSecretWall(opts: IdentityOptions, name: string): WallDef {
  const sa = `object.metadata.annotations[${lit(LEGACY_TOKEN_SA_ANNOTATION)}]`;
  return {
    name,
    rules: [rule(['CREATE', 'UPDATE'], ['secrets'])],
    matchConditions: [
      {
        name: 'identity-token-secret',
        expression:
          `has(object.type) && object.type == ${lit(LEGACY_TOKEN_TYPE)} && has(object.metadata.annotations) && ` +
          `${lit(LEGACY_TOKEN_SA_ANNOTATION)} in object.metadata.annotations && ` +
          identityServiceAccountCel(opts, 'request.namespace', sa),
      },
    ],
    validations: [wallDeny('false', 'legacyTokenSecret')],
  };
}

/** A pod naming a cell's account: the operator only; the operator's account: the ReplicaSet controller only. */
export function identityPodWall(opts: IdentityOptions, name: string): WallDef {
  const sa = 'object.spec.serviceAccountName';
  return {
    name,
    rules: [rule(['CREATE'], ['pods'])],
    matchConditions: [
      {
        name: 'identity-pod',
        expression: `has(${sa}) && ${identityServiceAccountCel(opts, 'request.namespace', sa)}`,
      },
    ],
    validations: [
      wallDeny(`!${cellServiceAccountCel(sa)} || ${isOperator(opts)}`, 'cellPod'),
      wallDeny(
        `!${operatorServiceAccountCel(opts, 'request.namespace', sa)} || ` +
          `request.userInfo.username in ${JSON.stringify(REPLICASET_CONTROLLERS).replace(/"/g, "'")}`,
        'operatorPod',
      ),
    ],
  };
}

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

const PODNAME = `request.userInfo.extra[${lit(POD_NAME_CLAIM)}]`;
const PODUID = `request.userInfo.extra[${lit(POD_UID_CLAIM)}]`;
// request.subResource is absent (not '') on a request for the main resource: reading it errors.
const IS_STATUS = "(has(request.subResource) && request.subResource == 'status')";

/** Cells and their spec/labels: the operator only. Metadata-only updates (GC: finalizers, owners) pass. */
function cellObjectValidations(): V1Validation[] {
  const metadataOnly =
    'object.spec == oldObject.spec && ' +
    '(has(object.metadata.labels) ? object.metadata.labels : {}) == (has(oldObject.metadata.labels) ? oldObject.metadata.labels : {})';
  return [
    wallDeny(`${IS_STATUS} || request.operation != 'CREATE'`, 'cellCreate'),
    wallDeny(`${IS_STATUS} || request.operation != 'UPDATE' || (${metadataOnly})`, 'cellUpdate'),
  ];
}

/**
 * Cell status by anyone but the operator: a cell's own pod-bound token only, for its own Cell and
 * incarnation, and only its identity fields, once. Guarded so later checks never read absent claims.
 */
function cellStatusValidations(operatorFields: readonly string[]): V1Validation[] {
  const onlyStatus = (expr: string): string => `!(${IS_STATUS}) || (${expr})`;
  const cellSA =
    "request.userInfo.username.startsWith('system:serviceaccount:' + request.namespace + ':') && " +
    cellServiceAccountCel('request.userInfo.username');
  const claims = `${hasClaim(POD_NAME_CLAIM)} && ${hasClaim(POD_UID_CLAIM)}`;
  const ownCell = `${PODNAME}.size() == 1 && request.name == ${PODNAME}[0]`;
  const incarnation =
    `has(oldObject.status) && has(oldObject.status.podUID) && oldObject.status.podUID != '' && ` +
    `${PODUID}.size() == 1 && oldObject.status.podUID == ${PODUID}[0]`;
  const guarded = (expr: string): string => onlyStatus(`!(${cellSA}) || !(${claims}) || (${expr})`);
  const fields = `has(object.status) && has(oldObject.status) && ${operatorFields.map(unchanged).join(' && ')}`;
  const joinKey =
    `has(oldObject.status.${CELL_JOIN_KEY_FIELD}) ? ` +
    `(has(object.status.${CELL_JOIN_KEY_FIELD}) && object.status.${CELL_JOIN_KEY_FIELD} == oldObject.status.${CELL_JOIN_KEY_FIELD}) : ` +
    `(!has(object.status.${CELL_JOIN_KEY_FIELD}) || !has(oldObject.status.publicKey))`;
  const statusOf = (expr: string): string => `!has(oldObject.status) || !has(object.status) || (${expr})`;
  return [
    wallDeny(onlyStatus(cellSA), 'statusNotCell'),
    wallDeny(onlyStatus(`!(${cellSA}) || (${claims})`), 'statusNoPodClaims'),
    wallDeny(guarded(ownCell), 'statusOtherCell'),
    wallDeny(guarded(incarnation), 'statusOtherIncarnation'),
    wallDeny(guarded(fields), 'statusOperatorFields'),
    wallDeny(guarded(statusOf(firstWrite('publicKey'))), 'publicKeyOnce'),
    wallDeny(guarded(statusOf(firstWrite('fingerprint'))), 'fingerprintOnce'),
    wallDeny(guarded(statusOf(firstWrite('keyProof'))), 'keyProofOnce'),
    wallDeny(guarded(statusOf(joinKey)), 'joinKeyOnce'),
  ];
}

const EXEMPT = 'variables.exempt';

/** CEL: `o.status.<field>` is present (false, not an error, when `o.status` is absent). */
const present = (o: string, field: string): string => `(has(${o}.status) && has(${o}.status.${field}))`;

/** CEL: an UPDATE leaves `field` exactly as it was: present or absent alike, and the same value. */
function keeps(field: string): string {
  return (
    `${present('object', field)} == ${present('oldObject', field)} && ` +
    `(!${present('oldObject', field)} || object.status.${field} == oldObject.status.${field})`
  );
}

/**
 * The operator (an exempt user) writes every Cell and status field but what a cell reports about
 * itself: it may not set, change or clear those (whoever impersonates the operator cannot swap a
 * joiner's published join key for its own). Creation carries no status (status subresource).
 */
function operatorValidations(): V1Validation[] {
  const untouched = CELL_REPORTED_FIELDS.map(keeps).join(' && ');
  return [wallDeny(`!${EXEMPT} || request.operation != 'UPDATE' || (${untouched})`, 'operatorReported')];
}

/**
 * Cells (CREATE/UPDATE) and cells/status (UPDATE) by every principal. The `exempt` users (the
 * operator's account, and test harnesses that run the operator under another name) pass the
 * non-operator checks but must leave the cell-reported status fields as they are (operatorValidations).
 * `operatorFields`: the status fields only the operator writes (cell-identity-policy.ts lists them).
 */
export function cellWritesWall(
  opts: IdentityOptions,
  name: string,
  operatorFields: readonly string[],
  exempt: readonly string[] = [operatorUsername(opts)],
): WallDef {
  const notExempt = (v: V1Validation): V1Validation => ({
    ...v,
    expression: `${EXEMPT} || (${v.expression})`,
  });
  return {
    name,
    rules: [rule(['CREATE', 'UPDATE'], ['cells'], GROUP), rule(['UPDATE'], ['cells/status'], GROUP)],
    variables: [{ name: 'exempt', expression: `request.userInfo.username in ${celList(exempt)}` }],
    validations: [
      ...[...cellObjectValidations(), ...cellStatusValidations(operatorFields)].map(notExempt),
      ...operatorValidations(),
    ],
  };
}

/** A CEL list of string literals. */
function celList(items: readonly string[]): string {
  return `[${items.map(lit).join(', ')}]`;
}

/** The hardened label: only the operator adds, changes or removes it; its value is a digest prefix. */
export function hardenedLabelWall(opts: IdentityOptions, name: string): WallDef {
  const key = lit(LABELS.hardened);
  const absent = "' absent'"; // not a valid label value, so it never equals one
  const value = (o: string): string =>
    `(${o} != null && has(${o}.metadata.labels) && ${key} in ${o}.metadata.labels ? ${o}.metadata.labels[${key}] : ${absent})`;
  return {
    name,
    // nodes/status too: a status update keeps metadata (only the spec is reset), so labels change
    // through it as well, and anyone with nodes/status write (node-problem-detector, many CNIs) could
    // otherwise call their node hardened.
    rules: [rule(['CREATE', 'UPDATE'], ['nodes', 'nodes/status'])],
    variables: [
      { name: 'newValue', expression: value('object') },
      { name: 'oldValue', expression: value('oldObject') },
    ],
    validations: [
      wallDeny(`variables.newValue == variables.oldValue || ${isHardener(opts)}`, 'hardenedLabelBy'),
      wallDeny(
        `variables.newValue == variables.oldValue || variables.newValue == ${absent} || ` +
          `variables.newValue.matches(${lit(HARDENED_VALUE_PATTERN)})`,
        'hardenedLabelValue',
      ),
    ],
  };
}

/**
 * Colony status is the operator's alone: a forged `publicKey` (before the genesis cell reports) or a
 * forged `Lost` condition would make the operator, or every joiner, give up a colony whose secret is
 * alive. Nobody else, cluster-admin included, writes it.
 */
export function colonyStatusWall(opts: IdentityOptions, name: string): WallDef {
  return {
    name,
    rules: [rule(['UPDATE'], ['colonies/status'], GROUP)],
    validations: [wallDeny(isOperator(opts), 'colonyStatus')],
  };
}

const SEALED: V1LabelSelector = { matchLabels: { [SEALED_NAMESPACE_LABEL]: SEALED_NAMESPACE_VALUE } };

/** No exec/attach/port-forward/proxy into any pod of a sealed namespace (CONNECT carries no pod labels). */
export function sealedConnectWall(name: string): WallDef {
  return {
    name,
    rules: [rule(['CONNECT'], ['pods/attach', 'pods/exec', 'pods/portforward', 'pods/proxy'])],
    validations: [wallDeny('false', 'sealedConnect')],
    namespaceSelector: SEALED,
  };
}

export function sealedEphemeralWall(name: string): WallDef {
  return {
    name,
    rules: [rule(['UPDATE'], ['pods/ephemeralcontainers'])],
    validations: [wallDeny('false', 'sealedEphemeral')],
    namespaceSelector: SEALED,
  };
}

/** What the sealed walls rely on: the label stays once set (the namespace may still be deleted). */
export function sealedLabelWall(name: string): WallDef {
  const key = lit(SEALED_NAMESPACE_LABEL);
  const value = (o: string): string =>
    `(has(${o}.metadata.labels) && ${key} in ${o}.metadata.labels ? ${o}.metadata.labels[${key}] : '')`;
  return {
    name,
    rules: [rule(['UPDATE'], ['namespaces', 'namespaces/status'])], // status updates keep metadata edits
    matchConditions: [{ name: 'was-sealed', expression: `${value('oldObject')} != ''` }],
    validations: [wallDeny(`${value('object')} == ${value('oldObject')}`, 'sealedLabel')],
  };
}
