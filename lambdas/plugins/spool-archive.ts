import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar, { type Header } from 'tar-stream';
import { AppError, FetchFailed, InvalidArchive } from '../shared/errors.js';
import { messageQuote } from '@molecule/plugins-sdk/contract/message-quote';
import { SIGNATURE_PATH } from '@molecule/plugins-sdk/contract/content-hash';
import { MAX_SIGNATURE_BYTES } from '@molecule/plugins-sdk/signing';
import { ArchiveBudget, type ArchiveLimits } from './archive-budget.js';
import { pluginPath, topLevelOf } from './archive-path.js';
import type { InOrderPacker } from './ordered-pack.js';
import { SpoolWriter } from './spool-writer.js';

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
  /** The root `plugin.sig`, which is neither spooled nor packed (SPEC §11: never installed). */
  signature?: SignatureFile;
  warnings: string[];
  compressedBytes: number;
  /** bytes of all entry contents */
  totalBytes: number;
}

/**
 * A root `plugin.sig` as staging read it: its text, cut at MAX_SIGNATURE_BYTES (an ed25519
 * signature is under 400 bytes), and its whole size, so a 1 MB one is refused for its size
 * without being held.
 */
export interface SignatureFile {
  armor: string;
  size: number;
}

/** gunzip's output chunk (at most this much inflates past a limit before the check sees it). */
const INFLATE_CHUNK_BYTES = 256 * 1024;
/** Enough to see what was dropped; the rest is summarized in one line. */
const MAX_WARNINGS = 100;

/**
 * The one pass over a plugin archive (SPEC §3): counts compressed bytes, gunzips, parses the
 * tar, validates each entry, and appends regular files to one spool file in `workDir` while
 * hashing them. Every limit is checked on bytes actually seen (archive-budget.ts), and the first
 * violation tears down the whole pipeline, so a decompression bomb stops at the limit instead of
 * inflating further. Memory stays bounded by stream buffers plus one record per entry.
 */
export async function spoolArchive(body: Readable, workDir: string, opts: SpoolOptions): Promise<SpooledArchive> {
  const { signal } = opts;
  const failure = firstFailure(signal);
  const budget = new ArchiveBudget(opts.limits);
  const result: SpooledArchive = {
    spoolPath: join(workDir, 'spool'),
    files: new Map(),
    directories: new Set(),
    warnings: [],
    compressedBytes: 0,
    totalBytes: 0,
  };
  let dropped = 0;

  const compressed = byteCounter((n) => budget.countCompressed(n));
  const inflated = byteCounter((n) => budget.countInflated(n));
  // 256 KiB output chunks: the default 16 KiB costs twice the CPU of inflating itself in callbacks.
  const gunzip = createGunzip({ chunkSize: INFLATE_CHUNK_BYTES });
  const extract = tar.extract();
  const sourceFailed = (err: unknown) => new FetchFailed('reading the plugin source failed', {}, { cause: err });
  // A source that failed before this pass began has already emitted its error.
  if (body.errored) failure.note(body.errored, sourceFailed);
  failure.watch(body, sourceFailed);
  failure.watch(gunzip, (err) => new InvalidArchive('the plugin archive is not valid gzip', {}, { cause: err }));
  failure.watch(extract, (err) => new InvalidArchive('the plugin archive is not a valid tar file', {}, { cause: err }));
  failure.watch(compressed, invalidArchive);
  failure.watch(inflated, invalidArchive);

  let topLevel: string | undefined;
  /** The entry's path below the plugin root, or null for the root (or the stripped top-level directory) itself. */
  const pathOf = (header: Header): string | null => {
    const isDirectory = header.type === 'directory';
    if (!opts.stripTopLevel) return pluginPath(header.name, isDirectory);
    topLevel ??= topLevelOf(header.name);
    return pluginPath(header.name, isDirectory, { topLevel });
  };

  /** Reads an entry's contents, charging every byte against the plugin's size limit. */
  const drain = async (entry: AsyncIterable<Buffer>, header: Header): Promise<void> => {
    budget.reserve(header.size ?? 0);
    for await (const chunk of entry) budget.countContents(chunk.length);
  };

  // Per chunk: count, hash, spool, pack, all synchronous unless a buffer is full (10 000 files, ~10 KiB each).
  const spoolFile = async (spool: SpoolWriter, entry: AsyncIterable<Buffer>, header: Header, path: string): Promise<void> => {
    if (result.files.has(path)) throw new InvalidArchive(`archive has two entries for ${messageQuote(path)}`);
    budget.reserve(header.size ?? 0);
    const executable = (header.mode & 0o111) !== 0;
    const file = spool.file();
    const packed = opts.packer?.openFile(path, header.size ?? 0, executable);
    for await (const chunk of entry) {
      budget.countContents(chunk.length);
      const spooled = file.write(chunk);
      const packing = packed?.write(chunk);
      if (spooled) await spooled;
      if (packing) await packing;
    }
    packed?.end();
    result.files.set(path, { path, ...file.end(), executable });
  };

  /** The root plugin.sig: counted against the limits like any file, kept only up to MAX_SIGNATURE_BYTES. */
  const readSignature = async (entry: AsyncIterable<Buffer>, header: Header): Promise<void> => {
    if (result.signature) throw new InvalidArchive(`archive has two entries for ${messageQuote(SIGNATURE_PATH)}`);
    budget.reserve(header.size ?? 0);
    const kept: Buffer[] = [];
    let size = 0;
    for await (const chunk of entry) {
      budget.countContents(chunk.length);
      if (size < MAX_SIGNATURE_BYTES) kept.push(chunk.subarray(0, MAX_SIGNATURE_BYTES - size));
      size += chunk.length;
    }
    result.signature = { armor: Buffer.concat(kept).toString('utf8'), size };
  };

  const readEntries = async (spool: SpoolWriter): Promise<void> => {
    for await (const entry of extract) {
      // Recorded here, before the iterator closes the tar stream, so our reason outranks the teardown's.
      try {
        const { header } = entry;
        const data = entry as AsyncIterable<Buffer>; // tar-stream yields Buffers
        budget.countEntry();
        const path = pathOf(header);
        switch (header.type) {
          case 'file':
          case 'contiguous-file':
            if (path === null) throw new InvalidArchive(`archive entry ${messageQuote(header.name)} is not a file path`);
            if (path === SIGNATURE_PATH) await readSignature(data, header);
            else await spoolFile(spool, data, header, path);
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

  const spool = await SpoolWriter.create(result.spoolPath);
  let flow: PromiseSettledResult<void>;
  let read: PromiseSettledResult<void>;
  try {
    [flow, read] = await Promise.allSettled([pipeline(body, compressed, gunzip, inflated, extract, { signal }), readEntries(spool)]);
    if (flow.status === 'fulfilled' && read.status === 'fulfilled') await spool.flush();
  } finally {
    await spool.close();
  }
  if (signal?.aborted) throw signal.reason;
  if (flow.status === 'rejected' || read.status === 'rejected') {
    throw failure.error ?? new InvalidArchive('the plugin archive could not be read');
  }
  result.compressedBytes = budget.compressedBytes;
  result.totalBytes = budget.totalBytes;
  if (dropped > result.warnings.length) result.warnings.push(`dropped ${dropped - result.warnings.length} more links`);
  if (result.files.size === 0) throw new InvalidArchive('the plugin archive contains no files');
  assertFilesAreNotDirectories(result);
  return result;
}

function invalidArchive(err: unknown): AppError {
  return new InvalidArchive('the plugin archive could not be read', {}, { cause: err });
}

/** A pass-through that reports each chunk's size; an error thrown for it stops the stream. */
function byteCounter(onBytes: (n: number) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      try {
        onBytes(chunk.length);
      } catch (err) {
        callback(err as Error);
        return;
      }
      callback(null, chunk);
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
