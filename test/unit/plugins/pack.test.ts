import { Readable } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import { packNormalized, type PackEntry } from '../../../lambdas/plugins/pack.js';
import { collect, listTarGz } from '../../support/archives.js';

function file(path: string, content: string | Buffer, executable = false): PackEntry & { type: 'file' } {
  const bytes = Buffer.from(content);
  return { type: 'file', path, size: bytes.length, executable, content: () => Readable.from([bytes]) };
}

describe('the normalized archive', () => {
  it('sorts by path and adds every parent directory', async () => {
    const listed = await listTarGz(await collect(packNormalized([file('b/c/d.md', 'd'), file('a.md', 'a'), { type: 'directory', path: 'empty' }])));
    expect(listed.map((e) => e.name)).toEqual(['a.md', 'b/', 'b/c/', 'b/c/d.md', 'empty/']);
  });

  it('writes non-ASCII and long paths so they read back exactly', async () => {
    const long = `${'deep/'.repeat(30)}ünïcödé 😀.md`;
    const listed = await listTarGz(await collect(packNormalized([file(long, 'x')])));
    expect(listed.at(-1)?.name).toBe(long);
  });

  it('fails the stream when a file cannot be read', async () => {
    const broken: PackEntry = {
      type: 'file',
      path: 'gone.md',
      size: 3,
      executable: false,
      content: () =>
        Readable.from(
          (async function* () {
            yield Buffer.from('a');
            throw new Error('ENOENT: the spool vanished');
          })(),
        ),
    };
    await expect(collect(packNormalized([file('a.md', 'a'), broken]))).rejects.toThrow();
  });

  it('closes the file being read when the reader stops early', async () => {
    let closed = false;
    const endless: PackEntry = {
      type: 'file',
      path: 'big.bin',
      size: 1024 * 1024 * 1024,
      executable: false,
      content: () =>
        new Readable({
          read() {
            this.push(Buffer.alloc(64 * 1024));
          },
          destroy(err, cb) {
            closed = true;
            cb(err);
          },
        }),
    };
    const output = packNormalized([endless]);
    for await (const _ of output) break;
    await vi.waitFor(() => expect(closed).toBe(true), { timeout: 10_000, interval: 20 });
  });
});
