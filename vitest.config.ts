import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Tests import the workspace packages from source, so no build is needed to run them.
// (Tests that start services as processes run the built dist/: `pnpm test` builds first.)
const root = fileURLToPath(new URL('.', import.meta.url));
export const alias = Object.fromEntries(
  ['packages', 'services'].flatMap((dir) =>
    readdirSync(`${root}${dir}`).map((name) => [`@postbus/${name}`, `${root}${dir}/${name}/src/index.ts`]),
  ),
);

export const FAILOVER_TESTS = ['integration-tests/src/nodes.int.test.ts', 'integration-tests/src/leader.int.test.ts'];

export default defineConfig({
  resolve: { alias },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'services/*/src/**/*.test.ts', 'integration-tests/src/**/*.test.ts'],
    // The failover tests measure takeover times against a 15 s bound: they run afterwards, alone
    // (vitest.failover.config.ts), so that the machine's other tests do not take their time.
    exclude: ['**/node_modules/**', '**/dist/**', ...FAILOVER_TESTS],
    pool: 'forks',
    maxWorkers: 3,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    teardownTimeout: 30_000,
  },
});
