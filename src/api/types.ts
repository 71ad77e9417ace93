// Colony, Cell and LockdownParameters: the custom resources of celula.io/v1alpha1.
// crds/ is the source of truth for the schema; these types mirror it for the code.
import type { V1ObjectMeta } from '@kubernetes/client-node';

export const GROUP = 'celula.io';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
/** Where the chart installs the operator unless told otherwise (and its leader Lease lives). */
export const DEFAULT_OPERATOR_NAMESPACE = 'celula-system';

export const ColonyKind = 'Colony';
export const CellKind = 'Cell';
export const COLONY_PLURAL = 'colonies';
export const CELL_PLURAL = 'cells';
export const LockdownParametersKind = 'LockdownParameters';
export const LOCKDOWN_PARAMETERS_PLURAL = 'lockdownparameters';
/**
 * maxProperties of LockdownParameters.data: hardened nodes, colony namespaces and the non-cell pods
 * already on hardened nodes (no key per cell), with room to spare.
 */
export const LOCKDOWN_PARAMETERS_MAX_KEYS = 4096;

/** Secret algorithms a colony can hold; immutable once the colony exists. */
export const ALGORITHMS = ['ed25519', 'secp256k1', 'aes-256'] as const;
export type Algorithm = (typeof ALGORITHMS)[number];

/**
 * How a colony's nodes are obtained.
 * - adopt: the operator hardens eligible existing nodes (hijack.sh via a one-shot Job) and places
 *   cells only on hardened nodes.
 * - existing: nodes were hardened out of band and carry the hardened label; cells go only there.
 * - unhardened: development only; cells go to any eligible node and the colony says it is not isolated.
 */
export const NODE_PROVIDERS = ['adopt', 'existing', 'unhardened'] as const;
export type NodeProvider = (typeof NODE_PROVIDERS)[number];

export const SPREAD_KEYS = ['kubernetes.io/hostname', 'topology.kubernetes.io/zone'] as const;
export type SpreadKey = (typeof SPREAD_KEYS)[number];

export const MAX_REPLICAS = 50;

/** Labels and annotations the operator owns. */
export const LABELS = {
  managedBy: 'app.kubernetes.io/managed-by',
  colony: 'celula.io/colony',
  cell: 'celula.io/cell',
  genesis: 'celula.io/genesis',
  cellIndex: 'celula.io/cell-index',
  /** A node-restriction.kubernetes.io/ label: a kubelet cannot set it on its own node. */
  hardened: 'node-restriction.kubernetes.io/celula-hardened',
} as const;
export const MANAGER = 'celula-operator';
export const HARDENED_TAINT = 'celula.io/hardened';
/** Audience of the projected token a cell presents to a peer when joining. */
export const JOIN_AUDIENCE = 'celula.io/join';

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

export interface ColonySpec {
  image: string;
  replicas: number;
  minReplicas: number;
  secret: { algorithm: Algorithm };
  placement?: { spreadKey?: SpreadKey; nodeSelector?: Record<string, string> };
  nodes?: { provider?: NodeProvider };
  resources?: { cpu?: string; memory?: string };
  args?: string[];
  /** The user's program the cells host (issue 13); immutable like image and args. */
  program?: ProgramSpec;
  /** secp256k1 colonies: the network of the colony's Bitcoin address (status.bitcoinAddress). */
  bitcoin?: { network?: 'mainnet' | 'testnet' | 'regtest' };
}

/** The program module (absolute path in the image) and the port its routes are served on. */
export interface ProgramSpec {
  module: string;
  port?: number;
}

/** The program port when spec.program.port is unset. */
export const DEFAULT_PROGRAM_PORT = 8080;

export interface ColonyStatus {
  observedGeneration?: number;
  publicKey?: string;
  fingerprint?: string;
  /** secp256k1 colonies: the P2TR (BIP86) address of publicKey on spec.bitcoin.network (src/api/bitcoin.ts). */
  bitcoinAddress?: string;
  genesisCell?: string;
  desired?: number;
  /** Holders heard now (Alive): what Ready and FloorMet count. */
  alive?: number;
  /** Holders not heard (Unreachable): still holders, never counted as gone. */
  unreachable?: number;
  /** Living cells that do not hold the secret yet (Pending, Starting, Joining). */
  joining?: number;
  /** The highest cell index ever used: a cell name (colony-<index>) is never reused. */
  lastCellIndex?: number;
  /** Times a cell or node of this colony was found breaking its lockdown (isolation). */
  lockdownIncidents?: number;
  conditions?: Condition[];
}

export interface Colony {
  apiVersion?: string;
  kind?: string;
  metadata: V1ObjectMeta;
  spec: ColonySpec;
  status?: ColonyStatus;
}

/**
 * Unreachable: a holder the operator cannot hear (stale node Lease, node not Ready, readiness
 * failing). It is still a holder; only proof that its memory is gone makes it Dead (docs/floor.md).
 */
export const CELL_PHASES = ['Pending', 'Starting', 'Joining', 'Alive', 'Unreachable', 'Dead'] as const;
export type CellPhase = (typeof CELL_PHASES)[number];

export interface CellSpec {
  colony: string;
  node: string;
  genesis: boolean;
}

export interface CellStatus {
  phase?: CellPhase;
  pod?: string;
  podUID?: string;
  node?: string;
  startedAt?: string;
  aliveAt?: string;
  diedAt?: string;
  /** When the operator stopped hearing this holder (set only while phase is Unreachable). */
  unreachableSince?: string;
  reason?: string;
  message?: string;
  /** Public identity the cell reports for itself (never secret material). */
  publicKey?: string;
  fingerprint?: string;
  /**
   * `sha256:<hex>` of the raw X25519 join key the cell process generated; written once by the cell
   * (through its own pod's API credential) before its first join hello. Peers seal the secret only
   * to that key.
   */
  joinKey?: string;
  /** base64 signature by the colony key over colony uid, cell, pod uid and publicKey (src/cell/key-proof.ts). */
  keyProof?: string;
  observedGeneration?: number;
}

export interface Cell {
  apiVersion?: string;
  kind?: string;
  metadata: V1ObjectMeta;
  spec: CellSpec;
  status?: CellStatus;
}

/**
 * The admission lock-down's parameters (cluster-scoped, one object named celula-lockdown): keys
 * `node.<node>`, `ns.<namespace>` and `pod.<namespace>.<pod>`, values empty. See docs/lockdown.md.
 */
export interface LockdownParameters {
  apiVersion: string;
  kind: typeof LockdownParametersKind;
  metadata: V1ObjectMeta;
  data?: Record<string, string>;
}

/** Condition types on a Colony; each has exactly one writer (the colony reconciler). */
export const ColonyConditions = {
  Ready: 'Ready',
  SecretHeld: 'SecretHeld',
  FloorMet: 'FloorMet',
  Degraded: 'Degraded',
  Lost: 'Lost',
  /** True while any holder is Unreachable: the colony is never Lost meanwhile. */
  HoldersUnreachable: 'HoldersUnreachable',
  LockdownIntact: 'LockdownIntact',
  /** False while a cell the colony needs finds no node (the message names the constraints). */
  CellsPlaced: 'CellsPlaced',
} as const;
