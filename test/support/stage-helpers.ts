import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterEach, beforeEach } from 'vitest';
import { stageArchive, type StageOptions, type StageResult } from '../../lambdas/staging/stage-archive.js';
import { bytesStream, collect } from './archives.js';

export const MiB = 1024 * 1024;
export const SPEC_LIMITS = { maxDirBytes: 100 * MiB, maxFiles: 10_000, maxArchiveBytes: 100 * MiB };

/** What the sink saw: every call, and the bytes of the normalized archive. */
export interface SinkRecord {
  calls: number;
  bytes: Buffer;
  contentLength: number;
}

/**
 * Each test gets its own parent dir for stage's temp dir, so it can assert that nothing is
 * left behind.
 */
export function useStageDir(): { readonly path: string; leftovers(): Promise<string[]> } {
  let path = '';
  beforeEach(async () => {
    path = await mkdtemp(join(tmpdir(), 'stage-test-'));
  });
  afterEach(async () => {
    await rm(path, { recursive: true, force: true });
  });
  return {
    get path() {
      return path;
    },
    leftovers: () => readdir(path),
  };
}

export async function stage(
  source: Buffer | Readable,
  opts: Partial<StageOptions> & { tmpDir: string },
): Promise<{ result?: StageResult; error?: unknown; sink: SinkRecord }> {
  const sink: SinkRecord = { calls: 0, bytes: Buffer.alloc(0), contentLength: -1 };
  const body = Buffer.isBuffer(source) ? bytesStream(source) : source;
  try {
    const result = await stageArchive(
      body,
      async (normalized, info) => {
        sink.calls += 1;
        sink.contentLength = info.contentLength;
        sink.bytes = await collect(normalized);
      },
      { limits: SPEC_LIMITS, stripTopLevel: false, fallbackName: 'fallback', ...opts },
    );
    return { result, sink };
  } catch (error) {
    return { error, sink };
  }
}
