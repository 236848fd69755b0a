import { relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/** What a file of each project takes when no earlier run on this machine says (seconds, on 2 loaded cores). */
const GUESS_SECONDS: Record<string, number> = { e2e: 60, integration: 10, 'unit-isolated': 5, unit: 1 };

/**
 * Longest first, so that no long file starts last and holds up the end of the run. Vitest's own
 * order does that from the durations it cached in an earlier run, but a clean clone (CI after
 * `npm ci`) has none and falls back to file size, which put the 1-2 minute e2e files after many
 * short ones. A file with no cached duration gets its project's guess; failed files still go first.
 */
export default class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const { cache, config } = this.ctx;
    const estimate = (spec: TestSpecification) => {
      const key = `${spec.project.name}:${relative(config.root, spec.moduleId)}`;
      const cached = cache.getFileTestResults(key);
      const size = cache.getFileStats(key)?.size ?? 0;
      return {
        failed: cached?.failed ? 1 : 0,
        ms: cached?.duration ?? (GUESS_SECONDS[spec.project.name] ?? 10) * 1000,
        size,
      };
    };
    const estimates = new Map(files.map((spec) => [spec, estimate(spec)]));
    return [...files].sort((a, b) => {
      const x = estimates.get(a)!;
      const y = estimates.get(b)!;
      return y.failed - x.failed || y.ms - x.ms || y.size - x.size;
    });
  }
}
