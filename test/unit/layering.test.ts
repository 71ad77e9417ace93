// The layering of src/ is a lint rule (eslint.config.js, LAYERS): this runs the project's own ESLint
// configuration on in-memory code placed in a layer, and expects a wrong arrow to fail the lint.
import { describe, expect, it } from '@jest/globals';
import { ESLint } from 'eslint';

const eslint = new ESLint({ cwd: process.cwd() });

/** The no-restricted-imports messages for `code` linted as if it were the file `filePath`. */
async function layeringErrors(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return (result?.messages ?? []).filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

// An existing file of each layer, so the type-aware parser knows it; its text is replaced in memory.
const CASES: Array<[file: string, forbidden: string, allowed: string]> = [
  ['src/api/conditions.ts', '../observability/logger.js', './types.js'],
  ['src/builders/names.ts', '../controllers/guard.js', '../api/types.js'],
  ['src/runtime/clock.ts', '../api/types.js', '../observability/logger.js'],
  ['src/cell/errors.ts', '../runtime/manager.js', '../builders/names.js'],
  ['src/cell/errors.ts', '../controllers/nodes.js', '../api/types.js'],
  ['src/controllers/holders.ts', '../cell/key-proof.js', '../runtime/controller.js'],
  ['src/observability/logger.ts', '../runtime/clock.js', 'node:os'],
];

describe('layering lint', () => {
  it.each(CASES)('%s: importing %s fails the lint, %s does not', async (file, forbidden, allowed) => {
    const bad = await layeringErrors(file, `export * from '${forbidden}';\n`);
    expect(bad).toHaveLength(1);
    expect(bad[0]).toContain(`${file.split('/')[1]} may import only`);
    expect(await layeringErrors(file, `export * from '${allowed}';\n`)).toEqual([]);
  });

  it('lets the operator (src/*.ts) import any layer', async () => {
    const code = "export * from './controllers/guard.js';\nexport * from './cell/errors.js';\n";
    expect(await layeringErrors('src/operator.ts', code)).toEqual([]);
  });
});
