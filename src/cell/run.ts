// The cell's life: read the Colony → serve → (genesis) generate the secret, or (joiner) wait for the
// colony's public key and join from a live peer → ready → report the public identity in its own
// Cell's status. The secret stays inside ColonySecret; this file only passes the object around.
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import type { KubeConfig } from '@kubernetes/client-node';

import { ColonyConditions, LABELS, type Colony } from '../api/types.js';
import type { Logger } from '../observability/logger.js';
import { JoinFailed, joinColony } from './client.js';
import type { CellConfig } from './config.js';
import { ApiPodInspector, apiErrorSummary, CellApi, colonyContext, TokenReviewVerifier } from './kube.js';
import { ColonySecret } from './secret.js';
import { CellServer } from './server.js';

export interface CellDeps {
  kubeConfig: KubeConfig;
  logger: Logger;
  /** Backoff cap between retries (join, API reads, identity report). Default 5000 ms. */
  maxBackoffMs?: number;
}

export interface RunningCell {
  server: CellServer;
  address: AddressInfo;
  /** Resolves once the cell holds the secret and has reported its identity. */
  ready: Promise<void>;
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

function seed(colony: Colony, cfg: CellConfig, log: Logger): ColonySecret {
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

async function joinOnce(
  api: CellApi,
  cfg: CellConfig,
  log: Logger,
  max: number,
): Promise<ColonySecret | undefined> {
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
    logger: log,
  });
  return secret;
}

async function join(api: CellApi, cfg: CellConfig, log: Logger, max: number): Promise<ColonySecret> {
  const backoff = new Backoff(max);
  for (;;) {
    try {
      const secret = await joinOnce(api, cfg, log, max);
      if (secret) return secret;
    } catch (err) {
      if (err instanceof FatalCellError) throw err;
      const detail = err instanceof JoinFailed ? err.message : apiErrorSummary(err);
      log.warn({ err: detail }, 'join failed; retrying');
    }
    await backoff.wait();
  }
}

async function reportIdentity(api: CellApi, secret: ColonySecret, log: Logger, max: number): Promise<void> {
  const backoff = new Backoff(max);
  const identity = { publicKey: secret.publicKey, fingerprint: secret.fingerprint };
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
  cfg: CellConfig,
  colony: Colony,
  deps: CellDeps,
): Promise<ColonySecret> {
  const max = deps.maxBackoffMs ?? 5000;
  return cfg.genesis ? seed(colony, cfg, deps.logger) : join(api, cfg, deps.logger, max);
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
  const nodeLabels = await api.nodeLabels(cfg.nodeName).catch(() => undefined);
  const server = new CellServer({
    colony: colonyContext(colony),
    verifier: new TokenReviewVerifier(deps.kubeConfig),
    inspector: new ApiPodInspector(deps.kubeConfig),
    self: { node: cfg.nodeName, hardened: nodeLabels?.[LABELS.hardened] ?? null },
    logger: log,
  });
  const address = await server.listen(cfg.port, cfg.listen);
  log.info({ address: address.address, port: address.port, genesis: cfg.genesis }, 'cell serving');
  const ready = obtainSecret(api, cfg, colony, deps).then(async (secret) => {
    server.setSecret(secret);
    log.info({ fingerprint: secret.fingerprint }, 'holding the colony secret; ready');
    await reportIdentity(api, secret, log, max);
  });
  ready.catch(() => undefined); // the caller handles failure; never an unhandled rejection meanwhile
  return {
    server,
    address,
    ready,
    stop: async () => {
      server.secret?.zero();
      await server.close();
    },
  };
}
