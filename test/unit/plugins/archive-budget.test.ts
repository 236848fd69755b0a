import { describe, expect, it } from 'vitest';
import { ArchiveBudget } from '../../../lambdas/plugins/archive-budget.js';
import type { AppError } from '../../../lambdas/shared/errors.js';

const limits = { maxDirBytes: 1_000, maxFiles: 3, maxArchiveBytes: 500 };
const FRAMING = 8 * 1024;
const READ_AHEAD = 1024 * 1024;

function refusal(count: () => void): AppError {
  try {
    count();
  } catch (err) {
    expect((err as AppError).code).toBe('plugin_too_large');
    return err as AppError;
  }
  throw new Error('the count was accepted');
}

describe('the size budget of a plugin archive', () => {
  it('counts compressed bytes up to the archive limit, then refuses', () => {
    const budget = new ArchiveBudget(limits);
    budget.countCompressed(300);
    budget.countCompressed(200);
    expect(budget.compressedBytes).toBe(500);

    const err = refusal(() => budget.countCompressed(1));
    expect(err.message).toBe('the plugin archive is larger than 500 bytes');
    expect(err.details).toEqual({ limit: 500 });
  });

  it('refuses a file count above the limit, counting every entry', () => {
    const budget = new ArchiveBudget(limits);
    for (let i = 0; i < 3; i++) budget.countEntry();

    expect(refusal(() => budget.countEntry()).message).toBe('the plugin archive has more than 3 entries');
  });

  it('refuses an entry whose declared size would pass the uncompressed limit, before reading it', () => {
    const budget = new ArchiveBudget(limits);
    budget.countContents(600);
    budget.reserve(400);

    expect(refusal(() => budget.reserve(401)).message).toBe('the plugin is larger than 1000 bytes uncompressed');
    expect(budget.totalBytes).toBe(600);
  });

  it('refuses contents past the uncompressed limit whatever the headers declared', () => {
    const budget = new ArchiveBudget(limits);
    budget.countContents(1_000);

    const err = refusal(() => budget.countContents(1));
    expect(err.message).toBe('the plugin is larger than 1000 bytes uncompressed');
    expect(err.details).toEqual({ limit: 1_000 });
  });

  it('allows inflated bytes for the contents, tar framing per entry and a read-ahead, and no more', () => {
    const budget = new ArchiveBudget(limits);
    budget.countEntry();
    budget.countContents(100);
    const allowed = 100 + (1 + 2) * FRAMING + READ_AHEAD;
    budget.countInflated(allowed);

    const err = refusal(() => budget.countInflated(1));
    expect(err.message).toBe('the plugin archive expands beyond its 1000-byte limit');
    expect(err.details).toEqual({ limit: 1_000 });
  });
});
