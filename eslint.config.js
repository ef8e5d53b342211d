// @ts-check
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'eslint/config';
import { createNodeResolver, importX } from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

const root = fileURLToPath(new URL('.', import.meta.url));

// @postbus/* resolves to each workspace package's source entry (as in vitest.config.ts), so
// no-cycle follows imports across packages without needing a build, and never walks into dist/.
const workspaceAliases = Object.fromEntries(
  ['packages', 'services'].flatMap((dir) =>
    readdirSync(`${root}${dir}`).map((name) => [`@postbus/${name}`, [`${root}${dir}/${name}/src/index.ts`]]),
  ),
);

export default defineConfig(
  {
    ignores: [
      '**/dist/**',
      '**/node_modules/**',
      '**/__generated__/**',
      '.demo/**',
      '*.config.*',
      'packages/db/scripts/**',
    ],
  },
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.recommendedTypeChecked],
    plugins: { 'import-x': importX },
    languageOptions: {
      parserOptions: {
        // One program over every linted .ts file, tests included (the package tsconfigs exclude
        // *.test.ts), with @postbus/* mapped to source so linting needs no build first.
        project: './tsconfig.eslint.json',
        tsconfigRootDir: root,
      },
    },
    settings: {
      // Without these import-x treats .ts files as unparseable and no-cycle silently sees nothing.
      'import-x/extensions': ['.ts', '.js'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/resolver-next': [
        createNodeResolver({
          extensions: ['.ts', '.js', '.json'],
          // NodeNext source imports './x.js' for './x.ts'.
          extensionAlias: { '.js': ['.ts', '.js'] },
          alias: workspaceAliases,
        }),
      ],
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': [
        'error',
        { checksVoidReturn: { arguments: false, attributes: false } },
      ],
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/consistent-type-imports': [
        'error',
        { prefer: 'type-imports', fixStyle: 'inline-type-imports' },
      ],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_' },
      ],
      'import-x/no-cycle': ['error', { maxDepth: 10 }],
      // Header and address validators carry eslint-disable comments for this one.
      'no-control-regex': 'error',

      // Deliberate style: the db layer reads untyped rows (so the any-flow rules are off), and
      // async functions without an await keep interfaces uniform.
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-enum-comparison': 'off',
      '@typescript-eslint/no-unsafe-unary-minus': 'off',
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/restrict-template-expressions': [
        'error',
        { allowNumber: true, allowBoolean: true, allowNullish: true },
      ],
    },
  },
  {
    // Libraries and services log through the telemetry logger; only the CLI (and bench, which
    // is outside packages/) write to the terminal. Tests may print measurements.
    files: ['packages/*/src/**/*.ts', 'services/*/src/**/*.ts'],
    ignores: ['packages/cli/**', '**/*.test.ts'],
    rules: { 'no-console': 'error' },
  },
);
