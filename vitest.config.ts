import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    // Starting a whole local stack in beforeAll can take a while on a loaded machine.
    hookTimeout: 120_000,
    pool: 'forks',
    setupFiles: ['test/support/aws-sdk-matchers.ts'],
    env: { LOG_LEVEL: 'SILENT' },
  },
});
