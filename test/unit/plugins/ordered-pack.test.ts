import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InOrderPacker } from '../../../lambdas/plugins/ordered-pack.js';
import { packNormalized } from '../../../lambdas/plugins/pack.js';
import { collect, listTarGz } from '../../support/archives.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ordered-pack-'));
});
afterEach(async () => rm(dir, { recursive: true, force: true }));

async function addFile(packer: InOrderPacker, path: string, content: string): Promise<void> {
  const writer = await packer.openFile(path, Buffer.byteLength(content), false);
  await writer?.write(Buffer.from(content));
  await writer?.end();
}

describe('packing during the validating pass', () => {
  it('writes the same bytes as the two-pass packer when entries arrive in name order', async () => {
    const packer = new InOrderPacker(join(dir, 'out.tar.gz'));
    await addFile(packer, 'a.md', 'a');
    await packer.directory('a');
    await addFile(packer, 'a/b/c.md', 'c');
    await addFile(packer, 'z.md', 'z');
    expect(await packer.finish()).toBe(true);

    const twoPass = await collect(
      packNormalized(
        ['a/b/c.md', 'z.md', 'a.md'].map((path) => ({
          type: 'file' as const,
          path,
          size: 1,
          executable: false,
          content: () => Readable.from([Buffer.from(path[path.length - 4]!)]),
        })),
      ),
    );
    const output = packer.output.result; // a small archive stays in memory
    const onePass = 'buffer' in output ? output.buffer : await readFile(output.path);
    expect((await listTarGz(onePass)).map((e) => e.name)).toEqual(['a.md', 'a/', 'a/b/', 'a/b/c.md', 'z.md']);
    expect(onePass.equals(twoPass)).toBe(true);
  });

  it('gives up, and says so, at the first entry out of order', async () => {
    const packer = new InOrderPacker(join(dir, 'out.tar.gz'));
    await addFile(packer, 'b.md', 'b');
    await addFile(packer, 'a.md', 'a');
    expect(await packer.openFile('c.md', 1, false)).toBeNull();
    expect(await packer.finish()).toBe(false);
  });
});
