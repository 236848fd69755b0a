import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { AppError } from '../../../lambdas/shared/errors.js';
import { gzipBomb } from '../../support/archives.js';
import { MiB, SPEC_LIMITS, stage, useStageDir } from '../../support/stage-helpers.js';

// Counts what gunzip actually inflates inside stageArchive: the proof that a bomb stops at the limit.
const gunzipped = vi.hoisted(() => ({ bytes: 0 }));
vi.mock('node:zlib', async (importOriginal) => {
  const zlib = await importOriginal<typeof import('node:zlib')>();
  const createGunzip: typeof zlib.createGunzip = (options) => {
    const gunzip = zlib.createGunzip(options);
    gunzip.on('data', (chunk: Buffer) => {
      gunzipped.bytes += chunk.length;
    });
    return gunzip;
  };
  return { ...zlib, createGunzip, default: { ...zlib, createGunzip } };
});

const dir = useStageDir();

beforeEach(() => {
  gunzipped.bytes = 0;
});

async function expectTooLarge(outcome: Awaited<ReturnType<typeof stage>>): Promise<void> {
  expect((outcome.error as AppError).code).toBe('plugin_too_large');
  expect(outcome.sink.calls).toBe(0);
  expect(await dir.leftovers()).toEqual([]);
}

describe('stageArchive: decompression bombs, with the SPEC limits (100 MiB)', () => {
  it('stops a 1 GiB bomb at the limit when its header claims ~100 MiB', async () => {
    const bomb = gzipBomb({ inflatedBytes: 1024 * MiB, declaredSize: 99 * MiB });
    await expectTooLarge(await stage(bomb.stream, { tmpDir: dir.path, limits: SPEC_LIMITS }));
    expect(gunzipped.bytes).toBeGreaterThan(99 * MiB);
    expect(gunzipped.bytes).toBeLessThanOrEqual(SPEC_LIMITS.maxDirBytes + 2 * MiB);
    expect(bomb.stats.inflatedBytes).toBeLessThan(200 * MiB);
  });

  it('stops a 1 GiB bomb after a few blocks when its header claims 10 bytes', async () => {
    const bomb = gzipBomb({ inflatedBytes: 1024 * MiB, declaredSize: 10 });
    await expectTooLarge(await stage(bomb.stream, { tmpDir: dir.path, limits: SPEC_LIMITS }));
    expect(gunzipped.bytes).toBeLessThanOrEqual(2 * MiB);
  });

  it('rejects a 1 GiB bomb whose header tells the truth without inflating it', async () => {
    const bomb = gzipBomb({ inflatedBytes: 1024 * MiB });
    await expectTooLarge(await stage(bomb.stream, { tmpDir: dir.path, limits: SPEC_LIMITS }));
    expect(gunzipped.bytes).toBeLessThanOrEqual(MiB);
  });

  it('rejects a header claiming a terabyte without reading on', async () => {
    const bomb = gzipBomb({ inflatedBytes: 16 * MiB, declaredSize: 2 ** 40 });
    await expectTooLarge(await stage(bomb.stream, { tmpDir: dir.path, limits: SPEC_LIMITS }));
    expect(gunzipped.bytes).toBeLessThanOrEqual(MiB);
  });
});
