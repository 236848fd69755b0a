import { PassThrough, type Readable } from 'node:stream';
import { comparePaths } from '@molecule/plugins-sdk/contract/content-hash';
import { TarGzWriter } from './tar-writer.js';

export { FIXED_MTIME } from './tar-writer.js';

export type PackEntry =
  | { type: 'directory'; path: string }
  | { type: 'file'; path: string; size: number; executable: boolean; content: () => Readable | Promise<Readable | Buffer> };

/**
 * The entry's name in the archive, which is also its sort key: directories end in `/`, so a
 * directory sorts where git (and so GitHub's tarballs) puts it: `a.md`, `a/`, `a/b.md`.
 */
export function entryName(entry: { type: 'file' | 'directory'; path: string }): string {
  return entry.type === 'directory' ? `${entry.path}/` : entry.path;
}

export function fileMode(executable: boolean): number {
  return executable ? 0o755 : 0o644;
}

/**
 * Streams the normalized `tar.gz` of SPEC §3: regular files (each read when its turn comes) and
 * directories only, every parent directory present, sorted by path, mode 0644 or 0755 (files
 * with any exec bit) and 0755 for directories, owner 0:0 with no names, a fixed mtime. A file
 * that fails to read, or whose bytes differ from its size, fails the stream; a reader that
 * stops early stops the reading.
 */
export function packNormalized(entries: readonly PackEntry[]): Readable {
  const output = new PassThrough();
  const writer = new TarGzWriter(output);
  const ordered = [...withParentDirectories(entries)].sort((a, b) => comparePaths(entryName(a), entryName(b)));
  writeAll(writer, ordered)
    .then(() => writer.finish())
    .catch((err: unknown) => {
      const error = err instanceof Error ? err : new Error(String(err));
      writer.destroy(error);
      output.destroy(error);
    });
  return output;
}

async function writeAll(writer: TarGzWriter, entries: readonly PackEntry[]): Promise<void> {
  for (const entry of entries) {
    if (writer.failed) throw new Error('the normalized archive stopped being read');
    if (entry.type === 'directory') {
      writer.header({ name: entryName(entry), type: 'directory', mode: 0o755, size: 0 });
      continue;
    }
    writer.header({ name: entry.path, type: 'file', mode: fileMode(entry.executable), size: entry.size });
    const content = await entry.content();
    let written = 0;
    if (Buffer.isBuffer(content)) {
      writer.write(content);
      written = content.length;
    } else {
      let complete = false;
      try {
        for await (const chunk of content as AsyncIterable<Buffer>) {
          written += chunk.length;
          if (written > entry.size || writer.failed) break;
          writer.write(chunk);
          const ready = writer.ready();
          if (ready) await ready;
        }
        complete = true;
      } finally {
        // Only a stream given up on: destroying a spool range stream closes the shared spool handle.
        if (!complete) content.destroy();
      }
    }
    if (writer.failed) throw new Error('the normalized archive stopped being read');
    if (written !== entry.size) throw new Error(`${entry.path}: read ${written} bytes, expected ${entry.size}`);
    writer.endFile(entry.size);
    const ready = writer.ready();
    if (ready) await ready;
  }
}

function* withParentDirectories(entries: readonly PackEntry[]): Generator<PackEntry> {
  const directories = new Set<string>();
  for (const entry of entries) {
    if (entry.type === 'directory') directories.add(entry.path);
    else yield entry;
    for (let slash = entry.path.indexOf('/'); slash !== -1; slash = entry.path.indexOf('/', slash + 1)) {
      directories.add(entry.path.slice(0, slash));
    }
  }
  for (const path of directories) yield { type: 'directory', path };
}
