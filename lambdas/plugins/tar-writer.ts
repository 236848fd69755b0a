import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip, type Gzip } from 'node:zlib';

/**
 * The normalized archive's tar framing, written synchronously into gzip: one header per entry
 * (owner 0:0 without names, a fixed mtime), the entry's bytes, padding to 512, and the two zero
 * blocks at the end. Byte for byte what tar-stream's `pack()` writes for the same entries
 * (test/unit/plugins/tar-writer.test.ts compares them), without a stream and three promises per
 * entry: staging writes ~10 000 entries for a 100 MiB plugin.
 */

/** Same bytes for the same plugin, whenever and wherever it was staged. */
export const FIXED_MTIME = new Date(0);

const BLOCK = 512;
const ZEROS = Buffer.alloc(2 * BLOCK);
const USTAR = Buffer.from('ustar\u000000', 'latin1');

/** Bytes gathered before one gzip write: zlib does one thread-pool round trip per write. */
const GZIP_WRITE_BYTES = 256 * 1024;
/** gzip's output chunk; the default 16 KiB means one callback and one downstream write per 16 KiB. */
const GZIP_CHUNK_BYTES = 256 * 1024;

function octal(value: number, digits: number): string {
  const text = value.toString(8);
  return text.length > digits ? `${'7'.repeat(digits)} ` : `${text.padStart(digits, '0')} `;
}

/** A ustar header, or null when the name needs a pax record (non-ASCII or too long to split). */
function ustarHeader(entry: { name: string; typeflag: number; mode: number; size: number }): Buffer | null {
  let name = entry.name;
  let prefix = '';
  if (Buffer.byteLength(name) !== name.length) return null;
  while (name.length > 100) {
    const slash = name.indexOf('/');
    if (slash === -1) return null;
    prefix += prefix ? `/${name.slice(0, slash)}` : name.slice(0, slash);
    name = name.slice(slash + 1);
  }
  if (name.length > 100 || prefix.length > 155) return null;
  const header = Buffer.alloc(BLOCK);
  header.write(name, 0, 'latin1');
  header.write(octal(entry.mode & 0o7777, 6), 100, 'latin1');
  header.write(octal(0, 6), 108, 'latin1');
  header.write(octal(0, 6), 116, 'latin1');
  sizeField(entry.size, header, 124);
  header.write(octal(Math.trunc(FIXED_MTIME.getTime() / 1000), 11), 136, 'latin1');
  header[156] = 0x30 + entry.typeflag;
  USTAR.copy(header, 257);
  header.write(octal(0, 6), 329, 'latin1');
  header.write(octal(0, 6), 337, 'latin1');
  if (prefix) header.write(prefix, 345, 'latin1');
  let sum = 8 * 32;
  for (let i = 0; i < 148; i++) sum += header[i]!;
  for (let i = 156; i < BLOCK; i++) sum += header[i]!;
  header.write(octal(sum, 6), 148, 'latin1');
  return header;
}

function sizeField(size: number, header: Buffer, offset: number): void {
  if (size.toString(8).length <= 11) {
    header.write(octal(size, 11), offset, 'latin1');
    return;
  }
  header[offset] = 0x80;
  let rest = size;
  for (let i = 11; i > 0; i--) {
    header[offset + i] = rest & 0xff;
    rest = Math.floor(rest / 0x100);
  }
}

/** `<length> path=<name>\n`, the length counting its own digits. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const length = Buffer.byteLength(body);
  let digits = Math.floor(Math.log(length) / Math.log(10)) + 1;
  if (length + digits >= 10 ** digits) digits++;
  return `${length + digits}${body}`;
}

/** The header blocks of one normalized entry: ustar, or a pax `path` record then ustar. */
export function entryHeader(entry: { name: string; type: 'file' | 'directory'; mode: number; size: number }): Buffer[] {
  const typeflag = entry.type === 'directory' ? 5 : 0;
  const size = entry.type === 'directory' ? 0 : entry.size;
  const plain = ustarHeader({ name: entry.name, typeflag, mode: entry.mode, size });
  if (plain) return [plain];
  const pax = Buffer.from(paxRecord('path', entry.name));
  const paxHeader = ustarHeader({ name: 'PaxHeader', typeflag: 72, mode: entry.mode, size: pax.length });
  const header = ustarHeader({ name: 'PaxHeader', typeflag, mode: entry.mode, size });
  return [paxHeader!, pax, ...padding(pax.length), header!];
}

export function padding(size: number): Buffer[] {
  const rest = size % BLOCK;
  return rest ? [ZEROS.subarray(0, BLOCK - rest)] : [];
}

/**
 * A tar.gz written entry by entry, synchronously: writes gather into blocks for gzip (level 1: a
 * staged tarball lives for minutes, so speed beats size), and only `ready()` waits, when gzip
 * has more queued than its buffer holds. Memory stays bounded by that buffer plus one block.
 */
export class TarGzWriter {
  private readonly gzip: Gzip = createGzip({ level: 1, chunkSize: GZIP_CHUNK_BYTES });
  private readonly done: Promise<void>;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private failure: unknown;

  constructor(output: Writable) {
    this.done = pipeline(this.gzip, output);
    this.done.catch((err: unknown) => {
      this.failure ??= err;
    });
  }

  get failed(): boolean {
    return this.failure !== undefined;
  }

  /** An entry's header; a file's bytes follow through `write`, then `endFile(size)`. */
  header(entry: { name: string; type: 'file' | 'directory'; mode: number; size: number }): void {
    for (const block of entryHeader(entry)) this.write(block);
  }

  write(chunk: Buffer): void {
    if (this.failure !== undefined) return;
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes >= GZIP_WRITE_BYTES) this.flush();
  }

  endFile(size: number): void {
    for (const block of padding(size)) this.write(block);
  }

  /** Resolves at once unless gzip is behind; then when it caught up (or failed). */
  ready(): Promise<void> | undefined {
    if (this.failure !== undefined || !this.gzip.writableNeedDrain) return undefined;
    return Promise.race([once(this.gzip, 'drain').then(() => undefined), this.done.catch(() => undefined)]);
  }

  /** The end-of-archive blocks, then waits for every byte to reach the output; rejects if any step failed. */
  async finish(): Promise<void> {
    this.write(ZEROS);
    this.flush();
    this.gzip.end();
    await this.done;
  }

  /** Stops writing; the output is incomplete and must not be used. */
  destroy(err: Error = new Error('tar writer abandoned')): void {
    this.failure ??= err;
    this.pending = [];
    this.pendingBytes = 0;
    this.gzip.destroy(err);
  }

  private flush(): void {
    if (this.pendingBytes === 0 || this.failure !== undefined) return;
    const block = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    this.gzip.write(block);
  }
}
