import { PluginTooLarge } from '../shared/errors.js';

/**
 * The size limits of a plugin archive, counted on bytes actually seen: compressed bytes from the
 * source, bytes out of gunzip, entries, and the entries' contents. The first count past a limit
 * throws `plugin_too_large`, so a decompression bomb stops at the limit instead of inflating further.
 */

export interface ArchiveLimits {
  /** uncompressed bytes of all entries */
  maxDirBytes: number;
  maxFiles: number;
  /** compressed bytes read from the source */
  maxArchiveBytes: number;
}

/**
 * Tar framing allowed on top of entry contents, per entry: the 512-byte header, padding, and a
 * pax or GNU long-name record for a long path. Inflated bytes beyond contents + framing are not
 * a plugin (e.g. endless zero blocks after the last entry), so the pass stops there.
 */
const FRAMING_BYTES_PER_ENTRY = 8 * 1024;
/** What may sit decompressed between gunzip and the tar parser before the parser catches up. */
const READ_AHEAD_BYTES = 1024 * 1024;

export class ArchiveBudget {
  private compressed = 0;
  private inflated = 0;
  private entries = 0;
  private contents = 0;

  constructor(private readonly limits: ArchiveLimits) {}

  /** Compressed bytes read from the source so far. */
  get compressedBytes(): number {
    return this.compressed;
  }

  /** Bytes of entry contents read so far. */
  get totalBytes(): number {
    return this.contents;
  }

  /** Compressed bytes read from the source. */
  countCompressed(bytes: number): void {
    this.compressed += bytes;
    if (this.compressed > this.limits.maxArchiveBytes) {
      throw new PluginTooLarge(`the plugin archive is larger than ${this.limits.maxArchiveBytes} bytes`, { limit: this.limits.maxArchiveBytes });
    }
  }

  /** Bytes out of gunzip: no more than the contents read, their tar framing and the read-ahead. */
  countInflated(bytes: number): void {
    this.inflated += bytes;
    const allowed = this.contents + (this.entries + 2) * FRAMING_BYTES_PER_ENTRY + READ_AHEAD_BYTES;
    if (this.inflated > allowed) {
      throw new PluginTooLarge(`the plugin archive expands beyond its ${this.limits.maxDirBytes}-byte limit`, { limit: this.limits.maxDirBytes });
    }
  }

  /** One more entry of the archive, of any type. */
  countEntry(): void {
    this.entries += 1;
    if (this.entries > this.limits.maxFiles) {
      throw new PluginTooLarge(`the plugin archive has more than ${this.limits.maxFiles} entries`, { limit: this.limits.maxFiles });
    }
  }

  /** An entry about to be read, by the size its header declares: refused before reading a byte. */
  reserve(declaredBytes: number): void {
    if (this.contents + declaredBytes > this.limits.maxDirBytes) throw this.tooLarge();
  }

  /** Bytes of an entry's contents as they arrive, whatever its header declared. */
  countContents(bytes: number): void {
    this.contents += bytes;
    if (this.contents > this.limits.maxDirBytes) throw this.tooLarge();
  }

  private tooLarge(): PluginTooLarge {
    return new PluginTooLarge(`the plugin is larger than ${this.limits.maxDirBytes} bytes uncompressed`, { limit: this.limits.maxDirBytes });
  }
}
