import { pipeline, Transform, type Readable } from 'node:stream';
import { pipeline as pipelineAsync } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import tar, { type Pack } from 'tar-stream';
import { comparePaths } from './content-hash.js';

export type PackEntry =
  | { type: 'directory'; path: string }
  | { type: 'file'; path: string; size: number; executable: boolean; content: () => Readable | Promise<Readable | Buffer> };

/** Same bytes for the same plugin, whenever and wherever it was staged. */
export const FIXED_MTIME = new Date(0);

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
 * with any exec bit) and 0755 for directories, owner 0:0 with no names, a fixed mtime.
 */
export function packNormalized(entries: readonly PackEntry[]): Readable {
  const pack = tar.pack();
  const ordered = [...withParentDirectories(entries)].sort((a, b) => comparePaths(entryName(a), entryName(b)));
  addAll(pack, ordered).then(
    () => pack.finalize(),
    (err: unknown) => pack.destroy(err instanceof Error ? err : new Error(String(err))),
  );
  // The callback form returns the gzip stream and tears all down when one fails or the reader stops.
  return gzipped(pack);
}

/** tar → gzip level 1, with writes gathered; a staged tarball lives for minutes, so speed beats size. */
export function gzipped(pack: Pack): Readable {
  return pipeline(pack, coalesce(GZIP_WRITE_BYTES), createGzip({ level: 1 }), () => {});
}

/**
 * tar emits a header and a body per file; zlib does one thread-pool round trip per write, so
 * thousands of small writes cost ten times the compression itself. Gather them first.
 */
const GZIP_WRITE_BYTES = 256 * 1024;

function coalesce(bytes: number): Transform {
  let pending: Buffer[] = [];
  let size = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      pending.push(chunk);
      size += chunk.length;
      if (size < bytes) return done();
      const out = Buffer.concat(pending, size);
      pending = [];
      size = 0;
      done(null, out);
    },
    flush(done) {
      done(null, size ? Buffer.concat(pending, size) : undefined);
    },
  });
}

async function addAll(pack: Pack, entries: readonly PackEntry[]): Promise<void> {
  for (const entry of entries) {
    const header = { uid: 0, gid: 0, mtime: FIXED_MTIME };
    if (entry.type === 'directory') {
      await new Promise<void>((resolve, reject) => {
        // tar-stream reports a failed entry both ways; without the listener the event would crash the process.
        pack.entry({ ...header, name: entryName(entry), type: 'directory', mode: 0o755 }, (err) => (err ? reject(err) : resolve())).on('error', reject);
      });
      continue;
    }
    const fileHeader = { ...header, name: entry.path, type: 'file' as const, size: entry.size, mode: fileMode(entry.executable) };
    const content = await entry.content();
    if (Buffer.isBuffer(content)) {
      await new Promise<void>((resolve, reject) => {
        pack.entry(fileHeader, content, (err) => (err ? reject(err) : resolve())).on('error', reject);
      });
    } else {
      await pipelineAsync(content, pack.entry(fileHeader));
    }
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
