// Flags of a benchmark: `--help` prints its usage; an unknown or malformed flag is one line naming it
// and the usage, exit 2 (not a stack trace).
import { parseArgs, type ParseArgsConfig } from 'node:util';

type StringOptions = Record<string, { type: 'string'; default: string }>;

export function benchFlags<O extends StringOptions>(
  bench: string,
  options: O,
  argv: string[] = process.argv.slice(2),
): Record<keyof O, string> {
  const flagList = Object.entries(options)
    .map(([k, o]) => `[--${k} ${o.default}]`)
    .join(' ');
  const usage = `usage: npm run bench:${bench} -- ${flagList}`;
  let parsed: ReturnType<typeof parseArgs>;
  try {
    const config: ParseArgsConfig = { args: argv, options: { ...options, help: { type: 'boolean' } } };
    parsed = parseArgs(config);
  } catch (err) {
    process.stderr.write(`${bench} bench: ${err instanceof Error ? err.message : String(err)}\n${usage}\n`);
    process.exit(2);
  }
  if (parsed.values.help) {
    process.stdout.write(`${usage}\n`);
    process.exit(0);
  }
  return parsed.values as Record<keyof O, string>;
}
