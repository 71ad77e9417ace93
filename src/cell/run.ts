// The cell's life: read the Colony and its own Cell → serve → check that memory stays in memory →
// (genesis) check its own node is hardened and generate the secret, or (joiner) publish its join key
// in its own Cell status, wait for the colony's public key and join from a live peer, from its pod IP
// → ready → report the public identity and the proof of possession in its own Cell's status. The
// secret stays inside ColonySecret; this file only passes the object around.
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import type { KubeConfig } from '@kubernetes/client-node';

import { colonyBitcoinAddress, DEFAULT_BITCOIN_NETWORK } from '../api/bitcoin.js';
import { ColonyConditions, DEFAULT_PROGRAM_PORT, LABELS, type Cell, type Colony } from '../api/types.js';
import { isHardenedLabelValue } from '../builders/hardening.js';
import type { Logger } from '../observability/logger.js';
import { JoinFailed, joinColony } from './client.js';
import type { CellConfig } from './config.js';
import { hygieneInputs, memoryHygieneProblems, type HygieneInputs } from './hygiene.js';
import { signKeyProof } from './key-proof.js';
import { calibratePodNetwork, type ColonyContext } from './checks.js';
import { ApiPodInspector, apiErrorSummary, CellApi, colonyContext, TokenReviewVerifier } from './kube.js';
import { startProgram, type ProgramServer } from './program-host.js';
import { programKeyOf, type ProgramContext } from './program.js';
import { createJoinKey, type JoinKey } from './protocol.js';
import { ColonySecret } from './secret.js';
import { CellServer } from './server.js';

export interface CellDeps {
  kubeConfig: KubeConfig;
  logger: Logger;
  /** Backoff cap between retries (join, API reads, identity report). Default 5000 ms. */
  maxBackoffMs?: number;
  /** The memory-hygiene facts of this process (default: read from the process and /proc). */
  hygiene?: () => HygieneInputs;
}

export interface RunningCell {
  server: CellServer;
  address: AddressInfo;
  /** Resolves once the cell holds the secret, has reported its identity and its program is ready. */
  ready: Promise<void>;
  /** Where the program's routes are served, once it is ready (colonies with spec.program). */
  programAddress(): AddressInfo | undefined;
  stop(): Promise<void>;
}

/** A colony whose cell can never become ready: stop rather than retry forever. */
export class FatalCellError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FatalCellError';
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

class Backoff {
  #ms = 250;
  readonly #max: number;
  constructor(max: number) {
    this.#max = max;
  }
  async wait(): Promise<void> {
    await sleep(this.#ms);
    this.#ms = Math.min(this.#max, this.#ms * 2);
  }
}

function isLost(colony: Colony): boolean {
  return (
    colony.status?.conditions?.some((c) => c.type === ColonyConditions.Lost && c.status === 'True') ?? false
  );
}

async function readColony(api: CellApi, cfg: CellConfig, log: Logger, max: number): Promise<Colony> {
  const backoff = new Backoff(max);
  for (;;) {
    try {
      const colony = await api.colony();
      if (colony.metadata.uid !== cfg.colonyUID) {
        throw new FatalCellError(
          `colony ${cfg.colony} has uid ${colony.metadata.uid ?? '?'}, this cell belongs to ${cfg.colonyUID}`,
        );
      }
      return colony;
    } catch (err) {
      if (err instanceof FatalCellError) throw err;
      log.warn({ err: apiErrorSummary(err) }, 'reading the colony failed; retrying');
      await backoff.wait();
    }
  }
}

/** Retry an API read until it answers (FatalCellError stops). */
async function retrying<T>(what: string, fn: () => Promise<T>, log: Logger, max: number): Promise<T> {
  const backoff = new Backoff(max);
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof FatalCellError) throw err;
      log.warn({ err: apiErrorSummary(err) }, `${what} failed; retrying`);
      await backoff.wait();
    }
  }
}

/** Pure: a hardened label value that marks a node hardened (the hijack.sh digest prefix). */
export const hardenedValue = isHardenedLabelValue;

/**
 * The gate before the secret enters this process: refuse (hardened colonies) or warn (development)
 * when its memory could leave memory. See hygiene.ts.
 */
export function memoryGate(requireHardened: boolean, inputs: HygieneInputs, log: Logger): void {
  const problems = memoryHygieneProblems(inputs);
  if (problems.length === 0) return;
  if (requireHardened) {
    throw new FatalCellError(`this process may not hold the colony secret: ${problems.join('; ')}`);
  }
  log.warn({ problems }, 'memory hygiene is not met; tolerated only because the colony is unhardened');
}

async function seed(api: CellApi, colony: Colony, ctx: StartFacts, log: Logger): Promise<ColonySecret> {
  const { cfg } = ctx;
  if (ctx.requireHardened) {
    const labels = await retrying('reading the node', () => api.nodeLabels(cfg.nodeName), log, ctx.max);
    if (!hardenedValue(labels?.[LABELS.hardened])) {
      throw new FatalCellError(
        `node ${cfg.nodeName} does not carry ${LABELS.hardened}; the genesis cell generates the secret only on a hardened node`,
      );
    }
  }
  if (colony.status?.publicKey) {
    // A colony's key is set once. A second genesis would silently replace the secret: refuse.
    throw new FatalCellError(
      'the colony already has a public key; a genesis cell never generates a second secret',
    );
  }
  const secret = ColonySecret.generate(cfg.algorithm);
  log.info({ fingerprint: secret.fingerprint, algorithm: cfg.algorithm }, 'generated the colony secret');
  return secret;
}

/** What the cell decided at start and keeps. */
interface StartFacts {
  cfg: CellConfig;
  requireHardened: boolean;
  cell: Cell;
  max: number;
}

async function joinOnce(
  api: CellApi,
  ctx: StartFacts,
  key: JoinKey,
  log: Logger,
): Promise<ColonySecret | undefined> {
  const { cfg, max } = ctx;
  const colony = await readColony(api, cfg, log, max);
  if (isLost(colony)) throw new FatalCellError('the colony is Lost: no cell holds its secret any more');
  const publicKey = colony.status?.publicKey;
  if (!publicKey) {
    log.debug('waiting for the colony public key');
    return undefined;
  }
  const peers = await api.peers(cfg.colonyUID, cfg.port);
  log.debug({ peers }, 'live peers');
  if (peers.length === 0) return undefined;
  const { secret } = await joinColony({
    peers,
    colonyUID: cfg.colonyUID,
    expectedPublicKey: publicKey,
    token: async () => (await readFile(cfg.joinTokenFile, 'utf8')).trim(),
    timeoutMs: cfg.joinTimeoutMs,
    joinKey: key,
    localAddress: cfg.podIP,
    logger: log,
  });
  return secret;
}

/**
 * Publish the join key; when the write is refused because another key is already published for this
 * pod, someone pre-empted it (only a principal impersonating this pod can): never join, say so loudly.
 */
async function publishJoinKey(api: CellApi, digest: string): Promise<void> {
  let stored: string | undefined;
  try {
    stored = await api.publishJoinKey(digest);
  } catch (err) {
    const published = (await api.ownCell().catch(() => undefined))?.status?.joinKey;
    if (published !== undefined && published !== digest) {
      throw new FatalCellError(
        `another join key (${published}) was published for this pod before this process could publish its own; ` +
          'someone acting as this pod tried to take its place in the join: refusing to join',
      );
    }
    throw err;
  }
  // Read back: a mutating admission webhook or policy on cells/status could swap the key on its way
  // in (the stored Cell is what peers seal to); then this process could never open a sealed secret.
  if (stored !== digest) {
    throw new FatalCellError(
      `the join key stored for this pod (${stored ?? 'none'}) is not the one this process published; ` +
        'something changed the write on its way (a mutating admission on cells/status?): refusing to join',
    );
  }
}

async function join(api: CellApi, ctx: StartFacts, log: Logger): Promise<ColonySecret> {
  // One join key for the life of this process; published before the first hello (write-once).
  const key = createJoinKey();
  await retrying('publishing the join key', () => publishJoinKey(api, key.digest), log, ctx.max);
  log.info({ joinKey: key.digest }, 'published the join key in the cell status');
  const backoff = new Backoff(ctx.max);
  for (;;) {
    try {
      const secret = await joinOnce(api, ctx, key, log);
      if (secret) return secret;
    } catch (err) {
      if (err instanceof FatalCellError) throw err;
      const detail = err instanceof JoinFailed ? err.message : apiErrorSummary(err);
      log.warn({ err: detail }, 'join failed; retrying');
    }
    await backoff.wait();
  }
}

async function reportIdentity(
  api: CellApi,
  secret: ColonySecret,
  ctx: StartFacts,
  log: Logger,
): Promise<void> {
  const backoff = new Backoff(ctx.max);
  const keyProof = signKeyProof(secret, {
    colonyUID: ctx.cfg.colonyUID,
    cell: ctx.cfg.cell,
    cellUID: ctx.cell.metadata.uid,
    podUID: ctx.cfg.podUID,
  });
  const identity = { publicKey: secret.publicKey, fingerprint: secret.fingerprint, keyProof };
  for (;;) {
    try {
      await api.reportIdentity(identity);
      log.info(identity, 'reported identity in the cell status');
      return;
    } catch (err) {
      log.warn({ err: apiErrorSummary(err) }, 'reporting identity failed; retrying');
      await backoff.wait();
    }
  }
}

async function obtainSecret(
  api: CellApi,
  colony: Colony,
  ctx: StartFacts,
  deps: CellDeps,
): Promise<ColonySecret> {
  memoryGate(ctx.requireHardened, (deps.hygiene ?? hygieneInputs)(), deps.logger);
  return ctx.cfg.genesis ? seed(api, colony, ctx, deps.logger) : join(api, ctx, deps.logger);
}

/**
 * The colony context this peer checks joiners against, with the pod-network rule calibrated once from
 * its own pod and node (checks.ts calibratePodNetwork), and said once in the log. The node is read
 * until the API answers: a transient error must not decide the rule away for the process's life.
 */
async function peerContext(
  api: CellApi,
  colony: Colony,
  { cfg, max }: { cfg: CellConfig; max: number },
  log: Logger,
): Promise<{ context: ColonyContext; nodeLabels: Record<string, string> | undefined }> {
  const node = await retrying('reading the own node', () => api.node(cfg.nodeName), log, max);
  const net = calibratePodNetwork(cfg.podIP, cfg.nodeName, node?.podCIDRs);
  if (net.podIPsFromNodeCIDRs) {
    log.info(
      { why: net.why },
      "pod IPs come from node podCIDRs: joiners must connect from their node's pod CIDR",
    );
  } else {
    log.warn(
      { why: net.why },
      "cannot tell pod IPs from node podCIDRs here: a joiner's source address is checked against its pod's IPs only, not its node's pod CIDR",
    );
  }
  return {
    context: { ...colonyContext(colony), podIPsFromNodeCIDRs: net.podIPsFromNodeCIDRs },
    nodeLabels: node?.labels,
  };
}

/** What the program sees: public colony facts and the narrow key (never the ColonySecret). */
export function programContext(colony: Colony, secret: ColonySecret): ProgramContext {
  const meta = {
    name: colony.metadata.name ?? '',
    namespace: colony.metadata.namespace ?? '',
    uid: colony.metadata.uid ?? '',
  };
  const key = programKeyOf(secret);
  if (secret.algorithm !== 'secp256k1') return Object.freeze({ key, colony: Object.freeze(meta) });
  const network = colony.spec.bitcoin?.network ?? DEFAULT_BITCOIN_NETWORK;
  const bitcoin = Object.freeze({ network, address: colonyBitcoinAddress(secret.publicKey, network) });
  return Object.freeze({ key, colony: Object.freeze(meta), bitcoin });
}

/**
 * Load and start the colony's program once the cell holds the secret. A failure (the module does not
 * load, onReady throws, the port is taken) is logged with its reason and retried with backoff: the
 * cell keeps the secret and keeps serving joins, but it is not Ready while its program is not.
 */
async function hostProgram(
  colony: Colony,
  secret: ColonySecret,
  where: { host: string; max: number },
  log: Logger,
): Promise<ProgramServer | undefined> {
  const spec = colony.spec.program;
  if (spec === undefined) return undefined;
  const ctx = programContext(colony, secret);
  const backoff = new Backoff(where.max);
  for (;;) {
    try {
      const started = await startProgram(
        spec.module,
        ctx,
        { port: spec.port ?? DEFAULT_PROGRAM_PORT, host: where.host },
        log,
      );
      log.info(
        { program: started.name, module: spec.module, port: started.address.port },
        'program ready; serving its routes',
      );
      return started.server;
    } catch (err) {
      log.error(
        { module: spec.module, err: err instanceof Error ? err.message : 'unknown' },
        'the program failed to start; retrying (this cell is not Ready)',
      );
      await backoff.wait();
    }
  }
}

/** Starts serving at once (readiness 503), then obtains the secret and reports the identity. */
export async function runCell(cfg: CellConfig, deps: CellDeps): Promise<RunningCell> {
  const log = deps.logger;
  const max = deps.maxBackoffMs ?? 5000;
  const api = new CellApi({
    kubeConfig: deps.kubeConfig,
    namespace: cfg.namespace,
    colony: cfg.colony,
    cell: cfg.cell,
    logger: log,
  });
  const colony = await readColony(api, cfg, log, max);
  const cell = await retrying('reading the own Cell', () => api.ownCell(), log, max);
  const { context, nodeLabels } = await peerContext(api, colony, { cfg, max }, log);
  const ctx: StartFacts = { cfg, requireHardened: context.requireHardened, cell, max };
  const server = new CellServer({
    colony: context,
    colonySource: api,
    verifier: new TokenReviewVerifier(deps.kubeConfig),
    inspector: new ApiPodInspector(deps.kubeConfig),
    self: { node: cfg.nodeName, hardened: nodeLabels?.[LABELS.hardened] ?? null },
    logger: log,
  });
  const address = await server.listen(cfg.port, cfg.listen);
  log.info({ address: address.address, port: address.port, genesis: cfg.genesis }, 'cell serving');
  if (colony.spec.program) server.expectProgram();
  let program: { server: ProgramServer; address: AddressInfo } | undefined;
  const ready = obtainSecret(api, colony, ctx, deps).then(async (secret) => {
    server.setSecret(secret);
    // This exact line is what test/system/monitor.ts watches for: the moment the cell holds the secret.
    log.info({ fingerprint: secret.fingerprint }, 'holding the colony secret; ready');
    await reportIdentity(api, secret, ctx, log);
    const hosted = await hostProgram(colony, secret, { host: cfg.listen, max }, log);
    if (hosted) program = { server: hosted, address: hosted.address() };
    server.programReady();
  });
  ready.catch(() => undefined); // the caller handles failure; never an unhandled rejection meanwhile
  return {
    server,
    address,
    ready,
    programAddress: () => program?.address,
    stop: async () => {
      server.secret?.zero();
      await program?.server.close();
      await server.close();
    },
  };
}
