import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Integration tests drive real git-annex processes against real servers.
    testTimeout: 180_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Two cores: running several git-annex suites at once only makes each slower.
    maxWorkers: 2,
    minWorkers: 1,
  },
});
