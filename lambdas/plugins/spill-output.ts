import { createWriteStream, type WriteStream } from 'node:fs';
import { Writable } from 'node:stream';

/** Normalized archives up to this size stay in memory; larger ones go to disk as they are written. */
export const IN_MEMORY_OUTPUT_BYTES = 4 * 1024 * 1024;

/**
 * Where the normalized archive is written: memory while it is small (most plugins: no file to
 * create, write, stat, reopen and read back for the upload), then a file at `path` once it
 * outgrows `limit`, so memory stays bounded whatever the plugin's size.
 */
export class SpillOutput extends Writable {
  private chunks: Buffer[] = [];
  private bytes = 0;
  private whole: Buffer | undefined;
  private file: WriteStream | undefined;

  constructor(
    readonly path: string,
    private readonly limit = IN_MEMORY_OUTPUT_BYTES,
  ) {
    super();
  }

  /** The archive: its bytes when it stayed small, else its file (complete once the stream finished). */
  get result(): { buffer: Buffer; size: number } | { path: string; size: number } {
    if (this.file) return { path: this.path, size: this.bytes };
    if (!this.whole) throw new Error('the normalized archive is not complete');
    return { buffer: this.whole, size: this.bytes };
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    this.bytes += chunk.length;
    if (!this.file && this.bytes <= this.limit) {
      this.chunks.push(chunk);
      done();
      return;
    }
    if (!this.file) {
      this.file = createWriteStream(this.path, { flags: 'wx', mode: 0o600 });
      this.file.on('error', (err) => this.destroy(err));
      for (const held of this.chunks) this.file.write(held);
      this.chunks = [];
    }
    if (this.file.write(chunk)) done();
    else this.file.once('drain', () => done());
  }

  override _final(done: (err?: Error | null) => void): void {
    if (!this.file) {
      // Kept here: the stream destroys itself once finished, which drops the chunks.
      this.whole = Buffer.concat(this.chunks, this.bytes);
      done();
      return;
    }
    this.file.end((err?: Error | null) => done(err));
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    this.chunks = [];
    if (!this.file || this.file.closed) {
      done(err);
      return;
    }
    this.file.destroy();
    this.file.once('close', () => done(err));
  }
}
