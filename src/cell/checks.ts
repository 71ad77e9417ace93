// The peer's admission checks, one pure function each. Each returns a JoinRefused (with a reason
// built from public facts) or undefined when the check passes. They run after the token has been
// verified (TokenVerifier) and the pod looked up (PodInspector); see admission.ts for the order.
import { BlockList, isIP } from 'node:net';

import { API_VERSION, CellKind, ColonyKind, JOIN_AUDIENCE, type Colony } from '../api/types.js';
import { isHardenedLabelValue } from '../builders/hardening.js';
import { clip, JoinRefused } from './errors.js';
import { podSpecDifference } from './pod-spec.js';

/** What a verified token says about its bearer (from a TokenReview of a pod-bound token). */
export interface TokenFacts {
  podName: string;
  podUID: string;
  nodeName?: string | undefined;
  /** authentication.kubernetes.io/credential-id (the token's JTI). Required. */
  credentialId?: string | undefined;
  namespace: string;
  serviceAccount: string;
  audiences: string[];
  /** Token expiry, ms since epoch, when known: the replay guard remembers the JTI until then. */
  expiresAt?: number | undefined;
}

// Minimal structural views of Kubernetes objects; a V1Pod / V1Node's labels / Cell fit them.
export interface OwnerRefView {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean | undefined;
}
export interface MetaView {
  name?: string | undefined;
  namespace?: string | undefined;
  uid?: string | undefined;
  ownerReferences?: OwnerRefView[] | undefined;
  deletionTimestamp?: unknown;
}
export interface SeccompView {
  type: string;
}
export interface SecurityContextView {
  runAsNonRoot?: boolean | undefined;
  allowPrivilegeEscalation?: boolean | undefined;
  privileged?: boolean | undefined;
  readOnlyRootFilesystem?: boolean | undefined;
  capabilities?: { add?: string[] | undefined; drop?: string[] | undefined } | undefined;
  seccompProfile?: SeccompView | undefined;
}
export interface ContainerView {
  name: string;
  image?: string | undefined;
  securityContext?: SecurityContextView | undefined;
}
export interface ContainerStatusView {
  name: string;
  imageID: string;
}
export interface PodView {
  metadata?: MetaView | undefined;
  spec?:
    | {
        nodeName?: string | undefined;
        hostNetwork?: boolean | undefined;
        hostPID?: boolean | undefined;
        hostIPC?: boolean | undefined;
        securityContext?:
          { runAsNonRoot?: boolean | undefined; seccompProfile?: SeccompView | undefined } | undefined;
        containers: ContainerView[];
        initContainers?: ContainerView[] | undefined;
        ephemeralContainers?: unknown[] | undefined;
      }
    | undefined;
  status?:
    | {
        phase?: string | undefined;
        podIP?: string | undefined;
        podIPs?: { ip?: string | undefined }[] | undefined;
        containerStatuses?: ContainerStatusView[] | undefined;
        initContainerStatuses?: ContainerStatusView[] | undefined;
      }
    | undefined;
}
export interface CellStatusView {
  phase?: string | undefined;
  podUID?: string | undefined;
  publicKey?: string | undefined;
  joinKey?: string | undefined;
}
export interface CellView {
  metadata?: MetaView | undefined;
  spec?: { colony: string; node?: string | undefined; genesis?: boolean | undefined } | undefined;
  status?: CellStatusView | undefined;
}

/** What the peer knows about the session the token arrived in. */
export interface SessionFacts {
  /** TCP source address of the connection that opened the session (and sent the proof). */
  remoteAddress: string;
  /** `sha256:<hex>` of the ephemeral key in this session's hello. */
  joinKey: string;
}

/** Everything the peer needs to know about the joining pod, fetched from the API. */
export interface PodFacts {
  pod: PodView;
  /** The Cell named by the pod's controller owner reference (undefined if none or not found). */
  cell?: CellView | undefined;
  /** Labels of the node the pod is bound to (undefined if the node was not found). */
  nodeLabels?: Record<string, string> | undefined;
  /**
   * The pod CIDRs of the node the pod is bound to (spec.podCIDRs, else [spec.podCIDR]; [] when it has
   * none; undefined if the node was not found). Immutable once set on a Node object.
   */
  nodePodCIDRs?: string[] | undefined;
  /**
   * The pod spec the operator's builder makes for this Colony (read fresh) and the pod's Cell; undefined
   * when it could not be built (no Cell): the spec check then refuses.
   */
  expectedSpec?: unknown;
}

/** The colony the peer serves, as the peer knows it (from its own pod spec / env). */
/**
 * The Colony fields that make up the code its cells run and what that code is told, as one canonical
 * string: image, args, program, secret algorithm, bitcoin network. The CRD keeps them immutable, but
 * a cluster-admin can edit the CRD's rules away (or serve the Colony through a conversion webhook), so
 * a peer pins what it started with rather than trust the Colony it reads at each join.
 */
export function colonyCode(colony: Colony): string {
  const s = colony.spec;
  return JSON.stringify([
    s.image,
    s.args ?? [],
    s.program ?? null,
    s.secret?.algorithm ?? null,
    s.bitcoin ?? null,
  ]);
}

export interface ColonyContext {
  name: string;
  namespace: string;
  uid: string;
  /** `name@sha256:<64 hex>` */
  image: string;
  requireHardened: boolean;
  /** The label key that marks a hardened node (LABELS.hardened). */
  hardenedLabel: string;
  /**
   * The code the colony runs as this peer started with it (`colonyCode`: image, args, program, secret
   * algorithm, bitcoin network): a peer admits joiners only while the fresh Colony still says the same.
   */
  code?: string | undefined;
  /** When set, the joiner's token must belong to this service account. */
  serviceAccount?: string | undefined;
  /**
   * This cluster assigns pod IPs from node podCIDRs (calibrated once at the peer's start from its own
   * pod: calibratePodNetwork): then a joiner's pod IPs and source address must lie in its node's CIDRs.
   */
  podIPsFromNodeCIDRs?: boolean | undefined;
}

export type Check = JoinRefused | undefined;

const DIGEST_RE = /@(sha256:[0-9a-f]{64})$/;

export function checkAudience(token: TokenFacts): Check {
  if (token.audiences.includes(JOIN_AUDIENCE)) return undefined;
  const got = token.audiences.length > 0 ? token.audiences.join(',') : '(none)';
  return new JoinRefused('audience', `token audience is ${clip(got)}, want ${JOIN_AUDIENCE}`);
}

export function checkTokenNamespace(token: TokenFacts, colony: ColonyContext): Check {
  if (token.namespace !== colony.namespace) {
    return new JoinRefused(
      'namespace',
      `token is for namespace ${clip(token.namespace)}, colony lives in ${colony.namespace}`,
    );
  }
  if (colony.serviceAccount !== undefined && token.serviceAccount !== colony.serviceAccount) {
    return new JoinRefused(
      'namespace',
      `token is for service account ${clip(token.serviceAccount)}, want ${colony.serviceAccount}`,
    );
  }
  return undefined;
}

export function checkCredentialId(token: TokenFacts): Check {
  if (token.credentialId !== undefined && token.credentialId.length > 0) return undefined;
  return new JoinRefused(
    'token-rejected',
    'token carries no credential id (JTI); replays could not be refused',
  );
}

export function checkPodIdentity(token: TokenFacts, pod: PodView): Check {
  const meta = pod.metadata ?? {};
  if (meta.uid !== token.podUID) {
    return new JoinRefused(
      'pod-identity',
      `pod uid is ${clip(meta.uid)}, token is bound to pod uid ${clip(token.podUID)}`,
    );
  }
  if (meta.name !== token.podName || meta.namespace !== token.namespace) {
    return new JoinRefused(
      'pod-identity',
      `pod ${clip(meta.namespace)}/${clip(meta.name)} is not the token's pod ${clip(token.podName)}`,
    );
  }
  if (token.nodeName !== undefined && pod.spec?.nodeName !== token.nodeName) {
    return new JoinRefused(
      'pod-identity',
      `pod runs on node ${clip(pod.spec?.nodeName)}, token says ${clip(token.nodeName)}`,
    );
  }
  return undefined;
}

export function checkNotTerminating(pod: PodView): Check {
  if (pod.metadata?.deletionTimestamp !== undefined && pod.metadata.deletionTimestamp !== null) {
    return new JoinRefused('terminating', 'pod is terminating');
  }
  const phase = pod.status?.phase;
  if (phase === 'Succeeded' || phase === 'Failed') {
    return new JoinRefused('terminating', `pod phase is ${phase}`);
  }
  return undefined;
}

function controllerRef(meta: MetaView | undefined, kind: string): OwnerRefView | undefined {
  return meta?.ownerReferences?.find(
    (r) => r.controller === true && r.kind === kind && r.apiVersion === API_VERSION,
  );
}

function podCellProblem(pod: PodView, cell: CellView | undefined): string | undefined {
  const podOwner = controllerRef(pod.metadata, CellKind);
  if (podOwner === undefined) return 'pod has no controller owner of kind Cell';
  if (cell === undefined) return `owner Cell ${clip(podOwner.name)} was not found`;
  const meta = cell.metadata ?? {};
  if (meta.uid !== podOwner.uid || meta.name !== podOwner.name) {
    return `owner Cell ${clip(podOwner.name)} has uid ${clip(meta.uid)}, pod names uid ${clip(podOwner.uid)}`;
  }
  return undefined;
}

function cellColonyProblem(cell: CellView, colony: ColonyContext): string | undefined {
  const meta = cell.metadata ?? {};
  const name = clip(meta.name);
  const ownerUid = controllerRef(meta, ColonyKind)?.uid ?? '(none)';
  if (ownerUid !== colony.uid || meta.namespace !== colony.namespace) {
    return `Cell ${name} belongs to colony uid ${clip(ownerUid)}, not ${colony.uid}`;
  }
  const named = cell.spec?.colony;
  return named === colony.name ? undefined : `Cell ${name} names colony ${clip(named)}, not ${colony.name}`;
}

/** Pod → controller Cell (name and uid match) → controller Colony with this colony's uid. */
export function checkOwnerChain(pod: PodView, cell: CellView | undefined, colony: ColonyContext): Check {
  const problem = podCellProblem(pod, cell) ?? (cell ? cellColonyProblem(cell, colony) : undefined);
  return problem === undefined ? undefined : new JoinRefused('not-a-cell', problem);
}

/** The `sha256:<hex>` digest of a pinned image reference, or undefined when it is not pinned. */
export function imageDigest(image: string): string | undefined {
  return DIGEST_RE.exec(image)?.[1];
}

function imageStatusProblem(
  containers: ContainerView[],
  statuses: ContainerStatusView[],
  digest: string,
): string | undefined {
  for (const c of containers) {
    const status = statuses.find((s) => s.name === c.name);
    if (status === undefined) return `container ${clip(c.name)} has not reported its image yet`;
    if (!status.imageID.endsWith(digest)) {
      return `container ${clip(c.name)} runs image ${clip(status.imageID)}, want ${digest}`;
    }
  }
  return undefined;
}

function imageSpecProblem(pod: PodView, image: string): string | undefined {
  const spec = pod.spec ?? { containers: [] };
  if ((spec.ephemeralContainers ?? []).length > 0) return 'pod has ephemeral containers';
  const all = [...(spec.initContainers ?? []), ...spec.containers];
  if (all.length === 0) return 'pod has no containers';
  const foreign = all.find((c) => c.image !== image);
  if (foreign === undefined) return undefined;
  return `container ${clip(foreign.name)} image is ${clip(foreign.image)}, want ${image}`;
}

/** Every container runs exactly the colony image, and the runtime reports that digest. */
export function checkImage(pod: PodView, colony: ColonyContext): Check {
  const digest = imageDigest(colony.image);
  if (digest === undefined)
    return new JoinRefused('image', `colony image ${clip(colony.image)} is not pinned by digest`);
  const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
  const problem =
    imageSpecProblem(pod, colony.image) ?? imageStatusProblem(pod.spec?.containers ?? [], statuses, digest);
  return problem === undefined ? undefined : new JoinRefused('image', problem);
}

export function checkHardenedNode(
  nodeLabels: Record<string, string> | undefined,
  colony: ColonyContext,
): Check {
  if (!colony.requireHardened) return undefined;
  if (nodeLabels === undefined) return new JoinRefused('node-not-hardened', 'node of the pod was not found');
  const value = nodeLabels[colony.hardenedLabel];
  if (!isHardenedLabelValue(value)) {
    return new JoinRefused(
      'node-not-hardened',
      `node lacks label ${colony.hardenedLabel} with a hijack.sh digest (12 lowercase hex)`,
    );
  }
  return undefined;
}

type PodSecurity = NonNullable<NonNullable<PodView['spec']>['securityContext']>;

function seccompOk(sc: SecurityContextView, podSc: PodSecurity): boolean {
  const type = (sc.seccompProfile ?? podSc.seccompProfile)?.type;
  return type === 'RuntimeDefault' || type === 'Localhost';
}

function containerSecurityProblems(c: ContainerView, podSc: PodSecurity): string[] {
  const sc = c.securityContext ?? {};
  const caps = sc.capabilities ?? {};
  const problems: [boolean, string][] = [
    [(sc.runAsNonRoot ?? podSc.runAsNonRoot) !== true, 'runAsNonRoot is not true'],
    [sc.allowPrivilegeEscalation !== false, 'allowPrivilegeEscalation is not false'],
    [sc.privileged === true, 'is privileged'],
    [sc.readOnlyRootFilesystem !== true, 'readOnlyRootFilesystem is not true'],
    [!(caps.drop ?? []).includes('ALL'), 'does not drop ALL capabilities'],
    [(caps.add?.length ?? 0) > 0, 'adds capabilities'],
    [!seccompOk(sc, podSc), 'seccomp profile is not RuntimeDefault or Localhost'],
  ];
  return problems.filter(([bad]) => bad).map(([, what]) => `container ${clip(c.name)} ${what}`);
}

/** PSS restricted, plus readOnlyRootFilesystem, plus no host namespaces. */
export function checkSecurityContext(pod: PodView): Check {
  const spec = pod.spec;
  if (spec === undefined) return new JoinRefused('security-context', 'pod has no spec');
  const hostNs = (['hostNetwork', 'hostPID', 'hostIPC'] as const).filter((k) => spec[k] === true);
  if (hostNs.length > 0)
    return new JoinRefused('security-context', `pod uses host namespaces: ${hostNs.join(', ')}`);
  const podSc = spec.securityContext ?? {};
  const problems = [...(spec.initContainers ?? []), ...spec.containers].flatMap((c) =>
    containerSecurityProblems(c, podSc),
  );
  return problems.length === 0 ? undefined : new JoinRefused('security-context', problems.join('; '));
}

/** `::ffff:1.2.3.4` (IPv4-mapped IPv6) → `1.2.3.4`; IPv6 lower-cased; anything else unchanged. */
export function normalizeAddress(address: string): string {
  const lower = address.trim().toLowerCase();
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(lower);
  return mapped?.[1] ?? lower;
}

function podAddresses(pod: PodView): string[] {
  const ips = [...(pod.status?.podIPs ?? []).map((p) => p.ip), pod.status?.podIP];
  return [...new Set(ips.filter((ip): ip is string => !!ip).map(normalizeAddress))];
}

/** The connection comes from one of the pod's own IPs (status.podIPs): not from anywhere else. */
export function checkSourceAddress(pod: PodView, remoteAddress: string): Check {
  const ips = podAddresses(pod);
  if (ips.length === 0) return new JoinRefused('source-address', 'pod has no IP yet');
  const from = normalizeAddress(remoteAddress);
  if (ips.includes(from)) return undefined;
  return new JoinRefused(
    'source-address',
    `connection comes from ${clip(from || '(unknown)')}, not from the pod's IPs ${clip(ips.join(','))}`,
  );
}

/** spec.podCIDRs of a node, else its spec.podCIDR, else none. */
export function nodePodCIDRs(
  spec: { podCIDR?: string | undefined; podCIDRs?: string[] | undefined } | undefined,
): string[] {
  if (spec?.podCIDRs !== undefined && spec.podCIDRs.length > 0) return spec.podCIDRs;
  return spec?.podCIDR ? [spec.podCIDR] : [];
}

/** A BlockList of `cidrs`; throws an Error naming the first one that is not an IPv4/IPv6 CIDR. */
export function cidrBlockList(cidrs: string[]): BlockList {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [net, bits, extra] = cidr.trim().split('/');
    const family = isIP(net ?? '');
    const prefix = Number(bits);
    const max = family === 6 ? 128 : 32;
    if (family === 0 || extra !== undefined || !/^\d{1,3}$/.test(bits ?? '') || prefix > max) {
      throw new Error(`"${clip(cidr)}" is not an IPv4 or IPv6 CIDR`);
    }
    list.addSubnet(normalizeAddress(net!), prefix, family === 6 ? 'ipv6' : 'ipv4');
  }
  return list;
}

/** Whether `address` lies in `list` (IPv4-mapped IPv6 counts as IPv4). */
export function inBlockList(list: BlockList, address: string): boolean {
  const a = normalizeAddress(address);
  const family = isIP(a);
  return family !== 0 && list.check(a, family === 6 ? 'ipv6' : 'ipv4');
}

/** Whether the peer can enforce checkNodePodCIDR here, and why (logged once at start). */
export interface PodNetwork {
  podIPsFromNodeCIDRs: boolean;
  why: string;
}

/**
 * Pure: self-calibration at the peer's start. If the peer's OWN pod IP lies in its OWN node's
 * podCIDRs, this cluster assigns pod IPs from node CIDRs (kind, kubeadm --allocate-node-cidrs, most
 * cloud CNIs in that mode) and joiners are held to theirs; otherwise (no podCIDRs, a CNI with its own
 * IPAM) the rule cannot be enforced.
 */
export function calibratePodNetwork(podIP: string, node: string, cidrs: string[] | undefined): PodNetwork {
  const off = (why: string): PodNetwork => ({ podIPsFromNodeCIDRs: false, why });
  if (podIP === '') return off('this pod has no POD_IP');
  if (cidrs === undefined) return off(`node ${node} was not found`);
  if (cidrs.length === 0) return off(`node ${node} has no spec.podCIDRs`);
  let list: BlockList;
  try {
    list = cidrBlockList(cidrs);
  } catch (err) {
    return off(`node ${node} spec.podCIDRs: ${(err as Error).message}`);
  }
  const where = `node ${node} podCIDRs ${cidrs.join(',')}`;
  return inBlockList(list, podIP)
    ? { podIPsFromNodeCIDRs: true, why: `this pod's IP ${podIP} lies in ${where}` }
    : off(`this pod's IP ${podIP} is not in ${where} (the CNI assigns pod IPs itself)`);
}

function nodeCIDRProblem(
  pod: PodView,
  cidrs: string[] | undefined,
  remoteAddress: string,
): string | undefined {
  const node = clip(pod.spec?.nodeName);
  if (cidrs === undefined) return `node ${node} of the pod was not found`;
  if (cidrs.length === 0) return `node ${node} has no spec.podCIDRs; pod IPs here come from node CIDRs`;
  let list: BlockList;
  try {
    list = cidrBlockList(cidrs);
  } catch (err) {
    return `node ${node} spec.podCIDRs: ${(err as Error).message}`;
  }
  const where = `node ${node}'s podCIDRs ${clip(cidrs.join(','))}`;
  const outside = podAddresses(pod).find((ip) => !inBlockList(list, ip));
  if (outside !== undefined) return `pod IP ${clip(outside)} is not in ${where} (status.podIP rewritten?)`;
  const from = normalizeAddress(remoteAddress);
  if (!inBlockList(list, from))
    return `connection comes from ${clip(from || '(unknown)')}, not from ${where}`;
  return undefined;
}

/**
 * Where pod IPs come from node podCIDRs (colony.podIPsFromNodeCIDRs): the pod's IPs and the
 * connection's source lie in its node's podCIDRs. A pod's status.podIP can be rewritten through the
 * API; a node's podCIDRs cannot, and on a routed pod network only that node receives replies for them.
 */
export function checkNodePodCIDR(
  pod: PodView,
  nodeCIDRs: string[] | undefined,
  colony: ColonyContext,
  remoteAddress: string,
): Check {
  if (colony.podIPsFromNodeCIDRs !== true) return undefined;
  const problem = nodeCIDRProblem(pod, nodeCIDRs, remoteAddress);
  return problem === undefined ? undefined : new JoinRefused('node-pod-cidr', problem);
}

/** The pod spec is exactly what the operator builds for this Colony and Cell (pod-spec.ts). */
export function checkPodSpec(pod: PodView, expectedSpec: unknown): Check {
  if (expectedSpec === undefined) {
    return new JoinRefused('spec-mismatch', 'the pod the operator would build could not be determined');
  }
  const d = podSpecDifference(pod.spec, expectedSpec);
  return d === undefined
    ? undefined
    : new JoinRefused('spec-mismatch', `pod ${d.path} ${d.what} (pod spec differs from the built one)`);
}

function isDeleting(meta: MetaView | undefined): boolean {
  return meta?.deletionTimestamp !== undefined && meta.deletionTimestamp !== null;
}

function joinerStateProblem(token: TokenFacts, cell: CellView): string | undefined {
  const name = clip(cell.metadata?.name);
  const status = cell.status ?? {};
  if (isDeleting(cell.metadata)) return `Cell ${name} is being deleted`;
  if (status.podUID !== token.podUID) {
    return `Cell ${name} records pod uid ${clip(status.podUID ?? '(none)')}, the token is for ${clip(token.podUID)}`;
  }
  if (status.phase === 'Alive' || status.phase === 'Dead') return `Cell ${name} is ${status.phase}`;
  if (status.publicKey) return `Cell ${name} already reported a public key: it held the secret before`;
  return undefined;
}

/** The pod's Cell is a joiner that never held the secret, and this pod is its incarnation. */
export function checkJoinerState(token: TokenFacts, cell: CellView | undefined): Check {
  if (cell === undefined) return new JoinRefused('not-a-joiner', 'the pod has no Cell');
  const problem = joinerStateProblem(token, cell);
  return problem === undefined ? undefined : new JoinRefused('not-a-joiner', problem);
}

/**
 * The hello's ephemeral key is the one the pod's process published (write-once) in its Cell's
 * status.joinKey with its own pod's API credential: the secret is sealed only to that process.
 */
export function checkJoinKey(cell: CellView | undefined, session: SessionFacts): Check {
  const name = clip(cell?.metadata?.name);
  const published = cell?.status?.joinKey;
  if (!published) return new JoinRefused('join-key', `Cell ${name} has published no join key`);
  if (published === session.joinKey) return undefined;
  return new JoinRefused(
    'join-key',
    `the session's key ${session.joinKey} is not the join key Cell ${name} published (${clip(published)})`,
  );
}

/** The token-only checks, in order (before any API lookup). */
export function tokenChecks(token: TokenFacts, colony: ColonyContext): Check {
  return checkAudience(token) ?? checkTokenNamespace(token, colony) ?? checkCredentialId(token);
}

/** The pod is the token's, and the connection comes from where that pod is (its IPs, its node's CIDRs). */
function whereChecks(
  token: TokenFacts,
  facts: PodFacts,
  colony: ColonyContext,
  session: SessionFacts,
): Check {
  return (
    checkPodIdentity(token, facts.pod) ??
    checkSourceAddress(facts.pod, session.remoteAddress) ??
    checkNodePodCIDR(facts.pod, facts.nodePodCIDRs, colony, session.remoteAddress)
  );
}

/**
 * The pod checks, in order; the first refusal wins. Every one must pass: the order only decides which
 * reason a refused joiner reads (the specific image / hardening / security refusals before the
 * whole-spec comparison, the joiner's state last). See docs/protocol.md.
 */
export function podChecks(
  token: TokenFacts,
  facts: PodFacts,
  colony: ColonyContext,
  session: SessionFacts,
): Check {
  return (
    whereChecks(token, facts, colony, session) ??
    checkNotTerminating(facts.pod) ??
    checkOwnerChain(facts.pod, facts.cell, colony) ??
    checkImage(facts.pod, colony) ??
    checkHardenedNode(facts.nodeLabels, colony) ??
    checkSecurityContext(facts.pod) ??
    checkPodSpec(facts.pod, facts.expectedSpec) ??
    checkJoinerState(token, facts.cell) ??
    checkJoinKey(facts.cell, session)
  );
}
