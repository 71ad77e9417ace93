// pino JSON logs. Redaction is the second wall: no code path logs secret material, and these
// paths are censored should one ever try.
import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

export const REDACT_PATHS = [
  'secret',
  'seed',
  'privateKey',
  'token',
  'sealed',
  'ciphertext',
  '*.secret',
  '*.seed',
  '*.privateKey',
  '*.token',
  '*.sealed',
  '*.ciphertext',
  'req.headers.authorization',
];

export interface LoggerOptions {
  level?: LevelWithSilent;
  name?: string;
  destination?: NodeJS.WritableStream;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const options = {
    name: opts.name ?? 'celula',
    level: opts.level ?? (process.env.LOG_LEVEL as LevelWithSilent | undefined) ?? 'info',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  return opts.destination ? pino(options, opts.destination) : pino(options);
}
