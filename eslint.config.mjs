// ESLint with typescript-eslint's type-checked rules over packages, tests, examples and
// benchmarks. A forgotten promise in a runtime like this one is a lost error or a hung call.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: ['**/dist/**', '**/dist-test/**', 'docs/**', 'node_modules/**', '**/*.js', '**/*.mjs', '**/*.cjs'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'separate-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // Proclet methods are often `async` without `await` on purpose: the runtime runs them
      // as atomic (see proclet.ts), and callers still get a promise.
      '@typescript-eslint/require-await': 'off',
      // The runtime passes values of unknown shape through codecs by design.
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
    },
  },
  {
    files: ['packages/*/test/**/*.ts'],
    rules: {
      // chai's expect(...).to.be.true style is a property access, not an unused expression.
      '@typescript-eslint/no-unused-expressions': 'off',
    },
  },
);
