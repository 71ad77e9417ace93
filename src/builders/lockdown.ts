// The admission lock-down (docs/lockdown.md): ValidatingAdmissionPolicies and their
// bindings that deny every way into cell pods and hardened nodes, for every principal including
// system:masters, plus the lock-down parameters (a LockdownParameters object, crds/) that tell the
// policies which nodes are hardened and which pods are locked. Pure and deterministic: same options
// and inputs => byte-identical objects.
//
// CEL cannot look other objects up, so the policies read one cluster-scoped LockdownParameters
// object (`paramRef`) whose `data` keys are `node.<node>` (a hardened node), `ns.<namespace>` (a
// colony namespace, locked whole: every cell pod is there, so creating or deleting a cell writes
// nothing shared) and `pod.<namespace>.<pod>` (a non-cell pod already on a hardened node). Node,
// namespace and pod names are DNS names, so keys are unambiguous: a namespace has no dots. Our own
// kind, not a ConfigMap: creating a policy with a paramKind requires "get" on every object of that
// kind, and the operator should not read every ConfigMap in the cluster. Every binding says
// `parameterNotFoundAction: Deny` and every policy `failurePolicy: Fail`: missing or unreadable
// parameters deny instead of allowing.
import { createHash } from 'node:crypto';
import type {
  V1MatchCondition,
  V1NamedRuleWithOperations,
  V1ValidatingAdmissionPolicy,
  V1ValidatingAdmissionPolicyBinding,
  V1Validation,
  V1ObjectMeta,
  V1Variable,
} from '@kubernetes/client-node';
import yaml from 'js-yaml';
import { managedLabels } from './labels.js';
import {
  API_VERSION,
  GROUP,
  LABELS,
  LOCKDOWN_PARAMETERS_PLURAL,
  LockdownParametersKind,
  MANAGER,
  type LockdownParameters,
} from '../api/types.js';
import {
  colonyStatusWall,
  hardenedLabelWall,
  identityPodWall,
  identityServiceAccountCel,
  identityTokenWall,
  legacyTokenSecretWall,
  operatorUsername,
  wallMessage,
} from './walls.js';

export const ADMISSION_API_VERSION = 'admissionregistration.k8s.io/v1';
/** Name of the one (cluster-scoped) LockdownParameters object the bindings reference. */
export const LOCKDOWN_PARAMS = 'celula-lockdown';
/** sha256 of the object's spec (policies, bindings) or data (the parameters): informative only. */
export const HASH_ANNOTATION = 'celula.io/lockdown-hash';
/** Marks every lock-down object, so informers can select them. */
export const LOCKDOWN_LABEL = 'celula.io/lockdown';

export interface LockdownOptions {
  operatorNamespace: string;
  operatorServiceAccount: string;
}

export interface PodRef {
  namespace: string;
  name: string;
}

export type LockdownPolicy = V1ValidatingAdmissionPolicy & { kind: 'ValidatingAdmissionPolicy' };
export type LockdownBinding = V1ValidatingAdmissionPolicyBinding & {
  kind: 'ValidatingAdmissionPolicyBinding';
};
export type LockdownObject = LockdownPolicy | LockdownBinding;

/** Policy names (each policy has one binding of the same name). */
export const POLICY = {
  podConnect: 'celula-lockdown-pod-connect',
  nodeProxy: 'celula-lockdown-node-proxy',
  ephemeral: 'celula-lockdown-ephemeral-containers',
  podSpec: 'celula-lockdown-pod-spec-frozen',
  podLabels: 'celula-lockdown-pod-labels-frozen',
  cellLabels: 'celula-lockdown-pod-cell-labels',
  nodePods: 'celula-lockdown-hardened-node-pods',
  nodeBinding: 'celula-lockdown-hardened-node-binding',
  paramsGuard: 'celula-lockdown-params-guard',
  identityToken: 'celula-lockdown-identity-token',
  identityTokenSecret: 'celula-lockdown-identity-token-secret',
  identityPod: 'celula-lockdown-identity-pod',
  hardenedLabel: 'celula-lockdown-hardened-label',
  colonyStatus: 'celula-lockdown-colony-status',
} as const;

export function nodeKey(node: string): string {
  return `node.${node}`;
}

export function podKey(namespace: string, name: string): string {
  return `pod.${namespace}.${name}`;
}

/** A colony namespace: every pod in it is locked, and only the operator creates pods there. */
export function namespaceKey(namespace: string): string {
  return `ns.${namespace}`;
}

export { operatorUsername };

/**
 * The labels the operator puts on cell pods and selects them by (labels.ts cellLabels): frozen on
 * every pod for everyone but the operator, so no one makes an ordinary pod look like a cell (its
 * namespace would be kept locked) nor takes a cell pod out of the operator's label-selected cache.
 * `app.kubernetes.io/managed-by` counts when its old or new value is the operator's.
 */
export const CELL_LABEL_KEYS = [LABELS.cell, LABELS.colony, LABELS.cellIndex, LABELS.genesis] as const;

/**
 * The denial messages, as TypeScript mirrors of the policies' messageExpressions (tests assert the
 * API server's answer contains exactly these).
 */
export const MESSAGES = {
  podConnect: (sub: string, ns: string, pod: string): string =>
    `celula: ${sub} into locked pod ${ns}/${pod} is forbidden for everyone`,
  nodeProxy: (node: string): string => `celula: proxy to hardened node ${node} is forbidden for everyone`,
  ephemeral: (ns: string, pod: string): string =>
    `celula: ephemeral (debug) containers in locked pod ${ns}/${pod} are forbidden for everyone`,
  podSpec: (ns: string, pod: string): string => `celula: the spec of locked pod ${ns}/${pod} cannot change`,
  podLabels: (ns: string, pod: string): string =>
    `celula: the labels of pod ${ns}/${pod} in a colony namespace are changed only by the operator`,
  cellLabels: (ns: string, pod: string): string =>
    `celula: the cell labels of pod ${ns}/${pod} (${CELL_LABEL_KEYS.join(', ')}, ${LABELS.managedBy}=${MANAGER}) are set only by the operator`,
  nodePodNotCell: (node: string): string =>
    `celula: only the operator's cell pods may be placed on hardened node ${node}`,
  nodePodHostAccess: (node: string): string =>
    `celula: privileged, host-namespace, hostPath or added-capability pods are forbidden on hardened node ${node}`,
  colonyNamespacePod: (ns: string): string =>
    `celula: pods in colony namespace ${ns} are created only by the operator`,
  cellPodUnlocked: (ns: string): string =>
    `celula: cell pods in namespace ${ns} wait until the lock-down covers the namespace`,
  nodeBinding: (node: string): string => `celula: binding pods to hardened node ${node} is forbidden`,
  paramsGuard: (): string =>
    `celula: the lock-down parameters ${LOCKDOWN_PARAMS} are written only by the operator`,
  identityToken: (ns: string, sa: string, user: string): string =>
    wallMessage('identityToken', { namespace: ns, name: sa, user }),
} as const;

/** A CEL string literal (single-quoted; names are DNS names, but escape anyway). */
function lit(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

// CEL fragments shared by the policies. `params.data` may be absent (parameters written without it).
const HAS_DATA = 'has(params.data)';
const POD_KEY_FROM_REQUEST = `'pod.' + request.namespace + '.' + request.name`;
const NS_KEY_FROM_REQUEST = `'ns.' + request.namespace`;
const POD_REF = `request.namespace + '/' + request.name`;
const locked = (keyExpr: string): string => `(${HAS_DATA} && (${keyExpr}) in params.data)`;
/** A pod is locked when its namespace holds colonies, or by its own key (a non-cell pod on a hardened node). */
const lockedPod = (podKeyExpr: string): string => `(${locked(NS_KEY_FROM_REQUEST)} || ${locked(podKeyExpr)})`;
const HAS_CELL_LABEL = `(has(object.metadata.labels) && ${lit(LABELS.cell)} in object.metadata.labels)`;

/** Anything that reaches past the pod's own sandbox: denied on hardened nodes even for the operator. */
const HOST_ACCESS = [
  '(has(object.spec.hostNetwork) && object.spec.hostNetwork)',
  '(has(object.spec.hostPID) && object.spec.hostPID)',
  '(has(object.spec.hostIPC) && object.spec.hostIPC)',
  '(has(object.spec.volumes) && object.spec.volumes.exists(v, has(v.hostPath)))',
  '(object.spec.containers + (has(object.spec.initContainers) ? object.spec.initContainers : [])).exists(c, ' +
    'has(c.securityContext) && (' +
    '(has(c.securityContext.privileged) && c.securityContext.privileged) || ' +
    '(has(c.securityContext.capabilities) && has(c.securityContext.capabilities.add) && ' +
    'size(c.securityContext.capabilities.add) > 0)))',
].join(' || ');

function rule(operations: string[], resources: string[], group = ''): V1NamedRuleWithOperations {
  return { apiGroups: [group], apiVersions: ['*'], operations, resources };
}

interface PolicyDef {
  name: string;
  params: boolean;
  rules: V1NamedRuleWithOperations[];
  matchConditions?: V1MatchCondition[];
  variables?: V1Variable[];
  validations: V1Validation[];
}

function deny(expression: string, messageExpression: string, reason = 'Forbidden'): V1Validation {
  return { expression, messageExpression, reason, message: 'celula: forbidden by the lock-down' };
}

/**
 * Proxy names may carry a scheme and a port (`https:pod:8443`, `node:10250`; the API server splits
 * `[scheme:]name[:port]`, and DNS names have no colon): key on the bare name, or `pods/p:8443/proxy`
 * would slip past.
 */
const BARE_NAME: V1Variable = {
  name: 'target',
  expression: "size(request.name.split(':')) == 3 ? request.name.split(':')[1] : request.name.split(':')[0]",
};

function podConnect(): PolicyDef {
  return {
    name: POLICY.podConnect,
    params: true,
    // Connect subresources must be named: `pods/*` does not match them.
    rules: [rule(['CONNECT'], ['pods/attach', 'pods/exec', 'pods/portforward', 'pods/proxy'])],
    variables: [BARE_NAME],
    validations: [
      deny(
        `!${lockedPod(`'pod.' + request.namespace + '.' + variables.target`)}`,
        `'celula: ' + request.subResource + ' into locked pod ' + request.namespace + '/' + variables.target + ' is forbidden for everyone'`,
      ),
    ],
  };
}

function nodeProxy(): PolicyDef {
  return {
    name: POLICY.nodeProxy,
    params: true,
    rules: [rule(['CONNECT'], ['nodes/proxy'])],
    variables: [BARE_NAME],
    validations: [
      deny(
        `!${locked(`'node.' + variables.target`)}`,
        `'celula: proxy to hardened node ' + variables.target + ' is forbidden for everyone'`,
      ),
    ],
  };
}

/** Locked by namespace or key, by the cell label, or because it sits on a hardened node. */
function ephemeral(): PolicyDef {
  return {
    name: POLICY.ephemeral,
    params: true,
    rules: [rule(['UPDATE'], ['pods/ephemeralcontainers'])],
    validations: [
      deny(
        `!(${lockedPod(POD_KEY_FROM_REQUEST)} || ${HAS_CELL_LABEL} || ` +
          `(has(object.spec.nodeName) && ${locked(`'node.' + object.spec.nodeName`)}))`,
        `'celula: ephemeral (debug) containers in locked pod ' + ${POD_REF} + ' are forbidden for everyone'`,
      ),
    ],
  };
}

/** `kubectl set image` and friends: a locked pod's spec never changes (subresources are not matched). */
function podSpec(): PolicyDef {
  return {
    name: POLICY.podSpec,
    params: true,
    rules: [rule(['UPDATE'], ['pods'])],
    validations: [
      deny(
        `!${lockedPod(POD_KEY_FROM_REQUEST)} || object.spec == oldObject.spec`,
        `'celula: the spec of locked pod ' + ${POD_REF} + ' cannot change'`,
      ),
    ],
  };
}

/** `obj`'s label `key` as a CEL string; absent is `<none>`, which no label value can be. */
function labelCel(obj: 'object' | 'oldObject', key: string): string {
  return `((has(${obj}.metadata.labels) && ${lit(key)} in ${obj}.metadata.labels) ? ${obj}.metadata.labels[${lit(key)}] : '<none>')`;
}

/** True when an update adds, changes or removes a cell label (CELL_LABEL_KEYS, or managed-by to/from ours). */
const CELL_LABELS_CHANGED = [
  ...CELL_LABEL_KEYS.map((k) => `${labelCel('object', k)} != ${labelCel('oldObject', k)}`),
  `(${labelCel('object', LABELS.managedBy)} != ${labelCel('oldObject', LABELS.managedBy)} && ` +
    `(${labelCel('object', LABELS.managedBy)} == ${lit(MANAGER)} || ${labelCel('oldObject', LABELS.managedBy)} == ${lit(MANAGER)}))`,
].join(' || ');

/** True when an update changes any label (absent labels and an empty map are the same: omitted). */
const LABELS_CHANGED =
  'has(object.metadata.labels) != has(oldObject.metadata.labels) || ' +
  '(has(object.metadata.labels) && object.metadata.labels != oldObject.metadata.labels)';

/**
 * Every label of a pod in a colony namespace is the operator's (its NetworkPolicy, budget and caches
 * select cell pods by label; the kubelet does not change pod labels). The cell labels themselves are
 * left to pod-cell-labels (below), so a refusal has one message. Main resource only: `pods/status` can
 * change labels too, but matching it here would refuse every kubelet status write cluster-wide while
 * the parameters are missing (fail closed); pod-cell-labels, parameter-free, covers `pods/status`.
 */
function podLabels(opts: LockdownOptions): PolicyDef {
  return {
    name: POLICY.podLabels,
    params: true,
    rules: [rule(['UPDATE'], ['pods'])],
    variables: [
      { name: 'byOperator', expression: `request.userInfo.username == ${lit(operatorUsername(opts))}` },
      { name: 'cellLabelsChanged', expression: CELL_LABELS_CHANGED },
    ],
    validations: [
      deny(
        `variables.byOperator || variables.cellLabelsChanged || !${locked(NS_KEY_FROM_REQUEST)} || !(${LABELS_CHANGED})`,
        `'celula: the labels of pod ' + ${POD_REF} + ' in a colony namespace are changed only by the operator'`,
      ),
    ],
  };
}

/**
 * The cell labels, on any pod in any namespace, are the operator's: adding `celula.io/cell` to an
 * ordinary pod must not make it a cell pod (which keeps a namespace locked), removing it from a
 * cell pod must not take it out of the operator's pod cache (it would never see that pod die).
 * Parameter-free (missing parameters do not stop every pod update), and `pods/status` too: the
 * status strategy resets the spec, not the labels.
 */
function cellLabels(opts: LockdownOptions): PolicyDef {
  return {
    name: POLICY.cellLabels,
    params: false,
    rules: [rule(['UPDATE'], ['pods', 'pods/status'])],
    validations: [
      deny(
        `request.userInfo.username == ${lit(operatorUsername(opts))} || !(${CELL_LABELS_CHANGED})`,
        `'celula: the cell labels of pod ' + ${POD_REF} + ' (${CELL_LABEL_KEYS.join(', ')}, ${LABELS.managedBy}=${MANAGER}) are set only by the operator'`,
      ),
    ],
  };
}

/**
 * Pod creation: on a hardened node (spec.nodeName, what `kubectl debug node/…` does too) only the
 * operator's cell pods, in a colony namespace, without host access; in a colony namespace only the
 * operator's pods (no squatting a cell's name, no look-alike); a cell-labelled pod only once its
 * namespace is locked (the key is written before the first cell). Pods naming an identity account (a
 * `*-cell` one, or the operator's in its namespace) are left to identity-pod, so one refusal has one
 * message (the API server reports only the first policy's denial, in no fixed order) and the
 * ReplicaSet controller can still make the operator's own pod if a colony shares its namespace.
 */
function nodePods(opts: LockdownOptions): PolicyDef {
  const node = `object.spec.nodeName`;
  const sa = 'object.spec.serviceAccountName';
  return {
    name: POLICY.nodePods,
    params: true,
    rules: [rule(['CREATE'], ['pods'])],
    variables: [
      { name: 'hardened', expression: `has(object.spec.nodeName) && ${locked(`'node.' + ${node}`)}` },
      { name: 'colonyNamespace', expression: locked(NS_KEY_FROM_REQUEST) },
      { name: 'byOperator', expression: `request.userInfo.username == ${lit(operatorUsername(opts))}` },
      {
        name: 'cellLabels',
        expression:
          `${HAS_CELL_LABEL} && ${lit(LABELS.managedBy)} in object.metadata.labels && ` +
          `object.metadata.labels[${lit(LABELS.managedBy)}] == ${lit(MANAGER)}`,
      },
      {
        name: 'identityAccount',
        expression: `has(${sa}) && ${identityServiceAccountCel(opts, 'request.namespace', sa)}`,
      },
      { name: 'hostAccess', expression: HOST_ACCESS },
    ],
    validations: [
      deny(
        '!variables.hardened || (variables.byOperator && variables.colonyNamespace && variables.cellLabels)',
        `'celula: only the operator\\'s cell pods may be placed on hardened node ' + ${node}`,
      ),
      deny(
        '!variables.hardened || !variables.hostAccess',
        `'celula: privileged, host-namespace, hostPath or added-capability pods are forbidden on hardened node ' + ${node}`,
      ),
      deny(
        '!variables.colonyNamespace || variables.byOperator || variables.identityAccount',
        `'celula: pods in colony namespace ' + request.namespace + ' are created only by the operator'`,
      ),
      deny(
        `!${HAS_CELL_LABEL} || variables.colonyNamespace`,
        `'celula: cell pods in namespace ' + request.namespace + ' wait until the lock-down covers the namespace'`,
      ),
    ],
  };
}

/** The scheduler's (or anyone's) binding of a pod to a hardened node. Cells never need one. */
function nodeBinding(): PolicyDef {
  return {
    name: POLICY.nodeBinding,
    params: true,
    rules: [rule(['CREATE'], ['pods/binding'])],
    validations: [
      deny(
        `!${locked(`'node.' + object.target.name`)}`,
        `'celula: binding pods to hardened node ' + object.target.name + ' is forbidden'`,
      ),
    ],
  };
}

/**
 * The parameters are a custom resource, and custom resources go through admission (policies and
 * bindings do not): only the operator writes them.
 */
function paramsGuard(opts: LockdownOptions): PolicyDef {
  return {
    name: POLICY.paramsGuard,
    params: false,
    rules: [rule(['CREATE', 'UPDATE', 'DELETE'], [LOCKDOWN_PARAMETERS_PLURAL], GROUP)],
    matchConditions: [
      {
        name: 'lockdown-params',
        // A collection DELETE (`DELETE …/lockdownparameters`) is admitted once, with no name: it
        // would take the parameters with it, so it matches too.
        expression: `!has(request.name) || request.name == '' || request.name == ${lit(LOCKDOWN_PARAMS)}`,
      },
    ],
    validations: [
      deny(`request.userInfo.username == ${lit(operatorUsername(opts))}`, lit(MESSAGES.paramsGuard())),
    ],
  };
}

/** The parameter-free identity walls (walls.ts), also served as static manifests. */
function identityWalls(opts: LockdownOptions): PolicyDef[] {
  return [
    identityTokenWall(opts, POLICY.identityToken),
    legacyTokenSecretWall(opts, POLICY.identityTokenSecret),
    identityPodWall(opts, POLICY.identityPod),
    hardenedLabelWall(opts, POLICY.hardenedLabel),
    colonyStatusWall(opts, POLICY.colonyStatus),
  ].map((w) => ({ ...w, params: false }));
}

function definitions(opts: LockdownOptions): PolicyDef[] {
  return [
    podConnect(),
    nodeProxy(),
    ephemeral(),
    podSpec(),
    podLabels(opts),
    cellLabels(opts),
    nodePods(opts),
    nodeBinding(),
    paramsGuard(opts),
    ...identityWalls(opts),
  ];
}

/** Stable JSON (sorted keys) and its sha256: the content hash annotation. */
export function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${stableJson(x)}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

export function contentHash(v: unknown): string {
  return createHash('sha256').update(stableJson(v)).digest('hex');
}

function meta(name: string, content: unknown): V1ObjectMeta {
  return {
    name,
    labels: { ...managedLabels(), [LOCKDOWN_LABEL]: 'true' },
    annotations: { [HASH_ANNOTATION]: contentHash(content) },
  };
}

function policy(def: PolicyDef): LockdownPolicy {
  const spec: NonNullable<V1ValidatingAdmissionPolicy['spec']> = {
    failurePolicy: 'Fail',
    ...(def.params ? { paramKind: { apiVersion: API_VERSION, kind: LockdownParametersKind } } : {}),
    matchConstraints: { resourceRules: def.rules },
    ...(def.matchConditions ? { matchConditions: def.matchConditions } : {}),
    ...(def.variables ? { variables: def.variables } : {}),
    validations: def.validations,
  };
  return {
    apiVersion: ADMISSION_API_VERSION,
    kind: 'ValidatingAdmissionPolicy',
    metadata: meta(def.name, spec),
    spec,
  };
}

function binding(def: PolicyDef): LockdownBinding {
  // Cluster-scoped parameters: no namespace.
  const paramRef = { name: LOCKDOWN_PARAMS, parameterNotFoundAction: 'Deny' };
  const spec: NonNullable<V1ValidatingAdmissionPolicyBinding['spec']> = {
    policyName: def.name,
    validationActions: ['Deny'],
    ...(def.params ? { paramRef } : {}),
  };
  return {
    apiVersion: ADMISSION_API_VERSION,
    kind: 'ValidatingAdmissionPolicyBinding',
    metadata: meta(def.name, spec),
    spec,
  };
}

const byName = (a: { metadata?: { name?: string } }, b: { metadata?: { name?: string } }): number =>
  (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? '');

/** Every policy (sorted by name), then every binding (sorted by name). */
export function lockdownPolicies(opts: LockdownOptions): LockdownObject[] {
  const defs = definitions(opts);
  const policies = defs.map(policy).sort(byName);
  const bindings = defs.map(binding).sort(byName);
  return [...policies, ...bindings];
}

/**
 * The lock-down parameters (LockdownParameters celula-lockdown, cluster-scoped): hardened nodes,
 * colony namespaces (locked whole: every cell pod is in one; written BEFORE the namespace's first
 * cell), and pods locked by name (non-cell pods already on a hardened node). Creating or deleting a
 * cell changes none of them.
 */
export function lockdownParams(
  hardenedNodes: string[],
  lockedPods: PodRef[],
  colonyNamespaces: string[] = [],
): LockdownParameters {
  const keys = [
    ...hardenedNodes.map(nodeKey),
    ...colonyNamespaces.map(namespaceKey),
    ...lockedPods.map((p) => podKey(p.namespace, p.name)),
  ];
  const data: Record<string, string> = {};
  for (const key of [...new Set(keys)].sort()) data[key] = '';
  return {
    apiVersion: API_VERSION,
    kind: LockdownParametersKind,
    metadata: meta(LOCKDOWN_PARAMS, data),
    data,
  };
}

/**
 * The chart's copy: the (empty) lock-down parameters FIRST, then policies and bindings. The
 * parameters must exist before the bindings (and their CRD before them), or `parameterNotFoundAction: Deny` refuses every
 * scheduler binding in the cluster, the operator's own pod included.
 */
export function renderLockdownYaml(opts: LockdownOptions): string {
  const header = '# Generated by src/builders/lockdown.ts (renderLockdownYaml). Do not edit.\n';
  const docs = [lockdownParams([], []), ...lockdownPolicies(opts)];
  return (
    header + docs.map((d) => `---\n${yaml.dump(d, { sortKeys: true, lineWidth: -1, noRefs: true })}`).join('')
  );
}
