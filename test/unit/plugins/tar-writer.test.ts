import { Writable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { FIXED_MTIME, TarGzWriter } from '../../../lambdas/plugins/tar-writer.js';
import { collect, listTarGz } from '../../support/archives.js';

type Entry = { name: string; type: 'file' | 'directory'; mode: number; content?: Buffer };

/** What tar-stream's pack() writes for the same entries: the reference the writer must match byte for byte. */
async function tarStreamBytes(entries: Entry[]): Promise<Buffer> {
  const pack = tar.pack();
  const out = collect(pack);
  for (const e of entries) {
    await new Promise<void>((resolve, reject) => {
      const header = { name: e.name, type: e.type, mode: e.mode, uid: 0, gid: 0, mtime: FIXED_MTIME };
      if (e.type === 'directory') pack.entry(header, (err) => (err ? reject(err) : resolve()));
      else pack.entry({ ...header, size: e.content!.length }, e.content!, (err) => (err ? reject(err) : resolve()));
    });
  }
  pack.finalize();
  return out;
}

async function writerBytes(entries: Entry[]): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const writer = new TarGzWriter(collector(chunks));
  for (const e of entries) {
    writer.header({ name: e.name, type: e.type, mode: e.mode, size: e.content?.length ?? 0 });
    if (e.content) {
      writer.write(e.content);
      writer.endFile(e.content.length);
    }
  }
  await writer.finish();
  return gunzipSync(Buffer.concat(chunks));
}

function collector(chunks: Buffer[]): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk);
      done();
    },
  });
}

const file = (name: string, content: string | Buffer, mode = 0o644): Entry => ({ name, type: 'file', mode, content: Buffer.from(content) });

describe('the tar writer behind the normalized archive', () => {
  it('writes the bytes tar-stream writes: ustar names, prefixes, pax records, padding, modes', async () => {
    const entries: Entry[] = [
      { name: 'a/', type: 'directory', mode: 0o755 },
      file('a/b.md', 'hello\n'),
      file('a/run.sh', '#!/bin/sh\necho hi\n', 0o755),
      file('empty.txt', ''),
      file('exact-block.bin', Buffer.alloc(512, 7)),
      file(`${'d'.repeat(90)}/${'e'.repeat(99)}.md`, 'prefix split'), // > 100 bytes, splits into prefix + name
      file(`${'deep/'.repeat(40)}x.md`, 'prefix too long: pax'),
      file(`${'n'.repeat(120)}.md`, 'no slash to split at: pax'),
      file('ünïcödé 😀.md', 'non-ASCII: pax'),
      { name: `${'é/'.repeat(60)}`, type: 'directory', mode: 0o755 },
      file('big.bin', Buffer.alloc(300 * 1024, 1)),
    ];
    expect((await writerBytes(entries)).equals(await tarStreamBytes(entries))).toBe(true);
  });

  it('writes an archive that reads back with the same names, types and contents', async () => {
    const chunks: Buffer[] = [];
    const writer = new TarGzWriter(collector(chunks));
    writer.header({ name: 'skills/', type: 'directory', mode: 0o755, size: 0 });
    writer.header({ name: 'skills/ü.md', type: 'file', mode: 0o644, size: 3 });
    writer.write(Buffer.from('abc'));
    writer.endFile(3);
    await writer.finish();
    const listed = await listTarGz(Buffer.concat(chunks));
    expect(listed.map((e) => [e.name, e.type])).toEqual([
      ['skills/', 'directory'],
      ['skills/ü.md', 'file'],
    ]);
  });

  it('rejects finish when the output fails, so a broken archive is never used', async () => {
    const writer = new TarGzWriter(new Writable({ write: (_c, _e, done) => done(new Error('ENOSPC')) }));
    writer.header({ name: 'a.md', type: 'file', mode: 0o644, size: 1 });
    writer.write(Buffer.from('a'));
    writer.endFile(1);
    await expect(writer.finish()).rejects.toThrow('ENOSPC');
    expect(writer.failed).toBe(true);
  });
});
