import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import LongestFirst from './test/support/sequencer.js';

/**
 * Three kinds of test, each run the cheapest way that is still safe (issue #21 item 4):
 * - unit: worker threads without per-file isolation, so aws-cdk-lib, the AWS SDK and the product
 *   modules load once per worker instead of once per file. A unit test file must leave no state
 *   behind (no env it does not restore, no module mocks); the few that cannot are listed in
 *   ISOLATED_UNIT and run in a fresh process each, as everything did before.
 * - integration: forked processes, one per file (they reset the Lambda runtime, stub env, mock clients).
 * - e2e: forked processes, one per file; each starts `npm start`'s process, except the files that
 *   share the default stack of test/support/shared-stack-setup.ts.
 *
 * Vitest 3.2 has one pool per pool kind for the whole run, so worker counts and isolation are
 * set here at the root, per pool; the threads (unit) and forks pools run side by side. The
 * machine CI runs on has 2 cores; without a setting vitest would use one worker (cores - 1).
 */
const ISOLATED_UNIT = [
  // vi.mock('node:zlib') would leak into every later file of a shared worker.
  'test/unit/plugins/stage-bomb.test.ts',
  // Builds a Lambda bundle, then serves it EC2 Instance Connect (an emulator in the test's own
  // thread) to a child process under the product's 20 s SSH connect budget: in a shared thread,
  // work left running by an earlier file can starve that emulator (seen once in six runs).
  'test/unit/infra/bundle.test.ts',
];

// `vitest list` drops files from shared worker threads at random (1056, 1130 and 1203 tests in
// three runs; vitest 3.2 reports a file's collected tests as a fire-and-forget message): listing
// runs no test, so it gives every file a fresh worker and is complete.
const shareUnitWorkers = !process.argv.slice(2).includes('list');

export default defineConfig({
  // The SDK package's contract and signing from their source, as tsconfig.json's `paths` maps it for tsc, tsx and esbuild.
  resolve: {
    alias: [
      { find: /^@molecule\/plugins-sdk\/contract\/(.*)$/, replacement: fileURLToPath(new URL('./packages/sdk/src/contract/$1.ts', import.meta.url)) },
      { find: /^@molecule\/plugins-sdk\/signing$/, replacement: fileURLToPath(new URL('./packages/sdk/src/signing/index.ts', import.meta.url)) },
    ],
  },
  test: {
    testTimeout: 30_000,
    // Starting a whole local stack in beforeAll can take a while on a loaded machine.
    hookTimeout: 120_000,
    setupFiles: ['test/support/aws-sdk-matchers.ts'],
    env: { LOG_LEVEL: 'SILENT' },
    maxWorkers: 2,
    minWorkers: 1,
    sequence: { sequencer: LongestFirst },
    poolOptions: {
      // Unit tests keep both cores busy.
      threads: { isolate: !shareUnitWorkers, maxThreads: 2 },
      // Integration and e2e files mostly wait on a child process, a server or a retry timer: one
      // more worker than cores ran the suite in ~3:05 instead of ~3:50 (4 were no faster than 3).
      forks: { isolate: true, maxForks: 3 },
    },
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['test/unit/**/*.test.ts'], exclude: ISOLATED_UNIT, pool: 'threads', isolate: !shareUnitWorkers },
      },
      {
        extends: true,
        test: { name: 'unit-isolated', include: ISOLATED_UNIT, pool: 'forks' },
      },
      {
        extends: true,
        test: { name: 'integration', include: ['test/integration/**/*.test.ts'], pool: 'forks' },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          pool: 'forks',
          globalSetup: ['test/support/shared-stack-setup.ts'],
          // Each test drives a whole stack of processes (workflows, host commands, the CLI) on a
          // machine that may be busy: a bound on a hang, not on speed (timing claims live in the bench).
          testTimeout: 120_000,
        },
      },
    ],
  },
});
