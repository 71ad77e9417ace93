// Lint guardrails: strict types, no floating promises, small functions, and the layering of src/.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// The layering of src/ (docs/architecture.md "Layering"): which directories a directory's files may
// import from. api and observability are the bottom and import nothing of ours; runtime is generic
// (no Celula types); the cell binary shares only the API, the builders and logging with the operator.
// src/*.ts (operator, main, install, options) may import anything.
const LAYERS = {
  api: [],
  observability: [],
  builders: ['api'],
  runtime: ['observability'],
  controllers: ['api', 'builders', 'runtime', 'observability'],
  cell: ['api', 'builders', 'observability'],
};

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'charts/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/explicit-function-return-type': ['error', { allowExpressions: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      complexity: ['error', 10],
      'max-depth': ['error', 3],
      'max-params': ['error', 4],
    },
  },
  {
    // Tests: table-driven and descriptive; the size limits are for production code.
    files: ['test/**/*.ts', 'bench/**/*.ts', '**/*.test.ts'],
    rules: {
      '@typescript-eslint/explicit-function-return-type': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/unbound-method': 'off',
      complexity: 'off',
      'max-params': 'off',
    },
  },
  // One no-restricted-imports block per layer: any `../<dir>` import outside its allowed list fails.
  ...Object.entries(LAYERS).map(([layer, allowed]) => ({
    files: [`src/${layer}/**/*.ts`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: allowed.length === 0 ? '^\\.\\./' : `^\\.\\./(?!(${allowed.join('|')})/)`,
              message: `src/${layer} may import only ${allowed.length === 0 ? 'nothing of ours' : allowed.join(', ')} (layering: docs/architecture.md).`,
            },
          ],
        },
      ],
    },
  })),
  { files: ['**/*.js', '**/*.cjs', '**/*.mjs'], ...tseslint.configs.disableTypeChecked },
);
