import type { StagedPlugin } from '../../lambdas/shared/types.js';

/** What Stage records for the `demo` plugin of operation `operationId`: the step tests' staged tarball. */
export function stagedDemo(operationId: string): StagedPlugin {
  return {
    bucket: 'staging',
    key: `staged/${operationId}/demo.tar.gz`,
    name: 'demo',
    version: '1.0.0',
    sha256: 'a'.repeat(64),
    skills: [],
    runtimes: [],
    fileCount: 1,
    bytes: 10,
    warnings: [],
  };
}
