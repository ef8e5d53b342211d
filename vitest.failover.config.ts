import { defineConfig } from 'vitest/config';
import { FAILOVER_TESTS, alias } from './vitest.config.js';

// The takeover tests, one file at a time on an otherwise quiet machine (see vitest.config.ts).
export default defineConfig({
  resolve: { alias },
  test: {
    include: FAILOVER_TESTS,
    pool: 'forks',
    maxWorkers: 1,
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    teardownTimeout: 30_000,
  },
});
