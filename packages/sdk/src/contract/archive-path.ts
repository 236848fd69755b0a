import { messageQuote } from './message-quote.js';

/** Linux limits; a longer path could not be installed on the host anyway. */
const MAX_SEGMENT_BYTES = 255;
const MAX_PATH_BYTES = 4096;

/**
 * A tar entry name that could land outside the plugin root or be misread on the host: the service
 * refuses the archive (`invalid_archive`), the SDK refuses the download.
 */
export class EntryPathError extends Error {
  /** The name, cut to 200 characters. */
  readonly entry: string;

  constructor(name: string, why: string) {
    super(`archive entry ${messageQuote(name)} ${why}`);
    this.name = 'EntryPathError';
    this.entry = name.slice(0, 200);
  }
}

/**
 * Splits a tar entry name into the segments of a path inside the plugin root, rejecting
 * anything that could land outside it or that the host could misread: absolute paths, `..`,
 * backslashes, NUL and other control characters, names that were not valid UTF-8. `.` and
 * empty segments are dropped, so `./a//b/` is `["a", "b"]` and `./` is the root (`[]`).
 */
export function entrySegments(name: string): string[] {
  const reject = (why: string): never => {
    throw new EntryPathError(name, why);
  };
  if (name === '') reject('has an empty name');
  if (name.startsWith('/')) reject('has an absolute path');
  if (name.includes('\\')) reject('contains a backslash');
  if (/[\u0000-\u001f\u007f]/.test(name)) reject('contains a control character');
  // tar-stream decodes names as UTF-8 and turns invalid bytes into U+FFFD.
  if (name.includes('\ufffd')) reject('is not valid UTF-8');
  const segments = name.split('/').filter((segment) => segment !== '' && segment !== '.');
  if (segments.includes('..')) reject('escapes the plugin root (..)');
  if (segments.some((segment) => Buffer.byteLength(segment) > MAX_SEGMENT_BYTES)) reject('has a path segment longer than 255 bytes');
  if (Buffer.byteLength(name) > MAX_PATH_BYTES) reject('has a path longer than 4096 bytes');
  return segments;
}
