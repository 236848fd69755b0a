import { InvalidArchive } from '../shared/errors.js';
import { messageQuote } from '../shared/message-quote.js';

/** Linux limits; a longer path could not be installed on the host anyway. */
const MAX_SEGMENT_BYTES = 255;
const MAX_PATH_BYTES = 4096;

/**
 * Splits a tar entry name into the segments of a path inside the plugin root, rejecting
 * anything that could land outside it or that the host could misread: absolute paths, `..`,
 * backslashes, NUL and other control characters, names that were not valid UTF-8. `.` and
 * empty segments are dropped, so `./a//b/` is `["a", "b"]` and `./` is the root (`[]`).
 */
export function entrySegments(name: string): string[] {
  const reject = (why: string): never => {
    throw new InvalidArchive(`archive entry ${messageQuote(name)} ${why}`, { entry: name.slice(0, 200) });
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

/**
 * Where an archive entry lands: its path below the plugin root, or null for the root itself.
 * With `strip`, the archive's single top-level directory (GitHub tarballs) is dropped: `topLevel`
 * is its name (undefined when the first entry named none), and an entry outside it, or a file in
 * its place, is refused. The entry name itself must pass `entrySegments`.
 */
export function pluginPath(name: string, isDirectory: boolean, strip?: { topLevel: string | undefined }): string | null {
  const segments = entrySegments(name);
  if (strip) {
    const [top, ...rest] = segments;
    if (top === undefined || top !== strip.topLevel || (rest.length === 0 && !isDirectory)) {
      throw new InvalidArchive(`archive entry ${messageQuote(name)} is outside the archive's single top-level directory`);
    }
    return rest.length === 0 ? null : rest.join('/');
  }
  return segments.length === 0 ? null : segments.join('/');
}

/** The top-level directory an entry names (its first segment), which the first entry fixes for the archive. */
export function topLevelOf(name: string): string | undefined {
  return entrySegments(name)[0];
}
