import { comparePaths } from '@molecule/plugins-sdk/contract/content-hash';
import { entryName, fileMode } from './pack.js';
import { SpillOutput } from './spill-output.js';
import { TarGzWriter } from './tar-writer.js';

/**
 * Writes the normalized archive during the validating pass, for as long as entries arrive in
 * normalized order, which is how GitHub tarballs and our own registry archives come. The first
 * entry out of order abandons it and staging packs from the spool afterwards instead, so the
 * output is the same bytes either way; only the time differs (one pass instead of two).
 * Everything but `finish` is synchronous; `write` returns a promise only when gzip is behind.
 */
export interface FileWriter {
  write(chunk: Buffer): Promise<void> | undefined;
  end(): void;
}

export class InOrderPacker {
  private readonly writer: TarGzWriter;
  /** the archive, in memory or at `outputPath`; use it only after `finish()` said true */
  readonly output: SpillOutput;
  private readonly emittedDirectories = new Set<string>();
  private last = '';
  abandoned = false;

  constructor(readonly outputPath: string) {
    this.output = new SpillOutput(outputPath);
    this.writer = new TarGzWriter(this.output);
  }

  directory(path: string): void {
    this.parents(path);
    this.emitDirectory(path);
  }

  /** Starts a file of `size` bytes; its chunks go through the writer. Null once the packer gave up. */
  openFile(path: string, size: number, executable: boolean): FileWriter | null {
    this.parents(path);
    if (!this.accepts(path)) return null;
    const { writer } = this;
    writer.header({ name: path, type: 'file', mode: fileMode(executable), size });
    let written = 0;
    return {
      write: (chunk) => {
        if (this.abandoned) return undefined;
        written += chunk.length;
        if (written > size) {
          this.abandon();
          return undefined;
        }
        writer.write(chunk);
        return writer.ready();
      },
      end: () => {
        if (this.abandoned) return;
        // A short entry would corrupt every header after it; the two-pass packer reads the spool instead.
        if (written !== size) return this.abandon();
        writer.endFile(size);
      },
    };
  }

  /** Finishes the archive; true when it is complete and can be used as the staged output. */
  async finish(): Promise<boolean> {
    if (this.abandoned || this.writer.failed) {
      this.abandon();
      return false;
    }
    try {
      await this.writer.finish();
      return true;
    } catch {
      this.abandoned = true;
      return false;
    }
  }

  abandon(): void {
    this.abandoned = true;
    this.writer.destroy(new Error('in-order packing abandoned'));
  }

  private parents(path: string): void {
    for (let slash = path.indexOf('/'); slash !== -1; slash = path.indexOf('/', slash + 1)) {
      this.emitDirectory(path.slice(0, slash));
    }
  }

  private emitDirectory(path: string): void {
    if (this.emittedDirectories.has(path)) return;
    const name = entryName({ type: 'directory', path });
    if (!this.accepts(name)) return;
    this.emittedDirectories.add(path);
    this.writer.header({ name, type: 'directory', mode: 0o755, size: 0 });
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
