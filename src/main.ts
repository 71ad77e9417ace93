#!/usr/bin/env node
// celula-operator entry point: flags → kubeconfig → operator → health/metrics → graceful shutdown.
import { KubeConfig } from '@kubernetes/client-node';
import { collectDefaultMetrics } from 'prom-client';
import { createLogger } from './observability/logger.js';
import { listen } from './observability/http.js';
import { HELP, parseOptions, UsageError, type OperatorOptions } from './options.js';
import { startOperator } from './operator.js';
import { GracefulShutdown } from './runtime/shutdown.js';
import { describeError } from './runtime/kube.js';

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
  const operator = await startOperator({
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
    onLostLeadership: () => void shutdown.run('lost leadership').then(() => process.exit(1)),
  });
  collectDefaultMetrics({ register: operator.registry, prefix: 'celula_process_' });
  const servers = await Promise.all([
    listen(opts.healthAddr, { ready: () => operator.ready() }),
    listen(opts.metricsAddr, { ready: () => operator.ready(), registry: operator.registry }),
  ]);
  shutdown.add('operator', () => operator.stop());
  shutdown.add('http', () => {
    for (const s of servers) s?.close();
    return Promise.resolve();
  });
  logger.info(
    { health: opts.healthAddr, metrics: opts.metricsAddr, leaderElect: opts.leaderElect },
    'celula-operator running',
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`celula-operator: ${describeError(err)}\n`);
  process.exit(1);
});
