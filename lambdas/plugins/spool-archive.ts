import { createHash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar, { type Header } from 'tar-stream';
import { AppError, FetchFailed, UnexpectedFailure, InvalidArchive, PluginTooLarge } from '../shared/errors.js';
import { entrySegments } from './archive-path.js';
import { messageQuote } from '../shared/message-quote.js';
import type { InOrderPacker } from './ordered-pack.js';

export interface ArchiveLimits {
  /** uncompressed bytes of all entries */
  maxDirBytes: number;
  maxFiles: number;
  /** compressed bytes read from the source */
  maxArchiveBytes: number;
}

export interface SpoolOptions {
  limits: ArchiveLimits;
  /** Also writes the normalized archive in the same pass while entries arrive in order. */
  packer?: InOrderPacker;
  /** Drop the archive's single top-level directory (GitHub tarballs); anything outside it is rejected. */
  stripTopLevel: boolean;
  signal?: AbortSignal;
}

/** A regular file of the archive; its bytes sit in the spool file at `offset`. */
export interface SpooledFile {
  path: string;
  offset: number;
  size: number;
  sha256: string;
  executable: boolean;
}

export interface SpooledArchive {
  /** one file holding every regular file's bytes back to back */
  spoolPath: string;
  /** by path relative to the plugin root */
  files: Map<string, SpooledFile>;
  /** directory entries the archive names explicitly (empty ones included) */
  directories: Set<string>;
  warnings: string[];
  compressedBytes: number;
  /** bytes of all entry contents */
  totalBytes: number;
}

/**
 * Tar framing allowed on top of entry contents, per entry: the 512-byte header, padding, and a
 * pax or GNU long-name record for a long path. Inflated bytes beyond contents + framing are not
 * a plugin (e.g. endless zero blocks after the last entry), so the pass stops there.
 */
const FRAMING_BYTES_PER_ENTRY = 8 * 1024;
/** What may sit decompressed between gunzip and the tar parser before the parser catches up. */
const READ_AHEAD_BYTES = 1024 * 1024;
/** gunzip's output chunk (at most this much inflates past a limit before the check sees it). */
const INFLATE_CHUNK_BYTES = 256 * 1024;
/** Spool writes are gathered into blocks of this size. */
const SPOOL_WRITE_BYTES = 256 * 1024;
/** Enough to see what was dropped; the rest is summarized in one line. */
const MAX_WARNINGS = 100;

/**
 * The one pass over a plugin archive (SPEC §3): counts compressed bytes, gunzips, parses the
 * tar, validates each entry, and appends regular files to one spool file in `workDir` while
 * hashing them (one file, not one per entry: creating files is what costs on small plugins).
 * Every limit is checked on bytes actually seen, and the first violation tears down the
 * whole pipeline, so a decompression bomb stops at the limit instead of inflating further.
 * Memory stays bounded by stream buffers plus one record per entry.
 */
export async function spoolArchive(body: Readable, workDir: string, opts: SpoolOptions): Promise<SpooledArchive> {
  const { limits, signal } = opts;
  const failure = firstFailure(signal);
  const result: SpooledArchive = {
    spoolPath: join(workDir, 'spool'),
    files: new Map(),
    directories: new Set(),
    warnings: [],
    compressedBytes: 0,
    totalBytes: 0,
  };
  let entries = 0;
  let inflatedBytes = 0;
  let dropped = 0;

  const compressed = byteCounter((n) => {
    result.compressedBytes += n;
    if (result.compressedBytes > limits.maxArchiveBytes) {
      return new PluginTooLarge(`the plugin archive is larger than ${limits.maxArchiveBytes} bytes`, { limit: limits.maxArchiveBytes });
    }
  });
  const inflated = byteCounter((n) => {
    inflatedBytes += n;
    const allowed = result.totalBytes + (entries + 2) * FRAMING_BYTES_PER_ENTRY + READ_AHEAD_BYTES;
    if (inflatedBytes > allowed) {
      return new PluginTooLarge(`the plugin archive expands beyond its ${limits.maxDirBytes}-byte limit`, { limit: limits.maxDirBytes });
    }
  });
  // 256 KiB output chunks: the default 16 KiB costs twice the CPU of inflating itself in callbacks.
  const gunzip = createGunzip({ chunkSize: INFLATE_CHUNK_BYTES });
  const extract = tar.extract();
  failure.watch(body, (err) => new FetchFailed('reading the plugin source failed', {}, { cause: err }));
  failure.watch(gunzip, (err) => new InvalidArchive('the plugin archive is not valid gzip', {}, { cause: err }));
  failure.watch(extract, (err) => new InvalidArchive('the plugin archive is not a valid tar file', {}, { cause: err }));
  failure.watch(compressed, invalidArchive);
  failure.watch(inflated, invalidArchive);

  let topLevel: string | undefined;
  /** The entry's path below the plugin root, or null for the stripped top-level directory itself. */
  const pathOf = (header: Header): string | null => {
    const segments = entrySegments(header.name);
    if (opts.stripTopLevel) {
      const [top, ...rest] = segments;
      topLevel ??= top;
      if (top === undefined || top !== topLevel || (rest.length === 0 && header.type !== 'directory')) {
        throw new InvalidArchive(`archive entry ${messageQuote(header.name)} is outside the archive's single top-level directory`);
      }
      return rest.length === 0 ? null : rest.join('/');
    }
    return segments.length === 0 ? null : segments.join('/');
  };

  /** Reads an entry's contents, charging every byte against the plugin's size limit. */
  const charge = (header: Header): void => {
    if (result.totalBytes + (header.size ?? 0) > limits.maxDirBytes) throw tooLarge(limits);
  };
  const counted = (chunk: Buffer): void => {
    result.totalBytes += chunk.length;
    if (result.totalBytes > limits.maxDirBytes) throw tooLarge(limits);
  };

  const drain = async (entry: AsyncIterable<Buffer>, header: Header): Promise<void> => {
    charge(header);
    for await (const chunk of entry) counted(chunk);
  };

  let spooledBytes = 0;
  // Small files arrive as small chunks; one disk write per chunk would cost more than the bytes.
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const flush = async (spool: FileHandle): Promise<void> => {
    if (pendingBytes === 0) return;
    const block = Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    await spool.write(block).catch(diskFailure);
  };
  /** Gathers a chunk for the spool; a promise only when a block is due. */
  const append = (spool: FileHandle, chunk: Buffer): Promise<void> | undefined => {
    pending.push(chunk);
    pendingBytes += chunk.length;
    return pendingBytes >= SPOOL_WRITE_BYTES ? flush(spool) : undefined;
  };

  // Per chunk: hash, spool, pack, all synchronous unless a buffer is full (10 000 files, ~10 KiB each).
  const spoolFile = async (spool: FileHandle, entry: AsyncIterable<Buffer>, header: Header, path: string): Promise<void> => {
    if (result.files.has(path)) throw new InvalidArchive(`archive has two entries for ${messageQuote(path)}`);
    charge(header);
    const offset = spooledBytes;
    const hash = createHash('sha256');
    const executable = (header.mode & 0o111) !== 0;
    const packed = opts.packer?.openFile(path, header.size ?? 0, executable);
    for await (const chunk of entry) {
      counted(chunk);
      hash.update(chunk);
      spooledBytes += chunk.length;
      const spooled = append(spool, chunk);
      const packing = packed?.write(chunk);
      if (spooled) await spooled;
      if (packing) await packing;
    }
    packed?.end();
    const size = spooledBytes - offset;
    result.files.set(path, { path, offset, size, sha256: hash.digest('hex'), executable });
  };

  const readEntries = async (spool: FileHandle): Promise<void> => {
    for await (const entry of extract) {
      // Recorded here, before the iterator closes the tar stream, so our reason outranks the teardown's.
      try {
        const { header } = entry;
        const data = entry as AsyncIterable<Buffer>; // tar-stream yields Buffers
        entries += 1;
        if (entries > limits.maxFiles) {
          throw new PluginTooLarge(`the plugin archive has more than ${limits.maxFiles} entries`, { limit: limits.maxFiles });
        }
        const path = pathOf(header);
        switch (header.type) {
          case 'file':
          case 'contiguous-file':
            if (path === null) throw new InvalidArchive(`archive entry ${messageQuote(header.name)} is not a file path`);
            await spoolFile(spool, data, header, path);
            break;
          case 'directory':
            if (path !== null) {
              result.directories.add(path);
              opts.packer?.directory(path);
            }
            await drain(data, header);
            break;
          case 'symlink':
          case 'link':
            dropped += 1;
            if (result.warnings.length < MAX_WARNINGS) {
              const kind = header.type === 'link' ? 'hardlink' : 'symlink';
              result.warnings.push(`dropped ${kind} ${messageQuote(header.name)} -> ${messageQuote(header.linkname ?? '')}`);
            }
            await drain(data, header);
            break;
          default:
            throw new InvalidArchive(
              `archive entry ${messageQuote(header.name)} is a ${header.type ?? 'special'} entry; only files and directories are allowed`,
            );
        }
      } catch (err) {
        failure.note(err);
        throw err;
      }
    }
  };

  const spool = await open(result.spoolPath, 'wx', 0o600).catch(diskFailure);
  let flow: PromiseSettledResult<void>;
  let read: PromiseSettledResult<void>;
  try {
    [flow, read] = await Promise.allSettled([pipeline(body, compressed, gunzip, inflated, extract, { signal }), readEntries(spool)]);
    if (flow.status === 'fulfilled' && read.status === 'fulfilled') await flush(spool);
  } finally {
    await spool.close();
  }
  if (signal?.aborted) throw signal.reason;
  if (flow.status === 'rejected' || read.status === 'rejected') {
    throw failure.error ?? new InvalidArchive('the plugin archive could not be read');
  }
  if (dropped > result.warnings.length) result.warnings.push(`dropped ${dropped - result.warnings.length} more links`);
  if (result.files.size === 0) throw new InvalidArchive('the plugin archive contains no files');
  assertFilesAreNotDirectories(result);
  return result;
}

function tooLarge(limits: ArchiveLimits): PluginTooLarge {
  return new PluginTooLarge(`the plugin is larger than ${limits.maxDirBytes} bytes uncompressed`, { limit: limits.maxDirBytes });
}

function diskFailure(err: unknown): never {
  throw new UnexpectedFailure('staging the plugin on local disk failed', {}, { cause: err });
}

function invalidArchive(err: unknown): AppError {
  return new InvalidArchive('the plugin archive could not be read', {}, { cause: err });
}

/** A pass-through that reports each chunk's size; a returned error stops the stream. */
function byteCounter(onBytes: (n: number) => AppError | undefined): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      callback(onBytes(chunk.length), chunk);
    },
  });
}

/**
 * When one stage fails, the pipeline tears the others down with errors of their own. The
 * error that explains the failure is the first of ours (limits, entry checks, a resolver's
 * mapped fetch error), else the first raw one, named after the stage it came from.
 */
function firstFailure(signal: AbortSignal | undefined) {
  let ours: AppError | undefined;
  let raw: AppError | undefined;
  const note = (err: unknown, origin: (err: unknown) => AppError = invalidArchive): void => {
    if (signal?.aborted) return;
    if (err instanceof AppError) ours ??= err;
    else raw ??= origin(err);
  };
  return {
    note,
    watch(stream: { on(event: 'error', listener: (err: unknown) => void): unknown }, origin: (err: unknown) => AppError): void {
      stream.on('error', (err) => note(err, origin));
    },
    get error(): AppError | undefined {
      return ours ?? raw;
    },
  };
}

/** `a` as a file and `a/b` in the same archive cannot both be installed. */
function assertFilesAreNotDirectories({ files, directories }: SpooledArchive): void {
  for (const dir of directories) {
    if (files.has(dir)) throw new InvalidArchive(`archive has ${messageQuote(dir)} as both a file and a directory`);
  }
  for (const path of files.keys()) {
    for (let slash = path.indexOf('/'); slash !== -1; slash = path.indexOf('/', slash + 1)) {
      const parent = path.slice(0, slash);
      if (files.has(parent)) throw new InvalidArchive(`archive has ${messageQuote(parent)} as both a file and a directory`);
    }
  }
}
