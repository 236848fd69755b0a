import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SpillOutput } from '../../../lambdas/plugins/spill-output.js';
import { listTarGz, pluginEntries, tarGz } from '../../support/archives.js';
import { MiB, stage, useStageDir } from '../../support/stage-helpers.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'spill-'));
});
afterEach(async () => rm(dir, { recursive: true, force: true }));

const chunks = (count: number, size: number) => Array.from({ length: count }, (_, i) => Buffer.alloc(size, i));

describe('where the normalized archive is written', () => {
  it('keeps a small archive in memory and creates no file', async () => {
    const out = new SpillOutput(join(dir, 'out'), 1024);
    await pipeline(Readable.from(chunks(3, 100)), out);
    const result = out.result;
    expect('buffer' in result && result.buffer.equals(Buffer.concat(chunks(3, 100)))).toBe(true);
    await expect(stat(join(dir, 'out'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('moves to a file once past its limit, with every byte in order', async () => {
    const out = new SpillOutput(join(dir, 'out'), 1024);
    await pipeline(Readable.from(chunks(40, 100)), out);
    expect(out.result).toEqual({ path: join(dir, 'out'), size: 4000 });
    expect((await readFile(join(dir, 'out'))).equals(Buffer.concat(chunks(40, 100)))).toBe(true);
  });

  it('fails when the file cannot be written instead of reporting a short archive', async () => {
    const out = new SpillOutput(join(dir, 'missing-dir', 'out'), 10);
    await expect(pipeline(Readable.from(chunks(5, 100)), out)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('staging a plugin whose normalized archive outgrows memory', () => {
  const stageDir = useStageDir();

  it('uploads it from disk, complete, in either packing order', async () => {
    // Incompressible: the normalized archive is > 4 MiB, so it goes to the work dir's file.
    const big = randomBytes(5 * MiB);
    for (const names of [
      ['a.bin', 'b.md'],
      ['b.md', 'a.bin'], // out of order: the second pass packs from the spool
    ]) {
      const files = Object.fromEntries(names.map((name) => [name, name === 'a.bin' ? big : 'small\n']));
      const { result, sink, error } = await stage(await tarGz(pluginEntries(files)), { tmpDir: stageDir.path });
      expect(error, `${names}: ${(error as Error)?.stack}`).toBeUndefined();
      expect(sink.contentLength).toBe(sink.bytes.length);
      expect(result?.archiveBytes).toBeGreaterThan(5 * MiB);
      const listed = await listTarGz(sink.bytes);
      expect(listed.map((e) => e.name)).toEqual(['a.bin', 'b.md']);
      expect(listed[0]?.content.equals(big)).toBe(true);
      expect(listed[1]?.content.toString()).toBe('small\n');
      expect(await stageDir.leftovers()).toEqual([]);
    }
  });
});
