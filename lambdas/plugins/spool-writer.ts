import { createHash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { UnexpectedFailure } from '../shared/errors.js';

/**
 * The spool: one file holding every regular file of an archive back to back (one file, not one
 * per entry: creating files is what costs on small plugins), each hashed as it is written. Small
 * files arrive as small chunks, and one disk write per chunk would cost more than the bytes, so
 * writes are gathered into blocks.
 */

/** Spool writes are gathered into blocks of this size. */
const SPOOL_WRITE_BYTES = 256 * 1024;

/** Where a file's bytes sit in the spool, and their SHA-256. */
export interface SpoolExtent {
  offset: number;
  size: number;
  sha256: string;
}

export class SpoolWriter {
  private written = 0;
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  private constructor(private readonly handle: FileHandle) {}

  /** Creates the spool file; it must not exist yet. */
  static async create(path: string): Promise<SpoolWriter> {
    return new SpoolWriter(await open(path, 'wx', 0o600).catch(diskFailure));
  }

  /**
   * Starts the next file: `write` takes its chunks (a promise only when a block is due to be
   * written), `end` tells where it sits.
   */
  file(): { write(chunk: Buffer): Promise<void> | undefined; end(): SpoolExtent } {
    const offset = this.written;
    const hash = createHash('sha256');
    return {
      write: (chunk) => {
        hash.update(chunk);
        return this.append(chunk);
      },
      end: () => ({ offset, size: this.written - offset, sha256: hash.digest('hex') }),
    };
  }

  /** Writes what is still gathered. */
  async flush(): Promise<void> {
    if (this.pendingBytes === 0) return;
    const block = Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    await this.handle.write(block).catch(diskFailure);
  }

  async close(): Promise<void> {
    await this.handle.close();
  }

  private append(chunk: Buffer): Promise<void> | undefined {
    this.written += chunk.length;
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    return this.pendingBytes >= SPOOL_WRITE_BYTES ? this.flush() : undefined;
  }
}

function diskFailure(err: unknown): never {
  throw new UnexpectedFailure('staging the plugin on local disk failed', {}, { cause: err });
}
