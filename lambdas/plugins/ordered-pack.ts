import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import tar, { type Pack } from 'tar-stream';
import { comparePaths } from './content-hash.js';
import { entryName, FIXED_MTIME, fileMode, gzipped } from './pack.js';

/**
 * Writes the normalized archive during the validating pass, for as long as entries arrive in
 * normalized order, which is how GitHub tarballs and our own registry archives come. The first
 * entry out of order abandons it and staging packs from the spool afterwards instead, so the
 * output is the same bytes either way; only the time differs (one pass instead of two).
 */
export interface FileWriter {
  write(chunk: Buffer): Promise<void>;
  end(): Promise<void>;
}

export class InOrderPacker {
  private readonly pack: Pack = tar.pack();
  private readonly written: Promise<void>;
  private readonly emittedDirectories = new Set<string>();
  private last = '';
  private failed: unknown;
  abandoned = false;

  constructor(readonly outputPath: string) {
    this.written = pipeline(gzipped(this.pack), createWriteStream(outputPath, { flags: 'wx', mode: 0o600 }));
    this.written.catch((err: unknown) => {
      this.failed = err;
      this.abandoned = true;
    });
  }

  async directory(path: string): Promise<void> {
    await this.parents(path);
    await this.emitDirectory(path);
  }

  /** Starts a file of `size` bytes; its chunks go through the writer. Null once the packer gave up. */
  async openFile(path: string, size: number, executable: boolean): Promise<FileWriter | null> {
    await this.parents(path);
    if (!this.accepts(path)) return null;
    const sink = this.pack.entry({ name: path, type: 'file', size, mode: fileMode(executable), uid: 0, gid: 0, mtime: FIXED_MTIME });
    const ended = new Promise<void>((resolve) => {
      sink.on('finish', () => resolve());
      sink.on('close', () => resolve());
      sink.on('error', () => this.abandon());
    });
    return {
      write: async (chunk) => {
        if (this.abandoned || sink.write(chunk)) return;
        await new Promise<void>((resolve) => {
          sink.once('drain', resolve);
          sink.once('close', resolve);
        });
      },
      end: async () => {
        if (this.abandoned) return;
        (sink as unknown as { end(): void }).end();
        await ended;
      },
    };
  }

  /** Finishes the archive; true when it is complete and can be used as the staged output. */
  async finish(): Promise<boolean> {
    if (this.abandoned) {
      this.abandon();
      return false;
    }
    this.pack.finalize();
    await this.written.catch(() => undefined);
    return !this.abandoned && this.failed === undefined;
  }

  abandon(): void {
    this.abandoned = true;
    this.pack.destroy(new Error('in-order packing abandoned'));
  }

  private async parents(path: string): Promise<void> {
    for (let slash = path.indexOf('/'); slash !== -1; slash = path.indexOf('/', slash + 1)) {
      await this.emitDirectory(path.slice(0, slash));
    }
  }

  private async emitDirectory(path: string): Promise<void> {
    if (this.emittedDirectories.has(path)) return;
    const name = entryName({ type: 'directory', path });
    if (!this.accepts(name)) return;
    this.emittedDirectories.add(path);
    await new Promise<void>((resolve, reject) => {
      this.pack.entry({ name, type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: FIXED_MTIME }, (err) => (err ? reject(err) : resolve()));
    });
  }

  /** Takes `name` if it sorts after everything written so far; otherwise gives up for good. */
  private accepts(name: string): boolean {
    if (this.abandoned) return false;
    if (this.last !== '' && comparePaths(name, this.last) <= 0) {
      this.abandon();
      return false;
    }
    this.last = name;
    return true;
  }
}
