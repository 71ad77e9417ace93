#!/usr/bin/env node
// celula-cell entry point: env → API credential → serve → genesis or join → ready → report identity.
// SIGTERM/SIGINT wipe the secret and exit (hygiene.ts). Never logs the secret or the join token;
// pino redaction (src/observability/logger.ts) is the second wall.
import { createLogger } from '../observability/logger.js';
import { HELP, parseCellEnv, UsageError, type CellConfig } from './config.js';
import { installSecretHygiene } from './hygiene.js';
import { loadCellKubeConfig, apiErrorSummary } from './kube.js';
import { FatalCellError, runCell } from './run.js';

function config(): CellConfig {
  try {
    return parseCellEnv(process.env);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`celula-cell: ${err.message}\n\n${HELP}`);
    process.exit(2);
  }
}

async function main(): Promise<void> {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    process.stdout.write(HELP);
    return;
  }
  const cfg = config();
  const logger = createLogger({ level: cfg.logLevel, name: 'celula-cell' }).child({
    cell: cfg.cell,
    colony: cfg.colony,
  });
  const cell = await runCell(cfg, { kubeConfig: loadCellKubeConfig(), logger });
  installSecretHygiene(() => (cell.server.secret ? [cell.server.secret] : []), logger);
  cell.ready.catch((err: unknown) => {
    const fatal = err instanceof FatalCellError;
    logger.fatal(
      { err: fatal ? err.message : apiErrorSummary(err) },
      'the cell cannot become ready; exiting',
    );
    cell.server.secret?.zero();
    process.exit(fatal ? 3 : 1);
  });
}

main().catch((err: unknown) => {
  const message = err instanceof FatalCellError ? err.message : apiErrorSummary(err);
  process.stderr.write(`celula-cell: ${message}\n`);
  process.exit(1);
});
