#!/usr/bin/env node
// celula-operator entry point: flags → kubeconfig → operator → health/metrics → graceful shutdown.
import { KubeConfig } from '@kubernetes/client-node';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { createLogger } from './observability/logger.js';
import { listen } from './observability/http.js';
import { HELP, parseOptions, UsageError, type OperatorOptions } from './options.js';
import { startOperator, type Operator } from './operator.js';
import { GracefulShutdown } from './runtime/shutdown.js';
import { describeError } from './observability/errors.js';

function kubeConfig(opts: OperatorOptions): KubeConfig {
  const kc = new KubeConfig();
  if (opts.kubeconfig) kc.loadFromFile(opts.kubeconfig);
  else kc.loadFromDefault();
  return kc;
}

async function main(): Promise<void> {
  let opts: OperatorOptions;
  try {
    opts = parseOptions(process.argv.slice(2), process.env);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`celula-operator: ${err.message}\n\n${HELP}`);
    process.exit(2);
  }
  if (opts.help) {
    process.stdout.write(HELP);
    return;
  }
  const logger = createLogger({ level: opts.logLevel, name: 'celula-operator' });
  const shutdown = new GracefulShutdown({ logger }).install();
  // The runtime's timers are unref'd; with the API server gone (its sockets closed) nothing else would
  // keep the event loop alive and the process would exit silently. It lives until it is shut down.
  const keepAlive = setInterval(() => undefined, 60_000);
  shutdown.add('keep-alive', () => {
    clearInterval(keepAlive);
    return Promise.resolve();
  });
  // Health and metrics listen from the start (not ready until the caches sync), so a replica started
  // while the API server is down is visibly alive and waiting, not gone.
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'celula_process_' });
  const started: { operator?: Operator } = {};
  const ready = (): boolean => started.operator?.ready() ?? false;
  const servers = await Promise.all([
    listen(opts.healthAddr, { ready }),
    listen(opts.metricsAddr, { ready, registry }),
  ]);
  shutdown.add('http', () => {
    for (const s of servers) s?.close();
    return Promise.resolve();
  });
  logger.info(
    { health: opts.healthAddr, metrics: opts.metricsAddr, leaderElect: opts.leaderElect },
    'celula-operator starting; waiting for the caches to sync',
  );
  const operator = await startOperator({
    registry,
    kubeConfig: kubeConfig(opts),
    logger,
    namespace: opts.namespace,
    leaderElect: opts.leaderElect,
    leaderNamespace: opts.leaderNamespace,
    // The operator's own namespace: its lease, the lock-down policies (which name its service
    // account) and the hardening Jobs live there.
    operatorNamespace: opts.leaderNamespace,
    workers: opts.workers,
    nodeLossAfter: opts.nodeLossAfter,
    massDisruption: { fraction: opts.massDisruptionFraction, minNodes: opts.massDisruptionMinNodes },
    hardenedNodeLeaseSeconds: opts.hardenedNodeLeaseSeconds,
    writeLimit: { qps: opts.writeQps, burst: opts.writeBurst },
    onLostLeadership: () => void shutdown.run('lost leadership').then(() => process.exit(1)),
  });
  started.operator = operator;
  shutdown.add('operator', () => operator.stop());
  logger.info('celula-operator running');
}

main().catch((err: unknown) => {
  process.stderr.write(`celula-operator: ${describeError(err)}\n`);
  process.exit(1);
});
